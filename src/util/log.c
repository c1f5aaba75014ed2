#include "util/log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

static int g_level = -1;
static FILE *g_stream;
static int g_timestamps;

void log_set_level(int level)
{
    g_level = level;
}
void log_set_stream(FILE *f)
{
    g_stream = f;
}
void log_set_timestamps(int on)
{
    g_timestamps = on;
}

static int current_level(void)
{
    if (g_level >= 0)
        return g_level;
    const char *env = getenv("SCRIPTHUT_LOG");
    g_level = LOG_WARN;
    if (env) {
        if (!strcmp(env, "debug"))
            g_level = LOG_DEBUG;
        else if (!strcmp(env, "info"))
            g_level = LOG_INFO;
        else if (!strcmp(env, "error"))
            g_level = LOG_ERROR;
    }
    return g_level;
}

void log_msg(int level, const char *fmt, ...)
{
    if (level > current_level())
        return;
    static const char *names[] = {"error", "warning", "info", "debug"};
    FILE *f = g_stream ? g_stream : stderr;
    if (g_timestamps) {
        char ts[ISO8601_LEN];
        fprintf(f, "%s ", time_format_iso(time_now_us(), ts));
    }
    fprintf(f, "scripthut: %s: ", names[level]);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fflush(f);
}
