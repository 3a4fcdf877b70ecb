/* Internal to the audit log (signer/audit*.c): formatting the record bodies. */
#ifndef SD_AUDIT_INT_H
#define SD_AUDIT_INT_H

#include "common/audit_fmt.h"
#include "common/buf.h"
#include "signer/audit.h"

/*
 * A request record's body: everything after the head ({"seq":..,"time":..,
 * "prev":".."), from ,"type": to the closing brace. Fails (SD_E_INTERNAL)
 * on an event name that is not [a-z_]+ or a reserved type.
 */
int sd_audit_fmt_request(struct wbuf *w, const struct sd_audit_rec *r, struct sd_err *e);

/*
 * w holds a head; append a checkpoint body: type, key, cert, then sign
 * SHA-256 of everything so far with s, check the signature with s->cert,
 * and append ,"sig":"..."}.
 */
int sd_audit_fmt_checkpoint(struct wbuf *w, const struct sd_audit_signer *s, struct sd_err *e);

/* A rotate record's body naming the previous file. */
void sd_audit_fmt_rotate(struct wbuf *w, const char *prev_file, const char *reason);

#endif
