/*
 * libFuzzer target for the signerd.yaml loader: arbitrary bytes through
 * cfg_load_buffer_ex and cfg_free. Names resolve through a fixed in-memory
 * table instead of NSS so runs are fast and reproducible.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_lookup(void *ctx, const char *name, uint32_t *id)
{
	(void)ctx;
	if (strcmp(name, "root") == 0 || strcmp(name, "publishers") == 0 ||
	    strcmp(name, "wsus-publisher") == 0) {
		*id = (uint32_t)strlen(name);
		return 0;
	}
	return strcmp(name, "fail") == 0 ? -1 : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct cfg_resolver res = {fuzz_lookup, fuzz_lookup, NULL};
	struct cfg *c = NULL;
	struct sd_err e;

	memset(&e, 0, sizeof(e));
	if (cfg_load_buffer_ex("fuzz.yaml", data, size, &res, &c, &e) == 0) {
		(void)cfg_default_key(c);
		cfg_free(c);
	}
	return 0;
}
