/* The PIN buffer: one mlock'd, MADV_DONTDUMP page, wiped when freed. */
#include "pkcs11/p11.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define SECRET_MAX 256 /* longest PIN accepted */

static int secret_new(struct p11_secret **out, struct sd_err *e)
{
	struct p11_secret *s;
	long pg = sysconf(_SC_PAGESIZE);
	size_t len = pg > 0 ? (size_t)pg : 4096;
	void *m;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return sd_err_set(e, SD_E_INTERNAL, "out of memory");
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		free(s);
		return sd_err_set(e, SD_E_INTERNAL, "mmap for the PIN buffer: %s", strerror(errno));
	}
	/* Best effort: an unprivileged process may exceed RLIMIT_MEMLOCK; the caller warns. */
	s->locked = mlock(m, len) == 0;
	(void)madvise(m, len, MADV_DONTDUMP);
	s->p = m;
	s->map_len = len;
	*out = s;
	return 0;
}

void p11_secret_free(struct p11_secret *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s->p, s->map_len);
	munlock(s->p, s->map_len);
	munmap(s->p, s->map_len);
	free(s);
}

static void strip_eol(struct p11_secret *s)
{
	char *nl = memchr(s->p, '\n', s->len);

	if (nl != NULL)
		s->len = (size_t)(nl - s->p);
	while (s->len > 0 && s->p[s->len - 1] == '\r')
		s->len--;
	OPENSSL_cleanse(s->p + s->len, s->map_len - s->len);
}

int p11_secret_from_file(const char *path, struct p11_secret **out, struct sd_err *e)
{
	struct p11_secret *s = NULL;
	struct stat st;
	int fd = -1, ret = -1;
	ssize_t n;
	size_t got = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0) {
		sd_err_set(e, SD_E_INTERNAL, "PIN file %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		sd_err_set(e, SD_E_INTERNAL, "PIN file %s: not a regular file", path);
		goto out;
	}
	if ((st.st_mode & 0077) & ~0040) {
		/* group-read is allowed (root:signerd 0640); anything wider is refused */
		sd_err_set(e, SD_E_INTERNAL,
			   "PIN file %s: mode %04o is too open (use 0600 or 0640)", path,
			   (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (secret_new(&s, e) != 0)
		goto out;
	while (got < SECRET_MAX + 2) {
		n = read(fd, s->p + got, SECRET_MAX + 2 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sd_err_set(e, SD_E_INTERNAL, "PIN file %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	s->len = got;
	strip_eol(s);
	if (s->len > SECRET_MAX) {
		sd_err_set(e, SD_E_INTERNAL, "PIN file %s: PIN longer than %d bytes", path,
			   SECRET_MAX);
		goto out;
	}
	if (s->len == 0) {
		sd_err_set(e, SD_E_INTERNAL, "PIN file %s is empty", path);
		goto out;
	}
	*out = s;
	s = NULL;
	ret = 0;
out:
	p11_secret_free(s);
	if (fd >= 0)
		close(fd);
	return ret;
}

int p11_secret_from_env(const char *name, struct p11_secret **out, struct sd_err *e)
{
	char *v = getenv(name);
	size_t n;
	struct p11_secret *s = NULL;
	int ret = -1;

	if (v == NULL || *v == '\0')
		return sd_err_set(e, SD_E_INTERNAL, "PIN environment variable %s is not set", name);
	n = strlen(v);
	if (n > SECRET_MAX) {
		sd_err_set(e, SD_E_INTERNAL, "PIN in %s is longer than %d bytes", name, SECRET_MAX);
		goto out;
	}
	if (secret_new(&s, e) != 0)
		goto out;
	memcpy(s->p, v, n);
	s->len = n;
	strip_eol(s);
	*out = s;
	ret = 0;
out:
	/* On every path: do not leave the PIN in the environment (/proc/PID/environ). */
	OPENSSL_cleanse(v, n);
	unsetenv(name);
	return ret;
}
