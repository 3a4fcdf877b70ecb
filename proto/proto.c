/*
 * Wire protocol v1: framing and message codecs (docs/PROTOCOL.md).
 *
 * Every decoder walks the body with a bounded rbuf, names the message and
 * the field in its error, and refuses leftover bytes.
 */
#include "proto/proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Smallest KEYS entry: 8 empty strings (4 bytes each) and the default flag. */
#define KEY_ENTRY_MIN (8 * 4 + 1)
/* Smallest CERT entry: an empty blob. */
#define CERT_ENTRY_MIN 4

struct dec {
	struct rbuf r;
	const char *msg; /* message name for errors, e.g. "SIGN_CAB" */
	struct sd_err *e;
};

static void dec_init(struct dec *d, const char *msg, const uint8_t *body, size_t len,
		     struct sd_err *e)
{
	rbuf_init(&d->r, body, len);
	d->msg = msg;
	d->e = e;
}

static int dec_u32(struct dec *d, const char *field, uint32_t *v)
{
	if (rbuf_u32(&d->r, v) != 0)
		return sd_err_set(d->e, SD_E_BAD_REQUEST, "%s: missing %s", d->msg, field);
	return 0;
}

static int dec_u8(struct dec *d, const char *field, uint8_t *v)
{
	if (rbuf_u8(&d->r, v) != 0)
		return sd_err_set(d->e, SD_E_BAD_REQUEST, "%s: missing %s", d->msg, field);
	return 0;
}

/*
 * u32 length + bytes, borrowed, with a length of at most max. The error
 * code for an oversize field is code (BAD_REQUEST except for the digest).
 */
static int dec_bytes(struct dec *d, const char *field, size_t max, uint32_t code, const uint8_t **p,
		     size_t *n)
{
	uint32_t l;
	size_t left;

	if (rbuf_left(&d->r) < 4)
		return sd_err_set(d->e, SD_E_BAD_REQUEST, "%s: missing %s", d->msg, field);
	(void)rbuf_u32(&d->r, &l);
	if (l > max)
		return sd_err_set(d->e, code, "%s: %s is longer than %zu bytes", d->msg, field,
				  max);
	left = rbuf_left(&d->r);
	if (l > left)
		return sd_err_set(
		    d->e, SD_E_BAD_REQUEST,
		    "%s: %s length %u runs past the end of the frame (%zu bytes left)", d->msg,
		    field, l, left);
	(void)rbuf_raw(&d->r, l, p);
	*n = l;
	return 0;
}

/* A string of at most outsz - 1 bytes without NUL, copied and terminated. */
static int dec_str(struct dec *d, const char *field, char *out, size_t outsz)
{
	const uint8_t *p;
	size_t n;

	if (outsz == 0)
		return sd_err_set(d->e, SD_E_INTERNAL, "%s: no room for %s", d->msg, field);
	if (dec_bytes(d, field, outsz - 1, SD_E_BAD_REQUEST, &p, &n) != 0)
		return -1;
	if (memchr(p, '\0', n) != NULL)
		return sd_err_set(d->e, SD_E_BAD_REQUEST, "%s: %s contains a NUL byte", d->msg,
				  field);
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

static int dec_end(struct dec *d)
{
	size_t left = rbuf_left(&d->r);

	if (left != 0)
		return sd_err_set(d->e, SD_E_BAD_REQUEST, "%s: %zu trailing byte%s", d->msg, left,
				  left == 1 ? "" : "s");
	return 0;
}

/* A string field that an encoder refuses to emit when it would not decode. */
static void enc_str(struct wbuf *w, const char *s, size_t bufsz)
{
	size_t n = s ? strlen(s) : 0;

	if (n >= bufsz) {
		w->failed = 1;
		return;
	}
	wbuf_blob(w, s, n);
}

int proto_frame_peek(const uint8_t *buf, size_t avail, uint8_t *type, const uint8_t **body,
		     size_t *bodylen, size_t *consumed)
{
	uint32_t len;

	if (avail < 4)
		return 0;
	len =
	    ((uint32_t)buf[0] << 24) | ((uint32_t)buf[1] << 16) | ((uint32_t)buf[2] << 8) | buf[3];
	if (len == 0 || len > SD_FRAME_MAX)
		return -1;
	if (avail - 4 < len)
		return 0;
	*type = buf[4];
	*body = buf + 5;
	*bodylen = len - 1;
	*consumed = 4 + (size_t)len;
	return 1;
}

size_t proto_frame_begin(struct wbuf *w, uint8_t type)
{
	size_t off = w->len;

	wbuf_u32(w, 0);
	wbuf_u8(w, type);
	return off;
}

void proto_frame_end(struct wbuf *w, size_t off)
{
	size_t len;

	if (w->failed)
		return;
	if (off > w->len || w->len - off < 5) {
		w->failed = 1;
		return;
	}
	len = w->len - off - 4;
	if (len > SD_FRAME_MAX) {
		w->failed = 1;
		return;
	}
	wbuf_put_u32_at(w, off, (uint32_t)len);
}

/* HELLO, HELLO_OK */

void proto_enc_hello(struct wbuf *w, uint32_t version)
{
	size_t off = proto_frame_begin(w, SD_MSG_HELLO);

	wbuf_u32(w, version);
	proto_frame_end(w, off);
}

int proto_dec_hello(const uint8_t *body, size_t len, uint32_t *version, struct sd_err *e)
{
	struct dec d;

	dec_init(&d, "HELLO", body, len, e);
	if (dec_u32(&d, "version", version) != 0)
		return -1;
	return dec_end(&d);
}

void proto_enc_hello_ok(struct wbuf *w, uint32_t version, const char *server)
{
	size_t off = proto_frame_begin(w, SD_MSG_HELLO_OK);

	wbuf_u32(w, version);
	enc_str(w, server, SD_SERVER_MAX);
	proto_frame_end(w, off);
}

int proto_dec_hello_ok(const uint8_t *body, size_t len, uint32_t *version, char *server,
		       size_t serversz, struct sd_err *e)
{
	struct dec d;

	dec_init(&d, "HELLO_OK", body, len, e);
	if (dec_u32(&d, "version", version) != 0 ||
	    dec_str(&d, "server string", server, serversz) != 0)
		return -1;
	return dec_end(&d);
}

/* SIGN_CAB, SIGN_SCRIPT, SIGNATURE */

static void enc_sign(struct wbuf *w, uint8_t type, const struct sd_sign_req *r)
{
	size_t off = proto_frame_begin(w, type);

	enc_str(w, r->key, sizeof(r->key));
	enc_str(w, r->digest_alg, sizeof(r->digest_alg));
	if (r->digest_len > SD_DIGEST_MAX)
		w->failed = 1;
	else
		wbuf_blob(w, r->digest, r->digest_len);
	enc_str(w, r->program, sizeof(r->program));
	enc_str(w, r->url, sizeof(r->url));
	proto_frame_end(w, off);
}

static int dec_sign(const char *msg, const uint8_t *body, size_t len, struct sd_sign_req *r,
		    struct sd_err *e)
{
	struct dec d;

	memset(r, 0, sizeof(*r));
	dec_init(&d, msg, body, len, e);
	if (dec_str(&d, "key name", r->key, sizeof(r->key)) != 0 ||
	    dec_str(&d, "digest algorithm", r->digest_alg, sizeof(r->digest_alg)) != 0 ||
	    dec_bytes(&d, "digest", SD_DIGEST_MAX, SD_E_BAD_DIGEST_LENGTH, &r->digest,
		      &r->digest_len) != 0 ||
	    dec_str(&d, "program name", r->program, sizeof(r->program)) != 0 ||
	    dec_str(&d, "URL", r->url, sizeof(r->url)) != 0)
		return -1;
	return dec_end(&d);
}

void proto_enc_sign_cab(struct wbuf *w, const struct sd_sign_req *r)
{
	enc_sign(w, SD_MSG_SIGN_CAB, r);
}

int proto_dec_sign_cab(const uint8_t *body, size_t len, struct sd_sign_req *r, struct sd_err *e)
{
	return dec_sign("SIGN_CAB", body, len, r, e);
}

void proto_enc_sign_script(struct wbuf *w, const struct sd_sign_req *r)
{
	enc_sign(w, SD_MSG_SIGN_SCRIPT, r);
}

int proto_dec_sign_script(const uint8_t *body, size_t len, struct sd_sign_req *r, struct sd_err *e)
{
	return dec_sign("SIGN_SCRIPT", body, len, r, e);
}

void proto_enc_signature(struct wbuf *w, const uint8_t *p7, size_t len)
{
	size_t off = proto_frame_begin(w, SD_MSG_SIGNATURE);

	wbuf_blob(w, p7, len);
	proto_frame_end(w, off);
}

int proto_dec_signature(const uint8_t *body, size_t len, const uint8_t **p7, size_t *p7len,
			struct sd_err *e)
{
	struct dec d;

	dec_init(&d, "SIGNATURE", body, len, e);
	if (dec_bytes(&d, "PKCS#7", SD_FRAME_MAX, SD_E_BAD_REQUEST, p7, p7len) != 0)
		return -1;
	if (*p7len == 0)
		return sd_err_set(e, SD_E_BAD_REQUEST, "SIGNATURE: empty PKCS#7");
	return dec_end(&d);
}

/* GET_CERT, CERT */

void proto_enc_get_cert(struct wbuf *w, const char *key)
{
	size_t off = proto_frame_begin(w, SD_MSG_GET_CERT);

	enc_str(w, key, SD_KEYNAME_MAX);
	proto_frame_end(w, off);
}

int proto_dec_get_cert(const uint8_t *body, size_t len, char *key, size_t keysz, struct sd_err *e)
{
	struct dec d;

	dec_init(&d, "GET_CERT", body, len, e);
	if (dec_str(&d, "key name", key, keysz) != 0)
		return -1;
	return dec_end(&d);
}

void proto_enc_cert(struct wbuf *w, const uint8_t *const *ders, const size_t *lens, size_t count)
{
	size_t off = proto_frame_begin(w, SD_MSG_CERT), i;

	if (count > UINT32_MAX) {
		w->failed = 1;
		return;
	}
	wbuf_u32(w, (uint32_t)count);
	for (i = 0; i < count; i++)
		wbuf_blob(w, ders[i], lens[i]);
	proto_frame_end(w, off);
}

int proto_dec_cert(const uint8_t *body, size_t len, const uint8_t **ders, size_t *lens, size_t max,
		   size_t *count, struct sd_err *e)
{
	struct dec d;
	uint32_t n, i;
	char field[32];

	dec_init(&d, "CERT", body, len, e);
	if (dec_u32(&d, "certificate count", &n) != 0)
		return -1;
	if (n == 0)
		return sd_err_set(e, SD_E_BAD_REQUEST, "CERT: no certificate");
	if (n > max)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "CERT: %u certificates, at most %zu accepted", n, max);
	if (n > rbuf_left(&d.r) / CERT_ENTRY_MIN)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "CERT: count %u does not fit in the %zu bytes left", n,
				  rbuf_left(&d.r));
	for (i = 0; i < n; i++) {
		snprintf(field, sizeof(field), "certificate %u", i);
		if (dec_bytes(&d, field, SD_FRAME_MAX, SD_E_BAD_REQUEST, &ders[i], &lens[i]) != 0)
			return -1;
		if (lens[i] == 0)
			return sd_err_set(e, SD_E_BAD_REQUEST, "CERT: %s is empty", field);
	}
	if (dec_end(&d) != 0)
		return -1;
	*count = n;
	return 0;
}

/* LIST_KEYS, KEYS */

void proto_enc_list_keys(struct wbuf *w)
{
	proto_frame_end(w, proto_frame_begin(w, SD_MSG_LIST_KEYS));
}

void proto_enc_keys(struct wbuf *w, const struct sd_key_info *keys, size_t n)
{
	size_t off = proto_frame_begin(w, SD_MSG_KEYS), i;
	const struct sd_key_info *k;

	if (n > UINT32_MAX) {
		w->failed = 1;
		return;
	}
	wbuf_u32(w, (uint32_t)n);
	for (i = 0; i < n; i++) {
		k = &keys[i];
		enc_str(w, k->name, sizeof(k->name));
		wbuf_u8(w, k->is_default ? 1 : 0);
		enc_str(w, k->state, sizeof(k->state));
		enc_str(w, k->subject, sizeof(k->subject));
		enc_str(w, k->serial, sizeof(k->serial));
		enc_str(w, k->sha1, sizeof(k->sha1));
		enc_str(w, k->not_after, sizeof(k->not_after));
		enc_str(w, k->revocation, sizeof(k->revocation));
		enc_str(w, k->crl_next_update, sizeof(k->crl_next_update));
	}
	proto_frame_end(w, off);
}

static int dec_key(struct dec *d, struct sd_key_info *k)
{
	if (dec_str(d, "key name", k->name, sizeof(k->name)) != 0 ||
	    dec_u8(d, "default flag", &k->is_default) != 0)
		return -1;
	if (k->is_default > 1)
		return sd_err_set(d->e, SD_E_BAD_REQUEST, "%s: default flag is %u, not 0 or 1",
				  d->msg, k->is_default);
	if (dec_str(d, "state", k->state, sizeof(k->state)) != 0 ||
	    dec_str(d, "subject", k->subject, sizeof(k->subject)) != 0 ||
	    dec_str(d, "serial", k->serial, sizeof(k->serial)) != 0 ||
	    dec_str(d, "SHA-1 thumbprint", k->sha1, sizeof(k->sha1)) != 0 ||
	    dec_str(d, "notAfter", k->not_after, sizeof(k->not_after)) != 0 ||
	    dec_str(d, "revocation status", k->revocation, sizeof(k->revocation)) != 0 ||
	    dec_str(d, "CRL nextUpdate", k->crl_next_update, sizeof(k->crl_next_update)) != 0)
		return -1;
	return 0;
}

int proto_dec_keys(const uint8_t *body, size_t len, struct sd_key_info **keys, size_t *n,
		   struct sd_err *e)
{
	struct dec d;
	struct sd_key_info *k = NULL;
	uint32_t cnt, i;
	char name[32];
	int ret = -1;

	dec_init(&d, "KEYS", body, len, e);
	if (dec_u32(&d, "key count", &cnt) != 0)
		goto out;
	if (cnt > rbuf_left(&d.r) / KEY_ENTRY_MIN) {
		sd_err_set(e, SD_E_BAD_REQUEST, "KEYS: count %u does not fit in the %zu bytes left",
			   cnt, rbuf_left(&d.r));
		goto out;
	}
	k = calloc(cnt ? cnt : 1, sizeof(*k));
	if (k == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "KEYS: out of memory");
		goto out;
	}
	for (i = 0; i < cnt; i++) {
		snprintf(name, sizeof(name), "KEYS entry %u", i);
		d.msg = name;
		if (dec_key(&d, &k[i]) != 0)
			goto out;
	}
	d.msg = "KEYS";
	if (dec_end(&d) != 0)
		goto out;
	*keys = k;
	*n = cnt;
	k = NULL;
	ret = 0;
out:
	free(k);
	return ret;
}

/* STATUS, STATUS_OK */

void proto_enc_status(struct wbuf *w)
{
	proto_frame_end(w, proto_frame_begin(w, SD_MSG_STATUS));
}

void proto_enc_status_ok(struct wbuf *w, const char *text)
{
	size_t off = proto_frame_begin(w, SD_MSG_STATUS_OK);

	wbuf_string(w, text);
	proto_frame_end(w, off);
}

int proto_dec_status_ok(const uint8_t *body, size_t len, char **text, struct sd_err *e)
{
	struct dec d;
	const uint8_t *p;
	size_t n;
	char *t;

	dec_init(&d, "STATUS_OK", body, len, e);
	if (dec_bytes(&d, "text", SD_FRAME_MAX, SD_E_BAD_REQUEST, &p, &n) != 0 || dec_end(&d) != 0)
		return -1;
	if (memchr(p, '\0', n) != NULL)
		return sd_err_set(e, SD_E_BAD_REQUEST, "STATUS_OK: text contains a NUL byte");
	t = malloc(n + 1);
	if (t == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "STATUS_OK: out of memory");
	memcpy(t, p, n);
	t[n] = '\0';
	*text = t;
	return 0;
}

/* ERROR */

void proto_enc_error(struct wbuf *w, uint32_t code, const char *msg)
{
	size_t off = proto_frame_begin(w, SD_MSG_ERROR);
	size_t n = msg ? strlen(msg) : 0;

	/* Truncate to what every decoder accepts, on a UTF-8 boundary. */
	if (n > SD_ERRMSG_MAX - 1) {
		n = SD_ERRMSG_MAX - 1;
		while (n > 0 && ((uint8_t)msg[n] & 0xc0) == 0x80)
			n--;
	}
	wbuf_u32(w, code);
	wbuf_blob(w, msg, n);
	proto_frame_end(w, off);
}

int proto_dec_error(const uint8_t *body, size_t len, uint32_t *code, char *msg, size_t msgsz,
		    struct sd_err *e)
{
	struct dec d;

	dec_init(&d, "ERROR", body, len, e);
	if (dec_u32(&d, "code", code) != 0 || dec_str(&d, "message", msg, msgsz) != 0)
		return -1;
	return dec_end(&d);
}

int proto_dec_empty(const uint8_t *body, size_t len, struct sd_err *e)
{
	(void)body;
	if (len != 0)
		return sd_err_set(e, SD_E_BAD_REQUEST, "empty message has %zu trailing byte%s", len,
				  len == 1 ? "" : "s");
	return 0;
}

void proto_enc_admin(struct wbuf *w, uint8_t type, const char *key)
{
	size_t off = proto_frame_begin(w, type);

	if (type == SD_MSG_ADMIN_RETIRE)
		wbuf_string(w, key ? key : "");
	proto_frame_end(w, off);
}

int proto_dec_admin_retire(const uint8_t *body, size_t len, char *key, size_t keysz,
			   struct sd_err *e)
{
	struct dec d;

	dec_init(&d, "ADMIN_RETIRE", body, len, e);
	if (dec_str(&d, "key name", key, keysz) != 0)
		return -1;
	return dec_end(&d);
}

void proto_enc_admin_ok(struct wbuf *w, const char *text)
{
	size_t off = proto_frame_begin(w, SD_MSG_ADMIN_OK);

	wbuf_string(w, text);
	proto_frame_end(w, off);
}

int proto_dec_admin_ok(const uint8_t *body, size_t len, char **text, struct sd_err *e)
{
	/* Same shape as STATUS_OK: one string. */
	if (proto_dec_status_ok(body, len, text, e) != 0)
		return sd_err_prefix(e, "ADMIN_OK: ");
	return 0;
}

const char *proto_msg_name(uint8_t type)
{
	switch (type) {
	case SD_MSG_HELLO:
		return "HELLO";
	case SD_MSG_HELLO_OK:
		return "HELLO_OK";
	case SD_MSG_SIGN_CAB:
		return "SIGN_CAB";
	case SD_MSG_SIGN_SCRIPT:
		return "SIGN_SCRIPT";
	case SD_MSG_SIGNATURE:
		return "SIGNATURE";
	case SD_MSG_GET_CERT:
		return "GET_CERT";
	case SD_MSG_CERT:
		return "CERT";
	case SD_MSG_LIST_KEYS:
		return "LIST_KEYS";
	case SD_MSG_KEYS:
		return "KEYS";
	case SD_MSG_STATUS:
		return "STATUS";
	case SD_MSG_STATUS_OK:
		return "STATUS_OK";
	case SD_MSG_ADMIN_FREEZE:
		return "ADMIN_FREEZE";
	case SD_MSG_ADMIN_THAW:
		return "ADMIN_THAW";
	case SD_MSG_ADMIN_RETIRE:
		return "ADMIN_RETIRE";
	case SD_MSG_ADMIN_RELOAD:
		return "ADMIN_RELOAD";
	case SD_MSG_ADMIN_OK:
		return "ADMIN_OK";
	case SD_MSG_ERROR:
		return "ERROR";
	default:
		return "UNKNOWN";
	}
}
