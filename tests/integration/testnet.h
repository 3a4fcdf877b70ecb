/* Small helpers shared by the integration test clients. */
#ifndef SD_TESTNET_H
#define SD_TESTNET_H

#include <stddef.h>

/* Connect to a Unix stream socket; -1 on failure. */
int dial(const char *path);
/* Send all n bytes (MSG_NOSIGNAL); -1 on failure. */
int send_all(int fd, const void *p, size_t n);
/* VmRSS of pid in KiB, or -1. */
long rss_kib(long pid);

#endif
