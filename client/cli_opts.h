/*
 * The options the signing and digest subcommands share: sign-cab and
 * sign-script take --key, --digest, --program, --url, -o/--output,
 * --in-place, --out-dir and --socket; digest-cab and
 * digest-script take [--digest ALG] FILE. Each command keeps its usage text
 * and its own checks on the files.
 */
#ifndef SD_CLIENT_CLI_OPTS_H
#define SD_CLIENT_CLI_OPTS_H

#include <stddef.h>
#include <stdio.h>

#include <openssl/evp.h>

/* Returned by the parsers when the command goes on (any other value is the exit status). */
#define CLI_GO_ON (-1)

struct cli_sign_opts {
	const char *key; /* "" asks for signerd's default key */
	const char *alg;
	const char *program;
	const char *url;
	const char *out;
	const char *out_dir;
	const char *socket;
	int in_place;
	const EVP_MD *md; /* set by cli_sign_opts_check */
	char **files;
	size_t nfiles;
};

/*
 * Parse the options of a signing command (argv[0] is its name), check that
 * exactly one of -o OUT, --in-place and --out-dir DIR was given and that the
 * FILEs fit it (one FILE, or one or more with --out-dir). --help prints
 * usage to stdout (CLI_OK); a bad option prints it to stderr (CLI_USAGE).
 * Returns CLI_GO_ON with o->files/o->nfiles set, or the exit status.
 */
int cli_sign_opts_parse(int argc, char **argv, void (*usage)(FILE *), struct cli_sign_opts *o);

/* The digest algorithm (sets o->md) and the length limits: CLI_GO_ON or CLI_USAGE. */
int cli_sign_opts_check(struct cli_sign_opts *o);

/*
 * digest-cab and digest-script: [--digest ALG] FILE. Returns CLI_GO_ON with
 * *md and *file set, or the exit status.
 */
int cli_digest_opts_parse(int argc, char **argv, void (*usage)(FILE *), const EVP_MD **md,
			  const char **file);

#endif
