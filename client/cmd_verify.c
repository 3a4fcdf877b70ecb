/*
 * signer verify-cab and verify-script: check a signed CAB or PowerShell
 * script offline, and say what was checked.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include "authenticode/authenticode.h"
#include "cab/cab.h"
#include "client/cli.h"
#include "client/cmds.h"
#include "common/file.h"
#include "timestamp/ts.h"
#include "script/script.h"

#define TRUST_FILE_MAX ((size_t)16 << 20)

static void usage(FILE *f, int script)
{
	if (script)
		fprintf(
		    f,
		    "usage: signer verify-script FILE [--ca FILE] [--crl FILE] [--tsa-ca FILE]\n\n"
		    "Verify a signed PowerShell script (.ps1, .psm1, .psd1): its encoding\n"
		    "and signature block, that the digest recomputed from the text equals\n"
		    "the signed one, that the signature is a script signature\n"
		    "(SPC_SIPINFO_OBJID), and the signature. --ca, --crl and --tsa-ca as\n"
		    "for verify-cab.\n");
	else
		fprintf(f,
			"usage: signer verify-cab FILE [--ca FILE] [--crl FILE] [--tsa-ca FILE]\n\n"
			"Verify a signed CAB: its structure, that the digest recomputed from the\n"
			"file equals the signed one, and the signature. With --ca (PEM or DER\n"
			"trust anchors), also the certificate chain for code signing; --crl (PEM\n"
			"or DER, may be repeated) adds CRL checking of the signer certificate.\n"
			"An RFC 3161 timestamp is checked (imprint and signature); with --tsa-ca\n"
			"also the TSA's certificate, and then the chain is checked at the\n"
			"timestamp's time, so a certificate that expired since still verifies.\n");
}

/* Add every certificate (is_crl 0) or CRL (1) of a PEM or DER file to store. */
static int load_into(X509_STORE *store, const char *path, int is_crl)
{
	uint8_t *data = NULL;
	const uint8_t *p;
	size_t len = 0;
	struct sd_err e;
	BIO *bio = NULL;
	X509 *x = NULL;
	X509_CRL *crl = NULL;
	int n = 0, ret = -1;

	if (sd_read_file(path, TRUST_FILE_MAX, &data, &len, &e) != 0) {
		cli_err("%s", e.msg);
		goto out;
	}
	bio = BIO_new_mem_buf(data, (int)len);
	if (bio == NULL)
		goto out;
	for (;;) {
		if (is_crl) {
			crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
			if (crl == NULL)
				break;
			if (X509_STORE_add_crl(store, crl) != 1) {
				cli_err("%s: cannot add CRL %d to the trust store", path, n);
				goto out;
			}
			X509_CRL_free(crl);
			crl = NULL;
		} else {
			x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
			if (x == NULL)
				break;
			if (X509_STORE_add_cert(store, x) != 1) {
				cli_err("%s: cannot add certificate %d to the trust store", path,
					n);
				goto out;
			}
			X509_free(x);
			x = NULL;
		}
		n++;
	}
	ERR_clear_error();
	if (n == 0) {
		p = data;
		if (is_crl) {
			crl = d2i_X509_CRL(NULL, &p, (long)len);
			if (crl != NULL && X509_STORE_add_crl(store, crl) == 1)
				n = 1;
		} else {
			x = d2i_X509(NULL, &p, (long)len);
			if (x != NULL && X509_STORE_add_cert(store, x) == 1)
				n = 1;
		}
	}
	if (n == 0) {
		cli_err("%s: no %s found (PEM or DER expected)", path,
			is_crl ? "CRL" : "certificate");
		goto out;
	}
	ret = 0;
out:
	ERR_clear_error();
	X509_free(x);
	X509_CRL_free(crl);
	BIO_free(bio);
	free(data);
	return ret;
}

static void subject_of(X509 *x, char *out, size_t outsz)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;

	snprintf(out, outsz, "(unprintable)");
	if (b == NULL)
		return;
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
		n = BIO_get_mem_data(b, &p);
		if (n > 0)
			snprintf(out, outsz, "%.*s", (int)n, p);
	}
	BIO_free(b);
}

/* The RFC 3161 timestamp, if the signature has one: 0 when absent or good. */
static int check_timestamp(const struct au_info *info, const char *tsa_ca, struct ts_token *ts)
{
	X509_STORE *store = NULL;
	struct sd_err e;
	int ret = -1;

	if (info->ts_token == NULL) {
		printf("timestamp: none (the signature stops verifying when the certificate "
		       "expires)\n");
		return 0;
	}
	if (tsa_ca != NULL) {
		store = X509_STORE_new();
		if (store == NULL || load_into(store, tsa_ca, 0) != 0)
			goto out;
	}
	if (ts_token_verify(info->ts_token, info->ts_token_len, info->sig, info->sig_len, store, ts,
			    &e) != 0) {
		printf("timestamp: FAILED: %s\n", e.msg);
		goto out;
	}
	printf("timestamp: ok (%s, %s)\n", ts->gen_time_text,
	       tsa_ca != NULL ? "TSA certificate trusted by --tsa-ca"
			      : "TSA certificate not checked (no --tsa-ca)");
	ret = 0;
out:
	X509_STORE_free(store);
	return ret;
}

/*
 * The structure step: CAB or script. Prints the structure line; on success
 * *p7 (malloc'd for a script, borrowed into data for a CAB) is the signature.
 */
static int structure(int script, const uint8_t *data, size_t len, const uint8_t **p7, size_t *p7len,
		     uint8_t **owned)
{
	struct cab_layout lay;
	struct ps_layout pl;
	struct sd_err e;

	if (script) {
		if (ps_parse(data, len, &pl, &e) != 0) {
			printf("structure: FAILED: %s\n", e.msg);
			return -1;
		}
		if (!pl.has_block || ps_get_signature(data, len, owned, p7len, &e) != 0) {
			printf("structure: ok (%s)\n", ps_encoding_name(pl.enc));
			printf("signature: FAILED: %s\n",
			       pl.has_block ? e.msg : "the script is not signed");
			return -1;
		}
		*p7 = *owned;
		printf("structure: ok (%s, %zu-byte signature in the block at line %zu)\n",
		       ps_encoding_name(pl.enc), *p7len, pl.block_line);
		if (pl.bomless_non_ascii)
			printf(
			    "warning:   UTF-8 without a byte-order mark and with non-ASCII text: "
			    "Windows PowerShell 5.1 reads it as ANSI and may reject the "
			    "signature\n");
		return 0;
	}
	if (cab_parse(data, len, &lay, &e) != 0) {
		printf("structure: FAILED: %s\n", e.msg);
		return -1;
	}
	if (!lay.signed_ || cab_get_signature(data, len, p7, p7len, &e) != 0) {
		printf("structure: ok (%u folders, %u files)\n", lay.c_folders, lay.c_files);
		printf("signature: FAILED: %s\n", lay.signed_ ? e.msg : "the CAB is not signed");
		return -1;
	}
	printf("structure: ok (%u folders, %u files, %zu-byte signature)\n", lay.c_folders,
	       lay.c_files, *p7len);
	return 0;
}

static int verify(int argc, char **argv, int script)
{
	static const struct option opts[] = {
	    {"ca", required_argument, NULL, 'a'},
	    {"crl", required_argument, NULL, 'r'},
	    {"tsa-ca", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *ca = NULL, *tsa_ca = NULL, *crls[16];
	struct ts_token ts;
	size_t ncrl = 0, len = 0, p7len = 0, i;
	uint8_t *data = NULL, *owned = NULL, digest[EVP_MAX_MD_SIZE];
	const uint8_t *p7 = NULL;
	unsigned int dlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1], subj[512];
	struct au_info info;
	X509_STORE *store = NULL;
	const EVP_MD *md;
	struct sd_err e;
	const char *file;
	int c, ret = CLI_FAIL;

	memset(&info, 0, sizeof(info));
	memset(&ts, 0, sizeof(ts));
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			ca = optarg;
			break;
		case 't':
			tsa_ca = optarg;
			break;
		case 'r':
			if (ncrl == sizeof(crls) / sizeof(crls[0])) {
				cli_err("at most %zu --crl files", ncrl);
				return CLI_USAGE;
			}
			crls[ncrl++] = optarg;
			break;
		case 'h':
			usage(stdout, script);
			return CLI_OK;
		default:
			usage(stderr, script);
			return CLI_USAGE;
		}
	}
	if (argc - optind != 1) {
		usage(stderr, script);
		return CLI_USAGE;
	}
	if (ncrl > 0 && ca == NULL) {
		cli_err("--crl needs --ca (CRLs are checked while building the chain)");
		return CLI_USAGE;
	}
	file = argv[optind];
	if (sd_read_file(file, script ? PS_MAX_FILE_SIZE : CAB_MAX_FILE_SIZE, &data, &len, &e) !=
	    0) {
		cli_err("%s", e.msg);
		goto out;
	}
	if (structure(script, data, len, &p7, &p7len, &owned) != 0)
		goto out;
	if (au_verify(p7, p7len, script ? AU_SUBJECT_SCRIPT : AU_SUBJECT_CAB, &info, &e) != 0) {
		printf("signature: FAILED: %s\n", e.msg);
		goto out;
	}
	md = EVP_get_digestbynid(info.md_nid);
	if (md == NULL || (script ? ps_digest(data, len, md, digest, &dlen, &e)
				  : cab_digest(data, len, md, digest, &dlen, &e)) != 0) {
		printf("digest:    FAILED: %s\n", md ? e.msg : "unsupported digest algorithm");
		goto out;
	}
	sd_hex(digest, dlen, hex);
	if (dlen != info.digest_len || CRYPTO_memcmp(digest, info.digest, dlen) != 0) {
		printf("digest:    FAILED: the file's %s digest %s differs from the signed one "
		       "(the %s was modified after signing)\n",
		       OBJ_nid2sn(info.md_nid), hex, script ? "script" : "CAB");
		goto out;
	}
	printf("digest:    ok (%s %s, recomputed and equal to the signed digest)\n",
	       OBJ_nid2sn(info.md_nid), hex);
	subject_of(info.signer, subj, sizeof(subj));
	printf("signature: ok (signed by %s)\n", subj);
	if (info.program[0] != '\0' || info.url[0] != '\0')
		printf("program:   %s%s%s\n", info.program, info.url[0] ? " " : "", info.url);
	if (check_timestamp(&info, tsa_ca, &ts) != 0)
		goto out;
	if (ca == NULL) {
		printf("chain:     not checked (no --ca)\n");
		ret = CLI_OK;
		goto out;
	}
	store = X509_STORE_new();
	if (store == NULL || load_into(store, ca, 0) != 0)
		goto out;
	for (i = 0; i < ncrl; i++)
		if (load_into(store, crls[i], 1) != 0)
			goto out;
	if (ncrl > 0)
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	/* A trusted timestamp proves the signature existed at genTime (Authenticode's rule). */
	if (ts.trusted)
		X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store), ts.gen_time);
	if (au_verify_chain(&info, store, &e) != 0) {
		printf("chain:     FAILED: %s\n", e.msg);
		goto out;
	}
	printf("chain:     ok (trusted by %s%s%s)\n", ca,
	       ncrl > 0 ? ", signer certificate not revoked" : ", no CRL checked",
	       ts.trusted ? ", at the timestamp's time" : "");
	ret = CLI_OK;
out:
	au_info_clear(&info);
	X509_STORE_free(store);
	free(owned);
	free(data);
	return ret;
}

int cmd_verify_cab(int argc, char **argv)
{
	return verify(argc, argv, 0);
}

int cmd_verify_script(int argc, char **argv)
{
	return verify(argc, argv, 1);
}
