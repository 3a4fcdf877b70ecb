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
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "authenticode/authenticode.h"
#include "common/buf.h"
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

/* One answer to the request for digest d. */
static void check_answer(struct shared *sh, const uint8_t d[32], uint8_t type, const uint8_t *body,
			 size_t len)
{
	const uint8_t *p7;
	size_t p7len;
	struct au_info info;
	struct sd_err e;
	uint32_t code = 0;
	char msg[600] = "";
	long long size;

	if (type == SD_MSG_ERROR) {
		proto_dec_error(body, len, &code, msg, sizeof(msg), &e);
		if (code == SD_E_AUDIT_UNAVAILABLE)
			atomic_fetch_add(&sh->audit_errors, 1);
		else
			print_once(&sh->other, sd_code_name(code), msg);
		return;
	}
	memset(&info, 0, sizeof(info));
	if (type != SD_MSG_SIGNATURE || proto_dec_signature(body, len, &p7, &p7len, &e) != 0 ||
	    au_verify(p7, p7len, AU_SUBJECT_CAB, &info, &e) != 0 ||
	    memcmp(info.digest, d, 32) != 0) {
		print_once(&sh->other, "bad answer", "not a SIGNATURE over the digest sent");
		au_info_clear(&info);
		return;
	}
	au_info_clear(&info);
	/* Read the durable size only now: the reply is in hand. */
	size = synced_size(sh->synced);
	if (record_durable(sh, d, size))
		atomic_fetch_add(&sh->signatures, 1);
	else
		print_once(&sh->early, "EARLY",
			   "a SIGNATURE arrived before its record's fdatasync");
}

static void *client(void *arg)
{
	struct shared *sh = arg;
	uint8_t(*d)[32] = calloc((size_t)sh->requests, 32), type;
	struct sd_sign_req req;
	struct wbuf w, rb;
	const uint8_t *body;
	size_t len, off = 0;
	int fd = dial(sh->sock), sent = 0, got = 0;

	wbuf_init(&w, 0);
	wbuf_init(&rb, 0);
	memset(&req, 0, sizeof(req));
	snprintf(req.digest_alg, sizeof(req.digest_alg), "sha256");
	req.digest_len = 32;
	while (fd >= 0 && d != NULL && got < sh->requests) {
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
		check_answer(sh, d[got++], type, body, len);
	}
	if (got < sh->requests) {
		atomic_fetch_add(&sh->other, sh->requests - got);
		fprintf(stderr, "connection lost after %d answers\n", got);
	}
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
