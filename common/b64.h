/* Strict base64 (RFC 4648 standard alphabet, padded, no line breaks). */
#ifndef SD_B64_H
#define SD_B64_H

#include <stddef.h>
#include <stdint.h>

/*
 * Decode in[n] into out[max]: whole 4-character groups, '=' only as the last
 * one or two characters, nothing outside the alphabet. *outlen gets the
 * decoded length. On failure returns -1 and *why (a constant string) says
 * what is wrong; out may have been written.
 */
int sd_b64_decode(const char *in, size_t n, uint8_t *out, size_t max, size_t *outlen,
		  const char **why);

#endif
