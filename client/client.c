/*
 * libsigner-client: connection, framing and pipelining over signerd's Unix
 * socket. Messages are encoded and decoded by proto/.
 */
#include "client/signer-client.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "proto/proto.h"

#define API __attribute__((visibility("default")))

/* While sending, buffer at most this much of the server's answers. */
#define RX_SOFT_MAX ((size_t)8 << 20)
#define RX_CHUNK    ((size_t)64 << 10)

struct signer_client {
	int fd;
	int timeout_ms;
	int broken;	/* I/O or protocol failure: the stream is unusable */
	int eof;	/* the server closed its side */
	size_t pending; /* SIGN_CAB / SIGN_SCRIPT requests sent, not yet received */
	uint8_t *rx;
	size_t rxoff, rxlen, rxcap; /* unread bytes are rx[rxoff .. rxlen) */
	struct wbuf tx;
};

static int fail(struct signer_error *err, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct signer_error *err, uint32_t code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	err->code = code;
	err->from_server = 0;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* Mark the connection unusable and fail. */
static int broken(struct signer_client *c, struct signer_error *err, uint32_t code,
		  const char *what, const char *detail)
{
	c->broken = 1;
	return fail(err, code, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
}

API const char *signer_code_name(uint32_t code)
{
	switch (code) {
	case SIGNER_E_IO:
		return "IO";
	case SIGNER_E_PROTOCOL:
		return "PROTOCOL";
	case SIGNER_E_USAGE:
		return "USAGE";
	default:
		return sd_code_name(code);
	}
}

API int signer_connect(const char *path, struct signer_client **out, struct signer_error *err)
{
	struct sockaddr_un sa;
	struct signer_client *c = NULL;
	int fd = -1, ret = -1;

	if (path == NULL)
		path = SIGNER_CLIENT_DEFAULT_SOCKET;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fail(err, SIGNER_E_USAGE, "socket path is longer than %zu bytes: %s",
		     sizeof(sa.sun_path) - 1, path);
		goto out;
	}
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fail(err, SIGNER_E_IO, "socket: %s", strerror(errno));
		goto out;
	}
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (errno == EINTR)
			continue;
		fail(err, SIGNER_E_IO, "connect to %s: %s%s", path, strerror(errno),
		     errno == ENOENT || errno == ECONNREFUSED ? " (is signerd running?)" : "");
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		fail(err, SIGNER_E_USAGE, "out of memory");
		goto out;
	}
	c->fd = fd;
	fd = -1;
	wbuf_init(&c->tx, SD_FRAME_MAX + 4);
	*out = c;
	c = NULL;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(c);
	return ret;
}

API void signer_close(struct signer_client *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	wbuf_free(&c->tx);
	free(c->rx);
	free(c);
}

API void signer_set_timeout(struct signer_client *c, int ms)
{
	c->timeout_ms = ms > 0 ? ms : 0;
}

API size_t signer_pending(const struct signer_client *c)
{
	return c->pending;
}

API void signer_free(void *p)
{
	free(p);
}

API void signer_free_blobs(struct signer_blob *b, size_t count)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < count; i++)
		free(b[i].data);
	free(b);
}

/* Read what is available (one recv) into rx. 0 ok, -1 error (errno set); sets eof. */
static int rx_read(struct signer_client *c)
{
	size_t need;
	uint8_t *np;
	ssize_t n;

	if (c->rxoff > 0 && c->rxoff == c->rxlen)
		c->rxoff = c->rxlen = 0;
	if (c->rxcap - c->rxlen < RX_CHUNK) {
		if (c->rxoff > 0) {
			memmove(c->rx, c->rx + c->rxoff, c->rxlen - c->rxoff);
			c->rxlen -= c->rxoff;
			c->rxoff = 0;
		}
		need = c->rxlen + RX_CHUNK;
		if (need > c->rxcap) {
			np = realloc(c->rx, need);
			if (np == NULL) {
				errno = ENOMEM;
				return -1;
			}
			c->rx = np;
			c->rxcap = need;
		}
	}
	do
		n = recv(c->fd, c->rx + c->rxlen, c->rxcap - c->rxlen, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
	if (n == 0)
		c->eof = 1;
	c->rxlen += (size_t)n;
	return 0;
}

/* poll fd for events; returns revents, 0 on timeout, -1 on error. */
static int wait_fd(struct signer_client *c, short events)
{
	struct pollfd p = {.fd = c->fd, .events = events};
	int r;

	do
		r = poll(&p, 1, c->timeout_ms > 0 ? c->timeout_ms : -1);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return r;
	return p.revents;
}

/*
 * A write failed because signerd hung up. When nothing else is outstanding
 * and signerd said why (an ERROR frame, e.g. NOT_AUTHORIZED for a refused
 * peer), report that instead of the bare errno.
 */
static int explain_hangup(struct signer_client *c, int saved, struct signer_error *err)
{
	uint8_t type;
	const uint8_t *body;
	size_t len, consumed;
	uint32_t code;
	char msg[SD_ERRMSG_MAX];
	int i;

	c->broken = 1;
	for (i = 0; i < 64 && !c->eof && c->rxlen - c->rxoff < RX_SOFT_MAX; i++) {
		size_t before = c->rxlen;

		if (rx_read(c) != 0 || c->rxlen == before)
			break;
	}
	if (c->pending == 0 &&
	    proto_frame_peek(c->rx + c->rxoff, c->rxlen - c->rxoff, &type, &body, &len,
			     &consumed) == 1 &&
	    type == SD_MSG_ERROR &&
	    proto_dec_error(body, len, &code, msg, sizeof(msg), NULL) == 0) {
		if (err != NULL) {
			err->code = code;
			err->from_server = 1;
			snprintf(err->message, sizeof(err->message), "%s", msg);
		}
		return -1;
	}
	return fail(err, SIGNER_E_IO, "write to signerd: %s", strerror(saved));
}

static int send_all(struct signer_client *c, const uint8_t *p, size_t len, struct signer_error *err)
{
	size_t done = 0;
	ssize_t n;
	int ev;
	short want;

	while (done < len) {
		want = POLLOUT;
		if (!c->eof && c->rxlen - c->rxoff < RX_SOFT_MAX)
			want |= POLLIN;
		ev = wait_fd(c, want);
		if (ev < 0)
			return broken(c, err, SIGNER_E_IO, "poll", strerror(errno));
		if (ev == 0)
			return broken(c, err, SIGNER_E_IO, "timed out sending to signerd", NULL);
		if (ev & POLLIN) {
			if (rx_read(c) != 0)
				return broken(c, err, SIGNER_E_IO, "read from signerd",
					      strerror(errno));
			continue;
		}
		do
			n = send(c->fd, p + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (n < 0 && errno == EINTR);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n < 0)
			return explain_hangup(c, errno, err);
		done += (size_t)n;
	}
	return 0;
}

/*
 * Wait for the next whole frame. On success the frame stays in rx until
 * frame_consume. A frame length outside 1..SD_FRAME_MAX breaks the stream.
 */
static int next_frame(struct signer_client *c, uint8_t *type, const uint8_t **body, size_t *len,
		      size_t *consumed, struct signer_error *err)
{
	const uint8_t *p;
	uint32_t flen;
	int rc, ev;

	for (;;) {
		p = c->rx + c->rxoff;
		rc = proto_frame_peek(p, c->rxlen - c->rxoff, type, body, len, consumed);
		if (rc == 1)
			return 0;
		if (rc < 0) {
			flen = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
			       ((uint32_t)p[2] << 8) | p[3];
			c->broken = 1;
			return fail(err, SIGNER_E_PROTOCOL,
				    "response frame length %u is outside 1..%u", flen,
				    SD_FRAME_MAX);
		}
		if (c->eof)
			return broken(c, err, SIGNER_E_IO,
				      c->rxlen > c->rxoff ? "signerd closed the connection "
							    "in the middle of a response"
							  : "signerd closed the connection",
				      NULL);
		ev = wait_fd(c, POLLIN);
		if (ev < 0)
			return broken(c, err, SIGNER_E_IO, "poll", strerror(errno));
		if (ev == 0)
			return broken(c, err, SIGNER_E_IO, "timed out waiting for signerd", NULL);
		if (rx_read(c) != 0)
			return broken(c, err, SIGNER_E_IO, "read from signerd", strerror(errno));
	}
}

static void frame_consume(struct signer_client *c, size_t consumed)
{
	c->rxoff += consumed;
	if (c->rxoff == c->rxlen)
		c->rxoff = c->rxlen = 0;
}

/*
 * Receive the answer to the oldest outstanding request, expecting want.
 * An ERROR frame fills err (from_server) and returns -1 with the frame
 * consumed; the connection stays usable. On success the caller decodes
 * body and then calls frame_consume(c, *consumed).
 */
static int recv_expect(struct signer_client *c, uint8_t want, const uint8_t **body, size_t *len,
		       size_t *consumed, struct signer_error *err)
{
	uint8_t type;
	uint32_t code;
	char msg[SD_ERRMSG_MAX];
	struct sd_err e = {0};

	if (next_frame(c, &type, body, len, consumed, err) != 0)
		return -1;
	if (c->pending > 0)
		c->pending--;
	if (type == SD_MSG_ERROR) {
		if (proto_dec_error(*body, *len, &code, msg, sizeof(msg), &e) != 0)
			return broken(c, err, SIGNER_E_PROTOCOL, "malformed response", e.msg);
		frame_consume(c, *consumed);
		if (err != NULL) {
			err->code = code;
			err->from_server = 1;
			snprintf(err->message, sizeof(err->message), "%s", msg);
		}
		return -1;
	}
	if (type != want) {
		c->broken = 1;
		return fail(err, SIGNER_E_PROTOCOL, "expected %s from signerd, got %s (0x%02x)",
			    proto_msg_name(want), proto_msg_name(type), type);
	}
	return 0;
}

static int usable(struct signer_client *c, int need_idle, struct signer_error *err)
{
	if (c == NULL)
		return fail(err, SIGNER_E_USAGE, "no connection");
	if (c->broken)
		return fail(err, SIGNER_E_IO, "the connection to signerd failed earlier");
	if (need_idle && c->pending > 0)
		return fail(err, SIGNER_E_USAGE, "%zu pipelined requests are still outstanding",
			    c->pending);
	return 0;
}

/* Send what is in c->tx as one request. */
static int send_tx(struct signer_client *c, struct signer_error *err)
{
	int rc;

	if (wbuf_failed(&c->tx)) {
		wbuf_reset(&c->tx);
		return fail(err, SIGNER_E_USAGE, "request does not fit in a frame");
	}
	rc = send_all(c, c->tx.p, c->tx.len, err);
	wbuf_reset(&c->tx);
	if (rc != 0)
		return -1;
	c->pending++;
	return 0;
}

static int copy_field(const char *what, const char *s, char *out, size_t outsz,
		      struct signer_error *err)
{
	size_t n = s ? strlen(s) : 0;

	if (n >= outsz)
		return fail(err, SIGNER_E_USAGE, "%s is longer than %zu bytes", what, outsz - 1);
	memcpy(out, s ? s : "", n + 1);
	return 0;
}

API int signer_hello(struct signer_client *c, uint32_t *version, char *server, size_t serversz,
		     struct signer_error *err)
{
	const uint8_t *body;
	size_t len, consumed;
	char srv[SD_SERVER_MAX];
	struct sd_err e = {0};

	if (usable(c, 1, err) != 0)
		return -1;
	proto_enc_hello(&c->tx, SD_PROTO_VERSION);
	if (send_tx(c, err) != 0 || recv_expect(c, SD_MSG_HELLO_OK, &body, &len, &consumed, err))
		return -1;
	if (proto_dec_hello_ok(body, len, version, srv, sizeof(srv), &e) != 0)
		return broken(c, err, SIGNER_E_PROTOCOL, "malformed response", e.msg);
	frame_consume(c, consumed);
	if (server != NULL && serversz > 0)
		snprintf(server, serversz, "%s", srv);
	return 0;
}

/* SIGN_CAB or SIGN_SCRIPT: the same fields, a different message type. */
static int send_sign(struct signer_client *c, uint8_t type, const struct signer_sign_request *req,
		     struct signer_error *err)
{
	struct sd_sign_req r;

	if (usable(c, 0, err) != 0)
		return -1;
	memset(&r, 0, sizeof(r));
	if (copy_field("key name", req->key, r.key, sizeof(r.key), err) != 0 ||
	    copy_field("digest algorithm", req->digest_alg, r.digest_alg, sizeof(r.digest_alg),
		       err) != 0 ||
	    copy_field("program name", req->program, r.program, sizeof(r.program), err) != 0 ||
	    copy_field("URL", req->url, r.url, sizeof(r.url), err) != 0)
		return -1;
	if (req->digest_len > SD_DIGEST_MAX || (req->digest == NULL && req->digest_len > 0))
		return fail(err, SIGNER_E_USAGE, "digest of %zu bytes (at most %d)",
			    req->digest_len, SD_DIGEST_MAX);
	r.digest = req->digest;
	r.digest_len = req->digest_len;
	if (type == SD_MSG_SIGN_SCRIPT)
		proto_enc_sign_script(&c->tx, &r);
	else
		proto_enc_sign_cab(&c->tx, &r);
	return send_tx(c, err);
}

API int signer_send_sign_cab(struct signer_client *c, const struct signer_sign_request *req,
			     struct signer_error *err)
{
	return send_sign(c, SD_MSG_SIGN_CAB, req, err);
}

API int signer_send_sign_script(struct signer_client *c, const struct signer_sign_request *req,
				struct signer_error *err)
{
	return send_sign(c, SD_MSG_SIGN_SCRIPT, req, err);
}

API int signer_recv_signature(struct signer_client *c, uint8_t **p7, size_t *p7len,
			      struct signer_error *err)
{
	const uint8_t *body, *der;
	size_t len, consumed, dlen;
	struct sd_err e = {0};
	uint8_t *copy;

	if (usable(c, 0, err) != 0)
		return -1;
	if (c->pending == 0)
		return fail(err, SIGNER_E_USAGE, "no request is outstanding");
	if (recv_expect(c, SD_MSG_SIGNATURE, &body, &len, &consumed, err) != 0)
		return -1;
	if (proto_dec_signature(body, len, &der, &dlen, &e) != 0)
		return broken(c, err, SIGNER_E_PROTOCOL, "malformed response", e.msg);
	copy = malloc(dlen);
	if (copy == NULL) {
		frame_consume(c, consumed);
		return fail(err, SIGNER_E_USAGE, "out of memory");
	}
	memcpy(copy, der, dlen);
	frame_consume(c, consumed);
	*p7 = copy;
	*p7len = dlen;
	return 0;
}

API int signer_sign_cab(struct signer_client *c, const struct signer_sign_request *req,
			uint8_t **p7, size_t *p7len, struct signer_error *err)
{
	if (usable(c, 1, err) != 0 || signer_send_sign_cab(c, req, err) != 0)
		return -1;
	return signer_recv_signature(c, p7, p7len, err);
}

API int signer_sign_script(struct signer_client *c, const struct signer_sign_request *req,
			   uint8_t **p7, size_t *p7len, struct signer_error *err)
{
	if (usable(c, 1, err) != 0 || signer_send_sign_script(c, req, err) != 0)
		return -1;
	return signer_recv_signature(c, p7, p7len, err);
}

API int signer_get_cert(struct signer_client *c, const char *key, struct signer_blob **certs,
			size_t *count, struct signer_error *err)
{
	const uint8_t *body, *ders[SD_CERTS_MAX];
	size_t len, consumed, lens[SD_CERTS_MAX], n = 0, i;
	struct signer_blob *b = NULL;
	struct sd_err e = {0};
	char k[SD_KEYNAME_MAX];
	int ret = -1;

	if (usable(c, 1, err) != 0 || copy_field("key name", key, k, sizeof(k), err) != 0)
		return -1;
	proto_enc_get_cert(&c->tx, k);
	if (send_tx(c, err) != 0 || recv_expect(c, SD_MSG_CERT, &body, &len, &consumed, err))
		return -1;
	if (proto_dec_cert(body, len, ders, lens, SD_CERTS_MAX, &n, &e) != 0)
		return broken(c, err, SIGNER_E_PROTOCOL, "malformed response", e.msg);
	b = calloc(n, sizeof(*b));
	if (b == NULL) {
		fail(err, SIGNER_E_USAGE, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		b[i].data = malloc(lens[i]);
		if (b[i].data == NULL) {
			fail(err, SIGNER_E_USAGE, "out of memory");
			goto out;
		}
		memcpy(b[i].data, ders[i], lens[i]);
		b[i].len = lens[i];
	}
	*certs = b;
	*count = n;
	b = NULL;
	ret = 0;
out:
	frame_consume(c, consumed);
	signer_free_blobs(b, n);
	return ret;
}

API int signer_list_keys(struct signer_client *c, struct signer_key **keys, size_t *n,
			 struct signer_error *err)
{
	const uint8_t *body;
	size_t len, consumed, cnt = 0, i;
	struct sd_key_info *in = NULL;
	struct signer_key *outk;
	struct sd_err e = {0};

	if (usable(c, 1, err) != 0)
		return -1;
	proto_enc_list_keys(&c->tx);
	if (send_tx(c, err) != 0 || recv_expect(c, SD_MSG_KEYS, &body, &len, &consumed, err))
		return -1;
	if (proto_dec_keys(body, len, &in, &cnt, &e) != 0)
		return broken(c, err, SIGNER_E_PROTOCOL, "malformed response", e.msg);
	frame_consume(c, consumed);
	outk = calloc(cnt ? cnt : 1, sizeof(*outk));
	if (outk == NULL) {
		free(in);
		return fail(err, SIGNER_E_USAGE, "out of memory");
	}
	for (i = 0; i < cnt; i++) {
		/* Same sizes on both sides; snprintf keeps it safe if they drift. */
		snprintf(outk[i].name, sizeof(outk[i].name), "%s", in[i].name);
		outk[i].is_default = in[i].is_default;
		snprintf(outk[i].state, sizeof(outk[i].state), "%s", in[i].state);
		snprintf(outk[i].subject, sizeof(outk[i].subject), "%s", in[i].subject);
		snprintf(outk[i].serial, sizeof(outk[i].serial), "%s", in[i].serial);
		snprintf(outk[i].sha1, sizeof(outk[i].sha1), "%s", in[i].sha1);
		snprintf(outk[i].not_after, sizeof(outk[i].not_after), "%s", in[i].not_after);
		snprintf(outk[i].revocation, sizeof(outk[i].revocation), "%s", in[i].revocation);
		snprintf(outk[i].crl_next_update, sizeof(outk[i].crl_next_update), "%s",
			 in[i].crl_next_update);
	}
	free(in);
	*keys = outk;
	*n = cnt;
	return 0;
}

API int signer_status(struct signer_client *c, char **text, struct signer_error *err)
{
	const uint8_t *body;
	size_t len, consumed;
	struct sd_err e = {0};

	if (usable(c, 1, err) != 0)
		return -1;
	proto_enc_status(&c->tx);
	if (send_tx(c, err) != 0 ||
	    recv_expect(c, SD_MSG_STATUS_OK, &body, &len, &consumed, err) != 0)
		return -1;
	if (proto_dec_status_ok(body, len, text, &e) != 0)
		return broken(c, err, SIGNER_E_PROTOCOL, "malformed response", e.msg);
	frame_consume(c, consumed);
	return 0;
}
