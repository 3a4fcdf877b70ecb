/* The request handler: request frame in, exactly one response frame out. */
#include "signer/signer.h"

#include <stdio.h>
#include <string.h>

#include "authenticode/authenticode.h"
#include "signer/auditlog.h"
#include "signer/tsa.h"
#include "common/file.h"

#define STATUS_MAX 2048

struct md_name {
	const char *name;
	unsigned bit;
	size_t len;
	const EVP_MD *(*md)(void);
};

static const struct md_name md_names[] = {
    {"sha1", CFG_MD_SHA1, 20, EVP_sha1},
    {"sha256", CFG_MD_SHA256, 32, EVP_sha256},
    {"sha384", CFG_MD_SHA384, 48, EVP_sha384},
    {"sha512", CFG_MD_SHA512, 64, EVP_sha512},
};

int sd_check_validity(const struct sd_key *k, time_t now, struct sd_err *e)
{
	const ASN1_TIME *nb = X509_get0_notBefore(k->cert), *na = X509_get0_notAfter(k->cert);
	time_t soon = now + (time_t)k->cfg->min_validity_s;

	if (X509_cmp_time(nb, &now) > 0)
		return sd_err_set(e, SD_E_CERT_NOT_YET_VALID,
				  "key \"%s\": certificate is not valid before %s", k->cfg->name,
				  k->not_before);
	if (X509_cmp_time(na, &now) < 0)
		return sd_err_set(e, SD_E_CERT_EXPIRED, "key \"%s\": certificate expired at %s",
				  k->cfg->name, k->info.not_after);
	if (k->cfg->min_validity_s > 0 && X509_cmp_time(na, &soon) < 0)
		return sd_err_set(e, SD_E_CERT_EXPIRES_SOON,
				  "key \"%s\": certificate expires at %s, sooner than min_validity",
				  k->cfg->name, k->info.not_after);
	return 0;
}

/*
 * CA-issued keys need a current CRL that does not list them. The status is
 * refreshed in the background; a CRL that went stale since counts as none.
 */
static int check_revocation(struct signer *s, struct sd_keyset *ks, const struct sd_key *k,
			    struct sd_err *e)
{
	struct sd_rev_result r;

	if (k->self_signed)
		return 0;
	sd_key_rev(ks, k, &r);
	if (r.status == SD_REV_GOOD && r.next_update != 0 && time(NULL) >= r.next_update) {
		r.status = SD_REV_UNAVAILABLE;
		snprintf(r.msg, sizeof(r.msg),
			 "the CRL passed its nextUpdate; waiting for a new one");
	}
	if (r.status == SD_REV_REVOKED)
		return sd_err_set(e, SD_E_CERT_REVOKED, "key \"%s\": %s", k->cfg->name, r.msg);
	if (r.status != SD_REV_UNAVAILABLE)
		return 0;
	if (ks->cfg->revocation.on_unavailable != CFG_CRL_ALLOW)
		return sd_err_set(e, SD_E_CRL_UNAVAILABLE, "key \"%s\": %s", k->cfg->name, r.msg);
	LOG_W(&s->log, "signing with key \"%s\" WITHOUT a valid CRL (on_unavailable: allow): %s",
	      k->cfg->name, r.msg);
	return 0;
}

/* Everything decided before the token is used: *used is the key once it is known, *mo the digest.
 */
static int sign_check(struct signer *s, struct sd_keyset *ks, const struct sd_peer *peer,
		      enum au_subject subject, const struct sd_sign_req *req, struct sd_key **used,
		      const struct md_name **mo, struct sd_err *e)
{
	const struct md_name *m = NULL;
	struct sd_key *k;
	size_t i;
	char esc[SD_KEYNAME_MAX * 4];

	if (atomic_load(&s->frozen))
		return sd_err_set(e, SD_E_FROZEN, "signing is frozen by an administrator");
	k = sd_keyset_find(ks, req->key);
	if (k == NULL) {
		sd_log_escape(req->key, strlen(req->key), esc, sizeof(esc));
		return sd_err_set(e, SD_E_UNKNOWN_KEY, "no key named \"%s\"", esc);
	}
	*used = k;
	/* Authorisation first: a peer the key refuses learns nothing about its state. */
	if (!sd_peer_allowed(peer, k->cfg->allow, k->cfg->nallow))
		return sd_err_set(e, SD_E_NOT_AUTHORIZED, "uid %u may not sign with key \"%s\"",
				  (unsigned)peer->uid, k->cfg->name);
	/* A CAB key whose certificate clients trust must not start running scripts by default. */
	if (!(k->cfg->subjects & (subject == AU_SUBJECT_SCRIPT ? CFG_SUBJ_SCRIPT : CFG_SUBJ_CAB)))
		return sd_err_set(e, SD_E_NOT_AUTHORIZED,
				  "key \"%s\" does not sign %s (see keys[].sign)", k->cfg->name,
				  subject == AU_SUBJECT_SCRIPT ? "scripts" : "CABs");
	if (k->cfg->state == CFG_KEY_RETIRED)
		return sd_err_set(e, SD_E_KEY_RETIRED, "key \"%s\" is retired and signs nothing",
				  k->cfg->name);
	if (sd_admin_retired(s, k->cfg->name))
		return sd_err_set(e, SD_E_KEY_RETIRED,
				  "key \"%s\" was retired by an administrator and signs nothing",
				  k->cfg->name);
	for (i = 0; i < sizeof(md_names) / sizeof(*md_names); i++)
		if (strcmp(req->digest_alg, md_names[i].name) == 0)
			m = &md_names[i];
	if (m == NULL) {
		sd_log_escape(req->digest_alg, strlen(req->digest_alg), esc, sizeof(esc));
		return sd_err_set(e, SD_E_UNSUPPORTED_DIGEST,
				  "unknown digest algorithm \"%s\" (sha256, sha384, sha512)", esc);
	}
	if (!(k->cfg->digests & m->bit))
		return sd_err_set(e, SD_E_UNSUPPORTED_DIGEST,
				  "key \"%s\" does not allow %s (see keys[].digests)", k->cfg->name,
				  m->name);
	if (req->digest_len != m->len)
		return sd_err_set(e, SD_E_BAD_DIGEST_LENGTH, "%s digest must be %zu bytes, got %zu",
				  m->name, m->len, req->digest_len);
	if (sd_check_validity(k, time(NULL), e) != 0)
		return -1;
	if (check_revocation(s, ks, k, e) != 0)
		return -1;
	/* Last, so that refused requests do not use up the caller's rate. */
	if (sd_rate_take(&s->rate, peer->uid, ks->cfg->limits.rate_per_uid) != 0)
		return sd_err_set(e, SD_E_RATE_LIMITED, "uid %u exceeds limits.rate_per_uid (%u/s)",
				  (unsigned)peer->uid, ks->cfg->limits.rate_per_uid);
	*mo = m;
	return 0;
}

/* The token's part: the SignedData (self-verified by the builder), then the timestamp. */
static int sign_build(struct signer *s, struct sd_keyset *ks, const struct sd_key *k,
		      const struct md_name *m, enum au_subject subject,
		      const struct sd_sign_req *req, uint8_t **p7, size_t *p7len,
		      struct ts_token *tok, struct sd_err *e)
{
	struct au_sign_params ap;

	memset(&ap, 0, sizeof(ap));
	ap.subject = subject; /* from the request type only: never from its content */
	ap.md = m->md();
	ap.digest = req->digest;
	ap.digest_len = req->digest_len;
	ap.program = req->program;
	ap.url = req->url;
	ap.signer = k->cert;
	ap.chain = k->chain;
	ap.sign = k->sign;
	ap.sign_ctx = k->sign_ctx;
	if (au_build_prepared(k->prep, &ap, p7, p7len, e) != 0)
		return -1;
	if (sd_tsa_stamp(s, ks, k, p7, p7len, tok, e) != 0) {
		OPENSSL_free(*p7);
		*p7 = NULL;
		return -1;
	}
	/* A freeze during the signature still stops it from leaving. */
	if (atomic_load(&s->frozen)) {
		OPENSSL_free(*p7);
		*p7 = NULL;
		return sd_err_set(e, SD_E_FROZEN, "signing was frozen by an administrator");
	}
	return 0;
}

static void reply_error(struct signer *s, struct wbuf *out, const struct sd_err *e)
{
	atomic_fetch_add(&s->ctr.errors, 1);
	proto_enc_error(out, e->code, e->msg);
}

/*
 * Write-ahead: a signature that will carry no timestamp has nothing in its
 * record that the token's work decides, so the record is queued before the
 * token signs and its fdatasync runs meanwhile (sd_auditlog_event.ahead). If
 * the token then fails, a "void" record withdraws it (docs/AUDIT.md). A
 * timestamped signature's record names the TSA, so it is written after.
 */
static int record_ahead(struct signer *s, struct sd_keyset *ks, const struct sd_key *k)
{
	return s->audit_on && cfg_key_ts_policy(ks->cfg, k->cfg) == CFG_TS_OFF;
}

static void handle_sign(struct signer *s, const struct sd_peer *peer, uint8_t type,
			const uint8_t *body, size_t len, struct wbuf *out)
{
	enum au_subject subject = type == SD_MSG_SIGN_SCRIPT ? AU_SUBJECT_SCRIPT : AU_SUBJECT_CAB;
	struct sd_sign_req req;
	struct sd_keyset *ks = NULL;
	struct sd_key *used = NULL;
	const struct md_name *m = NULL;
	struct sd_auditlog_event ev;
	struct sd_err e = {0}, ae = {0};
	struct ts_token tok = {0};
	uint8_t *p7 = NULL;
	size_t p7len = 0;
	struct sd_audit_ticket ahead = {0};
	int decoded, rc, recorded = 0;
	char dhex[2 * SD_DIGEST_MAX + 1] = "";

	decoded = (subject == AU_SUBJECT_SCRIPT ? proto_dec_sign_script(body, len, &req, &e)
						: proto_dec_sign_cab(body, len, &req, &e)) == 0;
	rc = -1;
	if (decoded) {
		ks = sd_current(s);
		if (ks == NULL)
			sd_err_set(&e, SD_E_TOKEN_UNAVAILABLE, "no keys are loaded");
		else
			rc = sign_check(s, ks, peer, subject, &req, &used, &m, &e);
	}
	memset(&ev, 0, sizeof(ev));
	ev.peer = peer;
	ev.subject = subject;
	ev.req = decoded ? &req : NULL;
	ev.k = used;
	if (rc == 0 && record_ahead(s, ks, used)) {
		ev.ahead = 1;
		recorded = 1;
		if (sd_auditlog_sign(s, &ev, &ahead, &ae) != 0) {
			LOG_E(&s->log, "audit: %s", ae.msg);
			e = ae;
			rc = -1;
		}
	}
	if (rc == 0) {
		rc = sign_build(s, ks, used, m, subject, &req, &p7, &p7len, &tok, &e);
		if (rc != 0 && ahead.set) {
			/* The record says signed, but nothing leaves: withdraw it. */
			ev.ahead = 0;
			ev.result = e.code;
			ev.msg = e.msg;
			ev.voids = ahead.seq;
			if (!sd_auditlog_voidable(s, &ahead))
				LOG_W(
				    &s->log,
				    "audit: record %llu was never written or its log was reopened "
				    "twice since; nothing to void",
				    (unsigned long long)ahead.seq);
			else if (sd_auditlog_sign(s, &ev, NULL, &ae) != 0)
				LOG_E(&s->log, "audit: record %llu could not be voided: %s",
				      (unsigned long long)ahead.seq, ae.msg);
		}
	}
	/* Signed or refused, the record is on disk before the reply leaves. */
	if (!recorded) {
		ev.result = rc == 0 ? 0 : e.code;
		ev.msg = e.msg;
		ev.tok = &tok;
		if (sd_auditlog_sign(s, &ev, NULL, &ae) != 0) {
			LOG_E(&s->log, "audit: %s", ae.msg);
			if (rc == 0) {
				OPENSSL_free(p7);
				p7 = NULL;
				e = ae;
				rc = -1;
			}
		}
	}
	if (rc != 0)
		goto fail;
	proto_enc_signature(out, p7, p7len);
	atomic_fetch_add(&s->ctr.signatures, 1);
	if (req.digest_len <= SD_DIGEST_MAX)
		sd_hex(req.digest, req.digest_len, dhex);
	/* With the audit log, the record is the trace: the journal line only with -v. */
	sd_logf(&s->log, s->audit_on ? LOG_DEBUG : LOG_INFO, __func__,
		"signed %s %s digest %s with key \"%s\" for uid %u pid %d%s%s%s%s",
		au_subject_name(subject), req.digest_alg, dhex, used->cfg->name,
		(unsigned)peer->uid, (int)peer->pid, tok.der != NULL ? ", timestamped by " : "",
		tok.der != NULL ? tok.tsa : "", tok.der != NULL ? " at " : "",
		tok.der != NULL ? tok.gen_time_text : "");
	goto out;
fail:
	if (e.code == SD_E_INTERNAL || e.code == SD_E_AUDIT_UNAVAILABLE)
		LOG_E(&s->log, "uid %u: %s", (unsigned)peer->uid, e.msg);
	else
		LOG_I(&s->log, "refused uid %u: %s: %s", (unsigned)peer->uid, sd_code_name(e.code),
		      e.msg);
	reply_error(s, out, &e);
out:
	ts_token_clear(&tok);
	OPENSSL_free(p7);
	sd_keyset_unref(ks);
}

static void handle_get_cert(struct signer *s, const uint8_t *body, size_t len, struct wbuf *out)
{
	char name[SD_KEYNAME_MAX];
	struct sd_keyset *ks = NULL;
	struct sd_err e = {0};
	struct sd_key *k;
	const uint8_t *ders[SD_CERTS_MAX];
	size_t lens[SD_CERTS_MAX], n = 0, i;
	char esc[SD_KEYNAME_MAX * 4];

	if (proto_dec_get_cert(body, len, name, sizeof(name), &e) != 0)
		goto fail;
	ks = sd_current(s);
	k = ks ? sd_keyset_find(ks, name) : NULL;
	if (k == NULL) {
		sd_log_escape(name, strlen(name), esc, sizeof(esc));
		sd_err_set(&e, SD_E_UNKNOWN_KEY, "no key named \"%s\"", esc);
		goto fail;
	}
	ders[n] = k->cert_der;
	lens[n++] = k->cert_der_len;
	for (i = 0; i < k->nchain && n < SD_CERTS_MAX; i++) { /* bounded at load */
		ders[n] = k->chain_der[i];
		lens[n++] = k->chain_der_len[i];
	}
	proto_enc_cert(out, ders, lens, n);
	goto out;
fail:
	reply_error(s, out, &e);
out:
	sd_keyset_unref(ks);
}

/* The precomputed info plus the live revocation state. */
static void key_info(struct sd_keyset *ks, const struct sd_key *k, struct sd_key_info *out)
{
	struct sd_rev_result r;
	struct tm tm;

	*out = k->info;
	sd_key_rev(ks, k, &r);
	snprintf(out->revocation, sizeof(out->revocation), "%s",
		 k->self_signed ? "not-applicable" : sd_rev_name(r.status));
	out->crl_next_update[0] = '\0';
	if (!k->self_signed && r.next_update != 0 && gmtime_r(&r.next_update, &tm) != NULL)
		strftime(out->crl_next_update, sizeof(out->crl_next_update), "%Y-%m-%dT%H:%M:%SZ",
			 &tm);
}

void sd_key_info_live(struct sd_keyset *ks, const struct sd_key *k, struct sd_key_info *out)
{
	key_info(ks, k, out);
}

static void handle_list_keys(struct signer *s, const uint8_t *body, size_t len, struct wbuf *out)
{
	struct sd_keyset *ks = NULL;
	struct sd_key_info *infos = NULL;
	struct sd_err e = {0};
	size_t i;

	if (proto_dec_empty(body, len, &e) != 0)
		goto fail;
	ks = sd_current(s);
	if (ks == NULL) {
		proto_enc_keys(out, NULL, 0);
		goto out;
	}
	infos = calloc(ks->nkeys, sizeof(*infos));
	if (infos == NULL) {
		sd_err_set(&e, SD_E_INTERNAL, "out of memory");
		goto fail;
	}
	for (i = 0; i < ks->nkeys; i++)
		key_info(ks, &ks->keys[i], &infos[i]);
	proto_enc_keys(out, infos, ks->nkeys);
	goto out;
fail:
	reply_error(s, out, &e);
out:
	free(infos);
	sd_keyset_unref(ks);
}

static void handle_status(struct signer *s, const uint8_t *body, size_t len, struct wbuf *out)
{
	struct sd_err e = {0};
	struct sd_keyset *ks;
	char text[STATUS_MAX], tstate[200] = "unavailable";

	if (proto_dec_empty(body, len, &e) != 0) {
		reply_error(s, out, &e);
		return;
	}
	ks = sd_current(s);
	if (s->tok != NULL)
		p11_token_state(s->tok, tstate, sizeof(tstate));
	snprintf(text, sizeof(text),
		 "version: %s\nuptime_seconds: %lld\nrequests: %lu\nsignatures: %lu\nerrors: %lu\n"
		 "connections: %lu\nrejected_connections: %lu\ntoken: %s\ntoken_state: %s\n"
		 "sessions: %u\nparallel_peak: %lu\nkeys: %zu\ndefault_key: %s\nfrozen: %s\n",
		 SIGNERD_VERSION, (long long)(time(NULL) - s->started),
		 atomic_load(&s->ctr.requests), atomic_load(&s->ctr.signatures),
		 atomic_load(&s->ctr.errors), atomic_load(&s->ctr.connections),
		 atomic_load(&s->ctr.rejected_connections), s->tok ? s->tok->label : "-", tstate,
		 s->tok ? s->tok->nsess : 0, atomic_load(&s->ctr.signing_peak), ks ? ks->nkeys : 0,
		 ks && ks->def ? ks->def->cfg->name : "-", atomic_load(&s->frozen) ? "yes" : "no");
	sd_keyset_unref(ks);
	proto_enc_status_ok(out, text);
}

void sd_handle(struct signer *s, const struct sd_peer *peer, uint8_t type, const uint8_t *body,
	       size_t len, struct wbuf *out)
{
	struct sd_err e = {0};
	uint32_t version;

	atomic_fetch_add(&s->ctr.requests, 1);
	switch (type) {
	case SD_MSG_HELLO:
		if (proto_dec_hello(body, len, &version, &e) != 0)
			break;
		if (version < 1) {
			sd_err_set(&e, SD_E_UNSUPPORTED_VERSION,
				   "protocol version %u is not supported (server speaks 1)",
				   version);
			break;
		}
		/* A newer client gets the highest version we speak. */
		proto_enc_hello_ok(out, SD_PROTO_VERSION, "signerd " SIGNERD_VERSION);
		return;
	case SD_MSG_SIGN_CAB:
	case SD_MSG_SIGN_SCRIPT:
		handle_sign(s, peer, type, body, len, out);
		return;
	case SD_MSG_GET_CERT:
		handle_get_cert(s, body, len, out);
		return;
	case SD_MSG_LIST_KEYS:
		handle_list_keys(s, body, len, out);
		return;
	case SD_MSG_STATUS:
		handle_status(s, body, len, out);
		return;
	default:
		sd_err_set(&e, SD_E_BAD_REQUEST, "unknown message type 0x%02x", type);
		break;
	}
	reply_error(s, out, &e);
}
