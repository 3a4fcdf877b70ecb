/* Fetching CRLs from the certificates' distribution points (revocation.fetch_cdp). */
#include "signer/cdp.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "common/file.h"
#include "common/http.h"
#include "signer/signer.h"
#include "timestamp/ts.h"

#define CDP_URLS_MAX   4  /* alternative URLs of one distribution point */
#define CDP_POINTS_MAX 64 /* distribution points over all keys */

/* One distribution point: alternative URLs for the same CRL, one cache file. */
struct cdp_point {
	char *urls[CDP_URLS_MAX];
	size_t nurls;
	char path[PATH_MAX];		  /* its cache file */
	char name[TS_URL_SHOWN_MAX + 12]; /* the first URL as shown, plus " (cached)" */
	X509 *issuer;			  /* borrowed from the keyset's chain */
	const char *key;		  /* the key it was found for */
};

struct cdp_list {
	struct cdp_point v[CDP_POINTS_MAX];
	size_t n;
};

struct sd_cdp {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int kicked; /* under mu */
	atomic_int stop;
};

static void point_free(struct cdp_point *p)
{
	size_t i;

	for (i = 0; i < p->nurls; i++)
		free(p->urls[i]);
	p->nurls = 0;
}

static void list_free(struct cdp_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		point_free(&l->v[i]);
	l->n = 0;
}

static int is_http(const char *u)
{
	return strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0;
}

/* The cache file of a point: cache_dir/<SHA-256 of its URLs, 128 bits in hex>.crl. */
static int point_path(struct cdp_point *p, const char *dir)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	char hex[33];
	size_t i;
	int ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL);

	for (i = 0; ok && i < p->nurls; i++)
		ok = EVP_DigestUpdate(c, p->urls[i], strlen(p->urls[i]) + 1);
	ok = ok && EVP_DigestFinal_ex(c, md, &mdlen) && mdlen >= 16;
	EVP_MD_CTX_free(c);
	if (!ok)
		return -1;
	sd_hex(md, 16, hex);
	i = (size_t)snprintf(p->path, sizeof(p->path), "%s/%s.crl", dir, hex);
	return i < sizeof(p->path) ? 0 : -1;
}

/* Add the distribution points of cert (issued by issuer) to l. */
static void add_points(struct sd_log *log, struct cdp_list *l, const char *dir, const char *key,
		       X509 *cert, X509 *issuer, int announce)
{
	STACK_OF(DIST_POINT) *dps = X509_get_ext_d2i(cert, NID_crl_distribution_points, NULL, NULL);
	char shown[TS_URL_SHOWN_MAX];
	struct cdp_point p;
	GENERAL_NAME *gn;
	DIST_POINT *dp;
	const char *u;
	size_t k;
	int i, j;

	for (i = 0; dps != NULL && i < sk_DIST_POINT_num(dps); i++) {
		dp = sk_DIST_POINT_value(dps, i);
		memset(&p, 0, sizeof(p));
		if (dp->CRLissuer != NULL || dp->distpoint == NULL || dp->distpoint->type != 0) {
			if (announce)
				LOG_I(log,
				      "key \"%s\": a CRL distribution point with a cRLIssuer or "
				      "without a fullName is skipped (not supported)",
				      key);
			continue;
		}
		for (j = 0; j < sk_GENERAL_NAME_num(dp->distpoint->name.fullname); j++) {
			gn = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, j);
			if (gn->type != GEN_URI)
				continue;
			u = (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
			if (u == NULL || strlen(u) != (size_t)ASN1_STRING_length(
							  gn->d.uniformResourceIdentifier))
				continue; /* an embedded NUL */
			if (!is_http(u)) {
				if (announce) {
					ts_url_shown(u, shown, sizeof(shown));
					LOG_I(log,
					      "key \"%s\": CRL distribution point %s skipped: only "
					      "http and https are fetched",
					      key, shown);
				}
				continue;
			}
			if (p.nurls < CDP_URLS_MAX && (p.urls[p.nurls] = strdup(u)) != NULL)
				p.nurls++;
		}
		if (p.nurls == 0 || point_path(&p, dir) != 0) {
			point_free(&p);
			continue;
		}
		for (k = 0; k < l->n && strcmp(l->v[k].path, p.path) != 0; k++)
			;
		if (k < l->n || l->n == CDP_POINTS_MAX) {
			point_free(&p);
			continue;
		}
		ts_url_shown(p.urls[0], shown, sizeof(shown));
		snprintf(p.name, sizeof(p.name), "%s", shown);
		p.issuer = issuer;
		p.key = key;
		l->v[l->n++] = p;
	}
	CRL_DIST_POINTS_free(dps);
}

/* Every distribution point of ks's CA-issued keys and of their intermediates. */
static void collect(struct sd_log *log, struct sd_keyset *ks, struct cdp_list *l, int announce)
{
	X509 *cur, *issuer;
	size_t i;
	int depth;

	l->n = 0;
	for (i = 0; i < ks->nkeys; i++) {
		struct sd_key *k = &ks->keys[i];

		if (k->self_signed)
			continue;
		for (cur = k->cert, depth = 0; depth < 10 && !sd_rev_self_signed(cur);
		     depth++, cur = issuer) {
			issuer = sd_rev_find_issuer(cur, k->chain);
			if (issuer == NULL)
				break;
			add_points(log, l, ks->cfg->revocation.cache_dir, k->cfg->name, cur, issuer,
				   announce);
		}
	}
}

void sd_cdp_add_cached(struct sd_keyset *ks, struct sd_crl_set *cs)
{
	struct cdp_list *l = calloc(1, sizeof(*l));
	char name[sizeof(l->v[0].name) + 12];
	size_t i;

	if (l == NULL)
		return;
	collect(NULL, ks, l, 0);
	for (i = 0; i < l->n; i++) {
		snprintf(name, sizeof(name), "%s (cached)", l->v[i].name);
		/* Not fetched yet: nothing to add, sd_rev_check then finds no CRL. */
		sd_crl_set_add_file(cs, l->v[i].path, name);
	}
	list_free(l);
	free(l);
}

static void fmt_when(time_t t, char *out, size_t outsz)
{
	struct tm tm;

	if (t == 0 || gmtime_r(&t, &tm) == NULL)
		snprintf(out, outsz, "?");
	else
		strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Fetch one point: 1 when a new CRL was cached, 0 when accepted but not new (or check). */
static int fetch_point(struct signer *s, const struct cfg *cfg, struct cdp_point *p,
		       struct sd_crl_set *check, const atomic_int *cancel)
{
	struct sd_http_req r = {
	    .max = SD_CDP_MAX_SIZE,
	    .timeout_ms = cfg->revocation.fetch_timeout_ms,
	    .cancel = cancel,
	    .user_agent = "signerd/" SIGNERD_VERSION,
	    .code = SD_E_CRL_UNAVAILABLE,
	};
	uint8_t *cached = NULL, *data = NULL;
	size_t cachedlen = 0, len = 0, i;
	char shown[TS_URL_SHOWN_MAX], msg[400], when[32];
	struct sd_err e;
	time_t next;
	int rc, ret = -1;

	if (sd_read_file(p->path, SD_CDP_MAX_SIZE, &cached, &cachedlen, NULL) != 0)
		cached = NULL;
	for (i = 0; i < p->nurls && ret < 0; i++) {
		ts_url_shown(p->urls[i], shown, sizeof(shown));
		r.url = p->urls[i];
		memset(&e, 0, sizeof(e));
		OPENSSL_free(data);
		data = NULL;
		if (sd_http_do(&r, &data, &len, &e) != 0) {
			if (check)
				printf("cdp %s (key %s): FAILED: %s\n", shown, p->key, e.msg);
			else
				LOG_W(&s->log,
				      "CRL distribution point %s (key \"%s\"): fetch failed: %s",
				      shown, p->key, e.msg);
			continue;
		}
		/* The floors are read under the refresh lock; the download was not. */
		pthread_mutex_lock(&s->rev_refresh_mu);
		rc = sd_crl_vet(data, len, shown, p->issuer, &s->floors, cached, cachedlen,
				time(NULL), msg, sizeof(msg), &next);
		pthread_mutex_unlock(&s->rev_refresh_mu);
		if (rc != 0) {
			if (check)
				printf("cdp %s (key %s): REFUSED: %s\n", shown, p->key, msg);
			else
				LOG_W(&s->log,
				      "CRL distribution point %s (key \"%s\"): downloaded CRL "
				      "refused: "
				      "%s",
				      shown, p->key, msg);
			continue;
		}
		fmt_when(next, when, sizeof(when));
		ret = 0;
		if (check) {
			printf("cdp %s (key %s): ok, %zu bytes, nextUpdate %s\n", shown, p->key,
			       len, when);
			sd_crl_set_add_mem(check, data, len, shown);
			break;
		}
		if (cached != NULL && cachedlen == len && memcmp(cached, data, len) == 0) {
			LOG_D(&s->log, "CRL distribution point %s: unchanged", shown);
			break;
		}
		if (mkdir(cfg->revocation.cache_dir, 0750) != 0 && errno != EEXIST)
			LOG_E(&s->log, "cannot create revocation.cache_dir %s: %s",
			      cfg->revocation.cache_dir, strerror(errno));
		if (sd_write_file_atomic(p->path, data, len, 0640, 1, &e) != 0) {
			LOG_E(&s->log,
			      "CRL distribution point %s: cannot cache the CRL: %s (the previous "
			      "cached CRL stays in use)",
			      shown, e.msg);
			ret = -1;
			break;
		}
		LOG_I(&s->log,
		      "CRL distribution point %s: new CRL accepted (nextUpdate %s), cached in %s",
		      shown, when, p->path);
		ret = 1;
	}
	if (ret < 0 && check != NULL && cached != NULL) {
		snprintf(msg, sizeof(msg), "%s (cached)", p->name);
		printf("cdp %s (key %s): the cached CRL would stay in use\n", p->name, p->key);
		sd_crl_set_add_mem(check, cached, cachedlen, msg);
	}
	if (ret < 0 && !check)
		LOG_W(&s->log, "CRL distribution point %s (key \"%s\"): no new CRL; %s", p->name,
		      p->key,
		      cached != NULL ? "the cached CRL stays in use while it is current"
				     : "nothing is cached yet");
	OPENSSL_free(data);
	free(cached);
	return ret;
}

int sd_cdp_fetch_round(struct signer *s, struct sd_keyset *ks, struct sd_crl_set *check,
		       int announce)
{
	struct cdp_list *l = calloc(1, sizeof(*l));
	const atomic_int *cancel = s->cdp != NULL ? &s->cdp->stop : NULL;
	size_t i;
	int fresh = 0;

	if (l == NULL)
		return 0;
	collect(&s->log, ks, l, announce);
	if (check && l->n == 0)
		printf("cdp: no http or https CRL distribution point in the keys' certificates\n");
	if (!check && l->n == 0 && announce)
		LOG_W(&s->log, "revocation.fetch_cdp: no http or https CRL distribution point in "
			       "the keys' certificates");
	for (i = 0; i < l->n && !(cancel != NULL && atomic_load(cancel)); i++)
		fresh += fetch_point(s, ks->cfg, &l->v[i], check, cancel) > 0;
	list_free(l);
	free(l);
	return fresh;
}

static void deadline_in(struct timespec *ts, uint64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static int passed(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static void *cdp_main(void *arg)
{
	struct signer *s = arg;
	struct sd_cdp *c = s->cdp;
	struct sd_keyset *ks;
	struct timespec next;
	int on, kicked;

	deadline_in(&next, 0);
	pthread_mutex_lock(&c->mu);
	while (!atomic_load(&c->stop)) {
		ks = sd_current(s);
		on = ks != NULL && ks->cfg->revocation.fetch_cdp;
		kicked = c->kicked;
		if (on && (kicked || passed(&next))) {
			c->kicked = 0;
			pthread_mutex_unlock(&c->mu);
			/* The loop's refresh reads the cache too; only news is hurried. */
			if (sd_cdp_fetch_round(s, ks, NULL, kicked) > 0 && !atomic_load(&c->stop))
				sd_revocation_refresh(s, ks);
			deadline_in(&next, ks->cfg->revocation.refresh_ms);
			sd_keyset_unref(ks);
			pthread_mutex_lock(&c->mu);
			continue;
		}
		sd_keyset_unref(ks);
		c->kicked = 0;
		if (on)
			pthread_cond_timedwait(&c->cv, &c->mu, &next);
		else if (!atomic_load(&c->stop))
			pthread_cond_wait(&c->cv, &c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int sd_cdp_start(struct signer *s, struct sd_err *e)
{
	struct sd_cdp *c = calloc(1, sizeof(*c));
	pthread_condattr_t ca;

	if (c == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&c->stop, 0);
	c->kicked = 1;
	s->cdp = c;
	if (pthread_create(&c->th, NULL, cdp_main, s) != 0) {
		s->cdp = NULL;
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mu);
		free(c);
		return sd_err_set(e, SD_E_INTERNAL, "cannot start the CRL fetch thread");
	}
	return 0;
}

void sd_cdp_kick(struct signer *s)
{
	struct sd_cdp *c = s->cdp;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->kicked = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

void sd_cdp_stop(struct signer *s)
{
	struct sd_cdp *c = s->cdp;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	atomic_store(&c->stop, 1);
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->th, NULL);
	s->cdp = NULL;
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}
