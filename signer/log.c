#include "signer/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void sd_log_open(struct sd_log *l, int to_stderr, int verbose)
{
	l->to_stderr = to_stderr;
	l->min_prio = verbose ? LOG_DEBUG : LOG_INFO;
	if (!to_stderr)
		openlog("signerd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void sd_logf(struct sd_log *l, int prio, const char *func, const char *fmt, ...)
{
	static const char *const names[] = {"emerg",   "alert",	 "crit", "error",
					    "warning", "notice", "info", "debug"};
	char msg[1024];
	va_list ap;
	struct timespec ts;
	struct tm tm;
	char tbuf[32];

	if (prio > l->min_prio)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!l->to_stderr) {
		syslog(prio, "%s: %s", func, msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ signerd %s %s: %s\n", tbuf, ts.tv_nsec / 1000000,
		names[prio & 7], func, msg);
}

void sd_log_escape(const char *in, size_t inlen, char *out, size_t outsz)
{
	static const char hx[] = "0123456789abcdef";
	size_t i, o = 0;
	unsigned char c;

	if (outsz == 0)
		return;
	for (i = 0; i < inlen; i++) {
		c = (unsigned char)in[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (o + 1 >= outsz)
				break;
			out[o++] = (char)c;
		} else {
			if (o + 4 >= outsz)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hx[c >> 4];
			out[o++] = hx[c & 15];
		}
	}
	out[o] = '\0';
}
