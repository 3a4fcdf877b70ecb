/* signer audit verify|search: offline checks and queries on signerd's audit log. */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "client/cli.h"
#include "client/cmds.h"
#include "common/audit_fmt.h"
#include "common/audit_vfy.h"
#include "common/file.h"

#define CERT_FILE_MAX (1024 * 1024)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: signer audit verify [--cert FILE] [--expect-seq N] LOG...\n"
		"       signer audit search [--digest HEX] [--since T] [--until T] [--key NAME]\n"
		"                           [--result signed|refused] [--json] LOG...\n\n"
		"verify checks the hash chain, the sequence numbers and the checkpoint\n"
		"signatures; give rotated files oldest first (each must chain to the one\n"
		"before). --cert pins the checkpoint certificate(s) (PEM, one or more, or\n"
		"DER); without it the certificate recorded in the log is used and trust is\n"
		"not pinned. --expect-seq N fails unless a checkpoint at seq N or later is\n"
		"present (N from an earlier verification): this detects truncation.\n\n"
		"search prints the request records that match every filter given: --digest\n"
		"(hex, any case), --since T (at or after) and --until T (before), T being\n"
		"RFC 3339 (2026-01-02T03:04:05Z) or a date (2026-01-02 = 00:00 UTC), --key,\n"
		"--result. --json prints the raw lines. search does not check the chain:\n"
		"run verify first. A record shown with \"void voids=N\" withdraws record N:\n"
		"that signature was recorded before the token signed, and never left signerd.\n");
}

/* --- verify ----------------------------------------------------------------- */

static STACK_OF(X509) * load_certs(const char *path)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	const unsigned char *dp;
	uint8_t *data = NULL;
	size_t len = 0;
	struct sd_err e;
	BIO *bio = NULL;
	X509 *x;

	if (sk == NULL || sd_read_file(path, CERT_FILE_MAX, &data, &len, &e) != 0) {
		cli_err("--cert: %s", sk == NULL ? "out of memory" : e.msg);
		goto fail;
	}
	bio = BIO_new_mem_buf(data, (int)len);
	while (bio != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			goto fail;
		}
	ERR_clear_error();
	if (sk_X509_num(sk) == 0) {
		dp = data;
		x = d2i_X509(NULL, &dp, (long)len);
		if (x == NULL || dp != data + len || !sk_X509_push(sk, x)) {
			X509_free(x);
			cli_err("--cert %s: no PEM or DER certificate", path);
			goto fail;
		}
	}
	BIO_free(bio);
	free(data);
	return sk;
fail:
	ERR_clear_error();
	BIO_free(bio);
	free(data);
	sk_X509_pop_free(sk, X509_free);
	return NULL;
}

static int vfy_cb(void *ctx, const char *line, size_t len, uint64_t lineno, struct sd_err *e)
{
	(void)lineno;
	return sd_audit_vfy_line(ctx, line, len, e);
}

static void report(const struct sd_audit_vfy *v, const char *pinned_file)
{
	unsigned i;

	printf("records: %" PRIu64 " (%" PRIu64 " requests, %" PRIu64 " checkpoints, %" PRIu64
	       " rotations) in %u file(s), seq %" PRIu64 "..%" PRIu64 "\n",
	       v->lines, v->requests, v->checkpoints, v->rotations, v->nfiles, v->first_seq,
	       v->last_seq);
	if (v->voids > 0)
		printf("void records: %" PRIu64 " (%" PRIu64
		       " checked against the signed record they withdraw)\n",
		       v->voids, v->voids_checked);
	if (v->start_unverified)
		printf("chain start: seq %" PRIu64 " continues %s, which was not given: earlier "
		       "records are not checked\n",
		       v->first_seq,
		       v->start_prev_file[0] != '\0' ? v->start_prev_file : "a rotated file");
	for (i = 0; i < v->ncerts; i++)
		printf("checkpoint certificate: %s (SHA-1 %s)\n", v->cert_subjects[i], v->certs[i]);
	if (v->have_cp)
		printf("last checkpoint: seq %" PRIu64 ", key \"%s\"\n", v->cp_seq, v->cp_key);
	if (pinned_file != NULL)
		printf("trust: pinned to %s\n", pinned_file);
	else if (v->have_cp)
		printf("trust not pinned: checkpoints were checked with the certificate recorded "
		       "in the log; pass --cert to pin it\n");
	if (!v->have_cp)
		printf("WARNING: no checkpoint: no record is protected against modification or "
		       "truncation\n");
	else if (v->after_cp > 0)
		printf("WARNING: %" PRIu64 " record(s) after the last checkpoint (seq %" PRIu64
		       "..%" PRIu64 ") are not protected against modification or truncation\n",
		       v->after_cp, v->cp_seq + 1, v->last_seq);
	else
		printf("unprotected: none (the log ends with a checkpoint)\n");
}

static int audit_verify(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"cert", required_argument, NULL, 'c'},
	    {"expect-seq", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	STACK_OF(X509) *pinned = NULL;
	const char *cert = NULL;
	struct sd_audit_vfy *v = NULL;
	unsigned long long expect = 0;
	struct sd_err e;
	char *end;
	int c, i, fd, ret = CLI_FAIL;

	while ((c = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cert = optarg;
			break;
		case 's':
			expect = strtoull(optarg, &end, 10);
			if (*optarg < '1' || *optarg > '9' || *end != '\0') {
				cli_err("--expect-seq: a positive number, not \"%s\"", optarg);
				return CLI_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return CLI_OK;
		default:
			usage(stderr);
			return CLI_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (cert != NULL && (pinned = load_certs(cert)) == NULL)
		return CLI_FAIL;
	v = malloc(sizeof(*v));
	if (v == NULL) {
		cli_err("out of memory");
		goto out;
	}
	sd_audit_vfy_init(v, pinned);
	for (i = optind; i < argc; i++) {
		fd = open(argv[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			cli_err("%s: cannot open: %m", argv[i]);
			goto out;
		}
		sd_audit_vfy_begin_file(v, argv[i]);
		c = sd_audit_read_lines(fd, argv[i], 0, NULL, vfy_cb, v, &e);
		close(fd);
		if (c == 0)
			c = sd_audit_vfy_end_file(v, &e);
		if (c != 0) {
			cli_err("%s", e.msg);
			printf("FAILED\n");
			goto out;
		}
	}
	if (sd_audit_vfy_finish(v, expect, &e) != 0) {
		report(v, cert);
		cli_err("%s", e.msg);
		printf("FAILED\n");
		goto out;
	}
	report(v, cert);
	printf("OK\n");
	ret = CLI_OK;
out:
	if (fflush(stdout) != 0)
		ret = CLI_FAIL;
	free(v);
	sk_X509_pop_free(pinned, X509_free);
	return ret;
}

/* --- search ----------------------------------------------------------------- */

struct query {
	const char *digest;
	const char *key;
	const char *result;
	int64_t since, until;
	int have_since, have_until;
	int json;
	const char *file;
	uint64_t matches, bad;
};

/* Print a JSON string body for a terminal: C1 controls (U+0080..U+009F) escaped too. */
static void put_safe(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((unsigned char)p[i] == 0xc2 && i + 1 < n && (unsigned char)p[i + 1] >= 0x80 &&
		    (unsigned char)p[i + 1] <= 0x9f) {
			printf("\\u%04x", (unsigned char)p[i + 1]);
			i++;
		} else {
			putchar(p[i]);
		}
	}
}

/* label=value; quoted: label="value" (free text; inner quotes stay escaped). */
static void put_field(const struct sd_audit_line *l, const char *label, const char *name,
		      int quoted)
{
	const struct sd_audit_field *f = sd_audit_get(l, name);

	printf(quoted ? " %s=\"" : " %s=", label);
	if (f != NULL)
		put_safe(f->val, f->val_len);
	if (quoted)
		putchar('"');
}

static int matches(const struct query *q, const struct sd_audit_line *l)
{
	const struct sd_audit_field *f;
	char key[SD_AUDIT_CAP_KEY * 4 + 8];

	if (l->type != SD_AUDIT_REQUEST)
		return 0;
	if (q->have_since && l->time_ms < q->since)
		return 0;
	if (q->have_until && l->time_ms >= q->until)
		return 0;
	f = sd_audit_get(l, "digest");
	if (q->digest != NULL &&
	    (f->val_len != strlen(q->digest) || strncasecmp(f->val, q->digest, f->val_len) != 0))
		return 0;
	f = sd_audit_get(l, "result");
	if (q->result != NULL &&
	    (f->val_len != strlen(q->result) || memcmp(f->val, q->result, f->val_len) != 0))
		return 0;
	if (q->key != NULL &&
	    (sd_audit_get_str(l, "key", key, sizeof(key)) != 0 || strcmp(key, q->key) != 0))
		return 0;
	return 1;
}

static void print_human(const struct sd_audit_line *l)
{
	const struct sd_audit_field *t = sd_audit_get(l, "time"), *r = sd_audit_get(l, "result");
	const struct sd_audit_field *ev = sd_audit_get(l, "exe_verified");

	const struct sd_audit_field *vo = sd_audit_get(l, "voids");

	printf("%.*s seq=%" PRIu64 " %.*s", (int)t->val_len, t->val, l->seq, (int)r->val_len,
	       r->val);
	/* The signature that record announced never left signerd. */
	if (vo != NULL)
		printf(" void voids=%" PRIu64, vo->num);
	if (sd_audit_get(l, "code")->num != 0)
		put_field(l, "error", "error", 0);
	put_field(l, "key", "key", 0);
	put_field(l, "alg", "digest_alg", 0);
	put_field(l, "digest", "digest", 0);
	put_field(l, "program", "program", 1);
	printf(" uid=%" PRIu64 " gid=%" PRIu64 " pid=%" PRIu64, sd_audit_get(l, "uid")->num,
	       sd_audit_get(l, "gid")->num, sd_audit_get(l, "pid")->num);
	put_field(l, "exe", "exe", 1);
	if (!ev->b)
		printf(" (unverified)");
	if (sd_audit_get(l, "code")->num != 0)
		put_field(l, "message", "message", 1);
	putchar('\n');
}

static int search_cb(void *ctx, const char *line, size_t len, uint64_t lineno, struct sd_err *e)
{
	struct query *q = ctx;
	struct sd_audit_line *l = malloc(sizeof(*l));
	struct sd_err pe;

	(void)e;
	if (l == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	if (sd_audit_parse(line, len, l, &pe) != 0) {
		cli_err("%s: line %" PRIu64 ": skipped, malformed: %s", q->file, lineno, pe.msg);
		q->bad++;
	} else if (matches(q, l)) {
		q->matches++;
		if (q->json) {
			fwrite(line, 1, len, stdout);
			putchar('\n');
		} else {
			print_human(l);
		}
	}
	free(l);
	return 0;
}

static int parse_time_opt(const char *opt, const char *s, int64_t *ms)
{
	if (sd_audit_parse_time(s, strlen(s), 0, ms) == 0)
		return 0;
	cli_err("%s: \"%s\" is not an RFC 3339 time (2026-01-02T03:04:05Z) or a date "
		"(2026-01-02)",
		opt, s);
	return -1;
}

static int audit_search(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"digest", required_argument, NULL, 'd'}, {"since", required_argument, NULL, 's'},
	    {"until", required_argument, NULL, 'u'},  {"key", required_argument, NULL, 'k'},
	    {"result", required_argument, NULL, 'r'}, {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	struct query q;
	struct sd_err e;
	int c, i, fd, torn, ret = CLI_FAIL;
	size_t k;

	memset(&q, 0, sizeof(q));
	while ((c = getopt_long(argc, argv, "d:s:u:k:r:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			q.digest = optarg;
			for (k = 0; optarg[k] != '\0'; k++)
				if (strchr("0123456789abcdefABCDEF", optarg[k]) == NULL)
					break;
			if (k == 0 || optarg[k] != '\0') {
				cli_err("--digest: hex digits only, not \"%s\"", optarg);
				return CLI_USAGE;
			}
			break;
		case 's':
			if (parse_time_opt("--since", optarg, &q.since) != 0)
				return CLI_USAGE;
			q.have_since = 1;
			break;
		case 'u':
			if (parse_time_opt("--until", optarg, &q.until) != 0)
				return CLI_USAGE;
			q.have_until = 1;
			break;
		case 'k':
			q.key = optarg;
			break;
		case 'r':
			if (strcmp(optarg, "signed") != 0 && strcmp(optarg, "refused") != 0) {
				cli_err("--result: signed or refused, not \"%s\"", optarg);
				return CLI_USAGE;
			}
			q.result = optarg;
			break;
		case 'j':
			q.json = 1;
			break;
		case 'h':
			usage(stdout);
			return CLI_OK;
		default:
			usage(stderr);
			return CLI_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CLI_USAGE;
	}
	for (i = optind; i < argc; i++) {
		fd = open(argv[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			cli_err("%s: cannot open: %m", argv[i]);
			goto out;
		}
		q.file = argv[i];
		c = sd_audit_read_lines(fd, argv[i], 1, &torn, search_cb, &q, &e);
		close(fd);
		if (c != 0) {
			cli_err("%s", e.msg);
			goto out;
		}
		if (torn)
			cli_err("%s: the last line is incomplete (being written?); skipped",
				argv[i]);
	}
	fprintf(stderr, "%" PRIu64 " matching record(s)\n", q.matches);
	ret = q.bad == 0 ? CLI_OK : CLI_FAIL;
	if (q.bad != 0)
		cli_err("%" PRIu64 " malformed line(s) skipped: run signer audit verify", q.bad);
out:
	if (fflush(stdout) != 0)
		ret = CLI_FAIL;
	return ret;
}

int cmd_audit(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "verify") == 0)
		return audit_verify(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "search") == 0)
		return audit_search(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return CLI_OK;
	}
	usage(stderr);
	return CLI_USAGE;
}
