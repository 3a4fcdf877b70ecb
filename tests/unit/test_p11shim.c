/*
 * Tests of the fault-injecting PKCS#11 shim (tests/p11shim): its control-file grammar, and its
 * faults against a throwaway SoftHSM2 token. Exits 77 (skipped) without softhsm2-util.
 */
#include <CUnit/Basic.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/p11shim/shim.h"

#define SKIP	    77
#define TOKEN_LABEL "shimtest"
#define USER_PIN    "123456"
#define KEY_LABEL   "shimkey"

/* ---- the control-file grammar (no token needed) ---- */

static int parse(const char *text, struct shim_rules *r, char *err)
{
	return shim_parse(text, strlen(text), r, err, 256);
}

static void parse_ok(const char *text, struct shim_rules *r)
{
	char err[256] = "";

	if (parse(text, r, err) != 0)
		fprintf(stderr, "\n  \"%s\" -> %s\n", text, err);
	CU_ASSERT_EQUAL_FATAL(parse(text, r, err), 0);
}

static void parse_bad(const char *text, const char *want)
{
	struct shim_rules r;
	char err[256] = "";

	CU_ASSERT_EQUAL(parse(text, &r, err), -1);
	if (strcmp(err, want) != 0)
		fprintf(stderr, "\n  \"%s\" -> \"%s\" (want \"%s\")\n", text, err, want);
	CU_ASSERT_STRING_EQUAL(err, want);
}

static void test_parse_rules(void)
{
	struct shim_rules r;

	parse_ok("C_Sign CKR_DEVICE_ERROR count=3", &r);
	CU_ASSERT_EQUAL_FATAL(r.n, 1);
	CU_ASSERT_EQUAL(r.r[0].fn, SHIM_FN_C_Sign);
	CU_ASSERT_EQUAL(r.r[0].action, SHIM_RV);
	CU_ASSERT_EQUAL(r.r[0].rv, 0x30);
	CU_ASSERT_EQUAL(r.r[0].count, 3);
	CU_ASSERT_EQUAL(r.r[0].delay_ms, 0);
	CU_ASSERT_FALSE(r.r[0].close_session || r.r[0].reset);

	parse_ok("* CKR_DEVICE_REMOVED always\n"
		 "C_Sign CKR_SESSION_HANDLE_INVALID close_session\n"
		 "C_Sign\t0x80000001   reset count=2\r\n"
		 "\n"
		 "# a comment\n"
		 "C_Sign hang\n"
		 "C_Sign delay_ms=200\n"
		 "C_GetSlotList empty count=5\n"
		 "C_Login CKR_PIN_INCORRECT delay_ms=5 count=1",
		 &r);
	CU_ASSERT_EQUAL_FATAL(r.n, 7);
	CU_ASSERT_EQUAL(r.r[0].fn, SHIM_ANY_FN);
	CU_ASSERT_EQUAL(r.r[0].rv, 0x32);
	CU_ASSERT_EQUAL(r.r[0].count, -1);
	CU_ASSERT_EQUAL(r.r[1].rv, 0xb3);
	CU_ASSERT_TRUE(r.r[1].close_session);
	CU_ASSERT_EQUAL(r.r[1].count, -1);
	CU_ASSERT_EQUAL(r.r[2].rv, 0x80000001UL);
	CU_ASSERT_TRUE(r.r[2].reset);
	CU_ASSERT_EQUAL(r.r[2].count, 2);
	CU_ASSERT_EQUAL(r.r[3].action, SHIM_HANG);
	CU_ASSERT_EQUAL(r.r[4].action, SHIM_PASS);
	CU_ASSERT_EQUAL(r.r[4].delay_ms, 200);
	CU_ASSERT_EQUAL(r.r[5].fn, SHIM_FN_C_GetSlotList);
	CU_ASSERT_EQUAL(r.r[5].action, SHIM_EMPTY);
	CU_ASSERT_EQUAL(r.r[5].count, 5);
	CU_ASSERT_EQUAL(r.r[6].fn, SHIM_FN_C_Login);
	CU_ASSERT_EQUAL(r.r[6].rv, 0xa0);
	CU_ASSERT_EQUAL(r.r[6].delay_ms, 5);
	CU_ASSERT_STRING_EQUAL(r.stats_path, "");

	/* clear drops what came before it; stats is kept. */
	parse_ok("stats /tmp/x/stats\nC_Sign CKR_DEVICE_ERROR\nclear\nC_Logout 0x5", &r);
	CU_ASSERT_EQUAL_FATAL(r.n, 1);
	CU_ASSERT_EQUAL(r.r[0].fn, SHIM_FN_C_Logout);
	CU_ASSERT_EQUAL(r.r[0].rv, CKR_GENERAL_ERROR);
	CU_ASSERT_STRING_EQUAL(r.stats_path, "/tmp/x/stats");
	parse_ok("", &r);
	CU_ASSERT_EQUAL(r.n, 0);
}

static void test_parse_refusals(void)
{
	char many[64 * 24 + 32] = "";
	int i;

	parse_bad("C_Sgn CKR_DEVICE_ERROR", "line 1: unknown function \"C_Sgn\"");
	parse_bad("\nC_Sign CKR_DEVICE_EROR", "line 2: unknown return value \"CKR_DEVICE_EROR\"");
	parse_bad("C_Sign 0x", "line 1: unknown word \"0x\"");
	parse_bad("C_Sign 0x1g", "line 1: unknown return value \"0x1g\"");
	parse_bad("C_Sign 0x12345678123456781", "line 1: unknown return value "
						"\"0x12345678123456781\"");
	parse_bad("C_Sign", "line 1: nothing to do: give CKR_*, 0x..., empty, hang or delay_ms=");
	parse_bad("C_Sign count=2",
		  "line 1: nothing to do: give CKR_*, 0x..., empty, hang or delay_ms=");
	parse_bad("C_Sign CKR_DEVICE_ERROR count=0", "line 1: bad count (1 to 1000000000)");
	parse_bad("C_Sign CKR_DEVICE_ERROR count=-1", "line 1: bad count (1 to 1000000000)");
	parse_bad("C_Sign CKR_DEVICE_ERROR count=2 always",
		  "line 1: count given twice, or with always");
	parse_bad("C_Sign delay_ms=3600001", "line 1: bad delay_ms (0 to 3600000)");
	parse_bad("C_Sign CKR_DEVICE_ERROR hang", "line 1: more than one of CKR_*, empty, hang");
	parse_bad("C_Sign hang close_session", "line 1: close_session and reset go with a return "
					       "value");
	parse_bad("C_Sign CKR_DEVICE_ERROR reset close_session",
		  "line 1: close_session and reset exclude each other");
	parse_bad("C_GetInfo CKR_DEVICE_ERROR close_session",
		  "line 1: close_session needs a function with a session argument");
	parse_bad("C_Sign empty", "line 1: empty works on C_GetSlotList and C_FindObjects only");
	parse_bad("C_Sign CKR_DEVICE_ERROR sometimes", "line 1: unknown word \"sometimes\"");
	parse_bad("clear now", "line 1: clear takes no arguments");
	parse_bad("stats relative/path", "line 1: stats takes one absolute path");
	parse_bad("C_Sign a b c d e f g h", "line 1: more than 8 words");
	{
		struct shim_rules r;
		char err[256];

		CU_ASSERT_EQUAL(shim_parse("C_Sign CKR_OK\n\0x", 16, &r, err, sizeof(err)), -1);
		CU_ASSERT_STRING_EQUAL(err, "line 2: NUL byte");
	}
	for (i = 0; i < SHIM_MAX_RULES + 1; i++)
		strcat(many, "C_Sign CKR_OK count=1\n");
	parse_bad(many, "line 65: more than 64 rules");
}

static void test_names(void)
{
	CK_RV rv = 0;

	CU_ASSERT_EQUAL(SHIM_NFUNCS, 68);
	CU_ASSERT_STRING_EQUAL(shim_fn_name(SHIM_FN_C_Initialize), "C_Initialize");
	CU_ASSERT_STRING_EQUAL(shim_fn_name(SHIM_FN_C_Sign), "C_Sign");
	CU_ASSERT_STRING_EQUAL(shim_fn_name(SHIM_NFUNCS - 1), "C_WaitForSlotEvent");
	CU_ASSERT_EQUAL(shim_fn_lookup("C_GetAttributeValue", 19), SHIM_FN_C_GetAttributeValue);
	CU_ASSERT_EQUAL(shim_fn_lookup("C_Sig", 5), -1);
	CU_ASSERT_TRUE(shim_fn_has_session(SHIM_FN_C_Sign));
	CU_ASSERT_TRUE(shim_fn_has_session(SHIM_FN_C_FindObjects));
	CU_ASSERT_TRUE(shim_fn_has_session(SHIM_FN_C_Login));
	CU_ASSERT_FALSE(shim_fn_has_session(SHIM_FN_C_OpenSession));
	CU_ASSERT_FALSE(shim_fn_has_session(SHIM_FN_C_GetSlotList));
	CU_ASSERT_EQUAL(shim_rv_parse("CKR_TOKEN_NOT_PRESENT", 21, &rv), 0);
	CU_ASSERT_EQUAL(rv, 0xe0);
	CU_ASSERT_EQUAL(shim_rv_parse("0XB3", 4, &rv), 0);
	CU_ASSERT_EQUAL(rv, CKR_SESSION_HANDLE_INVALID);
	CU_ASSERT_EQUAL(shim_rv_parse("0xffffffffffffffff", 18, &rv), 0);
	CU_ASSERT_EQUAL(rv, (CK_RV)-1);
	CU_ASSERT_EQUAL(shim_rv_parse("CKR_DEVICE", 10, &rv), -1);
}

/* ---- the shim against SoftHSM2 ---- */

/* CUnit tests take no arguments: the token fixture is shared by this suite's tests. */
static struct {
	char dir[64];
	char ctl[128];
	char stats[128];
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE pub, priv;
} fx;

static const CK_BYTE tbs[] = "data signed through the shim";

static int ctl_write(const char *text)
{
	char tmp[160];
	FILE *fp;

	snprintf(tmp, sizeof(tmp), "%s.tmp", fx.ctl);
	if ((fp = fopen(tmp, "w")) == NULL)
		return -1;
	fputs(text, fp);
	if (fclose(fp) != 0)
		return -1;
	return rename(tmp, fx.ctl);
}

#define CTL(text) CU_ASSERT_EQUAL_FATAL(ctl_write(text), 0)

static int find_slot(CK_SLOT_ID *slot)
{
	CK_SLOT_ID ids[16];
	CK_ULONG n = 16, i;
	CK_TOKEN_INFO ti;

	if (fx.f->C_GetSlotList(CK_TRUE, ids, &n) != CKR_OK)
		return -1;
	for (i = 0; i < n; i++)
		if (fx.f->C_GetTokenInfo(ids[i], &ti) == CKR_OK &&
		    memcmp(ti.label, TOKEN_LABEL, strlen(TOKEN_LABEL)) == 0 &&
		    ti.label[strlen(TOKEN_LABEL)] == ' ') {
			*slot = ids[i];
			return 0;
		}
	return -1;
}

static CK_RV open_login(CK_SESSION_HANDLE *s)
{
	CK_RV rv;

	rv = fx.f->C_OpenSession(fx.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, s);
	if (rv != CKR_OK)
		return rv;
	rv = fx.f->C_Login(*s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN));
	return rv == CKR_USER_ALREADY_LOGGED_IN ? CKR_OK : rv;
}

static CK_RV generate_key(void)
{
	CK_MECHANISM mech = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
	CK_ULONG bits = 2048;
	CK_BYTE e[] = {1, 0, 1};
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE pub[] = {
	    {CKA_TOKEN, &yes, sizeof(yes)},
	    {CKA_VERIFY, &yes, sizeof(yes)},
	    {CKA_MODULUS_BITS, &bits, sizeof(bits)},
	    {CKA_PUBLIC_EXPONENT, e, sizeof(e)},
	    {CKA_LABEL, KEY_LABEL, strlen(KEY_LABEL)},
	};
	CK_ATTRIBUTE priv[] = {
	    {CKA_TOKEN, &yes, sizeof(yes)},
	    {CKA_PRIVATE, &yes, sizeof(yes)},
	    {CKA_SIGN, &yes, sizeof(yes)},
	    {CKA_LABEL, KEY_LABEL, strlen(KEY_LABEL)},
	};

	return fx.f->C_GenerateKeyPair(fx.s, &mech, pub, 5, priv, 4, &fx.pub, &fx.priv);
}

/* Objects of a class labelled KEY_LABEL: returns how many, the first in *o. */
static CK_RV find_key(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE *o,
		      CK_ULONG *found)
{
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
			    {CKA_LABEL, KEY_LABEL, strlen(KEY_LABEL)}};
	CK_RV rv;

	if ((rv = fx.f->C_FindObjectsInit(s, t, 2)) != CKR_OK)
		return rv;
	rv = fx.f->C_FindObjects(s, o, 1, found);
	(void)fx.f->C_FindObjectsFinal(s);
	return rv;
}

/* C_SignInit must work; the result is C_Sign's. */
static CK_RV sign_on(CK_SESSION_HANDLE s, CK_BYTE *sig, CK_ULONG *len)
{
	CK_MECHANISM mech = {CKM_SHA256_RSA_PKCS, NULL, 0};
	CK_RV rv;

	rv = fx.f->C_SignInit(s, &mech, fx.priv);
	if (rv != CKR_OK)
		fprintf(stderr, "\n  C_SignInit: 0x%lx\n", (unsigned long)rv);
	CU_ASSERT_EQUAL(rv, CKR_OK);
	if (rv != CKR_OK)
		return rv;
	*len = 512;
	return fx.f->C_Sign(s, (CK_BYTE_PTR)tbs, sizeof(tbs), sig, len);
}

static CK_RV sign(void)
{
	CK_BYTE sig[512];
	CK_ULONG len;

	return sign_on(fx.s, sig, &len);
}

static CK_RV verify(const CK_BYTE *sig, CK_ULONG len)
{
	CK_MECHANISM mech = {CKM_SHA256_RSA_PKCS, NULL, 0};
	CK_RV rv;

	if ((rv = fx.f->C_VerifyInit(fx.s, &mech, fx.pub)) != CKR_OK)
		return rv;
	return fx.f->C_Verify(fx.s, (CK_BYTE_PTR)tbs, sizeof(tbs), (CK_BYTE_PTR)sig, len);
}

static int softhsm_available(void)
{
	const char *m = getenv("SOFTHSM_MODULE");

	return system("command -v softhsm2-util >/dev/null 2>&1") == 0 &&
	       access(m != NULL ? m : "/usr/lib/softhsm/libsofthsm2.so", R_OK) == 0;
}

static int fixture_init(void)
{
	CK_C_INITIALIZE_ARGS args;
	CK_C_GetFunctionList gfl;
	char path[160], cmd[256];
	FILE *fp;

	snprintf(fx.dir, sizeof(fx.dir), "/tmp/test_p11shim.XXXXXX");
	if (mkdtemp(fx.dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/tokens", fx.dir);
	if (mkdir(path, 0700) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/softhsm2.conf", fx.dir);
	if ((fp = fopen(path, "w")) == NULL)
		return 1;
	fprintf(fp,
		"directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
		"log.level = ERROR\n",
		fx.dir);
	fclose(fp);
	setenv("SOFTHSM2_CONF", path, 1);
	snprintf(cmd, sizeof(cmd),
		 "softhsm2-util --init-token --free --label " TOKEN_LABEL
		 " --so-pin 12345678 --pin " USER_PIN " >%s/init.log 2>&1",
		 fx.dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "softhsm2-util --init-token failed (see %s/init.log)\n", fx.dir);
		return 1;
	}
	if (getenv("SOFTHSM_MODULE") != NULL)
		setenv("P11SHIM_MODULE", getenv("SOFTHSM_MODULE"), 1);
	snprintf(fx.ctl, sizeof(fx.ctl), "%s/control", fx.dir);
	snprintf(fx.stats, sizeof(fx.stats), "%s/stats", fx.dir);
	setenv("P11SHIM_CONTROL", fx.ctl, 1);

	/* Never dlclose()d: the shim is linked -z nodelete anyway. */
	if ((fx.dl = dlopen(P11SHIM_PATH, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "%s\n", dlerror());
		return 1;
	}
	gfl = (CK_C_GetFunctionList)dlsym(fx.dl, "C_GetFunctionList");
	if (gfl == NULL || gfl(&fx.f) != CKR_OK)
		return 1;
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	if (fx.f->C_Initialize(&args) != CKR_OK || find_slot(&fx.slot) != 0 ||
	    open_login(&fx.s) != CKR_OK || generate_key() != CKR_OK)
		return 1;
	return 0;
}

static int fixture_clean(void)
{
	char cmd[128];

	if (fx.dir[0] == '\0' || getenv("KEEP_TEST_DIR") != NULL)
		return 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.dir);
	return system(cmd);
}

static void test_function_table(void)
{
	void (*fp[SHIM_NFUNCS])(void);
	CK_FUNCTION_LIST_PTR again = NULL;
	CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(fx.dl, "C_GetFunctionList");
	int i;

	CU_ASSERT_EQUAL(fx.f->version.major, 2);
	CU_ASSERT_EQUAL(fx.f->version.minor, 40);
	memcpy(fp, &fx.f->C_Initialize, sizeof(fp));
	for (i = 0; i < SHIM_NFUNCS; i++)
		if (fp[i] == NULL)
			CU_FAIL(shim_fn_name(i));
	CU_ASSERT_PTR_EQUAL((void *)fp[SHIM_NFUNCS - 1], (void *)fx.f->C_WaitForSlotEvent);
	CU_ASSERT_EQUAL(gfl(&again), CKR_OK);
	CU_ASSERT_PTR_EQUAL(again, fx.f);
	/* The shim's internals stay hidden. */
	CU_ASSERT_PTR_NULL(dlsym(fx.dl, "shim_enter"));
	CU_ASSERT_PTR_NULL(dlsym(fx.dl, "shim_parse"));
}

static void test_clean_sign(void)
{
	CK_BYTE sig[512];
	CK_ULONG len = 0;

	CTL("clear\n");
	CU_ASSERT_EQUAL_FATAL(sign_on(fx.s, sig, &len), CKR_OK);
	CU_ASSERT_EQUAL(len, 256);
	CU_ASSERT_EQUAL(verify(sig, len), CKR_OK);
	sig[10] ^= 1;
	CU_ASSERT_EQUAL(verify(sig, len), CKR_SIGNATURE_INVALID);
}

static void test_count(void)
{
	CK_BYTE sig[512];
	CK_ULONG len = 0;

	CTL("C_Sign CKR_DEVICE_ERROR count=2\n");
	CU_ASSERT_EQUAL(sign(), CKR_DEVICE_ERROR);
	/* The injected failure ended the real operation too: C_SignInit works again. */
	CU_ASSERT_EQUAL(sign(), CKR_DEVICE_ERROR);
	CU_ASSERT_EQUAL(sign_on(fx.s, sig, &len), CKR_OK);
	CU_ASSERT_EQUAL(verify(sig, len), CKR_OK);
	CU_ASSERT_EQUAL(sign(), CKR_OK);
}

static void test_always_until_clear(void)
{
	CK_INFO info;
	CK_SESSION_INFO si;
	CK_ULONG n = 0;
	int i;

	CTL("C_Sign CKR_DEVICE_ERROR always\n");
	for (i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(sign(), CKR_DEVICE_ERROR);
	CU_ASSERT_EQUAL(fx.f->C_GetInfo(&info), CKR_OK); /* other functions are untouched */
	CTL("clear\n");
	CU_ASSERT_EQUAL(sign(), CKR_OK);

	CTL("* CKR_DEVICE_REMOVED always\n");
	CU_ASSERT_EQUAL(fx.f->C_GetInfo(&info), CKR_DEVICE_REMOVED);
	CU_ASSERT_EQUAL(fx.f->C_GetSessionInfo(fx.s, &si), CKR_DEVICE_REMOVED);
	CU_ASSERT_EQUAL(fx.f->C_GetSlotList(CK_TRUE, NULL, &n), CKR_DEVICE_REMOVED);
	CU_ASSERT_EQUAL(fx.f->C_SignInit(fx.s, NULL, fx.priv), CKR_DEVICE_REMOVED);
	/* A control file that goes away takes its faults with it. */
	CU_ASSERT_EQUAL_FATAL(unlink(fx.ctl), 0);
	CU_ASSERT_EQUAL(fx.f->C_GetInfo(&info), CKR_OK);
	CU_ASSERT_EQUAL(fx.f->C_GetSessionInfo(fx.s, &si), CKR_OK);
	CU_ASSERT_EQUAL(sign(), CKR_OK);
}

static void test_hex_and_bad_file(void)
{
	CK_INFO info;

	CTL("C_GetInfo 0x80000123 count=1\n");
	CU_ASSERT_EQUAL(fx.f->C_GetInfo(&info), 0x80000123UL);
	CU_ASSERT_EQUAL(fx.f->C_GetInfo(&info), CKR_OK);
	/* A file that does not parse injects nothing (and says why on stderr). */
	fprintf(stderr, "\n  (a p11shim complaint about \"C_Sgn\" is expected here)\n");
	CTL("C_GetInfo CKR_DEVICE_ERROR always\nC_Sgn CKR_DEVICE_ERROR\n");
	CU_ASSERT_EQUAL(fx.f->C_GetInfo(&info), CKR_OK);
	CU_ASSERT_EQUAL(sign(), CKR_OK);
}

static void test_login_fault(void)
{
	CK_ULONG n = 0;

	CU_ASSERT_EQUAL_FATAL(fx.f->C_Logout(fx.s), CKR_OK);
	CTL("C_Login CKR_PIN_INCORRECT count=1\n");
	CU_ASSERT_EQUAL(fx.f->C_Login(fx.s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)),
			CKR_PIN_INCORRECT);
	CU_ASSERT_EQUAL(fx.f->C_Login(fx.s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)),
			CKR_OK);
	/* SoftHSM2 drops private objects' handles at C_Logout: find the key again. */
	CU_ASSERT_EQUAL_FATAL(find_key(fx.s, CKO_PRIVATE_KEY, &fx.priv, &n), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(sign(), CKR_OK);
}

static void test_close_session(void)
{
	CK_SESSION_HANDLE s2;
	CK_SESSION_INFO si;
	CK_BYTE sig[512];
	CK_ULONG len;

	CTL("clear\n");
	CU_ASSERT_EQUAL_FATAL(open_login(&s2), CKR_OK);
	CU_ASSERT_EQUAL(fx.f->C_GetSessionInfo(s2, &si), CKR_OK);
	CTL("C_Sign CKR_SESSION_HANDLE_INVALID close_session count=1\n");
	CU_ASSERT_EQUAL(sign_on(s2, sig, &len), CKR_SESSION_HANDLE_INVALID);
	/* The rule is used up: these answers come from the real module. */
	len = sizeof(sig);
	CU_ASSERT_EQUAL(fx.f->C_Sign(s2, (CK_BYTE_PTR)tbs, sizeof(tbs), sig, &len),
			CKR_SESSION_HANDLE_INVALID);
	CU_ASSERT_EQUAL(fx.f->C_GetSessionInfo(s2, &si), CKR_SESSION_HANDLE_INVALID);
	CU_ASSERT_EQUAL(fx.f->C_CloseSession(s2), CKR_SESSION_HANDLE_INVALID);
	/* Other sessions live on. */
	CU_ASSERT_EQUAL(sign(), CKR_OK);
}

static void test_reset(void)
{
	CK_C_INITIALIZE_ARGS args;
	CK_SESSION_INFO si;
	CK_ULONG n = 0;

	CTL("C_Sign CKR_DEVICE_ERROR reset count=1\n");
	CU_ASSERT_EQUAL(sign(), CKR_DEVICE_ERROR);
	/* The real module is finalised: every handle is gone. */
	CU_ASSERT_EQUAL(fx.f->C_GetSessionInfo(fx.s, &si), CKR_CRYPTOKI_NOT_INITIALIZED);
	CU_ASSERT_EQUAL(fx.f->C_GetSlotList(CK_TRUE, NULL, &n), CKR_CRYPTOKI_NOT_INITIALIZED);
	CU_ASSERT_EQUAL(fx.f->C_OpenSession(fx.slot, CKF_SERIAL_SESSION, NULL, NULL, &fx.s),
			CKR_CRYPTOKI_NOT_INITIALIZED);
	/* The caller's recovery: finalise (answered CKR_OK), initialise, start again. */
	CU_ASSERT_EQUAL(fx.f->C_Finalize(NULL), CKR_OK);
	CU_ASSERT_EQUAL(fx.f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	CU_ASSERT_EQUAL_FATAL(fx.f->C_Initialize(&args), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(find_slot(&fx.slot), 0);
	CU_ASSERT_EQUAL_FATAL(open_login(&fx.s), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(find_key(fx.s, CKO_PRIVATE_KEY, &fx.priv, &n), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL_FATAL(find_key(fx.s, CKO_PUBLIC_KEY, &fx.pub, &n), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(sign(), CKR_OK);
}

static void test_empty(void)
{
	CK_SLOT_ID ids[16];
	CK_OBJECT_HANDLE o;
	CK_ULONG n;
	int i;

	CTL("C_GetSlotList empty count=5\nC_FindObjects empty count=1\n");
	for (i = 0; i < 5; i++) {
		n = 99;
		CU_ASSERT_EQUAL(fx.f->C_GetSlotList(i % 2, i < 3 ? NULL : ids, &n), CKR_OK);
		CU_ASSERT_EQUAL(n, 0);
	}
	n = 0;
	CU_ASSERT_EQUAL(fx.f->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
	CU_ASSERT_TRUE(n >= 1);
	n = 99;
	CU_ASSERT_EQUAL(find_key(fx.s, CKO_PRIVATE_KEY, &o, &n), CKR_OK);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(find_key(fx.s, CKO_PRIVATE_KEY, &o, &n), CKR_OK);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(o, fx.priv);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void test_delay(void)
{
	double t0;

	CTL("C_Sign delay_ms=200 count=1\n");
	t0 = now_ms();
	CU_ASSERT_EQUAL(sign(), CKR_OK); /* delayed, then forwarded */
	CU_ASSERT_TRUE(now_ms() - t0 >= 200.0);
}

struct hang_ctx {
	atomic_int released; /* set just before the control file is rewritten */
	atomic_int done;     /* set when the hanging C_Sign returned */
	int released_at_return;
	CK_RV rv;
};

static void *hang_signer(void *arg)
{
	struct hang_ctx *h = arg;

	h->rv = sign();
	h->released_at_return = atomic_load(&h->released);
	atomic_store(&h->done, 1);
	return NULL;
}

static void *hang_releaser(void *arg)
{
	struct hang_ctx *h = arg;
	struct timespec ts = {0, 300 * 1000000L};

	nanosleep(&ts, NULL);
	atomic_store(&h->released, 1);
	if (ctl_write("clear\n") != 0)
		atomic_store(&h->released, 2);
	return NULL;
}

static void test_hang(void)
{
	struct hang_ctx h = {0};
	pthread_t signer, releaser;
	struct timespec ts = {0, 50 * 1000000L};
	CK_INFO info;

	CTL("C_Sign hang\n");
	CU_ASSERT_EQUAL_FATAL(pthread_create(&signer, NULL, hang_signer, &h), 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&releaser, NULL, hang_releaser, &h), 0);
	nanosleep(&ts, NULL);
	/* A hanging call blocks only itself. */
	CU_ASSERT_EQUAL(fx.f->C_GetInfo(&info), CKR_OK);
	CU_ASSERT_EQUAL(atomic_load(&h.done), 0);
	pthread_join(releaser, NULL);
	pthread_join(signer, NULL);
	CU_ASSERT_EQUAL(h.released_at_return, 1); /* returned only after the rewrite */
	CU_ASSERT_EQUAL(h.rv, CKR_OK);		  /* and then followed the new rules */
}

#define WORKERS	   4
#define PER_WORKER 20

struct worker {
	CK_SESSION_HANDLE s;
	int ok, failed, other;
};

static void *sign_worker(void *arg)
{
	struct worker *w = arg;
	CK_BYTE sig[512];
	CK_ULONG len;
	CK_RV rv;
	int i;

	for (i = 0; i < PER_WORKER; i++) {
		rv = sign_on(w->s, sig, &len);
		if (rv == CKR_OK)
			w->ok++;
		else if (rv == CKR_DEVICE_ERROR)
			w->failed++;
		else
			w->other++;
	}
	return NULL;
}

static void test_threads(void)
{
	struct worker w[WORKERS] = {0};
	pthread_t t[WORKERS];
	int i, ok = 0, failed = 0, other = 0;

	CTL("C_Sign CKR_DEVICE_ERROR count=10\n");
	for (i = 0; i < WORKERS; i++)
		CU_ASSERT_EQUAL_FATAL(open_login(&w[i].s), CKR_OK);
	for (i = 0; i < WORKERS; i++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, sign_worker, &w[i]), 0);
	for (i = 0; i < WORKERS; i++) {
		pthread_join(t[i], NULL);
		ok += w[i].ok;
		failed += w[i].failed;
		other += w[i].other;
		CU_ASSERT_EQUAL(fx.f->C_CloseSession(w[i].s), CKR_OK);
	}
	CU_ASSERT_EQUAL(failed, 10);
	CU_ASSERT_EQUAL(ok, WORKERS * PER_WORKER - 10);
	CU_ASSERT_EQUAL(other, 0);
}

/* The last count the stats file gives for name (0 when absent); -1 on a malformed line. */
static long stat_of(const char *name, int *lines)
{
	char line[128], fn[64];
	unsigned long v;
	long last = 0;
	FILE *fp;

	*lines = 0;
	if ((fp = fopen(fx.stats, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL) {
		char extra;

		(*lines)++;
		if (sscanf(line, "%63s %lu%c", fn, &v, &extra) != 3 || extra != '\n' ||
		    strncmp(fn, "C_", 2) != 0 || shim_fn_lookup(fn, strlen(fn)) < 0) {
			last = -1;
			break;
		}
		if (strcmp(fn, name) == 0)
			last = (long)v;
	}
	fclose(fp);
	return last;
}

static void test_stats(void)
{
	char ctl[256];
	CK_SLOT_INFO si;
	CK_INFO info;
	long info0, slot0, sign0;
	int lines0, lines1, i;

	/* A snapshot is appended when the shim notices the change, at the start of a call. */
	snprintf(ctl, sizeof(ctl), "stats %s\n# first\n", fx.stats);
	CTL(ctl);
	CU_ASSERT_EQUAL(fx.f->C_GetSlotInfo(fx.slot, &si), CKR_OK);
	info0 = stat_of("C_GetInfo", &lines0);
	slot0 = stat_of("C_GetSlotInfo", &lines0);
	sign0 = stat_of("C_Sign", &lines0);
	CU_ASSERT_TRUE(lines0 > 0);
	CU_ASSERT_TRUE(info0 > 0);
	/* C_Sign calls by the tests before this one: 1 + 4 + 7 + 1 + 1 + 3 + 2 + 1 + 1 + 80. */
	CU_ASSERT_EQUAL(sign0, 101);
	CU_ASSERT_EQUAL(stat_of("C_GetFunctionList", &lines0), 2);
	CU_ASSERT_EQUAL(stat_of("C_Initialize", &lines0), 2);
	CU_ASSERT_EQUAL(stat_of("C_GenerateKeyPair", &lines0), 1);
	CU_ASSERT_EQUAL(stat_of("C_WaitForSlotEvent", &lines0), 0);

	for (i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(fx.f->C_GetInfo(&info), CKR_OK);
	snprintf(ctl, sizeof(ctl), "stats %s\n# second\n", fx.stats);
	CTL(ctl);
	CU_ASSERT_EQUAL(fx.f->C_GetSlotInfo(fx.slot, &si), CKR_OK);
	CU_ASSERT_EQUAL(stat_of("C_GetInfo", &lines1), info0 + 3);
	CU_ASSERT_EQUAL(stat_of("C_GetSlotInfo", &lines1), slot0 + 1);
	CU_ASSERT_EQUAL(stat_of("C_Sign", &lines1), sign0);
	CU_ASSERT_TRUE(lines1 > lines0);
}

/* Last: C_Finalize appends a final snapshot that counts itself. */
static void test_finalize_stats(void)
{
	int lines0, lines1;
	long fin0 = stat_of("C_Finalize", &lines0);

	CU_ASSERT_EQUAL(fin0, 2); /* the two in test_reset */
	CU_ASSERT_EQUAL(fx.f->C_Finalize(NULL), CKR_OK);
	CU_ASSERT_EQUAL(stat_of("C_Finalize", &lines1), fin0 + 1);
	CU_ASSERT_TRUE(lines1 > lines0);
}

int main(void)
{
	CU_pSuite s;
	unsigned fails;
	int have_softhsm = softhsm_available();

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("p11shim grammar", NULL, NULL);
	CU_add_test(s, "control lines", test_parse_rules);
	CU_add_test(s, "control refusals", test_parse_refusals);
	CU_add_test(s, "function and return-value names", test_names);
	if (have_softhsm) {
		s = CU_add_suite("p11shim on SoftHSM2", fixture_init, fixture_clean);
		CU_add_test(s, "function table", test_function_table);
		CU_add_test(s, "clean C_Sign", test_clean_sign);
		CU_add_test(s, "count=2", test_count);
		CU_add_test(s, "always until clear, *, no file", test_always_until_clear);
		CU_add_test(s, "hex value, unparsable file", test_hex_and_bad_file);
		CU_add_test(s, "C_Login fault", test_login_fault);
		CU_add_test(s, "close_session", test_close_session);
		CU_add_test(s, "reset", test_reset);
		CU_add_test(s, "empty", test_empty);
		CU_add_test(s, "delay_ms", test_delay);
		CU_add_test(s, "hang until the file changes", test_hang);
		CU_add_test(s, "count across threads", test_threads);
		CU_add_test(s, "stats", test_stats);
		CU_add_test(s, "stats at C_Finalize", test_finalize_stats);
	} else {
		fprintf(stderr, "SKIP: softhsm2-util or the SoftHSM2 module is not installed\n");
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	if (fails)
		return 1;
	return have_softhsm ? 0 : SKIP;
}
