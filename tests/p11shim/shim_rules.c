/*
 * The shim's names (functions, CKR_* values) and its control-file grammar. Pure functions: the
 * unit test links this file directly to check the parser without a token.
 *
 *   # comment
 *   clear                      drop the rules of the lines above
 *   stats /abs/path            append "NAME count" lines to that file (see shim_state.c)
 *   FUNC WHAT [OPTIONS]        FUNC is a function name (C_Sign) or "*" for every function
 *
 * WHAT is one or two of: CKR_NAME or 0xHEX (return that value), empty, hang, delay_ms=N.
 * OPTIONS: count=N (fault the next N calls) or always (the default), close_session, reset.
 */
#include "tests/p11shim/shim.h"

#include <stdio.h>
#include <string.h>

struct fn_entry {
	const char *name;
	int session;
};

static const struct fn_entry fn_table[SHIM_NFUNCS] = {
#define SHIM_F(n, p, a) {#n, 0},
#define SHIM_S(n, p, a) {#n, 1},
#define SHIM_X(n, s)	{#n, s},
#include "tests/p11shim/shim_funcs.h"
#undef SHIM_F
#undef SHIM_S
#undef SHIM_X
};

struct rv_entry {
	const char *name;
	CK_RV rv;
};

/* clang-format off */
#define R(x) {#x, x}
/* clang-format on */
static const struct rv_entry rv_table[] = {
    R(CKR_OK),
    R(CKR_CANCEL),
    R(CKR_HOST_MEMORY),
    R(CKR_SLOT_ID_INVALID),
    R(CKR_GENERAL_ERROR),
    R(CKR_FUNCTION_FAILED),
    R(CKR_ARGUMENTS_BAD),
    R(CKR_NO_EVENT),
    R(CKR_NEED_TO_CREATE_THREADS),
    R(CKR_CANT_LOCK),
    R(CKR_ATTRIBUTE_READ_ONLY),
    R(CKR_ATTRIBUTE_SENSITIVE),
    R(CKR_ATTRIBUTE_TYPE_INVALID),
    R(CKR_ATTRIBUTE_VALUE_INVALID),
    R(CKR_ACTION_PROHIBITED),
    R(CKR_DATA_INVALID),
    R(CKR_DATA_LEN_RANGE),
    R(CKR_DEVICE_ERROR),
    R(CKR_DEVICE_MEMORY),
    R(CKR_DEVICE_REMOVED),
    R(CKR_ENCRYPTED_DATA_INVALID),
    R(CKR_ENCRYPTED_DATA_LEN_RANGE),
    R(CKR_FUNCTION_CANCELED),
    R(CKR_FUNCTION_NOT_PARALLEL),
    R(CKR_FUNCTION_NOT_SUPPORTED),
    R(CKR_KEY_HANDLE_INVALID),
    R(CKR_KEY_SIZE_RANGE),
    R(CKR_KEY_TYPE_INCONSISTENT),
    R(CKR_KEY_NOT_NEEDED),
    R(CKR_KEY_CHANGED),
    R(CKR_KEY_NEEDED),
    R(CKR_KEY_INDIGESTIBLE),
    R(CKR_KEY_FUNCTION_NOT_PERMITTED),
    R(CKR_KEY_NOT_WRAPPABLE),
    R(CKR_KEY_UNEXTRACTABLE),
    R(CKR_MECHANISM_INVALID),
    R(CKR_MECHANISM_PARAM_INVALID),
    R(CKR_OBJECT_HANDLE_INVALID),
    R(CKR_OPERATION_ACTIVE),
    R(CKR_OPERATION_NOT_INITIALIZED),
    R(CKR_PIN_INCORRECT),
    R(CKR_PIN_INVALID),
    R(CKR_PIN_LEN_RANGE),
    R(CKR_PIN_EXPIRED),
    R(CKR_PIN_LOCKED),
    R(CKR_SESSION_CLOSED),
    R(CKR_SESSION_COUNT),
    R(CKR_SESSION_HANDLE_INVALID),
    R(CKR_SESSION_PARALLEL_NOT_SUPPORTED),
    R(CKR_SESSION_READ_ONLY),
    R(CKR_SESSION_EXISTS),
    R(CKR_SESSION_READ_ONLY_EXISTS),
    R(CKR_SESSION_READ_WRITE_SO_EXISTS),
    R(CKR_SIGNATURE_INVALID),
    R(CKR_SIGNATURE_LEN_RANGE),
    R(CKR_TEMPLATE_INCOMPLETE),
    R(CKR_TEMPLATE_INCONSISTENT),
    R(CKR_TOKEN_NOT_PRESENT),
    R(CKR_TOKEN_NOT_RECOGNIZED),
    R(CKR_TOKEN_WRITE_PROTECTED),
    R(CKR_UNWRAPPING_KEY_HANDLE_INVALID),
    R(CKR_UNWRAPPING_KEY_SIZE_RANGE),
    R(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT),
    R(CKR_USER_ALREADY_LOGGED_IN),
    R(CKR_USER_NOT_LOGGED_IN),
    R(CKR_USER_PIN_NOT_INITIALIZED),
    R(CKR_USER_TYPE_INVALID),
    R(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
    R(CKR_USER_TOO_MANY_TYPES),
    R(CKR_WRAPPED_KEY_INVALID),
    R(CKR_WRAPPED_KEY_LEN_RANGE),
    R(CKR_WRAPPING_KEY_HANDLE_INVALID),
    R(CKR_WRAPPING_KEY_SIZE_RANGE),
    R(CKR_WRAPPING_KEY_TYPE_INCONSISTENT),
    R(CKR_RANDOM_SEED_NOT_SUPPORTED),
    R(CKR_RANDOM_NO_RNG),
    R(CKR_DOMAIN_PARAMS_INVALID),
    R(CKR_CURVE_NOT_SUPPORTED),
    R(CKR_BUFFER_TOO_SMALL),
    R(CKR_SAVED_STATE_INVALID),
    R(CKR_INFORMATION_SENSITIVE),
    R(CKR_STATE_UNSAVEABLE),
    R(CKR_CRYPTOKI_NOT_INITIALIZED),
    R(CKR_CRYPTOKI_ALREADY_INITIALIZED),
    R(CKR_MUTEX_BAD),
    R(CKR_MUTEX_NOT_LOCKED),
    R(CKR_NEW_PIN_MODE),
    R(CKR_NEXT_OTP),
    R(CKR_EXCEEDED_MAX_ITERATIONS),
    R(CKR_FIPS_SELF_TEST_FAILED),
    R(CKR_LIBRARY_LOAD_FAILED),
    R(CKR_PIN_TOO_WEAK),
    R(CKR_PUBLIC_KEY_INVALID),
    R(CKR_FUNCTION_REJECTED),
};
#undef R

const char *shim_fn_name(int fn)
{
	return fn >= 0 && fn < SHIM_NFUNCS ? fn_table[fn].name : "*";
}

int shim_fn_lookup(const char *name, size_t len)
{
	int i;

	for (i = 0; i < SHIM_NFUNCS; i++)
		if (strlen(fn_table[i].name) == len && memcmp(fn_table[i].name, name, len) == 0)
			return i;
	return -1;
}

int shim_fn_has_empty(int fn)
{
	return fn == SHIM_FN_C_GetSlotList || fn == SHIM_FN_C_FindObjects;
}

int shim_fn_has_session(int fn)
{
	return fn >= 0 && fn < SHIM_NFUNCS && fn_table[fn].session;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int shim_rv_parse(const char *s, size_t len, CK_RV *rv)
{
	size_t i;
	CK_RV v = 0;
	int d;

	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		if (len - 2 > sizeof(CK_RV) * 2)
			return -1;
		for (i = 2; i < len; i++) {
			if ((d = hexval(s[i])) < 0)
				return -1;
			v = v << 4 | (CK_RV)d;
		}
		*rv = v;
		return 0;
	}
	for (i = 0; i < sizeof(rv_table) / sizeof(rv_table[0]); i++)
		if (strlen(rv_table[i].name) == len && memcmp(rv_table[i].name, s, len) == 0) {
			*rv = rv_table[i].rv;
			return 0;
		}
	return -1;
}

/* A decimal number in [lo, hi]. */
static int parse_num(const char *s, size_t len, long lo, long hi, long *out)
{
	long v = 0;
	size_t i;

	if (len == 0 || len > 10)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

struct tok {
	const char *p;
	size_t n;
};

static int tok_is(const struct tok *t, const char *word)
{
	return t->n == strlen(word) && memcmp(t->p, word, t->n) == 0;
}

static int tok_prefix(const struct tok *t, const char *prefix)
{
	size_t n = strlen(prefix);

	return t->n > n && memcmp(t->p, prefix, n) == 0;
}

#define MAX_TOKS 8

/* Split one line (without its newline) at blanks; -1 when it has too many words. */
static int split(const char *line, size_t len, struct tok *t, size_t *nt)
{
	size_t i = 0, start;

	*nt = 0;
	for (;;) {
		while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
			i++;
		if (i == len)
			return 0;
		if (*nt == MAX_TOKS)
			return -1;
		start = i;
		while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			i++;
		t[*nt].p = line + start;
		t[*nt].n = i - start;
		(*nt)++;
	}
}

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		return -1;                                                                         \
	} while (0)

/* One "FUNC WHAT [OPTIONS]" line into r. */
static int parse_rule(const struct tok *t, size_t nt, struct shim_rule *r, char *err, size_t errlen)
{
	int have_what = 0, have_count = 0, have_delay = 0;
	size_t i;
	long v;

	memset(r, 0, sizeof(*r));
	r->count = -1;
	if (tok_is(&t[0], "*"))
		r->fn = SHIM_ANY_FN;
	else if ((r->fn = shim_fn_lookup(t[0].p, t[0].n)) < 0)
		FAIL("unknown function \"%.*s\"", (int)t[0].n, t[0].p);
	for (i = 1; i < nt; i++) {
		const struct tok *w = &t[i];
		enum shim_action a = SHIM_PASS;

		if (tok_prefix(w, "CKR_") || tok_prefix(w, "0x") || tok_prefix(w, "0X")) {
			if (shim_rv_parse(w->p, w->n, &r->rv) != 0)
				FAIL("unknown return value \"%.*s\"", (int)w->n, w->p);
			a = SHIM_RV;
		} else if (tok_is(w, "empty")) {
			a = SHIM_EMPTY;
		} else if (tok_is(w, "hang")) {
			a = SHIM_HANG;
		} else if (tok_prefix(w, "delay_ms=")) {
			if (have_delay)
				FAIL("delay_ms given twice");
			if (parse_num(w->p + 9, w->n - 9, 0, (long)SHIM_MAX_DELAY_MS, &v) != 0)
				FAIL("bad delay_ms (0 to %lu)", SHIM_MAX_DELAY_MS);
			r->delay_ms = (unsigned long)v;
			have_delay = 1;
		} else if (tok_prefix(w, "count=")) {
			if (have_count)
				FAIL("count given twice, or with always");
			if (parse_num(w->p + 6, w->n - 6, 1, SHIM_MAX_COUNT, &v) != 0)
				FAIL("bad count (1 to %ld)", SHIM_MAX_COUNT);
			r->count = v;
			have_count = 1;
		} else if (tok_is(w, "always")) {
			if (have_count)
				FAIL("count given twice, or with always");
			have_count = 1;
		} else if (tok_is(w, "close_session")) {
			r->close_session = 1;
		} else if (tok_is(w, "reset")) {
			r->reset = 1;
		} else {
			FAIL("unknown word \"%.*s\"", (int)w->n, w->p);
		}
		if (a != SHIM_PASS) {
			if (have_what)
				FAIL("more than one of CKR_*, empty, hang");
			r->action = a;
			have_what = 1;
		}
	}
	if (!have_what && !have_delay)
		FAIL("nothing to do: give CKR_*, 0x..., empty, hang or delay_ms=");
	if ((r->close_session || r->reset) && r->action != SHIM_RV)
		FAIL("close_session and reset go with a return value");
	if (r->close_session && r->reset)
		FAIL("close_session and reset exclude each other");
	if (r->close_session && r->fn != SHIM_ANY_FN && !shim_fn_has_session(r->fn))
		FAIL("close_session needs a function with a session argument");
	if (r->action == SHIM_EMPTY && r->fn != SHIM_ANY_FN && !shim_fn_has_empty(r->fn))
		FAIL("empty works on C_GetSlotList and C_FindObjects only");
	return 0;
}

int shim_parse(const char *text, size_t len, struct shim_rules *out, char *err, size_t errlen)
{
	struct tok t[MAX_TOKS];
	size_t pos = 0, nt, lineno = 0, end;
	char why[160];

	memset(out, 0, sizeof(*out));
	while (pos < len) {
		lineno++;
		for (end = pos; end < len && text[end] != '\n'; end++)
			if (text[end] == '\0')
				FAIL("line %zu: NUL byte", lineno);
		if (split(text + pos, end - pos, t, &nt) != 0)
			FAIL("line %zu: more than %d words", lineno, MAX_TOKS);
		pos = end + 1;
		if (nt == 0 || t[0].p[0] == '#')
			continue;
		if (tok_is(&t[0], "clear")) {
			if (nt != 1)
				FAIL("line %zu: clear takes no arguments", lineno);
			out->n = 0;
		} else if (tok_is(&t[0], "stats")) {
			if (nt != 2 || t[1].p[0] != '/' || t[1].n >= sizeof(out->stats_path))
				FAIL("line %zu: stats takes one absolute path", lineno);
			memcpy(out->stats_path, t[1].p, t[1].n);
			out->stats_path[t[1].n] = '\0';
		} else if (out->n == SHIM_MAX_RULES) {
			FAIL("line %zu: more than %d rules", lineno, SHIM_MAX_RULES);
		} else if (parse_rule(t, nt, &out->r[out->n], why, sizeof(why)) != 0) {
			FAIL("line %zu: %s", lineno, why);
		} else {
			out->n++;
		}
	}
	return 0;
}
