/*
 * CAB parsing, Authenticode digest, signature embedding and extraction.
 * Facts: AUTHENTICODE-CAB.md sections 1-3 (see docs/ for the project's copy).
 * All functions work on a whole file in memory and never read outside [p, p+n).
 */
#ifndef SD_CAB_H
#define SD_CAB_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/err.h"

#define CAB_MAX_FILE_SIZE ((size_t)0x7fffffff)

struct cab_layout {
	uint32_t cb_cabinet; /* cbCabinet of the input as found */
	uint16_t c_folders;
	uint16_t c_files;
	int has_sig_reserve; /* input already has the 20-byte signature reserve */
	uint32_t sig_offset; /* from the reserve; 0 when none */
	uint32_t sig_len;    /* padded length from the reserve; 0 when none */
	int signed_;	     /* a signature blob is present after cbCabinet */
};

/*
 * Validate the structure. Refuses (with a message naming the problem):
 * not a CAB, reserve of any size other than 20, non-zero folder/data reserves,
 * multi-volume flags, bytes after cbCabinet that are not a signature,
 * offsets or counts outside the file.
 */
int cab_parse(const uint8_t *p, size_t n, struct cab_layout *out, struct sd_err *e);

/*
 * Authenticode digest of the CAB as it will be after signing (for an input
 * without a reserve: as if the 24-byte reserve were inserted). out must hold
 * EVP_MAX_MD_SIZE bytes.
 */
int cab_digest(const uint8_t *p, size_t n, const EVP_MD *md, uint8_t *out, unsigned int *outlen,
	       struct sd_err *e);

/*
 * Produce the signed file: reserve inserted when missing (offsets fixed up),
 * any existing signature replaced, p7 appended at cbCabinet zero-padded to a
 * multiple of 8. *out is malloc'd.
 */
int cab_embed(const uint8_t *p, size_t n, const uint8_t *p7, size_t p7len, uint8_t **out,
	      size_t *outlen, struct sd_err *e);

/* Borrow the embedded PKCS#7 DER of a signed CAB (length taken from the DER header). */
int cab_get_signature(const uint8_t *p, size_t n, const uint8_t **p7, size_t *p7len,
		      struct sd_err *e);

#endif
