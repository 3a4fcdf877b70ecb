/* The PKCS#7 blob appended to a signed CAB: DER framing and extraction. */
#include "cab/cab_internal.h"

int cab_der_seq_len(const uint8_t *p, size_t n, size_t *total)
{
	size_t hdr, len = 0, k, i;

	if (n < 2 || p[0] != 0x30)
		return -1;
	if (p[1] < 0x80) {
		hdr = 2;
		len = p[1];
	} else {
		/* Long form: 1..4 length bytes, minimal (DER), no indefinite length. */
		k = p[1] & 0x7f;
		if (k == 0 || k > 4 || n - 2 < k || p[2] == 0)
			return -1;
		for (i = 0; i < k; i++)
			len = (len << 8) | p[2 + i];
		if (len < 0x80)
			return -1;
		hdr = 2 + k;
	}
	if (len > n - hdr)
		return -1;
	*total = hdr + len;
	return 0;
}

int cab_get_signature(const uint8_t *p, size_t n, const uint8_t **p7, size_t *p7len,
		      struct sd_err *e)
{
	struct cab_info info;
	size_t len;

	if (cab_parse_info(p, n, &info, e) != 0)
		return -1;
	if (!info.l.signed_)
		return sd_err_set(e, SD_E_BAD_REQUEST, "the CAB is not signed");
	/* cab_parse_info has already checked the DER header fits in sig_len. */
	if (cab_der_seq_len(p + info.l.sig_offset, info.l.sig_len, &len) != 0)
		return sd_err_set(e, SD_E_INTERNAL, "CAB signature DER header is invalid");
	*p7 = p + info.l.sig_offset;
	*p7len = len;
	return 0;
}
