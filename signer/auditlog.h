/* The daemon's audit trail (signer/audit.h is the log itself). */
#ifndef SD_AUDITLOG_H
#define SD_AUDITLOG_H

#include "signer/audit.h"
#include "signer/signer.h"

/* Open audit.path when configured (no-op otherwise). */
int sd_auditlog_start(struct signer *s, const struct cfg *cfg, struct sd_err *e);
/* Checkpoints are signed with ks's audit.checkpoint_key, else its default key. */
void sd_auditlog_set_generation(struct signer *s, struct sd_keyset *ks);
/*
 * Record one SIGN_CAB or SIGN_SCRIPT (subject; result 0 = signed, else the
 * wire code; tok: the timestamp it carries, may be NULL or empty) and wait
 * until it is durable. req and k may be NULL when the request could not be
 * decoded or named no known key. Fails with AUDIT_UNAVAILABLE: then nothing
 * may be signed. In a thread that called sd_auditlog_defer with a ticket,
 * the record is only queued: the ticket says what the reply must wait for.
 */
int sd_auditlog_sign(struct signer *s, const struct sd_peer *peer, enum au_subject subject,
		     const struct sd_sign_req *req, const struct sd_key *k, uint32_t result,
		     const char *msg, const struct ts_token *tok, struct sd_err *e);

/*
 * Deferred durability, for the server's workers: what one request's reply
 * waits for. set is 0 when the request wrote no record (audit off).
 */
struct sd_audit_ticket {
	uint64_t log; /* which opened log (several over the daemon's life) */
	uint64_t seq;
	int set;
};

/*
 * t != NULL: until the next call with NULL, records that this thread writes
 * through sd_auditlog_sign are queued without waiting, and t names the last
 * one. The caller then must not send the reply before sd_auditlog_wait
 * returned 0 or sd_auditlog_state returned 1 for t. Without an audit log, t
 * stays unset.
 */
void sd_auditlog_defer(struct signer *s, struct sd_audit_ticket *t);
/* Wait until t is durable (leading the commit if no one writes): 0, or -1 AUDIT_UNAVAILABLE. */
int sd_auditlog_wait(struct signer *s, const struct sd_audit_ticket *t, struct sd_err *e);
/* Without waiting: 1 durable, 0 not yet, -1 never (the log failed before t was durable). */
int sd_auditlog_state(struct signer *s, const struct sd_audit_ticket *t);
/*
 * fn(ctx) runs after every commit or failure of the log (and of any log
 * reopened later), from whichever thread committed, with the log's lock
 * held: it must not block. NULL: none; once this returns, fn is not running.
 */
void sd_auditlog_set_notify(struct signer *s, void (*fn)(void *ctx), void *ctx);
/* SIGHUP: rotate, or reopen a log that failed. */
void sd_auditlog_sighup(struct signer *s, const struct cfg *cfg);
/* Final checkpoint and close, before the keys are freed. */
void sd_auditlog_stop(struct signer *s);

#endif
