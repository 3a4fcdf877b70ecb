/* One HTTP request through libcurl, bounded in time and size. */
#include "common/http.h"

#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

struct sink {
	uint8_t *p;
	size_t len, cap, max;
	int too_big, oom;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	size_t n = size * nmemb, ncap;
	uint8_t *np;

	if (n > s->max - s->len) {
		s->too_big = 1;
		return 0; /* abort the transfer */
	}
	if (s->len + n > s->cap) {
		ncap = s->cap ? s->cap : 16384;
		while (ncap < s->len + n)
			ncap *= 2;
		if (ncap > s->max)
			ncap = s->max;
		np = OPENSSL_realloc(s->p, ncap);
		if (np == NULL) {
			s->oom = 1;
			return 0;
		}
		s->p = np;
		s->cap = ncap;
	}
	memcpy(s->p + s->len, ptr, n);
	s->len += n;
	return n;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const atomic_int *cancel = ud;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return cancel != NULL && atomic_load(cancel) ? 1 : 0;
}

int sd_http_do(const struct sd_http_req *r, uint8_t **resp, size_t *resplen, struct sd_err *e)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdr = NULL, *h;
	struct sink sink = {0};
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode rc;
	size_t i;
	int ret = -1;

	*resp = NULL;
	*resplen = 0;
	sink.max = r->max;
	if (c == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	for (i = 0; r->headers != NULL && r->headers[i] != NULL; i++) {
		h = curl_slist_append(hdr, r->headers[i]);
		if (h == NULL) {
			sd_err_set(e, SD_E_INTERNAL, "out of memory");
			goto out;
		}
		hdr = h;
	}
	if (curl_easy_setopt(c, CURLOPT_URL, r->url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)r->timeout_ms) != CURLE_OK ||
	    (hdr != NULL && curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr) != CURLE_OK) ||
	    (r->body != NULL &&
	     (curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)r->body) != CURLE_OK ||
	      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)r->body_len) != CURLE_OK)) ||
	    (r->user_agent != NULL &&
	     curl_easy_setopt(c, CURLOPT_USERAGENT, r->user_agent) != CURLE_OK) ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink) != CURLE_OK ||
	    (r->cancel != NULL &&
	     (curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress) != CURLE_OK ||
	      curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)r->cancel) != CURLE_OK ||
	      curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) != CURLE_OK)) ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK) {
		sd_err_set(e, SD_E_INTERNAL, "cannot set up the HTTP request");
		goto out;
	}
	rc = curl_easy_perform(c);
	if (sink.too_big) {
		sd_err_set(e, r->code, "reply larger than %zu bytes", r->max);
		goto out;
	}
	if (sink.oom) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		sd_err_set(e, r->code, "cancelled (shutting down)");
		goto out;
	}
	if (rc != CURLE_OK) {
		sd_err_set(e, r->code, "%s", errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		sd_err_set(e, r->code, "HTTP status %ld", status);
		goto out;
	}
	if (sink.p == NULL && (sink.p = OPENSSL_malloc(1)) == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	*resp = sink.p;
	*resplen = sink.len;
	sink.p = NULL;
	ret = 0;
out:
	OPENSSL_free(sink.p);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return ret;
}
