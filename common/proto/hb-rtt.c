// SPDX-License-Identifier: MIT
/* The link's round trip from the heartbeats (hb-rtt.h). */
#include "hb-rtt.h"

#include <stdatomic.h>
#include <time.h>

/* Longer is no round trip but a peer that misbehaves. */
#define RTT_MAX_US (60ULL * 1000 * 1000)

uint64_t hb_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000 + 1;
}

void hb_rtt_reset(struct hb_rtt *r)
{
	r->peer_stamp_us = r->peer_rx_us = 0;
	atomic_store(&r->rtt_us, -1);
}

void hb_rtt_stamp(struct hb_rtt *r, struct proto_heartbeat *h)
{
	uint64_t now = hb_now_us();

	h->stamp_us = now;
	h->echo_us = r->peer_stamp_us;
	h->held_us = r->peer_stamp_us ? now - r->peer_rx_us : 0;
}

void hb_rtt_received(struct hb_rtt *r, const struct proto_heartbeat *h)
{
	uint64_t now = hb_now_us();

	r->peer_stamp_us = h->stamp_us;
	r->peer_rx_us = now;
	if (!h->echo_us || h->echo_us > now || h->held_us > now - h->echo_us)
		return;
	if (now - h->echo_us - h->held_us <= RTT_MAX_US)
		atomic_store(&r->rtt_us,
			     (int64_t)(now - h->echo_us - h->held_us));
}

int64_t hb_rtt_us(const struct hb_rtt *r)
{
	return atomic_load(&r->rtt_us);
}
