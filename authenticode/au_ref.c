/*
 * au_build_reference: the SignedData built from OpenSSL PKCS7 objects and
 * i2d_PKCS7, as au_build did before the direct DER encoder (au_build.c).
 * Not used by the daemon: the unit tests check that au_build and
 * au_build_prepared produce exactly these bytes, and bench/au_bench.c uses
 * it as the baseline.
 */
#include "authenticode/au_internal.h"

#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

static int check_params(const struct au_sign_params *p, const struct au_md **md, struct sd_err *e)
{
	if (p == NULL || p->md == NULL || p->digest == NULL || p->signer == NULL || p->sign == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "au_build_reference: missing parameter");
	if (!au_subject_known(p->subject))
		return sd_err_set(e, SD_E_INTERNAL, "au_build_reference: unsupported subject %d",
				  (int)p->subject);
	*md = au_md_by_nid(EVP_MD_get_type(p->md));
	if (*md == NULL)
		return sd_err_set(e, SD_E_UNSUPPORTED_DIGEST,
				  "digest algorithm %s is not supported (sha1, sha256, sha384, "
				  "sha512)",
				  EVP_MD_get0_name(p->md));
	if (p->digest_len != (*md)->size)
		return sd_err_set(e, SD_E_BAD_DIGEST_LENGTH, "%zu-byte digest for %s, expected %zu",
				  p->digest_len, (*md)->name, (*md)->size);
	if (!au_key_supported(X509_get0_pubkey(p->signer)))
		return sd_err_set(e, SD_E_INTERNAL,
				  "signer certificate key is not RSA or EC; cannot sign with it");
	return 0;
}

/* Add a signed attribute whose single value is the DER SEQUENCE in w. */
static int add_seq_attr(PKCS7_SIGNER_INFO *si, const char *oid, const struct wbuf *w,
			struct sd_err *e)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	int ret = -1;

	if (obj == NULL || w->len > INT32_MAX ||
	    X509at_add1_attr_by_OBJ(&si->auth_attr, obj, V_ASN1_SEQUENCE, w->p, (int)w->len) ==
		NULL) {
		sd_err_openssl(e, SD_E_INTERNAL, "cannot add a signed attribute");
		goto out;
	}
	ret = 0;
out:
	ASN1_OBJECT_free(obj);
	return ret;
}

static int add_attributes(PKCS7_SIGNER_INFO *si, const struct au_sign_params *p,
			  const struct wbuf *indirect, struct sd_err *e)
{
	struct wbuf statement, opus;
	ASN1_OBJECT *ct = NULL;
	ASN1_TIME *when = NULL;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t hdr;
	int ret = -1;

	wbuf_init(&statement, 0);
	wbuf_init(&opus, 0);
	/* messageDigest covers the content octets, not the SEQUENCE header. */
	if (au_der_single(indirect->p, indirect->len, AU_TAG_SEQUENCE, &hdr) != 0) {
		sd_err_set(e, SD_E_INTERNAL, "SpcIndirectDataContent encoding is not one TLV");
		goto out;
	}
	if (EVP_Digest(indirect->p + hdr, indirect->len - hdr, md, &mdlen, p->md, NULL) != 1) {
		sd_err_openssl(e, SD_E_INTERNAL, "cannot hash SpcIndirectDataContent");
		goto out;
	}
	ct = OBJ_txt2obj(AU_OID_SPC_INDIRECT_DATA, 1);
	if (ct == NULL ||
	    PKCS7_add_signed_attribute(si, NID_pkcs9_contentType, V_ASN1_OBJECT, ct) != 1) {
		sd_err_openssl(e, SD_E_INTERNAL, "cannot add the contentType attribute");
		goto out;
	}
	ct = NULL; /* owned by the attribute now */
	if (p->signing_time != 0) {
		when = ASN1_TIME_set(NULL, p->signing_time);
		if (when == NULL) {
			sd_err_openssl(e, SD_E_INTERNAL, "cannot encode the signing time");
			goto out;
		}
	}
	if (PKCS7_add0_attrib_signing_time(si, when) != 1) {
		sd_err_openssl(e, SD_E_INTERNAL, "cannot add signingTime");
		goto out;
	}
	when = NULL; /* owned by the attribute now */
	if (PKCS7_add1_attrib_digest(si, md, (int)mdlen) != 1) {
		sd_err_openssl(e, SD_E_INTERNAL, "cannot add messageDigest");
		goto out;
	}
	if (au_enc_statement(&statement, e) != 0 ||
	    add_seq_attr(si, AU_OID_SPC_STATEMENT, &statement, e) != 0)
		goto out;
	if ((p->program != NULL && *p->program != '\0') || (p->url != NULL && *p->url != '\0')) {
		if (au_enc_opus(p->program, p->url, &opus, e) != 0 ||
		    add_seq_attr(si, AU_OID_SPC_OPUS_INFO, &opus, e) != 0)
			goto out;
	}
	ret = 0;
out:
	ASN1_OBJECT_free(ct);
	ASN1_TIME_free(when);
	wbuf_free(&statement);
	wbuf_free(&opus);
	return ret;
}

/* Have the callback sign the attributes, check the result, store it. */
static int sign_attributes(PKCS7_SIGNER_INFO *si, const struct au_sign_params *p, struct sd_err *e)
{
	EVP_PKEY *pub = X509_get0_pubkey(p->signer);
	uint8_t hash[EVP_MAX_MD_SIZE], *sig = NULL;
	size_t hashlen = 0, cap, siglen;
	int ret = -1;

	if (au_attrs_hash(si, p->md, 0, hash, &hashlen, e) != 0)
		goto out;
	cap = (size_t)EVP_PKEY_get_size(pub);
	sig = OPENSSL_zalloc(cap);
	if (sig == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	siglen = cap;
	sd_err_set(e, SD_E_INTERNAL, "signing callback failed without a message");
	if (p->sign(p->sign_ctx, EVP_MD_get_type(p->md), hash, hashlen, sig, &siglen, e) != 0)
		goto out;
	if (e != NULL) {
		e->code = SD_OK;
		e->msg[0] = '\0';
	}
	if (siglen == 0 || siglen > cap) {
		sd_err_set(e, SD_E_INTERNAL, "signing callback returned %zu bytes (capacity %zu)",
			   siglen, cap);
		goto out;
	}
	if (!au_sig_ok(pub, p->md, hash, hashlen, sig, siglen)) {
		sd_err_set(e, SD_E_INTERNAL,
			   "SIGNATURE CHECK FAILED: the signature returned by the token does not "
			   "verify with the signer certificate's public key (wrong key for the "
			   "certificate, or a faulty signature); refusing to return it");
		goto out;
	}
	if (ASN1_STRING_set(si->enc_digest, sig, (int)siglen) != 1) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	ret = 0;
out:
	OPENSSL_free(sig);
	return ret;
}

/* The encapsulated content: SPC_INDIRECT_DATA with [0] EXPLICIT SEQUENCE. */
static int set_content(PKCS7 *p7, const struct wbuf *indirect, struct sd_err *e)
{
	PKCS7 *inner = PKCS7_new();
	ASN1_OBJECT *type = OBJ_txt2obj(AU_OID_SPC_INDIRECT_DATA, 1);
	ASN1_STRING *seq = ASN1_STRING_type_new(V_ASN1_SEQUENCE);
	ASN1_TYPE *any = ASN1_TYPE_new();
	int ret = -1;

	if (inner == NULL || type == NULL || seq == NULL || any == NULL ||
	    ASN1_STRING_set(seq, indirect->p, (int)indirect->len) != 1) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	ASN1_TYPE_set(any, V_ASN1_SEQUENCE, seq);
	seq = NULL;
	ASN1_OBJECT_free(inner->type);
	inner->type = type;
	type = NULL;
	inner->d.other = any;
	any = NULL;
	if (PKCS7_set_content(p7, inner) != 1) {
		sd_err_openssl(e, SD_E_INTERNAL, "cannot set the SignedData content");
		goto out;
	}
	inner = NULL;
	ret = 0;
out:
	PKCS7_free(inner);
	ASN1_OBJECT_free(type);
	ASN1_STRING_free(seq);
	ASN1_TYPE_free(any);
	return ret;
}

static int add_certificates(PKCS7 *p7, const struct au_sign_params *p, struct sd_err *e)
{
	X509 *c;

	if (PKCS7_add_certificate(p7, p->signer) != 1)
		return sd_err_openssl(e, SD_E_INTERNAL, "cannot add the signer certificate");
	for (int i = 0; p->chain != NULL && i < sk_X509_num(p->chain); i++) {
		c = sk_X509_value(p->chain, i);
		if (X509_cmp(c, p->signer) == 0)
			continue;
		if (PKCS7_add_certificate(p7, c) != 1)
			return sd_err_openssl(e, SD_E_INTERNAL, "cannot add a chain certificate");
	}
	return 0;
}

int au_build_reference(const struct au_sign_params *p, uint8_t **der, size_t *derlen,
		       struct sd_err *e)
{
	const struct au_md *md = NULL;
	struct wbuf indirect;
	PKCS7 *p7 = NULL;
	PKCS7_SIGNER_INFO *si = NULL, *si_owned = NULL;
	uint8_t *out_der = NULL;
	int len, ret = -1;

	wbuf_init(&indirect, 0);
	if (der == NULL || derlen == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "au_build_reference: missing output");
	*der = NULL;
	*derlen = 0;
	if (check_params(p, &md, e) != 0)
		goto out;
	if (au_enc_indirect(p->subject, md, p->digest, p->digest_len, &indirect, e) != 0)
		goto out;

	p7 = PKCS7_new();
	si_owned = si = PKCS7_SIGNER_INFO_new();
	if (p7 == NULL || si == NULL || PKCS7_set_type(p7, NID_pkcs7_signed) != 1) {
		sd_err_openssl(e, SD_E_INTERNAL, "cannot create the SignedData");
		goto out;
	}
	/* Version 1, issuerAndSerialNumber, digest and signature algorithm
	 * identifiers; only the public key is needed for these. */
	if (PKCS7_SIGNER_INFO_set(si, p->signer, X509_get0_pubkey(p->signer), p->md) != 1 ||
	    PKCS7_add_signer(p7, si) != 1) {
		sd_err_openssl(e, SD_E_INTERNAL, "cannot set up the SignerInfo");
		goto out;
	}
	si_owned = NULL;
	if (add_attributes(si, p, &indirect, e) != 0 || sign_attributes(si, p, e) != 0 ||
	    set_content(p7, &indirect, e) != 0 || add_certificates(p7, p, e) != 0)
		goto out;

	len = i2d_PKCS7(p7, &out_der);
	if (len <= 0) {
		sd_err_openssl(e, SD_E_INTERNAL, "cannot DER-encode the SignedData");
		goto out;
	}
	*der = out_der;
	*derlen = (size_t)len;
	out_der = NULL;
	ret = 0;
out:
	OPENSSL_free(out_der);
	PKCS7_SIGNER_INFO_free(si_owned);
	PKCS7_free(p7);
	wbuf_free(&indirect);
	if (ret != 0)
		ERR_clear_error();
	return ret;
}
