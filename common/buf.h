/*
 * Bounded buffers for every untrusted byte.
 *
 * struct rbuf is a read cursor over caller-owned memory. Every getter checks
 * the remaining length first and returns -1 without moving the cursor when
 * the data is short, so a parser can never read past the end.
 *
 * struct wbuf is a growable writer with a sticky failure flag: once a write
 * fails (allocation, or the size cap), later writes are ignored and the
 * encoder checks wbuf_failed() once at the end.
 *
 * Integers on the wire are big-endian. Strings and blobs are u32 length +
 * bytes.
 */
#ifndef SD_BUF_H
#define SD_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct rbuf {
	const uint8_t *p;
	size_t len;
	size_t off;
};

void rbuf_init(struct rbuf *r, const void *p, size_t len);
size_t rbuf_left(const struct rbuf *r);
int rbuf_u8(struct rbuf *r, uint8_t *v);
int rbuf_u16(struct rbuf *r, uint16_t *v);
int rbuf_u32(struct rbuf *r, uint32_t *v);
int rbuf_u64(struct rbuf *r, uint64_t *v);
/* Borrow n raw bytes. */
int rbuf_raw(struct rbuf *r, size_t n, const uint8_t **p);
/* u32 length + bytes, borrowed; fails when length > max. */
int rbuf_blob(struct rbuf *r, size_t max, const uint8_t **p, size_t *n);
/*
 * u32 length + bytes copied into out[outsz] with a NUL terminator. Fails on
 * an embedded NUL byte or when the string does not fit.
 */
int rbuf_string(struct rbuf *r, char *out, size_t outsz);

struct wbuf {
	uint8_t *p;
	size_t len;
	size_t cap;
	size_t max; /* 0: no cap */
	int failed;
};

void wbuf_init(struct wbuf *w, size_t max);
/* Frees the storage after wiping it. */
void wbuf_free(struct wbuf *w);
void wbuf_reset(struct wbuf *w);
int wbuf_failed(const struct wbuf *w);
void wbuf_u8(struct wbuf *w, uint8_t v);
void wbuf_u16(struct wbuf *w, uint16_t v);
void wbuf_u32(struct wbuf *w, uint32_t v);
void wbuf_u64(struct wbuf *w, uint64_t v);
void wbuf_raw(struct wbuf *w, const void *p, size_t n);
void wbuf_blob(struct wbuf *w, const void *p, size_t n);
void wbuf_string(struct wbuf *w, const char *s);
/* Append formatted text (no NUL); fails the wbuf on error. */
void wbuf_printf(struct wbuf *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void wbuf_vprintf(struct wbuf *w, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Overwrite a u32 previously written at off (for length prefixes). */
void wbuf_put_u32_at(struct wbuf *w, size_t off, uint32_t v);

#endif
