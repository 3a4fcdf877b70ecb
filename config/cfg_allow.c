/* allow rules: {user: NAME} / {group: NAME}, resolved to ids at load time. */
#include "config/cfg_int.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME_MAX_LEN 255
#define NSS_BUF_MAX  (1024 * 1024)

static int not_found_errno(int rc)
{
	return rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM;
}

/* 0 found, 1 no such name, -1 lookup failure. */
static int sys_lookup(const char *name, int is_group, uint32_t *id)
{
	struct passwd pw, *pwr = NULL;
	struct group gr, *grr = NULL;
	long hint = sysconf(is_group ? _SC_GETGR_R_SIZE_MAX : _SC_GETPW_R_SIZE_MAX);
	size_t sz = hint > 0 && hint < NSS_BUF_MAX ? (size_t)hint : 4096;
	char *buf = NULL, *nb;
	int rc, ret = -1;

	for (;;) {
		nb = realloc(buf, sz);
		if (nb == NULL)
			goto out;
		buf = nb;
		if (is_group)
			rc = getgrnam_r(name, &gr, buf, sz, &grr);
		else
			rc = getpwnam_r(name, &pw, buf, sz, &pwr);
		if (rc != ERANGE)
			break;
		if (sz >= NSS_BUF_MAX)
			goto out;
		sz *= 2;
	}
	if (is_group && grr != NULL) {
		*id = (uint32_t)grr->gr_gid;
		ret = 0;
	} else if (!is_group && pwr != NULL) {
		*id = (uint32_t)pwr->pw_uid;
		ret = 0;
	} else {
		ret = not_found_errno(rc) ? 1 : -1;
	}
out:
	free(buf);
	return ret;
}

int cfg_resolve_id(struct cfg_walk *w, const char *path, const struct ynode *n, int is_group,
		   uint32_t *id)
{
	const char *kind = is_group ? "group" : "user";
	char q[CFG_QUOTE_MAX];
	uint64_t v = 0;
	size_t i;
	int r;

	if (n->kind != YN_SCALAR || cfg_is_null(n) || n->len == 0 || strlen(n->s) != n->len ||
	    n->len > NAME_MAX_LEN) {
		char what[64];

		snprintf(what, sizeof(what), "a %s name or numeric id", kind);
		return cfg_err_at(w, n, "%s: expected %s, got %s", path, what,
				  cfg_describe(n, q, sizeof(q)));
	}
	cfg_quote(n->s, n->len, q, sizeof(q));
	for (i = 0; i < n->len && n->s[i] >= '0' && n->s[i] <= '9'; i++) {
		v = v * 10 + (uint64_t)(n->s[i] - '0');
		if (v >= UINT32_MAX) /* (uid_t)-1 is not an id */
			return cfg_err_at(w, n, "%s: %s id %s is out of range", path, kind, q);
	}
	if (i == n->len) {
		*id = (uint32_t)v;
		return 0;
	}
	for (i = 0; i < n->len; i++)
		if ((unsigned char)n->s[i] <= 0x20 || n->s[i] == 0x7f || n->s[i] == ':')
			return cfg_err_at(w, n, "%s: invalid %s name %s", path, kind, q);
	if (is_group && w->res != NULL && w->res->group != NULL)
		r = w->res->group(w->res->ctx, n->s, id);
	else if (!is_group && w->res != NULL && w->res->user != NULL)
		r = w->res->user(w->res->ctx, n->s, id);
	else
		r = sys_lookup(n->s, is_group, id);
	if (r == 1)
		return cfg_err_at(w, n, "%s: unknown %s %s", path, kind, q);
	if (r != 0)
		return cfg_err_at(w, n, "%s: cannot look up %s %s", path, kind, q);
	return 0;
}

void cfg_free_principals(struct cfg_principal *p, size_t n)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < n; i++)
		free(p[i].name);
	free(p);
}

static int set_principal(struct cfg_walk *w, const char *path, const struct ynode *key,
			 const struct ynode *val, struct cfg_principal *p, int is_group)
{
	char *name;

	if (p->name != NULL)
		return cfg_err_at(w, key, "%s: a rule names either a user or a group, not both",
				  path);
	if (cfg_resolve_id(w, path, val, is_group, &p->id) != 0)
		return -1;
	name = strdup(val->s);
	if (name == NULL)
		return cfg_err_at(w, val, "out of memory");
	p->name = name;
	p->is_group = is_group;
	return 0;
}

static int f_user(struct cfg_walk *w, const char *path, const struct ynode *key,
		  const struct ynode *val, void *obj)
{
	return set_principal(w, path, key, val, obj, 0);
}

static int f_group(struct cfg_walk *w, const char *path, const struct ynode *key,
		   const struct ynode *val, void *obj)
{
	return set_principal(w, path, key, val, obj, 1);
}

static const struct cfg_field rule_fields[] = {
    {"user", f_user},
    {"group", f_group},
};

int cfg_get_principals(struct cfg_walk *w, const char *path, const struct ynode *n,
		       struct cfg_principal **out, size_t *nout)
{
	struct cfg_principal *v = NULL;
	char ipath[256];
	size_t i, cnt = 0;
	int ret = -1;

	if (cfg_get_list(w, path, n, 0, CFG_MAX_ALLOW) != 0)
		return -1;
	v = calloc(n->nkids ? n->nkids : 1, sizeof(*v));
	if (v == NULL)
		return cfg_err_at(w, n, "out of memory");
	cnt = n->nkids;
	for (i = 0; i < n->nkids; i++) {
		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		if (cfg_walk_map(w, ipath, n->kids[i], rule_fields, 2, &v[i], NULL) != 0)
			goto out;
		if (v[i].name == NULL) {
			cfg_err_at(w, n->kids[i], "%s: expected {user: NAME} or {group: NAME}",
				   ipath);
			goto out;
		}
	}
	cfg_free_principals(*out, *nout);
	*out = cnt ? v : NULL;
	*nout = cnt;
	if (cnt)
		v = NULL;
	ret = 0;
out:
	cfg_free_principals(v, cnt);
	return ret;
}
