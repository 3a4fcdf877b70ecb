/*
 * libFuzzer target: the audit log verifier (what `signer audit verify` runs on
 * a file an attacker may have edited). The input is split into lines and fed
 * to the verifier, as sd_audit_read_lines would.
 */
#include <string.h>

#include "common/audit_vfy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sd_audit_vfy v;
	struct sd_err e;
	const char *p = (const char *)data, *end = p + size, *nl;
	int bad = 0;

	sd_audit_vfy_init(&v, NULL);
	sd_audit_vfy_begin_file(&v, "fuzz.log");
	while (p < end && !bad) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			break; /* a torn last line is not handed to the verifier */
		bad = sd_audit_vfy_line(&v, p, (size_t)(nl - p), &e) != 0;
		p = nl + 1;
	}
	if (!bad && sd_audit_vfy_end_file(&v, &e) == 0)
		(void)sd_audit_vfy_finish(&v, 0, &e);
	return 0;
}
