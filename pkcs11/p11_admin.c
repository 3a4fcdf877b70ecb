/* Token administration: key generation with explicit attributes, certificate objects, attestation.
 */
#include "pkcs11/p11.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/obj_mac.h>
#include <openssl/rand.h>

int p11_keytype_parse(const char *s, enum p11_keytype *t)
{
	if (strcmp(s, "rsa:2048") == 0)
		*t = P11_RSA2048;
	else if (strcmp(s, "rsa:3072") == 0)
		*t = P11_RSA3072;
	else if (strcmp(s, "rsa:4096") == 0)
		*t = P11_RSA4096;
	else if (strcmp(s, "ec:p256") == 0)
		*t = P11_ECP256;
	else
		return -1;
	return 0;
}

int p11_private_label_exists(struct p11_token *t, CK_SESSION_HANDLE s, const char *label)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
			       {CKA_LABEL, (void *)label, strlen(label)}};
	CK_OBJECT_HANDLE h;
	CK_ULONG n = 0;

	if (t->mod->f->C_FindObjectsInit(s, tmpl, 2) != CKR_OK)
		return -1;
	if (t->mod->f->C_FindObjects(s, &h, 1, &n) != CKR_OK)
		n = 0;
	t->mod->f->C_FindObjectsFinal(s);
	return n > 0;
}

int p11_keygen(struct p11_token *t, const char *label, enum p11_keytype type, struct p11_key **out,
	       struct sd_err *e)
{
	return p11_keygen_ex(t, label, type, 0, out, e);
}

int p11_keygen_ex(struct p11_token *t, const char *label, enum p11_keytype type, unsigned flags,
		  struct p11_key **out, struct sd_err *e)
{
	/* DER OID of prime256v1 (1.2.840.10045.3.1.7) for CKA_EC_PARAMS. */
	static const uint8_t p256_oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
					   0xce, 0x3d, 0x03, 0x01, 0x07};
	static const uint8_t f4[] = {0x01, 0x00, 0x01};
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits = type == P11_RSA2048 ? 2048 : type == P11_RSA4096 ? 4096 : 3072;
	CK_MECHANISM mech = {type == P11_ECP256 ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN,
			     NULL, 0};
	uint8_t id[16];
	CK_ULONG llen = strlen(label);
	CK_ATTRIBUTE pub[8], priv[] = {
				 {CKA_TOKEN, &yes, sizeof(yes)},
				 {CKA_PRIVATE, &yes, sizeof(yes)},
				 {CKA_SENSITIVE, &yes, sizeof(yes)},
				 {CKA_EXTRACTABLE, &no, sizeof(no)},
				 {CKA_SIGN, &yes, sizeof(yes)},
				 {CKA_DECRYPT, &no, sizeof(no)},
				 {CKA_UNWRAP, &no, sizeof(no)},
				 {CKA_DERIVE, &no, sizeof(no)},
				 {CKA_ID, id, sizeof(id)},
				 {CKA_LABEL, (void *)label, llen},
				 {CKA_ALWAYS_AUTHENTICATE, &yes, sizeof(yes)},
			     };
	/* CKA_ALWAYS_AUTHENTICATE is the last entry: only sent when asked for. */
	CK_ULONG npriv = sizeof(priv) / sizeof(*priv) - ((flags & P11_KEYGEN_ALWAYS_AUTH) ? 0 : 1);
	CK_ULONG npub = 0;
	CK_OBJECT_HANDLE hpub, hpriv;
	CK_SESSION_HANDLE s;
	struct p11_uri u;
	CK_RV rv;
	int ret = -1;

	if (llen == 0 || llen >= sizeof(u.object))
		return sd_err_set(e, SD_E_BAD_REQUEST, "key label must be 1..128 bytes");
	if (RAND_bytes(id, sizeof(id)) != 1)
		return sd_err_set(e, SD_E_INTERNAL, "RAND_bytes failed");
	pub[npub++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, sizeof(yes)};
	pub[npub++] = (CK_ATTRIBUTE){CKA_VERIFY, &yes, sizeof(yes)};
	pub[npub++] = (CK_ATTRIBUTE){CKA_ENCRYPT, &no, sizeof(no)};
	pub[npub++] = (CK_ATTRIBUTE){CKA_WRAP, &no, sizeof(no)};
	pub[npub++] = (CK_ATTRIBUTE){CKA_ID, id, sizeof(id)};
	pub[npub++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)label, llen};
	if (type == P11_ECP256) {
		pub[npub++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid)};
	} else {
		pub[npub++] = (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)};
		pub[npub++] = (CK_ATTRIBUTE){CKA_PUBLIC_EXPONENT, (void *)f4, sizeof(f4)};
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
		sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "cannot search token \"%s\" for \"%s\"",
			   t->label, label);
		goto out;
	}
	rv = t->mod->f->C_GenerateKeyPair(s, &mech, pub, npub, priv, npriv, &hpub, &hpriv);
	if (rv != CKR_OK) {
		sd_err_set(e, SD_E_INTERNAL, "C_GenerateKeyPair: %s", p11_rv_name(rv));
		goto out;
	}
	ret = 0;
out:
	p11_session_put(t, s);
	if (ret != 0)
		return ret;
	memset(&u, 0, sizeof(u));
	memcpy(u.id, id, sizeof(id));
	u.id_len = sizeof(id);
	u.has_id = 1;
	return p11_key_find(t, &u, out, e);
}

int p11_store_cert(struct p11_key *k, X509 *cert, struct sd_err *e)
{
	struct p11_token *t = k->tok;
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ct = CKC_X_509;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	uint8_t *der = NULL, *subj = NULL, *iss = NULL, *ser = NULL;
	int dl, sl, il, snl, ret = -1;
	CK_ATTRIBUTE find[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_ID, k->id, k->id_len}};
	CK_OBJECT_HANDLE old[8], h;
	CK_ULONG nold = 0, i;
	CK_SESSION_HANDLE s;
	CK_RV rv;

	dl = i2d_X509(cert, &der);
	sl = i2d_X509_NAME(X509_get_subject_name(cert), &subj);
	il = i2d_X509_NAME(X509_get_issuer_name(cert), &iss);
	snl = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &ser);
	if (dl <= 0 || sl <= 0 || il <= 0 || snl <= 0) {
		OPENSSL_free(der);
		OPENSSL_free(subj);
		OPENSSL_free(iss);
		OPENSSL_free(ser);
		return sd_err_set(e, SD_E_INTERNAL, "cannot encode the certificate");
	}
	{
		CK_ATTRIBUTE tmpl[] = {
		    {CKA_CLASS, &cls, sizeof(cls)},
		    {CKA_CERTIFICATE_TYPE, &ct, sizeof(ct)},
		    {CKA_TOKEN, &yes, sizeof(yes)},
		    {CKA_PRIVATE, &no, sizeof(no)},
		    {CKA_ID, k->id, k->id_len},
		    {CKA_LABEL, k->label, strlen(k->label)},
		    {CKA_SUBJECT, subj, (CK_ULONG)sl},
		    {CKA_ISSUER, iss, (CK_ULONG)il},
		    {CKA_SERIAL_NUMBER, ser, (CK_ULONG)snl},
		    {CKA_VALUE, der, (CK_ULONG)dl},
		};
		s = p11_session_get(t);
		if (t->mod->f->C_FindObjectsInit(s, find, 2) == CKR_OK) {
			t->mod->f->C_FindObjects(s, old, 8, &nold);
			t->mod->f->C_FindObjectsFinal(s);
		}
		rv = t->mod->f->C_CreateObject(s, tmpl, sizeof(tmpl) / sizeof(*tmpl), &h);
		if (rv != CKR_OK) {
			sd_err_set(e, SD_E_INTERNAL, "C_CreateObject(certificate): %s",
				   p11_rv_name(rv));
		} else {
			/* Replace: drop the previous certificate objects only once the new one
			 * exists. */
			for (i = 0; i < nold; i++)
				t->mod->f->C_DestroyObject(s, old[i]);
			ret = 0;
		}
		p11_session_put(t, s);
	}
	OPENSSL_free(der);
	OPENSSL_free(subj);
	OPENSSL_free(iss);
	OPENSSL_free(ser);
	return ret;
}

int p11_key_attest(struct p11_key *k, struct p11_attest *a, struct sd_err *e)
{
	CK_BBOOL v[10];
	CK_ATTRIBUTE t[] = {
	    {CKA_SENSITIVE, &v[0], 1},	 {CKA_ALWAYS_SENSITIVE, &v[1], 1},
	    {CKA_EXTRACTABLE, &v[2], 1}, {CKA_NEVER_EXTRACTABLE, &v[3], 1},
	    {CKA_LOCAL, &v[4], 1},	 {CKA_SIGN, &v[5], 1},
	    {CKA_DECRYPT, &v[6], 1},	 {CKA_UNWRAP, &v[7], 1},
	    {CKA_DERIVE, &v[8], 1},	 {CKA_ALWAYS_AUTHENTICATE, &v[9], 1},
	};
	int *dst[] = {&a->sensitive,   &a->always_sensitive,
		      &a->extractable, &a->never_extractable,
		      &a->local,       &a->sign,
		      &a->decrypt,     &a->unwrap,
		      &a->derive,      &a->always_authenticate};
	CK_SESSION_HANDLE s = p11_session_get(k->tok);
	size_t i;
	CK_RV rv;

	for (i = 0; i < 10; i++) {
		/* One at a time: a missing attribute must not hide the others. */
		rv = k->tok->mod->f->C_GetAttributeValue(s, k->priv, &t[i], 1);
		*dst[i] = rv == CKR_OK && t[i].ulValueLen == 1 ? v[i] == CK_TRUE : -1;
	}
	p11_session_put(k->tok, s);
	if (a->sensitive < 0 && a->extractable < 0)
		return sd_err_set(e, SD_E_INTERNAL, "key \"%s\": attributes cannot be read",
				  k->label);
	return 0;
}

/* Hash tbs, sign on the token, and return the signature value. */
static int token_sign_der(struct p11_key *k, const EVP_MD *md, const uint8_t *tbs, size_t tbslen,
			  uint8_t *sig, size_t *siglen, struct sd_err *e)
{
	uint8_t h[EVP_MAX_MD_SIZE];
	unsigned int hl = 0;

	if (EVP_Digest(tbs, tbslen, h, &hl, md, NULL) != 1)
		return sd_err_set(e, SD_E_INTERNAL, "digest failed");
	return p11_key_sign(k, EVP_MD_get_type(md), h, hl, sig, siglen, e);
}

static int sig_nid(struct p11_key *k, const EVP_MD *md)
{
	int nid = 0;

	if (!OBJ_find_sigid_by_algs(&nid, EVP_MD_get_type(md),
				    k->type == CKK_RSA ? NID_rsaEncryption
						       : NID_X9_62_id_ecPublicKey))
		return NID_undef;
	return nid;
}

int p11_sign_x509(struct p11_key *k, X509 *x, const EVP_MD *md, struct sd_err *e)
{
	int nid = sig_nid(k, md), ptype = k->type == CKK_RSA ? V_ASN1_NULL : V_ASN1_UNDEF;
	const ASN1_BIT_STRING *csig;
	const X509_ALGOR *calg;
	ASN1_BIT_STRING *bs;
	uint8_t *tbs = NULL, sig[1024];
	size_t siglen = sizeof(sig);
	int tl, ret = -1;

	if (nid == NID_undef)
		return sd_err_set(e, SD_E_INTERNAL,
				  "no signature algorithm for this key and digest");
	/*
	 * OpenSSL has no setter for a certificate's algorithm fields and
	 * signature; they are mutable members reached through the const getters.
	 */
	X509_get0_signature(&csig, &calg, x);
	if (!X509_ALGOR_set0((X509_ALGOR *)X509_get0_tbs_sigalg(x), OBJ_nid2obj(nid), ptype,
			     NULL) ||
	    !X509_ALGOR_set0((X509_ALGOR *)calg, OBJ_nid2obj(nid), ptype, NULL))
		return sd_err_set(e, SD_E_INTERNAL, "cannot set the signature algorithm");
	tl = i2d_re_X509_tbs(x, &tbs);
	if (tl <= 0)
		return sd_err_set(e, SD_E_INTERNAL, "cannot encode the certificate");
	if (token_sign_der(k, md, tbs, (size_t)tl, sig, &siglen, e) != 0)
		goto out;
	bs = (ASN1_BIT_STRING *)csig;
	if (!ASN1_BIT_STRING_set(bs, sig, (int)siglen)) {
		sd_err_set(e, SD_E_INTERNAL, "cannot set the signature");
		goto out;
	}
	bs->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	bs->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	if (X509_verify(x, k->pub) != 1) {
		sd_err_set(e, SD_E_INTERNAL, "the token's certificate signature does not verify");
		goto out;
	}
	ret = 0;
out:
	OPENSSL_free(tbs);
	return ret;
}

int p11_sign_x509_req(struct p11_key *k, X509_REQ *r, const EVP_MD *md, struct sd_err *e)
{
	int nid = sig_nid(k, md), ptype = k->type == CKK_RSA ? V_ASN1_NULL : V_ASN1_UNDEF;
	X509_ALGOR *alg = X509_ALGOR_new();
	ASN1_BIT_STRING *bs = ASN1_BIT_STRING_new();
	uint8_t *tbs = NULL, sig[1024];
	size_t siglen = sizeof(sig);
	int tl, ret = -1;

	if (alg == NULL || bs == NULL || nid == NID_undef ||
	    !X509_ALGOR_set0(alg, OBJ_nid2obj(nid), ptype, NULL)) {
		sd_err_set(e, SD_E_INTERNAL, "cannot set the request's signature algorithm");
		goto out;
	}
	if (!X509_REQ_set1_signature_algo(r, alg)) {
		sd_err_set(e, SD_E_INTERNAL, "cannot set the request's signature algorithm");
		goto out;
	}
	tl = i2d_re_X509_REQ_tbs(r, &tbs);
	if (tl <= 0) {
		sd_err_set(e, SD_E_INTERNAL, "cannot encode the request");
		goto out;
	}
	if (token_sign_der(k, md, tbs, (size_t)tl, sig, &siglen, e) != 0)
		goto out;
	if (!ASN1_BIT_STRING_set(bs, sig, (int)siglen)) {
		sd_err_set(e, SD_E_INTERNAL, "cannot set the signature");
		goto out;
	}
	bs->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	bs->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	X509_REQ_set0_signature(r, bs);
	bs = NULL;
	if (X509_REQ_verify(r, k->pub) != 1) {
		sd_err_set(e, SD_E_INTERNAL, "the token's request signature does not verify");
		goto out;
	}
	ret = 0;
out:
	X509_ALGOR_free(alg);
	ASN1_BIT_STRING_free(bs);
	OPENSSL_free(tbs);
	return ret;
}

int p11_init_token(struct p11_module *m, const char *label, const struct p11_secret *so_pin,
		   const struct p11_secret *user_pin, struct sd_err *e)
{
	CK_SLOT_ID *slots = NULL, slot = 0;
	CK_ULONG n = 0, i;
	CK_TOKEN_INFO ti;
	CK_UTF8CHAR lab[32];
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	size_t ll = strlen(label);
	int found = 0, ret = -1;
	CK_RV rv;

	if (ll == 0 || ll > sizeof(lab))
		return sd_err_set(e, SD_E_BAD_REQUEST, "token label must be 1..32 bytes");
	memset(lab, ' ', sizeof(lab));
	memcpy(lab, label, ll);
	if (m->f->C_GetSlotList(CK_TRUE, NULL, &n) != CKR_OK || n == 0)
		return sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "no slot with a token");
	slots = calloc(n, sizeof(*slots));
	if (slots == NULL || m->f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK) {
		sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "C_GetSlotList failed");
		goto out;
	}
	/* Only an uninitialised token: never wipe one that holds keys. */
	for (i = 0; i < n && !found; i++) {
		if (m->f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    !(ti.flags & CKF_TOKEN_INITIALIZED)) {
			slot = slots[i];
			found = 1;
		}
	}
	if (!found) {
		sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "no uninitialised token is available");
		goto out;
	}
	rv = m->f->C_InitToken(slot, (CK_UTF8CHAR_PTR)so_pin->p, so_pin->len, lab);
	if (rv != CKR_OK) {
		sd_err_set(e, SD_E_INTERNAL, "C_InitToken: %s", p11_rv_name(rv));
		goto out;
	}
	/* Some modules (SoftHSM2) move the new token to another slot id: look it up by label. */
	{
		struct p11_uri u;
		char got[33];

		memset(&u, 0, sizeof(u));
		memcpy(u.token, label, ll);
		if (p11_find_slot(m, &u, &slot, got, e) != 0)
			goto out;
	}
	rv = m->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
	if (rv == CKR_OK)
		rv = m->f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)so_pin->p, so_pin->len);
	if (rv == CKR_OK)
		rv = m->f->C_InitPIN(s, (CK_UTF8CHAR_PTR)user_pin->p, user_pin->len);
	if (rv != CKR_OK) {
		sd_err_set(e, SD_E_INTERNAL, "setting the user PIN: %s", p11_rv_name(rv));
		goto out;
	}
	ret = 0;
out:
	if (s != CK_INVALID_HANDLE) {
		m->f->C_Logout(s);
		m->f->C_CloseSession(s);
	}
	free(slots);
	return ret;
}
