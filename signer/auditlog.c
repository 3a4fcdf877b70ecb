/*
 * The daemon's use of the audit log: a record per SIGN_CAB and SIGN_SCRIPT,
 * checkpoints by a token key.
 */
#include "signer/auditlog.h"

#include <stdio.h>
#include <string.h>

#include "common/file.h"
#include "timestamp/ts.h"

/*
 * How long a record whose worker went on without waiting may wait for more
 * records to share its fdatasync. Only pipelined load defers (a worker with
 * nothing else to do commits at once), and there the reply's extra wait
 * costs no throughput while each fdatasync saved is CPU the token can use.
 */
#define AUDIT_COMMIT_DELAY_US 8000

static void audit_warn(void *ctx, const char *msg)
{
	struct signer *s = ctx;

	LOG_W(&s->log, "audit: %s", msg);
}

/*
 * Every log the daemon opens reports its commits here; the subscriber may
 * change (sd_auditlog_set_notify) without waiting for audit_lk, which a
 * worker holds while its fdatasync runs.
 */
static void committed(void *ctx)
{
	struct signer *s = ctx;

	pthread_mutex_lock(&s->audit_notify_mu);
	if (s->audit_notify != NULL)
		s->audit_notify(s->audit_notify_ctx);
	pthread_mutex_unlock(&s->audit_notify_mu);
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
	sd_audit_set_notify(s->audit, committed, s);
	if (sd_audit_start_writer(s->audit, AUDIT_COMMIT_DELAY_US, e) != 0) {
		sd_audit_close(s->audit);
		s->audit = NULL;
		return -1;
	}
	s->audit_id++;
	LOG_I(&s->log, "audit log %s", cfg->audit.path);
	return 0;
}

int sd_auditlog_start(struct signer *s, const struct cfg *cfg, struct sd_err *e)
{
	if (cfg->audit.path == NULL)
		return 0;
	/* From here on, no signature leaves without its record, even if the log is lost. */
	s->audit_on = 1;
	pthread_mutex_init(&s->audit_notify_mu, NULL);
	if (pthread_key_create(&s->audit_defer, NULL) == 0)
		s->audit_defer_ok = 1;
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

int sd_auditlog_sign(struct signer *s, const struct sd_auditlog_event *ev,
		     struct sd_audit_ticket *where, struct sd_err *e)
{
	const struct sd_sign_req *req = ev->req;
	const struct sd_key *k = ev->k;
	struct sd_audit_ticket *t = NULL;
	struct sd_audit_rec r;
	uint64_t seq = 0;
	int ret;

	uint64_t log = 0;

	if (where != NULL)
		memset(where, 0, sizeof(*where));
	if (!s->audit_on)
		return 0;
	if (s->audit_defer_ok)
		t = pthread_getspecific(s->audit_defer);
	memset(&r, 0, sizeof(r));
	r.event = ev->voids != 0 ? "void" : "sign";
	r.voids = ev->voids;
	r.pid = ev->peer->pid;
	r.uid = ev->peer->uid;
	r.gid = ev->peer->gid;
	r.exe = ev->peer->exe;
	r.exe_verified = ev->peer->exe_verified;
	r.subject_type = au_subject_name(ev->subject); /* "cab" or "script" */
	r.result = ev->result;
	r.message = ev->result != 0 ? ev->msg : NULL;
	if (ev->tok != NULL && ev->tok->der != NULL) {
		r.tsa = ev->tok->tsa;
		r.ts_time = ev->tok->gen_time_text;
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
	if (s->audit == NULL) {
		ret = sd_err_set(e, SD_E_AUDIT_UNAVAILABLE,
				 "the audit log is unavailable; nothing is signed until it "
				 "is restored (SIGHUP reopens it)");
	} else if (t != NULL && (!t->set || t->log == s->audit_id)) {
		/* The caller holds the reply until the record is durable. */
		log = s->audit_id;
		ret = sd_audit_submit(s->audit, &r, &seq, e);
		if (ret == 0) {
			t->log = s->audit_id;
			t->seq = seq;
			t->set = 1;
			/* Written ahead of the signature: its fdatasync runs while the token signs.
			 */
			if (ev->ahead && t->urgent)
				sd_audit_kick(s->audit);
		}
	} else {
		log = s->audit_id;
		ret = sd_audit_submit(s->audit, &r, &seq, e);
		if (ret == 0)
			ret = sd_audit_wait(s->audit, seq, e);
	}
	pthread_rwlock_unlock(&s->audit_lk);
	if (ret == 0 && where != NULL) {
		where->log = log;
		where->seq = seq;
		where->set = 1;
	}
	return ret;
}

void sd_auditlog_defer(struct signer *s, struct sd_audit_ticket *t)
{
	if (s->audit_defer_ok)
		pthread_setspecific(s->audit_defer, t);
}

/* Caller holds audit_lk. t belongs to a log closed since: durable only up to where it failed. */
static int closed_state(struct signer *s, const struct sd_audit_ticket *t)
{
	return t->log == s->audit_prev_id && t->seq <= s->audit_prev_durable ? 1 : -1;
}

int sd_auditlog_voidable(struct signer *s, const struct sd_audit_ticket *where)
{
	int ret;

	if (!where->set)
		return 0;
	pthread_rwlock_rdlock(&s->audit_lk);
	/*
	 * In the open log it is queued or durable (if its write fails, the log
	 * fails and takes the void with it). In a log closed since, only a
	 * durable record still exists: a reopened log hands its seq out again.
	 * Two reopens ago is unknown: no void, so the log may claim one
	 * signature too many, never one too few.
	 */
	if (s->audit != NULL && where->log == s->audit_id)
		ret = 1;
	else
		ret = closed_state(s, where) == 1;
	pthread_rwlock_unlock(&s->audit_lk);
	return ret;
}

int sd_auditlog_state(struct signer *s, const struct sd_audit_ticket *t)
{
	int ret;

	if (!t->set)
		return 1;
	/*
	 * The loop asks: never wait for a reopen or rotation, which may sign a
	 * checkpoint on a token that hangs. "Not yet"; sd_auditlog_sighup wakes
	 * the asker again when it is done.
	 */
	if (pthread_rwlock_tryrdlock(&s->audit_lk) != 0)
		return 0;
	if (s->audit != NULL && t->log == s->audit_id)
		ret = sd_audit_poll(s->audit, t->seq);
	else
		ret = closed_state(s, t);
	pthread_rwlock_unlock(&s->audit_lk);
	return ret;
}

int sd_auditlog_wait(struct signer *s, const struct sd_audit_ticket *t, struct sd_err *e)
{
	int ret;

	if (!t->set)
		return 0;
	pthread_rwlock_rdlock(&s->audit_lk);
	if (s->audit != NULL && t->log == s->audit_id)
		ret = sd_audit_wait(s->audit, t->seq, e);
	else if (closed_state(s, t) == 1)
		ret = 0;
	else
		ret = sd_err_set(e, SD_E_AUDIT_UNAVAILABLE,
				 "the audit log failed before this request's record was written");
	pthread_rwlock_unlock(&s->audit_lk);
	return ret;
}

void sd_auditlog_set_notify(struct signer *s, void (*fn)(void *ctx), void *ctx)
{
	if (!s->audit_on)
		return;
	/* committed() calls fn with this lock held: once we hold it, the old fn has returned. */
	pthread_mutex_lock(&s->audit_notify_mu);
	s->audit_notify = fn;
	s->audit_notify_ctx = ctx;
	pthread_mutex_unlock(&s->audit_notify_mu);
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
		if (s->audit != NULL) {
			/* Replies still held for its records learn their fate from these two. */
			s->audit_prev_id = s->audit_id;
			s->audit_prev_durable = st.seq;
			sd_audit_close(s->audit);
		}
		s->audit = NULL;
		if (open_log(s, cfg, &e) != 0)
			LOG_E(&s->log, "%s; signing stays refused (AUDIT_UNAVAILABLE)", e.msg);
	} else if (sd_audit_rotate(s->audit, &e) != 0) {
		LOG_E(&s->log, "audit log rotation failed: %s", e.msg);
	} else {
		LOG_I(&s->log, "audit log rotated");
	}
	pthread_rwlock_unlock(&s->audit_lk);
	/* Replies held meanwhile were told "not yet" (sd_auditlog_state): look again. */
	committed(s);
}

void sd_auditlog_stop(struct signer *s)
{
	if (s->audit_defer_ok) {
		pthread_key_delete(s->audit_defer);
		s->audit_defer_ok = 0;
	}
	if (s->audit != NULL) {
		/* The final checkpoint is signed by a token key: before the keys go. */
		sd_audit_close(s->audit);
		s->audit = NULL;
		sd_keyset_unref(s->audit_ks);
		s->audit_ks = NULL;
	}
	if (s->audit_on)
		pthread_mutex_destroy(&s->audit_notify_mu);
}
