// SPDX-License-Identifier: MIT
/*
 * proc-fds's two pure parsers on text as Linux 6.x prints it: fdinfo of
 * a regular fd, an epoll fd, an eventfd and a signalfd; net/tcp and tcp6
 * with a listening socket (its accept queue) and a connection. And what
 * they refuse: a text without pos or flags, a broken tfd line, a number
 * that overflows, a tcp table without its header or with a short address.
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

static const char tcp4_text[] =
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     \n"
	"   0: 0100007F:1B9E 00000000:0000 0A 00000080:00000002 00:00000000 00000000     0        0 41267 1 0000000016cc0284 100 0 0 10 0                      \n"
	"   1: 0100007F:1B9E 0100007F:9C40 01 00000010:00000025 00:00000000 00000000     0        0 41300 1 00000000b7894609 20 4 30 10 -1                  \n"
	"   2: 0100007F:9C40 0100007F:1B9E 06 00000000:00000000 03:00001234 00000000     0        0 0 3 0000000000000000\n";

static const char tcp6_text[] =
	"  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	"   0: 00000000000000000000000001000000:18EB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5150 1 0000000000000000 100 0 0 10 0\n";

static void test_tcp(void)
{
	struct proc_tcp_table t = { NULL, 0 };
	const struct proc_tcp_sock *s;
	uint8_t lo6[16] = { [15] = 1 };
	char a[INET6_ADDRSTRLEN];

	CHECK_EQ(proc_tcp_parse(tcp4_text, strlen(tcp4_text), AF_INET, &t), 0);
	CHECK_EQ(t.n, 3);
	CHECK_EQ(proc_tcp_parse(tcp6_text, strlen(tcp6_text), AF_INET6, &t), 0);
	CHECK_EQ(t.n, 4);

	s = &t.s[0];
	CHECK_EQ(s->state, TCP_LISTEN);
	CHECK_EQ(s->ino, 41267);
	CHECK_EQ(s->local.family, AF_INET);
	CHECK(inet_ntop(AF_INET, s->local.addr, a, sizeof(a)));
	CHECK(!strcmp(a, "127.0.0.1"));
	CHECK_EQ(s->local.port, 7070);
	CHECK_EQ(s->rx_queue, 2);               /* two not yet accepted */

	s = &t.s[1];
	CHECK_EQ(s->state, TCP_ESTABLISHED);
	CHECK_EQ(s->remote.port, 40000);
	CHECK(inet_ntop(AF_INET, s->remote.addr, a, sizeof(a)));
	CHECK(!strcmp(a, "127.0.0.1"));
	CHECK_EQ(s->tx_queue, 0x10);
	CHECK_EQ(s->rx_queue, 0x25);

	CHECK_EQ(t.s[2].state, TCP_TIME_WAIT);
	CHECK_EQ(t.s[2].ino, 0);

	s = &t.s[3];
	CHECK_EQ(s->local.family, AF_INET6);
	CHECK(!memcmp(s->local.addr, lo6, 16));  /* ::1 */
	CHECK_EQ(s->local.port, 6379);
	CHECK_EQ(s->ino, 5150);
	proc_tcp_table_free(&t);
	CHECK(!t.s && !t.n);
}

static void test_tcp_refused(void)
{
	static const char *const bad[] = {
		"",
		"   0: 0100007F:1B9E 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n",
		"  sl  local_address\n   0: 0100007F:1B9E 00000000:0000\n",
		"  sl  local_address\n   0: 100007F:1B9E 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n",
		"  sl  local_address\n   0: 0100007F:1B9E 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0\n",
		"  sl  local_address\n   0: 0100007F:1B9E 00000000:0000 0A 00000000-00000000 00:00000000 00000000 0 0 1 1\n",
	};
	struct proc_tcp_table t = { NULL, 0 };

	CHECK_EQ(proc_tcp_parse(tcp4_text, strlen(tcp4_text), AF_INET, &t), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(proc_tcp_parse(bad[i], strlen(bad[i]), AF_INET, &t),
			 -EINVAL);
		CHECK_EQ(t.n, 3);               /* what was there stays */
	}
	/* A tcp line is too short for tcp6. */
	CHECK_EQ(proc_tcp_parse(tcp4_text, strlen(tcp4_text), AF_INET6, &t),
		 -EINVAL);
	CHECK_EQ(proc_tcp_parse(tcp4_text, strlen(tcp4_text), AF_UNIX, &t),
		 -EINVAL);
	CHECK_EQ(t.n, 3);
	proc_tcp_table_free(&t);
}

int main(void)
{
	test_fdinfo_plain();
	test_fdinfo_epoll();
	test_fdinfo_eventfd_signalfd();
	test_fdinfo_refused();
	test_tcp();
	test_tcp_refused();
	return 0;
}
