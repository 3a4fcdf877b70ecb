/*
 * The audit log library (signer/audit*.c) and its format (common/audit_*.c):
 * records round trip byte for byte, hostile strings are escaped and bounded,
 * group commit shares fdatasync between threads, rotation and reopening
 * continue the chain, write failures refuse, and the verifier names the
 * first bad line. Checkpoints are signed by an in-memory EC P-256 key.
 */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/audit_fmt.h"
#include "common/audit_vfy.h"
#include "common/b64.h"
#include "common/file.h"
#include "signer/audit.h"

struct fixture {
	EVP_PKEY *key, *other_key;
	X509 *cert, *other_cert;
	char dir[64];
	char path[128];
};

static struct fixture F; /* CUnit test functions take no arguments */

/* --- helpers ---------------------------------------------------------------- */

static int pkey_sign(void *ctx, int md_nid, const uint8_t *hash, size_t hashlen, uint8_t *sig,
		     size_t *siglen, struct sd_err *e)
{
	EVP_PKEY *k = ctx;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
	int ok;

	ok = c != NULL && EVP_PKEY_sign_init(c) > 0 &&
	     EVP_PKEY_CTX_set_signature_md(c, EVP_get_digestbynid(md_nid)) > 0 &&
	     EVP_PKEY_sign(c, sig, siglen, hash, hashlen) > 0;
	EVP_PKEY_CTX_free(c);
	return ok ? 0 : sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "test signer failed");
}

static int failing_sign(void *ctx, int md_nid, const uint8_t *hash, size_t hashlen, uint8_t *sig,
			size_t *siglen, struct sd_err *e)
{
	(void)ctx, (void)md_nid, (void)hash, (void)hashlen, (void)sig, (void)siglen;
	return sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "token removed");
}

static X509 *self_signed(EVP_PKEY *k, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_version(x, X509_VERSION_3);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509_sign(x, k, EVP_sha256());
	X509_NAME_free(n);
	return x;
}

static void set_signer(struct sd_audit *a, EVP_PKEY *k, X509 *cert, const char *name)
{
	struct sd_audit_signer s = {pkey_sign, k, cert, name};

	sd_audit_set_signer(a, &s);
}

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[512];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static void fresh_dir(void)
{
	if (F.dir[0] != '\0')
		rm_dir(F.dir);
	snprintf(F.dir, sizeof(F.dir), "/tmp/sd-audit-test.XXXXXX");
	if (mkdtemp(F.dir) == NULL)
		F.dir[0] = '\0';
	snprintf(F.path, sizeof(F.path), "%s/audit.log", F.dir);
}

/* The file's lines (without newlines) in a NULL-terminated array; free with free_lines. */
static char **read_lines(const char *path, size_t *n)
{
	uint8_t *data = NULL;
	size_t len = 0, i, start = 0, k = 0;
	char **lines;
	struct sd_err e;

	*n = 0;
	if (sd_read_file(path, 64u << 20, &data, &len, &e) != 0)
		return NULL;
	for (i = 0; i < len; i++)
		k += data[i] == '\n';
	lines = calloc(k + 1, sizeof(*lines));
	for (i = 0; lines != NULL && i < len; i++) {
		if (data[i] != '\n')
			continue;
		lines[*n] = strndup((char *)data + start, i - start);
		(*n)++;
		start = i + 1;
	}
	free(data);
	return lines;
}

static void free_lines(char **l)
{
	size_t i;

	for (i = 0; l != NULL && l[i] != NULL; i++)
		free(l[i]);
	free(l);
}

/* Independent SHA-256 hex of a line (EVP, not the library's helper). */
static void hash_hex(const char *s, char out[65])
{
	uint8_t h[32];
	unsigned int hl = 0;

	EVP_Digest(s, strlen(s), h, &hl, EVP_sha256(), NULL);
	sd_hex(h, 32, out);
}

/* Verify lines (in memory) as one file; returns 0 or -1 with e filled. */
static int vfy_lines(char **lines, size_t n, STACK_OF(X509) * pinned, uint64_t expect,
		     struct sd_audit_vfy *v, struct sd_err *e)
{
	size_t i;

	sd_audit_vfy_init(v, pinned);
	sd_audit_vfy_begin_file(v, "log");
	for (i = 0; i < n; i++)
		if (sd_audit_vfy_line(v, lines[i], strlen(lines[i]), e) != 0)
			return -1;
	return sd_audit_vfy_finish(v, expect, e);
}

static int vfy_cb(void *ctx, const char *line, size_t len, uint64_t lineno, struct sd_err *e)
{
	(void)lineno;
	return sd_audit_vfy_line(ctx, line, len, e);
}

static int vfy_files(char **paths, size_t n, struct sd_audit_vfy *v, struct sd_err *e)
{
	size_t i;
	FILE *f;
	int r;

	sd_audit_vfy_init(v, NULL);
	for (i = 0; i < n; i++) {
		f = fopen(paths[i], "r");
		if (f == NULL)
			return sd_err_set(e, SD_E_INTERNAL, "%s: cannot open", paths[i]);
		sd_audit_vfy_begin_file(v, paths[i]);
		r = sd_audit_read_lines(fileno(f), paths[i], 0, NULL, vfy_cb, v, e);
		fclose(f);
		if (r != 0 || sd_audit_vfy_end_file(v, e) != 0)
			return -1;
	}
	return sd_audit_vfy_finish(v, 0, e);
}

static void fill_rec(struct sd_audit_rec *r, const uint8_t *digest, const char *program,
		     uint32_t result)
{
	memset(r, 0, sizeof(*r));
	r->event = "sign";
	r->pid = 321;
	r->uid = 1000;
	r->gid = 1001;
	r->exe = "/usr/bin/pub";
	r->exe_verified = 1;
	r->key = "wsus";
	r->cert_serial = "0a1b";
	r->cert_sha1 = "aabbccddeeff00112233445566778899aabbccdd";
	r->subject_type = "cab";
	r->digest_alg = "sha256";
	r->digest = digest;
	r->digest_len = 32;
	r->program = program;
	r->result = result;
	r->message = result != 0 ? "key \"wsus\": revoked" : NULL;
}

static int append_n(struct sd_audit *a, unsigned n, unsigned first)
{
	struct sd_audit_rec r;
	uint8_t d[32];
	char prog[32];
	struct sd_err e;
	unsigned i;

	for (i = first; i < first + n; i++) {
		memset(d, (int)i, sizeof(d));
		snprintf(prog, sizeof(prog), "p%u", i);
		fill_rec(&r, d, prog, 0);
		if (sd_audit_append(a, &r, &e) != 0)
			return -1;
	}
	return 0;
}

static const char *body_of(const char *line)
{
	const char *b = strstr(line, ",\"type\":");

	return b != NULL ? b : "";
}

/* --- records round trip ------------------------------------------------------- */

static void test_roundtrip(void)
{
	static const char want_a[] =
	    ",\"type\":\"sign\",\"pid\":321,\"uid\":1000,\"gid\":1001,\"exe\":\"/usr/bin/pub\","
	    "\"exe_verified\":true,\"key\":\"wsus\",\"cert_serial\":\"0a1b\","
	    "\"cert_sha1\":\"aabbccddeeff00112233445566778899aabbccdd\",\"subject\":\"cab\","
	    "\"digest_alg\":\"sha256\","
	    "\"digest\":\"0101010101010101010101010101010101010101010101010101010101010101\","
	    "\"program\":\"Setup\",\"result\":\"signed\",\"code\":0,\"error\":\"OK\","
	    "\"message\":\"\"}";
	static const char want_b[] =
	    ",\"type\":\"sign\",\"pid\":321,\"uid\":1000,\"gid\":1001,\"exe\":\"/usr/bin/pub\","
	    "\"exe_verified\":false,\"key\":\"wsus\",\"cert_serial\":\"0a1b\","
	    "\"cert_sha1\":\"aabbccddeeff00112233445566778899aabbccdd\",\"subject\":\"cab\","
	    "\"digest_alg\":\"sha256\","
	    "\"digest\":\"0202020202020202020202020202020202020202020202020202020202020202\","
	    "\"program\":\"\",\"result\":\"refused\",\"code\":11,\"error\":\"CERT_REVOKED\","
	    "\"message\":\"key \\\"wsus\\\": revoked\"}";
	struct sd_audit *a = NULL;
	struct sd_audit_rec r;
	struct sd_audit_line *l = malloc(sizeof(*l));
	struct sd_audit_vfy v;
	struct sd_err e;
	uint8_t d1[32], d2[32], sig[256], *der = NULL;
	char **lines, h[65], buf[64];
	const char *sigp;
	EVP_MD_CTX *mc;
	int64_t now = (int64_t)time(NULL) * 1000;
	size_t n = 0;
	size_t sl = 0;
	const char *why = NULL;

	fresh_dir();
	memset(d1, 1, sizeof(d1));
	memset(d2, 2, sizeof(d2));
	CU_ASSERT_EQUAL_FATAL(sd_audit_open(F.path, 0, 1000, &a, &e), 0);
	set_signer(a, F.key, F.cert, "audit-key");
	fill_rec(&r, d1, "Setup", 0);
	CU_ASSERT_EQUAL(sd_audit_append(a, &r, &e), 0);
	fill_rec(&r, d2, NULL, SD_E_CERT_REVOKED);
	r.exe_verified = 0;
	CU_ASSERT_EQUAL(sd_audit_append(a, &r, &e), 0);
	sd_audit_close(a);

	lines = read_lines(F.path, &n);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	/* The bodies byte for byte; the heads field by field. */
	CU_ASSERT_STRING_EQUAL(body_of(lines[0]), want_a);
	CU_ASSERT_STRING_EQUAL(body_of(lines[1]), want_b);
	CU_ASSERT_EQUAL(strncmp(lines[0], "{\"seq\":1,\"time\":\"", 17), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(lines[0], "\",\"prev\":\"" SD_AUDIT_ZERO_HASH "\",\"type\""));
	CU_ASSERT_EQUAL_FATAL(sd_audit_parse(lines[0], strlen(lines[0]), l, &e), 0);
	CU_ASSERT_EQUAL(l->type, SD_AUDIT_REQUEST);
	CU_ASSERT_EQUAL(l->seq, 1);
	CU_ASSERT(l->time_ms > now - 10000 && l->time_ms < now + 10000);
	CU_ASSERT_EQUAL(sd_audit_get_str(l, "program", buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "Setup");
	CU_ASSERT_EQUAL(sd_audit_get(l, "uid")->num, 1000);
	CU_ASSERT_EQUAL(sd_audit_get(l, "exe_verified")->b, 1);
	CU_ASSERT_EQUAL(sd_audit_parse(lines[1], strlen(lines[1]), l, &e), 0);
	CU_ASSERT_EQUAL(l->seq, 2);
	CU_ASSERT_EQUAL(sd_audit_get_str(l, "message", buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "key \"wsus\": revoked");
	hash_hex(lines[0], h);
	CU_ASSERT_STRING_EQUAL(l->prev, h);

	/* The final checkpoint, checked independently: ECDSA-SHA256 over the prefix. */
	CU_ASSERT_EQUAL_FATAL(sd_audit_parse(lines[2], strlen(lines[2]), l, &e), 0);
	CU_ASSERT_EQUAL(l->type, SD_AUDIT_CHECKPOINT);
	CU_ASSERT_EQUAL(l->seq, 3);
	hash_hex(lines[1], h);
	CU_ASSERT_STRING_EQUAL(l->prev, h);
	CU_ASSERT_EQUAL(sd_audit_get_str(l, "key", buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "audit-key");
	CU_ASSERT_EQUAL(sd_audit_cp_verify(l, NULL, &e), 0);
	sigp = strstr(lines[2], ",\"sig\":\"");
	CU_ASSERT_PTR_NOT_NULL_FATAL(sigp);
	CU_ASSERT_EQUAL_FATAL(
	    sd_b64_decode(sigp + 8, strlen(sigp + 8) - 2, sig, sizeof(sig), &sl, &why), 0);
	CU_ASSERT_FATAL(sl > 0);
	mc = EVP_MD_CTX_new();
	CU_ASSERT_EQUAL(EVP_DigestVerifyInit(mc, NULL, EVP_sha256(), NULL, F.key), 1);
	CU_ASSERT_EQUAL(EVP_DigestVerify(mc, sig, (size_t)sl, (const uint8_t *)lines[2],
					 (size_t)(sigp - lines[2])),
			1);
	EVP_MD_CTX_free(mc);
	/* The embedded certificate is the signer's. */
	CU_ASSERT(i2d_X509(F.cert, &der) > 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(lines[2], ",\"cert\":\""));
	OPENSSL_free(der);
	/* One flipped byte in the signed prefix breaks the signature. */
	lines[2][30] ^= 1;
	if (sd_audit_parse(lines[2], strlen(lines[2]), l, &e) == 0)
		CU_ASSERT_NOT_EQUAL(sd_audit_cp_verify(l, NULL, &e), 0);
	lines[2][30] ^= 1;

	CU_ASSERT_EQUAL(vfy_lines(lines, n, NULL, 0, &v, &e), 0);
	CU_ASSERT_EQUAL(v.lines, 3);
	CU_ASSERT_EQUAL(v.requests, 2);
	CU_ASSERT_EQUAL(v.checkpoints, 1);
	CU_ASSERT_EQUAL(v.after_cp, 0);
	CU_ASSERT_EQUAL(v.cp_seq, 3);
	free_lines(lines);
	free(l);
}

/* --- escaping ------------------------------------------------------------------- */

static void check_str(const char *in, size_t max, const char *want)
{
	struct wbuf w;

	wbuf_init(&w, 0);
	sd_audit_put_str(&w, in, max);
	wbuf_u8(&w, 0);
	CU_ASSERT_FALSE(wbuf_failed(&w));
	CU_ASSERT_STRING_EQUAL((char *)w.p, want);
	if (strcmp((char *)w.p, want) != 0)
		fprintf(stderr, "\n  got  %s\n  want %s\n", (char *)w.p, want);
	wbuf_free(&w);
}

static void test_escaping(void)
{
	check_str("plain", 100, "\"plain\"");
	check_str(NULL, 100, "\"\"");
	check_str("a\"b\\c", 100, "\"a\\\"b\\\\c\"");
	check_str("\n\t\x01\x1f\x7f", 100, "\"\\u000a\\u0009\\u0001\\u001f\\u007f\"");
	check_str("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 100,
		  "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	check_str("\xff", 100, "\"\\ufffd\"");
	check_str("\xc3(", 100, "\"\\ufffd(\"");
	check_str("\xc0\xaf", 100, "\"\\ufffd\\ufffd\"");			/* overlong '/' */
	check_str("\xed\xa0\x80", 100, "\"\\ufffd\\ufffd\\ufffd\"");		/* surrogate */
	check_str("\xf4\x90\x80\x80", 100, "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* > U+10FFFF */
	check_str("x\xe2\x82", 100, "\"x\\ufffd\\ufffd\"");			/* cut sequence */
	/* Bounded: cut at a character boundary, marked with "...". */
	check_str("abcdef", 3, "\"abc...\"");
	check_str("ab\xe2\x82\xac"
		  "cd",
		  5, "\"ab\xe2\x82\xac...\"");
	check_str("ab\xe2\x82\xac", 4, "\"ab...\"");
	check_str("abc", 3, "\"abc\"");
}

static void test_hostile_record(void)
{
	struct sd_audit *a = NULL;
	struct sd_audit_rec r;
	struct sd_audit_line *l = malloc(sizeof(*l));
	struct sd_err e;
	uint8_t d[80];
	char *big = malloc(10240 + 1), **lines, out[4096];
	size_t n = 0;

	fresh_dir();
	memset(big, 'A', 10240);
	big[10240] = '\0';
	memset(d, 0xab, sizeof(d));
	CU_ASSERT_EQUAL_FATAL(sd_audit_open(F.path, 0, 0, &a, &e), 0);
	fill_rec(&r, d, big, 0);
	r.exe = "/tmp/evil\"},\n{\"seq\":99\x1b[2J\xff";
	r.key = "k\\ey";
	r.digest_alg = "sha256\r\n";
	r.digest_len = sizeof(d); /* longer than any digest: bounded too */
	CU_ASSERT_EQUAL(sd_audit_append(a, &r, &e), 0);
	r.event = "checkpoint"; /* reserved: refused, nothing written */
	CU_ASSERT_EQUAL(sd_audit_append(a, &r, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_AUDIT_UNAVAILABLE);
	r.event = "Sign!";
	CU_ASSERT_EQUAL(sd_audit_append(a, &r, &e), -1);
	sd_audit_close(a);
	lines = read_lines(F.path, &n);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT(strlen(lines[0]) < 2048);
	CU_ASSERT_EQUAL_FATAL(sd_audit_parse(lines[0], strlen(lines[0]), l, &e), 0);
	CU_ASSERT_EQUAL(sd_audit_get_str(l, "program", out, sizeof(out)), 0);
	CU_ASSERT_EQUAL(strlen(out), SD_AUDIT_CAP_PROGRAM + 3);
	CU_ASSERT_EQUAL(strcmp(out + SD_AUDIT_CAP_PROGRAM, "..."), 0);
	CU_ASSERT_EQUAL(sd_audit_get_str(l, "exe", out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "/tmp/evil\"},\n{\"seq\":99\x1b[2J\xef\xbf\xbd");
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(lines[0], "\"exe\":\"/tmp/evil\\\"},\\u000a{\\\"seq\\\":99\\u001b[2J\\ufffd\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(lines[0], "\"key\":\"k\\\\ey\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(lines[0], "\"digest_alg\":\"sha256\\u000d\\u000a\""));
	CU_ASSERT_EQUAL(sd_audit_get(l, "digest")->val_len, 2 * SD_AUDIT_CAP_DIGEST + 3);
	free_lines(lines);
	free(big);
	free(l);
}

static void test_parser_strict(void)
{
	struct sd_audit_line *l = malloc(sizeof(*l));
	struct sd_audit *a = NULL;
	struct sd_err e;
	char **lines, bad[2048], out[16];
	size_t n = 0;
	const char *p;

	fresh_dir();
	CU_ASSERT_EQUAL_FATAL(sd_audit_open(F.path, 0, 0, &a, &e), 0);
	CU_ASSERT_EQUAL(append_n(a, 1, 1), 0);
	sd_audit_close(a);
	lines = read_lines(F.path, &n);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(sd_audit_parse(lines[0], strlen(lines[0]), l, &e), 0);
	/* Whitespace after a comma. */
	p = strchr(lines[0], ',');
	snprintf(bad, sizeof(bad), "%.*s, %s", (int)(p - lines[0]), lines[0], p + 1);
	CU_ASSERT_NOT_EQUAL(sd_audit_parse(bad, strlen(bad), l, &e), 0);
	/* Extra field at the end. */
	snprintf(bad, sizeof(bad), "%.*s,\"x\":1}", (int)strlen(lines[0]) - 1, lines[0]);
	CU_ASSERT_NOT_EQUAL(sd_audit_parse(bad, strlen(bad), l, &e), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "unexpected field"));
	/* Fields out of order: pid and uid swapped. */
	snprintf(bad, sizeof(bad), "%s", lines[0]);
	p = strstr(bad, "\"pid\":321,\"uid\":1000");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	memcpy(bad + (p - bad), "\"uid\":321,\"pid\":1000", 20);
	CU_ASSERT_NOT_EQUAL(sd_audit_parse(bad, strlen(bad), l, &e), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "expected \"pid\""));
	/* Leading zero, raw control byte, invalid UTF-8, result/code mismatch. */
	snprintf(bad, sizeof(bad), "%s", lines[0]);
	memcpy(strstr(bad, "\"pid\":321"), "\"pid\":021", 9);
	CU_ASSERT_NOT_EQUAL(sd_audit_parse(bad, strlen(bad), l, &e), 0);
	snprintf(bad, sizeof(bad), "%s", lines[0]);
	*strstr(bad, "p1") = '\x01';
	CU_ASSERT_NOT_EQUAL(sd_audit_parse(bad, strlen(bad), l, &e), 0);
	snprintf(bad, sizeof(bad), "%s", lines[0]);
	*strstr(bad, "p1") = '\xc3';
	CU_ASSERT_NOT_EQUAL(sd_audit_parse(bad, strlen(bad), l, &e), 0);
	snprintf(bad, sizeof(bad), "%s", lines[0]);
	memcpy(strstr(bad, "\"code\":0"), "\"code\":7", 8);
	CU_ASSERT_NOT_EQUAL(sd_audit_parse(bad, strlen(bad), l, &e), 0);
	/* Unescaping: a surrogate pair, and \u0000 is refused. */
	CU_ASSERT_EQUAL(sd_audit_unescape("\\ud83d\\ude00\\u00e9", 18, out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "\xf0\x9f\x98\x80\xc3\xa9");
	CU_ASSERT_NOT_EQUAL(sd_audit_unescape("a\\u0000", 7, out, sizeof(out)), 0);
	CU_ASSERT_NOT_EQUAL(sd_audit_unescape("\\udc00", 6, out, sizeof(out)), 0);
	free_lines(lines);
	free(l);
}

/* A void record withdraws an earlier "sign" record: written, parsed and verified strictly. */
static void test_void_record(void)
{
	struct sd_audit_line *l = malloc(sizeof(*l));
	struct sd_audit_vfy v;
	struct sd_audit *a = NULL;
	struct sd_audit_rec r;
	struct sd_err e;
	uint8_t d[32];
	char **lines, bad[2048], *p;
	size_t n = 0;

	fresh_dir();
	memset(d, 0x5a, sizeof(d));
	CU_ASSERT_EQUAL_FATAL(sd_audit_open(F.path, 0, 0, &a, &e), 0);
	fill_rec(&r, d, "p", 0);
	CU_ASSERT_EQUAL(sd_audit_append(a, &r, &e), 0);
	/* The writer refuses a void without a code, a void without voids, a sign with voids. */
	r.event = "void";
	r.voids = 1;
	CU_ASSERT_EQUAL(sd_audit_append(a, &r, &e), -1);
	fill_rec(&r, d, "p", SD_E_TOKEN_UNAVAILABLE);
	r.event = "void";
	CU_ASSERT_EQUAL(sd_audit_append(a, &r, &e), -1);
	r.event = "sign";
	r.voids = 1;
	CU_ASSERT_EQUAL(sd_audit_append(a, &r, &e), -1);
	/* Nor may a void name its own seq or a later one (a seq a reopened log handed out again).
	 */
	r.event = "void";
	r.voids = 2;
	CU_ASSERT_EQUAL(sd_audit_append(a, &r, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "which this log has not written"));
	r.voids = 1;
	CU_ASSERT_EQUAL(sd_audit_append(a, &r, &e), 0);
	sd_audit_close(a);
	lines = read_lines(F.path, &n);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL_FATAL(sd_audit_parse(lines[1], strlen(lines[1]), l, &e), 0);
	CU_ASSERT_EQUAL(l->type, SD_AUDIT_REQUEST);
	CU_ASSERT_PTR_NOT_NULL(strstr(lines[1], ",\"type\":\"void\","));
	CU_ASSERT_PTR_NOT_NULL(strstr(lines[1], ",\"result\":\"refused\","));
	CU_ASSERT(strlen(lines[1]) > 11 &&
		  strcmp(lines[1] + strlen(lines[1]) - 11, ",\"voids\":1}") == 0);
	CU_ASSERT_EQUAL(sd_audit_get(l, "voids")->num, 1);
	CU_ASSERT_EQUAL(vfy_lines(lines, n, NULL, 0, &v, &e), 0);
	CU_ASSERT_EQUAL(v.voids, 1);
	CU_ASSERT_EQUAL(v.voids_checked, 1);
	/* A void must name an earlier record. */
	snprintf(bad, sizeof(bad), "%s", lines[1]);
	p = strstr(bad, ",\"voids\":1}");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	memcpy(p, ",\"voids\":2}", 11);
	CU_ASSERT_NOT_EQUAL(sd_audit_parse(bad, strlen(bad), l, &e), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "earlier record"));
	/* A void without voids, and a sign record with it, are malformed. */
	snprintf(bad, sizeof(bad), "%s", lines[1]);
	strcpy(strstr(bad, ",\"voids\":1}"), "}");
	CU_ASSERT_NOT_EQUAL(sd_audit_parse(bad, strlen(bad), l, &e), 0);
	snprintf(bad, sizeof(bad), "%s", lines[1]);
	memcpy(strstr(bad, "\"type\":\"void\""), "\"type\":\"sign\"", 13);
	CU_ASSERT_NOT_EQUAL(sd_audit_parse(bad, strlen(bad), l, &e), 0);
	free_lines(lines);
	free(l);
}

/* Write sign/void records: digest byte, result, voids (0: a sign record) per entry. */
static char **void_log(const unsigned (*spec)[3], size_t nspec, size_t *n)
{
	struct sd_audit *a = NULL;
	struct sd_audit_rec r;
	struct sd_err e;
	uint8_t d[32];
	size_t i;

	fresh_dir();
	if (sd_audit_open(F.path, 0, 0, &a, &e) != 0)
		return NULL;
	for (i = 0; i < nspec; i++) {
		memset(d, (int)spec[i][0], sizeof(d));
		fill_rec(&r, d, "p", spec[i][1]);
		r.voids = spec[i][2];
		r.event = r.voids != 0 ? "void" : "sign";
		CU_ASSERT_EQUAL(sd_audit_append(a, &r, &e), 0);
	}
	sd_audit_close(a);
	return read_lines(F.path, n);
}

/* The verifier checks a void against the record it names, when it has seen that one. */
static void test_void_crosscheck(void)
{
	static const unsigned ok[][3] = {{1, 0, 0}, {2, 0, 0}, {2, 11, 0}, {1, 7, 1}, {2, 7, 2}};
	static const unsigned refused[][3] = {{1, 11, 0}, {1, 7, 1}};
	static const unsigned other[][3] = {{1, 0, 0}, {2, 7, 1}};
	static const unsigned twice[][3] = {{1, 0, 0}, {1, 7, 1}, {1, 7, 1}};
	static const unsigned named_void[][3] = {{1, 0, 0}, {1, 7, 1}, {1, 7, 2}};
	struct sd_audit_vfy v;
	struct sd_err e;
	char **lines;
	size_t n = 0;

	lines = void_log(ok, 5, &n);
	CU_ASSERT_EQUAL_FATAL(n, 5);
	CU_ASSERT_EQUAL(vfy_lines(lines, n, NULL, 0, &v, &e), 0);
	CU_ASSERT_EQUAL(v.voids, 2);
	CU_ASSERT_EQUAL(v.voids_checked, 2);
	/* Verified from line 2 on (as a rotated tail would be): the first void is unchecked. */
	sd_audit_vfy_init(&v, NULL);
	sd_audit_vfy_begin_file(&v, "log");
	v.have_last = 1;
	v.last_seq = 1;
	sd_audit_hash_hex(lines[0], strlen(lines[0]), v.last_hash);
	CU_ASSERT_EQUAL(sd_audit_vfy_line(&v, lines[1], strlen(lines[1]), &e), 0);
	CU_ASSERT_EQUAL(sd_audit_vfy_line(&v, lines[2], strlen(lines[2]), &e), 0);
	CU_ASSERT_EQUAL(sd_audit_vfy_line(&v, lines[3], strlen(lines[3]), &e), 0);
	CU_ASSERT_EQUAL(sd_audit_vfy_line(&v, lines[4], strlen(lines[4]), &e), 0);
	CU_ASSERT_EQUAL(v.voids, 2);
	CU_ASSERT_EQUAL(v.voids_checked, 1);
	free_lines(lines);

	lines = void_log(refused, 2, &n);
	CU_ASSERT_EQUAL(vfy_lines(lines, n, NULL, 0, &v, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(e.msg, "line 2: the void names seq 1, which is not a signed"));
	free_lines(lines);
	lines = void_log(other, 2, &n);
	CU_ASSERT_EQUAL(vfy_lines(lines, n, NULL, 0, &v, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "another key or digest"));
	free_lines(lines);
	lines = void_log(twice, 3, &n);
	CU_ASSERT_EQUAL(vfy_lines(lines, n, NULL, 0, &v, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "line 3: seq 1 is voided a second time"));
	free_lines(lines);
	lines = void_log(named_void, 3, &n);
	CU_ASSERT_EQUAL(vfy_lines(lines, n, NULL, 0, &v, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "seq 2, which is not a signed"));
	free_lines(lines);
}

static void test_time(void)
{
	struct timespec ts = {1767323045, 678000000}; /* 2026-01-02T03:04:05.678Z */
	char t[32];
	int64_t ms;

	sd_audit_fmt_time(&ts, t);
	CU_ASSERT_STRING_EQUAL(t, "2026-01-02T03:04:05.678Z");
	CU_ASSERT_EQUAL(sd_audit_parse_time(t, strlen(t), 1, &ms), 0);
	CU_ASSERT_EQUAL(ms, 1767323045678LL);
	CU_ASSERT_EQUAL(sd_audit_parse_time("2026-01-02", 10, 0, &ms), 0);
	CU_ASSERT_EQUAL(ms, 1767312000000LL);
	CU_ASSERT_EQUAL(sd_audit_parse_time("2026-01-02T05:04:05+02:00", 25, 0, &ms), 0);
	CU_ASSERT_EQUAL(ms, 1767323045000LL);
	CU_ASSERT_EQUAL(sd_audit_parse_time("2026-01-02T03:04:05.5Z", 22, 0, &ms), 0);
	CU_ASSERT_EQUAL(ms, 1767323045500LL);
	CU_ASSERT_NOT_EQUAL(sd_audit_parse_time("2026-02-30", 10, 0, &ms), 0);
	CU_ASSERT_NOT_EQUAL(sd_audit_parse_time("2026-01-02T03:04:05Z", 20, 1, &ms), 0);
	CU_ASSERT_NOT_EQUAL(sd_audit_parse_time("2026-01-02 03:04:05Z", 20, 0, &ms), 0);
	CU_ASSERT_NOT_EQUAL(sd_audit_parse_time("2026-1-2", 8, 0, &ms), 0);
}

/* --- group commit ------------------------------------------------------------------ */

#define THREADS 8
#define PER	100

struct worker {
	struct sd_audit *a;
	unsigned id;
	int fails;
	int not_durable;
};

static void slow_sync(void *ctx)
{
	(void)ctx;
	usleep(2000); /* a slow disk: appenders pile up behind the writer */
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct sd_audit_rec r;
	uint8_t d[32], *data;
	char prog[32], needle[48];
	struct sd_err e;
	size_t len;
	unsigned i;

	for (i = 0; i < PER; i++) {
		memset(d, (int)(w->id * PER + i), sizeof(d));
		snprintf(prog, sizeof(prog), "t%u-%u", w->id, i);
		fill_rec(&r, d, prog, 0);
		if (sd_audit_append(w->a, &r, &e) != 0) {
			w->fails++;
			continue;
		}
		/* Returned: the record must already be in the file. */
		if (i % 25 == 0) {
			snprintf(needle, sizeof(needle), "\"program\":\"%s\"", prog);
			data = NULL;
			if (sd_read_file(F.path, 64u << 20, &data, &len, &e) != 0 ||
			    memmem(data, len, needle, strlen(needle)) == NULL)
				w->not_durable++;
			free(data);
		}
	}
	return NULL;
}

static void test_group_commit(void)
{
	struct sd_audit *a = NULL;
	struct worker w[THREADS];
	pthread_t th[THREADS];
	struct sd_audit_stats st;
	struct sd_audit_line *l = malloc(sizeof(*l));
	struct sd_audit_vfy v;
	unsigned char seen[THREADS][PER];
	struct sd_err e;
	char **lines, prog[32];
	size_t n = 0, i;
	unsigned t, k, dup = 0, missing = 0;

	fresh_dir();
	memset(seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL_FATAL(sd_audit_open(F.path, 0, 50, &a, &e), 0);
	set_signer(a, F.key, F.cert, "audit-key");
	sd_audit_set_sync_hook(a, slow_sync, NULL);
	for (t = 0; t < THREADS; t++) {
		w[t] = (struct worker){a, t, 0, 0};
		pthread_create(&th[t], NULL, worker_main, &w[t]);
	}
	for (t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		CU_ASSERT_EQUAL(w[t].fails, 0);
		CU_ASSERT_EQUAL(w[t].not_durable, 0);
	}
	sd_audit_get_stats(a, &st);
	sd_audit_close(a);
	printf("\n    group commit: %u records, %llu fdatasync calls, %llu checkpoints\n",
	       THREADS * PER, (unsigned long long)st.syncs, (unsigned long long)st.checkpoints);
	CU_ASSERT_EQUAL(st.records, THREADS * PER + st.checkpoints);
	CU_ASSERT(st.checkpoints >= THREADS * PER / 50);
	/*
	 * Batches alternate between the threads that just returned and the rest:
	 * about THREADS / 2 records share each fdatasync (~190 syncs measured).
	 * Without group commit there would be one per record (816).
	 */
	CU_ASSERT(st.syncs > 0 && st.syncs <= THREADS * PER / 2);
	CU_ASSERT_FALSE(st.failed);

	lines = read_lines(F.path, &n);
	CU_ASSERT_EQUAL(vfy_lines(lines, n, NULL, 0, &v, &e), 0);
	CU_ASSERT_EQUAL(v.requests, THREADS * PER);
	CU_ASSERT_EQUAL(v.after_cp, 0);
	for (i = 0; i < n; i++) {
		if (sd_audit_parse(lines[i], strlen(lines[i]), l, &e) != 0 ||
		    l->type != SD_AUDIT_REQUEST)
			continue;
		if (sd_audit_get_str(l, "program", prog, sizeof(prog)) == 0 &&
		    sscanf(prog, "t%u-%u", &t, &k) == 2 && t < THREADS && k < PER)
			dup += seen[t][k]++ != 0;
	}
	for (t = 0; t < THREADS; t++)
		for (k = 0; k < PER; k++)
			missing += seen[t][k] == 0;
	CU_ASSERT_EQUAL(dup, 0);
	CU_ASSERT_EQUAL(missing, 0);
	free_lines(lines);
	free(l);
}

/* --- rotation ---------------------------------------------------------------------- */

struct named {
	char path[400];
	uint64_t first_seq;
};

static int by_seq(const void *x, const void *y)
{
	const struct named *a = x, *b = y;

	return a->first_seq < b->first_seq ? -1 : a->first_seq > b->first_seq;
}

/* Every audit.log* file of the fixture directory, oldest first (by first seq). */
static size_t list_logs(struct named *out, size_t max)
{
	struct sd_audit_line *l = malloc(sizeof(*l));
	DIR *d = opendir(F.dir);
	struct dirent *de;
	struct sd_err e;
	char **lines;
	size_t n = 0, k;

	while (d != NULL && (de = readdir(d)) != NULL && n < max) {
		if (strncmp(de->d_name, "audit.log", 9) != 0)
			continue;
		snprintf(out[n].path, sizeof(out[n].path), "%s/%s", F.dir, de->d_name);
		lines = read_lines(out[n].path, &k);
		out[n].first_seq = 0;
		if (k > 0 && sd_audit_parse(lines[0], strlen(lines[0]), l, &e) == 0)
			out[n].first_seq = l->seq;
		free_lines(lines);
		n++;
	}
	if (d != NULL)
		closedir(d);
	qsort(out, n, sizeof(*out), by_seq);
	free(l);
	return n;
}

static void check_rotated_chain(struct named *f, size_t nf)
{
	struct sd_audit_line *l = malloc(sizeof(*l));
	char **prev, **cur, h[65], name[400];
	const char *base;
	size_t i, np, nc;
	struct sd_err e;

	for (i = 1; i < nf; i++) {
		prev = read_lines(f[i - 1].path, &np);
		cur = read_lines(f[i].path, &nc);
		CU_ASSERT_FATAL(np > 0 && nc > 0);
		/* The old file ends with a checkpoint; the new one starts with a rotate record. */
		CU_ASSERT_PTR_NOT_NULL(strstr(prev[np - 1], "\"type\":\"checkpoint\""));
		CU_ASSERT_EQUAL_FATAL(sd_audit_parse(cur[0], strlen(cur[0]), l, &e), 0);
		CU_ASSERT_EQUAL(l->type, SD_AUDIT_ROTATE);
		hash_hex(prev[np - 1], h);
		CU_ASSERT_STRING_EQUAL(l->prev, h);
		base = strrchr(f[i - 1].path, '/') + 1;
		CU_ASSERT_EQUAL(sd_audit_get_str(l, "prev_file", name, sizeof(name)), 0);
		CU_ASSERT_STRING_EQUAL(name, base);
		free_lines(prev);
		free_lines(cur);
	}
	free(l);
}

static void test_rotation_size(void)
{
	struct sd_audit *a = NULL;
	struct sd_audit_stats st;
	struct sd_audit_vfy v;
	struct named f[64];
	char *paths[64], *tmp;
	struct sd_err e;
	size_t nf, i;
	struct stat sb;

	fresh_dir();
	CU_ASSERT_EQUAL_FATAL(sd_audit_open(F.path, 2048, 0, &a, &e), 0);
	set_signer(a, F.key, F.cert, "audit-key");
	CU_ASSERT_EQUAL(append_n(a, 40, 1), 0);
	sd_audit_get_stats(a, &st);
	sd_audit_close(a);
	nf = list_logs(f, 64);
	CU_ASSERT(nf >= 4);
	CU_ASSERT_EQUAL(st.rotations, nf - 1);
	CU_ASSERT_EQUAL(f[0].first_seq, 1);
	/* The newest file is the configured path; rotated ones are bounded in size. */
	CU_ASSERT_STRING_EQUAL(f[nf - 1].path, F.path);
	for (i = 0; i + 1 < nf; i++)
		CU_ASSERT(stat(f[i].path, &sb) == 0 && sb.st_size < 2048 + 2048);
	check_rotated_chain(f, nf);
	for (i = 0; i < nf; i++)
		paths[i] = f[i].path;
	CU_ASSERT_EQUAL(vfy_files(paths, nf, &v, &e), 0);
	CU_ASSERT_EQUAL(v.requests, 40);
	CU_ASSERT_EQUAL(v.rotations, nf - 1);
	CU_ASSERT_EQUAL(v.after_cp, 0);
	/* Out of order: file 2 before file 1. */
	tmp = paths[1];
	paths[1] = paths[2];
	paths[2] = tmp;
	CU_ASSERT_NOT_EQUAL(vfy_files(paths, nf, &v, &e), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "seq"));
	/* A rotated file alone verifies, but says its start is not checked. */
	CU_ASSERT_EQUAL(vfy_files(paths + nf - 1, 1, &v, &e), 0);
	CU_ASSERT_EQUAL(v.start_unverified, 1);
}

static void test_rotate_now(void)
{
	struct sd_audit_line *l = malloc(sizeof(*l));
	struct sd_audit *a = NULL;
	struct sd_audit_vfy v;
	struct named f[8];
	char *paths[8], **lines, reason[32];
	struct sd_err e;
	size_t nf, n;

	fresh_dir();
	CU_ASSERT_EQUAL_FATAL(sd_audit_open(F.path, 0, 0, &a, &e), 0);
	set_signer(a, F.key, F.cert, "audit-key");
	CU_ASSERT_EQUAL(append_n(a, 3, 1), 0);
	CU_ASSERT_EQUAL(sd_audit_rotate(a, &e), 0);
	CU_ASSERT_EQUAL(append_n(a, 2, 4), 0);
	sd_audit_close(a);
	nf = list_logs(f, 8);
	CU_ASSERT_EQUAL_FATAL(nf, 2);
	check_rotated_chain(f, nf);
	/* Old: 3 records + checkpoint (seq 4); new: rotate (5), 2 records, checkpoint. */
	lines = read_lines(f[1].path, &n);
	CU_ASSERT_EQUAL_FATAL(n, 4);
	CU_ASSERT_EQUAL(sd_audit_parse(lines[0], strlen(lines[0]), l, &e), 0);
	CU_ASSERT_EQUAL(l->seq, 5);
	CU_ASSERT_EQUAL(sd_audit_get_str(l, "reason", reason, sizeof(reason)), 0);
	CU_ASSERT_STRING_EQUAL(reason, "requested");
	free_lines(lines);
	paths[0] = f[0].path;
	paths[1] = f[1].path;
	CU_ASSERT_EQUAL(vfy_files(paths, 2, &v, &e), 0);
	CU_ASSERT_EQUAL(v.lines, 8);
	/* Deleting the old file's last line breaks the link to the new file. */
	lines = read_lines(f[0].path, &n);
	CU_ASSERT_EQUAL_FATAL(n, 4);
	CU_ASSERT_EQUAL(truncate(f[0].path, (off_t)(strlen(lines[0]) + strlen(lines[1]) +
						    strlen(lines[2]) + 3)),
			0);
	free_lines(lines);
	CU_ASSERT_NOT_EQUAL(vfy_files(paths, 2, &v, &e), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "line 1: seq 5, expected 4"));
	/* An emptied file is refused. */
	CU_ASSERT_EQUAL(truncate(f[0].path, 0), 0);
	CU_ASSERT_NOT_EQUAL(vfy_files(paths, 2, &v, &e), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "no records"));
	free(l);
}

/* --- reopen -------------------------------------------------------------------------- */

static void test_reopen(void)
{
	struct sd_audit_line *l = malloc(sizeof(*l));
	struct sd_audit *a = NULL, *b = NULL;
	struct sd_audit_vfy v;
	struct sd_err e;
	char **lines, h[65];
	size_t n;
	FILE *f;

	fresh_dir();
	/* Session 1 without a signer: the file ends without a checkpoint (like a crash). */
	CU_ASSERT_EQUAL_FATAL(sd_audit_open(F.path, 0, 1000, &a, &e), 0);
	CU_ASSERT_EQUAL(append_n(a, 2, 1), 0);
	/* A second writer on the same file is refused. */
	CU_ASSERT_EQUAL(sd_audit_open(F.path, 0, 1000, &b, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "in use"));
	sd_audit_close(a);
	/* Session 2 continues the chain, and checkpoints with its first record. */
	CU_ASSERT_EQUAL_FATAL(sd_audit_open(F.path, 0, 1000, &a, &e), 0);
	set_signer(a, F.key, F.cert, "audit-key");
	CU_ASSERT_EQUAL(append_n(a, 1, 3), 0);
	sd_audit_close(a);
	lines = read_lines(F.path, &n);
	CU_ASSERT_EQUAL_FATAL(n, 4);
	CU_ASSERT_EQUAL(sd_audit_parse(lines[2], strlen(lines[2]), l, &e), 0);
	CU_ASSERT_EQUAL(l->seq, 3);
	hash_hex(lines[1], h);
	CU_ASSERT_STRING_EQUAL(l->prev, h);
	CU_ASSERT_PTR_NOT_NULL(strstr(lines[3], "\"type\":\"checkpoint\""));
	CU_ASSERT_EQUAL(vfy_lines(lines, n, NULL, 0, &v, &e), 0);
	free_lines(lines);

	/* Session 3: closing a log that ends with a checkpoint adds none. */
	CU_ASSERT_EQUAL_FATAL(sd_audit_open(F.path, 0, 1000, &a, &e), 0);
	set_signer(a, F.key, F.cert, "audit-key");
	sd_audit_close(a);
	lines = read_lines(F.path, &n);
	CU_ASSERT_EQUAL(n, 4);
	free_lines(lines);

	/* A torn last line is refused, with the size to cut it back to. */
	f = fopen(F.path, "a");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("{\"seq\":5,\"ti", f);
	fclose(f);
	CU_ASSERT_EQUAL(sd_audit_open(F.path, 0, 1000, &a, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_AUDIT_UNAVAILABLE);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "incomplete record"));
	lines = read_lines(F.path, &n);
	{
		size_t i, good = 0;
		char want[64];

		for (i = 0; i < n; i++)
			good += strlen(lines[i]) + 1;
		snprintf(want, sizeof(want), "truncate -s %zu", good);
		CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, want));
		CU_ASSERT_EQUAL(truncate(F.path, (off_t)good), 0);
	}
	free_lines(lines);
	CU_ASSERT_EQUAL_FATAL(sd_audit_open(F.path, 0, 1000, &a, &e), 0);
	sd_audit_close(a);

	/* A last record that does not chain to the one before it is refused. */
	lines = read_lines(F.path, &n);
	f = fopen(F.path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	lines[2][strlen(lines[2]) - 3] ^= 1; /* inside line 3's message */
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s\n", lines[i]);
	fclose(f);
	free_lines(lines);
	CU_ASSERT_EQUAL(sd_audit_open(F.path, 0, 1000, &a, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "does not chain"));
	free(l);
}

/* --- failure ------------------------------------------------------------------------- */

static void test_write_failure(void)
{
	struct sd_audit *a = NULL;
	struct sd_audit_stats st;
	struct sd_audit_rec r;
	struct sd_audit_vfy v;
	struct rlimit old, lim;
	struct stat sb;
	struct sd_err e;
	uint8_t d[32];
	char prog[600], **lines;
	off_t good;
	size_t n;
	int rc1, rc2;

	fresh_dir();
	memset(d, 9, sizeof(d));
	memset(prog, 'x', sizeof(prog) - 1);
	prog[sizeof(prog) - 1] = '\0';
	CU_ASSERT_EQUAL_FATAL(sd_audit_open(F.path, 0, 0, &a, &e), 0);
	CU_ASSERT_EQUAL(append_n(a, 1, 1), 0);
	CU_ASSERT_EQUAL_FATAL(stat(F.path, &sb), 0);
	good = sb.st_size;
	/* The file may not grow by a whole record: write() fails with EFBIG. */
	CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = (rlim_t)good + 100;
	CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &lim), 0);
	fill_rec(&r, d, prog, 0);
	rc1 = sd_audit_append(a, &r, &e);
	setrlimit(RLIMIT_FSIZE, &old);
	CU_ASSERT_EQUAL(rc1, -1);
	CU_ASSERT_EQUAL(e.code, SD_E_AUDIT_UNAVAILABLE);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "write failed"));
	/* It keeps refusing, even though the disk has room again. */
	rc2 = sd_audit_append(a, &r, &e);
	CU_ASSERT_EQUAL(rc2, -1);
	CU_ASSERT_EQUAL(e.code, SD_E_AUDIT_UNAVAILABLE);
	CU_ASSERT_EQUAL(sd_audit_rotate(a, &e), -1);
	sd_audit_get_stats(a, &st);
	CU_ASSERT_EQUAL(st.failed, 1);
	CU_ASSERT_EQUAL(st.seq, 1);
	/* The partial record was cut off. */
	CU_ASSERT(stat(F.path, &sb) == 0 && sb.st_size == good);
	sd_audit_close(a);
	/* Reopened: the chain continues from the last durable record. */
	CU_ASSERT_EQUAL_FATAL(sd_audit_open(F.path, 0, 0, &a, &e), 0);
	CU_ASSERT_EQUAL(append_n(a, 1, 2), 0);
	sd_audit_close(a);
	lines = read_lines(F.path, &n);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(vfy_lines(lines, n, NULL, 0, &v, &e), 0);
	CU_ASSERT_EQUAL(v.last_seq, 2);
	free_lines(lines);
}

static int warnings;

static void count_warn(void *ctx, const char *msg)
{
	(void)msg;
	(*(int *)ctx)++;
}

static void test_checkpoint_failure(void)
{
	struct sd_audit_signer s = {failing_sign, NULL, NULL, "audit-key"};
	struct sd_audit *a = NULL;
	struct sd_audit_stats st;
	struct sd_err e;
	char **lines;
	size_t n, i;
	int cps = 0;

	fresh_dir();
	warnings = 0;
	s.cert = F.cert;
	CU_ASSERT_EQUAL_FATAL(sd_audit_open(F.path, 0, 1, &a, &e), 0);
	sd_audit_set_warn(a, count_warn, &warnings);
	sd_audit_set_signer(a, &s);
	/* Signing fails: records are still written, each retry warns. */
	CU_ASSERT_EQUAL(append_n(a, 3, 1), 0);
	CU_ASSERT_EQUAL(warnings, 3);
	/* A key that does not match the certificate: the checkpoint is not written. */
	set_signer(a, F.other_key, F.cert, "audit-key");
	CU_ASSERT_EQUAL(append_n(a, 1, 4), 0);
	CU_ASSERT_EQUAL(warnings, 4);
	/* Fixed: the next record gets its checkpoint. */
	set_signer(a, F.key, F.cert, "audit-key");
	CU_ASSERT_EQUAL(append_n(a, 1, 5), 0);
	sd_audit_get_stats(a, &st);
	CU_ASSERT_EQUAL(st.checkpoints, 1);
	/* No signer: no checkpoints, no failure. */
	sd_audit_set_signer(a, NULL);
	CU_ASSERT_EQUAL(append_n(a, 1, 6), 0);
	CU_ASSERT_EQUAL(sd_audit_checkpoint(a, &e), -1);
	sd_audit_close(a);
	lines = read_lines(F.path, &n);
	for (i = 0; i < n; i++)
		cps += strstr(lines[i], "\"type\":\"checkpoint\"") != NULL;
	CU_ASSERT_EQUAL(n, 7);
	CU_ASSERT_EQUAL(cps, 1);
	free_lines(lines);
}

/* --- deferred commit: sd_audit_submit and the background writer -------------------- */

struct commits {
	pthread_mutex_t mu;
	unsigned syncs;		 /* fdatasyncs that returned (the sync hook) */
	unsigned notified;	 /* notify calls */
	unsigned syncs_at_first; /* syncs when notify first ran */
	size_t lines_at_last;	 /* lines in the file when notify last ran */
};

static void count_sync(void *ctx)
{
	struct commits *c = ctx;

	pthread_mutex_lock(&c->mu);
	c->syncs++;
	pthread_mutex_unlock(&c->mu);
}

/* Runs with the log's lock held: reads the file, not the log. */
static void count_notify(void *ctx)
{
	struct commits *c = ctx;
	char **lines;
	size_t n = 0;

	lines = read_lines(F.path, &n);
	free_lines(lines);
	pthread_mutex_lock(&c->mu);
	if (c->notified++ == 0)
		c->syncs_at_first = c->syncs;
	c->lines_at_last = n;
	pthread_mutex_unlock(&c->mu);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Poll seq until it is no longer pending (or max_ms pass); returns the last poll. */
static int poll_until(struct sd_audit *a, uint64_t seq, int64_t max_ms)
{
	int64_t end = now_ms() + max_ms;
	int st;

	while ((st = sd_audit_poll(a, seq)) == 0 && now_ms() < end)
		usleep(1000);
	return st;
}

static int submit_one(struct sd_audit *a, unsigned i, uint64_t *seq, struct sd_err *e)
{
	struct sd_audit_rec r;
	uint8_t d[32];
	char prog[32];

	memset(d, (int)i, sizeof(d));
	snprintf(prog, sizeof(prog), "d%u", i);
	fill_rec(&r, d, prog, 0);
	return sd_audit_submit(a, &r, seq, e);
}

static unsigned notified(struct commits *c)
{
	unsigned n;

	pthread_mutex_lock(&c->mu);
	n = c->notified;
	pthread_mutex_unlock(&c->mu);
	return n;
}

static void test_deferred_commit(void)
{
	struct commits c = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0};
	struct sd_audit *a = NULL;
	struct sd_err e;
	uint64_t seq[10], extra;
	int64_t t0;
	size_t n;
	char **lines;
	unsigned i, pending = 0;

	fresh_dir();
	CU_ASSERT_EQUAL_FATAL(sd_audit_open(F.path, 0, 0, &a, &e), 0);
	sd_audit_set_sync_hook(a, count_sync, &c);
	sd_audit_set_notify(a, count_notify, &c);
	/* Records wait up to 300 ms for company: far longer than this loop takes. */
	CU_ASSERT_EQUAL_FATAL(sd_audit_start_writer(a, 300000, &e), 0);
	t0 = now_ms();
	for (i = 0; i < 10; i++) {
		CU_ASSERT_EQUAL_FATAL(submit_one(a, i, &seq[i], &e), 0);
		pending += sd_audit_poll(a, seq[i]) == 0;
	}
	/* Queued, not durable: nobody may answer for them yet. */
	if (now_ms() - t0 < 250)
		CU_ASSERT_EQUAL(pending, 10);
	CU_ASSERT_EQUAL(c.notified, 0);
	for (i = 0; i < 10; i++)
		CU_ASSERT_EQUAL(poll_until(a, seq[i], 5000), 1);
	/* The notification follows the durable mark that poll reads: wait for it too. */
	for (i = 0; i < 5000 && notified(&c) == 0; i++)
		usleep(1000);
	/* The writer committed all ten with one fdatasync, and said so only after it. */
	CU_ASSERT_EQUAL(c.syncs, 1);
	CU_ASSERT(c.notified >= 1);
	CU_ASSERT_EQUAL(c.syncs_at_first, 1);
	CU_ASSERT(c.lines_at_last >= 10);
	CU_ASSERT(now_ms() - t0 >= 250);

	/* A waiter does not wait for the writer's delay: it commits at once itself. */
	t0 = now_ms();
	CU_ASSERT_EQUAL(submit_one(a, 10, &extra, &e), 0);
	CU_ASSERT_EQUAL(sd_audit_wait(a, extra, &e), 0);
	CU_ASSERT(now_ms() - t0 < 150);
	CU_ASSERT_EQUAL(sd_audit_poll(a, extra), 1);

	/* A full batch goes at once, whatever the delay. */
	sd_audit_close(a);
	CU_ASSERT_EQUAL_FATAL(sd_audit_open(F.path, 0, 0, &a, &e), 0);
	CU_ASSERT_EQUAL_FATAL(sd_audit_start_writer(a, 60u * 1000000, &e), 0);
	for (i = 0; i < 64; i++)
		CU_ASSERT_EQUAL(submit_one(a, 100 + i, &extra, &e), 0);
	CU_ASSERT_EQUAL(poll_until(a, extra, 5000), 1);

	/* Close commits what is still queued, then seals the file. */
	CU_ASSERT_EQUAL(submit_one(a, 200, &extra, &e), 0);
	sd_audit_close(a);
	lines = read_lines(F.path, &n);
	CU_ASSERT_EQUAL(n, 10 + 1 + 64 + 1);
	CU_ASSERT_PTR_NOT_NULL(n > 0 ? strstr(lines[n - 1], "\"program\":\"d200\"") : NULL);
	free_lines(lines);
}

static void test_deferred_failure(void)
{
	struct commits c = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0};
	struct sd_audit *a = NULL;
	struct rlimit old, lim;
	struct stat sb;
	struct sd_err e;
	uint64_t seq, later;
	int st;

	fresh_dir();
	CU_ASSERT_EQUAL_FATAL(sd_audit_open(F.path, 0, 0, &a, &e), 0);
	CU_ASSERT_EQUAL_FATAL(sd_audit_start_writer(a, 1000, &e), 0);
	CU_ASSERT_EQUAL(submit_one(a, 1, &seq, &e), 0);
	CU_ASSERT_EQUAL(poll_until(a, seq, 5000), 1);
	sd_audit_set_notify(a, count_notify, &c);
	CU_ASSERT_EQUAL_FATAL(stat(F.path, &sb), 0);
	/* The next record cannot be written (EFBIG): the writer fails the log. */
	CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = (rlim_t)sb.st_size + 10;
	CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &lim), 0);
	CU_ASSERT_EQUAL(submit_one(a, 2, &seq, &e), 0);
	st = poll_until(a, seq, 5000);
	setrlimit(RLIMIT_FSIZE, &old);
	/* Never durable, and whoever holds its reply is told. */
	CU_ASSERT_EQUAL(st, -1);
	CU_ASSERT(c.notified >= 1);
	CU_ASSERT_EQUAL(sd_audit_wait(a, seq, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_AUDIT_UNAVAILABLE);
	CU_ASSERT_EQUAL(submit_one(a, 3, &later, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_AUDIT_UNAVAILABLE);
	sd_audit_close(a);
	/* The failed record was cut off: the file ends with the first one. */
	CU_ASSERT(stat(F.path, &sb) == 0);
	CU_ASSERT_EQUAL(sd_audit_open(F.path, 0, 0, &a, &e), 0);
	sd_audit_close(a);
}

/* --- the verifier -------------------------------------------------------------------- */

static char **make_log(size_t *n)
{
	struct sd_audit *a = NULL;
	struct sd_err e;

	fresh_dir();
	/* r1..r4 cp5 r6..r9 cp10 r11 r12 cp13 */
	if (sd_audit_open(F.path, 0, 4, &a, &e) != 0)
		return NULL;
	set_signer(a, F.key, F.cert, "audit-key");
	append_n(a, 10, 1);
	sd_audit_close(a);
	return read_lines(F.path, n);
}

static void test_verify_detects(void)
{
	STACK_OF(X509) *pin = sk_X509_new_null();
	struct sd_audit_vfy v;
	struct sd_err e;
	char **l, *t;
	size_t n = 0;

	l = make_log(&n);
	CU_ASSERT_EQUAL_FATAL(n, 13);
	CU_ASSERT_EQUAL(vfy_lines(l, n, NULL, 13, &v, &e), 0);
	CU_ASSERT_EQUAL(v.checkpoints, 3);

	/* Modified value in line 7 (program "p6" -> "p8"): named as line 7. */
	t = strstr(l[6], "\"program\":\"p6\"");
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	t[12] = '8';
	CU_ASSERT_EQUAL(vfy_lines(l, n, NULL, 0, &v, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "log: line 7: record modified"));
	t[12] = '6';
	/* A modification that breaks the JSON shape is named too. */
	l[6][strlen(l[6]) - 5] ^= 1;
	CU_ASSERT_EQUAL(vfy_lines(l, n, NULL, 0, &v, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "log: line 7: malformed record"));
	l[6][strlen(l[6]) - 5] ^= 1;

	/* Deleted line 7. */
	t = l[6];
	memmove(l + 6, l + 7, (n - 7) * sizeof(*l));
	CU_ASSERT_EQUAL(vfy_lines(l, n - 1, NULL, 0, &v, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "line 7: seq 8, expected 7"));
	memmove(l + 7, l + 6, (n - 7) * sizeof(*l));
	l[6] = t;

	/* Lines 7 and 8 swapped. */
	t = l[6];
	l[6] = l[7];
	l[7] = t;
	CU_ASSERT_EQUAL(vfy_lines(l, n, NULL, 0, &v, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "line 7: seq 8, expected 7"));
	l[7] = l[6];
	l[6] = t;

	/* A modified checkpoint (line 10) fails its signature. */
	memcpy(strstr(l[9], "audit-key"), "audit-kez", 9);
	CU_ASSERT_EQUAL(vfy_lines(l, n, NULL, 0, &v, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "line 10: checkpoint: signature does not verify"));
	memcpy(strstr(l[9], "audit-kez"), "audit-key", 9);
	/* A checkpoint signature that is not base64 says why (l[9] is modified, then restored). */
	{
		char *sig = strstr(l[9], "\"sig\":\"") + 7, keep = *sig;

		*sig = '!';
		CU_ASSERT_EQUAL(vfy_lines(l, n, NULL, 0, &v, &e), -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "line 10: "));
		CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "signature is not base64: a character that "
						     "is not base64"));
		*sig = keep;
	}

	/* Truncation after the last checkpoint is not detectable but reported. */
	CU_ASSERT_EQUAL(vfy_lines(l, 12, NULL, 0, &v, &e), 0);
	CU_ASSERT_EQUAL(v.after_cp, 2);
	CU_ASSERT_EQUAL(v.cp_seq, 10);
	/* Truncation through a checkpoint: detected with the expected checkpoint seq. */
	CU_ASSERT_EQUAL(vfy_lines(l, 9, NULL, 0, &v, &e), 0);
	CU_ASSERT_EQUAL(vfy_lines(l, 9, NULL, 13, &v, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "truncated"));
	/* Deleting the first record is detected too. */
	CU_ASSERT_EQUAL(vfy_lines(l + 1, n - 1, NULL, 0, &v, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "line 1"));

	/* Pinned: the right certificate passes, another fails at the first checkpoint. */
	sk_X509_push(pin, F.cert);
	CU_ASSERT_EQUAL(vfy_lines(l, n, pin, 0, &v, &e), 0);
	sk_X509_set(pin, 0, F.other_cert);
	CU_ASSERT_EQUAL(vfy_lines(l, n, pin, 0, &v, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "line 5: the checkpoint is signed by a certificate "
					     "that is not the pinned one"));
	sk_X509_free(pin);
	free_lines(l);
}

/* --- runner -------------------------------------------------------------------------- */

static int suite_init(void)
{
	F.key = EVP_EC_gen("P-256");
	F.other_key = EVP_EC_gen("P-256");
	if (F.key == NULL || F.other_key == NULL)
		return -1;
	F.cert = self_signed(F.key, "audit test");
	F.other_cert = self_signed(F.other_key, "someone else");
	return F.cert != NULL && F.other_cert != NULL ? 0 : -1;
}

static int suite_clean(void)
{
	if (F.dir[0] != '\0')
		rm_dir(F.dir);
	X509_free(F.cert);
	X509_free(F.other_cert);
	EVP_PKEY_free(F.key);
	EVP_PKEY_free(F.other_key);
	return 0;
}

int main(void)
{
	CU_pSuite s;
	unsigned fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("audit", suite_init, suite_clean);
	if (s == NULL || !CU_add_test(s, "records round trip byte for byte", test_roundtrip) ||
	    !CU_add_test(s, "JSON string escaping", test_escaping) ||
	    !CU_add_test(s, "hostile record fields are escaped and bounded", test_hostile_record) ||
	    !CU_add_test(s, "the parser is strict", test_parser_strict) ||
	    !CU_add_test(s, "void records", test_void_record) ||
	    !CU_add_test(s, "void records are checked against what they name",
			 test_void_crosscheck) ||
	    !CU_add_test(s, "timestamps", test_time) ||
	    !CU_add_test(s, "group commit under concurrency", test_group_commit) ||
	    !CU_add_test(s, "rotation by size", test_rotation_size) ||
	    !CU_add_test(s, "rotation on request", test_rotate_now) ||
	    !CU_add_test(s, "reopen continues the chain; torn tail refused", test_reopen) ||
	    !CU_add_test(s, "a failed write refuses until reopened", test_write_failure) ||
	    !CU_add_test(s, "checkpoint signing failures", test_checkpoint_failure) ||
	    !CU_add_test(s, "deferred records: one background commit, reported after it",
			 test_deferred_commit) ||
	    !CU_add_test(s, "deferred records: a failed commit is reported, never durable",
			 test_deferred_failure) ||
	    !CU_add_test(s, "the verifier names the first bad line", test_verify_detects)) {
		CU_cleanup_registry();
		return 1;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails != 0;
}
