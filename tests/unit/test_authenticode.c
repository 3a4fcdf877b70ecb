/*
 * Unit tests for authenticode/: au_build round trips checked at the byte
 * level, must-fail forgeries for au_verify, interop with osslsigncode's
 * output (tests/data/authenticode, see make-fixtures.sh), the script
 * subject (SPC_SIPINFO_OBJID, refused as CAB and the reverse), and
 * au_verify_chain.
 */
#include <CUnit/Basic.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "authenticode/au_internal.h" /* au_build_reference */
#include "authenticode/authenticode.h"
#include "common/err.h"
#include "common/file.h"

/* Keys and certificates shared by the tests, made once in suite_init. */
struct fixture {
	EVP_PKEY *rsa, *ec;
	X509 *rsa_cert, *ec_cert; /* self-signed, codeSigning */
};
static struct fixture fx;

struct tsigner {
	EVP_PKEY *key;
	int corrupt; /* flip a bit in the signature */
	int fail;    /* fail like a token would */
};

/* SPC_INDIRECT_DATA_OBJID, SPC_CAB_DATA_OBJID, as full TLVs. */
static const uint8_t oid_spc_indirect[] = {0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04,
					   0x01, 0x82, 0x37, 0x02, 0x01, 0x04};
static const uint8_t cab_data_start[] = {0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37,
					 0x02, 0x01, 0x19, 0xa2, 0x1e, 0x80, 0x1c, 0x00, 0x3c};
/* Attribute { contentType, SET { SPC_INDIRECT_DATA_OBJID } } */
static const uint8_t content_type_attr[] = {0x30, 0x19, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7,
					    0x0d, 0x01, 0x09, 0x03, 0x31, 0x0c, 0x06, 0x0a, 0x2b,
					    0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x04};
/* messageDigest attribute type and SET tag */
static const uint8_t md_attr_start[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
					0xf7, 0x0d, 0x01, 0x09, 0x04, 0x31};
/* The fixed 67-byte prefix of a SHA-256 SpcIndirectDataContent (AUTHENTICODE-CAB.md 4). */
static const uint8_t sha256_indirect_prefix[67] = {
    0x30, 0x61, 0x30, 0x2c, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02,
    0x01, 0x19, 0xa2, 0x1e, 0x80, 0x1c, 0x00, 0x3c, 0x00, 0x3c, 0x00, 0x3c, 0x00, 0x4f,
    0x00, 0x62, 0x00, 0x73, 0x00, 0x6f, 0x00, 0x6c, 0x00, 0x65, 0x00, 0x74, 0x00, 0x65,
    0x00, 0x3e, 0x00, 0x3e, 0x00, 0x3e, 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86,
    0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};

/* ---------------------------------------------------------------- helpers */

static int tsign(void *ctx, int md_nid, const uint8_t *hash, size_t hashlen, uint8_t *sig,
		 size_t *siglen, struct sd_err *e)
{
	struct tsigner *t = ctx;
	EVP_PKEY_CTX *pctx;
	int ok;

	if (t->fail)
		return sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "test token is unplugged");
	pctx = EVP_PKEY_CTX_new(t->key, NULL);
	ok = pctx != NULL && EVP_PKEY_sign_init(pctx) == 1 &&
	     (!EVP_PKEY_is_a(t->key, "RSA") ||
	      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1) &&
	     EVP_PKEY_CTX_set_signature_md(pctx, EVP_get_digestbynid(md_nid)) == 1 &&
	     EVP_PKEY_sign(pctx, sig, siglen, hash, hashlen) == 1;
	EVP_PKEY_CTX_free(pctx);
	if (!ok)
		return sd_err_openssl(e, SD_E_INTERNAL, "test sign");
	if (t->corrupt)
		sig[*siglen / 2] ^= 0x01;
	return 0;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ok = ext != NULL && X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok;
}

/*
 * A certificate for key, issued by issuer/issuer_key (self-signed when NULL).
 * ca: CA certificate; eku: extendedKeyUsage value or NULL for none.
 * Returns NULL on failure (no CUnit assertions: also used in suite_init).
 */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int ca,
		       const char *eku)
{
	X509 *c = X509_new();
	X509_NAME *name = X509_NAME_new();
	uint8_t serial[8];
	BIGNUM *bn = NULL;
	X509 *iss;
	int ok;

	ok = c != NULL && name != NULL && RAND_bytes(serial, sizeof(serial)) == 1;
	if (ok) {
		serial[0] &= 0x7f;
		bn = BN_bin2bn(serial, sizeof(serial), NULL);
	}
	iss = issuer != NULL ? issuer : c;
	ok =
	    ok && bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)) != NULL &&
	    X509_set_version(c, X509_VERSION_3) == 1 &&
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
				       0) == 1 &&
	    X509_set_subject_name(c, name) == 1 &&
	    X509_set_issuer_name(c, issuer != NULL ? X509_get_subject_name(issuer) : name) == 1 &&
	    X509_gmtime_adj(X509_getm_notBefore(c), -3600) != NULL &&
	    X509_gmtime_adj(X509_getm_notAfter(c), 86400L * 30) != NULL &&
	    X509_set_pubkey(c, key) == 1 &&
	    add_ext(c, iss, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE") &&
	    add_ext(c, iss, NID_key_usage,
		    ca ? "critical,keyCertSign,cRLSign,digitalSignature"
		       : "critical,digitalSignature") &&
	    (eku == NULL || add_ext(c, iss, NID_ext_key_usage, eku)) &&
	    X509_sign(c, issuer_key != NULL ? issuer_key : key, EVP_sha256()) > 0;
	BN_free(bn);
	X509_NAME_free(name);
	if (!ok) {
		X509_free(c);
		return NULL;
	}
	return c;
}

static int build_subject(enum au_subject subject, EVP_PKEY *key, X509 *cert, STACK_OF(X509) * chain,
			 const EVP_MD *md, const uint8_t *digest, const char *program,
			 const char *url, uint8_t **der, size_t *len, struct sd_err *e)
{
	struct tsigner t = {key, 0, 0};
	struct au_sign_params p = {
	    .subject = subject,
	    .md = md,
	    .digest = digest,
	    .digest_len = (size_t)EVP_MD_get_size(md),
	    .program = program,
	    .url = url,
	    .signer = cert,
	    .chain = chain,
	    .sign = tsign,
	    .sign_ctx = &t,
	};

	return au_build(&p, der, len, e);
}

static int build(EVP_PKEY *key, X509 *cert, STACK_OF(X509) * chain, const EVP_MD *md,
		 const uint8_t *digest, const char *program, const char *url, uint8_t **der,
		 size_t *len, struct sd_err *e)
{
	return build_subject(AU_SUBJECT_CAB, key, cert, chain, md, digest, program, url, der, len,
			     e);
}

static long find(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
	for (size_t i = 0; m <= n && i <= n - m; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return (long)i;
	return -1;
}

/* Independent DER header reader for the raw inspections: tag, length, header size. */
static int hdr(const uint8_t *p, size_t n, uint8_t *tag, size_t *len, size_t *hl)
{
	if (n < 2)
		return -1;
	*tag = p[0];
	if (p[1] < 0x80) {
		*len = p[1];
		*hl = 2;
	} else if (p[1] == 0x81 && n >= 3) {
		*len = p[2];
		*hl = 3;
	} else if (p[1] == 0x82 && n >= 4) {
		*len = ((size_t)p[2] << 8) | p[3];
		*hl = 4;
	} else {
		return -1;
	}
	return *hl + *len <= n ? 0 : -1;
}

/*
 * Walk ContentInfo -> [0] -> SignedData; return the version byte offset and
 * the SpcIndirectDataContent TLV (inside contentInfo's [0] EXPLICIT).
 */
static void inspect_raw(const uint8_t *der, size_t len, const uint8_t **indirect,
			size_t *indirect_len)
{
	size_t off = 0, l, hl;
	uint8_t tag;

	CU_ASSERT_FATAL(hdr(der, len, &tag, &l, &hl) == 0 && tag == 0x30 && hl + l == len);
	off += hl;
	CU_ASSERT_FATAL(hdr(der + off, len - off, &tag, &l, &hl) == 0 && tag == 0x06 && l == 9);
	off += hl + l;
	CU_ASSERT_FATAL(hdr(der + off, len - off, &tag, &l, &hl) == 0 && tag == 0xa0);
	off += hl;
	CU_ASSERT_FATAL(hdr(der + off, len - off, &tag, &l, &hl) == 0 && tag == 0x30);
	off += hl;
	/* version INTEGER 1 */
	CU_ASSERT_FATAL(len - off >= 3);
	CU_ASSERT(der[off] == 0x02 && der[off + 1] == 0x01 && der[off + 2] == 0x01);
	off += 3;
	/* digestAlgorithms SET */
	CU_ASSERT_FATAL(hdr(der + off, len - off, &tag, &l, &hl) == 0 && tag == 0x31);
	off += hl + l;
	/* contentInfo SEQUENCE { SPC_INDIRECT_DATA, [0] { SEQUENCE } } */
	CU_ASSERT_FATAL(hdr(der + off, len - off, &tag, &l, &hl) == 0 && tag == 0x30);
	off += hl;
	CU_ASSERT_FATAL(len - off >= sizeof(oid_spc_indirect));
	CU_ASSERT_FATAL(memcmp(der + off, oid_spc_indirect, sizeof(oid_spc_indirect)) == 0);
	off += sizeof(oid_spc_indirect);
	CU_ASSERT_FATAL(hdr(der + off, len - off, &tag, &l, &hl) == 0 && tag == 0xa0);
	off += hl;
	CU_ASSERT_FATAL(hdr(der + off, len - off, &tag, &l, &hl) == 0);
	CU_ASSERT_FATAL(tag == 0x30); /* a SEQUENCE, not an OCTET STRING (0x04) */
	*indirect = der + off;
	*indirect_len = hl + l;
}

static uint8_t *read_data(const char *name, size_t *len)
{
	const char *dir = getenv("SD_TEST_DATA");
	char path[1024];
	uint8_t *data = NULL;
	struct sd_err e;

	CU_ASSERT_FATAL(dir != NULL);
	snprintf(path, sizeof(path), "%s/authenticode/%s", dir, name);
	if (sd_read_file(path, 1 << 20, &data, len, &e) != 0)
		fprintf(stderr, "%s: %s\n", path, e.msg);
	CU_ASSERT_FATAL(data != NULL);
	return data;
}

/* NUL-terminated copy of a text fixture. */
static char *read_text(const char *name)
{
	size_t len;
	uint8_t *d = read_data(name, &len);
	char *s = calloc(1, len + 1);

	CU_ASSERT_FATAL(s != NULL);
	memcpy(s, d, len);
	free(d);
	return s;
}

/* ------------------------------------------------------------ round trip */

static void roundtrip_one(EVP_PKEY *key, X509 *cert, const EVP_MD *md, const char *program,
			  const char *url)
{
	uint8_t digest[EVP_MAX_MD_SIZE], hash[EVP_MAX_MD_SIZE], *der = NULL;
	const uint8_t *ind;
	size_t len = 0, ind_len, dlen = (size_t)EVP_MD_get_size(md), ihl;
	unsigned int hlen;
	struct au_info info;
	struct sd_err e = {0};
	uint8_t tag;
	size_t l;
	long at;

	for (size_t i = 0; i < dlen; i++)
		digest[i] = (uint8_t)(0xa5 ^ (i * 7));
	if (build(key, cert, NULL, md, digest, program, url, &der, &len, &e) != 0)
		fprintf(stderr, "au_build: %s\n", e.msg);
	CU_ASSERT_FATAL(der != NULL);

	if (au_verify(der, len, AU_SUBJECT_CAB, &info, &e) != 0)
		fprintf(stderr, "au_verify: %s\n", e.msg);
	CU_ASSERT_FATAL(info.signer != NULL);
	CU_ASSERT_EQUAL(info.md_nid, EVP_MD_get_type(md));
	CU_ASSERT_EQUAL(info.digest_len, dlen);
	CU_ASSERT(memcmp(info.digest, digest, dlen) == 0);
	CU_ASSERT_STRING_EQUAL(info.program, program != NULL ? program : "");
	CU_ASSERT_STRING_EQUAL(info.url, url != NULL ? url : "");
	CU_ASSERT_EQUAL(X509_cmp(info.signer, cert), 0);
	CU_ASSERT_EQUAL(sk_X509_num(info.certs), 1);
	au_info_clear(&info);
	CU_ASSERT_PTR_NULL(info.signer);

	/* Raw DER: version 1, plain SEQUENCE content, CAB data OID. */
	inspect_raw(der, len, &ind, &ind_len);
	CU_ASSERT(ind_len >= 4 + sizeof(cab_data_start));
	CU_ASSERT_FATAL(hdr(ind, ind_len, &tag, &l, &ihl) == 0);
	CU_ASSERT(memcmp(ind + ihl + 2, cab_data_start, sizeof(cab_data_start)) == 0);
	CU_ASSERT(memcmp(ind + ind_len - dlen, digest, dlen) == 0);
	if (EVP_MD_get_type(md) == NID_sha256) {
		CU_ASSERT_EQUAL(ind_len, 99);
		CU_ASSERT(memcmp(ind, sha256_indirect_prefix, 67) == 0);
	}
	if (EVP_MD_get_type(md) == NID_sha512)
		CU_ASSERT_EQUAL(ihl, 3); /* 30 81 81 */
	/* The contentType attribute value, byte for byte. */
	CU_ASSERT(find(der, len, content_type_attr, sizeof(content_type_attr)) > 0);
	/* messageDigest = hash of the content octets (header stripped). */
	CU_ASSERT_FATAL(EVP_Digest(ind + ihl, ind_len - ihl, hash, &hlen, md, NULL) == 1);
	at = find(der, len, md_attr_start, sizeof(md_attr_start));
	CU_ASSERT_FATAL(at > 0);
	at += (long)sizeof(md_attr_start) + 1;
	CU_ASSERT_FATAL((size_t)at + 2 + hlen <= len);
	CU_ASSERT(der[at] == 0x04 && der[at + 1] == hlen);
	CU_ASSERT(memcmp(der + at + 2, hash, hlen) == 0);
	OPENSSL_free(der);
}

static void test_roundtrip(void)
{
	const EVP_MD *mds[] = {EVP_sha1(), EVP_sha256(), EVP_sha384(), EVP_sha512()};
	const char *progs[] = {NULL, "Contoso Updater", NULL, "Contoso Updater",
			       "Pr\xc3\xb6gramm \xe2\x82\xac"};
	const char *urls[] = {NULL, NULL, "https://example.com/x",
			      "https://example.com/updates?id=1", "http://b.example/"};

	for (size_t m = 0; m < 4; m++)
		for (size_t o = 0; o < 5; o++) {
			roundtrip_one(fx.rsa, fx.rsa_cert, mds[m], progs[o], urls[o]);
			roundtrip_one(fx.ec, fx.ec_cert, mds[m], progs[o], urls[o]);
		}
}

/* "" means absent, as NULL does. */
static void test_empty_strings_absent(void)
{
	uint8_t digest[32] = {1}, *der = NULL;
	size_t len = 0;
	struct sd_err e = {0};
	static const uint8_t opus_oid[] = {0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04,
					   0x01, 0x82, 0x37, 0x02, 0x01, 0x0c};

	CU_ASSERT_FATAL(
	    build(fx.rsa, fx.rsa_cert, NULL, EVP_sha256(), digest, "", "", &der, &len, &e) == 0);
	CU_ASSERT(find(der, len, opus_oid, sizeof(opus_oid)) < 0);
	OPENSSL_free(der);
}

/* ------------------------------------------------------- build failures */

static void test_build_bad_signature(void)
{
	uint8_t digest[32] = {0}, *der = (uint8_t *)"x";
	size_t len = 7;
	struct tsigner t = {fx.rsa, 1, 0};
	struct au_sign_params p = {.subject = AU_SUBJECT_CAB,
				   .md = EVP_sha256(),
				   .digest = digest,
				   .digest_len = 32,
				   .program = "p",
				   .url = "u",
				   .signer = fx.rsa_cert,
				   .sign = tsign,
				   .sign_ctx = &t};
	struct sd_err e = {0};

	CU_ASSERT_EQUAL(au_build(&p, &der, &len, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_INTERNAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "SIGNATURE CHECK FAILED"));
	CU_ASSERT_PTR_NULL(der);
	CU_ASSERT_EQUAL(len, 0);

	/* EC signature that does not verify */
	t.key = fx.ec;
	p.signer = fx.ec_cert;
	CU_ASSERT_EQUAL(au_build(&p, &der, &len, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_INTERNAL);

	/* valid signature, but by a key that is not the certificate's */
	t.corrupt = 0;
	t.key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	CU_ASSERT_FATAL(t.key != NULL);
	CU_ASSERT_EQUAL(au_build(&p, &der, &len, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_INTERNAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "SIGNATURE CHECK FAILED"));
	EVP_PKEY_free(t.key);

	/* RSA key for an EC certificate: the signature cannot fit the capacity */
	t.key = fx.rsa;
	CU_ASSERT_EQUAL(au_build(&p, &der, &len, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_INTERNAL);

	/* the callback's own error comes through */
	t.fail = 1;
	p.signer = fx.rsa_cert;
	CU_ASSERT_EQUAL(au_build(&p, &der, &len, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_TOKEN_UNAVAILABLE);
	CU_ASSERT_STRING_EQUAL(e.msg, "test token is unplugged");
}

static void test_build_bad_params(void)
{
	uint8_t digest[64] = {0}, *der = NULL;
	size_t len = 0;
	struct tsigner t = {fx.rsa, 0, 0};
	struct au_sign_params p = {.subject = AU_SUBJECT_CAB,
				   .md = EVP_sha256(),
				   .digest = digest,
				   .digest_len = 31,
				   .signer = fx.rsa_cert,
				   .sign = tsign,
				   .sign_ctx = &t};
	struct sd_err e = {0};
	char longname[300];

	CU_ASSERT_EQUAL(au_build(&p, &der, &len, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_BAD_DIGEST_LENGTH);
	p.md = EVP_md5();
	p.digest_len = 16;
	CU_ASSERT_EQUAL(au_build(&p, &der, &len, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_UNSUPPORTED_DIGEST);
	p.md = EVP_sha256();
	p.digest_len = 32;
	p.url = "https://example.com/\xc3\xa9";
	CU_ASSERT_EQUAL(au_build(&p, &der, &len, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_BAD_REQUEST);
	p.url = NULL;
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	p.program = longname;
	CU_ASSERT_EQUAL(au_build(&p, &der, &len, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_BAD_REQUEST);
	p.program = "smile \xf0\x9f\x98\x80"; /* outside the BMP */
	CU_ASSERT_EQUAL(au_build(&p, &der, &len, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_BAD_REQUEST);
	p.program = "bad \xc3"; /* truncated UTF-8 */
	CU_ASSERT_EQUAL(au_build(&p, &der, &len, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_BAD_REQUEST);
	p.program = "tab\there";
	CU_ASSERT_EQUAL(au_build(&p, &der, &len, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_BAD_REQUEST);
	CU_ASSERT_PTR_NULL(der);
}

/* ------------------------------------------------------------ forgeries */

/* A fresh RSA/SHA-256 signature to tamper with. */
static uint8_t *good_der(size_t *len)
{
	uint8_t digest[32], *der = NULL;
	struct sd_err e = {0};

	for (int i = 0; i < 32; i++)
		digest[i] = (uint8_t)i;
	CU_ASSERT_FATAL(build(fx.rsa, fx.rsa_cert, NULL, EVP_sha256(), digest, "Prog",
			      "https://example.com/", &der, len, &e) == 0);
	return der;
}

static void expect_fail(const uint8_t *der, size_t len, const char *needle)
{
	struct au_info info;
	struct sd_err e = {0};

	CU_ASSERT_EQUAL(au_verify(der, len, AU_SUBJECT_CAB, &info, &e), -1);
	CU_ASSERT_PTR_NULL(info.signer);
	CU_ASSERT_PTR_NULL(info.certs);
	if (needle != NULL && strstr(e.msg, needle) == NULL) {
		fprintf(stderr, "\n  expected \"%s\" in \"%s\"\n", needle, e.msg);
		CU_FAIL("error message");
	}
}

static void expect_ok(const uint8_t *der, size_t len)
{
	struct au_info info;
	struct sd_err e = {0};

	if (au_verify(der, len, AU_SUBJECT_CAB, &info, &e) != 0) {
		fprintf(stderr, "\n  unexpected: %s\n", e.msg);
		CU_FAIL("au_verify");
	}
	au_info_clear(&info);
}

static void test_forge_flips(void)
{
	size_t len, off, l, hl;
	uint8_t *der = good_der(&len), *copy = malloc(len + 1), tag;
	const uint8_t *ind;
	size_t ind_len;
	long at;

	CU_ASSERT_FATAL(copy != NULL);
	expect_ok(der, len);

	/* messageDigest attribute value */
	at = find(der, len, md_attr_start, sizeof(md_attr_start));
	CU_ASSERT_FATAL(at > 0);
	memcpy(copy, der, len);
	copy[at + (long)sizeof(md_attr_start) + 1 + 2 + 5] ^= 0x01;
	expect_fail(copy, len, "messageDigest attribute does not match the content");

	/* signature: the last element of the DER */
	memcpy(copy, der, len);
	copy[len - 1] ^= 0x01;
	expect_fail(copy, len, "signature does not verify with the signer certificate");
	memcpy(copy, der, len);
	copy[len - 100] ^= 0x80;
	expect_fail(copy, len, "signature does not verify with the signer certificate");

	/* the indirect data digest (the last bytes of SpcIndirectDataContent) */
	inspect_raw(der, len, &ind, &ind_len);
	off = (size_t)(ind - der) + ind_len - 1;
	memcpy(copy, der, len);
	copy[off] ^= 0x01;
	expect_fail(copy, len, "messageDigest attribute does not match the content");

	/* the CAB data OID, not re-signed (see test_forge_resigned for re-signed) */
	memcpy(copy, der, len);
	copy[(ind - der) + 4 + 11] = 0x1e;
	expect_fail(copy, len, "this is a script signature, not a cab signature");
	copy[(ind - der) + 4 + 11] = 0x1f;
	expect_fail(copy, len,
		    "data type is not SPC_CAB_DATA_OBJID (1.3.6.1.4.1.311.2.1.25); this is not a "
		    "cab signature");

	/* the content type OID (1.3.6.1.4.1.311.2.1.4 -> .5) */
	at = find(der, len, oid_spc_indirect, sizeof(oid_spc_indirect));
	memcpy(copy, der, len);
	copy[at + (long)sizeof(oid_spc_indirect) - 1] = 0x05;
	expect_fail(copy, len, "content type is 1.3.6.1.4.1.311.2.1.5, expected SPC_INDIRECT_DATA");

	/* version 1 -> 3 */
	CU_ASSERT_FATAL(hdr(der, len, &tag, &l, &hl) == 0);
	off = hl + 11;
	CU_ASSERT_FATAL(hdr(der + off, len - off, &tag, &l, &hl) == 0);
	off += hl;
	CU_ASSERT_FATAL(hdr(der + off, len - off, &tag, &l, &hl) == 0);
	off += hl;
	CU_ASSERT_FATAL(der[off] == 0x02 && der[off + 2] == 0x01);
	memcpy(copy, der, len);
	copy[off + 2] = 0x03;
	expect_fail(copy, len, "SignedData version is 3, expected 1");

	/* digestAlgorithms { sha256, NULL } -> { sha256, empty OCTET STRING } */
	CU_ASSERT_FATAL(der[off + 3] == 0x31 && der[off + 5] == 0x30 && der[off + 18] == 0x05);
	memcpy(copy, der, len);
	copy[off + 18] = 0x04;
	expect_fail(copy, len, "digestAlgorithms entry 0 has parameters other than NULL");

	/* SignerInfo issuer differing only in case (OpenSSL's name match folds case) */
	{
		static const char cn[] = "signerd test RSA";
		long last = -1, at2;

		while ((at2 = find(der + last + 1, len - (size_t)(last + 1), (const uint8_t *)cn,
				   sizeof(cn) - 1)) >= 0)
			last += at2 + 1;
		CU_ASSERT_FATAL(last > 0);
		memcpy(copy, der, len);
		copy[last] = 'S';
		expect_fail(copy, len, "not byte-identical to the signer certificate's issuer");
	}

	/* truncated */
	expect_fail(der, len - 1, NULL);
	expect_fail(der, len / 2, NULL);
	expect_fail(der, 1, NULL);
	expect_fail(der, 0, "empty");

	/* trailing garbage (including CAB-style zero padding) */
	memcpy(copy, der, len);
	copy[len] = 0x00;
	expect_fail(copy, len + 1, "1 bytes of trailing data");

	/* BER: the outer 30 82 LL LL as indefinite 30 80 ... 00 00 */
	{
		uint8_t *ber = malloc(len);

		CU_ASSERT_FATAL(ber != NULL && der[1] == 0x82);
		ber[0] = 0x30;
		ber[1] = 0x80;
		memcpy(ber + 2, der + 4, len - 4);
		ber[len - 2] = 0;
		ber[len - 1] = 0;
		expect_fail(ber, len, "not DER");
		free(ber);
	}
	free(copy);
	OPENSSL_free(der);
}

/* Re-sign a tampered structure with the right key, so that only the check
 * under test can catch it. */
static void resign(PKCS7 *p7, EVP_PKEY *key)
{
	PKCS7_SIGNER_INFO *si = sk_PKCS7_SIGNER_INFO_value(p7->d.sign->signer_info, 0);
	ASN1_STRING *content = p7->d.sign->contents->d.other->value.sequence;
	uint8_t hash[EVP_MAX_MD_SIZE], sig[512], *attrs = NULL;
	unsigned int hlen;
	size_t siglen = sizeof(sig), hl = content->data[1] == 0x81 ? 3 : 2;
	int alen, idx;
	struct tsigner t = {key, 0, 0};
	struct sd_err e;
	X509_ATTRIBUTE *a;

	/* messageDigest */
	CU_ASSERT_FATAL(EVP_Digest(content->data + hl, (size_t)content->length - hl, hash, &hlen,
				   EVP_sha256(), NULL) == 1);
	idx = X509at_get_attr_by_NID(si->auth_attr, NID_pkcs9_messageDigest, -1);
	CU_ASSERT_FATAL(idx >= 0);
	a = X509at_get_attr(si->auth_attr, idx);
	CU_ASSERT_FATAL(ASN1_STRING_set(X509_ATTRIBUTE_get0_type(a, 0)->value.octet_string, hash,
					(int)hlen) == 1);
	alen = ASN1_item_i2d((ASN1_VALUE *)si->auth_attr, &attrs, ASN1_ITEM_rptr(PKCS7_ATTR_SIGN));
	CU_ASSERT_FATAL(alen > 0);
	CU_ASSERT_FATAL(EVP_Digest(attrs, (size_t)alen, hash, &hlen, EVP_sha256(), NULL) == 1);
	OPENSSL_free(attrs);
	CU_ASSERT_FATAL(tsign(&t, NID_sha256, hash, hlen, sig, &siglen, &e) == 0);
	CU_ASSERT_FATAL(ASN1_STRING_set(si->enc_digest, sig, (int)siglen) == 1);
}

static PKCS7 *parse(const uint8_t *der, size_t len)
{
	const uint8_t *p = der;
	PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)len);

	CU_ASSERT_FATAL(p7 != NULL);
	return p7;
}

static void check_p7(PKCS7 *p7, const char *needle)
{
	uint8_t *der = NULL;
	int len = i2d_PKCS7(p7, &der);

	CU_ASSERT_FATAL(len > 0);
	if (needle == NULL)
		expect_ok(der, (size_t)len);
	else
		expect_fail(der, (size_t)len, needle);
	OPENSSL_free(der);
}

static void test_forge_resigned(void)
{
	size_t len;
	uint8_t *der = good_der(&len);
	PKCS7 *p7;
	ASN1_STRING *content;
	PKCS7_SIGNER_INFO *si;
	X509_ATTRIBUTE *a;
	int idx;

	/* control: re-signing an untouched structure verifies */
	p7 = parse(der, len);
	resign(p7, fx.rsa);
	check_p7(p7, NULL);
	PKCS7_free(p7);

	/* wrong data OID (SPC_SIPINFO_OBJID), correctly signed */
	p7 = parse(der, len);
	content = p7->d.sign->contents->d.other->value.sequence;
	CU_ASSERT_FATAL(content->data[4] == 0x06 && content->data[15] == 0x19);
	content->data[15] = 0x1e;
	resign(p7, fx.rsa);
	check_p7(p7, "this is a script signature, not a cab signature");
	PKCS7_free(p7);

	/* contentType attribute = pkcs7-data, correctly signed */
	p7 = parse(der, len);
	si = sk_PKCS7_SIGNER_INFO_value(p7->d.sign->signer_info, 0);
	idx = X509at_get_attr_by_NID(si->auth_attr, NID_pkcs9_contentType, -1);
	CU_ASSERT_FATAL(idx >= 0);
	a = X509at_get_attr(si->auth_attr, idx);
	ASN1_OBJECT_free(X509_ATTRIBUTE_get0_type(a, 0)->value.object);
	X509_ATTRIBUTE_get0_type(a, 0)->value.object = OBJ_nid2obj(NID_pkcs7_data);
	resign(p7, fx.rsa);
	check_p7(p7, "contentType attribute is 1.2.840.113549.1.7.1, expected SPC_INDIRECT_DATA");
	PKCS7_free(p7);

	/* content wrapped in an OCTET STRING */
	p7 = parse(der, len);
	p7->d.sign->contents->d.other->type = V_ASN1_OCTET_STRING;
	p7->d.sign->contents->d.other->value.sequence->type = V_ASN1_OCTET_STRING;
	check_p7(p7, "expected a plain SEQUENCE");
	PKCS7_free(p7);

	/* two signers */
	p7 = parse(der, len);
	si = ASN1_item_dup(ASN1_ITEM_rptr(PKCS7_SIGNER_INFO),
			   sk_PKCS7_SIGNER_INFO_value(p7->d.sign->signer_info, 0));
	CU_ASSERT_FATAL(si != NULL);
	CU_ASSERT_FATAL(sk_PKCS7_SIGNER_INFO_push(p7->d.sign->signer_info, si) == 2);
	check_p7(p7, "2 signers, expected exactly 1");
	PKCS7_free(p7);

	/* no certificates */
	p7 = parse(der, len);
	sk_X509_pop_free(p7->d.sign->cert, X509_free);
	p7->d.sign->cert = NULL;
	check_p7(p7, "is not among the 0 embedded certificates");
	PKCS7_free(p7);

	/* a different certificate for the signer's issuer and serial is not found */
	p7 = parse(der, len);
	sk_X509_pop_free(p7->d.sign->cert, X509_free);
	p7->d.sign->cert = sk_X509_new_null();
	CU_ASSERT_FATAL(X509_up_ref(fx.ec_cert) == 1);
	CU_ASSERT_FATAL(sk_X509_push(p7->d.sign->cert, fx.ec_cert) == 1);
	check_p7(p7, "is not among the 1 embedded certificates");
	PKCS7_free(p7);

	/* signed by another key (EC key signing for the RSA certificate) */
	p7 = parse(der, len);
	resign(p7, fx.ec);
	check_p7(p7, "signature does not verify with the signer certificate");
	PKCS7_free(p7);

	OPENSSL_free(der);
}

/* --------------------------------------------------------------- interop */

static void attr_der(PKCS7 *p7, const char *oid, uint8_t **out, int *outlen)
{
	PKCS7_SIGNER_INFO *si = sk_PKCS7_SIGNER_INFO_value(p7->d.sign->signer_info, 0);
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	int idx = X509at_get_attr_by_OBJ(si->auth_attr, obj, -1);

	ASN1_OBJECT_free(obj);
	CU_ASSERT_FATAL(idx >= 0);
	*out = NULL;
	*outlen = i2d_X509_ATTRIBUTE(X509at_get_attr(si->auth_attr, idx), out);
	CU_ASSERT_FATAL(*outlen > 0);
}

static void assert_same_attr(PKCS7 *a, PKCS7 *b, const char *oid)
{
	uint8_t *da, *db;
	int la, lb;

	attr_der(a, oid, &da, &la);
	attr_der(b, oid, &db, &lb);
	CU_ASSERT_EQUAL(la, lb);
	if (la != lb || memcmp(da, db, (size_t)la) != 0) {
		fprintf(stderr, "\n  attribute %s differs from osslsigncode's\n", oid);
		CU_FAIL("attribute encoding");
	}
	OPENSSL_free(da);
	OPENSSL_free(db);
}

static void assert_same_algor(const X509_ALGOR *a, const X509_ALGOR *b)
{
	uint8_t *da = NULL, *db = NULL;
	int la = i2d_X509_ALGOR(a, &da), lb = i2d_X509_ALGOR(b, &db);

	CU_ASSERT(la > 0 && la == lb && memcmp(da, db, (size_t)la) == 0);
	OPENSSL_free(da);
	OPENSSL_free(db);
}

static void test_interop_osslsigncode(void)
{
	size_t p7len, cablen, keylen, certlen, ours_len = 0;
	uint8_t *p7der = read_data("signed.p7", &p7len);
	uint8_t *cab = read_data("signed.cab", &cablen);
	uint8_t *keypem = read_data("fixture-key.pem", &keylen);
	uint8_t *certpem = read_data("fixture-cert.pem", &certlen);
	char *hexdigest = read_text("signed.digest"), *program = read_text("signed.program");
	char *url = read_text("signed.url"), hex[2 * EVP_MAX_MD_SIZE + 1];
	uint8_t *ours = NULL;
	struct au_info info;
	struct sd_err e = {0};
	EVP_PKEY *key;
	X509 *cert;
	BIO *bio;
	uint32_t sigoff, siglen;
	PKCS7 *theirs_p7, *ours_p7;
	ASN1_STRING *c1, *c2;
	X509_STORE *store;

	bio = BIO_new_mem_buf(keypem, (int)keylen);
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	bio = BIO_new_mem_buf(certpem, (int)certlen);
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	CU_ASSERT_FATAL(key != NULL && cert != NULL);

	/* signed.p7 is what signed.cab carries at the reserve's offset */
	CU_ASSERT_FATAL(cablen >= 60);
	sigoff = (uint32_t)cab[44] | (uint32_t)cab[45] << 8 | (uint32_t)cab[46] << 16 |
		 (uint32_t)cab[47] << 24;
	siglen = (uint32_t)cab[48] | (uint32_t)cab[49] << 8 | (uint32_t)cab[50] << 16 |
		 (uint32_t)cab[51] << 24;
	CU_ASSERT_EQUAL((size_t)sigoff + siglen, cablen);
	CU_ASSERT_FATAL(sigoff + p7len <= cablen);
	CU_ASSERT(memcmp(cab + sigoff, p7der, p7len) == 0);

	/* au_verify accepts osslsigncode's signature, with the same digest */
	if (au_verify(p7der, p7len, AU_SUBJECT_CAB, &info, &e) != 0)
		fprintf(stderr, "au_verify: %s\n", e.msg);
	CU_ASSERT_FATAL(info.signer != NULL);
	CU_ASSERT_EQUAL(info.md_nid, NID_sha256);
	CU_ASSERT_EQUAL(info.digest_len, 32);
	sd_hex(info.digest, info.digest_len, hex);
	for (char *h = hex; *h != '\0'; h++)
		if (*h >= 'a' && *h <= 'f')
			*h = (char)(*h - 'a' + 'A');
	CU_ASSERT_STRING_EQUAL(hex, hexdigest);
	CU_ASSERT_STRING_EQUAL(info.program, program);
	CU_ASSERT_STRING_EQUAL(info.url, url);
	CU_ASSERT_EQUAL(X509_cmp(info.signer, cert), 0);

	/* and its chain against the fixture certificate (which may have expired) */
	store = X509_STORE_new();
	CU_ASSERT_FATAL(store != NULL && X509_STORE_add_cert(store, cert) == 1);
	X509_STORE_set_flags(store, X509_V_FLAG_NO_CHECK_TIME);
	if (au_verify_chain(&info, store, &e) != 0) {
		fprintf(stderr, "au_verify_chain: %s\n", e.msg);
		CU_FAIL("au_verify_chain of the osslsigncode fixture");
	}
	X509_STORE_free(store);

	/* ours, for the same digest, program and URL, encodes the same bytes */
	{
		struct tsigner t = {key, 0, 0};
		struct au_sign_params p = {.subject = AU_SUBJECT_CAB,
					   .md = EVP_sha256(),
					   .digest = info.digest,
					   .digest_len = 32,
					   .program = program,
					   .url = url,
					   .signer = cert,
					   .sign = tsign,
					   .sign_ctx = &t};

		if (au_build(&p, &ours, &ours_len, &e) != 0)
			fprintf(stderr, "au_build: %s\n", e.msg);
		CU_ASSERT_FATAL(ours != NULL);
	}
	theirs_p7 = parse(p7der, p7len);
	ours_p7 = parse(ours, ours_len);
	c1 = theirs_p7->d.sign->contents->d.other->value.sequence;
	c2 = ours_p7->d.sign->contents->d.other->value.sequence;
	CU_ASSERT_EQUAL(c1->length, 99);
	CU_ASSERT(c1->length == c2->length && memcmp(c1->data, c2->data, (size_t)c1->length) == 0);
	CU_ASSERT(memcmp(c1->data, sha256_indirect_prefix, 67) == 0);
	assert_same_attr(theirs_p7, ours_p7, "1.3.6.1.4.1.311.2.1.12");
	assert_same_attr(theirs_p7, ours_p7, "1.3.6.1.4.1.311.2.1.11");
	assert_same_attr(theirs_p7, ours_p7, "1.2.840.113549.1.9.3");
	assert_same_attr(theirs_p7, ours_p7, "1.2.840.113549.1.9.4");
	{
		PKCS7_SIGNER_INFO *a =
		    sk_PKCS7_SIGNER_INFO_value(theirs_p7->d.sign->signer_info, 0);
		PKCS7_SIGNER_INFO *b = sk_PKCS7_SIGNER_INFO_value(ours_p7->d.sign->signer_info, 0);

		assert_same_algor(a->digest_alg, b->digest_alg);
		assert_same_algor(a->digest_enc_alg, b->digest_enc_alg);
		CU_ASSERT_EQUAL(sk_X509_ATTRIBUTE_num(a->auth_attr),
				sk_X509_ATTRIBUTE_num(b->auth_attr));
		CU_ASSERT_EQUAL(ASN1_INTEGER_get(b->version), 1);
		CU_ASSERT_EQUAL(ASN1_INTEGER_get(ours_p7->d.sign->version), 1);
		CU_ASSERT_EQUAL(sk_X509_ALGOR_num(ours_p7->d.sign->md_algs), 1);
		assert_same_algor(sk_X509_ALGOR_value(theirs_p7->d.sign->md_algs, 0),
				  sk_X509_ALGOR_value(ours_p7->d.sign->md_algs, 0));
	}
	expect_ok(ours, ours_len);

	PKCS7_free(theirs_p7);
	PKCS7_free(ours_p7);
	OPENSSL_free(ours);
	au_info_clear(&info);
	EVP_PKEY_free(key);
	X509_free(cert);
	free(p7der);
	free(cab);
	free(keypem);
	free(certpem);
	free(hexdigest);
	free(program);
	free(url);
}

/* ---------------------------------------- prepared builder vs reference */

/*
 * Signs like tsign but returns the same signature for the same hash, so
 * that builds of the same input compare byte for byte (ECDSA is randomised).
 */
struct csigner {
	struct tsigner t;
	uint8_t hash[EVP_MAX_MD_SIZE];
	size_t hashlen;
	uint8_t sig[1024];
	size_t siglen; /* 0: nothing cached */
};

static int csign(void *ctx, int md_nid, const uint8_t *hash, size_t hashlen, uint8_t *sig,
		 size_t *siglen, struct sd_err *e)
{
	struct csigner *c = ctx;

	if (c->siglen == 0 || hashlen != c->hashlen || memcmp(hash, c->hash, hashlen) != 0) {
		c->siglen = sizeof(c->sig);
		if (tsign(&c->t, md_nid, hash, hashlen, c->sig, &c->siglen, e) != 0) {
			c->siglen = 0;
			return -1;
		}
		memcpy(c->hash, hash, hashlen);
		c->hashlen = hashlen;
	}
	if (*siglen < c->siglen)
		return sd_err_set(e, SD_E_INTERNAL, "test signer: capacity %zu", *siglen);
	memcpy(sig, c->sig, c->siglen);
	*siglen = c->siglen;
	return 0;
}

/* A leaf issued by an intermediate, and its chain with the root and a copy of the leaf. */
struct pki {
	EVP_PKEY *ca_key, *int_key;
	X509 *ca, *inter, *rsa_leaf, *ec_leaf;
	STACK_OF(X509) * rsa_chain, *ec_chain;
};

static STACK_OF(X509) * chain_of(struct pki *k, X509 *leaf)
{
	STACK_OF(X509) *c = sk_X509_new_null();
	X509 *copy = X509_dup(leaf);

	/* the copy of the leaf is skipped, as au_build always did */
	CU_ASSERT_FATAL(c != NULL && copy != NULL && X509_up_ref(k->inter) == 1 &&
			X509_up_ref(k->ca) == 1);
	CU_ASSERT_FATAL(sk_X509_push(c, k->inter) > 0 && sk_X509_push(c, copy) > 0 &&
			sk_X509_push(c, k->ca) > 0);
	return c;
}

static void pki_make(struct pki *k)
{
	memset(k, 0, sizeof(*k));
	k->ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	k->int_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	CU_ASSERT_FATAL(k->ca_key != NULL && k->int_key != NULL);
	k->ca = make_cert(k->ca_key, "Prep Root", NULL, NULL, 1, NULL);
	k->inter = make_cert(k->int_key, "Prep Intermediate", k->ca, k->ca_key, 1, NULL);
	CU_ASSERT_FATAL(k->ca != NULL && k->inter != NULL);
	k->rsa_leaf = make_cert(fx.rsa, "Prep RSA Leaf", k->inter, k->int_key, 0, "codeSigning");
	k->ec_leaf = make_cert(fx.ec, "Prep EC Leaf", k->inter, k->int_key, 0, "codeSigning");
	CU_ASSERT_FATAL(k->rsa_leaf != NULL && k->ec_leaf != NULL);
	k->rsa_chain = chain_of(k, k->rsa_leaf);
	k->ec_chain = chain_of(k, k->ec_leaf);
}

static void pki_free(struct pki *k)
{
	sk_X509_pop_free(k->rsa_chain, X509_free);
	sk_X509_pop_free(k->ec_chain, X509_free);
	X509_free(k->rsa_leaf);
	X509_free(k->ec_leaf);
	X509_free(k->inter);
	X509_free(k->ca);
	EVP_PKEY_free(k->ca_key);
	EVP_PKEY_free(k->int_key);
}

/*
 * au_build_reference (the PKCS7-object encoder au_build used before),
 * au_build and au_build_prepared give the same bytes, which au_verify accepts.
 */
static void same_bytes_subject(enum au_subject subject, const struct au_prepared *pr, EVP_PKEY *key,
			       X509 *cert, STACK_OF(X509) * chain, const EVP_MD *md,
			       const char *program, const char *url, time_t when)
{
	uint8_t digest[EVP_MAX_MD_SIZE], *ref = NULL, *built = NULL, *prep = NULL;
	size_t ref_len = 0, built_len = 0, prep_len = 0, dlen = (size_t)EVP_MD_get_size(md);
	struct csigner c = {.t = {key, 0, 0}};
	struct au_sign_params p = {.subject = subject,
				   .md = md,
				   .digest = digest,
				   .digest_len = dlen,
				   .program = program,
				   .url = url,
				   .signer = cert,
				   .chain = chain,
				   .sign = csign,
				   .sign_ctx = &c,
				   .signing_time = when};
	struct au_info info;
	struct sd_err e = {0};
	int ok;

	for (size_t i = 0; i < dlen; i++)
		digest[i] = (uint8_t)(i * 13 + (size_t)when);
	if (au_build_reference(&p, &ref, &ref_len, &e) != 0)
		fprintf(stderr, "\n  au_build_reference: %s\n", e.msg);
	if (au_build(&p, &built, &built_len, &e) != 0)
		fprintf(stderr, "\n  au_build: %s\n", e.msg);
	p.chain = NULL; /* ignored: the prepared chain is used */
	if (au_build_prepared(pr, &p, &prep, &prep_len, &e) != 0)
		fprintf(stderr, "\n  au_build_prepared: %s\n", e.msg);
	CU_ASSERT_FATAL(ref != NULL && built != NULL && prep != NULL);
	ok = ref_len == built_len && ref_len == prep_len && memcmp(ref, built, ref_len) == 0 &&
	     memcmp(ref, prep, ref_len) == 0;
	if (!ok)
		fprintf(stderr,
			"\n  differs: %s %s program=%.20s url=%.30s time=%lld (%zu/%zu/%zu)\n",
			EVP_PKEY_get0_type_name(key), EVP_MD_get0_name(md), program ? program : "-",
			url ? url : "-", (long long)when, ref_len, built_len, prep_len);
	CU_ASSERT(ok);
	if (au_verify(prep, prep_len, subject, &info, &e) != 0)
		fprintf(stderr, "\n  au_verify: %s\n", e.msg);
	CU_ASSERT_FATAL(info.signer != NULL);
	CU_ASSERT_EQUAL(X509_cmp(info.signer, cert), 0);
	CU_ASSERT_EQUAL(sk_X509_num(info.certs), chain != NULL ? 3 : 1);
	CU_ASSERT(memcmp(info.digest, digest, dlen) == 0);
	au_info_clear(&info);
	OPENSSL_free(ref);
	OPENSSL_free(built);
	OPENSSL_free(prep);
}

static void same_bytes(const struct au_prepared *pr, EVP_PKEY *key, X509 *cert,
		       STACK_OF(X509) * chain, const EVP_MD *md, const char *program,
		       const char *url, time_t when)
{
	same_bytes_subject(AU_SUBJECT_CAB, pr, key, cert, chain, md, program, url, when);
	same_bytes_subject(AU_SUBJECT_SCRIPT, pr, key, cert, chain, md, program, url, when);
}

static void test_prepared_same_bytes(void)
{
	const EVP_MD *mds[] = {EVP_sha1(), EVP_sha256(), EVP_sha384(), EVP_sha512()};
	/* Short and long strings move SpcSpOpusInfo around in the sorted SET and
	 * give it 1-, 2- and 3-byte lengths. */
	char long_url[1024], long_bmp[256];
	const char *progs[] = {NULL, "Contoso Updater", NULL, "a", "Pr\xc3\xb6gramm \xe2\x82\xac",
			       NULL, long_bmp};
	const char *urls[] = {NULL, NULL, "https://example.com/x", "h", NULL, long_url, long_url};
	/* 2023-11-14T22:13:20Z, the first and last second of UTCTime, the 2038 edge */
	const time_t whens[] = {1700000000, -631152000, 2524607999, 2147483647};
	struct au_prepared *pr[3] = {NULL, NULL, NULL};
	struct pki k;
	struct sd_err e = {0};

	memset(long_url, 0, sizeof(long_url));
	memcpy(long_url, "https://example.com/", 20);
	memset(long_url + 20, 'u', sizeof(long_url) - 21);
	for (size_t i = 0; i + 2 < sizeof(long_bmp); i += 2)
		memcpy(long_bmp + i, "\xc3\xa9", 2); /* 127 x U+00E9: 254 bytes */
	long_bmp[254] = '\0';
	pki_make(&k);
	CU_ASSERT_FATAL(au_prepare(fx.rsa_cert, NULL, &pr[0], &e) == 0);
	CU_ASSERT_FATAL(au_prepare(k.rsa_leaf, k.rsa_chain, &pr[1], &e) == 0);
	CU_ASSERT_FATAL(au_prepare(k.ec_leaf, k.ec_chain, &pr[2], &e) == 0);
	for (size_t m = 0; m < 4; m++)
		for (size_t o = 0; o < sizeof(progs) / sizeof(progs[0]); o++)
			for (size_t t = 0; t < sizeof(whens) / sizeof(whens[0]); t++) {
				same_bytes(pr[0], fx.rsa, fx.rsa_cert, NULL, mds[m], progs[o],
					   urls[o], whens[t]);
				same_bytes(pr[1], fx.rsa, k.rsa_leaf, k.rsa_chain, mds[m], progs[o],
					   urls[o], whens[t]);
				same_bytes(pr[2], fx.ec, k.ec_leaf, k.ec_chain, mds[m], progs[o],
					   urls[o], whens[t]);
			}
	for (size_t i = 0; i < 3; i++)
		au_prepared_free(pr[i]);
	pki_free(&k);
}

/* The signingTime value in der (the attribute type OID, then SET, then the time TLV). */
static const uint8_t *signing_time_at(const uint8_t *der, size_t len)
{
	static const uint8_t st[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
				     0xf7, 0x0d, 0x01, 0x09, 0x05, 0x31};
	long at = find(der, len, st, sizeof(st));

	CU_ASSERT_FATAL(at > 0 && (size_t)at + sizeof(st) + 2 + 17 <= len);
	return der + at + sizeof(st) + 1;
}

static void test_signing_time(void)
{
	uint8_t digest[32] = {3}, *der = NULL;
	size_t len = 0;
	struct csigner c = {.t = {fx.rsa, 0, 0}};
	struct au_sign_params p = {.subject = AU_SUBJECT_CAB,
				   .md = EVP_sha256(),
				   .digest = digest,
				   .digest_len = 32,
				   .signer = fx.rsa_cert,
				   .sign = csign,
				   .sign_ctx = &c,
				   .signing_time = 1700000000};
	struct sd_err e = {0};
	const uint8_t *t;
	char now_text[16];
	time_t before, after;
	struct tm tm;

	/* known answer */
	CU_ASSERT_FATAL(au_build(&p, &der, &len, &e) == 0);
	t = signing_time_at(der, len);
	CU_ASSERT(memcmp(t,
			 "\x17\x0d"
			 "231114221320Z",
			 15) == 0);
	OPENSSL_free(der);

	/* 0 = now */
	p.signing_time = 0;
	before = time(NULL);
	CU_ASSERT_FATAL(au_build(&p, &der, &len, &e) == 0);
	after = time(NULL);
	t = signing_time_at(der, len);
	CU_ASSERT_FATAL(t[0] == 0x17 && t[1] == 13);
	memcpy(now_text, t + 2, 13);
	now_text[13] = '\0';
	memset(&tm, 0, sizeof(tm));
	CU_ASSERT_FATAL(strptime(now_text, "%y%m%d%H%M%SZ", &tm) != NULL);
	CU_ASSERT(timegm(&tm) >= before && timegm(&tm) <= after);
	OPENSSL_free(der);

	/* From 2050 on, RFC 5652 11.3 wants GeneralizedTime. (OpenSSL's PKCS7
	 * encoder wrote the 15 characters under the UTCTime tag.) */
	p.signing_time = 2524608000; /* 2050-01-01T00:00:00Z */
	CU_ASSERT_FATAL(au_build(&p, &der, &len, &e) == 0);
	t = signing_time_at(der, len);
	CU_ASSERT(memcmp(t,
			 "\x18\x0f"
			 "20500101000000Z",
			 17) == 0);
	expect_ok(der, len);
	OPENSSL_free(der);
	p.signing_time = -631152001; /* 1949-12-31T23:59:59Z */
	CU_ASSERT_FATAL(au_build(&p, &der, &len, &e) == 0);
	t = signing_time_at(der, len);
	CU_ASSERT(memcmp(t,
			 "\x18\x0f"
			 "19491231235959Z",
			 17) == 0);
	OPENSSL_free(der);
}

/* The prepared builder refuses what au_build refuses, with the same errors. */
static void test_prepared_errors(void)
{
	uint8_t digest[64] = {0}, *der = (uint8_t *)"x";
	size_t len = 9;
	struct tsigner t = {fx.rsa, 0, 0};
	struct au_sign_params p = {.subject = AU_SUBJECT_CAB,
				   .md = EVP_sha256(),
				   .digest = digest,
				   .digest_len = 32,
				   .signer = fx.rsa_cert,
				   .sign = tsign,
				   .sign_ctx = &t};
	struct au_prepared *pr = NULL, *pr_ec = NULL;
	struct sd_err e = {0};
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	X509 *ed_cert;

	CU_ASSERT_FATAL(au_prepare(fx.rsa_cert, NULL, &pr, &e) == 0);

	/* prepare: missing signer, unsupported key */
	CU_ASSERT_EQUAL(au_prepare(NULL, NULL, &pr_ec, &e), -1);
	CU_ASSERT_PTR_NULL(pr_ec);
	CU_ASSERT_EQUAL(e.code, SD_E_INTERNAL);
	CU_ASSERT_FATAL(ed != NULL);
	ed_cert = X509_new();
	CU_ASSERT_FATAL(ed_cert != NULL && X509_set_pubkey(ed_cert, ed) == 1);
	CU_ASSERT_EQUAL(au_prepare(ed_cert, NULL, &pr_ec, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "not RSA or EC"));
	CU_ASSERT_FATAL(au_prepare(fx.ec_cert, NULL, &pr_ec, &e) == 0);

	/* the parameters are checked as au_build checks them */
	p.digest_len = 31;
	CU_ASSERT_EQUAL(au_build_prepared(pr, &p, &der, &len, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_BAD_DIGEST_LENGTH);
	CU_ASSERT_PTR_NULL(der);
	CU_ASSERT_EQUAL(len, 0);
	p.md = EVP_md5();
	p.digest_len = 16;
	CU_ASSERT_EQUAL(au_build_prepared(pr, &p, &der, &len, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_UNSUPPORTED_DIGEST);
	p.md = EVP_sha256();
	p.digest_len = 32;
	p.url = "https://example.com/\xc3\xa9";
	CU_ASSERT_EQUAL(au_build_prepared(pr, &p, &der, &len, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_BAD_REQUEST);
	p.url = NULL;
	p.program = "tab\there";
	CU_ASSERT_EQUAL(au_build_prepared(pr, &p, &der, &len, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_BAD_REQUEST);
	p.program = NULL;
	p.subject = 7;
	CU_ASSERT_EQUAL(au_build_prepared(pr, &p, &der, &len, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_INTERNAL);
	p.subject = AU_SUBJECT_CAB;
	CU_ASSERT_EQUAL(au_build_prepared(NULL, &p, &der, &len, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_INTERNAL);

	/* another certificate than the prepared one */
	p.signer = fx.ec_cert;
	CU_ASSERT_EQUAL(au_build_prepared(pr, &p, &der, &len, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "not the prepared one"));
	/* NULL means the prepared one */
	p.signer = NULL;
	CU_ASSERT_EQUAL(au_build_prepared(pr, &p, &der, &len, &e), 0);
	expect_ok(der, len);
	OPENSSL_free(der);

	/* the self-check: corrupt signature, valid signature by another key */
	t.corrupt = 1;
	CU_ASSERT_EQUAL(au_build_prepared(pr, &p, &der, &len, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "SIGNATURE CHECK FAILED"));
	CU_ASSERT_PTR_NULL(der);
	t.key = fx.ec;
	CU_ASSERT_EQUAL(au_build_prepared(pr_ec, &p, &der, &len, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "SIGNATURE CHECK FAILED"));
	t.corrupt = 0;
	t.key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	CU_ASSERT_FATAL(t.key != NULL);
	CU_ASSERT_EQUAL(au_build_prepared(pr_ec, &p, &der, &len, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_INTERNAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "SIGNATURE CHECK FAILED"));
	EVP_PKEY_free(t.key);
	/* RSA key for the EC certificate: the signature cannot fit the capacity */
	t.key = fx.rsa;
	CU_ASSERT_EQUAL(au_build_prepared(pr_ec, &p, &der, &len, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_INTERNAL);
	CU_ASSERT_PTR_NULL(der);
	/* the callback's own error comes through */
	t.fail = 1;
	CU_ASSERT_EQUAL(au_build_prepared(pr, &p, &der, &len, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_TOKEN_UNAVAILABLE);
	CU_ASSERT_STRING_EQUAL(e.msg, "test token is unplugged");
	CU_ASSERT_PTR_NULL(der);

	au_prepared_free(pr);
	au_prepared_free(pr_ec);
	au_prepared_free(NULL);
	X509_free(ed_cert);
	EVP_PKEY_free(ed);
}

/* Worker threads share one struct au_prepared. */
struct worker {
	const struct au_prepared *pr;
	struct csigner c; /* seeded with the expected signature */
	const uint8_t *expect;
	size_t expect_len;
	int same; /* builds that gave the expected bytes */
};

#define WORKER_BUILDS 40

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	uint8_t digest[32] = {9}, *der;
	size_t len;
	struct au_sign_params p = {.subject = AU_SUBJECT_CAB,
				   .md = EVP_sha256(),
				   .digest = digest,
				   .digest_len = 32,
				   .program = "Threads",
				   .url = "https://example.com/t",
				   .sign = csign,
				   .sign_ctx = &w->c,
				   .signing_time = 1700000000};
	struct sd_err e;

	for (int i = 0; i < WORKER_BUILDS; i++) {
		der = NULL;
		if (au_build_prepared(w->pr, &p, &der, &len, &e) == 0 && len == w->expect_len &&
		    memcmp(der, w->expect, len) == 0)
			w->same++;
		OPENSSL_free(der);
	}
	return NULL;
}

static void test_prepared_threads(void)
{
	uint8_t digest[32] = {9}, *expect = NULL;
	size_t expect_len = 0;
	struct csigner c = {.t = {fx.ec, 0, 0}};
	struct au_sign_params p = {.subject = AU_SUBJECT_CAB,
				   .md = EVP_sha256(),
				   .digest = digest,
				   .digest_len = 32,
				   .program = "Threads",
				   .url = "https://example.com/t",
				   .signer = fx.ec_cert,
				   .sign = csign,
				   .sign_ctx = &c,
				   .signing_time = 1700000000};
	struct au_prepared *pr = NULL;
	struct worker w[4];
	pthread_t th[4];
	struct sd_err e = {0};

	CU_ASSERT_FATAL(au_prepare(fx.ec_cert, NULL, &pr, &e) == 0);
	CU_ASSERT_FATAL(au_build(&p, &expect, &expect_len, &e) == 0);
	for (int i = 0; i < 4; i++) {
		/* the workers' signers return this signature for this hash */
		w[i] = (struct worker){pr, c, expect, expect_len, 0};
		CU_ASSERT_FATAL(pthread_create(&th[i], NULL, worker_run, &w[i]) == 0);
	}
	for (int i = 0; i < 4; i++) {
		CU_ASSERT_FATAL(pthread_join(th[i], NULL) == 0);
		CU_ASSERT_EQUAL(w[i].same, WORKER_BUILDS);
	}
	OPENSSL_free(expect);
	au_prepared_free(pr);
}

/* ----------------------------------------------------------------- chain */

static int chain_result(EVP_PKEY *key, X509 *leaf, STACK_OF(X509) * embed, X509_STORE *store,
			struct sd_err *e)
{
	uint8_t digest[32] = {7}, *der = NULL;
	size_t len = 0;
	struct au_info info;
	int r;

	CU_ASSERT_FATAL(build(key, leaf, embed, EVP_sha256(), digest, NULL, NULL, &der, &len, e) ==
			0);
	CU_ASSERT_FATAL(au_verify(der, len, AU_SUBJECT_CAB, &info, e) == 0);
	CU_ASSERT_EQUAL(sk_X509_num(info.certs), 1 + (embed != NULL ? sk_X509_num(embed) : 0));
	r = au_verify_chain(&info, store, e);
	au_info_clear(&info);
	OPENSSL_free(der);
	return r;
}

static X509_STORE *store_of(X509 *c)
{
	X509_STORE *s = X509_STORE_new();

	CU_ASSERT_FATAL(s != NULL && X509_STORE_add_cert(s, c) == 1);
	return s;
}

static X509_CRL *make_crl(X509 *ca, EVP_PKEY *ca_key, X509 *revoked)
{
	X509_CRL *crl = X509_CRL_new();
	X509_REVOKED *r;
	ASN1_TIME *t = ASN1_TIME_new();

	CU_ASSERT_FATAL(crl != NULL && t != NULL);
	CU_ASSERT_FATAL(X509_CRL_set_version(crl, X509_CRL_VERSION_2) == 1);
	CU_ASSERT_FATAL(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) == 1);
	CU_ASSERT_FATAL(X509_gmtime_adj(t, -60) != NULL && X509_CRL_set1_lastUpdate(crl, t) == 1);
	CU_ASSERT_FATAL(X509_gmtime_adj(t, 86400) != NULL && X509_CRL_set1_nextUpdate(crl, t) == 1);
	if (revoked != NULL) {
		r = X509_REVOKED_new();
		CU_ASSERT_FATAL(r != NULL);
		CU_ASSERT_FATAL(X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(revoked)) ==
				1);
		CU_ASSERT_FATAL(X509_gmtime_adj(t, -30) != NULL &&
				X509_REVOKED_set_revocationDate(r, t) == 1);
		CU_ASSERT_FATAL(X509_CRL_add0_revoked(crl, r) == 1);
	}
	ASN1_TIME_free(t);
	CU_ASSERT_FATAL(X509_CRL_sign(crl, ca_key, EVP_sha256()) > 0);
	return crl;
}

static void test_chain(void)
{
	struct sd_err e = {0};
	X509_STORE *store;
	EVP_PKEY *ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *int_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *other_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *ca, *inter, *leaf, *other_ca, *server;
	STACK_OF(X509) *embed = sk_X509_new_null();
	X509_CRL *crl;

	CU_ASSERT_FATAL(ca_key != NULL && int_key != NULL && other_key != NULL && embed != NULL);
	ca = make_cert(ca_key, "Test Root", NULL, NULL, 1, NULL);
	inter = make_cert(int_key, "Test Intermediate", ca, ca_key, 1, NULL);
	leaf = make_cert(fx.rsa, "Test Leaf", inter, int_key, 0, "codeSigning");
	other_ca = make_cert(other_key, "Unrelated Root", NULL, NULL, 1, NULL);
	CU_ASSERT_FATAL(ca != NULL && inter != NULL && leaf != NULL && other_ca != NULL);

	/* self-signed code-signing certificate as its own trust anchor */
	store = store_of(fx.rsa_cert);
	CU_ASSERT_EQUAL(chain_result(fx.rsa, fx.rsa_cert, NULL, store, &e), 0);
	X509_STORE_free(store);
	store = store_of(fx.ec_cert);
	CU_ASSERT_EQUAL(chain_result(fx.ec, fx.ec_cert, NULL, store, &e), 0);
	X509_STORE_free(store);

	/* ... but not against an unrelated CA */
	store = store_of(other_ca);
	CU_ASSERT_EQUAL(chain_result(fx.rsa, fx.rsa_cert, NULL, store, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_BAD_REQUEST);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "does not verify"));
	X509_STORE_free(store);

	/* PKI: the intermediate comes from the signature, the root from the store */
	store = store_of(ca);
	CU_ASSERT_FATAL(sk_X509_push(embed, inter) == 1);
	if (chain_result(fx.rsa, leaf, embed, store, &e) != 0) {
		fprintf(stderr, "\n  %s\n", e.msg);
		CU_FAIL("PKI chain");
	}
	/* without the intermediate the chain cannot be built */
	CU_ASSERT_EQUAL(chain_result(fx.rsa, leaf, NULL, store, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "does not verify"));
	/* unrelated root */
	X509_STORE_free(store);
	store = store_of(other_ca);
	CU_ASSERT_EQUAL(chain_result(fx.rsa, leaf, embed, store, &e), -1);
	X509_STORE_free(store);

	/* CRL checking: revoked leaf, and missing CRL */
	store = store_of(ca);
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	crl = make_crl(inter, int_key, leaf);
	CU_ASSERT_FATAL(X509_STORE_add_crl(store, crl) == 1);
	X509_CRL_free(crl);
	CU_ASSERT_EQUAL(chain_result(fx.rsa, leaf, embed, store, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_CERT_REVOKED);
	X509_STORE_free(store);
	store = store_of(ca);
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	CU_ASSERT_EQUAL(chain_result(fx.rsa, leaf, embed, store, &e), -1);
	CU_ASSERT_EQUAL(e.code, SD_E_CRL_UNAVAILABLE);
	crl = make_crl(inter, int_key, NULL);
	CU_ASSERT_FATAL(X509_STORE_add_crl(store, crl) == 1);
	X509_CRL_free(crl);
	CU_ASSERT_EQUAL(chain_result(fx.rsa, leaf, embed, store, &e), 0);
	X509_STORE_free(store);

	/* a trusted certificate without the codeSigning EKU is refused */
	server = make_cert(fx.rsa, "Server", NULL, NULL, 0, "serverAuth");
	CU_ASSERT_FATAL(server != NULL);
	store = store_of(server);
	CU_ASSERT_EQUAL(chain_result(fx.rsa, server, NULL, store, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "does not include codeSigning"));
	X509_STORE_free(store);

	sk_X509_free(embed);
	X509_free(ca);
	X509_free(inter);
	X509_free(leaf);
	X509_free(other_ca);
	X509_free(server);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(int_key);
	EVP_PKEY_free(other_key);
}

/* ----------------------------------------------------------------- suite */

/* ------------------------------------------------------------- scripts */

/*
 * The first 75 bytes of a SHA-256 script SpcIndirectDataContent, as
 * osslsigncode 2.9 writes it: SPC_SIPINFO_OBJID, SpcSipInfo { 65536, the
 * PowerShell SIP GUID, five 0 }, then the DigestInfo header.
 */
static const uint8_t sha256_script_prefix[75] = {
    0x30, 0x69, 0x30, 0x34, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01,
    0x1e, 0x30, 0x26, 0x02, 0x03, 0x01, 0x00, 0x00, 0x04, 0x10, 0x1f, 0xcc, 0x3b, 0x60, 0x59,
    0x4b, 0x08, 0x4e, 0xb7, 0x24, 0xd2, 0xc6, 0x29, 0x7e, 0xf3, 0x51, 0x02, 0x01, 0x00, 0x02,
    0x01, 0x00, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x31, 0x30, 0x0d,
    0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};

static void test_script_subject(void)
{
	const EVP_MD *mds[] = {EVP_sha1(), EVP_sha256(), EVP_sha384(), EVP_sha512()};
	EVP_PKEY *keys[] = {fx.rsa, fx.ec};
	X509 *certs[] = {fx.rsa_cert, fx.ec_cert};
	uint8_t digest[EVP_MAX_MD_SIZE], *der = NULL, *cab = NULL, tag;
	size_t len = 0, cab_len = 0, dlen, ind_len, l, ihl;
	const uint8_t *ind;
	struct au_info info;
	struct sd_err e = {0};
	long at;

	for (size_t m = 0; m < 4; m++)
		for (size_t k = 0; k < 2; k++) {
			dlen = (size_t)EVP_MD_get_size(mds[m]);
			for (size_t i = 0; i < dlen; i++)
				digest[i] = (uint8_t)(m * 31 + k * 7 + i);
			CU_ASSERT_FATAL(build_subject(AU_SUBJECT_SCRIPT, keys[k], certs[k], NULL,
						      mds[m], digest, "Script", NULL, &der, &len,
						      &e) == 0);
			if (au_verify(der, len, AU_SUBJECT_SCRIPT, &info, &e) != 0)
				fprintf(stderr, "\n  au_verify script: %s\n", e.msg);
			CU_ASSERT_FATAL(info.signer != NULL);
			CU_ASSERT(info.digest_len == dlen &&
				  memcmp(info.digest, digest, dlen) == 0);
			CU_ASSERT_STRING_EQUAL(info.program, "Script");
			au_info_clear(&info);
			/* A script signature is no CAB signature, and the reverse. */
			CU_ASSERT_EQUAL(au_verify(der, len, AU_SUBJECT_CAB, &info, &e), -1);
			CU_ASSERT_STRING_EQUAL(e.msg,
					       "SpcIndirectDataContent: data type is "
					       "SPC_SIPINFO_OBJID (1.3.6.1.4.1.311.2.1.30): "
					       "this is a script signature, not a cab signature");
			CU_ASSERT_FATAL(build(keys[k], certs[k], NULL, mds[m], digest, NULL, NULL,
					      &cab, &cab_len, &e) == 0);
			CU_ASSERT_EQUAL(au_verify(cab, cab_len, AU_SUBJECT_SCRIPT, &info, &e), -1);
			CU_ASSERT_STRING_EQUAL(e.msg,
					       "SpcIndirectDataContent: data type is "
					       "SPC_CAB_DATA_OBJID (1.3.6.1.4.1.311.2.1.25): "
					       "this is a cab signature, not a script signature");
			CU_ASSERT_PTR_NULL(info.signer);
			/* The content bytes. */
			inspect_raw(der, len, &ind, &ind_len);
			CU_ASSERT_FATAL(hdr(ind, ind_len, &tag, &l, &ihl) == 0);
			CU_ASSERT(memcmp(ind + ind_len - dlen, digest, dlen) == 0);
			CU_ASSERT(memcmp(ind + ihl, sha256_script_prefix + 2, 54) == 0);
			if (mds[m] == EVP_sha256()) {
				CU_ASSERT_EQUAL(ind_len, 107);
				CU_ASSERT(memcmp(ind, sha256_script_prefix, 75) == 0);
			}
			/* Another SIP GUID: refused by name (before the messageDigest check). */
			at = find(der, len, sha256_script_prefix + 25, 16);
			CU_ASSERT_FATAL(at > 0);
			der[at + 15] ^= 1;
			CU_ASSERT_EQUAL(au_verify(der, len, AU_SUBJECT_SCRIPT, &info, &e), -1);
			CU_ASSERT_STRING_EQUAL(e.msg,
					       "SpcIndirectDataContent: the SpcSipInfo is not "
					       "the PowerShell SIP's (GUID "
					       "603BCC1F-4B59-4E08-B724-D2C6297EF351)");
			OPENSSL_free(der);
			OPENSSL_free(cab);
			der = cab = NULL;
		}
	CU_ASSERT_STRING_EQUAL(au_subject_name(AU_SUBJECT_CAB), "cab");
	CU_ASSERT_STRING_EQUAL(au_subject_name(AU_SUBJECT_SCRIPT), "script");
	CU_ASSERT_STRING_EQUAL(au_subject_name((enum au_subject)7), "unknown");
	CU_ASSERT_EQUAL(build_subject((enum au_subject)7, fx.rsa, fx.rsa_cert, NULL, EVP_sha256(),
				      digest, NULL, NULL, &der, &len, &e),
			-1);
	CU_ASSERT_EQUAL(e.code, SD_E_INTERNAL);
	CU_ASSERT_EQUAL(au_verify(cab, cab_len, (enum au_subject)7, &info, &e), -1);
}

static int suite_init(void)
{
	fx.rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	fx.ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (fx.rsa == NULL || fx.ec == NULL)
		return -1;
	fx.rsa_cert = make_cert(fx.rsa, "signerd test RSA", NULL, NULL, 0, "codeSigning");
	fx.ec_cert = make_cert(fx.ec, "signerd test EC", NULL, NULL, 0, "codeSigning");
	return fx.rsa_cert != NULL && fx.ec_cert != NULL ? 0 : -1;
}

static int suite_clean(void)
{
	X509_free(fx.rsa_cert);
	X509_free(fx.ec_cert);
	EVP_PKEY_free(fx.rsa);
	EVP_PKEY_free(fx.ec);
	memset(&fx, 0, sizeof(fx));
	return 0;
}

int main(void)
{
	CU_pSuite s;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("authenticode", suite_init, suite_clean);
	if (s == NULL ||
	    !CU_add_test(s, "build/verify round trip, sha1..sha512, RSA and EC", test_roundtrip) ||
	    !CU_add_test(s, "empty program/url are absent", test_empty_strings_absent) ||
	    !CU_add_test(s, "build refuses a bad signature", test_build_bad_signature) ||
	    !CU_add_test(s, "build rejects bad parameters", test_build_bad_params) ||
	    !CU_add_test(s, "verify rejects flipped bytes, truncation, garbage, BER",
			 test_forge_flips) ||
	    !CU_add_test(s, "verify rejects re-signed forgeries", test_forge_resigned) ||
	    !CU_add_test(s, "prepared and reference builders give the same bytes",
			 test_prepared_same_bytes) ||
	    !CU_add_test(s, "signingTime injection and encoding", test_signing_time) ||
	    !CU_add_test(s, "prepared builder errors and self-check", test_prepared_errors) ||
	    !CU_add_test(s, "prepared builder shared by threads", test_prepared_threads) ||
	    !CU_add_test(s, "interop with osslsigncode", test_interop_osslsigncode) ||
	    !CU_add_test(s, "script subject: SPC_SIPINFO, never mixed with CAB",
			 test_script_subject) ||
	    !CU_add_test(s, "verify_chain", test_chain)) {
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails == 0 ? 0 : 1;
}
