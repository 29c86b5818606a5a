// SPDX-License-Identifier: MIT
/* Command-line value parsers: good values, bad ones, and the edges. */
#include "config.h"
#include "tap.h"

#include <errno.h>

static void test_size(void)
{
	static const struct { const char *s; int r; uint64_t v; } cases[] = {
		{ "4096", 0, 4096 },
		{ "1", 0, 1 },
		{ "64K", 0, 64ULL << 10 },
		{ "64k", 0, 64ULL << 10 },
		{ "512M", 0, 512ULL << 20 },
		{ "1G", 0, 1ULL << 30 },
		{ "3g", 0, 3ULL << 30 },
		{ "2T", 0, 2ULL << 40 },
		{ "1GiB", 0, 1ULL << 30 },
		{ "8KB", 0, 8ULL << 10 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "16777215T", 0, 16777215ULL << 40 },
		{ "16777216T", -ERANGE, 0 },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "99999999999999999999999", -ERANGE, 0 },
		{ "17179869184G", -ERANGE, 0 },
		{ "0", -EINVAL, 0 },
		{ "0K", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
		{ "K", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ " 5", -EINVAL, 0 },
		{ "5 ", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
		{ "10X", -EINVAL, 0 },
		{ "10KK", -EINVAL, 0 },
		{ "10Ki", -EINVAL, 0 },
		{ "1.5G", -EINVAL, 0 },
	};
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 12345;
		int r = config_parse_size(cases[i].s, &v);

		if (r != cases[i].r)
			fprintf(stderr, "size \"%s\": %d\n", cases[i].s, r);
		CHECK_EQ(r, cases[i].r);
		if (r == 0)
			CHECK(v == cases[i].v);
		else
			CHECK_EQ(v, 12345);     /* untouched on error */
	}
	CHECK_EQ(config_parse_size(NULL, &(uint64_t){ 0 }), -EINVAL);
}

static void test_size_random(void)
{
	static const char suf[] = { 0, 'K', 'M', 'G', 'T' };
	uint64_t seed = 42;
	unsigned int i;

	/* Every value that fits parses back to itself shifted by its unit. */
	for (i = 0; i < 10000; i++) {
		unsigned int u = test_rand(&seed) % 5, shift = u * 10;
		uint64_t n = test_rand(&seed) >> (test_rand(&seed) % 64);
		char buf[40];
		uint64_t v;
		int r;

		snprintf(buf, sizeof(buf), "%llu%c", (unsigned long long)n,
			 suf[u]);
		r = config_parse_size(buf, &v);
		if (n == 0)
			CHECK_EQ(r, -EINVAL);
		else if (n > (UINT64_MAX >> shift))
			CHECK_EQ(r, -ERANGE);
		else
			CHECK(r == 0 && v == n << shift);
	}
}

static void test_u64(void)
{
	uint64_t v = 7;

	CHECK_EQ(config_parse_u64("5", 1, 10, &v), 0);
	CHECK_EQ(v, 5);
	CHECK_EQ(config_parse_u64("1", 1, 10, &v), 0);
	CHECK_EQ(config_parse_u64("10", 1, 10, &v), 0);
	CHECK_EQ(v, 10);
	CHECK_EQ(config_parse_u64("0", 1, 10, &v), -ERANGE);
	CHECK_EQ(config_parse_u64("11", 1, 10, &v), -ERANGE);
	CHECK_EQ(config_parse_u64("18446744073709551616", 0, UINT64_MAX, &v),
		 -ERANGE);
	CHECK_EQ(config_parse_u64("18446744073709551615", 0, UINT64_MAX, &v),
		 0);
	CHECK(v == UINT64_MAX);
	CHECK_EQ(config_parse_u64("", 0, 10, &v), -EINVAL);
	CHECK_EQ(config_parse_u64("5K", 0, 10, &v), -EINVAL);
	CHECK_EQ(config_parse_u64("-5", 0, 10, &v), -EINVAL);
	CHECK_EQ(config_parse_u64("+5", 0, 10, &v), -EINVAL);
	CHECK_EQ(config_parse_u64("5\n", 0, 10, &v), -EINVAL);
	CHECK(v == UINT64_MAX);
}

static void test_hostport(void)
{
	static const struct {
		const char *s;
		int r;
		const char *host, *port;
	} cases[] = {
		{ "127.0.0.1:9000", 0, "127.0.0.1", "9000" },
		{ "localhost:1", 0, "localhost", "1" },
		{ "example.org:65535", 0, "example.org", "65535" },
		{ "[::1]:9000", 0, "::1", "9000" },
		{ "[fe80::1%eth0]:22", 0, "fe80::1%eth0", "22" },
		{ "0.0.0.0:7000", 0, "0.0.0.0", "7000" },
		{ "host:0", -ERANGE, NULL, NULL },
		{ "host:65536", -ERANGE, NULL, NULL },
		{ "host:", -EINVAL, NULL, NULL },
		{ "host", -EINVAL, NULL, NULL },
		{ ":80", -EINVAL, NULL, NULL },
		{ "::1:80", -EINVAL, NULL, NULL },
		{ "[::1]80", -EINVAL, NULL, NULL },
		{ "[::1:80", -EINVAL, NULL, NULL },
		{ "[]:80", -EINVAL, NULL, NULL },
		{ "host:8x", -EINVAL, NULL, NULL },
		{ "host:-1", -EINVAL, NULL, NULL },
		{ "", -EINVAL, NULL, NULL },
	};
	char host[64], port[8];
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = config_parse_hostport(cases[i].s, host, sizeof(host),
					      port, sizeof(port));

		if (r != cases[i].r)
			fprintf(stderr, "hostport \"%s\": %d\n", cases[i].s, r);
		CHECK_EQ(r, cases[i].r);
		if (r == 0) {
			CHECK(strcmp(host, cases[i].host) == 0);
			CHECK(strcmp(port, cases[i].port) == 0);
		}
	}
	/* A host that does not fit the caller's buffer is an error. */
	CHECK_EQ(config_parse_hostport("abcdefgh:80", host, 8, port,
				       sizeof(port)), -ERANGE);
	CHECK_EQ(config_parse_hostport("abcdefg:80", host, 8, port,
				       sizeof(port)), 0);
	CHECK(strcmp(host, "abcdefg") == 0);
	CHECK_EQ(config_parse_hostport("h:80", host, sizeof(host), port, 2),
		 -ERANGE);
}

int main(void)
{
	test_size();
	test_size_random();
	test_u64();
	test_hostport();
	printf("ok config\n");
	return 0;
}
