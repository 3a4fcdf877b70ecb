/* Unit tests for common/buf.c: the bounded reader and the sticky writer. */
#include <CUnit/Basic.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"

static const uint8_t seq[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09};

static void test_u8_boundary(void)
{
	struct rbuf r;
	uint8_t v = 0xee;

	rbuf_init(&r, seq, 1);
	CU_ASSERT_EQUAL(rbuf_left(&r), 1);
	CU_ASSERT_EQUAL(rbuf_u8(&r, &v), 0);
	CU_ASSERT_EQUAL(v, 0x01);
	CU_ASSERT_EQUAL(rbuf_left(&r), 0);
	v = 0xee;
	CU_ASSERT_EQUAL(rbuf_u8(&r, &v), -1);
	CU_ASSERT_EQUAL(v, 0xee);
	CU_ASSERT_EQUAL(r.off, 1);

	rbuf_init(&r, seq, 0);
	CU_ASSERT_EQUAL(rbuf_u8(&r, &v), -1);
	CU_ASSERT_EQUAL(r.off, 0);
}

static void test_u16_boundary(void)
{
	struct rbuf r;
	uint16_t v = 0;

	rbuf_init(&r, seq, 2);
	CU_ASSERT_EQUAL(rbuf_u16(&r, &v), 0);
	CU_ASSERT_EQUAL(v, 0x0102);
	CU_ASSERT_EQUAL(rbuf_left(&r), 0);

	rbuf_init(&r, seq, 1);
	v = 0xbeef;
	CU_ASSERT_EQUAL(rbuf_u16(&r, &v), -1);
	CU_ASSERT_EQUAL(v, 0xbeef);
	CU_ASSERT_EQUAL(r.off, 0);
}

static void test_u32_boundary(void)
{
	struct rbuf r;
	uint32_t v = 0;
	uint8_t u8;

	rbuf_init(&r, seq, 4);
	CU_ASSERT_EQUAL(rbuf_u32(&r, &v), 0);
	CU_ASSERT_EQUAL(v, 0x01020304u);
	CU_ASSERT_EQUAL(rbuf_left(&r), 0);

	/* 5 bytes: one u32 then one u8, and a second u32 must not move the cursor */
	rbuf_init(&r, seq, 7);
	CU_ASSERT_EQUAL(rbuf_u32(&r, &v), 0);
	v = 0xdeadbeef;
	CU_ASSERT_EQUAL(rbuf_u32(&r, &v), -1);
	CU_ASSERT_EQUAL(v, 0xdeadbeef);
	CU_ASSERT_EQUAL(r.off, 4);
	CU_ASSERT_EQUAL(rbuf_u8(&r, &u8), 0);
	CU_ASSERT_EQUAL(u8, 0x05);

	{
		static const uint8_t hi[] = {0xff, 0xfe, 0xfd, 0xfc};

		rbuf_init(&r, hi, sizeof(hi));
		CU_ASSERT_EQUAL(rbuf_u32(&r, &v), 0);
		CU_ASSERT_EQUAL(v, 0xfffefdfcu);
	}
}

static void test_u64_boundary(void)
{
	struct rbuf r;
	uint64_t v = 0;

	rbuf_init(&r, seq, 8);
	CU_ASSERT_EQUAL(rbuf_u64(&r, &v), 0);
	CU_ASSERT_EQUAL(v, 0x0102030405060708ull);
	CU_ASSERT_EQUAL(rbuf_left(&r), 0);

	/* 7 bytes: the high half is there, the low half is not: no movement */
	rbuf_init(&r, seq, 7);
	v = 42;
	CU_ASSERT_EQUAL(rbuf_u64(&r, &v), -1);
	CU_ASSERT_EQUAL(v, 42);
	CU_ASSERT_EQUAL(r.off, 0);
}

static void test_raw(void)
{
	struct rbuf r;
	const uint8_t *p = NULL;

	rbuf_init(&r, seq, sizeof(seq));
	CU_ASSERT_EQUAL(rbuf_raw(&r, 0, &p), 0);
	CU_ASSERT_PTR_EQUAL(p, seq);
	CU_ASSERT_EQUAL(rbuf_raw(&r, 9, &p), 0);
	CU_ASSERT_PTR_EQUAL(p, seq);
	CU_ASSERT_EQUAL(rbuf_left(&r), 0);

	rbuf_init(&r, seq, sizeof(seq));
	CU_ASSERT_EQUAL(rbuf_raw(&r, 3, &p), 0);
	p = NULL;
	CU_ASSERT_EQUAL(rbuf_raw(&r, 7, &p), -1);
	CU_ASSERT_PTR_NULL(p);
	CU_ASSERT_EQUAL(r.off, 3);
	CU_ASSERT_EQUAL(rbuf_raw(&r, SIZE_MAX, &p), -1);
	CU_ASSERT_EQUAL(r.off, 3);
	CU_ASSERT_EQUAL(rbuf_raw(&r, 6, &p), 0);
	CU_ASSERT_PTR_EQUAL(p, seq + 3);
}

static void test_blob(void)
{
	static const uint8_t b[] = {0, 0, 0, 3, 'a', 'b', 'c', 0xaa};
	static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 'x'};
	struct rbuf r;
	const uint8_t *p;
	size_t n = 99;

	/* exact: length 3, max 3 */
	rbuf_init(&r, b, 7);
	CU_ASSERT_EQUAL(rbuf_blob(&r, 3, &p, &n), 0);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_EQUAL(memcmp(p, "abc", 3), 0);
	CU_ASSERT_EQUAL(rbuf_left(&r), 0);

	/* length over max: fails, cursor back at the length field */
	rbuf_init(&r, b, sizeof(b));
	n = 99;
	CU_ASSERT_EQUAL(rbuf_blob(&r, 2, &p, &n), -1);
	CU_ASSERT_EQUAL(n, 99);
	CU_ASSERT_EQUAL(r.off, 0);

	/* body one byte short */
	rbuf_init(&r, b, 6);
	CU_ASSERT_EQUAL(rbuf_blob(&r, 100, &p, &n), -1);
	CU_ASSERT_EQUAL(r.off, 0);

	/* length field itself short */
	rbuf_init(&r, b, 3);
	CU_ASSERT_EQUAL(rbuf_blob(&r, 100, &p, &n), -1);
	CU_ASSERT_EQUAL(r.off, 0);

	/* 4 GiB length against a 1-byte body: no overflow, no movement */
	rbuf_init(&r, huge, sizeof(huge));
	CU_ASSERT_EQUAL(rbuf_blob(&r, SIZE_MAX, &p, &n), -1);
	CU_ASSERT_EQUAL(r.off, 0);

	/* empty blob */
	rbuf_init(&r, (const uint8_t[]){0, 0, 0, 0}, 4);
	CU_ASSERT_EQUAL(rbuf_blob(&r, 0, &p, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
}

static void test_string(void)
{
	static const uint8_t ok[] = {0, 0, 0, 4, 'w', 's', 'u', 's'};
	static const uint8_t nul[] = {0, 0, 0, 4, 'w', 0, 'u', 's'};
	static const uint8_t nul_end[] = {0, 0, 0, 2, 'w', 0};
	struct rbuf r;
	char out[5];

	/* fits exactly: 4 bytes + NUL in a 5-byte buffer */
	memset(out, 'X', sizeof(out));
	rbuf_init(&r, ok, sizeof(ok));
	CU_ASSERT_EQUAL(rbuf_string(&r, out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "wsus");
	CU_ASSERT_EQUAL(rbuf_left(&r), 0);

	/* one byte too small */
	rbuf_init(&r, ok, sizeof(ok));
	CU_ASSERT_EQUAL(rbuf_string(&r, out, 4), -1);
	CU_ASSERT_EQUAL(r.off, 0);

	/* zero-size buffer */
	CU_ASSERT_EQUAL(rbuf_string(&r, out, 0), -1);
	CU_ASSERT_EQUAL(r.off, 0);

	/* embedded NUL, in the middle and at the end */
	rbuf_init(&r, nul, sizeof(nul));
	CU_ASSERT_EQUAL(rbuf_string(&r, out, sizeof(out)), -1);
	CU_ASSERT_EQUAL(r.off, 0);
	rbuf_init(&r, nul_end, sizeof(nul_end));
	CU_ASSERT_EQUAL(rbuf_string(&r, out, sizeof(out)), -1);
	CU_ASSERT_EQUAL(r.off, 0);

	/* truncated body */
	rbuf_init(&r, ok, sizeof(ok) - 1);
	CU_ASSERT_EQUAL(rbuf_string(&r, out, sizeof(out)), -1);
	CU_ASSERT_EQUAL(r.off, 0);

	/* empty string */
	rbuf_init(&r, (const uint8_t[]){0, 0, 0, 0}, 4);
	CU_ASSERT_EQUAL(rbuf_string(&r, out, 1), 0);
	CU_ASSERT_STRING_EQUAL(out, "");
}

static void test_wbuf_encoding(void)
{
	struct wbuf w;
	static const uint8_t want[] = {0xab, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03,
				       0x04, 0x05, 0x06, 0x07, 0x08, 0,	   0,	 0,    2,    'h',
				       'i',  0,	   0,	 0,    0,    0,	   0,	 0,    1,    0x7f};

	wbuf_init(&w, 0);
	wbuf_u8(&w, 0xab);
	wbuf_u16(&w, 0x1234);
	wbuf_u32(&w, 0xdeadbeef);
	wbuf_u64(&w, 0x0102030405060708ull);
	wbuf_string(&w, "hi");
	wbuf_string(&w, NULL);
	wbuf_blob(&w, "\x7f", 1);
	CU_ASSERT_FALSE(wbuf_failed(&w));
	CU_ASSERT_EQUAL(w.len, sizeof(want));
	CU_ASSERT_EQUAL(memcmp(w.p, want, sizeof(want)), 0);
	wbuf_free(&w);
	CU_ASSERT_PTR_NULL(w.p);
}

static void test_wbuf_growth(void)
{
	struct wbuf w;
	size_t i;
	int ok = 1;

	wbuf_init(&w, 0);
	for (i = 0; i < 10000; i++)
		wbuf_u8(&w, (uint8_t)i);
	CU_ASSERT_FALSE(wbuf_failed(&w));
	CU_ASSERT_EQUAL(w.len, 10000);
	for (i = 0; i < 10000; i++)
		ok &= w.p[i] == (uint8_t)i;
	CU_ASSERT_TRUE(ok);
	wbuf_free(&w);
}

static void test_wbuf_cap_sticky(void)
{
	struct wbuf w;

	wbuf_init(&w, 8);
	wbuf_u32(&w, 1);
	wbuf_u32(&w, 2); /* exactly at the cap */
	CU_ASSERT_FALSE(wbuf_failed(&w));
	CU_ASSERT_EQUAL(w.len, 8);
	wbuf_u8(&w, 3); /* one past */
	CU_ASSERT_TRUE(wbuf_failed(&w));
	CU_ASSERT_EQUAL(w.len, 8);

	/* sticky: even a write that would fit is ignored */
	w.max = 0;
	wbuf_u8(&w, 4);
	CU_ASSERT_TRUE(wbuf_failed(&w));
	CU_ASSERT_EQUAL(w.len, 8);
	wbuf_put_u32_at(&w, 0, 0x11223344);
	CU_ASSERT_EQUAL(w.p[0], 0);

	/* reset clears the flag and the length, keeps the storage */
	wbuf_reset(&w);
	CU_ASSERT_FALSE(wbuf_failed(&w));
	CU_ASSERT_EQUAL(w.len, 0);
	wbuf_u8(&w, 5);
	CU_ASSERT_EQUAL(w.len, 1);
	CU_ASSERT_EQUAL(w.p[0], 5);
	wbuf_free(&w);

	/* a write that does not fit at all leaves nothing behind */
	wbuf_init(&w, 3);
	wbuf_u32(&w, 7);
	CU_ASSERT_TRUE(wbuf_failed(&w));
	CU_ASSERT_EQUAL(w.len, 0);
	wbuf_free(&w);

	/* blob over the cap: the length prefix may fit, the whole is failed */
	wbuf_init(&w, 6);
	wbuf_blob(&w, "abc", 3);
	CU_ASSERT_TRUE(wbuf_failed(&w));
	wbuf_free(&w);
}

static void test_put_u32_at(void)
{
	struct wbuf w;
	static const uint8_t want[] = {0, 0, 0xa1, 0xb2, 0xc3, 0xd4};

	wbuf_init(&w, 0);
	wbuf_u16(&w, 0);
	wbuf_u32(&w, 0);
	/* last valid offset: len - 4 */
	wbuf_put_u32_at(&w, 2, 0xa1b2c3d4);
	CU_ASSERT_FALSE(wbuf_failed(&w));
	CU_ASSERT_EQUAL(w.len, 6);
	CU_ASSERT_EQUAL(memcmp(w.p, want, sizeof(want)), 0);
	wbuf_put_u32_at(&w, 3, 0); /* would end one past len */
	CU_ASSERT_TRUE(wbuf_failed(&w));
	CU_ASSERT_EQUAL(memcmp(w.p, want, sizeof(want)), 0);

	wbuf_reset(&w);
	wbuf_u32(&w, 0);
	wbuf_put_u32_at(&w, SIZE_MAX, 1); /* overflow-safe */
	CU_ASSERT_TRUE(wbuf_failed(&w));
	wbuf_reset(&w);
	wbuf_u8(&w, 0);
	wbuf_put_u32_at(&w, 0, 1); /* shorter than 4 */
	CU_ASSERT_TRUE(wbuf_failed(&w));
	wbuf_free(&w);

	wbuf_init(&w, 0);
	wbuf_put_u32_at(&w, 0, 1); /* empty */
	CU_ASSERT_TRUE(wbuf_failed(&w));
	wbuf_free(&w);
}

static void test_wbuf_printf(void)
{
	struct wbuf w;

	wbuf_init(&w, 16);
	wbuf_printf(&w, "%s=%d", "key", 42);
	CU_ASSERT_FALSE(wbuf_failed(&w));
	CU_ASSERT_EQUAL(w.len, 6);
	CU_ASSERT_EQUAL(memcmp(w.p, "key=42", 6), 0);
	wbuf_printf(&w, "%s", "");
	CU_ASSERT_EQUAL(w.len, 6);		   /* nothing appended, no NUL left behind */
	wbuf_printf(&w, "%s", "0123456789abcdef"); /* past the 16-byte cap */
	CU_ASSERT_TRUE(wbuf_failed(&w));
	CU_ASSERT_EQUAL(w.len, 6);
	wbuf_free(&w);
}

int main(void)
{
	CU_pSuite s;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("buf", NULL, NULL);
	if (s == NULL || !CU_add_test(s, "rbuf_u8 at the boundary", test_u8_boundary) ||
	    !CU_add_test(s, "rbuf_u16 at the boundary", test_u16_boundary) ||
	    !CU_add_test(s, "rbuf_u32 at the boundary", test_u32_boundary) ||
	    !CU_add_test(s, "rbuf_u64 at the boundary", test_u64_boundary) ||
	    !CU_add_test(s, "rbuf_raw", test_raw) || !CU_add_test(s, "rbuf_blob", test_blob) ||
	    !CU_add_test(s, "rbuf_string", test_string) ||
	    !CU_add_test(s, "wbuf encoding", test_wbuf_encoding) ||
	    !CU_add_test(s, "wbuf growth", test_wbuf_growth) ||
	    !CU_add_test(s, "wbuf cap and sticky failure", test_wbuf_cap_sticky) ||
	    !CU_add_test(s, "wbuf_put_u32_at bounds", test_put_u32_at) ||
	    !CU_add_test(s, "wbuf_printf", test_wbuf_printf)) {
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails == 0 ? 0 : 1;
}
