/*
 * The event loop. One thread owns every connection; SIGN_CAB requests go to
 * a pool of workers (one per token session), so that pipelined requests on
 * one connection are signed in parallel. Each request gets a slot in its
 * connection's queue, and responses leave strictly in request order.
 *
 * With the audit log on, a worker that has more requests queued does not
 * wait for its record's fdatasync: it queues the record and goes back to the
 * token, and the loop holds the reply until the record is durable (the audit
 * log's commit wakes the loop). A worker with nothing queued commits its
 * record itself, at once.
 *
 * A worker whose reply is next on its connection, with nothing unsent before
 * it, sends it itself (under the connection's lock) instead of waiting for
 * the loop to wake up; the loop still retires the slot afterwards. That is
 * for a server without a backlog, and for clients with one request in
 * flight: while requests are queued, the other finished replies are
 * collected for up to COALESCE_NS and the loop sends them together, so that
 * the loop and the clients wake once per batch instead of per reply.
 */
#include "signer/server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "signer/auditlog.h"
#include "signer/jobq.h"
#include "signer/reloader.h"

#define MAX_PIPELINE	 64    /* requests in flight per connection */
#define IDLE_TIMEOUT_MS	 60000 /* a connection with nothing pending */
#define DRAIN_TIMEOUT_MS 10000
/*
 * Workers per session once a key timestamps: a worker waits for the TSAs
 * after releasing its session, so without spares slow TSAs would stop every
 * signature, untimestamped ones too.
 */
#define TSA_WORKERS	4
#define WORKER_JOIN_MS	3000 /* after the drain, for calls still inside the module */
#define RBUF_CAP	(4 + SD_FRAME_MAX)
#define OUT_HIGH	(2 * RBUF_CAP) /* unsent reply bytes above which we stop reading */
#define ACCEPT_PAUSE_MS 100	       /* after EMFILE or ENFILE */
#define SPIN_NS		200000	/* an idle worker's look for the next job (see spin_for_job) */
#define COALESCE_NS	4000000 /* how long finished replies wait for company under a backlog */

struct conn;

struct slot {
	struct slot *next;     /* in the connection's queue */
	struct sd_job job;     /* in the job queue */
	struct slot *next_job; /* in the completion or held list */
	struct conn *c;
	int done;
	uint8_t type;
	uint8_t *req;
	size_t reqlen;
	struct wbuf resp;
	struct sd_audit_ticket audit; /* the request's audit record */
	int held;		      /* resp may not leave before that record is durable */
	int sent;		      /* a worker sent resp itself (under the conn's mu) */
};

struct conn {
	struct conn *prev, *next;
	/*
	 * Guards what a worker may touch to send its reply itself: fd (closed
	 * under it), head, out, woff, and the slots' sent flags. The rest is
	 * the loop's alone.
	 */
	pthread_mutex_t mu;
	int fd;
	struct sd_peer peer;
	uint8_t *rbuf;
	size_t rlen;
	struct slot *head, *tail;
	unsigned inflight; /* slots not yet written */
	unsigned queued;   /* slots at workers */
	struct wbuf out;
	size_t woff;
	int closing;	 /* read no more; close once flushed */
	int gone;	 /* peer gone; free when no worker holds a slot */
	atomic_int dead; /* gone, as seen by workers: skip its queued requests */
	int eof;	 /* peer shut down its sending side */
	int want_in, want_out;
	int admin;   /* accepted on the admin socket */
	int touched; /* on the completion pass's list */
	struct conn *next_touched;
	int audit_wait; /* on the list of connections whose head waits for the audit log */
	struct conn *next_audit_wait;
	int64_t deadline_ms;
};

struct server {
	struct signer *s;
	int epfd, evfd, sigfd;
	int tfd; /* timerfd: collected replies are due */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct sd_jobq jobq; /* requests for the workers, fair between uids (under mu) */
	atomic_uint njobs;   /* how many (changed under mu) */
	struct slot *done;
	int done_woken;		    /* the loop was woken for the done list (under mu) */
	int done_timer;		    /* tfd is armed for it (under mu) */
	struct slot *held;	    /* done, but the reply waits for the audit log (under mu) */
	atomic_int held_pending;    /* about how many are on it: the commit wakes the loop */
	struct conn *audit_waiters; /* loop only */
	atomic_uint audit_waiting;  /* how many: the audit commit wakes the loop when > 0 */
	int stopping;
	unsigned idle;		/* workers waiting for a job (under mu) */
	atomic_int spinning;	/* a worker looks for the next job without sleeping */
	atomic_int active;	/* workers between taking a job and finishing it */
	atomic_llong last_done; /* when a worker last finished a job (ns) */
	atomic_llong gap;	/* average time from an idle server's last reply to its next job */
	pthread_t *workers;
	unsigned nworkers;
	unsigned base_workers; /* one per token session */
	unsigned max_workers;  /* room in workers: TSA_WORKERS per session */
	struct conn *conns;
	unsigned nconns;
	uint64_t request_timeout_ms;
	unsigned max_connections;
	unsigned max_connections_uid; /* per peer uid, admin connections not counted */
	int64_t accept_paused_until;
	int64_t next_timeout_check;
	int need_reap; /* some connection is gone and waits to be freed */ /* 0: accepting */
	sd_reload_fn reload;
	struct sd_reloader *reloader;	   /* runs reloads off the loop */
	atomic_int gen_dirty;		   /* a reload finished: apply_generation */
	const struct cfg_socket *admin;	   /* admin section of gen's config */
	struct sd_keyset *gen;		   /* held for the allow rules below */
	const struct cfg_principal *allow; /* socket.allow of gen's config */
	size_t nallow;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void busy_begin(struct sd_counters *c)
{
	unsigned long now = atomic_fetch_add(&c->signing_now, 1) + 1;
	unsigned long peak = atomic_load(&c->signing_peak);

	while (now > peak && !atomic_compare_exchange_weak(&c->signing_peak, &peak, now))
		;
}

/* A SIGNATURE whose audit record did not become durable must not leave: refuse it. */
static void withhold(struct server *sv, struct slot *sl, const char *why)
{
	sl->held = 0;
	if (sl->resp.len < 5 || sl->resp.p[4] != SD_MSG_SIGNATURE)
		return; /* a refusal is sent as it is, as when the record fails before it */
	LOG_E(&sv->s->log, "audit: %s; the signature for uid %u is withheld (AUDIT_UNAVAILABLE)",
	      why, (unsigned)sl->c->peer.uid);
	wbuf_reset(&sl->resp);
	proto_enc_error(&sl->resp, SD_E_AUDIT_UNAVAILABLE,
			"the audit log could not record this signature; nothing is signed until it "
			"is restored (SIGHUP reopens it)");
	atomic_fetch_sub(&sv->s->ctr.signatures, 1);
	atomic_fetch_add(&sv->s->ctr.errors, 1);
}

/*
 * The request's record is queued. With more requests waiting for a worker,
 * go back to them: the reply is held until the background commit. Else make
 * the record durable now, in this thread, which costs no hand-off.
 */
static void audit_settle(struct server *sv, struct slot *sl)
{
	struct sd_err e = {0};

	if (atomic_load(&sv->njobs) > 0) {
		sl->held = 1;
		return;
	}
	if (sd_auditlog_wait(sv->s, &sl->audit, &e) != 0)
		withhold(sv, sl, e.msg);
}

/*
 * In a worker: send sl's reply now if every reply before it on its
 * connection has left (sent by workers, the loop has not yet retired them)
 * and nothing is waiting in out. With only_if_last, also only if no request
 * follows sl on the connection: under a backlog the replies of pipelining
 * clients wait to leave together, but a client that sends one request at a
 * time would only wait for the timer. What the socket does not take at once
 * stays in out for the loop (which retires sl later in either case).
 * Returns DIRECT_DONE when the whole reply left and no request follows it
 * (the loop has nothing urgent to do), DIRECT_PART when part of it is left
 * in out (the loop must send it now), else DIRECT_NONE.
 */
enum { DIRECT_NONE, DIRECT_DONE, DIRECT_PART };

static int send_direct(struct slot *sl, int only_if_last)
{
	struct conn *c = sl->c;
	struct slot *p;
	ssize_t n;
	int ret = DIRECT_NONE;

	if (wbuf_failed(&sl->resp))
		return DIRECT_NONE; /* the loop replaces it */
	pthread_mutex_lock(&c->mu);
	/* Bounded by MAX_PIPELINE; the slots before sl change only under mu. */
	for (p = c->head; p != NULL && p != sl && p->sent; p = p->next)
		;
	if (p == sl && c->woff == c->out.len && c->fd >= 0 && !(only_if_last && sl->next)) {
		n = send(c->fd, sl->resp.p, sl->resp.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0 && (size_t)n < sl->resp.len)
			wbuf_raw(&c->out, sl->resp.p + n, sl->resp.len - (size_t)n);
		/* Else (EAGAIN, an error) the loop sends it, or sees the error itself. */
		sl->sent = n > 0;
		/* A reply after it, done already, waits for the loop: wake it. */
		if (n > 0 && (size_t)n < sl->resp.len)
			ret = DIRECT_PART;
		else if (n > 0 && sl->next == NULL)
			ret = DIRECT_DONE;
	}
	pthread_mutex_unlock(&c->mu);
	return ret;
}

/* The audit log committed (or failed): wake the loop if a reply waits for it. */
static void audit_committed(void *ctx)
{
	struct server *sv = ctx;
	uint64_t one = 1;

	if ((atomic_load(&sv->audit_waiting) > 0 || atomic_load(&sv->held_pending) > 0) &&
	    write(sv->evfd, &one, sizeof(one)) < 0)
		return; /* EAGAIN: the loop is already due to wake */
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * After a job, one worker at a time keeps looking for the next one for up to
 * SPIN_NS before it sleeps, when clients have lately sent their next request
 * that soon after a reply. A worker that sleeps leaves its CPU idle, and on
 * this kind of VM the next signature then starts cold: C_Sign after a 200 us
 * sleep takes up to 250 us longer than back to back (docs/PERFORMANCE.md).
 * Spinning costs at most SPIN_NS of CPU per reply, and only while the gaps
 * between requests stay that short.
 */
static void spin_for_job(struct server *sv)
{
	int expected = 0;
	int64_t end;

	if (atomic_load(&sv->gap) >= SPIN_NS ||
	    !atomic_compare_exchange_strong(&sv->spinning, &expected, 1))
		return;
	end = now_ns() + SPIN_NS;
	while (atomic_load(&sv->njobs) == 0 && now_ns() < end) {
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
	}
	atomic_store(&sv->spinning, 0);
}

static void *worker(void *arg)
{
	struct server *sv = arg;
	struct sd_audit_ticket t;
	struct itimerspec due = {.it_value = {.tv_nsec = COALESCE_NS}};
	struct slot *sl;
	uint64_t one = 1;
	int wake, arm, backlog, direct, first = 1;

	for (;;) {
		if (!first)
			spin_for_job(sv);
		first = 0;
		pthread_mutex_lock(&sv->mu);
		while (sv->jobq.njobs == 0 && !sv->stopping) {
			sv->idle++;
			pthread_cond_wait(&sv->cv, &sv->mu);
			sv->idle--;
		}
		if (sv->stopping) {
			/* The drain is over: requests not started are dropped with their
			 * connections. */
			pthread_mutex_unlock(&sv->mu);
			return NULL;
		}
		sl = (struct slot *)((char *)sd_jobq_pop(&sv->jobq) - offsetof(struct slot, job));
		atomic_fetch_sub(&sv->njobs, 1);
		atomic_fetch_add(&sv->active, 1);
		/* The loop signals no one while a worker spins: pass the rest on. */
		if (sv->jobq.njobs > 0 && sv->idle > 0)
			pthread_cond_signal(&sv->cv);
		pthread_mutex_unlock(&sv->mu);

		if (atomic_load(&sl->c->dead)) {
			/* Nobody will read it: do not spend a token signature on it. */
			proto_enc_error(&sl->resp, SD_E_BAD_REQUEST, "client gone");
		} else {
			busy_begin(&sv->s->ctr);
			/* Nothing queued behind it: its record is committed at once (audit.c). */
			sl->audit.urgent = atomic_load(&sv->njobs) == 0;
			sd_auditlog_defer(sv->s, &sl->audit);
			sd_handle(sv->s, &sl->c->peer, sl->type, sl->req, sl->reqlen, &sl->resp);
			sd_auditlog_defer(sv->s, NULL);
			atomic_fetch_sub(&sv->s->ctr.signing_now, 1);
			if (sl->audit.set)
				audit_settle(sv, sl);
		}
		/*
		 * With requests queued, this reply can wait a little for others to
		 * go with it, unless its client has nothing else in flight here.
		 */
		backlog = atomic_load(&sv->njobs) > 0;
		direct =
		    sl->held || atomic_load(&sl->c->dead) ? DIRECT_NONE : send_direct(sl, backlog);

		if (sl->held) {
			/*
			 * Nothing can be sent before the commit, which wakes the loop
			 * (audit_committed): no wake-up now. Count, then look: a commit
			 * that came before the count is seen here.
			 */
			t = sl->audit;
			pthread_mutex_lock(&sv->mu);
			sl->next_job = sv->held;
			sv->held = sl;
			pthread_mutex_unlock(&sv->mu);
			atomic_fetch_add(&sv->held_pending, 1);
			wake = sd_auditlog_state(sv->s, &t) != 0;
		} else {
			/*
			 * One wake-up per batch: the loop takes the whole list. A reply
			 * that has left only needs its slot retired, which can wait for
			 * the timer: waking the loop now would compete with the client
			 * for a CPU just as the client wakes up for the reply.
			 */
			wake = arm = 0;
			pthread_mutex_lock(&sv->mu);
			sl->next_job = sv->done;
			sv->done = sl;
			if (!sv->done_woken &&
			    ((!backlog && direct != DIRECT_DONE) || direct == DIRECT_PART))
				wake = sv->done_woken = 1;
			else if (!sv->done_woken && !sv->done_timer)
				arm = sv->done_timer = 1;
			/* Under mu, so that the loop's disarming cannot overtake it. */
			if (arm)
				timerfd_settime(sv->tfd, 0, &due, NULL);
			pthread_mutex_unlock(&sv->mu);
		}
		atomic_store(&sv->last_done, now_ns());
		atomic_fetch_sub(&sv->active, 1);
		if (wake && write(sv->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			continue;
	}
}

static void update_events(struct server *sv, struct conn *c)
{
	struct epoll_event ev = {0};
	int in = !c->closing && !c->gone && c->inflight < MAX_PIPELINE &&
		 c->out.len - c->woff < OUT_HIGH;
	int out = c->woff < c->out.len;

	if (in == c->want_in && out == c->want_out)
		return;
	c->want_in = in;
	c->want_out = out;
	ev.events = (in ? EPOLLIN : 0) | (out ? EPOLLOUT : 0);
	ev.data.ptr = c;
	epoll_ctl(sv->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void slot_free(struct slot *sl)
{
	free(sl->req);
	wbuf_free(&sl->resp);
	free(sl);
}

/* Close now; the memory goes in reap(), once no worker holds a slot of it. */
static void conn_free(struct server *sv, struct conn *c)
{
	pthread_mutex_lock(&c->mu);
	if (c->fd >= 0) {
		epoll_ctl(sv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	pthread_mutex_unlock(&c->mu);
	c->gone = 1;
	atomic_store(&c->dead, 1);
	sv->need_reap = 1;
}

static void reap(struct server *sv)
{
	struct conn *c, *nc;
	struct slot *sl, *n;

	if (!sv->need_reap)
		return;
	sv->need_reap = 0;
	for (c = sv->conns; c != NULL; c = nc) {
		nc = c->next;
		if (!c->gone)
			continue;
		if (c->queued > 0 || c->audit_wait) {
			sv->need_reap =
			    1; /* a worker or the audit list still holds it: next time */
			continue;
		}
		for (sl = c->head; sl != NULL; sl = n) {
			n = sl->next;
			slot_free(sl);
		}
		if (c->prev)
			c->prev->next = c->next;
		else
			sv->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		sv->nconns--;
		free(c->rbuf);
		wbuf_free(&c->out);
		pthread_mutex_destroy(&c->mu);
		free(c);
	}
}

/*
 * Whether a held reply may leave now: its record is durable, or it never
 * will be (then a SIGNATURE is withheld). If not yet, the connection waits on
 * the audit list; registering before the second look means that a commit
 * between the two looks still wakes the loop.
 */
static int audit_ready(struct server *sv, struct conn *c, struct slot *sl)
{
	int st = sd_auditlog_state(sv->s, &sl->audit);

	if (st == 0 && !c->audit_wait) {
		c->audit_wait = 1;
		c->next_audit_wait = sv->audit_waiters;
		sv->audit_waiters = c;
		atomic_fetch_add(&sv->audit_waiting, 1);
		st = sd_auditlog_state(sv->s, &sl->audit);
	}
	if (st == 0)
		return 0;
	if (st < 0)
		withhold(sv, sl, "the audit log failed before this request's record was durable");
	sl->held = 0;
	return 1;
}

/* Move finished responses, in order, to the output buffer and write what we can. */
static void flush(struct server *sv, struct conn *c)
{
	struct slot *sl;
	ssize_t n;
	int broken = 0, all_sent;

	if (c->gone)
		return;
	pthread_mutex_lock(&c->mu);
	/* Bounded: a client that does not read its replies stops being read. */
	while ((sl = c->head) != NULL && sl->done &&
	       (sl->sent || c->out.len - c->woff < OUT_HIGH)) {
		if (sl->held && !audit_ready(sv, c, sl))
			break;
		if (!sl->sent) {
			if (wbuf_failed(&sl->resp)) {
				wbuf_reset(&sl->resp);
				proto_enc_error(&sl->resp, SD_E_INTERNAL, "response too large");
			}
			wbuf_raw(&c->out, sl->resp.p, sl->resp.len);
		}
		c->head = sl->next;
		if (c->head == NULL)
			c->tail = NULL;
		c->inflight--;
		slot_free(sl);
	}
	while (c->woff < c->out.len) {
		n = send(c->fd, c->out.p + c->woff, c->out.len - c->woff, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			broken = 1;
			break;
		}
		c->woff += (size_t)n;
	}
	if (c->woff > 0 && c->woff < c->out.len && c->woff >= c->out.len / 2) {
		memmove(c->out.p, c->out.p + c->woff, c->out.len - c->woff);
		c->out.len -= c->woff;
		c->woff = 0;
	}
	all_sent = c->woff == c->out.len;
	if (all_sent) {
		wbuf_reset(&c->out);
		c->woff = 0;
	}
	if (!broken && !(all_sent && c->closing && c->inflight == 0))
		update_events(sv, c);
	pthread_mutex_unlock(&c->mu);
	if (broken || (all_sent && c->closing && c->inflight == 0)) {
		conn_free(sv, c);
		return;
	}
	/* Idle time counts from the last answer, not from the last request. */
	if (all_sent && c->inflight == 0 && c->rlen == 0)
		c->deadline_ms = now_ms() + IDLE_TIMEOUT_MS;
}

static struct slot *slot_add(struct conn *c)
{
	struct slot *sl = calloc(1, sizeof(*sl));

	if (sl == NULL)
		return NULL;
	sl->c = c;
	wbuf_init(&sl->resp, 4 + SD_FRAME_MAX);
	pthread_mutex_lock(&c->mu);
	if (c->tail)
		c->tail->next = sl;
	else
		c->head = sl;
	pthread_mutex_unlock(&c->mu);
	c->tail = sl;
	c->inflight++;
	return sl;
}

/* Queue an ERROR that closes the connection once everything before it is written. */
static void fatal_reply(struct conn *c, uint32_t code, const char *msg)
{
	struct slot *sl = slot_add(c);

	c->closing = 1;
	if (sl == NULL)
		return;
	proto_enc_error(&sl->resp, code, msg);
	sl->done = 1;
}

static void apply_generation(struct server *sv);

/*
 * A reload finished (reload thread): answer the admin request tag, or, with
 * tag NULL, have the loop pick up the new generation.
 */
static void reload_done(void *ctx, void *tag, int rc, const struct sd_err *e)
{
	struct server *sv = ctx;
	struct slot *sl = tag;
	uint64_t one = 1;

	if (sl == NULL) {
		atomic_store(&sv->gen_dirty, 1);
	} else {
		if (rc == 0)
			proto_enc_admin_ok(&sl->resp, "reloaded");
		else
			proto_enc_error(&sl->resp, e->code != 0 ? e->code : SD_E_INTERNAL, e->msg);
		pthread_mutex_lock(&sv->mu);
		sl->next_job = sv->done;
		sv->done = sl;
		pthread_mutex_unlock(&sv->mu);
	}
	if (write(sv->evfd, &one, sizeof(one)) < 0)
		return; /* EAGAIN: the loop is already due to wake */
}

/* Admin RELOAD: answered by the reload thread (0: not queued, answer it here). */
static int reload_async(struct server *sv, struct conn *c, struct slot *sl, const uint8_t *body,
			size_t len)
{
	struct sd_err e;

	if (sv->reloader == NULL || proto_dec_empty(body, len, &e) != 0)
		return 0;
	c->queued++;
	if (sd_reloader_request(sv->reloader, sl) != 0) {
		/* Never a second reload beside the reload thread's: refuse instead. */
		c->queued--;
		proto_enc_error(&sl->resp, SD_E_BUSY, "out of memory; try the reload again");
		sl->done = 1;
		return 1;
	}
	LOG_I(&sv->s->log, "reload requested by uid %u pid %d", (unsigned)c->peer.uid,
	      (int)c->peer.pid);
	return 1;
}

/* Socket rules for clients; root or admin.allow for the admin socket. */
static int peer_ok(struct server *sv, struct conn *c)
{
	if (!c->admin)
		return sd_peer_allowed(&c->peer, sv->allow, sv->nallow);
	return c->peer.uid == 0 || (sv->admin->nallow > 0 &&
				    sd_peer_allowed(&c->peer, sv->admin->allow, sv->admin->nallow));
}

static void dispatch(struct server *sv, struct conn *c, uint8_t type, const uint8_t *body,
		     size_t len)
{
	struct slot *sl;

	/* A reload may have narrowed the rules: they apply to open connections too. */
	if (!peer_ok(sv, c)) {
		fatal_reply(c, SD_E_NOT_AUTHORIZED,
			    "this user is no longer allowed to use signerd");
		return;
	}
	sl = slot_add(c);
	if (sl == NULL) {
		c->closing = 1;
		return;
	}
	sl->type = type;
	if (c->admin && type == SD_MSG_ADMIN_RELOAD && reload_async(sv, c, sl, body, len))
		return;
	if (c->admin) {
		sd_admin_handle(sv->s, &c->peer, type, body, len, &sl->resp, sv->reload);
		apply_generation(sv);
		sl->done = 1;
		return;
	}
	if (type >= SD_MSG_ADMIN_FREEZE && type <= SD_MSG_ADMIN_OK) {
		proto_enc_error(&sl->resp, SD_E_NOT_AUTHORIZED,
				"admin messages are accepted only on the admin socket");
		sl->done = 1;
		return;
	}
	if (type != SD_MSG_SIGN_CAB && type != SD_MSG_SIGN_SCRIPT) {
		/* Cheap requests are answered here, in order with the rest. */
		sd_handle(sv->s, &c->peer, type, body, len, &sl->resp);
		sl->done = 1;
		return;
	}
	sl->req = malloc(len ? len : 1);
	if (sl->req == NULL) {
		proto_enc_error(&sl->resp, SD_E_INTERNAL, "out of memory");
		sl->done = 1;
		return;
	}
	memcpy(sl->req, body, len);
	sl->reqlen = len;
	c->queued++;
	/* A job for an idle server: how long after the last reply did it come? */
	if (atomic_load(&sv->active) == 0 && atomic_load(&sv->njobs) == 0) {
		int64_t g = now_ns() - atomic_load(&sv->last_done);

		g = g < 0 ? 0 : g > 4 * SPIN_NS ? 4 * SPIN_NS : g;
		atomic_store(&sv->gap, (3 * atomic_load(&sv->gap) + g) / 4);
	}
	pthread_mutex_lock(&sv->mu);
	if (sd_jobq_push(&sv->jobq, &sl->job, (uint32_t)c->peer.uid) != 0) {
		pthread_mutex_unlock(&sv->mu);
		c->queued--;
		proto_enc_error(&sl->resp, SD_E_INTERNAL, "out of memory");
		sl->done = 1;
		return;
	}
	atomic_fetch_add(&sv->njobs, 1);
	if (sv->idle > 0 && !atomic_load(&sv->spinning))
		pthread_cond_signal(&sv->cv);
	pthread_mutex_unlock(&sv->mu);
}

/* Parse the complete frames already buffered, as far as the pipeline allows. */
static void parse_buffered(struct server *sv, struct conn *c)
{
	const uint8_t *body;
	size_t bodylen, used, off = 0;
	uint8_t type;
	int r;
	char msg[96];

	while ((!c->closing || c->eof) && c->inflight < MAX_PIPELINE) {
		r = proto_frame_peek(c->rbuf + off, c->rlen - off, &type, &body, &bodylen, &used);
		if (r == 0)
			break;
		if (r < 0) {
			snprintf(msg, sizeof(msg), "frame length out of range 1..%u", SD_FRAME_MAX);
			fatal_reply(c, SD_E_BAD_REQUEST, msg);
			off = c->rlen;
			break;
		}
		dispatch(sv, c, type, body, bodylen);
		off += used;
	}
	if (off > 0) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
}

/* Parse what is buffered, then write what is ready. */
static void service(struct server *sv, struct conn *c)
{
	if (c->gone)
		return;
	parse_buffered(sv, c);
	flush(sv, c);
}

/* hup: the peer closed (EPOLLHUP, EPOLLERR): at EOF nothing more can reach it. */
static void on_readable(struct server *sv, struct conn *c, int hup)
{
	ssize_t n;

	if (c->gone)
		return;
	if (c->rlen < RBUF_CAP) {
		n = recv(c->fd, c->rbuf + c->rlen, RBUF_CAP - c->rlen, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) {
			conn_free(sv, c); /* reset: nothing more can be delivered */
			return;
		}
		if (n == 0 && hup) {
			/*
			 * Gone, not half-closed. Waiting for its requests would also
			 * have epoll report the hang-up over and over meanwhile.
			 */
			conn_free(sv, c);
			return;
		}
		if (n == 0) {
			/* Half-close: the peer sends no more, but may still read its replies. */
			c->eof = 1;
			c->closing = 1;
		}
		/* A frame must complete within request_timeout of its first byte. */
		if (c->rlen == 0 && n > 0)
			c->deadline_ms = now_ms() + (int64_t)sv->request_timeout_ms;
		c->rlen += (size_t)n;
	}
	service(sv, c);
	if (!c->gone && c->rlen == 0)
		c->deadline_ms = now_ms() + IDLE_TIMEOUT_MS;
}

static void peer_exe(struct sd_peer *p)
{
	char path[64];
	ssize_t n;
	int fd;

	/* The executable, if /proc lets us see it (same uid or privileged). */
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)p->pid);
	n = readlink(path, p->exe, sizeof(p->exe) - 1);
	if (n > 0) {
		p->exe[n] = '\0';
		p->exe_verified = 1;
		return;
	}
	/* Else the command name, which the peer chooses itself: unverified. */
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)p->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, p->exe, sizeof(p->exe) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		n = 0;
	while (n > 0 && p->exe[n - 1] == '\n')
		n--;
	p->exe[n] = '\0';
	p->exe_verified = 0;
}

static void peer_creds(struct conn *c)
{
	struct ucred uc;
	socklen_t l = sizeof(uc);
	socklen_t gl = sizeof(c->peer.groups);

	memset(&c->peer, 0, sizeof(c->peer));
	c->peer.uid = (uid_t)-1;
	c->peer.gid = (gid_t)-1;
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &uc, &l) == 0) {
		c->peer.pid = uc.pid;
		c->peer.uid = uc.uid;
		c->peer.gid = uc.gid;
	}
#ifdef SO_PEERGROUPS
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, c->peer.groups, &gl) == 0)
		c->peer.ngroups = (int)(gl / sizeof(gid_t));
#endif
	if (c->peer.pid > 0)
		peer_exe(&c->peer);
}

/* c's uid has more client connections than max_connections_per_uid allows. */
static int uid_over(struct server *sv, const struct conn *c)
{
	const struct conn *o;
	unsigned n = 0;

	if (c->admin)
		return 0;
	for (o = sv->conns; o != NULL; o = o->next)
		if (!o->admin && !o->gone && !o->closing && o->peer.uid == c->peer.uid)
			n++;
	return n > sv->max_connections_uid;
}

static void on_accept(struct server *sv, int lfd, int admin)
{
	struct epoll_event ev = {0};
	struct conn *c;
	int fd;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 &&
		    (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
			/* Out of descriptors: stop polling the listener for a moment, or spin. */
			LOG_W(&sv->s->log, "accept: %s; pausing new connections", strerror(errno));
			epoll_ctl(sv->epfd, EPOLL_CTL_DEL, lfd, NULL);
			sv->accept_paused_until = now_ms() + ACCEPT_PAUSE_MS;
			return;
		}
		if (fd < 0)
			return;
		c = calloc(1, sizeof(*c));
		if (c != NULL)
			c->rbuf = malloc(RBUF_CAP);
		if (c == NULL || c->rbuf == NULL) {
			free(c);
			close(fd);
			continue;
		}
		pthread_mutex_init(&c->mu, NULL);
		c->fd = fd;
		c->admin = admin;
		wbuf_init(&c->out, 0);
		peer_creds(c);
		c->next = sv->conns;
		if (sv->conns)
			sv->conns->prev = c;
		sv->conns = c;
		sv->nconns++;
		c->want_in = 1;
		c->deadline_ms = now_ms() + IDLE_TIMEOUT_MS;
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		epoll_ctl(sv->epfd, EPOLL_CTL_ADD, fd, &ev);
		atomic_fetch_add(&sv->s->ctr.connections, 1);
		if (sv->nconns > sv->max_connections) {
			atomic_fetch_add(&sv->s->ctr.rejected_connections, 1);
			fatal_reply(c, SD_E_BUSY, "too many connections; try again later");
		} else if (uid_over(sv, c)) {
			atomic_fetch_add(&sv->s->ctr.rejected_connections, 1);
			LOG_W(&sv->s->log,
			      "refused connection from uid %u: it has %u already "
			      "(limits.max_connections_per_uid)",
			      (unsigned)c->peer.uid, sv->max_connections_uid);
			fatal_reply(c, SD_E_BUSY,
				    "this user has too many connections open "
				    "(limits.max_connections_per_uid); try again later");
		} else if (!sd_peer_allowed(&c->peer, sv->allow, sv->nallow)) {
			atomic_fetch_add(&sv->s->ctr.rejected_connections, 1);
			LOG_W(&sv->s->log, "refused connection from uid %u gid %u pid %d",
			      (unsigned)c->peer.uid, (unsigned)c->peer.gid, (int)c->peer.pid);
			fatal_reply(c, SD_E_NOT_AUTHORIZED,
				    "this user is not allowed to use signerd");
		}
		flush(sv, c);
	}
}

static void on_completions(struct server *sv)
{
	static const struct itimerspec off;
	uint64_t v;
	struct slot *list, *held, *sl, *n;
	struct conn *c, *n2, *touched = NULL;
	int nheld = 0, timer;

	if (read(sv->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	if (read(sv->tfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	if (atomic_exchange(&sv->gen_dirty, 0))
		apply_generation(sv);
	pthread_mutex_lock(&sv->mu);
	list = sv->done;
	sv->done = NULL;
	timer = sv->done_timer;
	sv->done_woken = sv->done_timer = 0;
	/*
	 * Taken early: the timer would only wake us for nothing. Disarmed under
	 * mu: a worker that arms it for the next batch after we unlock must not
	 * have it disarmed, or that batch would wait for an unrelated wake-up.
	 */
	if (timer)
		timerfd_settime(sv->tfd, 0, &off, NULL);
	held = sv->held;
	sv->held = NULL;
	pthread_mutex_unlock(&sv->mu);
	for (sl = held; sl != NULL; sl = n, nheld++) {
		n = sl->next_job;
		sl->next_job = list;
		list = sl;
	}
	atomic_fetch_sub(&sv->held_pending, nheld);
	/* First mark every slot, then flush each connection once: flush may free it. */
	for (sl = list; sl != NULL; sl = n) {
		n = sl->next_job;
		c = sl->c;
		sl->done = 1;
		c->queued--;
		if (!c->touched) {
			c->touched = 1;
			c->next_touched = touched;
			touched = c;
		}
	}
	/* Replies held for the audit log: look again (flush puts back those still waiting). */
	for (c = sv->audit_waiters, sv->audit_waiters = NULL; c != NULL; c = n2) {
		n2 = c->next_audit_wait;
		c->audit_wait = 0;
		atomic_fetch_sub(&sv->audit_waiting, 1);
		if (!c->touched) {
			c->touched = 1;
			c->next_touched = touched;
			touched = c;
		}
	}
	for (c = touched; c != NULL; c = touched) {
		touched = c->next_touched;
		c->touched = 0;
		service(sv, c);
	}
}

/*
 * Finished replies that wait for the loop: 1 if some do, 2 if they have no
 * wake-up or timer coming (a bug: the caller logs it and sends them).
 */
static int completions_pending(struct server *sv)
{
	int any;

	pthread_mutex_lock(&sv->mu);
	any = sv->done != NULL || sv->held != NULL || sv->audit_waiters != NULL;
	if (sv->done != NULL && !sv->done_woken && !sv->done_timer)
		any = 2;
	pthread_mutex_unlock(&sv->mu);
	return any;
}

static void check_timeouts(struct server *sv)
{
	int64_t t = now_ms();
	struct conn *c, *n;

	for (c = sv->conns; c != NULL; c = n) {
		n = c->next;
		if (c->gone || t < c->deadline_ms)
			continue;
		if (c->closing) {
			conn_free(sv, c); /* it would not take its last reply in time */
		} else if (c->inflight > 0) {
			continue;
		} else if (c->rlen > 0) {
			c->deadline_ms = t + (int64_t)sv->request_timeout_ms;
			fatal_reply(c, SD_E_BAD_REQUEST, "request timed out");
			flush(sv, c);
		} else {
			conn_free(sv, c);
		}
	}
}

/* Start the workers the generation needs (never fewer: workers are not stopped). */
static void grow_workers(struct server *sv)
{
	unsigned want = sv->base_workers;

	if (sv->gen != NULL && cfg_uses_timestamps(sv->gen->cfg))
		want = sv->max_workers;
	if (want <= sv->nworkers)
		return;
	while (sv->nworkers < want &&
	       pthread_create(&sv->workers[sv->nworkers], NULL, worker, sv) == 0)
		sv->nworkers++;
	LOG_I(&sv->s->log, "%u signing workers for %u token sessions%s", sv->nworkers,
	      sv->base_workers, sv->nworkers > sv->base_workers ? " (spares wait for TSAs)" : "");
}

static void apply_generation(struct server *sv)
{
	struct sd_keyset *ks = sd_current(sv->s);

	if (ks == NULL)
		return;
	/* The server holds its own reference: the allow rules point into its config. */
	sd_keyset_unref(sv->gen);
	sv->gen = ks;
	sv->allow = ks->cfg->socket.allow;
	sv->nallow = ks->cfg->socket.nallow;
	sv->admin = &ks->cfg->admin;
	sv->request_timeout_ms = ks->cfg->limits.request_timeout_ms;
	sv->max_connections = ks->cfg->limits.max_connections;
	sv->max_connections_uid = ks->cfg->limits.max_connections_per_uid;
	if (sv->workers != NULL)
		grow_workers(sv);
}

static int drained(struct server *sv)
{
	struct conn *c;
	int busy;

	for (c = sv->conns; c != NULL; c = c->next) {
		pthread_mutex_lock(&c->mu);
		busy = c->inflight > 0 || c->queued > 0 || c->woff < c->out.len;
		pthread_mutex_unlock(&c->mu);
		if (busy)
			return 0;
	}
	return 1;
}

static int on_signal(struct server *sv, sd_reload_fn reload)
{
	struct signalfd_siginfo si;

	if (read(sv->sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return 0;
	if (si.ssi_signo == SIGHUP) {
		struct sd_err e;

		if (sv->reloader != NULL) {
			sd_reloader_request(sv->reloader, NULL); /* no tag: cannot fail */
			return 0;
		}
		sd_notify_msg("RELOADING=1");
		reload(sv->s, &e);
		apply_generation(sv);
		sd_notify_msg("READY=1");
		return 0;
	}
	return 1; /* SIGTERM or SIGINT */
}

static int setup(struct server *sv, unsigned nworkers)
{
	struct epoll_event ev = {0};
	sigset_t set;
	unsigned i;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sv->epfd = epoll_create1(EPOLL_CLOEXEC);
	sv->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	sv->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	sv->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sv->epfd < 0 || sv->evfd < 0 || sv->sigfd < 0 || sv->tfd < 0)
		return -1;
	ev.events = EPOLLIN;
	ev.data.ptr = &sv->s->listen_fd;
	epoll_ctl(sv->epfd, EPOLL_CTL_ADD, sv->s->listen_fd, &ev);
	ev.data.ptr = &sv->evfd;
	epoll_ctl(sv->epfd, EPOLL_CTL_ADD, sv->evfd, &ev);
	ev.data.ptr = &sv->tfd;
	epoll_ctl(sv->epfd, EPOLL_CTL_ADD, sv->tfd, &ev);
	if (sv->s->admin_fd >= 0) {
		ev.data.ptr = &sv->s->admin_fd;
		epoll_ctl(sv->epfd, EPOLL_CTL_ADD, sv->s->admin_fd, &ev);
	}
	ev.data.ptr = &sv->sigfd;
	epoll_ctl(sv->epfd, EPOLL_CTL_ADD, sv->sigfd, &ev);
	pthread_mutex_init(&sv->mu, NULL);
	sd_jobq_init(&sv->jobq);
	pthread_cond_init(&sv->cv, NULL);
	sd_auditlog_set_notify(sv->s, audit_committed, sv);
	if (sd_reloader_start(sv->s, sv->reload, reload_done, sv, &sv->reloader) != 0)
		return -1;
	sv->base_workers = nworkers;
	sv->max_workers = nworkers * TSA_WORKERS;
	sv->workers = calloc(sv->max_workers, sizeof(*sv->workers));
	if (sv->workers == NULL)
		return -1;
	for (i = 0; i < nworkers; i++) {
		if (pthread_create(&sv->workers[i], NULL, worker, sv) != 0)
			return -1;
		sv->nworkers++;
	}
	grow_workers(sv);
	return 0;
}

/*
 * Returns -1 when a worker did not finish within WORKER_JOIN_MS: it is stuck
 * inside the PKCS#11 module, and nothing it may touch can be freed.
 */
static int teardown(struct server *sv)
{
	struct conn *c;
	struct timespec until;
	unsigned i;

	/* First the reloads: their answers go to connections that are freed below. */
	if (sd_reloader_stop(sv->reloader, WORKER_JOIN_MS) != 0) {
		LOG_E(&sv->s->log, "a reload is stuck in a token call; exiting without waiting "
				   "for it");
		return -1;
	}
	sv->reloader = NULL;
	/* sv is about to go: the audit log's commits must stop calling into it. */
	sd_auditlog_set_notify(sv->s, NULL, NULL);
	pthread_mutex_lock(&sv->mu);
	sv->stopping = 1;
	pthread_cond_broadcast(&sv->cv);
	pthread_mutex_unlock(&sv->mu);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WORKER_JOIN_MS / 1000;
	for (i = 0; i < sv->nworkers; i++) {
		if (pthread_timedjoin_np(sv->workers[i], NULL, &until) != 0) {
			LOG_E(&sv->s->log, "a signing worker is stuck in a token call; exiting "
					   "without waiting for it");
			return -1;
		}
	}
	free(sv->workers);
	/* Workers are gone: every queued slot is on the done list or finished. */
	on_completions(sv);
	sv->audit_waiters = NULL;
	for (c = sv->conns; c != NULL; c = c->next) {
		c->queued = 0;
		c->audit_wait = 0;
		conn_free(sv, c);
	}
	reap(sv);
	sd_keyset_unref(sv->gen);
	if (sv->epfd >= 0)
		close(sv->epfd);
	if (sv->evfd >= 0)
		close(sv->evfd);
	if (sv->tfd >= 0)
		close(sv->tfd);
	if (sv->sigfd >= 0)
		close(sv->sigfd);
	sd_jobq_free(&sv->jobq); /* the jobs left were freed with their connections */
	pthread_mutex_destroy(&sv->mu);
	pthread_cond_destroy(&sv->cv);
	return 0;
}

int sd_serve(struct signer *s, unsigned nworkers, sd_reload_fn reload)
{
	struct server *sv = calloc(1, sizeof(*sv));
	struct epoll_event evs[64];
	int64_t drain_until = 0;
	int n, i, pending, ret = 0;
	struct conn *c;

	if (sv == NULL) {
		LOG_E(&s->log, "cannot start the event loop: out of memory");
		return -1;
	}
	sv->s = s;
	sv->reload = reload;
	sv->epfd = sv->evfd = sv->sigfd = sv->tfd = -1;
	apply_generation(sv);
	if (setup(sv, nworkers) != 0) {
		LOG_E(&s->log, "cannot start the event loop: %s", strerror(errno));
		if (teardown(sv) == 0)
			free(sv);
		return -1;
	}
	sd_notify_msg("READY=1");
	LOG_I(&s->log, "ready: %u signing workers", sv->nworkers);
	for (;;) {
		if (drain_until != 0 && (drained(sv) || now_ms() > drain_until))
			break;
		/* 100 ms: the housekeeping below runs even when nothing happens. */
		n = epoll_wait(sv->epfd, evs, 64, sv->accept_paused_until ? ACCEPT_PAUSE_MS : 100);
		if (n < 0 && errno != EINTR) {
			LOG_E(&s->log, "epoll_wait: %s", strerror(errno));
			ret = -1;
			break;
		}
		for (i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == &s->listen_fd) {
				on_accept(sv, s->listen_fd, 0);
			} else if (p == &s->admin_fd) {
				on_accept(sv, s->admin_fd, 1);
			} else if (p == &sv->evfd || p == &sv->tfd) {
				on_completions(sv);
			} else if (p == &sv->sigfd) {
				if (on_signal(sv, reload) && drain_until == 0) {
					LOG_I(&s->log, "stopping: draining in-flight requests");
					sd_notify_msg("STOPPING=1");
					drain_until = now_ms() + DRAIN_TIMEOUT_MS;
					epoll_ctl(sv->epfd, EPOLL_CTL_DEL, s->listen_fd, NULL);
					for (c = sv->conns; c != NULL; c = c->next)
						c->closing = 1;
				}
			} else {
				c = p;
				if (c->gone)
					continue;
				if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
					on_readable(sv, c,
						    (evs[i].events & (EPOLLHUP | EPOLLERR)) != 0);
				else if (evs[i].events & EPOLLOUT)
					flush(sv, c);
			}
		}
		/* Walking every connection per wake-up costs at high rates: 10 times a second. */
		if (now_ms() >= sv->next_timeout_check) {
			/*
			 * Belt and braces: finished replies never wait much longer than
			 * this, whatever happened to their wake-up or timer.
			 */
			pending = completions_pending(sv);
			if (pending == 2)
				LOG_W(&s->log, "finished replies had no wake-up coming; sending "
					       "them now (a bug: please report it)");
			if (pending)
				on_completions(sv);
			check_timeouts(sv);
			sv->next_timeout_check = now_ms() + 100;
		}
		if (sv->accept_paused_until != 0 && drain_until == 0 &&
		    now_ms() >= sv->accept_paused_until) {
			struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->listen_fd};

			/* Whichever listener was paused comes back (EEXIST for the other). */
			epoll_ctl(sv->epfd, EPOLL_CTL_ADD, s->listen_fd, &ev);
			if (s->admin_fd >= 0) {
				ev.data.ptr = &s->admin_fd;
				epoll_ctl(sv->epfd, EPOLL_CTL_ADD, s->admin_fd, &ev);
			}
			sv->accept_paused_until = 0;
		}
		sd_revocation_tick(s);
		reap(sv);
	}
	/*
	 * Stuck in the token: a worker or the reload thread may still touch sv
	 * until the caller's _exit, so sv is left allocated.
	 */
	if (teardown(sv) != 0)
		return SD_SERVE_STUCK;
	free(sv);
	return ret;
}
