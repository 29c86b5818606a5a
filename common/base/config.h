/* SPDX-License-Identifier: MIT */
/*
 * Parsing of command-line values. Each parser returns 0 or -EINVAL/-ERANGE
 * and leaves the reporting to the caller, which knows the flag's name.
 */
#ifndef COLO_CONFIG_H
#define COLO_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* "4096", "64K", "512M", "1G" (binary units); must be > 0. */
int config_parse_size(const char *s, uint64_t *out);
/* A whole number within [min, max]. */
int config_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* "host:port" or "[v6]:port"; port 1..65535. */
int config_parse_hostport(const char *s, char *host, size_t hostlen,
			  char *port, size_t portlen);
/*
 * A program as the shell finds it: a name without '/' looked up in PATH,
 * a relative path made absolute from the working directory. Links are
 * not resolved: a program may look at the name it was run by (Debian's
 * redis-server is a link to redis-check-rdb, which it tells apart by
 * argv[0]). 0 with the absolute path in out; -ENOENT (not found),
 * -EACCES (not an executable file) or -ENAMETOOLONG.
 */
int config_find_program(const char *name, char *out, size_t len);

#endif
