// SPDX-License-Identifier: MIT
/*
 * Watching live sync until the pair is protected: `protect --wait` and
 * `status --watch`. The events say when it ends (PROTECTED, or
 * SYNC_FAILED with the reason); `status`, asked twice a second, says how
 * far it is. On a terminal the progress is one bar redrawn in place,
 * otherwise a plain line each time it changes:
 *
 *   syncing 43 % 512/1190 MiB 220 MiB/s eta 3 s
 */
#include "client.h"
#include "subcommands.h"

#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define POLL_MS 500
#define BAR_WIDTH 30

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

void cli_catch_interrupt(void)
{
	struct sigaction sa = { .sa_handler = on_interrupt };

	/* No SA_RESTART: the wait in poll() must end on the signal. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

bool cli_interrupted(void)
{
	return interrupted;
}

struct watch {
	bool tty;
	char last[160];        /* the line printed last (not on a tty) */
};

/* "syncing 43 % 512/1190 MiB 220 MiB/s eta 3 s" into line; the percent. */
static double progress_line(struct json_object *pr, const char *state,
			    char *line, size_t size)
{
	struct json_object *eta;
	uint64_t sent = 0, left = 0;
	double pct = 0, rate = 0;
	char etab[32] = "-";

	cli_get_u64(pr, "bytes_sent", &sent);
	cli_get_u64(pr, "bytes_remaining", &left);
	cli_get_double(pr, "percent", &pct);
	cli_get_double(pr, "mib_per_s", &rate);
	if (json_object_object_get_ex(pr, "eta_s", &eta) && eta)
		snprintf(etab, sizeof(etab), "%.0f s",
			 json_object_get_double(eta));
	snprintf(line, size, "%s %.0f %% %llu/%llu MiB %.0f MiB/s eta %s",
		 state, pct, (unsigned long long)(sent >> 20),
		 (unsigned long long)((sent + left) >> 20), rate, etab);
	return pct < 0 ? 0 : pct > 100 ? 100 : pct;
}

/* The progress, as a bar or a line; the state alone when status has no
 * progress (connecting, or a secondary's syncing). */
static void print_progress(struct watch *w, struct json_object *st)
{
	struct json_object *state, *pr;
	char line[sizeof(w->last)];
	const char *name;
	int fill = -1;

	name = json_object_object_get_ex(st, "state", &state) ?
	       json_object_get_string(state) : "?";
	if (json_object_object_get_ex(st, "sync_progress", &pr))
		fill = (int)(progress_line(pr, name, line, sizeof(line)) *
			     BAR_WIDTH / 100);
	else
		snprintf(line, sizeof(line), "%s", name);
	if (w->tty && fill >= 0)
		printf("\r[%.*s%*s] %s\033[K", fill,
		       "##############################", BAR_WIDTH - fill, "",
		       line);
	else if (w->tty)
		printf("\r%s\033[K", line);
	else if (strcmp(line, w->last))
		printf("%s\n", line);
	snprintf(w->last, sizeof(w->last), "%s", line);
	fflush(stdout);
}

/* An event that ends the wait: 0 protected, 1 failed, -1 neither. */
static int ending_event(const char *line, bool tty)
{
	struct json_object *ev = json_tokener_parse(line), *name, *data, *e;
	int rc = -1;

	if (ev && json_object_object_get_ex(ev, "event", &name)) {
		const char *n = json_object_get_string(name);

		if (!strcmp(n, "PROTECTED")) {
			printf(tty ? "\rcolo\033[K\n" : "colo\n");
			rc = 0;
		} else if (!strcmp(n, "SYNC_FAILED")) {
			if (tty)
				putchar('\n');
			fprintf(stderr, "colo-ctl: not protected: %s\n",
				json_object_object_get_ex(ev, "data", &data) &&
				json_object_object_get_ex(data, "error", &e) ?
				json_object_get_string(e) : "(no reason given)");
			rc = 1;
		}
	}
	json_object_put(ev);
	return rc;
}

/*
 * Asks status: 0 already colo, 1 nothing will come of waiting (standalone
 * and no dial planned, or status failed), -1 go on.
 */
static int poll_status(const struct cli *cli, struct watch *w)
{
	struct json_object *st, *m, *why;
	const char *state;
	int rc = -1;

	if (cli_call(cli, "status", NULL, &st))
		return 1;
	state = json_object_object_get_ex(st, "state", &m) ?
		json_object_get_string(m) : "";
	if (!strcmp(state, "colo")) {
		printf(w->tty ? "\rcolo\033[K\n" : "colo\n");
		rc = 0;
	} else if (!strcmp(state, "standalone") &&
		   json_object_object_get_ex(st, "next_dial_in_ms", &m) &&
		   json_object_get_int64(m) < 0) {
		const char *e = json_object_object_get_ex(st, "last_error",
							  &why) ?
				json_object_get_string(why) : "";

		fprintf(stderr, "colo-ctl: standalone and not dialling a "
			"secondary%s%s\n", *e ? ": " : "", e);
		rc = 1;
	} else {
		print_progress(w, st);
	}
	json_object_put(st);
	return rc;
}

int cli_watch_sync(const struct cli *cli, struct cli_stream *ev)
{
	struct watch w = { .tty = isatty(STDOUT_FILENO) };
	int64_t next = 0;
	char *line;
	int rc;

	for (;;) {
		int64_t now = cli_now_ms();

		if (now >= next) {
			rc = poll_status(cli, &w);
			if (rc >= 0)
				return rc;
			next = now + POLL_MS;
			continue;
		}
		rc = cli_stream_next(ev, (int)(next - now), &line);
		if (rc > 0) {
			rc = ending_event(line, w.tty);
			if (rc >= 0)
				return rc;
		} else if (rc == -ECONNRESET) {
			fprintf(stderr, "colo-ctl: the daemon closed the "
				"connection\n");
			return CLI_EXIT_FAIL;
		} else if (rc < 0 && cli_interrupted()) {
			if (w.tty)
				putchar('\n');
			fprintf(stderr, "colo-ctl: interrupted\n");
			return CLI_EXIT_FAIL;
		} else if (rc < 0 && rc != -EINTR) {
			fprintf(stderr, "colo-ctl: events: %s\n", strerror(-rc));
			return CLI_EXIT_FAIL;
		}
	}
}
