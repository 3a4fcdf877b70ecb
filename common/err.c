#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

static const char *const code_names[SD_E_MAX_] = {
    [SD_OK] = "OK",
    [SD_E_BAD_REQUEST] = "BAD_REQUEST",
    [SD_E_UNSUPPORTED_VERSION] = "UNSUPPORTED_VERSION",
    [SD_E_UNKNOWN_KEY] = "UNKNOWN_KEY",
    [SD_E_KEY_RETIRED] = "KEY_RETIRED",
    [SD_E_UNSUPPORTED_DIGEST] = "UNSUPPORTED_DIGEST",
    [SD_E_BAD_DIGEST_LENGTH] = "BAD_DIGEST_LENGTH",
    [SD_E_NOT_AUTHORIZED] = "NOT_AUTHORIZED",
    [SD_E_CERT_NOT_YET_VALID] = "CERT_NOT_YET_VALID",
    [SD_E_CERT_EXPIRED] = "CERT_EXPIRED",
    [SD_E_CERT_EXPIRES_SOON] = "CERT_EXPIRES_SOON",
    [SD_E_CERT_REVOKED] = "CERT_REVOKED",
    [SD_E_CRL_UNAVAILABLE] = "CRL_UNAVAILABLE",
    [SD_E_TIMESTAMP_FAILED] = "TIMESTAMP_FAILED",
    [SD_E_AUDIT_UNAVAILABLE] = "AUDIT_UNAVAILABLE",
    [SD_E_TOKEN_UNAVAILABLE] = "TOKEN_UNAVAILABLE",
    [SD_E_RATE_LIMITED] = "RATE_LIMITED",
    [SD_E_BUSY] = "BUSY",
    [SD_E_FROZEN] = "FROZEN",
    [SD_E_INTERNAL] = "INTERNAL",
};

const char *sd_code_name(uint32_t code)
{
	if (code >= SD_E_MAX_ || code_names[code] == NULL)
		return "UNKNOWN";
	return code_names[code];
}

int sd_err_set(struct sd_err *e, uint32_t code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int sd_err_prefix(struct sd_err *e, const char *fmt, ...)
{
	char old[sizeof(e->msg)], pre[sizeof(e->msg)];
	size_t pl, ol;
	va_list ap;

	if (e == NULL)
		return -1;
	/* Never format a buffer into itself: copy the old message first. */
	memcpy(old, e->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	/* Prefix first; the old message fills what room is left. */
	pl = strnlen(pre, sizeof(e->msg) - 1);
	ol = strnlen(old, sizeof(e->msg) - 1 - pl);
	memcpy(e->msg, pre, pl);
	memcpy(e->msg + pl, old, ol);
	e->msg[pl + ol] = '\0';
	return -1;
}

int sd_err_openssl(struct sd_err *e, uint32_t code, const char *what)
{
	char buf[256];
	unsigned long l = ERR_peek_last_error();

	if (l != 0)
		ERR_error_string_n(l, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "no OpenSSL error recorded");
	ERR_clear_error();
	return sd_err_set(e, code, "%s: %s", what, buf);
}
