/*
 * Signature embedding (AUTHENTICODE-CAB.md section 2): insert the reserve
 * when missing, drop any existing signature, append the PKCS#7 at cbCabinet
 * zero-padded to a multiple of 8, and record offset and padded length in the
 * reserve.
 */
#include "cab/cab_internal.h"

#include <stdlib.h>
#include <string.h>

/* Copy the cabinet (without any old signature) into out as it will be after signing. */
static size_t write_cabinet(const uint8_t *p, const struct cab_info *info, uint8_t *out)
{
	size_t o = CAB_HDR_SIGNED;
	uint16_t i;

	cab_signed_header(p, info, out);
	if (info->l.has_sig_reserve) {
		memcpy(out + o, p + o, info->l.cb_cabinet - o);
		return info->l.cb_cabinet;
	}
	for (i = 0; i < info->l.c_folders; i++, o += CAB_FOLDER_SIZE)
		cab_signed_folder(p, info, i, out + o);
	memcpy(out + o, p + info->folders_end, info->l.cb_cabinet - info->folders_end);
	return o + (info->l.cb_cabinet - info->folders_end);
}

int cab_embed(const uint8_t *p, size_t n, const uint8_t *p7, size_t p7len, uint8_t **out,
	      size_t *outlen, struct sd_err *e)
{
	struct cab_info info;
	size_t der_len, cab_len, padded, total;
	uint8_t *buf = NULL;
	int ret = -1;

	if (out == NULL || outlen == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "cab_embed: missing argument");
	*out = NULL;
	*outlen = 0;
	if (p7 == NULL || cab_der_seq_len(p7, p7len, &der_len) != 0 || der_len != p7len)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "the signature to embed is not a single DER SEQUENCE (%zu bytes)",
				  p7len);
	if (cab_parse_info(p, n, &info, e) != 0)
		return -1;
	cab_len = (size_t)info.l.cb_cabinet + (info.l.has_sig_reserve ? 0 : CAB_RESERVE_GROW);
	/* cab_len + p7len + padding must stay inside the cap (no wrap-around). */
	if (cab_len > CAB_MAX_FILE_SIZE - (CAB_SIG_ALIGN - 1) ||
	    p7len > CAB_MAX_FILE_SIZE - (CAB_SIG_ALIGN - 1) - cab_len)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "signed CAB would exceed %zu bytes (cabinet %zu, signature %zu)",
				  CAB_MAX_FILE_SIZE, cab_len, p7len);
	padded = (p7len + (CAB_SIG_ALIGN - 1)) & ~(size_t)(CAB_SIG_ALIGN - 1);
	total = cab_len + padded;
	if ((buf = malloc(total)) == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "cab_embed: cannot allocate %zu bytes", total);
	if (write_cabinet(p, &info, buf) != cab_len) {
		sd_err_set(e, SD_E_INTERNAL, "cab_embed: layout size mismatch");
		goto out;
	}
	cab_put_le32(buf, CAB_OFF_SIGOFF, (uint32_t)cab_len);
	cab_put_le32(buf, CAB_OFF_SIGLEN, (uint32_t)padded);
	memcpy(buf + cab_len, p7, p7len);
	memset(buf + cab_len + p7len, 0, padded - p7len);
	*out = buf;
	*outlen = total;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	return ret;
}
