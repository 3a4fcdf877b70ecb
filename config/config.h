/*
 * signerd.yaml (v1) loader. Every error names FILE:LINE:COLUMN. Unknown keys
 * and wrong types are errors; an inline PIN is refused. The loader validates
 * syntax and values only: it never touches the token or certificate files.
 */
#ifndef SD_CONFIG_H
#define SD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

#define CFG_DEFAULT_PATH      "/etc/signerd/signerd.yaml"
#define CFG_DEFAULT_SOCKET    "/run/signerd/signerd.sock"
#define CFG_DEFAULT_CRL_CACHE "/var/lib/signerd/crl" /* revocation.cache_dir */

/* Digest algorithm bits for cfg_key.digests. */
enum {
	CFG_MD_SHA1 = 1u << 0,
	CFG_MD_SHA256 = 1u << 1,
	CFG_MD_SHA384 = 1u << 2,
	CFG_MD_SHA512 = 1u << 3,
};
#define CFG_MD_DEFAULT (CFG_MD_SHA256 | CFG_MD_SHA384 | CFG_MD_SHA512)

/* What a key may sign (keys[].sign). */
enum {
	CFG_SUBJ_CAB = 1u << 0,	   /* SIGN_CAB */
	CFG_SUBJ_SCRIPT = 1u << 1, /* SIGN_SCRIPT */
};

/* "sha256" -> CFG_MD_SHA256; 0 when unknown. */
unsigned cfg_md_bit(const char *name);
/* CFG_MD_SHA256 -> "sha256"; "?" when not exactly one known bit. */
const char *cfg_md_name(unsigned bit);

/* One allow rule: a user or a group, resolved to a numeric id at load time. */
struct cfg_principal {
	int is_group;
	uint32_t id; /* uid or gid */
	char *name;  /* as written */
};

enum cfg_key_state { CFG_KEY_ACTIVE = 0, CFG_KEY_RETIRED = 1 };
enum cfg_on_unavailable { CFG_CRL_REFUSE = 0, CFG_CRL_ALLOW = 1 };
enum cfg_ts_policy { CFG_TS_OFF = 0, CFG_TS_OPTIONAL = 1, CFG_TS_REQUIRED = 2 };

struct cfg_key {
	char *name;	   /* required, unique, 1..127 printable chars */
	char *uri;	   /* required pkcs11: URI */
	char *certificate; /* optional path; NULL: read from the token */
	char *chain;	   /* optional path */
	int is_default;
	enum cfg_key_state state;
	struct cfg_principal *allow; /* NULL/0: no per-key rule */
	size_t nallow;
	unsigned digests;	 /* CFG_MD_* bits; default CFG_MD_DEFAULT */
	uint64_t min_validity_s; /* default 0 */
	unsigned subjects;	 /* CFG_SUBJ_* bits: what it may sign; default CFG_SUBJ_CAB */
	int ts_policy;		 /* enum cfg_ts_policy, or -1 (default): timestamp.policy */
	int ts_line, ts_col;	 /* where ts_policy was set, for messages */
	int line;		 /* where the entry starts, for messages */
};

/* A listening Unix socket: where, file mode and group, and who may connect. */
struct cfg_socket {
	char *path;
	uint32_t mode; /* written as a quoted octal string "0660" */
	char *group;   /* optional */
	int has_group;
	uint32_t gid; /* resolved when has_group */
	struct cfg_principal *allow;
	size_t nallow;
};

struct cfg {
	char *path;		  /* file the config was read from (or the name given) */
	struct cfg_socket socket; /* path default CFG_DEFAULT_SOCKET, mode 0660 */
	/*
	 * The admin channel (FREEZE, THAW, RETIRE, RELOAD). path default:
	 * admin.sock beside socket.path; mode 0600; allow default: root only.
	 */
	struct cfg_socket admin;
	int admin_set; /* an admin: section was given */
	struct {
		char *module;	/* required */
		char *uri;	/* required pkcs11: URI naming the token */
		char *pin_file; /* exactly one of pin_file / pin_env */
		char *pin_env;
		unsigned sessions;	/* default 4, 1..64 */
		char **allowed_modules; /* default: the two Debian directories */
		size_t nallowed_modules;
	} token;
	struct cfg_key *keys; /* at least one; at most one default (if none, the first key) */
	size_t nkeys;
	struct {
		char **crl;
		size_t ncrl;
		uint64_t refresh_ms;			/* default 300s */
		enum cfg_on_unavailable on_unavailable; /* default refuse */
		int fetch_cdp;				/* default 0 */
		char *cache_dir;	   /* fetched CRLs; default CFG_DEFAULT_CRL_CACHE */
		uint64_t fetch_timeout_ms; /* per CDP URL; default 10s */
	} revocation;
	struct {
		char **urls;
		size_t nurls;
		enum cfg_ts_policy policy; /* default off */
		uint64_t timeout_ms;	   /* default 10s */
		unsigned retries;	   /* default 2 */
		unsigned hash;		   /* one CFG_MD_* bit; default CFG_MD_SHA256 */
		char *ca;
	} timestamp;
	struct {
		char *path;		   /* optional: NULL = no audit log */
		uint64_t max_size;	   /* default 256MiB */
		unsigned checkpoint_every; /* default 1000 */
		char *
		    checkpoint_key; /* optional: name of an entry in keys; NULL = the default key */
	} audit;
	struct {
		unsigned max_connections;	  /* default 256 */
		unsigned max_connections_per_uid; /* default 64 */
		uint64_t request_timeout_ms;	  /* default 10s */
		unsigned rate_per_uid;		  /* default 0 = unlimited */
	} limits;
};

/* Limits enforced by the loader. */
#define CFG_MAX_FILE_SIZE (1024 * 1024) /* bytes of YAML */
#define CFG_MAX_KEYS	  64
#define CFG_MAX_ALLOW	  64  /* allow rules per list */
#define CFG_MAX_PATHS	  64  /* crl, allowed_modules */
#define CFG_MAX_URLS	  16  /* timestamp.urls */
#define CFG_MAX_KEY_NAME  127 /* printable ASCII, no space, no '/' */
#define CFG_MAX_URI	  1023

/*
 * How allow rules and socket.group turn names into ids. Each callback returns
 * 0 and sets *id when the name exists, 1 when it does not, and -1 when the
 * lookup itself failed. A name made only of digits never reaches a callback:
 * it is taken as the numeric id. A NULL resolver (or NULL callback) means the
 * system databases through getpwnam_r / getgrnam_r. Tests and the fuzz target
 * inject their own so that results do not depend on the machine.
 */
struct cfg_resolver {
	int (*user)(void *ctx, const char *name, uint32_t *uid);
	int (*group)(void *ctx, const char *name, uint32_t *gid);
	void *ctx;
};

/*
 * Load and validate. On error *out is NULL and e->msg is "FILE:LINE:COL: what"
 * (file-level problems, such as a missing or oversized file, are reported at
 * 1:1). After a successful load exactly one key has is_default set: the one
 * marked default: true, else the first.
 */
int cfg_load_file(const char *path, struct cfg **out, struct sd_err *e);
/* Same, from memory; name is used in messages (for tests and fuzzing). */
int cfg_load_buffer(const char *name, const uint8_t *p, size_t n, struct cfg **out,
		    struct sd_err *e);
/* The same with an explicit name resolver (NULL: the system databases). */
int cfg_load_file_ex(const char *path, const struct cfg_resolver *r, struct cfg **out,
		     struct sd_err *e);
int cfg_load_buffer_ex(const char *name, const uint8_t *p, size_t n, const struct cfg_resolver *r,
		       struct cfg **out, struct sd_err *e);
void cfg_free(struct cfg *c);

/* The default key (is_default, else the first), never NULL for a loaded config. */
const struct cfg_key *cfg_default_key(const struct cfg *c);

/* The timestamp policy for signatures by k: its own timestamp: or timestamp.policy. */
enum cfg_ts_policy cfg_key_ts_policy(const struct cfg *c, const struct cfg_key *k);

/* Some key's signatures are timestamped (its policy is not off). */
int cfg_uses_timestamps(const struct cfg *c);

/*
 * "500ms", "10s", "5m", "2h", "30d" -> milliseconds. Decimal digits then one
 * unit, nothing else (no sign, space or fraction); -1 on junk or overflow.
 */
int cfg_parse_duration(const char *s, uint64_t *ms);
/*
 * "512", "64KiB", "256MiB", "1GiB", "1TiB" -> bytes. Only binary units: "KB"
 * or "MB" are refused as ambiguous. -1 on junk or overflow.
 */
int cfg_parse_size(const char *s, uint64_t *bytes);

#endif
