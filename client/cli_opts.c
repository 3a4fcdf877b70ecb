#include "client/cli_opts.h"

#include <getopt.h>
#include <string.h>

#include "client/cli.h"

enum { O_KEY = 256, O_DIGEST, O_PROGRAM, O_URL, O_IN_PLACE, O_OUT_DIR, O_SOCKET };

/* In the order getopt_long lists them for an ambiguous abbreviation. */
static const struct option sign_opts[] = {
    {"key", required_argument, NULL, O_KEY},
    {"digest", required_argument, NULL, O_DIGEST},
    {"program", required_argument, NULL, O_PROGRAM},
    {"url", required_argument, NULL, O_URL},
    {"output", required_argument, NULL, 'o'},
    {"in-place", no_argument, NULL, O_IN_PLACE},
    {"out-dir", required_argument, NULL, O_OUT_DIR},
    {"socket", required_argument, NULL, O_SOCKET},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* --help: usage on stdout, exit 0; anything getopt_long refused: usage on stderr, exit 2. */
static int help_or_usage(int c, void (*usage)(FILE *))
{
	if (c == 'h') {
		usage(stdout);
		return CLI_OK;
	}
	usage(stderr);
	return CLI_USAGE;
}

int cli_sign_opts_parse(int argc, char **argv, void (*usage)(FILE *), struct cli_sign_opts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->key = "";
	o->alg = "sha256";
	while ((c = getopt_long(argc, argv, "o:h", sign_opts, NULL)) != -1) {
		switch (c) {
		case O_KEY:
			o->key = optarg;
			break;
		case O_DIGEST:
			o->alg = optarg;
			break;
		case O_PROGRAM:
			o->program = optarg;
			break;
		case O_URL:
			o->url = optarg;
			break;
		case 'o':
			o->out = optarg;
			break;
		case O_IN_PLACE:
			o->in_place = 1;
			break;
		case O_OUT_DIR:
			o->out_dir = optarg;
			break;
		case O_SOCKET:
			o->socket = optarg;
			break;
		default:
			return help_or_usage(c, usage);
		}
	}
	o->files = argv + optind;
	o->nfiles = (size_t)(argc - optind);
	if ((o->out != NULL) + o->in_place + (o->out_dir != NULL) != 1) {
		cli_err("give exactly one of -o OUT, --in-place and --out-dir DIR");
		return CLI_USAGE;
	}
	if (o->nfiles == 0) {
		cli_err("no input file");
		return CLI_USAGE;
	}
	if (o->out_dir == NULL && o->nfiles != 1) {
		cli_err("-o and --in-place take one FILE; use --out-dir for several");
		return CLI_USAGE;
	}
	return CLI_GO_ON;
}

int cli_sign_opts_check(struct cli_sign_opts *o)
{
	o->md = cli_md(o->alg);
	if (o->md == NULL) {
		cli_err("unknown digest \"%s\" (sha256, sha384, sha512, sha1)", o->alg);
		return CLI_USAGE;
	}
	if (strlen(o->key) > 127 || (o->program && strlen(o->program) > 255) ||
	    (o->url && strlen(o->url) > 1023)) {
		cli_err("--key is limited to 127 bytes, --program to 255, --url to 1023");
		return CLI_USAGE;
	}
	return CLI_GO_ON;
}

int cli_digest_opts_parse(int argc, char **argv, void (*usage)(FILE *), const EVP_MD **md,
			  const char **file)
{
	static const struct option opts[] = {
	    {"digest", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *alg = "sha256";
	int c;

	while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			alg = optarg;
			break;
		default:
			return help_or_usage(c, usage);
		}
	}
	if (argc - optind != 1) {
		usage(stderr);
		return CLI_USAGE;
	}
	*md = cli_md(alg);
	if (*md == NULL) {
		cli_err("unknown digest \"%s\" (sha256, sha1, sha384, sha512)", alg);
		return CLI_USAGE;
	}
	*file = argv[optind];
	return CLI_GO_ON;
}
