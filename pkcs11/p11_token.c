/* Token selection, login and the session pool. */
#include "pkcs11/p11.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

/* PKCS#11 text fields are fixed-width and space-padded. */
static void trim_field(const CK_UTF8CHAR *f, size_t n, char *out)
{
	while (n > 0 && (f[n - 1] == ' ' || f[n - 1] == '\0'))
		n--;
	memcpy(out, f, n);
	out[n] = '\0';
}

static int token_matches(const CK_TOKEN_INFO *ti, const struct p11_uri *u, char *label)
{
	char man[33], serial[17], model[17];

	trim_field(ti->label, sizeof(ti->label), label);
	trim_field(ti->manufacturerID, sizeof(ti->manufacturerID), man);
	trim_field(ti->serialNumber, sizeof(ti->serialNumber), serial);
	trim_field(ti->model, sizeof(ti->model), model);
	return (!u->token[0] || strcmp(u->token, label) == 0) &&
	       (!u->manufacturer[0] || strcmp(u->manufacturer, man) == 0) &&
	       (!u->serial[0] || strcmp(u->serial, serial) == 0) &&
	       (!u->model[0] || strcmp(u->model, model) == 0);
}

int p11_find_slot(struct p11_module *m, const struct p11_uri *u, CK_SLOT_ID *slot, char *label,
		  struct sd_err *e)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0, i;
	CK_TOKEN_INFO ti;
	CK_RV rv;
	int ret = -1, found = 0;

	rv = m->f->C_GetSlotList(CK_TRUE, NULL, &n);
	if (rv != CKR_OK)
		return sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "C_GetSlotList: %s", p11_rv_name(rv));
	if (n == 0)
		return sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "%s: no token is present", m->path);
	slots = calloc(n, sizeof(*slots));
	if (slots == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	rv = m->f->C_GetSlotList(CK_TRUE, slots, &n);
	if (rv != CKR_OK) {
		sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "C_GetSlotList: %s", p11_rv_name(rv));
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (u->has_slot_id && slots[i] != u->slot_id)
			continue;
		if (m->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (!token_matches(&ti, u, label))
			continue;
		if (found) {
			sd_err_set(
			    e, SD_E_TOKEN_UNAVAILABLE,
			    "pkcs11 URI matches more than one token; add serial= or slot-id=");
			goto out;
		}
		found = 1;
		*slot = slots[i];
	}
	if (!found) {
		sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "no token matches (token=\"%s\") in %s",
			   u->token, m->path);
		goto out;
	}
	if (m->f->C_GetTokenInfo(*slot, &ti) == CKR_OK)
		trim_field(ti.label, sizeof(ti.label), label);
	ret = 0;
out:
	free(slots);
	return ret;
}

static int login(struct p11_token *t, CK_SESSION_HANDLE s, struct sd_err *e)
{
	CK_TOKEN_INFO ti;
	CK_RV rv;

	rv = t->mod->f->C_GetTokenInfo(t->slot, &ti);
	if (rv != CKR_OK)
		return sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "C_GetTokenInfo: %s", p11_rv_name(rv));
	if (ti.flags & CKF_USER_PIN_LOCKED)
		return sd_err_set(e, SD_E_NOT_AUTHORIZED,
				  "token \"%s\": the user PIN is locked; unlock it with the SO PIN",
				  t->label);
	if (ti.flags & CKF_USER_PIN_FINAL_TRY)
		return sd_err_set(e, SD_E_NOT_AUTHORIZED,
				  "token \"%s\": one PIN attempt is left; refusing to try "
				  "automatically. Verify the PIN by hand first",
				  t->label);
	if (!(ti.flags & CKF_LOGIN_REQUIRED))
		return 0;
	if (t->pin == NULL)
		return sd_err_set(e, SD_E_NOT_AUTHORIZED, "token \"%s\" needs a PIN", t->label);
	rv = t->mod->f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)t->pin->p, t->pin->len);
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN)
		return 0;
	if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_INVALID ||
	    rv == CKR_PIN_LEN_RANGE || rv == CKR_PIN_EXPIRED)
		return sd_err_set(
		    e, SD_E_NOT_AUTHORIZED, "token \"%s\": login refused: %s (not retried)%s",
		    t->label, p11_rv_name(rv),
		    (ti.flags & CKF_USER_PIN_COUNT_LOW) ? "; PIN retry count is low" : "");
	return sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "token \"%s\": C_Login: %s", t->label,
			  p11_rv_name(rv));
}

static void init_life(struct p11_token *t)
{
	pthread_rwlockattr_t a;

	/* Writer preference: a re-initialisation must not starve behind signers. */
	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&t->life, &a);
	pthread_rwlockattr_destroy(&a);
}

static void tlog(struct p11_token *t, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void tlog(struct p11_token *t, int prio, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (t->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	t->log(t->log_ctx, prio, msg);
}

void p11_token_set_logger(struct p11_token *t, p11_log_fn fn, void *ctx)
{
	t->log = fn;
	t->log_ctx = ctx;
}

int p11_token_open(struct p11_module *m, const struct p11_uri *u, struct p11_secret *pin,
		   unsigned nsess, int rw, struct p11_token **out, struct sd_err *e)
{
	struct p11_token *t;
	CK_FLAGS fl = CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0);
	CK_RV rv;
	unsigned i;

	if (nsess == 0 || nsess > 64) {
		p11_secret_free(pin);
		return sd_err_set(e, SD_E_INTERNAL, "session count %u out of range 1..64", nsess);
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		p11_secret_free(pin);
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	}
	t->mod = m;
	t->pin = pin;
	t->uri = *u;
	t->rw = rw;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	init_life(t);
	if (p11_find_slot(m, u, &t->slot, t->label, e) != 0)
		goto fail;
	t->sess = calloc(nsess, sizeof(*t->sess));
	t->busy = calloc(nsess, 1);
	if (t->sess == NULL || t->busy == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto fail;
	}
	for (i = 0; i < nsess; i++) {
		rv = m->f->C_OpenSession(t->slot, fl, NULL, NULL, &t->sess[i]);
		if (rv != CKR_OK) {
			sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "token \"%s\": C_OpenSession: %s",
				   t->label, p11_rv_name(rv));
			goto fail;
		}
		t->nsess++;
	}
	/* Login state is per application and token: one login covers every session. */
	if (login(t, t->sess[0], e) != 0)
		goto fail;
	*out = t;
	return 0;
fail:
	p11_token_free(t);
	return -1;
}

void p11_token_free(struct p11_token *t)
{
	unsigned i;
	int join;

	if (t == NULL)
		return;
	pthread_mutex_lock(&t->mu);
	t->stopping = 1;
	join = t->recov_running;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
	if (join)
		pthread_join(t->recov, NULL);
	if (t->nsess > 0)
		t->mod->f->C_Logout(t->sess[0]);
	for (i = 0; i < t->nsess; i++)
		t->mod->f->C_CloseSession(t->sess[i]);
	free(t->sess);
	free(t->busy);
	p11_secret_free(t->pin);
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->cv);
	pthread_rwlock_destroy(&t->life);
	free(t);
}

CK_SESSION_HANDLE p11_session_get(struct p11_token *t)
{
	unsigned i;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;

	/* Fail fast while down: do not queue behind a re-initialisation. */
	if (atomic_load(&t->down))
		return CK_INVALID_HANDLE;
	pthread_rwlock_rdlock(&t->life);
	if (atomic_load(&t->down)) {
		pthread_rwlock_unlock(&t->life);
		return CK_INVALID_HANDLE;
	}
	pthread_mutex_lock(&t->mu);
	for (;;) {
		for (i = 0; i < t->nsess; i++) {
			if (!t->busy[i]) {
				t->busy[i] = 1;
				s = t->sess[i];
				goto out;
			}
		}
		pthread_cond_wait(&t->cv, &t->mu);
	}
out:
	pthread_mutex_unlock(&t->mu);
	return s;
}

void p11_session_put(struct p11_token *t, CK_SESSION_HANDLE s)
{
	unsigned i;

	if (s == CK_INVALID_HANDLE)
		return;
	pthread_mutex_lock(&t->mu);
	for (i = 0; i < t->nsess; i++) {
		if (t->sess[i] == s && t->busy[i]) {
			t->busy[i] = 0;
			break;
		}
	}
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_rwlock_unlock(&t->life);
}

int p11_session_reopen(struct p11_token *t, CK_SESSION_HANDLE *s)
{
	CK_FLAGS fl = CKF_SERIAL_SESSION | (t->rw ? CKF_RW_SESSION : 0);
	CK_SESSION_HANDLE n = CK_INVALID_HANDLE;
	unsigned i;
	CK_RV rv;

	(void)t->mod->f->C_CloseSession(*s);
	rv = t->mod->f->C_OpenSession(t->slot, fl, NULL, NULL, &n);
	if (rv != CKR_OK) {
		p11_fault(t, rv, "C_OpenSession");
		return -1;
	}
	pthread_mutex_lock(&t->mu);
	for (i = 0; i < t->nsess; i++)
		if (t->sess[i] == *s && t->busy[i])
			t->sess[i] = n;
	pthread_mutex_unlock(&t->mu);
	tlog(t, LOG_WARNING, "token \"%s\": session %lu was invalid; reopened as %lu", t->label,
	     (unsigned long)*s, (unsigned long)n);
	*s = n;
	return 0;
}

CK_RV p11_relogin(struct p11_token *t, CK_SESSION_HANDLE s)
{
	CK_RV rv;

	if (t->pin == NULL)
		return CKR_USER_NOT_LOGGED_IN;
	rv = t->mod->f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)t->pin->p, t->pin->len);
	tlog(t, rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN ? LOG_WARNING : LOG_ERR,
	     "token \"%s\": logged out by the token; logging in again: %s", t->label,
	     p11_rv_name(rv));
	return rv == CKR_USER_ALREADY_LOGGED_IN ? CKR_OK : rv;
}

/* Faults after which the module or the transport must be re-initialised. */
static int is_token_fault(CK_RV rv)
{
	switch (rv) {
	case CKR_DEVICE_ERROR:
	case CKR_DEVICE_REMOVED:
	case CKR_DEVICE_MEMORY:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
	case CKR_SLOT_ID_INVALID:
	case CKR_GENERAL_ERROR:
		return 1;
	default:
		return 0;
	}
}

/* Close everything, finalise, initialise, find the token, open sessions, log in. */
static int reinit(struct p11_token *t, struct sd_err *e)
{
	CK_FLAGS fl = CKF_SERIAL_SESSION | (t->rw ? CKF_RW_SESSION : 0);
	CK_C_INITIALIZE_ARGS args;
	char label[33];
	unsigned i;
	CK_RV rv;

	/* We hold life for writing: no session is in use. */
	for (i = 0; i < t->nsess; i++) {
		if (t->sess[i] != CK_INVALID_HANDLE)
			(void)t->mod->f->C_CloseSession(t->sess[i]);
		t->sess[i] = CK_INVALID_HANDLE;
		t->busy[i] = 0;
	}
	(void)t->mod->f->C_Finalize(NULL);
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = t->mod->f->C_Initialize(&args);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
		return sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "C_Initialize: %s", p11_rv_name(rv));
	/* After a re-initialisation a remote token's slot list may be empty for a while. */
	if (p11_find_slot(t->mod, &t->uri, &t->slot, label, e) != 0)
		return -1;
	for (i = 0; i < t->nsess; i++) {
		rv = t->mod->f->C_OpenSession(t->slot, fl, NULL, NULL, &t->sess[i]);
		if (rv != CKR_OK)
			return sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "C_OpenSession: %s",
					  p11_rv_name(rv));
	}
	return login(t, t->sess[0], e);
}

static void *recover(void *arg)
{
	struct p11_token *t = arg;
	struct sd_err e;
	struct timespec until;
	long backoff_ms = 100;
	char last[sizeof(e.msg)] = "";
	int ok, stop = 0;

	while (!stop) {
		memset(&e, 0, sizeof(e));
		pthread_rwlock_wrlock(&t->life);
		ok = reinit(t, &e) == 0;
		if (ok) {
			atomic_fetch_add(&t->epoch, 1);
			atomic_fetch_add(&t->recoveries, 1);
			atomic_store(&t->down, 0);
		}
		pthread_rwlock_unlock(&t->life);
		if (ok) {
			tlog(t, LOG_NOTICE,
			     "token \"%s\": re-initialised and logged in; signing resumes",
			     t->label);
			break;
		}
		if (e.code == SD_E_NOT_AUTHORIZED) {
			/* Never retry a PIN the token refused: that would lock it. */
			tlog(t, LOG_ERR,
			     "token \"%s\": %s; not retrying, restart signerd once fixed", t->label,
			     e.msg);
			break;
		}
		if (strcmp(last, e.msg) != 0) {
			tlog(t, LOG_WARNING,
			     "token \"%s\" still unavailable: %s; retrying with backoff", t->label,
			     e.msg);
			snprintf(last, sizeof(last), "%s", e.msg);
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += backoff_ms / 1000;
		until.tv_nsec += (backoff_ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&t->mu);
		while (!t->stopping && pthread_cond_timedwait(&t->cv, &t->mu, &until) != ETIMEDOUT)
			;
		stop = t->stopping;
		pthread_mutex_unlock(&t->mu);
		backoff_ms = backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2;
	}
	/* recov_running stays set: the thread is joinable until p11_fault or free joins it. */
	return NULL;
}

int p11_fault(struct p11_token *t, CK_RV rv, const char *what)
{
	int start = 0;

	if (!is_token_fault(rv))
		return 0;
	pthread_mutex_lock(&t->mu);
	if (!atomic_load(&t->down)) {
		atomic_store(&t->down, 1);
		snprintf(t->why, sizeof(t->why), "%s: %s", what, p11_rv_name(rv));
		if (t->recov_running) {
			/* The previous recovery thread is finishing: let it go first. */
			pthread_mutex_unlock(&t->mu);
			pthread_join(t->recov, NULL);
			pthread_mutex_lock(&t->mu);
			t->recov_running = 0;
		}
		if (!t->stopping && pthread_create(&t->recov, NULL, recover, t) == 0) {
			t->recov_running = 1;
			start = 1;
		}
	}
	pthread_mutex_unlock(&t->mu);
	if (start)
		tlog(t, LOG_ERR,
		     "token \"%s\" is down (%s %s); failing requests fast and "
		     "re-initialising in the background",
		     t->label, what, p11_rv_name(rv));
	return 1;
}

void p11_token_state(struct p11_token *t, char *out, size_t outsz)
{
	pthread_mutex_lock(&t->mu);
	if (atomic_load(&t->down))
		snprintf(out, outsz, "down (%s); reconnecting", t->why);
	else
		snprintf(out, outsz, "logged-in");
	pthread_mutex_unlock(&t->mu);
}
