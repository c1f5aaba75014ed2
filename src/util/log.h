/* log.h - diagnostics on stderr (or the detached engine's log file).
 * stdout carries only command output; everything else goes through here. */
#ifndef SCRIPTHUT_UTIL_LOG_H
#define SCRIPTHUT_UTIL_LOG_H
#include <stdio.h>

enum {
    LOG_ERROR = 0,
    LOG_WARN = 1,
    LOG_INFO = 2,
    LOG_DEBUG = 3
};

void log_set_level(int level);   /* default LOG_WARN; SCRIPTHUT_LOG=debug|info|warn|error */
void log_set_stream(FILE *f);    /* default stderr */
void log_set_timestamps(int on); /* the detached engine's log file has timestamps */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
