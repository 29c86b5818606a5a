// SPDX-License-Identifier: MIT
#include "status-json.h"

#include <json-c/json.h>
#include <stdio.h>

void status_add_generation(struct json_object *o,
			   const struct proto_generation *g)
{
	char id[17];

	snprintf(id, sizeof(id), "%016llx", (unsigned long long)g->pair_id);
	json_object_object_add(o, "pair_id", json_object_new_string(id));
	json_object_object_add(o, "generation",
			       json_object_new_uint64(g->generation));
}

static void add_u32(struct json_object *o, const char *name, uint32_t v)
{
	json_object_object_add(o, name, json_object_new_uint64(v));
}

struct json_object *status_tunables(const struct proto_tunables *t)
{
	struct json_object *o = json_object_new_object();

	add_u32(o, "checkpoint-delay", t->checkpoint_delay_ms);
	add_u32(o, "compare-timeout", t->compare_timeout_ms);
	add_u32(o, "max-wait", t->max_wait_ms);
	add_u32(o, "clear-bitmap-shift", t->clear_bitmap_shift);
	add_u32(o, "heartbeat-ms", t->heartbeat_ms);
	add_u32(o, "failover-timeout-ms", t->failover_timeout_ms);
	return o;
}
