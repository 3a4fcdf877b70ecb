/* signer admin freeze|thaw|retire NAME|reload|status: the incident switches, over the admin socket.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client/cli.h"
#include "client/cmds.h"
#include "common/buf.h"
#include "proto/proto.h"

#define ADMIN_DEFAULT_SOCKET "/run/signerd/admin.sock"

static void usage(FILE *f)
{
	fprintf(f, "usage: signer admin [--admin-socket PATH] COMMAND\n\n"
		   "  freeze        refuse every signature at once (FROZEN) until thaw\n"
		   "  thaw          sign again\n"
		   "  retire NAME   refuse to sign with key NAME until signerd restarts\n"
		   "  reload        reload the configuration, keys and CRLs (as SIGHUP)\n"
		   "  status        signerd's status\n\n"
		   "The admin socket is $SIGNERD_ADMIN_SOCKET, else " ADMIN_DEFAULT_SOCKET
		   ";\nonly root or the config's admin.allow may use it.\n");
}

static int dial(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		cli_err("admin socket path too long: %s", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		cli_err("connect to %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Send one request, read one bounded reply frame, print it. */
static int roundtrip(const char *path, struct wbuf *req)
{
	static uint8_t buf[4 + SD_FRAME_MAX];
	const uint8_t *body;
	size_t got = 0, bodylen, used, off = 0;
	uint8_t type;
	char *text = NULL, msg[SD_ERRMSG_MAX + 1];
	struct sd_err e;
	uint32_t code;
	ssize_t n;
	int fd, r = 0, ret = CLI_FAIL;

	fd = dial(path);
	if (fd < 0)
		return CLI_FAIL;
	while (off < req->len) {
		n = send(fd, req->p + off, req->len - off, MSG_NOSIGNAL);
		if (n <= 0) {
			cli_err("send to %s: %s", path, strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	while ((r = proto_frame_peek(buf, got, &type, &body, &bodylen, &used)) == 0 &&
	       got < sizeof(buf)) {
		n = recv(fd, buf + got, sizeof(buf) - got, 0);
		if (n <= 0) {
			cli_err("signerd closed the admin connection without a reply");
			goto out;
		}
		got += (size_t)n;
	}
	if (r != 1) {
		cli_err("malformed reply from signerd");
		goto out;
	}
	if (type == SD_MSG_ERROR) {
		if (proto_dec_error(body, bodylen, &code, msg, sizeof(msg), &e) == 0)
			cli_err("%s: %s", sd_code_name(code), msg);
		else
			cli_err("malformed ERROR reply: %s", e.msg);
		goto out;
	}
	if ((type == SD_MSG_ADMIN_OK && proto_dec_admin_ok(body, bodylen, &text, &e) == 0) ||
	    (type == SD_MSG_STATUS_OK && proto_dec_status_ok(body, bodylen, &text, &e) == 0)) {
		printf("%s\n", text);
		ret = CLI_OK;
	} else {
		cli_err("unexpected reply type 0x%02x", type);
	}
out:
	free(text);
	close(fd);
	return ret;
}

int cmd_admin(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"admin-socket", required_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *sock = getenv("SIGNERD_ADMIN_SOCKET"), *cmd;
	struct wbuf w;
	int c, ret;

	if (sock == NULL || *sock == '\0')
		sock = ADMIN_DEFAULT_SOCKET;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			sock = optarg;
			break;
		case 'h':
			usage(stdout);
			return CLI_OK;
		default:
			usage(stderr);
			return CLI_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CLI_USAGE;
	}
	cmd = argv[optind++];
	wbuf_init(&w, 4 + SD_FRAME_MAX);
	if (strcmp(cmd, "freeze") == 0 && optind == argc) {
		proto_enc_admin(&w, SD_MSG_ADMIN_FREEZE, NULL);
	} else if (strcmp(cmd, "thaw") == 0 && optind == argc) {
		proto_enc_admin(&w, SD_MSG_ADMIN_THAW, NULL);
	} else if (strcmp(cmd, "reload") == 0 && optind == argc) {
		proto_enc_admin(&w, SD_MSG_ADMIN_RELOAD, NULL);
	} else if (strcmp(cmd, "status") == 0 && optind == argc) {
		proto_enc_status(&w);
	} else if (strcmp(cmd, "retire") == 0 && optind + 1 == argc) {
		proto_enc_admin(&w, SD_MSG_ADMIN_RETIRE, argv[optind]);
	} else {
		usage(stderr);
		wbuf_free(&w);
		return CLI_USAGE;
	}
	ret = wbuf_failed(&w) ? CLI_USAGE : roundtrip(sock, &w);
	wbuf_free(&w);
	return ret;
}
