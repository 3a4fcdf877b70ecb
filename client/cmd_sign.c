/*
 * signer sign-cab: compute each CAB's digest, have signerd sign it, check
 * the returned PKCS#7 against what was sent and against the key's
 * certificate, embed it and write the result atomically. The pipeline
 * (and --out-dir batches) is client/sign_batch.c, shared with sign-script.
 */
#include <stdio.h>

#include "cab/cab.h"
#include "client/cli.h"
#include "client/cli_opts.h"
#include "client/cmds.h"
#include "client/sign_batch.h"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: signer sign-cab [OPTIONS] (-o OUT | --in-place) FILE\n"
	    "       signer sign-cab [OPTIONS] --out-dir DIR FILE...\n\n"
	    "Sign CAB files with a key held by signerd.\n\n"
	    "  --key NAME        key to sign with (default: signerd's default key)\n"
	    "  --digest ALG      sha256 (default), sha384, sha512, or sha1 if the key allows it\n"
	    "  --program NAME    program name shown by Windows (SpcSpOpusInfo)\n"
	    "  --url URL         more-information URL (SpcSpOpusInfo)\n"
	    "  -o, --output OUT  write the signed CAB to OUT\n"
	    "  --in-place        replace FILE with the signed CAB\n"
	    "  --out-dir DIR     batch: write each signed CAB as DIR/<basename of input>;\n"
	    "                    requests are pipelined on one connection\n"
	    "  --socket PATH     signerd's socket (default $SIGNERD_SOCKET, else\n"
	    "                    " SIGNER_CLIENT_DEFAULT_SOCKET ")\n\n"
	    "Every returned signature is checked before it is embedded: it must cover\n"
	    "exactly the digest sent, with the algorithm sent, and be signed by the\n"
	    "key's certificate. Outputs are written atomically and fsync'd. A file\n"
	    "that cannot be signed is reported and the others are still signed; the\n"
	    "exit status is then 1.\n");
}

static const struct sign_format cab_format = {
    .max_size = CAB_MAX_FILE_SIZE,
    .subject = AU_SUBJECT_CAB,
    .digest = cab_digest,
    .embed = cab_embed,
    .send = signer_send_sign_cab,
};

int cmd_sign_cab(int argc, char **argv)
{
	struct cli_sign_opts o;
	int rc;

	rc = cli_sign_opts_parse(argc, argv, usage, &o);
	if (rc == CLI_GO_ON)
		rc = cli_sign_opts_check(&o);
	if (rc != CLI_GO_ON)
		return rc;
	return sign_batch_main(&o, &cab_format);
}
