/* SPDX-License-Identifier: MIT */
/*
 * The link's round trip, measured with the heartbeats both sides send
 * anyway (as NTP does with its timestamps): each heartbeat carries the
 * sender's stamp and echoes the peer's last one with how long it was held,
 * so the side that stamped it gets rtt = now - echo - held, free of the
 * heartbeat interval. Both clocks stay each side's own: no sync needed.
 *
 * One per link. stamp and received are called by the thread that owns the
 * link at the time (the primary's migration thread during live sync, its
 * main thread after the join); hb_rtt_us may be read from any thread.
 */
#ifndef COLO_HB_RTT_H
#define COLO_HB_RTT_H

#include <stdint.h>

#include "proto.h"

struct hb_rtt {
	uint64_t peer_stamp_us;         /* the peer's last stamp; 0: none */
	uint64_t peer_rx_us;            /* when it came, on our clock */
	_Atomic int64_t rtt_us;         /* the last measured; -1: none yet */
};

/* The monotonic clock, in microseconds (never 0). */
uint64_t hb_now_us(void);
/* A new connection: nothing heard, nothing measured. */
void hb_rtt_reset(struct hb_rtt *r);
/* Fills h's stamp, echo and held, just before it is sent. */
void hb_rtt_stamp(struct hb_rtt *r, struct proto_heartbeat *h);
/* A heartbeat from the peer: keeps its stamp to echo, and measures when
 * it echoes ours. An echo that would put the round trip below 0 or above
 * a minute (a peer's bad arithmetic, or a hostile one) is ignored. */
void hb_rtt_received(struct hb_rtt *r, const struct proto_heartbeat *h);
/* The last round trip in microseconds, -1 before the first. */
int64_t hb_rtt_us(const struct hb_rtt *r);

#endif
