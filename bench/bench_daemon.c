/*
 * signerd over its socket: client threads, one connection each, that keep a
 * window of SIGN_CAB requests in flight and top it up as answers arrive.
 * With a window of 1 this measures one request's round trip. The clients
 * speak the wire protocol with the proto/ codecs directly and do no more
 * per answer than frame it and check it is a SIGNATURE, so that on a small
 * machine they take as little CPU from signerd as possible.
 */
#include "bench/bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/pkcs7.h>
#include <openssl/rand.h>

#include "common/buf.h"
#include "proto/proto.h"

#define RBUF_CAP   (2 * (4 + SD_FRAME_MAX))
#define LAT_CAP	   (1u << 18)
#define IO_TIMEOUT 30 /* seconds without an answer before a client gives up */

struct client {
	const struct bench_daemon_cfg *c;
	int fd;
	int64_t t_go, t_start, t_end; /* send from t_go; count answers in [t_start, t_end) */
	uint64_t count;		      /* answers in the window */
	uint64_t total;		      /* all answers, for CPU per signature */
	struct bench_lat lat;
	int64_t *sent_at; /* ring of the outstanding requests' send times */
	unsigned head, nout;
	uint64_t seq;
	uint8_t digest[32];
	uint8_t *rbuf;
	size_t rlen;
	struct wbuf w;
	struct sd_err err;
	int failed;
	pthread_t th;
	int running;
};

static int connect_socket(const char *path, int *fd, struct sd_err *e)
{
	struct sockaddr_un sa;
	struct timeval tv = {.tv_sec = IO_TIMEOUT};
	int s;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return sd_err_set(e, SD_E_BAD_REQUEST, "socket path is too long: %s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return sd_err_set(e, SD_E_INTERNAL, "socket: %s", strerror(errno));
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		sd_err_set(e, SD_E_INTERNAL, "connect %s: %s", path, strerror(errno));
		close(s);
		return -1;
	}
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	*fd = s;
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n, struct sd_err *e)
{
	ssize_t w;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return sd_err_set(e, SD_E_INTERNAL, "send: %s",
					  w < 0 ? strerror(errno) : "nothing written");
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Append one SIGN_CAB frame for a fresh digest to w (or a STATUS). */
static void enc_request(struct wbuf *w, const char *key_name, uint8_t *digest, uint64_t seq,
			int status)
{
	struct sd_sign_req req;

	if (status) {
		proto_enc_status(w);
		return;
	}
	memset(&req, 0, sizeof(req));
	snprintf(req.key, sizeof(req.key), "%s", key_name);
	snprintf(req.digest_alg, sizeof(req.digest_alg), "sha256");
	memcpy(digest, &seq, sizeof(seq)); /* a different "CAB" each time */
	req.digest = digest;
	req.digest_len = 32;
	proto_enc_sign_cab(w, &req);
}

/* Send n more requests in one write. */
static int send_requests(struct client *cl, unsigned n)
{
	unsigned i, window = cl->c->window;
	int64_t t;

	wbuf_reset(&cl->w);
	for (i = 0; i < n; i++)
		enc_request(&cl->w, cl->c->key_name, cl->digest, cl->seq++, cl->c->status);
	if (wbuf_failed(&cl->w))
		return sd_err_set(&cl->err, SD_E_INTERNAL, "cannot encode SIGN_CAB");
	t = bench_now_ns();
	for (i = 0; i < n; i++)
		cl->sent_at[(cl->head + cl->nout + i) % window] = t;
	cl->nout += n;
	return write_all(cl->fd, cl->w.p, cl->w.len, &cl->err);
}

/* One answer: the expected SIGNATURE (or STATUS_OK) is counted; anything else stops the client. */
static int take_answer(uint8_t type, int status, const uint8_t *body, size_t len, struct sd_err *e)
{
	const uint8_t *p7;
	size_t p7len;
	uint32_t code;
	char msg[SD_ERRMSG_MAX];

	if (!status && type == SD_MSG_SIGNATURE)
		return proto_dec_signature(body, len, &p7, &p7len, e);
	if (status && type == SD_MSG_STATUS_OK)
		return 0;
	if (type == SD_MSG_ERROR && proto_dec_error(body, len, &code, msg, sizeof(msg), e) == 0)
		return sd_err_set(e, (enum sd_code)code, "signerd answered ERROR %s: %s",
				  sd_code_name((enum sd_code)code), msg);
	if (type == SD_MSG_ERROR)
		return -1;
	return sd_err_set(e, SD_E_BAD_REQUEST, "unexpected answer type 0x%02x", type);
}

/* Read what has arrived; returns how many answers it held, or -1. */
static int read_answers(struct client *cl)
{
	const uint8_t *body;
	size_t bodylen, used, off = 0;
	uint8_t type;
	ssize_t n;
	int64_t now;
	int r, got = 0;

	n = recv(cl->fd, cl->rbuf + cl->rlen, RBUF_CAP - cl->rlen, 0);
	if (n < 0 && errno == EINTR)
		return 0;
	if (n <= 0)
		return sd_err_set(&cl->err, SD_E_INTERNAL, "recv: %s",
				  n < 0 ? strerror(errno) : "signerd closed the connection");
	now = bench_now_ns();
	cl->rlen += (size_t)n;
	while ((r = proto_frame_peek(cl->rbuf + off, cl->rlen - off, &type, &body, &bodylen,
				     &used)) == 1) {
		if (cl->nout == 0)
			return sd_err_set(&cl->err, SD_E_BAD_REQUEST, "an answer nobody asked for");
		if (take_answer(type, cl->c->status, body, bodylen, &cl->err) != 0)
			return -1;
		if (now >= cl->t_start && now < cl->t_end) {
			cl->count++;
			bench_lat_add(&cl->lat, now - cl->sent_at[cl->head]);
		}
		cl->head = (cl->head + 1) % cl->c->window;
		cl->nout--;
		cl->total++;
		got++;
		off += used;
	}
	if (r < 0)
		return sd_err_set(&cl->err, SD_E_BAD_REQUEST, "answer frame length out of range");
	memmove(cl->rbuf, cl->rbuf + off, cl->rlen - off);
	cl->rlen -= off;
	return got;
}

static void *client_main(void *arg)
{
	struct client *cl = arg;
	int got;

	bench_sleep_until(cl->t_go);
	if (send_requests(cl, cl->c->window) != 0)
		goto fail;
	while (cl->nout > 0) {
		got = read_answers(cl);
		if (got < 0)
			goto fail;
		/* Keep the window full until the measured window closes, then drain. */
		if (got > 0 && bench_now_ns() < cl->t_end && send_requests(cl, (unsigned)got) != 0)
			goto fail;
	}
	return NULL;
fail:
	cl->failed = 1;
	return NULL;
}

static void client_free(struct client *cl)
{
	if (cl->running)
		pthread_join(cl->th, NULL);
	if (cl->fd >= 0)
		close(cl->fd);
	free(cl->sent_at);
	free(cl->rbuf);
	wbuf_free(&cl->w);
	bench_lat_free(&cl->lat);
}

static int client_init(struct client *cl, const struct bench_daemon_cfg *c, int64_t t_go,
		       struct sd_err *e)
{
	cl->c = c;
	cl->fd = -1;
	cl->t_go = t_go;
	cl->t_start = t_go + (int64_t)(c->warmup_s * 1e9);
	cl->t_end = cl->t_start + (int64_t)(c->seconds * 1e9);
	wbuf_init(&cl->w, 0);
	cl->sent_at = calloc(c->window, sizeof(*cl->sent_at));
	cl->rbuf = malloc(RBUF_CAP);
	if (cl->sent_at == NULL || cl->rbuf == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	if (bench_lat_init(&cl->lat, LAT_CAP, e) != 0)
		return -1;
	if (RAND_bytes(cl->digest, sizeof(cl->digest)) != 1)
		memset(cl->digest, 0xa5, sizeof(cl->digest));
	return connect_socket(c->socket, &cl->fd, e);
}

int bench_daemon_run(const struct bench_daemon_cfg *c, struct bench_result *r, struct sd_err *e)
{
	struct client *cls;
	struct bench_lat all = {0};
	struct bench_acct acct;
	int64_t t_go;
	uint64_t total = 0;
	unsigned i;
	int ret = -1;

	memset(r, 0, sizeof(*r));
	if (c->nclients == 0 || c->window == 0 || c->window > 64)
		return sd_err_set(e, SD_E_INTERNAL, "need 1+ clients and a window of 1..64");
	cls = calloc(c->nclients, sizeof(*cls));
	if (cls == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	for (i = 0; i < c->nclients; i++)
		cls[i].fd = -1;
	if (bench_lat_init(&all, LAT_CAP, e) != 0)
		goto out;
	/* connections are made before the clock starts: 100 ms (or lead_s) */
	t_go = bench_now_ns() + (int64_t)((c->lead_s > 0 ? c->lead_s : 0.1) * 1e9);
	for (i = 0; i < c->nclients; i++)
		if (client_init(&cls[i], c, t_go, e) != 0)
			goto out;
	bench_acct_start(&acct, c->daemon_pid);
	for (i = 0; i < c->nclients; i++) {
		if (pthread_create(&cls[i].th, NULL, client_main, &cls[i]) != 0) {
			sd_err_set(e, SD_E_INTERNAL, "pthread_create failed");
			goto out;
		}
		cls[i].running = 1;
	}
	for (i = 0; i < c->nclients; i++) {
		pthread_join(cls[i].th, NULL);
		cls[i].running = 0;
		total += cls[i].total;
	}
	bench_acct_end(&acct, total, r);
	for (i = 0; i < c->nclients; i++) {
		if (cls[i].failed) {
			*e = cls[i].err;
			goto out;
		}
		r->count += cls[i].count;
		bench_lat_merge(&all, &cls[i].lat);
	}
	r->seconds = c->seconds;
	r->rate = (double)r->count / c->seconds;
	if (c->collect != NULL)
		bench_lat_merge(c->collect, &all);
	r->p50_us = (double)bench_lat_quantile(&all, 0.50) / 1e3;
	r->p99_us = (double)bench_lat_quantile(&all, 0.99) / 1e3;
	ret = 0;
out:
	for (i = 0; i < c->nclients; i++)
		client_free(&cls[i]);
	free(cls);
	bench_lat_free(&all);
	return ret;
}

int bench_daemon_probe(const char *socket, const char *key_name, pid_t *pid, struct sd_err *e)
{
	struct wbuf w;
	struct ucred uc;
	socklen_t ul = sizeof(uc);
	uint8_t digest[32] = {0}, *rbuf = NULL, type;
	const uint8_t *body, *p7, *p;
	size_t rlen = 0, bodylen, used, p7len;
	PKCS7 *pk = NULL;
	ssize_t n;
	int fd = -1, r = 0, ret = -1;

	wbuf_init(&w, 0);
	rbuf = malloc(RBUF_CAP);
	if (rbuf == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	if (connect_socket(socket, &fd, e) != 0)
		goto out;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) != 0) {
		sd_err_set(e, SD_E_INTERNAL, "SO_PEERCRED: %s", strerror(errno));
		goto out;
	}
	*pid = uc.pid;
	enc_request(&w, key_name, digest, 1, 0);
	if (wbuf_failed(&w) || write_all(fd, w.p, w.len, e) != 0)
		goto out;
	while (r == 0) {
		n = recv(fd, rbuf + rlen, RBUF_CAP - rlen, 0);
		if (n <= 0) {
			sd_err_set(e, SD_E_INTERNAL, "recv: %s",
				   n < 0 ? strerror(errno) : "signerd closed the connection");
			goto out;
		}
		rlen += (size_t)n;
		r = proto_frame_peek(rbuf, rlen, &type, &body, &bodylen, &used);
	}
	if (r < 0) {
		sd_err_set(e, SD_E_BAD_REQUEST, "answer frame length out of range");
		goto out;
	}
	if (take_answer(type, 0, body, bodylen, e) != 0 ||
	    proto_dec_signature(body, bodylen, &p7, &p7len, e) != 0)
		goto out;
	p = p7;
	pk = d2i_PKCS7(NULL, &p, (long)p7len);
	if (pk == NULL || p != p7 + p7len || !PKCS7_type_is_signed(pk)) {
		sd_err_set(e, SD_E_BAD_REQUEST, "the SIGNATURE answer is not a DER SignedData");
		goto out;
	}
	ret = 0;
out:
	PKCS7_free(pk);
	if (fd >= 0)
		close(fd);
	free(rbuf);
	wbuf_free(&w);
	return ret;
}
