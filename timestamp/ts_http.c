/* The HTTP transport to a TSA: one POST (common/http.c), bounded in time and size. */
#include "timestamp/ts.h"

#include <string.h>

#include "common/http.h"

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
	static const char *const headers[] = {
	    "Content-Type: application/timestamp-query",
	    "Accept: application/timestamp-reply",
	    "Expect:", /* no 100-continue round trip */
	    NULL,
	};
	struct sd_http_req r = {
	    .url = url,
	    .headers = headers,
	    .body = req,
	    .body_len = reqlen,
	    .max = TS_RESPONSE_MAX,
	    .timeout_ms = timeout_ms,
	    .user_agent = "signerd/" SIGNERD_VERSION,
	    .code = SD_E_TIMESTAMP_FAILED,
	};

	return sd_http_do(&r, resp, resplen, e);
}
