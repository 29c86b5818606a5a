/* SPDX-License-Identifier: MIT */
/*
 * The drill's view of the lab (drill-lab.c): lab.env, colo-lab's commands,
 * the daemons' status over their control sockets.
 */
#ifndef COLO_DRILL_LAB_H
#define COLO_DRILL_LAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LAB_MAX_VARS 128

struct lab {
	char dir[512];
	size_t nvars;
	char *key[LAB_MAX_VARS], *val[LAB_MAX_VARS];
};

int lab_load(struct lab *lab, const char *dir);
void lab_free(struct lab *lab);
/* The value of KEY, "" when missing. */
const char *lab_get(const struct lab *lab, const char *key);
/* Host-specific: lab_host(lab, "A", "PID") is HOST_A_PID. */
const char *lab_host(const struct lab *lab, const char *host, const char *k);
/* Run a program (argv[0] by path) with output into DIR/logs/drill.log;
 * returns its exit status, or -errno. */
int lab_run(const struct lab *lab, const char *const argv[]);
/* colo-lab --lab DIR CMD [ARG...] (NULL-terminated), then re-read lab.env. */
int lab_cmd(struct lab *lab, const char *cmd, ...);
/* Start a program without waiting (same output); its pid or -errno. */
int lab_spawn(const struct lab *lab, const char *const argv[]);

/* role and state of a daemon; false when its socket does not answer. */
bool lab_status(const char *ctl, char *role, size_t rsz, char *state,
		size_t ssz);
/* Poll until state matches (role too, unless NULL) or timeout; returns
 * the time it matched, or -1 (role/state then hold the last seen). */
int64_t lab_wait_state(const char *ctl, const char *role, const char *state,
		       int timeout_ms, int poll_ms);
/* Alive and not a zombie. */
bool lab_pid_alive(int pid);

/* Sleep ms, whatever signals come. */
void drill_sleep_ms(int64_t ms);

#endif
