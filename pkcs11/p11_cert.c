/* Certificate objects on the token: finding CA certificates by subject, and listing them. */
#include "pkcs11/p11.h"

#include <stdlib.h>
#include <string.h>

#define CERT_DER_MAX 65536

/* Read one variable-length attribute (at most max bytes) into a malloc'd buffer. */
static CK_RV read_attr(struct p11_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
		       CK_ATTRIBUTE_TYPE type, size_t max, uint8_t **val, size_t *len)
{
	CK_ATTRIBUTE a = {type, NULL, 0};
	CK_RV rv;

	*val = NULL;
	*len = 0;
	rv = t->mod->f->C_GetAttributeValue(s, o, &a, 1);
	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen == (CK_ULONG)-1 || a.ulValueLen > max)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	a.pValue = malloc(a.ulValueLen ? a.ulValueLen : 1);
	if (a.pValue == NULL)
		return CKR_HOST_MEMORY;
	rv = t->mod->f->C_GetAttributeValue(s, o, &a, 1);
	if (rv != CKR_OK) {
		free(a.pValue);
		return rv;
	}
	*val = a.pValue;
	*len = a.ulValueLen;
	return CKR_OK;
}

/* The certificate in o's CKA_VALUE, or NULL when it is missing or not exactly one DER cert. */
static X509 *read_x509(struct p11_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o)
{
	uint8_t *v = NULL;
	size_t vl = 0;
	const unsigned char *p;
	X509 *x = NULL;

	if (read_attr(t, s, o, CKA_VALUE, CERT_DER_MAX, &v, &vl) != CKR_OK)
		return NULL;
	p = v;
	x = d2i_X509(NULL, &p, (long)vl);
	if (x != NULL && p != v + vl) {
		X509_free(x);
		x = NULL;
	}
	free(v);
	return x;
}

/*
 * Handles of the X.509 certificate objects (with the attribute by, when not
 * NULL), at most max; a token holding more than max is an error.
 */
static int find_certs(struct p11_token *t, CK_SESSION_HANDLE s, const CK_ATTRIBUTE *by,
		      CK_OBJECT_HANDLE *h, CK_ULONG max, CK_ULONG *got, struct sd_err *e)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ct = CKC_X_509;
	CK_ATTRIBUTE tmpl[3] = {{CKA_CLASS, &cls, sizeof(cls)},
				{CKA_CERTIFICATE_TYPE, &ct, sizeof(ct)}};
	CK_OBJECT_HANDLE extra_h;
	CK_ULONG more = 0;
	CK_RV rv;

	*got = 0;
	if (by != NULL)
		tmpl[2] = *by;
	rv = t->mod->f->C_FindObjectsInit(s, tmpl, by != NULL ? 3 : 2);
	if (rv != CKR_OK)
		return sd_err_set(e, SD_E_TOKEN_UNAVAILABLE,
				  "token \"%s\": C_FindObjectsInit(certificates): %s", t->label,
				  p11_rv_name(rv));
	rv = t->mod->f->C_FindObjects(s, h, max, got);
	/* One more: a token with more objects than max must not be silently cut short. */
	if (rv == CKR_OK && *got == max)
		rv = t->mod->f->C_FindObjects(s, &extra_h, 1, &more);
	t->mod->f->C_FindObjectsFinal(s);
	if (rv != CKR_OK)
		return sd_err_set(e, SD_E_TOKEN_UNAVAILABLE,
				  "token \"%s\": C_FindObjects(certificates): %s", t->label,
				  p11_rv_name(rv));
	if (more > 0)
		return sd_err_set(e, SD_E_INTERNAL,
				  "token \"%s\" holds more than %lu matching certificate objects",
				  t->label, (unsigned long)max);
	return 0;
}

static int session(struct p11_token *t, CK_SESSION_HANDLE *s, struct sd_err *e)
{
	char state[200];

	*s = p11_session_get(t);
	if (*s != CK_INVALID_HANDLE)
		return 0;
	p11_token_state(t, state, sizeof(state));
	return sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "token \"%s\" is %s", t->label, state);
}

/*
 * Push onto sk the certificates among the X.509 objects (with attribute by,
 * when not NULL; at most max of them) whose own subject is subject.
 */
static int collect(struct p11_token *t, CK_SESSION_HANDLE s, const CK_ATTRIBUTE *by, CK_ULONG max,
		   const X509_NAME *subject, STACK_OF(X509) * sk, struct sd_err *e)
{
	CK_OBJECT_HANDLE h[P11_CERT_LIST_MAX];
	CK_ULONG got = 0, i;
	X509 *x;

	if (find_certs(t, s, by, h, max, &got, e) != 0)
		return -1;
	for (i = 0; i < got; i++) {
		/*
		 * CKA_SUBJECT is only what the importer wrote: keep the
		 * certificates whose own subject really is the one asked for.
		 */
		x = read_x509(t, s, h[i]);
		if (x == NULL || X509_NAME_cmp(X509_get_subject_name(x), subject) != 0 ||
		    !sk_X509_push(sk, x))
			X509_free(x);
	}
	return 0;
}

int p11_certs_by_subject(struct p11_token *t, const X509_NAME *subject, STACK_OF(X509) * *out,
			 struct sd_err *e)
{
	uint8_t *der = NULL;
	int dl = i2d_X509_NAME(subject, &der);
	CK_ATTRIBUTE by = {CKA_SUBJECT, der, (CK_ULONG)(dl > 0 ? dl : 0)};
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	STACK_OF(X509) *sk = NULL;
	int ret = -1;

	*out = NULL;
	if (dl <= 0) {
		sd_err_set(e, SD_E_INTERNAL, "cannot encode a subject name");
		goto out;
	}
	sk = sk_X509_new_null();
	if (sk == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	if (session(t, &s, e) != 0 ||
	    collect(t, s, &by, P11_CERTS_BY_SUBJECT_MAX, subject, sk, e) != 0)
		goto out;
	/*
	 * None by CKA_SUBJECT: the same name may be stored in another encoding
	 * (PrintableString against UTF8String, say), which X509_NAME_cmp
	 * matches and a byte comparison does not. Look at every certificate.
	 */
	if (sk_X509_num(sk) == 0 && collect(t, s, NULL, P11_CERT_LIST_MAX, subject, sk, e) != 0)
		goto out;
	*out = sk;
	sk = NULL;
	ret = 0;
out:
	if (s != CK_INVALID_HANDLE)
		p11_session_put(t, s);
	sk_X509_pop_free(sk, X509_free);
	OPENSSL_free(der);
	return ret;
}

/* 1 when a private key with this CKA_ID exists, 0 when none, -1 when the search failed. */
static int key_with_id(struct p11_token *t, CK_SESSION_HANDLE s, const uint8_t *id, size_t idl)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_ID, (void *)id, idl}};
	CK_OBJECT_HANDLE h;
	CK_ULONG n = 0;
	CK_RV rv;

	if (t->mod->f->C_FindObjectsInit(s, tmpl, 2) != CKR_OK)
		return -1;
	rv = t->mod->f->C_FindObjects(s, &h, 1, &n);
	t->mod->f->C_FindObjectsFinal(s);
	return rv == CKR_OK ? n > 0 : -1;
}

static void read_label(struct p11_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, char *out,
		       size_t outsz)
{
	uint8_t *v = NULL;
	size_t vl = 0;

	out[0] = '\0';
	if (read_attr(t, s, o, CKA_LABEL, outsz - 1, &v, &vl) == CKR_OK) {
		memcpy(out, v, vl);
		out[vl] = '\0';
	}
	free(v);
}

int p11_ca_cert_list(struct p11_token *t, p11_cert_cb cb, void *ctx, struct sd_err *e)
{
	CK_OBJECT_HANDLE h[P11_CERT_LIST_MAX];
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_ULONG got = 0, i;
	struct p11_cert_obj c;
	uint8_t *id = NULL;
	size_t idl = 0;
	int has_key;

	if (session(t, &s, e) != 0)
		return -1;
	if (find_certs(t, s, NULL, h, P11_CERT_LIST_MAX, &got, e) != 0) {
		p11_session_put(t, s);
		return -1;
	}
	p11_session_put(t, s);
	/* The callback may take a session itself: never hold one across it. */
	for (i = 0; i < got; i++) {
		memset(&c, 0, sizeof(c));
		if (session(t, &s, e) != 0)
			return -1;
		has_key = 0;
		if (read_attr(t, s, h[i], CKA_ID, sizeof(c.id), &id, &idl) == CKR_OK && idl > 0) {
			memcpy(c.id, id, idl);
			c.id_len = idl;
			has_key = key_with_id(t, s, c.id, c.id_len);
		}
		free(id);
		id = NULL;
		if (has_key == 0) {
			read_label(t, s, h[i], c.label, sizeof(c.label));
			c.cert = read_x509(t, s, h[i]);
		}
		p11_session_put(t, s);
		if (has_key < 0)
			return sd_err_set(e, SD_E_TOKEN_UNAVAILABLE,
					  "token \"%s\": cannot search for private keys", t->label);
		if (has_key > 0)
			continue; /* a key's own certificate: listed with the key */
		cb(ctx, &c);
		X509_free(c.cert);
	}
	return 0;
}
