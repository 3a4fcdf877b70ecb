/* The admin channel: FREEZE, THAW, RETIRE and RELOAD for incident response. */
#include "signer/server.h"

#include <stdio.h>
#include <string.h>

/* Caller holds adm_mu. */
static int retired_locked(struct signer *s, const char *name)
{
	int i;

	for (i = 0; i < s->nadm_retired; i++)
		if (strcmp(s->adm_retired[i], name) == 0)
			return 1;
	return 0;
}

int sd_admin_retired(struct signer *s, const char *name)
{
	int found;

	pthread_mutex_lock(&s->adm_mu);
	found = retired_locked(s, name);
	pthread_mutex_unlock(&s->adm_mu);
	return found;
}

static int retire(struct signer *s, const char *name, struct sd_err *e)
{
	struct sd_keyset *ks = sd_current(s);
	int ret = -1;

	if (ks == NULL || name[0] == '\0' || sd_keyset_find(ks, name) == NULL) {
		sd_err_set(e, SD_E_UNKNOWN_KEY, "no key named \"%s\"", name);
		goto out;
	}
	pthread_mutex_lock(&s->adm_mu);
	if (retired_locked(s, name)) {
		ret = 0;
	} else if (s->nadm_retired < (int)(sizeof(s->adm_retired) / sizeof(*s->adm_retired))) {
		snprintf(s->adm_retired[s->nadm_retired++], SD_KEYNAME_MAX, "%s", name);
		ret = 0;
	} else {
		sd_err_set(e, SD_E_INTERNAL, "too many keys retired at run time; edit the config");
	}
	pthread_mutex_unlock(&s->adm_mu);
out:
	sd_keyset_unref(ks);
	return ret;
}

void sd_admin_handle(struct signer *s, const struct sd_peer *peer, uint8_t type,
		     const uint8_t *body, size_t len, struct wbuf *out, sd_reload_fn reload)
{
	struct sd_err e = {0};
	char name[SD_KEYNAME_MAX], text[256];

	switch (type) {
	case SD_MSG_ADMIN_FREEZE:
		if (proto_dec_empty(body, len, &e) != 0)
			break;
		atomic_store(&s->frozen, 1);
		LOG_W(&s->log, "FROZEN by uid %u pid %d: every signature is refused",
		      (unsigned)peer->uid, (int)peer->pid);
		proto_enc_admin_ok(out, "frozen: every signature is refused until thaw");
		return;
	case SD_MSG_ADMIN_THAW:
		if (proto_dec_empty(body, len, &e) != 0)
			break;
		atomic_store(&s->frozen, 0);
		LOG_W(&s->log, "thawed by uid %u pid %d: signing resumes", (unsigned)peer->uid,
		      (int)peer->pid);
		proto_enc_admin_ok(out, "thawed: signing resumes");
		return;
	case SD_MSG_ADMIN_RETIRE:
		if (proto_dec_admin_retire(body, len, name, sizeof(name), &e) != 0 ||
		    retire(s, name, &e) != 0)
			break;
		LOG_W(&s->log, "key \"%s\" retired by uid %u pid %d until restart", name,
		      (unsigned)peer->uid, (int)peer->pid);
		snprintf(text, sizeof(text),
			 "key \"%s\" retired: it signs nothing until signerd restarts (set state: "
			 "retired in the config to make it permanent)",
			 name);
		proto_enc_admin_ok(out, text);
		return;
	case SD_MSG_ADMIN_RELOAD:
		if (proto_dec_empty(body, len, &e) != 0)
			break;
		LOG_I(&s->log, "reload requested by uid %u pid %d", (unsigned)peer->uid,
		      (int)peer->pid);
		if (reload(s, &e) != 0)
			break;
		proto_enc_admin_ok(out, "reloaded");
		return;
	case SD_MSG_STATUS:
		sd_handle(s, peer, type, body, len, out);
		return;
	default:
		sd_err_set(&e, SD_E_BAD_REQUEST,
			   "message type 0x%02x is not accepted on the admin socket", type);
		break;
	}
	proto_enc_error(out, e.code, e.msg);
}
