/* The listener, connections and the worker pool. */
#ifndef SD_SERVER_H
#define SD_SERVER_H

#include "signer/signer.h"

/* Open the listening socket from the config, or take it from systemd (LISTEN_FDS). */
int sd_listen(struct signer *s, const struct cfg *cfg, struct sd_err *e);

/*
 * Serve until SIGTERM/SIGINT (drain, then return 0). SIGHUP calls reload.
 * The caller has blocked SIGHUP, SIGTERM and SIGINT in every thread.
 */
typedef int (*sd_reload_fn)(struct signer *s, struct sd_err *e);
int sd_serve(struct signer *s, unsigned nworkers, sd_reload_fn reload);
/* sd_serve's result when a worker never came back from the token. */
#define SD_SERVE_STUCK 2

/* The admin channel's socket (cfg->admin): always created by signerd itself. */
int sd_listen_admin(struct signer *s, const struct cfg *cfg, struct sd_err *e);

/* An admin request from an admin connection: exactly one response frame to out. */
void sd_admin_handle(struct signer *s, const struct sd_peer *peer, uint8_t type,
		     const uint8_t *body, size_t len, struct wbuf *out, sd_reload_fn reload);

/* systemd notification (no-op without NOTIFY_SOCKET). */
void sd_notify_msg(const char *msg);

#endif
