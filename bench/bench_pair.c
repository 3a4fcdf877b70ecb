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
		if (one_slice(&pc, k % 2, k % 2 ? daemon : raw, k % 2 ? &b : &a, e) != 0 ||
		    one_slice(&pc, !(k % 2), k % 2 ? raw : daemon, k % 2 ? &a : &b, e) != 0)
			goto out;
		if (a.rate > 0)
			pairs->ratio[pairs->n++] = b.rate / a.rate;
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
