/* Public entry points: defaults, load, free. */
#include "config/cfg_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/file.h"

static const char *const default_modules[] = {
    "/usr/lib/x86_64-linux-gnu/pkcs11/",
    "/usr/lib/x86_64-linux-gnu/softhsm/",
};

static void free_key(struct cfg_key *k)
{
	free(k->name);
	free(k->uri);
	free(k->certificate);
	free(k->chain);
	cfg_free_principals(k->allow, k->nallow);
}

void cfg_free(struct cfg *c)
{
	size_t i;

	if (c == NULL)
		return;
	free(c->path);
	free(c->socket.path);
	free(c->socket.group);
	cfg_free_principals(c->socket.allow, c->socket.nallow);
	free(c->admin.path);
	free(c->admin.group);
	cfg_free_principals(c->admin.allow, c->admin.nallow);
	free(c->token.module);
	free(c->token.uri);
	free(c->token.pin_file);
	free(c->token.pin_env);
	cfg_free_strings(c->token.allowed_modules, c->token.nallowed_modules);
	for (i = 0; c->keys != NULL && i < c->nkeys; i++)
		free_key(&c->keys[i]);
	free(c->keys);
	cfg_free_strings(c->revocation.crl, c->revocation.ncrl);
	free(c->revocation.cache_dir);
	cfg_free_strings(c->timestamp.urls, c->timestamp.nurls);
	free(c->timestamp.ca);
	free(c->audit.path);
	free(c->audit.checkpoint_key);
	free(c);
}

/* admin.sock in socket.path's directory. */
static int default_admin_path(struct cfg *c)
{
	const char *slash = strrchr(c->socket.path, '/');
	size_t dl = slash ? (size_t)(slash - c->socket.path) + 1 : 0;
	char buf[108];

	if (dl + sizeof("admin.sock") > sizeof(buf))
		return -1;
	memcpy(buf, c->socket.path, dl);
	memcpy(buf + dl, "admin.sock", sizeof("admin.sock"));
	c->admin.path = strdup(buf);
	return c->admin.path == NULL ? -1 : 0;
}

static struct cfg *cfg_new(const char *name)
{
	const size_t nmod = sizeof(default_modules) / sizeof(default_modules[0]);
	struct cfg *c = calloc(1, sizeof(*c));
	size_t i;

	if (c == NULL)
		return NULL;
	c->path = strdup(name);
	c->socket.path = strdup(CFG_DEFAULT_SOCKET);
	c->socket.mode = 0660;
	c->admin.mode = 0600;
	c->token.sessions = 4;
	c->token.allowed_modules = calloc(nmod, sizeof(char *));
	if (c->path == NULL || c->socket.path == NULL || c->token.allowed_modules == NULL)
		goto fail;
	c->token.nallowed_modules = nmod;
	for (i = 0; i < nmod; i++)
		if ((c->token.allowed_modules[i] = strdup(default_modules[i])) == NULL)
			goto fail;
	c->revocation.refresh_ms = 300 * 1000;
	c->revocation.on_unavailable = CFG_CRL_REFUSE;
	c->revocation.cache_dir = strdup(CFG_DEFAULT_CRL_CACHE);
	c->revocation.fetch_timeout_ms = 10 * 1000;
	if (c->revocation.cache_dir == NULL)
		goto fail;
	c->timestamp.policy = CFG_TS_OFF;
	c->timestamp.timeout_ms = 10 * 1000;
	c->timestamp.retries = 2;
	c->timestamp.hash = CFG_MD_SHA256;
	c->audit.max_size = 256ull << 20;
	c->audit.checkpoint_every = 1000;
	c->limits.max_connections = 256;
	c->limits.max_connections_per_uid = 64;
	c->limits.request_timeout_ms = 10 * 1000;
	c->limits.rate_per_uid = 0;
	return c;
fail:
	cfg_free(c);
	return NULL;
}

/* A key may ask for timestamps only when there is a TSA to ask. */
static int check_key_timestamps(const struct cfg *c, struct sd_err *e)
{
	const struct cfg_key *k;
	size_t i;

	for (i = 0; i < c->nkeys; i++) {
		k = &c->keys[i];
		if (k->ts_policy > (int)CFG_TS_OFF && c->timestamp.nurls == 0)
			return cfg_errf(e, c->path, k->ts_line, k->ts_col,
					"keys[%zu].timestamp: %s needs at least one URL in "
					"timestamp.urls",
					i,
					k->ts_policy == CFG_TS_REQUIRED ? "required" : "optional");
	}
	return 0;
}

int cfg_load_buffer_ex(const char *name, const uint8_t *p, size_t n, const struct cfg_resolver *r,
		       struct cfg **out, struct sd_err *e)
{
	struct ynode *root = NULL;
	struct cfg *c = NULL;
	struct cfg_walk w;
	int ret = -1;

	*out = NULL;
	if (name == NULL)
		name = "(config)";
	if (p == NULL)
		n = 0;
	if (n > CFG_MAX_FILE_SIZE) {
		cfg_errf(e, name, 1, 1, "the file is larger than 1 MiB (%zu bytes)", n);
		goto out;
	}
	if (cfg_yaml_parse(name, n ? p : (const uint8_t *)"", n, &root, e) != 0)
		goto out;
	if (root == NULL) {
		cfg_errf(e, name, 1, 1, "the configuration is empty");
		goto out;
	}
	c = cfg_new(name);
	if (c == NULL) {
		cfg_errf(e, name, 1, 1, "out of memory");
		goto out;
	}
	memset(&w, 0, sizeof(w));
	w.file = name;
	w.e = e;
	w.res = r;
	w.c = c;
	if (cfg_walk_top(&w, root) != 0)
		goto out;
	if (check_key_timestamps(c, e) != 0)
		goto out;
	if (c->admin.path == NULL && default_admin_path(c) != 0) {
		cfg_errf(e, name, 1, 1, "socket.path is too long to derive admin.path from");
		goto out;
	}
	*out = c;
	c = NULL;
	ret = 0;
out:
	cfg_free(c);
	cfg_ynode_free(root);
	return ret;
}

int cfg_load_buffer(const char *name, const uint8_t *p, size_t n, struct cfg **out,
		    struct sd_err *e)
{
	return cfg_load_buffer_ex(name, p, n, NULL, out, e);
}

int cfg_load_file_ex(const char *path, const struct cfg_resolver *r, struct cfg **out,
		     struct sd_err *e)
{
	struct sd_err fe;
	uint8_t *data = NULL;
	size_t len = 0, pl;
	const char *why;
	int ret;

	*out = NULL;
	if (path == NULL)
		return cfg_errf(e, "(config)", 1, 1, "no configuration file given");
	pl = strlen(path);
	memset(&fe, 0, sizeof(fe));
	if (sd_read_file(path, CFG_MAX_FILE_SIZE, &data, &len, &fe) != 0) {
		/* sd_read_file says "PATH: why"; keep the why. */
		why = fe.msg;
		if (strncmp(why, path, pl) == 0 && why[pl] == ':' && why[pl + 1] == ' ')
			why += pl + 2;
		return cfg_errf(e, path, 1, 1, "%s", why);
	}
	ret = cfg_load_buffer_ex(path, data, len, r, out, e);
	free(data);
	return ret;
}

int cfg_load_file(const char *path, struct cfg **out, struct sd_err *e)
{
	return cfg_load_file_ex(path, NULL, out, e);
}

enum cfg_ts_policy cfg_key_ts_policy(const struct cfg *c, const struct cfg_key *k)
{
	if (k != NULL && k->ts_policy >= 0)
		return (enum cfg_ts_policy)k->ts_policy;
	return c->timestamp.policy;
}

int cfg_uses_timestamps(const struct cfg *c)
{
	size_t i;

	for (i = 0; i < c->nkeys; i++)
		if (cfg_key_ts_policy(c, &c->keys[i]) != CFG_TS_OFF)
			return 1;
	return 0;
}

const struct cfg_key *cfg_default_key(const struct cfg *c)
{
	size_t i;

	if (c == NULL || c->nkeys == 0)
		return NULL;
	for (i = 0; i < c->nkeys; i++)
		if (c->keys[i].is_default)
			return &c->keys[i];
	return &c->keys[0];
}
