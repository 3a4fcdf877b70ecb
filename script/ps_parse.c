/*
 * Script parsing: the encoding from the byte-order mark, a strict check of
 * the text, and the location and shape of an existing signature block.
 *
 * The block is found as osslsigncode 2.9 finds it: the first line that
 * starts with "# SIG # Begin signature block". The signed text ends at the
 * line break before that line. Whatever follows must be a well-formed block
 * that ends the file, or the script is refused: a block that is not the
 * last thing in the file would make the signed text ambiguous, and
 * replacing it would silently drop what follows.
 */
#include "script/ps_internal.h"

#include "common/b64.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CR 0x0d
#define LF 0x0a

/* Count the line of unit index i (1-based). */
static size_t line_of(const struct ps_info *pi, const uint8_t *p, size_t i)
{
	size_t line = 1;

	for (size_t k = 0; k < i; k++)
		line += ps_unit(pi, p, k) == LF;
	return line;
}

/* Whether the units at i hold the ASCII string s. */
static int units_are(const struct ps_info *pi, const uint8_t *p, size_t i, const char *s)
{
	size_t len = strlen(s);

	if (i > pi->nunits || pi->nunits - i < len)
		return 0;
	for (size_t k = 0; k < len; k++)
		if (ps_unit(pi, p, i + k) != (unsigned char)s[k])
			return 0;
	return 1;
}

static int detect(const uint8_t *p, size_t n, struct ps_info *pi, struct sd_err *e)
{
	if (n == 0)
		return sd_err_set(e, SD_E_BAD_REQUEST, "the script is empty");
	if (n > PS_MAX_FILE_SIZE)
		return sd_err_set(e, SD_E_BAD_REQUEST, "the script is %zu bytes, at most %zu", n,
				  PS_MAX_FILE_SIZE);
	if (n >= 4 && memcmp(p, "\x00\x00\xfe\xff", 4) == 0)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "the script is UTF-32BE (byte-order mark 00 00 FE FF); save it "
				  "as UTF-8 or UTF-16LE");
	if (n >= 4 && memcmp(p, "\xff\xfe\x00\x00", 4) == 0)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "the script is UTF-32LE (byte-order mark FF FE 00 00); save it "
				  "as UTF-8 or UTF-16LE");
	if (n >= 2 && p[0] == 0xfe && p[1] == 0xff)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "the script is UTF-16BE (byte-order mark FE FF); save it as "
				  "UTF-8 or UTF-16LE");
	if (n >= 2 && p[0] == 0xff && p[1] == 0xfe) {
		if (n % 2 != 0)
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "the script is UTF-16LE (byte-order mark FF FE) but "
					  "%zu bytes long: an odd length cannot be UTF-16",
					  n);
		pi->l.enc = PS_ENC_UTF16LE;
		pi->unit = 2;
		pi->bom = 1;
	} else if (n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
		pi->l.enc = PS_ENC_UTF8_BOM;
		pi->unit = 1;
		pi->bom = 3;
	} else {
		pi->l.enc = PS_ENC_UTF8;
		pi->unit = 1;
		pi->bom = 0;
	}
	pi->nunits = n / pi->unit;
	return 0;
}

/* Length of the UTF-8 sequence at p[i..n), or 0 when it is not valid UTF-8. */
static size_t utf8_seq(const uint8_t *p, size_t n, size_t i)
{
	uint8_t c = p[i];
	size_t len, k;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n - i < len)
		return 0;
	for (k = 1; k < len; k++) {
		if ((p[i + k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i + k] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates, beyond U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* The signed text, units [0, end): valid in its encoding and free of NUL. */
static int check_text(const uint8_t *p, struct ps_info *pi, size_t end, struct sd_err *e)
{
	size_t i, len;
	unsigned u, v;

	if (pi->unit == 1) {
		for (i = 0; i < end; i += len) {
			if (p[i] == 0)
				return sd_err_set(e, SD_E_BAD_REQUEST,
						  "NUL byte at offset %zu (line %zu): a script is "
						  "text (UTF-16 without a byte-order mark is not "
						  "supported)",
						  i, line_of(pi, p, i));
			len = utf8_seq(p, end, i);
			if (len == 0)
				return sd_err_set(
				    e, SD_E_BAD_REQUEST,
				    "invalid UTF-8 at offset %zu (line %zu); save the "
				    "script as UTF-8 or UTF-16LE",
				    i, line_of(pi, p, i));
			if (len > 1 && pi->l.enc == PS_ENC_UTF8)
				pi->l.bomless_non_ascii = 1;
		}
		return 0;
	}
	for (i = pi->bom; i < end; i++) {
		u = ps_unit(pi, p, i);
		if (u == 0)
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "NUL character at offset %zu (line %zu) of the UTF-16LE "
					  "script",
					  2 * i, line_of(pi, p, i));
		if (u >= 0xdc00 && u <= 0xdfff)
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "invalid UTF-16LE at offset %zu (line %zu): a low "
					  "surrogate without a high one",
					  2 * i, line_of(pi, p, i));
		if (u >= 0xd800 && u <= 0xdbff) {
			v = i + 1 < end ? ps_unit(pi, p, i + 1) : 0;
			if (v < 0xdc00 || v > 0xdfff)
				return sd_err_set(e, SD_E_BAD_REQUEST,
						  "invalid UTF-16LE at offset %zu (line %zu): a "
						  "high surrogate without a low one",
						  2 * i, line_of(pi, p, i));
			i++;
		}
	}
	return 0;
}

/* The first line that starts with the header: its unit index, or nunits. */
static size_t find_header(const uint8_t *p, const struct ps_info *pi)
{
	size_t ls = 0, i;

	/* A header right after the BOM counts (and is refused later). */
	if (units_are(pi, p, pi->bom, PS_HEADER))
		return pi->bom;
	while (ls < pi->nunits) {
		if (units_are(pi, p, ls, PS_HEADER))
			return ls;
		for (i = ls; i < pi->nunits && ps_unit(pi, p, i) != LF; i++)
			;
		ls = i + 1;
	}
	return pi->nunits;
}

/* One line [*ls, end of line): content length (CR excluded) and whether it ended in CR LF. */
struct line {
	size_t start, len, next; /* next: the first unit after its LF, or nunits */
	int crlf, lf;
};

static void get_line(const uint8_t *p, const struct ps_info *pi, size_t ls, struct line *l)
{
	size_t i;

	for (i = ls; i < pi->nunits && ps_unit(pi, p, i) != LF; i++)
		;
	l->start = ls;
	l->lf = i < pi->nunits;
	l->next = l->lf ? i + 1 : i;
	l->crlf = l->lf && i > ls && ps_unit(pi, p, i - 1) == CR;
	l->len = i - ls - (size_t)l->crlf;
}

static int is_b64(unsigned c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/' || c == '=';
}

/* Minimal DER check: one SEQUENCE with a definite length that is exactly n bytes. */
int ps_der_single_seq(const uint8_t *d, size_t n)
{
	size_t hl, len = 0, k, nb;

	if (n < 2 || d[0] != 0x30)
		return 0;
	if (d[1] < 0x80) {
		hl = 2;
		len = d[1];
	} else {
		nb = d[1] & 0x7f;
		if (nb == 0 || nb > 4 || n < 2 + nb || d[2] == 0)
			return 0;
		for (k = 0; k < nb; k++)
			len = (len << 8) | d[2 + k];
		if (len < 0x80)
			return 0;
		hl = 2 + nb;
	}
	return n - hl == len;
}

/*
 * The block from the header at unit hdr to the end of the file: header,
 * base64 lines, footer, then nothing but line breaks and blanks.
 */
static int parse_block(const uint8_t *p, struct ps_info *pi, size_t hdr, int want_sig,
		       struct sd_err *e)
{
	struct line l;
	char *b64 = NULL;
	uint8_t *der = NULL;
	size_t nb64 = 0, cap, derlen = 0, i, line = pi->l.block_line, ls;
	const char *why = NULL;
	int ret = -1;
	unsigned u;

	get_line(p, pi, hdr, &l);
	if (l.len != strlen(PS_HEADER)) {
		sd_err_set(e, SD_E_BAD_REQUEST,
			   "malformed signature block: line %zu starts with \"" PS_HEADER
			   "\" but holds more",
			   line);
		goto out;
	}
	/* Base64 characters are at most the units after the header. */
	cap = pi->nunits - l.next;
	b64 = malloc(cap ? cap : 1);
	if (b64 == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	for (ls = l.next;; ls = l.next) {
		line++;
		if (ls >= pi->nunits) {
			sd_err_set(e, SD_E_BAD_REQUEST,
				   "malformed signature block: no \"" PS_FOOTER
				   "\" line after the \"" PS_HEADER "\" on line %zu",
				   pi->l.block_line);
			goto out;
		}
		get_line(p, pi, ls, &l);
		if (l.len == strlen(PS_FOOTER) && units_are(pi, p, ls, PS_FOOTER))
			break;
		if (l.len < 3 || !units_are(pi, p, ls, "# ")) {
			sd_err_set(e, SD_E_BAD_REQUEST,
				   "malformed signature block: line %zu is not \"# \" followed by "
				   "base64",
				   line);
			goto out;
		}
		for (i = ls + 2; i < ls + l.len; i++) {
			u = ps_unit(pi, p, i);
			if (!is_b64(u)) {
				sd_err_set(e, SD_E_BAD_REQUEST,
					   "malformed signature block: line %zu holds a character "
					   "that is not base64 (0x%02x)",
					   line, u);
				goto out;
			}
			b64[nb64++] = (char)u;
		}
	}
	/* After the end line: only blank lines. */
	for (i = l.next; i < pi->nunits; i++) {
		u = ps_unit(pi, p, i);
		if (u != CR && u != LF && u != ' ' && u != '\t') {
			sd_err_set(e, SD_E_BAD_REQUEST,
				   "malformed signature block: text after \"" PS_FOOTER
				   "\" on line %zu (the block must end the file)",
				   line);
			goto out;
		}
	}
	der = malloc(nb64 / 4 * 3 + 3);
	if (der == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	if (sd_b64_decode(b64, nb64, der, nb64 / 4 * 3, &derlen, &why) != 0) {
		sd_err_set(e, SD_E_BAD_REQUEST, "malformed signature block at line %zu: %s",
			   pi->l.block_line, why);
		goto out;
	}
	if (!ps_der_single_seq(der, derlen)) {
		sd_err_set(e, SD_E_BAD_REQUEST,
			   "malformed signature block at line %zu: the %zu decoded bytes are not "
			   "one DER SEQUENCE",
			   pi->l.block_line, derlen);
		goto out;
	}
	pi->l.sig_len = derlen;
	if (want_sig) {
		pi->sig = der;
		der = NULL;
	}
	ret = 0;
out:
	free(b64);
	free(der);
	return ret;
}

int ps_parse_info(const uint8_t *p, size_t n, int want_sig, struct ps_info *pi, struct sd_err *e)
{
	struct line hl;
	size_t hdr;

	memset(pi, 0, sizeof(*pi));
	if (p == NULL && n > 0)
		return sd_err_set(e, SD_E_INTERNAL, "ps_parse: missing input");
	if (detect(p, n, pi, e) != 0)
		return -1;
	hdr = find_header(p, pi);
	pi->text_end = pi->nunits;
	if (hdr < pi->nunits) {
		pi->l.has_block = 1;
		pi->l.block_line = line_of(pi, p, hdr);
		if (hdr == pi->bom)
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "the file starts with a signature block: there is no "
					  "script text to sign");
		/*
		 * The text ends before the line break preceding the header:
		 * CR LF when the header line ends in CR LF (as osslsigncode
		 * decides), else LF. Mixed breaks would make the two disagree.
		 */
		get_line(p, pi, hdr, &hl);
		pi->text_end = hdr - 1;
		if (hl.crlf) {
			if (pi->text_end == 0 || ps_unit(pi, p, pi->text_end - 1) != CR)
				return sd_err_set(e, SD_E_BAD_REQUEST,
						  "malformed signature block: line %zu ends in CR "
						  "LF but the line before it does not",
						  pi->l.block_line);
			pi->text_end--;
		} else if (hl.lf && pi->text_end > 0 && ps_unit(pi, p, pi->text_end - 1) == CR) {
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "malformed signature block: line %zu ends in LF but the "
					  "line before it in CR LF",
					  pi->l.block_line);
		}
		if (pi->text_end <= pi->bom)
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "the file holds only a signature block: there is no "
					  "script text to sign");
	}
	if (pi->text_end <= pi->bom)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "the script holds only a byte-order mark: there is no text "
				  "to sign");
	if (check_text(p, pi, pi->text_end, e) != 0)
		return -1;
	if (pi->l.has_block && parse_block(p, pi, hdr, want_sig, e) != 0)
		return -1;
	pi->l.text_len = pi->text_end * pi->unit;
	return 0;
}

int ps_parse(const uint8_t *p, size_t n, struct ps_layout *out, struct sd_err *e)
{
	struct ps_info pi;

	if (out == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "ps_parse: missing argument");
	memset(out, 0, sizeof(*out));
	if (ps_parse_info(p, n, 0, &pi, e) != 0)
		return -1;
	*out = pi.l;
	return 0;
}

int ps_get_signature(const uint8_t *p, size_t n, uint8_t **p7, size_t *p7len, struct sd_err *e)
{
	struct ps_info pi;

	if (p7 == NULL || p7len == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "ps_get_signature: missing argument");
	*p7 = NULL;
	*p7len = 0;
	if (ps_parse_info(p, n, 1, &pi, e) != 0)
		return -1;
	if (!pi.l.has_block)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "the script is not signed (no \"" PS_HEADER "\" line)");
	*p7 = pi.sig;
	*p7len = pi.l.sig_len;
	return 0;
}

int ps_name_ok(const char *path)
{
	static const char *const ext[] = {".ps1", ".psm1", ".psd1"};
	size_t n = path ? strlen(path) : 0, k;

	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		k = strlen(ext[i]);
		if (n > k && strcasecmp(path + n - k, ext[i]) == 0 && path[n - k - 1] != '/')
			return 1;
	}
	return 0;
}

const char *ps_encoding_name(enum ps_encoding enc)
{
	switch (enc) {
	case PS_ENC_UTF8:
		return "UTF-8";
	case PS_ENC_UTF8_BOM:
		return "UTF-8 with BOM";
	case PS_ENC_UTF16LE:
		return "UTF-16LE";
	}
	return "unknown";
}
