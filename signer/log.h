/* The daemon's logger: stderr in the foreground, syslog otherwise. */
#ifndef SD_LOG_H
#define SD_LOG_H

#include <stddef.h>
#include <syslog.h>

struct sd_log {
	int to_stderr;
	int min_prio; /* LOG_INFO by default; LOG_DEBUG with -v */
};

void sd_log_open(struct sd_log *l, int to_stderr, int verbose);
void sd_logf(struct sd_log *l, int prio, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Copy untrusted text for logging: control and non-ASCII bytes become \xNN,
 * and the result is cut at outsz-1 bytes.
 */
void sd_log_escape(const char *in, size_t inlen, char *out, size_t outsz);

#define LOG_E(l, ...) sd_logf((l), LOG_ERR, __func__, __VA_ARGS__)
#define LOG_W(l, ...) sd_logf((l), LOG_WARNING, __func__, __VA_ARGS__)
#define LOG_I(l, ...) sd_logf((l), LOG_INFO, __func__, __VA_ARGS__)
#define LOG_D(l, ...) sd_logf((l), LOG_DEBUG, __func__, __VA_ARGS__)

#endif
