/*
 * Reloads run in their own thread: loading a generation talks to the token,
 * and a token that hangs must not stall the event loop (STATUS, the admin
 * channel, replies of signatures in flight).
 */
#include "signer/reloader.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sd_reloader {
	struct signer *s;
	sd_reload_fn reload;
	sd_reload_done_fn done;
	void *ctx;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int requested; /* a reload is due (under mu) */
	int running;   /* the thread is inside reload() (under mu) */
	int stop;      /* under mu */
	int finished;  /* the thread has returned (under mu) */
	void **tags;   /* who waits for the due reload (under mu) */
	size_t ntags, cap;
};

static void *reloader_main(void *arg)
{
	struct sd_reloader *r = arg;
	struct sd_err e;
	void **tags;
	size_t ntags, i;
	int rc;

	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->requested && !r->stop)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->stop)
			break;
		/* Requests that come during this reload get the next one: the file may change. */
		tags = r->tags;
		ntags = r->ntags;
		r->tags = NULL;
		r->ntags = r->cap = 0;
		r->requested = 0;
		r->running = 1;
		pthread_mutex_unlock(&r->mu);

		memset(&e, 0, sizeof(e));
		sd_notify_msg("RELOADING=1");
		rc = r->reload(r->s, &e);
		sd_notify_msg("READY=1");
		/* The generation first: an admin told "reloaded" finds the new rules in force. */
		r->done(r->ctx, NULL, rc, &e);
		for (i = 0; i < ntags; i++)
			r->done(r->ctx, tags[i], rc, &e);
		free(tags);

		pthread_mutex_lock(&r->mu);
		r->running = 0;
		pthread_cond_broadcast(&r->cv);
	}
	/* Waiters of a reload that never ran: refused (the daemon is stopping). */
	tags = r->tags;
	ntags = r->ntags;
	r->tags = NULL;
	r->ntags = r->cap = 0;
	pthread_mutex_unlock(&r->mu);
	for (i = 0; i < ntags; i++) {
		sd_err_set(&e, SD_E_BUSY, "signerd is stopping; the reload did not run");
		r->done(r->ctx, tags[i], -1, &e);
	}
	free(tags);
	pthread_mutex_lock(&r->mu);
	r->finished = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

int sd_reloader_start(struct signer *s, sd_reload_fn reload, sd_reload_done_fn done, void *ctx,
		      struct sd_reloader **out)
{
	struct sd_reloader *r = calloc(1, sizeof(*r));
	sigset_t all, old;
	int rc;

	*out = NULL;
	if (r == NULL)
		return -1;
	r->s = s;
	r->reload = reload;
	r->done = done;
	r->ctx = ctx;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	/* Signals stay with the loop's signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&r->thread, NULL, reloader_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pthread_mutex_destroy(&r->mu);
		pthread_cond_destroy(&r->cv);
		free(r);
		return -1;
	}
	*out = r;
	return 0;
}

int sd_reloader_request(struct sd_reloader *r, void *tag)
{
	void **n;
	int ret = 0;

	pthread_mutex_lock(&r->mu);
	if (tag != NULL) {
		if (r->ntags == r->cap) {
			n = realloc(r->tags, (r->cap ? 2 * r->cap : 4) * sizeof(*n));
			if (n == NULL) {
				ret = -1;
				goto out;
			}
			r->tags = n;
			r->cap = r->cap ? 2 * r->cap : 4;
		}
		r->tags[r->ntags++] = tag;
	}
	r->requested = 1;
	pthread_cond_broadcast(&r->cv);
out:
	pthread_mutex_unlock(&r->mu);
	return ret;
}

int sd_reloader_busy(struct sd_reloader *r)
{
	int busy;

	pthread_mutex_lock(&r->mu);
	busy = r->requested || r->running;
	pthread_mutex_unlock(&r->mu);
	return busy;
}

int sd_reloader_stop(struct sd_reloader *r, unsigned timeout_ms)
{
	struct timespec until;
	int stuck = 0;

	if (r == NULL)
		return 0;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(timeout_ms / 1000);
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_broadcast(&r->cv);
	while (!r->finished && !stuck)
		stuck = pthread_cond_timedwait(&r->cv, &r->mu, &until) == ETIMEDOUT;
	pthread_mutex_unlock(&r->mu);
	if (stuck)
		return -1; /* inside the token: r stays allocated, the thread may still use it */
	pthread_join(r->thread, NULL);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r->tags);
	free(r);
	return 0;
}
