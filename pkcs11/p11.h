/*
 * Everything that touches PKCS#11. signerd uses raw PKCS#11 (the module's
 * C_GetFunctionList) rather than libp11 0.4.12: it needs explicit key
 * attributes at generation, attribute reads for attestation, a session pool
 * sized by the config, context-specific login without a terminal prompt,
 * and no library printing to stderr. See docs/DESIGN.md.
 */
#ifndef SD_P11_H
#define SD_P11_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/err.h"

/* ---- RFC 7512 pkcs11: URI ---- */
struct p11_uri {
	char token[33];
	char manufacturer[33];
	char serial[17];
	char model[17];
	char object[129];
	uint8_t id[128];
	size_t id_len;
	int has_id;
	int has_slot_id;
	CK_SLOT_ID slot_id;
	long type; /* CKO_* or -1 */
};

int p11_uri_parse(const char *s, struct p11_uri *u, struct sd_err *e);

/* ---- secret buffer (mlock'd, MADV_DONTDUMP, wiped on free) ---- */
struct p11_secret {
	char *p; /* NUL-terminated */
	size_t len;
	size_t map_len;
	int locked; /* mlock succeeded (it may not under RLIMIT_MEMLOCK) */
};

/* Read a PIN from a file (first line, trailing newline/CR stripped). */
int p11_secret_from_file(const char *path, struct p11_secret **out, struct sd_err *e);
/* Read a PIN from an environment variable; the variable is wiped and unset. */
int p11_secret_from_env(const char *name, struct p11_secret **out, struct sd_err *e);
void p11_secret_free(struct p11_secret *s);

/* ---- module ---- */
struct p11_module {
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	char path[4096]; /* canonical */
};

/*
 * Canonicalise path, check it lies under one of allowed (directories, also
 * canonicalised; NULL/0 means no check), dlopen it and C_Initialize.
 */
int p11_module_load(const char *path, char *const *allowed, size_t nallowed,
		    struct p11_module **out, struct sd_err *e);
void p11_module_free(struct p11_module *m);
const char *p11_rv_name(CK_RV rv);

/* ---- token: slot, login, session pool, fault recovery ---- */

/* Where the token layer's messages go (priority as in syslog.h). */
typedef void (*p11_log_fn)(void *ctx, int prio, const char *msg);

struct p11_token {
	struct p11_module *mod;
	CK_SLOT_ID slot;
	char label[33];
	struct p11_secret *pin; /* kept for context-specific login and re-login; may be NULL */
	struct p11_uri uri;	/* to find the token again after a re-initialisation */
	int rw;
	pthread_mutex_t mu; /* guards sess, busy, why, recovery state */
	pthread_cond_t cv;
	CK_SESSION_HANDLE *sess;
	uint8_t *busy;
	unsigned nsess;
	/*
	 * Every PKCS#11 call on a pool session runs under life for reading;
	 * re-initialising the module takes it for writing, so no call ever
	 * uses a handle that a re-initialisation freed.
	 */
	pthread_rwlock_t life;
	atomic_int down;   /* 1: unusable, requests fail fast, recovery running */
	atomic_uint epoch; /* bumped by every successful re-initialisation */
	atomic_ulong recoveries;
	atomic_int
	    pin_refused; /* a context-specific login was refused: never offer the PIN again */
	char why[160];	 /* the fault that took it down */
	pthread_t recov;
	int recov_running, stopping;
	p11_log_fn log;
	void *log_ctx;
};

/* Exit status signerd uses for a wrong or locked PIN (RestartPreventExitStatus). */
#define P11_EXIT_BAD_PIN 3

/* Find the token matching uri (token/manufacturer/serial/model/slot-id). */
int p11_find_slot(struct p11_module *m, const struct p11_uri *u, CK_SLOT_ID *slot, char *label,
		  struct sd_err *e);

/*
 * Open nsess read-only (rw when rw) sessions and log in as user with pin (may
 * be NULL for tokens without login). Refuses without trying when the token
 * says the PIN is locked or on its final try; a wrong PIN fails with
 * e->code SD_E_NOT_AUTHORIZED and is never retried. Takes ownership of pin.
 */
int p11_token_open(struct p11_module *m, const struct p11_uri *u, struct p11_secret *pin,
		   unsigned nsess, int rw, struct p11_token **out, struct sd_err *e);
void p11_token_free(struct p11_token *t);
void p11_token_set_logger(struct p11_token *t, p11_log_fn fn, void *ctx);
/* "logged-in", or "down: <why>; reconnecting" (for STATUS). */
void p11_token_state(struct p11_token *t, char *out, size_t outsz);

/*
 * Take a free pool session (waiting for one) and hold the token's life lock
 * until p11_session_put. Returns CK_INVALID_HANDLE at once while the token
 * is down.
 */
CK_SESSION_HANDLE p11_session_get(struct p11_token *t);
void p11_session_put(struct p11_token *t, CK_SESSION_HANDLE s);
/* Replace a pool session the module says is invalid or closed (*s updated). */
int p11_session_reopen(struct p11_token *t, CK_SESSION_HANDLE *s);
/* Log in again after CKR_USER_NOT_LOGGED_IN (once per call site: never loops). */
CK_RV p11_relogin(struct p11_token *t, CK_SESSION_HANDLE s);
/*
 * A call failed with rv. Device, token and module faults take the token down
 * and start background re-initialisation with backoff; returns 1 then, 0 for
 * errors that do not concern the token as a whole.
 */
int p11_fault(struct p11_token *t, CK_RV rv, const char *what);

/* ---- keys ---- */
struct p11_key {
	struct p11_token *tok;
	CK_OBJECT_HANDLE priv;
	CK_KEY_TYPE type; /* CKK_RSA or CKK_EC */
	int always_auth;
	uint8_t id[128];
	size_t id_len;
	char label[129];
	EVP_PKEY *pub;	    /* public half read from the token */
	pthread_mutex_t mu; /* guards priv and epoch: handles change on re-initialisation */
	unsigned epoch;	    /* the token epoch priv was found in */
};

/* Find the private key matching uri (object label and/or id). */
int p11_key_find(struct p11_token *t, const struct p11_uri *u, struct p11_key **out,
		 struct sd_err *e);
void p11_key_free(struct p11_key *k);

/*
 * Sign hash (computed with md_nid) on the token. RSA: PKCS#1 v1.5 over the
 * DER DigestInfo; EC: ECDSA, returned DER-encoded. *siglen: capacity in, length out.
 */
int p11_key_sign(struct p11_key *k, int md_nid, const uint8_t *hash, size_t hashlen, uint8_t *sig,
		 size_t *siglen, struct sd_err *e);

/* Signs a random hash and verifies it with cert's public key. */
int p11_key_check_cert(struct p11_key *k, X509 *cert, struct sd_err *e);

/* The X.509 certificate object stored with the key's CKA_ID, or NULL (no error). */
int p11_key_read_cert(struct p11_key *k, X509 **out, struct sd_err *e);

/* ---- administration (rw session) ---- */
enum p11_keytype { P11_RSA2048, P11_RSA3072, P11_RSA4096, P11_ECP256 };
int p11_keytype_parse(const char *s, enum p11_keytype *t);

/*
 * Generate a key pair on the token: private key CKA_TOKEN, CKA_PRIVATE,
 * CKA_SENSITIVE, CKA_SIGN true; CKA_EXTRACTABLE, CKA_DECRYPT, CKA_UNWRAP,
 * CKA_DERIVE false. CKA_ID is random (16 bytes) and CKA_LABEL is label.
 * Refuses when a key with that label exists.
 */
int p11_keygen(struct p11_token *t, const char *label, enum p11_keytype type, struct p11_key **out,
	       struct sd_err *e);
/* P11_KEYGEN_ALWAYS_AUTH: CKA_ALWAYS_AUTHENTICATE (a PIN login before every signature). */
#define P11_KEYGEN_ALWAYS_AUTH 1u
int p11_keygen_ex(struct p11_token *t, const char *label, enum p11_keytype type, unsigned flags,
		  struct p11_key **out, struct sd_err *e);

/* 1 when a private key labelled label exists, 0 when not, -1 when the search failed. */
int p11_private_label_exists(struct p11_token *t, CK_SESSION_HANDLE s, const char *label);

/* Store cert as a CKO_CERTIFICATE with the key's CKA_ID and CKA_LABEL (replacing one there). */
int p11_store_cert(struct p11_key *k, X509 *cert, struct sd_err *e);

struct p11_attest {
	int sensitive, always_sensitive, extractable, never_extractable, local;
	int sign, decrypt, unwrap, derive, always_authenticate;
};
int p11_key_attest(struct p11_key *k, struct p11_attest *a, struct sd_err *e);

/* Sign a certificate or request built with the key's public key, on the token. */
int p11_sign_x509(struct p11_key *k, X509 *x, const EVP_MD *md, struct sd_err *e);
int p11_sign_x509_req(struct p11_key *k, X509_REQ *r, const EVP_MD *md, struct sd_err *e);

/*
 * Initialise the first uninitialised token with label, SO PIN and user PIN
 * (C_InitToken, then C_InitPIN as SO). Never touches an initialised token.
 */
int p11_init_token(struct p11_module *m, const char *label, const struct p11_secret *so_pin,
		   const struct p11_secret *user_pin, struct sd_err *e);

/* ---- import (rw session): keys made elsewhere, e.g. from a PFX ---- */

/*
 * Create pk (RSA 2048..4096 bits or EC P-256, with its private half) on the
 * token: a private key object with the attributes p11_keygen gives (CKA_TOKEN,
 * CKA_PRIVATE, CKA_SENSITIVE, CKA_SIGN true; CKA_EXTRACTABLE, CKA_DECRYPT,
 * CKA_UNWRAP, CKA_DERIVE false; random 16-byte CKA_ID; CKA_LABEL label) and
 * its public key object (CKA_VERIFY true, CKA_ENCRYPT, CKA_WRAP false).
 * The token marks it CKA_LOCAL false. Refuses when a private key with that
 * label exists. Copies of key components are wiped; on failure no object is
 * left. pk is set to uncompressed point format (EC).
 */
int p11_import_key(struct p11_token *t, const char *label, EVP_PKEY *pk, struct p11_key **out,
		   struct sd_err *e);

/*
 * Store a CA certificate: CKO_CERTIFICATE, CKA_CERTIFICATE_CATEGORY 2
 * (authority), labelled with its subject CN, no key. *h is the new object, or
 * CK_INVALID_HANDLE when the same certificate is already on the token.
 */
int p11_store_ca_cert(struct p11_token *t, X509 *cert, CK_OBJECT_HANDLE *h, struct sd_err *e);

/* Destroy every object with k's CKA_ID (both key halves, certificates): undoing an import. */
int p11_key_destroy(struct p11_key *k, struct sd_err *e);
/* Destroy one object (CK_INVALID_HANDLE: nothing). */
void p11_object_destroy(struct p11_token *t, CK_OBJECT_HANDLE h);

/* ---- certificate objects (CKO_CERTIFICATE, CKC_X_509) ---- */

#define P11_CERTS_BY_SUBJECT_MAX 16
/*
 * The certificates on the token whose CKA_SUBJECT is subject's DER and whose
 * CKA_VALUE decodes to exactly one certificate with that subject (others are
 * skipped), in the token's order. When none is found that way, every X.509
 * certificate object is read and those whose subject X509_NAME_cmp-matches
 * are taken (the name stored in another encoding). *out is an empty stack when
 * there are none. Fails when a search fails, more than P11_CERTS_BY_SUBJECT_MAX
 * objects match CKA_SUBJECT, or the token holds more than P11_CERT_LIST_MAX
 * certificates when all are read.
 */
int p11_certs_by_subject(struct p11_token *t, const X509_NAME *subject, STACK_OF(X509) * *out,
			 struct sd_err *e);

/* A certificate object that no private key on the token claims by CKA_ID. */
struct p11_cert_obj {
	char label[129];
	uint8_t id[128];
	size_t id_len; /* 0: no CKA_ID */
	X509 *cert;    /* NULL when CKA_VALUE is not one valid DER certificate */
};
#define P11_CERT_LIST_MAX 256
typedef void (*p11_cert_cb)(void *ctx, const struct p11_cert_obj *c);
/*
 * Call cb for each X.509 certificate object without a private key of the same
 * CKA_ID: CA certificates, e.g. those import-pfx stores. No session is held
 * across cb. Fails when the token holds more than P11_CERT_LIST_MAX certificates.
 */
int p11_ca_cert_list(struct p11_token *t, p11_cert_cb cb, void *ctx, struct sd_err *e);

/* Enumerate private keys on the token (callback per key). */
typedef void (*p11_key_cb)(void *ctx, struct p11_key *k);
int p11_key_list(struct p11_token *t, p11_key_cb cb, void *ctx, struct sd_err *e);

#endif
