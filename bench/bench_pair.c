/*
 * The interleaved comparison: raw C_Sign with 2 sessions and signerd with N
 * clients, in short alternating slices on the same token and key.
 *
 * On this kind of machine the CPU's speed drifts from one second to the
 * next, so two phases measured one after the other for a second each can
 * differ by 30 % for no reason of their own. Slices of a fraction of a
 * second, alternated many times and added up, see the same mix of fast and
 * slow moments; the order flips every pair (A B, B A, A B, ...) so that a
 * steady drift does not favour the side that always runs second.
 */
#include "bench/bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAT_CAP (1u << 20)

static int one_slice(const struct bench_pair_cfg *c, int daemon, struct bench_result *sum,
		     struct bench_result *slice, struct sd_err *e)
{
	if (daemon ? bench_daemon_run(&c->daemon, slice, e) : bench_raw_run(&c->raw, slice, e))
		return -1;
	bench_result_add(sum, slice);
	return 0;
}

int bench_pair_run(const struct bench_pair_cfg *c, struct bench_result *raw,
		   struct bench_result *daemon, struct bench_pairs *pairs, struct sd_err *e)
{
	struct bench_pair_cfg pc = *c;
	struct bench_lat raw_lat = {0}, sd_lat = {0};
	struct bench_result a, b;
	unsigned k;
	int ret = -1;

	memset(raw, 0, sizeof(*raw));
	memset(daemon, 0, sizeof(*daemon));
	memset(pairs, 0, sizeof(*pairs));
	if (c->npairs == 0 || c->npairs > BENCH_MAX_PAIRS)
		return sd_err_set(e, SD_E_INTERNAL, "need 1..%d slice pairs", BENCH_MAX_PAIRS);
	if (bench_lat_init(&raw_lat, LAT_CAP, e) != 0 || bench_lat_init(&sd_lat, LAT_CAP, e) != 0)
		goto out;
	pc.raw.collect = &raw_lat;
	pc.daemon.collect = &sd_lat;
	for (k = 0; k < c->npairs; k++) {
		/* A B, then B A: each side runs first in half of the pairs */
		for (int i = 0; i < 2; i++) {
			int sd = i ^ (int)(k % 2);

			if (one_slice(&pc, sd, sd ? daemon : raw, sd ? &b : &a, e) != 0)
				goto out;
		}
		pairs->pair[k] = (struct bench_pair){
		    .a_count = a.count,
		    .b_count = b.count,
		    .a_sec = a.seconds,
		    .b_sec = b.seconds,
		    .a_p50_us = a.p50_us,
		    .b_p50_us = b.p50_us,
		    .other_pct = 100.0 * (double)(a.other_ns + b.other_ns) /
				 (double)(a.wall_ns + b.wall_ns > 0 ? a.wall_ns + b.wall_ns : 1),
		    .steal_pct = 100.0 * (double)(a.steal_ns + b.steal_ns) /
				 (double)(a.wall_ns + b.wall_ns > 0 ? a.wall_ns + b.wall_ns : 1),
		};
		pairs->n = k + 1;
	}
	raw->p50_us = (double)bench_lat_quantile(&raw_lat, 0.50) / 1e3;
	raw->p99_us = (double)bench_lat_quantile(&raw_lat, 0.99) / 1e3;
	daemon->p50_us = (double)bench_lat_quantile(&sd_lat, 0.50) / 1e3;
	daemon->p99_us = (double)bench_lat_quantile(&sd_lat, 0.99) / 1e3;
	ret = 0;
out:
	bench_lat_free(&raw_lat);
	bench_lat_free(&sd_lat);
	return ret;
}

/* ---- the report ---- */

/*
 * A pair during which other processes used more than this is left out:
 * they take CPU from the side with fewer runnable threads (raw C_Sign)
 * more than from signerd and its clients, which flatters signerd. So is a
 * pair during which the hypervisor stole more than this: a host that
 * starves the VM slows the two sides unevenly, and the wake-ups of signerd's
 * path most (seen: steal at 74-97 % of a CPU, signerd's p50 +500 us). The
 * /proc/stat ticks (10 ms) make the figure of one ~0.6 s pair uncertain by
 * several % of a CPU.
 */
#define PAIR_DISTURBED_PCT 20.0

/* The pairs of one comparison that the report uses. */
struct pair_sel {
	double ratio[BENCH_MAX_ROUNDS * BENCH_MAX_PAIRS]; /* latency: p50 differences, us */
	unsigned n, total;
	unsigned clean;	   /* undisturbed pairs */
	double pooled;	   /* signerd's summed rate / raw's summed rate over the pairs used */
	double pooled_2se; /* two standard errors of pooled (pairs taken as independent) */
	double a_rate[BENCH_MAX_ROUNDS * BENCH_MAX_PAIRS],
	    b_rate[BENCH_MAX_ROUNDS * BENCH_MAX_PAIRS];
	int unreliable; /* too few undisturbed pairs: all of them were used */
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * The standard error of a ratio of sums (the ratio estimator's linear
 * approximation): sqrt(sum((b - R a)^2) / (n (n - 1))) / mean(a).
 */
static void ratio_se(struct pair_sel *ps)
{
	double sa = 0, ss = 0, d;

	ps->pooled_2se = 0;
	if (ps->n < 2)
		return;
	for (unsigned i = 0; i < ps->n; i++) {
		sa += ps->a_rate[i];
		d = ps->b_rate[i] - ps->pooled * ps->a_rate[i];
		ss += d * d;
	}
	if (sa > 0)
		ps->pooled_2se = 2 * sqrt(ss / ((double)ps->n * (ps->n - 1))) / (sa / ps->n);
}

/*
 * Every undisturbed pair of every round; all pairs when fewer than a
 * quarter of them (or fewer than two) are undisturbed.
 */
static void select_pairs(const struct bench_data *d, size_t set, int latency, struct pair_sel *ps)
{
	const struct bench_pairs *bp;
	const struct bench_pair *q;
	uint64_t ac, bc;
	double as, bs;
	unsigned k, i;

	memset(ps, 0, sizeof(*ps));
	for (int all = 0; all < 2; all++) {
		ac = bc = 0;
		as = bs = 0;
		ps->n = ps->total = 0;
		for (k = 0; k < d->p->rounds; k++) {
			bp = &d->pairs[(size_t)k * bench_npairsets(d->p) + set];
			for (i = 0; i < bp->n; i++) {
				q = &bp->pair[i];
				ps->total++;
				if (!all && (q->other_pct > PAIR_DISTURBED_PCT ||
					     q->steal_pct > PAIR_DISTURBED_PCT))
					continue;
				ps->clean += !all;
				if (latency) {
					ps->ratio[ps->n++] = q->b_p50_us - q->a_p50_us;
				} else if (q->a_count > 0 && q->a_sec > 0 && q->b_sec > 0) {
					ps->a_rate[ps->n] = (double)q->a_count / q->a_sec;
					ps->b_rate[ps->n] = (double)q->b_count / q->b_sec;
					ps->ratio[ps->n] = ps->b_rate[ps->n] / ps->a_rate[ps->n];
					ps->n++;
				}
				ac += q->a_count;
				bc += q->b_count;
				as += q->a_sec;
				bs += q->b_sec;
			}
		}
		ps->pooled = ac > 0 && bs > 0 ? ((double)bc / bs) / ((double)ac / as) : 0;
		if (ps->n >= 2 && ps->n * 4 >= ps->total)
			break;
		ps->unreliable = 1;
	}
	ratio_se(ps);
	qsort(ps->ratio, ps->n, sizeof(ps->ratio[0]), cmp_double);
}

static double median(const struct pair_sel *ps)
{
	if (ps->n == 0)
		return 0;
	return ps->n % 2 ? ps->ratio[ps->n / 2]
			 : (ps->ratio[ps->n / 2 - 1] + ps->ratio[ps->n / 2]) / 2;
}

void bench_pair_report(const struct bench_data *d)
{
	static struct pair_sel ps; /* large; the report runs once, single-threaded */
	const struct bench_plan *p = d->p;
	char name[64], tail[96];
	double med;

	printf(
	    "\nthroughput, interleaved: signerd N clients / raw C_Sign 2 sessions, over the slice "
	    "pairs\nof all rounds during which other processes used, and the hypervisor stole, "
	    "at most %.0f%%\nof a CPU each. pooled: summed rates, +- two standard errors; pairs: "
	    "median [min .. max]\nof the pairs' own ratios; u/n: undisturbed pairs / all pairs\n",
	    PAIR_DISTURBED_PCT);
	for (size_t i = 0; i < p->nsets; i++) {
		select_pairs(d, i, 0, &ps);
		med = median(&ps);
		snprintf(name, sizeof(name), "signerd %u client%s / raw 2 sessions", p->clients[i],
			 p->clients[i] == 1 ? "" : "s");
		if (p->clients[i] < 2)
			snprintf(tail, sizeof(tail), "(no target below 2 clients)");
		else if (ps.unreliable)
			snprintf(tail, sizeof(tail),
				 "(%s: unreliable, too many pairs disturbed) "
				 "(target >= %.2f)",
				 ps.pooled >= BENCH_TARGET_RATIO ? "PASS" : "MISS",
				 BENCH_TARGET_RATIO);
		else
			snprintf(tail, sizeof(tail), "%s (target >= %.2f)",
				 ps.pooled >= BENCH_TARGET_RATIO ? "PASS" : "MISS",
				 BENCH_TARGET_RATIO);
		printf(
		    "  %-36s pooled %5.2f +-%.2f  pairs %5.2f [%.2f .. %.2f]  %2u/%2u pairs  %s\n",
		    name, ps.pooled, ps.pooled_2se, med, ps.n ? ps.ratio[0] : 0,
		    ps.n ? ps.ratio[ps.n - 1] : 0, ps.clean, ps.total, tail);
	}
	select_pairs(d, p->nsets, 1, &ps);
	printf("  %-36s pairs %+5.0f [%+.0f .. %+.0f] us  %2u/%2u pairs  %s\n",
	       "signerd p50 - raw C_Sign p50, 1 x 1", median(&ps), ps.n ? ps.ratio[0] : 0,
	       ps.n ? ps.ratio[ps.n - 1] : 0, ps.clean, ps.total,
	       ps.unreliable ? "(info; unreliable, too many pairs disturbed)"
			     : "(info; the verdict below uses the separate phases)");
}
