// SPDX-License-Identifier: MIT
/*
 * The tunables table: its rows are consistent, flags are refused outside
 * the ranges with the one-line reasons the daemons print, the defaults are
 * the ones the daemons start with, and what `set` may change shows up in
 * `status` under the same name.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>

#include "primary.h"
#include "status-json.h"
#include "tap.h"
#include "tunables.h"

#define NT TUNABLE__MAX

static void test_rows(void)
{
	size_t i, j;

	for (i = 0; i < NT; i++) {
		const struct tunable *t = &tunables[i];

		CHECK(t->name && t->name[0] && t->help && t->help[0]);
		CHECK(!strchr(t->help, '\n'));
		CHECK(t->min <= t->max);
		if (t->flags & TUNABLE_ZERO_AUTO)
			CHECK_EQ(t->def, 0);
		else
			CHECK_EQ(tunable_check(t, t->def), 0);
		CHECK(tunable_find(t->name) == t);
		CHECK_EQ(tunable_id(t), i);
		for (j = 0; j < i; j++)
			CHECK(strcmp(tunables[j].name, t->name));
		/* `set` is the primary's, and status must show what it set. */
		if (t->flags & TUNABLE_SET)
			CHECK((t->flags & TUNABLE_CARRIED) &&
			      (t->flags & TUNABLE_PRIMARY));
		/* A promoted secondary passes its flags on as a primary's. */
		if (t->flags & TUNABLE_SECONDARY)
			CHECK((t->flags & TUNABLE_CARRIED) &&
			      (t->flags & TUNABLE_PRIMARY));
		/* The device state carries them as u32. */
		if (t->flags & TUNABLE_CARRIED)
			CHECK(t->max <= UINT32_MAX);
	}
	CHECK(!tunable_find("no-such-tunable"));
	CHECK(!tunable_find(NULL));
	CHECK(!tunable_find("max-wait "));
}

/* Parses s as t's flag; returns the result, the reason in why. */
static int parse(const struct tunable *t, const char *s, uint64_t *v,
		 char *why, size_t len)
{
	why[0] = '\0';
	return tunable_parse(t, s, v, why, len);
}

static void expect_refused(const struct tunable *t, const char *s)
{
	char why[256], flag[80];
	uint64_t v = 777;

	if (!parse(t, s, &v, why, sizeof(why))) {
		fprintf(stderr, "--%s '%s' taken as %llu\n", t->name, s,
			(unsigned long long)v);
		exit(1);
	}
	snprintf(flag, sizeof(flag), "--%s: '%s' is not ", t->name, s);
	CHECK(!strncmp(why, flag, strlen(flag)));
	CHECK(!strchr(why, '\n'));
}

static void expect_taken(const struct tunable *t, uint64_t want)
{
	char s[32], why[256];
	uint64_t v = 0;

	snprintf(s, sizeof(s), "%llu", (unsigned long long)want);
	CHECK_EQ(parse(t, s, &v, why, sizeof(why)), 0);
	CHECK(v == want);
	CHECK_EQ(tunable_check(t, want), 0);
}

static void test_ranges(void)
{
	char s[32];
	size_t i;

	for (i = 0; i < NT; i++) {
		const struct tunable *t = &tunables[i];

		expect_taken(t, t->min);
		if (t->max != UINT64_MAX)
			expect_taken(t, t->max);
		if (t->min > 0) {
			snprintf(s, sizeof(s), "%llu",
				 (unsigned long long)(t->min - 1));
			expect_refused(t, s);
			CHECK_EQ(tunable_check(t, t->min - 1), -ERANGE);
		}
		if (t->max != UINT64_MAX) {
			snprintf(s, sizeof(s), "%llu",
				 (unsigned long long)(t->max + 1));
			expect_refused(t, s);
			CHECK_EQ(tunable_check(t, t->max + 1), -ERANGE);
		}
		if (t->align) {
			snprintf(s, sizeof(s), "%llu",
				 (unsigned long long)(t->min + 1));
			expect_refused(t, s);
		}
		expect_refused(t, "abc");
		expect_refused(t, "");
		expect_refused(t, "-1");
		expect_refused(t, "99999999999999999999999");
	}
}

/* The texts the daemons printed before the table; tests/integration
 * checks the flag names in them. */
static void test_reasons(void)
{
	static const struct { enum tunable_id id; const char *arg, *why; }
	cases[] = {
		{ TUNABLE_CHECKPOINT_DELAY, "abc", "--checkpoint-delay: 'abc' "
		  "is not a time in ms (1..86400000)" },
		{ TUNABLE_HEARTBEAT, "0", "--heartbeat-ms: '0' is not a time "
		  "in ms (1..86400000)" },
		{ TUNABLE_CLEAR_BITMAP_SHIFT, "40", "--clear-bitmap-shift: '40' "
		  "is not in 6..31" },
		{ TUNABLE_RAM, "12Q", "--ram: '12Q' is not a size of at least "
		  "1M in whole 4K pages" },
		{ TUNABLE_RAM, "1048577", "--ram: '1048577' is not a size of "
		  "at least 1M in whole 4K pages" },
		{ TUNABLE_CLIENT_OUTPUT_LIMIT, "1K", "--client-output-limit: "
		  "'1K' is not a size of at least 64K" },
		{ TUNABLE_MAX_CLIENTS, "0", "--max-clients: '0' is not in "
		  "1..65536" },
	};
	char why[256];
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(parse(&tunables[cases[i].id], cases[i].arg, &v, why,
			    sizeof(why)));
		if (strcmp(why, cases[i].why)) {
			fprintf(stderr, "said '%s', not '%s'\n", why,
				cases[i].why);
			exit(1);
		}
	}
	CHECK_EQ(parse(&tunables[TUNABLE_RAM], "64M", &v, why, sizeof(why)),
		 0);
	CHECK(v == 64ULL << 20);
}

/* What colo-primary starts with, from the table and as it always was. */
static void test_defaults(void)
{
	struct primary_opts o;
	struct proto_tunables from_primary, from_table;
	size_t i;

	memset(&o, 0xa5, sizeof(o));
	primary_opts_defaults(&o);
	CHECK_EQ(o.checkpoint_delay_ms, 20000);
	CHECK_EQ(o.compare_timeout_ms, 3000);
	CHECK_EQ(o.max_wait_ms, 50);
	CHECK_EQ(o.clear_bitmap_shift, 18);
	CHECK_EQ(o.heartbeat_ms, 200);
	CHECK_EQ(o.failover_timeout_ms, 1000);
	CHECK(o.ram_bytes == 256ULL << 20);
	CHECK(o.client_output_limit == 64ULL << 20);
	CHECK(o.client_input_limit == 4ULL << 20);
	CHECK(o.max_held_output == 16ULL << 20);
	CHECK_EQ(o.max_clients, 0);
	CHECK(!o.service && !o.control && !o.guest && !o.secondary);
	CHECK(!o.tls_creds && !o.insecure && !o.ntls_authz);

	/* colo-secondary's defaults, which a takeover hands to the primary
	 * role, are the same values. */
	tunables_carried_defaults(&from_table);
	memset(&from_primary, 0, sizeof(from_primary));
	primary_opts_tunables(&o, &from_primary);
	CHECK(!memcmp(&from_table, &from_primary, sizeof(from_table)));
	CHECK_EQ(tunables_check_carried(&from_table), 0);
	for (i = 0; i < NT; i++)
		if (tunables[i].flags & TUNABLE_CARRIED)
			CHECK(tunables_get(&from_table, (enum tunable_id)i) ==
			      tunables[i].def);
}

/* `set NAME` changes the field that `status` shows under NAME. */
static void test_set_shows_in_status(void)
{
	char names[256];
	size_t i, j, carried = 0;

	for (i = 0; i < NT; i++) {
		const struct tunable *t = &tunables[i];
		struct primary_opts o;
		struct proto_tunables pt;
		json_object *st, *got;
		uint64_t v = t->min + (t->max - t->min) / 3;

		if (!(t->flags & TUNABLE_CARRIED))
			continue;
		carried++;
		primary_opts_defaults(&o);
		primary_opts_set(&o, (enum tunable_id)i, v);
		primary_opts_tunables(&o, &pt);
		st = status_tunables(&pt);
		CHECK(json_object_object_get_ex(st, t->name, &got));
		CHECK(json_object_get_uint64(got) == v);
		/* and nothing else moved */
		for (j = 0; j < NT; j++) {
			if (j == i || !(tunables[j].flags & TUNABLE_CARRIED))
				continue;
			CHECK(json_object_object_get_ex(st, tunables[j].name,
							&got));
			CHECK(json_object_get_uint64(got) == tunables[j].def);
		}
		json_object_put(st);
	}
	{
		struct proto_tunables pt;
		json_object *st;

		tunables_carried_defaults(&pt);
		st = status_tunables(&pt);
		CHECK_EQ(json_object_object_length(st), carried);
		json_object_put(st);
	}
	/* The list `set` names when it refuses a name. */
	tunables_names(TUNABLE_SET, names, sizeof(names));
	CHECK(!strcmp(names, "checkpoint-delay, compare-timeout, max-wait"));
}

static void test_carried_check(void)
{
	size_t i;

	for (i = 0; i < NT; i++) {
		const struct tunable *t = &tunables[i];
		struct proto_tunables pt;

		if (!(t->flags & TUNABLE_CARRIED))
			continue;
		tunables_carried_defaults(&pt);
		tunables_put(&pt, (enum tunable_id)i, t->min - 1);
		CHECK_EQ(tunables_check_carried(&pt), -ERANGE);
		tunables_carried_defaults(&pt);
		tunables_put(&pt, (enum tunable_id)i, t->max + 1);
		CHECK_EQ(tunables_check_carried(&pt), -ERANGE);
	}
	{
		struct proto_tunables pt;

		tunables_carried_defaults(&pt);
		pt.failover_timeout_ms = pt.heartbeat_ms;
		CHECK_EQ(tunables_check_carried(&pt), -ERANGE);
		pt.failover_timeout_ms = pt.heartbeat_ms + 1;
		CHECK_EQ(tunables_check_carried(&pt), 0);
	}
}

/* getopt entries and --help lines for each daemon's own. */
static void test_flags(void)
{
	struct option opts[NT];
	char line[256], def[32];
	size_t n, i;

	n = tunables_options(TUNABLE_PRIMARY, 1000, opts);
	CHECK_EQ(n, NT);
	n = tunables_options(TUNABLE_SECONDARY, 1000, opts);
	CHECK_EQ(n, 6);
	for (i = 0; i < n; i++) {
		const struct tunable *t = &tunables[opts[i].val - 1000];

		CHECK(!strcmp(opts[i].name, t->name));
		CHECK_EQ(opts[i].has_arg, required_argument);
		CHECK(t->flags & TUNABLE_SECONDARY);
	}
	for (i = 0; i < NT; i++) {
		const struct tunable *t = &tunables[i];
		char flag[64];

		CHECK(tunable_help(t, line, sizeof(line)) < (int)sizeof(line));
		snprintf(flag, sizeof(flag), "  --%s ", t->name);
		CHECK(!strncmp(line, flag, strlen(flag)));
		CHECK(strstr(line, t->help));
		if (t->unit != TUNABLE_BYTES && !(t->flags & TUNABLE_ZERO_AUTO)) {
			snprintf(def, sizeof(def), "default %llu,",
				 (unsigned long long)t->def);
			CHECK(strstr(line, def));
		}
	}
	tunable_help(&tunables[TUNABLE_RAM], line, sizeof(line));
	CHECK(strstr(line, "default 256M, at least 1M, whole 4K pages"));
}

/* README.md's flag table says the same defaults as --help: each row of
 * a tunable reads "| `--NAME METAVAR` | DEFAULT | ...". */
static void test_readme(void)
{
	static char text[1 << 17];
	FILE *f = fopen(TEST_SRCDIR "/../../README.md", "r");
	size_t n, i;

	if (!f)
		SKIP("no README.md beside the sources");
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	for (i = 0; i < NT; i++) {
		const struct tunable *t = &tunables[i];
		char row[64], line[256], want[40];
		const char *r, *d, *end;

		if (t->flags & TUNABLE_ZERO_AUTO)
			continue;
		snprintf(row, sizeof(row), "| `--%s ", t->name);
		r = strstr(text, row);
		if (!r) {
			fprintf(stderr, "README.md has no row for --%s\n",
				t->name);
			exit(1);
		}
		/* --help's "default X," is the table's own rendering. */
		tunable_help(t, line, sizeof(line));
		d = strstr(line, "default ") + strlen("default ");
		end = strchr(d, ',');
		snprintf(want, sizeof(want), "` | %.*s |", (int)(end - d), d);
		end = strchr(r, '\n');
		if (!strstr(r, want) || strstr(r, want) > end) {
			fprintf(stderr, "README.md: --%s's default is not '%s'\n",
				t->name, want);
			exit(1);
		}
	}
}

int main(void)
{
	test_rows();
	test_ranges();
	test_reasons();
	test_defaults();
	test_set_shows_in_status();
	test_carried_check();
	test_flags();
	test_readme();
	printf("ok\n");
	return 0;
}
