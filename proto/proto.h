/*
 * signerd wire protocol v1: framing and message codecs shared by the daemon
 * and the client. docs/PROTOCOL.md is the normative description.
 *
 * Frame: u32 length (big-endian, counts type + body, 1..SD_FRAME_MAX)
 *        | u8 type | body.
 */
#ifndef SD_PROTO_H
#define SD_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define SD_PROTO_VERSION 1
#define SD_FRAME_MAX	 65536u /* cap on the length field */

#define SD_KEYNAME_MAX 128 /* buffer sizes including the NUL */
#define SD_ALGNAME_MAX 16
#define SD_PROGRAM_MAX 256
#define SD_URL_MAX     1024
#define SD_DIGEST_MAX  64
#define SD_SERVER_MAX  256 /* HELLO_OK server string, including the NUL */
#define SD_ERRMSG_MAX  512 /* ERROR message, including the NUL (= sizeof sd_err.msg) */
#define SD_CERTS_MAX   16  /* certificates a client accepts in one CERT */

enum sd_msg_type {
	SD_MSG_HELLO = 0x01,
	SD_MSG_HELLO_OK = 0x02,
	SD_MSG_SIGN_CAB = 0x10,
	SD_MSG_SIGNATURE = 0x11,
	SD_MSG_GET_CERT = 0x12,
	SD_MSG_CERT = 0x13,
	SD_MSG_LIST_KEYS = 0x14,
	SD_MSG_KEYS = 0x15,
	SD_MSG_STATUS = 0x16,
	SD_MSG_STATUS_OK = 0x17,
	/* 0x20-0x2f: script signing */
	SD_MSG_SIGN_SCRIPT = 0x20, /* as SIGN_CAB, for a PowerShell script digest */
	/* 0x40-0x4f: the admin channel, accepted only on the admin socket */
	SD_MSG_ADMIN_FREEZE = 0x40, /* empty: refuse every signature (FROZEN) */
	SD_MSG_ADMIN_THAW = 0x41,   /* empty: sign again */
	SD_MSG_ADMIN_RETIRE = 0x42, /* string key: refuse to sign with it until restart */
	SD_MSG_ADMIN_RELOAD = 0x43, /* empty: as SIGHUP */
	SD_MSG_ADMIN_OK = 0x4f,	    /* string text */
	SD_MSG_ERROR = 0x7f,
};

/*
 * Look for one complete frame at the start of buf[avail].
 * Returns 1 with *type, *body, *bodylen and *consumed set when a whole frame
 * is there, 0 when more bytes are needed, -1 when the length field is 0 or
 * above SD_FRAME_MAX (checked as soon as 4 bytes are in, before any
 * allocation: the connection cannot be resynchronised).
 */
int proto_frame_peek(const uint8_t *buf, size_t avail, uint8_t *type, const uint8_t **body,
		     size_t *bodylen, size_t *consumed);

/* Start a frame of type in w (writes a length placeholder); returns its offset. */
size_t proto_frame_begin(struct wbuf *w, uint8_t type);
/* Patch the length of the frame begun at off; fails the wbuf if > SD_FRAME_MAX. */
void proto_frame_end(struct wbuf *w, size_t off);

struct sd_sign_req {
	char key[SD_KEYNAME_MAX];	 /* "" = default key */
	char digest_alg[SD_ALGNAME_MAX]; /* "sha256", ... */
	const uint8_t *digest;		 /* borrowed from the frame */
	size_t digest_len;		 /* not checked against the algorithm here */
	char program[SD_PROGRAM_MAX];	 /* "" = absent */
	char url[SD_URL_MAX];		 /* "" = absent */
};

struct sd_key_info {
	char name[SD_KEYNAME_MAX];
	uint8_t is_default;
	char state[16];		  /* "active" | "retired" */
	char subject[512];	  /* RFC 2253 one-line */
	char serial[128];	  /* upper-case hex */
	char sha1[41];		  /* lower-case hex thumbprint of the DER certificate */
	char not_after[32];	  /* "YYYY-MM-DDTHH:MM:SSZ" */
	char revocation[32];	  /* "good" | "revoked" | "crl-unavailable" | "not-applicable" */
	char crl_next_update[32]; /* timestamp or "" */
};

/*
 * Encoders append one whole frame to w. Decoders take the body of a frame
 * of the matching type and fail with SD_E_BAD_REQUEST and a precise message
 * when a field is missing, too long, holds a NUL, or bytes are left over
 * (exception: a SIGN_CAB digest over SD_DIGEST_MAX bytes is
 * SD_E_BAD_DIGEST_LENGTH). An encoder given a field that would not decode
 * (a string as long as its buffer size, a digest over SD_DIGEST_MAX) fails
 * the wbuf, as does a frame over SD_FRAME_MAX.
 */
void proto_enc_hello(struct wbuf *w, uint32_t version);
int proto_dec_hello(const uint8_t *body, size_t len, uint32_t *version, struct sd_err *e);
void proto_enc_hello_ok(struct wbuf *w, uint32_t version, const char *server);
int proto_dec_hello_ok(const uint8_t *body, size_t len, uint32_t *version, char *server,
		       size_t serversz, struct sd_err *e);

void proto_enc_sign_cab(struct wbuf *w, const struct sd_sign_req *r);
int proto_dec_sign_cab(const uint8_t *body, size_t len, struct sd_sign_req *r, struct sd_err *e);
/* SIGN_SCRIPT: the body of SIGN_CAB, for a script's Authenticode digest. */
void proto_enc_sign_script(struct wbuf *w, const struct sd_sign_req *r);
int proto_dec_sign_script(const uint8_t *body, size_t len, struct sd_sign_req *r, struct sd_err *e);
void proto_enc_signature(struct wbuf *w, const uint8_t *p7, size_t len);
int proto_dec_signature(const uint8_t *body, size_t len, const uint8_t **p7, size_t *p7len,
			struct sd_err *e);

void proto_enc_get_cert(struct wbuf *w, const char *key);
int proto_dec_get_cert(const uint8_t *body, size_t len, char *key, size_t keysz, struct sd_err *e);
/* CERT: u32 count, then count blobs of DER (leaf first, then chain). */
void proto_enc_cert(struct wbuf *w, const uint8_t *const *ders, const size_t *lens, size_t count);
/* Borrowed pointers into body; at most max entries. */
int proto_dec_cert(const uint8_t *body, size_t len, const uint8_t **ders, size_t *lens, size_t max,
		   size_t *count, struct sd_err *e);

void proto_enc_list_keys(struct wbuf *w);
void proto_enc_keys(struct wbuf *w, const struct sd_key_info *keys, size_t n);
/* *keys is calloc'd. */
int proto_dec_keys(const uint8_t *body, size_t len, struct sd_key_info **keys, size_t *n,
		   struct sd_err *e);

void proto_enc_status(struct wbuf *w);
void proto_enc_status_ok(struct wbuf *w, const char *text);
/* *text is malloc'd. */
int proto_dec_status_ok(const uint8_t *body, size_t len, char **text, struct sd_err *e);

/* The message is cut to SD_ERRMSG_MAX - 1 bytes (on a UTF-8 boundary). */
/* Admin requests: empty bodies except RETIRE (key name). ADMIN_OK carries a text. */
void proto_enc_admin(struct wbuf *w, uint8_t type, const char *key);
int proto_dec_admin_retire(const uint8_t *body, size_t len, char *key, size_t keysz,
			   struct sd_err *e);
void proto_enc_admin_ok(struct wbuf *w, const char *text);
/* *text is malloc'd. */
int proto_dec_admin_ok(const uint8_t *body, size_t len, char **text, struct sd_err *e);

void proto_enc_error(struct wbuf *w, uint32_t code, const char *msg);
int proto_dec_error(const uint8_t *body, size_t len, uint32_t *code, char *msg, size_t msgsz,
		    struct sd_err *e);

/* Empty-body messages (LIST_KEYS, STATUS) must have no body. */
int proto_dec_empty(const uint8_t *body, size_t len, struct sd_err *e);

/* Stable upper-case name of a message type ("SIGN_CAB"), "UNKNOWN" otherwise. */
const char *proto_msg_name(uint8_t type);

#endif
