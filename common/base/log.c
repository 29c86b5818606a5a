// SPDX-License-Identifier: MIT
/*
 * Logging to stderr. The level and name are set once at start-up, before any
 * thread exists, and only read afterwards.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static struct {
	const char *name;
	enum log_level level;
} log_cfg = { "colo", LOG_LVL_INFO };

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warning",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

void log_init(const char *name, enum log_level level)
{
	log_cfg.name = name;
	log_cfg.level = level;
}

bool log_enabled(enum log_level level)
{
	return level <= log_cfg.level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	va_list ap;
	int n;

	if (!log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(line, sizeof(line), "%s[%ld.%03ld] %s: ", log_cfg.name,
		     (long)ts.tv_sec % 100000, ts.tv_nsec / 1000000,
		     level_names[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One write per line so that lines from threads never interleave. */
	fprintf(stderr, "%s\n", line);
}
