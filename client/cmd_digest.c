/* signer digest-cab: the Authenticode digest of a CAB, offline. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cab/cab.h"
#include "client/cli.h"
#include "client/cmds.h"
#include "common/file.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: signer digest-cab [--digest sha256|sha1|sha384|sha512] FILE\n\n"
		   "Print the lower-case hex Authenticode digest of FILE as it will be once\n"
		   "signed (the value SIGN_CAB sends). Default digest: sha256.\n");
}

int cmd_digest_cab(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"digest", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *alg = "sha256";
	const EVP_MD *md;
	uint8_t *data = NULL, digest[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned int dlen = 0;
	size_t len = 0;
	struct sd_err e;
	int c, ret = CLI_FAIL;

	while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			alg = optarg;
			break;
		case 'h':
			usage(stdout);
			return CLI_OK;
		default:
			usage(stderr);
			return CLI_USAGE;
		}
	}
	if (argc - optind != 1) {
		usage(stderr);
		return CLI_USAGE;
	}
	md = cli_md(alg);
	if (md == NULL) {
		cli_err("unknown digest \"%s\" (sha256, sha1, sha384, sha512)", alg);
		return CLI_USAGE;
	}
	if (sd_read_file(argv[optind], CAB_MAX_FILE_SIZE, &data, &len, &e) != 0) {
		cli_err("%s", e.msg);
		goto out;
	}
	if (cab_digest(data, len, md, digest, &dlen, &e) != 0) {
		cli_err("%s: %s", argv[optind], e.msg);
		goto out;
	}
	sd_hex(digest, dlen, hex);
	printf("%s\n", hex);
	ret = fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
out:
	free(data);
	return ret;
}
