/* Error codes shared by the daemon, the client and the wire protocol. */
#ifndef SD_ERR_H
#define SD_ERR_H

#include <stddef.h>
#include <stdint.h>

/*
 * Wire error codes (docs/PROTOCOL.md). Numbers are stable once published;
 * new codes are appended.
 */
enum sd_code {
	SD_OK = 0,
	SD_E_BAD_REQUEST = 1,
	SD_E_UNSUPPORTED_VERSION = 2,
	SD_E_UNKNOWN_KEY = 3,
	SD_E_KEY_RETIRED = 4,
	SD_E_UNSUPPORTED_DIGEST = 5,
	SD_E_BAD_DIGEST_LENGTH = 6,
	SD_E_NOT_AUTHORIZED = 7,
	SD_E_CERT_NOT_YET_VALID = 8,
	SD_E_CERT_EXPIRED = 9,
	SD_E_CERT_EXPIRES_SOON = 10,
	SD_E_CERT_REVOKED = 11,
	SD_E_CRL_UNAVAILABLE = 12,
	SD_E_TIMESTAMP_FAILED = 13,
	SD_E_AUDIT_UNAVAILABLE = 14,
	SD_E_TOKEN_UNAVAILABLE = 15,
	SD_E_RATE_LIMITED = 16,
	SD_E_BUSY = 17,
	SD_E_FROZEN = 18,
	SD_E_INTERNAL = 19,
	SD_E_MAX_
};

/* Stable upper-case name of a wire code ("BAD_REQUEST"), "UNKNOWN" if out of range. */
const char *sd_code_name(uint32_t code);

/*
 * An error with its cause. Functions return 0 on success or -1 after filling
 * the sd_err they were given (which may be NULL when the caller does not care).
 * Messages never contain secrets.
 */
struct sd_err {
	uint32_t code;
	char msg[512];
};

int sd_err_set(struct sd_err *e, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix e->msg with formatted context ("key \"x\": " + old message); returns -1. */
int sd_err_prefix(struct sd_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append the first OpenSSL error queue entry to e->msg and clear the queue. */
int sd_err_openssl(struct sd_err *e, uint32_t code, const char *what);

#endif
