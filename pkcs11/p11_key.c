/* Finding keys, reading their public half, and signing on the token. */
#include "pkcs11/p11.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

/* Map a failed PKCS#11 call to a wire code. */
static uint32_t rv_code(CK_RV rv)
{
	switch (rv) {
	case CKR_DEVICE_ERROR:
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_SESSION_CLOSED:
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
	case CKR_USER_NOT_LOGGED_IN:
	case CKR_DEVICE_MEMORY:
		return SD_E_TOKEN_UNAVAILABLE;
	default:
		return SD_E_INTERNAL;
	}
}

/* Read one variable-length attribute into a malloc'd buffer. */
static int get_attr(struct p11_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
		    CK_ATTRIBUTE_TYPE type, uint8_t **val, size_t *len)
{
	CK_ATTRIBUTE a = {type, NULL, 0};

	if (t->mod->f->C_GetAttributeValue(s, o, &a, 1) != CKR_OK || a.ulValueLen == (CK_ULONG)-1 ||
	    a.ulValueLen > 65536)
		return -1;
	a.pValue = malloc(a.ulValueLen ? a.ulValueLen : 1);
	if (a.pValue == NULL)
		return -1;
	if (t->mod->f->C_GetAttributeValue(s, o, &a, 1) != CKR_OK) {
		free(a.pValue);
		return -1;
	}
	*val = a.pValue;
	*len = a.ulValueLen;
	return 0;
}

static EVP_PKEY *rsa_pub(const uint8_t *n, size_t nl, const uint8_t *ex, size_t el)
{
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *c = NULL;
	EVP_PKEY *pk = NULL;
	BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(ex, (int)el, NULL);

	if (b == NULL || bn == NULL || be == NULL || !OSSL_PARAM_BLD_push_BN(b, "n", bn) ||
	    !OSSL_PARAM_BLD_push_BN(b, "e", be) || (params = OSSL_PARAM_BLD_to_param(b)) == NULL)
		goto out;
	c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (c == NULL || EVP_PKEY_fromdata_init(c) <= 0 ||
	    EVP_PKEY_fromdata(c, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pk = NULL;
out:
	EVP_PKEY_CTX_free(c);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(b);
	BN_free(bn);
	BN_free(be);
	return pk;
}

static EVP_PKEY *ec_pub(const uint8_t *params_der, size_t pl, const uint8_t *point_der, size_t ptl)
{
	const unsigned char *p = params_der;
	ASN1_OBJECT *oid = d2i_ASN1_OBJECT(NULL, &p, (long)pl);
	const unsigned char *q = point_der;
	ASN1_OCTET_STRING *pt = d2i_ASN1_OCTET_STRING(NULL, &q, (long)ptl);
	EVP_PKEY_CTX *c = NULL;
	EVP_PKEY *pk = NULL;
	OSSL_PARAM prm[3];
	const char *group;

	if (oid == NULL || pt == NULL)
		goto out;
	group = OBJ_nid2sn(OBJ_obj2nid(oid));
	if (group == NULL || OBJ_obj2nid(oid) == NID_undef)
		goto out;
	prm[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
	prm[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt->data,
						   (size_t)pt->length);
	prm[2] = OSSL_PARAM_construct_end();
	c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (c == NULL || EVP_PKEY_fromdata_init(c) <= 0 ||
	    EVP_PKEY_fromdata(c, &pk, EVP_PKEY_PUBLIC_KEY, prm) <= 0)
		pk = NULL;
out:
	ASN1_OBJECT_free(oid);
	ASN1_OCTET_STRING_free(pt);
	EVP_PKEY_CTX_free(c);
	return pk;
}

static CK_OBJECT_HANDLE find_one(struct p11_token *t, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl,
				 CK_ULONG n, int *count)
{
	CK_OBJECT_HANDLE h[2] = {CK_INVALID_HANDLE, CK_INVALID_HANDLE};
	CK_ULONG got = 0;

	*count = 0;
	if (t->mod->f->C_FindObjectsInit(s, tmpl, n) != CKR_OK)
		return CK_INVALID_HANDLE;
	if (t->mod->f->C_FindObjects(s, h, 2, &got) != CKR_OK)
		got = 0;
	t->mod->f->C_FindObjectsFinal(s);
	*count = (int)got;
	return h[0];
}

static int load_public(struct p11_key *k, CK_SESSION_HANDLE s, struct sd_err *e)
{
	CK_OBJECT_CLASS pubc = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &pubc, sizeof(pubc)}, {CKA_ID, k->id, k->id_len}};
	CK_OBJECT_HANDLE pub, src;
	uint8_t *a = NULL, *b = NULL;
	size_t al = 0, bl = 0;
	int n;

	pub = find_one(k->tok, s, tmpl, 2, &n);
	src = n >= 1 ? pub : k->priv;
	if (k->type == CKK_RSA) {
		if (get_attr(k->tok, s, src, CKA_MODULUS, &a, &al) == 0 &&
		    get_attr(k->tok, s, src, CKA_PUBLIC_EXPONENT, &b, &bl) == 0)
			k->pub = rsa_pub(a, al, b, bl);
	} else if (n >= 1) {
		if (get_attr(k->tok, s, src, CKA_EC_PARAMS, &a, &al) == 0 &&
		    get_attr(k->tok, s, src, CKA_EC_POINT, &b, &bl) == 0)
			k->pub = ec_pub(a, al, b, bl);
	}
	free(a);
	free(b);
	if (k->pub == NULL)
		return sd_err_set(e, SD_E_INTERNAL,
				  "key \"%s\": cannot read its public key from the token",
				  k->label);
	return 0;
}

static int key_from_handle(struct p11_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h,
			   struct p11_key **out, struct sd_err *e)
{
	struct p11_key *k;
	CK_KEY_TYPE kt = 0;
	CK_BBOOL aa = CK_FALSE;
	CK_ATTRIBUTE a1[] = {{CKA_KEY_TYPE, &kt, sizeof(kt)}};
	CK_ATTRIBUTE a2[] = {{CKA_ALWAYS_AUTHENTICATE, &aa, sizeof(aa)}};
	uint8_t *v = NULL;
	size_t vl = 0;

	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	k->tok = t;
	k->priv = h;
	pthread_mutex_init(&k->mu, NULL);
	k->epoch = atomic_load(&t->epoch);
	if (t->mod->f->C_GetAttributeValue(s, h, a1, 1) != CKR_OK) {
		sd_err_set(e, SD_E_INTERNAL, "cannot read the key type");
		goto fail;
	}
	k->type = kt;
	if (t->mod->f->C_GetAttributeValue(s, h, a2, 1) == CKR_OK)
		k->always_auth = aa == CK_TRUE;
	if (get_attr(t, s, h, CKA_ID, &v, &vl) == 0 && vl <= sizeof(k->id)) {
		memcpy(k->id, v, vl);
		k->id_len = vl;
	}
	free(v);
	v = NULL;
	if (get_attr(t, s, h, CKA_LABEL, &v, &vl) == 0 && vl < sizeof(k->label)) {
		memcpy(k->label, v, vl);
		k->label[vl] = '\0';
	}
	free(v);
	if (kt != CKK_RSA && kt != CKK_EC) {
		sd_err_set(e, SD_E_INTERNAL, "key \"%s\": unsupported key type 0x%lx", k->label,
			   (unsigned long)kt);
		goto fail;
	}
	if (load_public(k, s, e) != 0)
		goto fail;
	*out = k;
	return 0;
fail:
	p11_key_free(k);
	return -1;
}

int p11_key_find(struct p11_token *t, const struct p11_uri *u, struct p11_key **out,
		 struct sd_err *e)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[3] = {{CKA_CLASS, &cls, sizeof(cls)}};
	CK_ULONG n = 1;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE h;
	int count, ret;

	if (!u->object[0] && !u->has_id)
		return sd_err_set(e, SD_E_UNKNOWN_KEY, "pkcs11 URI names no object= or id=");
	if (u->object[0]) {
		tmpl[n].type = CKA_LABEL;
		tmpl[n].pValue = (void *)u->object;
		tmpl[n++].ulValueLen = strlen(u->object);
	}
	if (u->has_id) {
		tmpl[n].type = CKA_ID;
		tmpl[n].pValue = (void *)u->id;
		tmpl[n++].ulValueLen = u->id_len;
	}
	s = p11_session_get(t);
	h = find_one(t, s, tmpl, n, &count);
	if (count == 0)
		ret = sd_err_set(e, SD_E_UNKNOWN_KEY, "no private key \"%s\" on token \"%s\"",
				 u->object[0] ? u->object : "(by id)", t->label);
	else if (count > 1)
		ret = sd_err_set(
		    e, SD_E_UNKNOWN_KEY,
		    "more than one private key matches \"%s\" on token \"%s\"; add id=", u->object,
		    t->label);
	else
		ret = key_from_handle(t, s, h, out, e);
	p11_session_put(t, s);
	return ret;
}

int p11_key_list(struct p11_token *t, p11_key_cb cb, void *ctx, struct sd_err *e)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}};
	CK_OBJECT_HANDLE h[64];
	CK_ULONG got = 0, i;
	CK_SESSION_HANDLE s = p11_session_get(t);
	struct p11_key *k;
	struct sd_err ke;

	if (t->mod->f->C_FindObjectsInit(s, tmpl, 1) != CKR_OK) {
		p11_session_put(t, s);
		return sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "C_FindObjectsInit failed");
	}
	if (t->mod->f->C_FindObjects(s, h, 64, &got) != CKR_OK)
		got = 0;
	t->mod->f->C_FindObjectsFinal(s);
	p11_session_put(t, s);
	/* The callback may take a session itself: never hold one across it. */
	for (i = 0; i < got; i++) {
		s = p11_session_get(t);
		if (key_from_handle(t, s, h[i], &k, &ke) != 0)
			k = NULL;
		p11_session_put(t, s);
		if (k == NULL)
			continue;
		cb(ctx, k);
		p11_key_free(k);
	}
	return 0;
}

void p11_key_free(struct p11_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pub);
	pthread_mutex_destroy(&k->mu);
	free(k);
}

static int digest_info(int md_nid, const uint8_t *hash, size_t hashlen, uint8_t **der, int *len)
{
	X509_SIG *sig = X509_SIG_new();
	X509_ALGOR *alg;
	ASN1_OCTET_STRING *os;
	int ret = -1;

	if (sig == NULL)
		return -1;
	X509_SIG_getm(sig, &alg, &os);
	if (!X509_ALGOR_set0(alg, OBJ_nid2obj(md_nid), V_ASN1_NULL, NULL) ||
	    !ASN1_OCTET_STRING_set(os, hash, (int)hashlen))
		goto out;
	*der = NULL;
	*len = i2d_X509_SIG(sig, der);
	ret = *len > 0 ? 0 : -1;
out:
	X509_SIG_free(sig);
	return ret;
}

/* r||s from CKM_ECDSA to a DER ECDSA-Sig-Value. */
static int ecdsa_to_der(const uint8_t *raw, size_t rl, uint8_t *sig, size_t *siglen)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, (int)(rl / 2), NULL);
	BIGNUM *s = BN_bin2bn(raw + rl / 2, (int)(rl / 2), NULL);
	unsigned char *p = NULL;
	int l, ret = -1;

	if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s))
		goto out;
	r = s = NULL;
	l = i2d_ECDSA_SIG(es, &p);
	if (l <= 0 || (size_t)l > *siglen)
		goto out;
	memcpy(sig, p, (size_t)l);
	*siglen = (size_t)l;
	ret = 0;
out:
	OPENSSL_free(p);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return ret;
}

/*
 * The key's handle in the current token epoch: after a re-initialisation the
 * old handle means nothing, so find the key again by CKA_ID (and label).
 */
static CK_RV current_handle(struct p11_key *k, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *h)
{
	struct p11_token *t = k->tok;
	unsigned ep = atomic_load(&t->epoch);
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	/* By CKA_ID when the key has one, else by label. */
	CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
			       k->id_len ? (CK_ATTRIBUTE){CKA_ID, k->id, k->id_len}
					 : (CK_ATTRIBUTE){CKA_LABEL, k->label, strlen(k->label)}};
	CK_OBJECT_HANDLE found = CK_INVALID_HANDLE;
	CK_ULONG n = 0;
	CK_RV rv = CKR_OK;

	pthread_mutex_lock(&k->mu);
	if (k->epoch != ep) {
		rv = t->mod->f->C_FindObjectsInit(s, tmpl, 2);
		if (rv == CKR_OK) {
			rv = t->mod->f->C_FindObjects(s, &found, 1, &n);
			t->mod->f->C_FindObjectsFinal(s);
		}
		if (rv == CKR_OK && n == 1) {
			k->priv = found;
			k->epoch = ep;
		} else if (rv == CKR_OK) {
			rv = CKR_KEY_HANDLE_INVALID;
		}
	}
	*h = k->priv;
	pthread_mutex_unlock(&k->mu);
	return rv;
}

/*
 * One attempt: C_SignInit (+ context-specific login) and C_Sign. When a step
 * after a successful C_SignInit fails without ending the operation, *stuck
 * is set: the session must not go back to the pool as it is.
 */
static CK_RV sign_once(struct p11_key *k, CK_SESSION_HANDLE s, const uint8_t *tbs, CK_ULONG tbslen,
		       uint8_t *out, CK_ULONG *outlen, const char **what, int *stuck)
{
	struct p11_token *t = k->tok;
	CK_MECHANISM mech = {k->type == CKK_RSA ? CKM_RSA_PKCS : CKM_ECDSA, NULL, 0};
	CK_OBJECT_HANDLE h;
	CK_RV rv;

	*stuck = 0;
	*what = "C_FindObjects";
	rv = current_handle(k, s, &h);
	if (rv != CKR_OK)
		return rv;
	if (k->always_auth && atomic_load(&t->pin_refused))
		return CKR_PIN_INCORRECT; /* never offer a refused PIN again */
	*what = "C_SignInit";
	rv = t->mod->f->C_SignInit(s, &mech, h);
	if (rv != CKR_OK)
		return rv;
	if (k->always_auth) {
		/* Context-specific login: from the PIN buffer, never a terminal prompt. */
		*what = "C_Login(CKU_CONTEXT_SPECIFIC)";
		rv = t->pin == NULL ? CKR_USER_NOT_LOGGED_IN
				    : t->mod->f->C_Login(s, CKU_CONTEXT_SPECIFIC,
							 (CK_UTF8CHAR_PTR)t->pin->p, t->pin->len);
		if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_EXPIRED ||
		    rv == CKR_PIN_INVALID || rv == CKR_PIN_LEN_RANGE)
			atomic_store(&t->pin_refused, 1);
		if (rv != CKR_OK) {
			*stuck = 1; /* the C_SignInit operation is still active */
			return rv;
		}
	}
	*what = "C_Sign";
	rv = t->mod->f->C_Sign(s, (CK_BYTE_PTR)tbs, tbslen, out, outlen);
	/* C_Sign ends the operation on every result but these two. */
	*stuck = rv == CKR_BUFFER_TOO_SMALL || rv == CKR_USER_NOT_LOGGED_IN;
	return rv;
}

int p11_key_sign(struct p11_key *k, int md_nid, const uint8_t *hash, size_t hashlen, uint8_t *sig,
		 size_t *siglen, struct sd_err *e)
{
	struct p11_token *t = k->tok;
	uint8_t *tbs = NULL, raw[512];
	int tbslen = 0, ret = -1, attempt;
	CK_ULONG outlen = 0;
	CK_SESSION_HANDLE s;
	const char *what = "";
	char state[200];
	int stuck = 0;
	CK_RV rv = CKR_OK;

	if (k->type == CKK_RSA) {
		if (digest_info(md_nid, hash, hashlen, &tbs, &tbslen) != 0)
			return sd_err_set(e, SD_E_INTERNAL, "cannot encode DigestInfo");
	} else {
		tbs = OPENSSL_memdup(hash, hashlen);
		tbslen = (int)hashlen;
		if (tbs == NULL)
			return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	}
	/* Session and login faults are repaired and retried once; token faults are not. */
	for (attempt = 0; attempt < 2; attempt++) {
		s = p11_session_get(t);
		if (s == CK_INVALID_HANDLE) {
			p11_token_state(t, state, sizeof(state));
			sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "token \"%s\" is %s", t->label,
				   state);
			goto out;
		}
		outlen = k->type == CKK_RSA ? (CK_ULONG)*siglen : sizeof(raw);
		rv = sign_once(k, s, tbs, (CK_ULONG)tbslen, k->type == CKK_RSA ? sig : raw, &outlen,
			       &what, &stuck);
		/* Never return a session with a half-done operation to the pool. */
		if (stuck && rv != CKR_OK && p11_session_reopen(t, &s) != 0) {
			p11_session_put(t, s);
			sd_err_set(e, SD_E_TOKEN_UNAVAILABLE,
				   "token \"%s\": cannot reset a session", t->label);
			goto out;
		}
		if (rv == CKR_OK) {
			p11_session_put(t, s);
			break;
		}
		if ((rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED) &&
		    attempt == 0 && p11_session_reopen(t, &s) == 0) {
			p11_session_put(t, s);
			continue;
		}
		if (rv == CKR_USER_NOT_LOGGED_IN && attempt == 0 && p11_relogin(t, s) == CKR_OK) {
			p11_session_put(t, s);
			continue;
		}
		if (p11_fault(t, rv, what)) {
			p11_session_put(t, s);
			sd_err_set(e, SD_E_TOKEN_UNAVAILABLE,
				   "token \"%s\" failed (%s: %s); reconnecting in the background",
				   t->label, what, p11_rv_name(rv));
			goto out;
		}
		p11_session_put(t, s);
		break;
	}
	if (rv != CKR_OK) {
		sd_err_set(e,
			   atomic_load(&t->pin_refused) && k->always_auth ? SD_E_TOKEN_UNAVAILABLE
									  : rv_code(rv),
			   "key \"%s\": %s: %s%s", k->label, what, p11_rv_name(rv),
			   atomic_load(&t->pin_refused) && k->always_auth
			       ? " (the token refused the PIN; not retried until signerd restarts)"
			       : "");
		goto out;
	}
	if (k->type == CKK_RSA) {
		*siglen = outlen;
	} else if (ecdsa_to_der(raw, outlen, sig, siglen) != 0) {
		sd_err_set(e, SD_E_INTERNAL, "key \"%s\": bad ECDSA signature from token",
			   k->label);
		goto out;
	}
	ret = 0;
out:
	OPENSSL_free(tbs);
	return ret;
}

int p11_key_check_cert(struct p11_key *k, X509 *cert, struct sd_err *e)
{
	uint8_t hash[32], sig[1024];
	size_t siglen = sizeof(sig);
	EVP_PKEY *cpub = X509_get0_pubkey(cert);
	EVP_PKEY_CTX *c = NULL;
	int ret = -1;

	if (cpub == NULL || EVP_PKEY_eq(cpub, k->pub) != 1)
		return sd_err_set(e, SD_E_INTERNAL,
				  "the certificate's public key does not match key \"%s\" on the "
				  "token",
				  k->label);
	if (RAND_bytes(hash, sizeof(hash)) != 1)
		return sd_err_set(e, SD_E_INTERNAL, "RAND_bytes failed");
	if (p11_key_sign(k, NID_sha256, hash, sizeof(hash), sig, &siglen, e) != 0)
		return -1;
	c = EVP_PKEY_CTX_new(cpub, NULL);
	if (c == NULL || EVP_PKEY_verify_init(c) <= 0 ||
	    (k->type == CKK_RSA && EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) <= 0) ||
	    EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) <= 0 ||
	    EVP_PKEY_verify(c, sig, siglen, hash, sizeof(hash)) != 1) {
		sd_err_set(e, SD_E_INTERNAL,
			   "a test signature by key \"%s\" does not verify with its certificate",
			   k->label);
		goto out;
	}
	ret = 0;
out:
	EVP_PKEY_CTX_free(c);
	return ret;
}

int p11_key_read_cert(struct p11_key *k, X509 **out, struct sd_err *e)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_ID, k->id, k->id_len}};
	CK_SESSION_HANDLE s = p11_session_get(k->tok);
	CK_OBJECT_HANDLE h;
	uint8_t *v = NULL;
	size_t vl = 0;
	const unsigned char *p;
	int n, ret = -1;

	*out = NULL;
	h = find_one(k->tok, s, tmpl, 2, &n);
	if (n == 0) {
		ret = 0;
		goto out;
	}
	if (get_attr(k->tok, s, h, CKA_VALUE, &v, &vl) != 0) {
		sd_err_set(e, SD_E_INTERNAL, "key \"%s\": cannot read its certificate", k->label);
		goto out;
	}
	p = v;
	*out = d2i_X509(NULL, &p, (long)vl);
	if (*out == NULL || p != v + vl) {
		X509_free(*out);
		*out = NULL;
		sd_err_set(e, SD_E_INTERNAL,
			   "key \"%s\": the certificate on the token is not valid DER", k->label);
		goto out;
	}
	ret = 0;
out:
	free(v);
	p11_session_put(k->tok, s);
	return ret;
}
