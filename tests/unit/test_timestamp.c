/*
 * Unit tests for timestamp/ and the timestamp parts of authenticode/: the
 * checks on TimeStampResp (made in memory by OpenSSL's TS_RESP_CTX, an
 * independent implementation), the failover loop with a scripted transport,
 * URL redaction, and adding the token to a SignedData so that au_verify
 * still accepts it and finds the token.
 */
#include <CUnit/Basic.h>

#include <string.h>

#include <openssl/bn.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/ts.h>
#include <openssl/x509v3.h>

#include "authenticode/authenticode.h"
#include "timestamp/ts.h"

struct fixture {
	EVP_PKEY *key;	     /* TSA and code signing key */
	X509 *tsa;	     /* self-signed, critical EKU timeStamping */
	X509 *signer;	     /* self-signed, codeSigning */
	X509 *other;	     /* a root that issued neither */
	X509_STORE *trust;   /* tsa */
	X509_STORE *foreign; /* other */
};
static struct fixture fx;

static int add_ext(X509 *c, int nid, const char *v)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, c, c, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, v);
	ok = ext != NULL && X509_add_ext(c, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok;
}

static X509 *self_signed_at(EVP_PKEY *key, const char *cn, long serial, const char *eku, long from,
			    long to)
{
	X509 *c = X509_new();
	X509_NAME *n = X509_NAME_new();
	int ok = c != NULL && n != NULL;

	ok = ok && ASN1_INTEGER_set(X509_get_serialNumber(c), serial) == 1 &&
	     X509_set_version(c, X509_VERSION_3) == 1 &&
	     X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
					0) == 1 &&
	     X509_set_subject_name(c, n) == 1 && X509_set_issuer_name(c, n) == 1 &&
	     X509_gmtime_adj(X509_getm_notBefore(c), from) != NULL &&
	     X509_gmtime_adj(X509_getm_notAfter(c), to) != NULL && X509_set_pubkey(c, key) == 1 &&
	     add_ext(c, NID_basic_constraints, "critical,CA:FALSE") &&
	     add_ext(c, NID_key_usage, "critical,digitalSignature") &&
	     add_ext(c, NID_subject_key_identifier, "hash") &&
	     (eku == NULL || add_ext(c, NID_ext_key_usage, eku)) &&
	     X509_sign(c, key, EVP_sha256()) > 0;
	X509_NAME_free(n);
	if (!ok) {
		X509_free(c);
		return NULL;
	}
	return c;
}

static X509 *self_signed(EVP_PKEY *key, const char *cn, long serial, const char *eku)
{
	return self_signed_at(key, cn, serial, eku, -3600, 86400L);
}

/* The responder's clock, for tokens from the past. */
static int fixed_time(struct TS_resp_ctx *ctx, void *data, long *sec, long *usec)
{
	(void)ctx;
	*sec = *(const long *)data;
	*usec = 0;
	return 1;
}

/*
 * A TimeStampResp for the DER request req, made by OpenSSL's own responder
 * with signer tsa; at != 0 sets its genTime.
 */
static uint8_t *respond_as(const uint8_t *req, size_t reqlen, const EVP_MD *md_ok, X509 *tsa,
			   long at, size_t *len)
{
	TS_RESP_CTX *ctx = TS_RESP_CTX_new();
	ASN1_OBJECT *pol = OBJ_txt2obj("1.2.3.4.1", 1);
	BIO *in = BIO_new_mem_buf(req, (int)reqlen);
	TS_RESP *r = NULL;
	unsigned char *der = NULL;
	int n = 0;

	if (ctx != NULL && at != 0)
		TS_RESP_CTX_set_time_cb(ctx, fixed_time, &at);
	if (ctx != NULL && pol != NULL && in != NULL &&
	    TS_RESP_CTX_set_signer_cert(ctx, tsa) == 1 &&
	    TS_RESP_CTX_set_signer_key(ctx, fx.key) == 1 &&
	    TS_RESP_CTX_set_def_policy(ctx, pol) == 1 && TS_RESP_CTX_add_md(ctx, md_ok) == 1 &&
	    TS_RESP_CTX_set_signer_digest(ctx, EVP_sha256()) == 1)
		r = TS_RESP_create_response(ctx, in);
	if (r != NULL)
		n = i2d_TS_RESP(r, &der);
	TS_RESP_free(r);
	BIO_free(in);
	ASN1_OBJECT_free(pol);
	TS_RESP_CTX_free(ctx);
	*len = n > 0 ? (size_t)n : 0;
	return n > 0 ? der : NULL;
}

static uint8_t *respond(const uint8_t *req, size_t reqlen, const EVP_MD *md_ok, size_t *len)
{
	return respond_as(req, reqlen, md_ok, fx.tsa, 0, len);
}

static const uint8_t sigval[] = "pretend this is the SignerInfo signature value";

static void query(struct ts_query *q, uint8_t **req, size_t *reqlen)
{
	struct sd_err e = {0};

	CU_ASSERT_EQUAL_FATAL(ts_query_init(q, EVP_sha256(), sigval, sizeof(sigval), &e), 0);
	CU_ASSERT_EQUAL_FATAL(ts_query_encode(q, req, reqlen, &e), 0);
}

static void test_good_reply(void)
{
	struct ts_query q;
	struct ts_token t;
	struct sd_err e = {0};
	uint8_t *req, *resp, h[32];
	size_t reqlen, len;

	query(&q, &req, &reqlen);
	SHA256(sigval, sizeof(sigval), h);
	CU_ASSERT_EQUAL(memcmp(q.imprint, h, 32), 0);
	CU_ASSERT_EQUAL(q.imprint_len, 32);
	resp = respond(req, reqlen, EVP_sha256(), &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(resp);
	CU_ASSERT_EQUAL(ts_response_check(&q, resp, len, fx.trust, &t, &e), 0);
	CU_ASSERT_PTR_NOT_NULL(t.der);
	CU_ASSERT_EQUAL(t.trusted, 1);
	CU_ASSERT(t.gen_time > time(NULL) - 60 && t.gen_time <= time(NULL) + 1);
	CU_ASSERT_EQUAL(strlen(t.gen_time_text), 20);
	/* The token verifies on its own against the signature (verify-cab's path). */
	{
		struct ts_token t2;
		CU_ASSERT_EQUAL(
		    ts_token_verify(t.der, t.len, sigval, sizeof(sigval), fx.trust, &t2, &e), 0);
		CU_ASSERT_EQUAL(t2.gen_time, t.gen_time);
		CU_ASSERT_EQUAL(
		    ts_token_verify(t.der, t.len, sigval, sizeof(sigval) - 1, fx.trust, &t2, &e),
		    -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "messageImprint does not match"));
		CU_ASSERT_EQUAL(
		    ts_token_verify(t.der, t.len - 1, sigval, sizeof(sigval), NULL, &t2, &e), -1);
	}
	ts_token_clear(&t);
	/* Without a trust store: integrity only. */
	CU_ASSERT_EQUAL(ts_response_check(&q, resp, len, NULL, &t, &e), 0);
	CU_ASSERT_EQUAL(t.trusted, 0);
	ts_token_clear(&t);
	/* A TSA from another root. */
	CU_ASSERT_EQUAL(ts_response_check(&q, resp, len, fx.foreign, &t, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_TIMESTAMP_FAILED);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "does not verify against timestamp.ca"));
	CU_ASSERT_PTR_NULL(t.der);
	/* Trailing bytes, truncation, garbage. */
	{
		uint8_t *longer = OPENSSL_malloc(len + 1);
		memcpy(longer, resp, len);
		longer[len] = 0;
		CU_ASSERT_EQUAL(ts_response_check(&q, longer, len + 1, NULL, &t, &e), -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "1 bytes after the TimeStampResp"));
		OPENSSL_free(longer);
	}
	CU_ASSERT_EQUAL(ts_response_check(&q, resp, len - 1, NULL, &t, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "not a TimeStampResp"));
	CU_ASSERT_EQUAL(ts_response_check(&q, (const uint8_t *)"junk", 4, NULL, &t, &e), -1);
	CU_ASSERT_EQUAL(ts_response_check(&q, resp, 0, NULL, &t, &e), -1);
	OPENSSL_free(resp);
	OPENSSL_free(req);
}

static void test_foreign_replies(void)
{
	struct ts_query q, other;
	struct ts_token t;
	struct sd_err e = {0};
	uint8_t *req, *oreq, *resp;
	size_t reqlen, oreqlen, len;

	query(&q, &req, &reqlen);
	/* Same imprint, another nonce: a replayed reply. */
	other = q;
	other.nonce[TS_NONCE_LEN - 1] ^= 1;
	CU_ASSERT_EQUAL_FATAL(ts_query_encode(&other, &oreq, &oreqlen, &e), 0);
	resp = respond(oreq, oreqlen, EVP_sha256(), &len);
	CU_ASSERT_EQUAL(ts_response_check(&q, resp, len, fx.trust, &t, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "nonce is not the request's"));
	OPENSSL_free(resp);
	OPENSSL_free(oreq);
	/* Same nonce, another imprint. */
	other = q;
	other.imprint[0] ^= 1;
	CU_ASSERT_EQUAL_FATAL(ts_query_encode(&other, &oreq, &oreqlen, &e), 0);
	resp = respond(oreq, oreqlen, EVP_sha256(), &len);
	CU_ASSERT_EQUAL(ts_response_check(&q, resp, len, fx.trust, &t, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "messageImprint does not match"));
	OPENSSL_free(resp);
	OPENSSL_free(oreq);
	/* Same nonce and hash bytes, another algorithm. */
	other = q;
	other.md = EVP_sha512();
	other.imprint_len = 64;
	CU_ASSERT_EQUAL_FATAL(ts_query_encode(&other, &oreq, &oreqlen, &e), 0);
	resp = respond(oreq, oreqlen, EVP_sha512(), &len);
	CU_ASSERT_EQUAL(ts_response_check(&q, resp, len, fx.trust, &t, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "algorithm is not the requested"));
	OPENSSL_free(resp);
	OPENSSL_free(oreq);
	/* A rejection: the TSA does not accept SHA-256. */
	resp = respond(req, reqlen, EVP_sha512(), &len);
	CU_ASSERT_EQUAL(ts_response_check(&q, resp, len, fx.trust, &t, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "status rejection (badAlg)"));
	OPENSSL_free(resp);
	OPENSSL_free(req);
}

/* A scripted transport: per URL, what to answer. */
struct script {
	int calls[4];
	int fail_first[4]; /* fail this many calls to URL i, then answer properly */
	int garbage[4];
};

static int fake_post(void *ctx, const char *url, const uint8_t *req, size_t reqlen,
		     uint64_t timeout_ms, uint8_t **resp, size_t *resplen, struct sd_err *e)
{
	struct script *s = ctx;
	int i = url[strlen(url) - 1] - '0';

	(void)timeout_ms;
	s->calls[i]++;
	if (s->calls[i] <= s->fail_first[i])
		return sd_err_set(e, SD_E_TIMESTAMP_FAILED, "connection refused (test)");
	if (s->garbage[i]) {
		*resp = OPENSSL_memdup("xx", 2);
		*resplen = 2;
		return 0;
	}
	*resp = respond(req, reqlen, EVP_sha256(), resplen);
	return *resp != NULL ? 0 : sd_err_set(e, SD_E_INTERNAL, "test responder failed");
}

static void test_fetch_failover(void)
{
	const char *urls[] = {"http://user:secret@tsa.example/0", "http://tsa.example/1"};
	struct script sc;
	struct ts_params p = {.urls = urls, .nurls = 2, .timeout_ms = 1000, .md = NULL};
	struct ts_token t;
	struct sd_err e = {0};

	p.md = EVP_sha256();
	p.ca = fx.trust;
	p.post = fake_post;
	p.post_ctx = &sc;
	/* The first down, the second up. */
	memset(&sc, 0, sizeof(sc));
	sc.fail_first[0] = 100;
	CU_ASSERT_EQUAL(ts_fetch(&p, sigval, sizeof(sigval), &t, &e), 0);
	CU_ASSERT_STRING_EQUAL(t.tsa, "http://tsa.example/1");
	CU_ASSERT_EQUAL(sc.calls[0], 1);
	CU_ASSERT_EQUAL(sc.calls[1], 1);
	ts_token_clear(&t);
	/* Both down, two retries: three rounds, each TSA named, no secret shown. */
	memset(&sc, 0, sizeof(sc));
	sc.fail_first[0] = 100;
	sc.garbage[1] = 1;
	p.retries = 2;
	CU_ASSERT_EQUAL(ts_fetch(&p, sigval, sizeof(sigval), &t, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_TIMESTAMP_FAILED);
	CU_ASSERT_EQUAL(sc.calls[0], 3);
	CU_ASSERT_EQUAL(sc.calls[1], 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "after 6 attempts"));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(e.msg, "TSA http://tsa.example/0: connection refused (test)"));
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "TSA http://tsa.example/1: the reply is not a"));
	CU_ASSERT_PTR_NULL(strstr(e.msg, "secret"));
	CU_ASSERT_PTR_NULL(t.der);
	/* Down once, then up: the retry round succeeds. */
	memset(&sc, 0, sizeof(sc));
	sc.fail_first[0] = 1;
	sc.fail_first[1] = 1;
	p.retries = 1;
	p.backoff_ms = 1;
	CU_ASSERT_EQUAL(ts_fetch(&p, sigval, sizeof(sigval), &t, &e), 0);
	CU_ASSERT_EQUAL(sc.calls[0], 2);
	CU_ASSERT_EQUAL(sc.calls[1], 1);
	ts_token_clear(&t);
	/* No URL at all. */
	p.nurls = 0;
	CU_ASSERT_EQUAL(ts_fetch(&p, sigval, sizeof(sigval), &t, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "no TSA URL"));
}

static void test_url_shown(void)
{
	char out[TS_URL_SHOWN_MAX];

	ts_url_shown("https://u:p@tsa.example:8443/path?q=a@b", out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "https://tsa.example:8443/path?q=a@b");
	ts_url_shown("http://tsa.example/a@b", out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "http://tsa.example/a@b");
	ts_url_shown("http://x/\x01\xff", out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "http://x/??");
	ts_url_shown("http://tsa.example/", out, 8);
	CU_ASSERT_STRING_EQUAL(out, "http://");
}

/* A token made while a since-expired TSA certificate was valid. */
static void test_expired_tsa(void)
{
	X509 *old = self_signed_at(fx.key, "unit test old TSA", 4, "critical,timeStamping",
				   -20 * 86400L, -5 * 86400L);
	X509_STORE *st = X509_STORE_new();
	long then = (long)time(NULL) - 10 * 86400L;
	struct ts_query q;
	struct ts_token t, t2;
	struct sd_err e = {0};
	uint8_t *req, *resp;
	size_t reqlen, len;

	CU_ASSERT_PTR_NOT_NULL_FATAL(old);
	CU_ASSERT_EQUAL_FATAL(X509_STORE_add_cert(st, old), 1);
	query(&q, &req, &reqlen);
	resp = respond_as(req, reqlen, EVP_sha256(), old, then, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(resp);
	/* The daemon takes tokens now: an expired TSA certificate is refused. */
	CU_ASSERT_EQUAL(ts_response_check(&q, resp, len, st, &t, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "does not verify against timestamp.ca"));
	/* A verifier later checks it at genTime, as Windows does. */
	CU_ASSERT_EQUAL_FATAL(ts_response_check(&q, resp, len, NULL, &t, &e), 0);
	CU_ASSERT_EQUAL(t.gen_time, then);
	CU_ASSERT_EQUAL(ts_token_verify(t.der, t.len, sigval, sizeof(sigval), st, &t2, &e), 0);
	CU_ASSERT_EQUAL(t2.trusted, 1);
	ts_token_clear(&t);
	X509_STORE_free(st);
	X509_free(old);
	OPENSSL_free(resp);
	OPENSSL_free(req);
}

static int soft_sign(void *ctx, int md_nid, const uint8_t *hash, size_t hashlen, uint8_t *sig,
		     size_t *siglen, struct sd_err *e)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(ctx, NULL);
	int ok = pctx != NULL && EVP_PKEY_sign_init(pctx) == 1 &&
		 EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
		 EVP_PKEY_CTX_set_signature_md(pctx, EVP_get_digestbynid(md_nid)) == 1 &&
		 EVP_PKEY_sign(pctx, sig, siglen, hash, hashlen) == 1;

	EVP_PKEY_CTX_free(pctx);
	return ok ? 0 : sd_err_set(e, SD_E_INTERNAL, "soft sign");
}

static void test_signed_data(void)
{
	uint8_t digest[32], *der = NULL, *tsd = NULL, *again = NULL, *req, *resp;
	size_t len = 0, tslen = 0, againlen = 0, siglen, reqlen, rlen;
	const uint8_t *sig;
	struct au_sign_params p;
	struct au_info info;
	struct ts_query q;
	struct ts_token t;
	struct sd_err e = {0};

	memset(digest, 0x5a, sizeof(digest));
	memset(&p, 0, sizeof(p));
	p.subject = AU_SUBJECT_CAB;
	p.md = EVP_sha256();
	p.digest = digest;
	p.digest_len = 32;
	p.signer = fx.signer;
	p.sign = soft_sign;
	p.sign_ctx = fx.key;
	CU_ASSERT_EQUAL_FATAL(au_build(&p, &der, &len, &e), 0);
	CU_ASSERT_EQUAL_FATAL(au_signature_value(der, len, &sig, &siglen, &e), 0);
	CU_ASSERT_EQUAL(siglen, 256);
	CU_ASSERT_EQUAL_FATAL(ts_query_init(&q, EVP_sha256(), sig, siglen, &e), 0);
	CU_ASSERT_EQUAL_FATAL(ts_query_encode(&q, &req, &reqlen, &e), 0);
	resp = respond(req, reqlen, EVP_sha256(), &rlen);
	CU_ASSERT_EQUAL_FATAL(ts_response_check(&q, resp, rlen, fx.trust, &t, &e), 0);
	CU_ASSERT_EQUAL_FATAL(au_add_timestamp(der, len, t.der, t.len, &tsd, &tslen, &e), 0);
	CU_ASSERT(tslen > len + t.len);
	/* Still a valid Authenticode signature, now carrying the token. */
	CU_ASSERT_EQUAL(au_verify(tsd, tslen, AU_SUBJECT_CAB, &info, &e), 0);
	CU_ASSERT_EQUAL_FATAL(info.ts_token_len, t.len);
	CU_ASSERT_EQUAL(memcmp(info.ts_token, t.der, t.len), 0);
	CU_ASSERT_EQUAL(info.sig_len, siglen);
	{
		struct ts_token t2;
		CU_ASSERT_EQUAL(ts_token_verify(info.ts_token, info.ts_token_len, info.sig,
						info.sig_len, fx.trust, &t2, &e),
				0);
		CU_ASSERT_EQUAL(t2.gen_time, t.gen_time);
	}
	au_info_clear(&info);
	/* The untimestamped one has none. */
	CU_ASSERT_EQUAL(au_verify(der, len, AU_SUBJECT_CAB, &info, &e), 0);
	CU_ASSERT_PTR_NULL(info.ts_token);
	au_info_clear(&info);
	/* Only once; and only on a SignedData. */
	CU_ASSERT_EQUAL(au_add_timestamp(tsd, tslen, resp, rlen, &again, &againlen, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "already has unsigned attributes"));
	CU_ASSERT_EQUAL(au_add_timestamp(der, len - 1, resp, rlen, &again, &againlen, &e), -1);
	CU_ASSERT_EQUAL(
	    au_add_timestamp(der, len, (const uint8_t *)"\x30\x01", 2, &again, &againlen, &e), -1);
	CU_ASSERT_PTR_NULL(again);
	ts_token_clear(&t);
	OPENSSL_free(resp);
	OPENSSL_free(req);
	OPENSSL_free(tsd);
	OPENSSL_free(der);
}

static int suite_init(void)
{
	fx.key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (fx.key == NULL)
		return -1;
	fx.tsa = self_signed(fx.key, "unit test TSA", 1, "critical,timeStamping");
	fx.signer = self_signed(fx.key, "unit test signer", 2, "codeSigning");
	fx.other = self_signed(fx.key, "unit test other", 3, NULL);
	fx.trust = X509_STORE_new();
	fx.foreign = X509_STORE_new();
	if (fx.tsa == NULL || fx.signer == NULL || fx.other == NULL || fx.trust == NULL ||
	    fx.foreign == NULL || X509_STORE_add_cert(fx.trust, fx.tsa) != 1 ||
	    X509_STORE_add_cert(fx.foreign, fx.other) != 1)
		return -1;
	return 0;
}

static int suite_clean(void)
{
	X509_STORE_free(fx.trust);
	X509_STORE_free(fx.foreign);
	X509_free(fx.tsa);
	X509_free(fx.signer);
	X509_free(fx.other);
	EVP_PKEY_free(fx.key);
	memset(&fx, 0, sizeof(fx));
	return 0;
}

int main(void)
{
	CU_pSuite s;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("timestamp", suite_init, suite_clean);
	if (s == NULL || !CU_add_test(s, "a good reply, trust, garbage", test_good_reply) ||
	    !CU_add_test(s, "wrong nonce, imprint, algorithm; rejection", test_foreign_replies) ||
	    !CU_add_test(s, "failover, retries and the error naming each TSA",
			 test_fetch_failover) ||
	    !CU_add_test(s, "URLs in messages lose their userinfo", test_url_shown) ||
	    !CU_add_test(s, "a TSA certificate expired since genTime", test_expired_tsa) ||
	    !CU_add_test(s, "the token in a SignedData", test_signed_data)) {
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails == 0 ? 0 : 1;
}
