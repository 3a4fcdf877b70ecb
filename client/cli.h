/* Helpers shared by the signer subcommands (messages, socket, certificates, output). */
#ifndef SD_CLIENT_CLI_H
#define SD_CLIENT_CLI_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "client/signer-client.h"

#define CLI_OK	  0
#define CLI_FAIL  1
#define CLI_USAGE 2

/* Default bound on each wait for signerd, in milliseconds. */
#define CLI_TIMEOUT_MS 120000

/* "signer: " + message + newline on stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print a client-library error as "signer: [prefix: ]CODE: message". */
void cli_err_signer(const char *prefix, const struct signer_error *e);

/* The socket: opt (--socket), else $SIGNERD_SOCKET, else the default path. */
const char *cli_socket_path(const char *opt);

/* Connect (with CLI_TIMEOUT_MS) or print why not and return NULL. */
struct signer_client *cli_connect(const char *socket_opt);

/* "sha256" -> EVP_sha256() ...; NULL for anything else. */
const EVP_MD *cli_md(const char *name);

/*
 * GET_CERT for key: the leaf and (when chain is not NULL) the chain.
 * Prints why on failure.
 */
int cli_get_cert(struct signer_client *c, const char *key, X509 **leaf, STACK_OF(X509) * *chain);

/* Write data to path atomically (fsync'd), or to stdout when path is NULL or "-". */
int cli_write_output(const char *path, const void *data, size_t len, int mode);

#endif
