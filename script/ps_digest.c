/*
 * The Authenticode digest of a PowerShell script: the signed text as
 * UTF-16LE, byte-order mark included. UTF-16LE files are hashed as they are;
 * UTF-8 is converted a chunk at a time (a UTF-8 BOM becomes FF FE).
 */
#include "script/ps_internal.h"

#define CHUNK 2048 /* UTF-16 code units per hash update */

/* Decode the (already validated) UTF-8 sequence at p[*i]. */
static uint32_t utf8_next(const uint8_t *p, size_t *i)
{
	uint8_t c = p[(*i)++];
	uint32_t cp;
	int more;

	if (c < 0x80)
		return c;
	if (c < 0xe0) {
		cp = c & 0x1f;
		more = 1;
	} else if (c < 0xf0) {
		cp = c & 0x0f;
		more = 2;
	} else {
		cp = c & 0x07;
		more = 3;
	}
	while (more-- > 0)
		cp = (cp << 6) | (p[(*i)++] & 0x3f);
	return cp;
}

static int hash_utf8(EVP_MD_CTX *ctx, const uint8_t *p, size_t end)
{
	uint8_t buf[2 * CHUNK + 4];
	size_t i = 0, o = 0;
	uint32_t cp, hi, lo;

	while (i < end) {
		cp = utf8_next(p, &i);
		if (cp >= 0x10000) {
			cp -= 0x10000;
			hi = 0xd800 | (cp >> 10);
			lo = 0xdc00 | (cp & 0x3ff);
			buf[o++] = (uint8_t)hi;
			buf[o++] = (uint8_t)(hi >> 8);
			buf[o++] = (uint8_t)lo;
			buf[o++] = (uint8_t)(lo >> 8);
		} else {
			buf[o++] = (uint8_t)cp;
			buf[o++] = (uint8_t)(cp >> 8);
		}
		if (o >= 2 * CHUNK) {
			if (EVP_DigestUpdate(ctx, buf, o) != 1)
				return -1;
			o = 0;
		}
	}
	return o > 0 && EVP_DigestUpdate(ctx, buf, o) != 1 ? -1 : 0;
}

int ps_digest(const uint8_t *p, size_t n, const EVP_MD *md, uint8_t *out, unsigned int *outlen,
	      struct sd_err *e)
{
	struct ps_info pi;
	EVP_MD_CTX *ctx = NULL;
	int ret = -1, rc;

	if (md == NULL || out == NULL || outlen == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "ps_digest: missing argument");
	if (ps_parse_info(p, n, 0, &pi, e) != 0)
		return -1;
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "ps_digest: out of memory");
		goto out;
	}
	rc = EVP_DigestInit_ex(ctx, md, NULL) == 1 ? 0 : -1;
	if (rc == 0)
		rc = pi.unit == 2 ? (EVP_DigestUpdate(ctx, p, pi.l.text_len) == 1 ? 0 : -1)
				  : hash_utf8(ctx, p, pi.l.text_len);
	if (rc != 0 || EVP_DigestFinal_ex(ctx, out, outlen) != 1) {
		sd_err_openssl(e, SD_E_INTERNAL, "script digest");
		goto out;
	}
	ret = 0;
out:
	EVP_MD_CTX_free(ctx);
	return ret;
}
