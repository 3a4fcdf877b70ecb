/*
 * libsyncwatch.so, preloaded into signerd by test_audit_order.sh: makes the
 * audit log's durability visible from outside the daemon. Only fdatasync()
 * on the file named by SYNCWATCH_LOG (an absolute path) is affected:
 *   - it first sleeps SYNCWATCH_DELAY_US (a slow disk: a reply that does not
 *     wait for its record's fdatasync overtakes it);
 *   - while the file SYNCWATCH_FAIL exists, it fails with EIO;
 *   - after each fdatasync that succeeded, the file's size at that moment is
 *     written to SYNCWATCH_OUT (temp file + rename): every byte below it is
 *     durable.
 * Tests only; never installed.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef int (*fdatasync_fn)(int);

static int watched(int fd)
{
	const char *want = getenv("SYNCWATCH_LOG");
	char link[64], path[PATH_MAX];
	ssize_t n;

	if (want == NULL)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return 0;
	path[n] = '\0';
	return strcmp(path, want) == 0;
}

static void publish(int fd)
{
	const char *out = getenv("SYNCWATCH_OUT");
	char tmp[PATH_MAX], line[32];
	struct stat st;
	int o, len;

	if (out == NULL || fstat(fd, &st) != 0)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", out);
	len = snprintf(line, sizeof(line), "%lld\n", (long long)st.st_size);
	o = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (o < 0)
		return;
	if (write(o, line, (size_t)len) == len)
		rename(tmp, out);
	close(o);
}

__attribute__((visibility("default"))) int fdatasync(int fd)
{
	fdatasync_fn real = (fdatasync_fn)dlsym(RTLD_NEXT, "fdatasync");
	const char *delay, *fail;
	int rc;

	if (real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	if (!watched(fd))
		return real(fd);
	delay = getenv("SYNCWATCH_DELAY_US");
	if (delay != NULL)
		usleep((useconds_t)strtoul(delay, NULL, 10));
	fail = getenv("SYNCWATCH_FAIL");
	if (fail != NULL && access(fail, F_OK) == 0) {
		errno = EIO;
		return -1;
	}
	rc = real(fd);
	if (rc == 0)
		publish(fd);
	return rc;
}
