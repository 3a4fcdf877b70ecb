/* Unit tests for proto/: framing, every message codec, and the known answers
 * that docs/PROTOCOL.md shows (read from the document at test time). */
#include <CUnit/Basic.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"
#include "proto/proto.h"

#ifndef SD_PROTOCOL_MD
#error "SD_PROTOCOL_MD must name docs/PROTOCOL.md"
#endif

/* The SIGN_CAB example of docs/PROTOCOL.md, computed independently. */
static const char kat_sign_cab_hex[] =
    "00000073"
    "10"
    "00000009777375732d32303236"
    "00000006736861323536"
    "00000020000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "0000000f436f6e746f736f2055706461746573"
    "0000002068747470733a2f2f757064617465732e636f6e746f736f2e6578616d706c652f";

/*
 * The SIGN_SCRIPT example of docs/PROTOCOL.md: the default key, sha256, the
 * digest of the script 'Write-Host "hello"' CRLF '$x = 1' CRLF (as
 * osslsigncode computes it), a program name and no URL.
 */
static const char kat_sign_script_hex[] =
    "00000051"
    "20"
    "00000000"
    "00000006736861323536"
    "000000207820734af9cd1f52e2c9e8006b26574a0bc0487b1cdc28325d8d85cbbf0556df"
    "00000016436f6e746f736f20496e74756e652073637269707473"
    "00000000";

static const char kat_error_hex[] = "00000021"
				    "7f"
				    "00000003"
				    "000000186e6f206b6579206e616d65642022777375732d3230323522";

static void kat_sign_req(struct sd_sign_req *r, uint8_t digest[32])
{
	size_t i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < 32; i++)
		digest[i] = (uint8_t)i;
	strcpy(r->key, "wsus-2026");
	strcpy(r->digest_alg, "sha256");
	r->digest = digest;
	r->digest_len = 32;
	strcpy(r->program, "Contoso Updates");
	strcpy(r->url, "https://updates.contoso.example/");
}

/* Encode a SIGN_CAB frame and return its body (a copy, free()d by the caller). */
static uint8_t *sign_cab_body(const struct sd_sign_req *r, size_t *len)
{
	struct wbuf w;
	uint8_t *b;

	wbuf_init(&w, 0);
	proto_enc_sign_cab(&w, r);
	CU_ASSERT_FATAL(!wbuf_failed(&w));
	*len = w.len - 5;
	b = malloc(*len + 16);
	CU_ASSERT_FATAL(b != NULL);
	memcpy(b, w.p + 5, *len);
	wbuf_free(&w);
	return b;
}

/* Peek exactly one whole frame of the expected type filling w. */
static void peek_one(const struct wbuf *w, uint8_t want_type, const uint8_t **body, size_t *len)
{
	uint8_t type = 0;
	size_t consumed = 0;

	CU_ASSERT_FATAL(!wbuf_failed(w));
	CU_ASSERT_EQUAL_FATAL(proto_frame_peek(w->p, w->len, &type, body, len, &consumed), 1);
	CU_ASSERT_EQUAL(type, want_type);
	CU_ASSERT_EQUAL(consumed, w->len);
}

static void test_kat_sign_cab(void)
{
	struct sd_sign_req r, d;
	uint8_t digest[32];
	struct wbuf w;
	char hex[2 * 200 + 1];
	const uint8_t *body;
	size_t len;
	struct sd_err e = {0};

	kat_sign_req(&r, digest);
	wbuf_init(&w, 0);
	proto_enc_sign_cab(&w, &r);
	CU_ASSERT_FATAL(!wbuf_failed(&w));
	CU_ASSERT_EQUAL_FATAL(w.len, 119);
	sd_hex(w.p, w.len, hex);
	CU_ASSERT_STRING_EQUAL(hex, kat_sign_cab_hex);

	peek_one(&w, SD_MSG_SIGN_CAB, &body, &len);
	CU_ASSERT_EQUAL(len, 114);
	CU_ASSERT_EQUAL(proto_dec_sign_cab(body, len, &d, &e), 0);
	CU_ASSERT_STRING_EQUAL(d.key, "wsus-2026");
	CU_ASSERT_STRING_EQUAL(d.digest_alg, "sha256");
	CU_ASSERT_EQUAL(d.digest_len, 32);
	CU_ASSERT_EQUAL(memcmp(d.digest, digest, 32), 0);
	CU_ASSERT_STRING_EQUAL(d.program, "Contoso Updates");
	CU_ASSERT_STRING_EQUAL(d.url, "https://updates.contoso.example/");
	wbuf_free(&w);
}

static void test_kat_sign_script(void)
{
	static const char digest_hex[] =
	    "7820734af9cd1f52e2c9e8006b26574a0bc0487b1cdc28325d8d85cbbf0556df";
	struct sd_sign_req r, d;
	uint8_t digest[32], *body2;
	struct wbuf w;
	char hex[2 * 200 + 1];
	const uint8_t *body;
	size_t len;
	struct sd_err e = {0};

	memset(&r, 0, sizeof(r));
	CU_ASSERT_EQUAL_FATAL(sd_unhex(digest_hex, digest, sizeof(digest)), 32);
	strcpy(r.digest_alg, "sha256");
	r.digest = digest;
	r.digest_len = 32;
	strcpy(r.program, "Contoso Intune scripts");
	wbuf_init(&w, 0);
	proto_enc_sign_script(&w, &r);
	CU_ASSERT_FATAL(!wbuf_failed(&w));
	CU_ASSERT_EQUAL_FATAL(w.len, 85);
	sd_hex(w.p, w.len, hex);
	CU_ASSERT_STRING_EQUAL(hex, kat_sign_script_hex);
	peek_one(&w, SD_MSG_SIGN_SCRIPT, &body, &len);
	CU_ASSERT_EQUAL(len, 80);
	CU_ASSERT_EQUAL(proto_dec_sign_script(body, len, &d, &e), 0);
	CU_ASSERT_STRING_EQUAL(d.key, "");
	CU_ASSERT_STRING_EQUAL(d.digest_alg, "sha256");
	CU_ASSERT(d.digest_len == 32 && memcmp(d.digest, digest, 32) == 0);
	CU_ASSERT_STRING_EQUAL(d.program, "Contoso Intune scripts");
	CU_ASSERT_STRING_EQUAL(d.url, "");
	/* The same body as SIGN_CAB; errors name SIGN_SCRIPT. */
	CU_ASSERT_EQUAL(proto_dec_sign_cab(body, len, &d, &e), 0);
	body2 = malloc(len + 1);
	CU_ASSERT_FATAL(body2 != NULL);
	memcpy(body2, body, len);
	body2[len] = 0;
	CU_ASSERT_EQUAL(proto_dec_sign_script(body2, len + 1, &d, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "SIGN_SCRIPT: 1 trailing byte");
	CU_ASSERT_EQUAL(proto_dec_sign_script(body2, 3, &d, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "SIGN_SCRIPT: missing key name");
	body2[17] = 65; /* digest length 65 */
	CU_ASSERT_EQUAL(proto_dec_sign_script(body2, len, &d, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_BAD_DIGEST_LENGTH);
	CU_ASSERT_STRING_EQUAL(e.msg, "SIGN_SCRIPT: digest is longer than 64 bytes");
	free(body2);
	/* An encoder given what would not decode fails the wbuf. */
	wbuf_reset(&w);
	r.digest_len = 65;
	proto_enc_sign_script(&w, &r);
	CU_ASSERT(wbuf_failed(&w));
	wbuf_free(&w);
}

static void test_kat_error(void)
{
	struct wbuf w;
	char hex[2 * 64 + 1];

	wbuf_init(&w, 0);
	proto_enc_error(&w, SD_E_UNKNOWN_KEY, "no key named \"wsus-2025\"");
	CU_ASSERT_FATAL(!wbuf_failed(&w));
	CU_ASSERT_EQUAL_FATAL(w.len, 37);
	sd_hex(w.p, w.len, hex);
	CU_ASSERT_STRING_EQUAL(hex, kat_error_hex);
	wbuf_free(&w);
}

/*
 * Extract the hex of the annotated block that follows "<!-- kat:NAME -->" in
 * docs/PROTOCOL.md: in each line of the fenced block, the text before the
 * first run of two spaces is hex groups separated by single spaces.
 */
static int doc_kat(const char *doc, const char *name, char *out, size_t outsz)
{
	char marker[64];
	const char *p, *end, *eol, *q;
	size_t n = 0;

	snprintf(marker, sizeof(marker), "<!-- kat:%s -->", name);
	p = strstr(doc, marker);
	if (p == NULL || (p = strstr(p, "```")) == NULL || (p = strchr(p, '\n')) == NULL)
		return -1;
	p++;
	end = strstr(p, "```");
	if (end == NULL)
		return -1;
	for (; p < end; p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		for (q = p; q < eol; q++) {
			if (q[0] == ' ' && q + 1 < eol && q[1] == ' ')
				break;
			if (*q == ' ')
				continue;
			if (!isxdigit((unsigned char)*q) || n + 1 >= outsz)
				return -1;
			out[n++] = (char)tolower((unsigned char)*q);
		}
		if (eol == end)
			break;
	}
	out[n] = '\0';
	return 0;
}

static void test_doc_matches_code(void)
{
	uint8_t *doc = NULL;
	size_t len;
	struct sd_err e = {0};
	char hex[1024];

	CU_ASSERT_EQUAL_FATAL(sd_read_file(SD_PROTOCOL_MD, 1 << 20, &doc, &len, &e), 0);
	CU_ASSERT_EQUAL(doc_kat((const char *)doc, "sign_cab", hex, sizeof(hex)), 0);
	CU_ASSERT_STRING_EQUAL(hex, kat_sign_cab_hex);
	CU_ASSERT_EQUAL(doc_kat((const char *)doc, "error", hex, sizeof(hex)), 0);
	CU_ASSERT_STRING_EQUAL(hex, kat_error_hex);
	CU_ASSERT_EQUAL(doc_kat((const char *)doc, "sign_script", hex, sizeof(hex)), 0);
	CU_ASSERT_STRING_EQUAL(hex, kat_sign_script_hex);
	CU_ASSERT_PTR_NOT_NULL(strstr((const char *)doc, kat_sign_script_hex));
	/* the document's one-line forms must match too */
	CU_ASSERT_PTR_NOT_NULL(strstr((const char *)doc, kat_sign_cab_hex));
	CU_ASSERT_PTR_NOT_NULL(strstr((const char *)doc, kat_error_hex));
	free(doc);
}

static void test_frame_peek_short(void)
{
	static const uint8_t f[] = {0, 0, 0, 1, SD_MSG_STATUS};
	uint8_t type = 0;
	const uint8_t *body = NULL;
	size_t len = 7, consumed = 7;

	CU_ASSERT_EQUAL(proto_frame_peek(f, 0, &type, &body, &len, &consumed), 0);
	CU_ASSERT_EQUAL(proto_frame_peek(f, 1, &type, &body, &len, &consumed), 0);
	CU_ASSERT_EQUAL(proto_frame_peek(f, 3, &type, &body, &len, &consumed), 0);
	CU_ASSERT_EQUAL(proto_frame_peek(f, 4, &type, &body, &len, &consumed), 0);
	CU_ASSERT_EQUAL(consumed, 7); /* untouched until a frame is complete */
	CU_ASSERT_EQUAL(proto_frame_peek(f, 5, &type, &body, &len, &consumed), 1);
	CU_ASSERT_EQUAL(type, SD_MSG_STATUS);
	CU_ASSERT_EQUAL(len, 0);
	CU_ASSERT_PTR_EQUAL(body, f + 5);
	CU_ASSERT_EQUAL(consumed, 5);
}

static void test_frame_peek_lengths(void)
{
	static const uint8_t zero[] = {0, 0, 0, 0};
	static const uint8_t over[] = {0, 1, 0, 1}; /* 65537 */
	static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff};
	uint8_t *max;
	uint8_t type;
	const uint8_t *body;
	size_t len, consumed;

	/* rejected as soon as the 4 length bytes are in */
	CU_ASSERT_EQUAL(proto_frame_peek(zero, 4, &type, &body, &len, &consumed), -1);
	CU_ASSERT_EQUAL(proto_frame_peek(over, 4, &type, &body, &len, &consumed), -1);
	CU_ASSERT_EQUAL(proto_frame_peek(huge, 4, &type, &body, &len, &consumed), -1);

	max = calloc(1, 4 + 65536);
	CU_ASSERT_FATAL(max != NULL);
	max[1] = 1; /* 0x00010000 = 65536: the largest legal length */
	max[4] = SD_MSG_SIGNATURE;
	CU_ASSERT_EQUAL(proto_frame_peek(max, 4, &type, &body, &len, &consumed), 0);
	CU_ASSERT_EQUAL(proto_frame_peek(max, 4 + 65535, &type, &body, &len, &consumed), 0);
	CU_ASSERT_EQUAL(proto_frame_peek(max, 4 + 65536, &type, &body, &len, &consumed), 1);
	CU_ASSERT_EQUAL(len, 65535);
	CU_ASSERT_EQUAL(consumed, 65540);
	free(max);
}

static void test_frame_split(void)
{
	struct wbuf w;
	struct sd_sign_req r;
	uint8_t digest[32], acc[512];
	size_t total, split, have, fed, i, got;
	uint8_t types[3];
	int ok = 1;

	wbuf_init(&w, 0);
	kat_sign_req(&r, digest);
	proto_enc_hello(&w, 1);
	proto_enc_sign_cab(&w, &r);
	proto_enc_status(&w);
	CU_ASSERT_FATAL(!wbuf_failed(&w));
	total = w.len;
	CU_ASSERT_FATAL(total < sizeof(acc));

	/* deliver the stream in two reads split at every offset */
	for (split = 0; split <= total; split++) {
		have = fed = got = 0;
		for (i = 0; i < 2; i++) {
			size_t chunk = i == 0 ? split : total - split;
			uint8_t type;
			const uint8_t *body;
			size_t len, consumed;
			int rc;

			memcpy(acc + have, w.p + fed, chunk);
			have += chunk;
			fed += chunk;
			while ((rc = proto_frame_peek(acc, have, &type, &body, &len, &consumed)) ==
			       1) {
				if (got < 3)
					types[got] = type;
				got++;
				memmove(acc, acc + consumed, have - consumed);
				have -= consumed;
			}
			ok &= rc == 0;
		}
		ok &= got == 3 && have == 0 && types[0] == SD_MSG_HELLO &&
		      types[1] == SD_MSG_SIGN_CAB && types[2] == SD_MSG_STATUS;
	}
	CU_ASSERT_TRUE(ok);
	wbuf_free(&w);
}

static void test_hello(void)
{
	struct wbuf w;
	const uint8_t *body;
	size_t len;
	uint32_t v = 0;
	char server[SD_SERVER_MAX];
	struct sd_err e = {0};

	wbuf_init(&w, 0);
	proto_enc_hello(&w, 7);
	peek_one(&w, SD_MSG_HELLO, &body, &len);
	CU_ASSERT_EQUAL(proto_dec_hello(body, len, &v, &e), 0);
	CU_ASSERT_EQUAL(v, 7);
	CU_ASSERT_EQUAL(proto_dec_hello(body, 3, &v, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "HELLO: missing version");
	CU_ASSERT_EQUAL(e.code, SD_E_BAD_REQUEST);

	wbuf_reset(&w);
	proto_enc_hello_ok(&w, 1, "signerd 0.1.0");
	peek_one(&w, SD_MSG_HELLO_OK, &body, &len);
	CU_ASSERT_EQUAL(proto_dec_hello_ok(body, len, &v, server, sizeof(server), &e), 0);
	CU_ASSERT_EQUAL(v, 1);
	CU_ASSERT_STRING_EQUAL(server, "signerd 0.1.0");
	/* a caller buffer too small is a precise failure, not a truncation */
	CU_ASSERT_EQUAL(proto_dec_hello_ok(body, len, &v, server, 5, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "HELLO_OK: server string is longer than 4 bytes");
	wbuf_free(&w);
}

static void test_sign_cab_optional_absent(void)
{
	struct sd_sign_req r, d;
	uint8_t digest[64];
	uint8_t *body;
	size_t len;
	struct sd_err e = {0};

	memset(&r, 0, sizeof(r));
	memset(digest, 0xa5, sizeof(digest));
	strcpy(r.digest_alg, "sha512");
	r.digest = digest;
	r.digest_len = 64;
	body = sign_cab_body(&r, &len);
	CU_ASSERT_EQUAL(len, 4 + 4 + 6 + 4 + 64 + 4 + 4);
	CU_ASSERT_EQUAL(proto_dec_sign_cab(body, len, &d, &e), 0);
	CU_ASSERT_STRING_EQUAL(d.key, "");
	CU_ASSERT_STRING_EQUAL(d.digest_alg, "sha512");
	CU_ASSERT_EQUAL(d.digest_len, 64);
	CU_ASSERT_EQUAL(memcmp(d.digest, digest, 64), 0);
	CU_ASSERT_STRING_EQUAL(d.program, "");
	CU_ASSERT_STRING_EQUAL(d.url, "");
	free(body);
}

static void test_sign_cab_truncated(void)
{
	struct sd_sign_req r, d;
	uint8_t digest[32];
	uint8_t *body;
	size_t len, cut;
	struct sd_err e;
	int ok = 1;

	kat_sign_req(&r, digest);
	body = sign_cab_body(&r, &len);
	for (cut = 0; cut < len; cut++) {
		memset(&e, 0, sizeof(e));
		ok &= proto_dec_sign_cab(body, cut, &d, &e) == -1;
		ok &= e.code == SD_E_BAD_REQUEST;
		ok &= strncmp(e.msg, "SIGN_CAB: ", 10) == 0;
	}
	CU_ASSERT_TRUE(ok);

	CU_ASSERT_EQUAL(proto_dec_sign_cab(body, 0, &d, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "SIGN_CAB: missing key name");
	/* cut inside the key name: its length points past the frame */
	CU_ASSERT_EQUAL(proto_dec_sign_cab(body, 10, &d, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg,
			       "SIGN_CAB: key name length 9 runs past the end of the frame (6 "
			       "bytes left)");
	/* everything up to the URL */
	CU_ASSERT_EQUAL(proto_dec_sign_cab(body, len - 36, &d, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "SIGN_CAB: missing URL");

	/* trailing bytes */
	memcpy(body + len, "\0\0\0", 3);
	CU_ASSERT_EQUAL(proto_dec_sign_cab(body, len + 3, &d, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "SIGN_CAB: 3 trailing bytes");
	CU_ASSERT_EQUAL(e.code, SD_E_BAD_REQUEST);
	CU_ASSERT_EQUAL(proto_dec_sign_cab(body, len + 1, &d, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "SIGN_CAB: 1 trailing byte");
	free(body);
}

static void test_sign_cab_bad_fields(void)
{
	struct sd_sign_req r, d;
	uint8_t digest[65];
	uint8_t *body;
	size_t len;
	struct sd_err e;

	memset(&r, 0, sizeof(r));
	memset(digest, 1, sizeof(digest));
	strcpy(r.digest_alg, "sha256");
	r.digest = digest;
	r.digest_len = 32;

	/* 127-byte key name: the longest accepted */
	memset(r.key, 'k', 127);
	body = sign_cab_body(&r, &len);
	CU_ASSERT_EQUAL(proto_dec_sign_cab(body, len, &d, &e), 0);
	CU_ASSERT_EQUAL(strlen(d.key), 127);
	/* patch the length to 128 (the encoder will not produce it) */
	body[3] = 128;
	CU_ASSERT_EQUAL(proto_dec_sign_cab(body, len, &d, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "SIGN_CAB: key name is longer than 127 bytes");
	CU_ASSERT_EQUAL(e.code, SD_E_BAD_REQUEST);
	body[3] = 127;
	/* NUL inside the key name */
	body[4 + 5] = '\0';
	CU_ASSERT_EQUAL(proto_dec_sign_cab(body, len, &d, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "SIGN_CAB: key name contains a NUL byte");
	free(body);

	/* key name length pointing far past the frame */
	memset(r.key, 0, sizeof(r.key));
	strcpy(r.key, "k");
	body = sign_cab_body(&r, &len);
	body[3] = 100;
	CU_ASSERT_EQUAL(proto_dec_sign_cab(body, len, &d, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_BAD_REQUEST);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "SIGN_CAB: key name length 100 runs past the end"));
	/* 0xffffffff: over the cap before anything else */
	body[0] = body[1] = body[2] = body[3] = 0xff;
	CU_ASSERT_EQUAL(proto_dec_sign_cab(body, len, &d, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "SIGN_CAB: key name is longer than 127 bytes");
	free(body);

	/* digest algorithm name over 15 bytes */
	body = sign_cab_body(&r, &len);
	/* key "k" = 5 bytes, then the algorithm length */
	body[8] = 16;
	CU_ASSERT_EQUAL(proto_dec_sign_cab(body, len, &d, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "SIGN_CAB: digest algorithm is longer than 15 bytes");
	free(body);

	/* a 65-byte digest is the wrong length for every algorithm */
	r.digest_len = 64;
	body = sign_cab_body(&r, &len);
	body[5 + 10 + 3] = 65;
	CU_ASSERT_EQUAL(proto_dec_sign_cab(body, len, &d, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_BAD_DIGEST_LENGTH);
	CU_ASSERT_STRING_EQUAL(e.msg, "SIGN_CAB: digest is longer than 64 bytes");
	free(body);

	/* NUL in the URL */
	strcpy(r.url, "http://x/");
	body = sign_cab_body(&r, &len);
	body[len - 2] = '\0';
	CU_ASSERT_EQUAL(proto_dec_sign_cab(body, len, &d, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "SIGN_CAB: URL contains a NUL byte");
	free(body);
}

static void test_sign_cab_encoder_refuses(void)
{
	struct sd_sign_req r;
	uint8_t digest[65] = {0};
	struct wbuf w;

	memset(&r, 0, sizeof(r));
	strcpy(r.digest_alg, "sha512");
	r.digest = digest;
	r.digest_len = 65;
	wbuf_init(&w, 0);
	proto_enc_sign_cab(&w, &r);
	CU_ASSERT_TRUE(wbuf_failed(&w));
	wbuf_free(&w);

	/* a key name filling its whole buffer (no NUL) is refused */
	r.digest_len = 64;
	memset(r.key, 'k', sizeof(r.key));
	wbuf_init(&w, 0);
	proto_enc_get_cert(&w, "");
	CU_ASSERT_FALSE(wbuf_failed(&w));
	{
		char long_key[SD_KEYNAME_MAX + 1];

		memset(long_key, 'k', SD_KEYNAME_MAX);
		long_key[SD_KEYNAME_MAX] = '\0';
		proto_enc_get_cert(&w, long_key);
		CU_ASSERT_TRUE(wbuf_failed(&w));
	}
	wbuf_free(&w);
}

static void test_signature(void)
{
	struct wbuf w;
	uint8_t *p7;
	const uint8_t *body, *got;
	size_t len, glen;
	struct sd_err e = {0};

	p7 = malloc(65532);
	CU_ASSERT_FATAL(p7 != NULL);
	memset(p7, 0x30, 65532);

	/* 1 (type) + 4 + 65531 = 65536: the largest SIGNATURE frame */
	wbuf_init(&w, 0);
	proto_enc_signature(&w, p7, 65531);
	peek_one(&w, SD_MSG_SIGNATURE, &body, &len);
	CU_ASSERT_EQUAL(w.len, 65540);
	CU_ASSERT_EQUAL(proto_dec_signature(body, len, &got, &glen, &e), 0);
	CU_ASSERT_EQUAL(glen, 65531);
	CU_ASSERT_EQUAL(memcmp(got, p7, glen), 0);
	CU_ASSERT_EQUAL(proto_dec_signature(body, len - 1, &got, &glen, &e), -1);

	/* one more byte does not fit in a frame */
	wbuf_reset(&w);
	proto_enc_signature(&w, p7, 65532);
	CU_ASSERT_TRUE(wbuf_failed(&w));

	/* empty signature is refused */
	wbuf_reset(&w);
	proto_enc_signature(&w, p7, 0);
	peek_one(&w, SD_MSG_SIGNATURE, &body, &len);
	CU_ASSERT_EQUAL(proto_dec_signature(body, len, &got, &glen, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "SIGNATURE: empty PKCS#7");
	wbuf_free(&w);
	free(p7);
}

static void test_cert(void)
{
	static const uint8_t a[] = {0x30, 0x01, 0xaa}, b[] = {0x30, 0x00}, c[] = {0x30, 0x02, 1, 2};
	const uint8_t *const ders[] = {a, b, c};
	const size_t lens[] = {sizeof(a), sizeof(b), sizeof(c)};
	const uint8_t *gd[4];
	size_t gl[4], n = 0;
	struct wbuf w;
	const uint8_t *body;
	size_t len;
	char key[SD_KEYNAME_MAX];
	struct sd_err e = {0};

	wbuf_init(&w, 0);
	proto_enc_get_cert(&w, "wsus-2026");
	peek_one(&w, SD_MSG_GET_CERT, &body, &len);
	CU_ASSERT_EQUAL(proto_dec_get_cert(body, len, key, sizeof(key), &e), 0);
	CU_ASSERT_STRING_EQUAL(key, "wsus-2026");
	CU_ASSERT_EQUAL(proto_dec_get_cert(body, len - 1, key, sizeof(key), &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "GET_CERT: key name length 9 runs past the end of the frame "
				      "(8 bytes left)");

	wbuf_reset(&w);
	proto_enc_cert(&w, ders, lens, 3);
	peek_one(&w, SD_MSG_CERT, &body, &len);
	CU_ASSERT_EQUAL(len, 4 + 7 + 6 + 8);
	CU_ASSERT_EQUAL(proto_dec_cert(body, len, gd, gl, 4, &n, &e), 0);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_EQUAL(gl[0], 3);
	CU_ASSERT_EQUAL(memcmp(gd[0], a, 3), 0);
	CU_ASSERT_EQUAL(gl[2], 4);
	CU_ASSERT_EQUAL(memcmp(gd[2], c, 4), 0);
	CU_ASSERT_EQUAL(proto_dec_cert(body, len, gd, gl, 2, &n, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "CERT: 3 certificates, at most 2 accepted");
	CU_ASSERT_EQUAL(proto_dec_cert(body, len - 1, gd, gl, 4, &n, &e), -1);
	CU_ASSERT_EQUAL(proto_dec_cert(body, 0, gd, gl, 4, &n, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "CERT: missing certificate count");

	wbuf_reset(&w);
	proto_enc_cert(&w, ders, lens, 0);
	peek_one(&w, SD_MSG_CERT, &body, &len);
	CU_ASSERT_EQUAL(proto_dec_cert(body, len, gd, gl, 4, &n, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "CERT: no certificate");
	wbuf_free(&w);
}

static void fill_key(struct sd_key_info *k, const char *name, int def)
{
	memset(k, 0, sizeof(*k));
	strcpy(k->name, name);
	k->is_default = (uint8_t)def;
	strcpy(k->state, def ? "active" : "retired");
	strcpy(k->subject, "CN=Contoso WSUS Signing,O=Contoso");
	strcpy(k->serial, "0A1B2C");
	strcpy(k->sha1, "0123456789abcdef0123456789abcdef01234567");
	strcpy(k->not_after, "2031-01-01T00:00:00Z");
	strcpy(k->revocation, def ? "not-applicable" : "good");
	strcpy(k->crl_next_update, def ? "" : "2026-01-08T00:00:00Z");
}

static void test_keys(void)
{
	struct sd_key_info in[2], *out = NULL;
	size_t n = 0;
	struct wbuf w;
	const uint8_t *body;
	size_t len;
	struct sd_err e = {0};
	uint8_t bad[8];

	fill_key(&in[0], "wsus-2026", 1);
	fill_key(&in[1], "wsus-2021", 0);
	wbuf_init(&w, 0);
	proto_enc_list_keys(&w);
	peek_one(&w, SD_MSG_LIST_KEYS, &body, &len);
	CU_ASSERT_EQUAL(w.len, 5);
	CU_ASSERT_EQUAL(proto_dec_empty(body, len, &e), 0);

	wbuf_reset(&w);
	proto_enc_keys(&w, in, 2);
	peek_one(&w, SD_MSG_KEYS, &body, &len);
	CU_ASSERT_EQUAL_FATAL(proto_dec_keys(body, len, &out, &n, &e), 0);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(memcmp(&out[0], &in[0], sizeof(in[0])), 0);
	CU_ASSERT_EQUAL(memcmp(&out[1], &in[1], sizeof(in[1])), 0);
	free(out);
	out = NULL;
	CU_ASSERT_EQUAL(proto_dec_keys(body, len - 1, &out, &n, &e), -1);
	CU_ASSERT_PTR_NULL(out);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "KEYS entry 1: CRL nextUpdate length 20 runs past"));

	/* default flag must be 0 or 1 */
	((uint8_t *)body)[4 + 4 + 9] = 2;
	CU_ASSERT_EQUAL(proto_dec_keys(body, len, &out, &n, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "KEYS entry 0: default flag is 2, not 0 or 1");

	/* zero keys */
	wbuf_reset(&w);
	proto_enc_keys(&w, in, 0);
	peek_one(&w, SD_MSG_KEYS, &body, &len);
	CU_ASSERT_EQUAL(proto_dec_keys(body, len, &out, &n, &e), 0);
	CU_ASSERT_EQUAL(n, 0);
	free(out);
	out = NULL;

	/* a huge count is refused before allocating */
	memset(bad, 0, sizeof(bad));
	bad[0] = bad[1] = bad[2] = bad[3] = 0xff;
	CU_ASSERT_EQUAL(proto_dec_keys(bad, sizeof(bad), &out, &n, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "KEYS: count 4294967295 does not fit in the 4 bytes left");
	CU_ASSERT_PTR_NULL(out);
	wbuf_free(&w);
}

static void test_status(void)
{
	struct wbuf w;
	const uint8_t *body;
	size_t len;
	char *text = NULL;
	struct sd_err e = {0};

	wbuf_init(&w, 0);
	proto_enc_status(&w);
	peek_one(&w, SD_MSG_STATUS, &body, &len);
	CU_ASSERT_EQUAL(proto_dec_empty(body, len, &e), 0);

	wbuf_reset(&w);
	proto_enc_status_ok(&w, "uptime: 3s\nsignatures: 0\n");
	peek_one(&w, SD_MSG_STATUS_OK, &body, &len);
	CU_ASSERT_EQUAL_FATAL(proto_dec_status_ok(body, len, &text, &e), 0);
	CU_ASSERT_STRING_EQUAL(text, "uptime: 3s\nsignatures: 0\n");
	free(text);
	text = NULL;
	((uint8_t *)body)[6] = '\0';
	CU_ASSERT_EQUAL(proto_dec_status_ok(body, len, &text, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "STATUS_OK: text contains a NUL byte");
	CU_ASSERT_PTR_NULL(text);

	CU_ASSERT_EQUAL(proto_dec_empty((const uint8_t *)"abc", 3, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_BAD_REQUEST);
	CU_ASSERT_STRING_EQUAL(e.msg, "empty message has 3 trailing bytes");
	wbuf_free(&w);
}

static void test_error(void)
{
	struct wbuf w;
	const uint8_t *body;
	size_t len;
	uint32_t code = 0;
	char msg[SD_ERRMSG_MAX], big[2000];
	struct sd_err e = {0};
	size_t i;

	wbuf_init(&w, 0);
	proto_enc_error(&w, SD_E_CERT_REVOKED, "key wsus-2021: certificate revoked");
	peek_one(&w, SD_MSG_ERROR, &body, &len);
	CU_ASSERT_EQUAL(proto_dec_error(body, len, &code, msg, sizeof(msg), &e), 0);
	CU_ASSERT_EQUAL(code, SD_E_CERT_REVOKED);
	CU_ASSERT_STRING_EQUAL(msg, "key wsus-2021: certificate revoked");
	CU_ASSERT_EQUAL(proto_dec_error(body, 2, &code, msg, sizeof(msg), &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "ERROR: missing code");

	/* long messages are cut on a UTF-8 boundary and still decode */
	for (i = 0; i + 2 < sizeof(big); i += 2) {
		big[i] = (char)0xc3;
		big[i + 1] = (char)0xa9; /* U+00E9 */
	}
	big[i] = '\0';
	wbuf_reset(&w);
	proto_enc_error(&w, SD_E_INTERNAL, big);
	peek_one(&w, SD_MSG_ERROR, &body, &len);
	CU_ASSERT_EQUAL(proto_dec_error(body, len, &code, msg, sizeof(msg), &e), 0);
	CU_ASSERT_EQUAL(strlen(msg), 510);
	CU_ASSERT_EQUAL((uint8_t)msg[509], 0xa9);
	wbuf_free(&w);
}

static void test_msg_names(void)
{
	CU_ASSERT_STRING_EQUAL(proto_msg_name(SD_MSG_SIGN_CAB), "SIGN_CAB");
	CU_ASSERT_STRING_EQUAL(proto_msg_name(SD_MSG_ERROR), "ERROR");
	CU_ASSERT_STRING_EQUAL(proto_msg_name(0x20), "SIGN_SCRIPT");
	CU_ASSERT_STRING_EQUAL(proto_msg_name(0x21), "UNKNOWN");
	CU_ASSERT_EQUAL(SD_MSG_SIGN_SCRIPT, 0x20);
	CU_ASSERT_EQUAL(SD_MSG_HELLO, 0x01);
	CU_ASSERT_EQUAL(SD_MSG_STATUS_OK, 0x17);
	CU_ASSERT_EQUAL(SD_MSG_ERROR, 0x7f);
}

int main(void)
{
	CU_pSuite s;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("proto", NULL, NULL);
	if (s == NULL || !CU_add_test(s, "SIGN_CAB known answer", test_kat_sign_cab) ||
	    !CU_add_test(s, "SIGN_SCRIPT known answer", test_kat_sign_script) ||
	    !CU_add_test(s, "ERROR known answer", test_kat_error) ||
	    !CU_add_test(s, "PROTOCOL.md examples match the code", test_doc_matches_code) ||
	    !CU_add_test(s, "frame_peek on 0/1/3/4/5 bytes", test_frame_peek_short) ||
	    !CU_add_test(s, "frame_peek lengths 0, 65536, 65537", test_frame_peek_lengths) ||
	    !CU_add_test(s, "frames split at every offset", test_frame_split) ||
	    !CU_add_test(s, "HELLO and HELLO_OK", test_hello) ||
	    !CU_add_test(s, "SIGN_CAB without optional fields", test_sign_cab_optional_absent) ||
	    !CU_add_test(s, "SIGN_CAB truncated and trailing", test_sign_cab_truncated) ||
	    !CU_add_test(s, "SIGN_CAB bad fields", test_sign_cab_bad_fields) ||
	    !CU_add_test(s, "encoders refuse what would not decode",
			 test_sign_cab_encoder_refuses) ||
	    !CU_add_test(s, "SIGNATURE", test_signature) ||
	    !CU_add_test(s, "GET_CERT and CERT", test_cert) ||
	    !CU_add_test(s, "LIST_KEYS and KEYS", test_keys) ||
	    !CU_add_test(s, "STATUS and STATUS_OK", test_status) ||
	    !CU_add_test(s, "ERROR", test_error) ||
	    !CU_add_test(s, "message names and numbers", test_msg_names)) {
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails == 0 ? 0 : 1;
}
