/* Internal to config/: the YAML node tree, error helpers and typed getters. */
#ifndef SD_CFG_INT_H
#define SD_CFG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "config/config.h"

#define CFG_MAX_DEPTH 32
#define CFG_MAX_NODES 65536

/* Error code carried by every configuration error. */
#define CFG_ECODE SD_E_INTERNAL

enum ynode_kind { YN_SCALAR, YN_SEQ, YN_MAP };

/* One YAML node with its 1-based position. */
struct ynode {
	enum ynode_kind kind;
	int line, col;
	int plain;	     /* scalar written without quotes */
	char *s;	     /* scalar text, NUL-terminated */
	size_t len;	     /* scalar length (may differ from strlen when it holds a NUL) */
	struct ynode **kids; /* list items; mapping: key, value, key, value, ... */
	size_t nkids, cap;
};

/*
 * Parse exactly one YAML document into a tree. Aliases and tags are refused,
 * mapping keys must be scalars, depth and node count are bounded.
 * *root is NULL for an empty stream.
 */
int cfg_yaml_parse(const char *file, const uint8_t *p, size_t n, struct ynode **root,
		   struct sd_err *e);
void cfg_ynode_free(struct ynode *n);

/* "FILE:LINE:COL: message" */
int cfg_errf(struct sd_err *e, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Escape s into out as a double-quoted, printable, length-bounded string. */
void cfg_quote(const char *s, size_t len, char *out, size_t outsz);
#define CFG_QUOTE_MAX 96

/* A plain empty, "~" or "null" scalar. */
int cfg_is_null(const struct ynode *n);

struct cfg_walk {
	const char *file;
	struct sd_err *e;
	const struct cfg_resolver *res;
	struct cfg *c;
	const struct ynode *policy_node;     /* timestamp.policy value */
	const struct ynode *checkpoint_node; /* audit.checkpoint_key value */
};

int cfg_err_at(const struct cfg_walk *w, const struct ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "a list", "a mapping", "an empty value" or the quoted scalar, for "got ..." */
const char *cfg_describe(const struct ynode *n, char *buf, size_t bufsz);

/*
 * Handler for one mapping key. path names the value ("token.sessions"), key is
 * the key node (for positions), obj the structure being filled.
 */
typedef int (*cfg_field_fn)(struct cfg_walk *w, const char *path, const struct ynode *key,
			    const struct ynode *val, void *obj);
struct cfg_field {
	const char *key;
	cfg_field_fn fn;
};

/*
 * Walk a mapping: unknown and duplicate keys are errors, each known key goes
 * to its handler. path names the mapping ("" for the top level). seen, when
 * not NULL, receives one flag per field (nf entries).
 */
int cfg_walk_map(struct cfg_walk *w, const char *path, const struct ynode *map,
		 const struct cfg_field *f, size_t nf, void *obj, unsigned char *seen);

/* Typed scalars. Each reports "PATH: expected ..., got ..." at the node. */
int cfg_get_string(struct cfg_walk *w, const char *path, const struct ynode *n, size_t maxlen,
		   char **out);
int cfg_get_path(struct cfg_walk *w, const char *path, const struct ynode *n, char **out);
int cfg_get_uri(struct cfg_walk *w, const char *path, const struct ynode *n, const char *scheme,
		char **out);
int cfg_get_uint(struct cfg_walk *w, const char *path, const struct ynode *n, unsigned min,
		 unsigned max, unsigned *out);
int cfg_get_bool(struct cfg_walk *w, const char *path, const struct ynode *n, int *out);
int cfg_get_duration(struct cfg_walk *w, const char *path, const struct ynode *n, uint64_t min_ms,
		     uint64_t *out);
int cfg_get_size(struct cfg_walk *w, const char *path, const struct ynode *n, uint64_t min,
		 uint64_t *out);
/* One of names[] (n of them) -> its index; "expected a, b or c, got ..." */
int cfg_get_enum(struct cfg_walk *w, const char *path, const struct ynode *n,
		 const char *const *names, size_t nnames, int *out);
/* n must be a list of at most max items (min items at least). */
int cfg_get_list(struct cfg_walk *w, const char *path, const struct ynode *n, size_t min,
		 size_t max);
/* A list of absolute paths (scheme NULL) or of URLs starting with one of "http://", "https://". */
int cfg_get_string_list(struct cfg_walk *w, const char *path, const struct ynode *n, size_t max,
			int urls, char ***out, size_t *nout);
void cfg_free_strings(char **v, size_t n);

/* allow: [ {user: NAME} | {group: NAME} ... ] */
int cfg_get_principals(struct cfg_walk *w, const char *path, const struct ynode *n,
		       struct cfg_principal **out, size_t *nout);
void cfg_free_principals(struct cfg_principal *p, size_t n);
/* A user or group name (or numeric id) to an id, errors at n. */
int cfg_resolve_id(struct cfg_walk *w, const char *path, const struct ynode *n, int is_group,
		   uint32_t *id);

/* Sections. */
int cfg_walk_top(struct cfg_walk *w, const struct ynode *root);
int cfg_walk_keys(struct cfg_walk *w, const struct ynode *key, const struct ynode *val);
int cfg_check_key_name(const char *s);

#endif
