/* The RFC 3161 TimeStampReq: imprint of the signature value, nonce, certReq. */
#include "timestamp/ts_int.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/ts.h>

void ts_token_clear(struct ts_token *t)
{
	if (t == NULL)
		return;
	OPENSSL_free(t->der);
	memset(t, 0, sizeof(*t));
}

int ts_query_init(struct ts_query *q, const EVP_MD *md, const uint8_t *sig, size_t siglen,
		  struct sd_err *e)
{
	unsigned int n = 0;

	memset(q, 0, sizeof(*q));
	q->md = md;
	if (md == NULL || EVP_Digest(sig, siglen, q->imprint, &n, md, NULL) != 1)
		return sd_err_openssl(e, SD_E_INTERNAL, "timestamp: cannot hash the signature");
	q->imprint_len = n;
	if (RAND_bytes(q->nonce, sizeof(q->nonce)) != 1)
		return sd_err_openssl(e, SD_E_INTERNAL, "timestamp: no random nonce");
	q->nonce[0] &= 0x7f;
	q->nonce[0] |= 0x40; /* a full-length positive INTEGER */
	return 0;
}

ASN1_INTEGER *ts_query_nonce(const struct ts_query *q)
{
	BIGNUM *bn = BN_bin2bn(q->nonce, sizeof(q->nonce), NULL);
	ASN1_INTEGER *n = bn != NULL ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;

	BN_free(bn);
	return n;
}

int ts_query_encode(const struct ts_query *q, uint8_t **der, size_t *len, struct sd_err *e)
{
	TS_REQ *req = TS_REQ_new();
	TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	ASN1_INTEGER *nonce = ts_query_nonce(q);
	unsigned char *out = NULL;
	int n, ret = -1;

	*der = NULL;
	*len = 0;
	if (req == NULL || mi == NULL || alg == NULL || nonce == NULL)
		goto fail;
	if (X509_ALGOR_set0(alg, OBJ_nid2obj(EVP_MD_get_type(q->md)), V_ASN1_NULL, NULL) != 1 ||
	    TS_MSG_IMPRINT_set_algo(mi, alg) != 1 ||
	    TS_MSG_IMPRINT_set_msg(mi, (unsigned char *)q->imprint, (int)q->imprint_len) != 1 ||
	    TS_REQ_set_version(req, 1) != 1 || TS_REQ_set_msg_imprint(req, mi) != 1 ||
	    TS_REQ_set_nonce(req, nonce) != 1 || TS_REQ_set_cert_req(req, 1) != 1)
		goto fail;
	n = i2d_TS_REQ(req, &out);
	if (n <= 0)
		goto fail;
	*der = out;
	*len = (size_t)n;
	ret = 0;
	goto out;
fail:
	sd_err_openssl(e, SD_E_INTERNAL, "timestamp: cannot encode the request");
out:
	ASN1_INTEGER_free(nonce);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	TS_REQ_free(req);
	return ret;
}
