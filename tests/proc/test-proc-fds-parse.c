// SPDX-License-Identifier: MIT
/*
 * proc-fds's pure parser on text as Linux 6.x prints it: fdinfo of a
 * regular fd, an epoll fd, an eventfd and a signalfd. And what it
 * refuses: a text without pos or flags, a broken tfd line, a number that
 * overflows.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "proc-fds.h"
#include "tap.h"

static int parse_fdinfo(const char *text, struct proc_fdinfo *fi)
{
	return proc_fdinfo_parse(text, strlen(text), fi);
}

static void test_fdinfo_plain(void)
{
	struct proc_fdinfo fi;

	CHECK_EQ(parse_fdinfo("pos:\t4096\nflags:\t02104002\nmnt_id:\t21\n"
			      "ino:\t1057\nlock:\t1: POSIX ADVISORY WRITE\n",
			      &fi), 0);
	CHECK_EQ(fi.pos, 4096);
	CHECK_EQ(fi.flags, 02104002);
	CHECK(fi.flags & O_CLOEXEC);
	CHECK(fi.flags & O_NONBLOCK);
	CHECK_EQ(fi.flags & O_ACCMODE, O_RDWR);
	CHECK_EQ(fi.ino, 1057);
	CHECK_EQ(fi.n_items, 0);
	CHECK(!fi.has_count && !fi.has_sigmask);
	proc_fdinfo_free(&fi);
}

static void test_fdinfo_epoll(void)
{
	struct proc_fdinfo fi;

	CHECK_EQ(parse_fdinfo(
		"pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t17\n"
		"tfd:       12 events:       19 data:        50000000c  pos:0 ino:10bf3f5 sdev:9\n"
		"tfd:        8 events: 80000019 data:                8  pos:0 ino:10bf3de sdev:9\n"
		"tfd:     1023 events:        4 data: ffffffffffffffff  pos:0 ino:11 sdev:10\n",
		&fi), 0);
	CHECK_EQ(fi.n_items, 3);
	CHECK_EQ(fi.items[0].tfd, 12);
	CHECK_EQ(fi.items[0].events, 0x19);
	CHECK_EQ(fi.items[0].data, 0x50000000cULL);
	CHECK_EQ(fi.items[1].tfd, 8);
	CHECK_EQ(fi.items[1].events, 0x80000019u);      /* EPOLLET kept */
	CHECK_EQ(fi.items[1].data, 8);
	CHECK_EQ(fi.items[2].tfd, 1023);
	CHECK(fi.items[2].data == UINT64_MAX);
	CHECK_EQ(fi.flags & O_ACCMODE, O_RDWR);
	proc_fdinfo_free(&fi);
	CHECK(!fi.items && !fi.n_items);
}

static void test_fdinfo_eventfd_signalfd(void)
{
	struct proc_fdinfo fi;

	CHECK_EQ(parse_fdinfo("pos:\t0\nflags:\t02004002\nmnt_id:\t17\n"
			      "ino:\t17\neventfd-count:               2a\n"
			      "eventfd-id: 3\neventfd-semaphore: 0\n", &fi), 0);
	CHECK(fi.has_count);
	CHECK_EQ(fi.count, 42);
	proc_fdinfo_free(&fi);

	/* SIGINT (2) and SIGTERM (15): bits 1 and 14. */
	CHECK_EQ(parse_fdinfo("pos:\t0\nflags:\t02004002\nino:\t17\n"
			      "sigmask:\t0000000000004002\n", &fi), 0);
	CHECK(fi.has_sigmask);
	CHECK_EQ(fi.sigmask, (1u << (2 - 1)) | (1u << (15 - 1)));
	proc_fdinfo_free(&fi);
}

static void test_fdinfo_refused(void)
{
	static const char *const bad[] = {
		"",
		"flags:\t02\n",                         /* no pos */
		"pos:\t0\n",                            /* no flags */
		"pos:\t0\nflags:\t09\n",                /* not octal */
		"pos:\t\nflags:\t02\n",                 /* no number */
		"pos:\t0\nflags:\t02\ntfd: 8 events: 19\n",     /* no data */
		"pos:\t0\nflags:\t02\ntfd: x events: 19 data: 8\n",
		"pos:\t0\nflags:\t02\ntfd: 8 events: 100000000 data: 8\n",
		"pos:\t99999999999999999999\nflags:\t02\n",
		"pos:\t0\nflags:\t02\neventfd-count: 1ffffffffffffffff\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct proc_fdinfo fi;

		if (parse_fdinfo(bad[i], &fi) != -EINVAL)
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CHECK_EQ(parse_fdinfo(bad[i], &fi), -EINVAL);
		CHECK(!fi.items && !fi.n_items);
	}
}

int main(void)
{
	test_fdinfo_plain();
	test_fdinfo_epoll();
	test_fdinfo_eventfd_signalfd();
	test_fdinfo_refused();
	return 0;
}
