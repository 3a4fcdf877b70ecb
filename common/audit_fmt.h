/*
 * The audit log's line format (docs/AUDIT.md), shared by the daemon's writer
 * (signer/audit.c) and the offline verifier (signer audit): strict JSON
 * string escaping, timestamps, the line hash, and a strict parser that
 * checks each record's fixed field order.
 */
#ifndef SD_AUDIT_FMT_H
#define SD_AUDIT_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "common/buf.h"
#include "common/err.h"

/* Longest line (bytes, without its newline) written or accepted. */
#define SD_AUDIT_MAX_LINE 32768
/* Longest checkpoint certificate (DER bytes). */
#define SD_AUDIT_MAX_CERT 16384
/* Longest checkpoint signature (bytes). */
#define SD_AUDIT_MAX_SIG    1024
#define SD_AUDIT_MAX_FIELDS 24

/* Caps on string fields, in input bytes before escaping ("..." marks a cut). */
#define SD_AUDIT_CAP_EVENT   32
#define SD_AUDIT_CAP_EXE     512
#define SD_AUDIT_CAP_KEY     128
#define SD_AUDIT_CAP_SERIAL  128
#define SD_AUDIT_CAP_SHA1    64
#define SD_AUDIT_CAP_SUBJECT 16
#define SD_AUDIT_CAP_ALG     32
#define SD_AUDIT_CAP_PROGRAM 512
#define SD_AUDIT_CAP_MESSAGE 512
#define SD_AUDIT_CAP_FILE    255
#define SD_AUDIT_CAP_TSA     128
#define SD_AUDIT_CAP_DIGEST  64 /* digest bytes recorded */

/* The prev of the first record of a brand-new log. */
#define SD_AUDIT_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/*
 * Append s as a JSON string (with its quotes): '"' and '\' are
 * backslash-escaped, bytes below 0x20 and 0x7f become \u00XX, valid UTF-8
 * is kept, and every byte of an invalid UTF-8 sequence becomes \ufffd. At
 * most max input bytes are written, cut at a character boundary, and a cut
 * string ends with "...". NULL is written as "".
 */
void sd_audit_put_str(struct wbuf *w, const char *s, size_t max);

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 characters + NUL). */
void sd_audit_fmt_time(const struct timespec *ts, char out[32]);

/*
 * Milliseconds since the epoch of an RFC 3339 time ("2026-01-02T03:04:05Z",
 * optional fraction, Z or +HH:MM/-HH:MM) or a date ("2026-01-02" = midnight
 * UTC). strict: only the record format "YYYY-MM-DDTHH:MM:SS.mmmZ".
 */
int sd_audit_parse_time(const char *s, size_t n, int strict, int64_t *ms);

/* Lower-case hex SHA-256 of the line's bytes (without its newline). */
void sd_audit_hash_hex(const void *line, size_t len, char out[65]);

enum sd_audit_kind {
	SD_AJ_STR = 1,
	SD_AJ_NUM,
	SD_AJ_BOOL,
};

struct sd_audit_field {
	const char *name; /* points into the line; not NUL-terminated */
	size_t name_len;
	const char *val; /* string: the bytes between the quotes, still escaped */
	size_t val_len;
	enum sd_audit_kind kind;
	uint64_t num; /* SD_AJ_NUM */
	int b;	      /* SD_AJ_BOOL */
};

enum sd_audit_type {
	SD_AUDIT_REQUEST = 1, /* "sign" (and later request events) */
	SD_AUDIT_CHECKPOINT,
	SD_AUDIT_ROTATE,
};

/* One parsed line. Borrows the line's bytes. */
struct sd_audit_line {
	const char *line;
	size_t len;
	enum sd_audit_type type;
	uint64_t seq;
	int64_t time_ms;
	char prev[65];
	size_t nf;
	struct sd_audit_field f[SD_AUDIT_MAX_FIELDS];
};

/*
 * Parse one line strictly: a flat JSON object with no whitespace outside
 * strings, the fields of its type in the documented order and kinds, seq,
 * time and prev well formed. Errors (SD_E_BAD_REQUEST) say what is wrong.
 */
int sd_audit_parse(const char *line, size_t len, struct sd_audit_line *l, struct sd_err *e);

/* The field called name, or NULL. */
const struct sd_audit_field *sd_audit_get(const struct sd_audit_line *l, const char *name);

/*
 * The decoded (unescaped, UTF-8) value of string field name into out.
 * Fails when absent, not a string, or longer than outsz-1.
 */
int sd_audit_get_str(const struct sd_audit_line *l, const char *name, char *out, size_t outsz);

/* Decode a JSON string body (without quotes); -1 on a bad escape, \u0000 or overflow. */
int sd_audit_unescape(const char *v, size_t n, char *out, size_t outsz);

/* Base64 (standard alphabet, padded, no newlines) of n bytes appended to w. */
void sd_audit_put_b64(struct wbuf *w, const uint8_t *p, size_t n);

/*
 * Check a checkpoint signature: RSASSA-PKCS1-v1_5 or ECDSA (DER) over the
 * 32-byte SHA-256 hash, with cert's public key. 0 when it verifies.
 */
int sd_audit_sig_check(X509 *cert, const uint8_t hash[32], const uint8_t *sig, size_t siglen,
		       struct sd_err *e);

/*
 * Verify a parsed checkpoint line: its certificate, and its signature over
 * SHA-256 of the line's bytes before ,"sig": (the signed prefix). On
 * success *cert (when not NULL) receives the certificate (X509_free it).
 */
int sd_audit_cp_verify(const struct sd_audit_line *l, X509 **cert, struct sd_err *e);

/*
 * Length of the valid UTF-8 sequence at p (n >= 1 bytes left), or 0 when it is
 * not valid (overlongs, surrogates and code points above U+10FFFF refused).
 * Shared by the writer and the parser so both apply the same rules.
 */
size_t sd_audit_utf8_len(const unsigned char *p, size_t n);

#endif
