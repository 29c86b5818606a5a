// SPDX-License-Identifier: MIT
/*
 * Landing the fault inside a checkpoint. A checkpoint of a quiet 64 MiB
 * guest pauses it for half a millisecond, too short to hit, so first some
 * ballast: 256 SETs of 32 KiB dirty 8 MiB of guest RAM, which the next
 * checkpoint has to send (tens of ms over the lab's TLS link). Then the
 * checkpoint is asked for on the control socket directly, without waiting
 * for the reply, and the fault follows a few ms later. Whether the reply
 * came afterwards tells whether the fault cut the checkpoint short.
 */
#include "drill-run.h"
#include "drill-client.h"
#include "client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BALLAST_KEYS 256
#define BALLAST_BYTES (32 * 1024)
#define BALLAST_BATCH 16

int drill_ballast(struct drill *d)
{
	size_t cap = BALLAST_BATCH * (BALLAST_BYTES + 128), len, fill;
	char *buf = malloc(cap), *val = malloc(BALLAST_BYTES + 1), key[48];
	struct resp_conn c;
	struct resp_reply r;
	int ret, j, k;

	if (!buf || !val) {
		ret = -ENOMEM;
		goto out_free;
	}
	ret = resp_connect(&c, d->p.service, 2000);
	if (ret < 0)
		goto out_free;
	for (j = 0; ret == 0 && j < BALLAST_KEYS; j += BALLAST_BATCH) {
		len = 0;
		for (k = j; ret == 0 && k < j + BALLAST_BATCH; k++) {
			/* New bytes every drill, so every page is dirtied. */
			for (fill = 0; fill < BALLAST_BYTES;)
				fill += (size_t)snprintf(val + fill,
					BALLAST_BYTES + 1 - fill, "%d-%s;", k,
					d->w.tag);
			val[BALLAST_BYTES] = '\0';
			snprintf(key, sizeof(key), "drill:ballast:%d", k);
			const char *argv[] = { "SET", key, val };

			ret = resp_format(buf, cap, &len, 3, argv);
		}
		if (ret == 0)
			ret = resp_write(&c, buf, len);
		for (k = 0; ret == 0 && k < BALLAST_BATCH; k++)
			ret = resp_read(&c, 10000, &r);
	}
	resp_close(&c);
out_free:
	free(buf);
	free(val);
	return ret;
}

int drill_ckpt_request(const char *ctl)
{
	static const char req[] = "{\"execute\":\"checkpoint\"}\n";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(ctl) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, ctl, strlen(ctl) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

int drill_ckpt_outcome(int fd, int timeout_ms)
{
	char buf[4096];
	size_t len = 0;
	int64_t end = cli_now_ms() + timeout_ms;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = end - cli_now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (memchr(buf, '\n', len) || len == sizeof(buf) - 1)
			break;
	}
	close(fd);
	buf[len] = '\0';
	if (strstr(buf, "\"return\""))
		return 1;
	return len ? -1 : 0;
}
