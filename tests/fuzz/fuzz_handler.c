/*
 * libFuzzer target: the daemon's request handler, with no socket. The input
 * is a stream of frames as a client would send them. The key is an in-memory
 * EC P-256 key plugged in as the key's signer, so SIGN_CAB runs the whole
 * path (policy checks, SignedData, signature verification) at fuzzing speed.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "signer/signer.h"

struct fuzz_ctx {
	struct signer s;
	EVP_PKEY *key;
};

static int mem_sign(void *ctx, int md_nid, const uint8_t *hash, size_t hashlen, uint8_t *sig,
		    size_t *siglen, struct sd_err *e)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(ctx, NULL);
	int ok = c != NULL && EVP_PKEY_sign_init(c) > 0 &&
		 EVP_PKEY_CTX_set_signature_md(c, EVP_get_digestbynid(md_nid)) > 0 &&
		 EVP_PKEY_sign(c, sig, siglen, hash, hashlen) > 0;

	EVP_PKEY_CTX_free(c);
	return ok ? 0 : sd_err_set(e, SD_E_INTERNAL, "sign failed");
}

static X509 *make_cert(EVP_PKEY *k)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz", -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
	X509_set_pubkey(x, k);
	X509_sign(x, k, EVP_sha256());
	X509_NAME_free(n);
	return x;
}

static const char yaml[] = "token:\n"
			   "  module: /nonexistent.so\n"
			   "  uri: \"pkcs11:token=fuzz\"\n"
			   "  pin_env: FUZZ_PIN\n"
			   "keys:\n"
			   "  - name: k\n"
			   "    uri: \"pkcs11:token=fuzz;object=k\"\n"
			   "    digests: [sha1, sha256, sha384, sha512]\n"
			   "  - name: old\n"
			   "    uri: \"pkcs11:token=fuzz;object=old\"\n"
			   "    state: retired\n"
			   "    allow: [ { user: \"12345\" } ]\n";

static struct fuzz_ctx *setup(void)
{
	static struct fuzz_ctx fc; /* libFuzzer's process-wide harness state */
	struct sd_keyset *ks = calloc(1, sizeof(*ks));
	struct sd_err e;
	size_t i;

	fc.key = EVP_EC_gen("P-256");
	if (ks == NULL || fc.key == NULL ||
	    cfg_load_buffer("fuzz.yaml", (const uint8_t *)yaml, sizeof(yaml) - 1, &ks->cfg, &e))
		abort();
	atomic_init(&ks->refs, 1);
	pthread_mutex_init(&ks->rev_mu, NULL);
	ks->nkeys = ks->cfg->nkeys;
	ks->keys = calloc(ks->nkeys, sizeof(*ks->keys));
	for (i = 0; i < ks->nkeys; i++) {
		ks->keys[i].cfg = &ks->cfg->keys[i];
		ks->keys[i].cert = make_cert(fc.key);
		ks->keys[i].sign = mem_sign;
		ks->keys[i].sign_ctx = fc.key;
		if (sd_key_finish(&ks->keys[i], &e) != 0)
			abort();
	}
	ks->def = &ks->keys[0];
	fc.s.log.to_stderr = 1;
	fc.s.log.min_prio = -1; /* silent */
	pthread_mutex_init(&fc.s.gen_mu, NULL);
	sd_rate_init(&fc.s.rate);
	pthread_mutex_init(&fc.s.adm_mu, NULL);
	pthread_mutex_init(&fc.s.rev_refresh_mu, NULL);
	pthread_rwlock_init(&fc.s.audit_lk, NULL);
	sd_install(&fc.s, ks);
	return &fc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_ctx *fc;
	struct sd_peer peer = {.pid = 1, .uid = 1000, .gid = 1000};
	struct wbuf out;
	const uint8_t *body;
	size_t bodylen, used;
	uint8_t type;

	if (fc == NULL)
		fc = setup();
	wbuf_init(&out, 4 + SD_FRAME_MAX);
	while (size > 0 && proto_frame_peek(data, size, &type, &body, &bodylen, &used) == 1) {
		sd_handle(&fc->s, &peer, type, body, bodylen, &out);
		if (wbuf_failed(&out) || out.len == 0)
			abort(); /* the handler must always produce one whole frame */
		wbuf_reset(&out);
		data += used;
		size -= used;
	}
	wbuf_free(&out);
	return 0;
}
