/*
 * Offline audit log verification (docs/AUDIT.md): a streaming checker for the
 * hash chain, the sequence numbers and the checkpoint signatures, over one
 * file or several rotated files in order. Used by `signer audit verify` and
 * by the unit tests.
 */
#ifndef SD_AUDIT_VFY_H
#define SD_AUDIT_VFY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "common/audit_fmt.h"
#include "common/err.h"

#define SD_AUDIT_VFY_MAX_CERTS 8
/* Request records remembered for checking the void records that name them. */
#define SD_AUDIT_VFY_RECENT 256

/* A recent request record: what a void record naming it must match. */
struct sd_audit_vfy_req {
	uint64_t seq;	/* 0: empty */
	uint8_t id[32]; /* SHA-256 over its key, digest_alg and digest fields */
	uint8_t state;	/* 1 signed, 2 voided, 3 anything else (refused, void) */
};

struct sd_audit_vfy {
	/* Settings. */
	STACK_OF(X509) * pinned; /* borrowed; NULL: trust the certificate in each checkpoint */

	/* Position. */
	const char *file; /* current file name (borrowed) */
	unsigned nfiles;
	uint64_t lineno;

	/* The previous line. */
	int have_last;
	uint64_t last_seq;
	char last_hash[65];
	const char *last_file;
	uint64_t last_lineno;

	/* Summary. */
	uint64_t lines, requests, checkpoints, rotations;
	uint64_t first_seq;
	int start_unverified; /* the first record chains to a file that was not given */
	char start_prev_file[SD_AUDIT_CAP_FILE + 4];
	int have_cp;
	uint64_t cp_seq;
	char cp_key[SD_AUDIT_CAP_KEY + 4];
	uint64_t after_cp;			/* lines after the last checkpoint */
	char certs[SD_AUDIT_VFY_MAX_CERTS][41]; /* distinct checkpoint certificates (SHA-1 hex) */
	char cert_subjects[SD_AUDIT_VFY_MAX_CERTS][128];
	unsigned ncerts;

	/* Void records: each names an earlier signed record of the same request. */
	uint64_t voids;		/* void records seen */
	uint64_t voids_checked; /* ...whose record was among the recent ones and matched */
	struct sd_audit_vfy_req recent[SD_AUDIT_VFY_RECENT]; /* by seq % SD_AUDIT_VFY_RECENT */
};

void sd_audit_vfy_init(struct sd_audit_vfy *v, STACK_OF(X509) * pinned);

/* Start the next file (name used in messages; must outlive the verifier's use). */
void sd_audit_vfy_begin_file(struct sd_audit_vfy *v, const char *name);

/* After a file's last line: a file without records is an error (emptied). */
int sd_audit_vfy_end_file(struct sd_audit_vfy *v, struct sd_err *e);

/*
 * Check the next line of the current file (without its newline). Errors
 * (SD_E_BAD_REQUEST) name the file and the first bad line and say why:
 * malformed, modified, deleted or reordered, or a bad checkpoint signature.
 */
int sd_audit_vfy_line(struct sd_audit_vfy *v, const char *line, size_t len, struct sd_err *e);

/*
 * After the last line: expect_seq > 0 requires a valid checkpoint with seq
 * >= expect_seq (a checkpoint known to exist from an earlier verification
 * or the daemon's log); fewer means the log was truncated through it.
 */
int sd_audit_vfy_finish(struct sd_audit_vfy *v, uint64_t expect_seq, struct sd_err *e);

/*
 * Read fd line by line (each at most SD_AUDIT_MAX_LINE bytes) and call cb
 * with each line without its newline and its 1-based number. A last line
 * without a newline is an error unless allow_torn, when it is skipped and
 * *torn (if not NULL) is set. cb returning non-zero stops with that value.
 */
typedef int (*sd_audit_line_cb)(void *ctx, const char *line, size_t len, uint64_t lineno,
				struct sd_err *e);
int sd_audit_read_lines(int fd, const char *name, int allow_torn, int *torn, sd_audit_line_cb cb,
			void *ctx, struct sd_err *e);

#endif
