/*
 * libsigner-client: a small C client for signerd's Unix-socket protocol
 * (docs/PROTOCOL.md). Self-contained: include this header only.
 *
 * Every function returns 0 on success or -1 after filling *err (which may
 * be NULL). When the server answered with an ERROR frame, err->from_server
 * is 1 and err->code is the wire code (SIGNER_E_BAD_REQUEST ...); other
 * failures (connect, I/O, a malformed or oversize response) use the local
 * codes SIGNER_E_IO, SIGNER_E_PROTOCOL and SIGNER_E_USAGE. After an I/O or
 * protocol failure the connection is unusable; only signer_close remains.
 *
 * A connection is not thread-safe: use one per thread.
 */
#ifndef SIGNER_CLIENT_H
#define SIGNER_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SIGNER_CLIENT_DEFAULT_SOCKET "/run/signerd/signerd.sock"

/* Wire error codes (stable, docs/PROTOCOL.md section 6). */
enum signer_code {
	SIGNER_OK = 0,
	SIGNER_E_BAD_REQUEST = 1,
	SIGNER_E_UNSUPPORTED_VERSION = 2,
	SIGNER_E_UNKNOWN_KEY = 3,
	SIGNER_E_KEY_RETIRED = 4,
	SIGNER_E_UNSUPPORTED_DIGEST = 5,
	SIGNER_E_BAD_DIGEST_LENGTH = 6,
	SIGNER_E_NOT_AUTHORIZED = 7,
	SIGNER_E_CERT_NOT_YET_VALID = 8,
	SIGNER_E_CERT_EXPIRED = 9,
	SIGNER_E_CERT_EXPIRES_SOON = 10,
	SIGNER_E_CERT_REVOKED = 11,
	SIGNER_E_CRL_UNAVAILABLE = 12,
	SIGNER_E_TIMESTAMP_FAILED = 13,
	SIGNER_E_AUDIT_UNAVAILABLE = 14,
	SIGNER_E_TOKEN_UNAVAILABLE = 15,
	SIGNER_E_RATE_LIMITED = 16,
	SIGNER_E_BUSY = 17,
	SIGNER_E_FROZEN = 18,
	SIGNER_E_INTERNAL = 19,
	/* Local failures, never sent on the wire. */
	SIGNER_E_IO = 0x10000,	     /* connect, read or write failed; timeout; peer closed */
	SIGNER_E_PROTOCOL = 0x10001, /* malformed, oversize or unexpected response */
	SIGNER_E_USAGE = 0x10002,    /* bad argument or call sequence; out of memory */
};

struct signer_error {
	uint32_t code;	 /* enum signer_code */
	int from_server; /* 1: an ERROR frame from signerd */
	char message[512];
};

/* "UNKNOWN_KEY", "IO", ...; "UNKNOWN" for codes this library does not know. */
const char *signer_code_name(uint32_t code);

struct signer_client;

/* Connect to the Unix socket at path (NULL: SIGNER_CLIENT_DEFAULT_SOCKET). */
int signer_connect(const char *path, struct signer_client **c, struct signer_error *err);
void signer_close(struct signer_client *c);

/*
 * Bound every wait for the server to ms milliseconds (0 = wait forever, the
 * default). An expired wait fails with SIGNER_E_IO.
 */
void signer_set_timeout(struct signer_client *c, int ms);

/* HELLO: learn the protocol version and server string (server may be NULL). */
int signer_hello(struct signer_client *c, uint32_t *version, char *server, size_t serversz,
		 struct signer_error *err);

struct signer_sign_request {
	const char *key;	/* NULL or "" = the default key */
	const char *digest_alg; /* "sha256", "sha384", "sha512" or "sha1" */
	const uint8_t *digest;	/* the CAB's (or script's) Authenticode digest */
	size_t digest_len;
	const char *program; /* SpcSpOpusInfo program name; NULL = absent */
	const char *url;     /* SpcSpOpusInfo URL; NULL = absent */
};

/* Sign one digest; *p7 is the DER ContentInfo (free with signer_free). */
int signer_sign_cab(struct signer_client *c, const struct signer_sign_request *req, uint8_t **p7,
		    size_t *p7len, struct signer_error *err);

/*
 * Sign one PowerShell script digest (SIGN_SCRIPT; since 1.1): the same
 * request, answered with a SignedData whose data type is SPC_SIPINFO_OBJID.
 * The digest is the script's text as UTF-16LE (docs/PROTOCOL.md section 5.4).
 */
int signer_sign_script(struct signer_client *c, const struct signer_sign_request *req, uint8_t **p7,
		       size_t *p7len, struct signer_error *err);

/*
 * Pipelining: signer_send_sign_cab (or signer_send_sign_script) sends one
 * request without waiting;
 * signer_recv_signature returns the answer to the oldest request still
 * unanswered (responses come in request order). While sending, the library
 * keeps reading what the server has already answered, so any number of
 * requests may be outstanding without deadlock (a window of 64 is plenty).
 * A server ERROR for one request fails only that signer_recv_signature call.
 * The synchronous calls below refuse to run while requests are outstanding.
 */
int signer_send_sign_cab(struct signer_client *c, const struct signer_sign_request *req,
			 struct signer_error *err);
int signer_send_sign_script(struct signer_client *c, const struct signer_sign_request *req,
			    struct signer_error *err);
int signer_recv_signature(struct signer_client *c, uint8_t **p7, size_t *p7len,
			  struct signer_error *err);
/* Number of requests sent and not yet received. */
size_t signer_pending(const struct signer_client *c);

struct signer_blob {
	uint8_t *data;
	size_t len;
};

/*
 * GET_CERT: certs[0] is the key's certificate (DER), certs[1..] its chain.
 * Free with signer_free_blobs(certs, count).
 */
int signer_get_cert(struct signer_client *c, const char *key, struct signer_blob **certs,
		    size_t *count, struct signer_error *err);
void signer_free_blobs(struct signer_blob *b, size_t count);

struct signer_key {
	char name[128];
	int is_default;
	char state[16];		  /* "active" | "retired" */
	char subject[512];	  /* RFC 2253 */
	char serial[128];	  /* upper-case hex */
	char sha1[41];		  /* lower-case hex thumbprint */
	char not_after[32];	  /* YYYY-MM-DDTHH:MM:SSZ */
	char revocation[32];	  /* "good" | "revoked" | "crl-unavailable" | "not-applicable" */
	char crl_next_update[32]; /* or "" */
};

/* LIST_KEYS: *keys is an array of *n entries (free with signer_free). */
int signer_list_keys(struct signer_client *c, struct signer_key **keys, size_t *n,
		     struct signer_error *err);

/* STATUS: "name: value" lines (free with signer_free). */
int signer_status(struct signer_client *c, char **text, struct signer_error *err);

void signer_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
