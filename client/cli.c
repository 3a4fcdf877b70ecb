#include "client/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/file.h"

void cli_err(const char *fmt, ...)
{
	va_list ap;

	fputs("signer: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_err_signer(const char *prefix, const struct signer_error *e)
{
	cli_err("%s%s%s: %s", prefix ? prefix : "", prefix ? ": " : "", signer_code_name(e->code),
		e->message);
}

const char *cli_socket_path(const char *opt)
{
	const char *env;

	if (opt != NULL && opt[0] != '\0')
		return opt;
	env = getenv("SIGNERD_SOCKET");
	if (env != NULL && env[0] != '\0')
		return env;
	return SIGNER_CLIENT_DEFAULT_SOCKET;
}

struct signer_client *cli_connect(const char *socket_opt)
{
	struct signer_client *c = NULL;
	struct signer_error e;

	if (signer_connect(cli_socket_path(socket_opt), &c, &e) != 0) {
		cli_err("%s", e.message);
		return NULL;
	}
	signer_set_timeout(c, CLI_TIMEOUT_MS);
	return c;
}

const EVP_MD *cli_md(const char *name)
{
	if (strcmp(name, "sha256") == 0)
		return EVP_sha256();
	if (strcmp(name, "sha384") == 0)
		return EVP_sha384();
	if (strcmp(name, "sha512") == 0)
		return EVP_sha512();
	if (strcmp(name, "sha1") == 0)
		return EVP_sha1();
	return NULL;
}

static X509 *der_to_x509(const struct signer_blob *b)
{
	const uint8_t *p = b->data;
	X509 *x = d2i_X509(NULL, &p, (long)b->len);

	if (x != NULL && p != b->data + b->len) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

int cli_get_cert(struct signer_client *c, const char *key, X509 **leaf, STACK_OF(X509) * *chain)
{
	struct signer_blob *certs = NULL;
	struct signer_error e;
	STACK_OF(X509) *sk = NULL;
	X509 *x = NULL;
	size_t n = 0, i;
	int ret = -1;

	*leaf = NULL;
	if (signer_get_cert(c, key, &certs, &n, &e) != 0) {
		cli_err_signer("GET_CERT", &e);
		goto out;
	}
	*leaf = der_to_x509(&certs[0]);
	if (*leaf == NULL) {
		cli_err("GET_CERT: the key's certificate from signerd is not valid DER");
		goto out;
	}
	if (chain != NULL) {
		sk = sk_X509_new_null();
		if (sk == NULL) {
			cli_err("out of memory");
			goto out;
		}
		for (i = 1; i < n; i++) {
			x = der_to_x509(&certs[i]);
			if (x == NULL) {
				cli_err("GET_CERT: chain certificate %zu from signerd is not valid "
					"DER",
					i);
				goto out;
			}
			if (!sk_X509_push(sk, x)) {
				cli_err("out of memory");
				goto out;
			}
			x = NULL;
		}
		*chain = sk;
		sk = NULL;
	}
	ret = 0;
out:
	if (ret != 0 && *leaf != NULL) {
		X509_free(*leaf);
		*leaf = NULL;
	}
	X509_free(x);
	sk_X509_pop_free(sk, X509_free);
	signer_free_blobs(certs, n);
	return ret;
}

int cli_write_output(const char *path, const void *data, size_t len, int mode)
{
	struct sd_err e;
	size_t done = 0;
	ssize_t n;

	if (path != NULL && strcmp(path, "-") != 0) {
		if (sd_write_file_atomic(path, data, len, (mode_t)mode, 1, &e) != 0) {
			cli_err("%s", e.msg);
			return -1;
		}
		return 0;
	}
	while (done < len) {
		n = write(STDOUT_FILENO, (const uint8_t *)data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cli_err("write to standard output: %s", strerror(errno));
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}
