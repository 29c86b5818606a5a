// SPDX-License-Identifier: MIT
/*
 * The drill's view of the lab: DIR/lab.env as colo-lab writes it (KEY=VALUE,
 * one a line, no quoting), colo-lab's commands run as child processes with
 * their output in DIR/logs/drill.log, and the daemons' status over their
 * control sockets.
 */
#include "drill-lab.h"
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

void drill_sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void lab_free(struct lab *lab)
{
	for (size_t i = 0; i < lab->nvars; i++) {
		free(lab->key[i]);
		free(lab->val[i]);
	}
	lab->nvars = 0;
}

int lab_load(struct lab *lab, const char *dir)
{
	char path[600], line[2048];
	FILE *f;

	lab_free(lab);
	if (dir != lab->dir)
		snprintf(lab->dir, sizeof(lab->dir), "%s", dir);
	snprintf(path, sizeof(path), "%s/lab.env", lab->dir);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '='), *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if (line[0] == '#' || !eq)
			continue;
		if (lab->nvars == LAB_MAX_VARS) {
			fclose(f);
			return -E2BIG;
		}
		*eq = '\0';
		lab->key[lab->nvars] = strdup(line);
		lab->val[lab->nvars] = strdup(eq + 1);
		if (!lab->key[lab->nvars] || !lab->val[lab->nvars]) {
			fclose(f);
			return -ENOMEM;
		}
		lab->nvars++;
	}
	fclose(f);
	return lab->nvars ? 0 : -ENODATA;
}

const char *lab_get(const struct lab *lab, const char *key)
{
	for (size_t i = 0; i < lab->nvars; i++)
		if (!strcmp(lab->key[i], key))
			return lab->val[i];
	return "";
}

const char *lab_host(const struct lab *lab, const char *host, const char *k)
{
	char key[64];

	snprintf(key, sizeof(key), "HOST_%s_%s", host, k);
	return lab_get(lab, key);
}

static int spawn(const struct lab *lab, const char *const argv[])
{
	posix_spawn_file_actions_t fa;
	char log[600];
	pid_t pid;
	int ret;

	snprintf(log, sizeof(log), "%s/logs/drill.log", lab->dir);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, log,
					 O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	ret = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv,
			   environ);
	posix_spawn_file_actions_destroy(&fa);
	return ret ? -ret : pid;
}

int lab_spawn(const struct lab *lab, const char *const argv[])
{
	return spawn(lab, argv);
}

int lab_run(const struct lab *lab, const char *const argv[])
{
	int pid = spawn(lab, argv), st;

	if (pid < 0)
		return pid;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int lab_cmd(struct lab *lab, const char *cmd, ...)
{
	const char *argv[16] = { lab_get(lab, "LAB_SCRIPT"), "--lab", lab->dir,
				 cmd };
	size_t n = 4;
	va_list ap;
	int ret, lret;

	va_start(ap, cmd);
	while (n < 15 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	ret = lab_run(lab, argv);
	lret = lab_load(lab, lab->dir);
	return ret ? ret : lret;
}

bool lab_status(const char *ctl, char *role, size_t rsz, char *state,
		size_t ssz)
{
	struct cli cli = { .socket = ctl, .timeout_ms = 5000 };
	struct json_object *st, *m;
	int saved, devnull, rc;

	/* cli_call says why it failed on stderr; a daemon that is down is
	 * an answer here, not an error. */
	fflush(stderr);
	saved = dup(2);
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (saved >= 0 && devnull >= 0)
		dup2(devnull, 2);
	rc = cli_call(&cli, "status", NULL, &st);
	fflush(stderr);
	if (saved >= 0) {
		dup2(saved, 2);
		close(saved);
	}
	if (devnull >= 0)
		close(devnull);
	if (rc)
		return false;
	snprintf(role, rsz, "%s", json_object_object_get_ex(st, "role", &m) ?
		 json_object_get_string(m) : "");
	snprintf(state, ssz, "%s", json_object_object_get_ex(st, "state", &m) ?
		 json_object_get_string(m) : "");
	json_object_put(st);
	return true;
}

int64_t lab_wait_state(const char *ctl, const char *role, const char *state,
		       int timeout_ms, int poll_ms)
{
	int64_t end = cli_now_ms() + timeout_ms;
	char r[32], s[32];

	do {
		if (lab_status(ctl, r, sizeof(r), s, sizeof(s)) &&
		    !strcmp(s, state) && (!role || !strcmp(r, role)))
			return cli_now_ms();
		drill_sleep_ms(poll_ms);
	} while (cli_now_ms() < end);
	return -1;
}

bool lab_pid_alive(int pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	bool alive = false;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[1])
		alive = p[2] != 'Z' && p[2] != 'X';
	fclose(f);
	return alive;
}
