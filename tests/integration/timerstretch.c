/*
 * libtimerstretch.so, preloaded into signerd by test_fairness.sh: every
 * timerfd_settime() that arms a timer arms it for TIMERSTRETCH_MS instead.
 * signerd's only timerfd bounds how long finished replies wait to leave
 * together under a backlog; stretched, a reply that waits for it is seen to
 * wait, without timing anything. Tests only; never installed.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/timerfd.h>

typedef int (*settime_fn)(int, int, const struct itimerspec *, struct itimerspec *);

__attribute__((visibility("default"))) int
timerfd_settime(int fd, int flags, const struct itimerspec *nv, struct itimerspec *ov)
{
	settime_fn real = (settime_fn)dlsym(RTLD_NEXT, "timerfd_settime");
	const char *ms = getenv("TIMERSTRETCH_MS");
	struct itimerspec st;
	long v;

	if (real == NULL)
		return -1;
	if (ms == NULL || nv == NULL || (nv->it_value.tv_sec == 0 && nv->it_value.tv_nsec == 0))
		return real(fd, flags, nv, ov);
	v = strtol(ms, NULL, 10);
	if (v <= 0)
		return real(fd, flags, nv, ov); /* never turn arming into disarming */
	st = *nv;
	st.it_value.tv_sec = v / 1000;
	st.it_value.tv_nsec = (v % 1000) * 1000000;
	return real(fd, flags & ~TFD_TIMER_ABSTIME, &st, ov);
}
