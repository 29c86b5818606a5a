// SPDX-License-Identifier: MIT
/* Reading numbers out of replies and printing them for people. */
#include "client.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>

bool cli_get_u64(struct json_object *o, const char *key, uint64_t *v)
{
	struct json_object *m;

	if (!o || !json_object_object_get_ex(o, key, &m) ||
	    !(json_object_is_type(m, json_type_int) ||
	      json_object_is_type(m, json_type_double)))
		return false;
	*v = json_object_is_type(m, json_type_int) ?
		json_object_get_uint64(m) : (uint64_t)json_object_get_double(m);
	return true;
}

bool cli_get_double(struct json_object *o, const char *key, double *v)
{
	struct json_object *m;

	if (!o || !json_object_object_get_ex(o, key, &m) ||
	    !(json_object_is_type(m, json_type_int) ||
	      json_object_is_type(m, json_type_double)))
		return false;
	*v = json_object_get_double(m);
	return true;
}

const char *cli_human_bytes(char *buf, unsigned size, uint64_t bytes)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, size, "%" PRIu64 " B", bytes);
		return buf;
	}
	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, "%.1f %s", v, unit[u]);
	return buf;
}

const char *cli_value_str(struct json_object *v)
{
	if (json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
}
