/*
 * The header and CFFOLDER bytes of a CAB as they will be after signing
 * (AUTHENTICODE-CAB.md section 2): for an input without the reserve, 24
 * bytes are inserted at offset 36 and cbCabinet, coffFiles and every
 * coffCabStart grow by 24. Used by both the digest and the embedder so the
 * two can never disagree.
 */
#include "cab/cab_internal.h"

#include <string.h>

void cab_signed_header(const uint8_t *p, const struct cab_info *info, uint8_t hdr[CAB_HDR_SIGNED])
{
	uint32_t cb;

	if (info->l.has_sig_reserve) {
		memcpy(hdr, p, CAB_HDR_SIGNED);
		return;
	}
	cb = info->l.cb_cabinet + CAB_RESERVE_GROW;
	memcpy(hdr, p, CAB_HDR_FIXED);
	memset(hdr + CAB_HDR_FIXED, 0, CAB_RESERVE_GROW);
	cab_put_le32(hdr, CAB_OFF_CBCABINET, cb);
	cab_put_le32(hdr, CAB_OFF_COFFFILES, cab_le32(p, CAB_OFF_COFFFILES) + CAB_RESERVE_GROW);
	cab_put_le16(hdr, CAB_OFF_FLAGS, (uint16_t)(cab_le16(p, CAB_OFF_FLAGS) | CAB_FLAG_RESERVE));
	/* cbCFHeader = 20, cbCFFolder = 0, cbCFData = 0 */
	cab_put_le16(hdr, 36, CAB_SIG_RESERVE);
	/* reserve: 00 00 10 00, signature offset, signature length (set on embedding), zeros */
	hdr[42] = 0x10;
	cab_put_le32(hdr, CAB_OFF_SIGOFF, cb);
}

void cab_signed_folder(const uint8_t *p, const struct cab_info *info, uint16_t i,
		       uint8_t entry[CAB_FOLDER_SIZE])
{
	size_t off = info->hdr_end + (size_t)i * CAB_FOLDER_SIZE;

	memcpy(entry, p + off, CAB_FOLDER_SIZE);
	if (!info->l.has_sig_reserve)
		cab_put_le32(entry, 0, cab_le32(p, off) + CAB_RESERVE_GROW);
}
