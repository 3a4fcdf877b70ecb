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
 * A record's place: which log and seq. For the server's workers also what
 * one request's reply waits for (deferred durability). set is 0 when no
 * record was written (audit off).
 */
struct sd_audit_ticket {
	uint64_t log; /* which opened log (several over the daemon's life) */
	uint64_t seq;
	int set;
	int urgent; /* set by the caller: nothing else is queued, so no later commit would cover an
		       ahead record soon */
};

/* What one audit record of a signing request says. */
struct sd_auditlog_event {
	const struct sd_peer *peer;
	enum au_subject subject;
	const struct sd_sign_req *req; /* NULL: the request could not be decoded */
	const struct sd_key *k;	       /* NULL: it named no known key */
	uint32_t result;	       /* 0 = signed, else the wire code */
	const char *msg;	       /* why it was refused */
	const struct ts_token *tok;    /* the timestamp the signature carries; may be NULL */
	uint64_t voids;		       /* != 0: a "void" record withdrawing record voids */
	int ahead;		       /* written before the token signs (see handler.c) */
};

/*
 * Record one SIGN_CAB or SIGN_SCRIPT and wait until it is durable; *where
 * (may be NULL): which log and seq it went to (set is 0 when the log is off). Fails with
 * AUDIT_UNAVAILABLE: then nothing may be signed. In a thread that called
 * sd_auditlog_defer with a ticket, the record is only queued: the ticket says
 * what the reply must wait for, and an ahead record of an urgent ticket is
 * committed at once by the log's writer thread.
 */
int sd_auditlog_sign(struct signer *s, const struct sd_auditlog_event *ev,
		     struct sd_audit_ticket *where, struct sd_err *e);

/*
 * May a "void" record name the record at where? Only when that record is in
 * the open log, or durable in the one closed since: a reopened log hands out
 * the seqs of records that never became durable again.
 */
int sd_auditlog_voidable(struct signer *s, const struct sd_audit_ticket *where);

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
/*
 * Without waiting, also not for a reopen or rotation in progress (then 0):
 * 1 durable, 0 not yet, -1 never (the log failed before t was durable).
 */
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
