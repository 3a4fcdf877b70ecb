/*
 * Tamper-evident audit log: one JSON line per signing request (signed or
 * refused), each carrying the SHA-256 of the previous line, made durable with
 * fdatasync before the reply leaves (group commit: one fdatasync covers every
 * record ready at that moment). Every checkpoint_every records, and at close,
 * a checkpoint record signed by a token key makes truncation detectable.
 * See docs/AUDIT.md for the record format.
 */
#ifndef SD_AUDIT_H
#define SD_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/x509.h>

#include "authenticode/authenticode.h"
#include "common/err.h"

struct sd_audit;

/* What one signing request did. Strings may be NULL or "" when unknown. */
struct sd_audit_rec {
	const char *event; /* "sign", or "void" (with voids) */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	const char *exe;	  /* executable path or command name of the peer */
	int exe_verified;	  /* 1: /proc/PID/exe read at connect; 0: comm only, unverified */
	const char *key;	  /* key name as resolved ("" if unknown) */
	const char *cert_serial;  /* hex */
	const char *cert_sha1;	  /* hex thumbprint */
	const char *subject_type; /* "cab" or "script" */
	const char *digest_alg;	  /* as requested (escaped by the writer) */
	const uint8_t *digest;
	size_t digest_len;
	const char *program; /* SpcSpOpusInfo program name, may be NULL */
	uint32_t result;     /* 0 = signed, else the wire error code */
	const char *message; /* error message when refused */
	const char *tsa;     /* RFC 3161: the TSA that timestamped the signature, or NULL */
	const char *ts_time; /* and the token's genTime */
	uint64_t voids;	     /* event "void": the seq of the "sign" record it withdraws */
};

/* Signs a checkpoint: the same callback shape the SignedData builder uses. */
struct sd_audit_signer {
	au_sign_fn sign;
	void *ctx;
	X509 *cert; /* recorded (DER, base64) in each checkpoint */
	const char *key_name;
};

/*
 * Open (create, or continue) the log at path with O_APPEND: the last line's
 * hash is read back so the chain continues; a file whose last line is torn
 * or whose chain does not verify is refused (e.code SD_E_AUDIT_UNAVAILABLE).
 * max_size: rotate when exceeded (the new file's first record chains to the
 * old file's last). checkpoint_every: 0 disables periodic checkpoints.
 */
int sd_audit_open(const char *path, uint64_t max_size, unsigned checkpoint_every,
		  struct sd_audit **out, struct sd_err *e);

/* Who signs checkpoints (may change on reload; NULL: none, and a warning is logged). */
void sd_audit_set_signer(struct sd_audit *a, const struct sd_audit_signer *s);

/*
 * Append one record and wait until it is on disk (fdatasync). Thread-safe;
 * concurrent callers share one fdatasync. Fails with SD_E_AUDIT_UNAVAILABLE
 * when it cannot be written: the caller must then refuse to sign.
 * Equivalent to sd_audit_submit followed by sd_audit_wait.
 */
int sd_audit_append(struct sd_audit *a, const struct sd_audit_rec *r, struct sd_err *e);

/*
 * Queue one record without waiting for it; *seq is its place in the chain.
 * Until sd_audit_wait or sd_audit_poll says seq is durable, the request's
 * reply must not leave. Fails (SD_E_AUDIT_UNAVAILABLE) when the log has failed.
 */
int sd_audit_submit(struct sd_audit *a, const struct sd_audit_rec *r, uint64_t *seq,
		    struct sd_err *e);

/*
 * Wait until record seq is durable. When no one is writing, the caller writes
 * and fdatasyncs everything queued itself (group commit), so waiting never
 * depends on the background writer. 0, or -1 (SD_E_AUDIT_UNAVAILABLE) when
 * the write failed before seq was durable.
 */
int sd_audit_wait(struct sd_audit *a, uint64_t seq, struct sd_err *e);

/* Without waiting: 1 when seq is durable, 0 not yet, -1 never (the log failed first). */
int sd_audit_poll(struct sd_audit *a, uint64_t seq);

/*
 * Start a thread that commits queued records nobody waits for: one write
 * and one fdatasync for everything queued, once the oldest queued record
 * has waited delay_us (so that more records share the fdatasync) or a batch
 * is full. sd_audit_close stops it.
 */
int sd_audit_start_writer(struct sd_audit *a, unsigned delay_us, struct sd_err *e);

/*
 * Called after every commit (records became durable, or the log failed),
 * with the log's lock held: it must not block or call back into the log.
 * NULL: none. After this returns, the previous callback is not running.
 */
void sd_audit_set_notify(struct sd_audit *a, void (*fn)(void *ctx), void *ctx);

/*
 * Have the background writer commit what is queued now, without the delay:
 * for a record written ahead of the work it covers, whose fdatasync can then
 * run while the caller works. No-op without a writer.
 */
void sd_audit_kick(struct sd_audit *a);

/* Rotate now (SIGHUP): rename to path.<UTC timestamp>, start a new file chained to it. */
int sd_audit_rotate(struct sd_audit *a, struct sd_err *e);

/* Write a final checkpoint, sync, close. */
void sd_audit_close(struct sd_audit *a);

/* --- Additions beyond the daemon's core API ------------------------------ */

/* Write a checkpoint now (if a signer is set and records follow the last one) and sync it. */
int sd_audit_checkpoint(struct sd_audit *a, struct sd_err *e);

struct sd_audit_stats {
	uint64_t seq;	      /* seq of the last durable record (0: none yet) */
	uint64_t records;     /* lines made durable by this instance */
	uint64_t syncs;	      /* fdatasync calls (group commit: far fewer than records) */
	uint64_t checkpoints; /* checkpoints written by this instance */
	uint64_t rotations;
	int failed; /* 1: a write failed; appends refuse until close + open */
};
void sd_audit_get_stats(struct sd_audit *a, struct sd_audit_stats *st);

/*
 * Where the library's warnings go (a checkpoint that could not be signed;
 * the record is kept and the checkpoint retried with the next record).
 * Called with the log's lock held: do not call back into the log.
 */
void sd_audit_set_warn(struct sd_audit *a, void (*warn)(void *ctx, const char *msg), void *ctx);

/* For tests and metrics: called (without the lock) after each fdatasync. */
void sd_audit_set_sync_hook(struct sd_audit *a, void (*hook)(void *ctx), void *ctx);

#endif
