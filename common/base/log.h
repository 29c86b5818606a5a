/* SPDX-License-Identifier: MIT */
/*
 * One small logger for every component: lines go to stderr, where journald
 * picks them up. Per-page detail belongs behind log_debug(), which costs one
 * branch when debug logging is off.
 */
#ifndef COLO_LOG_H
#define COLO_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* The name printed before each line ("colo-primary"); not copied. */
void log_init(const char *name, enum log_level level);
bool log_enabled(enum log_level level);
/* sd-daemon's "<3>" when stderr is journald's stream, else "": for the one
 * line a daemon writes before log_init (a refused flag or config key). */
const char *log_early_error_prefix(void);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                   \
	do {                                             \
		if (log_enabled(LOG_LVL_DEBUG))          \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
