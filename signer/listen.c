/* The listening socket: systemd socket activation or our own bind. */
#include "signer/server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* 0: not socket-activated; 1: fd 3 checked and ready; -1: error in e. */
static int from_systemd(struct sd_err *e)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	int v, fl;
	socklen_t l = sizeof(v);

	if (pid == NULL || fds == NULL || strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (strtol(fds, NULL, 10) != 1)
		return sd_err_set(e, SD_E_INTERNAL,
				  "socket activation passed %s sockets; exactly 1 is expected",
				  fds);
	/* SD_LISTEN_FDS_START: a listening AF_UNIX stream socket, made non-blocking. */
	if (getsockopt(3, SOL_SOCKET, SO_DOMAIN, &v, &l) != 0 || v != AF_UNIX ||
	    getsockopt(3, SOL_SOCKET, SO_TYPE, &v, &l) != 0 || v != SOCK_STREAM ||
	    getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) != 0 || v != 1)
		return sd_err_set(e, SD_E_INTERNAL,
				  "fd 3 from systemd is not a listening AF_UNIX stream socket");
	fl = fcntl(3, F_GETFL);
	if (fl < 0 || fcntl(3, F_SETFL, fl | O_NONBLOCK) != 0 || fcntl(3, F_SETFD, FD_CLOEXEC) != 0)
		return sd_err_set(e, SD_E_INTERNAL, "fd 3 from systemd: %s", strerror(errno));
	return 1;
}

/* Refuse to steal the socket of a running daemon; remove a stale one. */
static int clear_stale(const struct sockaddr_un *sun, struct sd_err *e)
{
	struct stat st;
	int fd;

	if (lstat(sun->sun_path, &st) != 0)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return sd_err_set(e, SD_E_INTERNAL, "%s exists and is not a socket", sun->sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0) {
		close(fd);
		return sd_err_set(e, SD_E_INTERNAL, "%s: another signerd is listening",
				  sun->sun_path);
	}
	if (fd >= 0)
		close(fd);
	unlink(sun->sun_path);
	return 0;
}

/* Bind a listening Unix socket at sc->path with its mode and group. */
static int bind_unix(const struct cfg_socket *sc, int *out, struct sd_err *e)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(sc->path) >= sizeof(sun.sun_path))
		return sd_err_set(e, SD_E_INTERNAL, "socket path too long: %s", sc->path);
	memcpy(sun.sun_path, sc->path, strlen(sc->path));
	if (clear_stale(&sun, e) != 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return sd_err_set(e, SD_E_INTERNAL, "socket: %s", strerror(errno));
	/* Created owner-only; widened to the configured mode only once it is ours. */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		umask(old);
		close(fd);
		return sd_err_set(e, SD_E_INTERNAL, "bind %s: %s", sun.sun_path, strerror(errno));
	}
	umask(old);
	if (sc->has_group && chown(sun.sun_path, (uid_t)-1, sc->gid) != 0) {
		close(fd);
		return sd_err_set(e, SD_E_INTERNAL, "chown %s to group %s: %s", sun.sun_path,
				  sc->group, strerror(errno));
	}
	if (chmod(sun.sun_path, sc->mode) != 0 || listen(fd, 128) != 0) {
		close(fd);
		return sd_err_set(e, SD_E_INTERNAL, "%s: %s", sun.sun_path, strerror(errno));
	}
	*out = fd;
	return 0;
}

int sd_listen(struct signer *s, const struct cfg *cfg, struct sd_err *e)
{
	switch (from_systemd(e)) {
	case 1:
		s->listen_fd = 3;
		LOG_I(&s->log, "listening on the socket passed by systemd");
		return 0;
	case -1:
		return -1;
	default:
		break;
	}
	if (bind_unix(&cfg->socket, &s->listen_fd, e) != 0)
		return -1;
	LOG_I(&s->log, "listening on %s (mode %04o)", cfg->socket.path, cfg->socket.mode);
	return 0;
}

int sd_listen_admin(struct signer *s, const struct cfg *cfg, struct sd_err *e)
{
	if (bind_unix(&cfg->admin, &s->admin_fd, e) != 0)
		return sd_err_prefix(e, "admin socket: ");
	LOG_I(&s->log, "admin channel on %s (mode %04o)", cfg->admin.path, cfg->admin.mode);
	return 0;
}

void sd_notify_msg(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	size_t n;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	n = strlen(path);
	if (n >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, n);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	(void)sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sun,
		     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
	close(fd);
}
