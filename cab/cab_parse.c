/*
 * CAB structure validation (AUTHENTICODE-CAB.md sections 1 and 2).
 *
 * Every offset and count in a CAB is untrusted. All arithmetic is done in
 * size_t/uint64_t on values already bounded by the file size (at most
 * CAB_MAX_FILE_SIZE), and every read is preceded by a bounds check against
 * cbCabinet, which itself is checked against the file size first.
 */
#include "cab/cab_internal.h"

#include <string.h>

/* CFFILE names are at most 256 bytes plus the NUL (CB_MAX_FILENAME in MS-CAB). */
#define CAB_MAX_NAME 257u

static const uint8_t cab_magic[4] = {'M', 'S', 'C', 'F'};
static const uint8_t cab_sig_tag[4] = {0x00, 0x00, 0x10, 0x00};

static int check_fixed_header(const uint8_t *p, size_t n, struct cab_info *info, struct sd_err *e)
{
	uint32_t reserved1;
	uint16_t flags;

	if (n < sizeof(cab_magic) || memcmp(p, cab_magic, sizeof(cab_magic)) != 0)
		return sd_err_set(e, SD_E_BAD_REQUEST, "not a CAB file: bad magic (expected MSCF)");
	if (n > CAB_MAX_FILE_SIZE)
		return sd_err_set(e, SD_E_BAD_REQUEST, "CAB file is %zu bytes; the limit is %zu", n,
				  CAB_MAX_FILE_SIZE);
	if (n < CAB_HDR_FIXED)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "truncated CAB header: file is %zu bytes, the header needs %u", n,
				  CAB_HDR_FIXED);
	reserved1 = cab_le32(p, 4);
	if (reserved1 != 0)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "CAB header field reserved1 is 0x%08x; must be 0", reserved1);
	if (p[25] != 1 || p[24] != 3)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "unsupported CAB format version %u.%u (expected 1.3)", p[25],
				  p[24]);
	flags = cab_le16(p, CAB_OFF_FLAGS);
	if (flags & (CAB_FLAG_PREV | CAB_FLAG_NEXT))
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "multi-volume CAB (flags 0x%04x: %s) is not supported", flags,
				  (flags & CAB_FLAG_PREV) ? "has a previous cabinet"
							  : "has a next cabinet");
	if (flags & ~(unsigned)(CAB_FLAG_PREV | CAB_FLAG_NEXT | CAB_FLAG_RESERVE))
		return sd_err_set(e, SD_E_BAD_REQUEST, "unknown CAB header flags 0x%04x", flags);

	info->l.cb_cabinet = cab_le32(p, CAB_OFF_CBCABINET);
	info->l.c_folders = cab_le16(p, 26);
	info->l.c_files = cab_le16(p, 28);
	info->l.has_sig_reserve = (flags & CAB_FLAG_RESERVE) != 0;
	info->hdr_end = info->l.has_sig_reserve ? CAB_HDR_SIGNED : CAB_HDR_FIXED;
	return 0;
}

static int check_reserve(const uint8_t *p, size_t n, struct cab_info *info, struct sd_err *e)
{
	uint16_t cb_header;

	if (!info->l.has_sig_reserve)
		return 0;
	if (n < CAB_HDR_FIXED + 4)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "truncated CAB header: flag 0x4 is set but the reserve sizes are "
				  "missing (file is %zu bytes)",
				  n);
	cb_header = cab_le16(p, 36);
	if (cb_header != CAB_SIG_RESERVE)
		return sd_err_set(
		    e, SD_E_BAD_REQUEST,
		    "CAB reserve area is %u bytes; only the 20-byte signature reserve "
		    "is supported",
		    cb_header);
	if (p[38] != 0)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "CAB folder reserve (cbCFFolder) is %u bytes; must be 0", p[38]);
	if (p[39] != 0)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "CAB data reserve (cbCFData) is %u bytes; must be 0", p[39]);
	if (n < CAB_HDR_SIGNED)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "truncated CAB header: the 20-byte signature reserve needs %u "
				  "bytes, file is %zu",
				  CAB_HDR_SIGNED, n);
	if (memcmp(p + 40, cab_sig_tag, sizeof(cab_sig_tag)) != 0)
		return sd_err_set(
		    e, SD_E_BAD_REQUEST,
		    "CAB reserve starts with %02x %02x %02x %02x, not 00 00 10 00: not "
		    "an Authenticode signature reserve",
		    p[40], p[41], p[42], p[43]);
	info->l.sig_offset = cab_le32(p, CAB_OFF_SIGOFF);
	info->l.sig_len = cab_le32(p, CAB_OFF_SIGLEN);
	return 0;
}

/* The bytes after cbCabinet: nothing, or exactly the signature the reserve describes. */
static int check_extent(const uint8_t *p, size_t n, struct cab_info *info, struct sd_err *e)
{
	const struct cab_layout *l = &info->l;
	size_t der_len, i;

	if (l->cb_cabinet > n)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "cbCabinet (%u) is larger than the file (%zu bytes)",
				  l->cb_cabinet, n);
	if (l->cb_cabinet < info->hdr_end)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "cbCabinet (%u) is smaller than the CAB header (%zu bytes)",
				  l->cb_cabinet, info->hdr_end);
	if (l->sig_len == 0) {
		if (l->sig_offset != 0 && l->sig_offset != l->cb_cabinet)
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "CAB signature reserve has offset %u but length 0",
					  l->sig_offset);
		if (n != l->cb_cabinet)
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "%zu bytes after cbCabinet (%u) that are not a signature",
					  n - l->cb_cabinet, l->cb_cabinet);
		return 0;
	}
	if (l->sig_offset != l->cb_cabinet)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "CAB signature offset (%u) does not equal cbCabinet (%u)",
				  l->sig_offset, l->cb_cabinet);
	if ((uint64_t)l->sig_offset + l->sig_len != (uint64_t)n)
		return sd_err_set(
		    e, SD_E_BAD_REQUEST,
		    "CAB signature at offset %u with length %u does not end at the end "
		    "of the file (%zu bytes)",
		    l->sig_offset, l->sig_len, n);
	if (cab_der_seq_len(p + l->sig_offset, l->sig_len, &der_len) != 0)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "the %u bytes after cbCabinet (%u) are not a signature (no valid "
				  "DER SEQUENCE)",
				  l->sig_len, l->cb_cabinet);
	for (i = der_len; i < l->sig_len; i++)
		if (p[l->sig_offset + i] != 0)
			return sd_err_set(
			    e, SD_E_BAD_REQUEST,
			    "non-zero byte in the CAB signature padding at offset %zu",
			    (size_t)l->sig_offset + i);
	info->l.signed_ = 1;
	return 0;
}

/* One CFFOLDER: its compression type, coffCabStart, and a walk over its CFDATA blocks. */
static int check_folder(const uint8_t *p, const struct cab_info *info, uint16_t i, struct sd_err *e)
{
	size_t ent = info->hdr_end + (size_t)i * CAB_FOLDER_SIZE;
	size_t cb = info->l.cb_cabinet;
	size_t off = cab_le32(p, ent);
	uint16_t c_data = cab_le16(p, ent + 4);
	uint16_t type = cab_le16(p, ent + 6);
	uint16_t k;

	if ((type & 0x000f) > 3)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "CFFOLDER %u has unknown compression type 0x%04x", i, type);
	if (off < info->folders_end || off > cb)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "CFFOLDER %u coffCabStart (%zu) points outside the cabinet data "
				  "(%zu..%zu)",
				  i, off, info->folders_end, cb);
	for (k = 0; k < c_data; k++) {
		if (cb - off < CAB_DATA_SIZE)
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "CFFOLDER %u: CFDATA block %u at offset %zu extends past "
					  "cbCabinet (%zu)",
					  i, k, off, cb);
		off += CAB_DATA_SIZE;
		if (cb - off < cab_le16(p, off - 4))
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "CFFOLDER %u: CFDATA block %u data (%u bytes at offset "
					  "%zu) extends past cbCabinet (%zu)",
					  i, k, cab_le16(p, off - 4), off, cb);
		off += cab_le16(p, off - 4);
	}
	return 0;
}

static int check_folders(const uint8_t *p, struct cab_info *info, struct sd_err *e)
{
	uint64_t blocks = 0;
	size_t cb = info->l.cb_cabinet;
	uint16_t i;

	if ((uint64_t)info->l.c_folders * CAB_FOLDER_SIZE > cb - info->hdr_end)
		return sd_err_set(
		    e, SD_E_BAD_REQUEST,
		    "CFFOLDER table (%u entries at offset %zu) extends past cbCabinet "
		    "(%zu)",
		    info->l.c_folders, info->hdr_end, cb);
	info->folders_end = info->hdr_end + (size_t)info->l.c_folders * CAB_FOLDER_SIZE;
	/*
	 * Blocks cannot overlap and each has an 8-byte header, so the total
	 * block count bounds the walk below to cbCabinet / 8 steps.
	 */
	for (i = 0; i < info->l.c_folders; i++)
		blocks += cab_le16(p, info->hdr_end + (size_t)i * CAB_FOLDER_SIZE + 4);
	if (blocks * CAB_DATA_SIZE > cb - info->folders_end)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "CFFOLDER entries declare %llu CFDATA blocks; more than fit in "
				  "cbCabinet (%zu)",
				  (unsigned long long)blocks, cb);
	for (i = 0; i < info->l.c_folders; i++)
		if (check_folder(p, info, i, e) != 0)
			return -1;
	return 0;
}

static int check_files(const uint8_t *p, const struct cab_info *info, struct sd_err *e)
{
	size_t cb = info->l.cb_cabinet;
	size_t off = cab_le32(p, CAB_OFF_COFFFILES);
	size_t len;
	uint16_t i, folder;

	if (off > cb)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "coffFiles (%zu) points outside the cabinet (cbCabinet %zu)", off,
				  cb);
	if (off != info->folders_end)
		return sd_err_set(
		    e, SD_E_BAD_REQUEST,
		    "coffFiles (%zu) does not follow the CFFOLDER table (expected %zu)", off,
		    info->folders_end);
	for (i = 0; i < info->l.c_files; i++) {
		if (cb - off < CAB_FILE_SIZE)
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "CFFILE %u at offset %zu extends past cbCabinet (%zu)", i,
					  off, cb);
		folder = cab_le16(p, off + 8);
		if (folder >= info->l.c_folders)
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "CFFILE %u refers to folder %u; the cabinet has %u", i,
					  folder, info->l.c_folders);
		off += CAB_FILE_SIZE;
		len = cb - off < CAB_MAX_NAME ? cb - off : CAB_MAX_NAME;
		if (len == 0 || memchr(p + off, 0, len) == NULL)
			return sd_err_set(
			    e, SD_E_BAD_REQUEST,
			    "CFFILE %u name at offset %zu is not NUL-terminated within "
			    "%u bytes or cbCabinet",
			    i, off, CAB_MAX_NAME);
		off += (size_t)((const uint8_t *)memchr(p + off, 0, len) - (p + off)) + 1;
	}
	return 0;
}

int cab_parse_info(const uint8_t *p, size_t n, struct cab_info *info, struct sd_err *e)
{
	memset(info, 0, sizeof(*info));
	if (p == NULL && n != 0)
		return sd_err_set(e, SD_E_INTERNAL, "cab_parse: NULL buffer");
	if (check_fixed_header(p, n, info, e) != 0 || check_reserve(p, n, info, e) != 0 ||
	    check_extent(p, n, info, e) != 0 || check_folders(p, info, e) != 0 ||
	    check_files(p, info, e) != 0) {
		memset(info, 0, sizeof(*info));
		return -1;
	}
	return 0;
}

int cab_parse(const uint8_t *p, size_t n, struct cab_layout *out, struct sd_err *e)
{
	struct cab_info info;

	if (cab_parse_info(p, n, &info, e) != 0)
		return -1;
	if (out != NULL)
		*out = info.l;
	return 0;
}
