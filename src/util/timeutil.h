/* timeutil.h - wall-clock time in microseconds since the epoch (UTC), and the
 * ISO-8601 form the API uses: 2026-01-02T03:04:05.123456+00:00 (fraction
 * omitted when zero, as the original does). */
#ifndef SCRIPTHUT_UTIL_TIMEUTIL_H
#define SCRIPTHUT_UTIL_TIMEUTIL_H
#include <stdint.h>

int64_t time_now_us(void);
int64_t time_monotonic_ms(void);

#define ISO8601_LEN 40
/* Formats us into buf (at least ISO8601_LEN bytes). Returns buf. */
char *time_format_iso(int64_t us, char *buf);

/* Parses the formats above (and 'Z', and no fraction). 0 or -1. */
int time_parse_iso(const char *s, int64_t *us);

/* Parses a Slurm-style duration: "MM", "MM:SS", "HH:MM:SS", "D-HH",
 * "D-HH:MM", "D-HH:MM:SS" into seconds. 0 or -1. */
int time_parse_duration(const char *s, int64_t *seconds);

#endif
