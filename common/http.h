/*
 * One bounded HTTP exchange through libcurl, shared by the timestamp client
 * (POST) and the CRL distribution point fetcher (GET): http and https only,
 * no redirects, a total timeout, a cap on the reply size, and only a 200
 * reply counts. Its own library (sd_http) so that sd_common needs no libcurl.
 * curl_global_init must have run before the first call (signerd's main).
 */
#ifndef SD_HTTP_H
#define SD_HTTP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct sd_http_req {
	const char *url;
	const char *const *headers; /* NULL-terminated extra headers; may be NULL */
	const uint8_t *body;	    /* not NULL: a POST of body[body_len]; else a GET */
	size_t body_len;
	size_t max;		  /* a larger reply body is refused */
	uint64_t timeout_ms;	  /* connect and total */
	const atomic_int *cancel; /* may be NULL; nonzero aborts the transfer */
	const char *user_agent;
	int code; /* the sd_err code of every failure but out of memory */
};

/*
 * Perform r; *resp (OPENSSL_malloc'd, free with OPENSSL_free) gets the body
 * of a 200 reply. Errors name the cause, not the URL (the caller adds it).
 */
int sd_http_do(const struct sd_http_req *r, uint8_t **resp, size_t *resplen, struct sd_err *e);

#endif
