/* keys: the list of signing keys. */
#include "config/cfg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NFIELDS(f) (sizeof(f) / sizeof((f)[0]))

int cfg_check_key_name(const char *s)
{
	size_t i, n = strlen(s);

	if (n < 1 || n > CFG_MAX_KEY_NAME)
		return -1;
	for (i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '/')
			return -1;
	return 0;
}

/* Index of k in the key array, for messages. */
static size_t key_index(const struct cfg_walk *w, const struct cfg_key *k)
{
	return (size_t)(k - w->c->keys);
}

static int f_name(struct cfg_walk *w, const char *path, const struct ynode *key,
		  const struct ynode *val, void *obj)
{
	struct cfg_key *k = obj;
	char q[CFG_QUOTE_MAX];
	size_t i, idx = key_index(w, k);

	(void)key;
	if (val->kind != YN_SCALAR || cfg_is_null(val) || strlen(val->s) != val->len ||
	    cfg_check_key_name(val->s) != 0)
		return cfg_err_at(w, val,
				  "%s: expected 1 to %d printable ASCII characters without "
				  "spaces or '/', got %s",
				  path, CFG_MAX_KEY_NAME, cfg_describe(val, q, sizeof(q)));
	cfg_quote(val->s, val->len, q, sizeof(q));
	for (i = 0; i < idx; i++)
		if (strcmp(w->c->keys[i].name, val->s) == 0)
			return cfg_err_at(w, val, "%s %s is already used", path, q);
	return cfg_get_string(w, path, val, CFG_MAX_KEY_NAME, &k->name);
}

static int f_uri(struct cfg_walk *w, const char *path, const struct ynode *key,
		 const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_uri(w, path, val, "pkcs11:", &((struct cfg_key *)obj)->uri);
}

static int f_certificate(struct cfg_walk *w, const char *path, const struct ynode *key,
			 const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_path(w, path, val, &((struct cfg_key *)obj)->certificate);
}

static int f_chain(struct cfg_walk *w, const char *path, const struct ynode *key,
		   const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_path(w, path, val, &((struct cfg_key *)obj)->chain);
}

static int f_default(struct cfg_walk *w, const char *path, const struct ynode *key,
		     const struct ynode *val, void *obj)
{
	struct cfg_key *k = obj;
	size_t i, idx = key_index(w, k);

	(void)key;
	if (cfg_get_bool(w, path, val, &k->is_default) != 0)
		return -1;
	for (i = 0; k->is_default && i < idx; i++)
		if (w->c->keys[i].is_default)
			return cfg_err_at(w, val, "two keys have default: true");
	return 0;
}

static int f_state(struct cfg_walk *w, const char *path, const struct ynode *key,
		   const struct ynode *val, void *obj)
{
	static const char *const names[] = {"active", "retired"};
	int v;

	(void)key;
	if (cfg_get_enum(w, path, val, names, 2, &v) != 0)
		return -1;
	((struct cfg_key *)obj)->state = v == 1 ? CFG_KEY_RETIRED : CFG_KEY_ACTIVE;
	return 0;
}

static int f_allow(struct cfg_walk *w, const char *path, const struct ynode *key,
		   const struct ynode *val, void *obj)
{
	struct cfg_key *k = obj;

	(void)key;
	return cfg_get_principals(w, path, val, &k->allow, &k->nallow);
}

static int f_digests(struct cfg_walk *w, const char *path, const struct ynode *key,
		     const struct ynode *val, void *obj)
{
	struct cfg_key *k = obj;
	const struct ynode *it;
	char q[CFG_QUOTE_MAX];
	unsigned bits = 0, b;
	size_t i;

	(void)key;
	if (cfg_get_list(w, path, val, 1, 4) != 0)
		return -1;
	for (i = 0; i < val->nkids; i++) {
		it = val->kids[i];
		if (it->kind != YN_SCALAR || cfg_is_null(it))
			return cfg_err_at(w, it, "%s: expected a digest name, got %s", path,
					  cfg_describe(it, q, sizeof(q)));
		cfg_quote(it->s, it->len, q, sizeof(q));
		b = strlen(it->s) == it->len ? cfg_md_bit(it->s) : 0;
		if (b == 0)
			return cfg_err_at(w, it, "%s: unknown digest %s", path, q);
		if (bits & b)
			return cfg_err_at(w, it, "%s: digest %s is listed twice", path, q);
		bits |= b;
	}
	k->digests = bits;
	return 0;
}

static int f_min_validity(struct cfg_walk *w, const char *path, const struct ynode *key,
			  const struct ynode *val, void *obj)
{
	char q[CFG_QUOTE_MAX];
	uint64_t ms;

	(void)key;
	if (cfg_get_duration(w, path, val, 0, &ms) != 0)
		return -1;
	if (ms % 1000 != 0)
		return cfg_err_at(w, val, "%s: expected whole seconds, got %s", path,
				  cfg_describe(val, q, sizeof(q)));
	((struct cfg_key *)obj)->min_validity_s = ms / 1000;
	return 0;
}

static int f_sign(struct cfg_walk *w, const char *path, const struct ynode *key,
		  const struct ynode *val, void *obj)
{
	static const char *const names[] = {"cab", "script"};
	static const unsigned bits[] = {CFG_SUBJ_CAB, CFG_SUBJ_SCRIPT};
	struct cfg_key *k = obj;
	char ipath[96];
	unsigned all = 0;
	size_t i;
	int v;

	(void)key;
	if (cfg_get_list(w, path, val, 1, 2) != 0)
		return -1;
	for (i = 0; i < val->nkids; i++) {
		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		if (cfg_get_enum(w, ipath, val->kids[i], names, 2, &v) != 0)
			return -1;
		if (all & bits[v])
			return cfg_err_at(w, val->kids[i], "%s: %s is listed twice", path,
					  names[v]);
		all |= bits[v];
	}
	k->subjects = all;
	return 0;
}

static int f_key_timestamp(struct cfg_walk *w, const char *path, const struct ynode *key,
			   const struct ynode *val, void *obj)
{
	static const char *const names[] = {"required", "optional", "off"};
	static const enum cfg_ts_policy pol[] = {CFG_TS_REQUIRED, CFG_TS_OPTIONAL, CFG_TS_OFF};
	struct cfg_key *k = obj;
	int v;

	(void)key;
	if (cfg_get_enum(w, path, val, names, 3, &v) != 0)
		return -1;
	k->ts_policy = (int)pol[v];
	k->ts_line = val->line;
	k->ts_col = val->col;
	return 0;
}

enum { KF_NAME = 0, KF_URI = 1 };
static const struct cfg_field key_fields[] = {
    {"name", f_name},
    {"uri", f_uri},
    {"certificate", f_certificate},
    {"chain", f_chain},
    {"default", f_default},
    {"state", f_state},
    {"allow", f_allow},
    {"digests", f_digests},
    {"min_validity", f_min_validity},
    {"timestamp", f_key_timestamp},
    {"sign", f_sign},
};

static int walk_key(struct cfg_walk *w, const struct ynode *item, struct cfg_key *k, size_t idx)
{
	unsigned char seen[NFIELDS(key_fields)];
	char path[64];

	snprintf(path, sizeof(path), "keys[%zu]", idx);
	k->digests = CFG_MD_DEFAULT;
	k->state = CFG_KEY_ACTIVE;
	k->ts_policy = -1;
	k->subjects = CFG_SUBJ_CAB;
	k->line = item->line;
	if (cfg_walk_map(w, path, item, key_fields, NFIELDS(key_fields), k, seen) != 0)
		return -1;
	if (!seen[KF_NAME])
		return cfg_err_at(w, item, "%s: name is required", path);
	if (!seen[KF_URI])
		return cfg_err_at(w, item, "%s: uri is required", path);
	if (k->is_default && k->state == CFG_KEY_RETIRED)
		return cfg_err_at(w, item, "%s: the default key cannot be retired", path);
	return 0;
}

int cfg_walk_keys(struct cfg_walk *w, const struct ynode *key, const struct ynode *val)
{
	struct cfg *c = w->c;
	size_t i;
	int any_default = 0;

	(void)key;
	if (val->kind == YN_SEQ && val->nkids == 0)
		return cfg_err_at(w, val, "keys: at least one key is required");
	if (cfg_get_list(w, "keys", val, 1, CFG_MAX_KEYS) != 0)
		return -1;
	c->keys = calloc(val->nkids, sizeof(*c->keys));
	if (c->keys == NULL)
		return cfg_err_at(w, val, "out of memory");
	c->nkeys = val->nkids;
	for (i = 0; i < val->nkids; i++) {
		if (walk_key(w, val->kids[i], &c->keys[i], i) != 0)
			return -1;
		any_default |= c->keys[i].is_default;
	}
	if (!any_default) {
		/* The first key is the default: it must be able to sign. */
		if (c->keys[0].state == CFG_KEY_RETIRED)
			return cfg_err_at(w, val->kids[0],
					  "keys[0]: the default key cannot be retired; mark an "
					  "active key default: true");
		c->keys[0].is_default = 1;
	}
	return 0;
}
