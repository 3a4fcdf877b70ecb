/* Unit tests for the token-independent parts of pkcs11/: URI parsing and the PIN buffer. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pkcs11/p11.h"

static void uri_ok(const char *s, struct p11_uri *u)
{
	struct sd_err e = {0};

	CU_ASSERT_EQUAL_FATAL(p11_uri_parse(s, u, &e), 0);
}

static void uri_bad(const char *s, const char *want)
{
	struct p11_uri u;
	struct sd_err e = {0};

	CU_ASSERT_EQUAL(p11_uri_parse(s, &u, &e), -1);
	if (strstr(e.msg, want) == NULL)
		fprintf(stderr, "\n  %s -> \"%s\" (want \"%s\")\n", s, e.msg, want);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, want));
}

static void test_uri_basic(void)
{
	struct p11_uri u;

	uri_ok("pkcs11:token=wsus-signing;object=wsus-2026", &u);
	CU_ASSERT_STRING_EQUAL(u.token, "wsus-signing");
	CU_ASSERT_STRING_EQUAL(u.object, "wsus-2026");
	CU_ASSERT_FALSE(u.has_id);
	CU_ASSERT_FALSE(u.has_slot_id);
	CU_ASSERT_EQUAL(u.type, -1);
}

static void test_uri_all_attributes(void)
{
	struct p11_uri u;
	const uint8_t id[] = {0x01, 0xab, 0x00, 0xff};

	uri_ok("pkcs11:manufacturer=SoftHSM%20project;model=SoftHSM%20v2;serial=0123abcd;"
	       "token=My%20Token;id=%01%ab%00%ff;type=private;slot-id=7;object=a%3bb",
	       &u);
	CU_ASSERT_STRING_EQUAL(u.manufacturer, "SoftHSM project");
	CU_ASSERT_STRING_EQUAL(u.model, "SoftHSM v2");
	CU_ASSERT_STRING_EQUAL(u.serial, "0123abcd");
	CU_ASSERT_STRING_EQUAL(u.token, "My Token");
	CU_ASSERT_STRING_EQUAL(u.object, "a;b");
	CU_ASSERT_TRUE(u.has_id);
	CU_ASSERT_EQUAL(u.id_len, sizeof(id));
	CU_ASSERT_EQUAL(memcmp(u.id, id, sizeof(id)), 0);
	CU_ASSERT_EQUAL(u.type, CKO_PRIVATE_KEY);
	CU_ASSERT_TRUE(u.has_slot_id);
	CU_ASSERT_EQUAL(u.slot_id, 7);
}

static void test_uri_scheme_case_and_query(void)
{
	struct p11_uri u;

	uri_ok("PKCS11:token=t?module-path=/x.so", &u);
	CU_ASSERT_STRING_EQUAL(u.token, "t");
	uri_ok("pkcs11:", &u);
	CU_ASSERT_STRING_EQUAL(u.token, "");
}

static void test_uri_refusals(void)
{
	char longtok[100];

	uri_bad("token=x", "must start with \"pkcs11:\"");
	uri_bad("pkcs11:token=x?pin-value=1234", "pin-value is not allowed");
	uri_bad("pkcs11:token=x?pin-source=file:/p", "pin-source");
	uri_bad("pkcs11:token=x;colour=red", "unknown attribute \"colour\"");
	uri_bad("pkcs11:token", "has no value");
	uri_bad("pkcs11:object=a%zz", "bad %-escape");
	uri_bad("pkcs11:object=a%4", "bad %-escape");
	uri_bad("pkcs11:object=a%00b", "NUL");
	uri_bad("pkcs11:type=secret-key", "unsupported type");
	uri_bad("pkcs11:slot-id=12x", "bad slot-id");
	uri_bad("pkcs11:id=", "bad id");
	memset(longtok, 'a', sizeof(longtok) - 1);
	longtok[sizeof(longtok) - 1] = '\0';
	{
		char s[200];

		snprintf(s, sizeof(s), "pkcs11:token=%s", longtok);
		uri_bad(s, "token is too long");
	}
}

static char dir[64];

static int init_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_pkcs11.XXXXXX");
	return mkdtemp(dir) == NULL;
}

static int clean_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static void write_pin(const char *name, const char *content, mode_t mode, char *path)
{
	FILE *f;

	sprintf(path, "%s/%s", dir, name);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(content, f);
	fclose(f);
	chmod(path, mode);
}

static void test_pin_file(void)
{
	char path[128];
	struct p11_secret *s = NULL;
	struct sd_err e = {0};

	write_pin("pin", "123456\r\n", 0600, path);
	CU_ASSERT_EQUAL_FATAL(p11_secret_from_file(path, &s, &e), 0);
	CU_ASSERT_EQUAL(s->len, 6);
	CU_ASSERT_EQUAL(memcmp(s->p, "123456", 6), 0);
	CU_ASSERT_EQUAL(s->p[6], '\0');
	p11_secret_free(s);

	write_pin("pin640", "abc", 0640, path);
	CU_ASSERT_EQUAL(p11_secret_from_file(path, &s, &e), 0);
	CU_ASSERT_EQUAL(s->len, 3);
	p11_secret_free(s);
}

static void test_pin_file_refusals(void)
{
	char path[128], link[160];
	struct p11_secret *s = NULL;
	struct sd_err e = {0};

	write_pin("open", "123456\n", 0644, path);
	CU_ASSERT_EQUAL(p11_secret_from_file(path, &s, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "too open"));
	/* The message names the file, never its content. */
	CU_ASSERT_PTR_NULL(strstr(e.msg, "123456"));

	write_pin("empty", "\n", 0600, path);
	CU_ASSERT_EQUAL(p11_secret_from_file(path, &s, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "empty"));

	write_pin("target", "123456\n", 0600, path);
	snprintf(link, sizeof(link), "%s/link", dir);
	CU_ASSERT_EQUAL(symlink(path, link), 0);
	CU_ASSERT_EQUAL(p11_secret_from_file(link, &s, &e), -1);

	CU_ASSERT_EQUAL(p11_secret_from_file("/nonexistent/pin", &s, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "/nonexistent/pin"));
}

static void test_pin_env(void)
{
	struct p11_secret *s = NULL;
	struct sd_err e = {0};

	setenv("TEST_PIN_VAR", "s3cret", 1);
	CU_ASSERT_EQUAL_FATAL(p11_secret_from_env("TEST_PIN_VAR", &s, &e), 0);
	CU_ASSERT_EQUAL(s->len, 6);
	CU_ASSERT_EQUAL(memcmp(s->p, "s3cret", 6), 0);
	/* Read once, then gone from the environment. */
	CU_ASSERT_PTR_NULL(getenv("TEST_PIN_VAR"));
	p11_secret_free(s);
	CU_ASSERT_EQUAL(p11_secret_from_env("TEST_PIN_VAR", &s, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "not set"));
}

static void test_keytype(void)
{
	enum p11_keytype t;

	CU_ASSERT_EQUAL(p11_keytype_parse("rsa:3072", &t), 0);
	CU_ASSERT_EQUAL(t, P11_RSA3072);
	CU_ASSERT_EQUAL(p11_keytype_parse("ec:p256", &t), 0);
	CU_ASSERT_EQUAL(t, P11_ECP256);
	CU_ASSERT_EQUAL(p11_keytype_parse("rsa:1024", &t), -1);
	CU_ASSERT_EQUAL(p11_keytype_parse("", &t), -1);
}

static void test_module_allowlist(void)
{
	struct p11_module *m = NULL;
	struct sd_err e = {0};
	char *allowed[] = {dir};

	/* libc is a real shared object but not under the allowed directory. */
	CU_ASSERT_EQUAL(p11_module_load("/lib/x86_64-linux-gnu/libc.so.6", allowed, 1, &m, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "allowed_modules"));
	CU_ASSERT_EQUAL(p11_module_load("/nonexistent/module.so", NULL, 0, &m, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "/nonexistent/module.so"));
}

int main(void)
{
	CU_pSuite s;
	unsigned fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("pkcs11", init_dir, clean_dir);
	CU_add_test(s, "URI basic", test_uri_basic);
	CU_add_test(s, "URI every attribute and escapes", test_uri_all_attributes);
	CU_add_test(s, "URI scheme case and query", test_uri_scheme_case_and_query);
	CU_add_test(s, "URI refusals", test_uri_refusals);
	CU_add_test(s, "PIN file", test_pin_file);
	CU_add_test(s, "PIN file refusals", test_pin_file_refusals);
	CU_add_test(s, "PIN from environment", test_pin_env);
	CU_add_test(s, "key types", test_keytype);
	CU_add_test(s, "module allowlist", test_module_allowlist);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
