/*
 * Batch mode (--out-dir) pipelines all requests on one connection with at
 * most WINDOW requests (and WINDOW_BYTES of input) in flight; -o and
 * --in-place are a batch of one. Every output is written with
 * sd_write_file_atomic and fsync'd (file and directory) before the next
 * response is handled, so an output that exists under its final name is
 * always complete, even after a crash; the pipeline keeps signerd busy during
 * the fsyncs.
 */
#include "client/sign_batch.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/cli.h"
#include "common/file.h"

#define WINDOW	     64
#define WINDOW_BYTES ((size_t)256 << 20)

/* One file in flight: its bytes, where it goes, and the digest sent. */
struct job {
	const char *in;
	char out[PATH_MAX];
	uint8_t *data;
	size_t len;
	mode_t mode;
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned int dlen;
	char note[256]; /* from the format's inspect, printed once written */
};

struct progress {
	int on;
	size_t total, done, failed;
};

struct sign_batch {
	const struct cli_sign_opts *o;
	const struct sign_format *f;
	struct signer_client *c;
	X509 *leaf;
	struct job ring[WINDOW];
	size_t head, count, bytes; /* FIFO of in-flight jobs */
	struct progress pr;
	size_t signed_ok;
};

static void progress_draw(const struct progress *p)
{
	char bar[31];
	size_t fill, i;

	if (!p->on || p->total == 0)
		return;
	fill = p->done * (sizeof(bar) - 1) / p->total;
	for (i = 0; i < sizeof(bar) - 1; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[sizeof(bar) - 1] = '\0';
	fprintf(stderr, "\r[%s] %zu/%zu", bar, p->done, p->total);
	if (p->failed > 0)
		fprintf(stderr, " (%zu failed)", p->failed);
	fflush(stderr);
}

static void progress_clear(const struct progress *p)
{
	if (p->on)
		fputs("\r\033[K", stderr);
}

static void vsay(struct sign_batch *b, const char *in, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void vsay(struct sign_batch *b, const char *in, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	progress_clear(&b->pr);
	if (in != NULL)
		cli_err("%s: %s", in, msg);
	else
		cli_err("%s", msg);
}

void sign_batch_warn(struct sign_batch *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(b, NULL, fmt, ap);
	va_end(ap);
	progress_draw(&b->pr);
}

/* Report one file's failure (above the progress bar) and count it. */
static void job_failed(struct sign_batch *b, const char *in, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void job_failed(struct sign_batch *b, const char *in, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(b, in, fmt, ap);
	va_end(ap);
	b->pr.done++;
	b->pr.failed++;
	progress_draw(&b->pr);
}

static void job_clear(struct job *j)
{
	free(j->data);
	memset(j, 0, sizeof(*j));
}

/* Where FILE's output goes. */
static int output_path(const struct cli_sign_opts *o, const char *in, char *out, size_t outsz,
		       char *why, size_t whysz)
{
	char tmp[PATH_MAX];
	int n;

	if (o->in_place) {
		/* Replace the file a symlink points to, not the symlink. */
		if (realpath(in, out) == NULL) {
			snprintf(why, whysz, "%s", strerror(errno));
			return -1;
		}
		return 0;
	}
	if (o->out != NULL)
		n = snprintf(out, outsz, "%s", o->out);
	else {
		if (snprintf(tmp, sizeof(tmp), "%s", in) >= (int)sizeof(tmp)) {
			snprintf(why, whysz, "path too long");
			return -1;
		}
		n = snprintf(out, outsz, "%s/%s", o->out_dir, basename(tmp));
	}
	if (n < 0 || (size_t)n >= outsz) {
		snprintf(why, whysz, "output path too long");
		return -1;
	}
	return 0;
}

/* Read, inspect and hash one input; on failure say why. */
static int job_prepare(struct sign_batch *b, struct job *j, const char *in, char *why, size_t whysz)
{
	struct sd_err e;
	struct stat st;

	memset(j, 0, sizeof(*j));
	j->in = in;
	if (output_path(b->o, in, j->out, sizeof(j->out), why, whysz) != 0)
		return -1;
	if (stat(in, &st) != 0) {
		snprintf(why, whysz, "%s", strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whysz, "not a regular file");
		return -1;
	}
	j->mode = st.st_mode & 0777;
	if (sd_read_file(in, b->f->max_size, &j->data, &j->len, &e) != 0) {
		/* e.msg starts with the path, which job_failed prints already. */
		size_t n = strlen(in);

		snprintf(why, whysz, "%s",
			 strncmp(e.msg, in, n) == 0 && strncmp(e.msg + n, ": ", 2) == 0
			     ? e.msg + n + 2
			     : e.msg);
		return -1;
	}
	if (b->f->inspect != NULL &&
	    b->f->inspect(b, in, j->data, j->len, j->note, sizeof(j->note), why, whysz) != 0) {
		job_clear(j);
		return -1;
	}
	if (b->f->digest(j->data, j->len, b->o->md, j->digest, &j->dlen, &e) != 0) {
		snprintf(why, whysz, "%s", e.msg);
		job_clear(j);
		return -1;
	}
	return 0;
}

static int job_send(struct sign_batch *b, struct job *j, struct signer_error *e)
{
	struct signer_sign_request r = {
	    .key = b->o->key,
	    .digest_alg = b->o->alg,
	    .digest = j->digest,
	    .digest_len = j->dlen,
	    .program = b->o->program,
	    .url = b->o->url,
	};

	return b->f->send(b->c, &r, e);
}

/*
 * The key's certificate changed under a running batch: a rotation switched
 * the default key, or a reload replaced the certificate. Ask the daemon again,
 * on a second connection since this one carries pipelined replies, and accept
 * the signer only if it is now the key's certificate.
 */
static int refresh_leaf(struct sign_batch *b, X509 *signer)
{
	struct signer_client *c = cli_connect(b->o->socket);
	X509 *now = NULL;
	int ret = -1;

	if (c == NULL || cli_get_cert(c, b->o->key, &now, NULL) != 0)
		goto out;
	if (X509_cmp(now, signer) == 0) {
		char subj[256];

		X509_NAME_oneline(X509_get_subject_name(now), subj, sizeof(subj));
		sign_batch_warn(b,
				"note: the key's certificate changed during the batch (key "
				"rotation); now signing as %s",
				subj);
		X509_free(b->leaf);
		b->leaf = now;
		now = NULL;
		ret = 0;
	}
out:
	X509_free(now);
	signer_close(c);
	return ret;
}

/*
 * The returned PKCS#7 must be an Authenticode signature of the format's
 * subject over exactly the digest and algorithm sent, by the key's
 * certificate.
 */
static int check_signature(struct sign_batch *b, const struct job *j, const uint8_t *p7,
			   size_t p7len, char *why, size_t whysz)
{
	struct au_info info;
	struct sd_err e;
	int ret = -1;

	memset(&info, 0, sizeof(info));
	if (au_verify(p7, p7len, b->f->subject, &info, &e) != 0) {
		snprintf(why, whysz,
			 "signerd returned a signature that does not verify as a %s signature: "
			 "%s",
			 au_subject_name(b->f->subject), e.msg);
		goto out;
	}
	if (info.md_nid != EVP_MD_get_type(b->o->md)) {
		snprintf(why, whysz, "signerd returned a %s signature, %s was asked for",
			 OBJ_nid2sn(info.md_nid), b->o->alg);
		goto out;
	}
	if (info.digest_len != j->dlen || CRYPTO_memcmp(info.digest, j->digest, j->dlen) != 0) {
		snprintf(why, whysz, "signerd returned a signature over a different digest");
		goto out;
	}
	if (info.signer == NULL ||
	    (X509_cmp(info.signer, b->leaf) != 0 && refresh_leaf(b, info.signer) != 0)) {
		snprintf(why, whysz,
			 "the signature's signer certificate is not the key's certificate");
		goto out;
	}
	ret = 0;
out:
	au_info_clear(&info);
	return ret;
}

/* Check, embed and write one signature. */
static int job_finish(struct sign_batch *b, struct job *j, const uint8_t *p7, size_t p7len)
{
	uint8_t *out = NULL, again[EVP_MAX_MD_SIZE];
	unsigned int alen = 0;
	size_t outlen = 0;
	struct sd_err e;
	char why[768];
	int ret = -1;

	if (check_signature(b, j, p7, p7len, why, sizeof(why)) != 0) {
		job_failed(b, j->in, "%s", why);
		goto out;
	}
	if (b->f->embed(j->data, j->len, p7, p7len, &out, &outlen, &e) != 0) {
		job_failed(b, j->in, "%s", e.msg);
		goto out;
	}
	/* The signed file must hash to what was signed. */
	if (b->f->digest(out, outlen, b->o->md, again, &alen, &e) != 0 || alen != j->dlen ||
	    memcmp(again, j->digest, alen) != 0) {
		job_failed(b, j->in, "the signed file does not hash to the signed digest");
		goto out;
	}
	if (sd_write_file_atomic(j->out, out, outlen, j->mode, 1, &e) != 0) {
		job_failed(b, j->in, "%s", e.msg);
		goto out;
	}
	if (j->note[0] != '\0')
		sign_batch_warn(b, "%s: %s", j->in, j->note);
	b->signed_ok++;
	b->pr.done++;
	progress_draw(&b->pr);
	ret = 0;
out:
	free(out);
	return ret;
}

/* Receive the oldest in-flight answer. Returns -1 when the connection is gone. */
static int recv_one(struct sign_batch *b)
{
	struct job *j = &b->ring[b->head];
	struct signer_error e;
	uint8_t *p7 = NULL;
	size_t p7len = 0;
	int rc = 0;

	if (signer_recv_signature(b->c, &p7, &p7len, &e) != 0) {
		job_failed(b, j->in, "%s: %s", signer_code_name(e.code), e.message);
		rc = e.from_server ? 0 : -1;
	} else {
		job_finish(b, j, p7, p7len);
	}
	signer_free(p7);
	b->bytes -= j->len;
	job_clear(j);
	b->head = (b->head + 1) % WINDOW;
	b->count--;
	return rc;
}

static void fail_in_flight(struct sign_batch *b, const char *why)
{
	struct job *j;

	while (b->count > 0) {
		j = &b->ring[b->head];
		job_failed(b, j->in, "not signed: %s", why);
		job_clear(j);
		b->head = (b->head + 1) % WINDOW;
		b->count--;
	}
	b->bytes = 0;
}

/* Sign files[0..n) through one connection; returns the exit status. */
static int run(const struct cli_sign_opts *o, const struct sign_format *f, char **files, size_t n)
{
	struct sign_batch *b;
	struct signer_error e;
	struct job *j;
	size_t next = 0;
	char why[768];
	int lost = 0, ret = CLI_FAIL;

	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		cli_err("out of memory");
		return CLI_FAIL;
	}
	b->o = o;
	b->f = f;
	b->pr.total = n;
	b->pr.on = o->out_dir != NULL && isatty(STDERR_FILENO);
	b->c = cli_connect(o->socket);
	if (b->c == NULL || cli_get_cert(b->c, o->key, &b->leaf, NULL) != 0)
		goto out;
	progress_draw(&b->pr);
	while (next < n || b->count > 0) {
		while (!lost && next < n && b->count < WINDOW &&
		       (b->count == 0 || b->bytes < WINDOW_BYTES)) {
			j = &b->ring[(b->head + b->count) % WINDOW];
			if (job_prepare(b, j, files[next], why, sizeof(why)) != 0) {
				job_failed(b, files[next], "%s", why);
				next++;
				continue;
			}
			if (job_send(b, j, &e) != 0) {
				job_failed(b, j->in, "%s: %s", signer_code_name(e.code), e.message);
				job_clear(j);
				next++;
				lost = 1;
				break;
			}
			b->bytes += j->len;
			b->count++;
			next++;
		}
		if (b->count > 0 && !lost && recv_one(b) != 0)
			lost = 1;
		if (lost) {
			fail_in_flight(b, "the connection to signerd was lost");
			for (; next < n; next++)
				job_failed(b, files[next],
					   "not signed: the connection to signerd "
					   "was lost");
		}
	}
	progress_clear(&b->pr);
	if (o->out_dir != NULL)
		fprintf(stderr, "signer: signed %zu of %zu file%s into %s\n", b->signed_ok, n,
			n == 1 ? "" : "s", o->out_dir);
	ret = b->signed_ok == n ? CLI_OK : CLI_FAIL;
out:
	fail_in_flight(b, "aborted");
	X509_free(b->leaf);
	signer_close(b->c);
	free(b);
	return ret;
}

static int cmp_base(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Batch outputs are named by basename: two inputs must not share one. */
static int check_basenames(char **files, size_t n)
{
	char **names;
	size_t i;
	int ret = -1;

	names = calloc(n, sizeof(*names));
	if (names == NULL) {
		cli_err("out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		char *dup = strdup(files[i]);

		if (dup == NULL) {
			cli_err("out of memory");
			goto out;
		}
		names[i] = strdup(basename(dup));
		free(dup);
		if (names[i] == NULL) {
			cli_err("out of memory");
			goto out;
		}
	}
	qsort(names, n, sizeof(*names), cmp_base);
	for (i = 1; i < n; i++) {
		if (strcmp(names[i - 1], names[i]) == 0) {
			cli_err("two inputs are named \"%s\": their outputs would collide in "
				"--out-dir",
				names[i]);
			goto out;
		}
	}
	ret = 0;
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

int sign_batch_main(const struct cli_sign_opts *o, const struct sign_format *f)
{
	struct stat st;
	size_t i;

	for (i = 0; f->name_ok != NULL && i < o->nfiles; i++) {
		if (!f->name_ok(o->files[i])) {
			cli_err("%s: %s", o->files[i], f->name_rule);
			return CLI_USAGE;
		}
	}
	if (o->out_dir != NULL) {
		if (stat(o->out_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
			cli_err("%s: not a directory", o->out_dir);
			return CLI_FAIL;
		}
		if (check_basenames(o->files, o->nfiles) != 0)
			return CLI_USAGE;
	}
	return run(o, f, o->files, o->nfiles);
}
