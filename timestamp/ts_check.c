/* Checks on a TimeStampResp before its token is put into a signature. */
#include "timestamp/ts_int.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>

static const char *const status_names[] = {
    "granted", "grantedWithMods",   "rejection",
    "waiting", "revocationWarning", "revocationNotification",
};

static const struct {
	int bit;
	const char *name;
} failure_names[] = {
    {0, "badAlg"},
    {2, "badRequest"},
    {5, "badDataFormat"},
    {14, "timeNotAvailable"},
    {15, "unacceptedPolicy"},
    {16, "unacceptedExtension"},
    {17, "addInfoNotAvailable"},
    {25, "systemFailure"},
};

/* Printable ASCII copy of a TSA-supplied string (it goes into logs and replies). */
static void printable(const unsigned char *s, int n, char *out, size_t outsz)
{
	size_t j = 0;
	int i;

	for (i = 0; i < n && j + 1 < outsz; i++)
		out[j++] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
	out[j] = '\0';
}

static int status_error(TS_STATUS_INFO *si, long st, struct sd_err *e)
{
	const STACK_OF(ASN1_UTF8STRING) *text = TS_STATUS_INFO_get0_text(si);
	const ASN1_BIT_STRING *fi = TS_STATUS_INFO_get0_failure_info(si);
	char why[160] = "", txt[160] = "";
	size_t i, n = 0;

	for (i = 0; fi != NULL && i < sizeof(failure_names) / sizeof(*failure_names); i++)
		if (ASN1_BIT_STRING_get_bit(fi, failure_names[i].bit) && n + 40 < sizeof(why))
			n += (size_t)snprintf(why + n, sizeof(why) - n, "%s%s", n ? "," : "",
					      failure_names[i].name);
	if (text != NULL && sk_ASN1_UTF8STRING_num(text) > 0) {
		ASN1_UTF8STRING *t0 = sk_ASN1_UTF8STRING_value(text, 0);
		printable(ASN1_STRING_get0_data(t0), ASN1_STRING_length(t0), txt, sizeof(txt));
	}
	return sd_err_set(e, SD_E_TIMESTAMP_FAILED, "status %s%s%s%s%s%s%s",
			  st >= 0 && st < 6 ? status_names[st] : "unknown", why[0] ? " (" : "", why,
			  why[0] ? ")" : "", txt[0] ? ": \"" : "", txt, txt[0] ? "\"" : "");
}

/* messageImprint = md(imprint) and genTime. */
static int check_imprint_time(TS_TST_INFO *tst, const EVP_MD *md, const uint8_t *imprint,
			      size_t imprint_len, struct ts_token *t, struct sd_err *e)
{
	TS_MSG_IMPRINT *mi = TS_TST_INFO_get_msg_imprint(tst);
	X509_ALGOR *alg = mi != NULL ? TS_MSG_IMPRINT_get_algo(mi) : NULL;
	ASN1_OCTET_STRING *h = mi != NULL ? TS_MSG_IMPRINT_get_msg(mi) : NULL;
	const ASN1_GENERALIZEDTIME *gt = TS_TST_INFO_get_time(tst);
	struct tm tm;

	if (TS_TST_INFO_get_version(tst) != 1)
		return sd_err_set(e, SD_E_TIMESTAMP_FAILED, "TSTInfo version is %ld, expected 1",
				  TS_TST_INFO_get_version(tst));
	if (alg == NULL || h == NULL || OBJ_obj2nid(alg->algorithm) != EVP_MD_get_type(md))
		return sd_err_set(e, SD_E_TIMESTAMP_FAILED,
				  "the token's messageImprint algorithm is not the requested %s",
				  EVP_MD_get0_name(md));
	if ((size_t)ASN1_STRING_length(h) != imprint_len ||
	    CRYPTO_memcmp(ASN1_STRING_get0_data(h), imprint, imprint_len) != 0)
		return sd_err_set(e, SD_E_TIMESTAMP_FAILED,
				  "the token's messageImprint does not match this signature");
	memset(&tm, 0, sizeof(tm));
	if (gt == NULL || ASN1_TIME_to_tm(gt, &tm) != 1)
		return sd_err_set(e, SD_E_TIMESTAMP_FAILED, "the token's genTime is malformed");
	t->gen_time = timegm(&tm);
	strftime(t->gen_time_text, sizeof(t->gen_time_text), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return 0;
}

static int check_tst(const struct ts_query *q, TS_TST_INFO *tst, struct ts_token *t,
		     struct sd_err *e)
{
	ASN1_INTEGER *want = ts_query_nonce(q);
	const ASN1_INTEGER *got = TS_TST_INFO_get_nonce(tst);
	int ret = -1;

	if (want == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	if (got == NULL) {
		sd_err_set(e, SD_E_TIMESTAMP_FAILED, "the token has no nonce (one was requested)");
		goto out;
	}
	if (ASN1_INTEGER_cmp(got, want) != 0) {
		sd_err_set(e, SD_E_TIMESTAMP_FAILED,
			   "the token's nonce is not the request's (a replayed or foreign reply)");
		goto out;
	}
	ret = check_imprint_time(tst, q->md, q->imprint, q->imprint_len, t, e);
out:
	ASN1_INTEGER_free(want);
	return ret;
}

static int check_signature(PKCS7 *tok, X509_STORE *ca, struct ts_token *t, struct sd_err *e)
{
	X509 *signer = NULL;

	ERR_clear_error();
	if (ca != NULL) {
		if (TS_RESP_verify_signature(tok, NULL, ca, &signer) != 1)
			return sd_err_openssl(e, SD_E_TIMESTAMP_FAILED,
					      "the token's signature or TSA certificate does not "
					      "verify against timestamp.ca");
		X509_free(signer);
		t->trusted = 1;
		return 0;
	}
	/* No trust anchor configured: integrity against the embedded certificate only. */
	if (PKCS7_verify(tok, NULL, NULL, NULL, NULL, PKCS7_NOVERIFY) != 1)
		return sd_err_openssl(e, SD_E_TIMESTAMP_FAILED,
				      "the token's signature does not verify");
	t->trusted = 0;
	return 0;
}

int ts_response_check(const struct ts_query *q, const uint8_t *resp, size_t len, X509_STORE *ca,
		      struct ts_token *t, struct sd_err *e)
{
	const unsigned char *p = resp;
	TS_RESP *r = NULL;
	TS_STATUS_INFO *si;
	PKCS7 *tok;
	TS_TST_INFO *tst;
	unsigned char *der = NULL;
	long st;
	int n, ret = -1;

	memset(t, 0, sizeof(*t));
	ERR_clear_error();
	if (len == 0 || len > TS_RESPONSE_MAX || (r = d2i_TS_RESP(NULL, &p, (long)len)) == NULL) {
		ERR_clear_error();
		sd_err_set(e, SD_E_TIMESTAMP_FAILED, "the reply is not a TimeStampResp");
		goto out;
	}
	if ((size_t)(p - resp) != len) {
		sd_err_set(e, SD_E_TIMESTAMP_FAILED, "%zu bytes after the TimeStampResp",
			   len - (size_t)(p - resp));
		goto out;
	}
	si = TS_RESP_get_status_info(r);
	st = si != NULL ? ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(si)) : -1;
	if (st != 0 && st != 1) {
		status_error(si, st, e);
		goto out;
	}
	tok = TS_RESP_get_token(r);
	tst = TS_RESP_get_tst_info(r);
	if (tok == NULL || tst == NULL) {
		sd_err_set(e, SD_E_TIMESTAMP_FAILED, "status granted but no token");
		goto out;
	}
	if (check_tst(q, tst, t, e) != 0 || check_signature(tok, ca, t, e) != 0)
		goto out;
	n = i2d_PKCS7(tok, &der);
	if (n <= 0) {
		sd_err_openssl(e, SD_E_INTERNAL, "timestamp: cannot encode the token");
		goto out;
	}
	t->der = der;
	t->len = (size_t)n;
	der = NULL;
	ret = 0;
out:
	OPENSSL_free(der);
	TS_RESP_free(r);
	if (ret != 0) {
		t->gen_time = 0;
		t->gen_time_text[0] = '\0';
	}
	return ret;
}

int ts_token_verify(const uint8_t *der, size_t len, const uint8_t *sig, size_t siglen,
		    X509_STORE *ca, struct ts_token *t, struct sd_err *e)
{
	const unsigned char *p = der;
	PKCS7 *tok = NULL;
	TS_TST_INFO *tst = NULL;
	TS_MSG_IMPRINT *mi;
	X509_ALGOR *alg;
	const EVP_MD *md;
	uint8_t h[EVP_MAX_MD_SIZE];
	unsigned int hl = 0;
	int ret = -1;

	memset(t, 0, sizeof(*t));
	ERR_clear_error();
	if (len == 0 || len > TS_RESPONSE_MAX || (tok = d2i_PKCS7(NULL, &p, (long)len)) == NULL ||
	    (size_t)(p - der) != len || (tst = PKCS7_to_TS_TST_INFO(tok)) == NULL) {
		ERR_clear_error();
		sd_err_set(e, SD_E_TIMESTAMP_FAILED, "the timestamp is not an RFC 3161 token");
		goto out;
	}
	mi = TS_TST_INFO_get_msg_imprint(tst);
	alg = mi != NULL ? TS_MSG_IMPRINT_get_algo(mi) : NULL;
	md = alg != NULL ? EVP_get_digestbynid(OBJ_obj2nid(alg->algorithm)) : NULL;
	if (md == NULL || EVP_MD_get_size(md) < 32) {
		sd_err_set(e, SD_E_TIMESTAMP_FAILED,
			   "the token's messageImprint algorithm is not SHA-256, -384 or -512");
		goto out;
	}
	if (EVP_Digest(sig, siglen, h, &hl, md, NULL) != 1) {
		sd_err_openssl(e, SD_E_INTERNAL, "timestamp: cannot hash the signature");
		goto out;
	}
	if (check_imprint_time(tst, md, h, hl, t, e) != 0)
		goto out;
	/* As Windows does: the TSA certificate must have been valid at genTime. */
	if (ca != NULL)
		X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(ca), t->gen_time);
	if (check_signature(tok, ca, t, e) != 0)
		goto out;
	ret = 0;
out:
	TS_TST_INFO_free(tst);
	PKCS7_free(tok);
	if (ret != 0) {
		t->gen_time = 0;
		t->gen_time_text[0] = '\0';
	}
	return ret;
}
