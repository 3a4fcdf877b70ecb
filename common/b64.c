/* Strict base64 decoding, shared by the audit log verifier and the script signature block. */
#include "common/b64.h"

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int sd_b64_decode(const char *in, size_t n, uint8_t *out, size_t max, size_t *outlen,
		  const char **why)
{
	size_t i, o = 0, pad = 0;
	uint32_t acc = 0;
	int v;

	*outlen = 0;
	if (n == 0 || n % 4 != 0) {
		*why = "the base64 is not a whole number of 4-character groups";
		return -1;
	}
	if (n / 4 * 3 > max) {
		*why = "the base64 decodes to more bytes than expected";
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (in[i] == '=') {
			/* Padding: only the last one or two characters. */
			if (i < n - 2 || (i == n - 2 && in[n - 1] != '=')) {
				*why = "base64 padding '=' in the middle of the data";
				return -1;
			}
			pad++;
			v = 0;
		} else {
			v = b64_value(in[i]);
			if (v < 0 || pad != 0) {
				*why = "a character that is not base64";
				return -1;
			}
		}
		acc = (acc << 6) | (uint32_t)v;
		if (i % 4 == 3) {
			out[o++] = (uint8_t)(acc >> 16);
			out[o++] = (uint8_t)(acc >> 8);
			out[o++] = (uint8_t)acc;
			acc = 0;
		}
	}
	*outlen = o - pad;
	return 0;
}
