/*
 * libFuzzer target: the CRL loader and the revocation decision. The input is
 * read as a CRL file (DER or PEM) and checked against a fixed leaf whose CA
 * is in the chain, exactly as signerd does after reading revocation.crl.
 */
#include <stdlib.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "signer/revocation.h"

struct fuzz_pki {
	X509 *ca, *leaf;
	STACK_OF(X509) * chain;
};

static X509 *mkcert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, int ca)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ex;

	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), ca ? 1 : 4242);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509_gmtime_adj(X509_getm_notBefore(x), -86400);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
	X509_set_pubkey(x, key);
	if (ca) {
		X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
		ex = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
		X509_add_ext(x, ex, -1);
		X509_EXTENSION_free(ex);
	}
	X509_sign(x, ikey, EVP_sha256());
	X509_NAME_free(n);
	return x;
}

static struct fuzz_pki *setup(void)
{
	static struct fuzz_pki p; /* libFuzzer's process-wide harness state */
	EVP_PKEY *ck = EVP_EC_gen("P-256"), *lk = EVP_EC_gen("P-256");

	if (ck == NULL || lk == NULL)
		abort();
	p.ca = mkcert("Fuzz CA", ck, NULL, ck, 1);
	p.leaf = mkcert("Fuzz leaf", lk, p.ca, ck, 0);
	p.chain = sk_X509_new_null();
	sk_X509_push(p.chain, p.ca);
	EVP_PKEY_free(ck);
	EVP_PKEY_free(lk);
	return &p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_pki *p;
	struct sd_crl_floors fl = {0};
	struct sd_rev_result r;
	struct sd_crl_set *cs;

	if (p == NULL)
		p = setup();
	cs = sd_crl_set_from_mem(data, size, "fuzz.crl");
	sd_rev_check(cs, &fl, p->leaf, p->chain, time(NULL), &r);
	/* Twice: the second pass exercises the rollback floors the first one raised. */
	sd_rev_check(cs, &fl, p->leaf, p->chain, time(NULL), &r);
	sd_crl_set_free(cs);
	sd_crl_floors_free(&fl);
	return 0;
}
