/* Small helpers shared by the integration test clients. */
#ifndef SD_TESTNET_H
#define SD_TESTNET_H

#include <stddef.h>
#include <stdint.h>

#include "authenticode/authenticode.h"

/* Connect to a Unix stream socket; -1 on failure. */
int dial(const char *path);
/* Send all n bytes (MSG_NOSIGNAL); -1 on failure. */
int send_all(int fd, const void *p, size_t n);
/* One answer, in request order: the digest its request carried and the frame. */
typedef void (*answer_fn)(void *arg, const uint8_t digest[32], uint8_t type, const uint8_t *body,
			  size_t len);

/*
 * Pipeline `requests` SIGN_CAB requests (sha256, random digests, the default
 * key) on a new connection to sock, at most `window` in flight, and hand
 * each answer to answer(arg, ...). Returns how many answers came: fewer than
 * requests when the connection failed.
 */
int sign_cab_pipeline(const char *sock, int requests, int window, answer_fn answer, void *arg);

/*
 * Whether an answer is a SIGNATURE holding a CAB signature over exactly
 * digest d (sha256): 1 with info filled in, else 0. au_info_clear(info)
 * either way.
 */
int answer_signs(const uint8_t d[32], uint8_t type, const uint8_t *body, size_t len,
		 struct au_info *info);

/* An ERROR answer's code and message (msg may be NULL); 0 for anything else. */
uint32_t answer_error(uint8_t type, const uint8_t *body, size_t len, char *msg, size_t msgsz);

/* VmRSS of pid in KiB, or -1. */
long rss_kib(long pid);

#endif
