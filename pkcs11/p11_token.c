/* Token selection, login and the session pool. */
#include "pkcs11/p11.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
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

	if (t == NULL)
		return;
	if (t->nsess > 0)
		t->mod->f->C_Logout(t->sess[0]);
	for (i = 0; i < t->nsess; i++)
		t->mod->f->C_CloseSession(t->sess[i]);
	free(t->sess);
	free(t->busy);
	p11_secret_free(t->pin);
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->cv);
	free(t);
}

CK_SESSION_HANDLE p11_session_get(struct p11_token *t)
{
	unsigned i;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;

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

	pthread_mutex_lock(&t->mu);
	for (i = 0; i < t->nsess; i++) {
		if (t->sess[i] == s) {
			t->busy[i] = 0;
			break;
		}
	}
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
}
