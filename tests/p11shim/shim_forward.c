/*
 * The shim's function table: every function of the 2.40 list asks shim_enter() what to do,
 * then forwards to the real module or returns the injected fault. C_GetFunctionList is the
 * library's only exported symbol.
 */
#include "tests/p11shim/shim.h"

#include <stddef.h>
#include <stdlib.h>

#define SHIM_EXPORT __attribute__((visibility("default")))

/* Generic forwarders, generated from shim_funcs.h. */
#define SHIM_FORWARD_BODY(n, args, session)                                                        \
	{                                                                                          \
		struct shim_decision d;                                                            \
		CK_FUNCTION_LIST_PTR f;                                                            \
		CK_RV rv;                                                                          \
                                                                                                   \
		shim_enter(SHIM_FN_##n, session, &d);                                              \
		if (d.what != SHIM_FORWARD)                                                        \
			return d.rv;                                                               \
		if ((f = shim_real_begin()) == NULL)                                               \
			return CKR_CRYPTOKI_NOT_INITIALIZED;                                       \
		rv = f->n args;                                                                    \
		shim_real_end();                                                                   \
		return rv;                                                                         \
	}
#define SHIM_F(n, params, args) static CK_RV shim_##n params SHIM_FORWARD_BODY(n, args, 0)
#define SHIM_S(n, params, args) static CK_RV shim_##n params SHIM_FORWARD_BODY(n, args, s)
#define SHIM_X(n, s)
#include "tests/p11shim/shim_funcs.h"
#undef SHIM_F
#undef SHIM_S
#undef SHIM_X

static CK_RV shim_C_Initialize(CK_VOID_PTR args)
{
	struct shim_decision d;

	shim_enter(SHIM_FN_C_Initialize, 0, &d);
	if (d.what != SHIM_FORWARD)
		return d.rv;
	return shim_real_initialize(args);
}

static CK_RV shim_C_Finalize(CK_VOID_PTR reserved)
{
	struct shim_decision d;

	shim_enter(SHIM_FN_C_Finalize, 0, &d);
	if (d.what != SHIM_FORWARD)
		return d.rv;
	return shim_real_finalize(reserved);
}

static CK_RV shim_C_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
	struct shim_decision d;
	CK_FUNCTION_LIST_PTR f;
	CK_RV rv;

	shim_enter(SHIM_FN_C_GetSlotList, 0, &d);
	if (d.what == SHIM_INJECT)
		return d.rv;
	if (d.what == SHIM_ZERO) {
		/* No slot at all, as after a re-initialisation while a remote token is down. */
		if (count == NULL)
			return CKR_ARGUMENTS_BAD;
		*count = 0;
		return CKR_OK;
	}
	if ((f = shim_real_begin()) == NULL)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	rv = f->C_GetSlotList(present, list, count);
	shim_real_end();
	return rv;
}

static CK_RV shim_C_FindObjects(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR obj, CK_ULONG max,
				CK_ULONG_PTR count)
{
	struct shim_decision d;
	CK_FUNCTION_LIST_PTR f;
	CK_RV rv;

	shim_enter(SHIM_FN_C_FindObjects, s, &d);
	if (d.what == SHIM_INJECT)
		return d.rv;
	if (d.what == SHIM_ZERO) {
		/* Nothing found; the search stays active until C_FindObjectsFinal. */
		if (count == NULL)
			return CKR_ARGUMENTS_BAD;
		*count = 0;
		return CKR_OK;
	}
	if ((f = shim_real_begin()) == NULL)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	rv = f->C_FindObjects(s, obj, max, count);
	shim_real_end();
	return rv;
}

/*
 * A failed C_Sign ends the signing operation (PKCS#11 2.40, 5.11), so after an injected
 * failure the caller may C_SignInit again at once. The real module still has the operation
 * active: finish it into a scratch buffer and throw the signature away.
 */
static void end_real_sign(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len)
{
	CK_FUNCTION_LIST_PTR f = shim_real_begin();
	CK_BYTE_PTR scratch = NULL;
	CK_ULONG len = 0;

	if (f == NULL)
		return;
	if (f->C_Sign(s, in, in_len, NULL, &len) == CKR_OK && len > 0 && len <= 65536 &&
	    (scratch = malloc(len)) != NULL)
		(void)f->C_Sign(s, in, in_len, scratch, &len);
	shim_real_end();
	free(scratch);
}

static CK_RV shim_C_Sign(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR sig,
			 CK_ULONG_PTR sig_len)
{
	struct shim_decision d;
	CK_FUNCTION_LIST_PTR f;
	CK_RV rv;

	shim_enter(SHIM_FN_C_Sign, s, &d);
	if (d.what != SHIM_FORWARD) {
		if (!d.session_gone && d.rv != CKR_BUFFER_TOO_SMALL)
			end_real_sign(s, in, in_len);
		return d.rv;
	}
	if ((f = shim_real_begin()) == NULL)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	rv = f->C_Sign(s, in, in_len, sig, sig_len);
	shim_real_end();
	return rv;
}

/* Not under the life lock: a module may block here for as long as it likes. */
static CK_RV shim_C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR reserved)
{
	struct shim_decision d;
	CK_FUNCTION_LIST_PTR f;

	shim_enter(SHIM_FN_C_WaitForSlotEvent, 0, &d);
	if (d.what != SHIM_FORWARD)
		return d.rv;
	if ((f = shim_real_unlocked()) == NULL)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	return f->C_WaitForSlotEvent(flags, slot, reserved);
}

static CK_RV shim_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);

static const CK_FUNCTION_LIST shim_list = {
    .version = {2, 40},
#define SHIM_F(n, p, a) .n = shim_##n,
#define SHIM_S(n, p, a) .n = shim_##n,
#define SHIM_X(n, s)	.n = shim_##n,
#include "tests/p11shim/shim_funcs.h"
#undef SHIM_F
#undef SHIM_S
#undef SHIM_X
};

/* Every entry of the table is filled: one X-macro line per pointer of CK_FUNCTION_LIST. */
_Static_assert(sizeof(CK_FUNCTION_LIST) - offsetof(CK_FUNCTION_LIST, C_Initialize) ==
		   SHIM_NFUNCS * sizeof(CK_C_Initialize),
	       "shim_funcs.h does not list every function of CK_FUNCTION_LIST");

static CK_RV shim_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	struct shim_decision d;
	CK_RV rv;

	if ((rv = shim_load(&shim_list, C_GetFunctionList)) != CKR_OK)
		return rv;
	shim_enter(SHIM_FN_C_GetFunctionList, 0, &d);
	if (d.what != SHIM_FORWARD)
		return d.rv;
	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	*list = (CK_FUNCTION_LIST_PTR)&shim_list;
	return CKR_OK;
}

SHIM_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	return shim_C_GetFunctionList(list);
}
