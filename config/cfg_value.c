/* Error formatting, mapping walk and typed scalar getters. */
#include "config/cfg_int.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DAY_MS (24ull * 3600 * 1000)

int cfg_errf(struct sd_err *e, const char *file, int line, int col, const char *fmt, ...)
{
	char msg[sizeof(e->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sd_err_set(e, CFG_ECODE, "%s:%d:%d: %s", file, line, col, msg);
}

int cfg_err_at(const struct cfg_walk *w, const struct ynode *n, const char *fmt, ...)
{
	char msg[sizeof(w->e->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cfg_errf(w->e, w->file, n->line, n->col, "%s", msg);
}

void cfg_quote(const char *s, size_t len, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;
	unsigned char ch;

	if (outsz < 8) {
		if (outsz > 0)
			out[0] = '\0';
		return;
	}
	out[o++] = '"';
	for (i = 0; i < len; i++) {
		ch = (unsigned char)s[i];
		/* room for the longest escape plus '..."' and NUL */
		if (o + 4 + 5 > outsz) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch >= 0x20 && ch < 0x7f) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 0xf];
		}
	}
	out[o++] = '"';
	out[o] = '\0';
}

int cfg_is_null(const struct ynode *n)
{
	return n->kind == YN_SCALAR && n->plain &&
	       (n->len == 0 || strcmp(n->s, "~") == 0 || strcmp(n->s, "null") == 0 ||
		strcmp(n->s, "Null") == 0 || strcmp(n->s, "NULL") == 0);
}

const char *cfg_describe(const struct ynode *n, char *buf, size_t bufsz)
{
	if (n->kind == YN_SEQ)
		return "a list";
	if (n->kind == YN_MAP)
		return "a mapping";
	if (cfg_is_null(n))
		return "an empty value";
	cfg_quote(n->s, n->len, buf, bufsz);
	return buf;
}

static int expected(struct cfg_walk *w, const char *path, const struct ynode *n, const char *what)
{
	char q[CFG_QUOTE_MAX];

	return cfg_err_at(w, n, "%s: expected %s, got %s", path, what,
			  cfg_describe(n, q, sizeof(q)));
}

int cfg_walk_map(struct cfg_walk *w, const char *path, const struct ynode *map,
		 const struct cfg_field *f, size_t nf, void *obj, unsigned char *seen)
{
	unsigned char local[32];
	char q[CFG_QUOTE_MAX], cpath[256];
	const struct ynode *k, *v;
	size_t i, j;

	if (seen == NULL) {
		if (nf > sizeof(local))
			return cfg_err_at(w, map, "internal error: too many fields");
		seen = local;
	}
	memset(seen, 0, nf);
	if (map->kind != YN_MAP) {
		if (path[0] == '\0')
			return expected(w, "configuration", map, "a mapping at the top level");
		return expected(w, path, map, "a mapping");
	}
	for (i = 0; i + 1 < map->nkids; i += 2) {
		k = map->kids[i];
		v = map->kids[i + 1];
		for (j = 0; j < nf; j++)
			if (k->len == strlen(f[j].key) && strcmp(k->s, f[j].key) == 0)
				break;
		cfg_quote(k->s, k->len, q, sizeof(q));
		if (j == nf) {
			if (path[0] == '\0')
				return cfg_err_at(w, k, "unknown key %s at the top level", q);
			return cfg_err_at(w, k, "unknown key %s in %s", q, path);
		}
		if (seen[j]) {
			if (path[0] == '\0')
				return cfg_err_at(w, k, "duplicate key %s at the top level", q);
			return cfg_err_at(w, k, "duplicate key %s in %s", q, path);
		}
		seen[j] = 1;
		if (path[0] == '\0')
			snprintf(cpath, sizeof(cpath), "%s", f[j].key);
		else
			snprintf(cpath, sizeof(cpath), "%s.%s", path, f[j].key);
		if (f[j].fn(w, cpath, k, v, obj) != 0)
			return -1;
	}
	return 0;
}

static int check_text(struct cfg_walk *w, const char *path, const struct ynode *n, size_t maxlen)
{
	size_t i;

	if (n->kind != YN_SCALAR || cfg_is_null(n))
		return expected(w, path, n, "a string");
	if (strlen(n->s) != n->len)
		return cfg_err_at(w, n, "%s: contains a NUL character", path);
	if (n->len == 0)
		return cfg_err_at(w, n, "%s: must not be empty", path);
	if (n->len > maxlen)
		return cfg_err_at(w, n, "%s: longer than %zu bytes", path, maxlen);
	for (i = 0; i < n->len; i++)
		if ((unsigned char)n->s[i] < 0x20 || n->s[i] == 0x7f)
			return cfg_err_at(w, n, "%s: contains a control character", path);
	return 0;
}

static int dup_into(struct cfg_walk *w, const struct ynode *n, char **out)
{
	char *s = strdup(n->s);

	if (s == NULL)
		return cfg_err_at(w, n, "out of memory");
	free(*out);
	*out = s;
	return 0;
}

int cfg_get_string(struct cfg_walk *w, const char *path, const struct ynode *n, size_t maxlen,
		   char **out)
{
	if (check_text(w, path, n, maxlen) != 0)
		return -1;
	return dup_into(w, n, out);
}

int cfg_get_path(struct cfg_walk *w, const char *path, const struct ynode *n, char **out)
{
	if (check_text(w, path, n, PATH_MAX - 1) != 0)
		return -1;
	if (n->s[0] != '/')
		return expected(w, path, n, "an absolute path");
	return dup_into(w, n, out);
}

static int uri_text(struct cfg_walk *w, const char *path, const struct ynode *n)
{
	size_t i;

	if (check_text(w, path, n, CFG_MAX_URI) != 0)
		return -1;
	for (i = 0; i < n->len; i++)
		if ((unsigned char)n->s[i] <= 0x20 || (unsigned char)n->s[i] >= 0x7f)
			return cfg_err_at(w, n,
					  "%s: a URI must be printable ASCII without spaces "
					  "(percent-encode other characters)",
					  path);
	return 0;
}

int cfg_get_uri(struct cfg_walk *w, const char *path, const struct ynode *n, const char *scheme,
		char **out)
{
	size_t sl = strlen(scheme);
	char what[32];

	if (uri_text(w, path, n) != 0)
		return -1;
	if (n->len < sl || strncasecmp(n->s, scheme, sl) != 0) {
		snprintf(what, sizeof(what), "a %s URI", scheme);
		return expected(w, path, n, what);
	}
	return dup_into(w, n, out);
}

static int parse_uint(const char *s, size_t len, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	if (len == 0 || strlen(s) != len)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(s[i] - '0');
		if (x > max)
			return -1;
	}
	*v = x;
	return 0;
}

int cfg_get_uint(struct cfg_walk *w, const char *path, const struct ynode *n, unsigned min,
		 unsigned max, unsigned *out)
{
	char what[64];
	uint64_t v;

	if (n->kind != YN_SCALAR || parse_uint(n->s, n->len, max, &v) != 0 || v < min) {
		snprintf(what, sizeof(what), "an integer from %u to %u", min, max);
		return expected(w, path, n, what);
	}
	*out = (unsigned)v;
	return 0;
}

int cfg_get_bool(struct cfg_walk *w, const char *path, const struct ynode *n, int *out)
{
	if (n->kind == YN_SCALAR && strcmp(n->s, "true") == 0 && n->len == 4) {
		*out = 1;
		return 0;
	}
	if (n->kind == YN_SCALAR && strcmp(n->s, "false") == 0 && n->len == 5) {
		*out = 0;
		return 0;
	}
	return expected(w, path, n, "true or false");
}

static void fmt_duration(uint64_t ms, char *buf, size_t bufsz)
{
	if (ms != 0 && ms % DAY_MS == 0)
		snprintf(buf, bufsz, "%llud", (unsigned long long)(ms / DAY_MS));
	else if (ms != 0 && ms % 3600000 == 0)
		snprintf(buf, bufsz, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms != 0 && ms % 60000 == 0)
		snprintf(buf, bufsz, "%llum", (unsigned long long)(ms / 60000));
	else if (ms != 0 && ms % 1000 == 0)
		snprintf(buf, bufsz, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, bufsz, "%llums", (unsigned long long)ms);
}

int cfg_get_duration(struct cfg_walk *w, const char *path, const struct ynode *n, uint64_t min_ms,
		     uint64_t *out)
{
	/* One upper bound for every duration: ten years. */
	const uint64_t max_ms = 3650 * DAY_MS;
	char lo[32], hi[32], what[96];
	uint64_t v;

	if (n->kind != YN_SCALAR || cfg_parse_duration(n->s, &v) != 0 || strlen(n->s) != n->len)
		return expected(w, path, n, "a duration such as 500ms, 10s, 5m, 2h or 30d");
	if (v < min_ms || v > max_ms) {
		fmt_duration(min_ms, lo, sizeof(lo));
		fmt_duration(max_ms, hi, sizeof(hi));
		snprintf(what, sizeof(what), "a duration from %s to %s", lo, hi);
		return expected(w, path, n, what);
	}
	*out = v;
	return 0;
}

int cfg_get_size(struct cfg_walk *w, const char *path, const struct ynode *n, uint64_t min,
		 uint64_t *out)
{
	const uint64_t max = 1ull << 40;
	char what[96];
	uint64_t v;

	if (n->kind != YN_SCALAR || cfg_parse_size(n->s, &v) != 0 || strlen(n->s) != n->len)
		return expected(w, path, n, "a size such as 512, 64KiB, 256MiB or 1GiB");
	if (v < min || v > max) {
		snprintf(what, sizeof(what), "a size from %llu bytes to 1TiB",
			 (unsigned long long)min);
		return expected(w, path, n, what);
	}
	*out = v;
	return 0;
}

int cfg_get_enum(struct cfg_walk *w, const char *path, const struct ynode *n,
		 const char *const *names, size_t nnames, int *out)
{
	char what[128];
	size_t i, o = 0;

	for (i = 0; n->kind == YN_SCALAR && i < nnames; i++) {
		if (n->len == strlen(names[i]) && strcmp(n->s, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	what[0] = '\0';
	for (i = 0; i < nnames && o < sizeof(what); i++)
		o += (size_t)snprintf(what + o, sizeof(what) - o, "%s%s",
				      i == 0 ? "" : (i + 1 == nnames ? " or " : ", "), names[i]);
	return expected(w, path, n, what);
}

int cfg_get_list(struct cfg_walk *w, const char *path, const struct ynode *n, size_t min,
		 size_t max)
{
	if (n->kind != YN_SEQ)
		return expected(w, path, n, "a list");
	if (n->nkids > max)
		return cfg_err_at(w, n, "%s: at most %zu entries are allowed, got %zu", path, max,
				  n->nkids);
	if (n->nkids < min)
		return cfg_err_at(w, n, "%s: at least %zu %s required", path, min,
				  min == 1 ? "entry is" : "entries are");
	return 0;
}

void cfg_free_strings(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int get_url(struct cfg_walk *w, const char *path, const struct ynode *n, char **out)
{
	const char *s = n->s;

	if (uri_text(w, path, n) != 0)
		return -1;
	if ((strncasecmp(s, "http://", 7) == 0 && s[7] != '\0') ||
	    (strncasecmp(s, "https://", 8) == 0 && s[8] != '\0'))
		return dup_into(w, n, out);
	return expected(w, path, n, "an http:// or https:// URL");
}

int cfg_get_string_list(struct cfg_walk *w, const char *path, const struct ynode *n, size_t max,
			int urls, char ***out, size_t *nout)
{
	char ipath[256];
	char **v = NULL;
	size_t i, cnt = 0;
	int ret = -1;

	if (cfg_get_list(w, path, n, 0, max) != 0)
		return -1;
	v = calloc(n->nkids ? n->nkids : 1, sizeof(*v));
	if (v == NULL)
		return cfg_err_at(w, n, "out of memory");
	for (i = 0; i < n->nkids; i++) {
		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		if (urls ? get_url(w, ipath, n->kids[i], &v[i])
			 : cfg_get_path(w, ipath, n->kids[i], &v[i])) {
			cnt = i;
			goto out;
		}
	}
	cnt = n->nkids;
	cfg_free_strings(*out, *nout);
	*out = v;
	*nout = cnt;
	v = NULL;
	ret = 0;
out:
	cfg_free_strings(v, cnt);
	return ret;
}
