/*
 * The audit log: an append-only file of JSON lines, each chaining to the
 * previous one by SHA-256, made durable by group commit (one write and one
 * fdatasync for every line pending at that moment, done by whichever waiting
 * appender takes the lead, or by the background writer for lines nobody
 * waits for), with token-signed checkpoints and rotation.
 * Record formats: signer/audit_rec.c and docs/AUDIT.md.
 */
#include "signer/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/audit_fmt.h"
#include "common/file.h"
#include "signer/audit_int.h"

struct sd_audit {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *path;
	int fd;
	uint64_t max_size;
	unsigned checkpoint_every;

	/* The chain head (including lines not yet written). */
	uint64_t next_seq;
	char last_hash[65];
	uint64_t since_cp; /* lines since the last checkpoint */
	int cp_due;	   /* checkpoint with the next record (the file ended without one) */

	/* Group commit. */
	uint64_t size;	       /* file size once everything pending is written */
	uint64_t durable_size; /* bytes written and synced */
	struct wbuf pending;   /* lines waiting for a writer */
	uint64_t pending_lines;
	uint64_t pending_last; /* seq of the last line in pending */
	struct wbuf batch;     /* the lines being written (owned by the writer) */
	uint64_t durable_seq;
	int writing;
	int failed;
	char fail_msg[300];

	/* The background writer (sd_audit_start_writer). */
	pthread_t writer;
	int have_writer;
	int stop_writer;
	pthread_cond_t wcv;	   /* wakes the writer (CLOCK_MONOTONIC) */
	int64_t delay_ns;	   /* how long a queued line may wait for company */
	int64_t first_pending_ns;  /* when the oldest line in pending was queued */
	int urgent;		   /* commit what is pending without the delay (sd_audit_kick) */
	void (*notify)(void *ctx); /* after every commit or failure, lock held */
	void *notify_ctx;

	int have_signer;
	struct sd_audit_signer signer; /* cert up-ref'd; key_name points to key_name below */
	char *key_name;

	void (*warn)(void *ctx, const char *msg);
	void *warn_ctx;
	void (*sync_hook)(void *ctx);
	void *sync_ctx;
	struct sd_audit_stats st;
};

/* A batch is written at once when it reaches this many lines, whatever the delay. */
#define WRITER_BATCH_LINES 64

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

__attribute__((format(printf, 2, 3))) static void warnf(struct sd_audit *a, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	if (a->warn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	a->warn(a->warn_ctx, msg);
}

__attribute__((format(printf, 2, 3))) static void fail_locked(struct sd_audit *a, const char *fmt,
							      ...)
{
	va_list ap;

	if (a->failed)
		return;
	__atomic_store_n(&a->failed, 1, __ATOMIC_RELEASE); /* sd_audit_poll reads it unlocked */
	va_start(ap, fmt);
	vsnprintf(a->fail_msg, sizeof(a->fail_msg), fmt, ap);
	va_end(ap);
	pthread_cond_broadcast(&a->cv);
	/* Whoever holds replies for queued records learns that they will never be durable. */
	if (a->notify != NULL)
		a->notify(a->notify_ctx);
}

static int unavailable(struct sd_audit *a, struct sd_err *e)
{
	return sd_err_set(e, SD_E_AUDIT_UNAVAILABLE,
			  "audit log %s: %s; refusing to sign until the log is reopened", a->path,
			  a->fail_msg);
}

/* {"seq":N,"time":"...","prev":"..." for the next line. */
static void put_head(struct sd_audit *a, struct wbuf *w)
{
	struct timespec ts;
	char t[32], head[160];
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	sd_audit_fmt_time(&ts, t);
	n = snprintf(head, sizeof(head), "{\"seq\":%llu,\"time\":\"%s\",\"prev\":\"%s\"",
		     (unsigned long long)a->next_seq, t, a->last_hash);
	wbuf_raw(w, head, (size_t)n);
}

/* Queue a complete line (without newline) as the chain's next record. */
static int push_locked(struct sd_audit *a, const struct wbuf *line)
{
	if (wbuf_failed(line)) {
		fail_locked(a, "a record could not be formatted");
		return -1;
	}
	if (a->pending.len == 0)
		a->first_pending_ns = mono_ns();
	wbuf_raw(&a->pending, line->p, line->len);
	wbuf_u8(&a->pending, '\n');
	if (wbuf_failed(&a->pending)) {
		fail_locked(a, "out of memory");
		return -1;
	}
	sd_audit_hash_hex(line->p, line->len, a->last_hash);
	a->size += line->len + 1;
	a->pending_lines++;
	a->pending_last = a->next_seq++;
	/* The writer sleeps until there is a first line, and needs no wake-up for the rest. */
	if (a->have_writer && (a->pending_lines == 1 || a->pending_lines == WRITER_BATCH_LINES))
		pthread_cond_signal(&a->wcv);
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n, int *err)
{
	ssize_t k;

	while (n > 0) {
		k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			*err = k < 0 ? errno : EIO;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/*
 * Write and fdatasync every pending line. Called with the lock held and no
 * writer active; unlock: drop the lock during the I/O (a leading appender),
 * so that others can queue the next batch meanwhile.
 */
static void flush_locked(struct sd_audit *a, int unlock)
{
	struct wbuf t = a->batch;
	uint64_t last = a->pending_last, lines = a->pending_lines;
	void (*hook)(void *) = a->sync_hook;
	void *hook_ctx = a->sync_ctx;
	int err = 0, rc;

	a->batch = a->pending;
	a->pending = t;
	a->pending_lines = 0;
	a->urgent = 0; /* lines queued during this write wait again, unless kicked again */
	a->writing = 1;
	if (unlock)
		pthread_mutex_unlock(&a->mu);
	rc = write_all(a->fd, a->batch.p, a->batch.len, &err);
	if (rc == 0 && fdatasync(a->fd) != 0) {
		err = errno;
		rc = -1;
	}
	if (rc == 0 && hook != NULL)
		hook(hook_ctx);
	if (unlock)
		pthread_mutex_lock(&a->mu);
	a->writing = 0;
	if (rc == 0) {
		__atomic_store_n(&a->durable_seq, last, __ATOMIC_RELEASE); /* read unlocked too */
		a->durable_size += a->batch.len;
		a->st.seq = last;
		a->st.records += lines;
		a->st.syncs++;
	} else {
		/* Remove a partial line so that a reopened log ends cleanly. */
		if (ftruncate(a->fd, (off_t)a->durable_size) != 0)
			fail_locked(
			    a, "write failed: %s (and the partial record could not be removed)",
			    strerror(err));
		else
			fail_locked(a, "write failed: %s", strerror(err));
	}
	wbuf_reset(&a->batch);
	pthread_cond_broadcast(&a->cv);
	/* Lines queued during the write are the writer's to commit next. */
	if (a->have_writer && a->pending.len > 0)
		pthread_cond_signal(&a->wcv);
	if (rc == 0 && a->notify != NULL)
		a->notify(a->notify_ctx);
}

/* Wait for the active writer, then write what is pending while holding the lock. */
static int drain_locked(struct sd_audit *a)
{
	while (a->writing)
		pthread_cond_wait(&a->cv, &a->mu);
	if (!a->failed && a->pending.len > 0)
		flush_locked(a, 0);
	return a->failed ? -1 : 0;
}

static int checkpoint_locked(struct sd_audit *a, struct sd_err *e)
{
	struct wbuf w;
	int ret = -1;

	if (!a->have_signer)
		return sd_err_set(e, SD_E_AUDIT_UNAVAILABLE, "no checkpoint key is set");
	wbuf_init(&w, SD_AUDIT_MAX_LINE);
	put_head(a, &w);
	if (sd_audit_fmt_checkpoint(&w, &a->signer, e) != 0)
		goto out;
	if (push_locked(a, &w) != 0) {
		unavailable(a, e);
		goto out;
	}
	a->since_cp = 0;
	a->cp_due = 0;
	a->st.checkpoints++;
	ret = 0;
out:
	wbuf_free(&w);
	return ret;
}

static void maybe_checkpoint_locked(struct sd_audit *a)
{
	struct sd_err e;

	if (!a->have_signer ||
	    !(a->cp_due || (a->checkpoint_every != 0 && a->since_cp >= a->checkpoint_every)))
		return;
	if (checkpoint_locked(a, &e) != 0)
		warnf(
		    a,
		    "audit log %s: no checkpoint after seq %llu: %s (retried with the next record)",
		    a->path, (unsigned long long)(a->next_seq - 1), e.msg);
}

static int open_log(const char *path, int excl, struct sd_err *e)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (excl ? O_EXCL : 0),
		  0640);
	if (fd < 0)
		return sd_err_set(e, SD_E_AUDIT_UNAVAILABLE, "audit log %s: open: %s", path,
				  strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return sd_err_set(e, SD_E_AUDIT_UNAVAILABLE, "audit log %s: not a regular file",
				  path);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		sd_err_set(e, SD_E_AUDIT_UNAVAILABLE, "audit log %s: %s", path,
			   errno == EWOULDBLOCK ? "in use by another process" : strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int read_at(int fd, char *buf, size_t n, off_t off)
{
	ssize_t k;
	size_t done = 0;

	while (done < n) {
		k = pread(fd, buf + done, n - done, off + (off_t)done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		done += (size_t)k;
	}
	return 0;
}

/* Start of the line ending just before buf[end] (a newline or the window's end). */
static long line_start(const char *buf, size_t end)
{
	size_t i = end;

	while (i > 0 && buf[i - 1] != '\n')
		i--;
	return (long)i;
}

/*
 * Continue the chain from the file's last line: it must be complete, parse,
 * and chain to the line before it (the whole file is checked offline by
 * `signer audit verify`).
 */
static int read_tail(struct sd_audit *a, struct sd_err *e)
{
	const size_t cap = 2 * ((size_t)SD_AUDIT_MAX_LINE + 1);
	struct sd_audit_line *l = NULL, *p = NULL;
	struct sd_err pe;
	struct stat st;
	char *buf = NULL, hash[65];
	size_t win;
	off_t base;
	long ls, ps;
	int ret = -1;

	if (fstat(a->fd, &st) != 0)
		return sd_err_set(e, SD_E_AUDIT_UNAVAILABLE, "audit log %s: fstat: %s", a->path,
				  strerror(errno));
	a->durable_size = a->size = (uint64_t)st.st_size;
	if (st.st_size == 0) {
		a->next_seq = 1;
		memcpy(a->last_hash, SD_AUDIT_ZERO_HASH, sizeof(a->last_hash));
		return sd_sync_dir_of(a->path, e);
	}
	win = (size_t)st.st_size < cap ? (size_t)st.st_size : cap;
	base = st.st_size - (off_t)win;
	buf = malloc(win);
	l = malloc(sizeof(*l));
	p = malloc(sizeof(*p));
	if (buf == NULL || l == NULL || p == NULL) {
		sd_err_set(e, SD_E_AUDIT_UNAVAILABLE, "out of memory");
		goto out;
	}
	if (read_at(a->fd, buf, win, base) != 0) {
		sd_err_set(e, SD_E_AUDIT_UNAVAILABLE, "audit log %s: cannot read its end", a->path);
		goto out;
	}
	if (buf[win - 1] != '\n') {
		ls = line_start(buf, win);
		sd_err_set(
		    e, SD_E_AUDIT_UNAVAILABLE,
		    "audit log %s ends with an incomplete record (%zu bytes without a newline): "
		    "a write was interrupted. Check it with 'signer audit verify', then cut "
		    "it off (truncate -s %lld) or move the file aside",
		    a->path, win - (size_t)ls, (long long)(base + ls));
		goto out;
	}
	ls = line_start(buf, win - 1);
	if (ls == 0 && base > 0) {
		sd_err_set(e, SD_E_AUDIT_UNAVAILABLE, "audit log %s: last line too long", a->path);
		goto out;
	}
	if (sd_audit_parse(buf + ls, win - 1 - (size_t)ls, l, &pe) != 0) {
		sd_err_set(e, SD_E_AUDIT_UNAVAILABLE,
			   "audit log %s: the last record is malformed: %s", a->path, pe.msg);
		goto out;
	}
	if (base + ls == 0) {
		/* A one-line file: a new chain, or a rotated file's first record. */
		if (l->type != SD_AUDIT_ROTATE &&
		    (l->seq != 1 || strcmp(l->prev, SD_AUDIT_ZERO_HASH)))
			goto broken;
	} else {
		ps = line_start(buf, (size_t)ls - 1);
		if (ps == 0 && base > 0) {
			sd_err_set(e, SD_E_AUDIT_UNAVAILABLE, "audit log %s: a line is too long",
				   a->path);
			goto out;
		}
		if (sd_audit_parse(buf + ps, (size_t)(ls - 1 - ps), p, NULL) != 0)
			goto broken;
		sd_audit_hash_hex(buf + ps, (size_t)(ls - 1 - ps), hash);
		if (l->type == SD_AUDIT_ROTATE || l->seq != p->seq + 1 ||
		    strcmp(l->prev, hash) != 0)
			goto broken;
	}
	sd_audit_hash_hex(buf + ls, win - 1 - (size_t)ls, a->last_hash);
	a->next_seq = l->seq + 1;
	__atomic_store_n(&a->durable_seq, l->seq, __ATOMIC_RELEASE);
	a->st.seq = l->seq;
	/* A log that ended without a checkpoint (a crash) gets one with the next record. */
	a->cp_due = l->type != SD_AUDIT_CHECKPOINT;
	a->since_cp = a->cp_due ? 1 : 0;
	ret = 0;
	goto out;
broken:
	sd_err_set(e, SD_E_AUDIT_UNAVAILABLE,
		   "audit log %s: the last record does not chain to the one before it (modified?); "
		   "check it with 'signer audit verify'",
		   a->path);
out:
	free(buf);
	free(l);
	free(p);
	return ret;
}

static void audit_free(struct sd_audit *a)
{
	if (a->fd >= 0)
		close(a->fd);
	X509_free(a->signer.cert);
	free(a->key_name);
	wbuf_free(&a->pending);
	wbuf_free(&a->batch);
	pthread_cond_destroy(&a->wcv);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a->path);
	free(a);
}

int sd_audit_open(const char *path, uint64_t max_size, unsigned checkpoint_every,
		  struct sd_audit **out, struct sd_err *e)
{
	pthread_condattr_t ca;
	struct sd_audit *a;

	*out = NULL;
	if (path == NULL || path[0] == '\0' || strlen(path) > PATH_MAX - 64)
		return sd_err_set(e, SD_E_AUDIT_UNAVAILABLE, "audit log path is empty or too long");
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return sd_err_set(e, SD_E_AUDIT_UNAVAILABLE, "out of memory");
	a->fd = -1;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->wcv, &ca);
	pthread_condattr_destroy(&ca);
	wbuf_init(&a->pending, 0);
	wbuf_init(&a->batch, 0);
	a->max_size = max_size;
	a->checkpoint_every = checkpoint_every;
	a->path = strdup(path);
	if (a->path == NULL) {
		sd_err_set(e, SD_E_AUDIT_UNAVAILABLE, "out of memory");
		goto fail;
	}
	a->fd = open_log(path, 0, e);
	if (a->fd < 0 || read_tail(a, e) != 0)
		goto fail;
	*out = a;
	return 0;
fail:
	audit_free(a);
	return -1;
}

void sd_audit_set_signer(struct sd_audit *a, const struct sd_audit_signer *s)
{
	struct sd_audit_signer n, old;
	char *name = NULL, *old_name;
	int ok, had;

	memset(&n, 0, sizeof(n));
	ok = s != NULL && s->sign != NULL && s->cert != NULL;
	if (ok) {
		name = strdup(s->key_name != NULL ? s->key_name : "");
		ok = name != NULL;
	}
	if (ok) {
		n = *s;
		n.key_name = name;
		X509_up_ref(n.cert);
	}
	pthread_mutex_lock(&a->mu);
	old = a->signer;
	old_name = a->key_name;
	had = a->have_signer;
	a->signer = n;
	a->key_name = name;
	a->have_signer = ok;
	pthread_mutex_unlock(&a->mu);
	if (had)
		X509_free(old.cert);
	free(old_name);
}

/*
 * Move the file aside and start a new one whose first record chains to the
 * old file's last. Before the rename nothing is lost on failure (the log
 * stays as it was); after it, a failure leaves the log failed.
 */
static int rotate_locked(struct sd_audit *a, const char *reason, struct sd_err *e)
{
	char rotated[PATH_MAX], stamp[32];
	const char *base;
	struct sd_err ce;
	struct timespec ts;
	struct stat st;
	struct tm tm;
	struct wbuf w;
	unsigned i;
	int fd, ret;

	if (drain_locked(a) != 0)
		return unavailable(a, e);
	if (a->have_signer && a->since_cp > 0) {
		if (checkpoint_locked(a, &ce) != 0)
			warnf(a, "audit log %s: no checkpoint before rotation: %s", a->path,
			      ce.msg);
		else if (drain_locked(a) != 0)
			return unavailable(a, e);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	for (i = 0; i < 1000; i++) {
		if (i == 0)
			snprintf(rotated, sizeof(rotated), "%s.%s.%03ldZ", a->path, stamp,
				 ts.tv_nsec / 1000000);
		else
			snprintf(rotated, sizeof(rotated), "%s.%s.%03ldZ-%03u", a->path, stamp,
				 ts.tv_nsec / 1000000, i);
		if (lstat(rotated, &st) != 0 && errno == ENOENT)
			break;
	}
	if (i == 1000)
		return sd_err_set(e, SD_E_AUDIT_UNAVAILABLE, "audit log %s: no free rotation name",
				  a->path);
	if (rename(a->path, rotated) != 0)
		return sd_err_set(e, SD_E_AUDIT_UNAVAILABLE, "audit log %s: rename to %s: %s",
				  a->path, rotated, strerror(errno));
	fd = open_log(a->path, 1, &ce);
	if (fd < 0) {
		fail_locked(a, "rotation: %s", ce.msg);
		return unavailable(a, e);
	}
	close(a->fd);
	a->fd = fd;
	a->size = a->durable_size = 0;
	if (sd_sync_dir_of(a->path, &ce) != 0) {
		fail_locked(a, "rotation: %s", ce.msg);
		return unavailable(a, e);
	}
	base = strrchr(rotated, '/');
	base = base != NULL ? base + 1 : rotated;
	wbuf_init(&w, SD_AUDIT_MAX_LINE);
	put_head(a, &w);
	sd_audit_fmt_rotate(&w, base, reason);
	ret = push_locked(a, &w);
	wbuf_free(&w);
	a->since_cp++;
	if (ret != 0 || drain_locked(a) != 0)
		return unavailable(a, e);
	a->st.rotations++;
	return 0;
}

/* Queue r as the chain's next record (and a checkpoint when one is due); *seq: r's seq. */
static int submit_locked(struct sd_audit *a, const struct wbuf *body, uint64_t *seq,
			 struct sd_err *e)
{
	struct wbuf line;
	struct sd_err re;
	int ret = -1;

	wbuf_init(&line, SD_AUDIT_MAX_LINE);
	if (a->failed) {
		unavailable(a, e);
		goto out;
	}
	if (a->max_size != 0 && a->size >= a->max_size && rotate_locked(a, "size", &re) != 0) {
		if (a->failed) {
			unavailable(a, e);
			goto out;
		}
		warnf(a, "%s (continuing in the current file)", re.msg);
	}
	put_head(a, &line);
	wbuf_raw(&line, body->p, body->len);
	if (push_locked(a, &line) != 0) {
		unavailable(a, e);
		goto out;
	}
	*seq = a->pending_last;
	a->since_cp++;
	maybe_checkpoint_locked(a);
	ret = 0;
out:
	wbuf_free(&line);
	return ret;
}

/* Group commit: lead a batch when no one is writing, else wait for the writer. */
static int wait_locked(struct sd_audit *a, uint64_t seq, struct sd_err *e)
{
	while (!a->failed && a->durable_seq < seq) {
		if (!a->writing && a->pending.len > 0)
			flush_locked(a, 1);
		else
			pthread_cond_wait(&a->cv, &a->mu);
	}
	if (a->durable_seq >= seq)
		return 0;
	return unavailable(a, e);
}

/* A void names an earlier record of this chain, never its own seq or a later one. */
static int void_ok_locked(struct sd_audit *a, const struct sd_audit_rec *r, struct sd_err *e)
{
	if (r->voids < a->next_seq)
		return 0;
	return sd_err_set(
	    e, SD_E_INTERNAL,
	    "audit: a void record would name seq %llu, which this log has not written",
	    (unsigned long long)r->voids);
}

static int format_body(const struct sd_audit_rec *r, struct wbuf *body, struct sd_err *e)
{
	struct sd_err re;

	if (sd_audit_fmt_request(body, r, &re) != 0)
		return sd_err_set(e, SD_E_AUDIT_UNAVAILABLE, "%s", re.msg);
	return 0;
}

int sd_audit_submit(struct sd_audit *a, const struct sd_audit_rec *r, uint64_t *seq,
		    struct sd_err *e)
{
	struct wbuf body;
	int ret = -1;

	if (a == NULL)
		return sd_err_set(e, SD_E_AUDIT_UNAVAILABLE, "the audit log is not open");
	wbuf_init(&body, SD_AUDIT_MAX_LINE);
	if (format_body(r, &body, e) == 0) {
		pthread_mutex_lock(&a->mu);
		if (void_ok_locked(a, r, e) == 0)
			ret = submit_locked(a, &body, seq, e);
		pthread_mutex_unlock(&a->mu);
	}
	wbuf_free(&body);
	return ret;
}

int sd_audit_wait(struct sd_audit *a, uint64_t seq, struct sd_err *e)
{
	int ret;

	if (a == NULL)
		return sd_err_set(e, SD_E_AUDIT_UNAVAILABLE, "the audit log is not open");
	pthread_mutex_lock(&a->mu);
	ret = wait_locked(a, seq, e);
	pthread_mutex_unlock(&a->mu);
	return ret;
}

int sd_audit_poll(struct sd_audit *a, uint64_t seq)
{
	/*
	 * Without the lock: the event loop asks, and the lock may be held for a
	 * checkpoint that the token signs (or hangs in). Both only ever move one
	 * way: durable_seq up, failed from 0 to 1.
	 */
	if (__atomic_load_n(&a->durable_seq, __ATOMIC_ACQUIRE) >= seq)
		return 1;
	return __atomic_load_n(&a->failed, __ATOMIC_ACQUIRE) ? -1 : 0;
}

int sd_audit_append(struct sd_audit *a, const struct sd_audit_rec *r, struct sd_err *e)
{
	struct wbuf body;
	uint64_t mine;
	int ret = -1;

	if (a == NULL)
		return sd_err_set(e, SD_E_AUDIT_UNAVAILABLE, "the audit log is not open");
	wbuf_init(&body, SD_AUDIT_MAX_LINE);
	if (format_body(r, &body, e) == 0) {
		pthread_mutex_lock(&a->mu);
		if (void_ok_locked(a, r, e) == 0 && submit_locked(a, &body, &mine, e) == 0)
			ret = wait_locked(a, mine, e);
		pthread_mutex_unlock(&a->mu);
	}
	wbuf_free(&body);
	return ret;
}

/*
 * The background writer: commits what is queued once the oldest line has
 * waited delay_ns or the batch is full. Appenders that wait lead their own
 * commit at once (wait_locked), so the delay only applies to lines whose
 * requests were deferred (sd_audit_submit) while their threads went on.
 */
static void *writer_main(void *arg)
{
	struct sd_audit *a = arg;
	struct timespec until;
	int64_t due;

	pthread_mutex_lock(&a->mu);
	while (!a->stop_writer) {
		if (a->writing || a->failed || a->pending.len == 0) {
			pthread_cond_wait(&a->wcv, &a->mu);
			continue;
		}
		due = a->first_pending_ns + a->delay_ns;
		if (!a->urgent && a->pending_lines < WRITER_BATCH_LINES && mono_ns() < due) {
			until.tv_sec = (time_t)(due / 1000000000);
			until.tv_nsec = (long)(due % 1000000000);
			pthread_cond_timedwait(&a->wcv, &a->mu, &until);
			continue;
		}
		flush_locked(a, 1);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

void sd_audit_kick(struct sd_audit *a)
{
	pthread_mutex_lock(&a->mu);
	if (a->have_writer && a->pending.len > 0) {
		a->urgent = 1;
		pthread_cond_signal(&a->wcv);
	}
	pthread_mutex_unlock(&a->mu);
}

int sd_audit_start_writer(struct sd_audit *a, unsigned delay_us, struct sd_err *e)
{
	sigset_t all, old;
	int rc;

	pthread_mutex_lock(&a->mu);
	if (a->have_writer) {
		pthread_mutex_unlock(&a->mu);
		return 0;
	}
	a->delay_ns = (int64_t)delay_us * 1000;
	a->stop_writer = 0;
	/* The thread takes no signals: the process's handling (signalfd) stays as it is. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&a->writer, NULL, writer_main, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	a->have_writer = rc == 0;
	pthread_mutex_unlock(&a->mu);
	if (rc != 0)
		return sd_err_set(e, SD_E_AUDIT_UNAVAILABLE,
				  "audit log %s: cannot start its writer: %s", a->path,
				  strerror(rc));
	return 0;
}

static void stop_writer(struct sd_audit *a)
{
	pthread_mutex_lock(&a->mu);
	if (!a->have_writer) {
		pthread_mutex_unlock(&a->mu);
		return;
	}
	a->stop_writer = 1;
	pthread_cond_signal(&a->wcv);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->writer, NULL);
	pthread_mutex_lock(&a->mu);
	a->have_writer = 0;
	pthread_mutex_unlock(&a->mu);
}

void sd_audit_set_notify(struct sd_audit *a, void (*fn)(void *ctx), void *ctx)
{
	/* The callback runs under the lock: once we hold it, the old one has returned. */
	pthread_mutex_lock(&a->mu);
	a->notify = fn;
	a->notify_ctx = ctx;
	pthread_mutex_unlock(&a->mu);
}

int sd_audit_rotate(struct sd_audit *a, struct sd_err *e)
{
	int ret;

	pthread_mutex_lock(&a->mu);
	ret = a->failed ? unavailable(a, e) : rotate_locked(a, "requested", e);
	pthread_mutex_unlock(&a->mu);
	return ret;
}

int sd_audit_checkpoint(struct sd_audit *a, struct sd_err *e)
{
	int ret = -1;

	pthread_mutex_lock(&a->mu);
	if (a->failed) {
		unavailable(a, e);
		goto out;
	}
	if (a->since_cp > 0 && checkpoint_locked(a, e) != 0)
		goto out;
	if (drain_locked(a) != 0) {
		unavailable(a, e);
		goto out;
	}
	ret = 0;
out:
	pthread_mutex_unlock(&a->mu);
	return ret;
}

void sd_audit_get_stats(struct sd_audit *a, struct sd_audit_stats *st)
{
	pthread_mutex_lock(&a->mu);
	*st = a->st;
	st->failed = a->failed;
	pthread_mutex_unlock(&a->mu);
}

void sd_audit_set_warn(struct sd_audit *a, void (*warn)(void *ctx, const char *msg), void *ctx)
{
	pthread_mutex_lock(&a->mu);
	a->warn = warn;
	a->warn_ctx = ctx;
	pthread_mutex_unlock(&a->mu);
}

void sd_audit_set_sync_hook(struct sd_audit *a, void (*hook)(void *ctx), void *ctx)
{
	pthread_mutex_lock(&a->mu);
	a->sync_hook = hook;
	a->sync_ctx = ctx;
	pthread_mutex_unlock(&a->mu);
}

void sd_audit_close(struct sd_audit *a)
{
	struct sd_err e;

	if (a == NULL)
		return;
	stop_writer(a);
	pthread_mutex_lock(&a->mu);
	if (drain_locked(a) == 0 && a->have_signer && a->since_cp > 0) {
		if (checkpoint_locked(a, &e) != 0)
			warnf(a, "audit log %s: no final checkpoint: %s", a->path, e.msg);
		drain_locked(a);
	}
	pthread_mutex_unlock(&a->mu);
	audit_free(a);
}
