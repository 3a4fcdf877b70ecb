/* Strict parser for audit log lines: a flat JSON object in the documented field order. */
#include "common/audit_fmt.h"

#include <string.h>

#define F_HEX64 1u /* 64 lower-case hex digits */
#define F_TIME	2u /* record time */
#define F_B64	4u /* non-empty base64 */

struct fdef {
	const char *name;
	enum sd_audit_kind kind;
	unsigned flags;
};

static const struct fdef head_fields[] = {
    {"seq", SD_AJ_NUM, 0},
    {"time", SD_AJ_STR, F_TIME},
    {"prev", SD_AJ_STR, F_HEX64},
    {"type", SD_AJ_STR, 0},
};

static const struct fdef request_fields[] = {
    {"pid", SD_AJ_NUM, 0},	   {"uid", SD_AJ_NUM, 0},	    {"gid", SD_AJ_NUM, 0},
    {"exe", SD_AJ_STR, 0},	   {"exe_verified", SD_AJ_BOOL, 0}, {"key", SD_AJ_STR, 0},
    {"cert_serial", SD_AJ_STR, 0}, {"cert_sha1", SD_AJ_STR, 0},	    {"subject", SD_AJ_STR, 0},
    {"digest_alg", SD_AJ_STR, 0},  {"digest", SD_AJ_STR, 0},	    {"program", SD_AJ_STR, 0},
    {"result", SD_AJ_STR, 0},	   {"code", SD_AJ_NUM, 0},	    {"error", SD_AJ_STR, 0},
    {"message", SD_AJ_STR, 0},
};

/* Present only on records of timestamped signatures. */
static const struct fdef timestamp_fields[] = {
    {"tsa", SD_AJ_STR, 0},
    {"ts_time", SD_AJ_STR, 0},
};

/* Ends every "void" record: the seq of the "sign" record it withdraws. */
static const struct fdef void_fields[] = {
    {"voids", SD_AJ_NUM, 0},
};

static const struct fdef checkpoint_fields[] = {
    {"key", SD_AJ_STR, 0},
    {"cert", SD_AJ_STR, F_B64},
    {"sig", SD_AJ_STR, F_B64},
};

static const struct fdef rotate_fields[] = {
    {"prev_file", SD_AJ_STR, 0},
    {"reason", SD_AJ_STR, 0},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int is_hex4(const char *p)
{
	int i;

	for (i = 0; i < 4; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f') ||
		      (p[i] >= 'A' && p[i] <= 'F')))
			return 0;
	return 1;
}

/* A JSON string starting after its opening quote at s[*i]; *i ends after the closing quote. */
static int scan_string(const char *s, size_t n, size_t *i, struct sd_err *e)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t k;

	while (*i < n) {
		if (p[*i] == '"') {
			(*i)++;
			return 0;
		}
		if (p[*i] < 0x20)
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "raw control byte 0x%02x at byte %zu", p[*i], *i + 1);
		if (p[*i] == '\\') {
			if (*i + 1 >= n)
				break;
			if (p[*i + 1] == 'u') {
				if (*i + 6 > n || !is_hex4(s + *i + 2))
					return sd_err_set(e, SD_E_BAD_REQUEST,
							  "bad \\u escape at byte %zu", *i + 1);
				*i += 6;
			} else if (strchr("\"\\/bfnrt", p[*i + 1]) != NULL && p[*i + 1] != '\0') {
				*i += 2;
			} else {
				return sd_err_set(e, SD_E_BAD_REQUEST, "bad escape at byte %zu",
						  *i + 1);
			}
			continue;
		}
		if (p[*i] >= 0x80) {
			k = p[*i] < 0x80 ? 1 : sd_audit_utf8_len(p + *i, n - *i);
			if (k == 0)
				return sd_err_set(e, SD_E_BAD_REQUEST, "invalid UTF-8 at byte %zu",
						  *i + 1);
			*i += k;
			continue;
		}
		(*i)++;
	}
	return sd_err_set(e, SD_E_BAD_REQUEST, "unterminated string");
}

static int scan_value(const char *s, size_t n, size_t *i, struct sd_audit_field *f,
		      struct sd_err *e)
{
	size_t start = *i;
	uint64_t v = 0;

	if (s[*i] == '"') {
		(*i)++;
		if (scan_string(s, n, i, e) != 0)
			return -1;
		f->kind = SD_AJ_STR;
		f->val = s + start + 1;
		f->val_len = *i - start - 2;
		return 0;
	}
	if (s[*i] >= '0' && s[*i] <= '9') {
		for (; *i < n && s[*i] >= '0' && s[*i] <= '9'; (*i)++) {
			if (v > (UINT64_MAX - 9) / 10)
				return sd_err_set(e, SD_E_BAD_REQUEST,
						  "number too large at byte %zu", start + 1);
			v = v * 10 + (uint64_t)(s[*i] - '0');
		}
		if (s[start] == '0' && *i - start > 1)
			return sd_err_set(e, SD_E_BAD_REQUEST, "leading zero at byte %zu",
					  start + 1);
		f->kind = SD_AJ_NUM;
		f->num = v;
	} else if (n - *i >= 4 && memcmp(s + *i, "true", 4) == 0) {
		*i += 4;
		f->kind = SD_AJ_BOOL;
		f->b = 1;
	} else if (n - *i >= 5 && memcmp(s + *i, "false", 5) == 0) {
		*i += 5;
		f->kind = SD_AJ_BOOL;
		f->b = 0;
	} else {
		return sd_err_set(e, SD_E_BAD_REQUEST, "unexpected value at byte %zu", start + 1);
	}
	f->val = s + start;
	f->val_len = *i - start;
	return 0;
}

/* The flat object: {"name":value,...} with no whitespace. */
static int scan_object(const char *s, size_t n, struct sd_audit_line *l, struct sd_err *e)
{
	struct sd_audit_field *f;
	size_t i = 1;

	if (n < 2 || s[0] != '{')
		return sd_err_set(e, SD_E_BAD_REQUEST, "not a JSON object");
	for (;;) {
		if (l->nf == SD_AUDIT_MAX_FIELDS)
			return sd_err_set(e, SD_E_BAD_REQUEST, "too many fields");
		f = &l->f[l->nf];
		if (i >= n || s[i] != '"')
			return sd_err_set(e, SD_E_BAD_REQUEST, "expected a field name at byte %zu",
					  i + 1);
		f->name = s + ++i;
		while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
				 s[i] == '_'))
			i++;
		f->name_len = (size_t)(s + i - f->name);
		if (f->name_len == 0 || i + 2 >= n || s[i] != '"' || s[i + 1] != ':')
			return sd_err_set(e, SD_E_BAD_REQUEST, "bad field name at byte %zu",
					  (size_t)(f->name - s));
		i += 2;
		if (scan_value(s, n, &i, f, e) != 0)
			return -1;
		l->nf++;
		if (i < n && s[i] == ',') {
			i++;
			continue;
		}
		if (i < n && s[i] == '}' && i + 1 == n)
			return 0;
		return sd_err_set(e, SD_E_BAD_REQUEST, "expected ',' or a final '}' at byte %zu",
				  i + 1);
	}
}

static int is_lower_hex(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	return 1;
}

/* Fields first.. must be d[0..nd); exact: and nothing after them. */
static int check_fields(struct sd_audit_line *l, size_t first, const struct fdef *d, size_t nd,
			int exact, struct sd_err *e)
{
	const struct sd_audit_field *f;
	size_t j;

	for (j = 0; j < nd; j++) {
		if (first + j >= l->nf)
			return sd_err_set(e, SD_E_BAD_REQUEST, "field \"%s\" is missing",
					  d[j].name);
		f = &l->f[first + j];
		if (f->name_len != strlen(d[j].name) ||
		    memcmp(f->name, d[j].name, f->name_len) != 0)
			return sd_err_set(e, SD_E_BAD_REQUEST,
					  "field %zu is \"%.*s\", expected \"%s\"", first + j + 1,
					  (int)f->name_len, f->name, d[j].name);
		if (f->kind != d[j].kind)
			return sd_err_set(e, SD_E_BAD_REQUEST, "field \"%s\" has the wrong type",
					  d[j].name);
		if (((d[j].flags & F_HEX64) && (f->val_len != 64 || !is_lower_hex(f->val, 64))) ||
		    ((d[j].flags & F_B64) && f->val_len == 0) ||
		    ((d[j].flags & F_TIME) &&
		     sd_audit_parse_time(f->val, f->val_len, 1, &l->time_ms) != 0))
			return sd_err_set(e, SD_E_BAD_REQUEST, "field \"%s\" is malformed",
					  d[j].name);
	}
	if (exact && first + nd != l->nf)
		return sd_err_set(e, SD_E_BAD_REQUEST, "unexpected field \"%.*s\"",
				  (int)l->f[first + nd].name_len, l->f[first + nd].name);
	return 0;
}

static int field_is(const struct sd_audit_field *f, const char *s)
{
	return f->val_len == strlen(s) && memcmp(f->val, s, f->val_len) == 0;
}

static int check_schema(struct sd_audit_line *l, struct sd_err *e)
{
	const struct sd_audit_field *t, *res, *code;
	size_t i;
	int ts, is_void;

	if (l->nf < N(head_fields))
		return sd_err_set(e, SD_E_BAD_REQUEST, "too few fields");
	if (check_fields(l, 0, head_fields, N(head_fields), 0, e) != 0)
		return -1;
	l->seq = l->f[0].num;
	if (l->seq == 0)
		return sd_err_set(e, SD_E_BAD_REQUEST, "seq must be at least 1");
	memcpy(l->prev, l->f[2].val, 64);
	l->prev[64] = '\0';
	t = &l->f[3];
	if (field_is(t, "checkpoint")) {
		l->type = SD_AUDIT_CHECKPOINT;
		return check_fields(l, 4, checkpoint_fields, N(checkpoint_fields), 1, e);
	}
	if (field_is(t, "rotate")) {
		l->type = SD_AUDIT_ROTATE;
		return check_fields(l, 4, rotate_fields, N(rotate_fields), 1, e);
	}
	if (t->val_len == 0 || t->val_len > SD_AUDIT_CAP_EVENT)
		return sd_err_set(e, SD_E_BAD_REQUEST, "field \"type\" is malformed");
	for (i = 0; i < t->val_len; i++)
		if (!((t->val[i] >= 'a' && t->val[i] <= 'z') || t->val[i] == '_'))
			return sd_err_set(e, SD_E_BAD_REQUEST, "field \"type\" is malformed");
	l->type = SD_AUDIT_REQUEST;
	is_void = field_is(t, "void");
	/* A timestamped signature's record ends with the timestamp fields. */
	ts = !is_void && l->nf > 4 + N(request_fields) &&
	     l->f[4 + N(request_fields)].name_len == 3 &&
	     memcmp(l->f[4 + N(request_fields)].name, "tsa", 3) == 0;
	if (check_fields(l, 4, request_fields, N(request_fields), !ts && !is_void, e) != 0 ||
	    (ts && check_fields(l, 4 + N(request_fields), timestamp_fields, N(timestamp_fields), 1,
				e) != 0) ||
	    (is_void &&
	     check_fields(l, 4 + N(request_fields), void_fields, N(void_fields), 1, e) != 0))
		return -1;
	res = sd_audit_get(l, "result");
	code = sd_audit_get(l, "code");
	if (!((field_is(res, "signed") && code->num == 0) ||
	      (field_is(res, "refused") && code->num != 0)))
		return sd_err_set(
		    e, SD_E_BAD_REQUEST,
		    "result must be \"signed\" with code 0 or \"refused\" with a code");
	if (is_void && (code->num == 0 || l->f[4 + N(request_fields)].num == 0 ||
			l->f[4 + N(request_fields)].num >= l->seq))
		return sd_err_set(e, SD_E_BAD_REQUEST,
				  "a void record must be a refusal that names an earlier record");
	return 0;
}

int sd_audit_parse(const char *line, size_t len, struct sd_audit_line *l, struct sd_err *e)
{
	memset(l, 0, sizeof(*l));
	l->line = line;
	l->len = len;
	if (len > SD_AUDIT_MAX_LINE)
		return sd_err_set(e, SD_E_BAD_REQUEST, "line longer than %d bytes",
				  SD_AUDIT_MAX_LINE);
	if (memchr(line, '\n', len) != NULL || memchr(line, '\0', len) != NULL)
		return sd_err_set(e, SD_E_BAD_REQUEST, "embedded newline or NUL byte");
	if (scan_object(line, len, l, e) != 0 || check_schema(l, e) != 0)
		return -1;
	return 0;
}

const struct sd_audit_field *sd_audit_get(const struct sd_audit_line *l, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < l->nf; i++)
		if (l->f[i].name_len == n && memcmp(l->f[i].name, name, n) == 0)
			return &l->f[i];
	return NULL;
}

static unsigned hexval(const char *p)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < 4; i++)
		v = v * 16 + (unsigned)(p[i] <= '9' ? p[i] - '0' : (p[i] | 0x20) - 'a' + 10);
	return v;
}

/* Append code point cp as UTF-8 to out[*o] (outsz total, NUL kept free). */
static int put_cp(uint32_t cp, char *out, size_t outsz, size_t *o)
{
	uint8_t b[4];
	size_t k;

	if (cp < 0x80) {
		b[0] = (uint8_t)cp;
		k = 1;
	} else if (cp < 0x800) {
		b[0] = (uint8_t)(0xc0 | cp >> 6);
		b[1] = (uint8_t)(0x80 | (cp & 0x3f));
		k = 2;
	} else if (cp < 0x10000) {
		b[0] = (uint8_t)(0xe0 | cp >> 12);
		b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (uint8_t)(0x80 | (cp & 0x3f));
		k = 3;
	} else {
		b[0] = (uint8_t)(0xf0 | cp >> 18);
		b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (uint8_t)(0x80 | (cp & 0x3f));
		k = 4;
	}
	if (*o + k >= outsz)
		return -1;
	memcpy(out + *o, b, k);
	*o += k;
	return 0;
}

int sd_audit_unescape(const char *v, size_t n, char *out, size_t outsz)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	size_t i = 0, o = 0;
	const char *c;
	uint32_t cp, lo;

	if (outsz == 0)
		return -1;
	while (i < n) {
		if (v[i] != '\\') {
			if (o + 1 >= outsz)
				return -1;
			out[o++] = v[i++];
			continue;
		}
		if (i + 1 >= n)
			return -1;
		if (v[i + 1] != 'u') {
			c = memchr(from, v[i + 1], sizeof(from) - 1);
			if (c == NULL || o + 1 >= outsz)
				return -1;
			out[o++] = to[c - from];
			i += 2;
			continue;
		}
		if (i + 6 > n || !is_hex4(v + i + 2))
			return -1;
		cp = hexval(v + i + 2);
		i += 6;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (i + 6 > n || v[i] != '\\' || v[i + 1] != 'u' || !is_hex4(v + i + 2))
				return -1;
			lo = hexval(v + i + 2);
			if (lo < 0xdc00 || lo > 0xdfff)
				return -1;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			i += 6;
		} else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0) {
			return -1;
		}
		if (put_cp(cp, out, outsz, &o) != 0)
			return -1;
	}
	out[o] = '\0';
	return 0;
}

int sd_audit_get_str(const struct sd_audit_line *l, const char *name, char *out, size_t outsz)
{
	const struct sd_audit_field *f = sd_audit_get(l, name);

	if (f == NULL || f->kind != SD_AJ_STR)
		return -1;
	return sd_audit_unescape(f->val, f->val_len, out, outsz);
}
