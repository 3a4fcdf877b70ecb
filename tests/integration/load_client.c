/*
 * Load against a running signerd: N client threads, each pipelining R
 * SIGN_CAB requests (window W) on its own connection. Every signature is
 * checked to cover its own digest. Prints the count per signer certificate
 * (SHA-1) and, with a daemon pid, its RSS after the first 1000 signatures and
 * at the end. Exit 0 only when every request succeeded.
 *   load_client SOCKET CLIENTS REQUESTS [WINDOW] [DAEMON_PID]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authenticode/authenticode.h"
#include "common/file.h"
#include "tests/integration/testnet.h"

#define MAX_SIGNERS 8

struct shared {
	const char *sock;
	int requests, window;
	long pid;
	atomic_int ok, failed, done;
	atomic_long rss_first;
	pthread_mutex_t mu;
	char signers[MAX_SIGNERS][41];
	int counts[MAX_SIGNERS];
	int nsigners;
};

static void tally(struct shared *sh, X509 *signer)
{
	uint8_t md[20];
	unsigned int l = 0;
	char hex[41];
	int i;

	X509_digest(signer, EVP_sha1(), md, &l);
	sd_hex(md, 20, hex);
	pthread_mutex_lock(&sh->mu);
	for (i = 0; i < sh->nsigners && strcmp(sh->signers[i], hex) != 0; i++)
		;
	if (i == sh->nsigners && i < MAX_SIGNERS)
		memcpy(sh->signers[sh->nsigners++], hex, 41);
	if (i < MAX_SIGNERS)
		sh->counts[i]++;
	pthread_mutex_unlock(&sh->mu);
}

/* One answer: a SIGNATURE over exactly the digest sent counts as ok. */
static void check_answer(void *arg, const uint8_t d[32], uint8_t type, const uint8_t *body,
			 size_t len)
{
	struct shared *sh = arg;
	struct au_info info;
	char msg[600];
	int good, n;

	good = answer_signs(d, type, body, len, &info);
	if (good) {
		tally(sh, info.signer);
	} else if (atomic_load(&sh->failed) < 5) {
		uint32_t code = answer_error(type, body, len, msg, sizeof(msg));

		fprintf(stderr, "request failed: type 0x%02x %s %s\n", type, sd_code_name(code),
			msg);
	}
	au_info_clear(&info);
	atomic_fetch_add(good ? &sh->ok : &sh->failed, 1);
	n = atomic_fetch_add(&sh->done, 1) + 1;
	if (n == 1000 && sh->pid > 0)
		atomic_store(&sh->rss_first, rss_kib(sh->pid));
}

static void *client(void *arg)
{
	struct shared *sh = arg;
	int got = sign_cab_pipeline(sh->sock, sh->requests, sh->window, check_answer, sh);

	atomic_fetch_add(&sh->failed, sh->requests - got);
	return NULL;
}

int main(int argc, char **argv)
{
	struct shared sh;
	pthread_t *th;
	int i, nclients;
	long rss_last;

	if (argc < 4) {
		fprintf(stderr, "usage: load_client SOCKET CLIENTS REQUESTS [WINDOW] [PID]\n");
		return 2;
	}
	memset(&sh, 0, sizeof(sh));
	sh.sock = argv[1];
	nclients = atoi(argv[2]);
	sh.requests = atoi(argv[3]);
	sh.window = argc > 4 ? atoi(argv[4]) : 16;
	sh.pid = argc > 5 ? atol(argv[5]) : 0;
	pthread_mutex_init(&sh.mu, NULL);
	th = calloc((size_t)nclients, sizeof(*th));
	for (i = 0; i < nclients; i++)
		pthread_create(&th[i], NULL, client, &sh);
	for (i = 0; i < nclients; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < sh.nsigners; i++)
		printf("signer %s: %d\n", sh.signers[i], sh.counts[i]);
	printf("requests ok: %d\nrequests failed: %d\n", atomic_load(&sh.ok),
	       atomic_load(&sh.failed));
	if (sh.pid > 0) {
		rss_last = rss_kib(sh.pid);
		printf("rss_first_kib: %ld\nrss_last_kib: %ld\n", atomic_load(&sh.rss_first),
		       rss_last);
	}
	free(th);
	return atomic_load(&sh.failed) == 0 && atomic_load(&sh.ok) == nclients * sh.requests ? 0
											     : 1;
}
