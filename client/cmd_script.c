/*
 * signer sign-script and digest-script: PowerShell scripts (.ps1, .psm1,
 * .psd1). sign-script computes the script's digest, has signerd sign it with
 * SIGN_SCRIPT, checks that the returned PKCS#7 is a script signature over
 * exactly that digest by the key's certificate, appends (or replaces) the
 * signature block in the script's own encoding and writes the result
 * atomically.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "authenticode/authenticode.h"
#include "client/cli.h"
#include "client/cli_opts.h"
#include "client/cmds.h"
#include "common/file.h"
#include "script/script.h"

static void usage_sign(FILE *f)
{
	fprintf(
	    f,
	    "usage: signer sign-script [OPTIONS] (-o OUT | --in-place) FILE\n\n"
	    "Sign a PowerShell script (.ps1, .psm1, .psd1) with a key held by signerd.\n"
	    "The script may be UTF-8 (with or without a byte-order mark) or UTF-16LE;\n"
	    "the signature block is written in the script's own encoding and replaces\n"
	    "an existing one.\n\n"
	    "  --key NAME        key to sign with (default: signerd's default key)\n"
	    "  --digest ALG      sha256 (default), sha384, sha512, or sha1 if the key allows it\n"
	    "  --program NAME    program name (SpcSpOpusInfo)\n"
	    "  --url URL         more-information URL (SpcSpOpusInfo)\n"
	    "  -o, --output OUT  write the signed script to OUT\n"
	    "  --in-place        replace FILE with the signed script\n"
	    "  --socket PATH     signerd's socket (default $SIGNERD_SOCKET, else\n"
	    "                    " SIGNER_CLIENT_DEFAULT_SOCKET ")\n\n"
	    "The returned signature is checked before it is embedded: it must be a\n"
	    "script signature over exactly the digest sent, with the algorithm sent,\n"
	    "by the key's certificate. The output is written atomically and fsync'd.\n");
}

static void usage_digest(FILE *f)
{
	fprintf(f, "usage: signer digest-script [--digest sha256|sha1|sha384|sha512] FILE\n\n"
		   "Print the lower-case hex Authenticode digest of a PowerShell script: its\n"
		   "text as UTF-16LE, byte-order mark included, without any signature block\n"
		   "(the value SIGN_SCRIPT sends). Default digest: sha256.\n");
}

/* Warn about text Windows PowerShell 5.1 would read differently. */
static void warn_encoding(const char *file, const struct ps_layout *l)
{
	if (l->bomless_non_ascii)
		cli_err("warning: %s is UTF-8 without a byte-order mark and holds non-ASCII "
			"text: Windows PowerShell 5.1 reads such a file in the ANSI code page, "
			"so the signature may not verify there; save it as UTF-8 with BOM or "
			"UTF-16LE",
			file);
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

/*
 * The returned PKCS#7 must be a script signature over exactly the digest
 * and algorithm sent, by the key's certificate (fetched again once if a
 * reload replaced it in between).
 */
static int check_signature(struct signer_client *c, const struct cli_sign_opts *o, X509 **leaf,
			   const uint8_t *digest, unsigned int dlen, const uint8_t *p7,
			   size_t p7len)
{
	struct au_info info;
	struct sd_err e;
	X509 *now = NULL;
	int ret = -1;

	memset(&info, 0, sizeof(info));
	if (au_verify(p7, p7len, AU_SUBJECT_SCRIPT, &info, &e) != 0) {
		cli_err("signerd returned a signature that does not verify as a script "
			"signature: %s",
			e.msg);
		goto out;
	}
	if (info.md_nid != EVP_MD_get_type(o->md)) {
		cli_err("signerd returned a %s signature, %s was asked for",
			OBJ_nid2sn(info.md_nid), o->alg);
		goto out;
	}
	if (info.digest_len != dlen || CRYPTO_memcmp(info.digest, digest, dlen) != 0) {
		cli_err("signerd returned a signature over a different digest");
		goto out;
	}
	if (info.signer == NULL || X509_cmp(info.signer, *leaf) != 0) {
		if (info.signer == NULL || cli_get_cert(c, o->key, &now, NULL) != 0 ||
		    X509_cmp(now, info.signer) != 0) {
			cli_err("the signature's signer certificate is not the key's certificate");
			goto out;
		}
		X509_free(*leaf);
		*leaf = now;
		now = NULL;
	}
	ret = 0;
out:
	X509_free(now);
	au_info_clear(&info);
	return ret;
}

static int sign_one(const struct cli_sign_opts *o, const char *in)
{
	struct signer_sign_request r = {0};
	struct signer_client *c = NULL;
	struct signer_error se;
	struct ps_layout l;
	struct sd_err e;
	struct stat st;
	X509 *leaf = NULL;
	uint8_t *data = NULL, *signedf = NULL, *p7 = NULL;
	uint8_t digest[EVP_MAX_MD_SIZE], again[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0, alen = 0;
	size_t len = 0, outlen = 0, p7len = 0;
	char outpath[PATH_MAX];
	const char *dest = o->out;
	int ret = CLI_FAIL;

	if (o->in_place) {
		/* Replace the file a symlink points to, not the symlink. */
		if (realpath(in, outpath) == NULL) {
			cli_err("%s: %s", in, strerror(errno));
			return CLI_FAIL;
		}
		dest = outpath;
	}
	if (load(in, &data, &len, &l) != 0)
		goto out;
	warn_encoding(in, &l);
	if (ps_digest(data, len, o->md, digest, &dlen, &e) != 0) {
		cli_err("%s: %s", in, e.msg);
		goto out;
	}
	c = cli_connect(o->socket);
	if (c == NULL || cli_get_cert(c, o->key, &leaf, NULL) != 0)
		goto out;
	r.key = o->key;
	r.digest_alg = o->alg;
	r.digest = digest;
	r.digest_len = dlen;
	r.program = o->program;
	r.url = o->url;
	if (signer_sign_script(c, &r, &p7, &p7len, &se) != 0) {
		cli_err_signer(in, &se);
		goto out;
	}
	if (check_signature(c, o, &leaf, digest, dlen, p7, p7len) != 0)
		goto out;
	if (ps_embed(data, len, p7, p7len, &signedf, &outlen, &e) != 0) {
		cli_err("%s: %s", in, e.msg);
		goto out;
	}
	/* The signed file must hash to what was signed. */
	if (ps_digest(signedf, outlen, o->md, again, &alen, &e) != 0 || alen != dlen ||
	    memcmp(again, digest, dlen) != 0) {
		cli_err("%s: the signed script does not hash to the signed digest", in);
		goto out;
	}
	if (stat(in, &st) != 0) {
		cli_err("%s: %s", in, strerror(errno));
		goto out;
	}
	if (sd_write_file_atomic(dest, signedf, outlen, st.st_mode & 0777, 1, &e) != 0) {
		cli_err("%s", e.msg);
		goto out;
	}
	if (l.has_block)
		cli_err("%s: replaced the signature block at line %zu", in, l.block_line);
	ret = CLI_OK;
out:
	signer_free(p7);
	free(signedf);
	free(data);
	X509_free(leaf);
	signer_close(c);
	return ret;
}

int cmd_sign_script(int argc, char **argv)
{
	struct cli_sign_opts o;
	int rc;

	rc = cli_sign_opts_parse(argc, argv, 0, usage_sign, &o);
	if (rc != CLI_GO_ON)
		return rc;
	if (!ps_name_ok(o.files[0])) {
		cli_err("%s: not a PowerShell script name (.ps1, .psm1 or .psd1); Windows picks "
			"the signature format by the extension, so other files are refused",
			o.files[0]);
		return CLI_USAGE;
	}
	rc = cli_sign_opts_check(&o);
	if (rc != CLI_GO_ON)
		return rc;
	return sign_one(&o, o.files[0]);
}

int cmd_digest_script(int argc, char **argv)
{
	const EVP_MD *md = NULL;
	const char *file = NULL;
	uint8_t *data = NULL, digest[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
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
	warn_encoding(file, &l);
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
