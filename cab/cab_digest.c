/*
 * Authenticode digest of a CAB (AUTHENTICODE-CAB.md section 3), computed
 * over the file as it will be after signing, streamed straight from the
 * caller's buffer: only the 60-byte header and one 8-byte CFFOLDER entry at a
 * time are rewritten on the stack.
 *
 * Hashed: bytes 0..3, 8..33, 56..59, then 60 up to cbCabinet.
 */
#include "cab/cab_internal.h"

#include <openssl/crypto.h>

static int hash_body(EVP_MD_CTX *ctx, const uint8_t *p, const struct cab_info *info)
{
	uint8_t entry[CAB_FOLDER_SIZE];
	uint16_t i;

	if (info->l.has_sig_reserve)
		return EVP_DigestUpdate(ctx, p + CAB_HDR_SIGNED,
					info->l.cb_cabinet - CAB_HDR_SIGNED) == 1
			   ? 0
			   : -1;
	for (i = 0; i < info->l.c_folders; i++) {
		cab_signed_folder(p, info, i, entry);
		if (EVP_DigestUpdate(ctx, entry, sizeof(entry)) != 1)
			return -1;
	}
	return EVP_DigestUpdate(ctx, p + info->folders_end,
				info->l.cb_cabinet - info->folders_end) == 1
		   ? 0
		   : -1;
}

int cab_digest(const uint8_t *p, size_t n, const EVP_MD *md, uint8_t *out, unsigned int *outlen,
	       struct sd_err *e)
{
	struct cab_info info;
	uint8_t hdr[CAB_HDR_SIGNED];
	EVP_MD_CTX *ctx = NULL;
	int ret = -1;

	if (md == NULL || out == NULL || outlen == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "cab_digest: missing argument");
	if (cab_parse_info(p, n, &info, e) != 0)
		return -1;
	cab_signed_header(p, &info, hdr);
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "cab_digest: out of memory");
		goto out;
	}
	if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, hdr, 4) != 1 ||
	    EVP_DigestUpdate(ctx, hdr + 8, 26) != 1 || EVP_DigestUpdate(ctx, hdr + 56, 4) != 1 ||
	    hash_body(ctx, p, &info) != 0 || EVP_DigestFinal_ex(ctx, out, outlen) != 1) {
		sd_err_openssl(e, SD_E_INTERNAL, "CAB digest");
		goto out;
	}
	ret = 0;
out:
	EVP_MD_CTX_free(ctx);
	return ret;
}
