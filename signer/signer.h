/* The daemon's state: one struct signer, no globals. */
struct sd_audit;
struct sd_cdp;
struct ts_token;
#ifndef SD_SIGNER_H
#define SD_SIGNER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <openssl/x509.h>

#include "authenticode/authenticode.h"
#include "common/buf.h"
#include "common/err.h"
#include "config/config.h"
#include "pkcs11/p11.h"
#include "proto/proto.h"
#include "signer/log.h"
#include "signer/ratelimit.h"
#include "signer/revocation.h"

/* One configured key, immutable once loaded. */
struct sd_key {
	const struct cfg_key *cfg; /* points into the generation's cfg */
	struct p11_key *p11;
	au_sign_fn sign;	  /* signs on the token (p11_key_sign); fuzzers plug in their own */
	struct au_prepared *prep; /* the SignedData parts fixed per key (au_prepare) */
	void *sign_ctx;
	X509 *cert;
	STACK_OF(X509) * chain; /* intermediates (and root): chain: file, else from the token */
	int chain_from_token;	/* no chain: file; chain built from the token's CA certificates */
	uint8_t *cert_der;
	size_t cert_der_len;
	uint8_t **chain_der;
	size_t *chain_der_len;
	size_t nchain;
	int self_signed;
	char not_before[32];	  /* for messages */
	struct sd_rev_result rev; /* guarded by the keyset's rev_mu; changes on CRL refresh */
	struct sd_key_info info;  /* precomputed for LIST_KEYS */
};

/*
 * A generation: the config and the keys loaded from it. Requests hold a
 * reference for their whole life, so a SIGHUP that swaps generations never
 * pulls a key out from under an in-flight signature.
 */
struct sd_keyset {
	atomic_int refs;
	struct cfg *cfg;
	struct sd_key *keys;
	size_t nkeys;
	struct sd_key *def;
	pthread_mutex_t rev_mu;
	X509_STORE *ts_ca; /* timestamp.ca, NULL when not configured */
};

/* Who is on the other end of a connection (SO_PEERCRED, SO_PEERGROUPS). */
struct sd_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	char exe[256];	  /* /proc/PID/exe at connect, else /proc/PID/comm */
	int exe_verified; /* 1 when exe came from /proc/PID/exe */
	gid_t groups[64];
	int ngroups;
};

struct sd_counters {
	atomic_ulong requests;
	atomic_ulong signatures;
	atomic_ulong errors;
	atomic_ulong connections;
	atomic_ulong rejected_connections;
	atomic_ulong signing_now;  /* requests inside a worker right now */
	atomic_ulong signing_peak; /* most ever at once: proof of parallel signing */
};

struct signer {
	struct sd_log log;
	const char *config_path;
	struct p11_module *mod;
	struct p11_token *tok;
	pthread_mutex_t gen_mu;
	struct sd_keyset *gen; /* current generation (guarded by gen_mu) */
	struct sd_counters ctr;
	time_t started;
	int listen_fd;
	int admin_fd; /* the admin channel's listener, -1 when none */
	int foreground;
	atomic_int frozen; /* ADMIN_FREEZE: every signature refused with FROZEN */
	pthread_mutex_t adm_mu;
	char adm_retired[16][SD_KEYNAME_MAX]; /* retired by ADMIN_RETIRE until restart */
	int nadm_retired;
	struct sd_crl_floors floors; /* CRL rollback protection, for the daemon's lifetime */
	struct sd_ratelimit rate;
	/* The audit trail (signer/auditlog.h): audit_lk guards the audit pointer. */
	struct sd_audit *audit;
	struct sd_keyset *audit_ks; /* holds the checkpoint key's generation */
	int audit_on;		    /* audit.path is set: no record, no signature */
	pthread_rwlock_t audit_lk;
	/* Deferred durability (sd_auditlog_defer); the ids under audit_lk. */
	pthread_key_t audit_defer;	 /* this thread's sd_audit_ticket, if it defers */
	int audit_defer_ok;		 /* audit_defer was created */
	uint64_t audit_id;		 /* the open log's id (0: none opened yet) */
	uint64_t audit_prev_id;		 /* the last log closed while running ... */
	uint64_t audit_prev_durable;	 /* ... and its last durable seq */
	pthread_mutex_t audit_notify_mu; /* guards the two below */
	void (*audit_notify)(void *ctx); /* see sd_auditlog_set_notify */
	void *audit_notify_ctx;
	time_t next_refresh;		/* next CRL re-read (under rev_refresh_mu) */
	pthread_mutex_t rev_refresh_mu; /* one CRL refresh at a time: floors, next_refresh */
	struct sd_cdp *cdp;		/* the CRL fetch thread (signer/cdp.h); NULL if none */
};

/*
 * Re-read the configured CRLs and recompute every key's revocation status.
 * Thread-safe (the loop's refresh and a reload's may meet). Logs changes.
 */
void sd_revocation_refresh(struct signer *s, struct sd_keyset *ks);
/* Recompute every key's revocation status against cs alone (signerd --check). */
void sd_revocation_apply(struct signer *s, struct sd_keyset *ks, struct sd_crl_set *cs);
/* Refresh the current generation when revocation.refresh has elapsed. */
void sd_revocation_tick(struct signer *s);
/* LIST_KEYS info for k with its live revocation status and CRL nextUpdate. */
void sd_key_info_live(struct sd_keyset *ks, const struct sd_key *k, struct sd_key_info *out);
/* A consistent copy of k's revocation state. */
void sd_key_rev(struct sd_keyset *ks, const struct sd_key *k, struct sd_rev_result *out);

/* Token: load the module, open sessions and log in (from cfg->token). */
int sd_token_open(struct signer *s, const struct cfg *cfg, struct sd_err *e);

/* Build a generation from cfg (takes ownership of cfg, also on failure). */
int sd_keyset_load(struct signer *s, struct cfg *cfg, struct sd_keyset **out, struct sd_err *e);
void sd_keyset_ref(struct sd_keyset *ks);
void sd_keyset_unref(struct sd_keyset *ks);
/* Current generation with a reference held; release with sd_keyset_unref. */
struct sd_keyset *sd_current(struct signer *s);
/* Install ks as the current generation (takes its reference). */
void sd_install(struct signer *s, struct sd_keyset *ks);
/*
 * Finish a key whose cfg, cert, chain, sign and sign_ctx are set: DER
 * encodings, self-signed flag and the LIST_KEYS info.
 */
int sd_key_finish(struct sd_key *k, struct sd_err *e);

/* Look a key up by name ("" = default). */
struct sd_key *sd_keyset_find(struct sd_keyset *ks, const char *name);

/* Whether a peer matches any of the rules (nrules == 0: allowed). */
int sd_peer_allowed(const struct sd_peer *p, const struct cfg_principal *rules, size_t nrules);

/*
 * The request handler: a pure function of (signer, peer, request frame body)
 * that appends exactly one response frame to out. type and body come from
 * proto_frame_peek. Never fails: errors become ERROR frames.
 */
void sd_handle(struct signer *s, const struct sd_peer *peer, uint8_t type, const uint8_t *body,
	       size_t len, struct wbuf *out);

/* Whether an administrator retired the key at run time (ADMIN_RETIRE). */
int sd_admin_retired(struct signer *s, const char *name);

/* Certificate validity against now and the key's min_validity. */
int sd_check_validity(const struct sd_key *k, time_t now, struct sd_err *e);

#endif
