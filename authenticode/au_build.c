/*
 * au_build / au_build_prepared: the Authenticode SignedData the daemon
 * returns (AUTHENTICODE-CAB.md section 4), DER-encoded directly around the
 * per-key parts of au_prepare. The bytes are those OpenSSL's PKCS7 encoder
 * produced (au_ref.c; the unit tests compare them). The signature itself
 * comes from the caller's au_sign_fn (a PKCS#11 token in the daemon); this
 * file never sees a private key.
 */
#include "authenticode/au_internal.h"

#include <string.h>

#include <openssl/err.h>

#define AU_TAG_INTEGER 0x02
#define AU_TAG_UTCTIME 0x17
#define AU_TAG_GENTIME 0x18
#define AU_TAG_SET     0x31

/* At most five signed attributes; the fixed ones fit in AU_ATTR_VAR bytes. */
#define AU_NATTR    5
#define AU_ATTR_VAR 160

static const uint8_t version1[] = {AU_TAG_INTEGER, 0x01, 0x01};

struct attr {
	const uint8_t *p;
	size_t len;
};

/* Per-call state: everything the signature and the output are made of. */
struct job {
	const struct au_prepared *pr;
	const struct au_prep_md *pm;
	const struct au_sign_params *p;
	uint8_t indirect[AU_INDIRECT_MAX]; /* SpcIndirectDataContent TLV */
	size_t indirect_len;
	uint8_t var[AU_ATTR_VAR]; /* signingTime and messageDigest attributes */
	uint8_t *opus;		  /* SpcSpOpusInfo attribute, or NULL */
	struct attr attrs[AU_NATTR];
	size_t nattrs, attrs_len; /* attrs DER-sorted; attrs_len = SET content size */
	uint8_t *sig;
	size_t siglen;
};

/* Checks shared by au_build and au_build_prepared, in au_build's order. */
static int check_request(const struct au_sign_params *p, const struct au_md **md, struct sd_err *e)
{
	if (p == NULL || p->md == NULL || p->digest == NULL || p->sign == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "au_build: missing parameter");
	if (!au_subject_known(p->subject))
		return sd_err_set(e, SD_E_INTERNAL, "au_build: unsupported subject %d",
				  (int)p->subject);
	*md = au_md_by_nid(EVP_MD_get_type(p->md));
	if (*md == NULL)
		return sd_err_set(e, SD_E_UNSUPPORTED_DIGEST,
				  "digest algorithm %s is not supported (sha1, sha256, sha384, "
				  "sha512)",
				  EVP_MD_get0_name(p->md));
	if (p->digest_len != (*md)->size)
		return sd_err_set(e, SD_E_BAD_DIGEST_LENGTH, "%zu-byte digest for %s, expected %zu",
				  p->digest_len, (*md)->name, (*md)->size);
	return 0;
}

static void put2(uint8_t *s, int v)
{
	s[0] = (uint8_t)('0' + v / 10 % 10);
	s[1] = (uint8_t)('0' + v % 10);
}

/*
 * signingTime value (RFC 5652 11.3): UTCTime YYMMDDHHMMSSZ for 1950..2049,
 * as OpenSSL's PKCS7 encoder wrote it, else GeneralizedTime YYYYMMDDHHMMSSZ
 * (OpenSSL put those 15 characters under the UTCTime tag).
 */
static int time_value(time_t t, uint8_t out[17], size_t *len, struct sd_err *e)
{
	uint8_t s[15], *q = s;
	struct au_dw w;
	struct tm tm;

	if (t == 0)
		t = time(NULL);
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
		return sd_err_set(e, SD_E_INTERNAL, "signing time %lld is out of range",
				  (long long)t);
	if (tm.tm_year >= 50 && tm.tm_year < 150) {
		put2(q, tm.tm_year % 100);
		q += 2;
	} else {
		put2(q, (tm.tm_year + 1900) / 100);
		put2(q + 2, (tm.tm_year + 1900) % 100);
		q += 4;
	}
	put2(q, tm.tm_mon + 1);
	put2(q + 2, tm.tm_mday);
	put2(q + 4, tm.tm_hour);
	put2(q + 6, tm.tm_min);
	put2(q + 8, tm.tm_sec);
	q[10] = 'Z';
	q += 11;
	au_dw_init(&w, out, 17);
	au_dw_tlv(&w, q - s == 13 ? AU_TAG_UTCTIME : AU_TAG_GENTIME, s, (size_t)(q - s));
	*len = w.len;
	return 0;
}

/* Header of Attribute { type, SET { value } } for a value_len-byte value TLV, which follows. */
static void attr_hdr(struct au_dw *w, const uint8_t *type, size_t type_len, size_t value_len)
{
	au_dw_hdr(w, AU_TAG_SEQUENCE, type_len + au_der_tlv_len(value_len));
	au_dw_raw(w, type, type_len);
	au_dw_hdr(w, AU_TAG_SET, value_len);
}

/* The SET OF order of DER (X.690 11.6), as OpenSSL compares encodings. */
static int der_cmp(const struct attr *a, const struct attr *b)
{
	int c = memcmp(a->p, b->p, a->len < b->len ? a->len : b->len);

	if (c != 0)
		return c;
	return a->len < b->len ? -1 : a->len > b->len;
}

static void add_attr(struct job *j, const uint8_t *p, size_t len)
{
	struct attr a = {p, len};
	size_t i = j->nattrs++;

	/* Insertion sort: at most five elements. */
	for (; i > 0 && der_cmp(&a, &j->attrs[i - 1]) < 0; i--)
		j->attrs[i] = j->attrs[i - 1];
	j->attrs[i] = a;
	j->attrs_len += len;
}

static int hash(EVP_MD_CTX *mctx, const EVP_MD *md, const struct attr *parts, size_t n,
		uint8_t *out, size_t *outlen)
{
	unsigned int len = 0;

	if (EVP_DigestInit_ex(mctx, md, NULL) != 1)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (EVP_DigestUpdate(mctx, parts[i].p, parts[i].len) != 1)
			return -1;
	if (EVP_DigestFinal_ex(mctx, out, &len) != 1)
		return -1;
	*outlen = len;
	return 0;
}

/* SpcSpOpusInfo attribute, when a program name or URL is given. */
static int opus_attr(struct job *j, struct sd_err *e)
{
	const struct au_prepared *pr = j->pr;
	const struct au_sign_params *p = j->p;
	size_t oid_len = pr->oid_len[AU_OIDX_OPUS], len;
	struct wbuf opus;
	struct au_dw w;
	int ret = -1;

	wbuf_init(&opus, 0);
	if ((p->program == NULL || *p->program == '\0') && (p->url == NULL || *p->url == '\0'))
		return 0;
	if (au_enc_opus(p->program, p->url, &opus, e) != 0)
		goto out;
	len = au_der_tlv_len(oid_len + au_der_tlv_len(opus.len));
	j->opus = OPENSSL_malloc(len);
	if (j->opus == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	au_dw_init(&w, j->opus, len);
	attr_hdr(&w, pr->oid[AU_OIDX_OPUS], oid_len, opus.len);
	au_dw_raw(&w, opus.p, opus.len);
	if (w.failed || w.len != len) {
		sd_err_set(e, SD_E_INTERNAL, "SpcSpOpusInfo attribute does not fit");
		goto out;
	}
	add_attr(j, j->opus, len);
	ret = 0;
out:
	wbuf_free(&opus);
	return ret;
}

/* The signed attributes, DER-sorted, and the hash the signature covers. */
static int attributes(struct job *j, EVP_MD_CTX *mctx, uint8_t *ahash, size_t *ahash_len,
		      struct sd_err *e)
{
	const struct au_prepared *pr = j->pr;
	uint8_t mdig[EVP_MAX_MD_SIZE], when[17], set_hdr[5];
	struct attr parts[1 + AU_NATTR];
	size_t hl = 0, mdig_len = 0, when_len = 0, start;
	struct au_dw w;

	/* messageDigest covers the content octets, not the SEQUENCE header. */
	if (au_der_single(j->indirect, j->indirect_len, AU_TAG_SEQUENCE, &hl) != 0)
		return sd_err_set(e, SD_E_INTERNAL,
				  "SpcIndirectDataContent encoding is not one TLV");
	parts[0].p = j->indirect + hl;
	parts[0].len = j->indirect_len - hl;
	if (hash(mctx, j->pm->evp, parts, 1, mdig, &mdig_len) != 0)
		return sd_err_openssl(e, SD_E_INTERNAL, "cannot hash SpcIndirectDataContent");
	if (time_value(j->p->signing_time, when, &when_len, e) != 0)
		return -1;

	au_dw_init(&w, j->var, sizeof(j->var));
	attr_hdr(&w, pr->oid[AU_OIDX_SIGNING_TIME], pr->oid_len[AU_OIDX_SIGNING_TIME], when_len);
	au_dw_raw(&w, when, when_len);
	start = w.len;
	attr_hdr(&w, pr->oid[AU_OIDX_MESSAGE_DIGEST], pr->oid_len[AU_OIDX_MESSAGE_DIGEST],
		 au_der_tlv_len(mdig_len));
	au_dw_tlv(&w, AU_TAG_OCTET_STRING, mdig, mdig_len);
	if (w.failed)
		return sd_err_set(e, SD_E_INTERNAL, "signed attributes do not fit");
	add_attr(j, pr->attr_ct, pr->attr_ct_len);
	add_attr(j, j->var, start);
	add_attr(j, j->var + start, w.len - start);
	add_attr(j, pr->attr_stmt, pr->attr_stmt_len);
	if (opus_attr(j, e) != 0)
		return -1;

	/* Signed as a SET OF (tag 0x31); sent as [0] IMPLICIT with the same content. */
	au_dw_init(&w, set_hdr, sizeof(set_hdr));
	au_dw_hdr(&w, AU_TAG_SET, j->attrs_len);
	if (w.failed)
		return sd_err_set(e, SD_E_INTERNAL, "signed attributes are too large");
	parts[0].p = set_hdr;
	parts[0].len = w.len;
	memcpy(parts + 1, j->attrs, j->nattrs * sizeof(j->attrs[0]));
	if (hash(mctx, j->pm->evp, parts, 1 + j->nattrs, ahash, ahash_len) != 0)
		return sd_err_openssl(e, SD_E_INTERNAL, "cannot hash the signed attributes");
	return 0;
}

/* Have the callback sign the attributes' hash and check the result. */
static int sign(struct job *j, const uint8_t *ahash, size_t ahash_len, struct sd_err *e)
{
	const struct au_sign_params *p = j->p;
	size_t cap = j->pr->sig_cap;

	j->sig = OPENSSL_zalloc(cap);
	if (j->sig == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	j->siglen = cap;
	sd_err_set(e, SD_E_INTERNAL, "signing callback failed without a message");
	if (p->sign(p->sign_ctx, j->pm->md->nid, ahash, ahash_len, j->sig, &j->siglen, e) != 0)
		return -1;
	if (e != NULL) {
		e->code = SD_OK;
		e->msg[0] = '\0';
	}
	if (j->siglen == 0 || j->siglen > cap)
		return sd_err_set(e, SD_E_INTERNAL,
				  "signing callback returned %zu bytes (capacity %zu)", j->siglen,
				  cap);
	if (!au_sig_ok_prepared(j->pm->verify, ahash, ahash_len, j->sig, j->siglen))
		return sd_err_set(
		    e, SD_E_INTERNAL,
		    "SIGNATURE CHECK FAILED: the signature returned by the token does "
		    "not verify with the signer certificate's public key (wrong key for "
		    "the certificate, or a faulty signature); refusing to return it");
	return 0;
}

/* ContentInfo { signedData, [0] EXPLICIT SignedData } into one allocation. */
static int encode(const struct job *j, uint8_t **der, size_t *derlen, struct sd_err *e)
{
	const struct au_prepared *pr = j->pr;
	const struct au_prep_md *pm = j->pm;
	size_t oid_sd = pr->oid_len[AU_OIDX_SIGNED_DATA], oid_ind = pr->oid_len[AU_OIDX_INDIRECT];
	size_t si_body, sis_body, ci_body, sd_body, top_body, total;
	struct au_dw w;
	uint8_t *out;

	si_body = sizeof(version1) + pr->ias_len + pm->alg_len + au_der_tlv_len(j->attrs_len) +
		  pm->sig_alg_len + au_der_tlv_len(j->siglen);
	sis_body = au_der_tlv_len(si_body);
	ci_body = oid_ind + au_der_tlv_len(j->indirect_len);
	sd_body = sizeof(version1) + au_der_tlv_len(pm->alg_len) + au_der_tlv_len(ci_body) +
		  pr->certs_len + au_der_tlv_len(sis_body);
	top_body = oid_sd + au_der_tlv_len(au_der_tlv_len(sd_body));
	total = au_der_tlv_len(top_body);
	out = OPENSSL_malloc(total);
	if (out == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");

	au_dw_init(&w, out, total);
	au_dw_hdr(&w, AU_TAG_SEQUENCE, top_body);
	au_dw_raw(&w, pr->oid[AU_OIDX_SIGNED_DATA], oid_sd);
	au_dw_hdr(&w, AU_TAG_CTX0_CONS, au_der_tlv_len(sd_body));
	/* SignedData { version, digestAlgorithms, contentInfo, certificates, signerInfos } */
	au_dw_hdr(&w, AU_TAG_SEQUENCE, sd_body);
	au_dw_raw(&w, version1, sizeof(version1));
	au_dw_tlv(&w, AU_TAG_SET, pm->alg, pm->alg_len);
	au_dw_hdr(&w, AU_TAG_SEQUENCE, ci_body);
	au_dw_raw(&w, pr->oid[AU_OIDX_INDIRECT], oid_ind);
	au_dw_tlv(&w, AU_TAG_CTX0_CONS, j->indirect, j->indirect_len);
	au_dw_raw(&w, pr->certs, pr->certs_len);
	/* signerInfos SET { SignerInfo { version, issuerAndSerialNumber, digestAlgorithm,
	 * [0] IMPLICIT signed attributes, digestEncryptionAlgorithm, signature } } */
	au_dw_hdr(&w, AU_TAG_SET, sis_body);
	au_dw_hdr(&w, AU_TAG_SEQUENCE, si_body);
	au_dw_raw(&w, version1, sizeof(version1));
	au_dw_raw(&w, pr->ias, pr->ias_len);
	au_dw_raw(&w, pm->alg, pm->alg_len);
	au_dw_hdr(&w, AU_TAG_CTX0_CONS, j->attrs_len);
	for (size_t i = 0; i < j->nattrs; i++)
		au_dw_raw(&w, j->attrs[i].p, j->attrs[i].len);
	au_dw_raw(&w, pm->sig_alg, pm->sig_alg_len);
	au_dw_tlv(&w, AU_TAG_OCTET_STRING, j->sig, j->siglen);
	if (w.failed || w.len != total) {
		OPENSSL_free(out);
		return sd_err_set(e, SD_E_INTERNAL, "SignedData is too large to encode");
	}
	*der = out;
	*derlen = total;
	return 0;
}

int au_build_prepared(const struct au_prepared *pr, const struct au_sign_params *p, uint8_t **der,
		      size_t *derlen, struct sd_err *e)
{
	struct job j;
	const struct au_md *md = NULL;
	uint8_t ahash[EVP_MAX_MD_SIZE];
	size_t ahash_len = 0, mi;
	EVP_MD_CTX *mctx = NULL;
	int ret = -1;

	if (der == NULL || derlen == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "au_build: missing output");
	*der = NULL;
	*derlen = 0;
	memset(&j, 0, sizeof(j));
	if (pr == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "au_build_prepared: not prepared");
	if (check_request(p, &md, e) != 0)
		return -1;
	if (p->signer != NULL && p->signer != pr->signer && X509_cmp(p->signer, pr->signer) != 0)
		return sd_err_set(e, SD_E_INTERNAL,
				  "au_build_prepared: the signer certificate is not the prepared "
				  "one");
	for (mi = 0; mi < AU_MD_COUNT && au_md_at(mi) != md; mi++)
		;
	if (mi == AU_MD_COUNT || pr->md[mi].md == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "au_build_prepared: not prepared for %s",
				  md->name);
	j.pr = pr;
	j.pm = &pr->md[mi];
	j.p = p;
	if (au_enc_indirect_buf(p->subject, md, p->digest, j.indirect, sizeof(j.indirect),
				&j.indirect_len) != 0) {
		sd_err_set(e, SD_E_INTERNAL, "SpcIndirectDataContent does not fit");
		goto out;
	}
	mctx = EVP_MD_CTX_new();
	if (mctx == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	if (attributes(&j, mctx, ahash, &ahash_len, e) != 0 || sign(&j, ahash, ahash_len, e) != 0 ||
	    encode(&j, der, derlen, e) != 0)
		goto out;
	ret = 0;
out:
	EVP_MD_CTX_free(mctx);
	OPENSSL_free(j.opus);
	OPENSSL_free(j.sig);
	ERR_clear_error();
	return ret;
}

int au_build(const struct au_sign_params *p, uint8_t **der, size_t *derlen, struct sd_err *e)
{
	const struct au_md *md = NULL;
	struct au_prepared *pr = NULL;
	int ret;

	if (der == NULL || derlen == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "au_build: missing output");
	*der = NULL;
	*derlen = 0;
	if (p != NULL && p->signer == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "au_build: missing parameter");
	if (check_request(p, &md, e) != 0)
		return -1;
	/* Only this request's digest: the others would be wasted work here. */
	if (au_prepare_md(p->signer, p->chain, md->nid, &pr, e) != 0)
		return -1;
	ret = au_build_prepared(pr, p, der, derlen, e);
	au_prepared_free(pr);
	return ret;
}
