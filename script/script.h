/*
 * PowerShell script signing (.ps1, .psm1, .psd1): encoding detection, the
 * Authenticode digest, and the signature block (AUTHENTICODE-CAB.md section 8,
 * cross-checked against osslsigncode 2.9).
 *
 * A script is UTF-8 (with or without a byte-order mark) or UTF-16LE (with
 * FF FE). The digest is the hash of the script text as UTF-16LE, byte-order
 * mark included (a UTF-8 BOM is hashed as U+FEFF, FF FE), up to the line
 * break that precedes an existing "# SIG # Begin signature block" line. The
 * signature block is appended in the file's own encoding:
 *
 *   CRLF "# SIG # Begin signature block" CRLF
 *   "# " 64 base64 characters CRLF ... (the last line may be shorter)
 *   "# SIG # End signature block" CRLF
 *
 * All functions work on a whole file in memory and never read outside
 * [p, p+n). Refusals (SD_E_BAD_REQUEST) name the problem: UTF-16BE and
 * UTF-32 files, invalid UTF-8 or UTF-16, NUL characters, an odd-length
 * UTF-16LE file, and an existing signature block that is malformed.
 */
#ifndef SD_SCRIPT_H
#define SD_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/err.h"

#define PS_MAX_FILE_SIZE ((size_t)64 << 20)

enum ps_encoding {
	PS_ENC_UTF8 = 1,     /* no byte-order mark */
	PS_ENC_UTF8_BOM = 2, /* EF BB BF */
	PS_ENC_UTF16LE = 3,  /* FF FE */
};

struct ps_layout {
	enum ps_encoding enc;
	size_t text_len;   /* bytes of the file that are signed (before the block's line break) */
	int has_block;	   /* an existing signature block follows the text */
	size_t block_line; /* 1-based line of "# SIG # Begin signature block"; 0 when none */
	size_t sig_len;	   /* DER bytes of the existing signature; 0 when none */
	int bomless_non_ascii; /* UTF-8 without a BOM holding non-ASCII text */
};

/* Check the encoding, the text and any existing signature block; fill out. */
int ps_parse(const uint8_t *p, size_t n, struct ps_layout *out, struct sd_err *e);

/* The Authenticode digest of the script (any existing block excluded). out: EVP_MAX_MD_SIZE. */
int ps_digest(const uint8_t *p, size_t n, const EVP_MD *md, uint8_t *out, unsigned int *outlen,
	      struct sd_err *e);

/*
 * The signed file: the script text, any existing block replaced by one
 * holding p7 (a single DER SEQUENCE), in the file's encoding. *out is malloc'd.
 */
int ps_embed(const uint8_t *p, size_t n, const uint8_t *p7, size_t p7len, uint8_t **out,
	     size_t *outlen, struct sd_err *e);

/* The DER PKCS#7 of the existing signature block (*p7 is malloc'd). */
int ps_get_signature(const uint8_t *p, size_t n, uint8_t **p7, size_t *p7len, struct sd_err *e);

/* 1 when path ends in .ps1, .psm1 or .psd1 (any case), else 0. */
int ps_name_ok(const char *path);

/* "UTF-8", "UTF-8 with BOM", "UTF-16LE". */
const char *ps_encoding_name(enum ps_encoding enc);

#endif
