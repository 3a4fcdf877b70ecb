/*
 * CRL revocation (ARCHITECTURE.md "Revocation semantics"). The configured
 * CRL files are authoritative: each evaluation reads them afresh, and a CRL
 * that is unreadable, stale, not yet valid, wrongly signed, from an issuer
 * with no cRLSign, or older (lower CRL number) than one accepted before is
 * rejected; the keys it covers become CRL-unavailable. There is no fallback.
 */
#ifndef SD_REVOCATION_H
#define SD_REVOCATION_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "common/err.h"

enum sd_rev_status {
	SD_REV_NOT_APPLICABLE = 0, /* self-signed: cannot be revoked */
	SD_REV_GOOD = 1,
	SD_REV_REVOKED = 2,
	SD_REV_UNAVAILABLE = 3,
};

const char *sd_rev_name(enum sd_rev_status s); /* "good", "revoked", ... */

/* Highest CRL number accepted per issuer, kept for the daemon's lifetime. */
struct sd_crl_floor {
	unsigned char issuer_hash[32]; /* SHA-256 of the issuer name DER + key */
	BIGNUM *number;
};

struct sd_crl_floors {
	struct sd_crl_floor *v;
	size_t n;
};

void sd_crl_floors_free(struct sd_crl_floors *f);

/* CRLs read from the configured files, each with its verdict. */
struct sd_crl_set;

/*
 * Read every file (DER or PEM, one or more CRLs each). Never fails as a
 * whole: a file that cannot be read is recorded as a rejected entry.
 */
struct sd_crl_set *sd_crl_set_load(char *const *files, size_t nfiles);
/* The same from memory (name is used in messages); for tests and fuzzing. */
struct sd_crl_set *sd_crl_set_from_mem(const uint8_t *data, size_t len, const char *name);
void sd_crl_set_free(struct sd_crl_set *cs);
/*
 * Add the CRLs in the file at path, named name in messages (a CDP cache
 * file is named after its URL). -1, adding nothing, when it holds none.
 */
int sd_crl_set_add_file(struct sd_crl_set *cs, const char *path, const char *name);
/* The same from memory. */
int sd_crl_set_add_mem(struct sd_crl_set *cs, const uint8_t *data, size_t len, const char *name);

/*
 * Vet a CRL downloaded from a distribution point before it replaces the
 * cached one: exactly one CRL, from issuer (name and signature, cRLSign),
 * thisUpdate <= now < nextUpdate, not a delta CRL, a CRL number not below
 * the issuer's floor nor below the cached CRL's (cached may be NULL). The
 * same rules sd_rev_check applies later; nothing is raised here. 0 when
 * acceptable (*next_update gets its nextUpdate), else -1 with why in msg.
 */
int sd_crl_vet(const uint8_t *data, size_t len, const char *name, X509 *issuer,
	       const struct sd_crl_floors *floors, const uint8_t *cached, size_t cachedlen,
	       time_t now, char *msg, size_t msgsz, time_t *next_update);

/* The certificate in chain that issued x (name and signature), or NULL. */
X509 *sd_rev_find_issuer(X509 *x, STACK_OF(X509) * chain);
/* Whether x is self-signed (name and signature). */
int sd_rev_self_signed(X509 *x);

struct sd_rev_result {
	enum sd_rev_status status;
	char msg[400];	    /* why: serial, reason and date when revoked */
	time_t next_update; /* earliest nextUpdate among the CRLs used; 0 if none */
};

/*
 * Decide the status of leaf, whose issuers are in chain, at time now. The
 * leaf's issuer must have a valid CRL; an intermediate is checked when a CRL
 * for its issuer is configured. Accepted CRL numbers raise the floors.
 */
void sd_rev_check(struct sd_crl_set *cs, struct sd_crl_floors *floors, X509 *leaf,
		  STACK_OF(X509) * chain, time_t now, struct sd_rev_result *r);

/*
 * Verify leaf up to a self-signed root in chain (dates are not checked here:
 * they are checked at every signature). Fails with the verifier's reason.
 */
int sd_chain_verify(X509 *leaf, STACK_OF(X509) * chain, struct sd_err *e);

#endif
