/* strptime is an XSI extension; timegm a GNU/BSD one. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t time_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t time_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *time_format_iso(int64_t us, char *buf)
{
    time_t secs = (time_t)(us / 1000000);
    int frac = (int)(us % 1000000);
    if (frac < 0) {
        frac += 1000000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, ISO8601_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac)
        snprintf(buf + n, ISO8601_LEN - n, ".%06d+00:00", frac);
    else
        snprintf(buf + n, ISO8601_LEN - n, "+00:00");
    return buf;
}

int time_parse_iso(const char *s, int64_t *us)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -1;
    int64_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9') {
            if (digits < 6) {
                frac = frac * 10 + (*p - '0');
                digits++;
            }
            p++;
        }
        while (digits++ < 6)
            frac *= 10;
    }
    if (*p && strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
        return -1;
    *us = (int64_t)timegm(&tm) * 1000000 + frac;
    return 0;
}

static int parse_uint(const char *s, size_t n, int64_t *v)
{
    if (!n)
        return -1;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || x > 100000000)
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

/* At most three colon-separated fields; a trailing or extra ':' is an
 * error ("1:2:3:4" and "1:" are not durations). */
int time_parse_duration(const char *s, int64_t *seconds)
{
    int64_t days = 0, parts[3];
    size_t np = 0;
    const char *dash = strchr(s, '-');
    if (dash) {
        if (parse_uint(s, (size_t)(dash - s), &days) < 0)
            return -1;
        s = dash + 1;
    }
    for (;;) {
        if (np == 3)
            return -1;
        const char *colon = strchr(s, ':');
        size_t n = colon ? (size_t)(colon - s) : strlen(s);
        if (parse_uint(s, n, &parts[np++]) < 0)
            return -1;
        if (!colon)
            break;
        s = colon + 1;
    }
    int64_t total;
    if (dash) { /* D-HH, D-HH:MM, D-HH:MM:SS */
        total = parts[0] * 3600 + (np > 1 ? parts[1] * 60 : 0) + (np > 2 ? parts[2] : 0);
    } else if (np == 1) { /* MM */
        total = parts[0] * 60;
    } else if (np == 2) { /* MM:SS */
        total = parts[0] * 60 + parts[1];
    } else { /* HH:MM:SS */
        total = parts[0] * 3600 + parts[1] * 60 + parts[2];
    }
    *seconds = days * 86400 + total;
    return 0;
}
