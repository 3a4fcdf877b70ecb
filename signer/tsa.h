/* RFC 3161 timestamps in the daemon (timestamp/ts.h does the protocol). */
#ifndef SD_TSA_H
#define SD_TSA_H

#include "signer/signer.h"
#include "timestamp/ts.h"

/* Largest SignedData a SIGNATURE reply carries (the frame is at most 64 KiB). */
#define SD_SIGNATURE_MAX 65000u

/*
 * The trust anchors of timestamp.ca (NULL when not configured). Errors name
 * the file: an unreadable or empty file stops the start or the reload.
 */
int sd_tsa_load(const struct cfg *cfg, X509_STORE **out, struct sd_err *e);

/*
 * Timestamp the SignedData *p7 per k's policy (keys[].timestamp, else
 * timestamp.policy). off: nothing. On success *p7 is replaced by the
 * timestamped one and tok says which TSA and genTime (tok->der set).
 * required: every TSA failed -> -1 with TIMESTAMP_FAILED naming each;
 * optional: a warning is logged and *p7 is left untimestamped (returns 0,
 * tok->der NULL). signerd's own failures (SD_E_INTERNAL) refuse under
 * either policy. tok must be cleared with ts_token_clear.
 */
int sd_tsa_stamp(struct signer *s, struct sd_keyset *ks, const struct sd_key *k, uint8_t **p7,
		 size_t *p7len, struct ts_token *tok, struct sd_err *e);

#endif
