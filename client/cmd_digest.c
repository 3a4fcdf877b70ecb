/* signer digest-cab: the Authenticode digest of a CAB, offline. */
#include <stdio.h>
#include <stdlib.h>

#include "cab/cab.h"
#include "client/cli.h"
#include "client/cli_opts.h"
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
	const EVP_MD *md = NULL;
	const char *file = NULL;
	uint8_t *data = NULL, digest[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned int dlen = 0;
	size_t len = 0;
	struct sd_err e;
	int ret;

	ret = cli_digest_opts_parse(argc, argv, usage, &md, &file);
	if (ret != CLI_GO_ON)
		return ret;
	ret = CLI_FAIL;
	if (sd_read_file(file, CAB_MAX_FILE_SIZE, &data, &len, &e) != 0) {
		cli_err("%s", e.msg);
		goto out;
	}
	if (cab_digest(data, len, md, digest, &dlen, &e) != 0) {
		cli_err("%s: %s", file, e.msg);
		goto out;
	}
	sd_hex(digest, dlen, hex);
	printf("%s\n", hex);
	ret = fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
out:
	free(data);
	return ret;
}
