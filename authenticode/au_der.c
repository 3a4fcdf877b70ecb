/* Strict DER primitives over struct rbuf / struct wbuf, and a bounded writer. */
#include "authenticode/au_internal.h"

#include <string.h>

/* Largest element we ever read or write (a SignedData is capped far below). */
#define AU_DER_MAX_LEN 0xffffffu

/* Reads tag and length; the cursor ends at the value. */
static int der_header(struct rbuf *r, uint8_t *tag, size_t *len)
{
	uint8_t b, n;
	size_t l = 0;

	if (rbuf_u8(r, tag) != 0 || (*tag & 0x1f) == 0x1f)
		return -1; /* missing, or high tag number form */
	if (rbuf_u8(r, &b) != 0)
		return -1;
	if (b < 0x80) {
		*len = b;
		return 0;
	}
	n = b & 0x7f;
	if (n == 0 || n > 3)
		return -1; /* indefinite length (BER), or larger than we accept */
	for (uint8_t i = 0; i < n; i++) {
		if (rbuf_u8(r, &b) != 0)
			return -1;
		if (i == 0 && b == 0)
			return -1; /* leading zero: not minimal */
		l = (l << 8) | b;
	}
	if (l < 0x80 || l > AU_DER_MAX_LEN)
		return -1; /* long form for a short length: not minimal */
	*len = l;
	return 0;
}

int au_der_get_any(struct rbuf *r, uint8_t *tag, const uint8_t **tlv, size_t *tlvlen)
{
	size_t start = r->off, len;
	const uint8_t *val;

	if (der_header(r, tag, &len) != 0 || rbuf_raw(r, len, &val) != 0) {
		r->off = start;
		return -1;
	}
	*tlv = r->p + start;
	*tlvlen = r->off - start;
	return 0;
}

int au_der_get(struct rbuf *r, uint8_t tag, const uint8_t **val, size_t *len)
{
	size_t start = r->off;
	uint8_t t;

	if (der_header(r, &t, len) != 0 || t != tag || rbuf_raw(r, *len, val) != 0) {
		r->off = start;
		return -1;
	}
	return 0;
}

int au_der_peek(const struct rbuf *r)
{
	if (rbuf_left(r) == 0)
		return -1;
	return r->p[r->off];
}

int au_der_single(const uint8_t *p, size_t n, uint8_t tag, size_t *hdrlen)
{
	struct rbuf r;
	const uint8_t *val;
	size_t len;

	rbuf_init(&r, p, n);
	if (au_der_get(&r, tag, &val, &len) != 0 || rbuf_left(&r) != 0)
		return -1;
	*hdrlen = (size_t)(val - p);
	return 0;
}

void au_der_put(struct wbuf *w, uint8_t tag, const void *val, size_t len)
{
	wbuf_u8(w, tag);
	if (len < 0x80) {
		wbuf_u8(w, (uint8_t)len);
	} else if (len <= 0xff) {
		wbuf_u8(w, 0x81);
		wbuf_u8(w, (uint8_t)len);
	} else if (len <= 0xffff) {
		wbuf_u8(w, 0x82);
		wbuf_u16(w, (uint16_t)len);
	} else if (len <= AU_DER_MAX_LEN) {
		wbuf_u8(w, 0x83);
		wbuf_u8(w, (uint8_t)(len >> 16));
		wbuf_u16(w, (uint16_t)len);
	} else {
		w->failed = 1;
		return;
	}
	wbuf_raw(w, val, len);
}

size_t au_der_hdr_len(size_t len)
{
	if (len < 0x80)
		return 2;
	if (len <= 0xff)
		return 3;
	if (len <= 0xffff)
		return 4;
	return 5;
}

size_t au_der_tlv_len(size_t len)
{
	return au_der_hdr_len(len) + len;
}

void au_dw_init(struct au_dw *w, uint8_t *p, size_t cap)
{
	w->p = p;
	w->cap = cap;
	w->len = 0;
	w->failed = 0;
}

void au_dw_raw(struct au_dw *w, const void *v, size_t n)
{
	if (w->failed || n > w->cap - w->len) {
		w->failed = 1;
		return;
	}
	if (n > 0)
		memcpy(w->p + w->len, v, n);
	w->len += n;
}

void au_dw_hdr(struct au_dw *w, uint8_t tag, size_t len)
{
	uint8_t h[5];
	size_t n = au_der_hdr_len(len);

	if (len > AU_DER_MAX_LEN) {
		w->failed = 1;
		return;
	}
	h[0] = tag;
	if (n == 2) {
		h[1] = (uint8_t)len;
	} else {
		h[1] = (uint8_t)(0x80 | (n - 2));
		for (size_t i = 0; i < n - 2; i++)
			h[n - 1 - i] = (uint8_t)(len >> (8 * i));
	}
	au_dw_raw(w, h, n);
}

void au_dw_tlv(struct au_dw *w, uint8_t tag, const void *v, size_t n)
{
	au_dw_hdr(w, tag, n);
	au_dw_raw(w, v, n);
}
