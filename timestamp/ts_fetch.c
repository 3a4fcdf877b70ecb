/* Failover over the configured TSAs: in order, then more rounds with backoff. */
#include "timestamp/ts.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#define TS_MAX_URLS 16

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
			      .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int default_post(void *ctx, const char *url, const uint8_t *req, size_t reqlen,
			uint64_t timeout_ms, uint8_t **resp, size_t *resplen, struct sd_err *e)
{
	(void)ctx;
	return ts_http_post(url, req, reqlen, timeout_ms, resp, resplen, e);
}

/* One attempt at one TSA. */
static int attempt(const struct ts_params *p, const char *url, const struct ts_query *q,
		   const uint8_t *req, size_t reqlen, struct ts_token *t, struct sd_err *e)
{
	uint8_t *resp = NULL;
	size_t resplen = 0;
	int ret;

	ret = (p->post != NULL ? p->post : default_post)(p->post_ctx, url, req, reqlen,
							 p->timeout_ms, &resp, &resplen, e);
	if (ret == 0)
		ret = ts_response_check(q, resp, resplen, p->ca, t, e);
	OPENSSL_free(resp);
	if (ret == 0)
		ts_url_shown(url, t->tsa, sizeof(t->tsa));
	return ret;
}

int ts_fetch(const struct ts_params *p, const uint8_t *sig, size_t siglen, struct ts_token *t,
	     struct sd_err *e)
{
	struct sd_err last[TS_MAX_URLS];
	struct ts_query q;
	uint8_t *req = NULL;
	size_t reqlen = 0, i, n, nurls = p->nurls < TS_MAX_URLS ? p->nurls : TS_MAX_URLS;
	unsigned round, attempts = 0;
	char shown[TS_URL_SHOWN_MAX], msg[sizeof(e->msg)];
	int ret = -1;

	memset(t, 0, sizeof(*t));
	if (nurls == 0)
		return sd_err_set(e, SD_E_TIMESTAMP_FAILED, "no TSA URL is configured");
	if (ts_query_init(&q, p->md, sig, siglen, e) != 0 ||
	    ts_query_encode(&q, &req, &reqlen, e) != 0)
		return -1;
	for (round = 0; round <= p->retries; round++) {
		if (round > 0 && p->backoff_ms > 0)
			sleep_ms(p->backoff_ms << (round - 1 < 3 ? round - 1 : 3));
		for (i = 0; i < nurls; i++) {
			attempts++;
			memset(&last[i], 0, sizeof(last[i]));
			if (attempt(p, p->urls[i], &q, req, reqlen, t, &last[i]) == 0) {
				ret = 0;
				goto out;
			}
			if (last[i].code == SD_E_INTERNAL) { /* ours, not the TSA's */
				*e = last[i];
				goto out;
			}
		}
	}
	n = (size_t)snprintf(msg, sizeof(msg), "no timestamp after %u attempt%s:", attempts,
			     attempts == 1 ? "" : "s");
	for (i = 0; i < nurls && n < sizeof(msg); i++) {
		ts_url_shown(p->urls[i], shown, sizeof(shown));
		n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s TSA %s: %s", i ? ";" : "",
				      shown, last[i].msg);
	}
	sd_err_set(e, SD_E_TIMESTAMP_FAILED, "%s", msg);
out:
	OPENSSL_cleanse(&q, sizeof(q));
	OPENSSL_free(req);
	return ret;
}
