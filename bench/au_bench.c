/*
 * au_bench: CPU cost of one Authenticode SignedData (authenticode/), per
 * call, with an in-memory key. It reports; it asserts nothing about time.
 *
 *   au_bench [calls per round [rounds]]
 *
 * Builders compared: au_build_reference (the PKCS7-object encoder au_build
 * used to be), au_build (prepares per call) and au_build_prepared (per-key
 * au_prepare done once). Each is timed
 *   - with a "memo" signer: it returns a cached signature when the hash is
 *     the one it signed last (valid: RSA PKCS#1 v1.5 is deterministic, and
 *     the signing time is fixed), so the time is the builder's own,
 *     including the self-check verify;
 *   - with a real signer (EVP_PKEY_sign on every call, signing time now),
 *     minus the raw signer time measured alone.
 * Each figure is the median over the rounds of the mean CPU time per call
 * (this thread's CPU clock, so time other processes take is not counted);
 * rounds are short and interleave the variants so that the host's speed
 * drift hits them alike. Differences ("builder without its self-check")
 * are taken inside each round and their median reported.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "authenticode/au_internal.h"
#include "authenticode/authenticode.h"
#include "common/err.h"

#define MAX_ROUNDS 200
#define FIXED_TIME 1700000000

struct signer {
	EVP_PKEY *key;
	int memo; /* return the cached signature for the cached hash */
	uint8_t hash[EVP_MAX_MD_SIZE];
	size_t hashlen;
	uint8_t sig[1024];
	size_t siglen;
};

struct setup {
	EVP_PKEY *key, *ca_key;
	X509 *cert, *ca;
	STACK_OF(X509) * chain;
	struct au_prepared *pr;
	struct signer real, memo;
	struct au_sign_params fixed, bare, now;
	uint8_t digest[32];
	/* the RSA public operation alone, for the verify's floor */
	BIGNUM *n, *e, *s, *m;
	BN_MONT_CTX *mont;
	BN_CTX *bn;
};

enum variant {
	V_RAW_SIGN,
	V_VERIFY_FRESH,
	V_VERIFY_DUP,
	V_MODEXP,
	V_REF_MEMO,
	V_BUILD_MEMO,
	V_PREP_MEMO,
	V_PREP_BARE,
	V_REF_REAL,
	V_BUILD_REAL,
	V_PREP_REAL,
	V_PREPARE,
	V_COUNT
};

static const char *const names[V_COUNT] = {
    "raw EVP_PKEY_sign (the signer callback alone)",
    "self-check verify, fresh EVP_PKEY_CTX (before)",
    "self-check verify, EVP_PKEY_CTX_dup of prepared (after)",
    "  its floor: s^e mod n alone (BN_mod_exp_mont, cached)",
    "au_build_reference, memo signer",
    "au_build, memo signer",
    "au_build_prepared, memo signer",
    "au_build_prepared, memo signer, no program/URL",
    "au_build_reference, real signer",
    "au_build, real signer",
    "au_build_prepared, real signer",
    "au_prepare + au_prepared_free (once per key)",
};

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int raw_sign(EVP_PKEY *key, int md_nid, const uint8_t *hash, size_t hashlen, uint8_t *sig,
		    size_t *siglen)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(key, NULL);
	int ok = c != NULL && EVP_PKEY_sign_init(c) == 1 &&
		 (!EVP_PKEY_is_a(key, "RSA") ||
		  EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1) &&
		 EVP_PKEY_CTX_set_signature_md(c, EVP_get_digestbynid(md_nid)) == 1 &&
		 EVP_PKEY_sign(c, sig, siglen, hash, hashlen) == 1;

	EVP_PKEY_CTX_free(c);
	return ok ? 0 : -1;
}

static int sign_cb(void *ctx, int md_nid, const uint8_t *hash, size_t hashlen, uint8_t *sig,
		   size_t *siglen, struct sd_err *e)
{
	struct signer *s = ctx;

	if (!s->memo) {
		if (raw_sign(s->key, md_nid, hash, hashlen, sig, siglen) != 0)
			return sd_err_set(e, SD_E_INTERNAL, "bench: EVP_PKEY_sign failed");
		return 0;
	}
	if (s->siglen == 0 || hashlen != s->hashlen || memcmp(hash, s->hash, hashlen) != 0) {
		s->siglen = sizeof(s->sig);
		if (raw_sign(s->key, md_nid, hash, hashlen, s->sig, &s->siglen) != 0) {
			s->siglen = 0;
			return sd_err_set(e, SD_E_INTERNAL, "bench: EVP_PKEY_sign failed");
		}
		memcpy(s->hash, hash, hashlen);
		s->hashlen = hashlen;
	}
	if (*siglen < s->siglen)
		return sd_err_set(e, SD_E_INTERNAL, "bench: signature capacity");
	memcpy(sig, s->sig, s->siglen);
	*siglen = s->siglen;
	return 0;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ok = ext != NULL && X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok;
}

/* A certificate for key issued by issuer (self-signed when NULL). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int ca)
{
	X509 *c = X509_new();
	X509_NAME *name = X509_NAME_new();
	int ok;

	ok = c != NULL && name != NULL &&
	     ASN1_INTEGER_set(X509_get_serialNumber(c), ca ? 0x1001 : 0x2002) == 1 &&
	     X509_set_version(c, X509_VERSION_3) == 1 &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
					-1, 0) == 1 &&
	     X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
					(const unsigned char *)"signerd bench", -1, -1, 0) == 1 &&
	     X509_set_subject_name(c, name) == 1 &&
	     X509_set_issuer_name(c, issuer != NULL ? X509_get_subject_name(issuer) : name) == 1 &&
	     X509_gmtime_adj(X509_getm_notBefore(c), -3600) != NULL &&
	     X509_gmtime_adj(X509_getm_notAfter(c), 86400L * 30) != NULL &&
	     X509_set_pubkey(c, key) == 1 &&
	     add_ext(c, issuer != NULL ? issuer : c, NID_basic_constraints,
		     ca ? "critical,CA:TRUE" : "critical,CA:FALSE") &&
	     (ca || add_ext(c, issuer != NULL ? issuer : c, NID_ext_key_usage, "codeSigning")) &&
	     X509_sign(c, issuer_key != NULL ? issuer_key : key, EVP_sha256()) > 0;
	X509_NAME_free(name);
	if (!ok) {
		X509_free(c);
		return NULL;
	}
	return c;
}

static int setup(struct setup *s, struct sd_err *e)
{
	memset(s, 0, sizeof(*s));
	s->key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	s->ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (s->key == NULL || s->ca_key == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "key generation failed");
	s->ca = make_cert(s->ca_key, "signerd bench CA", NULL, NULL, 1);
	s->cert =
	    s->ca != NULL ? make_cert(s->key, "signerd bench signer", s->ca, s->ca_key, 0) : NULL;
	s->chain = sk_X509_new_null();
	if (s->cert == NULL || s->chain == NULL || sk_X509_push(s->chain, s->ca) <= 0)
		return sd_err_set(e, SD_E_INTERNAL, "certificate generation failed");
	if (au_prepare(s->cert, s->chain, &s->pr, e) != 0)
		return -1;
	s->s = BN_new();
	s->m = BN_new();
	s->bn = BN_CTX_new();
	s->mont = BN_MONT_CTX_new();
	if (EVP_PKEY_get_bn_param(s->key, OSSL_PKEY_PARAM_RSA_N, &s->n) != 1 ||
	    EVP_PKEY_get_bn_param(s->key, OSSL_PKEY_PARAM_RSA_E, &s->e) != 1 || s->s == NULL ||
	    s->m == NULL || s->bn == NULL || s->mont == NULL ||
	    BN_MONT_CTX_set(s->mont, s->n, s->bn) != 1)
		return sd_err_set(e, SD_E_INTERNAL, "cannot set up the modular exponentiation");
	for (size_t i = 0; i < sizeof(s->digest); i++)
		s->digest[i] = (uint8_t)(0x5a ^ i);
	s->real.key = s->key;
	s->memo.key = s->key;
	s->memo.memo = 1;
	s->fixed = (struct au_sign_params){.subject = AU_SUBJECT_CAB,
					   .md = EVP_sha256(),
					   .digest = s->digest,
					   .digest_len = sizeof(s->digest),
					   .program = "Contoso Updater",
					   .url = "https://example.com/updates",
					   .signer = s->cert,
					   .chain = s->chain,
					   .sign = sign_cb,
					   .sign_ctx = &s->memo,
					   .signing_time = FIXED_TIME};
	s->bare = s->fixed;
	s->bare.program = NULL;
	s->bare.url = NULL;
	s->now = s->fixed;
	s->now.sign_ctx = &s->real;
	s->now.signing_time = 0;
	return 0;
}

static void teardown(struct setup *s)
{
	BN_free(s->n);
	BN_free(s->e);
	BN_free(s->s);
	BN_free(s->m);
	BN_MONT_CTX_free(s->mont);
	BN_CTX_free(s->bn);
	au_prepared_free(s->pr);
	sk_X509_free(s->chain);
	X509_free(s->cert);
	X509_free(s->ca);
	EVP_PKEY_free(s->key);
	EVP_PKEY_free(s->ca_key);
}

/* One call of variant v; 0 on success. */
static int run_one(struct setup *s, enum variant v, const uint8_t *hash, const uint8_t *sig,
		   size_t siglen, EVP_PKEY_CTX *tmpl, struct sd_err *e)
{
	uint8_t *der = NULL, buf[512];
	size_t len = sizeof(buf);
	struct au_prepared *pr = NULL;
	int r = -1;

	switch (v) {
	case V_RAW_SIGN:
		return raw_sign(s->key, NID_sha256, hash, 32, buf, &len);
	case V_VERIFY_FRESH:
		return au_sig_ok(X509_get0_pubkey(s->cert), EVP_sha256(), hash, 32, sig, siglen)
			   ? 0
			   : -1;
	case V_VERIFY_DUP:
		return au_sig_ok_prepared(tmpl, hash, 32, sig, siglen) ? 0 : -1;
	case V_MODEXP:
		return BN_bin2bn(sig, (int)siglen, s->s) != NULL &&
			       BN_mod_exp_mont(s->m, s->s, s->e, s->n, s->bn, s->mont) == 1 &&
			       BN_bn2binpad(s->m, buf, (int)siglen) == (int)siglen
			   ? 0
			   : -1;
	case V_REF_MEMO:
		r = au_build_reference(&s->fixed, &der, &len, e);
		break;
	case V_BUILD_MEMO:
		r = au_build(&s->fixed, &der, &len, e);
		break;
	case V_PREP_MEMO:
		r = au_build_prepared(s->pr, &s->fixed, &der, &len, e);
		break;
	case V_PREP_BARE:
		r = au_build_prepared(s->pr, &s->bare, &der, &len, e);
		break;
	case V_REF_REAL:
		r = au_build_reference(&s->now, &der, &len, e);
		break;
	case V_BUILD_REAL:
		r = au_build(&s->now, &der, &len, e);
		break;
	case V_PREP_REAL:
		r = au_build_prepared(s->pr, &s->now, &der, &len, e);
		break;
	case V_PREPARE:
		r = au_prepare(s->cert, s->chain, &pr, e);
		au_prepared_free(pr);
		return r;
	case V_COUNT:
		break;
	}
	OPENSSL_free(der);
	return r;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Two threads at once, as signerd's workers call the builder: both share
 * one au_prepared (and one verify template); each has its own memo signer.
 */
struct mt {
	struct setup *s;
	const EVP_PKEY_CTX *tmpl;
	const uint8_t *hash, *sig;
	size_t siglen;
	long calls;
	int build; /* 0: the self-check verify alone, 1: au_build_prepared */
	pthread_barrier_t *go;
	struct signer memo;
	struct au_sign_params params;
	double us; /* this thread's CPU per call */
	int failed;
};

static void *mt_main(void *arg)
{
	struct mt *m = arg;
	struct sd_err e = {0};
	uint8_t *der = NULL;
	size_t len;
	double start;

	/* one unmeasured call: the memo signer makes its signature here */
	if (m->build && au_build_prepared(m->s->pr, &m->params, &der, &len, &e) != 0)
		m->failed = 1;
	OPENSSL_free(der);
	pthread_barrier_wait(m->go);
	start = now_us();
	for (long i = 0; i < m->calls && !m->failed; i++) {
		if (!m->build) {
			m->failed = !au_sig_ok_prepared(m->tmpl, m->hash, 32, m->sig, m->siglen);
			continue;
		}
		m->failed = au_build_prepared(m->s->pr, &m->params, &der, &len, &e) != 0;
		OPENSSL_free(der);
	}
	m->us = (now_us() - start) / (double)m->calls;
	return NULL;
}

/* Median over the rounds of the two threads' mean CPU per call, for verify and build. */
static int two_threads(struct setup *s, const EVP_PKEY_CTX *tmpl, const uint8_t *hash,
		       const uint8_t *sig, size_t siglen, long calls, long rounds, double med[2])
{
	static double t[2][MAX_ROUNDS];
	struct mt m[2];
	pthread_t th[2];
	pthread_barrier_t go;
	int ok = 1;

	for (long r = 0; r < rounds && ok; r++)
		for (int build = 0; build < 2 && ok; build++) {
			pthread_barrier_init(&go, NULL, 2);
			for (int i = 0; i < 2; i++) {
				m[i] = (struct mt){.s = s,
						   .tmpl = tmpl,
						   .hash = hash,
						   .sig = sig,
						   .siglen = siglen,
						   .calls = calls,
						   .build = build,
						   .go = &go,
						   .memo = s->memo,
						   .params = s->bare};
				m[i].memo.siglen = 0;
				m[i].params.sign_ctx = &m[i].memo;
			}
			for (int i = 0; i < 2; i++)
				if (pthread_create(&th[i], NULL, mt_main, &m[i]) != 0)
					return -1; /* the barrier would wait for ever: give up */
			for (int i = 0; i < 2; i++)
				pthread_join(th[i], NULL);
			pthread_barrier_destroy(&go);
			ok = !m[0].failed && !m[1].failed;
			t[build][r] = (m[0].us + m[1].us) / 2;
		}
	if (!ok)
		return -1;
	for (int b = 0; b < 2; b++) {
		qsort(t[b], (size_t)rounds, sizeof(double), cmp_double);
		med[b] = t[b][rounds / 2];
	}
	return 0;
}

int main(int argc, char **argv)
{
	long calls = argc > 1 ? strtol(argv[1], NULL, 10) : 300;
	long rounds = argc > 2 ? strtol(argv[2], NULL, 10) : 41;
	static double t[V_COUNT][MAX_ROUNDS], d[4][MAX_ROUNDS];
	double med[V_COUNT], start, mt[2];
	uint8_t hash[32], sig[512];
	size_t siglen = sizeof(sig);
	EVP_PKEY_CTX *tmpl = NULL;
	struct setup s;
	struct sd_err e = {0};
	int ret = 1;

	if (calls < 1 || rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: %s [calls per round (>0) [rounds (1..%d)]]\n", argv[0],
			MAX_ROUNDS);
		return 2;
	}
	if (setup(&s, &e) != 0) {
		fprintf(stderr, "au_bench: %s\n", e.msg);
		goto out;
	}
	memset(hash, 0x11, sizeof(hash));
	tmpl = au_verify_ctx_new(X509_get0_pubkey(s.cert), EVP_sha256());
	if (tmpl == NULL || raw_sign(s.key, NID_sha256, hash, sizeof(hash), sig, &siglen) != 0) {
		fprintf(stderr, "au_bench: cannot set up the verify variants\n");
		goto out;
	}
	for (long r = 0; r < rounds; r++)
		for (int v = 0; v < V_COUNT; v++) {
			/* the real signer is 10-20x slower: fewer calls, same precision */
			long n = v == V_RAW_SIGN || v >= V_REF_REAL ? (calls + 9) / 10 : calls;

			if (run_one(&s, (enum variant)v, hash, sig, siglen, tmpl, &e) != 0) {
				fprintf(stderr, "au_bench: %s failed: %s\n", names[v], e.msg);
				goto out;
			}
			start = now_us();
			for (long i = 0; i < n; i++)
				if (run_one(&s, (enum variant)v, hash, sig, siglen, tmpl, &e) !=
				    0) {
					fprintf(stderr, "au_bench: %s failed: %s\n", names[v],
						e.msg);
					goto out;
				}
			t[v][r] = (now_us() - start) / (double)n;
		}
	/* builder without its self-check, paired inside each round */
	for (long r = 0; r < rounds; r++) {
		d[0][r] = t[V_REF_MEMO][r] - t[V_VERIFY_FRESH][r];
		d[1][r] = t[V_PREP_MEMO][r] - t[V_VERIFY_DUP][r];
		d[2][r] = t[V_PREP_BARE][r] - t[V_VERIFY_DUP][r];
		d[3][r] = t[V_VERIFY_DUP][r] - t[V_MODEXP][r];
	}
	for (int i = 0; i < 4; i++)
		qsort(d[i], (size_t)rounds, sizeof(double), cmp_double);
	for (int v = 0; v < V_COUNT; v++) {
		qsort(t[v], (size_t)rounds, sizeof(double), cmp_double);
		med[v] = t[v][rounds / 2];
	}
	if (two_threads(&s, tmpl, hash, sig, siglen, calls, rounds, mt) != 0) {
		fprintf(stderr, "au_bench: the two-thread variants failed\n");
		goto out;
	}
	printf("au_bench: RSA-2048, SHA-256, leaf + 1 CA certificate, program and URL set "
	       "unless said;\n%ld calls per round (real signer: %ld), %ld rounds; median of round "
	       "means (min..max),\nmicroseconds of this thread's CPU per call\n\n",
	       calls, (calls + 9) / 10, rounds);
	for (int v = 0; v < V_COUNT; v++)
		printf("  %-56s %9.2f  (%.2f..%.2f)\n", names[v], med[v], t[v][0],
		       t[v][rounds - 1]);
	printf("\n  builder cost with the real signer, minus the raw signer time:\n");
	printf("    %-54s %9.2f\n", "au_build_reference", med[V_REF_REAL] - med[V_RAW_SIGN]);
	printf("    %-54s %9.2f\n", "au_build", med[V_BUILD_REAL] - med[V_RAW_SIGN]);
	printf("    %-54s %9.2f\n", "au_build_prepared", med[V_PREP_REAL] - med[V_RAW_SIGN]);
	printf("\n  memo signer, builder without its self-check (minus the verify line of the "
	       "same round;\n  median [quartiles] over the rounds):\n");
	printf("    %-54s %9.2f  [%.2f..%.2f]\n", "au_build_reference", d[0][rounds / 2],
	       d[0][rounds / 4], d[0][3 * rounds / 4]);
	printf("    %-54s %9.2f  [%.2f..%.2f]\n", "au_build_prepared", d[1][rounds / 2],
	       d[1][rounds / 4], d[1][3 * rounds / 4]);
	printf("    %-54s %9.2f  [%.2f..%.2f]\n", "au_build_prepared, no program/URL",
	       d[2][rounds / 2], d[2][rounds / 4], d[2][3 * rounds / 4]);
	printf("    %-54s %9.2f  [%.2f..%.2f]\n", "self-check verify beyond s^e mod n",
	       d[3][rounds / 2], d[3][rounds / 4], d[3][3 * rounds / 4]);
	printf("\n  two threads at once (as signerd's workers), per call and thread:\n");
	printf("    %-54s %9.2f\n", "self-check verify, EVP_PKEY_CTX_dup of one template", mt[0]);
	printf("    %-54s %9.2f\n", "au_build_prepared, one au_prepared, no program/URL", mt[1]);
	ret = 0;
out:
	EVP_PKEY_CTX_free(tmpl);
	teardown(&s);
	return ret;
}
