/*
 * Internal to script/: the parsed view of a script shared by the parser, the
 * digest and the embedder. Positions are in code units: bytes for UTF-8,
 * 16-bit little-endian units for UTF-16LE.
 */
#ifndef SD_PS_INTERNAL_H
#define SD_PS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "script/script.h"

#define PS_HEADER   "# SIG # Begin signature block"
#define PS_FOOTER   "# SIG # End signature block"
#define PS_B64_LINE 64 /* base64 characters per block line we write */

struct ps_info {
	struct ps_layout l;
	size_t unit;	 /* 1 (UTF-8) or 2 (UTF-16LE) */
	size_t nunits;	 /* code units in the file */
	size_t bom;	 /* code units of the byte-order mark (0, 3 or 1) */
	size_t text_end; /* code units of signed text */
	uint8_t *sig;	 /* existing signature DER when asked for (malloc'd) */
};

/*
 * Full check; fills info. With want_sig, info->sig receives the existing
 * signature's DER (free it); otherwise it stays NULL.
 */
int ps_parse_info(const uint8_t *p, size_t n, int want_sig, struct ps_info *info, struct sd_err *e);

static inline unsigned ps_unit(const struct ps_info *pi, const uint8_t *p, size_t i)
{
	if (pi->unit == 1)
		return p[i];
	return (unsigned)p[2 * i] | ((unsigned)p[2 * i + 1] << 8);
}

/* 1 when d[0..n) is exactly one DER SEQUENCE (definite length, at most 4 length bytes). */
int ps_der_single_seq(const uint8_t *d, size_t n);

#endif
