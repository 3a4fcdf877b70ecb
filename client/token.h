/* Shared plumbing for `signer token ...`: options, PIN, opening the token. */
#ifndef SD_CLIENT_TOKEN_H
#define SD_CLIENT_TOKEN_H

#include <stdio.h>

#include <openssl/x509.h>

#include "common/err.h"
#include "pkcs11/p11.h"

struct tok_opts {
	const char *module;
	const char *token;
	const char *config;
	const char *pin_file;
	const char *label;
	const char *type;
	const char *subject;
	const char *out;
	const char *pass_file;
	const char *so_pin_file;
	const char *chain_out;
	int years;
	int self_signed;
	int always_auth; /* keygen --always-authenticate */
	int pem;
	const char *arg; /* one positional argument (a file), if any */
};

struct tok_ctx {
	struct p11_module *mod;
	struct p11_token *tok;
};

/* Initialise a fresh token (signer token init). */
int tok_init(const struct tok_opts *o, struct sd_err *e);

/* Open the token named by the options, logged in, one rw session. */
int tok_open(const struct tok_opts *o, struct tok_ctx *t, struct sd_err *e);
void tok_close(struct tok_ctx *t);
/* The private key labelled o->label. */
int tok_key(struct tok_ctx *t, const char *label, struct p11_key **k, struct sd_err *e);

/* "CN=x,O=y" or "/CN=x/O=y" (backslash escapes the separator). */
int tok_parse_dn(const char *s, X509_NAME **out, struct sd_err *e);

/* Self-signed code-signing certificate for k, signed on the token. */
int tok_self_signed(struct p11_key *k, X509_NAME *dn, int years, X509 **out, struct sd_err *e);
/* PKCS#10 request for k, signed on the token. */
int tok_csr(struct p11_key *k, X509_NAME *dn, X509_REQ **out, struct sd_err *e);
/* Checks before storing a CA-issued certificate: key match and codeSigning EKU. */
int tok_check_codesign_cert(struct p11_key *k, X509 *x, struct sd_err *e);

/*
 * signer token import-pfx: o->arg (PKCS#12, at most 1 MiB) decrypted with
 * the first line of o->pass_file; its key goes onto the token as o->label
 * (sensitive, not extractable), its certificate with it, its CA certificates
 * as authority certificates and, with o->chain_out, into that PEM file.
 */
int tok_import_pfx(struct tok_ctx *t, const struct tok_opts *o, struct sd_err *e);

/* PEM-encode an X509 or X509_REQ and write it atomically. */
int tok_write_pem_cert(const char *path, X509 *x, struct sd_err *e);
int tok_write_pem_req(const char *path, X509_REQ *r, struct sd_err *e);
X509 *tok_read_cert(const char *path, struct sd_err *e);

#endif
