/* RFC 7512 pkcs11: URI parsing (path attributes; query attributes other than pin-* ignored). */
#include "pkcs11/p11.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hexdig(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..n) into out[max]; returns the length or -1. */
static long pct_decode(const char *s, size_t n, uint8_t *out, size_t max)
{
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < n; i++) {
		if (o >= max)
			return -1;
		if (s[i] == '%') {
			if (n - i < 3)
				return -1;
			hi = hexdig(s[i + 1]);
			lo = hexdig(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			out[o++] = (uint8_t)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = (uint8_t)s[i];
		}
	}
	return (long)o;
}

static int set_text(const char *what, const char *v, size_t n, char *dst, size_t dstsz,
		    struct sd_err *e)
{
	long l = pct_decode(v, n, (uint8_t *)dst, dstsz - 1);

	if (l < 0)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "pkcs11 URI: %s is too long or has a bad %%-escape", what);
	if (memchr(dst, '\0', (size_t)l) != NULL)
		return sd_err_set(e, SD_E_BAD_REQUEST, "pkcs11 URI: %s contains a NUL byte", what);
	dst[l] = '\0';
	return 0;
}

static int parse_attr(const char *a, size_t n, struct p11_uri *u, struct sd_err *e)
{
	const char *eq = memchr(a, '=', n);
	size_t kl, vl;
	const char *v;
	char tmp[32];
	long l;
	char *end;

	if (eq == NULL)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "pkcs11 URI: attribute \"%.*s\" has no value",
				  (int)(n > 64 ? 64 : n), a);
	kl = (size_t)(eq - a);
	v = eq + 1;
	vl = n - kl - 1;
#define IS(k) (kl == sizeof(k) - 1 && memcmp(a, k, kl) == 0)
	if (IS("token"))
		return set_text("token", v, vl, u->token, sizeof(u->token), e);
	if (IS("manufacturer"))
		return set_text("manufacturer", v, vl, u->manufacturer, sizeof(u->manufacturer), e);
	if (IS("serial"))
		return set_text("serial", v, vl, u->serial, sizeof(u->serial), e);
	if (IS("model"))
		return set_text("model", v, vl, u->model, sizeof(u->model), e);
	if (IS("object"))
		return set_text("object", v, vl, u->object, sizeof(u->object), e);
	if (IS("id")) {
		l = pct_decode(v, vl, u->id, sizeof(u->id));
		if (l <= 0)
			return sd_err_set(e, SD_E_BAD_REQUEST, "pkcs11 URI: bad id");
		u->id_len = (size_t)l;
		u->has_id = 1;
		return 0;
	}
	if (IS("slot-id")) {
		if (set_text("slot-id", v, vl, tmp, sizeof(tmp), e) != 0)
			return -1;
		u->slot_id = strtoul(tmp, &end, 10);
		if (tmp[0] == '\0' || *end != '\0')
			return sd_err_set(e, SD_E_BAD_REQUEST, "pkcs11 URI: bad slot-id");
		u->has_slot_id = 1;
		return 0;
	}
	if (IS("type")) {
		if (set_text("type", v, vl, tmp, sizeof(tmp), e) != 0)
			return -1;
		if (strcmp(tmp, "private") == 0)
			u->type = CKO_PRIVATE_KEY;
		else if (strcmp(tmp, "public") == 0)
			u->type = CKO_PUBLIC_KEY;
		else if (strcmp(tmp, "cert") == 0)
			u->type = CKO_CERTIFICATE;
		else
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "pkcs11 URI: unsupported type \"%s\"", tmp);
		return 0;
	}
	if (IS("library-manufacturer") || IS("library-description") || IS("library-version") ||
	    IS("slot-manufacturer") || IS("slot-description"))
		return 0; /* informational: we load exactly the configured module */
#undef IS
	return sd_err_set(e, SD_E_BAD_REQUEST, "pkcs11 URI: unknown attribute \"%.*s\"",
			  (int)(kl > 64 ? 64 : kl), a);
}

int p11_uri_parse(const char *s, struct p11_uri *u, struct sd_err *e)
{
	const char *p, *q, *end, *sep;

	memset(u, 0, sizeof(*u));
	u->type = -1;
	if (strncasecmp(s, "pkcs11:", 7) != 0)
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "not a pkcs11: URI (must start with \"pkcs11:\")");
	p = s + 7;
	q = strchr(p, '?');
	end = q ? q : p + strlen(p);
	while (p < end) {
		sep = memchr(p, ';', (size_t)(end - p));
		if (sep == NULL)
			sep = end;
		if (sep > p && parse_attr(p, (size_t)(sep - p), u, e) != 0)
			return -1;
		p = sep + 1;
	}
	if (q != NULL) {
		/* Only pin-source/pin-value are meaningful; a PIN in a URI is refused. */
		if (strstr(q, "pin-value=") != NULL)
			return sd_err_set(
			    e, SD_E_BAD_REQUEST,
			    "pkcs11 URI: pin-value is not allowed; use pin_file or pin_env");
		if (strstr(q, "pin-source=") != NULL)
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "pkcs11 URI: pin-source is not supported; use pin_file");
	}
	return 0;
}
