/* CRL loading and revocation decisions for CA-issued signing certificates. */
#include "signer/revocation.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/file.h"

#define CRL_FILE_MAX (64 * 1024 * 1024)

struct crl_entry {
	X509_CRL *crl; /* NULL for a file that could not be read */
	char file[256];
};

struct sd_crl_set {
	struct crl_entry *v;
	size_t n;
};

const char *sd_rev_name(enum sd_rev_status s)
{
	switch (s) {
	case SD_REV_GOOD:
		return "good";
	case SD_REV_REVOKED:
		return "revoked";
	case SD_REV_UNAVAILABLE:
		return "crl-unavailable";
	default:
		return "not-applicable";
	}
}

static int push(struct sd_crl_set *cs, X509_CRL *crl, const char *file)
{
	struct crl_entry *nv = realloc(cs->v, (cs->n + 1) * sizeof(*nv));

	if (nv == NULL) {
		X509_CRL_free(crl);
		return -1;
	}
	cs->v = nv;
	cs->v[cs->n].crl = crl;
	snprintf(cs->v[cs->n].file, sizeof(cs->v[cs->n].file), "%s", file);
	cs->n++;
	return 0;
}

/* Add every CRL in data (one DER CRL, or PEM with one or more); 0 when none parsed. */
static int add_crls(struct sd_crl_set *cs, const uint8_t *data, size_t len, const char *name)
{
	const unsigned char *p;
	X509_CRL *crl;
	BIO *b;
	int got = 0;

	if (len > 0 && data[0] == 0x30) {
		p = data;
		crl = d2i_X509_CRL(NULL, &p, (long)len);
		if (crl != NULL && p == data + len)
			got = push(cs, crl, name) == 0;
		else
			X509_CRL_free(crl);
	} else if (len <= INT_MAX && (b = BIO_new_mem_buf(data, (int)len)) != NULL) {
		while ((crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)) != NULL)
			got += push(cs, crl, name) == 0;
		BIO_free(b);
	}
	ERR_clear_error();
	return got;
}

struct sd_crl_set *sd_crl_set_from_mem(const uint8_t *data, size_t len, const char *name)
{
	struct sd_crl_set *cs = calloc(1, sizeof(*cs));

	if (cs != NULL && !add_crls(cs, data, len, name))
		push(cs, NULL, name);
	return cs;
}

struct sd_crl_set *sd_crl_set_load(char *const *files, size_t nfiles)
{
	struct sd_crl_set *cs = calloc(1, sizeof(*cs));
	uint8_t *data;
	size_t len, i;
	int got;

	if (cs == NULL)
		return NULL;
	for (i = 0; i < nfiles; i++) {
		data = NULL;
		got = 0;
		if (sd_read_file(files[i], CRL_FILE_MAX, &data, &len, NULL) == 0)
			got = add_crls(cs, data, len, files[i]);
		free(data);
		if (!got)
			push(cs, NULL, files[i]); /* unreadable: covers nothing, logged by caller */
	}
	return cs;
}

int sd_crl_set_add_mem(struct sd_crl_set *cs, const uint8_t *data, size_t len, const char *name)
{
	return add_crls(cs, data, len, name) > 0 ? 0 : -1;
}

int sd_crl_set_add_file(struct sd_crl_set *cs, const char *path, const char *name)
{
	uint8_t *data = NULL;
	size_t len;
	int got = 0;

	if (sd_read_file(path, CRL_FILE_MAX, &data, &len, NULL) == 0)
		got = add_crls(cs, data, len, name);
	free(data);
	return got > 0 ? 0 : -1;
}

void sd_crl_set_free(struct sd_crl_set *cs)
{
	size_t i;

	if (cs == NULL)
		return;
	for (i = 0; i < cs->n; i++)
		X509_CRL_free(cs->v[i].crl);
	free(cs->v);
	free(cs);
}

void sd_crl_floors_free(struct sd_crl_floors *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		BN_free(f->v[i].number);
	free(f->v);
	f->v = NULL;
	f->n = 0;
}

static void issuer_id(X509 *issuer, unsigned char out[32])
{
	unsigned char *name = NULL, *key = NULL;
	int nl = i2d_X509_NAME(X509_get_subject_name(issuer), &name);
	int kl = i2d_PUBKEY(X509_get0_pubkey(issuer), &key);
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	memset(out, 0, 32);
	if (c != NULL && nl > 0 && kl > 0 && EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
	    EVP_DigestUpdate(c, name, (size_t)nl) && EVP_DigestUpdate(c, key, (size_t)kl))
		EVP_DigestFinal_ex(c, out, NULL);
	EVP_MD_CTX_free(c);
	OPENSSL_free(name);
	OPENSSL_free(key);
}

/* The floor for issuer: its entry, created with number NULL when absent. */
static struct sd_crl_floor *floor_of(struct sd_crl_floors *f, X509 *issuer)
{
	unsigned char id[32];
	struct sd_crl_floor *nv;
	size_t i;

	issuer_id(issuer, id);
	for (i = 0; i < f->n; i++)
		if (memcmp(f->v[i].issuer_hash, id, 32) == 0)
			return &f->v[i];
	nv = realloc(f->v, (f->n + 1) * sizeof(*nv));
	if (nv == NULL)
		return NULL;
	f->v = nv;
	memcpy(f->v[f->n].issuer_hash, id, 32);
	f->v[f->n].number = NULL;
	return &f->v[f->n++];
}

static void fmt_time(const ASN1_TIME *t, char *out, size_t outsz)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		snprintf(out, outsz, "?");
	else
		strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void subject_of(X509 *x, char *out, size_t outsz)
{
	X509_NAME_oneline(X509_get_subject_name(x), out, (int)outsz);
}

/* The floor for issuer without creating one; NULL when none. */
static const BIGNUM *floor_find(const struct sd_crl_floors *f, X509 *issuer)
{
	unsigned char id[32];
	size_t i;

	issuer_id(issuer, id);
	for (i = 0; i < f->n; i++)
		if (memcmp(f->v[i].issuer_hash, id, 32) == 0)
			return f->v[i].number;
	return NULL;
}

/*
 * The checks on crl (named name in messages), as issued by issuer, at now,
 * against the floors (not raised here). On success *num gets its CRL number
 * (0 when absent) and *next its nextUpdate, and 0 is returned; otherwise why
 * goes to msg and -1 is returned.
 */
static int crl_check(X509_CRL *crl, const char *name, X509 *issuer,
		     const struct sd_crl_floors *floors, time_t now, char *msg, size_t msgsz,
		     BIGNUM **num_out, time_t *next_out)
{
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
	ASN1_INTEGER *num = NULL;
	const BIGNUM *fl;
	BIGNUM *bn = NULL;
	char when[32];
	int crit = -1, ret = -1;
	struct tm tm;

	if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0) {
		snprintf(msg, msgsz, "CRL %s is not from the issuing CA (issuer name differs)",
			 name);
		goto out;
	}
	if ((X509_get_extension_flags(issuer) & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(issuer) & KU_CRL_SIGN)) {
		snprintf(msg, msgsz, "CRL %s: its issuer may not sign CRLs (no cRLSign)", name);
		goto out;
	}
	if (X509_CRL_verify(crl, X509_get0_pubkey(issuer)) != 1) {
		ERR_clear_error();
		snprintf(msg, msgsz,
			 "CRL %s: signature does not verify with the issuing CA's key (forged or "
			 "wrong CA)",
			 name);
		goto out;
	}
	if (X509_cmp_time(X509_CRL_get0_lastUpdate(crl), &now) > 0) {
		fmt_time(X509_CRL_get0_lastUpdate(crl), when, sizeof(when));
		snprintf(msg, msgsz, "CRL %s is not yet valid (thisUpdate %s)", name, when);
		goto out;
	}
	if (next == NULL || X509_cmp_time(next, &now) <= 0) {
		fmt_time(next, when, sizeof(when));
		snprintf(msg, msgsz, "CRL %s is stale (nextUpdate %s)", name, when);
		goto out;
	}
	if (X509_CRL_get_ext_d2i(crl, NID_delta_crl, &crit, NULL) != NULL || crit != -1) {
		snprintf(msg, msgsz, "CRL %s is a delta CRL; configure the full CRL", name);
		goto out;
	}
	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, NULL);
	bn = num ? ASN1_INTEGER_to_BN(num, NULL) : BN_new();
	if (bn == NULL) {
		snprintf(msg, msgsz, "out of memory");
		goto out;
	}
	fl = floor_find(floors, issuer);
	if (fl != NULL && BN_cmp(bn, fl) < 0) {
		char *a = BN_bn2dec(bn), *b = BN_bn2dec(fl);

		snprintf(msg, msgsz,
			 "CRL %s has CRL number %s, lower than %s accepted before (rollback)", name,
			 a ? a : "?", b ? b : "?");
		OPENSSL_free(a);
		OPENSSL_free(b);
		goto out;
	}
	*next_out = ASN1_TIME_to_tm(next, &tm) == 1 ? timegm(&tm) : 0;
	*num_out = bn;
	bn = NULL;
	ret = 0;
out:
	BN_free(bn);
	ASN1_INTEGER_free(num);
	return ret;
}

/*
 * Is crl, as issued by issuer, acceptable now? On success raises the floor
 * and returns 0; otherwise writes why into r and returns -1.
 */
static int crl_acceptable(const struct crl_entry *ce, X509 *issuer, struct sd_crl_floors *floors,
			  time_t now, struct sd_rev_result *r)
{
	struct sd_crl_floor *fl;
	BIGNUM *bn = NULL;
	time_t nt = 0;

	if (crl_check(ce->crl, ce->file, issuer, floors, now, r->msg, sizeof(r->msg), &bn, &nt) !=
	    0)
		return -1;
	fl = floor_of(floors, issuer);
	if (fl == NULL) {
		BN_free(bn);
		snprintf(r->msg, sizeof(r->msg), "out of memory");
		return -1;
	}
	if (fl->number == NULL || BN_cmp(bn, fl->number) > 0) {
		BN_free(fl->number);
		fl->number = bn;
		bn = NULL;
	}
	BN_free(bn);
	if (nt != 0 && (r->next_update == 0 || nt < r->next_update))
		r->next_update = nt;
	return 0;
}

int sd_crl_vet(const uint8_t *data, size_t len, const char *name, X509 *issuer,
	       const struct sd_crl_floors *floors, const uint8_t *cached, size_t cachedlen,
	       time_t now, char *msg, size_t msgsz, time_t *next_update)
{
	struct sd_crl_set *cs = calloc(1, sizeof(*cs)), *old = NULL;
	BIGNUM *bn = NULL, *oldbn = NULL;
	int ret = -1;

	*next_update = 0;
	if (cs == NULL) {
		snprintf(msg, msgsz, "out of memory");
		goto out;
	}
	if (add_crls(cs, data, len, name) != 1 || cs->n != 1) {
		snprintf(msg, msgsz, "%s is not a CRL (DER, or PEM holding exactly one CRL)", name);
		goto out;
	}
	if (crl_check(cs->v[0].crl, name, issuer, floors, now, msg, msgsz, &bn, next_update) != 0)
		goto out;
	/* The cache holds the last CRL accepted from here: never replace it with an older one. */
	if (cached != NULL && (old = calloc(1, sizeof(*old))) != NULL &&
	    add_crls(old, cached, cachedlen, name) == 1 &&
	    X509_NAME_cmp(X509_CRL_get_issuer(old->v[0].crl), X509_get_subject_name(issuer)) == 0 &&
	    X509_CRL_verify(old->v[0].crl, X509_get0_pubkey(issuer)) == 1) {
		ASN1_INTEGER *on = X509_CRL_get_ext_d2i(old->v[0].crl, NID_crl_number, NULL, NULL);

		oldbn = on ? ASN1_INTEGER_to_BN(on, NULL) : NULL;
		ASN1_INTEGER_free(on);
		if (oldbn != NULL && BN_cmp(bn, oldbn) < 0) {
			char *a = BN_bn2dec(bn), *b = BN_bn2dec(oldbn);

			snprintf(msg, msgsz,
				 "CRL %s has CRL number %s, lower than %s in the cached CRL "
				 "(rollback)",
				 name, a ? a : "?", b ? b : "?");
			OPENSSL_free(a);
			OPENSSL_free(b);
			goto out;
		}
	}
	ret = 0;
out:
	ERR_clear_error();
	BN_free(bn);
	BN_free(oldbn);
	sd_crl_set_free(old);
	sd_crl_set_free(cs);
	return ret;
}

static const char *reason_name(X509_REVOKED *rev)
{
	static const char *const names[] = {
	    "unspecified",   "keyCompromise",	     "cACompromise",	"affiliationChanged",
	    "superseded",    "cessationOfOperation", "certificateHold", "(7)",
	    "removeFromCRL", "privilegeWithdrawn",   "aACompromise",
	};
	ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL, NULL);
	long v = e ? ASN1_ENUMERATED_get(e) : 0;

	ASN1_ENUMERATED_free(e);
	return v >= 0 && v < (long)(sizeof(names) / sizeof(*names)) ? names[v] : "unknown";
}

static void revoked_msg(struct sd_rev_result *r, X509_REVOKED *rev, const char *what,
			const char *file)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(rev), NULL);
	char *ser = bn ? BN_bn2hex(bn) : NULL;
	char when[32];

	fmt_time(X509_REVOKED_get0_revocationDate(rev), when, sizeof(when));
	snprintf(r->msg, sizeof(r->msg),
		 "%.120s (serial %.64s) was revoked at %s, reason %s (CRL %.120s)", what,
		 ser ? ser : "?", when, reason_name(rev), file);
	r->status = SD_REV_REVOKED;
	OPENSSL_free(ser);
	BN_free(bn);
}

X509 *sd_rev_find_issuer(X509 *x, STACK_OF(X509) * chain)
{
	int i;
	X509 *c;

	for (i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
		c = sk_X509_value(chain, i);
		if (c != x &&
		    X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(x)) == 0 &&
		    X509_verify(x, X509_get0_pubkey(c)) == 1)
			return c;
	}
	ERR_clear_error();
	return NULL;
}

int sd_rev_self_signed(X509 *x)
{
	int ok = X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0 &&
		 X509_verify(x, X509_get0_pubkey(x)) == 1;

	ERR_clear_error();
	return ok;
}

void sd_rev_check(struct sd_crl_set *cs, struct sd_crl_floors *floors, X509 *leaf,
		  STACK_OF(X509) * chain, time_t now, struct sd_rev_result *r)
{
	X509 *cur = leaf, *issuer;
	X509_REVOKED *rev;
	char subj[256];
	size_t i;
	int candidates, depth;

	memset(r, 0, sizeof(*r));
	if (sd_rev_self_signed(leaf)) {
		r->status = SD_REV_NOT_APPLICABLE;
		snprintf(r->msg, sizeof(r->msg), "self-signed: cannot be revoked");
		return;
	}
	r->status = SD_REV_UNAVAILABLE;
	for (depth = 0; depth < 10 && !sd_rev_self_signed(cur); depth++, cur = issuer) {
		issuer = sd_rev_find_issuer(cur, chain);
		subject_of(cur, subj, sizeof(subj));
		if (issuer == NULL) {
			if (cur == leaf) {
				snprintf(r->msg, sizeof(r->msg),
					 "the issuer of %.250s is not in the key's chain (its "
					 "chain: file, else the CA certificates on the token)",
					 subj);
				return;
			}
			break;
		}
		candidates = 0;
		for (i = 0; cs != NULL && i < cs->n; i++) {
			if (cs->v[i].crl == NULL ||
			    X509_NAME_cmp(X509_CRL_get_issuer(cs->v[i].crl),
					  X509_get_subject_name(issuer)) != 0)
				continue;
			candidates++;
			/* Every CRL for this issuer must be good: no fallback to another. */
			if (crl_acceptable(&cs->v[i], issuer, floors, now, r) != 0)
				return;
			if (X509_CRL_get0_by_cert(cs->v[i].crl, &rev, cur) == 1) {
				revoked_msg(r, rev, cur == leaf ? "the signing certificate" : subj,
					    cs->v[i].file);
				return;
			}
		}
		if (candidates == 0 && cur == leaf) {
			char isub[256];

			subject_of(issuer, isub, sizeof(isub));
			snprintf(r->msg, sizeof(r->msg),
				 "no valid CRL from the issuer %.300s is configured or fetched",
				 isub);
			return;
		}
	}
	r->status = SD_REV_GOOD;
	snprintf(r->msg, sizeof(r->msg), "not revoked");
}

int sd_chain_verify(X509 *leaf, STACK_OF(X509) * chain, struct sd_err *e)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	int i, ret = -1, roots = 0;
	X509 *c;

	if (st == NULL || ctx == NULL || untrusted == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	for (i = 0; i < sk_X509_num(chain); i++) {
		c = sk_X509_value(chain, i);
		if (sd_rev_self_signed(c)) {
			X509_STORE_add_cert(st, c);
			roots++;
		} else {
			sk_X509_push(untrusted, c);
		}
	}
	if (roots == 0) {
		sd_err_set(e, SD_E_INTERNAL, "the chain holds no self-signed root");
		goto out;
	}
	X509_STORE_set_flags(st, X509_V_FLAG_NO_CHECK_TIME);
	if (!X509_STORE_CTX_init(ctx, st, leaf, untrusted)) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	if (X509_verify_cert(ctx) != 1) {
		sd_err_set(e, SD_E_INTERNAL,
			   "the certificate does not chain to a root in the chain: %s",
			   X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		goto out;
	}
	ret = 0;
out:
	ERR_clear_error();
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return ret;
}
