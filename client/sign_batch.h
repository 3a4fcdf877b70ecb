/*
 * The signing pipeline sign-cab and sign-script share: compute each file's
 * digest, send the requests pipelined on one connection, check every
 * returned PKCS#7 against what was sent and against the key's certificate,
 * embed it, check the result hashes to the signed digest, and write it
 * atomically. A file format plugs in its digest, embedding, request type and
 * signature subject.
 */
#ifndef SD_CLIENT_SIGN_BATCH_H
#define SD_CLIENT_SIGN_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "authenticode/authenticode.h"
#include "client/cli_opts.h"
#include "client/signer-client.h"
#include "common/err.h"

struct sign_batch;

/* What differs between CABs and scripts. */
struct sign_format {
	size_t max_size;		  /* largest input accepted */
	enum au_subject subject;	  /* what the returned signature must cover */
	int (*name_ok)(const char *path); /* NULL: any name; else checked before anything runs */
	const char *name_rule;		  /* why a name was refused */
	/*
	 * Optional: look at one input before it is hashed. Returns -1 with why
	 * set to refuse it; may warn at once (sign_batch_warn) and may leave in
	 * note a line printed after the output is written.
	 */
	int (*inspect)(struct sign_batch *b, const char *in, const uint8_t *data, size_t len,
		       char *note, size_t notesz, char *why, size_t whysz);
	int (*digest)(const uint8_t *p, size_t n, const EVP_MD *md, uint8_t *out,
		      unsigned int *outlen, struct sd_err *e);
	int (*embed)(const uint8_t *p, size_t n, const uint8_t *p7, size_t p7len, uint8_t **out,
		     size_t *outlen, struct sd_err *e);
	int (*send)(struct signer_client *c, const struct signer_sign_request *req,
		    struct signer_error *err);
};

/* "signer: " + message on stderr, above the progress bar when one is drawn. */
void sign_batch_warn(struct sign_batch *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Sign o->files (parsed by cli_sign_opts_parse and cli_sign_opts_check) with
 * format f: -o, --in-place or --out-dir. Refuses (exit 2) a name f does not
 * take, and in --out-dir mode two inputs with the same basename. A file that
 * cannot be signed is reported and the others are still signed. Returns the
 * exit status: 0 all signed, 1 any not signed, 2 usage.
 */
int sign_batch_main(const struct cli_sign_opts *o, const struct sign_format *f);

#endif
