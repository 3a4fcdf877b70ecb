/*
 * The raw PKCS#11 signing rate: threads that each hold one session and call
 * C_SignInit + C_Sign (CKM_RSA_PKCS over a SHA-256 DigestInfo) back to back,
 * straight through the module's function list. This is the ceiling signerd
 * is measured against.
 */
#include "bench/bench.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <openssl/rsa.h>

/* DER DigestInfo prefix for SHA-256 (RFC 8017, section 9.2, note 1). */
static const uint8_t sha256_prefix[19] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
					  0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
					  0x01, 0x05, 0x00, 0x04, 0x20};

#define HASH_LEN 32
#define TBS_LEN	 (sizeof(sha256_prefix) + HASH_LEN)
#define LAT_CAP	 (1u << 18)

struct raw_thread {
	const struct bench_raw_cfg *c;
	CK_SESSION_HANDLE s;
	int64_t t_go, t_start, t_end; /* warm-up from t_go; counted in [t_start, t_end) */
	uint64_t count;		      /* in the window */
	uint64_t total;		      /* warm-up included, for CPU per operation */
	struct bench_lat lat;
	CK_RV rv;
	const char *failed_call;
	uint8_t tbs[TBS_LEN];
	uint8_t sig[1024];
	CK_ULONG siglen;
	pthread_t th;
	int running;
};

static void *raw_thread_main(void *arg)
{
	struct raw_thread *t = arg;
	struct p11_key *k = t->c->key;
	CK_FUNCTION_LIST_PTR f = k->tok->mod->f;
	CK_MECHANISM mech = {CKM_RSA_PKCS, NULL, 0};
	uint8_t *hash = t->tbs + sizeof(sha256_prefix);
	uint64_t i;
	int64_t a, b;
	CK_RV rv;

	memcpy(t->tbs, sha256_prefix, sizeof(sha256_prefix));
	if (RAND_bytes(hash, HASH_LEN) != 1)
		memset(hash, 0x5a, HASH_LEN);
	bench_sleep_until(t->t_go);
	for (i = 0;; i++) {
		a = bench_now_ns();
		if (a >= t->t_end)
			break;
		memcpy(hash, &i, sizeof(i)); /* a different "document" each time */
		rv = f->C_SignInit(t->s, &mech, k->priv);
		if (rv != CKR_OK) {
			t->failed_call = "C_SignInit";
			t->rv = rv;
			break;
		}
		t->siglen = sizeof(t->sig);
		rv = f->C_Sign(t->s, t->tbs, TBS_LEN, t->sig, &t->siglen);
		if (rv != CKR_OK) {
			t->failed_call = "C_Sign";
			t->rv = rv;
			break;
		}
		b = bench_now_ns();
		t->total++;
		if (b >= t->t_start && b < t->t_end) {
			t->count++;
			bench_lat_add(&t->lat, b - a);
		}
		if (t->c->gap_us > 0)
			bench_sleep_until(b + (int64_t)t->c->gap_us * 1000);
	}
	return NULL;
}

/* The last signature a thread made must verify with the key's public half. */
static int check_last(const struct raw_thread *t, struct sd_err *e)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(t->c->key->pub, NULL);
	int ok;

	ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
	     EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
	     EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
	     EVP_PKEY_verify(ctx, t->sig, t->siglen, t->tbs + sizeof(sha256_prefix), HASH_LEN) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (!ok)
		return sd_err_set(e, SD_E_INTERNAL,
				  "a raw C_Sign result does not verify with the key's public key");
	return 0;
}

int bench_raw_run(const struct bench_raw_cfg *c, struct bench_result *r, struct sd_err *e)
{
	struct raw_thread *ts = NULL;
	struct bench_lat all = {0};
	struct bench_acct acct;
	int64_t t0;
	uint64_t total = 0;
	unsigned i;
	int ret = -1;

	memset(r, 0, sizeof(*r));
	if (c->key->type != CKK_RSA)
		return sd_err_set(e, SD_E_UNKNOWN_KEY, "key \"%s\" is not an RSA key",
				  c->key->label);
	if (c->key->always_auth)
		return sd_err_set(e, SD_E_UNKNOWN_KEY,
				  "key \"%s\" has CKA_ALWAYS_AUTHENTICATE; the raw benchmark does "
				  "not log in per signature",
				  c->key->label);
	if (c->nthreads == 0 || c->nthreads > c->key->tok->nsess)
		return sd_err_set(e, SD_E_INTERNAL, "%u threads need as many sessions (have %u)",
				  c->nthreads, c->key->tok->nsess);
	ts = calloc(c->nthreads, sizeof(*ts));
	if (ts == NULL || bench_lat_init(&all, LAT_CAP, e) != 0) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	/* 100 ms (or lead_s) for the threads to start */
	t0 = bench_now_ns() + (int64_t)((c->lead_s > 0 ? c->lead_s : 0.1) * 1e9);
	for (i = 0; i < c->nthreads; i++) {
		ts[i].c = c;
		ts[i].s = p11_session_get(c->key->tok);
		ts[i].t_go = t0;
		ts[i].t_start = t0 + (int64_t)(c->warmup_s * 1e9);
		ts[i].t_end = ts[i].t_start + (int64_t)(c->seconds * 1e9);
		if (bench_lat_init(&ts[i].lat, LAT_CAP, e) != 0)
			goto out;
	}
	bench_acct_start(&acct, 0);
	for (i = 0; i < c->nthreads; i++) {
		if (pthread_create(&ts[i].th, NULL, raw_thread_main, &ts[i]) != 0) {
			sd_err_set(e, SD_E_INTERNAL, "pthread_create failed");
			goto out;
		}
		ts[i].running = 1;
	}
	for (i = 0; i < c->nthreads; i++) {
		pthread_join(ts[i].th, NULL);
		ts[i].running = 0;
		total += ts[i].total;
	}
	bench_acct_end(&acct, total, r);
	for (i = 0; i < c->nthreads; i++) {
		if (ts[i].failed_call != NULL) {
			sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "%s: %s", ts[i].failed_call,
				   p11_rv_name(ts[i].rv));
			goto out;
		}
		if (check_last(&ts[i], e) != 0)
			goto out;
		r->count += ts[i].count;
		bench_lat_merge(&all, &ts[i].lat);
	}
	r->seconds = c->seconds;
	r->rate = (double)r->count / c->seconds;
	if (c->collect != NULL)
		bench_lat_merge(c->collect, &all);
	r->p50_us = (double)bench_lat_quantile(&all, 0.50) / 1e3;
	r->p99_us = (double)bench_lat_quantile(&all, 0.99) / 1e3;
	ret = 0;
out:
	for (i = 0; ts != NULL && i < c->nthreads; i++) {
		if (ts[i].running)
			pthread_join(ts[i].th, NULL);
		if (ts[i].s != CK_INVALID_HANDLE)
			p11_session_put(c->key->tok, ts[i].s);
		bench_lat_free(&ts[i].lat);
	}
	free(ts);
	bench_lat_free(&all);
	return ret;
}
