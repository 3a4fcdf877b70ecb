/* signer cert, signer keys, signer status: read-only questions to signerd. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "client/cli.h"
#include "client/cmds.h"

enum { O_SOCKET = 256, O_KEY, O_PEM, O_DER, O_CHAIN, O_LONG };

static void cert_usage(FILE *f)
{
	fprintf(f, "usage: signer cert [--key NAME] [--pem|--der] [--chain] [-o FILE] "
		   "[--socket PATH]\n\n"
		   "Print a key's certificate, fetched from signerd (default key unless\n"
		   "--key). PEM by default; --chain appends the configured chain (PEM only).\n"
		   "-o writes FILE atomically instead of standard output.\n");
}

/* PEM of leaf (and chain) into a memory buffer. */
static int to_pem(X509 *leaf, STACK_OF(X509) * chain, char **out, size_t *outlen)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;
	int i, ret = -1;

	if (b == NULL || PEM_write_bio_X509(b, leaf) != 1)
		goto out;
	for (i = 0; chain != NULL && i < sk_X509_num(chain); i++)
		if (PEM_write_bio_X509(b, sk_X509_value(chain, i)) != 1)
			goto out;
	n = BIO_get_mem_data(b, &p);
	if (n <= 0)
		goto out;
	*out = malloc((size_t)n);
	if (*out == NULL)
		goto out;
	memcpy(*out, p, (size_t)n);
	*outlen = (size_t)n;
	ret = 0;
out:
	BIO_free(b);
	return ret;
}

int cmd_cert(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"key", required_argument, NULL, O_KEY},  {"pem", no_argument, NULL, O_PEM},
	    {"der", no_argument, NULL, O_DER},	      {"chain", no_argument, NULL, O_CHAIN},
	    {"output", required_argument, NULL, 'o'}, {"socket", required_argument, NULL, O_SOCKET},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	const char *key = "", *out = NULL, *sock = NULL;
	int der = 0, pem = 0, want_chain = 0, c, n, ret = CLI_FAIL;
	struct signer_client *cl = NULL;
	X509 *leaf = NULL;
	STACK_OF(X509) *chain = NULL;
	unsigned char *buf = NULL;
	char *text = NULL;
	size_t tlen = 0;

	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case O_KEY:
			key = optarg;
			break;
		case O_PEM:
			pem = 1;
			break;
		case O_DER:
			der = 1;
			break;
		case O_CHAIN:
			want_chain = 1;
			break;
		case 'o':
			out = optarg;
			break;
		case O_SOCKET:
			sock = optarg;
			break;
		case 'h':
			cert_usage(stdout);
			return CLI_OK;
		default:
			cert_usage(stderr);
			return CLI_USAGE;
		}
	}
	if (optind != argc || (pem && der) || (der && want_chain)) {
		if (pem && der)
			cli_err("--pem and --der exclude each other");
		else if (der && want_chain)
			cli_err("--chain needs PEM: a DER file holds one certificate");
		cert_usage(stderr);
		return CLI_USAGE;
	}
	cl = cli_connect(sock);
	if (cl == NULL || cli_get_cert(cl, key, &leaf, want_chain ? &chain : NULL) != 0)
		goto out;
	if (der) {
		n = i2d_X509(leaf, &buf);
		if (n <= 0) {
			cli_err("cannot encode the certificate");
			goto out;
		}
		if (cli_write_output(out, buf, (size_t)n, 0644) != 0)
			goto out;
	} else {
		if (to_pem(leaf, chain, &text, &tlen) != 0) {
			cli_err("cannot encode the certificate");
			goto out;
		}
		if (cli_write_output(out, text, tlen, 0644) != 0)
			goto out;
	}
	ret = CLI_OK;
out:
	OPENSSL_free(buf);
	free(text);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	signer_close(cl);
	return ret;
}

static void keys_usage(FILE *f)
{
	fprintf(f, "usage: signer keys [--long] [--socket PATH]\n\n"
		   "List signerd's keys: a table, or with --long every field of each key.\n");
}

static void print_long(const struct signer_key *k)
{
	printf("name:            %s%s\n", k->name, k->is_default ? " (default)" : "");
	printf("state:           %s\n", k->state);
	printf("subject:         %s\n", k->subject);
	printf("serial:          %s\n", k->serial);
	printf("sha1:            %s\n", k->sha1);
	printf("not after:       %s\n", k->not_after);
	printf("revocation:      %s\n", k->revocation);
	printf("crl next update: %s\n", k->crl_next_update[0] ? k->crl_next_update : "-");
}

int cmd_keys(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"long", no_argument, NULL, 'l'},
	    {"socket", required_argument, NULL, O_SOCKET},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *sock = NULL;
	struct signer_client *cl = NULL;
	struct signer_key *keys = NULL;
	struct signer_error e;
	size_t n = 0, i;
	int c, lng = 0, w = 4, ret = CLI_FAIL;

	while ((c = getopt_long(argc, argv, "lh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			lng = 1;
			break;
		case O_SOCKET:
			sock = optarg;
			break;
		case 'h':
			keys_usage(stdout);
			return CLI_OK;
		default:
			keys_usage(stderr);
			return CLI_USAGE;
		}
	}
	if (optind != argc) {
		keys_usage(stderr);
		return CLI_USAGE;
	}
	cl = cli_connect(sock);
	if (cl == NULL)
		goto out;
	if (signer_list_keys(cl, &keys, &n, &e) != 0) {
		cli_err_signer("LIST_KEYS", &e);
		goto out;
	}
	for (i = 0; i < n; i++)
		if ((int)strlen(keys[i].name) > w)
			w = (int)strlen(keys[i].name);
	for (i = 0; i < n; i++) {
		if (lng) {
			if (i > 0)
				putchar('\n');
			print_long(&keys[i]);
			continue;
		}
		if (i == 0)
			printf("%-*s  %-3s  %-7s  %-20s  %-15s  %-20s  %s\n", w, "NAME", "DEF",
			       "STATE", "NOT AFTER", "REVOCATION", "CRL NEXT UPDATE", "SUBJECT");
		printf("%-*s  %-3s  %-7s  %-20s  %-15s  %-20s  %s\n", w, keys[i].name,
		       keys[i].is_default ? "*" : "", keys[i].state, keys[i].not_after,
		       keys[i].revocation,
		       keys[i].crl_next_update[0] ? keys[i].crl_next_update : "-", keys[i].subject);
	}
	if (n == 0)
		printf("no keys\n");
	ret = CLI_OK;
out:
	signer_free(keys);
	signer_close(cl);
	return ret;
}

static void status_usage(FILE *f)
{
	fprintf(f, "usage: signer status [--socket PATH]\n\n"
		   "Show the server's version and protocol, then its status report.\n");
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, O_SOCKET},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *sock = NULL;
	struct signer_client *cl = NULL;
	struct signer_error e;
	char server[256], *text = NULL;
	uint32_t version = 0;
	int c, ret = CLI_FAIL;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_SOCKET:
			sock = optarg;
			break;
		case 'h':
			status_usage(stdout);
			return CLI_OK;
		default:
			status_usage(stderr);
			return CLI_USAGE;
		}
	}
	if (optind != argc) {
		status_usage(stderr);
		return CLI_USAGE;
	}
	cl = cli_connect(sock);
	if (cl == NULL)
		goto out;
	if (signer_hello(cl, &version, server, sizeof(server), &e) != 0) {
		cli_err_signer("HELLO", &e);
		goto out;
	}
	if (signer_status(cl, &text, &e) != 0) {
		cli_err_signer("STATUS", &e);
		goto out;
	}
	printf("socket: %s\nserver: %s\nprotocol: %u\n%s", cli_socket_path(sock), server, version,
	       text);
	if (text[0] != '\0' && text[strlen(text) - 1] != '\n')
		putchar('\n');
	ret = CLI_OK;
out:
	signer_free(text);
	signer_close(cl);
	return ret;
}
