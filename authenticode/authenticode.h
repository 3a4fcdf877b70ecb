/*
 * Authenticode SignedData: the builder used by the daemon and the verifier
 * used by the client (AUTHENTICODE-CAB.md section 4).
 */
#ifndef SD_AUTHENTICODE_H
#define SD_AUTHENTICODE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/err.h"

enum au_subject {
	AU_SUBJECT_CAB = 1, /* data OID SPC_CAB_DATA_OBJID 1.3.6.1.4.1.311.2.1.25 */
	/*
	 * A PowerShell script (.ps1, .psm1, .psd1): data OID SPC_SIPINFO_OBJID
	 * 1.3.6.1.4.1.311.2.1.30 with the PowerShell SIP's SpcSipInfo value.
	 */
	AU_SUBJECT_SCRIPT = 2,
};

/* "cab" or "script" (the audit record's subject), "unknown" otherwise. */
const char *au_subject_name(enum au_subject subject);

/*
 * Signs hash (the digest, with md_nid, of the DER signed attributes) with the
 * private key and writes the final SignerInfo signature value: PKCS#1 v1.5
 * for RSA, DER ECDSA-Sig-Value for EC. *siglen is the capacity on entry.
 */
typedef int (*au_sign_fn)(void *ctx, int md_nid, const uint8_t *hash, size_t hashlen, uint8_t *sig,
			  size_t *siglen, struct sd_err *e);

struct au_sign_params {
	enum au_subject subject;
	const EVP_MD *md;	/* digest algorithm of the subject digest and of the signature */
	const uint8_t *digest;	/* subject digest (e.g. the CAB Authenticode digest) */
	size_t digest_len;	/* must equal EVP_MD_get_size(md) */
	const char *program;	/* SpcSpOpusInfo programName; NULL or "" = absent */
	const char *url;	/* SpcSpOpusInfo moreInfo URL; NULL or "" = absent */
	X509 *signer;		/* leaf certificate of the key */
	STACK_OF(X509) * chain; /* further certificates to embed (may be NULL) */
	au_sign_fn sign;
	void *sign_ctx;
	/*
	 * signingTime attribute: 0 = now (what the daemon uses). Any other
	 * value is for tests and benchmarks that need reproducible bytes.
	 */
	time_t signing_time;
};

/*
 * Build the ContentInfo(SignedData) DER. Before returning, the signature is
 * verified with the signer certificate's public key; a mismatch fails with
 * SD_E_INTERNAL (a faulty RSA-CRT signature can leak the key).
 * *der is OPENSSL_malloc'd. program is UTF-8 (at most 255 bytes; printable
 * ASCII is written as [1] IA5String like osslsigncode, anything else as
 * [0] BMPString); url is printable ASCII (at most 1023 bytes). Bad inputs
 * give SD_E_BAD_REQUEST, SD_E_UNSUPPORTED_DIGEST or SD_E_BAD_DIGEST_LENGTH;
 * the callback's own error is passed through.
 */
int au_build(const struct au_sign_params *p, uint8_t **der, size_t *derlen, struct sd_err *e);

/*
 * What au_build derives from the signer certificate and chain, computed once
 * per key: issuerAndSerialNumber, the certificates field, the algorithm
 * identifiers, the constant attributes, the digests and the verify contexts
 * of the self-check. Read-only after au_prepare, so any number of threads
 * may call au_build_prepared with the same one at the same time.
 */
struct au_prepared;

/*
 * Prepare for signer (the key's certificate, RSA or EC) and chain (further
 * certificates to embed, may be NULL; copies of signer are skipped, as in
 * au_build). Both are encoded now: later changes to them are not seen.
 * Holds a reference to signer. Free with au_prepared_free. Errors are
 * SD_E_INTERNAL.
 */
int au_prepare(X509 *signer, STACK_OF(X509) * chain, struct au_prepared **out, struct sd_err *e);

/*
 * au_build with the prepared certificate and chain: same checks (including
 * the self-check verify), same errors, byte for byte the same output.
 * p->signer must be NULL or the prepared certificate (same object or equal);
 * p->chain is ignored (the prepared chain is used).
 */
int au_build_prepared(const struct au_prepared *pr, const struct au_sign_params *p, uint8_t **der,
		      size_t *derlen, struct sd_err *e);

void au_prepared_free(struct au_prepared *pr);

struct au_info {
	int md_nid; /* digest algorithm of the SpcIndirectDataContent DigestInfo */
	uint8_t digest[EVP_MAX_MD_SIZE];
	size_t digest_len;
	X509 *signer;		/* signer certificate (owned; au_info_clear frees it) */
	STACK_OF(X509) * certs; /* all embedded certificates (owned; au_info_clear frees them) */
	char program[256];	/* empty when absent */
	char url[1024];		/* empty when absent */
	/* RFC 3161 timestamp (unsigned attribute 1.3.6.1.4.1.311.3.3.1), NULL when absent. */
	uint8_t *ts_token; /* TimeStampToken DER (owned) */
	size_t ts_token_len;
	uint8_t *sig; /* the SignerInfo signature value it covers (owned; only with ts_token) */
	size_t sig_len;
};

/*
 * Parse and check a SignedData as Authenticode for subject: ContentInfo
 * signedData, version 1, exactly one signer, content type
 * SPC_INDIRECT_DATA_OBJID as a plain SEQUENCE, the subject's data OID (a
 * CAB signature is refused as a script signature and the reverse; a script
 * signature must carry exactly the PowerShell SpcSipInfo value),
 * signed contentType attribute = SPC_INDIRECT_DATA_OBJID, messageDigest =
 * hash of the SpcIndirectDataContent content octets, and the signature over
 * the signed attributes verifying with the signer certificate's key.
 * Does not check the certificate chain. Fills info (free with au_info_clear;
 * on failure info is left zeroed). der must be exactly one DER SignedData:
 * strip any CAB padding first (the length is in the DER header). Errors are
 * SD_E_BAD_REQUEST (or SD_E_UNSUPPORTED_DIGEST / SD_E_BAD_DIGEST_LENGTH for
 * the DigestInfo) with a message naming the failed check.
 */
int au_verify(const uint8_t *der, size_t len, enum au_subject subject, struct au_info *info,
	      struct sd_err *e);

void au_info_clear(struct au_info *info);

/*
 * The SignerInfo's signature value inside a SignedData DER of exactly one
 * SignerInfo (borrowed pointer into der). Errors: SD_E_BAD_REQUEST.
 */
int au_signature_value(const uint8_t *der, size_t len, const uint8_t **sig, size_t *siglen,
		       struct sd_err *e);

/*
 * A copy of the SignedData der with the RFC 3161 TimeStampToken token added
 * as the SignerInfo's unsigned attribute 1.3.6.1.4.1.311.3.3.1. Nothing
 * signed changes; only the enclosing lengths. Refuses a SignerInfo that has
 * unsigned attributes already. *out is OPENSSL_malloc'd.
 */
int au_add_timestamp(const uint8_t *der, size_t len, const uint8_t *token, size_t tokenlen,
		     uint8_t **out, size_t *outlen, struct sd_err *e);

/*
 * Verify the signer certificate's chain against store (trust anchors and,
 * when the store has X509_V_FLAG_CRL_CHECK set, CRLs), using the embedded
 * certificates as untrusted intermediates, for code signing purpose: an
 * extendedKeyUsage, when present, must include codeSigning and a keyUsage,
 * when present, digitalSignature. Errors: SD_E_CERT_EXPIRED,
 * SD_E_CERT_NOT_YET_VALID, SD_E_CERT_REVOKED, SD_E_CRL_UNAVAILABLE, else
 * SD_E_BAD_REQUEST (untrusted, wrong usage).
 */
int au_verify_chain(const struct au_info *info, X509_STORE *store, struct sd_err *e);

#endif
