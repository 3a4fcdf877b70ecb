#include "common/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

void rbuf_init(struct rbuf *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
}

size_t rbuf_left(const struct rbuf *r)
{
	return r->len - r->off;
}

int rbuf_raw(struct rbuf *r, size_t n, const uint8_t **p)
{
	if (n > rbuf_left(r))
		return -1;
	*p = r->p + r->off;
	r->off += n;
	return 0;
}

int rbuf_u8(struct rbuf *r, uint8_t *v)
{
	const uint8_t *p;

	if (rbuf_raw(r, 1, &p) != 0)
		return -1;
	*v = p[0];
	return 0;
}

int rbuf_u16(struct rbuf *r, uint16_t *v)
{
	const uint8_t *p;

	if (rbuf_raw(r, 2, &p) != 0)
		return -1;
	*v = (uint16_t)((p[0] << 8) | p[1]);
	return 0;
}

int rbuf_u32(struct rbuf *r, uint32_t *v)
{
	const uint8_t *p;

	if (rbuf_raw(r, 4, &p) != 0)
		return -1;
	*v = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
	return 0;
}

int rbuf_u64(struct rbuf *r, uint64_t *v)
{
	uint32_t hi, lo;
	size_t save = r->off;

	if (rbuf_u32(r, &hi) != 0 || rbuf_u32(r, &lo) != 0) {
		r->off = save;
		return -1;
	}
	*v = ((uint64_t)hi << 32) | lo;
	return 0;
}

int rbuf_blob(struct rbuf *r, size_t max, const uint8_t **p, size_t *n)
{
	uint32_t l;
	size_t save = r->off;

	if (rbuf_u32(r, &l) != 0)
		return -1;
	if (l > max || rbuf_raw(r, l, p) != 0) {
		r->off = save;
		return -1;
	}
	*n = l;
	return 0;
}

int rbuf_string(struct rbuf *r, char *out, size_t outsz)
{
	const uint8_t *p;
	size_t n;
	size_t save = r->off;

	if (outsz == 0 || rbuf_blob(r, outsz - 1, &p, &n) != 0)
		return -1;
	if (memchr(p, '\0', n) != NULL) {
		r->off = save;
		return -1;
	}
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

void wbuf_init(struct wbuf *w, size_t max)
{
	memset(w, 0, sizeof(*w));
	w->max = max;
}

void wbuf_free(struct wbuf *w)
{
	if (w->p != NULL)
		OPENSSL_clear_free(w->p, w->cap);
	w->p = NULL;
	w->len = w->cap = 0;
}

void wbuf_reset(struct wbuf *w)
{
	w->len = 0;
	w->failed = 0;
}

int wbuf_failed(const struct wbuf *w)
{
	return w->failed;
}

static uint8_t *wbuf_reserve(struct wbuf *w, size_t n)
{
	size_t need, ncap;
	uint8_t *np;

	if (w->failed)
		return NULL;
	if (n > SIZE_MAX - w->len || (w->max != 0 && w->len + n > w->max))
		goto fail;
	need = w->len + n;
	if (need > w->cap) {
		ncap = w->cap ? w->cap : 256;
		while (ncap < need)
			ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
		/* Not realloc: the old contents may be secret and must be wiped. */
		np = OPENSSL_malloc(ncap);
		if (np == NULL)
			goto fail;
		if (w->p != NULL) {
			memcpy(np, w->p, w->len);
			OPENSSL_clear_free(w->p, w->cap);
		}
		w->p = np;
		w->cap = ncap;
	}
	np = w->p + w->len;
	w->len += n;
	return np;
fail:
	w->failed = 1;
	return NULL;
}

void wbuf_raw(struct wbuf *w, const void *p, size_t n)
{
	uint8_t *d = wbuf_reserve(w, n);

	if (d != NULL && n > 0)
		memcpy(d, p, n);
}

void wbuf_u8(struct wbuf *w, uint8_t v)
{
	wbuf_raw(w, &v, 1);
}

void wbuf_u16(struct wbuf *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	wbuf_raw(w, b, 2);
}

void wbuf_u32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	wbuf_raw(w, b, 4);
}

void wbuf_u64(struct wbuf *w, uint64_t v)
{
	wbuf_u32(w, (uint32_t)(v >> 32));
	wbuf_u32(w, (uint32_t)v);
}

void wbuf_blob(struct wbuf *w, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		w->failed = 1;
		return;
	}
	wbuf_u32(w, (uint32_t)n);
	wbuf_raw(w, p, n);
}

void wbuf_string(struct wbuf *w, const char *s)
{
	wbuf_blob(w, s, s ? strlen(s) : 0);
}

void wbuf_put_u32_at(struct wbuf *w, size_t off, uint32_t v)
{
	if (w->failed || off > w->len || w->len - off < 4) {
		w->failed = 1;
		return;
	}
	w->p[off] = (uint8_t)(v >> 24);
	w->p[off + 1] = (uint8_t)(v >> 16);
	w->p[off + 2] = (uint8_t)(v >> 8);
	w->p[off + 3] = (uint8_t)v;
}

void wbuf_vprintf(struct wbuf *w, const char *fmt, va_list ap)
{
	va_list ap2;
	uint8_t *d;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		w->failed = 1;
		return;
	}
	/* One extra byte for vsnprintf's NUL, then dropped from the length. */
	d = wbuf_reserve(w, (size_t)n + 1);
	if (d == NULL)
		return;
	vsnprintf((char *)d, (size_t)n + 1, fmt, ap);
	w->len--;
}

void wbuf_printf(struct wbuf *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	wbuf_vprintf(w, fmt, ap);
	va_end(ap);
}
