// SPDX-License-Identifier: MIT
/*
 * Logging to stderr. The level and name are set once at start-up, before any
 * thread exists, and only read afterwards.
 *
 * Under systemd, stderr may be a stream to journald: then each line starts
 * with sd-daemon's "<N>" so that the journal files it at its syslog priority,
 * and without our name and time, which the journal records itself.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

static struct {
	const char *name;
	enum log_level level;
	bool journal;           /* stderr is journald's stream */
} log_cfg = { "colo", LOG_LVL_INFO, false };

static const char *const level_prefixes[] = {
	[LOG_LVL_ERROR] = SD_ERR,
	[LOG_LVL_WARN] = SD_WARNING,
	[LOG_LVL_INFO] = SD_INFO,
	[LOG_LVL_DEBUG] = SD_DEBUG,
};

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warning",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

/*
 * systemd sets JOURNAL_STREAM to "DEV:INODE" of the stream it connected to
 * stderr (systemd.exec(5)); only when stderr is still that stream do the
 * prefixes reach journald. Redirected elsewhere (a test's log file, a
 * shell's 2>), stderr is some other file and lines stay as they were.
 */
static bool stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int end = 0;

	if (!env || sscanf(env, "%llu:%llu%n", &dev, &ino, &end) != 2 ||
	    env[end] || fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void log_init(const char *name, enum log_level level)
{
	log_cfg.name = name;
	log_cfg.level = level;
	log_cfg.journal = stderr_is_journal();
}

const char *log_early_error_prefix(void)
{
	return stderr_is_journal() ? SD_ERR : "";
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
	if (log_cfg.journal) {
		n = snprintf(line, sizeof(line), "%s%s: ",
			     level_prefixes[level], level_names[level]);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		n = snprintf(line, sizeof(line), "%s[%ld.%03ld] %s: ",
			     log_cfg.name, (long)ts.tv_sec % 100000,
			     ts.tv_nsec / 1000000, level_names[level]);
	}
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One write per line so that lines from threads never interleave. */
	fprintf(stderr, "%s\n", line);
}
