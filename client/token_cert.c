/* Certificates and requests made with a token key. */
#include "client/token.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "common/file.h"

#define DN_MAX 1024

/* Split s on sep (backslash escapes) and add each "k=v" to name. */
static int add_rdns(X509_NAME *name, const char *s, char sep, struct sd_err *e)
{
	char buf[DN_MAX], *eq, *k, *v;
	size_t n = 0;
	const char *p = s;

	for (;;) {
		if (*p == '\\' && p[1] != '\0') {
			p++;
		} else if (*p == sep || *p == '\0') {
			buf[n] = '\0';
			k = buf;
			while (*k == ' ')
				k++;
			if (*k != '\0') {
				eq = strchr(k, '=');
				if (eq == NULL || eq == k)
					return sd_err_set(e, SD_E_BAD_REQUEST,
							  "subject: \"%s\" is not KEY=VALUE", k);
				*eq = '\0';
				v = eq + 1;
				while (eq > k && eq[-1] == ' ')
					*--eq = '\0';
				if (!X509_NAME_add_entry_by_txt(name, k, MBSTRING_UTF8,
								(const unsigned char *)v, -1, -1,
								0)) {
					ERR_clear_error();
					return sd_err_set(e, SD_E_BAD_REQUEST,
							  "subject: unknown attribute \"%s\"", k);
				}
			}
			n = 0;
			if (*p == '\0')
				break;
			p++;
			continue;
		}
		if (n + 1 >= sizeof(buf))
			return sd_err_set(e, SD_E_BAD_REQUEST, "subject is too long");
		buf[n++] = *p++;
	}
	return 0;
}

int tok_parse_dn(const char *s, X509_NAME **out, struct sd_err *e)
{
	X509_NAME *n = X509_NAME_new();

	if (n == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	if (s == NULL || strlen(s) >= DN_MAX) {
		X509_NAME_free(n);
		return sd_err_set(e, SD_E_BAD_REQUEST, "give --subject DN (CN=x,O=y or /CN=x/O=y)");
	}
	if (add_rdns(n, s[0] == '/' ? s + 1 : s, s[0] == '/' ? '/' : ',', e) != 0) {
		X509_NAME_free(n);
		return -1;
	}
	if (X509_NAME_entry_count(n) == 0) {
		X509_NAME_free(n);
		return sd_err_set(e, SD_E_BAD_REQUEST, "subject is empty");
	}
	*out = n;
	return 0;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = ex != NULL && X509_add_ext(x, ex, -1);

	X509_EXTENSION_free(ex);
	return ok ? 0 : -1;
}

int tok_self_signed(struct p11_key *k, X509_NAME *dn, int years, X509 **out, struct sd_err *e)
{
	X509 *x = X509_new();
	X509V3_CTX ctx;
	uint8_t rnd[16];
	BIGNUM *bn = NULL;
	int ret = -1;

	if (years < 1 || years > 50) {
		sd_err_set(e, SD_E_BAD_REQUEST, "--years must be 1..50");
		goto out;
	}
	/* A positive 127-bit serial from OpenSSL's CSPRNG. */
	if (x == NULL || RAND_bytes(rnd, sizeof(rnd)) != 1) {
		sd_err_set(e, SD_E_INTERNAL, "cannot create the certificate");
		goto out;
	}
	rnd[0] &= 0x7f;
	rnd[0] |= 0x01;
	bn = BN_bin2bn(rnd, sizeof(rnd), NULL);
	if (bn == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) || !X509_set_subject_name(x, dn) ||
	    !X509_set_issuer_name(x, dn) || !X509_set_pubkey(x, k->pub) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), 365 * years + years / 4, 0, NULL) == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "cannot fill in the certificate");
		goto out;
	}
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
	    add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") != 0 ||
	    add_ext(x, &ctx, NID_ext_key_usage, "codeSigning") != 0 ||
	    add_ext(x, &ctx, NID_subject_key_identifier, "hash") != 0 ||
	    add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") != 0) {
		sd_err_openssl(e, SD_E_INTERNAL, "cannot add certificate extensions");
		goto out;
	}
	if (p11_sign_x509(k, x, EVP_sha256(), e) != 0)
		goto out;
	*out = x;
	x = NULL;
	ret = 0;
out:
	BN_free(bn);
	X509_free(x);
	return ret;
}

int tok_csr(struct p11_key *k, X509_NAME *dn, X509_REQ **out, struct sd_err *e)
{
	X509_REQ *r = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *ex;
	int ret = -1;

	if (r == NULL || exts == NULL || !X509_REQ_set_version(r, X509_REQ_VERSION_1) ||
	    !X509_REQ_set_subject_name(r, dn) || !X509_REQ_set_pubkey(r, k->pub)) {
		sd_err_set(e, SD_E_INTERNAL, "cannot create the request");
		goto out;
	}
	/* Ask for what a code-signing certificate needs; the CA decides. */
	ex = X509V3_EXT_conf_nid(NULL, NULL, NID_ext_key_usage, "codeSigning");
	if (ex != NULL)
		sk_X509_EXTENSION_push(exts, ex);
	ex = X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage, "critical,digitalSignature");
	if (ex != NULL)
		sk_X509_EXTENSION_push(exts, ex);
	if (!X509_REQ_add_extensions(r, exts)) {
		sd_err_set(e, SD_E_INTERNAL, "cannot add request extensions");
		goto out;
	}
	if (p11_sign_x509_req(k, r, EVP_sha256(), e) != 0)
		goto out;
	*out = r;
	r = NULL;
	ret = 0;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(r);
	return ret;
}

int tok_check_codesign_cert(struct p11_key *k, X509 *x, struct sd_err *e)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);

	if (pk == NULL || EVP_PKEY_eq(pk, k->pub) != 1)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "the certificate's public key does not match key \"%s\"",
				  k->label);
	if (!(X509_get_extension_flags(x) & EXFLAG_XKUSAGE) ||
	    !(X509_get_extended_key_usage(x) & XKU_CODE_SIGN))
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "the certificate has no codeSigning extended key usage");
	if ((X509_get_extension_flags(x) & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE))
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "the certificate's keyUsage lacks digitalSignature");
	return 0;
}

static int write_bio(const char *path, BIO *b, struct sd_err *e)
{
	char *p;
	long n = BIO_get_mem_data(b, &p);

	if (n <= 0)
		return sd_err_set(e, SD_E_INTERNAL, "cannot encode PEM");
	return sd_write_file_atomic(path, p, (size_t)n, 0644, 1, e);
}

int tok_write_pem_cert(const char *path, X509 *x, struct sd_err *e)
{
	BIO *b = BIO_new(BIO_s_mem());
	int ret;

	if (b == NULL || !PEM_write_bio_X509(b, x)) {
		BIO_free(b);
		return sd_err_set(e, SD_E_INTERNAL, "cannot encode PEM");
	}
	ret = write_bio(path, b, e);
	BIO_free(b);
	return ret;
}

int tok_write_pem_req(const char *path, X509_REQ *r, struct sd_err *e)
{
	BIO *b = BIO_new(BIO_s_mem());
	int ret;

	if (b == NULL || !PEM_write_bio_X509_REQ(b, r)) {
		BIO_free(b);
		return sd_err_set(e, SD_E_INTERNAL, "cannot encode PEM");
	}
	ret = write_bio(path, b, e);
	BIO_free(b);
	return ret;
}

X509 *tok_read_cert(const char *path, struct sd_err *e)
{
	uint8_t *data = NULL;
	size_t len = 0;
	const unsigned char *p;
	X509 *x = NULL;
	BIO *b;

	if (sd_read_file(path, 1024 * 1024, &data, &len, e) != 0)
		return NULL;
	if (len > 0 && data[0] == 0x30) {
		p = data;
		x = d2i_X509(NULL, &p, (long)len);
	} else if ((b = BIO_new_mem_buf(data, (int)len)) != NULL) {
		x = PEM_read_bio_X509(b, NULL, NULL, NULL);
		BIO_free(b);
	}
	free(data);
	ERR_clear_error();
	if (x == NULL)
		sd_err_set(e, SD_E_BAD_REQUEST, "%s: not a PEM or DER certificate", path);
	return x;
}
