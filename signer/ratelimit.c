#include "signer/ratelimit.h"

#include <string.h>
#include <time.h>

void sd_rate_init(struct sd_ratelimit *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
}

void sd_rate_destroy(struct sd_ratelimit *r)
{
	pthread_mutex_destroy(&r->mu);
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int sd_rate_take(struct sd_ratelimit *r, uid_t uid, unsigned rate)
{
	struct sd_rate_bucket *b = NULL, *oldest = &r->b[0];
	int64_t now = mono_ns();
	int i, ret = -1;

	if (rate == 0)
		return 0;
	pthread_mutex_lock(&r->mu);
	for (i = 0; i < SD_RATE_SLOTS && b == NULL; i++) {
		if (r->b[i].used && r->b[i].uid == uid)
			b = &r->b[i];
		else if (!r->b[i].used || r->b[i].last_ns < oldest->last_ns)
			oldest = &r->b[i];
	}
	if (b == NULL) {
		/* A new (or long-forgotten) uid starts with a full bucket. */
		b = oldest;
		b->used = 1;
		b->uid = uid;
		b->tokens = rate;
		b->last_ns = now;
	}
	b->tokens += (double)(now - b->last_ns) / 1e9 * rate;
	if (b->tokens > rate)
		b->tokens = rate;
	b->last_ns = now;
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		ret = 0;
	}
	pthread_mutex_unlock(&r->mu);
	return ret;
}
