/*
 * A key's CA chain built from certificates held elsewhere (the token's CA
 * certificate objects), used when the key has no chain: file.
 */
#ifndef SD_CHAIN_H
#define SD_CHAIN_H

#include <stddef.h>

#include <openssl/x509.h>

#include "common/err.h"

/* The certificates whose subject is subject (an empty stack when none); -1 on failure. */
typedef int (*sd_certs_by_subject_fn)(void *ctx, const X509_NAME *subject, STACK_OF(X509) * *out,
				      struct sd_err *e);

struct sd_chain_result {
	STACK_OF(X509) * chain; /* issuer first, up to and including the root; NULL when empty */
	int complete;		/* the last certificate (or the leaf itself) is self-signed */
	char why[400];		/* when not complete: where and why the walk stopped */
};

/*
 * From leaf, repeatedly look up certificates whose subject is the current
 * certificate's issuer and take the one whose public key verifies the current
 * certificate's signature; stop at a self-signed certificate (included: the
 * root, as in a chain: file), when no issuer is found, or after max
 * certificates. Among several that verify, the one with the latest notAfter
 * wins, then the lowest by X509_cmp, so the result does not depend on the
 * order of the lookup. A certificate already in the chain (or the leaf) is
 * never taken again. A lookup failure fails the whole walk.
 */
int sd_chain_build(X509 *leaf, sd_certs_by_subject_fn find, void *ctx, size_t max,
		   struct sd_chain_result *r, struct sd_err *e);

#endif
