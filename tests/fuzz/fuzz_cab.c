/*
 * libFuzzer target for cab/: arbitrary bytes through cab_parse, cab_digest
 * (SHA-256), cab_get_signature and cab_embed. Whatever parses must digest,
 * embed, re-parse as signed and keep its digest; anything else must be
 * refused without reading outside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cab/cab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A minimal DER SEQUENCE standing in for a PKCS#7 blob (13 bytes: padded to 16). */
static const uint8_t fake_p7[13] = {0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48,
				    0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cab_layout l, l2;
	struct sd_err e;
	uint8_t d1[EVP_MAX_MD_SIZE], d2[EVP_MAX_MD_SIZE];
	unsigned int n1 = 0, n2 = 0;
	const uint8_t *p7 = NULL;
	size_t p7len = 0, outlen = 0;
	uint8_t *out = NULL;
	int parsed;

	parsed = cab_parse(data, size, &l, &e) == 0;
	if ((cab_digest(data, size, EVP_sha256(), d1, &n1, &e) == 0) != parsed)
		abort();
	if (cab_get_signature(data, size, &p7, &p7len, &e) == 0) {
		if (!parsed || !l.signed_ || p7 < data || p7len > size ||
		    (size_t)(p7 - data) > size - p7len)
			abort();
	}
	if (cab_embed(data, size, fake_p7, sizeof(fake_p7), &out, &outlen, &e) != 0) {
		if (parsed)
			abort();
		return 0;
	}
	if (!parsed || cab_parse(out, outlen, &l2, &e) != 0 || !l2.signed_ ||
	    cab_digest(out, outlen, EVP_sha256(), d2, &n2, &e) != 0 || n1 != n2 ||
	    memcmp(d1, d2, n1) != 0)
		abort();
	free(out);
	return 0;
}
