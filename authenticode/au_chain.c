/* au_verify_chain and au_info_clear: the signer certificate's trust. */
#include "authenticode/au_internal.h"

#include <string.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

void au_info_clear(struct au_info *info)
{
	if (info == NULL)
		return;
	X509_free(info->signer);
	sk_X509_pop_free(info->certs, X509_free);
	OPENSSL_free(info->ts_token);
	OPENSSL_free(info->sig);
	memset(info, 0, sizeof(*info));
}

static uint32_t code_for(int err)
{
	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return SD_E_CERT_EXPIRED;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return SD_E_CERT_NOT_YET_VALID;
	case X509_V_ERR_CERT_REVOKED:
		return SD_E_CERT_REVOKED;
	case X509_V_ERR_UNABLE_TO_GET_CRL:
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_CRL_NOT_YET_VALID:
	case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
		return SD_E_CRL_UNAVAILABLE;
	default:
		return SD_E_BAD_REQUEST;
	}
}

/* Key usage fit for code signing, when the extensions are present. */
static int check_usage(X509 *cert, const char *subject, struct sd_err *e)
{
	uint32_t flags = X509_get_extension_flags(cert);

	if (flags & EXFLAG_INVALID)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "signer certificate %s has invalid extensions", subject);
	if ((flags & EXFLAG_XKUSAGE) && !(X509_get_extended_key_usage(cert) & XKU_CODE_SIGN))
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "signer certificate %s: extended key usage does not include "
				  "codeSigning (1.3.6.1.5.5.7.3.3)",
				  subject);
	if ((flags & EXFLAG_KUSAGE) && !(X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE))
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "signer certificate %s: key usage does not include "
				  "digitalSignature",
				  subject);
	return 0;
}

int au_verify_chain(const struct au_info *info, X509_STORE *store, struct sd_err *e)
{
	X509_STORE_CTX *ctx = NULL;
	char subject[256];
	int ret = -1, err;

	if (info == NULL || info->signer == NULL || store == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "au_verify_chain: missing signer or store");
	if (X509_NAME_oneline(X509_get_subject_name(info->signer), subject, sizeof(subject)) ==
	    NULL)
		snprintf(subject, sizeof(subject), "(unprintable subject)");
	ctx = X509_STORE_CTX_new();
	if (ctx == NULL || X509_STORE_CTX_init(ctx, store, info->signer, info->certs) != 1) {
		sd_err_openssl(e, SD_E_INTERNAL, "cannot set up certificate verification");
		goto out;
	}
	if (X509_verify_cert(ctx) != 1) {
		err = X509_STORE_CTX_get_error(ctx);
		sd_err_set(e, code_for(err),
			   "certificate chain of %s does not verify: %s (at depth %d)", subject,
			   X509_verify_cert_error_string(err), X509_STORE_CTX_get_error_depth(ctx));
		goto out;
	}
	if (check_usage(info->signer, subject, e) != 0)
		goto out;
	ret = 0;
out:
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return ret;
}
