/* The signerd.yaml v1 sections other than keys. */
#include "config/cfg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define NFIELDS(f) (sizeof(f) / sizeof((f)[0]))

static struct cfg *C(void *obj)
{
	return obj;
}

/* socket and admin: the same fields; obj is the struct cfg_socket */
#define SOCK(o) ((struct cfg_socket *)(o))

static int f_socket_path(struct cfg_walk *w, const char *path, const struct ynode *key,
			 const struct ynode *val, void *obj)
{
	struct sockaddr_un sun;

	(void)key;
	if (cfg_get_path(w, path, val, &SOCK(obj)->path) != 0)
		return -1;
	if (val->len >= sizeof(sun.sun_path))
		return cfg_err_at(w, val, "%s: longer than %zu bytes, the limit for a Unix socket",
				  path, sizeof(sun.sun_path) - 1);
	return 0;
}

static int f_socket_mode(struct cfg_walk *w, const char *path, const struct ynode *key,
			 const struct ynode *val, void *obj)
{
	char q[CFG_QUOTE_MAX];
	const char *s = val->s;
	size_t i, len = val->len;
	uint32_t m = 0;

	(void)key;
	/* Always octal: "0660", "660" and an unquoted 0660 all mean rw-rw----. */
	if (val->kind != YN_SCALAR)
		goto bad;
	if (len == 4 && s[0] == '0') {
		s++;
		len--;
	}
	if (len != 3)
		goto bad;
	for (i = 0; i < 3; i++) {
		if (s[i] < '0' || s[i] > '7')
			goto bad;
		m = m * 8 + (uint32_t)(s[i] - '0');
	}
	SOCK(obj)->mode = m;
	return 0;
bad:
	return cfg_err_at(w, val, "%s: expected an octal mode such as \"0660\", got %s", path,
			  cfg_describe(val, q, sizeof(q)));
}

static int f_socket_group(struct cfg_walk *w, const char *path, const struct ynode *key,
			  const struct ynode *val, void *obj)
{
	struct cfg_socket *c = obj;

	(void)key;
	if (cfg_resolve_id(w, path, val, 1, &c->gid) != 0)
		return -1;
	if (cfg_get_string(w, path, val, 255, &c->group) != 0)
		return -1;
	c->has_group = 1;
	return 0;
}

static int f_socket_allow(struct cfg_walk *w, const char *path, const struct ynode *key,
			  const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_principals(w, path, val, &SOCK(obj)->allow, &SOCK(obj)->nallow);
}

static const struct cfg_field socket_fields[] = {
    {"path", f_socket_path},
    {"mode", f_socket_mode},
    {"group", f_socket_group},
    {"allow", f_socket_allow},
};

/* token */

static int f_token_module(struct cfg_walk *w, const char *path, const struct ynode *key,
			  const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_path(w, path, val, &C(obj)->token.module);
}

static int f_token_uri(struct cfg_walk *w, const char *path, const struct ynode *key,
		       const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_uri(w, path, val, "pkcs11:", &C(obj)->token.uri);
}

static int f_token_pin_file(struct cfg_walk *w, const char *path, const struct ynode *key,
			    const struct ynode *val, void *obj)
{
	if (C(obj)->token.pin_env != NULL)
		return cfg_err_at(w, key, "token: pin_file and pin_env are exclusive");
	/* A PIN pasted here by mistake must not reach the logs: never echo it. */
	if (val->kind == YN_SCALAR && !cfg_is_null(val) && val->s[0] != '/')
		return cfg_err_at(w, val, "%s: expected an absolute path (value not shown)", path);
	return cfg_get_path(w, path, val, &C(obj)->token.pin_file);
}

static int f_token_pin_env(struct cfg_walk *w, const char *path, const struct ynode *key,
			   const struct ynode *val, void *obj)
{
	const char *s = val->s;
	size_t i;

	if (C(obj)->token.pin_file != NULL)
		return cfg_err_at(w, key, "token: pin_file and pin_env are exclusive");
	if (cfg_get_string(w, path, val, 255, &C(obj)->token.pin_env) != 0)
		return -1;
	for (i = 0; i < val->len; i++) {
		if (s[i] == '_' || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		    (i > 0 && s[i] >= '0' && s[i] <= '9'))
			continue;
		return cfg_err_at(
		    w, val, "%s: expected an environment variable name (value not shown)", path);
	}
	return 0;
}

static int f_token_inline_pin(struct cfg_walk *w, const char *path, const struct ynode *key,
			      const struct ynode *val, void *obj)
{
	(void)path;
	(void)val; /* never echoed: it is a secret */
	(void)obj;
	return cfg_err_at(w, key, "token: an inline PIN is not allowed; use pin_file or pin_env");
}

static int f_token_sessions(struct cfg_walk *w, const char *path, const struct ynode *key,
			    const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_uint(w, path, val, 1, 64, &C(obj)->token.sessions);
}

static int f_token_allowed_modules(struct cfg_walk *w, const char *path, const struct ynode *key,
				   const struct ynode *val, void *obj)
{
	struct cfg *c = obj;

	(void)key;
	if (cfg_get_list(w, path, val, 1, CFG_MAX_PATHS) != 0)
		return -1;
	return cfg_get_string_list(w, path, val, CFG_MAX_PATHS, 0, &c->token.allowed_modules,
				   &c->token.nallowed_modules);
}

static const struct cfg_field token_fields[] = {
    {"module", f_token_module},	    {"uri", f_token_uri},
    {"pin_file", f_token_pin_file}, {"pin_env", f_token_pin_env},
    {"sessions", f_token_sessions}, {"allowed_modules", f_token_allowed_modules},
    {"pin", f_token_inline_pin},    {"user_pin", f_token_inline_pin},
    {"so_pin", f_token_inline_pin}, {"password", f_token_inline_pin},
};

/* revocation */

static int f_rev_crl(struct cfg_walk *w, const char *path, const struct ynode *key,
		     const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_string_list(w, path, val, CFG_MAX_PATHS, 0, &C(obj)->revocation.crl,
				   &C(obj)->revocation.ncrl);
}

static int f_rev_refresh(struct cfg_walk *w, const char *path, const struct ynode *key,
			 const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_duration(w, path, val, 1000, &C(obj)->revocation.refresh_ms);
}

static int f_rev_on_unavailable(struct cfg_walk *w, const char *path, const struct ynode *key,
				const struct ynode *val, void *obj)
{
	static const char *const names[] = {"refuse", "allow"};
	int v;

	(void)key;
	if (cfg_get_enum(w, path, val, names, 2, &v) != 0)
		return -1;
	C(obj)->revocation.on_unavailable = v == 1 ? CFG_CRL_ALLOW : CFG_CRL_REFUSE;
	return 0;
}

static int f_rev_fetch_cdp(struct cfg_walk *w, const char *path, const struct ynode *key,
			   const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_bool(w, path, val, &C(obj)->revocation.fetch_cdp);
}

static int f_rev_cache_dir(struct cfg_walk *w, const char *path, const struct ynode *key,
			   const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_path(w, path, val, &C(obj)->revocation.cache_dir);
}

static int f_rev_fetch_timeout(struct cfg_walk *w, const char *path, const struct ynode *key,
			       const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_duration(w, path, val, 1, &C(obj)->revocation.fetch_timeout_ms);
}

static const struct cfg_field revocation_fields[] = {
    {"crl", f_rev_crl},
    {"refresh", f_rev_refresh},
    {"on_unavailable", f_rev_on_unavailable},
    {"fetch_cdp", f_rev_fetch_cdp},
    {"cache_dir", f_rev_cache_dir},
    {"fetch_timeout", f_rev_fetch_timeout},
};

/* timestamp */

static int f_ts_urls(struct cfg_walk *w, const char *path, const struct ynode *key,
		     const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_string_list(w, path, val, CFG_MAX_URLS, 1, &C(obj)->timestamp.urls,
				   &C(obj)->timestamp.nurls);
}

static int f_ts_policy(struct cfg_walk *w, const char *path, const struct ynode *key,
		       const struct ynode *val, void *obj)
{
	static const char *const names[] = {"required", "optional", "off"};
	static const enum cfg_ts_policy pol[] = {CFG_TS_REQUIRED, CFG_TS_OPTIONAL, CFG_TS_OFF};
	int v;

	(void)key;
	if (cfg_get_enum(w, path, val, names, 3, &v) != 0)
		return -1;
	C(obj)->timestamp.policy = pol[v];
	w->policy_node = val;
	return 0;
}

static int f_ts_timeout(struct cfg_walk *w, const char *path, const struct ynode *key,
			const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_duration(w, path, val, 1, &C(obj)->timestamp.timeout_ms);
}

static int f_ts_retries(struct cfg_walk *w, const char *path, const struct ynode *key,
			const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_uint(w, path, val, 0, 10, &C(obj)->timestamp.retries);
}

static int f_ts_hash(struct cfg_walk *w, const char *path, const struct ynode *key,
		     const struct ynode *val, void *obj)
{
	static const char *const names[] = {"sha256", "sha384", "sha512"};
	static const unsigned bits[] = {CFG_MD_SHA256, CFG_MD_SHA384, CFG_MD_SHA512};
	int v;

	(void)key;
	if (cfg_get_enum(w, path, val, names, 3, &v) != 0)
		return -1;
	C(obj)->timestamp.hash = bits[v];
	return 0;
}

static int f_ts_ca(struct cfg_walk *w, const char *path, const struct ynode *key,
		   const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_path(w, path, val, &C(obj)->timestamp.ca);
}

static const struct cfg_field timestamp_fields[] = {
    {"urls", f_ts_urls},       {"policy", f_ts_policy}, {"timeout", f_ts_timeout},
    {"retries", f_ts_retries}, {"hash", f_ts_hash},	{"ca", f_ts_ca},
};

/* audit */

static int f_audit_path(struct cfg_walk *w, const char *path, const struct ynode *key,
			const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_path(w, path, val, &C(obj)->audit.path);
}

static int f_audit_max_size(struct cfg_walk *w, const char *path, const struct ynode *key,
			    const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_size(w, path, val, 64 * 1024, &C(obj)->audit.max_size);
}

static int f_audit_checkpoint_every(struct cfg_walk *w, const char *path, const struct ynode *key,
				    const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_uint(w, path, val, 1, 1000000, &C(obj)->audit.checkpoint_every);
}

static int f_audit_checkpoint_key(struct cfg_walk *w, const char *path, const struct ynode *key,
				  const struct ynode *val, void *obj)
{
	char q[CFG_QUOTE_MAX];

	(void)key;
	if (val->kind != YN_SCALAR || strlen(val->s) != val->len || cfg_check_key_name(val->s))
		return cfg_err_at(w, val, "%s: expected a key name, got %s", path,
				  cfg_describe(val, q, sizeof(q)));
	w->checkpoint_node = val;
	return cfg_get_string(w, path, val, CFG_MAX_KEY_NAME, &C(obj)->audit.checkpoint_key);
}

static const struct cfg_field audit_fields[] = {
    {"path", f_audit_path},
    {"max_size", f_audit_max_size},
    {"checkpoint_every", f_audit_checkpoint_every},
    {"checkpoint_key", f_audit_checkpoint_key},
};

/* limits */

static int f_lim_max_connections(struct cfg_walk *w, const char *path, const struct ynode *key,
				 const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_uint(w, path, val, 1, 65536, &C(obj)->limits.max_connections);
}

static int f_lim_max_conn_uid(struct cfg_walk *w, const char *path, const struct ynode *key,
			      const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_uint(w, path, val, 1, 65536, &C(obj)->limits.max_connections_per_uid);
}

static int f_lim_request_timeout(struct cfg_walk *w, const char *path, const struct ynode *key,
				 const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_duration(w, path, val, 1, &C(obj)->limits.request_timeout_ms);
}

static int f_lim_rate_per_uid(struct cfg_walk *w, const char *path, const struct ynode *key,
			      const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_get_uint(w, path, val, 0, 1000000, &C(obj)->limits.rate_per_uid);
}

static const struct cfg_field limits_fields[] = {
    {"max_connections", f_lim_max_connections},
    {"max_connections_per_uid", f_lim_max_conn_uid},
    {"request_timeout", f_lim_request_timeout},
    {"rate_per_uid", f_lim_rate_per_uid},
};

/* sections */

static int f_socket(struct cfg_walk *w, const char *path, const struct ynode *key,
		    const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_walk_map(w, path, val, socket_fields, NFIELDS(socket_fields), &C(obj)->socket,
			    NULL);
}

static int f_admin(struct cfg_walk *w, const char *path, const struct ynode *key,
		   const struct ynode *val, void *obj)
{
	(void)key;
	C(obj)->admin_set = 1;
	return cfg_walk_map(w, path, val, socket_fields, NFIELDS(socket_fields), &C(obj)->admin,
			    NULL);
}

static int f_token(struct cfg_walk *w, const char *path, const struct ynode *key,
		   const struct ynode *val, void *obj)
{
	struct cfg *c = obj;

	if (cfg_walk_map(w, path, val, token_fields, NFIELDS(token_fields), obj, NULL) != 0)
		return -1;
	if (c->token.module == NULL)
		return cfg_err_at(w, key, "token: module is required");
	if (c->token.uri == NULL)
		return cfg_err_at(w, key, "token: uri is required");
	if (c->token.pin_file == NULL && c->token.pin_env == NULL)
		return cfg_err_at(w, key, "token: pin_file or pin_env is required");
	return 0;
}

static int f_revocation(struct cfg_walk *w, const char *path, const struct ynode *key,
			const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_walk_map(w, path, val, revocation_fields, NFIELDS(revocation_fields), obj, NULL);
}

static int f_timestamp(struct cfg_walk *w, const char *path, const struct ynode *key,
		       const struct ynode *val, void *obj)
{
	struct cfg *c = obj;

	(void)key;
	if (cfg_walk_map(w, path, val, timestamp_fields, NFIELDS(timestamp_fields), obj, NULL) != 0)
		return -1;
	if (c->timestamp.policy != CFG_TS_OFF && c->timestamp.nurls == 0)
		return cfg_err_at(w, w->policy_node,
				  "timestamp.policy: %s needs at least one URL in timestamp.urls",
				  c->timestamp.policy == CFG_TS_REQUIRED ? "required" : "optional");
	return 0;
}

static int f_audit(struct cfg_walk *w, const char *path, const struct ynode *key,
		   const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_walk_map(w, path, val, audit_fields, NFIELDS(audit_fields), obj, NULL);
}

static int f_limits(struct cfg_walk *w, const char *path, const struct ynode *key,
		    const struct ynode *val, void *obj)
{
	(void)key;
	return cfg_walk_map(w, path, val, limits_fields, NFIELDS(limits_fields), obj, NULL);
}

static int f_keys(struct cfg_walk *w, const char *path, const struct ynode *key,
		  const struct ynode *val, void *obj)
{
	(void)path;
	(void)obj;
	return cfg_walk_keys(w, key, val);
}

enum { TOP_TOKEN = 1, TOP_KEYS = 2 };
static const struct cfg_field top_fields[] = {
    {"socket", f_socket},	  {"token", f_token},	      {"keys", f_keys},
    {"revocation", f_revocation}, {"timestamp", f_timestamp}, {"audit", f_audit},
    {"limits", f_limits},	  {"admin", f_admin},
};

int cfg_walk_top(struct cfg_walk *w, const struct ynode *root)
{
	unsigned char seen[NFIELDS(top_fields)];
	struct cfg *c = w->c;
	char q[CFG_QUOTE_MAX];
	size_t i;

	if (cfg_walk_map(w, "", root, top_fields, NFIELDS(top_fields), c, seen) != 0)
		return -1;
	if (!seen[TOP_TOKEN])
		return cfg_err_at(w, root, "token: this section is required");
	if (!seen[TOP_KEYS])
		return cfg_err_at(w, root, "keys: at least one key is required");
	if (c->audit.checkpoint_key != NULL) {
		for (i = 0; i < c->nkeys; i++)
			if (strcmp(c->keys[i].name, c->audit.checkpoint_key) == 0)
				return 0;
		cfg_quote(c->audit.checkpoint_key, strlen(c->audit.checkpoint_key), q, sizeof(q));
		return cfg_err_at(w, w->checkpoint_node, "audit.checkpoint_key: no key named %s",
				  q);
	}
	return 0;
}
