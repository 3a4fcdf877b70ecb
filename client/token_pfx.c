/*
 * signer token import-pfx: a key, its certificate and CA certificates from a
 * PKCS#12 file onto the token, as a sensitive, non-extractable key. The key
 * was made outside the token and the output says so.
 */
#include "client/token.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>

#include "common/file.h"

#define PFX_MAX	 (1024 * 1024)
#define PASS_MAX 1024 /* longest password accepted */
#define CA_MAX	 32   /* CA certificates taken from one PFX */

/* The password: a fixed buffer the caller wipes with OPENSSL_cleanse. */
struct pfx_pass {
	char p[PASS_MAX + 2];
	size_t len;
};

/* First line of path, newline (and CR) stripped. Never printed. */
static int read_pass(const char *path, struct pfx_pass *pw, struct sd_err *e)
{
	struct stat st;
	size_t got = 0;
	ssize_t n;
	char *nl;
	int fd, ret = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return sd_err_set(e, SD_E_BAD_REQUEST, "password file %s: %s", path,
				  strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		sd_err_set(e, SD_E_BAD_REQUEST, "password file %s: not a regular file", path);
		goto out;
	}
	while (got < sizeof(pw->p) - 1) {
		n = read(fd, pw->p + got, sizeof(pw->p) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sd_err_set(e, SD_E_BAD_REQUEST, "password file %s: %s", path,
				   strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (memchr(pw->p, '\n', got) != NULL)
			break;
	}
	pw->p[got] = '\0';
	nl = memchr(pw->p, '\n', got);
	pw->len = nl != NULL ? (size_t)(nl - pw->p) : got;
	while (pw->len > 0 && pw->p[pw->len - 1] == '\r')
		pw->len--;
	/* Only the first line stays in memory. */
	OPENSSL_cleanse(pw->p + pw->len, sizeof(pw->p) - pw->len);
	if (pw->len > PASS_MAX) {
		sd_err_set(e, SD_E_BAD_REQUEST, "password file %s: longer than %d bytes", path,
			   PASS_MAX);
		goto out;
	}
	if (memchr(pw->p, '\0', pw->len) != NULL) {
		sd_err_set(e, SD_E_BAD_REQUEST, "password file %s: contains a NUL byte", path);
		goto out;
	}
	ret = 0;
out:
	close(fd);
	return ret;
}

enum pfx_fail { PFX_BAD_PASS, PFX_NEEDS_LEGACY, PFX_OTHER };

/* Why PKCS12_parse failed, from the whole error queue (which is emptied). */
static enum pfx_fail classify(char *why, size_t whylen)
{
	unsigned long l, last = 0;
	int bad_pass = 0, missing_alg = 0, lib, reason;

	while ((l = ERR_get_error()) != 0) {
		last = l;
		lib = ERR_GET_LIB(l);
		reason = ERR_GET_REASON(l);
		if (lib == ERR_LIB_PKCS12 && reason == PKCS12_R_MAC_VERIFY_FAILURE)
			bad_pass = 1;
		if (reason == ERR_R_UNSUPPORTED || reason == ERR_R_FETCH_FAILED ||
		    (lib == ERR_LIB_EVP && reason == EVP_R_UNSUPPORTED_ALGORITHM))
			missing_alg = 1;
	}
	if (last != 0)
		ERR_error_string_n(last, why, whylen);
	else
		snprintf(why, whylen, "no OpenSSL error recorded");
	return bad_pass ? PFX_BAD_PASS : missing_alg ? PFX_NEEDS_LEGACY : PFX_OTHER;
}

struct pfx {
	EVP_PKEY *key;
	X509 *leaf;
	STACK_OF(X509) * ca;
	OSSL_PROVIDER *legacy, *deflt;
};

static void pfx_free(struct pfx *p)
{
	EVP_PKEY_free(p->key);
	X509_free(p->leaf);
	sk_X509_pop_free(p->ca, X509_free);
	/* After the objects: the legacy provider's algorithms may be held by them. */
	if (p->legacy != NULL)
		OSSL_PROVIDER_unload(p->legacy);
	if (p->deflt != NULL)
		OSSL_PROVIDER_unload(p->deflt);
	memset(p, 0, sizeof(*p));
}

/*
 * Decrypt the PFX. Modern files (PBES2, AES, PBKDF2) need only the default
 * provider; legacy ones (RC2-40, 3DES) need OpenSSL's legacy provider, loaded
 * only when the first attempt failed for want of an algorithm.
 */
static int parse_pfx(const char *path, const uint8_t *der, size_t len, const struct pfx_pass *pw,
		     struct pfx *out, struct sd_err *e)
{
	const unsigned char *p = der;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
	char why[256];
	int attempt, ret = -1;

	if (p12 == NULL || p != der + len) {
		ERR_clear_error();
		sd_err_set(e, SD_E_BAD_REQUEST, "%s: not a DER PKCS#12 (PFX) file", path);
		goto out;
	}
	for (attempt = 0; attempt < 2; attempt++) {
		if (PKCS12_parse(p12, pw->p, &out->key, &out->leaf, &out->ca) == 1) {
			ret = 0;
			goto out;
		}
		switch (classify(why, sizeof(why))) {
		case PFX_BAD_PASS:
			sd_err_set(e, SD_E_NOT_AUTHORIZED,
				   "%s: wrong password (the PFX integrity check failed)", path);
			goto out;
		case PFX_NEEDS_LEGACY:
			if (out->legacy != NULL)
				break;
			out->legacy = OSSL_PROVIDER_load(NULL, "legacy");
			if (out->legacy == NULL) {
				ERR_clear_error();
				sd_err_set(e, SD_E_BAD_REQUEST,
					   "%s uses legacy encryption (RC2/3DES) and OpenSSL's "
					   "legacy provider cannot be loaded",
					   path);
				goto out;
			}
			/* Loading one provider must not leave the default one out. */
			if (!OSSL_PROVIDER_available(NULL, "default"))
				out->deflt = OSSL_PROVIDER_load(NULL, "default");
			continue;
		case PFX_OTHER:
			break;
		}
		sd_err_set(e, SD_E_BAD_REQUEST, "%s: cannot decrypt the PFX: %s", path, why);
		goto out;
	}
out:
	PKCS12_free(p12);
	return ret;
}

/* The PFX's CA certificates as one PEM file (for signerd.yaml's chain:). */
static int write_chain(const char *path, STACK_OF(X509) * ca, struct sd_err *e)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int i, ret = -1;

	if (b == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	for (i = 0; i < sk_X509_num(ca); i++)
		if (!PEM_write_bio_X509(b, sk_X509_value(ca, i))) {
			sd_err_set(e, SD_E_INTERNAL, "cannot encode the chain as PEM");
			goto out;
		}
	n = BIO_get_mem_data(b, &data);
	if (n <= 0) {
		sd_err_set(e, SD_E_INTERNAL, "cannot encode the chain as PEM");
		goto out;
	}
	ret = sd_write_file_atomic(path, data, (size_t)n, 0644, 1, e);
out:
	BIO_free(b);
	return ret;
}

/* Everything checked before the token is touched. */
static int precheck(const struct tok_opts *o, struct pfx *p, struct sd_err *e)
{
	struct p11_key probe;

	if (p->key == NULL)
		return sd_err_set(e, SD_E_BAD_REQUEST, "%s holds no private key", o->arg);
	if (p->leaf == NULL)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "%s holds no certificate matching its private key", o->arg);
	/* tok_check_codesign_cert reads only pub and label: the PFX key stands in. */
	memset(&probe, 0, sizeof(probe));
	probe.pub = p->key;
	snprintf(probe.label, sizeof(probe.label), "%s", o->label);
	if (tok_check_codesign_cert(&probe, p->leaf, e) != 0)
		return sd_err_prefix(e, "%s: ", o->arg);
	if (sk_X509_num(p->ca) > CA_MAX)
		return sd_err_set(e, SD_E_BAD_REQUEST, "%s holds %d CA certificates (at most %d)",
				  o->arg, sk_X509_num(p->ca), CA_MAX);
	if (o->chain_out != NULL && sk_X509_num(p->ca) <= 0)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "%s holds no CA certificates: nothing to write to --chain-out",
				  o->arg);
	return 0;
}

/* Store the leaf and CA certificates, write the chain; created CA objects go to made[]. */
static int store_certs(struct tok_ctx *t, const struct tok_opts *o, struct p11_key *k,
		       struct pfx *p, CK_OBJECT_HANDLE *made, int *nmade, struct sd_err *e)
{
	int i;

	/* The key on the token, not only the PFX copy, must match and sign. */
	if (tok_check_codesign_cert(k, p->leaf, e) != 0 || p11_key_check_cert(k, p->leaf, e) != 0 ||
	    p11_store_cert(k, p->leaf, e) != 0)
		return -1;
	for (i = 0; i < sk_X509_num(p->ca); i++) {
		if (p11_store_ca_cert(t->tok, sk_X509_value(p->ca, i), &made[*nmade], e) != 0)
			return -1;
		if (made[*nmade] != CK_INVALID_HANDLE)
			(*nmade)++;
	}
	if (o->chain_out != NULL && write_chain(o->chain_out, p->ca, e) != 0)
		return -1;
	return 0;
}

static void report(struct tok_ctx *t, const struct tok_opts *o, struct p11_key *k, struct pfx *p,
		   int nmade)
{
	char subj[256];
	int nca = sk_X509_num(p->ca) > 0 ? sk_X509_num(p->ca) : 0;

	printf("imported %s %d-bit key \"%s\" from %s onto token \"%s\"\n",
	       k->type == CKK_RSA ? "RSA" : "EC", EVP_PKEY_get_bits(k->pub), o->label, o->arg,
	       t->tok->label);
	printf("  origin: imported (not generated on the token; CKA_LOCAL false)\n"
	       "  now: sensitive, not extractable (CKA_SENSITIVE true, CKA_EXTRACTABLE false)\n");
	X509_NAME_oneline(X509_get_subject_name(p->leaf), subj, sizeof(subj));
	printf("certificate %s stored on the token with the key\n", subj);
	if (nca == 0)
		printf("CA certificates: none in the PFX\n");
	else
		printf("CA certificates: %d in the PFX; stored on the token as authority "
		       "certificates (%d new, %d already there)\n",
		       nca, nmade, nca - nmade);
	if (o->chain_out != NULL)
		printf("chain written to %s (use it as signerd.yaml's chain:)\n", o->chain_out);
	else if (nca > 0)
		printf("chain not written to a file (give --chain-out FILE for signerd.yaml's "
		       "chain:)\n");
	if (k->type == CKK_EC)
		fprintf(stderr, "warning: nothing from Microsoft says WSUS accepts ECDSA-signed "
				"CABs; use RSA for WSUS\n");
	fprintf(stderr,
		"note: %s still holds an exportable copy of the key; destroy it once "
		"signing with the token key works\n",
		o->arg);
}

int tok_import_pfx(struct tok_ctx *t, const struct tok_opts *o, struct sd_err *e)
{
	struct pfx_pass pw;
	struct pfx p;
	struct p11_key *k = NULL;
	CK_OBJECT_HANDLE made[CA_MAX];
	uint8_t *der = NULL;
	size_t len = 0;
	int i, rc, nmade = 0, ret = -1;

	memset(&pw, 0, sizeof(pw));
	memset(&p, 0, sizeof(p));
	if (o->arg == NULL || o->pass_file == NULL || o->label == NULL)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "import-pfx needs --label L --pass-file FILE and a .pfx file");
	if (sd_read_file(o->arg, PFX_MAX, &der, &len, e) != 0 ||
	    read_pass(o->pass_file, &pw, e) != 0)
		goto out;
	rc = parse_pfx(o->arg, der, len, &pw, &p, e);
	OPENSSL_cleanse(&pw, sizeof(pw)); /* no longer needed: wipe it now */
	if (rc != 0 || precheck(o, &p, e) != 0)
		goto out;
	if (p11_import_key(t->tok, o->label, p.key, &k, e) != 0)
		goto out;
	/* From here a failure removes what was created: no half import. */
	if (store_certs(t, o, k, &p, made, &nmade, e) != 0) {
		struct sd_err undo;

		for (i = 0; i < nmade; i++)
			p11_object_destroy(t->tok, made[i]);
		if (p11_key_destroy(k, &undo) != 0)
			sd_err_prefix(
			    e, "removing the incomplete import failed too (%s); first: ", undo.msg);
		goto out;
	}
	report(t, o, k, &p, nmade);
	ret = 0;
out:
	OPENSSL_cleanse(&pw, sizeof(pw));
	p11_key_free(k);
	pfx_free(&p);
	free(der);
	return ret;
}
