/*
 * Unsigned attributes of the SignerInfo: where the signature value is, and
 * adding the RFC 3161 timestamp token (1.3.6.1.4.1.311.3.3.1) without
 * touching anything that is signed (AUTHENTICODE-CAB.md section 5).
 */
#include "authenticode/au_internal.h"

#include <string.h>

#include <openssl/crypto.h>

/* ContentInfo > [0] > SignedData > signerInfos > SignerInfo */
#define LEVELS 5

struct level {
	const uint8_t *val; /* content of this element */
	size_t len;
	uint8_t tag;
	size_t child_off; /* where the next level's TLV starts inside val */
};

/* OID 1.3.6.1.4.1.311.3.3.1 (SPC_RFC3161_OBJID), as a full TLV. */
static const uint8_t rfc3161_oid[] = {0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04,
				      0x01, 0x82, 0x37, 0x03, 0x03, 0x01};

/* Tag and length header only; the value follows. */
static void put_hdr(struct wbuf *w, uint8_t tag, size_t len)
{
	size_t n = au_der_hdr_len(len), i;

	wbuf_u8(w, tag);
	if (n == 2) {
		wbuf_u8(w, (uint8_t)len);
		return;
	}
	wbuf_u8(w, (uint8_t)(0x80 | (n - 2)));
	for (i = n - 2; i > 0; i--)
		wbuf_u8(w, (uint8_t)(len >> (8 * (i - 1))));
}

/* Reads the last element of val[len]; it must have tag and end val exactly. */
static int last_child(struct level *parent, uint8_t tag, struct level *child)
{
	struct rbuf r;
	const uint8_t *tlv = NULL;
	size_t tlvlen = 0, start = 0;
	uint8_t t = 0;

	rbuf_init(&r, parent->val, parent->len);
	while (rbuf_left(&r) > 0) {
		start = r.off;
		if (au_der_get_any(&r, &t, &tlv, &tlvlen) != 0)
			return -1;
	}
	if (tlv == NULL || t != tag)
		return -1;
	rbuf_init(&r, tlv, tlvlen);
	if (au_der_get(&r, tag, &child->val, &child->len) != 0)
		return -1;
	child->tag = tag;
	parent->child_off = start;
	return 0;
}

/* The path down to the one SignerInfo; the SignedData must be exactly der[len]. */
static int walk(const uint8_t *der, size_t len, struct level lv[LEVELS], struct sd_err *e)
{
	struct level top = {.val = der, .len = len};
	struct rbuf r;
	const uint8_t *v;
	size_t n;

	rbuf_init(&r, der, len);
	if (au_der_get(&r, AU_TAG_SEQUENCE, &v, &n) != 0 || rbuf_left(&r) != 0 ||
	    last_child(&top, AU_TAG_SEQUENCE, &lv[0]) != 0 ||
	    last_child(&lv[0], AU_TAG_CTX0_CONS, &lv[1]) != 0 ||
	    last_child(&lv[1], AU_TAG_SEQUENCE, &lv[2]) != 0 ||
	    last_child(&lv[2], 0x31, &lv[3]) != 0 ||
	    last_child(&lv[3], AU_TAG_SEQUENCE, &lv[4]) != 0)
		return sd_err_set(e, SD_E_BAD_REQUEST, "not a SignedData with one SignerInfo");
	/* The ContentInfo's [0] and the signerInfos SET each hold exactly one element. */
	if (lv[1].child_off != 0 || lv[3].child_off != 0)
		return sd_err_set(e, SD_E_BAD_REQUEST, "not a SignedData with one SignerInfo");
	return 0;
}

/* SignerInfo fields up to and including the signature value; *rest is what follows. */
static int signer_fields(const struct level *si, const uint8_t **sig, size_t *siglen, size_t *rest,
			 struct sd_err *e)
{
	static const uint8_t tags[] = {0x02, AU_TAG_SEQUENCE, AU_TAG_SEQUENCE, AU_TAG_CTX0_CONS,
				       AU_TAG_SEQUENCE};
	struct rbuf r;
	const uint8_t *v;
	size_t n, i;

	rbuf_init(&r, si->val, si->len);
	for (i = 0; i < sizeof(tags); i++)
		if (au_der_get(&r, tags[i], &v, &n) != 0)
			return sd_err_set(e, SD_E_BAD_REQUEST, "malformed SignerInfo");
	if (au_der_get(&r, AU_TAG_OCTET_STRING, sig, siglen) != 0 || *siglen == 0)
		return sd_err_set(e, SD_E_BAD_REQUEST, "SignerInfo has no signature value");
	*rest = rbuf_left(&r);
	return 0;
}

int au_signature_value(const uint8_t *der, size_t len, const uint8_t **sig, size_t *siglen,
		       struct sd_err *e)
{
	struct level lv[LEVELS];
	size_t rest;

	memset(lv, 0, sizeof(lv));
	if (walk(der, len, lv, e) != 0)
		return -1;
	return signer_fields(&lv[4], sig, siglen, &rest, e);
}

int au_add_timestamp(const uint8_t *der, size_t len, const uint8_t *token, size_t tokenlen,
		     uint8_t **out, size_t *outlen, struct sd_err *e)
{
	struct level lv[LEVELS];
	size_t newlen[LEVELS], attrs, attr, set, rest, i;
	const uint8_t *sig;
	size_t siglen;
	struct wbuf w;
	struct rbuf r;
	const uint8_t *tv;
	size_t tn;
	int ret = -1;

	*out = NULL;
	*outlen = 0;
	memset(lv, 0, sizeof(lv));
	if (walk(der, len, lv, e) != 0 || signer_fields(&lv[4], &sig, &siglen, &rest, e) != 0)
		return -1;
	if (rest != 0)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "SignerInfo already has unsigned attributes");
	rbuf_init(&r, token, tokenlen);
	if (au_der_get(&r, AU_TAG_SEQUENCE, &tv, &tn) != 0 || rbuf_left(&r) != 0)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "the timestamp token is not one DER SEQUENCE");
	/* [1] IMPLICIT SET OF Attribute { SEQUENCE { oid, SET { token } } } */
	set = au_der_tlv_len(tokenlen);
	attr = au_der_tlv_len(sizeof(rfc3161_oid) + set);
	attrs = au_der_tlv_len(attr);
	newlen[4] = lv[4].len + attrs;
	for (i = LEVELS - 1; i > 0; i--)
		newlen[i - 1] = lv[i - 1].child_off + au_der_tlv_len(newlen[i]);
	wbuf_init(&w, au_der_tlv_len(newlen[0]));
	for (i = 0; i < LEVELS; i++) {
		put_hdr(&w, lv[i].tag, newlen[i]);
		wbuf_raw(&w, lv[i].val, i + 1 < LEVELS ? lv[i].child_off : lv[i].len);
	}
	put_hdr(&w, AU_TAG_CTX1_CONS, attr);
	put_hdr(&w, AU_TAG_SEQUENCE, sizeof(rfc3161_oid) + set);
	wbuf_raw(&w, rfc3161_oid, sizeof(rfc3161_oid));
	put_hdr(&w, 0x31, tokenlen);
	wbuf_raw(&w, token, tokenlen);
	if (wbuf_failed(&w) || w.len != au_der_tlv_len(newlen[0])) {
		sd_err_set(e, SD_E_INTERNAL, "cannot encode the timestamped SignedData");
		goto out;
	}
	*out = OPENSSL_memdup(w.p, w.len);
	if (*out == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	*outlen = w.len;
	ret = 0;
out:
	wbuf_free(&w);
	return ret;
}
