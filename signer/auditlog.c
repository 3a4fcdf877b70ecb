/*
 * The daemon's use of the audit log: a record per SIGN_CAB and SIGN_SCRIPT,
 * checkpoints by a token key.
 */
#include "signer/auditlog.h"

#include <stdio.h>
#include <string.h>

#include "common/file.h"
#include "timestamp/ts.h"

static void audit_warn(void *ctx, const char *msg)
{
	struct signer *s = ctx;

	LOG_W(&s->log, "audit: %s", msg);
}

/* Caller holds audit_lk for writing (or is single-threaded at startup). */
static int open_log(struct signer *s, const struct cfg *cfg, struct sd_err *e)
{
	if (sd_audit_open(cfg->audit.path, cfg->audit.max_size, cfg->audit.checkpoint_every,
			  &s->audit, e) != 0) {
		s->audit = NULL;
		return sd_err_prefix(e, "audit log %s: ", cfg->audit.path);
	}
	sd_audit_set_warn(s->audit, audit_warn, s);
	LOG_I(&s->log, "audit log %s", cfg->audit.path);
	return 0;
}

int sd_auditlog_start(struct signer *s, const struct cfg *cfg, struct sd_err *e)
{
	if (cfg->audit.path == NULL)
		return 0;
	/* From here on, no signature leaves without its record, even if the log is lost. */
	s->audit_on = 1;
	return open_log(s, cfg, e);
}

void sd_auditlog_set_generation(struct signer *s, struct sd_keyset *ks)
{
	struct sd_audit_signer as;
	struct sd_key *k = NULL;
	struct sd_keyset *old;

	if (s->audit == NULL || ks == NULL)
		return;
	/* A dedicated checkpoint key is recommended; the default key is the fallback. */
	if (ks->cfg->audit.checkpoint_key != NULL)
		k = sd_keyset_find(ks, ks->cfg->audit.checkpoint_key);
	if (k == NULL)
		k = ks->def;
	pthread_rwlock_rdlock(&s->audit_lk);
	if (s->audit == NULL) {
		pthread_rwlock_unlock(&s->audit_lk);
		return;
	}
	memset(&as, 0, sizeof(as));
	as.sign = k->sign;
	as.ctx = k->sign_ctx;
	as.cert = k->cert;
	as.key_name = k->cfg->name;
	/* The log keeps using k until the next call: hold its generation until then. */
	sd_keyset_ref(ks);
	sd_audit_set_signer(s->audit, &as);
	old = s->audit_ks;
	s->audit_ks = ks;
	pthread_rwlock_unlock(&s->audit_lk);
	sd_keyset_unref(old);
}

int sd_auditlog_sign(struct signer *s, const struct sd_peer *peer, enum au_subject subject,
		     const struct sd_sign_req *req, const struct sd_key *k, uint32_t result,
		     const char *msg, const struct ts_token *tok, struct sd_err *e)
{
	struct sd_audit_rec r;
	int ret;

	if (!s->audit_on)
		return 0;
	memset(&r, 0, sizeof(r));
	r.event = "sign";
	r.pid = peer->pid;
	r.uid = peer->uid;
	r.gid = peer->gid;
	r.exe = peer->exe;
	r.exe_verified = peer->exe_verified;
	r.subject_type = au_subject_name(subject); /* "cab" or "script" */
	r.result = result;
	r.message = result != 0 ? msg : NULL;
	if (tok != NULL && tok->der != NULL) {
		r.tsa = tok->tsa;
		r.ts_time = tok->gen_time_text;
	}
	if (req != NULL) {
		r.key = k != NULL ? k->cfg->name : req->key;
		r.digest_alg = req->digest_alg;
		r.digest = req->digest;
		r.digest_len = req->digest_len <= SD_DIGEST_MAX ? req->digest_len : 0;
		r.program = req->program;
	}
	if (k != NULL) {
		r.cert_serial = k->info.serial;
		r.cert_sha1 = k->info.sha1;
	}
	pthread_rwlock_rdlock(&s->audit_lk);
	ret = s->audit != NULL
		  ? sd_audit_append(s->audit, &r, e)
		  : sd_err_set(e, SD_E_AUDIT_UNAVAILABLE,
			       "the audit log is unavailable; nothing is signed until it "
			       "is restored (SIGHUP reopens it)");
	pthread_rwlock_unlock(&s->audit_lk);
	return ret;
}

void sd_auditlog_sighup(struct signer *s, const struct cfg *cfg)
{
	struct sd_audit_stats st = {0};
	struct sd_err e = {0};

	if (!s->audit_on)
		return;
	pthread_rwlock_wrlock(&s->audit_lk);
	if (s->audit != NULL)
		sd_audit_get_stats(s->audit, &st);
	if (s->audit == NULL || st.failed) {
		/* A log with a hole must not silently continue: reopen, which re-checks the tail.
		 */
		LOG_W(&s->log, "audit log unavailable; reopening it");
		if (s->audit != NULL)
			sd_audit_close(s->audit);
		s->audit = NULL;
		if (open_log(s, cfg, &e) != 0)
			LOG_E(&s->log, "%s; signing stays refused (AUDIT_UNAVAILABLE)", e.msg);
	} else if (sd_audit_rotate(s->audit, &e) != 0) {
		LOG_E(&s->log, "audit log rotation failed: %s", e.msg);
	} else {
		LOG_I(&s->log, "audit log rotated");
	}
	pthread_rwlock_unlock(&s->audit_lk);
}

void sd_auditlog_stop(struct signer *s)
{
	if (s->audit == NULL)
		return;
	/* The final checkpoint is signed by a token key: before the keys go. */
	sd_audit_close(s->audit);
	s->audit = NULL;
	sd_keyset_unref(s->audit_ks);
	s->audit_ks = NULL;
}
