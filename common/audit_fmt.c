/* Audit log encoding helpers: JSON strings, times, hashes, base64, checkpoint signatures. */
#include "common/audit_fmt.h"

#include "common/b64.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

size_t sd_audit_utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t k, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		k = 2;
	else if (c >= 0xe0 && c <= 0xef)
		k = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		k = 4;
	else
		return 0;
	if (n < k)
		return 0;
	/* Second-byte ranges that exclude overlongs, surrogates and > U+10FFFF. */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < k; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return k;
}

void sd_audit_put_str(struct wbuf *w, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	/* Look a few bytes past max so a character straddling the cap is seen whole. */
	size_t n = s != NULL ? strnlen(s, max + 4) : 0, i = 0, k, step;
	char esc[8];
	int cut = 0;

	wbuf_u8(w, '"');
	while (i < n) {
		k = sd_audit_utf8_len(p + i, n - i);
		step = k != 0 ? k : 1;
		if (i + step > max) {
			cut = 1;
			break;
		}
		if (k == 0) {
			wbuf_raw(w, "\\ufffd", 6);
		} else if (k > 1) {
			wbuf_raw(w, p + i, k);
		} else if (p[i] == '"' || p[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)p[i];
			wbuf_raw(w, esc, 2);
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", p[i]);
			wbuf_raw(w, esc, 6);
		} else {
			wbuf_u8(w, p[i]);
		}
		i += step;
	}
	if (cut)
		wbuf_raw(w, "...", 3);
	wbuf_u8(w, '"');
}

void sd_audit_fmt_time(const struct timespec *ts, char out[32])
{
	struct tm tm;
	time_t t = ts->tv_sec;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
		memset(&tm, 0, sizeof(tm));
	snprintf(out, 32, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
		 (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
		 (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u,
		 (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u,
		 (unsigned)(ts->tv_nsec / 1000000) % 1000u);
}

/* n decimal digits at s into *v; -1 unless all are digits. */
static int digits(const char *s, size_t n, int *v)
{
	size_t i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

int sd_audit_parse_time(const char *s, size_t n, int strict, int64_t *ms)
{
	struct tm tm, chk;
	int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, fd = 0, oh, om, off = 0, v;
	size_t i;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (n < 10 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
	    digits(s + 8, 2, &d))
		return -1;
	if (strict && n != 24)
		return -1;
	i = 10;
	if (n > 10) {
		if ((s[10] != 'T' && (strict || s[10] != 't')) || n < 20 || digits(s + 11, 2, &h) ||
		    s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
		    digits(s + 17, 2, &sec))
			return -1;
		i = 19;
		if (i < n && s[i] == '.') {
			for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, fd++)
				if (fd < 3)
					frac = frac * 10 + (s[i] - '0');
			if (fd == 0 || (strict && fd != 3))
				return -1;
			for (v = fd; v < 3; v++)
				frac *= 10;
		} else if (strict) {
			return -1;
		}
		if (i < n && (s[i] == 'Z' || (!strict && s[i] == 'z'))) {
			i++;
		} else if (!strict && i + 6 == n && (s[i] == '+' || s[i] == '-') &&
			   !digits(s + i + 1, 2, &oh) && s[i + 3] == ':' &&
			   !digits(s + i + 4, 2, &om) && oh < 24 && om < 60) {
			off = (oh * 60 + om) * 60 * (s[i] == '+' ? 1 : -1);
			i += 6;
		} else {
			return -1;
		}
		if (i != n || h > 23 || mi > 59 || sec > 60)
			return -1;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec == 60 ? 59 : sec;
	t = timegm(&tm);
	/* Reject dates that timegm normalised (2026-02-30). */
	if (t == (time_t)-1 || gmtime_r(&t, &chk) == NULL || chk.tm_mday != d ||
	    chk.tm_mon != mo - 1)
		return -1;
	*ms = ((int64_t)t - off) * 1000 + frac;
	return 0;
}

void sd_audit_hash_hex(const void *line, size_t len, char out[65])
{
	uint8_t h[SHA256_DIGEST_LENGTH];
	static const char hx[] = "0123456789abcdef";
	size_t i;

	SHA256(line, len, h);
	for (i = 0; i < sizeof(h); i++) {
		out[2 * i] = hx[h[i] >> 4];
		out[2 * i + 1] = hx[h[i] & 15];
	}
	out[64] = '\0';
}

void sd_audit_put_b64(struct wbuf *w, const uint8_t *p, size_t n)
{
	unsigned char out[4 * 48 / 3 + 1];
	size_t off, k;
	int m;

	for (off = 0; off < n; off += k) {
		k = n - off > 48 ? 48 : n - off;
		m = EVP_EncodeBlock(out, p + off, (int)k);
		wbuf_raw(w, out, (size_t)m);
	}
}

int sd_audit_sig_check(X509 *cert, const uint8_t hash[32], const uint8_t *sig, size_t siglen,
		       struct sd_err *e)
{
	EVP_PKEY *pk = X509_get0_pubkey(cert);
	EVP_PKEY_CTX *ctx = NULL;
	int ret = -1;

	if (pk == NULL)
		return sd_err_set(e, SD_E_BAD_REQUEST, "checkpoint certificate has no usable key");
	ctx = EVP_PKEY_CTX_new(pk, NULL);
	if (ctx == NULL || EVP_PKEY_verify_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) <= 0 ||
	    (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA &&
	     EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0)) {
		sd_err_openssl(e, SD_E_INTERNAL, "cannot set up the signature check");
		goto out;
	}
	if (EVP_PKEY_verify(ctx, sig, siglen, hash, 32) != 1) {
		sd_err_set(e, SD_E_BAD_REQUEST, "signature does not verify");
		goto out;
	}
	ret = 0;
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	return ret;
}

int sd_audit_cp_verify(const struct sd_audit_line *l, X509 **cert, struct sd_err *e)
{
	const struct sd_audit_field *fc = sd_audit_get(l, "cert"), *fs = sd_audit_get(l, "sig");
	uint8_t *der = NULL, sig[SD_AUDIT_MAX_SIG], hash[32];
	const unsigned char *dp;
	size_t prefix, dl = 0, sl = 0;
	const char *why = NULL;
	X509 *x = NULL;
	int ret = -1;

	if (l->type != SD_AUDIT_CHECKPOINT || fc == NULL || fs == NULL)
		return sd_err_set(e, SD_E_BAD_REQUEST, "not a checkpoint record");
	der = OPENSSL_malloc(SD_AUDIT_MAX_CERT);
	if (der == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	dp = der;
	if (sd_b64_decode(fc->val, fc->val_len, der, SD_AUDIT_MAX_CERT, &dl, &why) != 0) {
		sd_err_set(e, SD_E_BAD_REQUEST, "the checkpoint certificate is not base64: %s",
			   why != NULL ? why : "malformed");
		goto out;
	}
	if (dl == 0 || (x = d2i_X509(NULL, &dp, (long)dl)) == NULL || dp != der + dl) {
		sd_err_set(e, SD_E_BAD_REQUEST,
			   "the checkpoint certificate is not one DER X.509 certificate");
		goto out;
	}
	why = NULL;
	if (sd_b64_decode(fs->val, fs->val_len, sig, sizeof(sig), &sl, &why) != 0 || sl == 0) {
		sd_err_set(e, SD_E_BAD_REQUEST, "the checkpoint signature is not base64: %s",
			   why != NULL ? why : "empty");
		goto out;
	}
	/* The signed prefix ends before the comma that precedes "sig". */
	prefix = (size_t)(fs->name - l->line) - 2;
	SHA256((const unsigned char *)l->line, prefix, hash);
	if (sd_audit_sig_check(x, hash, sig, sl, e) != 0) {
		sd_err_prefix(e, "checkpoint: ");
		goto out;
	}
	if (cert != NULL) {
		*cert = x;
		x = NULL;
	}
	ret = 0;
out:
	X509_free(x);
	OPENSSL_free(der);
	return ret;
}
