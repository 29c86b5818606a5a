// SPDX-License-Identifier: MIT
/*
 * colo-primary's options and the tunables table (common/control/
 * tunables.h): defaults from the table, one field per tunable id, and the
 * six the device state carries. The takeover builds a primary's options
 * with these too.
 */
#include <string.h>

#include "primary.h"
#include "tunables.h"

void primary_opts_defaults(struct primary_opts *o)
{
	size_t i;

	memset(o, 0, sizeof(*o));
	for (i = 0; i < TUNABLE__MAX; i++)
		if (tunables[i].flags & TUNABLE_PRIMARY)
			primary_opts_set(o, (enum tunable_id)i,
					 tunables[i].def);
}

void primary_opts_set(struct primary_opts *o, enum tunable_id id, uint64_t v)
{
	unsigned u = (unsigned)v;    /* every count and time fits */

	switch (id) {
	case TUNABLE_CHECKPOINT_DELAY: o->checkpoint_delay_ms = u; break;
	case TUNABLE_COMPARE_TIMEOUT: o->compare_timeout_ms = u; break;
	case TUNABLE_MAX_WAIT: o->max_wait_ms = u; break;
	case TUNABLE_CLEAR_BITMAP_SHIFT: o->clear_bitmap_shift = u; break;
	case TUNABLE_HEARTBEAT: o->heartbeat_ms = u; break;
	case TUNABLE_FAILOVER_TIMEOUT: o->failover_timeout_ms = u; break;
	case TUNABLE_RAM: o->ram_bytes = v; break;
	case TUNABLE_CLIENT_OUTPUT_LIMIT: o->client_output_limit = v; break;
	case TUNABLE_CLIENT_INPUT_LIMIT: o->client_input_limit = v; break;
	case TUNABLE_MAX_HELD_OUTPUT: o->max_held_output = v; break;
	case TUNABLE_MAX_CLIENTS: o->max_clients = u; break;
	case TUNABLE_XBZRLE_CACHE_SIZE: o->xbzrle_cache_size = v; break;
	case TUNABLE_CHANNELS: o->channels = u; break;
	case TUNABLE__MAX: break;
	}
}

void primary_opts_tunables(const struct primary_opts *o,
			   struct proto_tunables *t)
{
	t->checkpoint_delay_ms = o->checkpoint_delay_ms;
	t->compare_timeout_ms = o->compare_timeout_ms;
	t->max_wait_ms = o->max_wait_ms;
	t->clear_bitmap_shift = o->clear_bitmap_shift;
	t->heartbeat_ms = o->heartbeat_ms;
	t->failover_timeout_ms = o->failover_timeout_ms;
}
