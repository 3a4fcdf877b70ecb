/* Keeping each key's revocation status current: at load, every refresh interval and on SIGHUP. */
#include "signer/signer.h"

#include "signer/cdp.h"

#include <stdio.h>
#include <string.h>

void sd_key_rev(struct sd_keyset *ks, const struct sd_key *k, struct sd_rev_result *out)
{
	pthread_mutex_lock(&ks->rev_mu);
	*out = k->rev;
	pthread_mutex_unlock(&ks->rev_mu);
}

/* Judge every key of ks against cs; the caller holds rev_refresh_mu. */
static void evaluate(struct signer *s, struct sd_keyset *ks, struct sd_crl_set *cs, time_t now)
{
	struct sd_rev_result r;
	enum sd_rev_status old;
	size_t i;

	for (i = 0; i < ks->nkeys; i++) {
		struct sd_key *k = &ks->keys[i];

		sd_rev_check(cs, &s->floors, k->cert, k->chain, now, &r);
		pthread_mutex_lock(&ks->rev_mu);
		old = k->rev.status;
		k->rev = r;
		pthread_mutex_unlock(&ks->rev_mu);
		if (r.status == SD_REV_NOT_APPLICABLE)
			continue;
		if (r.status != SD_REV_GOOD)
			LOG_W(&s->log, "key \"%s\": revocation %s: %s", k->cfg->name,
			      sd_rev_name(r.status), r.msg);
		else if (old != SD_REV_GOOD)
			LOG_I(&s->log, "key \"%s\": revocation good", k->cfg->name);
	}
}

void sd_revocation_refresh(struct signer *s, struct sd_keyset *ks)
{
	const struct cfg *cfg = ks->cfg;
	struct sd_crl_set *cs;
	time_t now = time(NULL);

	/* The floors only rise: two refreshes at once could lower one again. */
	pthread_mutex_lock(&s->rev_refresh_mu);
	cs = sd_crl_set_load(cfg->revocation.crl, cfg->revocation.ncrl);
	/* The last accepted CRL from each distribution point, judged again like any other. */
	if (cs != NULL && cfg->revocation.fetch_cdp)
		sd_cdp_add_cached(ks, cs);
	evaluate(s, ks, cs, now);
	sd_crl_set_free(cs);
	s->next_refresh = now + (time_t)(cfg->revocation.refresh_ms / 1000);
	if (cfg->revocation.refresh_ms / 1000 == 0)
		s->next_refresh = now + 1;
	pthread_mutex_unlock(&s->rev_refresh_mu);
}

void sd_revocation_apply(struct signer *s, struct sd_keyset *ks, struct sd_crl_set *cs)
{
	pthread_mutex_lock(&s->rev_refresh_mu);
	evaluate(s, ks, cs, time(NULL));
	pthread_mutex_unlock(&s->rev_refresh_mu);
}

void sd_revocation_tick(struct signer *s)
{
	struct sd_keyset *ks;
	int due;

	pthread_mutex_lock(&s->rev_refresh_mu);
	due = time(NULL) >= s->next_refresh;
	pthread_mutex_unlock(&s->rev_refresh_mu);
	if (!due)
		return;
	ks = sd_current(s);
	if (ks != NULL)
		sd_revocation_refresh(s, ks);
	sd_keyset_unref(ks);
}
