/* SPDX-License-Identifier: MIT */
/*
 * A daemon's settings from its config file and its command line, as one
 * ordered list of (option, value, origin) that the daemon applies with the
 * code that handles its flags, so a key goes through its flag's parser.
 *
 * A key is a long flag without its dashes: every row of the daemon's
 * getopt_long table is a key, and a flag added to the table is a key with
 * no change here. "config", "print-config" and "help" are the command
 * line's only; this unit reads them itself (conf.path, .print, .help).
 *
 * The file is INI, read by libinih: every key sits under the daemon's one
 * section ([primary] or [secondary]); a flag without argument takes true
 * or false (yes/no, on/off, 1/0); a key in spec.repeatable may be given
 * again and each line adds a value, any other key only once; the rest
 * option ("exec") splits its value into the program and its arguments as
 * the shell does (wordexp, command substitution refused). A line holds at
 * most 199 characters (libinih's buffer); a longer one is refused.
 *
 * Order: the file's entries, then the command line's. A key given on the
 * command line replaces every line of it in the file (a repeated one, the
 * file's whole list); a key given twice on the command line keeps its last
 * value unless it repeats.
 */
#ifndef COLO_CONF_FILE_H
#define COLO_CONF_FILE_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;
struct option;

/* What the daemon says about its options. */
struct conf_spec {
	const char *daemon;        /* "colo-primary", for print-config */
	const char *section;       /* "primary": the file's one section */
	const char *default_path;  /* read when there, if no --config */
	const struct option *options;   /* getopt_long's, a zero row ends it */
	const char *const *repeatable;  /* keys that add a value, NULL-ended */
	/* The option that takes the program and its arguments: on the command
	 * line the rest of argv, in the file its value's words. */
	const char *rest_option;
};

struct conf_entry {
	const struct option *opt;  /* its row in spec.options */
	const char *value;         /* NULL for a flag without argument */
	const char *const *rest;   /* rest_option's arguments, NULL-ended */
	const char *file;          /* NULL: from the command line */
	unsigned line;
};

/* A list of entries; the unit's own. */
struct conf_list {
	struct conf_entry *v;
	size_t n, cap;
};

struct conf {
	const struct conf_spec *spec;
	const char *path;          /* the file read; NULL: none */
	bool print;                /* --print-config */
	bool help;                 /* --help */
	/* The effective list, in the order to apply it (after both reads). */
	struct conf_list entries;
	/* private */
	struct conf_list args, file;
	char **owned;              /* strings the file's entries point to */
	size_t nowned;
};

/* Returned by conf_parse_args when getopt_long has said what was wrong:
 * the caller prints its usage. */
#define CONF_USAGE 1

void conf_init(struct conf *c, const struct conf_spec *spec);
void conf_deinit(struct conf *c);
/* Collects argv (getopt_long, stopping at the rest option), then the
 * file: --config PATH, else spec.default_path if it exists. 0, CONF_USAGE,
 * or -errno with one line in why naming the file, line and key
 * ("/etc/colo/primary.conf:7: ram: unknown key"). conf_read_file merges
 * the two into c->entries; call it after conf_parse_args (and after
 * looking at c->help). */
int conf_parse_args(struct conf *c, int argc, char **argv, char *why,
		    size_t len);
int conf_read_file(struct conf *c, char *why, size_t len);
/* How an error names e: "--max-wait", or "primary.conf:7: max-wait". */
const char *conf_where(const struct conf_entry *e, char *buf, size_t len);

/* The effective configuration as INI the daemon reads back: every key of
 * the table in its order, with its value, a tunable's default, false for
 * an absent flag, or commented out when unset. Malloc'd; NULL on ENOMEM. */
char *conf_ini(const struct conf *c);
/* For the control command query-config: {"file", "section", "settings":
 * [{"key", "value", "from"}], "ini"}. */
struct json_object *conf_json(const struct conf *c);

#endif
