/*
 * Test helper for tests/integration/test_audit_tool.sh: appends records to an
 * audit log through the daemon's library (signer/audit.c), with checkpoints
 * signed by an in-memory key (PEM), so that `signer audit` can be tested
 * without a token.
 *
 * audit_writer LOG KEY.pem CERT.pem COUNT [--every N] [--max-size BYTES]
 *     [--key-name NAME] [--refuse-every K] [--rotate-after K] [--start I]
 *     [--crash] [--no-signer]
 *
 * Record i (from --start, default 1) has the digest SHA-256("cab-<i>") and
 * the program name "Product <i>"; every K-th is refused with CERT_REVOKED.
 * --crash exits without closing the log (no final checkpoint).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "signer/audit.h"

static int pkey_sign(void *ctx, int md_nid, const uint8_t *hash, size_t hashlen, uint8_t *sig,
		     size_t *siglen, struct sd_err *e)
{
	EVP_PKEY *k = ctx;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
	int ok;

	ok = c != NULL && EVP_PKEY_sign_init(c) > 0 &&
	     EVP_PKEY_CTX_set_signature_md(c, EVP_get_digestbynid(md_nid)) > 0 &&
	     (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA ||
	      EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) > 0) &&
	     EVP_PKEY_sign(c, sig, siglen, hash, hashlen) > 0;
	EVP_PKEY_CTX_free(c);
	return ok ? 0 : sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "test signer failed");
}

static void warn(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "audit_writer: warning: %s\n", msg);
}

static void *read_pem(const char *path, int cert)
{
	FILE *f = fopen(path, "r");
	void *p;

	if (f == NULL)
		return NULL;
	p = cert ? (void *)PEM_read_X509(f, NULL, NULL, NULL)
		 : (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return p;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"every", required_argument, NULL, 'e'},
	    {"max-size", required_argument, NULL, 'm'},
	    {"key-name", required_argument, NULL, 'k'},
	    {"refuse-every", required_argument, NULL, 'r'},
	    {"rotate-after", required_argument, NULL, 'R'},
	    {"start", required_argument, NULL, 's'},
	    {"crash", no_argument, NULL, 'c'},
	    {"no-signer", no_argument, NULL, 'n'},
	    {NULL, 0, NULL, 0},
	};
	unsigned every = 0, refuse = 0, rotate_after = 0, start = 1, count, i;
	unsigned long long max_size = 0;
	const char *key_name = "test-key";
	int c, crash = 0, no_signer = 0, ret = 1;
	struct sd_audit_signer s;
	struct sd_audit *a = NULL;
	struct sd_audit_rec r;
	uint8_t digest[32];
	char in[32], program[64];
	EVP_PKEY *key;
	X509 *cert;
	struct sd_err e;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			every = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'm':
			max_size = strtoull(optarg, NULL, 10);
			break;
		case 'k':
			key_name = optarg;
			break;
		case 'r':
			refuse = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'R':
			rotate_after = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			start = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'c':
			crash = 1;
			break;
		case 'n':
			no_signer = 1;
			break;
		default:
			return 2;
		}
	}
	if (argc - optind != 4) {
		fprintf(stderr, "usage: audit_writer LOG KEY.pem CERT.pem COUNT [options]\n");
		return 2;
	}
	key = read_pem(argv[optind + 1], 0);
	cert = read_pem(argv[optind + 2], 1);
	count = (unsigned)strtoul(argv[optind + 3], NULL, 10);
	if (key == NULL || cert == NULL) {
		fprintf(stderr, "audit_writer: cannot read the key or certificate\n");
		goto out;
	}
	if (sd_audit_open(argv[optind], max_size, every, &a, &e) != 0) {
		fprintf(stderr, "audit_writer: %s: %s\n", sd_code_name(e.code), e.msg);
		a = NULL;
		goto out;
	}
	sd_audit_set_warn(a, warn, NULL);
	if (!no_signer) {
		s.sign = pkey_sign;
		s.ctx = key;
		s.cert = cert;
		s.key_name = key_name;
		sd_audit_set_signer(a, &s);
	}
	for (i = start; i < start + count; i++) {
		snprintf(in, sizeof(in), "cab-%u", i);
		snprintf(program, sizeof(program), "Product %u", i);
		SHA256((const uint8_t *)in, strlen(in), digest);
		memset(&r, 0, sizeof(r));
		r.event = "sign";
		r.pid = 4242;
		r.uid = 1001;
		r.gid = 1002;
		r.exe = "/usr/bin/publisher";
		r.exe_verified = 1;
		r.key = key_name;
		r.cert_serial = "01";
		r.cert_sha1 = "00112233445566778899aabbccddeeff00112233";
		r.subject_type = "cab";
		r.digest_alg = "sha256";
		r.digest = digest;
		r.digest_len = sizeof(digest);
		r.program = program;
		r.result = refuse != 0 && i % refuse == 0 ? SD_E_CERT_REVOKED : 0;
		r.message = r.result != 0 ? "key \"test\": the certificate is revoked" : NULL;
		if (sd_audit_append(a, &r, &e) != 0) {
			fprintf(stderr, "audit_writer: %s: %s\n", sd_code_name(e.code), e.msg);
			goto out;
		}
		if (rotate_after != 0 && i - start + 1 == rotate_after &&
		    sd_audit_rotate(a, &e) != 0) {
			fprintf(stderr, "audit_writer: rotate: %s\n", e.msg);
			goto out;
		}
	}
	if (crash)
		_exit(0);
	ret = 0;
out:
	if (a != NULL)
		sd_audit_close(a);
	EVP_PKEY_free(key);
	X509_free(cert);
	return ret;
}
