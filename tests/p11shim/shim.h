/* Fault-injecting PKCS#11 shim (tests only): the interface between its three files. */
#ifndef SIGNERD_TESTS_P11SHIM_SHIM_H
#define SIGNERD_TESTS_P11SHIM_SHIM_H

#include <p11-kit/pkcs11.h>
#include <stddef.h>

/* One index per function of the 2.40 function list, in CK_FUNCTION_LIST order. */
enum shim_fn {
#define SHIM_F(n, p, a) SHIM_FN_##n,
#define SHIM_S(n, p, a) SHIM_FN_##n,
#define SHIM_X(n, s)	SHIM_FN_##n,
#include "tests/p11shim/shim_funcs.h"
#undef SHIM_F
#undef SHIM_S
#undef SHIM_X
	SHIM_NFUNCS
};

#define SHIM_ANY_FN	  (-1)	/* a rule for "*": every function */
#define SHIM_MAX_RULES	  64	/* rules in one control file */
#define SHIM_MAX_CONTROL  65536 /* bytes of control file read */
#define SHIM_PATH_MAX	  4096	/* the stats file's path */
#define SHIM_MAX_COUNT	  1000000000L
#define SHIM_MAX_DELAY_MS 3600000UL

enum shim_action {
	SHIM_PASS,  /* forward (after the delay, if any) */
	SHIM_RV,    /* return rv without calling the real function */
	SHIM_EMPTY, /* return CKR_OK and zero results (C_GetSlotList, C_FindObjects) */
	SHIM_HANG,  /* block until the control file changes, then look at the rules again */
};

struct shim_rule {
	int fn; /* enum shim_fn or SHIM_ANY_FN */
	enum shim_action action;
	CK_RV rv;
	unsigned long delay_ms;
	long count; /* calls left to fault; -1: always */
	int close_session;
	int reset;
};

struct shim_rules {
	struct shim_rule r[SHIM_MAX_RULES];
	size_t n;
	char stats_path[SHIM_PATH_MAX]; /* "" without a "stats" line */
};

/* shim_rules.c: names and the control-file grammar; no state. */
const char *shim_fn_name(int fn);
int shim_fn_lookup(const char *name, size_t len); /* -1 when unknown */
int shim_fn_has_empty(int fn);
int shim_fn_has_session(int fn);
int shim_rv_parse(const char *s, size_t len, CK_RV *rv);
int shim_parse(const char *text, size_t len, struct shim_rules *out, char *err, size_t errlen);

/* What a forwarder does with a call, decided by shim_enter(). */
enum shim_verdict {
	SHIM_FORWARD,
	SHIM_INJECT, /* return d->rv */
	SHIM_ZERO,   /* return CKR_OK with zero results */
};

struct shim_decision {
	enum shim_verdict what;
	CK_RV rv;
	int session_gone; /* close_session or reset ran: the real session no longer exists */
};

/* shim_state.c: the process-wide state (see the comment there). */
CK_RV shim_load(const CK_FUNCTION_LIST *self, CK_C_GetFunctionList self_gfl);
void shim_enter(int fn, CK_SESSION_HANDLE s, struct shim_decision *d);
CK_FUNCTION_LIST_PTR shim_real_begin(void); /* NULL: not loaded; else call shim_real_end() */
void shim_real_end(void);
CK_FUNCTION_LIST_PTR shim_real_unlocked(void);
CK_RV shim_real_initialize(CK_VOID_PTR args);
CK_RV shim_real_finalize(CK_VOID_PTR reserved);

#endif
