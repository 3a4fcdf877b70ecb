/* Streaming verification of audit log files: chain, sequence numbers, checkpoint signatures. */
#include "common/audit_vfy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

void sd_audit_vfy_init(struct sd_audit_vfy *v, STACK_OF(X509) * pinned)
{
	memset(v, 0, sizeof(*v));
	v->pinned = pinned;
}

void sd_audit_vfy_begin_file(struct sd_audit_vfy *v, const char *name)
{
	v->file = name;
	v->nfiles++;
	v->lineno = 0;
}

int sd_audit_vfy_end_file(struct sd_audit_vfy *v, struct sd_err *e)
{
	if (v->lineno == 0)
		return sd_err_set(e, SD_E_BAD_REQUEST, "%s: no records (an emptied file?)",
				  v->file);
	return 0;
}

static int bad(struct sd_audit_vfy *v, struct sd_err *e, const char *why)
{
	return sd_err_set(e, SD_E_BAD_REQUEST, "%s: line %" PRIu64 ": %s", v->file, v->lineno, why);
}

static void note_cert(struct sd_audit_vfy *v, X509 *x)
{
	uint8_t md[20];
	unsigned int mdlen = 0;
	char hex[41];
	unsigned i;

	if (X509_digest(x, EVP_sha1(), md, &mdlen) != 1 || mdlen != 20)
		return;
	for (i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	for (i = 0; i < v->ncerts; i++)
		if (strcmp(v->certs[i], hex) == 0)
			return;
	if (v->ncerts == SD_AUDIT_VFY_MAX_CERTS)
		return;
	memcpy(v->certs[v->ncerts], hex, sizeof(hex));
	X509_NAME_oneline(X509_get_subject_name(x), v->cert_subjects[v->ncerts],
			  sizeof(v->cert_subjects[0]));
	v->ncerts++;
}

static int pinned_has(STACK_OF(X509) * pinned, X509 *x)
{
	int i;

	for (i = 0; i < sk_X509_num(pinned); i++)
		if (X509_cmp(sk_X509_value(pinned, i), x) == 0)
			return 1;
	return 0;
}

static int check_checkpoint(struct sd_audit_vfy *v, const struct sd_audit_line *l, struct sd_err *e)
{
	struct sd_err ce;
	X509 *x = NULL;
	char why[sizeof(ce.msg)];
	int ret = -1;

	if (sd_audit_cp_verify(l, &x, &ce) != 0) {
		snprintf(why, sizeof(why), "%.400s: the checkpoint was modified or forged", ce.msg);
		return bad(v, e, why);
	}
	note_cert(v, x);
	if (v->pinned != NULL && !pinned_has(v->pinned, x)) {
		snprintf(
		    why, sizeof(why),
		    "the checkpoint is signed by a certificate that is not the pinned one (%s)",
		    v->cert_subjects[v->ncerts > 0 ? v->ncerts - 1 : 0]);
		bad(v, e, why);
		goto out;
	}
	v->have_cp = 1;
	v->cp_seq = l->seq;
	v->after_cp = 0;
	v->checkpoints++;
	if (sd_audit_get_str(l, "key", v->cp_key, sizeof(v->cp_key)) != 0)
		v->cp_key[0] = '\0';
	ret = 0;
out:
	X509_free(x);
	return ret;
}

/* The first line of the first file: a new chain or a continuation of an older file. */
static int check_start(struct sd_audit_vfy *v, const struct sd_audit_line *l, struct sd_err *e)
{
	v->first_seq = l->seq;
	if (strcmp(l->prev, SD_AUDIT_ZERO_HASH) == 0) {
		if (l->seq != 1)
			return bad(v, e, "a new chain (prev all zeros) must start at seq 1");
		return 0;
	}
	/* Otherwise only a rotated file may start mid-chain, with its rotate record. */
	if (l->type != SD_AUDIT_ROTATE)
		return bad(v, e,
			   "the log neither starts a chain (seq 1, prev all zeros) nor continues a "
			   "rotated file (a rotate record): records before it were deleted");
	v->start_unverified = 1;
	if (sd_audit_get_str(l, "prev_file", v->start_prev_file, sizeof(v->start_prev_file)) != 0)
		v->start_prev_file[0] = '\0';
	return 0;
}

static int check_link(struct sd_audit_vfy *v, const struct sd_audit_line *l, struct sd_err *e)
{
	char why[400];

	if (l->seq != v->last_seq + 1) {
		if (l->seq > v->last_seq + 1)
			snprintf(why, sizeof(why),
				 "seq %" PRIu64 ", expected %" PRIu64
				 ": record(s) deleted here, or "
				 "records reordered",
				 l->seq, v->last_seq + 1);
		else
			snprintf(why, sizeof(why),
				 "seq %" PRIu64 ", expected %" PRIu64
				 ": records reordered or duplicated",
				 l->seq, v->last_seq + 1);
		return bad(v, e, why);
	}
	if (strcmp(l->prev, v->last_hash) == 0)
		return 0;
	if (v->lineno == 1)
		return sd_err_set(
		    e, SD_E_BAD_REQUEST,
		    "%s: line 1: does not chain to the last record of %s (line %" PRIu64
		    "): that file was modified or truncated, or the files are not "
		    "in order",
		    v->file, v->last_file, v->last_lineno);
	return sd_err_set(e, SD_E_BAD_REQUEST,
			  "%s: line %" PRIu64 ": record modified: its SHA-256 does not match the "
			  "prev of line %" PRIu64 " (or that prev was altered)",
			  v->last_file, v->last_lineno, v->lineno);
}

/* The fields a void record must share with the record it withdraws. */
static void request_id(const struct sd_audit_line *l, uint8_t id[32])
{
	static const char *const names[] = {"key", "digest_alg", "digest"};
	const struct sd_audit_field *f;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned i, n = 0;

	memset(id, 0, 32);
	if (c == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
		goto out;
	for (i = 0; i < sizeof(names) / sizeof(*names); i++) {
		f = sd_audit_get(l, names[i]);
		/* Length-prefixed, so that field boundaries cannot shift. */
		if (EVP_DigestUpdate(c, &f->val_len, sizeof(f->val_len)) != 1 ||
		    EVP_DigestUpdate(c, f->val, f->val_len) != 1)
			goto out;
	}
	EVP_DigestFinal_ex(c, id, &n);
out:
	EVP_MD_CTX_free(c);
}

static int field_eq(const struct sd_audit_field *f, const char *s)
{
	return f != NULL && f->val_len == strlen(s) && memcmp(f->val, s, f->val_len) == 0;
}

/*
 * Remember each request record; check a void record against the record it
 * names when that one is among the last SD_AUDIT_VFY_RECENT (a void follows
 * its record within the requests signing at the same time, unless a token
 * call hung meanwhile: older ones, or ones before the verified range, are
 * counted but not checked).
 */
static int check_void(struct sd_audit_vfy *v, const struct sd_audit_line *l, struct sd_err *e)
{
	struct sd_audit_vfy_req *r = &v->recent[l->seq % SD_AUDIT_VFY_RECENT], *t;
	const struct sd_audit_field *vo = sd_audit_get(l, "voids");
	char why[160];

	r->seq = l->seq;
	request_id(l, r->id);
	r->state = vo == NULL && field_eq(sd_audit_get(l, "type"), "sign") &&
			   field_eq(sd_audit_get(l, "result"), "signed")
		       ? 1
		       : 3;
	if (vo == NULL)
		return 0;
	v->voids++;
	t = &v->recent[vo->num % SD_AUDIT_VFY_RECENT];
	if (t->seq != vo->num)
		return 0; /* before the verified range, or too far back to remember */
	if (t->state == 2)
		snprintf(why, sizeof(why), "seq %" PRIu64 " is voided a second time", vo->num);
	else if (t->state != 1)
		snprintf(why, sizeof(why),
			 "the void names seq %" PRIu64 ", which is not a signed sign record",
			 vo->num);
	else if (memcmp(t->id, r->id, sizeof(r->id)) != 0)
		snprintf(why, sizeof(why),
			 "the void names seq %" PRIu64 ", a record of another key or digest",
			 vo->num);
	else
		why[0] = '\0';
	if (why[0] != '\0')
		return bad(v, e, why);
	t->state = 2;
	v->voids_checked++;
	return 0;
}

int sd_audit_vfy_line(struct sd_audit_vfy *v, const char *line, size_t len, struct sd_err *e)
{
	struct sd_audit_line *l;
	struct sd_err pe;
	char why[sizeof(pe.msg)];
	int ret = -1;

	v->lineno++;
	l = malloc(sizeof(*l));
	if (l == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	if (sd_audit_parse(line, len, l, &pe) != 0) {
		snprintf(why, sizeof(why), "malformed record (modified?): %.400s", pe.msg);
		bad(v, e, why);
		goto out;
	}
	if (!v->have_last) {
		if (check_start(v, l, e) != 0)
			goto out;
	} else if (check_link(v, l, e) != 0) {
		goto out;
	}
	if (l->type == SD_AUDIT_ROTATE && v->lineno != 1) {
		bad(v, e, "a rotate record can only be the first line of a file");
		goto out;
	}
	if (l->type == SD_AUDIT_CHECKPOINT) {
		if (check_checkpoint(v, l, e) != 0)
			goto out;
	} else {
		v->after_cp++;
		if (l->type == SD_AUDIT_ROTATE)
			v->rotations++;
		else
			v->requests++;
		if (l->type == SD_AUDIT_REQUEST && check_void(v, l, e) != 0)
			goto out;
	}
	v->lines++;
	v->have_last = 1;
	v->last_seq = l->seq;
	sd_audit_hash_hex(line, len, v->last_hash);
	v->last_file = v->file;
	v->last_lineno = v->lineno;
	ret = 0;
out:
	free(l);
	return ret;
}

int sd_audit_vfy_finish(struct sd_audit_vfy *v, uint64_t expect_seq, struct sd_err *e)
{
	if (expect_seq == 0)
		return 0;
	if (!v->have_cp)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "no valid checkpoint, but one at seq %" PRIu64
				  " or later was expected: the log was truncated",
				  expect_seq);
	if (v->cp_seq < expect_seq)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "the last checkpoint is at seq %" PRIu64
				  ", but one at seq %" PRIu64
				  " or later was expected: the log was truncated",
				  v->cp_seq, expect_seq);
	return 0;
}

int sd_audit_read_lines(int fd, const char *name, int allow_torn, int *torn, sd_audit_line_cb cb,
			void *ctx, struct sd_err *e)
{
	enum { CHUNK = 65536 };
	char *buf = NULL, *line = NULL, *nl;
	size_t have = 0, off, k;
	uint64_t lineno = 0;
	ssize_t n;
	int ret = -1, r;

	if (torn != NULL)
		*torn = 0;
	buf = malloc(CHUNK);
	line = malloc(SD_AUDIT_MAX_LINE + 1);
	if (buf == NULL || line == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	for (;;) {
		n = read(fd, buf, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sd_err_set(e, SD_E_INTERNAL, "%s: read: %s", name, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		for (off = 0; off < (size_t)n; off += k) {
			nl = memchr(buf + off, '\n', (size_t)n - off);
			k = nl != NULL ? (size_t)(nl - (buf + off)) : (size_t)n - off;
			if (have + k > SD_AUDIT_MAX_LINE) {
				sd_err_set(e, SD_E_BAD_REQUEST,
					   "%s: line %" PRIu64 ": longer than %d bytes", name,
					   lineno + 1, SD_AUDIT_MAX_LINE);
				goto out;
			}
			memcpy(line + have, buf + off, k);
			have += k;
			if (nl == NULL)
				continue;
			k++; /* the newline */
			line[have] = '\0';
			r = cb(ctx, line, have, ++lineno, e);
			if (r != 0) {
				ret = r;
				goto out;
			}
			have = 0;
		}
	}
	if (have > 0) {
		if (!allow_torn) {
			sd_err_set(e, SD_E_BAD_REQUEST,
				   "%s: line %" PRIu64
				   ": incomplete last line (%zu bytes, no newline): a write was "
				   "interrupted or the file was cut",
				   name, lineno + 1, have);
			goto out;
		}
		if (torn != NULL)
			*torn = 1;
	}
	ret = 0;
out:
	free(buf);
	free(line);
	return ret;
}
