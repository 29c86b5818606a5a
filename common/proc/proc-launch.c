// SPDX-License-Identifier: MIT
/*
 * Starting a program in its own namespaces, the same way on both hosts.
 *
 * clone3(CLONE_NEWPID) makes the child PID 1 of a new PID namespace and
 * gives us a pidfd in the same call; the child then enters the other
 * namespaces one unshare() at a time, so that a refusal names the one that
 * failed, prepares them, and execs. Like guestproc, everything the child
 * uses is built before the clone (the daemon has threads: between clone
 * and exec only async-signal-safe calls), and a failing step is reported
 * back through a close-on-exec pipe: EOF on it means the exec happened.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <linux/sched.h>
#include <sched.h>
#include <net/if.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "log.h"
#include "proc-launch.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* The main thread's stack limit also places mmap_base: fixed, like ASLR. */
#define LAUNCH_STACK_LIMIT (8ULL << 20)
#define TMPFS_OPTIONS "mode=1777,size=64m"
#define LAUNCH_DOMAINNAME "(none)"      /* the kernel's own default */

/* The child's steps, in order; the names are what a failure logs. */
enum launch_step {
	STEP_PDEATHSIG,
	STEP_SIGNALS,
	STEP_NEWNET,
	STEP_NEWNS,
	STEP_NEWUTS,
	STEP_NEWIPC,
	STEP_LO_UP,
	STEP_MS_PRIVATE,
	STEP_RDONLY,
	STEP_TMPFS,
	STEP_KEEP_FILE,
	STEP_HOSTNAME,
	STEP_DOMAINNAME,
	STEP_RLIMIT_NOFILE,
	STEP_RLIMIT_STACK,
	STEP_RLIMIT_CORE,
	STEP_PERSONALITY,
	STEP_STDIN,
	STEP_CHDIR,
	STEP_EXEC,
	STEP__MAX
};

static const char *const step_name[STEP__MAX] = {
	[STEP_PDEATHSIG] = "prctl(PR_SET_PDEATHSIG)",
	[STEP_SIGNALS] = "sigprocmask",
	[STEP_NEWNET] = "unshare(CLONE_NEWNET)",
	[STEP_NEWNS] = "unshare(CLONE_NEWNS)",
	[STEP_NEWUTS] = "unshare(CLONE_NEWUTS)",
	[STEP_NEWIPC] = "unshare(CLONE_NEWIPC)",
	[STEP_LO_UP] = "bringing up lo (SIOCSIFFLAGS)",
	[STEP_MS_PRIVATE] = "mount(/, MS_REC|MS_PRIVATE)",
	[STEP_RDONLY] = "mount_setattr(/, MOUNT_ATTR_RDONLY, AT_RECURSIVE)",
	[STEP_TMPFS] = "mount(tmpfs, /tmp)",
	[STEP_KEEP_FILE] = "bind-mounting the program or shim back under /tmp",
	[STEP_HOSTNAME] = "sethostname",
	[STEP_DOMAINNAME] = "setdomainname",
	[STEP_RLIMIT_NOFILE] = "setrlimit(RLIMIT_NOFILE)",
	[STEP_RLIMIT_STACK] = "setrlimit(RLIMIT_STACK)",
	[STEP_RLIMIT_CORE] = "setrlimit(RLIMIT_CORE)",
	[STEP_PERSONALITY] = "personality(ADDR_NO_RANDOMIZE)",
	[STEP_STDIN] = "dup2(/dev/null, 0)",
	[STEP_CHDIR] = "chdir(/tmp)",
	[STEP_EXEC] = "execve",
};

struct step_failure {
	int step;
	int err;
};

/* What the child needs, built before the clone. */
struct launch_plan {
	char **argv;
	char *envp[5];
	char *env_path;
	char *env_preload;
	/* The program and shim when under /tmp (a build tree there): bound
	 * back at the same path over the child's empty tmpfs. NULL: not. */
	const char *keep[2];
	int devnull;
	int err_pipe[2];
};

static char *concat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 1);

	if (s) {
		memcpy(s, a, la);
		memcpy(s + la, b, lb + 1);
	}
	return s;
}

/* The child's /tmp is a fresh tmpfs: nothing of the host's is there. */
static bool under_tmp(const char *path)
{
	return !strncmp(path, "/tmp/", 5);
}

static void plan_free(struct launch_plan *lp)
{
	free(lp->argv);
	free(lp->env_path);
	free(lp->env_preload);
	if (lp->devnull >= 0)
		close(lp->devnull);
	for (int i = 0; i < 2; i++) {
		if (lp->err_pipe[i] >= 0)
			close(lp->err_pipe[i]);
	}
}

static int plan_init(struct launch_plan *lp,
		     const struct proc_launch_spec *spec)
{
	size_t n = 0, e = 0;
	int err;

	memset(lp, 0, sizeof(*lp));
	lp->devnull = -1;
	lp->err_pipe[0] = lp->err_pipe[1] = -1;
	if (under_tmp(spec->path))
		lp->keep[0] = spec->path;
	if (spec->shim && under_tmp(spec->shim))
		lp->keep[1] = spec->shim;

	while (spec->args && spec->args[n])
		n++;
	lp->argv = calloc(n + 2, sizeof(char *));
	/*
	 * PATH is fixed, not the daemon's: the environment lies on the
	 * program's stack, and two hosts' daemons may run with other PATHs.
	 */
	lp->env_path = concat("PATH=", PROC_LAUNCH_PATH);
	if (spec->shim)
		lp->env_preload = concat("LD_PRELOAD=", spec->shim);
	if (!lp->argv || !lp->env_path || (spec->shim && !lp->env_preload))
		return -ENOMEM;
	lp->argv[0] = (char *)spec->path;
	for (size_t i = 0; i < n; i++)
		lp->argv[i + 1] = (char *)spec->args[i];

	/* Nothing inherited: the same on both hosts whatever ran the daemon. */
	lp->envp[e++] = lp->env_path;
	lp->envp[e++] = "LANG=C";
	lp->envp[e++] = "HOME=/";
	if (lp->env_preload)
		lp->envp[e++] = lp->env_preload;
	lp->envp[e] = NULL;

	lp->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (lp->devnull < 0) {
		err = -errno;
		log_error("open /dev/null: %s", strerror(errno));
		return err;
	}
	if (pipe2(lp->err_pipe, O_CLOEXEC) < 0) {
		err = -errno;
		log_error("pipe2: %s", strerror(errno));
		return err;
	}
	return 0;
}

/*
 * The spec's files must be there: ld.so only warns about a missing
 * LD_PRELOAD and runs the program untracked, and an exec failure is
 * clearer named here than as "execve: No such file or directory".
 */
static int check_spec(const struct proc_launch_spec *spec)
{
	if (!spec->path || spec->path[0] != '/') {
		log_error("program %s: an absolute path is needed",
			  spec->path ? spec->path : "(none)");
		return -EINVAL;
	}
	if (access(spec->path, X_OK) < 0) {
		int err = -errno;

		log_error("program %s: %s", spec->path, strerror(errno));
		return err;
	}
	if (spec->shim && (spec->shim[0] != '/' || access(spec->shim, R_OK) < 0)) {
		int err = spec->shim[0] != '/' ? -EINVAL : -errno;

		log_error("shim %s: %s", spec->shim, spec->shim[0] != '/' ?
			  "an absolute path is needed" : strerror(errno));
		return err;
	}
	return 0;
}

/* In the child: report the failing step and its errno, and die. */
static void __attribute__((noreturn)) child_fail(int fd, enum launch_step s)
{
	struct step_failure f = { .step = s, .err = errno };

	if (write(fd, &f, sizeof(f)) < 0)
		_exit(126);
	_exit(127);
}

static int bring_up_lo(void)
{
	struct ifreq ifr;
	int fd, r;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	r = ioctl(fd, SIOCGIFFLAGS, &ifr);
	if (r == 0) {
		ifr.ifr_flags |= IFF_UP;
		r = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	close(fd);
	return r;
}

/*
 * In the child, on the fresh tmpfs: the directories of path, an empty file
 * at path, and the file kept open as fd bound onto it, read-only. The
 * program sees its own file at the path it was given, nothing else of the
 * host's /tmp. No malloc here (after clone): a buffer on the stack.
 */
static int keep_file(const char *path, int fd)
{
	char buf[PATH_MAX], src[32];
	size_t n = strlen(path);
	int f;

	if (n >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (size_t i = 5; i < n; i++) {        /* past "/tmp/" */
		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		buf[i] = '/';
	}
	f = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0555);
	if (f < 0)
		return -1;
	close(f);
	/* "/proc/self/fd/N" without snprintf (not async-signal-safe). */
	n = sizeof(src) - 1;
	src[n] = '\0';
	do
		src[--n] = (char)('0' + fd % 10);
	while ((fd /= 10) > 0);
	n -= strlen("/proc/self/fd/");
	memcpy(src + n, "/proc/self/fd/", strlen("/proc/self/fd/"));
	if (mount(src + n, path, NULL, MS_BIND, NULL) < 0)
		return -1;
	return mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL);
}

/*
 * Its own copy of the mount tree, not propagating back to the host
 * (MS_PRIVATE first), all read-only, then a fresh tmpfs on /tmp: a write
 * anywhere else fails with EROFS alike on both hosts.
 */
static void child_mounts(int fd, const struct launch_plan *lp)
{
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
	int kept[2] = { -1, -1 };

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail(fd, STEP_MS_PRIVATE);
	if (mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &ro, sizeof(ro)) < 0)
		child_fail(fd, STEP_RDONLY);
	/* Opened in this mount namespace: a bind takes its source from the
	 * caller's own namespace only. */
	for (int i = 0; i < 2; i++)
		if (lp->keep[i] &&
		    (kept[i] = open(lp->keep[i], O_PATH | O_CLOEXEC)) < 0)
			child_fail(fd, STEP_KEEP_FILE);
	if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
		  TMPFS_OPTIONS) < 0)
		child_fail(fd, STEP_TMPFS);
	for (int i = 0; i < 2; i++) {
		if (kept[i] >= 0 && keep_file(lp->keep[i], kept[i]) < 0)
			child_fail(fd, STEP_KEEP_FILE);
		if (kept[i] >= 0)
			close(kept[i]);
	}
}

static void child_limits(int fd)
{
	struct rlimit nofile = { PROC_LAUNCH_NOFILE, PROC_LAUNCH_NOFILE };
	struct rlimit stack = { LAUNCH_STACK_LIMIT, LAUNCH_STACK_LIMIT };
	struct rlimit core = { 0, 0 };

	if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
		child_fail(fd, STEP_RLIMIT_NOFILE);
	if (setrlimit(RLIMIT_STACK, &stack) < 0)
		child_fail(fd, STEP_RLIMIT_STACK);
	if (setrlimit(RLIMIT_CORE, &core) < 0)
		child_fail(fd, STEP_RLIMIT_CORE);
}

/* PID 1 of the new PID namespace, from here to exec. */
static void __attribute__((noreturn)) child_exec(const struct launch_plan *lp)
{
	int fd = lp->err_pipe[1];
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(fd, STEP_PDEATHSIG);
	/* Dispositions the daemon ignores (SIGPIPE) would survive exec. */
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		child_fail(fd, STEP_SIGNALS);

	if (unshare(CLONE_NEWNET) < 0)
		child_fail(fd, STEP_NEWNET);
	if (unshare(CLONE_NEWNS) < 0)
		child_fail(fd, STEP_NEWNS);
	if (unshare(CLONE_NEWUTS) < 0)
		child_fail(fd, STEP_NEWUTS);
	if (unshare(CLONE_NEWIPC) < 0)
		child_fail(fd, STEP_NEWIPC);
	if (bring_up_lo() < 0)
		child_fail(fd, STEP_LO_UP);
	child_mounts(fd, lp);
	/* Both names: the new UTS namespace starts with the host's. */
	if (sethostname(PROC_LAUNCH_HOSTNAME, strlen(PROC_LAUNCH_HOSTNAME)) < 0)
		child_fail(fd, STEP_HOSTNAME);
	if (setdomainname(LAUNCH_DOMAINNAME, strlen(LAUNCH_DOMAINNAME)) < 0)
		child_fail(fd, STEP_DOMAINNAME);
	child_limits(fd);
	if (personality(PER_LINUX | ADDR_NO_RANDOMIZE) < 0)
		child_fail(fd, STEP_PERSONALITY);
	if (dup2(lp->devnull, 0) < 0)
		child_fail(fd, STEP_STDIN);
	/* The one place it may write: a program's files in its working
	 * directory (Redis's DEBUG RELOAD, its dump.rdb) then work alike on
	 * both sides, each in its own scratch tmpfs. */
	if (chdir("/tmp") < 0)
		child_fail(fd, STEP_CHDIR);
	umask(022);             /* not the daemon's, whatever started it */
	/* Only stdio crosses the exec; the error pipe closes with it. */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);

	execve(lp->argv[0], lp->argv, lp->envp);
	child_fail(fd, STEP_EXEC);
}

static void reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* EOF: the exec happened. Otherwise the child's failure, logged. */
static int wait_exec(const struct proc_launch_spec *spec, int fd)
{
	struct step_failure f;
	ssize_t r;

	do
		r = read(fd, &f, sizeof(f));
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return 0;
	if (r != (ssize_t)sizeof(f) || f.step < 0 || f.step >= STEP__MAX ||
	    f.err <= 0) {
		log_error("launching %s: the child died before exec", spec->path);
		return -ECHILD;
	}
	log_error("launching %s: %s: %s", spec->path, step_name[f.step],
		  strerror(f.err));
	return -f.err;
}

int proc_launch(const struct proc_launch_spec *spec, struct proc_child *child)
{
	struct launch_plan lp;
	struct clone_args ca;
	int pidfd = -1, err;
	long pid;

	child->pid = -1;
	child->pidfd = -1;
	err = check_spec(spec);
	if (err)
		return err;
	err = plan_init(&lp, spec);
	if (err)
		goto out;

	memset(&ca, 0, sizeof(ca));
	ca.flags = CLONE_NEWPID | CLONE_PIDFD;
	ca.pidfd = (uintptr_t)&pidfd;
	ca.exit_signal = SIGCHLD;
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0) {
		err = -errno;
		log_error("launching %s: clone3(CLONE_NEWPID|CLONE_PIDFD): %s",
			  spec->path, strerror(errno));
		goto out;
	}
	if (pid == 0)
		child_exec(&lp);

	close(lp.err_pipe[1]);
	lp.err_pipe[1] = -1;
	err = wait_exec(spec, lp.err_pipe[0]);
	if (err) {
		reap((pid_t)pid);
		close(pidfd);
		goto out;
	}
	child->pid = (pid_t)pid;
	child->pidfd = pidfd;
out:
	plan_free(&lp);
	return err;
}

int proc_kill(struct proc_child *child)
{
	siginfo_t si;
	int err = 0;

	if (!child || child->pidfd < 0)
		return 0;
	if (syscall(SYS_pidfd_send_signal, child->pidfd, SIGKILL, NULL, 0) < 0 &&
	    errno != ESRCH)
		log_warn("pidfd_send_signal pid %d: %s", (int)child->pid,
			 strerror(errno));
	memset(&si, 0, sizeof(si));
	while (waitid(P_PIDFD, (id_t)child->pidfd, &si, WEXITED) < 0) {
		if (errno == EINTR)
			continue;
		err = -errno;
		log_error("waitid pid %d: %s", (int)child->pid, strerror(errno));
		break;
	}
	close(child->pidfd);
	child->pidfd = -1;
	if (err)
		return err;
	if (si.si_code == CLD_EXITED)
		return W_EXITCODE(si.si_status, 0);
	return si.si_status & 0x7f;       /* killed: the signal, as wait() */
}

/* -ESRCH, not logged, when the process is on its way out: its
 * namespaces go before its parent hears of its end. */
static int open_netns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT)
		return -ESRCH;
	if (fd < 0)
		log_error("open %s: %s", path, strerror(errno));
	return fd < 0 ? -errno : fd;
}

int proc_netns_socket(pid_t pid, int domain, int type)
{
	char path[64];
	int self, target, fd, err = 0;

	self = open_netns("/proc/thread-self/ns/net");
	if (self < 0)
		return self;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	target = open_netns(path);
	if (target < 0) {
		close(self);
		return target;
	}
	if (setns(target, CLONE_NEWNET) < 0) {
		err = -errno;
		log_error("setns %s: %s", path, strerror(errno));
		goto out;
	}
	fd = socket(domain, type | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		log_error("socket in %s: %s", path, strerror(errno));
	}
	/*
	 * This thread would otherwise serve the daemon from inside the
	 * program's namespace: there is no way on from a failed return.
	 */
	if (setns(self, CLONE_NEWNET) < 0) {
		log_error("setns back to the daemon's network namespace: %s",
			  strerror(errno));
		abort();
	}
	if (!err)
		err = fd;
out:
	close(target);
	close(self);
	return err;
}

int proc_connect(pid_t pid, uint16_t port)
{
	return proc_connect_from(pid, port, 0);
}

uint16_t proc_conn_port(uint64_t conn_id)
{
	return (uint16_t)(PROC_CONN_PORT_MIN +
			  conn_id % PROC_CONN_PORT_COUNT);
}

/* Binds fd to 127.0.0.1:local_port. SO_REUSEADDR: an earlier connection
 * from that port may still be in TIME_WAIT on our side. */
static int bind_local(int fd, uint16_t local_port)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(local_port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int one = 1;

	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		int err = -errno;

		log_error("bind to local port %u: %s", (unsigned)local_port,
			  strerror(-err));
		return err;
	}
	return 0;
}

int proc_connect_from(pid_t pid, uint16_t port, uint16_t local_port)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd, err;

	fd = proc_netns_socket(pid, AF_INET, SOCK_STREAM);
	if (fd < 0)
		return fd;
	if (local_port) {
		err = bind_local(fd, local_port);
		if (err < 0) {
			close(fd);
			return err;
		}
	}
	while (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		/* Interrupted, the connect goes on: retrying says when done. */
		if (errno == EINTR || errno == EALREADY)
			continue;
		if (errno == EISCONN)
			break;
		err = -errno;
		if (errno != ECONNREFUSED)
			log_error("connect to port %u of pid %d: %s",
				  (unsigned)port, (int)pid, strerror(errno));
		close(fd);
		return err;
	}
	return fd;
}

int proc_connect_from_nonblock(pid_t pid, uint16_t port, uint16_t local_port)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd, err;

	fd = proc_netns_socket(pid, AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
	if (fd < 0)
		return fd;
	err = local_port ? bind_local(fd, local_port) : 0;
	if (err == 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 &&
	    errno != EINPROGRESS) {
		err = -errno;
		log_error("connect to port %u of pid %d: %s", (unsigned)port,
			  (int)pid, strerror(errno));
	}
	if (err < 0) {
		close(fd);
		return err;
	}
	return fd;
}
