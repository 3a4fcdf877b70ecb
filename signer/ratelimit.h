/* Per-uid signature rate limit (limits.rate_per_uid): a token bucket per uid. */
#ifndef SD_RATELIMIT_H
#define SD_RATELIMIT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#define SD_RATE_SLOTS 256 /* distinct uids tracked; the least recently seen is reused */

struct sd_rate_bucket {
	uid_t uid;
	int used;
	double tokens;
	int64_t last_ns; /* monotonic */
};

struct sd_ratelimit {
	pthread_mutex_t mu;
	struct sd_rate_bucket b[SD_RATE_SLOTS];
};

void sd_rate_init(struct sd_ratelimit *r);
void sd_rate_destroy(struct sd_ratelimit *r);
/* Take one signature for uid at rate per second (burst: one second's worth). 0: allowed. */
int sd_rate_take(struct sd_ratelimit *r, uid_t uid, unsigned rate);

#endif
