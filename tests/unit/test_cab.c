/*
 * Unit tests for cab/: known-answer digests from osslsigncode 2.9 (the
 * independent verifier), byte-exact embedding against osslsigncode's output,
 * and every structural refusal. Fixtures: tests/data/cab/ (regenerate with
 * tests/data/cab/make-fixtures.sh, which also prints the digests below).
 */
#include <CUnit/Basic.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cab/cab.h"
#include "common/file.h"

/* A fixture in an exact-size heap buffer, so ASan catches any over-read. */
struct blob {
	uint8_t *p;
	size_t n;
};

struct known_answer {
	const char *cab;
	const char *md;
	const char *hex;
};

/* "Calculated message digest" of `osslsigncode verify` on X-signed.cab (make-fixtures.sh). */
static const struct known_answer known[] = {
    {"one", "sha256", "1abaadd41d61ce4d821d26216fbb884490f565cc714887badefaf52a6c449b5f"},
    {"one", "sha1", "957ff03edb1409aa63850d2749acf31f716a296a"},
    {"one", "sha384",
     "e74db49d5c8fa4795de06645eb6bde605361ef454ebaca9ec4e64cfb66f25a64a8621afd7210fdb0d42a5064e"
     "345e0fd"},
    {"one", "sha512",
     "6187f582ee5dfc8ba64e90aca4331747619f3e0cf09ee590a0a48cbf009a55471a9d5b21440100595200911d7"
     "240854b528e49ff16f5f78bf865cfc9714a46be"},
    {"multi", "sha256", "9db9b9313892144dfe413b7a9aba3a1b73dac03ea1d05b89c33f1c9c8f6bd0d6"},
    {"multi", "sha1", "7c56fd04d7c083b0f6f7c47ef115c0f7db49e0cf"},
    {"multi", "sha384",
     "ed346a38cfd1a1852af1c05532e0649bcd95ebde3dfe87482eb59019ac58e731b8d464632d07de9c0eebb8dd7"
     "1bf09cd"},
    {"multi", "sha512",
     "5b078b9e36233043fd4163c8beea4097671dbebf0ac6f9209f6f364d3b42668b54bb296f3e6336f4712d2068c"
     "12fc87b6c5b5becf53807ff09b8977981c98c40"},
    {"zip", "sha256", "638dfc819f7b03a375228895ccadc556cc195d6c75d8b983d24acb4b1f21023e"},
    {"zip", "sha1", "5a7f481915a4da3394b6aa33b763862f24d4ee9e"},
    {"zip", "sha512",
     "c4b0e72739ed98f42b36cdbbf29c8a5fc94b8a4ef77decb41124c9858ba5b62e51b71c59c53b4748a2431d455"
     "15fd2a06b1a6eec373ce5b1dbbf0917f43339df"},
    {"empty", "sha256", "9f86938de5fcbbe1027e683d9bcc058458c723f1b5b2bc99ab9489593d21864a"},
    {"empty", "sha384",
     "152b44cd5797bf6746ae1313ecd1c3cd93fdaa64ca779e17e4e7c10c0951ecc505955832b27372b1833947184"
     "803758b"},
};

static const char *const fixtures[] = {"one", "multi", "zip", "empty"};

static struct blob load(const char *name)
{
	struct blob b = {NULL, 0};
	struct sd_err e = {0};
	const char *dir = getenv("SD_TEST_DATA");
	char path[1024];
	uint8_t *data = NULL;
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/cab/%s", dir != NULL ? dir : "tests/data", name);
	if (sd_read_file(path, 1u << 20, &data, &len, &e) != 0) {
		fprintf(stderr, "cannot load fixture: %s\n", e.msg);
		CU_FAIL_FATAL("fixture missing");
	}
	b.n = len;
	b.p = malloc(len != 0 ? len : 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b.p);
	memcpy(b.p, data, len);
	free(data);
	return b;
}

static struct blob load_cab(const char *cab, const char *suffix)
{
	char name[128];

	snprintf(name, sizeof(name), "%s%s.cab", cab, suffix);
	return load(name);
}

static struct blob dup_blob(const struct blob *src, size_t n)
{
	struct blob b;

	b.n = n;
	b.p = malloc(n != 0 ? n : 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b.p);
	memcpy(b.p, src->p, n < src->n ? n : src->n);
	if (n > src->n)
		memset(b.p + src->n, 0, n - src->n);
	return b;
}

static void put32(uint8_t *p, size_t off, uint32_t v)
{
	p[off] = (uint8_t)v;
	p[off + 1] = (uint8_t)(v >> 8);
	p[off + 2] = (uint8_t)(v >> 16);
	p[off + 3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p, size_t off)
{
	return (uint32_t)p[off] | ((uint32_t)p[off + 1] << 8) | ((uint32_t)p[off + 2] << 16) |
	       ((uint32_t)p[off + 3] << 24);
}

static int digest_hex(const struct blob *b, const char *md, char *hex)
{
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	struct sd_err e = {0};

	if (cab_digest(b->p, b->n, EVP_get_digestbyname(md), d, &dlen, &e) != 0) {
		fprintf(stderr, "cab_digest: %s\n", e.msg);
		return -1;
	}
	sd_hex(d, dlen, hex);
	return 0;
}

/* cab_parse must fail and its message must mention want. */
static void expect_refusal(const struct blob *b, const char *want)
{
	struct cab_layout l;
	struct sd_err e = {0};
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned int dlen;
	uint8_t *out = NULL;
	size_t outlen = 0;
	static const uint8_t p7[] = {0x30, 0x00};

	CU_ASSERT_EQUAL(cab_parse(b->p, b->n, &l, &e), -1);
	if (strstr(e.msg, want) == NULL) {
		fprintf(stderr, "\n  message \"%s\" does not mention \"%s\"\n", e.msg, want);
		CU_FAIL("refusal message does not name the problem");
	}
	CU_ASSERT_EQUAL(e.code, SD_E_BAD_REQUEST);
	/* The digest and the embedder refuse the same input. */
	CU_ASSERT_EQUAL(cab_digest(b->p, b->n, EVP_sha256(), d, &dlen, &e), -1);
	CU_ASSERT_EQUAL(cab_embed(b->p, b->n, p7, sizeof(p7), &out, &outlen, &e), -1);
	CU_ASSERT_PTR_NULL(out);
}

static void test_known_answers(void)
{
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		struct blob u = load_cab(known[i].cab, "");
		struct blob s = load_cab(known[i].cab, "-signed");

		CU_ASSERT_EQUAL_FATAL(digest_hex(&u, known[i].md, hex), 0);
		if (strcmp(hex, known[i].hex) != 0)
			fprintf(stderr, "\n  %s.cab %s: got %s want %s\n", known[i].cab,
				known[i].md, hex, known[i].hex);
		CU_ASSERT_STRING_EQUAL(hex, known[i].hex);
		CU_ASSERT_EQUAL_FATAL(digest_hex(&s, known[i].md, hex), 0);
		CU_ASSERT_STRING_EQUAL(hex, known[i].hex);
		free(u.p);
		free(s.p);
	}
}

static void test_layout(void)
{
	struct blob u = load("one.cab"), s = load("one-signed.cab");
	struct cab_layout l;
	struct sd_err e = {0};

	CU_ASSERT_EQUAL_FATAL(cab_parse(u.p, u.n, &l, &e), 0);
	CU_ASSERT_EQUAL(l.cb_cabinet, 86);
	CU_ASSERT_EQUAL(l.c_folders, 1);
	CU_ASSERT_EQUAL(l.c_files, 1);
	CU_ASSERT_EQUAL(l.has_sig_reserve, 0);
	CU_ASSERT_EQUAL(l.signed_, 0);
	CU_ASSERT_EQUAL(l.sig_offset, 0);
	CU_ASSERT_EQUAL(l.sig_len, 0);

	CU_ASSERT_EQUAL_FATAL(cab_parse(s.p, s.n, &l, &e), 0);
	CU_ASSERT_EQUAL(l.cb_cabinet, 86 + 24);
	CU_ASSERT_EQUAL(l.has_sig_reserve, 1);
	CU_ASSERT_EQUAL(l.signed_, 1);
	CU_ASSERT_EQUAL(l.sig_offset, 110);
	CU_ASSERT_EQUAL(l.sig_len, s.n - 110);
	CU_ASSERT_EQUAL(l.sig_len % 8, 0);
	free(u.p);
	free(s.p);
}

static void test_multi_layout(void)
{
	struct blob u = load("multi.cab"), z = load("zip.cab");
	struct cab_layout l;
	struct sd_err e = {0};

	CU_ASSERT_EQUAL_FATAL(cab_parse(u.p, u.n, &l, &e), 0);
	CU_ASSERT_EQUAL(l.c_files, 3);
	CU_ASSERT_EQUAL(l.cb_cabinet, u.n);
	CU_ASSERT_EQUAL_FATAL(cab_parse(z.p, z.n, &l, &e), 0);
	CU_ASSERT_EQUAL(l.c_files, 3);
	/* typeCompress MSZIP */
	CU_ASSERT_EQUAL(z.p[36 + 6], 1);
	free(u.p);
	free(z.p);
}

/* A CAB holding only a 0-byte file: cCFData 0 and coffCabStart == cbCabinet. */
static void test_empty_file_cab(void)
{
	struct blob u = load("empty.cab");
	struct cab_layout l;
	struct sd_err e = {0};

	CU_ASSERT_EQUAL_FATAL(cab_parse(u.p, u.n, &l, &e), 0);
	CU_ASSERT_EQUAL(get32(u.p, 36), l.cb_cabinet);
	CU_ASSERT_EQUAL(u.p[40] | (u.p[41] << 8), 0);
	CU_ASSERT_EQUAL(l.c_files, 1);
	free(u.p);
}

/* Embedding osslsigncode's PKCS#7 reproduces osslsigncode's file byte for byte. */
static void test_embed_matches_osslsigncode(void)
{
	size_t i;

	for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		struct blob u = load_cab(fixtures[i], ""), s = load_cab(fixtures[i], "-signed");
		const uint8_t *p7 = NULL;
		size_t p7len = 0, outlen = 0;
		uint8_t *out = NULL;
		struct sd_err e = {0};
		struct cab_layout l;

		CU_ASSERT_EQUAL_FATAL(cab_get_signature(s.p, s.n, &p7, &p7len, &e), 0);
		CU_ASSERT_EQUAL_FATAL(cab_parse(s.p, s.n, &l, &e), 0);
		CU_ASSERT_PTR_EQUAL(p7, s.p + l.sig_offset);
		CU_ASSERT(p7len <= l.sig_len && l.sig_len - p7len < 8);
		CU_ASSERT_EQUAL(p7[0], 0x30);

		/* Into the unsigned original: reserve inserted, offsets fixed up. */
		CU_ASSERT_EQUAL_FATAL(cab_embed(u.p, u.n, p7, p7len, &out, &outlen, &e), 0);
		CU_ASSERT_EQUAL(outlen, s.n);
		CU_ASSERT(outlen == s.n && memcmp(out, s.p, s.n) == 0);
		free(out);
		out = NULL;

		/* Into the signed file (re-signing): the blob is replaced. */
		CU_ASSERT_EQUAL_FATAL(cab_embed(s.p, s.n, p7, p7len, &out, &outlen, &e), 0);
		CU_ASSERT(outlen == s.n && memcmp(out, s.p, s.n) == 0);
		free(out);
		free(u.p);
		free(s.p);
	}
}

/* Re-signing with a blob of another size changes only the length field and the tail. */
static void test_resign_other_size(void)
{
	struct blob s = load("multi-signed.cab");
	const uint8_t *p7 = NULL;
	size_t p7len = 0, outlen = 0, outlen2 = 0;
	uint8_t *out = NULL, *out2 = NULL;
	uint8_t small[11] = {0x30, 0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9};
	struct sd_err e = {0};
	struct cab_layout l;
	char h1[2 * EVP_MAX_MD_SIZE + 1], h2[2 * EVP_MAX_MD_SIZE + 1];
	struct blob ob;

	CU_ASSERT_EQUAL_FATAL(cab_parse(s.p, s.n, &l, &e), 0);
	CU_ASSERT_EQUAL_FATAL(cab_embed(s.p, s.n, small, sizeof(small), &out, &outlen, &e), 0);
	CU_ASSERT_EQUAL(outlen, l.cb_cabinet + 16);
	CU_ASSERT_EQUAL(memcmp(out, s.p, 48), 0);
	CU_ASSERT_EQUAL(get32(out, 48), 16);
	CU_ASSERT_EQUAL(memcmp(out + 52, s.p + 52, l.cb_cabinet - 52), 0);
	CU_ASSERT_EQUAL(memcmp(out + l.cb_cabinet, small, sizeof(small)), 0);
	CU_ASSERT_EQUAL(out[outlen - 1], 0);
	CU_ASSERT_EQUAL(out[outlen - 5], 0);

	/* The digest does not cover the signature. */
	ob.p = out;
	ob.n = outlen;
	CU_ASSERT_EQUAL(digest_hex(&s, "sha256", h1), 0);
	CU_ASSERT_EQUAL(digest_hex(&ob, "sha256", h2), 0);
	CU_ASSERT_STRING_EQUAL(h1, h2);

	/* And back: embedding the original blob restores the original file. */
	CU_ASSERT_EQUAL_FATAL(cab_get_signature(s.p, s.n, &p7, &p7len, &e), 0);
	CU_ASSERT_EQUAL_FATAL(cab_embed(out, outlen, p7, p7len, &out2, &outlen2, &e), 0);
	CU_ASSERT(outlen2 == s.n && memcmp(out2, s.p, s.n) == 0);
	free(out);
	free(out2);
	free(s.p);
}

/* An exact multiple of 8 gets no padding. */
static void test_embed_no_padding(void)
{
	struct blob u = load("one.cab");
	uint8_t p7[16] = {0x30, 14};
	uint8_t *out = NULL;
	size_t outlen = 0;
	struct sd_err e = {0};
	struct cab_layout l;

	CU_ASSERT_EQUAL_FATAL(cab_embed(u.p, u.n, p7, sizeof(p7), &out, &outlen, &e), 0);
	CU_ASSERT_EQUAL(outlen, u.n + 24 + 16);
	CU_ASSERT_EQUAL(get32(out, 8), u.n + 24);
	CU_ASSERT_EQUAL(get32(out, 16), get32(u.p, 16) + 24);
	CU_ASSERT_EQUAL(get32(out, 36 + 24), get32(u.p, 36) + 24);
	CU_ASSERT_EQUAL(out[30] & 4, 4);
	CU_ASSERT_EQUAL(get32(out, 44), u.n + 24);
	CU_ASSERT_EQUAL(get32(out, 48), 16);
	CU_ASSERT_EQUAL(memcmp(out + 68, u.p + 44, u.n - 44), 0);
	CU_ASSERT_EQUAL_FATAL(cab_parse(out, outlen, &l, &e), 0);
	CU_ASSERT_EQUAL(l.signed_, 1);
	free(out);
	free(u.p);
}

/* `osslsigncode remove-signature` output: unsigned, no reserve, same digest. */
static void test_removed_signature(void)
{
	struct blob r = load("one-removed.cab"), u = load("one.cab");
	struct cab_layout l;
	struct sd_err e = {0};
	char hex[2 * EVP_MAX_MD_SIZE + 1];

	CU_ASSERT_EQUAL_FATAL(cab_parse(r.p, r.n, &l, &e), 0);
	CU_ASSERT_EQUAL(l.signed_, 0);
	CU_ASSERT_EQUAL(l.has_sig_reserve, 0);
	CU_ASSERT_EQUAL_FATAL(digest_hex(&r, "sha256", hex), 0);
	CU_ASSERT_STRING_EQUAL(hex, known[0].hex);
	CU_ASSERT(r.n == u.n && memcmp(r.p, u.p, u.n) == 0);
	free(r.p);
	free(u.p);
}

/* A CAB that has the reserve but no signature (offset and length 0). */
static void test_reserve_without_signature(void)
{
	struct blob s = load("one-signed.cab");
	struct blob r;
	struct cab_layout l;
	struct sd_err e = {0};
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	const uint8_t *p7 = NULL;
	size_t p7len = 0, outlen = 0;
	uint8_t *out = NULL;

	CU_ASSERT_EQUAL_FATAL(cab_get_signature(s.p, s.n, &p7, &p7len, &e), 0);
	r = dup_blob(&s, get32(s.p, 8));
	put32(r.p, 44, 0);
	put32(r.p, 48, 0);
	CU_ASSERT_EQUAL_FATAL(cab_parse(r.p, r.n, &l, &e), 0);
	CU_ASSERT_EQUAL(l.has_sig_reserve, 1);
	CU_ASSERT_EQUAL(l.signed_, 0);
	CU_ASSERT_EQUAL(cab_get_signature(r.p, r.n, &p7, &p7len, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "not signed"));
	CU_ASSERT_EQUAL_FATAL(digest_hex(&r, "sha256", hex), 0);
	CU_ASSERT_STRING_EQUAL(hex, known[0].hex);
	CU_ASSERT_EQUAL_FATAL(cab_get_signature(s.p, s.n, &p7, &p7len, &e), 0);
	CU_ASSERT_EQUAL_FATAL(cab_embed(r.p, r.n, p7, p7len, &out, &outlen, &e), 0);
	CU_ASSERT(outlen == s.n && memcmp(out, s.p, s.n) == 0);
	free(out);
	free(r.p);
	free(s.p);
}

/* iCabinet and reserve bytes 0..15 are outside the digest; byte 56 and the data are inside. */
static void test_digest_coverage(void)
{
	struct blob s = load("one-signed.cab");
	char base[2 * EVP_MAX_MD_SIZE + 1], hex[2 * EVP_MAX_MD_SIZE + 1];

	CU_ASSERT_EQUAL_FATAL(digest_hex(&s, "sha256", base), 0);
	s.p[34] ^= 1; /* iCabinet */
	CU_ASSERT_EQUAL_FATAL(digest_hex(&s, "sha256", hex), 0);
	CU_ASSERT_STRING_EQUAL(hex, base);
	s.p[34] ^= 1;
	s.p[53] ^= 1; /* reserve byte 13: not hashed */
	CU_ASSERT_EQUAL_FATAL(digest_hex(&s, "sha256", hex), 0);
	CU_ASSERT_STRING_EQUAL(hex, base);
	s.p[53] ^= 1;
	s.p[56] ^= 1; /* reserve byte 16: hashed */
	CU_ASSERT_EQUAL_FATAL(digest_hex(&s, "sha256", hex), 0);
	CU_ASSERT_STRING_NOT_EQUAL(hex, base);
	s.p[56] ^= 1;
	s.p[get32(s.p, 8) - 1] ^= 1; /* last cabinet byte */
	CU_ASSERT_EQUAL_FATAL(digest_hex(&s, "sha256", hex), 0);
	CU_ASSERT_STRING_NOT_EQUAL(hex, base);
	free(s.p);
}

static void test_get_signature_unsigned(void)
{
	struct blob u = load("one.cab");
	const uint8_t *p7 = NULL;
	size_t p7len = 0;
	struct sd_err e = {0};

	CU_ASSERT_EQUAL(cab_get_signature(u.p, u.n, &p7, &p7len, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "not signed"));
	free(u.p);
}

static void test_embed_bad_p7(void)
{
	struct blob u = load("one.cab");
	uint8_t *out = NULL;
	size_t outlen = 0;
	struct sd_err e = {0};
	static const uint8_t notseq[] = {0x31, 0x00};
	static const uint8_t shortlen[] = {0x30, 0x05, 0x00};
	static const uint8_t trailing[] = {0x30, 0x00, 0x00};
	static const uint8_t indefinite[] = {0x30, 0x80, 0x00, 0x00};

	CU_ASSERT_EQUAL(cab_embed(u.p, u.n, notseq, sizeof(notseq), &out, &outlen, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "not a single DER SEQUENCE"));
	CU_ASSERT_EQUAL(cab_embed(u.p, u.n, shortlen, sizeof(shortlen), &out, &outlen, &e), -1);
	CU_ASSERT_EQUAL(cab_embed(u.p, u.n, trailing, sizeof(trailing), &out, &outlen, &e), -1);
	CU_ASSERT_EQUAL(cab_embed(u.p, u.n, indefinite, sizeof(indefinite), &out, &outlen, &e), -1);
	CU_ASSERT_EQUAL(cab_embed(u.p, u.n, NULL, 0, &out, &outlen, &e), -1);
	CU_ASSERT_PTR_NULL(out);
	free(u.p);
}

static void test_refuse_magic_and_truncation(void)
{
	struct blob u = load("one.cab"), s = load("one-signed.cab");
	struct blob b;

	b = dup_blob(&u, u.n);
	b.p[0] = 'X';
	expect_refusal(&b, "bad magic");
	free(b.p);

	b = dup_blob(&u, 0);
	expect_refusal(&b, "bad magic");
	free(b.p);

	b = dup_blob(&u, 20);
	expect_refusal(&b, "truncated CAB header");
	free(b.p);

	b = dup_blob(&s, 38);
	expect_refusal(&b, "truncated CAB header");
	free(b.p);

	b = dup_blob(&s, 50);
	expect_refusal(&b, "truncated CAB header");
	free(b.p);

	b = dup_blob(&u, u.n);
	b.p[4] = 1;
	expect_refusal(&b, "reserved1");
	free(b.p);

	b = dup_blob(&u, u.n);
	b.p[25] = 2;
	expect_refusal(&b, "version 2.3");
	free(b.p);
	free(u.p);
	free(s.p);
}

static void test_refuse_reserve_sizes(void)
{
	struct blob s = load("one-signed.cab"), u = load("one.cab");
	struct blob b;

	/* cabarc -s 6144 style reserve */
	b = dup_blob(&s, s.n);
	b.p[36] = 0x00;
	b.p[37] = 0x18;
	expect_refusal(&b, "CAB reserve area is 6144 bytes; only the 20-byte signature reserve "
			   "is supported");
	free(b.p);

	/* reserve flag on an unsigned CAB: the size field reads whatever follows */
	b = dup_blob(&u, u.n);
	b.p[30] |= 4;
	expect_refusal(&b, "CAB reserve area is");
	free(b.p);

	b = dup_blob(&s, s.n);
	b.p[38] = 4;
	expect_refusal(&b, "folder reserve (cbCFFolder) is 4 bytes");
	free(b.p);

	b = dup_blob(&s, s.n);
	b.p[39] = 8;
	expect_refusal(&b, "data reserve (cbCFData) is 8 bytes");
	free(b.p);

	b = dup_blob(&s, s.n);
	b.p[42] = 0x20;
	expect_refusal(&b, "not 00 00 10 00");
	free(b.p);

	b = dup_blob(&s, s.n);
	b.p[40] = 0x01;
	expect_refusal(&b, "not 00 00 10 00");
	free(b.p);
	free(s.p);
	free(u.p);
}

static void test_refuse_flags(void)
{
	struct blob u = load("one.cab");
	struct blob b;

	b = dup_blob(&u, u.n);
	b.p[30] |= 1;
	expect_refusal(&b, "multi-volume");
	free(b.p);

	b = dup_blob(&u, u.n);
	b.p[30] |= 2;
	expect_refusal(&b, "multi-volume");
	free(b.p);

	b = dup_blob(&u, u.n);
	b.p[30] |= 0x10;
	expect_refusal(&b, "unknown CAB header flags 0x0010");
	free(b.p);
	free(u.p);
}

static void test_refuse_extent(void)
{
	struct blob u = load("one.cab"), s = load("one-signed.cab");
	struct blob b;

	/* cbCabinet larger than the file */
	b = dup_blob(&u, u.n);
	put32(b.p, 8, (uint32_t)u.n + 1);
	expect_refusal(&b, "larger than the file");
	free(b.p);

	b = dup_blob(&u, u.n);
	put32(b.p, 8, 0xffffffffu);
	expect_refusal(&b, "larger than the file");
	free(b.p);

	/* trailing junk after cbCabinet on an unsigned CAB */
	b = dup_blob(&u, u.n + 8);
	memcpy(b.p + u.n, "junkjunk", 8);
	expect_refusal(&b, "not a signature");
	free(b.p);

	/* junk after the signature */
	b = dup_blob(&s, s.n + 3);
	expect_refusal(&b, "does not end at the end of the file");
	free(b.p);

	/* the blob is not DER */
	b = dup_blob(&s, s.n);
	b.p[get32(s.p, 44)] = 0x04;
	expect_refusal(&b, "not a signature");
	free(b.p);

	/* DER length longer than the reserve's length */
	b = dup_blob(&s, s.n);
	b.p[get32(s.p, 44) + 2] = 0x7f;
	expect_refusal(&b, "not a signature");
	free(b.p);

	/* non-zero padding */
	b = dup_blob(&s, s.n);
	b.p[s.n - 1] = 0xaa;
	expect_refusal(&b, "padding");
	free(b.p);

	/* signature offset not at cbCabinet */
	b = dup_blob(&s, s.n);
	put32(b.p, 44, get32(s.p, 44) - 8);
	put32(b.p, 48, get32(s.p, 48) + 8);
	expect_refusal(&b, "does not equal cbCabinet");
	free(b.p);

	/* length overflowing 32 bits */
	b = dup_blob(&s, s.n);
	put32(b.p, 48, 0xffffffffu);
	expect_refusal(&b, "does not end at the end of the file");
	free(b.p);

	/* offset without length */
	b = dup_blob(&s, get32(s.p, 8));
	put32(b.p, 44, 12);
	put32(b.p, 48, 0);
	expect_refusal(&b, "length 0");
	free(b.p);
	free(u.p);
	free(s.p);
}

static void test_refuse_offsets(void)
{
	struct blob u = load("multi.cab"), s = load("multi-signed.cab"), m = load("empty.cab");
	struct blob b;

	/* coffFiles outside the cabinet */
	b = dup_blob(&u, u.n);
	put32(b.p, 16, 0xffff0000u);
	expect_refusal(&b, "coffFiles (4294901760) points outside");
	free(b.p);

	b = dup_blob(&s, s.n);
	put32(b.p, 16, get32(s.p, 8) + 1);
	expect_refusal(&b, "coffFiles");
	free(b.p);

	/* coffFiles inside but not after the folder table */
	b = dup_blob(&u, u.n);
	put32(b.p, 16, 40);
	expect_refusal(&b, "does not follow the CFFOLDER table");
	free(b.p);

	/* coffCabStart outside */
	b = dup_blob(&u, u.n);
	put32(b.p, 36, 0x7fffffffu);
	expect_refusal(&b, "coffCabStart");
	free(b.p);

	b = dup_blob(&s, s.n);
	put32(b.p, 60, get32(s.p, 8) + 1);
	expect_refusal(&b, "coffCabStart");
	free(b.p);

	/* coffCabStart pointing into the header */
	b = dup_blob(&u, u.n);
	put32(b.p, 36, 8);
	expect_refusal(&b, "coffCabStart");
	free(b.p);

	/* 0-byte-file CAB: coffCabStart one past cbCabinet */
	b = dup_blob(&m, m.n);
	put32(b.p, 36, (uint32_t)m.n + 1);
	expect_refusal(&b, "coffCabStart");
	free(b.p);

	/* counts that do not fit */
	b = dup_blob(&u, u.n);
	b.p[26] = 0xff;
	b.p[27] = 0xff;
	expect_refusal(&b, "CFFOLDER table");
	free(b.p);

	b = dup_blob(&u, u.n);
	b.p[28] = 0xff;
	expect_refusal(&b, "CFFILE");
	free(b.p);

	b = dup_blob(&u, u.n);
	b.p[40] = 0xff;
	b.p[41] = 0x7f;
	expect_refusal(&b, "CFDATA blocks");
	free(b.p);

	/* a CFDATA block running past cbCabinet */
	b = dup_blob(&u, u.n);
	b.p[get32(u.p, 36) + 5] = 0xff;
	expect_refusal(&b, "CFDATA block 0");
	free(b.p);

	/* a CFFILE naming a folder that does not exist */
	b = dup_blob(&u, u.n);
	b.p[get32(u.p, 16) + 8] = 1;
	expect_refusal(&b, "refers to folder 1");
	free(b.p);
	free(u.p);
	free(s.p);
	free(m.p);
}

/* Every strict prefix of a valid CAB is refused without reading past its end. */
static void test_prefixes(void)
{
	size_t i, k;

	for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		struct blob f[2] = {load_cab(fixtures[i], ""), load_cab(fixtures[i], "-signed")};
		int j;

		for (j = 0; j < 2; j++) {
			for (k = 0; k < f[j].n; k++) {
				struct blob b = dup_blob(&f[j], k);
				struct sd_err e = {0};

				CU_ASSERT_EQUAL(cab_parse(b.p, b.n, NULL, &e), -1);
				free(b.p);
			}
			free(f[j].p);
		}
	}
}

/*
 * Single-bit flips in the first 256 bytes: parse may accept or refuse, but
 * must stay in bounds; whatever it accepts must digest and re-sign, and the
 * re-signed file must parse and keep the digest.
 */
static void test_bit_flips(void)
{
	struct blob s = load("zip-signed.cab");
	const uint8_t *p7 = NULL;
	size_t p7len = 0, i;
	struct sd_err e = {0};
	int bit;

	CU_ASSERT_EQUAL_FATAL(cab_get_signature(s.p, s.n, &p7, &p7len, &e), 0);
	for (i = 0; i < 256 && i < s.n; i++) {
		for (bit = 0; bit < 8; bit++) {
			struct blob b = dup_blob(&s, s.n), o;
			char h1[2 * EVP_MAX_MD_SIZE + 1], h2[2 * EVP_MAX_MD_SIZE + 1];
			uint8_t *out = NULL;
			size_t outlen = 0;

			b.p[i] ^= (uint8_t)(1u << bit);
			if (cab_parse(b.p, b.n, NULL, &e) == 0) {
				CU_ASSERT_EQUAL(digest_hex(&b, "sha256", h1), 0);
				CU_ASSERT_EQUAL_FATAL(
				    cab_embed(b.p, b.n, p7, p7len, &out, &outlen, &e), 0);
				o.p = out;
				o.n = outlen;
				CU_ASSERT_EQUAL(cab_parse(o.p, o.n, NULL, &e), 0);
				CU_ASSERT_EQUAL(digest_hex(&o, "sha256", h2), 0);
				CU_ASSERT_STRING_EQUAL(h1, h2);
			}
			free(out);
			free(b.p);
		}
	}
	free(s.p);
}

int main(void)
{
	CU_pSuite s;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("cab", NULL, NULL);
	if (s == NULL ||
	    CU_add_test(s, "known answers (osslsigncode)", test_known_answers) == NULL ||
	    CU_add_test(s, "layout of one.cab", test_layout) == NULL ||
	    CU_add_test(s, "layout of multi/zip", test_multi_layout) == NULL ||
	    CU_add_test(s, "0-byte file CAB accepted", test_empty_file_cab) == NULL ||
	    CU_add_test(s, "embed == osslsigncode", test_embed_matches_osslsigncode) == NULL ||
	    CU_add_test(s, "re-sign with another size", test_resign_other_size) == NULL ||
	    CU_add_test(s, "embed without padding", test_embed_no_padding) == NULL ||
	    CU_add_test(s, "remove-signature output", test_removed_signature) == NULL ||
	    CU_add_test(s, "reserve without signature", test_reserve_without_signature) == NULL ||
	    CU_add_test(s, "digest coverage", test_digest_coverage) == NULL ||
	    CU_add_test(s, "get_signature on unsigned", test_get_signature_unsigned) == NULL ||
	    CU_add_test(s, "embed refuses bad PKCS#7", test_embed_bad_p7) == NULL ||
	    CU_add_test(s, "refuse magic/truncation", test_refuse_magic_and_truncation) == NULL ||
	    CU_add_test(s, "refuse reserve sizes", test_refuse_reserve_sizes) == NULL ||
	    CU_add_test(s, "refuse flags", test_refuse_flags) == NULL ||
	    CU_add_test(s, "refuse extent/trailing", test_refuse_extent) == NULL ||
	    CU_add_test(s, "refuse offsets", test_refuse_offsets) == NULL ||
	    CU_add_test(s, "prefixes refused", test_prefixes) == NULL ||
	    CU_add_test(s, "bit flips stay in bounds", test_bit_flips) == NULL) {
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures != 0 ? 1 : 0;
}
