/*
 * revocation.fetch_cdp: CRLs downloaded from the CRL Distribution Points of
 * each key's certificate (and of its intermediates), in a thread of their
 * own, and kept in revocation.cache_dir. A downloaded CRL replaces the
 * cached one only when it passes the acceptance rules (sd_crl_vet); the
 * cached files are then read at every refresh like any configured CRL, so
 * sd_rev_check judges them again and a stale one makes its keys
 * CRL-unavailable.
 */
#ifndef SD_CDP_H
#define SD_CDP_H

#include "common/err.h"

#define SD_CDP_MAX_SIZE (10 * 1024 * 1024) /* a larger CRL download is refused */

struct signer;
struct sd_keyset;
struct sd_crl_set;

/* Add the cached CRL of every distribution point of ks's keys to cs (fetch_cdp only). */
void sd_cdp_add_cached(struct sd_keyset *ks, struct sd_crl_set *cs);

/*
 * Download every distribution point of ks's keys once, vet each CRL and
 * cache it. check (`signerd --check`): print each URL and its result on
 * stdout, write nothing, and add to check what the daemon would use: the
 * accepted download, else the cached CRL. announce: also log the URIs that
 * are skipped (not http or https). Blocks up to revocation.fetch_timeout per
 * URL. Returns how many distribution points got a new CRL cached.
 */
int sd_cdp_fetch_round(struct signer *s, struct sd_keyset *ks, struct sd_crl_set *check,
		       int announce);

/*
 * The fetch thread: a round at start, after every kick (reload) and every
 * revocation.refresh while the current generation has fetch_cdp set; a
 * round that cached a new CRL is followed by sd_revocation_refresh (the
 * loop's periodic refresh reads the cache anyway). Start with signals blocked.
 */
int sd_cdp_start(struct signer *s, struct sd_err *e);
void sd_cdp_kick(struct signer *s);
/* Stop and join the thread (a transfer under way is aborted); no-op when not started. */
void sd_cdp_stop(struct signer *s);

#endif
