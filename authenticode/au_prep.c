/*
 * au_prepare: the parts of the SignedData that depend only on the signer
 * certificate and its chain, computed once per key (issuerAndSerialNumber,
 * the certificates field, algorithm identifiers, OIDs, constant attributes,
 * fetched digests and verify contexts). Read-only afterwards, so worker
 * threads share one struct au_prepared.
 */
#include "authenticode/au_internal.h"

#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

/* DER TLV of an OID given by NID (txt NULL) or dotted text. */
static int oid_der(int nid, const char *txt, uint8_t *out, size_t *len)
{
	ASN1_OBJECT *obj = txt != NULL ? OBJ_txt2obj(txt, 1) : OBJ_nid2obj(nid);
	uint8_t *p = out;
	int n = -1;

	if (obj != NULL && i2d_ASN1_OBJECT(obj, NULL) <= AU_OID_MAX)
		n = i2d_ASN1_OBJECT(obj, &p);
	ASN1_OBJECT_free(obj); /* no-op for the static objects of OBJ_nid2obj */
	if (n <= 0)
		return -1;
	*len = (size_t)n;
	return 0;
}

/* AlgorithmIdentifier { OID of nid, parameters NULL (ptype V_ASN1_NULL) or absent }. */
static int algid_der(int nid, int ptype, uint8_t *out, size_t *len)
{
	X509_ALGOR *alg = X509_ALGOR_new();
	uint8_t *p = out;
	int n = -1;

	if (alg != NULL && X509_ALGOR_set0(alg, OBJ_nid2obj(nid), ptype, NULL) == 1 &&
	    i2d_X509_ALGOR(alg, NULL) <= AU_ALGID_MAX)
		n = i2d_X509_ALGOR(alg, &p);
	X509_ALGOR_free(alg);
	if (n <= 0)
		return -1;
	*len = (size_t)n;
	return 0;
}

/* Attribute { type, SET { value } } with a constant value TLV. */
static int const_attr(const uint8_t *type, size_t type_len, const uint8_t *value, size_t value_len,
		      uint8_t *out, size_t *len)
{
	struct au_dw w;

	au_dw_init(&w, out, AU_ATTR_CONST);
	au_dw_hdr(&w, AU_TAG_SEQUENCE, type_len + au_der_tlv_len(value_len));
	au_dw_raw(&w, type, type_len);
	au_dw_tlv(&w, 0x31, value, value_len);
	if (w.failed)
		return -1;
	*len = w.len;
	return 0;
}

static int prep_oids(struct au_prepared *pr, struct sd_err *e)
{
	uint8_t stmt_oid[AU_OID_MAX], indiv_oid[AU_OID_MAX], stmt_val[AU_OID_MAX + 2];
	size_t stmt_len, indiv_len;
	struct au_dw w;

	if (oid_der(NID_pkcs7_signed, NULL, pr->oid[AU_OIDX_SIGNED_DATA],
		    &pr->oid_len[AU_OIDX_SIGNED_DATA]) != 0 ||
	    oid_der(NID_pkcs9_contentType, NULL, pr->oid[AU_OIDX_CONTENT_TYPE],
		    &pr->oid_len[AU_OIDX_CONTENT_TYPE]) != 0 ||
	    oid_der(NID_pkcs9_signingTime, NULL, pr->oid[AU_OIDX_SIGNING_TIME],
		    &pr->oid_len[AU_OIDX_SIGNING_TIME]) != 0 ||
	    oid_der(NID_pkcs9_messageDigest, NULL, pr->oid[AU_OIDX_MESSAGE_DIGEST],
		    &pr->oid_len[AU_OIDX_MESSAGE_DIGEST]) != 0 ||
	    oid_der(0, AU_OID_SPC_INDIRECT_DATA, pr->oid[AU_OIDX_INDIRECT],
		    &pr->oid_len[AU_OIDX_INDIRECT]) != 0 ||
	    oid_der(0, AU_OID_SPC_OPUS_INFO, pr->oid[AU_OIDX_OPUS], &pr->oid_len[AU_OIDX_OPUS]) !=
		0 ||
	    oid_der(0, AU_OID_SPC_STATEMENT, stmt_oid, &stmt_len) != 0 ||
	    oid_der(0, AU_OID_SPC_INDIVIDUAL, indiv_oid, &indiv_len) != 0)
		return sd_err_openssl(e, SD_E_INTERNAL, "cannot encode the SignedData OIDs");
	/* SpcStatementType value: SEQUENCE { SPC_INDIVIDUAL_SP_KEY_PURPOSE_OBJID } */
	au_dw_init(&w, stmt_val, sizeof(stmt_val));
	au_dw_tlv(&w, AU_TAG_SEQUENCE, indiv_oid, indiv_len);
	if (w.failed ||
	    const_attr(pr->oid[AU_OIDX_CONTENT_TYPE], pr->oid_len[AU_OIDX_CONTENT_TYPE],
		       pr->oid[AU_OIDX_INDIRECT], pr->oid_len[AU_OIDX_INDIRECT], pr->attr_ct,
		       &pr->attr_ct_len) != 0 ||
	    const_attr(stmt_oid, stmt_len, stmt_val, w.len, pr->attr_stmt, &pr->attr_stmt_len) != 0)
		return sd_err_set(e, SD_E_INTERNAL, "cannot encode the constant signed attributes");
	return 0;
}

/* issuerAndSerialNumber { issuer Name, serialNumber INTEGER } of the signer. */
static int prep_ias(struct au_prepared *pr, struct sd_err *e)
{
	uint8_t *name = NULL, *serial = NULL;
	int name_len = i2d_X509_NAME(X509_get_issuer_name(pr->signer), &name);
	int serial_len = i2d_ASN1_INTEGER(X509_get0_serialNumber(pr->signer), &serial);
	size_t body;
	struct au_dw w;
	int ret = -1;

	if (name_len <= 0 || serial_len <= 0) {
		sd_err_openssl(e, SD_E_INTERNAL, "cannot encode the signer's issuer and serial");
		goto out;
	}
	body = (size_t)name_len + (size_t)serial_len;
	pr->ias_len = au_der_tlv_len(body);
	pr->ias = OPENSSL_malloc(pr->ias_len);
	if (pr->ias == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	au_dw_init(&w, pr->ias, pr->ias_len);
	au_dw_hdr(&w, AU_TAG_SEQUENCE, body);
	au_dw_raw(&w, name, (size_t)name_len);
	au_dw_raw(&w, serial, (size_t)serial_len);
	if (w.failed || w.len != pr->ias_len) {
		sd_err_set(e, SD_E_INTERNAL, "issuerAndSerialNumber is too large");
		goto out;
	}
	ret = 0;
out:
	OPENSSL_free(name);
	OPENSSL_free(serial);
	return ret;
}

/* The certificates to embed: the signer, then the chain without the signer. */
static int cert_wanted(X509 *signer, STACK_OF(X509) * chain, int i, X509 **c)
{
	if (i == 0) {
		*c = signer;
		return 1;
	}
	*c = sk_X509_value(chain, i - 1);
	return X509_cmp(*c, signer) != 0;
}

/* certificates [0] IMPLICIT SET OF Certificate, in the order above. */
static int prep_certs(struct au_prepared *pr, STACK_OF(X509) * chain, struct sd_err *e)
{
	int n = 1 + (chain != NULL ? sk_X509_num(chain) : 0), len;
	size_t body = 0;
	struct au_dw w;
	uint8_t *p;
	X509 *c;

	for (int i = 0; i < n; i++) {
		if (!cert_wanted(pr->signer, chain, i, &c))
			continue;
		len = i2d_X509(c, NULL);
		if (len <= 0)
			return sd_err_openssl(e, SD_E_INTERNAL, "cannot encode a certificate");
		body += (size_t)len;
	}
	pr->certs_len = au_der_tlv_len(body);
	pr->certs = OPENSSL_malloc(pr->certs_len);
	if (pr->certs == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	au_dw_init(&w, pr->certs, pr->certs_len);
	au_dw_hdr(&w, AU_TAG_CTX0_CONS, body);
	for (int i = 0; i < n && !w.failed; i++) {
		if (!cert_wanted(pr->signer, chain, i, &c))
			continue;
		p = w.p + w.len;
		len = i2d_X509(c, NULL);
		if (len <= 0 || (size_t)len > w.cap - w.len || i2d_X509(c, &p) != len)
			w.failed = 1;
		else
			w.len += (size_t)len;
	}
	if (w.failed || w.len != pr->certs_len)
		return sd_err_set(e, SD_E_INTERNAL, "cannot encode the certificates field");
	return 0;
}

/* Digest-dependent parts: algorithm identifiers, fetched digest, verify context. */
static int prep_md(struct au_prepared *pr, const struct au_md *md, struct au_prep_md *pm,
		   struct sd_err *e)
{
	int rsa = EVP_PKEY_is_a(pr->pub, "RSA"), signid = NID_rsaEncryption;

	pm->evp = EVP_MD_fetch(NULL, md->name, NULL);
	if (pm->evp == NULL)
		return sd_err_openssl(e, SD_E_INTERNAL, "cannot fetch the digest");
	/* As PKCS7_SIGNER_INFO_set: rsaEncryption with NULL parameters, or the
	 * ecdsa-with-<digest> OID without parameters. */
	if (!rsa && OBJ_find_sigid_by_algs(&signid, md->nid, EVP_PKEY_EC) != 1)
		return sd_err_set(e, SD_E_INTERNAL, "no ECDSA signature algorithm for %s",
				  md->name);
	if (algid_der(md->nid, V_ASN1_NULL, pm->alg, &pm->alg_len) != 0 ||
	    algid_der(signid, rsa ? V_ASN1_NULL : V_ASN1_UNDEF, pm->sig_alg, &pm->sig_alg_len) != 0)
		return sd_err_openssl(e, SD_E_INTERNAL, "cannot encode the algorithm identifiers");
	pm->verify = au_verify_ctx_new(pr->pub, pm->evp);
	if (pm->verify == NULL)
		return sd_err_set(e, SD_E_INTERNAL,
				  "cannot set up %s signature verification with the signer "
				  "certificate's key",
				  md->name);
	pm->md = md;
	return 0;
}

int au_prepare_md(X509 *signer, STACK_OF(X509) * chain, int md_nid, struct au_prepared **out,
		  struct sd_err *e)
{
	struct au_prepared *pr = NULL;
	const struct au_md *md;
	int ret = -1;

	if (out == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "au_prepare: missing output");
	*out = NULL;
	if (signer == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "au_prepare: missing signer certificate");
	if (!au_key_supported(X509_get0_pubkey(signer)))
		return sd_err_set(e, SD_E_INTERNAL,
				  "signer certificate key is not RSA or EC; cannot sign with it");
	pr = OPENSSL_zalloc(sizeof(*pr));
	if (pr == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	if (X509_up_ref(signer) != 1) {
		sd_err_openssl(e, SD_E_INTERNAL, "cannot reference the signer certificate");
		goto out;
	}
	pr->signer = signer;
	pr->pub = X509_get0_pubkey(signer);
	if (EVP_PKEY_up_ref(pr->pub) != 1) {
		pr->pub = NULL;
		sd_err_openssl(e, SD_E_INTERNAL, "cannot reference the signer key");
		goto out;
	}
	pr->sig_cap = (size_t)EVP_PKEY_get_size(pr->pub);
	if (EVP_PKEY_get_size(pr->pub) <= 0) {
		sd_err_set(e, SD_E_INTERNAL, "signer certificate key has no signature size");
		goto out;
	}
	if (prep_oids(pr, e) != 0 || prep_ias(pr, e) != 0 || prep_certs(pr, chain, e) != 0)
		goto out;
	for (size_t i = 0; i < AU_MD_COUNT; i++) {
		md = au_md_at(i);
		if ((md_nid == 0 || md->nid == md_nid) && prep_md(pr, md, &pr->md[i], e) != 0)
			goto out;
	}
	*out = pr;
	pr = NULL;
	ret = 0;
out:
	au_prepared_free(pr);
	ERR_clear_error();
	return ret;
}

int au_prepare(X509 *signer, STACK_OF(X509) * chain, struct au_prepared **out, struct sd_err *e)
{
	return au_prepare_md(signer, chain, 0, out, e);
}

void au_prepared_free(struct au_prepared *pr)
{
	if (pr == NULL)
		return;
	for (size_t i = 0; i < AU_MD_COUNT; i++) {
		EVP_PKEY_CTX_free(pr->md[i].verify);
		EVP_MD_free(pr->md[i].evp);
	}
	OPENSSL_free(pr->ias);
	OPENSSL_free(pr->certs);
	EVP_PKEY_free(pr->pub);
	X509_free(pr->signer);
	OPENSSL_free(pr);
}
