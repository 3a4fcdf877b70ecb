/* Clocks, CPU time and latency percentiles for the benchmark. */
#include "bench/bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

int64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void bench_sleep_until(int64_t t)
{
	struct timespec ts = {.tv_sec = t / 1000000000, .tv_nsec = t % 1000000000};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int64_t tv_ns(const struct timeval *tv)
{
	return (int64_t)tv->tv_sec * 1000000000 + (int64_t)tv->tv_usec * 1000;
}

int64_t bench_self_cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return tv_ns(&ru.ru_utime) + tv_ns(&ru.ru_stime);
}

int64_t bench_proc_cpu_ns(pid_t pid)
{
	char path[64], line[1024], *p;
	unsigned long long ut, st;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	/* The command name may hold spaces and parentheses: skip past the last ')'. */
	p = strrchr(line, ')');
	if (p == NULL || hz <= 0)
		return -1;
	/* After ")": state(3) ... utime is field 14, stime field 15. */
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (int64_t)((ut + st) * (1000000000ULL / (unsigned long long)hz));
}

int bench_sys_cpu(struct bench_sys *s)
{
	unsigned long long v[8] = {0};
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f = fopen("/proc/stat", "r");
	int n;

	memset(s, 0, sizeof(*s));
	if (f == NULL)
		return -1;
	/* cpu user nice system idle iowait irq softirq steal (guest time is inside user) */
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n < 8 || hz <= 0)
		return -1;
	s->busy_ns = (int64_t)((v[0] + v[1] + v[2] + v[5] + v[6]) *
			       (1000000000ULL / (unsigned long long)hz));
	s->steal_ns = (int64_t)(v[7] * (1000000000ULL / (unsigned long long)hz));
	return 0;
}

void bench_acct_start(struct bench_acct *a, pid_t peer)
{
	a->peer = peer;
	a->peer_ns = peer > 0 ? bench_proc_cpu_ns(peer) : -1;
	a->self_ns = bench_self_cpu_ns();
	bench_sys_cpu(&a->sys);
	a->wall_ns = bench_now_ns();
}

/* rate, CPU per operation and load from the sums in r */
static void derive(struct bench_result *r)
{
	r->rate = r->seconds > 0 ? (double)r->count / r->seconds : 0;
	r->self_cpu_ms = r->ops > 0 ? (double)r->self_ns / 1e6 / (double)r->ops : 0;
	r->peer_cpu_ms =
	    r->ops > 0 && r->peer_ns >= 0 ? (double)r->peer_ns / 1e6 / (double)r->ops : -1;
	r->other_pct = r->steal_pct = 0;
	if (r->wall_ns > 0) {
		/* /proc/stat counts in ticks: small negatives are noise */
		r->other_pct =
		    r->other_ns > 0 ? 100.0 * (double)r->other_ns / (double)r->wall_ns : 0;
		r->steal_pct = 100.0 * (double)r->steal_ns / (double)r->wall_ns;
	}
}

void bench_acct_end(const struct bench_acct *a, uint64_t ops, struct bench_result *r)
{
	struct bench_sys sys;
	int64_t wall = bench_now_ns() - a->wall_ns;
	int64_t self = bench_self_cpu_ns() - a->self_ns;
	int64_t peer = -1, p;

	bench_sys_cpu(&sys);
	if (a->peer > 0 && a->peer_ns >= 0 && (p = bench_proc_cpu_ns(a->peer)) >= 0)
		peer = p - a->peer_ns;
	r->ops = ops;
	r->wall_ns = wall;
	r->self_ns = self;
	r->peer_ns = peer;
	r->other_ns = sys.busy_ns - a->sys.busy_ns - self - (peer > 0 ? peer : 0);
	r->steal_ns = sys.steal_ns - a->sys.steal_ns;
	derive(r);
}

void bench_result_add(struct bench_result *dst, const struct bench_result *src)
{
	dst->count += src->count;
	dst->seconds += src->seconds;
	dst->ops += src->ops;
	dst->wall_ns += src->wall_ns;
	dst->self_ns += src->self_ns;
	dst->peer_ns = dst->peer_ns < 0 || src->peer_ns < 0 ? -1 : dst->peer_ns + src->peer_ns;
	dst->other_ns += src->other_ns;
	dst->steal_ns += src->steal_ns;
	derive(dst);
}

int bench_lat_init(struct bench_lat *l, size_t cap, struct sd_err *e)
{
	l->n = 0;
	l->cap = cap;
	l->v = calloc(cap ? cap : 1, sizeof(*l->v));
	if (l->v == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "out of memory for %zu latency samples", cap);
	return 0;
}

void bench_lat_free(struct bench_lat *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

void bench_lat_add(struct bench_lat *l, int64_t ns)
{
	if (l->n < l->cap)
		l->v[l->n++] = ns;
}

void bench_lat_merge(struct bench_lat *dst, const struct bench_lat *src)
{
	size_t i;

	for (i = 0; i < src->n; i++)
		bench_lat_add(dst, src->v[i]);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

int64_t bench_lat_quantile(struct bench_lat *l, double q)
{
	double want = q * (double)l->n;
	size_t rank;

	if (l->n == 0)
		return 0;
	qsort(l->v, l->n, sizeof(*l->v), cmp_i64);
	/* Nearest rank: the smallest sample with at least q of the samples at or below it. */
	rank = (size_t)want;
	if ((double)rank < want)
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank > l->n)
		rank = l->n;
	return l->v[rank - 1];
}
