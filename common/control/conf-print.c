// SPDX-License-Identifier: MIT
/*
 * The effective configuration, printed as the INI conf-file.c reads back
 * (--print-config) and as JSON (query-config). Values are printed as they
 * were given ("1G" stays "1G"); a key given nowhere shows its default when
 * the tunables table has one, false for a flag, else a commented line.
 */
#include "conf-file.h"
#include "conf-file-int.h"

#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tunables.h"

/* A word the shell, and so wordexp, takes as it is. */
static bool plain_word(const char *w)
{
	return *w && strspn(w, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			       "abcdefghijklmnopqrstuvwxyz0123456789"
			       "_@%+=:,./-") == strlen(w);
}

/*
 * One word for wordexp, inside single quotes. A ';' is put outside them,
 * escaped: libinih ends a value at a ';' that follows a space, and
 * "'a ;b'" would lose its tail.
 */
static void put_word(FILE *f, const char *w)
{
	if (plain_word(w)) {
		fputs(w, f);
		return;
	}
	fputc('\'', f);
	for (; *w; w++) {
		if (*w == '\'')
			fputs("'\\''", f);
		else if (*w == ';')
			fputs("'\\;'", f);
		else
			fputc(*w, f);
	}
	fputc('\'', f);
}

/* e's value as its key takes it: the rest option's words quoted. */
static char *value_text(const struct conf_entry *e)
{
	const char *const *w;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	if (!e->value) {
		fputs("true", f);
	} else if (e->rest) {
		put_word(f, e->value);
		for (w = e->rest; *w; w++) {
			fputc(' ', f);
			put_word(f, *w);
		}
	} else {
		fputs(e->value, f);
	}
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* libinih strips blanks at either end, cuts at " ;" and reads a line at a
 * time: such a value cannot come back from a file. */
static const char *unreadable(const char *v)
{
	size_t n = strlen(v);

	if (strchr(v, '\n') || strchr(v, '\r'))
		return "a line break";
	if (!n || strchr(" \t", v[0]) || strchr(" \t", v[n - 1]))
		return "empty, or blanks at an end";
	if (strstr(v, " ;") || strstr(v, "\t;"))
		return "' ;', which starts a comment";
	return NULL;
}

static void put_setting(FILE *f, const char *key, const char *value)
{
	const char *why = unreadable(value);

	if (!why && strlen(key) + 3 + strlen(value) > CONF_LINE_MAX)
		why = "a line too long";
	if (why)
		fprintf(f, "# %s: not printed, it has %s\n", key, why);
	else
		fprintf(f, "%s = %s\n", key, value);
}

/* A key given nowhere. */
static void put_default(FILE *f, const struct option *opt)
{
	const struct tunable *t = tunable_find(opt->name);
	char def[32];

	if (opt->has_arg == no_argument) {
		fprintf(f, "%s = false\n", opt->name);
	} else if (t && !(t->flags & TUNABLE_ZERO_AUTO)) {
		tunable_format(t, t->def, def, sizeof(def));
		fprintf(f, "%s = %s\n", opt->name, def);
	} else {
		fprintf(f, "# %s =\n", opt->name);
	}
}

char *conf_ini(const struct conf *c)
{
	const struct option *opt;
	char *buf = NULL, *v;
	size_t len = 0, i;
	bool given, bad = false;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	if (c->path)
		fprintf(f, "# %s: from %s and the command line\n",
			c->spec->daemon, c->path);
	else
		fprintf(f, "# %s: from the command line (no file)\n",
			c->spec->daemon);
	fprintf(f, "[%s]\n", c->spec->section);
	for (opt = c->spec->options; opt->name; opt++) {
		if (conf_cli_only(opt->name))
			continue;
		given = false;
		for (i = 0; i < c->entries.n; i++) {
			if (c->entries.v[i].opt != opt)
				continue;
			given = true;
			v = value_text(&c->entries.v[i]);
			if (!v) {
				bad = true;
				continue;
			}
			put_setting(f, opt->name, v);
			free(v);
		}
		if (!given)
			put_default(f, opt);
	}
	if (fclose(f) || bad) {
		free(buf);
		return NULL;
	}
	return buf;
}

struct json_object *conf_json(const struct conf *c)
{
	json_object *o = json_object_new_object(), *list, *s;
	const struct conf_entry *e;
	char from[512], *v;
	size_t i;

	json_object_object_add(o, "file", c->path ?
			       json_object_new_string(c->path) : NULL);
	json_object_object_add(o, "section",
			       json_object_new_string(c->spec->section));
	list = json_object_new_array();
	for (i = 0; i < c->entries.n; i++) {
		e = &c->entries.v[i];
		v = value_text(e);
		if (e->file)
			snprintf(from, sizeof(from), "%s:%u", e->file, e->line);
		else
			snprintf(from, sizeof(from), "command line");
		s = json_object_new_object();
		json_object_object_add(s, "key",
				       json_object_new_string(e->opt->name));
		json_object_object_add(s, "value",
				       json_object_new_string(v ? v : ""));
		json_object_object_add(s, "from", json_object_new_string(from));
		json_object_array_add(list, s);
		free(v);
	}
	json_object_object_add(o, "settings", list);
	v = conf_ini(c);
	json_object_object_add(o, "ini", json_object_new_string(v ? v : ""));
	free(v);
	return o;
}
