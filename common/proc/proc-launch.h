/* SPDX-License-Identifier: MIT */
/*
 * Starting an unmodified program the same way on both hosts.
 *
 * The program runs as PID 1 of new PID, network, mount, UTS and IPC
 * namespaces: only `lo`, up; `/` and everything under it read-only, an
 * empty tmpfs on /tmp (the program and shim bound back at their own paths
 * when they live there, as a build tree may); fixed host and domain names; ASLR off; fixed
 * rlimits and umask; an environment built from scratch (a fixed PATH,
 * LANG=C, HOME=/, LD_PRELOAD of the shim); stdin /dev/null, stdout and
 * stderr the daemon's; cwd /tmp. Two launches of the same binary with the
 * same arguments then start with the same memory map and the same thread
 * ids.
 *
 * Needs CAP_SYS_ADMIN (namespaces, mounts). Thread-safe: nothing here
 * keeps state between calls. The program gets SIGKILL when the thread
 * that launched it exits (PR_SET_PDEATHSIG, as guestproc's guests): launch
 * from a thread that lives as long as the program.
 */
#ifndef COLO_PROC_LAUNCH_H
#define COLO_PROC_LAUNCH_H

#include <stdint.h>
#include <sys/types.h>

#define PROC_LAUNCH_HOSTNAME "colo-guest"
#define PROC_LAUNCH_PATH \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/*
 * RLIMIT_NOFILE, soft and hard: above COLO_SHIM_UFFD_FD (shim-abi.h) and
 * redis-server's default need (maxclients 10000 + 32), and at most the
 * hard limit a host without CAP_SYS_RESOURCE may already have.
 */
#define PROC_LAUNCH_NOFILE 10240

struct proc_launch_spec {
	const char *path;               /* the program, an absolute path */
	const char *const *args;        /* argv[1...], NULL-terminated; may be NULL */
	const char *shim;               /* colo-shim.so to preload; NULL: none */
};

struct proc_child {
	pid_t pid;                      /* in the daemon's PID namespace */
	int pidfd;
};

/*
 * Starts the program and returns once it has been exec'd (or failed to
 * be: then the step that failed is logged, e.g. "unshare(CLONE_NEWNET):
 * Operation not permitted", and its -errno returned). The caller owns
 * child->pidfd and must end the program with proc_kill.
 */
int proc_launch(const struct proc_launch_spec *spec, struct proc_child *child);

/*
 * SIGKILL through the pidfd, then reap. Every other process of its PID
 * namespace dies with it. Returns the wait status (>= 0) or -errno;
 * child->pidfd is closed and set to -1 in both cases. NULL-safe.
 */
int proc_kill(struct proc_child *child);

/*
 * A socket of the given type created inside the network namespace of
 * pid (the calling thread enters it for the socket() call only, then
 * returns to its own). Close-on-exec. The fd, or -errno (logged).
 */
int proc_netns_socket(pid_t pid, int domain, int type);

/*
 * A TCP connection to 127.0.0.1:port inside pid's network namespace, made
 * with a blocking connect. The fd, or -errno: -ECONNREFUSED while nothing
 * listens there yet (not logged, the caller retries), others logged.
 */
int proc_connect(pid_t pid, uint16_t port);

/*
 * The same, with the daemon's end bound to 127.0.0.1:local_port first (0:
 * any port, as proc_connect), so that one connection has the same two
 * addresses on both hosts and the fd-table diff can match it (proc-fds.h).
 * A bind that fails is logged and its -errno returned.
 */
int proc_connect_from(pid_t pid, uint16_t port, uint16_t local_port);

/*
 * The same without waiting: the socket is non-blocking and its connect
 * under way (or done already); POLLOUT says it ended, SO_ERROR how. For an
 * event loop, which must not wait on a program that does not accept.
 */
int proc_connect_from_nonblock(pid_t pid, uint16_t port, uint16_t local_port);

/*
 * The daemon's local port for connection conn_id: 61000-65535, above the
 * kernel's default ephemeral range (32768-60999), so that no port the
 * kernel picks for an unbound socket (the program's or ours) takes it. A program that
 * listens in that range is not supported. Ids 4536 apart share a port:
 * the caller keeps fewer live connections than that.
 */
#define PROC_CONN_PORT_MIN 61000
#define PROC_CONN_PORT_COUNT 4536
uint16_t proc_conn_port(uint64_t conn_id);

#endif
