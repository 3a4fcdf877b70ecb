/*
 * The shim's process-wide state: the real module, the fault rules read from the control file,
 * and the call counters.
 *
 * This is the one exception to the project's "no file-level mutable state" rule. A PKCS#11
 * module has no context argument: C_GetFunctionList hands one function table to the whole
 * process, so whatever the table's functions share has to live in the library itself. It is
 * kept in exactly one static struct, every field guarded by `mu`; the real module's lifetime is
 * guarded by `life` (a forwarded call holds it for reading; the real C_Initialize and
 * C_Finalize, including a `reset` fault, hold it for writing, so a reset never pulls the module
 * out from under a call in flight). Nothing else in the shim keeps state.
 */
#include "tests/p11shim/shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define HANG_POLL_MS   10

static struct {
	pthread_mutex_t mu;
	pthread_rwlock_t life;
	void *dl;
	CK_FUNCTION_LIST_PTR real;
	char ctl_path[SHIM_PATH_MAX]; /* "" without P11SHIM_CONTROL */
	int ctl_present;
	struct stat ctl_st;	  /* the control file as last read */
	unsigned long generation; /* bumped on every change of the control file */
	struct shim_rules rules;
	int reset_pending; /* a reset fault finalised the real module behind the caller's back */
	unsigned long calls[SHIM_NFUNCS];
} g = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .life = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP,
};

CK_RV shim_load(const CK_FUNCTION_LIST *self, CK_C_GetFunctionList self_gfl)
{
	const char *module = getenv("P11SHIM_MODULE");
	const char *ctl = getenv("P11SHIM_CONTROL");
	CK_C_GetFunctionList gfl;
	CK_FUNCTION_LIST_PTR list = NULL;
	CK_RV rv = CKR_OK;

	pthread_mutex_lock(&g.mu);
	if (g.real != NULL)
		goto out;
	if (module == NULL || *module == '\0')
		module = DEFAULT_MODULE;
	if (ctl != NULL && strlen(ctl) >= sizeof(g.ctl_path)) {
		fprintf(stderr, "p11shim: P11SHIM_CONTROL is too long\n");
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	snprintf(g.ctl_path, sizeof(g.ctl_path), "%s", ctl != NULL ? ctl : "");
	if (g.dl == NULL && (g.dl = dlopen(module, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "p11shim: cannot load %s: %s\n", module, dlerror());
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	gfl = (CK_C_GetFunctionList)dlsym(g.dl, "C_GetFunctionList");
	if (gfl == NULL || gfl == self_gfl) {
		fprintf(stderr, "p11shim: %s: %s\n", module,
			gfl == NULL ? "no C_GetFunctionList" : "is the shim itself");
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	rv = gfl(&list);
	if (rv == CKR_OK && (list == NULL || list == self))
		rv = CKR_GENERAL_ERROR;
	if (rv != CKR_OK) {
		fprintf(stderr, "p11shim: %s: C_GetFunctionList failed (0x%lx)\n", module,
			(unsigned long)rv);
		goto out;
	}
	g.real = list;
out:
	pthread_mutex_unlock(&g.mu);
	return rv;
}

static void sleep_ms(unsigned long ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Append "NAME count" for every function called so far. Called with mu held. */
static void write_stats_locked(void)
{
	FILE *f;
	int i;

	if (g.rules.stats_path[0] == '\0')
		return;
	if ((f = fopen(g.rules.stats_path, "ae")) == NULL) {
		fprintf(stderr, "p11shim: stats file %s: %s\n", g.rules.stats_path,
			strerror(errno));
		return;
	}
	for (i = 0; i < SHIM_NFUNCS; i++)
		if (g.calls[i] != 0)
			fprintf(f, "%s %lu\n", shim_fn_name(i), g.calls[i]);
	if (fclose(f) != 0)
		fprintf(stderr, "p11shim: stats file %s: %s\n", g.rules.stats_path,
			strerror(errno));
}

/* Read and parse the control file; a file that does not parse injects nothing. mu held. */
static void load_control_locked(void)
{
	static const struct shim_rules none;
	char *buf = NULL, err[256];
	struct stat st;
	ssize_t r;
	size_t len = 0;
	int fd;

	g.generation++;
	g.rules = none;
	if ((fd = open(g.ctl_path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
		g.ctl_present = 0;
		goto out;
	}
	g.ctl_present = 1;
	g.ctl_st = st;
	if (st.st_size > SHIM_MAX_CONTROL) {
		fprintf(stderr, "p11shim: %s: larger than %d bytes; no faults injected\n",
			g.ctl_path, SHIM_MAX_CONTROL);
		goto out;
	}
	if ((buf = malloc(SHIM_MAX_CONTROL)) == NULL)
		goto out;
	while (len < SHIM_MAX_CONTROL && (r = read(fd, buf + len, SHIM_MAX_CONTROL - len)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "p11shim: %s: %s\n", g.ctl_path, strerror(errno));
			goto out;
		}
		len += (size_t)r;
	}
	if (shim_parse(buf, len, &g.rules, err, sizeof(err)) != 0) {
		fprintf(stderr, "p11shim: %s: %s; no faults injected until it is fixed\n",
			g.ctl_path, err);
		g.rules = none;
		goto out;
	}
	write_stats_locked();
out:
	free(buf);
	if (fd >= 0)
		close(fd);
}

/* One stat() per call: re-read the control file when it changed or disappeared. mu held. */
static void refresh_locked(void)
{
	struct stat st;

	if (g.ctl_path[0] == '\0')
		return;
	if (stat(g.ctl_path, &st) != 0) {
		if (g.ctl_present) {
			static const struct shim_rules none;

			g.ctl_present = 0;
			g.rules = none;
			g.generation++;
		}
		return;
	}
	if (!g.ctl_present || !same_file(&st, &g.ctl_st))
		load_control_locked();
}

/* The first rule that applies to fn and has calls left; its count is used up. mu held. */
static int take_rule_locked(int fn, struct shim_rule *out)
{
	struct shim_rule *r;
	size_t i;

	for (i = 0; i < g.rules.n; i++) {
		r = &g.rules.r[i];
		if (r->count == 0 || (r->fn != fn && r->fn != SHIM_ANY_FN))
			continue;
		if (r->action == SHIM_EMPTY && !shim_fn_has_empty(fn))
			continue;
		if (r->close_session && !shim_fn_has_session(fn))
			continue;
		if (r->count > 0)
			r->count--;
		*out = *r;
		return 1;
	}
	return 0;
}

static void real_close_session(CK_SESSION_HANDLE s)
{
	CK_FUNCTION_LIST_PTR f = shim_real_begin();

	if (f == NULL)
		return;
	(void)f->C_CloseSession(s);
	shim_real_end();
}

static void real_reset(void)
{
	CK_FUNCTION_LIST_PTR f = shim_real_unlocked();

	pthread_rwlock_wrlock(&g.life);
	if (f != NULL)
		(void)f->C_Finalize(NULL);
	pthread_mutex_lock(&g.mu);
	g.reset_pending = 1;
	pthread_mutex_unlock(&g.mu);
	pthread_rwlock_unlock(&g.life);
}

void shim_enter(int fn, CK_SESSION_HANDLE s, struct shim_decision *d)
{
	struct shim_rule r;
	unsigned long gen;
	int close_session = 0, reset = 0;

	memset(d, 0, sizeof(*d));
	d->what = SHIM_FORWARD;
	pthread_mutex_lock(&g.mu);
	refresh_locked();
	g.calls[fn]++;
	if (fn == SHIM_FN_C_Finalize)
		write_stats_locked();
	while (take_rule_locked(fn, &r)) {
		if (r.delay_ms > 0) {
			pthread_mutex_unlock(&g.mu);
			sleep_ms(r.delay_ms);
			pthread_mutex_lock(&g.mu);
		}
		if (r.action == SHIM_HANG) {
			/* The blackhole: wait for the control file to change, then decide again. */
			gen = g.generation;
			while (gen == g.generation) {
				pthread_mutex_unlock(&g.mu);
				sleep_ms(HANG_POLL_MS);
				pthread_mutex_lock(&g.mu);
				refresh_locked();
			}
			continue;
		}
		if (r.action == SHIM_EMPTY) {
			d->what = SHIM_ZERO;
		} else if (r.action == SHIM_RV) {
			d->what = SHIM_INJECT;
			d->rv = r.rv;
			close_session = r.close_session;
			reset = r.reset;
		}
		break;
	}
	pthread_mutex_unlock(&g.mu);
	if (close_session) {
		real_close_session(s);
		d->session_gone = 1;
	}
	if (reset) {
		real_reset();
		d->session_gone = 1;
	}
}

CK_FUNCTION_LIST_PTR shim_real_begin(void)
{
	CK_FUNCTION_LIST_PTR f;

	pthread_rwlock_rdlock(&g.life);
	pthread_mutex_lock(&g.mu);
	f = g.real;
	pthread_mutex_unlock(&g.mu);
	if (f == NULL)
		pthread_rwlock_unlock(&g.life);
	return f;
}

void shim_real_end(void)
{
	pthread_rwlock_unlock(&g.life);
}

CK_FUNCTION_LIST_PTR shim_real_unlocked(void)
{
	CK_FUNCTION_LIST_PTR f;

	pthread_mutex_lock(&g.mu);
	f = g.real;
	pthread_mutex_unlock(&g.mu);
	return f;
}

CK_RV shim_real_initialize(CK_VOID_PTR args)
{
	CK_FUNCTION_LIST_PTR f = shim_real_unlocked();
	CK_RV rv = CKR_GENERAL_ERROR;

	pthread_rwlock_wrlock(&g.life);
	if (f != NULL)
		rv = f->C_Initialize(args);
	pthread_mutex_lock(&g.mu);
	if (rv == CKR_OK)
		g.reset_pending = 0;
	pthread_mutex_unlock(&g.mu);
	pthread_rwlock_unlock(&g.life);
	return rv;
}

/*
 * After a reset fault the caller still believes the module is initialised; its C_Finalize
 * (usually the first step of its recovery) answers CKR_OK as a real module would.
 */
CK_RV shim_real_finalize(CK_VOID_PTR reserved)
{
	CK_FUNCTION_LIST_PTR f = shim_real_unlocked();
	CK_RV rv = CKR_GENERAL_ERROR;

	pthread_rwlock_wrlock(&g.life);
	if (f != NULL)
		rv = f->C_Finalize(reserved);
	pthread_mutex_lock(&g.mu);
	if (rv == CKR_CRYPTOKI_NOT_INITIALIZED && g.reset_pending)
		rv = CKR_OK;
	g.reset_pending = 0;
	pthread_mutex_unlock(&g.mu);
	pthread_rwlock_unlock(&g.life);
	return rv;
}
