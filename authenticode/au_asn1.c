/*
 * The Authenticode-specific encodings (AUTHENTICODE-CAB.md section 4):
 * SpcIndirectDataContent, SpcStatementType and SpcSpOpusInfo.
 */
#include "authenticode/au_internal.h"

#include <string.h>

#include <openssl/obj_mac.h>

/* Full OID TLVs. */
static const uint8_t oid_sha1[] = {0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a};
static const uint8_t oid_sha256[] = {0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
				     0x65, 0x03, 0x04, 0x02, 0x01};
static const uint8_t oid_sha384[] = {0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
				     0x65, 0x03, 0x04, 0x02, 0x02};
static const uint8_t oid_sha512[] = {0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
				     0x65, 0x03, 0x04, 0x02, 0x03};
/* SPC_CAB_DATA_OBJID 1.3.6.1.4.1.311.2.1.25 */
static const uint8_t oid_cab_data[] = {0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04,
				       0x01, 0x82, 0x37, 0x02, 0x01, 0x19};
/* SPC_SIPINFO_OBJID 1.3.6.1.4.1.311.2.1.30 */
static const uint8_t oid_sipinfo[] = {0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04,
				      0x01, 0x82, 0x37, 0x02, 0x01, 0x1e};
/*
 * SpcSipInfo of the PowerShell SIP, as osslsigncode and signtool write it:
 * SEQUENCE { INTEGER 65536, OCTET STRING GUID 603BCC1F-4B59-4E08-B724-D2C6297EF351,
 * five INTEGER 0 }.
 */
static const uint8_t sipinfo_ps[] = {0x30, 0x26, 0x02, 0x03, 0x01, 0x00, 0x00, 0x04, 0x10, 0x1f,
				     0xcc, 0x3b, 0x60, 0x59, 0x4b, 0x08, 0x4e, 0xb7, 0x24, 0xd2,
				     0xc6, 0x29, 0x7e, 0xf3, 0x51, 0x02, 0x01, 0x00, 0x02, 0x01,
				     0x00, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00};
/* SPC_INDIVIDUAL_SP_KEY_PURPOSE_OBJID 1.3.6.1.4.1.311.2.1.21 */
static const uint8_t oid_individual[] = {0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04,
					 0x01, 0x82, 0x37, 0x02, 0x01, 0x15};
/* SpcLink file [2] EXPLICIT, SpcString [0] IMPLICIT BMPString "<<<Obsolete>>>" */
static const uint8_t obsolete_link[] = {
    0xa2, 0x1e, 0x80, 0x1c, 0x00, 0x3c, 0x00, 0x3c, 0x00, 0x3c, 0x00, 0x4f, 0x00, 0x62, 0x00, 0x73,
    0x00, 0x6f, 0x00, 0x6c, 0x00, 0x65, 0x00, 0x74, 0x00, 0x65, 0x00, 0x3e, 0x00, 0x3e, 0x00, 0x3e};
static const uint8_t der_null[] = {AU_TAG_NULL, 0x00};

/* What SpcIndirectDataContent.data holds for each subject. */
struct au_subject_data {
	enum au_subject subject;
	const char *name;     /* audit and messages */
	const char *oid_name; /* for messages */
	const uint8_t *oid;   /* full TLV */
	size_t oid_len;
	const uint8_t *value; /* full TLV */
	size_t value_len;
	int value_exact; /* the verifier insists on these value bytes */
};

static const struct au_subject_data subjects[] = {
    {AU_SUBJECT_CAB, "cab", "SPC_CAB_DATA_OBJID (" AU_OID_SPC_CAB_DATA ")", oid_cab_data,
     sizeof(oid_cab_data), obsolete_link, sizeof(obsolete_link), 0},
    {AU_SUBJECT_SCRIPT, "script", "SPC_SIPINFO_OBJID (" AU_OID_SPC_SIPINFO ")", oid_sipinfo,
     sizeof(oid_sipinfo), sipinfo_ps, sizeof(sipinfo_ps), 1},
};

static const struct au_subject_data *subject_data(enum au_subject subject)
{
	for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++)
		if (subjects[i].subject == subject)
			return &subjects[i];
	return NULL;
}

/* The subject whose data OID is oid[0..len), or NULL. */
static const struct au_subject_data *subject_by_oid(const uint8_t *oid, size_t len)
{
	for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++)
		if (subjects[i].oid_len == len && memcmp(subjects[i].oid, oid, len) == 0)
			return &subjects[i];
	return NULL;
}

int au_subject_known(enum au_subject subject)
{
	return subject_data(subject) != NULL;
}

const char *au_subject_name(enum au_subject subject)
{
	const struct au_subject_data *sd = subject_data(subject);

	return sd != NULL ? sd->name : "unknown";
}

static const struct au_md md_table[] = {
    {NID_sha1, "sha1", 20, oid_sha1, sizeof(oid_sha1)},
    {NID_sha256, "sha256", 32, oid_sha256, sizeof(oid_sha256)},
    {NID_sha384, "sha384", 48, oid_sha384, sizeof(oid_sha384)},
    {NID_sha512, "sha512", 64, oid_sha512, sizeof(oid_sha512)},
};
_Static_assert(sizeof(md_table) / sizeof(md_table[0]) == AU_MD_COUNT, "AU_MD_COUNT");

const struct au_md *au_md_by_nid(int nid)
{
	for (size_t i = 0; i < sizeof(md_table) / sizeof(md_table[0]); i++)
		if (md_table[i].nid == nid)
			return &md_table[i];
	return NULL;
}

const struct au_md *au_md_at(size_t i)
{
	if (i >= sizeof(md_table) / sizeof(md_table[0]))
		return NULL;
	return &md_table[i];
}

static const struct au_md *md_by_oid(const uint8_t *oid, size_t len)
{
	for (size_t i = 0; i < sizeof(md_table) / sizeof(md_table[0]); i++)
		if (md_table[i].oid_len == len && memcmp(md_table[i].oid, oid, len) == 0)
			return &md_table[i];
	return NULL;
}

/* Wrap the contents of in as one TLV appended to out. */
static void wrap(struct wbuf *out, uint8_t tag, const struct wbuf *in)
{
	if (wbuf_failed(in)) {
		out->failed = 1;
		return;
	}
	au_der_put(out, tag, in->p, in->len);
}

int au_enc_indirect_buf(enum au_subject subject, const struct au_md *md, const uint8_t *digest,
			uint8_t *buf, size_t cap, size_t *len)
{
	const struct au_subject_data *sd = subject_data(subject);
	size_t data_len, alg_len, dinfo_len, body_len;
	struct au_dw w;

	if (sd == NULL)
		return -1;
	data_len = sd->oid_len + sd->value_len;
	alg_len = md->oid_len + sizeof(der_null);
	dinfo_len = au_der_tlv_len(alg_len) + au_der_tlv_len(md->size);
	body_len = au_der_tlv_len(data_len) + au_der_tlv_len(dinfo_len);
	au_dw_init(&w, buf, cap);
	au_dw_hdr(&w, AU_TAG_SEQUENCE, body_len);
	/*
	 * data: SpcAttributeTypeAndOptionalValue { SPC_CAB_DATA_OBJID, SpcLink }
	 * or { SPC_SIPINFO_OBJID, SpcSipInfo }
	 */
	au_dw_hdr(&w, AU_TAG_SEQUENCE, data_len);
	au_dw_raw(&w, sd->oid, sd->oid_len);
	au_dw_raw(&w, sd->value, sd->value_len);
	/* messageDigest: DigestInfo { AlgorithmIdentifier { oid, NULL }, digest } */
	au_dw_hdr(&w, AU_TAG_SEQUENCE, dinfo_len);
	au_dw_hdr(&w, AU_TAG_SEQUENCE, alg_len);
	au_dw_raw(&w, md->oid, md->oid_len);
	au_dw_raw(&w, der_null, sizeof(der_null));
	au_dw_tlv(&w, AU_TAG_OCTET_STRING, digest, md->size);
	if (w.failed)
		return -1;
	*len = w.len;
	return 0;
}

int au_enc_indirect(enum au_subject subject, const struct au_md *md, const uint8_t *digest,
		    size_t digest_len, struct wbuf *out, struct sd_err *e)
{
	uint8_t buf[AU_INDIRECT_MAX];
	size_t len;

	if (!au_subject_known(subject))
		return sd_err_set(e, SD_E_INTERNAL, "unsupported Authenticode subject %d",
				  (int)subject);
	if (digest_len != md->size)
		return sd_err_set(e, SD_E_BAD_DIGEST_LENGTH, "%zu-byte digest for %s, expected %zu",
				  digest_len, md->name, md->size);
	if (au_enc_indirect_buf(subject, md, digest, buf, sizeof(buf), &len) != 0)
		return sd_err_set(e, SD_E_INTERNAL, "SpcIndirectDataContent does not fit");
	wbuf_raw(out, buf, len);
	if (wbuf_failed(out))
		return sd_err_set(e, SD_E_INTERNAL,
				  "out of memory encoding SpcIndirectDataContent");
	return 0;
}

int au_dec_indirect(const uint8_t *p, size_t n, enum au_subject subject, const struct au_md **md,
		    uint8_t *digest, size_t *digest_len, struct sd_err *e)
{
	const struct au_subject_data *want = subject_data(subject), *got;
	struct rbuf top, body, data, dinfo, alg;
	const uint8_t *v, *oid, *value = NULL;
	size_t len, oid_len, value_len = 0;
	uint8_t tag;

	if (want == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "unsupported Authenticode subject %d",
				  (int)subject);
	rbuf_init(&top, p, n);
	if (au_der_get(&top, AU_TAG_SEQUENCE, &v, &len) != 0 || rbuf_left(&top) != 0)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "SpcIndirectDataContent is not a single DER SEQUENCE");
	rbuf_init(&body, v, len);

	if (au_der_get(&body, AU_TAG_SEQUENCE, &v, &len) != 0)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "SpcIndirectDataContent: data is not a DER SEQUENCE");
	rbuf_init(&data, v, len);
	if (au_der_get_any(&data, &tag, &oid, &oid_len) != 0 || tag != AU_TAG_OID)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "SpcIndirectDataContent: data type is not an OBJECT IDENTIFIER");
	got = subject_by_oid(oid, oid_len);
	if (got != want && got != NULL)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "SpcIndirectDataContent: data type is %s: this is a %s "
				  "signature, not a %s signature",
				  got->oid_name, got->name, want->name);
	if (got != want)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "SpcIndirectDataContent: data type is not %s; this is not a %s "
				  "signature",
				  want->oid_name, want->name);
	/*
	 * The CAB value (SpcLink "<<<Obsolete>>>" in practice) is optional and
	 * unused; a script's SpcSipInfo names the PowerShell SIP and must be it.
	 */
	if (rbuf_left(&data) != 0 &&
	    (au_der_get_any(&data, &tag, &value, &value_len) != 0 || rbuf_left(&data) != 0))
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "SpcIndirectDataContent: malformed data value");
	if (want->value_exact && (value == NULL || value_len != want->value_len ||
				  memcmp(value, want->value, value_len) != 0))
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "SpcIndirectDataContent: the SpcSipInfo is not the PowerShell "
				  "SIP's (GUID 603BCC1F-4B59-4E08-B724-D2C6297EF351)");

	if (au_der_get(&body, AU_TAG_SEQUENCE, &v, &len) != 0 || rbuf_left(&body) != 0)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "SpcIndirectDataContent: messageDigest is not a DER DigestInfo "
				  "SEQUENCE at the end");
	rbuf_init(&dinfo, v, len);
	if (au_der_get(&dinfo, AU_TAG_SEQUENCE, &v, &len) != 0)
		return sd_err_set(e, SD_E_BAD_REQUEST, "DigestInfo: malformed AlgorithmIdentifier");
	rbuf_init(&alg, v, len);
	if (au_der_get_any(&alg, &tag, &oid, &oid_len) != 0 || tag != AU_TAG_OID)
		return sd_err_set(e, SD_E_BAD_REQUEST, "DigestInfo: malformed algorithm OID");
	if (rbuf_left(&alg) != 0 &&
	    (au_der_get(&alg, AU_TAG_NULL, &v, &len) != 0 || len != 0 || rbuf_left(&alg) != 0))
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "DigestInfo: algorithm parameters are not NULL");
	*md = md_by_oid(oid, oid_len);
	if (*md == NULL)
		return sd_err_set(e, SD_E_UNSUPPORTED_DIGEST,
				  "DigestInfo: unsupported digest algorithm (not sha1, sha256, "
				  "sha384 or sha512)");
	if (au_der_get(&dinfo, AU_TAG_OCTET_STRING, &v, &len) != 0 || rbuf_left(&dinfo) != 0)
		return sd_err_set(e, SD_E_BAD_REQUEST, "DigestInfo: digest is not an OCTET STRING");
	if (len != (*md)->size)
		return sd_err_set(e, SD_E_BAD_DIGEST_LENGTH,
				  "DigestInfo: %zu-byte digest for %s, expected %zu", len,
				  (*md)->name, (*md)->size);
	memcpy(digest, v, len);
	*digest_len = len;
	return 0;
}

int au_enc_statement(struct wbuf *out, struct sd_err *e)
{
	au_der_put(out, AU_TAG_SEQUENCE, oid_individual, sizeof(oid_individual));
	if (wbuf_failed(out))
		return sd_err_set(e, SD_E_INTERNAL, "out of memory encoding SpcStatementType");
	return 0;
}

int au_enc_opus(const char *program, const char *url, struct wbuf *out, struct sd_err *e)
{
	struct wbuf body, str, inner;
	int ret = -1;

	wbuf_init(&body, 0);
	wbuf_init(&str, 0);
	wbuf_init(&inner, 0);
	if (program != NULL && *program != '\0') {
		if (strlen(program) > AU_PROGRAM_MAX) {
			sd_err_set(e, SD_E_BAD_REQUEST, "program name is %zu bytes, at most %d",
				   strlen(program), AU_PROGRAM_MAX);
			goto out;
		}
		/* programName [0] EXPLICIT SpcString */
		if (au_is_printable_ascii(program)) {
			au_der_put(&inner, AU_TAG_CTX1, program, strlen(program));
		} else {
			if (au_utf8_to_bmp(program, &str, e) != 0)
				goto out;
			wrap(&inner, AU_TAG_CTX0, &str);
		}
		wrap(&body, AU_TAG_CTX0_CONS, &inner);
	}
	if (url != NULL && *url != '\0') {
		if (strlen(url) > AU_URL_MAX) {
			sd_err_set(e, SD_E_BAD_REQUEST, "URL is %zu bytes, at most %d", strlen(url),
				   AU_URL_MAX);
			goto out;
		}
		if (!au_is_printable_ascii(url)) {
			sd_err_set(e, SD_E_BAD_REQUEST,
				   "URL must be printable ASCII (an IA5String); percent-encode "
				   "other characters");
			goto out;
		}
		/* moreInfo [1] EXPLICIT SpcLink, url [0] IMPLICIT IA5String */
		wbuf_reset(&inner);
		au_der_put(&inner, AU_TAG_CTX0, url, strlen(url));
		wrap(&body, AU_TAG_CTX1_CONS, &inner);
	}
	wrap(out, AU_TAG_SEQUENCE, &body);
	if (wbuf_failed(out)) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory encoding SpcSpOpusInfo");
		goto out;
	}
	ret = 0;
out:
	wbuf_free(&body);
	wbuf_free(&str);
	wbuf_free(&inner);
	return ret;
}

/* SpcString: [0] IMPLICIT BMPString or [1] IMPLICIT IA5String. */
static int dec_spc_string(const uint8_t *p, size_t n, char *out, size_t outsz, struct sd_err *e)
{
	struct rbuf r;
	const uint8_t *v;
	size_t len;

	rbuf_init(&r, p, n);
	if (au_der_get(&r, AU_TAG_CTX0, &v, &len) == 0 && rbuf_left(&r) == 0)
		return au_bmp_to_utf8(v, len, out, outsz, e);
	if (au_der_get(&r, AU_TAG_CTX1, &v, &len) == 0 && rbuf_left(&r) == 0)
		return au_ia5_to_utf8(v, len, out, outsz, e);
	return sd_err_set(e, SD_E_BAD_REQUEST, "SpcSpOpusInfo: malformed programName SpcString");
}

/* SpcLink: only the url [0] IMPLICIT IA5String choice is returned. */
static int dec_spc_link(const uint8_t *p, size_t n, char *out, size_t outsz, struct sd_err *e)
{
	struct rbuf r;
	const uint8_t *v;
	size_t len;
	uint8_t tag;

	rbuf_init(&r, p, n);
	if (au_der_get(&r, AU_TAG_CTX0, &v, &len) == 0 && rbuf_left(&r) == 0)
		return au_ia5_to_utf8(v, len, out, outsz, e);
	/* moniker [1] or file [2]: well-formed but not a URL; leave it empty. */
	if (au_der_get_any(&r, &tag, &v, &len) == 0 && rbuf_left(&r) == 0 &&
	    (tag == AU_TAG_CTX1_CONS || tag == AU_TAG_CTX2_CONS))
		return 0;
	return sd_err_set(e, SD_E_BAD_REQUEST, "SpcSpOpusInfo: malformed moreInfo SpcLink");
}

int au_dec_opus(const uint8_t *p, size_t n, char *program, size_t program_sz, char *url,
		size_t url_sz, struct sd_err *e)
{
	struct rbuf top, body;
	const uint8_t *v;
	size_t len;

	program[0] = '\0';
	url[0] = '\0';
	rbuf_init(&top, p, n);
	if (au_der_get(&top, AU_TAG_SEQUENCE, &v, &len) != 0 || rbuf_left(&top) != 0)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "SpcSpOpusInfo attribute is not a single DER SEQUENCE");
	rbuf_init(&body, v, len);
	if (au_der_peek(&body) == AU_TAG_CTX0_CONS) {
		if (au_der_get(&body, AU_TAG_CTX0_CONS, &v, &len) != 0)
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "SpcSpOpusInfo: malformed programName");
		if (dec_spc_string(v, len, program, program_sz, e) != 0)
			return -1;
	}
	if (au_der_peek(&body) == AU_TAG_CTX1_CONS) {
		if (au_der_get(&body, AU_TAG_CTX1_CONS, &v, &len) != 0)
			return sd_err_set(e, SD_E_BAD_REQUEST, "SpcSpOpusInfo: malformed moreInfo");
		if (dec_spc_link(v, len, url, url_sz, e) != 0)
			return -1;
	}
	if (rbuf_left(&body) != 0)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "SpcSpOpusInfo: unexpected data after moreInfo");
	return 0;
}
