/*
 * signer sign-script and digest-script: PowerShell scripts (.ps1, .psm1,
 * .psd1). sign-script computes each script's digest, has signerd sign it with
 * SIGN_SCRIPT, checks that the returned PKCS#7 is a script signature over
 * exactly that digest by the key's certificate, appends (or replaces) the
 * signature block in the script's own encoding and writes the result
 * atomically. The pipeline (and --out-dir batches) is client/sign_batch.c,
 * shared with sign-cab.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client/cli.h"
#include "client/cli_opts.h"
#include "client/cmds.h"
#include "client/sign_batch.h"
#include "common/file.h"
#include "script/script.h"

static void usage_sign(FILE *f)
{
	fprintf(
	    f,
	    "usage: signer sign-script [OPTIONS] (-o OUT | --in-place) FILE\n"
	    "       signer sign-script [OPTIONS] --out-dir DIR FILE...\n\n"
	    "Sign PowerShell scripts (.ps1, .psm1, .psd1) with a key held by signerd.\n"
	    "The script may be UTF-8 (with or without a byte-order mark) or UTF-16LE;\n"
	    "the signature block is written in the script's own encoding and replaces\n"
	    "an existing one.\n\n"
	    "  --key NAME        key to sign with (default: signerd's default key)\n"
	    "  --digest ALG      sha256 (default), sha384, sha512, or sha1 if the key allows it\n"
	    "  --program NAME    program name (SpcSpOpusInfo)\n"
	    "  --url URL         more-information URL (SpcSpOpusInfo)\n"
	    "  -o, --output OUT  write the signed script to OUT\n"
	    "  --in-place        replace FILE with the signed script\n"
	    "  --out-dir DIR     batch: write each signed script as DIR/<basename of input>;\n"
	    "                    requests are pipelined on one connection\n"
	    "  --socket PATH     signerd's socket (default $SIGNERD_SOCKET, else\n"
	    "                    " SIGNER_CLIENT_DEFAULT_SOCKET ")\n\n"
	    "Every returned signature is checked before it is embedded: it must be a\n"
	    "script signature over exactly the digest sent, with the algorithm sent,\n"
	    "by the key's certificate. Outputs are written atomically and fsync'd. A\n"
	    "script that cannot be signed (malformed, refused) is reported and the\n"
	    "others are still signed; the exit status is then 1.\n");
}

static void usage_digest(FILE *f)
{
	fprintf(f, "usage: signer digest-script [--digest sha256|sha1|sha384|sha512] FILE\n\n"
		   "Print the lower-case hex Authenticode digest of a PowerShell script: its\n"
		   "text as UTF-16LE, byte-order mark included, without any signature block\n"
		   "(the value SIGN_SCRIPT sends). Default digest: sha256.\n");
}

/* Text Windows PowerShell 5.1 would read differently: 1 with the warning in msg. */
static int encoding_warning(const char *file, const struct ps_layout *l, char *msg, size_t sz)
{
	if (!l->bomless_non_ascii)
		return 0;
	snprintf(msg, sz,
		 "warning: %s is UTF-8 without a byte-order mark and holds non-ASCII text: "
		 "Windows PowerShell 5.1 reads such a file in the ANSI code page, so the "
		 "signature may not verify there; save it as UTF-8 with BOM or UTF-16LE",
		 file);
	return 1;
}

/* Read and check a script; prints why on failure. */
static int load(const char *file, uint8_t **data, size_t *len, struct ps_layout *l)
{
	struct sd_err e;
	struct stat st;

	if (stat(file, &st) != 0) {
		cli_err("%s: %s", file, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		cli_err("%s: not a regular file", file);
		return -1;
	}
	if (sd_read_file(file, PS_MAX_FILE_SIZE, data, len, &e) != 0) {
		cli_err("%s", e.msg);
		return -1;
	}
	if (ps_parse(*data, *len, l, &e) != 0) {
		cli_err("%s: %s", file, e.msg);
		free(*data);
		*data = NULL;
		return -1;
	}
	return 0;
}

/* The batch's look at one script: refuse a malformed one, warn, note a replaced block. */
static int inspect(struct sign_batch *b, const char *in, const uint8_t *data, size_t len,
		   char *note, size_t notesz, char *why, size_t whysz)
{
	struct ps_layout l;
	struct sd_err e;
	char msg[512];

	if (ps_parse(data, len, &l, &e) != 0) {
		snprintf(why, whysz, "%s", e.msg);
		return -1;
	}
	if (encoding_warning(in, &l, msg, sizeof(msg)))
		sign_batch_warn(b, "%s", msg);
	if (l.has_block)
		snprintf(note, notesz, "replaced the signature block at line %zu", l.block_line);
	return 0;
}

static const struct sign_format script_format = {
    .max_size = PS_MAX_FILE_SIZE,
    .subject = AU_SUBJECT_SCRIPT,
    .name_ok = ps_name_ok,
    .name_rule = "not a PowerShell script name (.ps1, .psm1 or .psd1); Windows picks the "
		 "signature format by the extension, so other files are refused",
    .inspect = inspect,
    .digest = ps_digest,
    .embed = ps_embed,
    .send = signer_send_sign_script,
};

int cmd_sign_script(int argc, char **argv)
{
	struct cli_sign_opts o;
	int rc;

	rc = cli_sign_opts_parse(argc, argv, usage_sign, &o);
	if (rc == CLI_GO_ON)
		rc = cli_sign_opts_check(&o);
	if (rc != CLI_GO_ON)
		return rc;
	return sign_batch_main(&o, &script_format);
}

int cmd_digest_script(int argc, char **argv)
{
	const EVP_MD *md = NULL;
	const char *file = NULL;
	uint8_t *data = NULL, digest[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1], msg[512];
	unsigned int dlen = 0;
	struct ps_layout l;
	size_t len = 0;
	struct sd_err e;
	int ret;

	ret = cli_digest_opts_parse(argc, argv, usage_digest, &md, &file);
	if (ret != CLI_GO_ON)
		return ret;
	ret = CLI_FAIL;
	if (load(file, &data, &len, &l) != 0)
		goto out;
	if (encoding_warning(file, &l, msg, sizeof(msg)))
		cli_err("%s", msg);
	if (ps_digest(data, len, md, digest, &dlen, &e) != 0) {
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
