// SPDX-License-Identifier: MIT
/*
 * The link's round trip from heartbeats (hb-rtt.h): two sides, A and B,
 * trade heartbeats by hand. The time B holds A's stamp before answering
 * is left out of A's measure, the time on the "wire" is not; an echo a
 * peer could not have sent (from the future, held longer than it existed)
 * changes nothing; a reset forgets the peer.
 */
#include <stdio.h>
#include <time.h>

#include "hb-rtt.h"
#include "tap.h"

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0)
		;
}

int main(void)
{
	struct hb_rtt a, b;
	struct proto_heartbeat ha = { 0 }, hb = { 0 }, bad;
	int64_t rtt;

	hb_rtt_reset(&a);
	hb_rtt_reset(&b);
	CHECK_EQ(hb_rtt_us(&a), -1);

	/* A's first heartbeat echoes nothing: B learns A's stamp only. */
	hb_rtt_stamp(&a, &ha);
	CHECK(ha.stamp_us != 0);
	CHECK_EQ(ha.echo_us, 0);
	CHECK_EQ(ha.held_us, 0);
	sleep_ms(20);                        /* on the wire */
	hb_rtt_received(&b, &ha);
	CHECK_EQ(hb_rtt_us(&b), -1);

	/* B holds it 300 ms (its heartbeat interval), then answers. */
	sleep_ms(300);
	hb_rtt_stamp(&b, &hb);
	CHECK_EQ(hb.echo_us, ha.stamp_us);
	CHECK(hb.held_us >= 300000);
	hb_rtt_received(&a, &hb);
	rtt = hb_rtt_us(&a);
	/* The wire's 20 ms, not B's 300: however late the scheduler, the
	 * held time is subtracted exactly. */
	CHECK(rtt >= 20000);
	CHECK(rtt < 250000);

	/* Echoes no honest peer sends leave the measure as it was. */
	bad = hb;
	bad.echo_us = hb_now_us() + 1000000;         /* from the future */
	hb_rtt_received(&a, &bad);
	CHECK_EQ(hb_rtt_us(&a), rtt);
	bad = hb;
	bad.held_us = hb_now_us();                   /* held too long */
	hb_rtt_received(&a, &bad);
	CHECK_EQ(hb_rtt_us(&a), rtt);
	bad = hb;
	bad.echo_us = 1;                             /* a minute and more ago */
	bad.held_us = 0;
	hb_rtt_received(&a, &bad);
	CHECK_EQ(hb_rtt_us(&a), rtt);

	/* A new peer: nothing to echo, nothing measured. */
	hb_rtt_reset(&a);
	CHECK_EQ(hb_rtt_us(&a), -1);
	hb_rtt_stamp(&a, &ha);
	CHECK_EQ(ha.echo_us, 0);
	printf("hb-rtt: all checks passed (rtt %lld us)\n", (long long)rtt);
	return 0;
}
