/* Loading a PKCS#11 module from an allowlisted directory. */
#include "pkcs11/p11.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int under_dir(const char *path, const char *dir)
{
	char rdir[PATH_MAX];
	size_t n;

	if (realpath(dir, rdir) == NULL)
		return 0;
	n = strlen(rdir);
	if (n > 0 && rdir[n - 1] == '/')
		rdir[--n] = '\0';
	return strncmp(path, rdir, n) == 0 && path[n] == '/';
}

int p11_module_load(const char *path, char *const *allowed, size_t nallowed,
		    struct p11_module **out, struct sd_err *e)
{
	struct p11_module *m = NULL;
	CK_C_GetFunctionList gfl;
	CK_C_INITIALIZE_ARGS args;
	CK_RV rv;
	size_t i;
	int ok = nallowed == 0;
	char rpath[PATH_MAX];

	if (realpath(path, rpath) == NULL)
		return sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "PKCS#11 module %s: %s", path,
				  strerror(errno));
	for (i = 0; i < nallowed && !ok; i++)
		ok = under_dir(rpath, allowed[i]);
	if (!ok)
		return sd_err_set(e, SD_E_TOKEN_UNAVAILABLE,
				  "PKCS#11 module %s (%s) is not under any token.allowed_modules "
				  "directory",
				  path, rpath);
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	snprintf(m->path, sizeof(m->path), "%s", rpath);
	m->dl = dlopen(rpath, RTLD_NOW | RTLD_LOCAL);
	if (m->dl == NULL) {
		sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "cannot load PKCS#11 module %s: %s", rpath,
			   dlerror());
		goto fail;
	}
	gfl = (CK_C_GetFunctionList)dlsym(m->dl, "C_GetFunctionList");
	if (gfl == NULL) {
		sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "%s has no C_GetFunctionList", rpath);
		goto fail;
	}
	rv = gfl(&m->f);
	if (rv != CKR_OK || m->f == NULL) {
		sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "%s: C_GetFunctionList: %s", rpath,
			   p11_rv_name(rv));
		goto fail;
	}
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = m->f->C_Initialize(&args);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		sd_err_set(e, SD_E_TOKEN_UNAVAILABLE, "%s: C_Initialize: %s", rpath,
			   p11_rv_name(rv));
		m->f = NULL;
		goto fail;
	}
	*out = m;
	return 0;
fail:
	p11_module_free(m);
	return -1;
}

void p11_module_free(struct p11_module *m)
{
	if (m == NULL)
		return;
	if (m->f != NULL)
		m->f->C_Finalize(NULL);
	if (m->dl != NULL)
		dlclose(m->dl);
	free(m);
}

const char *p11_rv_name(CK_RV rv)
{
	switch (rv) {
#define R(x)                                                                                       \
	case x:                                                                                    \
		return #x;
		R(CKR_OK)
		R(CKR_HOST_MEMORY)
		R(CKR_SLOT_ID_INVALID)
		R(CKR_GENERAL_ERROR)
		R(CKR_FUNCTION_FAILED)
		R(CKR_ARGUMENTS_BAD)
		R(CKR_ATTRIBUTE_READ_ONLY)
		R(CKR_ATTRIBUTE_SENSITIVE)
		R(CKR_ATTRIBUTE_TYPE_INVALID)
		R(CKR_ATTRIBUTE_VALUE_INVALID)
		R(CKR_DATA_INVALID)
		R(CKR_DATA_LEN_RANGE)
		R(CKR_DEVICE_ERROR)
		R(CKR_DEVICE_MEMORY)
		R(CKR_DEVICE_REMOVED)
		R(CKR_FUNCTION_CANCELED)
		R(CKR_FUNCTION_NOT_SUPPORTED)
		R(CKR_KEY_HANDLE_INVALID)
		R(CKR_KEY_TYPE_INCONSISTENT)
		R(CKR_KEY_FUNCTION_NOT_PERMITTED)
		R(CKR_MECHANISM_INVALID)
		R(CKR_MECHANISM_PARAM_INVALID)
		R(CKR_OBJECT_HANDLE_INVALID)
		R(CKR_OPERATION_ACTIVE)
		R(CKR_OPERATION_NOT_INITIALIZED)
		R(CKR_PIN_INCORRECT)
		R(CKR_PIN_INVALID)
		R(CKR_PIN_LEN_RANGE)
		R(CKR_PIN_EXPIRED)
		R(CKR_PIN_LOCKED)
		R(CKR_SESSION_CLOSED)
		R(CKR_SESSION_COUNT)
		R(CKR_SESSION_HANDLE_INVALID)
		R(CKR_SESSION_READ_ONLY)
		R(CKR_TEMPLATE_INCOMPLETE)
		R(CKR_TEMPLATE_INCONSISTENT)
		R(CKR_TOKEN_NOT_PRESENT)
		R(CKR_TOKEN_NOT_RECOGNIZED)
		R(CKR_TOKEN_WRITE_PROTECTED)
		R(CKR_USER_ALREADY_LOGGED_IN)
		R(CKR_USER_NOT_LOGGED_IN)
		R(CKR_USER_PIN_NOT_INITIALIZED)
		R(CKR_USER_TYPE_INVALID)
		R(CKR_BUFFER_TOO_SMALL)
		R(CKR_CRYPTOKI_NOT_INITIALIZED)
		R(CKR_CRYPTOKI_ALREADY_INITIALIZED)
#undef R
	default:
		return "CKR_(other)";
	}
}
