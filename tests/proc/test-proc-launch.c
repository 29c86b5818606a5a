// SPDX-License-Identifier: MIT
/*
 * proc-launch, seen from inside the launched program (proc-target): PID 1
 * of its namespace, only lo, / read-only and /tmp writable, a fixed host
 * name, fork let through and vfork/clone3/exec refused by the shim's
 * filter; two launches have
 * the same memory map (ASLR off); and a launch that cannot happen says so.
 *
 * Usage: test-proc-launch PROC-TARGET COLO-SHIM.SO
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "proc-fixture.h"
#include "proc-maps.h"

static char *read_maps_text(pid_t pid)
{
	static char buf[2][256 * 1024];
	static int which;
	char path[64];
	char *out = buf[which++ % 2];
	size_t n = 0;
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	while ((r = read(fd, out + n, sizeof(buf[0]) - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	out[n] = '\0';
	return out;
}

static void check_sandbox(const char *reply)
{
	char expect[256];

	fprintf(stderr, "target: %s", reply);
	CHECK(strstr(reply, "pid=1 "));
	/* fork works (a child is each side's own), vfork shares memory
	 * without being a thread: refused, as exec is. */
	snprintf(expect, sizeof(expect), " fork=0 vfork=%d clone3=%d exec=%d "
		 "root=%d tmp=0 net=%d ifs=lo host=%s\n", EPERM, ENOSYS, EPERM,
		 EROFS, ENETUNREACH, PROC_LAUNCH_HOSTNAME);
	CHECK(strstr(reply, expect));
}

/* Built from scratch: nothing of ours (our PATH, COLO_TEST_NOT_INHERITED,
 * our umask) leaks. */
static void check_env(const char *reply, const char *shim)
{
	char expect[1024];

	snprintf(expect, sizeof(expect), "PATH=%s;LANG=C;HOME=/;LD_PRELOAD=%s;"
		 "cwd=/tmp umask=022 domain=(none)\n", PROC_LAUNCH_PATH, shim);
	fprintf(stderr, "target: %s", reply);
	CHECK(!strcmp(reply, expect));
}

static void test_sandbox_and_same_maps(const char *target, const char *shim)
{
	const char *args[] = { "7070", NULL };
	struct proc_launch_spec spec = { target, args, shim };
	struct proc_child a, b;
	char reply[512], *ma, *mb;
	int fa, fb;

	fixture_launch(&spec, &a);
	fixture_launch(&spec, &b);
	CHECK(a.pid != b.pid);
	fa = fixture_connect(a.pid, TARGET_PORT);
	fb = fixture_connect(b.pid, TARGET_PORT);
	fixture_ask(fa, "checks\n", reply, sizeof(reply), 1);
	check_sandbox(reply);
	fixture_ask(fb, "checks\n", reply, sizeof(reply), 1);
	check_sandbox(reply);
	fixture_ask(fa, "env\n", reply, sizeof(reply), 1);
	check_env(reply, shim);

	/* The same steps on both: the same map, to the byte. */
	ma = read_maps_text(a.pid);
	mb = read_maps_text(b.pid);
	if (strcmp(ma, mb))
		fprintf(stderr, "maps differ:\n%s\n---\n%s\n", ma, mb);
	CHECK(!strcmp(ma, mb));
	/* With ASLR off the main stack sits at the top of the lower half. */
	CHECK(strstr(ma, "7ffffffde000-7ffffffff000"));

	/* Killed while it waits for a command (it would exit at EOF). */
	CHECK_EQ(proc_kill(&a), SIGKILL);
	CHECK_EQ(proc_kill(&b), SIGKILL);
	close(fa);
	close(fb);
	CHECK_EQ(a.pidfd, -1);
}

/* Launches that cannot happen fail before any clone, naming the file. */
static void test_refusals(const char *shim)
{
	struct proc_launch_spec missing = { "/nonexistent/program", NULL, shim };
	struct proc_launch_spec relative = { "bin/true", NULL, shim };
	struct proc_launch_spec noshim = { "/bin/true", NULL, "/nonexistent.so" };
	struct proc_child c;

	CHECK_EQ(proc_launch(&missing, &c), -ENOENT);
	CHECK_EQ(c.pidfd, -1);
	CHECK_EQ(proc_launch(&relative, &c), -EINVAL);
	CHECK_EQ(proc_launch(&noshim, &c), -ENOENT);
	CHECK_EQ(proc_kill(&c), 0);     /* nothing to kill: a no-op */
}

/* cp src dst, executable. */
static void copy_file(const char *src, const char *dst)
{
	char buf[65536];
	int in = open(src, O_RDONLY), out;
	ssize_t r;

	CHECK(in >= 0);
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	CHECK(out >= 0);
	while ((r = read(in, buf, sizeof(buf))) > 0)
		CHECK_EQ(write(out, buf, (size_t)r), r);
	CHECK_EQ(r, 0);
	close(in);
	close(out);
}

/*
 * A build tree under /tmp (a fresh clone there): the program's /tmp is an
 * empty tmpfs, yet its own file and the shim are bound back at the same
 * paths, and nothing else of the host's /tmp shows.
 */
static void test_program_under_tmp(const char *target, const char *shim)
{
	char dir[] = "/tmp/colo-launch-XXXXXX", prog[64], lib[64], reply[512];
	const char *args[] = { "7070", NULL };
	struct proc_launch_spec spec = { prog, args, lib };
	struct proc_child c;
	int fd;

	CHECK(mkdtemp(dir));
	snprintf(prog, sizeof(prog), "%s/target", dir);
	snprintf(lib, sizeof(lib), "%s/lib/shim.so", dir);
	copy_file(target, prog);
	CHECK_EQ(chmod(dir, 0755), 0);
	snprintf(reply, sizeof(reply), "%s/lib", dir);
	CHECK_EQ(mkdir(reply, 0755), 0);
	copy_file(shim, lib);
	fixture_launch(&spec, &c);
	fd = fixture_connect(c.pid, TARGET_PORT);
	fixture_ask(fd, "checks\n", reply, sizeof(reply), 1);
	check_sandbox(reply);
	fixture_ask(fd, "env\n", reply, sizeof(reply), 1);
	check_env(reply, lib);
	/* Killed while it waits for a command (it would exit at EOF). */
	CHECK_EQ(proc_kill(&c), SIGKILL);
	close(fd);
	unlink(lib);
	snprintf(reply, sizeof(reply), "%s/lib", dir);
	rmdir(reply);
	unlink(prog);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	CHECK_EQ(argc, 3);
	umask(077);             /* the program gets 022 whatever ours is */
	fixture_require_root();
	test_require_dirtylog();
	setenv("COLO_TEST_NOT_INHERITED", "1", 1);
	test_refusals(argv[2]);
	test_sandbox_and_same_maps(argv[1], argv[2]);
	test_program_under_tmp(argv[1], argv[2]);
	return 0;
}
