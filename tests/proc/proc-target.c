// SPDX-License-Identifier: MIT
/*
 * The program the proc tests launch through proc-launch, with the shim.
 * It listens on 127.0.0.1:PORT (argv[1]) in its network namespace, takes
 * one connection and answers one line per command line:
 *
 *   checks        what it sees of its sandbox: its pid, what fork, vfork, clone3,
 *                 exec, a write to / and to /tmp, an outbound connect
 *                 return, its interfaces and host name
 *   buf           the address of its 64-page buffer, its own VMA
 *   forkmap       forks a child that maps fresh memory over its copy of
 *                 the buffer (through the shim's mmap hook), reaps it
 *   write P...    writes a byte into each page number P of the buffer
 *   stamp P...    the same with a value none of the pages held before
 *                 (each stamp its own), so that a page left out of an
 *                 image shows as different, not only as not carried
 *   hooks         memory through the shim's other hooks: 16 pages from
 *                 sbrk, and 4 written pages moved by mremap into a
 *                 32-page mapping; the two addresses
 *   droppable     8 pages mapped MAP_DROPPABLE (Linux 6.11+), memory the
 *                 kernel refuses to register; its address, or "none"
 *   env           its environment (';'-separated), working directory,
 *                 umask and domain name
 *   arena         makes a thread whose mallocs create and grow a glibc
 *                 arena (glibc grows it past the shim's hooks); the
 *                 address of a block in the growth
 *   fds           opens an epoll fd watching the connection (EPOLLIN,
 *                 data FDS_EPOLL_DATA), an eventfd counting 5, a pipe
 *                 holding 3 bytes and a signalfd for SIGUSR1; their
 *                 numbers
 *   flood N       N bytes of 'x' (sent with a 1 MiB send buffer, so the
 *                 write does not wait for the reader), then the reply
 *   zap P...      MADV_DONTNEED on each page number P of the buffer
 *   mapw N        N pages mapped through mmap (the shim's hook), each
 *                 written; the address
 *   rawmap N      the same through syscall(SYS_mmap), which no hook sees
 *   mappop N      N pages mapped MAP_POPULATE through the hook and never
 *                 written: own (zeroed) pages the dirty log never saw
 *   remapread A N the N pages at A unmapped, mapped again at A (hooked
 *                 mmap, MAP_FIXED) and only read; their byte sum
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define BUF_PAGES 64
#define PAGE 4096
#define FDS_EPOLL_DATA 0xc0105eedULL    /* test-proc-fds looks for it */

static int err_of(long r)
{
	return r < 0 ? errno : 0;
}

/* 0 when fork worked and the child was reaped with its status 0. */
static int try_fork(void)
{
	pid_t pid = fork();
	int status = -1;

	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return errno;
	if (waitpid(pid, &status, 0) != pid)
		return errno;
	return status == 0 ? 0 : -1;
}

/* The child's mmap goes through the shim's hook, in the child's own
 * address space: nothing of the parent's tracking may change. */
static void fork_map(char *buf, char *reply, size_t len)
{
	pid_t pid = fork();
	int status = -1;

	if (pid == 0) {
		void *m = mmap(buf, BUF_PAGES * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

		_exit(m == buf ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		snprintf(reply, len, "fork: %s", strerror(errno));
	else
		snprintf(reply, len, status == 0 ? "ok" : "child failed");
}

/* A process sharing our memory that is not a thread: refused. */
static int try_vfork(void)
{
	pid_t pid = vfork();

	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return err_of(pid);
}

static int try_clone3(void)
{
	struct clone_args ca = { .exit_signal = 17 /* SIGCHLD */ };
	long r = syscall(SYS_clone3, &ca, sizeof(ca));

	if (r == 0)
		_exit(0);
	return err_of(r);
}

static int try_exec(void)
{
	char *argv[] = { "/bin/true", NULL }, *envp[] = { NULL };

	return err_of(execve(argv[0], argv, envp));
}

static int try_create(const char *path)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static int try_outbound(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(80) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
	r = err_of(connect(fd, (struct sockaddr *)&sin, sizeof(sin)));
	close(fd);
	return r;
}

static void interfaces(char *out, size_t len)
{
	struct if_nameindex *ifs = if_nameindex();
	size_t off = 0;

	out[0] = '\0';
	for (struct if_nameindex *i = ifs; i && i->if_name; i++)
		off += (size_t)snprintf(out + off, len - off, "%s%s",
					off ? "," : "", i->if_name);
	if_freenameindex(ifs);
}

static void checks(char *reply, size_t len)
{
	char ifs[128], host[64];

	interfaces(ifs, sizeof(ifs));
	gethostname(host, sizeof(host));
	snprintf(reply, len, "pid=%d fork=%d vfork=%d clone3=%d exec=%d "
		 "root=%d tmp=%d net=%d ifs=%s host=%s", (int)getpid(),
		 try_fork(), try_vfork(), try_clone3(), try_exec(),
		 try_create("/colo-rofs-probe"),
		 try_create("/tmp/colo-probe"), try_outbound(), ifs, host);
}

static void hooks(char *reply, size_t len)
{
	char *grown = sbrk(16 * PAGE), *small, *big, *moved;

	small = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* A reserved destination, so that the move is certain. */
	big = mmap(NULL, 32 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	if (grown == (void *)-1 || small == MAP_FAILED || big == MAP_FAILED) {
		snprintf(reply, len, "failed");
		return;
	}
	memset(small, 2, 4 * PAGE);
	moved = mremap(small, 4 * PAGE, 32 * PAGE,
		       MREMAP_MAYMOVE | MREMAP_FIXED, big);
	snprintf(reply, len, "%p %p", (void *)grown, (void *)moved);
}

#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif

static void droppable(char *reply, size_t len)
{
	char *p = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_DROPPABLE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		snprintf(reply, len, "none");
		return;
	}
	memset(p, 3, 8 * PAGE);
	snprintf(reply, len, "%p", (void *)p);
}

extern char **environ;

static void env(char *reply, size_t len)
{
	size_t off = 0;
	char cwd[64];

	for (char **e = environ; *e; e++)
		off += (size_t)snprintf(reply + off, len - off, "%s;", *e);
	mode_t mask = umask(0);
	char domain[64];

	umask(mask);
	if (getdomainname(domain, sizeof(domain)) < 0)
		snprintf(domain, sizeof(domain), "?");
	snprintf(reply + off, len - off, "cwd=%s umask=%03o domain=%s",
		 getcwd(cwd, sizeof(cwd)) ? cwd : "?", (unsigned)mask, domain);
}

/*
 * The thread's arena exists before the shim's thread hook registers what
 * is mapped (glibc makes it at the thread's first free), so the hook
 * covers its first part. What escapes is its growth: glibc extends an
 * arena by mprotect() over its reservation, a VMA nobody registered. Four
 * 64 KiB blocks outgrow the first 132 KiB; the last lies in the growth.
 */
static void *arena_thread(void *arg)
{
	char *p = NULL;

	for (int i = 0; i < 4; i++) {
		p = malloc(64 * 1024);  /* below the mmap threshold */
		if (!p)
			break;
		memset(p, 1, 64 * 1024);
	}
	*(char **)arg = p;
	return NULL;
}

static void arena(char *reply, size_t len)
{
	pthread_t t;
	char *p = NULL;

	if (pthread_create(&t, NULL, arena_thread, &p) == 0)
		pthread_join(t, NULL);
	snprintf(reply, len, "%p", (void *)p);
}

/* Kernel objects of the kinds proc-fds captures, left open. */
static void fds(int conn, char *reply, size_t len)
{
	struct epoll_event ev = { .events = EPOLLIN,
				  .data.u64 = FDS_EPOLL_DATA };
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int efd = eventfd(5, EFD_NONBLOCK | EFD_CLOEXEC);
	int p[2] = { -1, -1 }, sfd;
	sigset_t usr1;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	sfd = signalfd(-1, &usr1, SFD_CLOEXEC);
	if (ep < 0 || efd < 0 || sfd < 0 || pipe2(p, O_CLOEXEC) < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, conn, &ev) < 0 ||
	    write(p[1], "abc", 3) != 3) {
		snprintf(reply, len, "failed: %s", strerror(errno));
		return;
	}
	snprintf(reply, len, "epoll=%d eventfd=%d pipe=%d,%d signalfd=%d", ep,
		 efd, p[0], p[1], sfd);
}

static void flood(int conn, long n, char *reply, size_t len)
{
	int sndbuf = 1 << 20;
	char chunk[4096];

	memset(chunk, 'x', sizeof(chunk));
	setsockopt(conn, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	while (n > 0) {
		ssize_t w = write(conn, chunk, n < 4096 ? (size_t)n : 4096);

		if (w <= 0) {
			snprintf(reply, len, "failed");
			return;
		}
		n -= w;
	}
	snprintf(reply, len, "flooded");
}

static void write_pages(volatile char *buf, char *args, char value,
			char *reply, size_t len)
{
	char *tok, *save = NULL;

	for (tok = strtok_r(args, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		long page = strtol(tok, NULL, 10);

		if (page < 0 || page >= BUF_PAGES) {
			snprintf(reply, len, "bad page %s", tok);
			return;
		}
		buf[page * PAGE] = value;
	}
	snprintf(reply, len, "ok");
}

static void zap_pages(char *buf, char *args, char *reply, size_t len)
{
	char *tok, *save = NULL;

	for (tok = strtok_r(args, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		long page = strtol(tok, NULL, 10);

		if (page < 0 || page >= BUF_PAGES ||
		    madvise(buf + page * PAGE, PAGE, MADV_DONTNEED) < 0) {
			snprintf(reply, len, "bad page %s", tok);
			return;
		}
	}
	snprintf(reply, len, "ok");
}

/* N pages mapped through the hook or past it; written unless populated. */
static void map_written(long n, bool raw, bool populate, char *reply,
			size_t len)
{
	size_t bytes = (size_t)n * PAGE;
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | (populate ? MAP_POPULATE : 0);
	char *p = raw ? (char *)syscall(SYS_mmap, NULL, bytes,
					PROT_READ | PROT_WRITE, flags, -1, 0) :
			mmap(NULL, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);

	if (n <= 0 || p == MAP_FAILED) {
		snprintf(reply, len, "failed");
		return;
	}
	for (long i = 0; i < n && !populate; i++)
		memset(p + i * PAGE, (int)(0x40 + i), PAGE);
	snprintf(reply, len, "%p", (void *)p);
}

static void remap_read(char *args, char *reply, size_t len)
{
	unsigned long long a = 0;
	long n = 0, sum = 0;
	volatile char *p;

	if (sscanf(args, "%llx %ld", &a, &n) != 2 || n <= 0 ||
	    munmap((void *)(uintptr_t)a, (size_t)n * PAGE) < 0) {
		snprintf(reply, len, "failed");
		return;
	}
	p = mmap((void *)(uintptr_t)a, (size_t)n * PAGE,
		 PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED) {
		snprintf(reply, len, "failed");
		return;
	}
	for (long i = 0; i < n; i++)
		sum += p[i * PAGE];
	snprintf(reply, len, "%ld", sum);
}

/* A buffer that is one VMA of its own: PROT_NONE guards on both sides. */
static char *make_buffer(void)
{
	char *m = mmap(NULL, (BUF_PAGES + 2) * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return NULL;
	mprotect(m, PAGE, PROT_NONE);
	mprotect(m + (BUF_PAGES + 1) * PAGE, PAGE, PROT_NONE);
	return m + PAGE;
}

static int listen_on(int port)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(fd, 1) < 0)
		return -1;
	return fd;
}

int main(int argc, char **argv)
{
	char line[256], reply[512];
	char *buf = make_buffer();
	unsigned stamps = 0;
	int lfd, fd;
	FILE *in;

	if (argc != 2 || !buf)
		return 2;
	lfd = listen_on(atoi(argv[1]));
	if (lfd < 0) {
		perror("proc-target: listen");
		return 1;
	}
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return 1;
	in = fdopen(fd, "r");
	while (in && fgets(line, sizeof(line), in)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strcmp(line, "checks"))
			checks(reply, sizeof(reply));
		else if (!strcmp(line, "buf"))
			snprintf(reply, sizeof(reply), "%p", (void *)buf);
		else if (!strncmp(line, "write ", 6))
			write_pages(buf, line + 6, 1, reply, sizeof(reply));
		else if (!strncmp(line, "stamp ", 6))
			/* 2 up: neither 0 (never written) nor write's 1. */
			write_pages(buf, line + 6, (char)(2 + stamps++ % 250),
				    reply, sizeof(reply));
		else if (!strcmp(line, "forkmap"))
			fork_map(buf, reply, sizeof(reply));
		else if (!strcmp(line, "hooks"))
			hooks(reply, sizeof(reply));
		else if (!strcmp(line, "droppable"))
			droppable(reply, sizeof(reply));
		else if (!strcmp(line, "env"))
			env(reply, sizeof(reply));
		else if (!strcmp(line, "arena"))
			arena(reply, sizeof(reply));
		else if (!strcmp(line, "fds"))
			fds(fd, reply, sizeof(reply));
		else if (!strncmp(line, "flood ", 6))
			flood(fd, atol(line + 6), reply, sizeof(reply));
		else if (!strncmp(line, "zap ", 4))
			zap_pages(buf, line + 4, reply, sizeof(reply));
		else if (!strncmp(line, "mapw ", 5))
			map_written(atol(line + 5), false, false, reply,
				    sizeof(reply));
		else if (!strncmp(line, "rawmap ", 7))
			map_written(atol(line + 7), true, false, reply,
				    sizeof(reply));
		else if (!strncmp(line, "mappop ", 7))
			map_written(atol(line + 7), false, true, reply,
				    sizeof(reply));
		else if (!strncmp(line, "remapread ", 10))
			remap_read(line + 10, reply, sizeof(reply));
		else
			snprintf(reply, sizeof(reply), "unknown %s", line);
		strcat(reply, "\n");
		if (write(fd, reply, strlen(reply)) < 0)
			return 1;
	}
	return 0;
}
