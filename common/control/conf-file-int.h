/* SPDX-License-Identifier: MIT */
/* Between conf-file.c, which reads, and conf-print.c, which prints. */
#ifndef COLO_CONF_FILE_INT_H
#define COLO_CONF_FILE_INT_H

#include <stdbool.h>

#include "conf-file.h"

/* "config", "print-config", "help": the command line's, not keys. */
bool conf_cli_only(const char *name);
/* A key in spec->repeatable: each line or flag adds a value. */
bool conf_repeats(const struct conf_spec *spec, const char *name);

/* libinih's line buffer less its NUL: a longer line is refused. */
#define CONF_LINE_MAX 199

#endif
