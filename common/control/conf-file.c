// SPDX-License-Identifier: MIT
/*
 * The command line and the config file, read into lists of (option, value,
 * origin) and merged (conf-file.h). Nothing here knows a key: the daemon's
 * getopt_long table is the list of keys, and the daemon's own flag code
 * parses every value. libinih reads the INI; wordexp splits exec's words.
 */
#include "conf-file.h"
#include "conf-file-int.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wordexp.h>

/* The command line's own options: never keys of the file. */
static const char *const cli_only[] = { "config", "print-config", "help",
					NULL };

static bool in_names(const char *const *names, const char *name)
{
	for (; names && *names; names++)
		if (!strcmp(*names, name))
			return true;
	return false;
}

bool conf_cli_only(const char *name)
{
	return in_names(cli_only, name);
}

bool conf_repeats(const struct conf_spec *spec, const char *name)
{
	return in_names(spec->repeatable, name);
}

static const struct option *find_option(const struct conf_spec *spec,
					const char *name)
{
	const struct option *o;

	for (o = spec->options; o->name; o++)
		if (!strcmp(o->name, name))
			return o;
	return NULL;
}

static int list_push(struct conf_list *l, const struct conf_entry *e)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct conf_entry *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *e;
	return 0;
}

/* Keeps p (malloc'd) until conf_deinit; frees it and fails on ENOMEM. */
static int keep(struct conf *c, void *p)
{
	char **v;

	if (!p)
		return -ENOMEM;
	v = realloc(c->owned, (c->nowned + 1) * sizeof(*v));
	if (!v) {
		free(p);
		return -ENOMEM;
	}
	c->owned = v;
	c->owned[c->nowned++] = p;
	return 0;
}

void conf_init(struct conf *c, const struct conf_spec *spec)
{
	memset(c, 0, sizeof(*c));
	c->spec = spec;
}

void conf_deinit(struct conf *c)
{
	size_t i;

	for (i = 0; i < c->nowned; i++)
		free(c->owned[i]);
	free(c->owned);
	free(c->entries.v);
	free(c->args.v);
	free(c->file.v);
	memset(c, 0, sizeof(*c));
}

const char *conf_where(const struct conf_entry *e, char *buf, size_t len)
{
	if (e->file)
		snprintf(buf, len, "%s:%u: %s", e->file, e->line, e->opt->name);
	else
		snprintf(buf, len, "--%s", e->opt->name);
	return buf;
}

int conf_parse_args(struct conf *c, int argc, char **argv, char *why,
		    size_t len)
{
	const struct conf_spec *spec = c->spec;
	struct conf_entry e;
	int idx, ch;

	optind = 0;    /* glibc: start over, as a test may call us again */
	for (;;) {
		idx = -1;
		/* "+": no reordering, so that nothing after the rest option
		 * (the program's own arguments) is taken for ours. */
		ch = getopt_long(argc, argv, "+", spec->options, &idx);
		if (ch == -1)
			break;
		if (ch == '?' || ch == ':' || idx < 0)
			return CONF_USAGE;
		e = (struct conf_entry){ .opt = &spec->options[idx],
					 .value = optarg };
		if (!strcmp(e.opt->name, "config")) {
			c->path = optarg;
			continue;
		}
		if (!strcmp(e.opt->name, "print-config")) {
			c->print = true;
			continue;
		}
		if (!strcmp(e.opt->name, "help")) {
			c->help = true;
			continue;
		}
		if (spec->rest_option && !strcmp(e.opt->name, spec->rest_option))
			/* argv ends with NULL: the rest is the program's. */
			e.rest = (const char *const *)&argv[optind];
		if (list_push(&c->args, &e)) {
			snprintf(why, len, "out of memory");
			return -ENOMEM;
		}
		if (e.rest)
			return 0;
	}
	if (optind < argc) {
		snprintf(why, len, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* libinih's reader and handler share this. */
struct file_read {
	struct conf *c;
	FILE *f;
	unsigned line;          /* of the last line read */
	unsigned err_line;      /* the first error a handler found, or 0 */
	char *why;
	size_t len;
	bool too_long;
};

static int fail(struct file_read *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The first error wins; inih goes on reading, we only keep quiet. */
static int fail(struct file_read *r, const char *fmt, ...)
{
	int n;
	va_list ap;

	if (r->err_line)
		return 0;
	r->err_line = r->line;
	n = snprintf(r->why, r->len, "%s:%u: ", r->c->path, r->line);
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < r->len)
		vsnprintf(r->why + n, r->len - (size_t)n, fmt, ap);
	va_end(ap);
	return 0;
}

/* fgets, counting lines, so that a handler knows where it is (Debian's
 * libinih hands it no line number); a line longer than inih's buffer
 * would come back in pieces, so it ends the read instead. */
static char *read_line(char *buf, int size, void *stream)
{
	struct file_read *r = stream;
	size_t n;
	int next;

	if (r->err_line || !fgets(buf, size, r->f))
		return NULL;
	r->line++;
	n = strlen(buf);
	if (n == (size_t)size - 1 && buf[n - 1] != '\n' &&
	    (next = fgetc(r->f)) != EOF && next != '\n') {
		fail(r, "line longer than %d characters", size - 1);
		r->too_long = true;
		return NULL;
	}
	return buf;
}

static int parse_bool(const char *s, const char **out)
{
	static const char *const yes[] = { "true", "yes", "on", "1", NULL };
	static const char *const no[] = { "false", "no", "off", "0", NULL };
	size_t i;

	for (i = 0; yes[i]; i++)
		if (!strcasecmp(s, yes[i])) {
			*out = "true";
			return 0;
		}
	for (i = 0; no[i]; i++)
		if (!strcasecmp(s, no[i])) {
			*out = "false";
			return 0;
		}
	return -EINVAL;
}

static const char *wordexp_reason(int rc)
{
	switch (rc) {
	case WRDE_BADCHAR:
		return "an unquoted | & ; < > ( ) { } or newline";
	case WRDE_BADVAL: return "an undefined shell variable";
	case WRDE_CMDSUB: return "a command substitution (refused)";
	case WRDE_NOSPACE: return "out of memory";
	case WRDE_SYNTAX: return "unbalanced quotes or a syntax error";
	}
	return "cannot split it into words";
}

/* exec = PROGRAM ARGS...: the shell's words, kept until conf_deinit. */
static int split_words(struct file_read *r, struct conf_entry *e,
		       const char *value)
{
	wordexp_t we;
	char **words;
	size_t i;
	int rc;

	rc = wordexp(value, &we, WRDE_NOCMD | WRDE_UNDEF);
	if (rc) {
		if (rc == WRDE_NOSPACE)
			wordfree(&we);
		return fail(r, "%s: '%s' has %s", e->opt->name, value,
			    wordexp_reason(rc));
	}
	if (!we.we_wordc) {
		wordfree(&we);
		return fail(r, "%s: no program given", e->opt->name);
	}
	words = calloc(we.we_wordc + 1, sizeof(*words));
	rc = keep(r->c, words);
	for (i = 0; !rc && i < we.we_wordc; i++) {
		words[i] = strdup(we.we_wordv[i]);
		rc = keep(r->c, words[i]);
	}
	wordfree(&we);
	if (rc)
		return fail(r, "%s: out of memory", e->opt->name);
	e->value = words[0];
	e->rest = (const char *const *)&words[1];
	return 1;
}

static const struct conf_entry *in_file(const struct conf *c,
					const struct option *opt)
{
	size_t i;

	for (i = 0; i < c->file.n; i++)
		if (c->file.v[i].opt == opt)
			return &c->file.v[i];
	return NULL;
}

/* libinih's handler: one key = value line of the file. */
static int on_key(void *user, const char *section, const char *name,
		  const char *value)
{
	struct file_read *r = user;
	const struct conf_spec *spec = r->c->spec;
	const struct conf_entry *first;
	struct conf_entry e = { .file = r->c->path, .line = r->line };
	char *copy;

	if (!*section)
		return fail(r, "%s: outside a section (keys go under [%s])",
			    name, spec->section);
	if (strcmp(section, spec->section))
		return fail(r, "[%s]: not a section of %s (keys go under "
			    "[%s])", section, spec->daemon, spec->section);
	e.opt = find_option(spec, name);
	if (e.opt && in_names(cli_only, name))
		return fail(r, "%s: only on the command line", name);
	if (!e.opt)
		return fail(r, "%s: unknown key", name);
	first = in_file(r->c, e.opt);
	if (first && !in_names(spec->repeatable, name))
		return fail(r, "%s: given twice (first on line %u)", name,
			    first->line);
	if (e.opt->has_arg == no_argument) {
		if (parse_bool(value, &e.value))
			return fail(r, "%s: '%s' is not true or false", name,
				    value);
	} else if (!*value) {
		return fail(r, "%s: no value", name);
	} else if (spec->rest_option && !strcmp(name, spec->rest_option)) {
		if (!split_words(r, &e, value))
			return 0;
	} else {
		copy = strdup(value);
		if (keep(r->c, copy))
			return fail(r, "%s: out of memory", name);
		e.value = copy;
	}
	if (list_push(&r->c->file, &e))
		return fail(r, "%s: out of memory", name);
	return 1;
}

static bool on_command_line(const struct conf *c, const struct option *opt)
{
	size_t i;

	for (i = 0; i < c->args.n; i++)
		if (c->args.v[i].opt == opt)
			return true;
	return false;
}

/* A later entry of the same option in l, for one that takes one value. */
static bool overridden(const struct conf *c, const struct conf_list *l,
		       size_t i)
{
	size_t j;

	if (in_names(c->spec->repeatable, l->v[i].opt->name))
		return false;
	for (j = i + 1; j < l->n; j++)
		if (l->v[j].opt == l->v[i].opt)
			return true;
	return false;
}

/* The file's entries the command line leaves, then the command line's. */
static int merge(struct conf *c)
{
	struct conf_entry e;
	size_t i;

	for (i = 0; i < c->file.n; i++) {
		e = c->file.v[i];
		if (on_command_line(c, e.opt))
			continue;
		if (e.opt->has_arg == no_argument) {
			if (strcmp(e.value, "true"))
				continue;    /* false: as if not given */
			e.value = NULL;
		}
		if (list_push(&c->entries, &e))
			return -ENOMEM;
	}
	for (i = 0; i < c->args.n; i++)
		if (!overridden(c, &c->args, i) &&
		    list_push(&c->entries, &c->args.v[i]))
			return -ENOMEM;
	return 0;
}

/* Reads path into c->file; -errno with why set. */
static int read_file(struct conf *c, FILE *f, char *why, size_t len)
{
	struct file_read r = { .c = c, .f = f, .why = why, .len = len };
	int rc;

	rc = ini_parse_stream(read_line, &r, on_key, &r);
	if (ferror(f)) {
		snprintf(why, len, "%s: cannot read: %s", c->path,
			 strerror(errno));
		return -EIO;
	}
	if (r.too_long)
		return -EINVAL;
	if (rc > 0 && (!r.err_line || (unsigned)rc < r.err_line)) {
		snprintf(why, len, "%s:%d: not 'key = value' nor a [section]",
			 c->path, rc);
		return -EINVAL;
	}
	if (rc < 0 || r.err_line) {
		if (!r.err_line)
			snprintf(why, len, "%s: out of memory", c->path);
		return r.err_line ? -EINVAL : -ENOMEM;
	}
	return 0;
}

int conf_read_file(struct conf *c, char *why, size_t len)
{
	FILE *f;
	int rc;

	if (!c->path) {
		f = fopen(c->spec->default_path, "re");
		/* A default that is not there: flags only. */
		if (f)
			c->path = c->spec->default_path;
		else if (errno != ENOENT)
			c->path = c->spec->default_path;
	} else {
		f = fopen(c->path, "re");
	}
	if (!f && c->path) {
		rc = -errno;
		snprintf(why, len, "%s: cannot read: %s", c->path,
			 strerror(-rc));
		return rc;
	}
	if (f) {
		rc = read_file(c, f, why, len);
		fclose(f);
		if (rc)
			return rc;
	}
	if (merge(c)) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	return 0;
}
