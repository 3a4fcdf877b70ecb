/*
 * The signature block writer: the script text followed by the block, in the
 * file's encoding (UTF-16LE files get a UTF-16LE block), any existing block
 * replaced. Lines hold 64 base64 characters and end in CR LF, as
 * osslsigncode and signtool write them.
 */
#include "script/ps_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

struct out {
	uint8_t *p;
	size_t len;
	size_t unit;
};

static void put(struct out *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		o->p[o->len++] = (uint8_t)s[i];
		if (o->unit == 2)
			o->p[o->len++] = 0;
	}
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

int ps_embed(const uint8_t *p, size_t n, const uint8_t *p7, size_t p7len, uint8_t **out,
	     size_t *outlen, struct sd_err *e)
{
	struct ps_info pi;
	struct out o = {0};
	char *b64 = NULL;
	size_t b64len, lines, chars, total, i, k;
	int ret = -1;

	if (out == NULL || outlen == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "ps_embed: missing argument");
	*out = NULL;
	*outlen = 0;
	if (p7 == NULL || p7len > (size_t)1 << 24 || !ps_der_single_seq(p7, p7len))
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "the signature to embed is not a single DER SEQUENCE of at most "
				  "16 MiB (%zu bytes)",
				  p7len);
	if (ps_parse_info(p, n, 0, &pi, e) != 0)
		return -1;
	b64len = 4 * ((p7len + 2) / 3);
	b64 = malloc(b64len + 1);
	if (b64 == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "ps_embed: out of memory");
		goto out;
	}
	if ((size_t)EVP_EncodeBlock((unsigned char *)b64, p7, (int)p7len) != b64len) {
		sd_err_set(e, SD_E_INTERNAL, "ps_embed: base64 encoding failed");
		goto out;
	}
	lines = (b64len + PS_B64_LINE - 1) / PS_B64_LINE;
	/* CRLF header, then CRLF "# " per line, CRLF footer CRLF. */
	chars = 2 + strlen(PS_HEADER) + lines * 4 + b64len + 2 + strlen(PS_FOOTER) + 2;
	total = pi.l.text_len + chars * pi.unit;
	o.p = malloc(total);
	if (o.p == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "ps_embed: cannot allocate %zu bytes", total);
		goto out;
	}
	o.unit = pi.unit;
	memcpy(o.p, p, pi.l.text_len);
	o.len = pi.l.text_len;
	puts_(&o, "\r\n" PS_HEADER);
	for (i = 0; i < b64len; i += k) {
		k = b64len - i < PS_B64_LINE ? b64len - i : PS_B64_LINE;
		puts_(&o, "\r\n# ");
		put(&o, b64 + i, k);
	}
	puts_(&o, "\r\n" PS_FOOTER "\r\n");
	if (o.len != total) {
		sd_err_set(e, SD_E_INTERNAL, "ps_embed: layout size mismatch");
		goto out;
	}
	*out = o.p;
	*outlen = o.len;
	o.p = NULL;
	ret = 0;
out:
	free(o.p);
	free(b64);
	return ret;
}
