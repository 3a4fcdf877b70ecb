#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int sd_read_file(const char *path, size_t max, uint8_t **data, size_t *len, struct sd_err *e)
{
	int fd = -1, ret = -1;
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		sd_err_set(e, SD_E_INTERNAL, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		sd_err_set(e, SD_E_INTERNAL, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		sd_err_set(e, SD_E_INTERNAL, "%s: file too large (%lld bytes, limit %zu)", path,
			   (long long)st.st_size, max);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		sd_err_set(e, SD_E_INTERNAL, "%s: out of memory", path);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			sd_err_set(e, SD_E_INTERNAL, "%s: read failed: %s", path,
				   n == 0 ? "file shrank" : strerror(errno));
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0'; /* convenience for text parsers; not counted in len */
	*data = buf;
	*len = got;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return ret;
}

static int sync_dir(const char *dir, struct sd_err *e)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return sd_err_set(e, SD_E_INTERNAL, "%s: %s", dir, strerror(errno));
	if (fsync(fd) != 0 && errno != EINVAL) {
		close(fd);
		return sd_err_set(e, SD_E_INTERNAL, "fsync %s: %s", dir, strerror(errno));
	}
	close(fd);
	return 0;
}

int sd_sync_dir_of(const char *path, struct sd_err *e)
{
	char tmp[PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return sd_err_set(e, SD_E_INTERNAL, "path too long");
	return sync_dir(dirname(tmp), e);
}

int sd_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, int do_sync,
			 struct sd_err *e)
{
	char tmp[PATH_MAX];
	int fd = -1, ret = -1;
	size_t done = 0;
	ssize_t n;

	if (snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path) >= (int)sizeof(tmp))
		return sd_err_set(e, SD_E_INTERNAL, "%s: path too long", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		sd_err_set(e, SD_E_INTERNAL, "cannot create temporary file for %s: %s", path,
			   strerror(errno));
		tmp[0] = '\0';
		goto out;
	}
	while (done < len) {
		n = write(fd, (const uint8_t *)data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sd_err_set(e, SD_E_INTERNAL, "write %s: %s", tmp, strerror(errno));
			goto out;
		}
		done += (size_t)n;
	}
	if (fchmod(fd, mode) != 0) {
		sd_err_set(e, SD_E_INTERNAL, "chmod %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (do_sync && fsync(fd) != 0) {
		sd_err_set(e, SD_E_INTERNAL, "fsync %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		sd_err_set(e, SD_E_INTERNAL, "close %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		sd_err_set(e, SD_E_INTERNAL, "rename to %s: %s", path, strerror(errno));
		goto out;
	}
	tmp[0] = '\0';
	if (do_sync && sd_sync_dir_of(path, e) != 0)
		goto out;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp[0] != '\0')
		unlink(tmp);
	return ret;
}

void sd_hex(const uint8_t *p, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long sd_unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = strlen(s), i;
	int hi, lo;

	if (n % 2 != 0 || n / 2 > max)
		return -1;
	for (i = 0; i < n / 2; i++) {
		hi = hexval(s[2 * i]);
		lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (long)(n / 2);
}
