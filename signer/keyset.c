/* Loading a generation: the token, each key, its certificate and chain. */
#include "signer/signer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/file.h"
#include "signer/chain.h"
#include "signer/tsa.h"

#define CERT_FILE_MAX (1024 * 1024)

static void token_log(void *ctx, int prio, const char *msg)
{
	struct signer *s = ctx;

	sd_logf(&s->log, prio, "token", "%s", msg);
}

int sd_token_open(struct signer *s, const struct cfg *cfg, struct sd_err *e)
{
	struct p11_uri u;
	struct p11_secret *pin = NULL;

	if (p11_uri_parse(cfg->token.uri, &u, e) != 0)
		return -1;
	if (cfg->token.pin_file != NULL) {
		if (p11_secret_from_file(cfg->token.pin_file, &pin, e) != 0)
			return -1;
	} else if (cfg->token.pin_env != NULL) {
		if (p11_secret_from_env(cfg->token.pin_env, &pin, e) != 0)
			return -1;
	}
	if (pin != NULL && !pin->locked)
		LOG_W(&s->log, "the PIN buffer could not be locked in memory (RLIMIT_MEMLOCK); it "
			       "is still excluded from core dumps");
	if (p11_module_load(cfg->token.module, cfg->token.allowed_modules,
			    cfg->token.nallowed_modules, &s->mod, e) != 0) {
		p11_secret_free(pin);
		return -1;
	}
	/* p11_token_open owns pin from here on, also on failure. */
	if (p11_token_open(s->mod, &u, pin, cfg->token.sessions, 0, &s->tok, e) != 0) {
		p11_module_free(s->mod);
		s->mod = NULL;
		return -1;
	}
	p11_token_set_logger(s->tok, token_log, s);
	return 0;
}

/* Read every certificate in a PEM file, or the single one in a DER file. */
static int read_certs(const char *path, STACK_OF(X509) * *out, struct sd_err *e)
{
	uint8_t *data = NULL;
	size_t len = 0;
	BIO *b = NULL;
	X509 *x;
	const unsigned char *p;
	STACK_OF(X509) *sk = sk_X509_new_null();
	int ret = -1;

	if (sk == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	if (sd_read_file(path, CERT_FILE_MAX, &data, &len, e) != 0)
		goto out;
	if (len > 0 && data[0] == 0x30) {
		p = data;
		x = d2i_X509(NULL, &p, (long)len);
		if (x == NULL || p != data + len) {
			X509_free(x);
			sd_err_set(e, SD_E_INTERNAL, "%s: not a valid DER certificate", path);
			goto out;
		}
		sk_X509_push(sk, x);
	} else {
		b = BIO_new_mem_buf(data, (int)len);
		while (b != NULL && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
			sk_X509_push(sk, x);
		ERR_clear_error();
		if (sk_X509_num(sk) == 0) {
			sd_err_set(e, SD_E_INTERNAL, "%s: no PEM certificate found", path);
			goto out;
		}
	}
	*out = sk;
	sk = NULL;
	ret = 0;
out:
	sk_X509_pop_free(sk, X509_free);
	BIO_free(b);
	free(data);
	return ret;
}

static void fmt_time(const ASN1_TIME *t, char *out, size_t outsz)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
		snprintf(out, outsz, "?");
		return;
	}
	strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void fill_info(struct sd_key *k)
{
	struct sd_key_info *in = &k->info;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdl = 0;
	BIGNUM *bn;
	char *hex;
	BIO *b;
	int n;

	snprintf(in->name, sizeof(in->name), "%s", k->cfg->name);
	snprintf(in->state, sizeof(in->state), "%s",
		 k->cfg->state == CFG_KEY_RETIRED ? "retired" : "active");
	b = BIO_new(BIO_s_mem());
	if (b != NULL) {
		X509_NAME_print_ex(b, X509_get_subject_name(k->cert), 0, XN_FLAG_RFC2253);
		n = BIO_read(b, in->subject, sizeof(in->subject) - 1);
		in->subject[n > 0 ? n : 0] = '\0';
		BIO_free(b);
	}
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(k->cert), NULL);
	hex = bn ? BN_bn2hex(bn) : NULL;
	snprintf(in->serial, sizeof(in->serial), "%s", hex ? hex : "?");
	OPENSSL_free(hex);
	BN_free(bn);
	if (X509_digest(k->cert, EVP_sha1(), md, &mdl) == 1)
		sd_hex(md, mdl, in->sha1);
	fmt_time(X509_get0_notAfter(k->cert), in->not_after, sizeof(in->not_after));
	fmt_time(X509_get0_notBefore(k->cert), k->not_before, sizeof(k->not_before));
	/* revocation and crl_next_update are live: sd_key_info_live fills them per request. */
}

static int der_of(X509 *x, uint8_t **der, size_t *len)
{
	unsigned char *p = NULL;
	int l = i2d_X509(x, &p);

	if (l <= 0)
		return -1;
	*der = p;
	*len = (size_t)l;
	return 0;
}

static int token_sign(void *ctx, int md_nid, const uint8_t *hash, size_t hashlen, uint8_t *sig,
		      size_t *siglen, struct sd_err *e)
{
	return p11_key_sign(ctx, md_nid, hash, hashlen, sig, siglen, e);
}

static int token_certs(void *ctx, const X509_NAME *subject, STACK_OF(X509) * *out, struct sd_err *e)
{
	return p11_certs_by_subject(ctx, subject, out, e);
}

/*
 * Without a chain: file, the chain is the CA certificates on the token that
 * lead from the certificate towards its root (the root included when the
 * token holds it, as a chain: file would). None is no error: the signatures
 * then carry the leaf alone, as before. A chain that reaches a root must
 * verify like a chain: file; one that stops short is used as far as it goes.
 */
static int token_chain(struct signer *s, struct sd_key *k, struct sd_err *e)
{
	struct sd_chain_result r;
	char root[256];
	int n;

	if (sd_chain_build(k->cert, token_certs, s->tok, SD_CERTS_MAX - 1, &r, e) != 0)
		return -1;
	k->chain = r.chain;
	k->chain_from_token = r.chain != NULL;
	n = r.chain != NULL ? sk_X509_num(r.chain) : 0;
	if (n == 0) {
		if (!r.complete)
			LOG_I(&s->log,
			      "key \"%s\": no chain: file and no CA certificates for it "
			      "on the token (%s); signatures carry the certificate alone",
			      k->cfg->name, r.why);
		return 0;
	}
	if (r.complete) {
		if (sd_chain_verify(k->cert, k->chain, e) != 0)
			return -1;
		X509_NAME_oneline(X509_get_subject_name(sk_X509_value(k->chain, n - 1)), root,
				  sizeof(root));
		LOG_I(&s->log,
		      "key \"%s\": chain from the token: %d CA certificates up to the "
		      "root %s",
		      k->cfg->name, n, root);
		return 0;
	}
	LOG_W(&s->log,
	      "key \"%s\": chain from the token: %d CA certificates, not up to a "
	      "root: %s; clients must hold the rest",
	      k->cfg->name, n, r.why);
	return 0;
}

static int load_key(struct signer *s, const struct cfg_key *ck, struct sd_key *k, struct sd_err *e)
{
	struct p11_uri u;
	STACK_OF(X509) *sk = NULL;

	k->cfg = ck;
	if (p11_uri_parse(ck->uri, &u, e) != 0)
		return sd_err_prefix(e, "key \"%s\": ", ck->name);
	if (p11_key_find(s->tok, &u, &k->p11, e) != 0)
		return sd_err_prefix(e, "key \"%s\": ", ck->name);
	if (ck->certificate != NULL) {
		if (read_certs(ck->certificate, &sk, e) != 0)
			return sd_err_prefix(e, "key \"%s\": ", ck->name);
		k->cert = sk_X509_shift(sk);
		sk_X509_pop_free(sk, X509_free);
		sk = NULL;
	} else {
		if (p11_key_read_cert(k->p11, &k->cert, e) != 0)
			return sd_err_prefix(e, "key \"%s\": ", ck->name);
		if (k->cert == NULL)
			return sd_err_set(e, SD_E_UNKNOWN_KEY,
					  "key \"%s\": no certificate: none on the token under the "
					  "key's id and no certificate: file configured",
					  ck->name);
	}
	if (p11_key_check_cert(k->p11, k->cert, e) != 0)
		return sd_err_prefix(e, "key \"%s\": ", ck->name);
	if (ck->chain != NULL) {
		if (read_certs(ck->chain, &k->chain, e) != 0)
			return sd_err_prefix(e, "key \"%s\": chain: ", ck->name);
		if (sd_chain_verify(k->cert, k->chain, e) != 0)
			return sd_err_prefix(e, "key \"%s\": chain %s: ", ck->name, ck->chain);
	} else if (token_chain(s, k, e) != 0) {
		return sd_err_prefix(e, "key \"%s\": chain from the token: ", ck->name);
	}
	k->sign = token_sign;
	k->sign_ctx = k->p11;
	return sd_key_finish(k, e);
}

int sd_key_finish(struct sd_key *k, struct sd_err *e)
{
	size_t i;

	/*
	 * Not X509_check_issued: a code-signing certificate has no keyCertSign,
	 * so OpenSSL would not call it its own issuer.
	 */
	k->self_signed =
	    X509_NAME_cmp(X509_get_subject_name(k->cert), X509_get_issuer_name(k->cert)) == 0 &&
	    X509_verify(k->cert, X509_get0_pubkey(k->cert)) == 1;
	if (k->chain != NULL) {
		k->nchain = (size_t)sk_X509_num(k->chain);
		/* CERT carries the leaf and the chain: at most SD_CERTS_MAX in all. */
		if (k->nchain >= SD_CERTS_MAX)
			return sd_err_set(
			    e, SD_E_INTERNAL,
			    "key \"%s\": the chain holds %zu certificates; at most %d",
			    k->cfg->name, k->nchain, SD_CERTS_MAX - 1);
		k->chain_der = calloc(k->nchain, sizeof(*k->chain_der));
		k->chain_der_len = calloc(k->nchain, sizeof(*k->chain_der_len));
		if (k->chain_der == NULL || k->chain_der_len == NULL)
			return sd_err_set(e, SD_E_INTERNAL, "out of memory");
		for (i = 0; i < k->nchain; i++)
			if (der_of(sk_X509_value(k->chain, (int)i), &k->chain_der[i],
				   &k->chain_der_len[i]) != 0)
				return sd_err_set(e, SD_E_INTERNAL, "cannot encode chain");
	}
	if (der_of(k->cert, &k->cert_der, &k->cert_der_len) != 0)
		return sd_err_set(e, SD_E_INTERNAL, "cannot encode certificate");
	/* Everything in the SignedData that depends only on the key, computed once. */
	if (au_prepare(k->cert, k->chain, &k->prep, e) != 0)
		return sd_err_prefix(e, "key \"%s\": ", k->cfg->name);
	fill_info(k);
	return 0;
}

static void free_key(struct sd_key *k)
{
	size_t i;

	p11_key_free(k->p11);
	au_prepared_free(k->prep);
	X509_free(k->cert);
	sk_X509_pop_free(k->chain, X509_free);
	OPENSSL_free(k->cert_der);
	for (i = 0; i < k->nchain && k->chain_der; i++)
		OPENSSL_free(k->chain_der[i]);
	free(k->chain_der);
	free(k->chain_der_len);
}

static void keyset_free(struct sd_keyset *ks)
{
	size_t i;

	for (i = 0; i < ks->nkeys; i++)
		free_key(&ks->keys[i]);
	free(ks->keys);
	X509_STORE_free(ks->ts_ca);
	cfg_free(ks->cfg);
	pthread_mutex_destroy(&ks->rev_mu);
	free(ks);
}

int sd_keyset_load(struct signer *s, struct cfg *cfg, struct sd_keyset **out, struct sd_err *e)
{
	struct sd_keyset *ks = calloc(1, sizeof(*ks));
	const struct cfg_key *def;
	size_t i;

	if (ks == NULL) {
		cfg_free(cfg);
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	}
	atomic_init(&ks->refs, 1);
	pthread_mutex_init(&ks->rev_mu, NULL);
	ks->cfg = cfg;
	ks->keys = calloc(cfg->nkeys, sizeof(*ks->keys));
	if (ks->keys == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto fail;
	}
	if (sd_tsa_load(cfg, &ks->ts_ca, e) != 0)
		goto fail;
	def = cfg_default_key(cfg);
	for (i = 0; i < cfg->nkeys; i++) {
		ks->nkeys++;
		if (load_key(s, &cfg->keys[i], &ks->keys[i], e) != 0)
			goto fail;
		if (&cfg->keys[i] == def) {
			ks->def = &ks->keys[i];
			ks->keys[i].info.is_default = 1;
		}
	}
	sd_revocation_refresh(s, ks);
	*out = ks;
	return 0;
fail:
	keyset_free(ks);
	return -1;
}

void sd_keyset_ref(struct sd_keyset *ks)
{
	atomic_fetch_add(&ks->refs, 1);
}

void sd_keyset_unref(struct sd_keyset *ks)
{
	if (ks != NULL && atomic_fetch_sub(&ks->refs, 1) == 1)
		keyset_free(ks);
}

struct sd_keyset *sd_current(struct signer *s)
{
	struct sd_keyset *ks;

	pthread_mutex_lock(&s->gen_mu);
	ks = s->gen;
	if (ks != NULL)
		sd_keyset_ref(ks);
	pthread_mutex_unlock(&s->gen_mu);
	return ks;
}

void sd_install(struct signer *s, struct sd_keyset *ks)
{
	struct sd_keyset *old;

	pthread_mutex_lock(&s->gen_mu);
	old = s->gen;
	s->gen = ks;
	pthread_mutex_unlock(&s->gen_mu);
	sd_keyset_unref(old);
}

struct sd_key *sd_keyset_find(struct sd_keyset *ks, const char *name)
{
	size_t i;

	if (name[0] == '\0')
		return ks->def;
	for (i = 0; i < ks->nkeys; i++)
		if (strcmp(ks->keys[i].cfg->name, name) == 0)
			return &ks->keys[i];
	return NULL;
}

int sd_peer_allowed(const struct sd_peer *p, const struct cfg_principal *rules, size_t nrules)
{
	size_t i;
	int g;

	if (nrules == 0)
		return 1;
	for (i = 0; i < nrules; i++) {
		if (!rules[i].is_group) {
			if (p->uid == rules[i].id)
				return 1;
			continue;
		}
		if (p->gid == rules[i].id)
			return 1;
		for (g = 0; g < p->ngroups; g++)
			if (p->groups[g] == rules[i].id)
				return 1;
	}
	return 0;
}
