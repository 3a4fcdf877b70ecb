/*
 * Load against a running signerd: N client threads, each pipelining R
 * SIGN_CAB requests (window W) on its own connection. Every signature is
 * checked to cover its own digest. Prints the count per signer certificate
 * (SHA-1) and, with a daemon pid, its RSS after the first 1000 signatures and
 * at the end. Exit 0 only when every request succeeded.
 *   load_client SOCKET CLIENTS REQUESTS [WINDOW] [DAEMON_PID]
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "authenticode/authenticode.h"
#include "common/buf.h"
#include "common/file.h"
#include "proto/proto.h"
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

/* Read frames into rb until one is complete; returns its type and body. */
static int recv_frame(int fd, struct wbuf *rb, size_t *off, uint8_t *type, const uint8_t **body,
		      size_t *len)
{
	uint8_t tmp[16384];
	size_t used;
	ssize_t n;
	int r;

	for (;;) {
		r = proto_frame_peek(rb->p + *off, rb->len - *off, type, body, len, &used);
		if (r == 1) {
			*off += used;
			return 0;
		}
		if (r < 0)
			return -1;
		if (*off > 0) {
			memmove(rb->p, rb->p + *off, rb->len - *off);
			rb->len -= *off;
			*off = 0;
		}
		n = recv(fd, tmp, sizeof(tmp), 0);
		if (n <= 0)
			return -1;
		wbuf_raw(rb, tmp, (size_t)n);
		if (wbuf_failed(rb))
			return -1;
	}
}

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

static void *client(void *arg)
{
	struct shared *sh = arg;
	uint8_t(*d)[32] = calloc((size_t)sh->requests, 32), type;
	struct sd_sign_req req;
	struct wbuf w, rb;
	const uint8_t *body, *p7;
	size_t len, p7len, off = 0;
	struct au_info info;
	struct sd_err e;
	int fd = dial(sh->sock), sent = 0, got = 0, good, n;

	wbuf_init(&w, 0);
	wbuf_init(&rb, 0);
	memset(&req, 0, sizeof(req));
	snprintf(req.digest_alg, sizeof(req.digest_alg), "sha256");
	req.digest_len = 32;
	while (fd >= 0 && got < sh->requests) {
		wbuf_reset(&w);
		while (sent < sh->requests && sent - got < sh->window) {
			RAND_bytes(d[sent], 32);
			req.digest = d[sent++];
			proto_enc_sign_cab(&w, &req);
		}
		if (w.len > 0 && send_all(fd, w.p, w.len) != 0)
			break;
		if (recv_frame(fd, &rb, &off, &type, &body, &len) != 0)
			break;
		good = 0;
		memset(&info, 0, sizeof(info));
		if (type == SD_MSG_SIGNATURE &&
		    proto_dec_signature(body, len, &p7, &p7len, &e) == 0 &&
		    au_verify(p7, p7len, AU_SUBJECT_CAB, &info, &e) == 0 &&
		    memcmp(info.digest, d[got], 32) == 0) {
			good = 1;
			tally(sh, info.signer);
		} else if (atomic_load(&sh->failed) < 5) {
			uint32_t code = 0;
			char msg[600] = "";

			if (type == SD_MSG_ERROR)
				proto_dec_error(body, len, &code, msg, sizeof(msg), &e);
			fprintf(stderr, "request failed: type 0x%02x %s %s\n", type,
				sd_code_name(code), msg);
		}
		au_info_clear(&info);
		got++;
		atomic_fetch_add(good ? &sh->ok : &sh->failed, 1);
		n = atomic_fetch_add(&sh->done, 1) + 1;
		if (n == 1000 && sh->pid > 0)
			atomic_store(&sh->rss_first, rss_kib(sh->pid));
	}
	atomic_fetch_add(&sh->failed, sh->requests - got);
	if (fd >= 0)
		close(fd);
	wbuf_free(&w);
	wbuf_free(&rb);
	free(d);
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
