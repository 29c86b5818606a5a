// SPDX-License-Identifier: MIT
/*
 * proc-identity on a running /bin/sleep: its files are the binary, the
 * loader and libc, each digest that of the file; the bytes round-trip and
 * every truncation or changed count is refused; the check accepts the
 * identity it was made from and names the kernel, the machine, the CPU,
 * a file that differs and a file missing here when one of them changes.
 */
#include <errno.h>
#include <limits.h>
#include <time.h>

#include "digest.h"
#include "proc-identity.h"
#include "proc-maps.h"
#include "tap.h"

static pid_t start_sleep(void)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Before exec the child's map is the test's; after it, until the loader
 * has mapped libc, the map shows sleep without it. */
static void wait_for_libc(pid_t pid, const char *sleep_path)
{
	for (int tries = 0; tries < 500; tries++) {
		struct proc_maps m;
		bool libc = false, sleep = false;

		if (proc_maps_read(pid, &m) == 0) {
			for (size_t i = 0; i < m.n; i++) {
				libc |= strstr(m.vma[i].path, "/libc.so") != NULL;
				sleep |= !strcmp(m.vma[i].path, sleep_path);
			}
			proc_maps_free(&m);
			if (libc && sleep)
				return;
		}
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	CHECK(!"sleep never mapped libc");
}

static const struct proc_identity_file *find(const struct proc_identity *id,
					     const char *suffix)
{
	for (size_t i = 0; i < id->nfiles; i++) {
		size_t n = strlen(id->files[i].path), k = strlen(suffix);

		if (n >= k && !strcmp(id->files[i].path + n - k, suffix))
			return &id->files[i];
	}
	return NULL;
}

static void test_files(const struct proc_identity *id, const char *sleep_path)
{
	const struct proc_identity_file *f;
	uint8_t d[DIGEST_LEN];

	CHECK(find(id, sleep_path));
	CHECK(find(id, "/libc.so.6"));
	CHECK((f = find(id, "/ld-linux-x86-64.so.2")));
	CHECK_EQ(digest_file(f->path, d), 0);
	CHECK(!memcmp(d, f->sha256, DIGEST_LEN));
	for (size_t i = 0; i < id->nfiles; i++)
		for (size_t j = i + 1; j < id->nfiles; j++)
			CHECK(strcmp(id->files[i].path, id->files[j].path));
	CHECK(id->kernel[0] && id->machine[0]);
}

static void check_equal(const struct proc_identity *a,
			const struct proc_identity *b)
{
	CHECK(!strcmp(a->kernel, b->kernel));
	CHECK(!strcmp(a->machine, b->machine));
	CHECK(!memcmp(a->cpu, b->cpu, sizeof(a->cpu)));
	CHECK_EQ(a->nfiles, b->nfiles);
	for (size_t i = 0; i < a->nfiles; i++) {
		CHECK(!strcmp(a->files[i].path, b->files[i].path));
		CHECK(!memcmp(a->files[i].sha256, b->files[i].sha256, 32));
	}
}

static void refused(const uint8_t *buf, size_t len)
{
	struct proc_identity out;
	char why[256] = "";

	CHECK_EQ(proc_identity_decode(buf, len, &out, why, sizeof(why)),
		 -EPROTO);
	CHECK(why[0]);
	CHECK(!out.files && !out.nfiles);
}

/* Every truncation, and every byte of a length or count flipped. */
static void test_wire(const struct proc_identity *id)
{
	struct proc_identity back;
	uint8_t *buf, *copy;
	size_t len, at;
	char why[256];

	CHECK_EQ(proc_identity_encode(id, &buf, &len), 0);
	CHECK_EQ(proc_identity_decode(buf, len, &back, why, sizeof(why)), 0);
	check_equal(id, &back);
	proc_identity_free(&back);

	for (size_t n = 0; n < len; n++)
		refused(buf, n);
	copy = malloc(len + 1);
	CHECK(copy);
	memcpy(copy, buf, len);
	copy[len] = 0;
	refused(copy, len + 1);

	/* The offsets of each length field, walking the encoding. */
	size_t fields[2 + 1 + PROC_IDENTITY_MAX_FILES], nf = 0;
	at = 0;
	fields[nf++] = at;
	at += 2 + strlen(id->kernel);
	fields[nf++] = at;
	at += 2 + strlen(id->machine) + 32;
	fields[nf++] = at;      /* the file count, 4 bytes */
	at += 4;
	for (size_t i = 0; i < id->nfiles; i++) {
		fields[nf++] = at;
		at += 2 + strlen(id->files[i].path) + 32;
	}
	CHECK_EQ(at, len);
	for (size_t i = 0; i < nf; i++) {
		size_t width = i == 2 ? 4 : 2;

		for (size_t b = 0; b < width; b++) {
			memcpy(copy, buf, len);
			copy[fields[i] + b] ^= 0xff;
			refused(copy, len);
		}
	}
	free(copy);
	free(buf);
}

/* Hand-made inputs, one broken rule each. */
static void test_rules(void)
{
	static const uint8_t cpu[32];
	struct proc_identity id = { .kernel = "6.1 #1", .machine = "x86_64" };
	struct proc_identity_file f = { .path = (char *)"/lib/x.so" };
	uint8_t *buf;
	size_t len;

	memcpy(id.cpu, cpu, 32);
	id.files = &f;
	id.nfiles = 1;
	CHECK_EQ(proc_identity_encode(&id, &buf, &len), 0);
	CHECK_EQ(len, 2 + 6 + 2 + 6 + 32 + 4 + 2 + 9 + 32);
	buf[2 + 6 + 2 + 6 + 32 + 4 + 2] = 'l';          /* not absolute */
	refused(buf, len);
	buf[2 + 6 + 2 + 6 + 32 + 4 + 2] = '/';
	buf[2 + 3] = '\0';                              /* NUL in the kernel */
	refused(buf, len);
	free(buf);

	f.path = (char *)"";
	CHECK_EQ(proc_identity_encode(&id, &buf, &len), 0);
	refused(buf, len);                              /* empty path */
	free(buf);

	id.nfiles = PROC_IDENTITY_MAX_FILES + 1;
	CHECK_EQ(proc_identity_encode(&id, &buf, &len), -E2BIG);
	id.nfiles = 0;
	CHECK_EQ(proc_identity_encode(&id, &buf, &len), 0);
	buf[len - 1] = PROC_IDENTITY_MAX_FILES + 1 - 256;  /* count 257 */
	buf[len - 2] = 1;
	refused(buf, len);
	free(buf);
}

static void expect_reason(const struct proc_identity *id, const char *what)
{
	char reason[256] = "";

	CHECK_EQ(proc_identity_check(id, reason, sizeof(reason)), -EPROTO);
	if (!strstr(reason, what)) {
		fprintf(stderr, "reason \"%s\" does not name \"%s\"\n", reason,
			what);
		exit(1);
	}
}

static void test_check(struct proc_identity *id)
{
	struct proc_identity_file *f = &id->files[id->nfiles - 1];
	char reason[256] = "", kernel[sizeof(id->kernel)], *path;

	CHECK_EQ(proc_identity_check(id, reason, sizeof(reason)), 0);

	memcpy(kernel, id->kernel, sizeof(kernel));
	snprintf(id->kernel, sizeof(id->kernel), "1.2.3-other #7");
	expect_reason(id, "kernel");
	expect_reason(id, "1.2.3-other #7");
	memcpy(id->kernel, kernel, sizeof(kernel));

	id->machine[0] ^= 1;
	expect_reason(id, "machine");
	id->machine[0] ^= 1;

	id->cpu[17] ^= 0x40;
	expect_reason(id, "CPU");
	id->cpu[17] ^= 0x40;

	f->sha256[0] ^= 1;
	expect_reason(id, f->path);
	expect_reason(id, "differs");
	f->sha256[0] ^= 1;

	path = f->path;
	f->path = (char *)"/nonexistent/colo-test/libgone.so.1";
	expect_reason(id, "/nonexistent/colo-test/libgone.so.1");
	expect_reason(id, "missing");
	f->path = path;

	CHECK_EQ(proc_identity_check(id, reason, sizeof(reason)), 0);
}

int main(void)
{
	struct proc_identity id, gone;
	char sleep_path[PATH_MAX];
	pid_t pid;
	int status;

	CHECK(realpath("/bin/sleep", sleep_path));
	pid = start_sleep();
	wait_for_libc(pid, sleep_path);
	CHECK_EQ(proc_identity_of(pid, &id), 0);
	kill(pid, SIGKILL);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(proc_identity_of(pid, &gone) < 0);        /* reaped: an error */
	CHECK(!gone.files && !gone.nfiles);

	test_files(&id, sleep_path);
	test_wire(&id);
	test_check(&id);
	proc_identity_free(&id);
	test_rules();
	return 0;
}
