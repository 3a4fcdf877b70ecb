/* The HTTP transport to a TSA: one POST through libcurl, bounded in time and size. */
#include "timestamp/ts.h"

#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

struct sink {
	uint8_t *p;
	size_t len;
	int too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	size_t n = size * nmemb;

	if (s->len + n > TS_RESPONSE_MAX) {
		s->too_big = 1;
		return 0; /* abort the transfer */
	}
	memcpy(s->p + s->len, ptr, n);
	s->len += n;
	return n;
}

void ts_url_shown(const char *url, char *out, size_t outsz)
{
	const char *scheme = strstr(url, "://");
	const char *host = scheme != NULL ? scheme + 3 : url;
	const char *at = NULL, *q;
	size_t cap = outsz < TS_URL_SHOWN_MAX ? outsz : TS_URL_SHOWN_MAX;
	size_t i, j = 0;

	/* user:password@ ends before the first '/' of the path. */
	for (q = host; *q != '\0' && *q != '/' && *q != '?' && *q != '#'; q++)
		if (*q == '@')
			at = q;
	if (cap == 0)
		return;
	for (i = 0; url[i] != '\0' && j + 1 < cap; i++) {
		if (at != NULL && url + i == host)
			i = (size_t)(at + 1 - url);
		if (url[i] == '\0')
			break;
		out[j++] = url[i] >= 0x20 && url[i] < 0x7f ? url[i] : '?';
	}
	out[j] = '\0';
}

int ts_http_post(const char *url, const uint8_t *req, size_t reqlen, uint64_t timeout_ms,
		 uint8_t **resp, size_t *resplen, struct sd_err *e)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdr = NULL, *h;
	struct sink sink = {0};
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode rc;
	int ret = -1;

	*resp = NULL;
	*resplen = 0;
	sink.p = OPENSSL_malloc(TS_RESPONSE_MAX);
	if (c == NULL || sink.p == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	h = curl_slist_append(NULL, "Content-Type: application/timestamp-query");
	hdr = h;
	if (h != NULL)
		h = curl_slist_append(hdr, "Accept: application/timestamp-reply");
	if (h != NULL)
		h = curl_slist_append(hdr, "Expect:"); /* no 100-continue round trip */
	if (h == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)req) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)reqlen) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT, "signerd/" SIGNERD_VERSION) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK) {
		sd_err_set(e, SD_E_INTERNAL, "cannot set up the HTTP request");
		goto out;
	}
	rc = curl_easy_perform(c);
	if (sink.too_big) {
		sd_err_set(e, SD_E_TIMESTAMP_FAILED, "reply larger than %d bytes", TS_RESPONSE_MAX);
		goto out;
	}
	if (rc != CURLE_OK) {
		sd_err_set(e, SD_E_TIMESTAMP_FAILED, "%s",
			   errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		sd_err_set(e, SD_E_TIMESTAMP_FAILED, "HTTP status %ld", status);
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
