/*
 * Internal to cab/: the parsed view of a CAB shared by the parser, the
 * digest and the embedder. Not part of the public API.
 */
#ifndef SD_CAB_INTERNAL_H
#define SD_CAB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cab/cab.h"
#include "common/err.h"

#define CAB_HDR_FIXED	 36u /* CFHEADER without the reserve fields */
#define CAB_SIG_RESERVE	 20u /* cbCFHeader of a signed CAB */
#define CAB_RESERVE_GROW 24u /* 4 size bytes + the 20-byte reserve */
#define CAB_HDR_SIGNED	 (CAB_HDR_FIXED + CAB_RESERVE_GROW) /* 60 */
#define CAB_FOLDER_SIZE	 8u
#define CAB_FILE_SIZE	 16u /* CFFILE without its name */
#define CAB_DATA_SIZE	 8u  /* CFDATA header */
#define CAB_SIG_ALIGN	 8u

#define CAB_FLAG_PREV	 0x0001u
#define CAB_FLAG_NEXT	 0x0002u
#define CAB_FLAG_RESERVE 0x0004u

/* Header field offsets. */
#define CAB_OFF_CBCABINET 8u
#define CAB_OFF_COFFFILES 16u
#define CAB_OFF_FLAGS	  30u
#define CAB_OFF_SIGOFF	  44u
#define CAB_OFF_SIGLEN	  48u

struct cab_info {
	struct cab_layout l;
	size_t hdr_end;	    /* 36 without a reserve, 60 with the signature reserve */
	size_t folders_end; /* hdr_end + 8 * cFolders == coffFiles */
};

/* Full structural check; fills info. */
int cab_parse_info(const uint8_t *p, size_t n, struct cab_info *info, struct sd_err *e);

/*
 * The first 60 bytes of the CAB as they will be after signing: the input's
 * own header when it has the reserve, otherwise the fixed header with the
 * +24 fix-ups, flag 0x4 and a fresh reserve (signature offset = new
 * cbCabinet, length 0). The caller sets the length field when embedding.
 */
void cab_signed_header(const uint8_t *p, const struct cab_info *info, uint8_t hdr[CAB_HDR_SIGNED]);

/* One CFFOLDER entry as it will be after signing (coffCabStart + 24 when inserting). */
void cab_signed_folder(const uint8_t *p, const struct cab_info *info, uint16_t i,
		       uint8_t entry[CAB_FOLDER_SIZE]);

/*
 * Length of the DER element at p[0..n) (tag 0x30, definite length, minimal
 * encoding): header plus content. Returns 0 and sets *total, or -1.
 */
int cab_der_seq_len(const uint8_t *p, size_t n, size_t *total);

/* Little-endian accessors; callers guarantee off + width <= n. */
static inline uint16_t cab_le16(const uint8_t *p, size_t off)
{
	return (uint16_t)(p[off] | (p[off + 1] << 8));
}

static inline uint32_t cab_le32(const uint8_t *p, size_t off)
{
	return (uint32_t)p[off] | ((uint32_t)p[off + 1] << 8) | ((uint32_t)p[off + 2] << 16) |
	       ((uint32_t)p[off + 3] << 24);
}

static inline void cab_put_le16(uint8_t *p, size_t off, uint16_t v)
{
	p[off] = (uint8_t)v;
	p[off + 1] = (uint8_t)(v >> 8);
}

static inline void cab_put_le32(uint8_t *p, size_t off, uint32_t v)
{
	p[off] = (uint8_t)v;
	p[off + 1] = (uint8_t)(v >> 8);
	p[off + 2] = (uint8_t)(v >> 16);
	p[off + 3] = (uint8_t)(v >> 24);
}

#endif
