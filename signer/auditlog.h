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
 * may be signed.
 */
int sd_auditlog_sign(struct signer *s, const struct sd_peer *peer, enum au_subject subject,
		     const struct sd_sign_req *req, const struct sd_key *k, uint32_t result,
		     const char *msg, const struct ts_token *tok, struct sd_err *e);
/* SIGHUP: rotate, or reopen a log that failed. */
void sd_auditlog_sighup(struct signer *s, const struct cfg *cfg);
/* Final checkpoint and close, before the keys are freed. */
void sd_auditlog_stop(struct signer *s);

#endif
