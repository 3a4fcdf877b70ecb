/* signerd: the signing daemon's entry point. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/x509.h>

#include "signer/auditlog.h"
#include "signer/cdp.h"
#include "signer/server.h"

#define EXIT_CONFIG 1
#define EXIT_USAGE  2

static void usage(FILE *f)
{
	fprintf(f, "usage: signerd [-c FILE] [-f] [-v] [--check] [--version]\n"
		   "  -c FILE    configuration (default " CFG_DEFAULT_PATH ")\n"
		   "  -f         stay in the foreground and log to stderr\n"
		   "  -v         verbose (debug) logging\n"
		   "  --check    validate config, token, keys and certificates; exit 0 or 1\n"
		   "  --version  print the version\n");
}

static void harden(struct signer *s)
{
	struct rlimit rl = {0, 0};

	signal(SIGPIPE, SIG_IGN);
	setrlimit(RLIMIT_CORE, &rl);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (geteuid() == 0)
		LOG_W(&s->log, "running as root; deploy/ runs signerd as its own user");
}

static int same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* What a reload cannot change without a restart. */
static int restart_needed(const struct cfg *a, const struct cfg *b, const char **what)
{
	*what = !same_str(a->token.module, b->token.module)	  ? "token.module"
		: !same_str(a->token.uri, b->token.uri)		  ? "token.uri"
		: !same_str(a->token.pin_file, b->token.pin_file) ? "token.pin_file"
		: !same_str(a->token.pin_env, b->token.pin_env)	  ? "token.pin_env"
		: a->token.sessions != b->token.sessions	  ? "token.sessions"
		: !same_str(a->socket.path, b->socket.path)	  ? "socket.path"
								  : NULL;
	return *what != NULL;
}

static int reload(struct signer *s, struct sd_err *e)
{
	struct cfg *cfg = NULL;
	struct sd_keyset *ks = NULL, *cur = NULL;
	const char *what;
	int bad;

	LOG_I(&s->log, "SIGHUP: reloading %s", s->config_path);
	if (cfg_load_file(s->config_path, &cfg, e) != 0) {
		LOG_E(&s->log, "reload refused, keeping the running configuration: %s", e->msg);
		goto keep;
	}
	cur = sd_current(s);
	bad = cur != NULL && restart_needed(cur->cfg, cfg, &what);
	sd_keyset_unref(cur);
	if (bad) {
		LOG_E(&s->log,
		      "reload refused, keeping the running configuration: %s changed; "
		      "that needs a restart",
		      what);
		sd_err_set(e, SD_E_BAD_REQUEST, "%s changed; that needs a restart", what);
		cfg_free(cfg);
		goto keep;
	}
	/* The new generation reads the CRLs afresh as it loads. */
	if (sd_keyset_load(s, cfg, &ks, e) != 0) {
		LOG_E(&s->log, "reload refused, keeping the running configuration: %s", e->msg);
		goto keep;
	}
	sd_auditlog_set_generation(s, ks);
	sd_install(s, ks);
	LOG_I(&s->log, "reloaded: %zu keys, default \"%s\"", ks->nkeys, ks->def->cfg->name);
	sd_auditlog_sighup(s, ks->cfg);
	sd_cdp_kick(s); /* new keys may name new distribution points */
	return 0;
keep:
	/* CRL problems never block a reload, and a refused reload still re-reads the CRLs. */
	cur = sd_current(s);
	if (cur != NULL) {
		sd_revocation_refresh(s, cur);
		sd_auditlog_sighup(s, cur->cfg);
	}
	sd_keyset_unref(cur);
	sd_cdp_kick(s);
	return -1;
}

static void print_check(struct signer *s, struct sd_keyset *ks)
{
	size_t i;
	struct sd_err e;
	const struct sd_key *k;
	struct sd_key_info in;
	struct sd_rev_result r;
	time_t warn_at;

	printf("config: %s: ok\n", s->config_path);
	printf("token: \"%s\" via %s: logged in, %u sessions\n", s->tok->label, s->mod->path,
	       s->tok->nsess);
	for (i = 0; i < ks->nkeys; i++) {
		k = &ks->keys[i];
		sd_key_info_live(ks, k, &in);
		sd_key_rev(ks, k, &r);
		printf("key %s%s: %s, subject %s, serial %s, sha1 %s, notAfter %s, revocation %s",
		       in.name, in.is_default ? " (default)" : "", in.state, in.subject, in.serial,
		       in.sha1, in.not_after, in.revocation);
		if (in.crl_next_update[0])
			printf(", CRL nextUpdate %s", in.crl_next_update);
		if (k->nchain > 0)
			printf(", chain %zu from %s", k->nchain,
			       k->chain_from_token ? "the token" : k->cfg->chain);
		memset(&e, 0, sizeof(e));
		/* Warn 30 days before min_validity starts refusing. */
		warn_at = time(NULL) + 30 * 86400;
		if (sd_check_validity(k, time(NULL), &e) != 0)
			printf(": WARNING %s: %s", sd_code_name(e.code), e.msg);
		else if (sd_check_validity(k, warn_at, &e) != 0)
			printf(": WARNING within 30 days: %s", e.msg);
		if (!k->self_signed && r.status != SD_REV_GOOD)
			printf(": WARNING %s: %s",
			       r.status == SD_REV_REVOKED ? "CERT_REVOKED" : "CRL_UNAVAILABLE",
			       r.msg);
		printf("\n");
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"check", no_argument, NULL, 'C'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct signer s;
	struct cfg *cfg = NULL;
	struct sd_keyset *ks = NULL;
	struct sd_crl_set *cs;
	struct sd_err e = {0};
	int c, check = 0, verbose = 0, ret = EXIT_CONFIG;
	sigset_t set;

	memset(&s, 0, sizeof(s));
	s.config_path = CFG_DEFAULT_PATH;
	s.listen_fd = -1;
	s.admin_fd = -1;
	pthread_mutex_init(&s.adm_mu, NULL);
	pthread_mutex_init(&s.rev_refresh_mu, NULL);
	pthread_rwlock_init(&s.audit_lk, NULL);
	while ((c = getopt_long(argc, argv, "c:fvh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			s.config_path = optarg;
			break;
		case 'f':
			s.foreground = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'C':
			check = 1;
			break;
		case 'V':
			printf("signerd %s\n", SIGNERD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	sd_log_open(&s.log, s.foreground || check, verbose);
	harden(&s);
	/* Before any thread exists: libcurl's global setup is not thread-safe. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		LOG_E(&s.log, "cannot initialise libcurl");
		return EXIT_CONFIG;
	}
	pthread_mutex_init(&s.gen_mu, NULL);
	sd_rate_init(&s.rate);
	s.started = time(NULL);
	if (cfg_load_file(s.config_path, &cfg, &e) != 0) {
		LOG_E(&s.log, "%s", e.msg);
		cfg_free(cfg);
		goto out;
	}
	if (sd_token_open(&s, cfg, &e) != 0) {
		LOG_E(&s.log, "%s", e.msg);
		cfg_free(cfg);
		if (e.code == SD_E_NOT_AUTHORIZED)
			ret = P11_EXIT_BAD_PIN;
		goto out;
	}
	if (sd_keyset_load(&s, cfg, &ks, &e) != 0) {
		LOG_E(&s.log, "%s", e.msg);
		goto out;
	}
	sd_install(&s, ks);
	if (!check && sd_auditlog_start(&s, ks->cfg, &e) != 0) {
		LOG_E(&s.log, "%s", e.msg);
		goto out;
	}
	sd_auditlog_set_generation(&s, ks);
	if (check) {
		/*
		 * Shows what the daemon would fetch, and judges the keys with it;
		 * the cache is left to the daemon.
		 */
		if (ks->cfg->revocation.fetch_cdp &&
		    (cs = sd_crl_set_load(ks->cfg->revocation.crl, ks->cfg->revocation.ncrl)) !=
			NULL) {
			printf("cdp: cache %s\n", ks->cfg->revocation.cache_dir);
			sd_cdp_fetch_round(&s, ks, cs, 1);
			sd_revocation_apply(&s, ks, cs);
			sd_crl_set_free(cs);
		}
		print_check(&s, ks);
		ret = 0;
		goto out;
	}
	/* Signals are taken synchronously by the event loop (signalfd). */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (sd_listen(&s, ks->cfg, &e) != 0 || sd_listen_admin(&s, ks->cfg, &e) != 0) {
		LOG_E(&s.log, "%s", e.msg);
		goto out;
	}
	/* Downloads CRLs off the event loop (revocation.fetch_cdp); idle otherwise. */
	if (sd_cdp_start(&s, &e) != 0) {
		LOG_E(&s.log, "%s", e.msg);
		goto out;
	}
	/*
	 * One worker per session, also with the audit log on: a worker with more
	 * requests queued does not wait for its record's fdatasync (the loop
	 * holds the reply), so extra workers would only queue for sessions. Once
	 * a key timestamps, the server adds spares that wait for the TSAs.
	 */
	ret = sd_serve(&s, ks->cfg->token.sessions, reload);
	if (ret == SD_SERVE_STUCK) {
		/* The token holds a thread hostage: touching it again would hang too. */
		LOG_E(&s.log, "stopped with a token call still pending; no final audit checkpoint");
		_exit(EXIT_CONFIG);
	}
	ret = ret == 0 ? 0 : EXIT_CONFIG;
	LOG_I(&s.log, "stopped");
out:
	sd_cdp_stop(&s);
	sd_auditlog_stop(&s);
	if (s.listen_fd >= 0)
		close(s.listen_fd);
	if (s.admin_fd >= 0)
		close(s.admin_fd);
	sd_install(&s, NULL);
	p11_token_free(s.tok);
	p11_module_free(s.mod);
	sd_crl_floors_free(&s.floors);
	sd_rate_destroy(&s.rate);
	pthread_mutex_destroy(&s.adm_mu);
	pthread_mutex_destroy(&s.rev_refresh_mu);
	pthread_rwlock_destroy(&s.audit_lk);
	pthread_mutex_destroy(&s.gen_mu);
	curl_global_cleanup();
	return ret;
}
