/* Unit tests for config/: signerd.yaml v1 loader, durations and sizes. */
#include <CUnit/Basic.h>

#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

/* Names the tests resolve, independent of the machine's passwd/group. */
struct fake_id {
	const char *name;
	uint32_t id;
};

static const struct fake_id fake_users[] = {
    {"wsus-publisher", 1001},
    {"alice", 1002},
};
static const struct fake_id fake_groups[] = {
    {"publishers", 2001},
    {"ops", 2002},
    {"signerd-publishers", 2003}, /* deploy/sysusers.d's group, named by config/signerd.yaml */
};

static int fake_lookup(const struct fake_id *t, size_t n, const char *name, uint32_t *id)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(t[i].name, name) == 0) {
			*id = t[i].id;
			return 0;
		}
	}
	return strcmp(name, "lookup-fails") == 0 ? -1 : 1;
}

static int fake_user(void *ctx, const char *name, uint32_t *id)
{
	(void)ctx;
	return fake_lookup(fake_users, sizeof(fake_users) / sizeof(fake_users[0]), name, id);
}

static int fake_group(void *ctx, const char *name, uint32_t *id)
{
	(void)ctx;
	return fake_lookup(fake_groups, sizeof(fake_groups) / sizeof(fake_groups[0]), name, id);
}

static const struct cfg_resolver fake = {fake_user, fake_group, NULL};

/* The smallest valid config: 4 lines of token, 3 of keys. */
#define TOK                                                                                        \
	"token:\n"                                                                                 \
	"  module: /m.so\n"                                                                        \
	"  uri: \"pkcs11:token=t\"\n"                                                              \
	"  pin_file: /p\n"
#define KEYS                                                                                       \
	"keys:\n"                                                                                  \
	"  - name: k\n"                                                                            \
	"    uri: \"pkcs11:object=k\"\n"

static int load_str(const char *yaml, struct cfg **c, struct sd_err *e)
{
	return cfg_load_buffer_ex("t.yaml", (const uint8_t *)yaml, strlen(yaml), &fake, c, e);
}

/* Assert that yaml is refused with exactly msg. */
static void expect_err_at(const char *yaml, const char *msg, int srcline)
{
	struct cfg *c = (struct cfg *)1;
	struct sd_err e;
	int r;

	memset(&e, 0, sizeof(e));
	r = load_str(yaml, &c, &e);
	CU_ASSERT_EQUAL(r, -1);
	CU_ASSERT_PTR_NULL(c);
	if (r == 0)
		cfg_free(c);
	if (strcmp(e.msg, msg) != 0)
		fprintf(stderr, "\n  test line %d:\n    want: %s\n    got:  %s\n", srcline, msg,
			e.msg);
	CU_ASSERT_STRING_EQUAL(e.msg, msg);
}
#define expect_err(y, m) expect_err_at((y), (m), __LINE__)

static struct cfg *expect_ok_at(const char *yaml, int srcline)
{
	struct cfg *c = NULL;
	struct sd_err e;

	memset(&e, 0, sizeof(e));
	if (load_str(yaml, &c, &e) != 0)
		fprintf(stderr, "\n  test line %d: unexpected error: %s\n", srcline, e.msg);
	CU_ASSERT_PTR_NOT_NULL(c);
	return c;
}
#define expect_ok(y) expect_ok_at((y), __LINE__)

static char *data_path(const char *rel)
{
	const char *base = getenv("SD_TEST_DATA");
	char *p = NULL;

	if (base == NULL)
		base = "tests/data";
	if (asprintf(&p, "%s/%s", base, rel) < 0)
		return NULL;
	return p;
}

/* ---------- durations, sizes, digests ---------- */

static void test_duration(void)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} ok[] = {
	    {"500ms", 500},
	    {"0s", 0},
	    {"10s", 10000},
	    {"5m", 300000},
	    {"2h", 7200000},
	    {"30d", 2592000000ull},
	    {"007s", 7000},
	    {"18446744073709551615ms", UINT64_MAX},
	    {"18446744073709551s", 18446744073709551000ull},
	    {"213503982334d", 213503982334ull * 86400000ull},
	};
	static const char *const bad[] = {
	    "",
	    "10",
	    "s",
	    "ms",
	    "-1s",
	    "+1s",
	    "1.5s",
	    "10 s",
	    "10S",
	    "10sec",
	    " 10s",
	    "10s ",
	    "1ms1",
	    "1s1s",
	    "1y",
	    "0x10s",
	    "18446744073709551616ms",
	    "18446744073709552s",
	    "213503982335d",
	    "99999999999999999999999999d",
	};
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 1;
		CU_ASSERT_EQUAL_FATAL(cfg_parse_duration(ok[i].s, &v), 0);
		CU_ASSERT_EQUAL(v, ok[i].ms);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 42;
		if (cfg_parse_duration(bad[i], &v) != -1)
			fprintf(stderr, "\n  duration %s accepted\n", bad[i]);
		CU_ASSERT_EQUAL(cfg_parse_duration(bad[i], &v), -1);
		CU_ASSERT_EQUAL(v, 42);
	}
	CU_ASSERT_EQUAL(cfg_parse_duration(NULL, &v), -1);
}

static void test_size(void)
{
	static const struct {
		const char *s;
		uint64_t n;
	} ok[] = {
	    {"0", 0},
	    {"512", 512},
	    {"64KiB", 65536},
	    {"256MiB", 268435456},
	    {"1GiB", 1073741824},
	    {"2TiB", 2199023255552ull},
	    {"18446744073709551615", UINT64_MAX},
	    {"16777215TiB", 16777215ull << 40},
	};
	static const char *const bad[] = {
	    "",
	    "KiB",
	    "10MB",
	    "10KB",
	    "10kib",
	    "10K",
	    "10M",
	    "1.5GiB",
	    "-1",
	    "0x10",
	    " 1",
	    "1 ",
	    "1 KiB",
	    "18446744073709551616",
	    "16777216TiB",
	    "1B",
	};
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 1;
		CU_ASSERT_EQUAL_FATAL(cfg_parse_size(ok[i].s, &v), 0);
		CU_ASSERT_EQUAL(v, ok[i].n);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 42;
		if (cfg_parse_size(bad[i], &v) != -1)
			fprintf(stderr, "\n  size %s accepted\n", bad[i]);
		CU_ASSERT_EQUAL(cfg_parse_size(bad[i], &v), -1);
		CU_ASSERT_EQUAL(v, 42);
	}
	CU_ASSERT_EQUAL(cfg_parse_size(NULL, &v), -1);
}

static void test_md_bit(void)
{
	CU_ASSERT_EQUAL(cfg_md_bit("sha1"), CFG_MD_SHA1);
	CU_ASSERT_EQUAL(cfg_md_bit("sha256"), CFG_MD_SHA256);
	CU_ASSERT_EQUAL(cfg_md_bit("sha384"), CFG_MD_SHA384);
	CU_ASSERT_EQUAL(cfg_md_bit("sha512"), CFG_MD_SHA512);
	CU_ASSERT_EQUAL(cfg_md_bit("md5"), 0);
	CU_ASSERT_EQUAL(cfg_md_bit("SHA256"), 0);
	CU_ASSERT_EQUAL(cfg_md_bit(""), 0);
	CU_ASSERT_EQUAL(cfg_md_bit(NULL), 0);
}

/* ---------- valid configs ---------- */

static void test_full_round_trip(void)
{
	char *path = data_path("config/full.yaml");
	struct cfg *c = NULL;
	struct sd_err e;
	const struct cfg_key *k;

	memset(&e, 0, sizeof(e));
	CU_ASSERT_PTR_NOT_NULL_FATAL(path);
	if (cfg_load_file_ex(path, &fake, &c, &e) != 0)
		fprintf(stderr, "\n  %s\n", e.msg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_STRING_EQUAL(c->path, path);

	CU_ASSERT_STRING_EQUAL(c->socket.path, "/run/sd-test/s.sock");
	CU_ASSERT_EQUAL(c->socket.mode, 0640);
	CU_ASSERT_STRING_EQUAL(c->socket.group, "ops");
	CU_ASSERT_EQUAL(c->socket.has_group, 1);
	CU_ASSERT_EQUAL(c->socket.gid, 2002);
	CU_ASSERT_EQUAL_FATAL(c->socket.nallow, 3);
	CU_ASSERT_EQUAL(c->socket.allow[0].is_group, 0);
	CU_ASSERT_EQUAL(c->socket.allow[0].id, 1002);
	CU_ASSERT_STRING_EQUAL(c->socket.allow[0].name, "alice");
	CU_ASSERT_EQUAL(c->socket.allow[1].is_group, 1);
	CU_ASSERT_EQUAL(c->socket.allow[1].id, 2001);
	CU_ASSERT_STRING_EQUAL(c->socket.allow[1].name, "publishers");
	CU_ASSERT_EQUAL(c->socket.allow[2].is_group, 0);
	CU_ASSERT_EQUAL(c->socket.allow[2].id, 1234);
	CU_ASSERT_STRING_EQUAL(c->socket.allow[2].name, "1234");

	CU_ASSERT_STRING_EQUAL(c->token.module, "/usr/lib/x86_64-linux-gnu/pkcs11/libvendor.so");
	CU_ASSERT_STRING_EQUAL(c->token.uri, "pkcs11:token=full-test;manufacturer=Test%20Co");
	CU_ASSERT_PTR_NULL(c->token.pin_file);
	CU_ASSERT_STRING_EQUAL(c->token.pin_env, "SD_TEST_PIN");
	CU_ASSERT_EQUAL(c->token.sessions, 8);
	CU_ASSERT_EQUAL_FATAL(c->token.nallowed_modules, 1);
	CU_ASSERT_STRING_EQUAL(c->token.allowed_modules[0], "/opt/vendor/lib/");

	CU_ASSERT_EQUAL_FATAL(c->nkeys, 2);
	k = &c->keys[0];
	CU_ASSERT_STRING_EQUAL(k->name, "old");
	CU_ASSERT_STRING_EQUAL(k->uri, "pkcs11:object=old");
	CU_ASSERT_PTR_NULL(k->certificate);
	CU_ASSERT_PTR_NULL(k->chain);
	CU_ASSERT_EQUAL(k->is_default, 0);
	CU_ASSERT_EQUAL(k->state, CFG_KEY_RETIRED);
	CU_ASSERT_PTR_NULL(k->allow);
	CU_ASSERT_EQUAL(k->nallow, 0);
	CU_ASSERT_EQUAL(k->digests, CFG_MD_SHA1);
	CU_ASSERT_EQUAL(k->min_validity_s, 0);
	CU_ASSERT_EQUAL(k->line, 43);
	k = &c->keys[1];
	CU_ASSERT_STRING_EQUAL(k->name, "new");
	CU_ASSERT_STRING_EQUAL(k->uri, "pkcs11:object=new;type=private");
	CU_ASSERT_STRING_EQUAL(k->certificate, "/etc/signerd/new.pem");
	CU_ASSERT_STRING_EQUAL(k->chain, "/etc/signerd/chain.pem");
	CU_ASSERT_EQUAL(k->is_default, 1);
	CU_ASSERT_EQUAL(k->state, CFG_KEY_ACTIVE);
	CU_ASSERT_EQUAL_FATAL(k->nallow, 2);
	CU_ASSERT_EQUAL(k->allow[0].is_group, 1);
	CU_ASSERT_EQUAL(k->allow[0].id, 2002);
	CU_ASSERT_STRING_EQUAL(k->allow[0].name, "ops");
	CU_ASSERT_EQUAL(k->allow[1].is_group, 0);
	CU_ASSERT_EQUAL(k->allow[1].id, 1001);
	CU_ASSERT_STRING_EQUAL(k->allow[1].name, "wsus-publisher");
	CU_ASSERT_EQUAL(k->digests, CFG_MD_SHA256 | CFG_MD_SHA512);
	CU_ASSERT_EQUAL(k->min_validity_s, 7200);
	CU_ASSERT_EQUAL(k->line, 47);
	CU_ASSERT_PTR_EQUAL(cfg_default_key(c), &c->keys[1]);

	CU_ASSERT_EQUAL_FATAL(c->revocation.ncrl, 2);
	CU_ASSERT_STRING_EQUAL(c->revocation.crl[0], "/etc/signerd/a.crl");
	CU_ASSERT_STRING_EQUAL(c->revocation.crl[1], "/etc/signerd/b.crl");
	CU_ASSERT_EQUAL(c->revocation.refresh_ms, 90000);
	CU_ASSERT_EQUAL(c->revocation.on_unavailable, CFG_CRL_ALLOW);
	CU_ASSERT_EQUAL(c->revocation.fetch_cdp, 1);
	CU_ASSERT_STRING_EQUAL(c->revocation.cache_dir, "/var/cache/signerd-crl");
	CU_ASSERT_EQUAL(c->revocation.fetch_timeout_ms, 2500);

	CU_ASSERT_EQUAL_FATAL(c->timestamp.nurls, 2);
	CU_ASSERT_STRING_EQUAL(c->timestamp.urls[0], "http://tsa1.example/");
	CU_ASSERT_STRING_EQUAL(c->timestamp.urls[1], "https://tsa2.example/rfc3161");
	CU_ASSERT_EQUAL(c->timestamp.policy, CFG_TS_OPTIONAL);
	CU_ASSERT_EQUAL(c->timestamp.timeout_ms, 1500);
	CU_ASSERT_EQUAL(c->timestamp.retries, 5);
	CU_ASSERT_STRING_EQUAL(c->timestamp.ca, "/etc/signerd/tsa.pem");

	CU_ASSERT_STRING_EQUAL(c->audit.path, "/var/lib/signerd/audit.log");
	CU_ASSERT_EQUAL(c->audit.max_size, 65536);
	CU_ASSERT_EQUAL(c->audit.checkpoint_every, 50);
	CU_ASSERT_STRING_EQUAL(c->audit.checkpoint_key, "old");

	CU_ASSERT_EQUAL(c->limits.max_connections, 32);
	CU_ASSERT_EQUAL(c->limits.max_connections_per_uid, 8);
	CU_ASSERT_EQUAL(c->limits.request_timeout_ms, 120000);
	CU_ASSERT_EQUAL(c->limits.rate_per_uid, 7);
	cfg_free(c);
	free(path);
}

static void test_defaults(void)
{
	char *path = data_path("config/minimal.yaml");
	struct cfg *c = NULL;
	struct sd_err e;
	const struct cfg_key *k;

	memset(&e, 0, sizeof(e));
	CU_ASSERT_PTR_NOT_NULL_FATAL(path);
	/* The system resolver: minimal.yaml names nobody. */
	if (cfg_load_file(path, &c, &e) != 0)
		fprintf(stderr, "\n  %s\n", e.msg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);

	CU_ASSERT_STRING_EQUAL(c->socket.path, CFG_DEFAULT_SOCKET);
	CU_ASSERT_STRING_EQUAL(c->socket.path, "/run/signerd/signerd.sock");
	CU_ASSERT_EQUAL(c->socket.mode, 0660);
	CU_ASSERT_PTR_NULL(c->socket.group);
	CU_ASSERT_EQUAL(c->socket.has_group, 0);
	CU_ASSERT_PTR_NULL(c->socket.allow);
	CU_ASSERT_EQUAL(c->socket.nallow, 0);

	CU_ASSERT_STRING_EQUAL(c->token.module, "/usr/lib/softhsm/libsofthsm2.so");
	CU_ASSERT_STRING_EQUAL(c->token.uri, "pkcs11:token=wsus-signing");
	CU_ASSERT_STRING_EQUAL(c->token.pin_file, "/etc/signerd/pin");
	CU_ASSERT_PTR_NULL(c->token.pin_env);
	CU_ASSERT_EQUAL(c->token.sessions, 4);
	CU_ASSERT_EQUAL_FATAL(c->token.nallowed_modules, 2);
	CU_ASSERT_STRING_EQUAL(c->token.allowed_modules[0], "/usr/lib/x86_64-linux-gnu/pkcs11/");
	CU_ASSERT_STRING_EQUAL(c->token.allowed_modules[1], "/usr/lib/x86_64-linux-gnu/softhsm/");

	CU_ASSERT_EQUAL_FATAL(c->nkeys, 1);
	k = &c->keys[0];
	CU_ASSERT_STRING_EQUAL(k->name, "wsus");
	CU_ASSERT_STRING_EQUAL(k->uri, "pkcs11:token=wsus-signing;object=wsus");
	CU_ASSERT_PTR_NULL(k->certificate);
	CU_ASSERT_PTR_NULL(k->chain);
	CU_ASSERT_EQUAL(k->is_default, 1); /* the first key when none says default */
	CU_ASSERT_EQUAL(k->state, CFG_KEY_ACTIVE);
	CU_ASSERT_PTR_NULL(k->allow);
	CU_ASSERT_EQUAL(k->nallow, 0);
	CU_ASSERT_EQUAL(k->digests, CFG_MD_DEFAULT);
	CU_ASSERT_EQUAL(k->digests, CFG_MD_SHA256 | CFG_MD_SHA384 | CFG_MD_SHA512);
	CU_ASSERT_EQUAL(k->min_validity_s, 0);
	CU_ASSERT_EQUAL(k->line, 7);
	CU_ASSERT_PTR_EQUAL(cfg_default_key(c), k);

	CU_ASSERT_PTR_NULL(c->revocation.crl);
	CU_ASSERT_EQUAL(c->revocation.ncrl, 0);
	CU_ASSERT_EQUAL(c->revocation.refresh_ms, 300000);
	CU_ASSERT_EQUAL(c->revocation.on_unavailable, CFG_CRL_REFUSE);
	CU_ASSERT_EQUAL(c->revocation.fetch_cdp, 0);
	CU_ASSERT_STRING_EQUAL(c->revocation.cache_dir, CFG_DEFAULT_CRL_CACHE);
	CU_ASSERT_EQUAL(c->revocation.fetch_timeout_ms, 10000);

	CU_ASSERT_PTR_NULL(c->timestamp.urls);
	CU_ASSERT_EQUAL(c->timestamp.nurls, 0);
	CU_ASSERT_EQUAL(c->timestamp.policy, CFG_TS_OFF);
	CU_ASSERT_EQUAL(c->timestamp.timeout_ms, 10000);
	CU_ASSERT_EQUAL(c->timestamp.retries, 2);
	CU_ASSERT_PTR_NULL(c->timestamp.ca);

	CU_ASSERT_PTR_NULL(c->audit.path);
	CU_ASSERT_EQUAL(c->audit.max_size, 256ull * 1024 * 1024);
	CU_ASSERT_EQUAL(c->audit.checkpoint_every, 1000);
	CU_ASSERT_PTR_NULL(c->audit.checkpoint_key);

	CU_ASSERT_EQUAL(c->limits.max_connections, 256);
	CU_ASSERT_EQUAL(c->limits.max_connections_per_uid, 64);
	CU_ASSERT_EQUAL(c->limits.request_timeout_ms, 10000);
	CU_ASSERT_EQUAL(c->limits.rate_per_uid, 0);
	cfg_free(c);
	free(path);
}

static void test_example(void)
{
	/* SD_TEST_DATA is tests/data; the example lives in config/. */
	char *path = data_path("../../config/signerd.yaml");
	struct cfg *c = NULL;
	struct sd_err e;

	memset(&e, 0, sizeof(e));
	CU_ASSERT_PTR_NOT_NULL_FATAL(path);
	if (cfg_load_file_ex(path, &fake, &c, &e) != 0)
		fprintf(stderr, "\n  %s\n", e.msg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_STRING_EQUAL(c->socket.path, "/run/signerd/signerd.sock");
	CU_ASSERT_EQUAL(c->socket.mode, 0660);
	CU_ASSERT_EQUAL(c->socket.gid, 2003);
	CU_ASSERT_EQUAL_FATAL(c->socket.nallow, 1);
	CU_ASSERT_EQUAL(c->socket.allow[0].id, 2003);
	CU_ASSERT_EQUAL_FATAL(c->keys[0].nallow, 1);
	CU_ASSERT_EQUAL(c->keys[0].allow[0].id, 2003);
	CU_ASSERT_STRING_EQUAL(c->token.pin_file, "/etc/signerd/pin");
	CU_ASSERT_EQUAL(c->token.sessions, 4);
	CU_ASSERT_EQUAL(c->token.nallowed_modules, 2);
	CU_ASSERT_EQUAL_FATAL(c->nkeys, 2);
	CU_ASSERT_STRING_EQUAL(cfg_default_key(c)->name, "wsus-2026");
	CU_ASSERT_EQUAL(c->keys[0].min_validity_s, 30 * 86400);
	CU_ASSERT_EQUAL(c->keys[0].digests, CFG_MD_DEFAULT);
	CU_ASSERT_EQUAL(c->keys[1].state, CFG_KEY_RETIRED);
	CU_ASSERT_EQUAL(c->keys[1].is_default, 0);
	CU_ASSERT_EQUAL(c->revocation.refresh_ms, 300000);
	/* Off until an operator names a TSA; no key overrides it. */
	CU_ASSERT_EQUAL(c->timestamp.policy, CFG_TS_OFF);
	CU_ASSERT_EQUAL(cfg_key_ts_policy(c, &c->keys[0]), CFG_TS_OFF);
	CU_ASSERT_EQUAL(c->audit.max_size, 256ull << 20);
	CU_ASSERT_EQUAL(c->limits.max_connections, 256);
	CU_ASSERT_EQUAL(c->limits.max_connections_per_uid, 64);
	cfg_free(c);

	/* With the system databases the example's names are unknown here. */
	memset(&e, 0, sizeof(e));
	c = (struct cfg *)1;
	if (getgrnam("signerd-publishers") == NULL) {
		char want[4200];

		snprintf(want, sizeof(want),
			 "%s:32:10: socket.group: unknown group \"signerd-publishers\"", path);
		CU_ASSERT_EQUAL(cfg_load_file(path, &c, &e), -1);
		CU_ASSERT_PTR_NULL(c);
		CU_ASSERT_STRING_EQUAL(e.msg, want);
	}
	free(path);
}

static void test_mode_forms(void)
{
	static const struct {
		const char *text;
		uint32_t mode;
	} ok[] = {
	    {"\"0660\"", 0660}, {"0660", 0660}, {"'0600'", 0600},
	    {"660", 0660},	{"0777", 0777}, {"\"000\"", 0},
	};
	char yaml[256];
	struct cfg *c;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(yaml, sizeof(yaml), "socket:\n  mode: %s\n" TOK KEYS, ok[i].text);
		c = expect_ok(yaml);
		if (c != NULL)
			CU_ASSERT_EQUAL(c->socket.mode, ok[i].mode);
		cfg_free(c);
	}
	expect_err(
	    "socket:\n  mode: \"0999\"\n" TOK KEYS,
	    "t.yaml:2:9: socket.mode: expected an octal mode such as \"0660\", got \"0999\"");
	expect_err(
	    "socket:\n  mode: 06600\n" TOK KEYS,
	    "t.yaml:2:9: socket.mode: expected an octal mode such as \"0660\", got \"06600\"");
	expect_err(
	    "socket:\n  mode: 1660\n" TOK KEYS,
	    "t.yaml:2:9: socket.mode: expected an octal mode such as \"0660\", got \"1660\"");
	expect_err("socket:\n  mode: rw\n" TOK KEYS,
		   "t.yaml:2:9: socket.mode: expected an octal mode such as \"0660\", got \"rw\"");
	expect_err("socket:\n  mode: [1]\n" TOK KEYS,
		   "t.yaml:2:9: socket.mode: expected an octal mode such as \"0660\", got a list");
}

static void test_system_resolver(void)
{
	const char *yaml = "socket:\n"
			   "  group: root\n"
			   "  allow:\n"
			   "    - user: root\n"
			   "    - group: \"1000\"\n"
			   "    - user: 4294967294\n" TOK KEYS;
	struct cfg *c = NULL;
	struct sd_err e;

	memset(&e, 0, sizeof(e));
	if (cfg_load_buffer("t.yaml", (const uint8_t *)yaml, strlen(yaml), &c, &e) != 0)
		fprintf(stderr, "\n  %s\n", e.msg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->socket.gid, 0);
	CU_ASSERT_EQUAL_FATAL(c->socket.nallow, 3);
	CU_ASSERT_EQUAL(c->socket.allow[0].id, 0);
	CU_ASSERT_EQUAL(c->socket.allow[0].is_group, 0);
	CU_ASSERT_EQUAL(c->socket.allow[1].id, 1000);
	CU_ASSERT_EQUAL(c->socket.allow[1].is_group, 1);
	CU_ASSERT_EQUAL(c->socket.allow[2].id, 4294967294u);
	cfg_free(c);

	yaml = "socket:\n  allow:\n    - user: sd-no-such-user-q7\n" TOK KEYS;
	c = (struct cfg *)1;
	CU_ASSERT_EQUAL(cfg_load_buffer("t.yaml", (const uint8_t *)yaml, strlen(yaml), &c, &e), -1);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_STRING_EQUAL(
	    e.msg, "t.yaml:3:13: socket.allow[0].user: unknown user \"sd-no-such-user-q7\"");
	yaml = TOK KEYS "    allow: [ {group: sd-no-such-group-q7} ]\n";
	CU_ASSERT_EQUAL(cfg_load_buffer("t.yaml", (const uint8_t *)yaml, strlen(yaml), &c, &e), -1);
	CU_ASSERT_STRING_EQUAL(
	    e.msg, "t.yaml:8:22: keys[0].allow[0].group: unknown group \"sd-no-such-group-q7\"");
}

/* ---------- errors ---------- */

static void test_err_unknown_and_duplicate(void)
{
	expect_err(TOK "  sesions: 4\n" KEYS, "t.yaml:5:3: unknown key \"sesions\" in token");
	expect_err("sokcet: {}\n" TOK KEYS, "t.yaml:1:1: unknown key \"sokcet\" at the top level");
	expect_err(TOK KEYS "    colour: red\n", "t.yaml:8:5: unknown key \"colour\" in keys[0]");
	expect_err(TOK KEYS "limits: { max_connection: 1 }\n",
		   "t.yaml:8:11: unknown key \"max_connection\" in limits");
	expect_err(TOK "  module: /x.so\n" KEYS, "t.yaml:5:3: duplicate key \"module\" in token");
	expect_err(TOK KEYS "token: {}\n", "t.yaml:8:1: duplicate key \"token\" at the top level");
	expect_err(TOK KEYS "    uri: \"pkcs11:object=j\"\n",
		   "t.yaml:8:5: duplicate key \"uri\" in keys[0]");
	/* The key is escaped in the message. */
	expect_err(TOK "  \"a\\tb\\\"\": 1\n" KEYS,
		   "t.yaml:5:3: unknown key \"a\\x09b\\\"\" in token");
	/* A key with a NUL inside does not match a known key. */
	expect_err(TOK "  \"uri\\0x\": 1\n" KEYS, "t.yaml:5:3: unknown key \"uri\\x00x\" in token");
}

static void test_err_token(void)
{
	struct cfg *c = NULL;
	struct sd_err e;
	const char *yaml = TOK "  pin: \"123456\"\n" KEYS;

	expect_err(yaml,
		   "t.yaml:5:3: token: an inline PIN is not allowed; use pin_file or pin_env");
	/* the secret is never echoed */
	CU_ASSERT_EQUAL(load_str(yaml, &c, &e), -1);
	CU_ASSERT_PTR_NULL(strstr(e.msg, "123456"));
	expect_err(TOK "  user_pin: 1234\n" KEYS,
		   "t.yaml:5:3: token: an inline PIN is not allowed; use pin_file or pin_env");
	expect_err(TOK "  password: hunter2\n" KEYS,
		   "t.yaml:5:3: token: an inline PIN is not allowed; use pin_file or pin_env");
	expect_err("token:\n  pin: [1, 2]\n",
		   "t.yaml:2:3: token: an inline PIN is not allowed; use pin_file or pin_env");
	expect_err(TOK "  pin_env: PIN\n" KEYS,
		   "t.yaml:5:3: token: pin_file and pin_env are exclusive");
	expect_err("token:\n  pin_env: PIN\n  pin_file: /p\n",
		   "t.yaml:3:3: token: pin_file and pin_env are exclusive");
	expect_err("token:\n  module: /m.so\n  uri: \"pkcs11:token=t\"\n" KEYS,
		   "t.yaml:1:1: token: pin_file or pin_env is required");
	expect_err("x: 1\ntoken:\n  uri: \"pkcs11:token=t\"\n  pin_file: /p\n",
		   "t.yaml:1:1: unknown key \"x\" at the top level");
	expect_err("\ntoken:\n  uri: \"pkcs11:token=t\"\n  pin_file: /p\n" KEYS,
		   "t.yaml:2:1: token: module is required");
	expect_err("token:\n  module: /m.so\n  pin_file: /p\n" KEYS,
		   "t.yaml:1:1: token: uri is required");
	expect_err(KEYS, "t.yaml:1:1: token: this section is required");
	expect_err("token:\n  module: /m.so\n  uri: \"pkcs11:token=t\"\n  pin_env: 9PIN\n" KEYS,
		   "t.yaml:4:12: token.pin_env: expected an environment variable name (value not "
		   "shown)");
	expect_err("token:\n  pin_file: 123456\n",
		   "t.yaml:2:13: token.pin_file: expected an absolute path (value not shown)");
	expect_err("token:\n  pin_file: [ /p ]\n",
		   "t.yaml:2:13: token.pin_file: expected a string, got a list");
	expect_err(TOK "  sessions: many\n" KEYS,
		   "t.yaml:5:13: token.sessions: expected an integer from 1 to 64, got \"many\"");
	expect_err(TOK "  sessions: 0\n" KEYS,
		   "t.yaml:5:13: token.sessions: expected an integer from 1 to 64, got \"0\"");
	expect_err(TOK "  sessions: 65\n" KEYS,
		   "t.yaml:5:13: token.sessions: expected an integer from 1 to 64, got \"65\"");
	expect_err(TOK "  sessions: -1\n" KEYS,
		   "t.yaml:5:13: token.sessions: expected an integer from 1 to 64, got \"-1\"");
	expect_err(TOK "  sessions: 99999999999999999999999\n" KEYS,
		   "t.yaml:5:13: token.sessions: expected an integer from 1 to 64, got "
		   "\"99999999999999999999999\"");
	expect_err(TOK "  sessions:\n" KEYS,
		   "t.yaml:5:12: token.sessions: expected an integer from 1 to 64, got an empty "
		   "value");
	expect_err("token:\n  module: m.so\n",
		   "t.yaml:2:11: token.module: expected an absolute path, got \"m.so\"");
	expect_err("token:\n  module: [ /a ]\n",
		   "t.yaml:2:11: token.module: expected a string, got a list");
	expect_err("token:\n  module: { a: b }\n",
		   "t.yaml:2:11: token.module: expected a string, got a mapping");
	expect_err("token:\n  module: \"\"\n", "t.yaml:2:11: token.module: must not be empty");
	expect_err("token:\n  module: \"/a\\nb\"\n",
		   "t.yaml:2:11: token.module: contains a control character");
	expect_err("token:\n  module: \"/a\\0b\"\n",
		   "t.yaml:2:11: token.module: contains a NUL character");
	expect_err("token:\n  uri: \"token=t\"\n",
		   "t.yaml:2:8: token.uri: expected a pkcs11: URI, got \"token=t\"");
	expect_err("token:\n  uri: \"pkcs11:token=a b\"\n",
		   "t.yaml:2:8: token.uri: a URI must be printable ASCII without spaces "
		   "(percent-encode other characters)");
	expect_err(TOK "  allowed_modules: []\n" KEYS,
		   "t.yaml:5:20: token.allowed_modules: at least 1 entry is required");
	expect_err(
	    TOK "  allowed_modules: [ /ok/, rel/ ]\n" KEYS,
	    "t.yaml:5:28: token.allowed_modules[1]: expected an absolute path, got \"rel/\"");
	expect_err("token: /m.so\n", "t.yaml:1:8: token: expected a mapping, got \"/m.so\"");
	expect_err("token:\n" KEYS, "t.yaml:1:7: token: expected a mapping, got an empty value");
}

static void test_err_keys(void)
{
	expect_err(TOK "keys: []\n", "t.yaml:5:7: keys: at least one key is required");
	expect_err(TOK, "t.yaml:1:1: keys: at least one key is required");
	expect_err(TOK "keys: { name: k }\n", "t.yaml:5:7: keys: expected a list, got a mapping");
	expect_err(TOK "keys:\n  - k\n", "t.yaml:6:5: keys[0]: expected a mapping, got \"k\"");
	expect_err(TOK KEYS "  - name: k\n    uri: \"pkcs11:object=k2\"\n",
		   "t.yaml:8:11: keys[1].name \"k\" is already used");
	expect_err(TOK KEYS "    default: true\n"
			    "  - name: j\n    uri: \"pkcs11:object=j\"\n    default: true\n",
		   "t.yaml:11:14: two keys have default: true");
	expect_err(TOK KEYS "    default: yes\n",
		   "t.yaml:8:14: keys[0].default: expected true or false, got \"yes\"");
	expect_err(TOK KEYS "    digests: [sha256, md5]\n",
		   "t.yaml:8:23: keys[0].digests: unknown digest \"md5\"");
	expect_err(TOK KEYS "    digests: [sha256, sha256]\n",
		   "t.yaml:8:23: keys[0].digests: digest \"sha256\" is listed twice");
	expect_err(TOK KEYS "    digests: []\n",
		   "t.yaml:8:14: keys[0].digests: at least 1 entry is required");
	expect_err(TOK KEYS "    digests: sha256\n",
		   "t.yaml:8:14: keys[0].digests: expected a list, got \"sha256\"");
	expect_err(TOK KEYS "    digests: [[sha256]]\n",
		   "t.yaml:8:15: keys[0].digests: expected a digest name, got a list");
	expect_err(TOK "keys:\n  - uri: \"pkcs11:object=k\"\n",
		   "t.yaml:6:5: keys[0]: name is required");
	expect_err(TOK "keys:\n  - name: k\n", "t.yaml:6:5: keys[0]: uri is required");
	expect_err(TOK "keys:\n  - name: a/b\n",
		   "t.yaml:6:11: keys[0].name: expected 1 to 127 printable ASCII characters "
		   "without spaces or '/', got \"a/b\"");
	expect_err(TOK "keys:\n  - name: \"a b\"\n",
		   "t.yaml:6:11: keys[0].name: expected 1 to 127 printable ASCII characters "
		   "without spaces or '/', got \"a b\"");
	expect_err(TOK "keys:\n  - name: \"\"\n",
		   "t.yaml:6:11: keys[0].name: expected 1 to 127 printable ASCII characters "
		   "without spaces or '/', got \"\"");
	expect_err(TOK KEYS "    state: gone\n",
		   "t.yaml:8:12: keys[0].state: expected active or retired, got \"gone\"");
	expect_err(TOK KEYS "    state: retired\n    default: true\n",
		   "t.yaml:6:5: keys[0]: the default key cannot be retired");
	expect_err(TOK KEYS "    state: retired\n",
		   "t.yaml:6:5: keys[0]: the default key cannot be retired; mark an active key "
		   "default: true");
	expect_err(TOK KEYS "    min_validity: 30\n",
		   "t.yaml:8:19: keys[0].min_validity: expected a duration such as 500ms, 10s, "
		   "5m, 2h or 30d, got \"30\"");
	expect_err(TOK KEYS "    min_validity: 1500ms\n",
		   "t.yaml:8:19: keys[0].min_validity: expected whole seconds, got \"1500ms\"");
	expect_err(TOK KEYS "    min_validity: 3651d\n",
		   "t.yaml:8:19: keys[0].min_validity: expected a duration from 0ms to 3650d, got "
		   "\"3651d\"");
	expect_err(TOK KEYS "    certificate: cert.pem\n",
		   "t.yaml:8:18: keys[0].certificate: expected an absolute path, got \"cert.pem\"");
	expect_err(TOK "keys:\n  - name: k\n    uri: \"file:///k\"\n",
		   "t.yaml:7:10: keys[0].uri: expected a pkcs11: URI, got \"file:///k\"");
}

static void test_err_allow(void)
{
	expect_err("socket:\n  allow:\n    - user: nobody-xyz\n" TOK KEYS,
		   "t.yaml:3:13: socket.allow[0].user: unknown user \"nobody-xyz\"");
	expect_err("socket:\n  allow: [ {group: nogroup-xyz} ]\n" TOK KEYS,
		   "t.yaml:2:20: socket.allow[0].group: unknown group \"nogroup-xyz\"");
	expect_err("socket:\n  allow: [ {user: lookup-fails} ]\n" TOK KEYS,
		   "t.yaml:2:19: socket.allow[0].user: cannot look up user \"lookup-fails\"");
	expect_err("socket:\n  allow: [ {user: alice, group: ops} ]\n" TOK KEYS,
		   "t.yaml:2:26: socket.allow[0].group: a rule names either a user or a group, "
		   "not both");
	expect_err("socket:\n  allow: [ {} ]\n" TOK KEYS,
		   "t.yaml:2:12: socket.allow[0]: expected {user: NAME} or {group: NAME}");
	expect_err("socket:\n  allow: [ alice ]\n" TOK KEYS,
		   "t.yaml:2:12: socket.allow[0]: expected a mapping, got \"alice\"");
	expect_err("socket:\n  allow: [ {uid: 5} ]\n" TOK KEYS,
		   "t.yaml:2:13: unknown key \"uid\" in socket.allow[0]");
	expect_err("socket:\n  allow: [ {user: 4294967295} ]\n" TOK KEYS,
		   "t.yaml:2:19: socket.allow[0].user: user id \"4294967295\" is out of range");
	expect_err("socket:\n  allow: [ {user: [a]} ]\n" TOK KEYS,
		   "t.yaml:2:19: socket.allow[0].user: expected a user name or numeric id, got a "
		   "list");
	expect_err("socket:\n  allow: [ {user: \"a:b\"} ]\n" TOK KEYS,
		   "t.yaml:2:19: socket.allow[0].user: invalid user name \"a:b\"");
	expect_err("socket:\n  group: nogroup-xyz\n" TOK KEYS,
		   "t.yaml:2:10: socket.group: unknown group \"nogroup-xyz\"");
	expect_err("socket:\n  allow: alice\n" TOK KEYS,
		   "t.yaml:2:10: socket.allow: expected a list, got \"alice\"");
}

static void test_err_sections(void)
{
	expect_err("socket:\n  path: run/s.sock\n" TOK KEYS,
		   "t.yaml:2:9: socket.path: expected an absolute path, got \"run/s.sock\"");
	expect_err("socket:\n  path: /run/0123456789012345678901234567890123456789012345678901234"
		   "5678901234567890123456789012345678901234567890123456789\n" TOK KEYS,
		   "t.yaml:2:9: socket.path: longer than 107 bytes, the limit for a Unix socket");
	expect_err("socket: [ a ]\n" TOK KEYS,
		   "t.yaml:1:9: socket: expected a mapping, got a list");
	expect_err(TOK KEYS "revocation:\n  crl: /etc/a.crl\n",
		   "t.yaml:9:8: revocation.crl: expected a list, got \"/etc/a.crl\"");
	expect_err(TOK KEYS "revocation:\n  refresh: 0s\n",
		   "t.yaml:9:12: revocation.refresh: expected a duration from 1s to 3650d, got "
		   "\"0s\"");
	expect_err(TOK KEYS "revocation:\n  on_unavailable: maybe\n",
		   "t.yaml:9:19: revocation.on_unavailable: expected refuse or allow, got "
		   "\"maybe\"");
	expect_err(TOK KEYS "revocation:\n  fetch_cdp: 1\n",
		   "t.yaml:9:14: revocation.fetch_cdp: expected true or false, got \"1\"");
	expect_err(TOK KEYS "revocation:\n  cache_dir: crl\n",
		   "t.yaml:9:14: revocation.cache_dir: expected an absolute path, got \"crl\"");
	expect_err(TOK KEYS "revocation:\n  fetch_timeout: 0ms\n",
		   "t.yaml:9:18: revocation.fetch_timeout: expected a duration from 1ms to 3650d, "
		   "got \"0ms\"");
	expect_err(TOK KEYS "timestamp:\n  policy: required\n",
		   "t.yaml:9:11: timestamp.policy: required needs at least one URL in "
		   "timestamp.urls");
	expect_err(TOK KEYS "timestamp:\n  policy: always\n",
		   "t.yaml:9:11: timestamp.policy: expected required, optional or off, got "
		   "\"always\"");
	expect_err(TOK KEYS "timestamp:\n  urls: [ \"ftp://tsa/\" ]\n",
		   "t.yaml:9:11: timestamp.urls[0]: expected an http:// or https:// URL, got "
		   "\"ftp://tsa/\"");
	expect_err(TOK KEYS "timestamp:\n  urls: [ \"http://\" ]\n",
		   "t.yaml:9:11: timestamp.urls[0]: expected an http:// or https:// URL, got "
		   "\"http://\"");
	expect_err(TOK KEYS "timestamp:\n  retries: 11\n",
		   "t.yaml:9:12: timestamp.retries: expected an integer from 0 to 10, got \"11\"");
	expect_err(TOK KEYS "timestamp:\n  timeout: 0ms\n",
		   "t.yaml:9:12: timestamp.timeout: expected a duration from 1ms to 3650d, got "
		   "\"0ms\"");
	expect_err(TOK KEYS "audit:\n  max_size: 10MB\n",
		   "t.yaml:9:13: audit.max_size: expected a size such as 512, 64KiB, 256MiB or "
		   "1GiB, got \"10MB\"");
	expect_err(TOK KEYS "audit:\n  max_size: 1KiB\n",
		   "t.yaml:9:13: audit.max_size: expected a size from 65536 bytes to 1TiB, got "
		   "\"1KiB\"");
	expect_err(TOK KEYS "audit:\n  checkpoint_every: 0\n",
		   "t.yaml:9:21: audit.checkpoint_every: expected an integer from 1 to 1000000, "
		   "got \"0\"");
	expect_err(TOK KEYS "audit:\n  checkpoint_key: nokey\n",
		   "t.yaml:9:19: audit.checkpoint_key: no key named \"nokey\"");
	expect_err(TOK KEYS "limits:\n  max_connections: 0\n",
		   "t.yaml:9:20: limits.max_connections: expected an integer from 1 to 65536, got "
		   "\"0\"");
	expect_err(TOK KEYS "limits:\n  request_timeout: forever\n",
		   "t.yaml:9:20: limits.request_timeout: expected a duration such as 500ms, 10s, "
		   "5m, 2h or 30d, got \"forever\"");
	expect_err(TOK KEYS "limits:\n  rate_per_uid: 1000001\n",
		   "t.yaml:9:17: limits.rate_per_uid: expected an integer from 0 to 1000000, got "
		   "\"1000001\"");
}

static void test_err_yaml(void)
{
	char *deep;
	size_t i;

	expect_err("", "t.yaml:1:1: the configuration is empty");
	expect_err("# only a comment\n", "t.yaml:1:1: the configuration is empty");
	expect_err("hello\n",
		   "t.yaml:1:1: configuration: expected a mapping at the top level, got \"hello\"");
	expect_err("- a\n", "t.yaml:1:1: configuration: expected a mapping at the top level, got a "
			    "list");
	expect_err(TOK KEYS "---\nlimits: {}\n",
		   "t.yaml:8:1: multiple YAML documents are not allowed");
	expect_err("---\n" TOK KEYS "...\n---\n", "t.yaml:10:1: multiple YAML documents are not "
						  "allowed");
	expect_err("token: {module: /m.so\n",
		   "t.yaml:2:1: did not find expected ',' or '}' (while parsing a flow mapping at "
		   "line 1, column 8)");
	expect_err(
	    "token:\n  module: /m.so\n uri: x\n",
	    "t.yaml:3:2: did not find expected key (while parsing a block mapping at line 1, "
	    "column 1)");
	expect_err("token:\n  module: a: b\n",
		   "t.yaml:2:12: mapping values are not allowed in this context");
	expect_err(
	    "token:\n\tmodule: /m.so\n",
	    "t.yaml:2:1: found character that cannot start any token (while scanning for the "
	    "next token at line 2, column 1)");
	expect_err("a: \x01\n", "t.yaml:1:4: control characters are not allowed (byte 0x01)");
	expect_err("a: \xff\n", "t.yaml:1:4: invalid leading UTF-8 octet (byte 0xff)");
	expect_err("token: &t {}\n", "t.yaml:1:8: YAML anchors and aliases are not supported");
	expect_err("token: *t\n", "t.yaml:1:8: YAML anchors and aliases are not supported");
	expect_err("token: !!map {}\n", "t.yaml:1:8: YAML tags are not supported");
	expect_err("{ [a]: 1 }\n", "t.yaml:1:3: a mapping key must be a plain string");
	expect_err("? { a: 1 }\n: 1\n", "t.yaml:1:3: a mapping key must be a plain string");
	deep = malloc(200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(deep);
	for (i = 0; i < 40; i++)
		deep[i] = '[';
	for (i = 40; i < 80; i++)
		deep[i] = ']';
	deep[80] = '\0';
	expect_err(deep, "t.yaml:1:33: nesting deeper than 32 levels");
	free(deep);
}

/* Bounds on the file, on lists and on strings. */
static void test_bounds(void)
{
	size_t big = CFG_MAX_FILE_SIZE + 1, i, o;
	char *buf = malloc(big + 4096);
	struct cfg *c = (struct cfg *)1;
	struct sd_err e;

	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	memset(buf, '#', big);
	CU_ASSERT_EQUAL(cfg_load_buffer_ex("t.yaml", (uint8_t *)buf, big, &fake, &c, &e), -1);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_STRING_EQUAL(e.msg, "t.yaml:1:1: the file is larger than 1 MiB (1048577 bytes)");

	/* 64 keys load, 65 do not */
	o = (size_t)sprintf(buf, TOK "keys:\n");
	for (i = 0; i < 64; i++)
		o += (size_t)sprintf(buf + o, "  - { name: k%zu, uri: \"pkcs11:object=k%zu\" }\n",
				     i, i);
	c = expect_ok(buf);
	if (c != NULL) {
		CU_ASSERT_EQUAL(c->nkeys, 64);
		CU_ASSERT_STRING_EQUAL(c->keys[63].name, "k63");
		CU_ASSERT_EQUAL(c->keys[63].line, 69);
	}
	cfg_free(c);
	sprintf(buf + o, "  - { name: k64, uri: \"pkcs11:object=k64\" }\n");
	expect_err(buf, "t.yaml:6:3: keys: at most 64 entries are allowed, got 65");

	/* 64 allow rules load, 65 do not */
	o = (size_t)sprintf(buf, "socket:\n  allow:\n");
	for (i = 0; i < 64; i++)
		o += (size_t)sprintf(buf + o, "    - user: %zu\n", i);
	sprintf(buf + o, TOK KEYS);
	c = expect_ok(buf);
	if (c != NULL)
		CU_ASSERT_EQUAL(c->socket.nallow, 64);
	cfg_free(c);
	o += (size_t)sprintf(buf + o, "    - user: 64\n");
	sprintf(buf + o, TOK KEYS);
	expect_err(buf, "t.yaml:3:5: socket.allow: at most 64 entries are allowed, got 65");

	/* key names: 127 characters load, 128 do not */
	o = (size_t)sprintf(buf, TOK "keys:\n  - uri: \"pkcs11:object=x\"\n    name: ");
	memset(buf + o, 'n', 127);
	strcpy(buf + o + 127, "\n");
	c = expect_ok(buf);
	if (c != NULL)
		CU_ASSERT_EQUAL(strlen(c->keys[0].name), 127);
	cfg_free(c);
	memset(buf + o, 'n', 128);
	strcpy(buf + o + 128, "\n");
	c = (struct cfg *)1;
	CU_ASSERT_EQUAL(load_str(buf, &c, &e), -1);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_NSTRING_EQUAL(e.msg, "t.yaml:7:11: keys[0].name: expected 1 to 127 printable",
				54);
	/* quoted values in messages are bounded */
	CU_ASSERT(strlen(e.msg) < 250);

	/* URIs: 1023 bytes load, 1024 do not */
	o = (size_t)sprintf(buf, TOK "keys:\n  - name: k\n    uri: pkcs11:object=");
	memset(buf + o, 'u', 1023 - 14);
	strcpy(buf + o + 1023 - 14, "\n");
	c = expect_ok(buf);
	if (c != NULL)
		CU_ASSERT_EQUAL(strlen(c->keys[0].uri), 1023);
	cfg_free(c);
	memset(buf + o, 'u', 1024 - 14);
	strcpy(buf + o + 1024 - 14, "\n");
	expect_err(buf, "t.yaml:7:10: keys[0].uri: longer than 1023 bytes");

	/* paths: PATH_MAX - 1 bytes at most */
	o = (size_t)sprintf(buf, TOK KEYS "audit:\n  path: /");
	memset(buf + o, 'p', 4095);
	strcpy(buf + o + 4095, "\n");
	expect_err(buf, "t.yaml:9:9: audit.path: longer than 4095 bytes");
	free(buf);
}

static void test_files(void)
{
	char *path = data_path("config/bad-syntax.yaml");
	char *missing = data_path("config/does-not-exist.yaml");
	char want[4200], tmpl[] = "/tmp/sd-test-config-XXXXXX";
	struct cfg *c = (struct cfg *)1;
	struct sd_err e;
	char *big;
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(missing);
	CU_ASSERT_EQUAL(cfg_load_file(path, &c, &e), -1);
	CU_ASSERT_PTR_NULL(c);
	snprintf(want, sizeof(want),
		 "%s:5:1: found unexpected end of stream (while scanning a quoted scalar at line "
		 "3, column 8)",
		 path);
	CU_ASSERT_STRING_EQUAL(e.msg, want);

	c = (struct cfg *)1;
	CU_ASSERT_EQUAL(cfg_load_file(missing, &c, &e), -1);
	CU_ASSERT_PTR_NULL(c);
	snprintf(want, sizeof(want), "%s:1:1: No such file or directory", missing);
	CU_ASSERT_STRING_EQUAL(e.msg, want);

	fd = mkstemp(tmpl);
	CU_ASSERT_FATAL(fd >= 0);
	big = calloc(1, CFG_MAX_FILE_SIZE + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	CU_ASSERT_EQUAL(write(fd, big, CFG_MAX_FILE_SIZE + 1), CFG_MAX_FILE_SIZE + 1);
	close(fd);
	c = (struct cfg *)1;
	CU_ASSERT_EQUAL(cfg_load_file(tmpl, &c, &e), -1);
	CU_ASSERT_PTR_NULL(c);
	snprintf(want, sizeof(want), "%s:1:1: file too large (1048577 bytes, limit 1048576)", tmpl);
	CU_ASSERT_STRING_EQUAL(e.msg, want);
	unlink(tmpl);

	c = (struct cfg *)1;
	CU_ASSERT_EQUAL(cfg_load_file("/tmp", &c, &e), -1);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_STRING_EQUAL(e.msg, "/tmp:1:1: not a regular file");
	free(big);
	free(path);
	free(missing);
}

/* timestamp.hash and the per-key keys[].timestamp override. */
static void test_timestamp_policy(void)
{
	struct cfg *c = NULL;
	struct sd_err e;

	CU_ASSERT_EQUAL_FATAL(load_str(TOK KEYS "    timestamp: off\n"
						"  - name: k2\n"
						"    uri: \"pkcs11:object=k2\"\n"
						"timestamp:\n"
						"  urls: [ \"http://tsa.example/\" ]\n"
						"  policy: required\n"
						"  hash: sha512\n",
				       &c, &e),
			      0);
	CU_ASSERT_EQUAL(c->timestamp.hash, CFG_MD_SHA512);
	CU_ASSERT_EQUAL(c->keys[0].ts_policy, CFG_TS_OFF);
	CU_ASSERT_EQUAL(c->keys[1].ts_policy, -1);
	CU_ASSERT_EQUAL(cfg_key_ts_policy(c, &c->keys[0]), CFG_TS_OFF);
	CU_ASSERT_EQUAL(cfg_key_ts_policy(c, &c->keys[1]), CFG_TS_REQUIRED);
	cfg_free(c);
	c = NULL;
	CU_ASSERT_EQUAL_FATAL(load_str(TOK KEYS "    timestamp: optional\n"
						"timestamp:\n"
						"  urls: [ \"http://tsa.example/\" ]\n",
				       &c, &e),
			      0);
	CU_ASSERT_EQUAL(c->timestamp.hash, CFG_MD_SHA256); /* the default */
	CU_ASSERT_EQUAL(c->timestamp.policy, CFG_TS_OFF);
	CU_ASSERT_EQUAL(cfg_key_ts_policy(c, &c->keys[0]), CFG_TS_OPTIONAL);
	cfg_free(c);
	/* keys[].sign: CABs only unless script is listed. */
	c = NULL;
	CU_ASSERT_EQUAL_FATAL(load_str(TOK KEYS "    sign: [ script, cab ]\n"
						"  - name: k2\n"
						"    uri: \"pkcs11:object=k2\"\n"
						"  - name: k3\n"
						"    uri: \"pkcs11:object=k3\"\n"
						"    sign: [ script ]\n",
				       &c, &e),
			      0);
	CU_ASSERT_EQUAL(c->keys[0].subjects, CFG_SUBJ_CAB | CFG_SUBJ_SCRIPT);
	CU_ASSERT_EQUAL(c->keys[1].subjects, CFG_SUBJ_CAB);
	CU_ASSERT_EQUAL(c->keys[2].subjects, CFG_SUBJ_SCRIPT);
	cfg_free(c);
	expect_err(TOK KEYS "    sign: [ cab, cab ]\n",
		   "t.yaml:8:18: keys[0].sign: cab is listed twice");
	expect_err(TOK KEYS "    sign: [ msi ]\n",
		   "t.yaml:8:13: keys[0].sign[0]: expected cab or script, got \"msi\"");
	expect_err(TOK KEYS "    sign: []\n",
		   "t.yaml:8:11: keys[0].sign: at least 1 entry is required");
	expect_err(TOK KEYS "    timestamp: required\n",
		   "t.yaml:8:16: keys[0].timestamp: required needs at least one URL in "
		   "timestamp.urls");
	expect_err(TOK KEYS "    timestamp: sometimes\n",
		   "t.yaml:8:16: keys[0].timestamp: expected required, optional or off, got "
		   "\"sometimes\"");
	expect_err(TOK KEYS "timestamp:\n  hash: sha1\n",
		   "t.yaml:9:9: timestamp.hash: expected sha256, sha384 or sha512, got \"sha1\"");
}

int main(void)
{
	CU_pSuite s;
	unsigned fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("config", NULL, NULL);
	if (s == NULL || !CU_add_test(s, "durations", test_duration) ||
	    !CU_add_test(s, "sizes", test_size) || !CU_add_test(s, "digest names", test_md_bit) ||
	    !CU_add_test(s, "full config round trip", test_full_round_trip) ||
	    !CU_add_test(s, "defaults", test_defaults) ||
	    !CU_add_test(s, "example signerd.yaml", test_example) ||
	    !CU_add_test(s, "socket.mode forms", test_mode_forms) ||
	    !CU_add_test(s, "system user/group resolver", test_system_resolver) ||
	    !CU_add_test(s, "unknown and duplicate keys", test_err_unknown_and_duplicate) ||
	    !CU_add_test(s, "token errors and inline PIN", test_err_token) ||
	    !CU_add_test(s, "keys errors", test_err_keys) ||
	    !CU_add_test(s, "allow rule errors", test_err_allow) ||
	    !CU_add_test(s, "section value errors", test_err_sections) ||
	    !CU_add_test(s, "YAML-level errors", test_err_yaml) ||
	    !CU_add_test(s, "timestamp hash and per-key policy", test_timestamp_policy) ||
	    !CU_add_test(s, "bounds", test_bounds) || !CU_add_test(s, "files", test_files)) {
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails != 0;
}
