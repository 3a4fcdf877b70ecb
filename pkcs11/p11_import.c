/*
 * Importing a key made elsewhere (a PFX): raw components into C_CreateObject
 * with the same policy attributes as p11_keygen, authority certificates, and
 * undoing a partial import.
 */
#include "pkcs11/p11.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#define RSA_NCOMP    8	/* n, e, d, p, q, dp, dq, qinv */
#define EC_P256_LEN  32 /* private scalar and coordinate length */
#define MAX_KEY_OBJS 16

/* Every copy of a key component made here; wiped and freed by comps_free. */
struct comps {
	uint8_t *v[RSA_NCOMP];
	size_t len[RSA_NCOMP];
};

static void comps_free(struct comps *c)
{
	size_t i;

	for (i = 0; i < RSA_NCOMP; i++) {
		if (c->v[i] != NULL) {
			OPENSSL_cleanse(c->v[i], c->len[i]);
			free(c->v[i]);
		}
		c->v[i] = NULL;
		c->len[i] = 0;
	}
}

/* One RSA component, big-endian, into c->v[i]; the BIGNUM is cleared. */
static int rsa_comp(EVP_PKEY *pk, const char *name, struct comps *c, size_t i)
{
	BIGNUM *bn = NULL;
	int n, ret = -1;

	if (EVP_PKEY_get_bn_param(pk, name, &bn) != 1)
		return -1;
	n = BN_num_bytes(bn);
	if (n <= 0 || n > 1024)
		goto out;
	c->v[i] = malloc((size_t)n);
	if (c->v[i] == NULL)
		goto out;
	c->len[i] = (size_t)n;
	if (BN_bn2bin(bn, c->v[i]) != n)
		goto out;
	ret = 0;
out:
	BN_clear_free(bn);
	return ret;
}

static int rsa_comps(EVP_PKEY *pk, struct comps *c, struct sd_err *e)
{
	static const char *const names[RSA_NCOMP] = {
	    OSSL_PKEY_PARAM_RSA_N,	   OSSL_PKEY_PARAM_RSA_E,
	    OSSL_PKEY_PARAM_RSA_D,	   OSSL_PKEY_PARAM_RSA_FACTOR1,
	    OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
	    OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
	};
	BIGNUM *extra = NULL;
	size_t i;

	/* PKCS#11 has no attributes for a third prime. */
	if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_FACTOR3, &extra) == 1) {
		BN_clear_free(extra);
		return sd_err_set(e, SD_E_BAD_REQUEST, "multi-prime RSA keys cannot be imported");
	}
	for (i = 0; i < RSA_NCOMP; i++)
		if (rsa_comp(pk, names[i], c, i) != 0)
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "the RSA key lacks a component (%s); PKCS#11 needs the "
					  "full CRT form",
					  names[i]);
	return 0;
}

/* EC P-256: c->v[0] the private scalar (32 bytes), c->v[1] DER OCTET STRING of the point. */
static int ec_comps(EVP_PKEY *pk, struct comps *c, struct sd_err *e)
{
	uint8_t pt[2 * EC_P256_LEN + 1];
	size_t ptl = 0;
	BIGNUM *d = NULL;
	int ret = -1;

	/* CKA_EC_POINT holds the uncompressed point whatever form the PFX used. */
	if (EVP_PKEY_set_utf8_string_param(pk, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
					   "uncompressed") != 1 ||
	    EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &ptl) !=
		1 ||
	    ptl != sizeof(pt) || pt[0] != 0x04)
		return sd_err_set(e, SD_E_BAD_REQUEST, "cannot read the EC public point");
	if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1)
		return sd_err_set(e, SD_E_BAD_REQUEST, "the EC key has no private value");
	c->v[0] = malloc(EC_P256_LEN);
	c->v[1] = malloc(2 + sizeof(pt));
	if (c->v[0] == NULL || c->v[1] == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	c->len[0] = EC_P256_LEN;
	c->len[1] = 2 + sizeof(pt);
	if (BN_bn2binpad(d, c->v[0], EC_P256_LEN) != EC_P256_LEN) {
		sd_err_set(e, SD_E_BAD_REQUEST, "the EC private value is out of range");
		goto out;
	}
	c->v[1][0] = 0x04; /* OCTET STRING */
	c->v[1][1] = (uint8_t)sizeof(pt);
	memcpy(c->v[1] + 2, pt, sizeof(pt));
	ret = 0;
out:
	BN_clear_free(d);
	return ret;
}

/* RSA 2048..4096 or EC P-256 only: the types signerd signs with. */
static int check_type(EVP_PKEY *pk, CK_KEY_TYPE *kt, struct sd_err *e)
{
	char group[64];
	int bits = EVP_PKEY_get_bits(pk);

	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
		if (bits < 2048 || bits > 4096)
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "RSA key of %d bits: only 2048 to 4096 bits are accepted",
					  bits);
		*kt = CKK_RSA;
		return 0;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) != 1 ||
		    strcmp(group, "prime256v1") != 0)
			return sd_err_set(
			    e, SD_E_BAD_REQUEST, "EC key on curve %s: only P-256 is accepted",
			    EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) == 1
				? group
				: "(unknown)");
		*kt = CKK_EC;
		return 0;
	default:
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "key type %s: only RSA and EC P-256 keys are accepted",
				  EVP_PKEY_get0_type_name(pk) ? EVP_PKEY_get0_type_name(pk) : "?");
	}
}

/* Destroy every object carrying this CKA_ID (keys and certificates). */
static int destroy_by_id(struct p11_token *t, const uint8_t *id, size_t idlen, struct sd_err *e)
{
	CK_ATTRIBUTE tmpl[] = {{CKA_ID, (void *)id, idlen}};
	CK_OBJECT_HANDLE h[MAX_KEY_OBJS];
	CK_ULONG n = 0, i;
	CK_SESSION_HANDLE s = p11_session_get(t);
	CK_RV rv = t->mod->f->C_FindObjectsInit(s, tmpl, 1);
	int ret = 0;

	if (rv == CKR_OK) {
		rv = t->mod->f->C_FindObjects(s, h, MAX_KEY_OBJS, &n);
		t->mod->f->C_FindObjectsFinal(s);
	}
	for (i = 0; rv == CKR_OK && i < n; i++)
		if (t->mod->f->C_DestroyObject(s, h[i]) != CKR_OK)
			ret = -1;
	p11_session_put(t, s);
	if (rv != CKR_OK || ret != 0)
		return sd_err_set(e, SD_E_INTERNAL,
				  "cannot remove the objects of an incomplete import");
	return 0;
}

int p11_key_destroy(struct p11_key *k, struct sd_err *e)
{
	if (k->id_len == 0)
		return sd_err_set(e, SD_E_INTERNAL, "key \"%s\" has no CKA_ID", k->label);
	return destroy_by_id(k->tok, k->id, k->id_len, e);
}

void p11_object_destroy(struct p11_token *t, CK_OBJECT_HANDLE h)
{
	CK_SESSION_HANDLE s;

	if (h == CK_INVALID_HANDLE)
		return;
	s = p11_session_get(t);
	t->mod->f->C_DestroyObject(s, h);
	p11_session_put(t, s);
}

/* Create the private then the public object; on failure neither is left. */
static int create_pair(struct p11_token *t, CK_KEY_TYPE kt, const char *label, const uint8_t *id,
		       size_t idlen, const struct comps *c, struct sd_err *e)
{
	/* DER OID of prime256v1 (1.2.840.10045.3.1.7) for CKA_EC_PARAMS. */
	static const uint8_t p256_oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
					   0xce, 0x3d, 0x03, 0x01, 0x07};
	CK_OBJECT_CLASS privc = CKO_PRIVATE_KEY, pubc = CKO_PUBLIC_KEY;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG llen = strlen(label), np, nq;
	CK_ATTRIBUTE priv[12 + RSA_NCOMP] = {
	    {CKA_CLASS, &privc, sizeof(privc)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
	    {CKA_TOKEN, &yes, sizeof(yes)},	{CKA_PRIVATE, &yes, sizeof(yes)},
	    {CKA_SENSITIVE, &yes, sizeof(yes)}, {CKA_EXTRACTABLE, &no, sizeof(no)},
	    {CKA_SIGN, &yes, sizeof(yes)},	{CKA_DECRYPT, &no, sizeof(no)},
	    {CKA_UNWRAP, &no, sizeof(no)},	{CKA_DERIVE, &no, sizeof(no)},
	    {CKA_ID, (void *)id, idlen},	{CKA_LABEL, (void *)label, llen},
	};
	CK_ATTRIBUTE pub[10] = {
	    {CKA_CLASS, &pubc, sizeof(pubc)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
	    {CKA_TOKEN, &yes, sizeof(yes)},   {CKA_VERIFY, &yes, sizeof(yes)},
	    {CKA_ENCRYPT, &no, sizeof(no)},   {CKA_WRAP, &no, sizeof(no)},
	    {CKA_ID, (void *)id, idlen},      {CKA_LABEL, (void *)label, llen},
	};
	static const CK_ATTRIBUTE_TYPE rsa_types[RSA_NCOMP] = {
	    CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT, CKA_PRIME_1,
	    CKA_PRIME_2, CKA_EXPONENT_1,      CKA_EXPONENT_2,	    CKA_COEFFICIENT,
	};
	CK_OBJECT_HANDLE hpriv = CK_INVALID_HANDLE, hpub = CK_INVALID_HANDLE;
	CK_SESSION_HANDLE s;
	CK_RV rv;
	size_t i;
	int ret = -1;

	np = 12;
	nq = 8;
	if (kt == CKK_RSA) {
		for (i = 0; i < RSA_NCOMP; i++)
			priv[np++] = (CK_ATTRIBUTE){rsa_types[i], c->v[i], c->len[i]};
		pub[nq++] = (CK_ATTRIBUTE){CKA_MODULUS, c->v[0], c->len[0]};
		pub[nq++] = (CK_ATTRIBUTE){CKA_PUBLIC_EXPONENT, c->v[1], c->len[1]};
	} else {
		priv[np++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid)};
		priv[np++] = (CK_ATTRIBUTE){CKA_VALUE, c->v[0], c->len[0]};
		pub[nq++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid)};
		pub[nq++] = (CK_ATTRIBUTE){CKA_EC_POINT, c->v[1], c->len[1]};
	}
	s = p11_session_get(t);
	switch (p11_private_label_exists(t, s, label)) {
	case 0:
		break;
	case 1:
		sd_err_set(e, SD_E_BAD_REQUEST,
			   "a private key labelled \"%s\" already exists on \"%s\"", label,
			   t->label);
		goto out;
	default:
		sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "cannot search the token for \"%s\"", label);
		goto out;
	}
	rv = t->mod->f->C_CreateObject(s, priv, np, &hpriv);
	if (rv != CKR_OK) {
		hpriv = CK_INVALID_HANDLE;
		sd_err_set(e, SD_E_INTERNAL, "C_CreateObject(private key): %s", p11_rv_name(rv));
		goto out;
	}
	rv = t->mod->f->C_CreateObject(s, pub, nq, &hpub);
	if (rv != CKR_OK) {
		sd_err_set(e, SD_E_INTERNAL, "C_CreateObject(public key): %s", p11_rv_name(rv));
		goto out;
	}
	ret = 0;
out:
	if (ret != 0 && hpriv != CK_INVALID_HANDLE)
		t->mod->f->C_DestroyObject(s, hpriv);
	p11_session_put(t, s);
	return ret;
}

int p11_import_key(struct p11_token *t, const char *label, EVP_PKEY *pk, struct p11_key **out,
		   struct sd_err *e)
{
	struct comps c;
	struct p11_attest a;
	struct p11_uri u;
	CK_KEY_TYPE kt = 0;
	uint8_t id[16];
	int ret = -1;

	memset(&c, 0, sizeof(c));
	*out = NULL;
	if (strlen(label) == 0 || strlen(label) >= sizeof(u.object))
		return sd_err_set(e, SD_E_BAD_REQUEST, "key label must be 1..128 bytes");
	if (check_type(pk, &kt, e) != 0)
		return -1;
	if (RAND_bytes(id, sizeof(id)) != 1)
		return sd_err_set(e, SD_E_INTERNAL, "RAND_bytes failed");
	if ((kt == CKK_RSA ? rsa_comps(pk, &c, e) : ec_comps(pk, &c, e)) != 0)
		goto out;
	if (create_pair(t, kt, label, id, sizeof(id), &c, e) != 0)
		goto out;
	/* The module holds its own copy now: drop ours before anything else. */
	comps_free(&c);
	memset(&u, 0, sizeof(u));
	u.type = -1;
	memcpy(u.id, id, sizeof(id));
	u.id_len = sizeof(id);
	u.has_id = 1;
	if (p11_key_find(t, &u, out, e) != 0)
		goto undo;
	/* Trust but verify: the token must report the key as it was asked to make it. */
	if (p11_key_attest(*out, &a, e) != 0)
		goto undo;
	if (a.sensitive != 1 || a.extractable != 0 || a.sign != 1) {
		sd_err_set(e, SD_E_INTERNAL,
			   "the token did not keep the imported key sensitive and non-extractable");
		goto undo;
	}
	ret = 0;
	goto out;
undo : {
	struct sd_err ignored;

	destroy_by_id(t, id, sizeof(id), &ignored);
}
	p11_key_free(*out);
	*out = NULL;
out:
	comps_free(&c);
	return ret;
}

/* Printable label for a CA certificate: its subject CN, else a fixed text. */
static void ca_label(X509 *x, char *out, size_t outlen)
{
	X509_NAME *n = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	int l = -1;

	if (i >= 0)
		l = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)));
	if (l > 0 && memchr(utf8, '\0', (size_t)l) == NULL)
		snprintf(out, outlen, "%.*s", l, (const char *)utf8);
	else
		snprintf(out, outlen, "CA certificate");
	OPENSSL_free(utf8);
}

int p11_store_ca_cert(struct p11_token *t, X509 *cert, CK_OBJECT_HANDLE *h, struct sd_err *e)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ct = CKC_X_509;
	CK_ULONG category = 2; /* authority */
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	uint8_t *der = NULL, *subj = NULL, *iss = NULL, *ser = NULL;
	int dl, sl, il, snl, ret = -1;
	char label[129];
	CK_OBJECT_HANDLE old;
	CK_ULONG nold = 0;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_RV rv;

	*h = CK_INVALID_HANDLE;
	ca_label(cert, label, sizeof(label));
	dl = i2d_X509(cert, &der);
	sl = i2d_X509_NAME(X509_get_subject_name(cert), &subj);
	il = i2d_X509_NAME(X509_get_issuer_name(cert), &iss);
	snl = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &ser);
	if (dl <= 0 || sl <= 0 || il <= 0 || snl <= 0) {
		sd_err_set(e, SD_E_INTERNAL, "cannot encode CA certificate \"%s\"", label);
		goto out;
	}
	{
		CK_ATTRIBUTE find[] = {{CKA_CLASS, &cls, sizeof(cls)},
				       {CKA_VALUE, der, (CK_ULONG)dl}};
		CK_ATTRIBUTE tmpl[] = {
		    {CKA_CLASS, &cls, sizeof(cls)},
		    {CKA_CERTIFICATE_TYPE, &ct, sizeof(ct)},
		    {CKA_CERTIFICATE_CATEGORY, &category, sizeof(category)},
		    {CKA_TOKEN, &yes, sizeof(yes)},
		    {CKA_PRIVATE, &no, sizeof(no)},
		    {CKA_LABEL, label, strlen(label)},
		    {CKA_SUBJECT, subj, (CK_ULONG)sl},
		    {CKA_ISSUER, iss, (CK_ULONG)il},
		    {CKA_SERIAL_NUMBER, ser, (CK_ULONG)snl},
		    {CKA_VALUE, der, (CK_ULONG)dl},
		};

		s = p11_session_get(t);
		/* The same CA under several imported keys is stored once. */
		if (t->mod->f->C_FindObjectsInit(s, find, 2) == CKR_OK) {
			if (t->mod->f->C_FindObjects(s, &old, 1, &nold) != CKR_OK)
				nold = 0;
			t->mod->f->C_FindObjectsFinal(s);
		}
		if (nold > 0) {
			ret = 0;
			goto out;
		}
		rv = t->mod->f->C_CreateObject(s, tmpl, sizeof(tmpl) / sizeof(*tmpl), h);
		if (rv != CKR_OK) {
			*h = CK_INVALID_HANDLE;
			sd_err_set(e, SD_E_INTERNAL, "C_CreateObject(CA certificate \"%s\"): %s",
				   label, p11_rv_name(rv));
			goto out;
		}
	}
	ret = 0;
out:
	if (s != CK_INVALID_HANDLE)
		p11_session_put(t, s);
	OPENSSL_free(der);
	OPENSSL_free(subj);
	OPENSSL_free(iss);
	OPENSSL_free(ser);
	return ret;
}
