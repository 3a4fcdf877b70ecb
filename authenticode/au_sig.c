/* The SignerInfo signature: what is hashed and how it is checked. */
#include "authenticode/au_internal.h"

#include <openssl/err.h>
#include <openssl/rsa.h>

int au_key_supported(EVP_PKEY *pub)
{
	return pub != NULL && (EVP_PKEY_is_a(pub, "RSA") || EVP_PKEY_is_a(pub, "EC"));
}

int au_attrs_hash(PKCS7_SIGNER_INFO *si, const EVP_MD *md, int for_verify, uint8_t *hash,
		  size_t *hashlen, struct sd_err *e)
{
	uint8_t *der = NULL;
	unsigned int n = 0;
	int len, ret = -1;

	if (si->auth_attr == NULL || sk_X509_ATTRIBUTE_num(si->auth_attr) == 0)
		return sd_err_set(e, SD_E_BAD_REQUEST, "SignerInfo has no signed attributes");
	len = ASN1_item_i2d((ASN1_VALUE *)si->auth_attr, &der,
			    for_verify ? ASN1_ITEM_rptr(PKCS7_ATTR_VERIFY)
				       : ASN1_ITEM_rptr(PKCS7_ATTR_SIGN));
	if (len <= 0) {
		sd_err_openssl(e, SD_E_INTERNAL, "cannot encode the signed attributes");
		goto out;
	}
	if (EVP_Digest(der, (size_t)len, hash, &n, md, NULL) != 1) {
		sd_err_openssl(e, SD_E_INTERNAL, "cannot hash the signed attributes");
		goto out;
	}
	*hashlen = n;
	ret = 0;
out:
	OPENSSL_free(der);
	return ret;
}

int au_sig_ok(EVP_PKEY *pub, const EVP_MD *md, const uint8_t *hash, size_t hashlen,
	      const uint8_t *sig, size_t siglen)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
	int ok = 0;

	if (ctx == NULL || EVP_PKEY_verify_init(ctx) != 1)
		goto out;
	if (EVP_PKEY_is_a(pub, "RSA") && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1)
		goto out;
	/* For RSA this makes the check include the DigestInfo's algorithm. */
	if (EVP_PKEY_CTX_set_signature_md(ctx, md) != 1)
		goto out;
	ok = EVP_PKEY_verify(ctx, sig, siglen, hash, hashlen) == 1;
out:
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

EVP_PKEY_CTX *au_verify_ctx_new(EVP_PKEY *pub, const EVP_MD *md)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);

	if (ctx == NULL || EVP_PKEY_verify_init(ctx) != 1 ||
	    (EVP_PKEY_is_a(pub, "RSA") &&
	     EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1) ||
	    EVP_PKEY_CTX_set_signature_md(ctx, md) != 1) {
		EVP_PKEY_CTX_free(ctx);
		ctx = NULL;
	}
	ERR_clear_error();
	return ctx;
}

int au_sig_ok_prepared(const EVP_PKEY_CTX *tmpl, const uint8_t *hash, size_t hashlen,
		       const uint8_t *sig, size_t siglen)
{
	/* A private copy per call: EVP_PKEY_verify may use the context's state. */
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_dup(tmpl);
	int ok;

	ok = ctx != NULL && EVP_PKEY_verify(ctx, sig, siglen, hash, hashlen) == 1;
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}
