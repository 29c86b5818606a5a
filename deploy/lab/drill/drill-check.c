// SPDX-License-Identifier: MIT
/*
 * After a drill: did the serving side keep every write a client was told
 * about? GET drill:counter must be at least every acknowledged INCR reply,
 * and GET drill:k:<i> must return the value of every acknowledged SET.
 * The GETs are pipelined, a batch at a time.
 */
#include "drill-check.h"
#include "drill-client.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_BATCH 64
#define CHECK_TIMEOUT_MS 10000

static int check_sets(struct resp_conn *c, const struct writer *w,
		      struct drill_check *out)
{
	size_t i = 0, n = w->set_cap, batch[CHECK_BATCH], nb, k;
	char buf[CHECK_BATCH * 64], key[48], want[96];
	struct resp_reply r;
	size_t len;
	int ret;

	while (i < n) {
		len = 0;
		nb = 0;
		for (; i < n && nb < CHECK_BATCH; i++) {
			if (!w->set_ok[i])
				continue;
			snprintf(key, sizeof(key), "drill:k:%zu", i);
			const char *argv[] = { "GET", key };

			ret = resp_format(buf, sizeof(buf), &len, 2, argv);
			if (ret < 0)
				return ret;
			batch[nb++] = i;
		}
		if (!nb)
			break;
		ret = resp_write(c, buf, len);
		for (k = 0; ret == 0 && k < nb; k++) {
			ret = resp_read(c, CHECK_TIMEOUT_MS, &r);
			if (ret < 0)
				break;
			snprintf(want, sizeof(want), "v%zu-%s", batch[k],
				 w->tag);
			out->sets_checked++;
			if (r.type == RESP_BULK && !strcmp(r.str, want))
				continue;
			if (!out->lost_sets++)
				snprintf(out->first_lost, sizeof(out->first_lost),
					 "GET drill:k:%zu is %s%.64s%s, acknowledged %.64s",
					 batch[k],
					 r.type == RESP_BULK ? "'" : "",
					 r.type == RESP_BULK ? r.str :
					 r.type == RESP_NIL ? "(nil)" : "an error",
					 r.type == RESP_BULK ? "'" : "", want);
		}
		if (ret < 0)
			return ret;
	}
	return 0;
}

int drill_check(const char *service, const struct writer *w,
		struct drill_check *out)
{
	const char *argv[] = { "GET", "drill:counter" };
	struct resp_conn c;
	struct resp_reply r;
	int ret;

	memset(out, 0, sizeof(*out));
	out->counter = -1;
	ret = resp_connect(&c, service, 2000);
	if (ret < 0) {
		snprintf(out->error, sizeof(out->error),
			 "cannot connect to %s: %s", service, strerror(-ret));
		return ret;
	}
	ret = resp_call(&c, CHECK_TIMEOUT_MS, &r, 2, argv);
	if (ret == 0 && r.type == RESP_BULK) {
		char *end;

		out->counter = strtoll(r.str, &end, 10);
		if (end == r.str || *end)
			out->counter = -1;
	} else if (ret == 0 && r.type == RESP_NIL) {
		out->counter = 0;
	}
	/* Every acknowledged INCR whose value the counter does not reach is
	 * a lost write. */
	for (uint64_t i = 0; ret == 0 && i < w->incr_acked; i++)
		if (w->incr[i] > out->counter)
			out->lost_incrs++;
	if (ret == 0)
		ret = check_sets(&c, w, out);
	resp_close(&c);
	if (ret < 0)
		snprintf(out->error, sizeof(out->error), "reading back from %s: %s",
			 service, strerror(-ret));
	return ret;
}
