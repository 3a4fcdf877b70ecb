/*
 * Checks, from outside, that no reply overtakes its audit record's
 * fdatasync. N client threads pipeline SIGN_CAB requests (window W) on their
 * own connections. For every SIGNATURE, after checking that it covers the
 * digest sent, the client reads SYNCED (written by libsyncwatch.so inside
 * signerd after each fdatasync of the audit log: the size that is durable)
 * and requires the record of that digest to lie inside the log's first
 * SYNCED bytes. Prints counts; exit 0 only when no reply came early, and
 * every request got a SIGNATURE or (with --allow-audit-errors) an
 * AUDIT_UNAVAILABLE refusal.
 *   audit_order_client [--allow-audit-errors] SOCKET LOG SYNCED CLIENTS REQUESTS WINDOW
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authenticode/authenticode.h"
#include "common/file.h"
#include "proto/proto.h"
#include "tests/integration/testnet.h"

struct shared {
	const char *sock, *log, *synced;
	int requests, window;
	atomic_int signatures, early, audit_errors, other;
};

static void print_once(atomic_int *counter, const char *what, const char *detail)
{
	if (atomic_fetch_add(counter, 1) < 3)
		fprintf(stderr, "%s: %s\n", what, detail);
}

/* The durable prefix of the log, as the daemon's fdatasync left it. */
static long long synced_size(const char *path)
{
	char buf[32] = "";
	FILE *f = fopen(path, "r");
	long long n = 0;

	if (f == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) != NULL)
		n = atoll(buf);
	fclose(f);
	return n;
}

/*
 * Whether the record of digest d lies within the first `size` bytes of the
 * log. Only that prefix is read: the daemon may cut off a failed batch
 * beyond it meanwhile, but never below it.
 */
static int record_durable(const struct shared *sh, const uint8_t d[32], long long size)
{
	char needle[128], hex[65];
	char *data;
	size_t got = 0;
	ssize_t n;
	int fd, found = 0;

	if (size <= 0 || size > (256LL << 20))
		return 0;
	data = malloc((size_t)size);
	fd = open(sh->log, O_RDONLY | O_CLOEXEC);
	while (data != NULL && fd >= 0 && got < (size_t)size) {
		n = pread(fd, data + got, (size_t)size - got, (off_t)got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got == (size_t)size) {
		sd_hex(d, 32, hex);
		snprintf(needle, sizeof(needle), "\"digest\":\"%s\"", hex);
		found = memmem(data, got, needle, strlen(needle)) != NULL;
	}
	if (fd >= 0)
		close(fd);
	free(data);
	return found;
}

/* One answer to the request for digest d. */
static void check_answer(void *arg, const uint8_t d[32], uint8_t type, const uint8_t *body,
			 size_t len)
{
	struct shared *sh = arg;
	struct au_info info;
	uint32_t code;
	char msg[600];
	int good;

	if (type == SD_MSG_ERROR) {
		code = answer_error(type, body, len, msg, sizeof(msg));
		if (code == SD_E_AUDIT_UNAVAILABLE)
			atomic_fetch_add(&sh->audit_errors, 1);
		else
			print_once(&sh->other, sd_code_name(code), msg);
		return;
	}
	good = answer_signs(d, type, body, len, &info);
	au_info_clear(&info);
	if (!good) {
		print_once(&sh->other, "bad answer", "not a SIGNATURE over the digest sent");
		return;
	}
	/* Read the durable size only now: the reply is in hand. */
	if (record_durable(sh, d, synced_size(sh->synced)))
		atomic_fetch_add(&sh->signatures, 1);
	else
		print_once(&sh->early, "EARLY",
			   "a SIGNATURE arrived before its record's fdatasync");
}

static void *client(void *arg)
{
	struct shared *sh = arg;
	int got = sign_cab_pipeline(sh->sock, sh->requests, sh->window, check_answer, sh);

	if (got < sh->requests) {
		atomic_fetch_add(&sh->other, sh->requests - got);
		fprintf(stderr, "connection lost after %d answers\n", got);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct shared sh;
	pthread_t *th;
	int i, n, allow = 0, ok;

	if (argc > 1 && strcmp(argv[1], "--allow-audit-errors") == 0) {
		allow = 1;
		argv++;
		argc--;
	}
	if (argc != 7) {
		fprintf(stderr,
			"usage: audit_order_client [--allow-audit-errors] SOCKET LOG SYNCED "
			"CLIENTS REQUESTS WINDOW\n");
		return 2;
	}
	memset(&sh, 0, sizeof(sh));
	sh.sock = argv[1];
	sh.log = argv[2];
	sh.synced = argv[3];
	n = atoi(argv[4]);
	sh.requests = atoi(argv[5]);
	sh.window = atoi(argv[6]);
	if (n < 1 || sh.requests < 1 || sh.window < 1)
		return 2;
	th = calloc((size_t)n, sizeof(*th));
	if (th == NULL)
		return 1;
	for (i = 0; i < n; i++)
		pthread_create(&th[i], NULL, client, &sh);
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	free(th);
	printf("signatures, each with its record durable first: %d\n", atomic_load(&sh.signatures));
	printf("signatures that came before their record's fdatasync: %d\n",
	       atomic_load(&sh.early));
	printf("refused with AUDIT_UNAVAILABLE: %d\n", atomic_load(&sh.audit_errors));
	printf("other answers or losses: %d\n", atomic_load(&sh.other));
	ok = atomic_load(&sh.early) == 0 && atomic_load(&sh.other) == 0 &&
	     (allow || atomic_load(&sh.audit_errors) == 0);
	return ok ? 0 : 1;
}
