/* The daemon's use of RFC 3161 timestamping: the trust store and the per-signature policy. */
#include "signer/tsa.h"

#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "authenticode/authenticode.h"

/* Backoff before the second round over the TSAs; doubles per round up to 8x. */
#define TSA_BACKOFF_MS 250

int sd_tsa_load(const struct cfg *cfg, X509_STORE **out, struct sd_err *e)
{
	X509_STORE *st = NULL;
	STACK_OF(X509_OBJECT) * objs;
	int i, ncert = 0;

	*out = NULL;
	if (cfg->timestamp.ca == NULL)
		return 0;
	st = X509_STORE_new();
	if (st == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	ERR_clear_error();
	if (X509_STORE_load_file(st, cfg->timestamp.ca) != 1) {
		sd_err_openssl(e, SD_E_INTERNAL, "cannot read it as PEM certificates");
		X509_STORE_free(st);
		return sd_err_prefix(e, "timestamp.ca %s: ", cfg->timestamp.ca);
	}
	objs = X509_STORE_get0_objects(st);
	for (i = 0; i < sk_X509_OBJECT_num(objs); i++)
		if (X509_OBJECT_get_type(sk_X509_OBJECT_value(objs, i)) == X509_LU_X509)
			ncert++;
	if (ncert == 0) {
		X509_STORE_free(st);
		return sd_err_set(e, SD_E_INTERNAL, "timestamp.ca %s: no certificate in the file",
				  cfg->timestamp.ca);
	}
	*out = st;
	return 0;
}

int sd_tsa_stamp(struct signer *s, struct sd_keyset *ks, const struct sd_key *k, uint8_t **p7,
		 size_t *p7len, struct ts_token *tok, struct sd_err *e)
{
	const struct cfg *cfg = ks->cfg;
	enum cfg_ts_policy pol = cfg_key_ts_policy(cfg, k->cfg);
	struct ts_params tp;
	const uint8_t *sig;
	size_t siglen, outlen = 0;
	uint8_t *out = NULL;
	struct sd_err te = {0};

	memset(tok, 0, sizeof(*tok));
	if (pol == CFG_TS_OFF)
		return 0;
	if (au_signature_value(*p7, *p7len, &sig, &siglen, e) != 0)
		return sd_err_prefix(e, "timestamp: ");
	memset(&tp, 0, sizeof(tp));
	tp.urls = (const char *const *)cfg->timestamp.urls;
	tp.nurls = cfg->timestamp.nurls;
	tp.timeout_ms = cfg->timestamp.timeout_ms;
	tp.retries = cfg->timestamp.retries;
	tp.backoff_ms = TSA_BACKOFF_MS;
	tp.md = EVP_get_digestbyname(cfg_md_name(cfg->timestamp.hash)); /* set by the loader */
	tp.ca = ks->ts_ca;
	if (ts_fetch(&tp, sig, siglen, tok, &te) == 0 &&
	    au_add_timestamp(*p7, *p7len, tok->der, tok->len, &out, &outlen, &te) == 0 &&
	    outlen > SD_SIGNATURE_MAX) {
		sd_err_set(&te, SD_E_TIMESTAMP_FAILED,
			   "the timestamped signature (%zu bytes) does not fit a reply", outlen);
		OPENSSL_free(out);
		out = NULL;
	}
	if (out != NULL) {
		OPENSSL_free(*p7);
		*p7 = out;
		*p7len = outlen;
		if (!tok->trusted)
			LOG_W(&s->log,
			      "timestamp from %s accepted WITHOUT checking the TSA's certificate "
			      "(set timestamp.ca)",
			      tok->tsa);
		return 0;
	}
	ts_token_clear(tok);
	/* Our own failure (out of memory, encoding) is not the TSAs': never waived by optional. */
	if (te.code != SD_E_TIMESTAMP_FAILED || pol == CFG_TS_REQUIRED) {
		*e = te;
		return -1;
	}
	LOG_W(&s->log,
	      "key \"%s\": returning the signature WITHOUT a timestamp (policy optional): %s",
	      k->cfg->name, te.msg);
	return 0;
}
