// SPDX-License-Identifier: MIT
/*
 * Typed access to a control command's arguments. The control socket is a
 * trust boundary of its own (anything that can connect to it may send any
 * JSON), so a handler never calls json_object_get_string() on a member
 * that might be null, a number or an array: it asks for the type it wants
 * and gets either a value in range or an error reply that says which
 * argument was wrong and how, as QMP's input visitor does.
 *
 * Values quoted back in an error are cut short: a 100 KB string must not
 * turn into a 100 KB reply (nor overflow ctl_error.desc, which truncates).
 */
#include "ctl-server.h"

#include "config.h"

#include <errno.h>
#include <json-c/json.h>
#include <string.h>

/* How much of an offending value or name an error quotes. */
#define QUOTE_MAX 40

static const char *type_name(struct json_object *v)
{
	return json_type_to_name(json_object_get_type(v));
}

/* Is name one of the comma-separated list? */
static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);

	while (list && *list) {
		const char *comma = strchr(list, ',');
		size_t len = comma ? (size_t)(comma - list) : strlen(list);

		if (len == n && !memcmp(list, name, n))
			return true;
		list = comma ? comma + 1 : NULL;
	}
	return false;
}

int ctl_args_allowed(struct json_object *args, const char *list,
		     struct ctl_error *err)
{
	if (!args)
		return 0;
	json_object_object_foreach(args, key, val) {
		(void)val;
		if (!in_list(list, key)) {
			ctl_error_set(err, "GenericError",
				      "Parameter '%.*s' is unexpected",
				      QUOTE_MAX, key);
			return -EINVAL;
		}
	}
	return 0;
}

bool ctl_arg_has(struct json_object *args, const char *name)
{
	return args && json_object_object_get_ex(args, name, NULL);
}

/*
 * The member called name, of type want: 0 and *out, or -ENOENT when it is
 * missing and -EINVAL when it is null or of another type, err filled.
 * want_name is what the error says was expected.
 */
static int get_typed(struct json_object *args, const char *name,
		     enum json_type want, const char *want_name,
		     struct json_object **out, struct ctl_error *err)
{
	struct json_object *v = NULL;

	if (!args || !json_object_object_get_ex(args, name, &v)) {
		ctl_error_set(err, "GenericError", "Parameter '%s' is missing",
			      name);
		return -ENOENT;
	}
	if (!json_object_is_type(v, want)) {
		ctl_error_set(err, "GenericError",
			      "Invalid parameter type for '%s': got %s, "
			      "expected %s", name, type_name(v), want_name);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int ctl_arg_string(struct json_object *args, const char *name, size_t maxlen,
		   const char **out, struct ctl_error *err)
{
	struct json_object *v;
	const char *s;
	size_t len;
	int rc;

	rc = get_typed(args, name, json_type_string, "string", &v, err);
	if (rc)
		return rc;
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	/* "\u0000" is valid JSON; a C string would silently end there. */
	if (strlen(s) != len) {
		ctl_error_set(err, "GenericError",
			      "Parameter '%s' contains a NUL byte", name);
		return -EINVAL;
	}
	if (len > maxlen) {
		ctl_error_set(err, "GenericError",
			      "Parameter '%s' is too long: %zu bytes, at most "
			      "%zu", name, len, maxlen);
		return -ERANGE;
	}
	*out = s;
	return 0;
}

static int out_of_range(const char *name, const char *shown, uint64_t min,
			uint64_t max, struct ctl_error *err)
{
	ctl_error_set(err, "GenericError",
		      "Parameter '%s' is out of range: %.*s%s, expected "
		      "%llu..%llu", name, QUOTE_MAX, shown,
		      strlen(shown) > QUOTE_MAX ? "..." : "",
		      (unsigned long long)min, (unsigned long long)max);
	return -ERANGE;
}

/* A JSON integer: json-c holds it as int64, or as uint64 above INT64_MAX. */
static int int_in_range(const char *name, struct json_object *v,
			uint64_t min, uint64_t max, uint64_t *out,
			struct ctl_error *err)
{
	int64_t i = json_object_get_int64(v);
	uint64_t u;

	if (i < 0)
		return out_of_range(name, json_object_to_json_string(v), min,
				    max, err);
	u = i == INT64_MAX ? json_object_get_uint64(v) : (uint64_t)i;
	if (u < min || u > max)
		return out_of_range(name, json_object_to_json_string(v), min,
				    max, err);
	*out = u;
	return 0;
}

/* "-123": a number, just not one we take; "-", "-x", "--1" are not. */
static bool negative_digits(const char *s)
{
	return s[0] == '-' && s[1] && strspn(s + 1, "0123456789") ==
	       strlen(s + 1);
}

/* A string of decimal digits, as colo-ctl sends what was typed. */
static int digits_in_range(const char *name, struct json_object *v,
			   uint64_t min, uint64_t max, uint64_t *out,
			   struct ctl_error *err)
{
	const char *s = json_object_get_string(v);
	int rc = config_parse_u64(s, min, max, out);

	if (rc == -ERANGE || (rc == -EINVAL && negative_digits(s)))
		return out_of_range(name, s, min, max, err);
	/* The length check catches "5\u0000x", which would read as 5. */
	if (rc || strlen(s) != (size_t)json_object_get_string_len(v)) {
		ctl_error_set(err, "GenericError",
			      "Parameter '%s' is not a whole number: '%.*s%s'",
			      name, QUOTE_MAX, s,
			      strlen(s) > QUOTE_MAX ? "..." : "");
		return -EINVAL;
	}
	return 0;
}

int ctl_arg_u64(struct json_object *args, const char *name, uint64_t min,
		uint64_t max, uint64_t *out, struct ctl_error *err)
{
	struct json_object *v = NULL;

	if (ctl_arg_has(args, name))
		json_object_object_get_ex(args, name, &v);
	if (json_object_is_type(v, json_type_int))
		return int_in_range(name, v, min, max, out, err);
	if (json_object_is_type(v, json_type_string))
		return digits_in_range(name, v, min, max, out, err);
	/* Missing, null or another type: get_typed words it. */
	return get_typed(args, name, json_type_int, "integer", &v, err);
}

int ctl_arg_bool(struct json_object *args, const char *name, bool *out,
		 struct ctl_error *err)
{
	struct json_object *v;
	int rc;

	rc = get_typed(args, name, json_type_boolean, "boolean", &v, err);
	if (rc)
		return rc;
	*out = json_object_get_boolean(v);
	return 0;
}

int ctl_arg_hostport(struct json_object *args, const char *name, char *host,
		     size_t hostlen, char *port, size_t portlen,
		     const char **out, struct ctl_error *err)
{
	const char *s;
	int rc;

	/* Room for "[host]:port" and no more. */
	rc = ctl_arg_string(args, name, hostlen + portlen + 3, &s, err);
	if (rc)
		return rc;
	rc = config_parse_hostport(s, host, hostlen, port, portlen);
	if (rc) {
		ctl_error_set(err, "GenericError",
			      "Parameter '%s' is not HOST:PORT (port 1..65535): "
			      "'%.*s%s'", name, QUOTE_MAX, s,
			      strlen(s) > QUOTE_MAX ? "..." : "");
		return -EINVAL;
	}
	if (out)
		*out = s;
	return 0;
}
