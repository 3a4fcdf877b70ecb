/* signer: the command-line tool. Dispatches to one subcommand per file. */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"
#include "client/cmds.h"

#ifndef SIGNERD_VERSION
#define SIGNERD_VERSION "unknown"
#endif

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
    {"sign-cab", cmd_sign_cab, "sign CAB files through signerd"},
    {"digest-cab", cmd_digest_cab, "print a CAB's Authenticode digest (offline)"},
    {"verify-cab", cmd_verify_cab, "verify a signed CAB (offline)"},
    {"sign-script", cmd_sign_script,
     "sign a PowerShell script (.ps1, .psm1, .psd1) through signerd"},
    {"digest-script", cmd_digest_script, "print a script's Authenticode digest (offline)"},
    {"verify-script", cmd_verify_script, "verify a signed PowerShell script (offline)"},
    {"cert", cmd_cert, "print a key's certificate from signerd"},
    {"keys", cmd_keys, "list signerd's keys"},
    {"status", cmd_status, "show signerd's status"},
    {"admin", cmd_admin, "freeze, thaw, retire a key or reload (admin socket)"},
    {"audit", cmd_audit, "verify or search signerd's audit log (offline)"},
#ifdef SIGNER_HAVE_TRUST_KIT
    {"trust-kit", cmd_trust_kit, "write the certificate and Windows trust scripts"},
#endif
#ifdef SIGNER_HAVE_TOKEN
    {"token", cmd_token, "administer the PKCS#11 token (keygen, csr, import, list, attest)"},
#endif
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: signer COMMAND [OPTIONS] [ARGS]\n"
		   "       signer COMMAND --help\n"
		   "       signer --version\n\n"
		   "Commands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nCommands that talk to signerd take --socket PATH; the default is\n"
		   "$SIGNERD_SOCKET, else " SIGNER_CLIENT_DEFAULT_SOCKET ".\n"
		   "Exit status: 0 ok, 1 refused or failed, 2 usage error.\n");
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return CLI_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("signer (signerd) %s\n", SIGNERD_VERSION);
		return CLI_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	cli_err("unknown command \"%s\" (see signer --help)", argv[1]);
	return CLI_USAGE;
}
