/*
 * RFC 3161 timestamping of Authenticode signatures (AUTHENTICODE-CAB.md
 * section 5): the request, the checks on the response, the HTTP transport
 * (libcurl) and the failover over the configured TSAs.
 */
#ifndef SD_TS_H
#define SD_TS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/err.h"

#define TS_NONCE_LEN	 8
#define TS_RESPONSE_MAX	 32768 /* larger replies are refused (the reply frame is 64 KiB) */
#define TS_URL_SHOWN_MAX 128   /* a URL as it appears in messages (userinfo removed) */

/* What the request asks for: the imprint and the nonce. */
struct ts_query {
	const EVP_MD *md;		  /* timestamp.hash */
	uint8_t imprint[EVP_MAX_MD_SIZE]; /* md(SignerInfo signature value) */
	size_t imprint_len;
	uint8_t nonce[TS_NONCE_LEN]; /* positive: the top bit is clear */
};

/* A checked timestamp token. */
struct ts_token {
	uint8_t *der; /* TimeStampToken (ContentInfo signedData), OPENSSL_malloc'd */
	size_t len;
	time_t gen_time;
	char gen_time_text[32]; /* genTime as 2026-11-23T15:49:55Z */
	char tsa[TS_URL_SHOWN_MAX];
	int trusted; /* the TSA certificate was verified against timestamp.ca */
};

void ts_token_clear(struct ts_token *t);

/*
 * Fill q for the signature value sig[siglen]: imprint = md(sig), a fresh
 * random nonce. Errors: SD_E_INTERNAL.
 */
int ts_query_init(struct ts_query *q, const EVP_MD *md, const uint8_t *sig, size_t siglen,
		  struct sd_err *e);

/* DER TimeStampReq { v1, imprint, nonce, certReq TRUE }; *der is OPENSSL_malloc'd. */
int ts_query_encode(const struct ts_query *q, uint8_t **der, size_t *len, struct sd_err *e);

/*
 * Check a DER TimeStampResp against q: exactly one DER object, status granted
 * (or grantedWithMods), a token whose TSTInfo nonce and messageImprint
 * (algorithm and hash) are q's, and a signature that verifies: against ca
 * (chain, timeStamping purpose, ESSCertID) when ca is not NULL, else with
 * the certificate inside the token (integrity only; t->trusted = 0).
 * On success t->der/len/gen_time/gen_time_text/trusted are set.
 * Errors: SD_E_TIMESTAMP_FAILED with what failed.
 */
int ts_response_check(const struct ts_query *q, const uint8_t *resp, size_t len, X509_STORE *ca,
		      struct ts_token *t, struct sd_err *e);

/*
 * Check a TimeStampToken found in a signature (the client's verify-cab):
 * its messageImprint is the hash, with the token's own algorithm (SHA-256 or
 * stronger), of the signature value sig[siglen], and its signature verifies
 * as in ts_response_check (against ca when not NULL, whose verification
 * time is set to the token's genTime: a TSA certificate that expired since
 * still verifies, as on Windows). Sets gen_time,
 * gen_time_text and trusted; t->der stays NULL. Errors: SD_E_TIMESTAMP_FAILED.
 */
int ts_token_verify(const uint8_t *der, size_t len, const uint8_t *sig, size_t siglen,
		    X509_STORE *ca, struct ts_token *t, struct sd_err *e);

/*
 * POST req to url (http or https only) as application/timestamp-query, with
 * a total timeout; *resp (OPENSSL_malloc'd) gets a 200 reply body of at most
 * TS_RESPONSE_MAX bytes. Errors: SD_E_TIMESTAMP_FAILED naming the cause
 * (not the URL: the caller adds it).
 */
int ts_http_post(const char *url, const uint8_t *req, size_t reqlen, uint64_t timeout_ms,
		 uint8_t **resp, size_t *resplen, struct sd_err *e);

/* url without any user:password@ part, cut to TS_URL_SHOWN_MAX - 1 bytes. */
void ts_url_shown(const char *url, char *out, size_t outsz);

struct ts_params {
	const char *const *urls; /* tried in this order */
	size_t nurls;
	uint64_t timeout_ms; /* per attempt */
	unsigned retries;    /* further rounds over all URLs after the first */
	uint64_t backoff_ms; /* sleep before round r: backoff_ms << (r - 1), at most 8x */
	const EVP_MD *md;
	X509_STORE *ca; /* may be NULL */
	/* Transport, replaceable by tests and fuzzers; NULL = ts_http_post. */
	int (*post)(void *ctx, const char *url, const uint8_t *req, size_t reqlen,
		    uint64_t timeout_ms, uint8_t **resp, size_t *resplen, struct sd_err *e);
	void *post_ctx;
};

/*
 * Timestamp the signature value sig[siglen]: try each URL in order, then
 * again for p->retries more rounds with backoff, until one returns a token
 * that passes ts_response_check. On failure e (SD_E_TIMESTAMP_FAILED) names
 * each TSA with its last failure.
 */
int ts_fetch(const struct ts_params *p, const uint8_t *sig, size_t siglen, struct ts_token *t,
	     struct sd_err *e);

#endif
