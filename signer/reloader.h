/* The reload thread: SIGHUP and admin RELOAD run off the event loop. */
#ifndef SD_RELOADER_H
#define SD_RELOADER_H

#include "signer/server.h"

struct sd_reloader;

/*
 * Called in the reload thread after each reload: once per tag that waited
 * for it (rc and e: the reload's result), then once with tag NULL. It must
 * not block for long; it hands results to the loop.
 */
typedef void (*sd_reload_done_fn)(void *ctx, void *tag, int rc, const struct sd_err *e);

int sd_reloader_start(struct signer *s, sd_reload_fn reload, sd_reload_done_fn done, void *ctx,
		      struct sd_reloader **out);

/*
 * Ask for a reload. Requests made while one runs are served by one more
 * reload after it (the file may have changed meanwhile). tag (may be NULL)
 * is passed to done with that reload's result. -1: out of memory (nothing
 * queued).
 */
int sd_reloader_request(struct sd_reloader *r, void *tag);

/* A reload is running or due. */
int sd_reloader_busy(struct sd_reloader *r);

/*
 * Stop the thread; waiters of a reload that has not started get done(-1,
 * BUSY). -1 when a reload is still inside the token after timeout_ms: r is
 * then left allocated for the thread.
 */
int sd_reloader_stop(struct sd_reloader *r, unsigned timeout_ms);

#endif
