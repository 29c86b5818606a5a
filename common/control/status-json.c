// SPDX-License-Identifier: MIT
#include "status-json.h"

#include <json-c/json.h>
#include <stdio.h>

#include "tunables.h"

void status_add_transport(struct json_object *o, bool rdma, bool insecure)
{
	json_object_object_add(o, "transport", json_object_new_string(
				       rdma ? "rdma" : insecure ? "tcp" : "tls"));
}

void status_add_generation(struct json_object *o,
			   const struct proto_generation *g)
{
	char id[17];

	snprintf(id, sizeof(id), "%016llx", (unsigned long long)g->pair_id);
	json_object_object_add(o, "pair_id", json_object_new_string(id));
	json_object_object_add(o, "generation",
			       json_object_new_uint64(g->generation));
}

/* The carried tunables in the table's order, under their flag names. */
struct json_object *status_tunables(const struct proto_tunables *t)
{
	struct json_object *o = json_object_new_object();
	size_t i;

	for (i = 0; i < TUNABLE__MAX; i++)
		if (tunables[i].flags & TUNABLE_CARRIED)
			json_object_object_add(o, tunables[i].name,
				json_object_new_uint64(tunables_get(t,
					(enum tunable_id)i)));
	return o;
}
