/* Durations, sizes and digest names. */
#include "config/config.h"

#include <string.h>

struct unit {
	const char *name;
	uint64_t mult;
};

static const struct unit duration_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60ull * 1000}, {"h", 3600ull * 1000}, {"d", 24ull * 3600 * 1000},
};

/* No "KB"/"MB": they are ambiguous between 1000 and 1024. */
static const struct unit size_units[] = {
    {"", 1}, {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40},
};

/* Decimal digits followed by exactly one unit from the table. */
static int parse_scaled(const char *s, const struct unit *u, size_t nu, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0, k;

	if (s == NULL || s[0] < '0' || s[0] > '9')
		return -1;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	for (k = 0; k < nu; k++) {
		if (strcmp(s + i, u[k].name) != 0)
			continue;
		if (v != 0 && v > UINT64_MAX / u[k].mult)
			return -1;
		*out = v * u[k].mult;
		return 0;
	}
	return -1;
}

int cfg_parse_duration(const char *s, uint64_t *ms)
{
	return parse_scaled(s, duration_units, sizeof(duration_units) / sizeof(duration_units[0]),
			    ms);
}

int cfg_parse_size(const char *s, uint64_t *bytes)
{
	return parse_scaled(s, size_units, sizeof(size_units) / sizeof(size_units[0]), bytes);
}

static const struct {
	const char *name;
	unsigned bit;
} md_table[] = {
    {"sha1", CFG_MD_SHA1},
    {"sha256", CFG_MD_SHA256},
    {"sha384", CFG_MD_SHA384},
    {"sha512", CFG_MD_SHA512},
};

unsigned cfg_md_bit(const char *name)
{
	size_t i;

	if (name == NULL)
		return 0;
	for (i = 0; i < sizeof(md_table) / sizeof(md_table[0]); i++)
		if (strcmp(name, md_table[i].name) == 0)
			return md_table[i].bit;
	return 0;
}

const char *cfg_md_name(unsigned bit)
{
	size_t i;

	for (i = 0; i < sizeof(md_table) / sizeof(md_table[0]); i++)
		if (bit == md_table[i].bit)
			return md_table[i].name;
	return "?";
}
