/*
 * Every function of the PKCS#11 2.40 function list, in CK_FUNCTION_LIST order, as an X-macro.
 * A user defines three macros, includes this file, and undefines them:
 *   SHIM_F(name, params, args)  forwarded generically, no session argument
 *   SHIM_S(name, params, args)  forwarded generically, first argument is the session `s`
 *   SHIM_X(name, session)       forwarded by hand in shim_forward.c; session: 1 when the
 *                               first argument is the session handle
 * No include guard: it is meant to be included several times.
 */
SHIM_X(C_Initialize, 0)
SHIM_X(C_Finalize, 0)
SHIM_F(C_GetInfo, (CK_INFO_PTR info), (info))
SHIM_X(C_GetFunctionList, 0)
SHIM_X(C_GetSlotList, 0)
SHIM_F(C_GetSlotInfo, (CK_SLOT_ID slot, CK_SLOT_INFO_PTR info), (slot, info))
SHIM_F(C_GetTokenInfo, (CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info), (slot, info))
SHIM_F(C_GetMechanismList, (CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count),
       (slot, list, count))
SHIM_F(C_GetMechanismInfo, (CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info),
       (slot, type, info))
SHIM_F(C_InitToken, (CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len, CK_UTF8CHAR_PTR label),
       (slot, pin, pin_len, label))
SHIM_S(C_InitPIN, (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len), (s, pin, pin_len))
SHIM_S(C_SetPIN,
       (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR old_pin, CK_ULONG old_len, CK_UTF8CHAR_PTR new_pin,
	CK_ULONG new_len),
       (s, old_pin, old_len, new_pin, new_len))
SHIM_F(C_OpenSession,
       (CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
	CK_SESSION_HANDLE_PTR s),
       (slot, flags, app, notify, s))
SHIM_S(C_CloseSession, (CK_SESSION_HANDLE s), (s))
SHIM_F(C_CloseAllSessions, (CK_SLOT_ID slot), (slot))
SHIM_S(C_GetSessionInfo, (CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR info), (s, info))
SHIM_S(C_GetOperationState, (CK_SESSION_HANDLE s, CK_BYTE_PTR state, CK_ULONG_PTR state_len),
       (s, state, state_len))
SHIM_S(C_SetOperationState,
       (CK_SESSION_HANDLE s, CK_BYTE_PTR state, CK_ULONG state_len, CK_OBJECT_HANDLE enc_key,
	CK_OBJECT_HANDLE auth_key),
       (s, state, state_len, enc_key, auth_key))
SHIM_S(C_Login, (CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len),
       (s, user, pin, pin_len))
SHIM_S(C_Logout, (CK_SESSION_HANDLE s), (s))
SHIM_S(C_CreateObject,
       (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_OBJECT_HANDLE_PTR obj),
       (s, tmpl, n, obj))
SHIM_S(C_CopyObject,
       (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n,
	CK_OBJECT_HANDLE_PTR copy),
       (s, obj, tmpl, n, copy))
SHIM_S(C_DestroyObject, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj), (s, obj))
SHIM_S(C_GetObjectSize, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj, CK_ULONG_PTR size),
       (s, obj, size))
SHIM_S(C_GetAttributeValue,
       (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n),
       (s, obj, tmpl, n))
SHIM_S(C_SetAttributeValue,
       (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n),
       (s, obj, tmpl, n))
SHIM_S(C_FindObjectsInit, (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n), (s, tmpl, n))
SHIM_X(C_FindObjects, 1)
SHIM_S(C_FindObjectsFinal, (CK_SESSION_HANDLE s), (s))
SHIM_S(C_EncryptInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key),
       (s, mech, key))
SHIM_S(C_Encrypt,
       (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
	CK_ULONG_PTR out_len),
       (s, in, in_len, out, out_len))
SHIM_S(C_EncryptUpdate,
       (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
	CK_ULONG_PTR out_len),
       (s, in, in_len, out, out_len))
SHIM_S(C_EncryptFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG_PTR out_len),
       (s, out, out_len))
SHIM_S(C_DecryptInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key),
       (s, mech, key))
SHIM_S(C_Decrypt,
       (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
	CK_ULONG_PTR out_len),
       (s, in, in_len, out, out_len))
SHIM_S(C_DecryptUpdate,
       (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
	CK_ULONG_PTR out_len),
       (s, in, in_len, out, out_len))
SHIM_S(C_DecryptFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG_PTR out_len),
       (s, out, out_len))
SHIM_S(C_DigestInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech), (s, mech))
SHIM_S(C_Digest,
       (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
	CK_ULONG_PTR out_len),
       (s, in, in_len, out, out_len))
SHIM_S(C_DigestUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len), (s, in, in_len))
SHIM_S(C_DigestKey, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key), (s, key))
SHIM_S(C_DigestFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG_PTR out_len),
       (s, out, out_len))
SHIM_S(C_SignInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key),
       (s, mech, key))
SHIM_X(C_Sign, 1)
SHIM_S(C_SignUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len), (s, in, in_len))
SHIM_S(C_SignFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR sig, CK_ULONG_PTR sig_len), (s, sig, sig_len))
SHIM_S(C_SignRecoverInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key),
       (s, mech, key))
SHIM_S(C_SignRecover,
       (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR sig,
	CK_ULONG_PTR sig_len),
       (s, in, in_len, sig, sig_len))
SHIM_S(C_VerifyInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key),
       (s, mech, key))
SHIM_S(C_Verify,
       (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR sig, CK_ULONG sig_len),
       (s, in, in_len, sig, sig_len))
SHIM_S(C_VerifyUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len), (s, in, in_len))
SHIM_S(C_VerifyFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR sig, CK_ULONG sig_len), (s, sig, sig_len))
SHIM_S(C_VerifyRecoverInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key),
       (s, mech, key))
SHIM_S(C_VerifyRecover,
       (CK_SESSION_HANDLE s, CK_BYTE_PTR sig, CK_ULONG sig_len, CK_BYTE_PTR out,
	CK_ULONG_PTR out_len),
       (s, sig, sig_len, out, out_len))
SHIM_S(C_DigestEncryptUpdate,
       (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
	CK_ULONG_PTR out_len),
       (s, in, in_len, out, out_len))
SHIM_S(C_DecryptDigestUpdate,
       (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
	CK_ULONG_PTR out_len),
       (s, in, in_len, out, out_len))
SHIM_S(C_SignEncryptUpdate,
       (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
	CK_ULONG_PTR out_len),
       (s, in, in_len, out, out_len))
SHIM_S(C_DecryptVerifyUpdate,
       (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
	CK_ULONG_PTR out_len),
       (s, in, in_len, out, out_len))
SHIM_S(C_GenerateKey,
       (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n,
	CK_OBJECT_HANDLE_PTR key),
       (s, mech, tmpl, n, key))
SHIM_S(C_GenerateKeyPair,
       (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR pub_tmpl, CK_ULONG pub_n,
	CK_ATTRIBUTE_PTR priv_tmpl, CK_ULONG priv_n, CK_OBJECT_HANDLE_PTR pub,
	CK_OBJECT_HANDLE_PTR priv),
       (s, mech, pub_tmpl, pub_n, priv_tmpl, priv_n, pub, priv))
SHIM_S(C_WrapKey,
       (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE wrapping_key,
	CK_OBJECT_HANDLE key, CK_BYTE_PTR out, CK_ULONG_PTR out_len),
       (s, mech, wrapping_key, key, out, out_len))
SHIM_S(C_UnwrapKey,
       (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE unwrapping_key, CK_BYTE_PTR in,
	CK_ULONG in_len, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_OBJECT_HANDLE_PTR key),
       (s, mech, unwrapping_key, in, in_len, tmpl, n, key))
SHIM_S(C_DeriveKey,
       (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE base, CK_ATTRIBUTE_PTR tmpl,
	CK_ULONG n, CK_OBJECT_HANDLE_PTR key),
       (s, mech, base, tmpl, n, key))
SHIM_S(C_SeedRandom, (CK_SESSION_HANDLE s, CK_BYTE_PTR seed, CK_ULONG len), (s, seed, len))
SHIM_S(C_GenerateRandom, (CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG len), (s, out, len))
SHIM_S(C_GetFunctionStatus, (CK_SESSION_HANDLE s), (s))
SHIM_S(C_CancelFunction, (CK_SESSION_HANDLE s), (s))
SHIM_X(C_WaitForSlotEvent, 0)
