/*
 * sd_chain_build: a key's chain from issuer lookups (the token's CA
 * certificates), on certificates built in memory. The lookup serves a pool
 * in either order, so every choice is shown not to depend on it.
 */
#include <CUnit/Basic.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "signer/chain.h"

#define DAY 86400L

struct pki {
	EVP_PKEY *root_key, *int_key, *other_key, *leaf_key, *xa_key, *xb_key;
	X509 *root, *inter, *inter_renewed, *impostor, *leaf, *self, *xa, *xb, *xleaf;
};

static struct pki P; /* CUnit test functions take no arguments */

/* What the lookup serves. */
struct pool {
	X509 *v[8];
	int n;
	int reverse; /* serve matches last to first */
	int all;     /* serve every certificate, whatever its subject */
	int fail;    /* fail like a token that went away */
	int lookups; /* calls made */
};

static X509 *mkcert(const char *cn, EVP_PKEY *key, const char *issuer_cn, EVP_PKEY *ikey,
		    long serial, long days, int ca)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new(), *in = X509_NAME_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ex;

	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_NAME_add_entry_by_txt(in, "CN", MBSTRING_ASC,
				   (const unsigned char *)(issuer_cn ? issuer_cn : cn), -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, in);
	X509_gmtime_adj(X509_getm_notBefore(x), -DAY);
	X509_gmtime_adj(X509_getm_notAfter(x), days * DAY);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, NULL, x, NULL, NULL, 0);
	ex = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
				 ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, ex, -1);
	X509_EXTENSION_free(ex);
	X509_sign(x, ikey, EVP_sha256());
	X509_NAME_free(n);
	X509_NAME_free(in);
	return x;
}

static int lookup(void *ctx, const X509_NAME *subject, STACK_OF(X509) * *out, struct sd_err *e)
{
	struct pool *p = ctx;
	STACK_OF(X509) * sk;
	X509 *x;
	int i;

	p->lookups++;
	if (p->fail)
		return sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "token went away");
	sk = sk_X509_new_null();
	for (i = 0; i < p->n; i++) {
		x = p->v[p->reverse ? p->n - 1 - i : i];
		if (p->all || X509_NAME_cmp(X509_get_subject_name(x), subject) == 0) {
			X509_up_ref(x);
			sk_X509_push(sk, x);
		}
	}
	*out = sk;
	return 0;
}

static void pool_set(struct pool *p, int reverse, X509 *a, X509 *b, X509 *c, X509 *d)
{
	X509 *in[4] = {a, b, c, d};
	int i;

	memset(p, 0, sizeof(*p));
	p->reverse = reverse;
	for (i = 0; i < 4; i++)
		if (in[i] != NULL)
			p->v[p->n++] = in[i];
}

static int init(void)
{
	P.root_key = EVP_EC_gen("P-256");
	P.int_key = EVP_EC_gen("P-256");
	P.other_key = EVP_EC_gen("P-256");
	P.leaf_key = EVP_EC_gen("P-256");
	P.xa_key = EVP_EC_gen("P-256");
	P.xb_key = EVP_EC_gen("P-256");
	P.root = mkcert("Root", P.root_key, NULL, P.root_key, 1, 3650, 1);
	P.inter = mkcert("Issuing", P.int_key, "Root", P.root_key, 2, 1000, 1);
	/* The same CA key certified again, valid longer: the one to prefer. */
	P.inter_renewed = mkcert("Issuing", P.int_key, "Root", P.root_key, 3, 2000, 1);
	/* Same name, another key, valid longest: must never be taken. */
	P.impostor = mkcert("Issuing", P.other_key, "Root", P.root_key, 4, 3000, 1);
	P.leaf = mkcert("Leaf", P.leaf_key, "Issuing", P.int_key, 5, 365, 0);
	P.self = mkcert("Self", P.leaf_key, NULL, P.leaf_key, 6, 365, 0);
	/* Two CAs that certify each other, and no root: a loop. */
	P.xa = mkcert("Cross A", P.xa_key, "Cross B", P.xb_key, 7, 365, 1);
	P.xb = mkcert("Cross B", P.xb_key, "Cross A", P.xa_key, 8, 365, 1);
	P.xleaf = mkcert("Cross leaf", P.leaf_key, "Cross A", P.xa_key, 9, 365, 0);
	return P.xleaf == NULL;
}

static int fini(void)
{
	X509 *c[] = {P.root, P.inter, P.inter_renewed, P.impostor, P.leaf, P.self,
		     P.xa,   P.xb,    P.xleaf};
	EVP_PKEY *k[] = {P.root_key, P.int_key, P.other_key, P.leaf_key, P.xa_key, P.xb_key};
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(*c); i++)
		X509_free(c[i]);
	for (i = 0; i < sizeof(k) / sizeof(*k); i++)
		EVP_PKEY_free(k[i]);
	return 0;
}

static int nth_is(struct sd_chain_result *r, int i, X509 *want)
{
	return r->chain != NULL && i < sk_X509_num(r->chain) &&
	       X509_cmp(sk_X509_value(r->chain, i), want) == 0;
}

static void done(struct sd_chain_result *r)
{
	sk_X509_pop_free(r->chain, X509_free);
	r->chain = NULL;
}

static void test_full_chain(void)
{
	struct sd_chain_result r;
	struct sd_err e = {0};
	struct pool p;
	int rev;

	for (rev = 0; rev < 2; rev++) {
		pool_set(&p, rev, P.root, P.inter, NULL, NULL);
		CU_ASSERT_EQUAL_FATAL(sd_chain_build(P.leaf, lookup, &p, 15, &r, &e), 0);
		CU_ASSERT_EQUAL(r.complete, 1);
		CU_ASSERT_EQUAL(sk_X509_num(r.chain), 2);
		/* Issuer first, then the root: the order of a chain: file. */
		CU_ASSERT(nth_is(&r, 0, P.inter));
		CU_ASSERT(nth_is(&r, 1, P.root));
		CU_ASSERT_EQUAL(p.lookups, 2);
		done(&r);
	}
}

static void test_nothing_on_the_token(void)
{
	struct sd_chain_result r;
	struct sd_err e = {0};
	struct pool p;

	pool_set(&p, 0, NULL, NULL, NULL, NULL);
	CU_ASSERT_EQUAL_FATAL(sd_chain_build(P.leaf, lookup, &p, 15, &r, &e), 0);
	CU_ASSERT_PTR_NULL(r.chain);
	CU_ASSERT_EQUAL(r.complete, 0);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(r.why, "no certificate of /CN=Issuing, the issuer of /CN=Leaf"));
	/* A self-signed leaf needs no lookup at all. */
	pool_set(&p, 0, P.root, P.inter, NULL, NULL);
	CU_ASSERT_EQUAL_FATAL(sd_chain_build(P.self, lookup, &p, 15, &r, &e), 0);
	CU_ASSERT_PTR_NULL(r.chain);
	CU_ASSERT_EQUAL(r.complete, 1);
	CU_ASSERT_EQUAL(p.lookups, 0);
}

static void test_partial_chain(void)
{
	struct sd_chain_result r;
	struct sd_err e = {0};
	struct pool p;

	/* The intermediate without its root. */
	pool_set(&p, 0, P.inter, NULL, NULL, NULL);
	CU_ASSERT_EQUAL_FATAL(sd_chain_build(P.leaf, lookup, &p, 15, &r, &e), 0);
	CU_ASSERT_EQUAL(r.complete, 0);
	CU_ASSERT_EQUAL(sk_X509_num(r.chain), 1);
	CU_ASSERT(nth_is(&r, 0, P.inter));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.why, "no certificate of /CN=Root"));
	done(&r);
}

static void test_same_subject(void)
{
	struct sd_chain_result r;
	struct sd_err e = {0};
	struct pool p;
	int rev;

	for (rev = 0; rev < 2; rev++) {
		/* The impostor is valid longest but its key does not verify the leaf. */
		pool_set(&p, rev, P.impostor, P.inter, P.root, NULL);
		CU_ASSERT_EQUAL_FATAL(sd_chain_build(P.leaf, lookup, &p, 15, &r, &e), 0);
		CU_ASSERT(nth_is(&r, 0, P.inter));
		CU_ASSERT(nth_is(&r, 1, P.root));
		CU_ASSERT_EQUAL(r.complete, 1);
		done(&r);
		/* Two that verify: the later notAfter, whatever the order. */
		pool_set(&p, rev, P.inter, P.impostor, P.inter_renewed, P.root);
		CU_ASSERT_EQUAL_FATAL(sd_chain_build(P.leaf, lookup, &p, 15, &r, &e), 0);
		CU_ASSERT(nth_is(&r, 0, P.inter_renewed));
		CU_ASSERT_EQUAL(sk_X509_num(r.chain), 2);
		done(&r);
		/* Only the impostor: no chain, and the reason says why. */
		pool_set(&p, rev, P.impostor, P.root, NULL, NULL);
		CU_ASSERT_EQUAL_FATAL(sd_chain_build(P.leaf, lookup, &p, 15, &r, &e), 0);
		CU_ASSERT_PTR_NULL(r.chain);
		CU_ASSERT_PTR_NOT_NULL(strstr(r.why, "verifies the signature of /CN=Leaf"));
	}
}

static void test_wrong_subject_ignored(void)
{
	struct sd_chain_result r;
	struct sd_err e = {0};
	struct pool p;

	/* A lookup that answers with everything: only the right names are taken. */
	pool_set(&p, 0, P.root, P.self, P.inter, NULL);
	p.all = 1;
	CU_ASSERT_EQUAL_FATAL(sd_chain_build(P.leaf, lookup, &p, 15, &r, &e), 0);
	CU_ASSERT_EQUAL(sk_X509_num(r.chain), 2);
	CU_ASSERT(nth_is(&r, 0, P.inter));
	CU_ASSERT(nth_is(&r, 1, P.root));
	done(&r);
}

static void test_bound_and_loop(void)
{
	struct sd_chain_result r;
	struct sd_err e = {0};
	struct pool p;

	pool_set(&p, 0, P.root, P.inter, NULL, NULL);
	CU_ASSERT_EQUAL_FATAL(sd_chain_build(P.leaf, lookup, &p, 1, &r, &e), 0);
	CU_ASSERT_EQUAL(r.complete, 0);
	CU_ASSERT_EQUAL(sk_X509_num(r.chain), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.why, "stopped after 1 CA certificates at /CN=Issuing"));
	done(&r);
	/* A <-> B: each is taken once, then the walk stops. */
	pool_set(&p, 0, P.xa, P.xb, NULL, NULL);
	CU_ASSERT_EQUAL_FATAL(sd_chain_build(P.xleaf, lookup, &p, 15, &r, &e), 0);
	CU_ASSERT_EQUAL(r.complete, 0);
	CU_ASSERT_EQUAL(sk_X509_num(r.chain), 2);
	CU_ASSERT(nth_is(&r, 0, P.xa));
	CU_ASSERT(nth_is(&r, 1, P.xb));
	CU_ASSERT(p.lookups <= 3);
	done(&r);
}

static void test_lookup_failure(void)
{
	struct sd_chain_result r;
	struct sd_err e = {0};
	struct pool p;

	pool_set(&p, 0, P.root, P.inter, NULL, NULL);
	p.fail = 1;
	CU_ASSERT_EQUAL(sd_chain_build(P.leaf, lookup, &p, 15, &r, &e), -1);
	CU_ASSERT_PTR_NULL(r.chain);
	CU_ASSERT_EQUAL(e.code, SD_E_TOKEN_UNAVAILABLE);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "token went away"));
}

int main(void)
{
	CU_pSuite s;
	unsigned fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("chain from the token", init, fini);
	CU_add_test(s, "intermediate and root, either order", test_full_chain);
	CU_add_test(s, "no CA certificates; self-signed leaf", test_nothing_on_the_token);
	CU_add_test(s, "intermediate without its root", test_partial_chain);
	CU_add_test(s, "several certificates with the issuer's name", test_same_subject);
	CU_add_test(s, "certificates of other names are ignored", test_wrong_subject_ignored);
	CU_add_test(s, "depth bound and a loop", test_bound_and_loop);
	CU_add_test(s, "lookup failure", test_lookup_failure);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
