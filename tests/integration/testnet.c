#include "tests/integration/testnet.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common/buf.h"
#include "proto/proto.h"

int dial(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

int send_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	ssize_t w;

	while (n > 0) {
		w = send(fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read into rb until a frame is complete; returns its type and body (valid until the next call). */
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

int sign_cab_pipeline(const char *sock, int requests, int window, answer_fn answer, void *arg)
{
	uint8_t(*d)[32] = calloc((size_t)requests, 32), type;
	struct sd_sign_req req;
	struct wbuf w, rb;
	const uint8_t *body;
	size_t len, off = 0;
	int fd = dial(sock), sent = 0, got = 0;

	wbuf_init(&w, 0);
	wbuf_init(&rb, 0);
	memset(&req, 0, sizeof(req));
	snprintf(req.digest_alg, sizeof(req.digest_alg), "sha256");
	req.digest_len = 32;
	while (fd >= 0 && d != NULL && got < requests) {
		wbuf_reset(&w);
		while (sent < requests && sent - got < window) {
			RAND_bytes(d[sent], 32);
			req.digest = d[sent++];
			proto_enc_sign_cab(&w, &req);
		}
		if (w.len > 0 && send_all(fd, w.p, w.len) != 0)
			break;
		if (recv_frame(fd, &rb, &off, &type, &body, &len) != 0)
			break;
		answer(arg, d[got++], type, body, len);
	}
	if (fd >= 0)
		close(fd);
	wbuf_free(&w);
	wbuf_free(&rb);
	free(d);
	return got;
}

int answer_signs(const uint8_t d[32], uint8_t type, const uint8_t *body, size_t len,
		 struct au_info *info)
{
	const uint8_t *p7;
	size_t p7len;
	struct sd_err e;

	memset(info, 0, sizeof(*info));
	return type == SD_MSG_SIGNATURE && proto_dec_signature(body, len, &p7, &p7len, &e) == 0 &&
	       au_verify(p7, p7len, AU_SUBJECT_CAB, info, &e) == 0 && info->digest_len == 32 &&
	       memcmp(info->digest, d, 32) == 0;
}

uint32_t answer_error(uint8_t type, const uint8_t *body, size_t len, char *msg, size_t msgsz)
{
	struct sd_err e;
	uint32_t code = 0;
	char none[1];

	if (msg == NULL) {
		msg = none;
		msgsz = sizeof(none);
	}
	msg[0] = '\0';
	if (type != SD_MSG_ERROR || proto_dec_error(body, len, &code, msg, msgsz, &e) != 0)
		return 0;
	return code;
}

long rss_kib(long pid)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			v = strtol(line + 6, NULL, 10);
	if (f != NULL)
		fclose(f);
	return v;
}
