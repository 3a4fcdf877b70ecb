/* The CRL checker's decisions, on certificates and CRLs built in memory with exact dates. */
#include <CUnit/Basic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/http.h"
#include "signer/revocation.h"

#define DAY 86400

struct pki {
	EVP_PKEY *ca_key, *other_key, *leaf_key;
	X509 *ca, *ca_nocrlsign, *impostor, *leaf;
	STACK_OF(X509) * chain;
};

static struct pki P; /* CUnit test functions take no arguments */

static void add_ext(X509 *x, X509 *issuer, int nid, const char *v)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ex;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, v);
	X509_add_ext(x, ex, -1);
	X509_EXTENSION_free(ex);
}

static X509 *mkcert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, long serial,
		    const char *ku)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509_gmtime_adj(X509_getm_notBefore(x), -DAY);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * DAY);
	X509_set_pubkey(x, key);
	if (ku != NULL) {
		add_ext(x, issuer ? issuer : x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, issuer ? issuer : x, NID_key_usage, ku);
	}
	X509_sign(x, ikey, EVP_sha256());
	X509_NAME_free(n);
	return x;
}

/* A CRL by issuer_cert's name, signed with key, valid [now+from, now+to), number num. */
static X509_CRL *mkcrl(X509 *issuer_cert, EVP_PKEY *key, long from, long to, long num,
		       X509 *revoked)
{
	X509_CRL *c = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_new();
	ASN1_INTEGER *n = ASN1_INTEGER_new();
	X509_REVOKED *r;

	X509_CRL_set_version(c, 1);
	X509_CRL_set_issuer_name(c, X509_get_subject_name(issuer_cert));
	X509_gmtime_adj(t, from);
	X509_CRL_set1_lastUpdate(c, t);
	X509_gmtime_adj(t, to);
	X509_CRL_set1_nextUpdate(c, t);
	ASN1_INTEGER_set(n, num);
	X509_CRL_add1_ext_i2d(c, NID_crl_number, n, 0, 0);
	if (revoked != NULL) {
		ASN1_ENUMERATED *reason = ASN1_ENUMERATED_new();

		r = X509_REVOKED_new();
		X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(revoked));
		X509_gmtime_adj(t, -3600);
		X509_REVOKED_set_revocationDate(r, t);
		ASN1_ENUMERATED_set(reason, 1); /* keyCompromise */
		X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, reason, 0, 0);
		ASN1_ENUMERATED_free(reason);
		X509_CRL_add0_revoked(c, r);
	}
	X509_CRL_sort(c);
	X509_CRL_sign(c, key, EVP_sha256());
	ASN1_TIME_free(t);
	ASN1_INTEGER_free(n);
	return c;
}

static int init(void)
{
	P.ca_key = EVP_EC_gen("P-256");
	P.other_key = EVP_EC_gen("P-256");
	P.leaf_key = EVP_EC_gen("P-256");
	P.ca = mkcert("Test CA", P.ca_key, NULL, P.ca_key, 1, "critical,keyCertSign,cRLSign");
	/* Same name and key, but may not sign CRLs. */
	P.ca_nocrlsign = mkcert("Test CA", P.ca_key, NULL, P.ca_key, 2, "critical,keyCertSign");
	/* Same name, another key: a forger's CA. */
	P.impostor =
	    mkcert("Test CA", P.other_key, NULL, P.other_key, 3, "critical,keyCertSign,cRLSign");
	P.leaf = mkcert("Leaf", P.leaf_key, P.ca, P.ca_key, 4242, NULL);
	P.chain = sk_X509_new_null();
	sk_X509_push(P.chain, P.ca);
	return P.leaf == NULL;
}

static int fini(void)
{
	sk_X509_free(P.chain);
	X509_free(P.ca);
	X509_free(P.ca_nocrlsign);
	X509_free(P.impostor);
	X509_free(P.leaf);
	EVP_PKEY_free(P.ca_key);
	EVP_PKEY_free(P.other_key);
	EVP_PKEY_free(P.leaf_key);
	return 0;
}

/* Run the checker on one CRL written to a file, as the daemon reads them. */
static void check(X509_CRL *crl, STACK_OF(X509) * chain, struct sd_crl_floors *fl,
		  struct sd_rev_result *r)
{
	char path[] = "/tmp/test_revocation.XXXXXX";
	char *files[1] = {path};
	int fd = mkstemp(path);
	unsigned char *der = NULL;
	int len = i2d_X509_CRL(crl, &der);
	struct sd_crl_set *cs;

	CU_ASSERT_FATAL(fd >= 0 && len > 0 && write(fd, der, (size_t)len) == len);
	close(fd);
	cs = sd_crl_set_load(files, 1);
	sd_rev_check(cs, fl, P.leaf, chain, time(NULL), r);
	sd_crl_set_free(cs);
	unlink(path);
	OPENSSL_free(der);
	X509_CRL_free(crl);
}

struct row {
	const char *name;
	X509_CRL *(*make)(void);
	enum sd_rev_status want;
	const char *msg;
};

static X509_CRL *good(void)
{
	return mkcrl(P.ca, P.ca_key, -3600, 7 * DAY, 5, NULL);
}
static X509_CRL *revoked(void)
{
	return mkcrl(P.ca, P.ca_key, -3600, 7 * DAY, 5, P.leaf);
}
static X509_CRL *stale(void)
{
	return mkcrl(P.ca, P.ca_key, -8 * DAY, -DAY, 5, NULL);
}
static X509_CRL *not_yet(void)
{
	return mkcrl(P.ca, P.ca_key, DAY, 8 * DAY, 5, NULL);
}
static X509_CRL *wrong_issuer(void)
{
	return mkcrl(P.leaf, P.leaf_key, -3600, 7 * DAY, 5, NULL);
}
static X509_CRL *bad_signature(void)
{
	return mkcrl(P.impostor, P.other_key, -3600, 7 * DAY, 5, P.leaf);
}

static void test_table(void)
{
	static const struct row rows[] = {
	    {"good", good, SD_REV_GOOD, "not revoked"},
	    {"revoked", revoked, SD_REV_REVOKED, "serial 1092) was revoked at"},
	    {"stale", stale, SD_REV_UNAVAILABLE, "is stale"},
	    {"not yet valid", not_yet, SD_REV_UNAVAILABLE, "is not yet valid"},
	    {"wrong issuer", wrong_issuer, SD_REV_UNAVAILABLE, "no valid CRL from the issuer"},
	    {"bad signature", bad_signature, SD_REV_UNAVAILABLE, "does not verify"},
	};
	struct sd_rev_result r;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
		struct sd_crl_floors fl = {0};

		check(rows[i].make(), P.chain, &fl, &r);
		if (r.status != rows[i].want || strstr(r.msg, rows[i].msg) == NULL)
			fprintf(stderr, "\n  %s: status %s, \"%s\"\n", rows[i].name,
				sd_rev_name(r.status), r.msg);
		CU_ASSERT_EQUAL(r.status, rows[i].want);
		CU_ASSERT_PTR_NOT_NULL(strstr(r.msg, rows[i].msg));
		sd_crl_floors_free(&fl);
	}
}

static void test_reason_and_next_update(void)
{
	struct sd_crl_floors fl = {0};
	struct sd_rev_result r;
	time_t before = time(NULL);

	check(revoked(), P.chain, &fl, &r);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.msg, "reason keyCompromise"));
	check(good(), P.chain, &fl, &r);
	CU_ASSERT(r.next_update >= before + 7 * DAY - 5 && r.next_update <= before + 7 * DAY + 5);
	sd_crl_floors_free(&fl);
}

static void test_rollback(void)
{
	struct sd_crl_floors fl = {0};
	struct sd_rev_result r;

	check(mkcrl(P.ca, P.ca_key, -3600, 7 * DAY, 7, NULL), P.chain, &fl, &r);
	CU_ASSERT_EQUAL(r.status, SD_REV_GOOD);
	check(mkcrl(P.ca, P.ca_key, -3600, 7 * DAY, 7, NULL), P.chain, &fl, &r);
	CU_ASSERT_EQUAL(r.status, SD_REV_GOOD); /* the same number again is fine */
	check(mkcrl(P.ca, P.ca_key, -3600, 7 * DAY, 6, NULL), P.chain, &fl, &r);
	CU_ASSERT_EQUAL(r.status, SD_REV_UNAVAILABLE);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.msg, "lower than 7 accepted before"));
	check(mkcrl(P.ca, P.ca_key, -3600, 7 * DAY, 8, NULL), P.chain, &fl, &r);
	CU_ASSERT_EQUAL(r.status, SD_REV_GOOD);
	sd_crl_floors_free(&fl);
}

static void test_issuer_without_crlsign(void)
{
	struct sd_crl_floors fl = {0};
	struct sd_rev_result r;
	STACK_OF(X509) *chain = sk_X509_new_null();

	sk_X509_push(chain, P.ca_nocrlsign);
	check(good(), chain, &fl, &r);
	CU_ASSERT_EQUAL(r.status, SD_REV_UNAVAILABLE);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.msg, "cRLSign"));
	sk_X509_free(chain);
	sd_crl_floors_free(&fl);
}

static void test_no_chain_and_self_signed(void)
{
	struct sd_crl_floors fl = {0};
	struct sd_rev_result r;

	check(good(), NULL, &fl, &r);
	CU_ASSERT_EQUAL(r.status, SD_REV_UNAVAILABLE);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.msg, "not in the key's chain"));
	sd_rev_check(NULL, &fl, P.ca, NULL, time(NULL), &r);
	CU_ASSERT_EQUAL(r.status, SD_REV_NOT_APPLICABLE);
	sd_crl_floors_free(&fl);
}

static void test_unreadable_file(void)
{
	char *files[] = {"/nonexistent/crl.der"};
	struct sd_crl_set *cs = sd_crl_set_load(files, 1);
	struct sd_crl_floors fl = {0};
	struct sd_rev_result r;

	sd_rev_check(cs, &fl, P.leaf, P.chain, time(NULL), &r);
	CU_ASSERT_EQUAL(r.status, SD_REV_UNAVAILABLE);
	sd_crl_set_free(cs);
	sd_crl_floors_free(&fl);
}

/* sd_crl_vet on crl (freed), against the cached CRL cached (freed; may be NULL). */
static int vet(X509_CRL *crl, X509_CRL *cached, struct sd_crl_floors *fl, char *msg, size_t msgsz,
	       time_t *next)
{
	unsigned char *der = NULL, *cder = NULL;
	int len = i2d_X509_CRL(crl, &der), clen = cached ? i2d_X509_CRL(cached, &cder) : 0;
	int rc;

	CU_ASSERT_FATAL(len > 0 && clen >= 0);
	rc = sd_crl_vet(der, (size_t)len, "http://cdp.example/ca.crl", P.ca, fl, cder, (size_t)clen,
			time(NULL), msg, msgsz, next);
	OPENSSL_free(der);
	OPENSSL_free(cder);
	X509_CRL_free(crl);
	X509_CRL_free(cached);
	return rc;
}

static void test_vet_download(void)
{
	static const unsigned char garbage[] = "\x30\x03\x02\x01\x00 not a CRL";
	struct sd_crl_floors fl = {0};
	struct sd_rev_result r;
	char msg[400];
	time_t next, before = time(NULL);
	X509_CRL *c1 = good(), *c2 = good();
	unsigned char *two;
	BIO *bio;
	long len;

	CU_ASSERT_EQUAL(vet(good(), NULL, &fl, msg, sizeof(msg), &next), 0);
	CU_ASSERT(next >= before + 7 * DAY - 5 && next <= before + 7 * DAY + 5);
	CU_ASSERT_EQUAL(fl.n, 0); /* vetting raises no floor */
	/* A revoked entry is no reason to refuse the CRL: sd_rev_check decides. */
	CU_ASSERT_EQUAL(vet(revoked(), NULL, &fl, msg, sizeof(msg), &next), 0);
	CU_ASSERT_EQUAL(vet(stale(), NULL, &fl, msg, sizeof(msg), &next), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "is stale"));
	CU_ASSERT_EQUAL(vet(not_yet(), NULL, &fl, msg, sizeof(msg), &next), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "not yet valid"));
	CU_ASSERT_EQUAL(vet(wrong_issuer(), NULL, &fl, msg, sizeof(msg), &next), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "not from the issuing CA"));
	CU_ASSERT_EQUAL(vet(bad_signature(), NULL, &fl, msg, sizeof(msg), &next), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "does not verify"));

	CU_ASSERT_EQUAL(sd_crl_vet(garbage, sizeof(garbage) - 1, "g", P.ca, &fl, NULL, 0,
				   time(NULL), msg, sizeof(msg), &next),
			-1);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "is not a CRL"));
	CU_ASSERT_EQUAL(
	    sd_crl_vet(garbage, 0, "g", P.ca, &fl, NULL, 0, time(NULL), msg, sizeof(msg), &next),
	    -1);
	/* PEM with two CRLs: which one would count? Refused. */
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_X509_CRL(bio, c1);
	PEM_write_bio_X509_CRL(bio, c2);
	X509_CRL_free(c1);
	X509_CRL_free(c2);
	len = BIO_get_mem_data(bio, (char **)&two);
	CU_ASSERT_FATAL(len > 0);
	CU_ASSERT_EQUAL(sd_crl_vet(two, (size_t)len, "two", P.ca, &fl, NULL, 0, time(NULL), msg,
				   sizeof(msg), &next),
			-1);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "is not a CRL"));
	BIO_free(bio);

	/* Not older than the cached CRL, which only counts when it is genuine. */
	CU_ASSERT_EQUAL(vet(mkcrl(P.ca, P.ca_key, -3600, 7 * DAY, 4, NULL),
			    mkcrl(P.ca, P.ca_key, -3600, 7 * DAY, 5, NULL), &fl, msg, sizeof(msg),
			    &next),
			-1);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "lower than 5 in the cached CRL"));
	CU_ASSERT_EQUAL(vet(mkcrl(P.ca, P.ca_key, -3600, 7 * DAY, 5, NULL),
			    mkcrl(P.ca, P.ca_key, -3600, 7 * DAY, 5, NULL), &fl, msg, sizeof(msg),
			    &next),
			0);
	/* A stale cached CRL still sets the bar: replaying an older one is no refresh. */
	CU_ASSERT_EQUAL(vet(mkcrl(P.ca, P.ca_key, -3600, 7 * DAY, 4, NULL),
			    mkcrl(P.ca, P.ca_key, -8 * DAY, -DAY, 5, NULL), &fl, msg, sizeof(msg),
			    &next),
			-1);
	CU_ASSERT_EQUAL(vet(mkcrl(P.ca, P.ca_key, -3600, 7 * DAY, 4, NULL),
			    mkcrl(P.impostor, P.other_key, -3600, 7 * DAY, 99, NULL), &fl, msg,
			    sizeof(msg), &next),
			0);

	/* Nor below the floor the daemon holds. */
	check(mkcrl(P.ca, P.ca_key, -3600, 7 * DAY, 7, NULL), P.chain, &fl, &r);
	CU_ASSERT_EQUAL(r.status, SD_REV_GOOD);
	CU_ASSERT_EQUAL(
	    vet(mkcrl(P.ca, P.ca_key, -3600, 7 * DAY, 6, NULL), NULL, &fl, msg, sizeof(msg), &next),
	    -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "lower than 7 accepted before"));
	CU_ASSERT_EQUAL(
	    vet(mkcrl(P.ca, P.ca_key, -3600, 7 * DAY, 7, NULL), NULL, &fl, msg, sizeof(msg), &next),
	    0);
	sd_crl_floors_free(&fl);
}

/* The CDP fetcher's transport refuses other schemes (a CDP may name file: or ldap:). */
static void test_http_schemes(void)
{
	static const char *const urls[] = {"file:///etc/passwd", "ldap://127.0.0.1/cn=x",
					   "ftp://127.0.0.1/x.crl"};
	struct sd_http_req r = {.max = 1024, .timeout_ms = 2000, .code = SD_E_CRL_UNAVAILABLE};
	struct sd_err e;
	uint8_t *data;
	size_t len, i;

	for (i = 0; i < sizeof(urls) / sizeof(*urls); i++) {
		memset(&e, 0, sizeof(e));
		r.url = urls[i];
		CU_ASSERT_EQUAL(sd_http_do(&r, &data, &len, &e), -1);
		CU_ASSERT_PTR_NULL(data);
		CU_ASSERT_EQUAL(e.code, SD_E_CRL_UNAVAILABLE);
	}
}

static void test_chain_verify(void)
{
	struct sd_err e = {0};
	STACK_OF(X509) *wrong = sk_X509_new_null();

	CU_ASSERT_EQUAL(sd_chain_verify(P.leaf, P.chain, &e), 0);
	sk_X509_push(wrong, P.impostor);
	CU_ASSERT_EQUAL(sd_chain_verify(P.leaf, wrong, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "does not chain to a root"));
	sk_X509_free(wrong);
}

int main(void)
{
	CU_pSuite s;
	unsigned fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("revocation", init, fini);
	CU_add_test(s, "decision table", test_table);
	CU_add_test(s, "reason and nextUpdate", test_reason_and_next_update);
	CU_add_test(s, "CRL number rollback", test_rollback);
	CU_add_test(s, "issuer without cRLSign", test_issuer_without_crlsign);
	CU_add_test(s, "no chain; self-signed", test_no_chain_and_self_signed);
	CU_add_test(s, "unreadable CRL file", test_unreadable_file);
	CU_add_test(s, "chain verification", test_chain_verify);
	CU_add_test(s, "vetting a downloaded CRL", test_vet_download);
	CU_add_test(s, "http: only http and https", test_http_schemes);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
