/* Whole-file reads with a size cap, and atomic durable writes. */
#ifndef SD_FILE_H
#define SD_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

/* Read a regular file of at most max bytes into a new buffer (free with free()). */
int sd_read_file(const char *path, size_t max, uint8_t **data, size_t *len, struct sd_err *e);

/*
 * Write data to path atomically: a temporary file in the same directory,
 * fsync'd when do_sync is set, then renamed over path (and the directory
 * fsync'd). On failure path is untouched and the temporary file removed.
 */
int sd_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, int do_sync,
			 struct sd_err *e);

/* fsync the directory holding path (after a batch of unsynced renames). */
int sd_sync_dir_of(const char *path, struct sd_err *e);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void sd_hex(const uint8_t *p, size_t n, char *out);
/* Parse hex (even length, no separators) into out[max]; returns length or -1. */
long sd_unhex(const char *s, uint8_t *out, size_t max);

#endif
