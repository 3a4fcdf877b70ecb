/*
 * Hostile and concurrent clients against a running signerd (the socket is
 * argv[1]). Every case checks the reply, then checks that a well-behaved
 * client is still served. Exit 0 when every case passes.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "authenticode/authenticode.h"
#include "common/buf.h"
#include "proto/proto.h"
#include "tests/integration/testnet.h"

struct t {
	const char *sock;
	long pid; /* the daemon, for its RSS; 0: skip memory checks */
	int failed;
	int passed;
};

#define CHECK(t, cond, ...)                                                                        \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: ", __func__, __LINE__);                       \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			(t)->failed++;                                                             \
			return;                                                                    \
		}                                                                                  \
	} while (0)

/* Read one frame (type and body into buf); -1 on EOF/error/timeout. */
static int recv_frame(int fd, uint8_t *type, uint8_t *buf, size_t cap, size_t *len, int timeout_ms)
{
	uint8_t hdr[4];
	size_t got = 0, need;
	uint32_t l;
	ssize_t n;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	need = 4;
	while (got < need) {
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -1;
		n = recv(fd, hdr + got, need - got, 0);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	l = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (l == 0 || l > SD_FRAME_MAX || l > cap + 1)
		return -1;
	got = 0;
	while (got < l) {
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -1;
		n = recv(fd, got == 0 ? type : buf + got - 1, got == 0 ? 1 : l - got, 0);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	*len = l - 1;
	return 0;
}

/* Expect EOF within timeout. */
static int expect_eof(int fd, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	uint8_t b;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return -1;
	return recv(fd, &b, 1, 0) == 0 ? 0 : -1;
}

static uint32_t error_code(uint8_t type, const uint8_t *body, size_t len)
{
	uint32_t code = 0;
	char msg[600];
	struct sd_err e;

	if (type != SD_MSG_ERROR || proto_dec_error(body, len, &code, msg, sizeof(msg), &e) != 0)
		return 0;
	return code;
}

static void sign_req(struct wbuf *w, const char *key, const char *alg, const uint8_t *d, size_t dl)
{
	struct sd_sign_req r;

	memset(&r, 0, sizeof(r));
	snprintf(r.key, sizeof(r.key), "%s", key);
	snprintf(r.digest_alg, sizeof(r.digest_alg), "%s", alg);
	r.digest = d;
	r.digest_len = dl;
	proto_enc_sign_cab(w, &r);
}

/* A well-behaved client signs one digest and checks the signature covers it. */
static int good_client(const char *sock)
{
	static uint8_t body[SD_FRAME_MAX];
	uint8_t d[32], type;
	struct wbuf w;
	size_t len, p7len;
	const uint8_t *p7;
	struct au_info info;
	struct sd_err e;
	int fd, ok = 0;

	RAND_bytes(d, sizeof(d));
	fd = dial(sock);
	if (fd < 0)
		return 0;
	wbuf_init(&w, 0);
	sign_req(&w, "", "sha256", d, sizeof(d));
	if (send_all(fd, w.p, w.len) == 0 &&
	    recv_frame(fd, &type, body, sizeof(body), &len, 20000) == 0 &&
	    type == SD_MSG_SIGNATURE && proto_dec_signature(body, len, &p7, &p7len, &e) == 0) {
		memset(&info, 0, sizeof(info));
		ok = au_verify(p7, p7len, AU_SUBJECT_CAB, &info, &e) == 0 &&
		     info.digest_len == 32 && memcmp(info.digest, d, 32) == 0;
		au_info_clear(&info);
	}
	wbuf_free(&w);
	close(fd);
	return ok;
}

/* Send raw bytes; expect one ERROR with code, then (if closes) EOF. */
static void raw_case(struct t *t, const char *name, const uint8_t *p, size_t n, uint32_t code,
		     int closes)
{
	static uint8_t body[SD_FRAME_MAX];
	uint8_t type;
	size_t len;
	int fd = dial(t->sock);

	if (fd < 0 || send_all(fd, p, n) != 0 ||
	    recv_frame(fd, &type, body, sizeof(body), &len, 5000) != 0) {
		fprintf(stderr, "FAIL %s: no reply\n", name);
		t->failed++;
	} else if (error_code(type, body, len) != code) {
		fprintf(stderr, "FAIL %s: got type 0x%02x code %u, want ERROR %s\n", name, type,
			error_code(type, body, len), sd_code_name(code));
		t->failed++;
	} else if (closes && expect_eof(fd, 5000) != 0) {
		fprintf(stderr, "FAIL %s: connection not closed\n", name);
		t->failed++;
	} else if (!good_client(t->sock)) {
		fprintf(stderr, "FAIL %s: a good client was not served afterwards\n", name);
		t->failed++;
	} else {
		printf("ok   %s\n", name);
		t->passed++;
	}
	if (fd >= 0)
		close(fd);
}

static void frame_cases(struct t *t)
{
	uint8_t zero[] = {0, 0, 0, 0};
	uint8_t big[] = {0, 1, 0, 1, 0x10};
	uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0x10};
	uint8_t unknown[] = {0, 0, 0, 1, 0x55};
	/* SIGN_CAB whose key string claims 1000 bytes in a 9-byte frame */
	uint8_t past[] = {0, 0, 0, 9, SD_MSG_SIGN_CAB, 0, 0, 0x03, 0xe8, 'a', 'b', 'c', 'd'};
	uint8_t nul[] = {0, 0, 0, 8, SD_MSG_GET_CERT, 0, 0, 0, 3, 'a', 0, 'b'};
	uint8_t hello_junk[] = {0, 0, 0, 2, SD_MSG_HELLO, 1};

	raw_case(t, "zero frame length", zero, sizeof(zero), SD_E_BAD_REQUEST, 1);
	raw_case(t, "frame length 65537", big, sizeof(big), SD_E_BAD_REQUEST, 1);
	raw_case(t, "frame length 0xffffffff", huge, sizeof(huge), SD_E_BAD_REQUEST, 1);
	raw_case(t, "unknown message type", unknown, sizeof(unknown), SD_E_BAD_REQUEST, 0);
	raw_case(t, "string length past the frame", past, sizeof(past), SD_E_BAD_REQUEST, 0);
	raw_case(t, "NUL inside a key name", nul, sizeof(nul), SD_E_BAD_REQUEST, 0);
	raw_case(t, "truncated HELLO body", hello_junk, sizeof(hello_junk), SD_E_BAD_REQUEST, 0);
}

static void request_cases(struct t *t)
{
	struct wbuf w;
	uint8_t d[64] = {0};

	wbuf_init(&w, 0);
	sign_req(&w, "", "sha256", d, 31);
	raw_case(t, "sha256 digest of 31 bytes", w.p, w.len, SD_E_BAD_DIGEST_LENGTH, 0);
	wbuf_reset(&w);
	sign_req(&w, "", "sha512", d, 32);
	raw_case(t, "sha512 digest of 32 bytes", w.p, w.len, SD_E_BAD_DIGEST_LENGTH, 0);
	wbuf_reset(&w);
	sign_req(&w, "no-such-key", "sha256", d, 32);
	raw_case(t, "unknown key", w.p, w.len, SD_E_UNKNOWN_KEY, 0);
	wbuf_reset(&w);
	sign_req(&w, "", "md5", d, 16);
	raw_case(t, "unknown algorithm", w.p, w.len, SD_E_UNSUPPORTED_DIGEST, 0);
	wbuf_reset(&w);
	sign_req(&w, "", "sha1", d, 20);
	raw_case(t, "sha1 not allowed by the key", w.p, w.len, SD_E_UNSUPPORTED_DIGEST, 0);
	wbuf_reset(&w);
	sign_req(&w, "retired", "sha256", d, 32);
	raw_case(t, "retired key", w.p, w.len, SD_E_KEY_RETIRED, 0);
	wbuf_free(&w);
}

/* A valid frame written one byte at a time. */
static void split_frame(struct t *t)
{
	static uint8_t body[SD_FRAME_MAX];
	struct wbuf w;
	uint8_t type;
	size_t i, len;
	int fd = dial(t->sock);

	wbuf_init(&w, 0);
	proto_enc_status(&w);
	proto_enc_hello(&w, 1);
	for (i = 0; fd >= 0 && i < w.len; i++) {
		send_all(fd, w.p + i, 1);
		usleep(2000);
	}
	wbuf_free(&w);
	CHECK(t,
	      fd >= 0 && recv_frame(fd, &type, body, sizeof(body), &len, 5000) == 0 &&
		  type == SD_MSG_STATUS_OK,
	      "split STATUS not answered");
	CHECK(t,
	      recv_frame(fd, &type, body, sizeof(body), &len, 5000) == 0 && type == SD_MSG_HELLO_OK,
	      "split HELLO not answered");
	close(fd);
	printf("ok   frame split across many writes\n");
	t->passed++;
}

/* Pipelined requests come back in order, each covering its own digest. */
static void pipeline(struct t *t, int n)
{
	static uint8_t body[SD_FRAME_MAX];
	uint8_t(*d)[32] = calloc((size_t)n, 32), type;
	struct wbuf w;
	size_t len, p7len;
	const uint8_t *p7;
	struct au_info info;
	struct sd_err e;
	char *text, *p;
	int i, fd = dial(t->sock), good = 0, peak = 0;

	wbuf_init(&w, 0);
	for (i = 0; i < n; i++) {
		RAND_bytes(d[i], 32);
		sign_req(&w, "", "sha256", d[i], 32);
		if (i == n / 2)
			proto_enc_status(&w); /* a cheap request in the middle keeps its place */
	}
	CHECK(t, fd >= 0 && send_all(fd, w.p, w.len) == 0, "cannot send the pipeline");
	for (i = 0; i < n; i++) {
		if (recv_frame(fd, &type, body, sizeof(body), &len, 20000) != 0)
			break;
		if (type != SD_MSG_SIGNATURE || proto_dec_signature(body, len, &p7, &p7len, &e))
			break;
		memset(&info, 0, sizeof(info));
		if (au_verify(p7, p7len, AU_SUBJECT_CAB, &info, &e) == 0 &&
		    memcmp(info.digest, d[i], 32) == 0)
			good++;
		au_info_clear(&info);
		if (i == n / 2) {
			if (recv_frame(fd, &type, body, sizeof(body), &len, 20000) != 0 ||
			    type != SD_MSG_STATUS_OK ||
			    proto_dec_status_ok(body, len, &text, &e) != 0)
				break;
			/* Until now every client was sequential: only this connection's
			 * pipeline can have put two signatures in progress at once. */
			p = strstr(text, "parallel_peak: ");
			peak = p ? atoi(p + 15) : 0;
			free(text);
		}
	}
	wbuf_free(&w);
	free(d);
	close(fd);
	CHECK(t, good == n, "only %d of %d pipelined signatures came back in order", good, n);
	CHECK(t, peak >= 2,
	      "pipelined requests on one connection were not signed in parallel "
	      "(parallel_peak %d)",
	      peak);
	printf("ok   %d pipelined requests answered in order, signed in parallel (peak %d)\n", n,
	       peak);
	t->passed++;
}

/* Idle connections held open do not stop others being served. */
static void idle_connections(struct t *t, int n)
{
	int *fds = calloc((size_t)n, sizeof(int)), i, ok;

	for (i = 0; i < n; i++)
		fds[i] = dial(t->sock);
	ok = good_client(t->sock);
	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	CHECK(t, ok, "not served while %d idle connections are open", n);
	printf("ok   served while %d idle connections are open\n", n);
	t->passed++;
}

/* Clients that vanish mid-request, with signatures in flight. */
static void disconnects(struct t *t)
{
	struct wbuf w;
	uint8_t d[32] = {1};
	int i, j, fd;

	wbuf_init(&w, 0);
	for (j = 0; j < 16; j++)
		sign_req(&w, "", "sha256", d, 32);
	for (i = 0; i < 20; i++) {
		fd = dial(t->sock);
		if (fd < 0)
			continue;
		/* half a frame, or whole requests, then gone */
		send_all(fd, w.p, i % 2 ? w.len : w.len / 2 + 3);
		close(fd);
	}
	wbuf_free(&w);
	CHECK(t, good_client(t->sock), "not served after clients vanished mid-request");
	printf("ok   clients disconnecting mid-request\n");
	t->passed++;
}

/* A partial frame that never completes is cut off after request_timeout. */
static void slow_client(struct t *t)
{
	static uint8_t body[SD_FRAME_MAX];
	uint8_t part[] = {0, 0, 0, 40, SD_MSG_SIGN_CAB, 0};
	uint8_t type;
	size_t len;
	int fd = dial(t->sock);

	CHECK(t, fd >= 0 && send_all(fd, part, sizeof(part)) == 0, "cannot send");
	CHECK(t,
	      recv_frame(fd, &type, body, sizeof(body), &len, 10000) == 0 &&
		  error_code(type, body, len) == SD_E_BAD_REQUEST,
	      "no timeout error for a stalled frame");
	CHECK(t, expect_eof(fd, 5000) == 0, "stalled connection not closed");
	close(fd);
	printf("ok   stalled partial frame timed out\n");
	t->passed++;
}

/* A client that shuts down its sending side still gets every reply. */
static void half_close(struct t *t)
{
	static uint8_t body[SD_FRAME_MAX];
	uint8_t d[32] = {7}, type;
	struct wbuf w;
	size_t len;
	int i, got = 0, fd = dial(t->sock);

	wbuf_init(&w, 0);
	for (i = 0; i < 8; i++)
		sign_req(&w, "", "sha256", d, 32);
	CHECK(t, fd >= 0 && send_all(fd, w.p, w.len) == 0, "cannot send");
	wbuf_free(&w);
	shutdown(fd, SHUT_WR);
	while (recv_frame(fd, &type, body, sizeof(body), &len, 20000) == 0 &&
	       type == SD_MSG_SIGNATURE)
		got++;
	close(fd);
	CHECK(t, got == 8, "%d of 8 replies after a half-close", got);
	printf("ok   half-closed client got its 8 pipelined replies\n");
	t->passed++;
}

/* A client that pipelines without ever reading must not grow the daemon. */
static void non_reader(struct t *t)
{
	struct wbuf w;
	long before, after;
	int fd = dial(t->sock), stalls = 0, i;
	size_t sent = 0;
	ssize_t n;

	if (t->pid <= 0) {
		printf("skip non-reading client (no daemon pid)\n");
		return;
	}
	CHECK(t, fd >= 0, "cannot connect");
	before = rss_kib(t->pid);
	wbuf_init(&w, 0);
	for (i = 0; i < 256; i++)
		proto_enc_get_cert(&w, "");
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	/* Write until the daemon stops reading us (the socket stays full), at most 256 MiB. */
	while (stalls < 50 && sent < (256u << 20)) {
		n = send(fd, w.p, w.len, MSG_NOSIGNAL);
		if (n > 0) {
			sent += (size_t)n;
			stalls = 0;
		} else {
			stalls++;
			usleep(10000);
		}
	}
	after = rss_kib(t->pid);
	wbuf_free(&w);
	CHECK(t, stalls >= 50, "the daemon kept reading %zu bytes from a client that never reads",
	      sent);
	CHECK(t, after - before < 32 * 1024, "daemon RSS grew by %ld KiB for a non-reading client",
	      after - before);
	CHECK(t, good_client(t->sock), "not served while a client refuses to read");
	close(fd);
	printf("ok   non-reading client throttled after %zu bytes; daemon RSS +%ld KiB\n", sent,
	       after - before);
	t->passed++;
}

/* A frame dribbled one byte at a time still times out request_timeout after it began. */
static void slow_loris(struct t *t)
{
	static uint8_t body[SD_FRAME_MAX];
	uint8_t frame[44] = {0, 0, 0, 40, SD_MSG_SIGN_CAB}, type;
	struct pollfd pfd;
	size_t len, i;
	int fd = dial(t->sock), answered = 0;

	CHECK(t, fd >= 0, "cannot connect");
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (i = 0; i < sizeof(frame) && !answered; i++) {
		send_all(fd, frame + i, 1);
		answered = poll(&pfd, 1, 250) > 0;
	}
	CHECK(t, answered, "a frame sent one byte per 250 ms never timed out");
	CHECK(t,
	      recv_frame(fd, &type, body, sizeof(body), &len, 1000) == 0 &&
		  error_code(type, body, len) == SD_E_BAD_REQUEST,
	      "no timeout error for a dribbled frame");
	close(fd);
	printf("ok   dribbled frame cut off after %zu of %zu bytes\n", i, sizeof(frame));
	t->passed++;
}

int main(int argc, char **argv)
{
	struct t t = {0};

	if (argc < 2) {
		fprintf(stderr, "usage: hostile_client SOCKET [DAEMON_PID]\n");
		return 2;
	}
	t.sock = argv[1];
	t.pid = argc > 2 ? atol(argv[2]) : 0;
	if (!good_client(t.sock)) {
		fprintf(stderr, "FAIL: the baseline good client is not served\n");
		return 1;
	}
	frame_cases(&t);
	request_cases(&t);
	split_frame(&t);
	pipeline(&t, 200);
	idle_connections(&t, 100);
	disconnects(&t);
	slow_client(&t);
	half_close(&t);
	slow_loris(&t);
	non_reader(&t);
	printf("%d passed, %d failed\n", t.passed, t.failed);
	return t.failed ? 1 : 0;
}
