// SPDX-License-Identifier: MIT
/*
 * The config file and the command line as one list (conf-file.h): where
 * each entry came from, the order the daemon applies them in, flags over
 * the file (a repeated key's whole list), errors that name file, line and
 * key, exec's words, and --print-config's INI read back to the same list.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>

#include "conf-file.h"
#include "tap.h"
#include "tunables.h"

enum { O_CONFIG = 256, O_PRINT, O_HELP, O_SERVICE, O_GARG, O_EXEC,
       O_INSECURE, O_VERBOSE, O_METRICS, O_DELAY, O_RAM };

/* A daemon's table, as a main.c builds it; "metrics" stands for a flag
 * added later: it must be a key with nothing else changed. */
static const struct option options[] = {
	{ "config", required_argument, NULL, O_CONFIG },
	{ "print-config", no_argument, NULL, O_PRINT },
	{ "help", no_argument, NULL, O_HELP },
	{ "service", required_argument, NULL, O_SERVICE },
	{ "guest-arg", required_argument, NULL, O_GARG },
	{ "exec", required_argument, NULL, O_EXEC },
	{ "insecure", no_argument, NULL, O_INSECURE },
	{ "verbose", no_argument, NULL, O_VERBOSE },
	{ "metrics", required_argument, NULL, O_METRICS },
	{ "checkpoint-delay", required_argument, NULL, O_DELAY },
	{ "ram", required_argument, NULL, O_RAM },
	{ NULL, 0, NULL, 0 },
};
static const char *const repeatable[] = { "guest-arg", NULL };
static const struct conf_spec spec = {
	.daemon = "colo-test", .section = "primary",
	.default_path = "/nonexistent/colo-test.conf", .options = options,
	.repeatable = repeatable, .rest_option = "exec",
};

static char tmpdir[] = "/tmp/test-conf-file.XXXXXX";

/* Writes text to a new file under tmpdir; returns its path (static). */
static const char *write_conf(const char *text)
{
	static char path[256];
	static int n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%d.conf", tmpdir, n++);
	f = fopen(path, "w");
	CHECK(f);
	CHECK(fputs(text, f) >= 0);
	CHECK(!fclose(f));
	return path;
}

/* conf_parse_args + conf_read_file on a NULL-ended argv; returns the
 * first non-zero result, why filled. */
static int load(struct conf *c, const char *const *args, char *why,
		size_t len)
{
	/* Entries point into argv (exec's rest): one each, kept. */
	static char *argvs[64][32];
	static int used;
	char **argv = argvs[used++];
	int argc = 0, rc;

	CHECK(used <= 64);

	argv[argc++] = (char *)"colo-test";
	while (*args)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	why[0] = '\0';
	conf_init(c, &spec);
	rc = conf_parse_args(c, argc, argv, why, len);
	if (rc)
		return rc;
	return conf_read_file(c, why, len);
}

static const struct conf_entry *nth(const struct conf *c, size_t i)
{
	CHECK(i < c->entries.n);
	return &c->entries.v[i];
}

static void check_entry(const struct conf_entry *e, const char *key,
			const char *value, const char *file, unsigned line)
{
	CHECK(!strcmp(e->opt->name, key));
	CHECK(value ? e->value && !strcmp(e->value, value) : !e->value);
	CHECK(file ? e->file && !strcmp(e->file, file) : !e->file);
	CHECK_EQ(e->line, line);
}

/* Each entry says where it came from; the file's come first. */
static void test_origins_and_order(void)
{
	const char *path = write_conf(
		"; a comment\n"
		"[primary]\n"
		"service = 127.0.0.1:7000\n"
		"guest-arg = one\n"
		"# another\n"
		"guest-arg = two words\n"
		"insecure = yes\n"
		"verbose = off\n"
		"metrics = 127.0.0.1:9100\n");
	const char *args[] = { "--config", path, "--ram", "64M", NULL };
	char why[512], where[512];
	struct conf c;

	CHECK_EQ(load(&c, args, why, sizeof(why)), 0);
	CHECK(!strcmp(c.path, path));
	CHECK_EQ(c.entries.n, 6);
	check_entry(nth(&c, 0), "service", "127.0.0.1:7000", path, 3);
	check_entry(nth(&c, 1), "guest-arg", "one", path, 4);
	check_entry(nth(&c, 2), "guest-arg", "two words", path, 6);
	/* A flag set true is as if given bare; false as if not given. */
	check_entry(nth(&c, 3), "insecure", NULL, path, 7);
	check_entry(nth(&c, 4), "metrics", "127.0.0.1:9100", path, 9);
	check_entry(nth(&c, 5), "ram", "64M", NULL, 0);
	CHECK(!strcmp(conf_where(nth(&c, 0), where, sizeof(where)) +
		      strlen(path), ":3: service"));
	CHECK(!strcmp(conf_where(nth(&c, 5), where, sizeof(where)), "--ram"));
	conf_deinit(&c);
}

/* A key on the command line replaces the file's lines of it, all of them
 * for a repeated key; twice on the command line, the last one stays. */
static void test_flags_override(void)
{
	const char *path = write_conf(
		"[primary]\n"
		"service = 127.0.0.1:7000\n"
		"guest-arg = a\n"
		"guest-arg = b\n"
		"ram = 32M\n");
	const char *args[] = { "--config", path, "--guest-arg", "x",
			       "--service", "10.0.0.1:1", "--guest-arg", "y",
			       "--service", "10.0.0.2:2", NULL };
	char why[512];
	struct conf c;

	CHECK_EQ(load(&c, args, why, sizeof(why)), 0);
	CHECK_EQ(c.entries.n, 4);
	check_entry(nth(&c, 0), "ram", "32M", path, 5);
	check_entry(nth(&c, 1), "guest-arg", "x", NULL, 0);
	check_entry(nth(&c, 2), "guest-arg", "y", NULL, 0);
	check_entry(nth(&c, 3), "service", "10.0.0.2:2", NULL, 0);
	conf_deinit(&c);
}

/* exec's value is the program and its arguments, split as the shell does;
 * on the command line it takes the rest of argv. */
static void test_exec_words(void)
{
	const char *path = write_conf(
		"[primary]\n"
		"exec = /usr/bin/redis-server --port 6379 --save '' "
		"\"a b\" c\\ d\n");
	const char *args[] = { "--config", path, NULL };
	const char *args2[] = { "--exec", "/bin/p", "--service", "x", NULL };
	const char *want[] = { "--port", "6379", "--save", "", "a b", "c d",
			       NULL };
	const struct conf_entry *e;
	char why[512];
	struct conf c;
	size_t i;

	CHECK_EQ(load(&c, args, why, sizeof(why)), 0);
	CHECK_EQ(c.entries.n, 1);
	e = nth(&c, 0);
	CHECK(!strcmp(e->value, "/usr/bin/redis-server"));
	for (i = 0; want[i]; i++)
		CHECK(e->rest[i] && !strcmp(e->rest[i], want[i]));
	CHECK(!e->rest[i]);
	conf_deinit(&c);

	/* What follows the program is its own, even our flags. */
	CHECK_EQ(load(&c, args2, why, sizeof(why)), 0);
	CHECK_EQ(c.entries.n, 1);
	e = nth(&c, 0);
	CHECK(!strcmp(e->value, "/bin/p"));
	CHECK(!strcmp(e->rest[0], "--service") && !strcmp(e->rest[1], "x"));
	CHECK(!e->rest[2]);
	conf_deinit(&c);
}

/* The file's text; the error must be exactly want after "PATH:". */
static void expect_error(const char *text, const char *want)
{
	const char *path = write_conf(text);
	const char *args[] = { "--config", path, NULL };
	char why[512];
	struct conf c;

	CHECK(load(&c, args, why, sizeof(why)) < 0);
	if (strncmp(why, path, strlen(path)) || strcmp(why + strlen(path),
						       want)) {
		fprintf(stderr, "said '%s', wanted '%s%s'\n", why, path, want);
		exit(1);
	}
	conf_deinit(&c);
}

static void test_errors(void)
{
	char longline[400];

	expect_error("[primary]\nservice = a:1\nnope = 1\n",
		     ":3: nope: unknown key");
	expect_error("service = a:1\n",
		     ":1: service: outside a section (keys go under [primary])");
	expect_error("[secondary]\nservice = a:1\n",
		     ":2: [secondary]: not a section of colo-test (keys go "
		     "under [primary])");
	expect_error("[primary]\nram = 1G\n\nram = 2G\n",
		     ":4: ram: given twice (first on line 2)");
	/* An indented line continues the key above: given again. */
	expect_error("[primary]\nservice = a:1\n  b:2\n",
		     ":3: service: given twice (first on line 2)");
	expect_error("[primary]\nconfig = /etc/x.conf\n",
		     ":2: config: only on the command line");
	expect_error("[primary]\nhelp = true\n",
		     ":2: help: only on the command line");
	expect_error("[primary]\ninsecure = maybe\n",
		     ":2: insecure: 'maybe' is not true or false");
	expect_error("[primary]\nservice =\n", ":2: service: no value");
	expect_error("[primary]\nservice = a:1\njust words\n",
		     ":3: not 'key = value' nor a [section]");
	expect_error("[primary\nservice = a:1\n",
		     ":1: not 'key = value' nor a [section]");
	expect_error("[primary]\nexec = /bin/x $(id)\n",
		     ":2: exec: '/bin/x $(id)' has a command substitution "
		     "(refused)");
	expect_error("[primary]\nexec = /bin/x 'a\n",
		     ":2: exec: '/bin/x 'a' has unbalanced quotes or a "
		     "syntax error");
	expect_error("[primary]\nexec = /bin/x $COLO_TEST_UNSET_VARIABLE\n",
		     ":2: exec: '/bin/x $COLO_TEST_UNSET_VARIABLE' has an "
		     "undefined shell variable");
	/* The first error is the one reported, syntax or key. */
	expect_error("[primary]\nbad line\nnope = 1\n",
		     ":2: not 'key = value' nor a [section]");
	snprintf(longline, sizeof(longline), "[primary]\nservice = %0300d\n",
		 0);
	expect_error(longline, ":2: line longer than 199 characters");
}

/* An explicit file must be there; the default may be missing. */
static void test_missing(void)
{
	const char *args[] = { "--config", "/nonexistent/x.conf", NULL };
	const char *none[] = { "--service", "a:1", NULL };
	char why[512];
	struct conf c;

	CHECK_EQ(load(&c, args, why, sizeof(why)), -ENOENT);
	CHECK(!strcmp(why, "/nonexistent/x.conf: cannot read: No such file "
			   "or directory"));
	conf_deinit(&c);
	CHECK_EQ(load(&c, none, why, sizeof(why)), 0);
	CHECK(!c.path);
	CHECK_EQ(c.entries.n, 1);
	conf_deinit(&c);
}

static void test_command_line(void)
{
	const char *unknown[] = { "--nope", NULL };
	const char *stray[] = { "--service", "a:1", "extra", NULL };
	const char *flags[] = { "--print-config", "--help", NULL };
	char why[512];
	struct conf c;

	opterr = 0;    /* getopt's own message is the daemon's business */
	CHECK_EQ(load(&c, unknown, why, sizeof(why)), CONF_USAGE);
	conf_deinit(&c);
	opterr = 1;
	CHECK_EQ(load(&c, stray, why, sizeof(why)), -EINVAL);
	CHECK(!strcmp(why, "unexpected argument 'extra'"));
	conf_deinit(&c);
	CHECK_EQ(load(&c, flags, why, sizeof(why)), 0);
	CHECK(c.print && c.help);
	CHECK_EQ(c.entries.n, 0);
	conf_deinit(&c);
}

/* --print-config's INI, read back, is the same configuration: every key
 * of the table in it, awkward words of exec quoted so they survive. */
static void test_print_round_trip(void)
{
	const char *args[] = { "--service", "127.0.0.1:1", "--guest-arg",
			       "a", "--guest-arg", "b c", "--insecure",
			       "--exec", "/bin/prog", "it's", "x ;y", "$HOME",
			       "", "*", NULL };
	char why[512], *ini, *again, *p;
	const char *path, *args2[3] = { "--config", NULL, NULL };
	struct json_object *j, *m;
	struct conf c, d;

	CHECK_EQ(load(&c, args, why, sizeof(why)), 0);
	ini = conf_ini(&c);
	CHECK(ini);
	CHECK(strstr(ini, "\n[primary]\n"));
	CHECK(strstr(ini, "\nguest-arg = a\nguest-arg = b c\n"));
	CHECK(strstr(ini, "\ninsecure = true\n"));
	CHECK(strstr(ini, "\nverbose = false\n"));
	/* The table's default, written as a size is. */
	CHECK(strstr(ini, "\nram = 256M\n"));
	CHECK(strstr(ini, "\ncheckpoint-delay = 20000\n"));
	/* Unset and without a default: there, commented out. */
	CHECK(strstr(ini, "\n# metrics =\n"));
	CHECK(!strstr(ini, "config =") && !strstr(ini, "help"));
	CHECK(strstr(ini, "\nexec = /bin/prog 'it'\\''s' 'x '\\;'y' '$HOME' "
			  "'' '*'\n"));
	/* Read it back (the header names no file: skip it). */
	p = strchr(ini, '\n');
	path = write_conf(p + 1);
	args2[1] = path;
	CHECK_EQ(load(&d, args2, why, sizeof(why)), 0);
	again = conf_ini(&d);
	CHECK(again);
	CHECK(!strcmp(strchr(again, '\n'), strchr(ini, '\n')));
	/* The file's order is the table's: service, guest-arg twice, exec. */
	CHECK(!strcmp(nth(&d, 3)->opt->name, "exec"));
	CHECK(!strcmp(nth(&d, 3)->rest[0], "it's"));
	CHECK(!strcmp(nth(&d, 3)->rest[1], "x ;y"));
	CHECK(!strcmp(nth(&d, 3)->rest[2], "$HOME"));
	j = conf_json(&d);
	CHECK(json_object_object_get_ex(j, "ini", &m));
	CHECK(!strcmp(json_object_get_string(m), again));
	CHECK(json_object_object_get_ex(j, "settings", &m));
	CHECK_EQ(json_object_array_length(m), d.entries.n);
	json_object_put(j);
	free(again);
	conf_deinit(&d);
	free(ini);
	conf_deinit(&c);
}

/* A tunable's value from the file is refused in the flag's words, the
 * file's place in front (the daemons' tunable_parse_as). */
static void test_tunable_label(void)
{
	const struct tunable *t = tunable_find("checkpoint-delay");
	char why[256];
	uint64_t v;

	CHECK(t);
	CHECK(tunable_parse_as(t, "abc", "/etc/colo/primary.conf:7: "
			       "checkpoint-delay", &v, why, sizeof(why)));
	CHECK(!strcmp(why, "/etc/colo/primary.conf:7: checkpoint-delay: 'abc' "
			   "is not a time in ms (1..86400000)"));
	CHECK(tunable_parse(t, "abc", &v, why, sizeof(why)));
	CHECK(!strcmp(why, "--checkpoint-delay: 'abc' is not a time in ms "
			   "(1..86400000)"));
}

int main(void)
{
	char cmd[128];

	CHECK(mkdtemp(tmpdir));
	test_origins_and_order();
	test_flags_override();
	test_exec_words();
	test_errors();
	test_missing();
	test_command_line();
	test_print_round_trip();
	test_tunable_label();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	CHECK(!system(cmd));
	printf("ok\n");
	return 0;
}
