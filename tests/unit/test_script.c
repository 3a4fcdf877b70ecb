/*
 * Unit tests for script/: known-answer digests taken from osslsigncode 2.9
 * (tests/data/script/make-fixtures.sh), embedding osslsigncode's own PKCS#7
 * reproduces its signed file byte for byte, every refusal with its message,
 * UTF-8 and UTF-16 edge cases, and every truncation and bit flip of a
 * signed script.
 */
#include <CUnit/Basic.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "authenticode/authenticode.h"
#include "common/file.h"
#include "script/script.h"

static uint8_t *fixture(const char *name, size_t *len)
{
	const char *dir = getenv("SD_TEST_DATA");
	char path[1024];
	uint8_t *data = NULL;
	struct sd_err e;

	CU_ASSERT_FATAL(dir != NULL);
	snprintf(path, sizeof(path), "%s/script/%s", dir, name);
	if (sd_read_file(path, 1 << 20, &data, len, &e) != 0)
		fprintf(stderr, "%s: %s\n", path, e.msg);
	CU_ASSERT_FATAL(data != NULL);
	return data;
}

static void hex_digest(const uint8_t *p, size_t n, const EVP_MD *md, char *hex, struct sd_err *e)
{
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	hex[0] = '\0';
	if (ps_digest(p, n, md, d, &dlen, e) == 0)
		sd_hex(d, dlen, hex);
}

/* "Calculated message digest" of osslsigncode 2.9 for each fixture. */
static const struct {
	const char *file;
	const char *sha1, *sha256;
	enum ps_encoding enc;
} kat[] = {
    {"ascii", "bddfc721ff44b7fbe408cab38208386e6367c588",
     "7820734af9cd1f52e2c9e8006b26574a0bc0487b1cdc28325d8d85cbbf0556df", PS_ENC_UTF8},
    {"nobom", "a9fe402a7c940ee2838c933a4b646cbc2e61126b",
     "3af6cae2cf525545277d0a3f87f78b6767f83b9b9e7a0311555e1e1b72df0d4c", PS_ENC_UTF8},
    {"bom", "2534d8daa1476b13430a5621b85c60da779b8ff9",
     "4f7b51f4b275f5690fd7b8067487b6d37eb8f1f5d9ca3e655dcd06fca7401d25", PS_ENC_UTF8_BOM},
    {"u16", "2534d8daa1476b13430a5621b85c60da779b8ff9",
     "4f7b51f4b275f5690fd7b8067487b6d37eb8f1f5d9ca3e655dcd06fca7401d25", PS_ENC_UTF16LE},
    {"nonl", "9efa4e8f06be64f6a5adb15387613b8b4bb3802c",
     "e20c32300d1f8aef81e304043f30738e53223587827a71e09764c60f2cde8ecf", PS_ENC_UTF8},
};

static void test_kat(void)
{
	char name[64], hex[2 * EVP_MAX_MD_SIZE + 1];
	struct ps_layout l;
	struct sd_err e = {0};
	uint8_t *u, *s;
	size_t ul, sl;

	for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
		snprintf(name, sizeof(name), "%s.ps1", kat[i].file);
		u = fixture(name, &ul);
		snprintf(name, sizeof(name), "%s-signed.ps1", kat[i].file);
		s = fixture(name, &sl);
		hex_digest(u, ul, EVP_sha256(), hex, &e);
		CU_ASSERT_STRING_EQUAL(hex, kat[i].sha256);
		hex_digest(u, ul, EVP_sha1(), hex, &e);
		CU_ASSERT_STRING_EQUAL(hex, kat[i].sha1);
		/* The signed file hashes like the unsigned one. */
		hex_digest(s, sl, EVP_sha256(), hex, &e);
		CU_ASSERT_STRING_EQUAL(hex, kat[i].sha256);
		CU_ASSERT_EQUAL_FATAL(ps_parse(u, ul, &l, &e), 0);
		CU_ASSERT_EQUAL(l.enc, kat[i].enc);
		CU_ASSERT_EQUAL(l.has_block, 0);
		CU_ASSERT_EQUAL(l.text_len, ul);
		CU_ASSERT_EQUAL(l.bomless_non_ascii, strcmp(kat[i].file, "nobom") == 0);
		CU_ASSERT_EQUAL_FATAL(ps_parse(s, sl, &l, &e), 0);
		CU_ASSERT_EQUAL(l.has_block, 1);
		CU_ASSERT_EQUAL(l.text_len, ul);
		CU_ASSERT_EQUAL(l.block_line, strcmp(kat[i].file, "nonl") == 0 ? 2u : 4u);
		free(u);
		free(s);
	}
}

/*
 * osslsigncode's PKCS#7 embedded by ps_embed gives osslsigncode's file byte
 * for byte, from the unsigned script and from the signed one (replacement).
 * The PKCS#7 verifies as a script signature over the fixture's digest.
 */
static void test_embed_matches_osslsigncode(void)
{
	char name[64], hex[2 * EVP_MAX_MD_SIZE + 1];
	struct sd_err e = {0};
	struct au_info info;
	uint8_t *u, *s, *p7 = NULL, *out = NULL;
	size_t ul, sl, p7len = 0, outlen = 0;

	for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
		snprintf(name, sizeof(name), "%s.ps1", kat[i].file);
		u = fixture(name, &ul);
		snprintf(name, sizeof(name), "%s-signed.ps1", kat[i].file);
		s = fixture(name, &sl);
		CU_ASSERT_EQUAL_FATAL(ps_get_signature(s, sl, &p7, &p7len, &e), 0);
		CU_ASSERT_EQUAL_FATAL(ps_embed(u, ul, p7, p7len, &out, &outlen, &e), 0);
		CU_ASSERT(outlen == sl && memcmp(out, s, sl) == 0);
		free(out);
		CU_ASSERT_EQUAL_FATAL(ps_embed(s, sl, p7, p7len, &out, &outlen, &e), 0);
		CU_ASSERT(outlen == sl && memcmp(out, s, sl) == 0);
		free(out);
		if (au_verify(p7, p7len, AU_SUBJECT_SCRIPT, &info, &e) != 0)
			fprintf(stderr, "\n  au_verify %s: %s\n", kat[i].file, e.msg);
		CU_ASSERT_FATAL(info.signer != NULL);
		sd_hex(info.digest, info.digest_len, hex);
		CU_ASSERT_STRING_EQUAL(hex, kat[i].sha256);
		au_info_clear(&info);
		/* And it is not a CAB signature. */
		CU_ASSERT_EQUAL(au_verify(p7, p7len, AU_SUBJECT_CAB, &info, &e), -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "this is a script signature, not a cab"));
		free(p7);
		p7 = NULL;
		free(u);
		free(s);
	}
}

/* The block we write: CRLF, header, 64-character lines, footer, CRLF. */
static void test_block_layout(void)
{
	static const char text[] = "Write-Host 1";
	uint8_t p7[200], *out = NULL, *back = NULL;
	size_t outlen = 0, backlen = 0, off;
	struct sd_err e = {0};
	const char *q;
	int lines = 0;

	p7[0] = 0x30;
	p7[1] = 0x81;
	p7[2] = sizeof(p7) - 3;
	for (size_t i = 3; i < sizeof(p7); i++)
		p7[i] = (uint8_t)i;
	CU_ASSERT_EQUAL_FATAL(
	    ps_embed((const uint8_t *)text, strlen(text), p7, sizeof(p7), &out, &outlen, &e), 0);
	CU_ASSERT(memcmp(out, "Write-Host 1\r\n# SIG # Begin signature block\r\n# ", 47) == 0);
	CU_ASSERT(outlen > 31 &&
		  memcmp(out + outlen - 31, "\r\n# SIG # End signature block\r\n", 31) == 0);
	/* 200 bytes: 268 base64 characters in lines of 64, 64, 64, 64, 12. */
	off = strlen(text) + 2 + 29;
	for (q = (const char *)out + off; q + 4 < (const char *)out + outlen - 31; lines++) {
		const char *nl = memchr(q + 2, '\r', (size_t)((const char *)out + outlen - q - 2));

		CU_ASSERT_FATAL(nl != NULL);
		CU_ASSERT(memcmp(q, "\r\n# ", 4) == 0);
		CU_ASSERT_EQUAL((size_t)(nl - q - 4), lines < 4 ? 64u : 12u);
		q = nl;
	}
	CU_ASSERT_EQUAL(lines, 5);
	CU_ASSERT_EQUAL_FATAL(ps_get_signature(out, outlen, &back, &backlen, &e), 0);
	CU_ASSERT(backlen == sizeof(p7) && memcmp(back, p7, sizeof(p7)) == 0);
	free(back);
	free(out);
	/* Not a single DER SEQUENCE: refused. */
	CU_ASSERT_EQUAL(
	    ps_embed((const uint8_t *)text, strlen(text), p7, sizeof(p7) - 1, &out, &outlen, &e),
	    -1);
	CU_ASSERT_PTR_NULL(out);
}

/* UTF-16LE files get a UTF-16LE block; the signed text is kept as it is. */
static void test_utf16_block(void)
{
	static const uint8_t text[] = {0xff, 0xfe, 'x', 0, '\r', 0, '\n', 0};
	static const uint8_t p7[] = {0x30, 0x03, 0x02, 0x01, 0x05}; /* "MAMCAQU=" */
	static const char want[] = "\r\n# SIG # Begin signature block\r\n# MAMCAQU=\r\n"
				   "# SIG # End signature block\r\n";
	uint8_t *out = NULL;
	size_t outlen = 0, n = strlen(want);
	struct ps_layout l;
	struct sd_err e = {0};

	CU_ASSERT_EQUAL_FATAL(ps_embed(text, sizeof(text), p7, sizeof(p7), &out, &outlen, &e), 0);
	CU_ASSERT_EQUAL_FATAL(outlen, sizeof(text) + 2 * n);
	CU_ASSERT(memcmp(out, text, sizeof(text)) == 0);
	for (size_t i = 0; i < n; i++)
		CU_ASSERT(out[sizeof(text) + 2 * i] == (uint8_t)want[i] &&
			  out[sizeof(text) + 2 * i + 1] == 0);
	CU_ASSERT_EQUAL_FATAL(ps_parse(out, outlen, &l, &e), 0);
	CU_ASSERT_EQUAL(l.enc, PS_ENC_UTF16LE);
	CU_ASSERT_EQUAL(l.text_len, sizeof(text));
	CU_ASSERT_EQUAL(l.block_line, 3u);
	CU_ASSERT_EQUAL(l.sig_len, sizeof(p7));
	free(out);
}

/* Supplementary characters are hashed as surrogate pairs; U+10FFFF is the last. */
static void test_utf8_to_utf16(void)
{
	static const uint8_t in[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf";
	static const uint8_t want[] = {'a',  0,	   0xe9, 0x00, 0xac, 0x20, 0x3d,
				       0xd8, 0x00, 0xde, 0xff, 0xdb, 0xff, 0xdf};
	uint8_t d1[EVP_MAX_MD_SIZE], d2[EVP_MAX_MD_SIZE];
	unsigned int n1 = 0, n2 = 0;
	struct sd_err e = {0};

	CU_ASSERT_EQUAL_FATAL(ps_digest(in, sizeof(in) - 1, EVP_sha256(), d1, &n1, &e), 0);
	CU_ASSERT_FATAL(EVP_Digest(want, sizeof(want), d2, &n2, EVP_sha256(), NULL) == 1);
	CU_ASSERT(n1 == n2 && memcmp(d1, d2, n1) == 0);
}

/* Long text crosses the digest's chunk boundary with multi-byte characters. */
static void test_long_text(void)
{
	size_t n = 100000, i;
	uint8_t *in = malloc(n), *w = malloc(n), d1[EVP_MAX_MD_SIZE], d2[EVP_MAX_MD_SIZE];
	unsigned int n1 = 0, n2 = 0;
	size_t wl = 0;
	struct sd_err e = {0};

	CU_ASSERT_FATAL(in != NULL && w != NULL);
	for (i = 0; i + 3 <= n; i += 3) {
		/* "\xe2\x82\xac" (U+20AC) every third position: 1 UTF-16 unit per 3 bytes. */
		memcpy(in + i, "\xe2\x82\xac", 3);
		w[wl++] = 0xac;
		w[wl++] = 0x20;
	}
	n = i;
	CU_ASSERT_EQUAL_FATAL(ps_digest(in, n, EVP_sha256(), d1, &n1, &e), 0);
	CU_ASSERT_FATAL(EVP_Digest(w, wl, d2, &n2, EVP_sha256(), NULL) == 1);
	CU_ASSERT(n1 == n2 && memcmp(d1, d2, n1) == 0);
	free(in);
	free(w);
}

struct refusal {
	const char *name;
	const char *data;
	size_t len;
	const char *msg;
};

#define R(name, lit, msg)                                                                          \
	{                                                                                          \
		name, lit, sizeof(lit) - 1, msg                                                    \
	}

static const struct refusal refusals[] = {
    R("empty", "", "the script is empty"),
    R("utf16be", "\xfe\xff\x00W",
      "the script is UTF-16BE (byte-order mark FE FF); save it as UTF-8 or UTF-16LE"),
    R("utf32le", "\xff\xfe\x00\x00W\x00\x00\x00",
      "the script is UTF-32LE (byte-order mark FF FE 00 00); save it as UTF-8 or UTF-16LE"),
    R("utf32be", "\x00\x00\xfe\xff\x00\x00\x00W",
      "the script is UTF-32BE (byte-order mark 00 00 FE FF); save it as UTF-8 or UTF-16LE"),
    R("odd", "\xff\xfeW\x00\n",
      "the script is UTF-16LE (byte-order mark FF FE) but 5 bytes long: an odd length cannot be "
      "UTF-16"),
    R("nul", "ab\ncd\x00",
      "NUL byte at offset 5 (line 2): a script is text (UTF-16 without a byte-order mark is not "
      "supported)"),
    R("bomless utf16", "W\x00r\x00",
      "NUL byte at offset 1 (line 1): a script is text (UTF-16 without a byte-order mark is not "
      "supported)"),
    R("u16 nul", "\xff\xfeW\x00\x00\x00",
      "NUL character at offset 4 (line 1) of the UTF-16LE script"),
    R("u16 low", "\xff\xfeW\x00\x00\xdc",
      "invalid UTF-16LE at offset 4 (line 1): a low surrogate without a high one"),
    R("u16 high", "\xff\xfeW\x00\x00\xd8",
      "invalid UTF-16LE at offset 4 (line 1): a high surrogate without a low one"),
    R("u16 high high", "\xff\xfe\x00\xd8\x00\xd8\x00\xdc",
      "invalid UTF-16LE at offset 2 (line 1): a high surrogate without a low one"),
    R("overlong 2", "x\xc1\xbf",
      "invalid UTF-8 at offset 1 (line 1); save the script as UTF-8 or UTF-16LE"),
    R("overlong 3", "x\xe0\x80\x80",
      "invalid UTF-8 at offset 1 (line 1); save the script as UTF-8 or UTF-16LE"),
    R("overlong 4", "x\xf0\x80\x80\x80",
      "invalid UTF-8 at offset 1 (line 1); save the script as UTF-8 or UTF-16LE"),
    R("surrogate", "x\n\xed\xa0\x80",
      "invalid UTF-8 at offset 2 (line 2); save the script as UTF-8 or UTF-16LE"),
    R("too high", "x\xf4\x90\x80\x80",
      "invalid UTF-8 at offset 1 (line 1); save the script as UTF-8 or UTF-16LE"),
    R("f5", "x\xf5\x80\x80\x80",
      "invalid UTF-8 at offset 1 (line 1); save the script as UTF-8 or UTF-16LE"),
    R("cut", "x\xe2\x82",
      "invalid UTF-8 at offset 1 (line 1); save the script as UTF-8 or UTF-16LE"),
    R("bad continuation", "x\xe2\x28\xa1",
      "invalid UTF-8 at offset 1 (line 1); save the script as UTF-8 or UTF-16LE"),
    R("lone continuation", "x\x80",
      "invalid UTF-8 at offset 1 (line 1); save the script as UTF-8 or UTF-16LE"),
    R("bom only", "\xef\xbb\xbf",
      "the script holds only a byte-order mark: there is no text to sign"),
    R("u16 bom only", "\xff\xfe",
      "the script holds only a byte-order mark: there is no text to sign"),
    R("block first",
      "# SIG # Begin signature block\r\n# MAMCAQU=\r\n# SIG # End signature block\r\n",
      "the file starts with a signature block: there is no script text to sign"),
    R("block after bom",
      "\xef\xbb\xbf# SIG # Begin signature block\r\n# MAMCAQU=\r\n# SIG # End signature block\r\n",
      "the file starts with a signature block: there is no script text to sign"),
    R("block after break",
      "\r\n# SIG # Begin signature block\r\n# MAMCAQU=\r\n# SIG # End signature block\r\n",
      "the file holds only a signature block: there is no script text to sign"),
    R("no footer", "x\r\n# SIG # Begin signature block\r\n# MAMCAQU=\r\n",
      "malformed signature block: no \"# SIG # End signature block\" line after the \"# SIG # "
      "Begin signature block\" on line 2"),
    R("header last", "x\r\n# SIG # Begin signature block",
      "malformed signature block: no \"# SIG # End signature block\" line after the \"# SIG # "
      "Begin signature block\" on line 2"),
    R("header more",
      "x\r\n# SIG # Begin signature block!\r\n# MAMCAQU=\r\n# SIG # End signature block\r\n",
      "malformed signature block: line 2 starts with \"# SIG # Begin signature block\" but holds "
      "more"),
    R("not comment",
      "x\r\n# SIG # Begin signature block\r\nMAMCAQU=\r\n# SIG # End signature block\r\n",
      "malformed signature block: line 3 is not \"# \" followed by base64"),
    R("empty line", "x\r\n# SIG # Begin signature block\r\n\r\n# SIG # End signature block\r\n",
      "malformed signature block: line 3 is not \"# \" followed by base64"),
    R("not base64",
      "x\r\n# SIG # Begin signature block\r\n# MAMC AQU=\r\n# SIG # End signature block\r\n",
      "malformed signature block: line 3 holds a character that is not base64 (0x20)"),
    R("no base64", "x\r\n# SIG # Begin signature block\r\n# SIG # End signature block\r\n",
      "malformed signature block at line 2: the base64 is not a whole number of 4-character "
      "groups"),
    R("short base64",
      "x\r\n# SIG # Begin signature block\r\n# MAMCAQ\r\n# SIG # End signature block\r\n",
      "malformed signature block at line 2: the base64 is not a whole number of 4-character "
      "groups"),
    R("mid padding",
      "x\r\n# SIG # Begin signature block\r\n# MA==\r\n# MAMCAQU=\r\n# SIG # End signature "
      "block\r\n",
      "malformed signature block at line 2: base64 padding '=' in the middle of the data"),
    R("not der", "x\r\n# SIG # Begin signature block\r\n# QUJD\r\n# SIG # End signature block\r\n",
      "malformed signature block at line 2: the 3 decoded bytes are not one DER SEQUENCE"),
    R("der too long",
      "x\r\n# SIG # Begin signature block\r\n# MAMCAQUA\r\n# SIG # End signature block\r\n",
      "malformed signature block at line 2: the 6 decoded bytes are not one DER SEQUENCE"),
    R("after footer",
      "x\r\n# SIG # Begin signature block\r\n# MAMCAQU=\r\n# SIG # End signature "
      "block\r\nWrite-Host 2\r\n",
      "malformed signature block: text after \"# SIG # End signature block\" on line 4 (the block "
      "must end the file)"),
    R("second block",
      "x\r\n# SIG # Begin signature block\r\n# MAMCAQU=\r\n# SIG # End signature block\r\n# SIG # "
      "Begin signature block\r\n",
      "malformed signature block: text after \"# SIG # End signature block\" on line 4 (the block "
      "must end the file)"),
    R("crlf after lf",
      "x\n# SIG # Begin signature block\r\n# MAMCAQU=\r\n# SIG # End signature block\r\n",
      "malformed signature block: line 2 ends in CR LF but the line before it does not"),
    R("lf after crlf",
      "x\r\n# SIG # Begin signature block\n# MAMCAQU=\n# SIG # End signature block\n",
      "malformed signature block: line 2 ends in LF but the line before it in CR LF"),
    R("invalid text before block",
      "\xff\r\n# SIG # Begin signature block\r\n# MAMCAQU=\r\n# SIG # End signature block\r\n",
      "invalid UTF-8 at offset 0 (line 1); save the script as UTF-8 or UTF-16LE"),
};

static void test_refusals(void)
{
	struct ps_layout l;
	struct sd_err e;
	uint8_t d[EVP_MAX_MD_SIZE], *out = (uint8_t *)"x", *p7 = (uint8_t *)"x";
	static const uint8_t sig[] = {0x30, 0x03, 0x02, 0x01, 0x05};
	unsigned int dl;
	size_t n;

	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		const struct refusal *r = &refusals[i];
		const uint8_t *p = (const uint8_t *)r->data;

		memset(&e, 0, sizeof(e));
		CU_ASSERT_EQUAL(ps_parse(p, r->len, &l, &e), -1);
		CU_ASSERT_EQUAL(e.code, SD_E_BAD_REQUEST);
		if (strcmp(e.msg, r->msg) != 0)
			fprintf(stderr, "\n  %s: got \"%s\"\n  want \"%s\"\n", r->name, e.msg,
				r->msg);
		CU_ASSERT_STRING_EQUAL(e.msg, r->msg);
		CU_ASSERT_EQUAL(ps_digest(p, r->len, EVP_sha256(), d, &dl, &e), -1);
		CU_ASSERT_STRING_EQUAL(e.msg, r->msg);
		CU_ASSERT_EQUAL(ps_embed(p, r->len, sig, sizeof(sig), &out, &n, &e), -1);
		CU_ASSERT_PTR_NULL(out);
		CU_ASSERT_EQUAL(ps_get_signature(p, r->len, &p7, &n, &e), -1);
		CU_ASSERT_PTR_NULL(p7);
		out = p7 = (uint8_t *)"x";
	}
	CU_ASSERT_EQUAL(ps_get_signature((const uint8_t *)"x\r\n", 3, &p7, &n, &e), -1);
	CU_ASSERT_STRING_EQUAL(
	    e.msg, "the script is not signed (no \"# SIG # Begin signature block\" line)");
}

/* Shapes that are accepted, and where their text ends. */
static void test_accepted_shapes(void)
{
	static const struct {
		const char *data;
		size_t text_len, block_line;
	} ok[] = {
	    /* LF-only block after LF-only text: the LF before the header is not signed. */
	    {"x\n# SIG # Begin signature block\n# MAMCAQU=\n# SIG # End signature block\n", 1, 2},
	    /* No line break after the end line; blank lines and spaces after it. */
	    {"x\r\n# SIG # Begin signature block\r\n# MAMCAQU=\r\n# SIG # End signature block", 1,
	     2},
	    {"x\r\n# SIG # Begin signature block\r\n# MAMCAQU=\r\n# SIG # End signature "
	     "block\r\n\r\n \t\n",
	     1, 2},
	    /* A line that only mentions the header is script text. */
	    {"Write-Host '# SIG # Begin signature block'\r\n", 44, 0},
	    {" # SIG # Begin signature block\r\n", 32, 0},
	    /* Base64 in lines of any length. */
	    {"a\r\nb\r\n# SIG # Begin signature block\r\n# MAM\r\n# CAQU=\r\n# SIG # End signature "
	     "block\r\n",
	     4, 3},
	    /* The text keeps its own trailing line break; the block's own one is not signed. */
	    {"x\r\n\r\n# SIG # Begin signature block\r\n# MAMCAQU=\r\n# SIG # End signature "
	     "block\r\n",
	     3, 3},
	    {"\xef\xbb\xbf\xf4\x8f\xbf\xbf", 7, 0},
	};
	struct ps_layout l;
	struct sd_err e = {0};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (ps_parse((const uint8_t *)ok[i].data, strlen(ok[i].data), &l, &e) != 0 ||
		    l.text_len != ok[i].text_len)
			fprintf(stderr, "\n  shape %zu: %s (text_len %zu)\n", i, e.msg, l.text_len);
		CU_ASSERT_EQUAL(l.text_len, ok[i].text_len);
		CU_ASSERT_EQUAL(l.block_line, ok[i].block_line);
		CU_ASSERT_EQUAL(l.has_block, ok[i].block_line != 0);
	}
}

static void test_names(void)
{
	CU_ASSERT(ps_name_ok("a.ps1"));
	CU_ASSERT(ps_name_ok("dir/Install.PS1"));
	CU_ASSERT(ps_name_ok("m.psm1"));
	CU_ASSERT(ps_name_ok("m.PsD1"));
	CU_ASSERT(!ps_name_ok(".ps1"));
	CU_ASSERT(!ps_name_ok("dir/.ps1"));
	CU_ASSERT(!ps_name_ok("a.ps1.txt"));
	CU_ASSERT(!ps_name_ok("a.ps"));
	CU_ASSERT(!ps_name_ok("a.psc1"));
	CU_ASSERT(!ps_name_ok("a.ps1xml"));
	CU_ASSERT(!ps_name_ok(""));
	CU_ASSERT(!ps_name_ok(NULL));
	CU_ASSERT_STRING_EQUAL(ps_encoding_name(PS_ENC_UTF8_BOM), "UTF-8 with BOM");
}

/*
 * Every truncation and many bit flips of a signed script: each is accepted
 * or refused with a message, and what is accepted embeds and re-parses with
 * the same digest.
 */
static void mutate_one(const uint8_t *p, size_t n)
{
	static const uint8_t sig[] = {0x30, 0x03, 0x02, 0x01, 0x05};
	uint8_t d1[EVP_MAX_MD_SIZE], d2[EVP_MAX_MD_SIZE], *out = NULL;
	unsigned int n1 = 0, n2 = 0;
	size_t outlen = 0;
	struct ps_layout l;
	struct sd_err e = {0};
	int parsed = ps_parse(p, n, &l, &e) == 0;

	if (!parsed) {
		CU_ASSERT(e.msg[0] != '\0');
		CU_ASSERT_EQUAL(ps_digest(p, n, EVP_sha256(), d1, &n1, &e), -1);
		return;
	}
	CU_ASSERT_EQUAL_FATAL(ps_digest(p, n, EVP_sha256(), d1, &n1, &e), 0);
	CU_ASSERT_EQUAL_FATAL(ps_embed(p, n, sig, sizeof(sig), &out, &outlen, &e), 0);
	CU_ASSERT_EQUAL(ps_digest(out, outlen, EVP_sha256(), d2, &n2, &e), 0);
	CU_ASSERT(n1 == n2 && memcmp(d1, d2, n1) == 0);
	free(out);
}

static void test_truncations_and_flips(void)
{
	const char *names[] = {"ascii-signed.ps1", "u16-signed.ps1", "bom-signed.ps1"};
	uint8_t *s, *m;
	size_t sl;

	for (size_t f = 0; f < 3; f++) {
		s = fixture(names[f], &sl);
		for (size_t cut = 0; cut <= sl; cut++)
			mutate_one(s, cut);
		m = malloc(sl);
		CU_ASSERT_FATAL(m != NULL);
		for (size_t i = 0; i < 2048; i++) {
			memcpy(m, s, sl);
			m[(i * 7919) % sl] ^= (uint8_t)(1u << (i % 8));
			mutate_one(m, sl);
		}
		free(m);
		free(s);
	}
}

int main(void)
{
	CU_pSuite s;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("script", NULL, NULL);
	if (s == NULL || !CU_add_test(s, "known-answer digests from osslsigncode", test_kat) ||
	    !CU_add_test(s, "embedding reproduces osslsigncode's files",
			 test_embed_matches_osslsigncode) ||
	    !CU_add_test(s, "block layout", test_block_layout) ||
	    !CU_add_test(s, "UTF-16LE block", test_utf16_block) ||
	    !CU_add_test(s, "UTF-8 to UTF-16 with surrogate pairs", test_utf8_to_utf16) ||
	    !CU_add_test(s, "long text", test_long_text) ||
	    !CU_add_test(s, "refusals with their messages", test_refusals) ||
	    !CU_add_test(s, "accepted shapes", test_accepted_shapes) ||
	    !CU_add_test(s, "file names", test_names) ||
	    !CU_add_test(s, "truncations and bit flips", test_truncations_and_flips)) {
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_NORMAL);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails == 0 ? 0 : 1;
}
