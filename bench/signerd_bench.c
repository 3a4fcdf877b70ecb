/*
 * signerd_bench: in one run, on the same token and key,
 *   - the raw PKCS#11 C_Sign rate with 1 and 2 sessions (one thread each),
 *   - signerd's throughput with N pipelining clients (default 1, 2 and 8,
 *     each keeping a window of SIGN_CAB requests in flight), measured in
 *     short slices that alternate with slices of raw C_Sign with 2 sessions
 *     (bench_pair.c), so that the ratio of the two is not the host's drift,
 *   - signerd's single-request latency (one request outstanding at a time),
 *     and a STATUS round trip (the socket and event loop without the token),
 * each phase once per round, then a summary and the ratios against the
 * targets, each marked PASS or MISS. It is a report, not a test: the exit
 * status only says whether every phase could be measured.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"

struct opts {
	const char *module, *token, *pin_file, *key, *socket;
	const char *key_name;
	struct bench_plan plan;
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: signerd_bench --module PATH --token LABEL --pin-file FILE --key LABEL\n"
	    "                     --socket PATH [OPTIONS]\n\n"
	    "  --module PATH        PKCS#11 module (the one signerd uses)\n"
	    "  --token LABEL        token label\n"
	    "  --pin-file FILE      user PIN, first line\n"
	    "  --key LABEL          private key's CKA_LABEL on the token (RSA)\n"
	    "  --socket PATH        signerd's socket\n"
	    "  --key-name NAME      signerd's name for that key (default: its default key)\n"
	    "  --rounds N           rounds; each measures every phase once (default 5)\n"
	    "  --seconds S          measured time per phase and round (default 1); for the\n"
	    "                       interleaved phases, per side and client count\n"
	    "  --slice S            measured time of one interleaved slice (default 0.2)\n"
	    "  --slice-warmup S     unmeasured time before each slice (default 0.05)\n"
	    "  --warmup S           unmeasured time before each phase (default 0.3)\n"
	    "  --latency-seconds S  measured time of the latency phase per round (default 1)\n"
	    "  --window N           requests each client keeps in flight, 1..64 (default 32)\n"
	    "  --clients LIST       client counts, comma-separated, ascending (default 1,2,8)\n");
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end != '\0' || !(v >= lo && v <= hi))
		return -1;
	*out = v;
	return 0;
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	double v;

	if (parse_double(s, lo, hi, &v) != 0 || v != (double)(unsigned)v)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_clients(const char *s, struct bench_plan *p)
{
	char *end;
	unsigned long v;

	p->nsets = 0;
	for (;;) {
		v = strtoul(s, &end, 10);
		if (end == s || v < 1 || v > 256 || p->nsets == BENCH_MAX_SETS)
			return -1;
		p->clients[p->nsets++] = (unsigned)v;
		if (*end == '\0')
			return 0;
		if (*end != ',')
			return -1;
		s = end + 1;
	}
}

static void set_defaults(struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->key_name = "";
	o->plan.rounds = 5;
	o->plan.seconds = 1;
	o->plan.warmup = 0.3;
	o->plan.lat_seconds = 1;
	o->plan.window = 32;
	o->plan.clients[0] = 1;
	o->plan.clients[1] = 2;
	o->plan.clients[2] = 8;
	o->plan.nsets = 3;
	o->plan.slice = 0.2;
	o->plan.slice_warmup = 0.05;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"module", required_argument, NULL, 'm'},
	    {"token", required_argument, NULL, 't'},
	    {"pin-file", required_argument, NULL, 'p'},
	    {"key", required_argument, NULL, 'k'},
	    {"socket", required_argument, NULL, 's'},
	    {"key-name", required_argument, NULL, 'n'},
	    {"rounds", required_argument, NULL, 'r'},
	    {"seconds", required_argument, NULL, 'd'},
	    {"warmup", required_argument, NULL, 'w'},
	    {"latency-seconds", required_argument, NULL, 'l'},
	    {"window", required_argument, NULL, 'W'},
	    {"clients", required_argument, NULL, 'c'},
	    {"slice", required_argument, NULL, 'S'},
	    {"slice-warmup", required_argument, NULL, 'U'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct bench_plan *p = &o->plan;
	int ch, bad = 0;

	set_defaults(o);
	while (!bad && (ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'm':
			o->module = optarg;
			break;
		case 't':
			o->token = optarg;
			break;
		case 'p':
			o->pin_file = optarg;
			break;
		case 'k':
			o->key = optarg;
			break;
		case 's':
			o->socket = optarg;
			break;
		case 'n':
			o->key_name = optarg;
			break;
		case 'r':
			bad = parse_uint(optarg, 1, BENCH_MAX_ROUNDS, &p->rounds);
			break;
		case 'd':
			bad = parse_double(optarg, 0.1, 600, &p->seconds);
			break;
		case 'w':
			bad = parse_double(optarg, 0, 60, &p->warmup);
			break;
		case 'l':
			bad = parse_double(optarg, 0.1, 600, &p->lat_seconds);
			break;
		case 'W':
			bad = parse_uint(optarg, 1, 64, &p->window);
			break;
		case 'c':
			bad = parse_clients(optarg, p);
			break;
		case 'S':
			bad = parse_double(optarg, 0.02, 60, &p->slice);
			break;
		case 'U':
			bad = parse_double(optarg, 0, 10, &p->slice_warmup);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (bad) {
		fprintf(stderr, "signerd_bench: bad value for option: %s\n", optarg);
		return -1;
	}
	if (optind != argc || !o->module || !o->token || !o->pin_file || !o->key || !o->socket) {
		usage(stderr);
		return -1;
	}
	/* as many slice pairs as fill --seconds per side, at least 2 (one of each order) */
	p->npairs = (unsigned)(p->seconds / p->slice + 0.5);
	if (p->npairs < 2)
		p->npairs = 2;
	if (p->npairs > BENCH_MAX_PAIRS) {
		fprintf(stderr, "signerd_bench: --seconds / --slice is more than %d slice pairs\n",
			BENCH_MAX_PAIRS);
		return -1;
	}
	if (strlen(o->token) > 32 || strlen(o->key) > 128 || strlen(o->key_name) > 127) {
		fprintf(stderr, "signerd_bench: token label, key label or key name too long\n");
		return -1;
	}
	return 0;
}

/* Open the token with two sessions and find the key by its label. */
static int open_key(const struct opts *o, struct p11_module **mod, struct p11_key **key,
		    struct sd_err *e)
{
	struct p11_uri u;
	struct p11_secret *pin = NULL;
	struct p11_token *tok = NULL;

	memset(&u, 0, sizeof(u));
	u.type = -1;
	snprintf(u.token, sizeof(u.token), "%s", o->token);
	snprintf(u.object, sizeof(u.object), "%s", o->key);
	if (p11_module_load(o->module, NULL, 0, mod, e) != 0)
		return -1;
	if (p11_secret_from_file(o->pin_file, &pin, e) != 0)
		return -1;
	if (p11_token_open(*mod, &u, pin, 2, 0, &tok, e) != 0)
		return -1;
	if (p11_key_find(tok, &u, key, e) != 0) {
		p11_token_free(tok);
		return -1;
	}
	return 0;
}

/* Every phase once, into res[0 .. bench_nphases - 1] and pairs[0 .. bench_npairsets - 1]. */
static int run_round(const struct opts *o, struct p11_key *key, pid_t pid, struct bench_result *res,
		     struct bench_pairs *pairs, struct sd_err *e)
{
	const struct bench_plan *p = &o->plan;
	struct bench_raw_cfg rc = {.key = key, .warmup_s = p->warmup, .seconds = p->seconds};
	struct bench_daemon_cfg dc = {.socket = o->socket,
				      .key_name = o->key_name,
				      .window = p->window,
				      .warmup_s = p->warmup,
				      .seconds = p->seconds,
				      .daemon_pid = pid};
	struct bench_pair_cfg pc;
	size_t i;

	rc.nthreads = 1;
	if (bench_raw_run(&rc, &res[BENCH_PH_RAW1], e) != 0)
		return -1;
	rc.nthreads = 2;
	if (bench_raw_run(&rc, &res[BENCH_PH_RAW2], e) != 0)
		return -1;
	rc.nthreads = 1;
	rc.gap_us = BENCH_PACE_US;
	if (bench_raw_run(&rc, &res[BENCH_PH_PACED], e) != 0)
		return -1;
	rc.gap_us = 0;
	/* Interleaved slices: short lead and warm-up, the same for both sides. */
	pc.raw = rc;
	pc.raw.nthreads = 2;
	pc.raw.seconds = p->slice;
	pc.raw.warmup_s = p->slice_warmup;
	pc.raw.lead_s = 0.02;
	pc.daemon = dc;
	pc.daemon.seconds = p->slice;
	pc.daemon.warmup_s = p->slice_warmup;
	pc.daemon.lead_s = 0.02;
	pc.npairs = p->npairs;
	for (i = 0; i < p->nsets; i++) {
		pc.daemon.nclients = p->clients[i];
		if (bench_pair_run(&pc, &res[bench_ph_paired_raw(i)], &res[bench_ph_daemon(i)],
				   &pairs[i], e) != 0)
			return -1;
	}
	dc.nclients = 1;
	dc.window = 1;
	dc.seconds = p->lat_seconds;
	if (bench_daemon_run(&dc, &res[bench_ph_latency(p)], e) != 0)
		return -1;
	dc.status = 1;
	dc.seconds = p->seconds / 2;
	if (bench_daemon_run(&dc, &res[bench_ph_status(p)], e) != 0)
		return -1;
	/* Latency, interleaved: raw C_Sign with 1 session | signerd, 1 client x 1. */
	pc.raw.nthreads = 1;
	pc.daemon.nclients = 1;
	pc.daemon.window = 1;
	return bench_pair_run(&pc, &res[bench_ph_lat_raw(p)], &res[bench_ph_lat_sd(p)],
			      &pairs[p->nsets], e);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct sd_err e = {0};
	struct p11_module *mod = NULL;
	struct p11_key *key = NULL;
	struct p11_token *tok = NULL;
	struct bench_result *res = NULL;
	struct bench_pairs *pairs = NULL;
	struct bench_data d;
	pid_t pid = 0;
	unsigned k;
	int ret = 1;

	if (parse_args(argc, argv, &o) != 0)
		return 2;
	res = calloc((size_t)o.plan.rounds * bench_nphases(&o.plan), sizeof(*res));
	pairs = calloc((size_t)o.plan.rounds * bench_npairsets(&o.plan), sizeof(*pairs));
	if (res == NULL || pairs == NULL) {
		sd_err_set(&e, SD_E_INTERNAL, "out of memory");
		goto out;
	}
	if (open_key(&o, &mod, &key, &e) != 0)
		goto out;
	tok = key->tok;
	if (bench_daemon_probe(o.socket, o.key_name, &pid, &e) != 0)
		goto out;
	printf("signerd_bench: %ld online CPUs; module %s\n", sysconf(_SC_NPROCESSORS_ONLN),
	       mod->path);
	printf("token \"%s\", key \"%s\" (%s-%d); signerd pid %d at %s, key %s\n", tok->label,
	       key->label, key->type == CKK_RSA ? "RSA" : "EC", EVP_PKEY_get_bits(key->pub),
	       (int)pid, o.socket, o.key_name[0] ? o.key_name : "(default)");
	printf("%u rounds; per phase %.1f s warm-up, %.1f s measured (latency %.1f s); window "
	       "%u\n",
	       o.plan.rounds, o.plan.warmup, o.plan.seconds, o.plan.lat_seconds, o.plan.window);
	printf("throughput: per round and client count, %u pairs of interleaved slices\n"
	       "(raw C_Sign 2 sessions | signerd N clients, order flipped every pair), %.2f s "
	       "measured each\nafter %.2f s warm-up; sdN/s = signerd's rate summed over its "
	       "slices, xN = that / the raw rate\nsummed over the slices in between; latency the "
	       "same way (raw C_Sign 1 session | signerd\n1 client x 1): xdp50 = signerd p50 - "
	       "raw p50 over those slices\n\n",
	       o.plan.npairs, o.plan.slice, o.plan.slice_warmup);
	d.p = &o.plan;
	d.res = res;
	d.pairs = pairs;
	bench_report_round_header(&o.plan);
	for (k = 0; k < o.plan.rounds; k++) {
		if (run_round(&o, key, pid, &res[(size_t)k * bench_nphases(&o.plan)],
			      &pairs[(size_t)k * bench_npairsets(&o.plan)], &e) != 0)
			goto out;
		bench_report_round(&d, k);
	}
	bench_report_summary(&d);
	ret = 0;
out:
	if (ret != 0)
		fprintf(stderr, "signerd_bench: %s\n", e.msg[0] ? e.msg : "failed");
	free(res);
	free(pairs);
	p11_key_free(key);
	p11_token_free(tok);
	p11_module_free(mod);
	return ret;
}
