/*
 * The subcommands of the signer command-line tool. Each takes the
 * command's own argv (argv[0] is the command name, e.g. "sign-cab") and
 * returns the process exit status: 0 ok, 1 refused or failed (a message on
 * stderr says why), 2 usage error.
 */
#ifndef SD_CLIENT_CMDS_H
#define SD_CLIENT_CMDS_H

int cmd_digest_cab(int argc, char **argv);
int cmd_sign_cab(int argc, char **argv);
int cmd_verify_cab(int argc, char **argv);
int cmd_sign_script(int argc, char **argv);
int cmd_digest_script(int argc, char **argv);
int cmd_verify_script(int argc, char **argv);
int cmd_cert(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_admin(int argc, char **argv);
int cmd_audit(int argc, char **argv);

/* Built only when client/cmd_token.c exists (SIGNER_HAVE_TOKEN). */
int cmd_token(int argc, char **argv);
/* Built only when client/cmd_trust_kit.c exists (SIGNER_HAVE_TRUST_KIT). */
int cmd_trust_kit(int argc, char **argv);

#endif
