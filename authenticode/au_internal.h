/*
 * Internal helpers of the authenticode library: strict DER primitives, the
 * Authenticode-specific encodings (SpcIndirectDataContent, SpcSpOpusInfo,
 * SpcStatementType) and the string conversions they need.
 */
#ifndef SD_AU_INTERNAL_H
#define SD_AU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/pkcs7.h>

#include "authenticode/authenticode.h"
#include "common/buf.h"
#include "common/err.h"

/* DER tags used here. */
#define AU_TAG_OCTET_STRING 0x04
#define AU_TAG_NULL	    0x05
#define AU_TAG_OID	    0x06
#define AU_TAG_SEQUENCE	    0x30
#define AU_TAG_CTX0	    0x80 /* [0] IMPLICIT, primitive */
#define AU_TAG_CTX1	    0x81 /* [1] IMPLICIT, primitive */
#define AU_TAG_CTX0_CONS    0xa0 /* [0] EXPLICIT / constructed */
#define AU_TAG_CTX1_CONS    0xa1
#define AU_TAG_CTX2_CONS    0xa2

/* Dotted OIDs, for OBJ_txt2obj and messages. */
#define AU_OID_SPC_INDIRECT_DATA "1.3.6.1.4.1.311.2.1.4"
#define AU_OID_SPC_CAB_DATA	 "1.3.6.1.4.1.311.2.1.25"
#define AU_OID_SPC_SIPINFO	 "1.3.6.1.4.1.311.2.1.30"
#define AU_OID_SPC_STATEMENT	 "1.3.6.1.4.1.311.2.1.11"
#define AU_OID_SPC_OPUS_INFO	 "1.3.6.1.4.1.311.2.1.12"
#define AU_OID_SPC_INDIVIDUAL	 "1.3.6.1.4.1.311.2.1.21"
#define AU_OID_RFC3161		 "1.3.6.1.4.1.311.3.3.1" /* unsigned: timestamp token */

/* Upper bounds of the strings we put into SpcSpOpusInfo (match struct au_info). */
#define AU_PROGRAM_MAX 255 /* UTF-8 bytes */
#define AU_URL_MAX     1023

/* ---- au_der.c: strict DER (definite, minimal lengths, low tag numbers) ---- */

/*
 * Read one TLV with the given tag at the cursor; *val and *len get its content.
 * Fails (cursor unmoved) on another tag, a malformed or non-minimal length,
 * or a value running past the end.
 */
int au_der_get(struct rbuf *r, uint8_t tag, const uint8_t **val, size_t *len);
/* Read one TLV of any tag; *tlv and *tlvlen cover the whole element. */
int au_der_get_any(struct rbuf *r, uint8_t *tag, const uint8_t **tlv, size_t *tlvlen);
/* Tag of the next element, -1 at the end. */
int au_der_peek(const struct rbuf *r);
/*
 * The whole of p[0..n) must be exactly one TLV with the given tag; *hdrlen is
 * the length of its tag + length header (2 for a 99-byte SEQUENCE, 3 for 0x81).
 */
int au_der_single(const uint8_t *p, size_t n, uint8_t tag, size_t *hdrlen);
/* Append tag, length and val[0..len). */
void au_der_put(struct wbuf *w, uint8_t tag, const void *val, size_t len);
/* Size of the tag + length header for a len-byte value, and of the whole TLV. */
size_t au_der_hdr_len(size_t len);
size_t au_der_tlv_len(size_t len);

/*
 * Writer into a caller-owned buffer of fixed capacity with a sticky failure
 * flag (no allocation): for encodings whose size is computed beforehand.
 */
struct au_dw {
	uint8_t *p;
	size_t cap;
	size_t len;
	int failed;
};
void au_dw_init(struct au_dw *w, uint8_t *p, size_t cap);
void au_dw_raw(struct au_dw *w, const void *v, size_t n);
/* Tag and length only; the len value bytes must follow. */
void au_dw_hdr(struct au_dw *w, uint8_t tag, size_t len);
void au_dw_tlv(struct au_dw *w, uint8_t tag, const void *v, size_t n);

/* ---- au_asn1.c: the Authenticode structures ---- */

/* The digest algorithms accepted, with their DER AlgorithmIdentifier OID. */
struct au_md {
	int nid;
	const char *name;
	size_t size;	    /* digest length in bytes */
	const uint8_t *oid; /* full TLV, 06 len ... */
	size_t oid_len;
};
const struct au_md *au_md_by_nid(int nid);
/* The i-th entry of the table (0 <= i < AU_MD_COUNT). */
#define AU_MD_COUNT 4
const struct au_md *au_md_at(size_t i);

/* Largest SpcIndirectDataContent TLV (SHA-512: 132 bytes for a CAB, 140 for a script). */
#define AU_INDIRECT_MAX 160
/* 1 for the subjects this library builds and verifies. */
int au_subject_known(enum au_subject subject);
/*
 * SpcIndirectDataContent for subject into buf[0..cap), no allocation;
 * digest_len must be md->size. 0 on success, -1 when cap is too small or
 * the subject is unknown.
 */
int au_enc_indirect_buf(enum au_subject subject, const struct au_md *md, const uint8_t *digest,
			uint8_t *buf, size_t cap, size_t *len);

/* SpcIndirectDataContent (a complete SEQUENCE TLV) for subject and digest. */
int au_enc_indirect(enum au_subject subject, const struct au_md *md, const uint8_t *digest,
		    size_t digest_len, struct wbuf *out, struct sd_err *e);
/*
 * Parse an SpcIndirectDataContent TLV: checks the subject's data OID and
 * returns the DigestInfo's algorithm and digest.
 */
int au_dec_indirect(const uint8_t *p, size_t n, enum au_subject subject, const struct au_md **md,
		    uint8_t *digest, size_t *digest_len, struct sd_err *e);

/* SpcStatementType value: SEQUENCE { individual code signing }. */
int au_enc_statement(struct wbuf *out, struct sd_err *e);

/*
 * SpcSpOpusInfo value. program/url may be NULL or "" (absent). Printable
 * ASCII names use [1] IA5String as osslsigncode does, other UTF-8 names use
 * [0] BMPString. The URL must be printable ASCII.
 */
int au_enc_opus(const char *program, const char *url, struct wbuf *out, struct sd_err *e);
/* Parse an SpcSpOpusInfo value into NUL-terminated UTF-8 strings. */
int au_dec_opus(const uint8_t *p, size_t n, char *program, size_t program_sz, char *url,
		size_t url_sz, struct sd_err *e);

/* ---- au_sig.c: the SignerInfo signature ---- */

/* 1 for the key types we sign and verify with (RSA, EC), else 0. */
int au_key_supported(EVP_PKEY *pub);
/*
 * Hash of the DER signed attributes (tag 0x31), encoded as OpenSSL does when
 * it signs (for_verify 0: sorted SET OF) or verifies (1: order as received).
 */
int au_attrs_hash(PKCS7_SIGNER_INFO *si, const EVP_MD *md, int for_verify, uint8_t *hash,
		  size_t *hashlen, struct sd_err *e);
/* 1 when sig is a valid PKCS#1 v1.5 / ECDSA signature of hash under pub. */
int au_sig_ok(EVP_PKEY *pub, const EVP_MD *md, const uint8_t *hash, size_t hashlen,
	      const uint8_t *sig, size_t siglen);

/*
 * The self-check with a verify context prepared once per key and digest
 * (EVP_PKEY_verify_init'ed, padding and digest set): the template is only
 * read (EVP_PKEY_CTX_dup), so threads may share it.
 */
EVP_PKEY_CTX *au_verify_ctx_new(EVP_PKEY *pub, const EVP_MD *md);
int au_sig_ok_prepared(const EVP_PKEY_CTX *tmpl, const uint8_t *hash, size_t hashlen,
		       const uint8_t *sig, size_t siglen);

/* ---- au_prep.c: what au_prepare computes once per key ---- */

/* OIDs used by the builder, as DER TLVs made once from OpenSSL's table. */
enum au_oid {
	AU_OIDX_SIGNED_DATA,
	AU_OIDX_CONTENT_TYPE,
	AU_OIDX_SIGNING_TIME,
	AU_OIDX_MESSAGE_DIGEST,
	AU_OIDX_INDIRECT,
	AU_OIDX_OPUS,
	AU_OIDX_COUNT_
};
#define AU_OID_MAX    16 /* bytes of one OID TLV */
#define AU_ALGID_MAX  32 /* bytes of one AlgorithmIdentifier TLV */
#define AU_ATTR_CONST 48 /* bytes of one constant Attribute TLV */

struct au_prep_md {
	const struct au_md *md;	   /* NULL: not prepared for this digest */
	EVP_MD *evp;		   /* fetched once: no implicit fetch per hash */
	EVP_PKEY_CTX *verify;	   /* template for au_sig_ok_prepared */
	uint8_t alg[AU_ALGID_MAX]; /* digestAlgorithm { oid, NULL } */
	size_t alg_len;
	uint8_t sig_alg[AU_ALGID_MAX]; /* digestEncryptionAlgorithm */
	size_t sig_alg_len;
};

struct au_prepared {
	X509 *signer; /* reference, for the identity check of the parameters */
	EVP_PKEY *pub;
	size_t sig_cap; /* EVP_PKEY_get_size */
	uint8_t oid[AU_OIDX_COUNT_][AU_OID_MAX];
	size_t oid_len[AU_OIDX_COUNT_];
	uint8_t attr_ct[AU_ATTR_CONST]; /* contentType = SPC_INDIRECT_DATA_OBJID */
	size_t attr_ct_len;
	uint8_t attr_stmt[AU_ATTR_CONST]; /* SpcStatementType = individual */
	size_t attr_stmt_len;
	uint8_t *ias; /* issuerAndSerialNumber TLV */
	size_t ias_len;
	uint8_t *certs; /* certificates [0] IMPLICIT TLV: leaf, then the chain */
	size_t certs_len;
	struct au_prep_md md[AU_MD_COUNT];
};

/* au_prepare for one digest only (md_nid), or all of them (md_nid 0). */
int au_prepare_md(X509 *signer, STACK_OF(X509) * chain, int md_nid, struct au_prepared **out,
		  struct sd_err *e);

/* ---- au_ref.c: the PKCS7-object builder, reference for tests and bench ---- */

/* Same contract and output as au_build; slower (OpenSSL PKCS7 objects). */
int au_build_reference(const struct au_sign_params *p, uint8_t **der, size_t *derlen,
		       struct sd_err *e);

/* ---- au_text.c: string conversions for SpcString ---- */

/* 1 when s is non-empty printable ASCII (0x20..0x7e). */
int au_is_printable_ascii(const char *s);
/* UTF-8 to UTF-16BE (BMP only); fails on invalid UTF-8, controls, or > U+FFFF. */
int au_utf8_to_bmp(const char *s, struct wbuf *out, struct sd_err *e);
/*
 * BMPString bytes to UTF-8 in out[outsz], truncated on a character boundary.
 * Control characters become '?'. Fails on odd length, NUL or surrogates.
 */
int au_bmp_to_utf8(const uint8_t *p, size_t n, char *out, size_t outsz, struct sd_err *e);
/*
 * IA5String bytes to out[outsz], truncated. Fails on NUL. Control characters
 * and (unless the bytes are valid UTF-8, as osslsigncode writes them) bytes
 * >= 0x80 become '?'.
 */
int au_ia5_to_utf8(const uint8_t *p, size_t n, char *out, size_t outsz, struct sd_err *e);

#endif
