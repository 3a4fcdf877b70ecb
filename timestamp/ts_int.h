/* Internal to the timestamp library. */
#ifndef SD_TS_INT_H
#define SD_TS_INT_H

#include <openssl/asn1.h>

#include "timestamp/ts.h"

/* The query's nonce as an ASN1_INTEGER (caller frees); NULL when out of memory. */
ASN1_INTEGER *ts_query_nonce(const struct ts_query *q);

#endif
