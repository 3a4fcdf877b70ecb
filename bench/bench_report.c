/*
 * The benchmark's report: one line per round, then the median of every
 * phase over the rounds and the ratios against the targets (the throughput
 * ratios, from interleaved slices, are bench_pair.c's part).
 *
 * Other ratios are taken inside each round and the median of those is
 * reported with its range. A round in which other processes used more than
 * BENCH_DISTURBED_PCT of a CPU, or the hypervisor stole more than
 * BENCH_STEAL_PCT in one of its phases, is marked, and left out of the
 * medians as long as one round is not.
 */
#include "bench/bench.h"

#include <stdio.h>
#include <stdlib.h>

#define TARGET_P50_US	    150.0 /* signerd p50 over the raw C_Sign p50 */
#define BENCH_DISTURBED_PCT 10.0
#define BENCH_STEAL_PCT	    20.0 /* a starved VM slows signerd's wake-ups most */

static int disturbed_load(double other, double steal)
{
	return other > BENCH_DISTURBED_PCT || steal > BENCH_STEAL_PCT;
}

struct spread {
	double med, min, max;
};

/* The rounds the summary uses. */
struct sel {
	const struct bench_plan *p;
	const struct bench_result *res;
	unsigned round[BENCH_MAX_ROUNDS];
	unsigned n;
	int unreliable; /* every round was disturbed */
};

/* A number per round: metric(sel, round, arg). */
typedef double (*metric_fn)(const struct sel *s, unsigned k, size_t arg);

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static const struct bench_result *at(const struct bench_plan *p, const struct bench_result *res,
				     unsigned round, size_t phase)
{
	return &res[(size_t)round * bench_nphases(p) + phase];
}

static const struct bench_result *sat(const struct sel *s, unsigned k, size_t phase)
{
	return at(s->p, s->res, k, phase);
}

/* Median, min and max of metric over the selected rounds. */
static struct spread over_rounds(const struct sel *s, metric_fn f, size_t arg)
{
	double v[BENCH_MAX_ROUNDS];
	struct spread r = {0, 0, 0};
	unsigned j, n = s->n;

	if (n == 0)
		return r;
	for (j = 0; j < n; j++)
		v[j] = f(s, s->round[j], arg);
	qsort(v, n, sizeof(*v), cmp_double);
	r.min = v[0];
	r.max = v[n - 1];
	r.med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return r;
}

/* Most CPU, in % of one CPU, that other processes (or the hypervisor) took in any phase. */
static void round_load(const struct bench_plan *p, const struct bench_result *res, unsigned k,
		       double *other, double *steal)
{
	size_t i;

	*other = *steal = 0;
	for (i = 0; i < bench_nphases(p); i++) {
		if (at(p, res, k, i)->other_pct > *other)
			*other = at(p, res, k, i)->other_pct;
		if (at(p, res, k, i)->steal_pct > *steal)
			*steal = at(p, res, k, i)->steal_pct;
	}
}

void bench_report_round_header(const struct bench_plan *p)
{
	char h[16];
	size_t i;

	printf("%-5s %7s %7s", "round", "raw1/s", "raw2/s");
	for (i = 0; i < p->nsets; i++) {
		snprintf(h, sizeof(h), "sd%u/s", p->clients[i]);
		printf(" %7s", h);
	}
	for (i = 0; i < p->nsets; i++) {
		snprintf(h, sizeof(h), "x%u", p->clients[i]);
		printf(" %5s", h);
	}
	printf(" %6s", "xdp50");
	printf(" %7s %7s %7s %7s %6s %6s %6s %6s\n", "rawp50", "pacep50", "sdp50", "statp50",
	       "rawCPU", "sdCPU", "other%", "steal%");
}

void bench_report_round(const struct bench_data *bd, unsigned round)
{
	const struct bench_plan *p = bd->p;
	const struct bench_result *res = bd->res;
	const struct bench_result *d = at(p, res, round, bench_ph_daemon(p->nsets - 1));
	double other, steal;
	size_t i;

	round_load(p, res, round, &other, &steal);
	printf("%-5u %7.0f %7.0f", round + 1, at(p, res, round, BENCH_PH_RAW1)->rate,
	       at(p, res, round, BENCH_PH_RAW2)->rate);
	for (i = 0; i < p->nsets; i++)
		printf(" %7.0f", at(p, res, round, bench_ph_daemon(i))->rate);
	for (i = 0; i < p->nsets; i++)
		printf(" %5.2f", at(p, res, round, bench_ph_daemon(i))->rate /
				     at(p, res, round, bench_ph_paired_raw(i))->rate);
	printf(" %+6.0f", at(p, res, round, bench_ph_lat_sd(p))->p50_us -
			      at(p, res, round, bench_ph_lat_raw(p))->p50_us);
	printf(" %7.0f %7.0f %7.0f %7.0f %6.3f %6.3f %6.0f %6.0f%s\n",
	       at(p, res, round, BENCH_PH_RAW1)->p50_us, at(p, res, round, BENCH_PH_PACED)->p50_us,
	       at(p, res, round, bench_ph_latency(p))->p50_us,
	       at(p, res, round, bench_ph_status(p))->p50_us,
	       at(p, res, round, BENCH_PH_RAW2)->self_cpu_ms, d->peer_cpu_ms, other, steal,
	       disturbed_load(other, steal) ? "  disturbed" : "");
	fflush(stdout);
}

/* ---- metrics ---- */
enum field { F_RATE, F_P50, F_P99, F_SELF, F_PEER, F_OTHER, F_STEAL };
#define FIELD_ARG(phase, field) ((phase)*8 + (field))

static double m_field(const struct sel *s, unsigned k, size_t arg)
{
	const struct bench_result *r = sat(s, k, arg / 8);

	switch ((enum field)(arg % 8)) {
	case F_RATE:
		return r->rate;
	case F_P50:
		return r->p50_us;
	case F_P99:
		return r->p99_us;
	case F_SELF:
		return r->self_cpu_ms;
	case F_PEER:
		return r->peer_cpu_ms;
	case F_OTHER:
		return r->other_pct;
	default:
		return r->steal_pct;
	}
}

static double m_scaling(const struct sel *s, unsigned k, size_t arg)
{
	(void)arg;
	return sat(s, k, BENCH_PH_RAW2)->rate / sat(s, k, BENCH_PH_RAW1)->rate;
}

static double m_cpu_ratio(const struct sel *s, unsigned k, size_t set)
{
	return sat(s, k, bench_ph_paired_raw(set))->self_cpu_ms /
	       sat(s, k, bench_ph_daemon(set))->peer_cpu_ms;
}

/* arg: BENCH_PH_RAW1 or BENCH_PH_PACED, + 8 for p99 instead of p50. */
static double m_latency_over(const struct sel *s, unsigned k, size_t arg)
{
	const struct bench_result *l = sat(s, k, bench_ph_latency(s->p));
	const struct bench_result *r = sat(s, k, arg % 8);

	return arg >= 8 ? l->p99_us - r->p99_us : l->p50_us - r->p50_us;
}

/* ---- summary ---- */
static void summary_row(const struct sel *s, size_t phase, const char *name)
{
	struct spread rate = over_rounds(s, m_field, FIELD_ARG(phase, F_RATE));
	double peer = over_rounds(s, m_field, FIELD_ARG(phase, F_PEER)).med;
	char peer_s[16] = "-";

	if (peer >= 0)
		snprintf(peer_s, sizeof(peer_s), "%.3f", peer);
	printf("%-38s %7.0f %7.0f %7.0f %7.0f %7.0f %7.3f %7s %6.0f %6.0f\n", name, rate.med,
	       rate.min, rate.max, over_rounds(s, m_field, FIELD_ARG(phase, F_P50)).med,
	       over_rounds(s, m_field, FIELD_ARG(phase, F_P99)).med,
	       over_rounds(s, m_field, FIELD_ARG(phase, F_SELF)).med, peer_s,
	       over_rounds(s, m_field, FIELD_ARG(phase, F_OTHER)).max,
	       over_rounds(s, m_field, FIELD_ARG(phase, F_STEAL)).max);
}

static const char *verdict(const struct sel *s, int ok)
{
	if (s->unreliable)
		return ok ? "(PASS: unreliable, every round disturbed)"
			  : "(MISS: unreliable, every round disturbed)";
	return ok ? "PASS" : "MISS";
}

static void ratio_line(const char *name, struct spread s, const char *tail)
{
	printf("  %-44s %7.2f  [%.2f .. %.2f]  %s\n", name, s.med, s.min, s.max, tail);
}

static void us_line(const char *name, struct spread s, const char *tail)
{
	printf("  %-44s %+7.0f  [%+.0f .. %+.0f] us  %s\n", name, s.med, s.min, s.max, tail);
}

/*
 * Every round that no other process disturbed; all of them when none is
 * left. Returns the number of disturbed rounds.
 */
static unsigned select_rounds(const struct bench_data *d, struct sel *s)
{
	const struct bench_plan *p = d->p;
	const struct bench_result *res = d->res;
	double other, steal;
	unsigned k, disturbed;

	s->p = p;
	s->res = res;
	s->n = 0;
	for (k = 0; k < p->rounds; k++) {
		round_load(p, res, k, &other, &steal);
		if (!disturbed_load(other, steal))
			s->round[s->n++] = k;
	}
	disturbed = p->rounds - s->n;
	s->unreliable = s->n == 0;
	if (s->n == 0) {
		for (k = 0; k < p->rounds; k++)
			s->round[k] = k;
		s->n = p->rounds;
		printf("\nevery round was disturbed by other processes or the hypervisor: the "
		       "medians use all of them and are not reliable\n");
	}
	return disturbed;
}

static void print_phases(const struct sel *s)
{
	const struct bench_plan *p = s->p;
	char name[80];
	size_t i;

	printf("%-38s %7s %7s %7s %7s %7s %7s %7s %6s %6s\n", "phase", "rate/s", "min", "max",
	       "p50 us", "p99 us", "bench", "signerd", "other%", "steal%");
	summary_row(s, BENCH_PH_RAW1, "raw C_Sign, 1 session");
	summary_row(s, BENCH_PH_RAW2, "raw C_Sign, 2 sessions (2 threads)");
	snprintf(name, sizeof(name), "raw C_Sign, 1 session, %u us pauses", BENCH_PACE_US);
	summary_row(s, BENCH_PH_PACED, name);
	for (i = 0; i < p->nsets; i++) {
		snprintf(name, sizeof(name), "signerd, %u client%s x %u in flight", p->clients[i],
			 p->clients[i] == 1 ? "" : "s", p->window);
		summary_row(s, bench_ph_daemon(i), name);
		snprintf(name, sizeof(name), "  raw C_Sign, 2 sessions, its slices");
		summary_row(s, bench_ph_paired_raw(i), name);
	}
	summary_row(s, bench_ph_latency(p), "signerd, 1 client x 1 (latency)");
	summary_row(s, bench_ph_status(p), "STATUS, 1 client x 1 (no token)");
	summary_row(s, bench_ph_lat_sd(p), "signerd, 1 client x 1, its slices");
	summary_row(s, bench_ph_lat_raw(p), "  raw C_Sign, 1 session, its slices");
	printf("(bench, signerd: CPU ms per operation of this program and of signerd, which "
	       "runs SoftHSM2 in-process;\n signerd and \"its slices\" rows: sums over the "
	       "interleaved slices of each round)\n");
}

static void print_ratios(const struct sel *s)
{
	const struct bench_plan *p = s->p;
	char name[80], tail[80];
	struct spread r;
	unsigned j;
	size_t i;

	printf("\nratios, per round (median [min .. max])\n");
	ratio_line("raw 2 sessions / raw 1 session", over_rounds(s, m_scaling, 0),
		   "(how the token scales)");
	r = over_rounds(s, m_latency_over, BENCH_PH_RAW1);
	snprintf(tail, sizeof(tail), "%s (target <= +%.0f us)", verdict(s, r.med <= TARGET_P50_US),
		 TARGET_P50_US);
	us_line("signerd p50 - raw C_Sign p50", r, tail);
	us_line("signerd p50 - paced raw C_Sign p50",
		over_rounds(s, m_latency_over, BENCH_PH_PACED),
		"(info: against a C_Sign that pauses like a server)");
	us_line("signerd p99 - raw C_Sign p99", over_rounds(s, m_latency_over, BENCH_PH_RAW1 + 8),
		"(no target)");
	/*
	 * CPU per signature, raw over signerd: where signing is CPU-bound (as
	 * SoftHSM2 is) and the clients share the CPUs with signerd, this is the
	 * ratio signerd would reach with the CPUs to itself.
	 */
	for (j = 0; j < s->n; j++)
		for (i = 0; i < p->nsets; i++)
			if (sat(s, s->round[j], bench_ph_daemon(i))->peer_cpu_ms <= 0)
				return; /* signerd's CPU time was not readable */
	for (i = 0; i < p->nsets; i++) {
		snprintf(name, sizeof(name), "CPU/sig raw 2 sessions / signerd %u client%s",
			 p->clients[i], p->clients[i] == 1 ? "" : "s");
		ratio_line(name, over_rounds(s, m_cpu_ratio, i), "(info: client-free estimate)");
	}
}

void bench_report_summary(const struct bench_data *d)
{
	const struct bench_plan *p = d->p;
	struct sel s;
	unsigned disturbed = select_rounds(d, &s);

	printf("\nmedians over %u of %u rounds (%u disturbed: other processes used more than "
	       "%.0f%% of a CPU,\nor the hypervisor stole more than %.0f%% in a phase)\n(rate: "
	       "median, min, max; p50/p99/CPU: median of the rounds; other%%/steal%%: worst "
	       "round)\n",
	       s.n, p->rounds, disturbed, BENCH_DISTURBED_PCT, BENCH_STEAL_PCT);
	print_phases(&s);
	bench_pair_report(d);
	print_ratios(&s);
}
