/*
 * signerd_bench: the raw PKCS#11 signing rate on a token, and signerd's
 * throughput and latency over its socket, measured in one run on the same
 * key. It reports; it never passes or fails on wall-clock time.
 */
#ifndef SD_BENCH_H
#define SD_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "pkcs11/p11.h"

/* ---- clocks, CPU time and latency samples (bench_stats.c) ---- */
int64_t bench_now_ns(void);
/* Sleep until the CLOCK_MONOTONIC instant t (ns). */
void bench_sleep_until(int64_t t);
/* User + system CPU time of this process, in ns. */
int64_t bench_self_cpu_ns(void);
/* User + system CPU time of process pid from /proc, in ns; -1 when unreadable. */
int64_t bench_proc_cpu_ns(pid_t pid);

/*
 * The whole machine's CPU time from /proc/stat, in ns: busy (user, nice,
 * system, irq, softirq) and steal (time the hypervisor gave to other guests).
 */
struct bench_sys {
	int64_t busy_ns;
	int64_t steal_ns;
};
int bench_sys_cpu(struct bench_sys *s);

/* A bounded set of latency samples (ns); samples past the cap are dropped. */
struct bench_lat {
	int64_t *v;
	size_t n;
	size_t cap;
};

int bench_lat_init(struct bench_lat *l, size_t cap, struct sd_err *e);
void bench_lat_free(struct bench_lat *l);
void bench_lat_add(struct bench_lat *l, int64_t ns);
/* Append every sample of src to dst (up to dst's cap). */
void bench_lat_merge(struct bench_lat *dst, const struct bench_lat *src);
/* The q-quantile (0..1) in ns, nearest rank; sorts l. 0 when empty. */
int64_t bench_lat_quantile(struct bench_lat *l, double q);

/* What one phase measured. */
struct bench_result {
	uint64_t count;	       /* operations completed inside the measured window */
	double seconds;	       /* length of the measured window */
	double rate;	       /* count / seconds */
	double p50_us, p99_us; /* latency of one operation */
	double self_cpu_ms;    /* this process's CPU time per operation */
	double peer_cpu_ms;    /* signerd's CPU time per operation (daemon phases; < 0: unknown) */
	double other_pct;      /* CPU used by everything else during the phase, % of one CPU */
	double steal_pct;      /* CPU stolen by the hypervisor during the phase, % of one CPU */
	/* The sums behind the figures above, so that slices can be added up. */
	uint64_t ops;			   /* operations the CPU times cover (warm-up included) */
	int64_t wall_ns, self_ns, peer_ns; /* peer_ns < 0: unknown */
	int64_t other_ns, steal_ns;
};

/* Add src (one slice) to dst and recompute dst's rate, CPU and load figures. */
void bench_result_add(struct bench_result *dst, const struct bench_result *src);

/*
 * A snapshot before a phase, and the accounting after it: the machine's busy
 * time minus this process and signerd is what other processes took.
 */
struct bench_acct {
	int64_t wall_ns, self_ns, peer_ns;
	struct bench_sys sys;
	pid_t peer;
};
void bench_acct_start(struct bench_acct *a, pid_t peer);
/* Fills self_cpu_ms, peer_cpu_ms (-1 without a peer), other_pct and steal_pct. */
void bench_acct_end(const struct bench_acct *a, uint64_t ops, struct bench_result *r);

/* ---- raw PKCS#11 (bench_raw.c) ---- */
struct bench_raw_cfg {
	struct p11_key *key;	   /* an RSA key; its token has at least nthreads sessions */
	unsigned nthreads;	   /* one session each */
	double warmup_s;	   /* signed, not counted */
	unsigned gap_us;	   /* pause after each signature (0: back to back) */
	double seconds;		   /* measured window */
	double lead_s;		   /* time for the threads to start before the warm-up (0: 0.1 s) */
	struct bench_lat *collect; /* if set, the latency samples are appended here too */
};

/* C_SignInit + C_Sign with CKM_RSA_PKCS over a SHA-256 DigestInfo, per thread. */
int bench_raw_run(const struct bench_raw_cfg *c, struct bench_result *r, struct sd_err *e);

/* ---- signerd over its socket (bench_daemon.c) ---- */
struct bench_daemon_cfg {
	const char *socket;
	const char *key_name; /* "" = the daemon's default key */
	unsigned nclients;    /* one connection and one thread each */
	unsigned window;      /* SIGN_CAB requests each client keeps in flight */
	double warmup_s;
	double seconds;
	pid_t daemon_pid; /* for its CPU time; 0 = do not measure */
	int status;	  /* send STATUS instead of SIGN_CAB (a round trip with no token work) */
	double lead_s;	  /* time to connect before the warm-up (0: 0.1 s) */
	struct bench_lat *collect; /* if set, the latency samples are appended here too */
};

int bench_daemon_run(const struct bench_daemon_cfg *c, struct bench_result *r, struct sd_err *e);
/*
 * One SIGN_CAB on a fresh connection: checks the answer is a SIGNATURE
 * holding a DER PKCS#7, and returns signerd's pid (SO_PEERCRED).
 */
int bench_daemon_probe(const char *socket, const char *key_name, pid_t *pid, struct sd_err *e);

/* ---- interleaved comparison (bench_pair.c) ---- */
#define BENCH_TARGET_RATIO 0.90 /* signerd at 2+ clients vs the raw 2-session rate */
#define BENCH_MAX_PAIRS	   64	/* slice pairs per client count and round */

/*
 * signerd's throughput against the raw rate, measured so that the host's
 * drift cancels: short slices of raw C_Sign with 2 sessions (A) and of
 * signerd with N clients (B) alternate, A B, B A, A B, ... (each pair in
 * the other order from the one before), so both see the same CPU speed.
 */
struct bench_pair_cfg {
	struct bench_raw_cfg raw;	/* seconds = one slice */
	struct bench_daemon_cfg daemon; /* seconds = one slice */
	unsigned npairs;		/* 1 .. BENCH_MAX_PAIRS */
};

/* One pair of adjacent slices. */
struct bench_pair {
	uint64_t a_count, b_count; /* operations inside the measured windows */
	double a_sec, b_sec;	   /* measured windows */
	double a_p50_us, b_p50_us; /* latency of one operation, median of each slice */
	double other_pct;	   /* CPU other processes used during the pair, % of one CPU */
	double steal_pct;	   /* CPU the hypervisor took during the pair, % of one CPU */
};

struct bench_pairs {
	struct bench_pair pair[BENCH_MAX_PAIRS];
	unsigned n;
};

/* raw and daemon get the sums over the slices (rates, CPU, latency over all samples). */
int bench_pair_run(const struct bench_pair_cfg *c, struct bench_result *raw,
		   struct bench_result *daemon, struct bench_pairs *pairs, struct sd_err *e);

/* ---- the plan of one run and its report (bench_report.c) ---- */
#define BENCH_MAX_SETS	 8  /* client counts per run */
#define BENCH_MAX_ROUNDS 50 /* every phase is measured once per round */

/*
 * Phases of a round, in order: raw with 1 session, raw with 2 sessions, raw
 * with 1 session paced (a pause after each signature, as a server between
 * one-at-a-time requests), then per client count the interleaved slices of
 * signerd and of raw with 2 sessions (bench_pair_run; two results), then
 * daemon latency and the STATUS round trip, then the latency once more as
 * interleaved slices of raw with 1 session and of signerd with one client
 * and one request in flight (two results).
 */
struct bench_plan {
	unsigned clients[BENCH_MAX_SETS];
	size_t nsets;
	unsigned window;
	unsigned rounds;
	double seconds, warmup, lat_seconds;
	double slice; /* measured time of one interleaved slice */
	double slice_warmup;
	unsigned npairs; /* slice pairs per client count and round */
};

#define BENCH_PH_RAW1  0
#define BENCH_PH_RAW2  1
#define BENCH_PH_PACED 2
#define BENCH_PACE_US  200
/* signerd with clients[set], the sum of its interleaved slices */
static inline size_t bench_ph_daemon(size_t set)
{
	return 3 + 2 * set;
}
/* raw C_Sign with 2 sessions, the sum of the slices interleaved with bench_ph_daemon(set) */
static inline size_t bench_ph_paired_raw(size_t set)
{
	return 4 + 2 * set;
}
static inline size_t bench_ph_latency(const struct bench_plan *p)
{
	return 3 + 2 * p->nsets;
}
static inline size_t bench_ph_status(const struct bench_plan *p)
{
	return 4 + 2 * p->nsets;
}
static inline size_t bench_ph_lat_raw(const struct bench_plan *p)
{
	return 5 + 2 * p->nsets;
}
static inline size_t bench_ph_lat_sd(const struct bench_plan *p)
{
	return 6 + 2 * p->nsets;
}
static inline size_t bench_nphases(const struct bench_plan *p)
{
	return 7 + 2 * p->nsets;
}
/* Interleaved comparisons per round: one per client count, then the latency one. */
static inline size_t bench_npairsets(const struct bench_plan *p)
{
	return p->nsets + 1;
}

/*
 * res holds rounds x bench_nphases(p) results, round-major; pairs holds
 * rounds x bench_npairsets(p) sets of slice pairs, round-major.
 */
struct bench_data {
	const struct bench_plan *p;
	const struct bench_result *res;
	const struct bench_pairs *pairs;
};
void bench_report_round_header(const struct bench_plan *p);
void bench_report_round(const struct bench_data *d, unsigned round);
void bench_report_summary(const struct bench_data *d);
/* The throughput ratios and their verdicts, from the interleaved pairs (bench_pair.c). */
void bench_pair_report(const struct bench_data *d);

#endif
