/*
 * au_verify: parse and check an untrusted Authenticode SignedData.
 *
 * OpenSSL's d2i accepts BER, so after parsing the structure is re-encoded
 * and must reproduce the input byte for byte: what is checked below is then
 * exactly what was received, in DER.
 */
#include "authenticode/au_internal.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

/* Far above any Authenticode signature, even with a chain and timestamps. */
#define AU_MAX_SIGNED_DATA (1024 * 1024)

static void oid_text(const ASN1_OBJECT *obj, char *buf, size_t sz)
{
	if (obj == NULL || OBJ_obj2txt(buf, (int)sz, obj, 1) <= 0)
		snprintf(buf, sz, "(none)");
}

static int parse_der(const uint8_t *der, size_t len, PKCS7 **out, struct sd_err *e)
{
	const uint8_t *p = der;
	uint8_t *re = NULL;
	PKCS7 *p7;
	int relen;

	if (len == 0)
		return sd_err_set(e, SD_E_BAD_REQUEST, "SignedData is empty");
	if (len > AU_MAX_SIGNED_DATA)
		return sd_err_set(e, SD_E_BAD_REQUEST, "SignedData is %zu bytes, more than %d", len,
				  AU_MAX_SIGNED_DATA);
	p7 = d2i_PKCS7(NULL, &p, (long)len);
	if (p7 == NULL)
		return sd_err_openssl(e, SD_E_BAD_REQUEST,
				      "SignedData does not parse as a PKCS#7 ContentInfo");
	*out = p7;
	if ((size_t)(p - der) != len)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "%zu bytes of trailing data after the "
				  "SignedData",
				  len - (size_t)(p - der));
	relen = i2d_PKCS7(p7, &re);
	if (relen <= 0)
		return sd_err_openssl(e, SD_E_BAD_REQUEST, "cannot re-encode the SignedData");
	if ((size_t)relen != len || memcmp(re, der, len) != 0) {
		OPENSSL_free(re);
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "SignedData is not DER (re-encoding differs from the input)");
	}
	OPENSSL_free(re);
	return 0;
}

/*
 * The single value of the attribute of type obj: NULL when absent; fails
 * when the attribute occurs twice or does not have exactly one value.
 */
static int single_attr(PKCS7_SIGNER_INFO *si, const ASN1_OBJECT *obj, const char *name,
		       ASN1_TYPE **val, struct sd_err *e)
{
	int i = X509at_get_attr_by_OBJ(si->auth_attr, obj, -1);
	X509_ATTRIBUTE *a;

	*val = NULL;
	if (i < 0)
		return 0;
	if (X509at_get_attr_by_OBJ(si->auth_attr, obj, i) >= 0)
		return sd_err_set(e, SD_E_BAD_REQUEST, "%s attribute occurs more than once", name);
	a = X509at_get_attr(si->auth_attr, i);
	if (X509_ATTRIBUTE_count(a) != 1)
		return sd_err_set(e, SD_E_BAD_REQUEST, "%s attribute has %d values, expected 1",
				  name, X509_ATTRIBUTE_count(a));
	*val = X509_ATTRIBUTE_get0_type(a, 0);
	return 0;
}

/* Top level: signedData, version 1, one signer, SPC_INDIRECT_DATA content. */
static int check_signed_data(PKCS7 *p7, const ASN1_STRING **content, struct sd_err *e)
{
	PKCS7_SIGNED *sd;
	PKCS7 *c;
	char txt[128];
	long v;
	int n;

	if (!PKCS7_type_is_signed(p7)) {
		oid_text(p7->type, txt, sizeof(txt));
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "ContentInfo type is %s, expected signedData "
				  "(1.2.840.113549.1.7.2)",
				  txt);
	}
	sd = p7->d.sign;
	if (sd == NULL)
		return sd_err_set(e, SD_E_BAD_REQUEST, "signedData has no content");
	v = ASN1_INTEGER_get(sd->version);
	if (v != 1)
		return sd_err_set(e, SD_E_BAD_REQUEST, "SignedData version is %ld, expected 1", v);
	n = sd->signer_info == NULL ? 0 : sk_PKCS7_SIGNER_INFO_num(sd->signer_info);
	if (n != 1)
		return sd_err_set(e, SD_E_BAD_REQUEST, "%d signers, expected exactly 1", n);
	c = sd->contents;
	oid_text(c == NULL ? NULL : c->type, txt, sizeof(txt));
	if (strcmp(txt, AU_OID_SPC_INDIRECT_DATA) != 0)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "content type is %s, expected SPC_INDIRECT_DATA (%s)", txt,
				  AU_OID_SPC_INDIRECT_DATA);
	if (c->d.other == NULL)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "SPC_INDIRECT_DATA content is absent (detached signature)");
	if (c->d.other->type != V_ASN1_SEQUENCE)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "SPC_INDIRECT_DATA content has ASN.1 type %d; expected a plain "
				  "SEQUENCE (not wrapped in an OCTET STRING)",
				  c->d.other->type);
	*content = c->d.other->value.sequence;
	return 0;
}

static int params_null_or_absent(const X509_ALGOR *alg)
{
	return alg->parameter == NULL || alg->parameter->type == V_ASN1_NULL;
}

/* SignerInfo fields other than the attributes. */
static int check_signer_info(PKCS7 *p7, PKCS7_SIGNER_INFO *si, const struct au_md *md,
			     struct sd_err *e)
{
	STACK_OF(X509_ALGOR) *algs = p7->d.sign->md_algs;
	char txt[128];
	int found = 0;
	long v = ASN1_INTEGER_get(si->version);

	if (v != 1)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "SignerInfo version is %ld, expected 1 (issuerAndSerialNumber)",
				  v);
	if (OBJ_obj2nid(si->digest_alg->algorithm) != md->nid) {
		oid_text(si->digest_alg->algorithm, txt, sizeof(txt));
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "SignerInfo digest algorithm is %s, but the "
				  "SpcIndirectDataContent uses %s",
				  txt, md->name);
	}
	if (!params_null_or_absent(si->digest_alg))
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "SignerInfo digest algorithm parameters are not NULL");
	for (int i = 0; algs != NULL && i < sk_X509_ALGOR_num(algs); i++) {
		if (!params_null_or_absent(sk_X509_ALGOR_value(algs, i)))
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "SignedData digestAlgorithms entry %d has parameters "
					  "other than NULL",
					  i);
		if (OBJ_obj2nid(sk_X509_ALGOR_value(algs, i)->algorithm) == md->nid)
			found = 1;
	}
	if (!found)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "SignedData digestAlgorithms does not list the signer's %s",
				  md->name);
	return 0;
}

/* contentType, messageDigest and (optional) SpcSpOpusInfo. */
static int check_attributes(PKCS7_SIGNER_INFO *si, const struct au_md *md,
			    const ASN1_STRING *content, struct au_info *info, struct sd_err *e)
{
	ASN1_OBJECT *spc = OBJ_txt2obj(AU_OID_SPC_INDIRECT_DATA, 1);
	ASN1_OBJECT *opus_oid = OBJ_txt2obj(AU_OID_SPC_OPUS_INFO, 1);
	ASN1_TYPE *v;
	uint8_t hash[EVP_MAX_MD_SIZE];
	unsigned int hashlen = 0;
	size_t hdr;
	char txt[128];
	int ret = -1;

	if (spc == NULL || opus_oid == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	if (si->auth_attr == NULL || sk_X509_ATTRIBUTE_num(si->auth_attr) == 0) {
		sd_err_set(e, SD_E_BAD_REQUEST, "SignerInfo has no signed attributes");
		goto out;
	}
	if (single_attr(si, OBJ_nid2obj(NID_pkcs9_contentType), "contentType", &v, e) != 0)
		goto out;
	if (v == NULL) {
		sd_err_set(e, SD_E_BAD_REQUEST, "contentType attribute is missing");
		goto out;
	}
	if (v->type != V_ASN1_OBJECT || OBJ_cmp(v->value.object, spc) != 0) {
		oid_text(v->type == V_ASN1_OBJECT ? v->value.object : NULL, txt, sizeof(txt));
		sd_err_set(e, SD_E_BAD_REQUEST,
			   "contentType attribute is %s, expected SPC_INDIRECT_DATA (%s)", txt,
			   AU_OID_SPC_INDIRECT_DATA);
		goto out;
	}

	if (single_attr(si, OBJ_nid2obj(NID_pkcs9_messageDigest), "messageDigest", &v, e) != 0)
		goto out;
	if (v == NULL || v->type != V_ASN1_OCTET_STRING) {
		sd_err_set(e, SD_E_BAD_REQUEST,
			   "messageDigest attribute is missing or not an "
			   "OCTET STRING");
		goto out;
	}
	if (au_der_single(content->data, (size_t)content->length, AU_TAG_SEQUENCE, &hdr) != 0 ||
	    EVP_Digest(content->data + hdr, (size_t)content->length - hdr, hash, &hashlen,
		       EVP_get_digestbynid(md->nid), NULL) != 1) {
		sd_err_set(e, SD_E_INTERNAL, "cannot hash the SpcIndirectDataContent");
		goto out;
	}
	if ((size_t)v->value.octet_string->length != hashlen ||
	    CRYPTO_memcmp(v->value.octet_string->data, hash, hashlen) != 0) {
		sd_err_set(e, SD_E_BAD_REQUEST,
			   "messageDigest attribute does not match the "
			   "content");
		goto out;
	}

	if (single_attr(si, opus_oid, "SpcSpOpusInfo", &v, e) != 0)
		goto out;
	if (v != NULL) {
		if (v->type != V_ASN1_SEQUENCE) {
			sd_err_set(e, SD_E_BAD_REQUEST,
				   "SpcSpOpusInfo attribute is not a SEQUENCE");
			goto out;
		}
		if (au_dec_opus(v->value.sequence->data, (size_t)v->value.sequence->length,
				info->program, sizeof(info->program), info->url, sizeof(info->url),
				e) != 0)
			goto out;
	}
	ret = 0;
out:
	ASN1_OBJECT_free(spc);
	ASN1_OBJECT_free(opus_oid);
	return ret;
}

/* The signature algorithm must fit the key: rsaEncryption / id-ecPublicKey
 * or the <md>With<key> identifier. */
static int check_sig_alg(PKCS7_SIGNER_INFO *si, EVP_PKEY *pub, const struct au_md *md,
			 struct sd_err *e)
{
	int key_nid = EVP_PKEY_is_a(pub, "RSA") ? NID_rsaEncryption : NID_X9_62_id_ecPublicKey;
	int nid = OBJ_obj2nid(si->digest_enc_alg->algorithm), dnid, pknid;
	char txt[128];

	if (!params_null_or_absent(si->digest_enc_alg))
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "SignerInfo signature algorithm has parameters other than NULL");
	if (nid == key_nid)
		return 0;
	if (OBJ_find_sigid_algs(nid, &dnid, &pknid) == 1 && pknid == key_nid && dnid == md->nid)
		return 0;
	oid_text(si->digest_enc_alg->algorithm, txt, sizeof(txt));
	return sd_err_set(e, SD_E_BAD_REQUEST,
			  "SignerInfo signature algorithm %s does not fit the signer's %s key "
			  "with %s",
			  txt, key_nid == NID_rsaEncryption ? "RSA" : "EC", md->name);
}

static int same_name_der(const X509_NAME *a, const X509_NAME *b)
{
	const uint8_t *da, *db;
	size_t la, lb;

	if (X509_NAME_get0_der(a, &da, &la) != 1 || X509_NAME_get0_der(b, &db, &lb) != 1)
		return 0;
	return la == lb && memcmp(da, db, la) == 0;
}

static int check_signature(PKCS7 *p7, PKCS7_SIGNER_INFO *si, const struct au_md *md,
			   struct au_info *info, struct sd_err *e)
{
	STACK_OF(X509) *certs = p7->d.sign->cert;
	X509 *signer;
	EVP_PKEY *pub;
	uint8_t hash[EVP_MAX_MD_SIZE];
	size_t hashlen = 0;

	signer = certs == NULL
		     ? NULL
		     : X509_find_by_issuer_and_serial(certs, si->issuer_and_serial->issuer,
						      si->issuer_and_serial->serial);
	if (signer == NULL)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "the signer certificate (by issuer and serial) is not among the "
				  "%d embedded certificates",
				  certs == NULL ? 0 : sk_X509_num(certs));
	/* X509_find_by_issuer_and_serial compares canonical (case-folded) names;
	 * the issuer must be the certificate's, byte for byte. */
	if (!same_name_der(si->issuer_and_serial->issuer, X509_get_issuer_name(signer)))
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "SignerInfo issuer is not byte-identical to the signer "
				  "certificate's issuer");
	pub = X509_get0_pubkey(signer);
	if (!au_key_supported(pub))
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "signer certificate key is neither RSA nor EC");
	if (check_sig_alg(si, pub, md, e) != 0)
		return -1;
	if (au_attrs_hash(si, EVP_get_digestbynid(md->nid), 1, hash, &hashlen, e) != 0)
		return -1;
	if (!au_sig_ok(pub, EVP_get_digestbynid(md->nid), hash, hashlen,
		       ASN1_STRING_get0_data(si->enc_digest),
		       (size_t)ASN1_STRING_length(si->enc_digest)))
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "signature does not verify with the signer certificate");
	if (X509_up_ref(signer) != 1)
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	info->signer = signer;
	info->certs = X509_chain_up_ref(certs);
	if (info->certs == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	return 0;
}

/* The RFC 3161 token in the unsigned attributes, if any, and the signature it covers. */
static int get_timestamp(PKCS7_SIGNER_INFO *si, struct au_info *info, struct sd_err *e)
{
	ASN1_OBJECT *oid = OBJ_txt2obj(AU_OID_RFC3161, 1);
	X509_ATTRIBUTE *a;
	ASN1_TYPE *v;
	int i, n = 0, ret = -1;

	if (oid == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	for (i = 0; i < sk_X509_ATTRIBUTE_num(si->unauth_attr); i++) {
		a = sk_X509_ATTRIBUTE_value(si->unauth_attr, i);
		if (OBJ_cmp(X509_ATTRIBUTE_get0_object(a), oid) != 0)
			continue;
		if (++n > 1 || X509_ATTRIBUTE_count(a) != 1) {
			sd_err_set(e, SD_E_BAD_REQUEST, "more than one RFC 3161 timestamp");
			goto out;
		}
		v = X509_ATTRIBUTE_get0_type(a, 0);
		if (v == NULL || v->type != V_ASN1_SEQUENCE) {
			sd_err_set(e, SD_E_BAD_REQUEST, "the RFC 3161 timestamp is not a SEQUENCE");
			goto out;
		}
		info->ts_token =
		    OPENSSL_memdup(v->value.sequence->data, (size_t)v->value.sequence->length);
		info->sig = OPENSSL_memdup(ASN1_STRING_get0_data(si->enc_digest),
					   (size_t)ASN1_STRING_length(si->enc_digest));
		if (info->ts_token == NULL || info->sig == NULL) {
			sd_err_set(e, SD_E_INTERNAL, "out of memory");
			goto out;
		}
		info->ts_token_len = (size_t)v->value.sequence->length;
		info->sig_len = (size_t)ASN1_STRING_length(si->enc_digest);
	}
	ret = 0;
out:
	ASN1_OBJECT_free(oid);
	return ret;
}

int au_verify(const uint8_t *der, size_t len, enum au_subject subject, struct au_info *info,
	      struct sd_err *e)
{
	PKCS7 *p7 = NULL;
	PKCS7_SIGNER_INFO *si;
	const ASN1_STRING *content = NULL;
	const struct au_md *md = NULL;
	int ret = -1;

	if (info == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "au_verify: missing info");
	memset(info, 0, sizeof(*info));
	if (der == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "au_verify: missing input");
		goto out;
	}
	if (parse_der(der, len, &p7, e) != 0 || check_signed_data(p7, &content, e) != 0)
		goto out;
	if (au_dec_indirect(content->data, (size_t)content->length, subject, &md, info->digest,
			    &info->digest_len, e) != 0)
		goto out;
	info->md_nid = md->nid;
	si = sk_PKCS7_SIGNER_INFO_value(p7->d.sign->signer_info, 0);
	if (check_signer_info(p7, si, md, e) != 0 ||
	    check_attributes(si, md, content, info, e) != 0 ||
	    check_signature(p7, si, md, info, e) != 0 || get_timestamp(si, info, e) != 0)
		goto out;
	ret = 0;
out:
	PKCS7_free(p7);
	ERR_clear_error();
	if (ret != 0)
		au_info_clear(info);
	return ret;
}
