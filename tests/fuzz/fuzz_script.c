/*
 * libFuzzer target for script/: arbitrary bytes through ps_parse, ps_digest
 * (SHA-256), ps_get_signature and ps_embed. Whatever parses must digest,
 * embed, re-parse with the same encoding and digest, and give back the
 * embedded signature; anything else must be refused by every function
 * without reading outside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "script/script.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A minimal DER SEQUENCE standing in for a PKCS#7 blob. */
static const uint8_t fake_p7[13] = {0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48,
				    0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ps_layout l, l2;
	struct sd_err e;
	uint8_t d1[EVP_MAX_MD_SIZE], d2[EVP_MAX_MD_SIZE], *out = NULL, *p7 = NULL;
	unsigned int n1 = 0, n2 = 0;
	size_t outlen = 0, p7len = 0;
	int parsed;

	parsed = ps_parse(data, size, &l, &e) == 0;
	if ((ps_digest(data, size, EVP_sha256(), d1, &n1, &e) == 0) != parsed)
		abort();
	if (ps_get_signature(data, size, &p7, &p7len, &e) == 0) {
		if (!parsed || !l.has_block || p7 == NULL || p7len != l.sig_len || p7[0] != 0x30)
			abort();
		free(p7);
		p7 = NULL;
	} else if (p7 != NULL) {
		abort();
	}
	if (ps_embed(data, size, fake_p7, sizeof(fake_p7), &out, &outlen, &e) != 0) {
		if (parsed)
			abort();
		return 0;
	}
	if (!parsed || l.text_len > size || outlen <= l.text_len ||
	    memcmp(out, data, l.text_len) != 0 || ps_parse(out, outlen, &l2, &e) != 0 ||
	    !l2.has_block || l2.enc != l.enc || l2.text_len != l.text_len ||
	    l2.sig_len != sizeof(fake_p7) ||
	    ps_digest(out, outlen, EVP_sha256(), d2, &n2, &e) != 0 || n1 != n2 ||
	    memcmp(d1, d2, n1) != 0 || ps_get_signature(out, outlen, &p7, &p7len, &e) != 0 ||
	    p7len != sizeof(fake_p7) || memcmp(p7, fake_p7, p7len) != 0)
		abort();
	free(p7);
	free(out);
	return 0;
}
