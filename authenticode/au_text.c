/* String conversions for SpcString: UTF-8 <-> BMPString, IA5String. */
#include "authenticode/au_internal.h"

#include <string.h>

/* Decode one UTF-8 character (strict: no overlongs, no surrogates, <= U+10FFFF). */
static int utf8_next(const uint8_t *p, size_t n, size_t *used, uint32_t *cp)
{
	uint32_t c;
	size_t len;

	if (n == 0)
		return -1;
	if (p[0] < 0x80) {
		*cp = p[0];
		*used = 1;
		return 0;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		c = p[0] & 0x07;
	} else {
		return -1;
	}
	if (n < len)
		return -1;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return -1;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return -1;
	*cp = c;
	*used = len;
	return 0;
}

static int is_control(uint32_t c)
{
	return c < 0x20 || (c >= 0x7f && c < 0xa0);
}

/* Append the UTF-8 form of c to out if it fits (keeping room for the NUL). */
static int put_utf8(uint32_t c, char *out, size_t outsz, size_t *pos)
{
	uint8_t b[3];
	size_t n;

	if (c < 0x80) {
		b[0] = (uint8_t)c;
		n = 1;
	} else if (c < 0x800) {
		b[0] = (uint8_t)(0xc0 | (c >> 6));
		b[1] = (uint8_t)(0x80 | (c & 0x3f));
		n = 2;
	} else {
		b[0] = (uint8_t)(0xe0 | (c >> 12));
		b[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
		b[2] = (uint8_t)(0x80 | (c & 0x3f));
		n = 3;
	}
	if (*pos + n + 1 > outsz)
		return -1;
	memcpy(out + *pos, b, n);
	*pos += n;
	return 0;
}

int au_is_printable_ascii(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

int au_utf8_to_bmp(const char *s, struct wbuf *out, struct sd_err *e)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n = strlen(s), used;
	uint32_t c;

	while (n > 0) {
		if (utf8_next(p, n, &used, &c) != 0)
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "program name is not valid UTF-8 (at byte %zu)",
					  (size_t)(p - (const uint8_t *)s));
		if (is_control(c))
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "program name contains control character U+%04X",
					  (unsigned)c);
		if (c > 0xffff)
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "program name contains U+%X, outside the Basic "
					  "Multilingual Plane that a BMPString can hold",
					  (unsigned)c);
		wbuf_u16(out, (uint16_t)c);
		p += used;
		n -= used;
	}
	return 0;
}

int au_bmp_to_utf8(const uint8_t *p, size_t n, char *out, size_t outsz, struct sd_err *e)
{
	size_t pos = 0;
	uint32_t c;

	if (outsz == 0)
		return sd_err_set(e, SD_E_INTERNAL, "no room for the BMPString");
	if (n % 2 != 0)
		return sd_err_set(e, SD_E_BAD_REQUEST, "BMPString has odd length %zu", n);
	for (size_t i = 0; i < n; i += 2) {
		c = ((uint32_t)p[i] << 8) | p[i + 1];
		if (c == 0)
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "BMPString contains a NUL character");
		if (c >= 0xd800 && c <= 0xdfff)
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "BMPString contains surrogate U+%04X", (unsigned)c);
		if (is_control(c))
			c = '?';
		if (put_utf8(c, out, outsz, &pos) != 0)
			break; /* truncated on a character boundary */
	}
	out[pos] = '\0';
	return 0;
}

int au_ia5_to_utf8(const uint8_t *p, size_t n, char *out, size_t outsz, struct sd_err *e)
{
	size_t pos = 0, used, i;
	uint32_t c;
	int utf8 = 1;

	if (outsz == 0)
		return sd_err_set(e, SD_E_INTERNAL, "no room for the IA5String");
	if (memchr(p, 0, n) != NULL)
		return sd_err_set(e, SD_E_BAD_REQUEST, "IA5String contains a NUL byte");
	for (i = 0; i < n; i += used)
		if (utf8_next(p + i, n - i, &used, &c) != 0) {
			utf8 = 0;
			break;
		}
	for (i = 0; i < n; i += used) {
		if (utf8) {
			(void)utf8_next(p + i, n - i, &used, &c);
			if (c > 0xffff)
				c = '?';
		} else {
			used = 1;
			c = p[i] < 0x80 ? p[i] : '?';
		}
		if (is_control(c))
			c = '?';
		if (put_utf8(c, out, outsz, &pos) != 0)
			break;
	}
	out[pos] = '\0';
	return 0;
}
