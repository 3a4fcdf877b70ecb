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

/* ---- token: slot, login, session pool ---- */
struct p11_token {
	struct p11_module *mod;
	CK_SLOT_ID slot;
	char label[33];
	struct p11_secret *pin; /* kept for context-specific login; may be NULL */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	CK_SESSION_HANDLE *sess;
	uint8_t *busy;
	unsigned nsess;
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
CK_SESSION_HANDLE p11_session_get(struct p11_token *t);
void p11_session_put(struct p11_token *t, CK_SESSION_HANDLE s);

/* ---- keys ---- */
struct p11_key {
	struct p11_token *tok;
	CK_OBJECT_HANDLE priv;
	CK_KEY_TYPE type; /* CKK_RSA or CKK_EC */
	int always_auth;
	uint8_t id[128];
	size_t id_len;
	char label[129];
	EVP_PKEY *pub; /* public half read from the token */
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

/* Enumerate private keys on the token (callback per key). */
typedef void (*p11_key_cb)(void *ctx, struct p11_key *k);
int p11_key_list(struct p11_token *t, p11_key_cb cb, void *ctx, struct sd_err *e);

#endif
