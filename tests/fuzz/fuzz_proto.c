/*
 * libFuzzer target: arbitrary bytes as a stream of frames, and every frame
 * body through every decoder. Whatever decodes is re-encoded and must decode
 * to the same value (the codecs are each other's inverse).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

/* SIGN_CAB, and SIGN_SCRIPT (the same body under its own type). */
static void fuzz_sign(const uint8_t *body, size_t len, int script)
{
	struct sd_sign_req r, r2;
	struct sd_err e;
	struct wbuf w;
	uint8_t type;
	const uint8_t *b2;
	size_t l2, consumed;

	if ((script ? proto_dec_sign_script(body, len, &r, &e)
		    : proto_dec_sign_cab(body, len, &r, &e)) != 0)
		return;
	wbuf_init(&w, SD_FRAME_MAX + 4);
	if (script)
		proto_enc_sign_script(&w, &r);
	else
		proto_enc_sign_cab(&w, &r);
	check(!wbuf_failed(&w));
	check(proto_frame_peek(w.p, w.len, &type, &b2, &l2, &consumed) == 1);
	check(type == (script ? SD_MSG_SIGN_SCRIPT : SD_MSG_SIGN_CAB) && l2 == len &&
	      memcmp(b2, body, len) == 0);
	check(proto_dec_sign_cab(b2, l2, &r2, &e) == 0);
	check(strcmp(r.key, r2.key) == 0 && r.digest_len == r2.digest_len);
	wbuf_free(&w);
}

static void fuzz_keys(const uint8_t *body, size_t len)
{
	struct sd_key_info *k = NULL;
	size_t n = 0;
	struct sd_err e;
	struct wbuf w;
	uint8_t type;
	const uint8_t *b2;
	size_t l2, consumed;

	if (proto_dec_keys(body, len, &k, &n, &e) != 0)
		return;
	if (len > SD_FRAME_MAX - 1) { /* the raw-input path: too big to re-frame */
		free(k);
		return;
	}
	wbuf_init(&w, SD_FRAME_MAX + 4);
	proto_enc_keys(&w, k, n);
	check(!wbuf_failed(&w));
	check(proto_frame_peek(w.p, w.len, &type, &b2, &l2, &consumed) == 1);
	check(l2 == len && memcmp(b2, body, len) == 0);
	wbuf_free(&w);
	free(k);
}

static void fuzz_body(const uint8_t *body, size_t len)
{
	struct sd_err e;
	uint32_t u;
	char s[SD_ERRMSG_MAX];
	char key[SD_KEYNAME_MAX];
	const uint8_t *p, *ders[SD_CERTS_MAX];
	size_t n, lens[SD_CERTS_MAX];
	char *text = NULL;

	(void)proto_dec_hello(body, len, &u, &e);
	(void)proto_dec_hello_ok(body, len, &u, s, sizeof(s), &e);
	fuzz_sign(body, len, 0);
	fuzz_sign(body, len, 1);
	(void)proto_dec_signature(body, len, &p, &n, &e);
	(void)proto_dec_get_cert(body, len, key, sizeof(key), &e);
	if (proto_dec_cert(body, len, ders, lens, SD_CERTS_MAX, &n, &e) == 0)
		check(n >= 1 && n <= SD_CERTS_MAX);
	fuzz_keys(body, len);
	if (proto_dec_status_ok(body, len, &text, &e) == 0)
		free(text);
	(void)proto_dec_error(body, len, &u, s, sizeof(s), &e);
	(void)proto_dec_empty(body, len, &e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t type;
	const uint8_t *body;
	size_t len, consumed;
	int rc;

	/* the input as a stream of frames, as a connection would deliver it */
	while ((rc = proto_frame_peek(data, size, &type, &body, &len, &consumed)) == 1) {
		check(consumed == len + 5 && consumed <= size);
		fuzz_body(body, len);
		data += consumed;
		size -= consumed;
	}
	/* and the raw input as a body, so decoders see bytes frame_peek would refuse */
	if (rc == -1 || size > 0)
		fuzz_body(data, size);
	return 0;
}
