/* Audit record bodies: request, checkpoint (token-signed) and rotate records. */
#include "signer/audit_int.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "common/file.h"

static void put_name(struct wbuf *w, const char *name)
{
	wbuf_u8(w, ',');
	wbuf_u8(w, '"');
	wbuf_raw(w, name, strlen(name));
	wbuf_raw(w, "\":", 2);
}

static void put_num(struct wbuf *w, const char *name, uint64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)v);

	put_name(w, name);
	wbuf_raw(w, num, (size_t)n);
}

static void put_str(struct wbuf *w, const char *name, const char *s, size_t cap)
{
	put_name(w, name);
	sd_audit_put_str(w, s, cap);
}

static int event_ok(const char *ev)
{
	size_t i, n = strlen(ev);

	if (n == 0 || n > SD_AUDIT_CAP_EVENT || strcmp(ev, "checkpoint") == 0 ||
	    strcmp(ev, "rotate") == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!((ev[i] >= 'a' && ev[i] <= 'z') || ev[i] == '_'))
			return 0;
	return 1;
}

int sd_audit_fmt_request(struct wbuf *w, const struct sd_audit_rec *r, struct sd_err *e)
{
	const char *ev = r->event != NULL && r->event[0] != '\0' ? r->event : "sign";
	size_t dn = r->digest != NULL ? r->digest_len : 0;
	char hex[2 * SD_AUDIT_CAP_DIGEST + 1];

	if (!event_ok(ev))
		return sd_err_set(e, SD_E_INTERNAL, "audit: bad event name");
	put_str(w, "type", ev, SD_AUDIT_CAP_EVENT);
	put_num(w, "pid", r->pid > 0 ? (uint64_t)r->pid : 0);
	put_num(w, "uid", (uint64_t)r->uid);
	put_num(w, "gid", (uint64_t)r->gid);
	put_str(w, "exe", r->exe, SD_AUDIT_CAP_EXE);
	put_name(w, "exe_verified");
	wbuf_raw(w, r->exe_verified ? "true" : "false", r->exe_verified ? 4 : 5);
	put_str(w, "key", r->key, SD_AUDIT_CAP_KEY);
	put_str(w, "cert_serial", r->cert_serial, SD_AUDIT_CAP_SERIAL);
	put_str(w, "cert_sha1", r->cert_sha1, SD_AUDIT_CAP_SHA1);
	put_str(w, "subject", r->subject_type, SD_AUDIT_CAP_SUBJECT);
	put_str(w, "digest_alg", r->digest_alg, SD_AUDIT_CAP_ALG);
	put_name(w, "digest");
	wbuf_u8(w, '"');
	hex[0] = '\0';
	if (dn > 0)
		sd_hex(r->digest, dn > SD_AUDIT_CAP_DIGEST ? SD_AUDIT_CAP_DIGEST : dn, hex);
	wbuf_raw(w, hex, strlen(hex));
	if (dn > SD_AUDIT_CAP_DIGEST)
		wbuf_raw(w, "...", 3);
	wbuf_u8(w, '"');
	put_str(w, "program", r->program, SD_AUDIT_CAP_PROGRAM);
	put_str(w, "result", r->result == 0 ? "signed" : "refused", 8);
	put_num(w, "code", r->result);
	put_str(w, "error", sd_code_name(r->result), 32);
	put_str(w, "message", r->result == 0 ? "" : r->message, SD_AUDIT_CAP_MESSAGE);
	/* A void record names the record it withdraws, and why: never a signature. */
	if ((strcmp(ev, "void") == 0) != (r->voids != 0) || (r->voids != 0 && r->result == 0))
		return sd_err_set(e, SD_E_INTERNAL, "audit: a void record needs voids and a code");
	if (r->voids != 0)
		put_num(w, "voids", r->voids);
	else if (r->result == 0 && r->tsa != NULL && r->tsa[0] != '\0') {
		put_str(w, "tsa", r->tsa, SD_AUDIT_CAP_TSA);
		put_str(w, "ts_time", r->ts_time, 32);
	}
	wbuf_u8(w, '}');
	if (wbuf_failed(w))
		return sd_err_set(e, SD_E_AUDIT_UNAVAILABLE, "audit: cannot format the record");
	return 0;
}

int sd_audit_fmt_checkpoint(struct wbuf *w, const struct sd_audit_signer *s, struct sd_err *e)
{
	uint8_t hash[SHA256_DIGEST_LENGTH], sig[SD_AUDIT_MAX_SIG], *der = NULL;
	size_t siglen = sizeof(sig);
	int dl, ret = -1;

	dl = i2d_X509(s->cert, &der);
	if (dl <= 0 || dl > SD_AUDIT_MAX_CERT) {
		sd_err_set(e, SD_E_INTERNAL, "checkpoint certificate cannot be encoded");
		goto out;
	}
	put_str(w, "type", "checkpoint", 16);
	put_str(w, "key", s->key_name, SD_AUDIT_CAP_KEY);
	put_name(w, "cert");
	wbuf_u8(w, '"');
	sd_audit_put_b64(w, der, (size_t)dl);
	wbuf_u8(w, '"');
	if (wbuf_failed(w)) {
		sd_err_set(e, SD_E_INTERNAL, "checkpoint record too long");
		goto out;
	}
	/* The signed prefix: every byte of the line before ,"sig": */
	SHA256(w->p, w->len, hash);
	if (s->sign(s->ctx, NID_sha256, hash, sizeof(hash), sig, &siglen, e) != 0) {
		sd_err_prefix(e, "signing the checkpoint: ");
		goto out;
	}
	if (sd_audit_sig_check(s->cert, hash, sig, siglen, e) != 0) {
		sd_err_set(e, SD_E_INTERNAL,
			   "the checkpoint signature does not verify with key \"%s\"'s certificate",
			   s->key_name != NULL ? s->key_name : "");
		goto out;
	}
	put_name(w, "sig");
	wbuf_u8(w, '"');
	sd_audit_put_b64(w, sig, siglen);
	wbuf_raw(w, "\"}", 2);
	if (wbuf_failed(w)) {
		sd_err_set(e, SD_E_INTERNAL, "checkpoint record too long");
		goto out;
	}
	ret = 0;
out:
	OPENSSL_free(der);
	return ret;
}

void sd_audit_fmt_rotate(struct wbuf *w, const char *prev_file, const char *reason)
{
	put_str(w, "type", "rotate", 16);
	put_str(w, "prev_file", prev_file, SD_AUDIT_CAP_FILE);
	put_str(w, "reason", reason, 32);
	wbuf_u8(w, '}');
}
