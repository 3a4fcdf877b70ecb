/* signer token keygen|csr|import-cert|list|attest: administration over PKCS#11. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509v3.h>

#include "client/cmds.h"
#include "client/token.h"
#include "common/file.h"

#define EXIT_FAIL  1
#define EXIT_USAGE 2

static void usage(FILE *f)
{
	fprintf(f,
		"usage: signer token COMMAND [--module PATH --token LABEL | -c signerd.yaml]\n"
		"                    [--pin-file FILE] (else $SIGNER_PIN, else the config's PIN)\n"
		"  init --token LABEL --so-pin-file FILE (user PIN as above; first free slot)\n"
		"  keygen --label L [--type rsa:3072|rsa:2048|rsa:4096|ec:p256]\n"
		"         [--always-authenticate] [--self-signed --subject DN [--years N] [-o "
		"cert.pem]]\n"
		"  csr --label L --subject DN -o req.pem\n"
		"  import-cert --label L CERT.pem\n"
		"  import-pfx --label L --pass-file FILE [--chain-out chain.pem] FILE.pfx\n"
		"  list\n"
		"  attest --label L\n"
		"DN is CN=x,O=y or /CN=x/O=y.\n");
}

static int parse(int argc, char **argv, struct tok_opts *o)
{
	static const struct option opts[] = {
	    {"module", required_argument, NULL, 'm'},
	    {"token", required_argument, NULL, 't'},
	    {"pin-file", required_argument, NULL, 'P'},
	    {"label", required_argument, NULL, 'l'},
	    {"type", required_argument, NULL, 'T'},
	    {"subject", required_argument, NULL, 's'},
	    {"years", required_argument, NULL, 'y'},
	    {"self-signed", no_argument, NULL, 'S'},
	    {"pass-file", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {"so-pin-file", required_argument, NULL, 'O'},
	    {"always-authenticate", no_argument, NULL, 'A'},
	    {"chain-out", required_argument, NULL, 'C'},
	    {NULL, 0, NULL, 0},
	};
	char *end;
	int c;

	memset(o, 0, sizeof(*o));
	o->years = 5;
	o->type = "rsa:3072";
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			o->module = optarg;
			break;
		case 't':
			o->token = optarg;
			break;
		case 'c':
			o->config = optarg;
			break;
		case 'P':
			o->pin_file = optarg;
			break;
		case 'l':
			o->label = optarg;
			break;
		case 'T':
			o->type = optarg;
			break;
		case 's':
			o->subject = optarg;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'p':
			o->pass_file = optarg;
			break;
		case 'O':
			o->so_pin_file = optarg;
			break;
		case 'A':
			o->always_auth = 1;
			break;
		case 'C':
			o->chain_out = optarg;
			break;
		case 'S':
			o->self_signed = 1;
			break;
		case 'y':
			o->years = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || o->years < 1 || o->years > 50) {
				fprintf(stderr, "signer token: --years must be 1..50\n");
				return -1;
			}
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (optind < argc)
		o->arg = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "signer token: unexpected argument \"%s\"\n", argv[optind]);
		return -1;
	}
	return 0;
}

static const char *attr_text(int v)
{
	return v < 0 ? "unknown" : v ? "true" : "false";
}

static int do_keygen(struct tok_ctx *t, const struct tok_opts *o, struct sd_err *e)
{
	enum p11_keytype type;
	struct p11_key *k = NULL;
	X509_NAME *dn = NULL;
	X509 *x = NULL;
	int ret = -1;

	if (p11_keytype_parse(o->type, &type) != 0)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "--type must be rsa:2048, rsa:3072, rsa:4096 or ec:p256");
	if (o->self_signed && tok_parse_dn(o->subject, &dn, e) != 0)
		return -1;
	if (p11_keygen_ex(t->tok, o->label, type, o->always_auth ? P11_KEYGEN_ALWAYS_AUTH : 0, &k,
			  e) != 0)
		goto out;
	printf("generated %s key \"%s\" on token \"%s\" (sensitive, not extractable)\n", o->type,
	       o->label, t->tok->label);
	if (type == P11_ECP256)
		fprintf(stderr, "warning: nothing from Microsoft says WSUS accepts ECDSA-signed "
				"CABs; use RSA for WSUS\n");
	if (!o->self_signed)
		goto done;
	if (tok_self_signed(k, dn, o->years, &x, e) != 0 || p11_store_cert(k, x, e) != 0)
		goto out;
	printf("self-signed code-signing certificate stored on the token, valid %d years\n",
	       o->years);
	if (o->out != NULL) {
		if (tok_write_pem_cert(o->out, x, e) != 0)
			goto out;
		printf("certificate written to %s\n", o->out);
	}
done:
	ret = 0;
out:
	X509_free(x);
	X509_NAME_free(dn);
	p11_key_free(k);
	return ret;
}

static int do_csr(struct tok_ctx *t, const struct tok_opts *o, struct sd_err *e)
{
	struct p11_key *k = NULL;
	X509_NAME *dn = NULL;
	X509_REQ *r = NULL;
	int ret = -1;

	if (o->out == NULL)
		return sd_err_set(e, SD_E_BAD_REQUEST, "csr needs -o req.pem");
	if (tok_parse_dn(o->subject, &dn, e) != 0 || tok_key(t, o->label, &k, e) != 0 ||
	    tok_csr(k, dn, &r, e) != 0 || tok_write_pem_req(o->out, r, e) != 0)
		goto out;
	printf("certificate request for \"%s\" written to %s\n", o->label, o->out);
	ret = 0;
out:
	X509_REQ_free(r);
	X509_NAME_free(dn);
	p11_key_free(k);
	return ret;
}

static int do_import_cert(struct tok_ctx *t, const struct tok_opts *o, struct sd_err *e)
{
	struct p11_key *k = NULL;
	X509 *x = NULL;
	int ret = -1;

	if (o->arg == NULL)
		return sd_err_set(e, SD_E_BAD_REQUEST, "import-cert needs a certificate file");
	if ((x = tok_read_cert(o->arg, e)) == NULL || tok_key(t, o->label, &k, e) != 0 ||
	    tok_check_codesign_cert(k, x, e) != 0 || p11_store_cert(k, x, e) != 0)
		goto out;
	printf("certificate stored with key \"%s\"\n", o->label);
	ret = 0;
out:
	X509_free(x);
	p11_key_free(k);
	return ret;
}

static int do_import_pfx(struct tok_ctx *t, const struct tok_opts *o, struct sd_err *e)
{
	if (o->arg == NULL || o->pass_file == NULL)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "import-pfx needs --pass-file FILE and a .pfx file");
	return tok_import_pfx(t, o, e);
}

static void list_one(void *ctx, struct p11_key *k)
{
	struct p11_attest a;
	struct sd_err e;
	X509 *x = NULL;
	char id[2 * sizeof(k->id) + 1], subj[256] = "-";

	(void)ctx;
	sd_hex(k->id, k->id_len, id);
	if (p11_key_read_cert(k, &x, &e) == 0 && x != NULL)
		X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
	memset(&a, 0, sizeof(a));
	p11_key_attest(k, &a, &e);
	printf("%-24s %-4s %5d bits  id %s  sensitive=%s extractable=%s local=%s  cert %s\n",
	       k->label, k->type == CKK_RSA ? "RSA" : "EC", EVP_PKEY_get_bits(k->pub), id,
	       attr_text(a.sensitive), attr_text(a.extractable), attr_text(a.local), subj);
	X509_free(x);
}

/* A certificate object without a key: label, CKA_ID, subject, notAfter. */
static void list_ca_one(void *ctx, const struct p11_cert_obj *c)
{
	char id[2 * sizeof(c->id) + 1] = "-", subj[256] = "(not a valid DER certificate)",
				    label[sizeof(c->label)], na[32] = "?";
	const char *kind = "cert";
	struct tm tm;
	size_t i;

	(void)ctx;
	/* The token's label is printed, not interpreted: no control characters. */
	for (i = 0; c->label[i] != '\0'; i++)
		label[i] =
		    (unsigned char)c->label[i] < 0x20 || c->label[i] == 0x7f ? '?' : c->label[i];
	label[i] = '\0';
	if (c->id_len > 0)
		sd_hex(c->id, c->id_len, id);
	if (c->cert != NULL) {
		X509_NAME_oneline(X509_get_subject_name(c->cert), subj, sizeof(subj));
		if (ASN1_TIME_to_tm(X509_get0_notAfter(c->cert), &tm) == 1)
			strftime(na, sizeof(na), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (X509_check_ca(c->cert) != 0)
			kind = "CA cert";
	}
	printf("%-24s %-7s  id %s  subject %s  notAfter %s\n", label[0] ? label : "-", kind, id,
	       subj, na);
}

/* Keys with their certificates, then the certificates no key claims (CA certificates). */
static int do_list(struct tok_ctx *t, struct sd_err *e)
{
	if (p11_key_list(t->tok, list_one, NULL, e) != 0)
		return -1;
	return p11_ca_cert_list(t->tok, list_ca_one, NULL, e);
}

static int do_attest(struct tok_ctx *t, const struct tok_opts *o, struct sd_err *e)
{
	struct p11_key *k = NULL;
	struct p11_attest a;
	int ret = -1;

	if (tok_key(t, o->label, &k, e) != 0 || p11_key_attest(k, &a, e) != 0)
		goto out;
	printf("key: %s (%s, %d bits) on token \"%s\"\n", k->label,
	       k->type == CKK_RSA ? "RSA" : "EC", EVP_PKEY_get_bits(k->pub), t->tok->label);
	printf("CKA_SENSITIVE: %s\nCKA_ALWAYS_SENSITIVE: %s\nCKA_EXTRACTABLE: %s\n"
	       "CKA_NEVER_EXTRACTABLE: %s\nCKA_LOCAL: %s\nCKA_SIGN: %s\nCKA_DECRYPT: %s\n"
	       "CKA_UNWRAP: %s\nCKA_DERIVE: %s\nCKA_ALWAYS_AUTHENTICATE: %s\n",
	       attr_text(a.sensitive), attr_text(a.always_sensitive), attr_text(a.extractable),
	       attr_text(a.never_extractable), attr_text(a.local), attr_text(a.sign),
	       attr_text(a.decrypt), attr_text(a.unwrap), attr_text(a.derive),
	       attr_text(a.always_authenticate));
	printf("origin: %s\n", a.local == 1 ? "generated on the token (CKA_LOCAL true)"
			       : a.local == 0
				   ? "imported, not generated on the token (CKA_LOCAL false)"
				   : "unknown (the token does not report CKA_LOCAL)");
	if (a.sensitive == 1 && a.extractable == 0) {
		printf("verdict: non-exportable\n");
		ret = 0;
	} else {
		sd_err_set(e, SD_E_INTERNAL,
			   "key \"%s\" can leave the token (sensitive=%s, "
			   "extractable=%s)",
			   k->label, attr_text(a.sensitive), attr_text(a.extractable));
	}
out:
	p11_key_free(k);
	return ret;
}

int cmd_token(int argc, char **argv)
{
	struct tok_opts o;
	struct tok_ctx t;
	struct sd_err e = {0};
	const char *sub;
	int ret;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	sub = argv[1];
	if (strcmp(sub, "init") == 0) {
		if (parse(argc - 1, argv + 1, &o) != 0) {
			usage(stderr);
			return EXIT_USAGE;
		}
		if (tok_init(&o, &e) != 0) {
			fprintf(stderr, "signer token init: %s\n", e.msg);
			return EXIT_FAIL;
		}
		printf("token \"%s\" initialised\n", o.token);
		return 0;
	}
	if (strcmp(sub, "keygen") != 0 && strcmp(sub, "csr") != 0 &&
	    strcmp(sub, "import-cert") != 0 && strcmp(sub, "import-pfx") != 0 &&
	    strcmp(sub, "list") != 0 && strcmp(sub, "attest") != 0) {
		fprintf(stderr, "signer token: unknown command \"%s\"\n", sub);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (parse(argc - 1, argv + 1, &o) != 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(sub, "list") != 0 && o.label == NULL) {
		fprintf(stderr, "signer token %s: --label is required\n", sub);
		return EXIT_USAGE;
	}
	if (tok_open(&o, &t, &e) != 0) {
		fprintf(stderr, "signer token %s: %s\n", sub, e.msg);
		return EXIT_FAIL;
	}
	if (strcmp(sub, "keygen") == 0)
		ret = do_keygen(&t, &o, &e);
	else if (strcmp(sub, "csr") == 0)
		ret = do_csr(&t, &o, &e);
	else if (strcmp(sub, "import-cert") == 0)
		ret = do_import_cert(&t, &o, &e);
	else if (strcmp(sub, "import-pfx") == 0)
		ret = do_import_pfx(&t, &o, &e);
	else if (strcmp(sub, "attest") == 0)
		ret = do_attest(&t, &o, &e);
	else
		ret = do_list(&t, &e);
	tok_close(&t);
	if (ret != 0) {
		fprintf(stderr, "signer token %s: %s\n", sub, e.msg);
		return EXIT_FAIL;
	}
	return 0;
}
