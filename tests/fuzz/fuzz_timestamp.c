/*
 * libFuzzer target: what signerd and signer do with bytes a TSA or a signed
 * file supplies. The first byte picks the path: 0 a TimeStampResp checked
 * against a fixed query (ts_response_check), 1 a TimeStampToken checked
 * against a fixed signature (ts_token_verify), 2 a SignedData whose
 * signature value is found and to which a fixed token is added
 * (au_signature_value, au_add_timestamp), the result parsed by au_verify.
 */
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>

#include "authenticode/authenticode.h"
#include "timestamp/ts.h"

static const uint8_t sig[] = "fixed signature value for the fuzzer";
/* A minimal well-formed SEQUENCE standing in for a token. */
static const uint8_t token[] = {0x30, 0x03, 0x02, 0x01, 0x00};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ts_query q;
	struct ts_token t;
	struct au_info info;
	struct sd_err e;
	const uint8_t *sv;
	uint8_t *out = NULL;
	size_t svlen, outlen = 0;

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		memset(&q, 0, sizeof(q));
		q.md = EVP_sha256();
		q.imprint_len = 32;
		memset(q.imprint, 0x11, 32);
		memset(q.nonce, 0x42, sizeof(q.nonce));
		if (ts_response_check(&q, data + 1, size - 1, NULL, &t, &e) == 0)
			ts_token_clear(&t);
		break;
	case 1:
		ts_token_verify(data + 1, size - 1, sig, sizeof(sig), NULL, &t, &e);
		break;
	default:
		au_signature_value(data + 1, size - 1, &sv, &svlen, &e);
		if (au_add_timestamp(data + 1, size - 1, token, sizeof(token), &out, &outlen, &e) ==
		    0) {
			if (au_verify(out, outlen, AU_SUBJECT_CAB, &info, &e) == 0)
				au_info_clear(&info);
			OPENSSL_free(out);
		}
		break;
	}
	return 0;
}
