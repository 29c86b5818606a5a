// SPDX-License-Identifier: MIT
/*
 * From bytes to commands: each connection's unfinished command waits in
 * guest RAM (struct kv_conn) until the rest arrives; complete commands are
 * looked up, arity-checked and run one by one, as Redis does for a
 * pipeline.
 */
#include "kv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "colo-guest.h"
#include "log.h"

/* The per-client limits of kv.h, from this guest's RAM size. */
static void set_limits(struct kv *kv)
{
	struct colo_heap_stats st;

	colo_heap_stats(kv->g, &st);
	kv->qbuf_max = st.ram_bytes / KV_QBUF_RAM_SHARE;
	if (kv->qbuf_max > KV_QBUF_MAX)
		kv->qbuf_max = KV_QBUF_MAX;
	/* A longer argument could never be buffered whole: refuse it at its
	 * "$len" line, with Redis's error, not after taking the memory. */
	kv->cmd.bulk_max = kv->qbuf_max < RESP_BULK_MAX ? kv->qbuf_max
							: RESP_BULK_MAX;
}

int kv_init(struct kv *kv, struct colo_guest *g)
{
	memset(kv, 0, sizeof(*kv));
	kv->g = g;
	set_limits(kv);
	if (colo_guest_resumed(g)) {
		kv->root = colo_guest_root(g);
		if (!kv->root || kv->root->magic != KV_ROOT_MAGIC) {
			log_error("kv: resumed guest RAM holds no store");
			return -EINVAL;
		}
		return 0;
	}
	kv->root = db_root_new(g);
	if (!kv->root)
		return -ENOMEM;
	colo_guest_set_root(g, kv->root);
	return 0;
}

void kv_deinit(struct kv *kv)
{
	reply_free(&kv->out);
	resp_cmd_free(&kv->cmd);
}

static struct kv_conn *conn_get(struct kv *kv, uint32_t id, bool create)
{
	struct dict_entry *e;
	bool added;

	if (!create) {
		e = dict_find(&kv->root->conns, &id, sizeof(id));
		return e ? e->val : NULL;
	}
	e = dict_add(kv->g, &kv->root->conns, &id, sizeof(id), &added);
	if (!e)
		return NULL;
	if (added) {
		e->val = colo_calloc(kv->g, 1, sizeof(struct kv_conn));
		if (!e->val) {
			dict_delete(kv->g, &kv->root->conns, &id, sizeof(id),
				    NULL);
			return NULL;
		}
		kv->root->connections_received++;
	}
	return e->val;
}

void kv_open(struct kv *kv, uint32_t conn)
{
	/* Out of memory here is noticed again on the first data. */
	conn_get(kv, conn, true);
}

void kv_close(struct kv *kv, uint32_t conn)
{
	struct kv_conn *c;
	void *val;

	if (!dict_delete(kv->g, &kv->root->conns, &conn, sizeof(conn), &val))
		return;
	c = val;
	colo_free(kv->g, c->buf);
	colo_free(kv->g, c);
}

static void reply_unknown(struct kv_req *r)
{
	char args[160];
	size_t n = 0, i, take;

	/* Redis quotes the first arguments, up to about 128 bytes. */
	for (i = 1; i < r->argc && n < 128; i++) {
		take = r->argl[i] < 128 - n ? r->argl[i] : 128 - n;
		args[n++] = '\'';
		memcpy(args + n, r->argv[i], take);
		n += take;
		args[n++] = '\'';
		args[n++] = ' ';
	}
	args[n] = 0;
	reply_errorf(r->out, "ERR unknown command '%.*s', with args beginning with: %s",
		     (int)(r->argl[0] < 128 ? r->argl[0] : 128),
		     (const char *)r->argv[0], args);
}

/* Runs the parsed command; true when the connection must close. */
static bool run(struct kv *kv)
{
	struct kv_req r = {
		.kv = kv, .g = kv->g, .root = kv->root, .out = &kv->out,
		.argc = kv->cmd.argc, .argv = kv->cmd.argv,
		.argl = kv->cmd.argl,
	};
	const struct kv_cmd *cmd = cmd_lookup(r.argv[0], r.argl[0]);

	if (!cmd) {
		reply_unknown(&r);
		return false;
	}
	if ((cmd->arity > 0 && r.argc != (size_t)cmd->arity) ||
	    (cmd->arity < 0 && r.argc < (size_t)-cmd->arity)) {
		reply_arity(&r, cmd->name);
		return false;
	}
	cmd->fn(&r);
	kv->root->commands_processed++;
	return r.close;
}

/* Runs every complete command in buf; returns the bytes consumed. st is
 * the progress on the command at buf, and then on the unfinished one at
 * the returned offset. */
static size_t run_all(struct kv *kv, uint32_t conn, struct resp_state *st,
		      const uint8_t *buf, size_t len, bool *close)
{
	size_t pos = 0, used;
	const char *err;
	int ret;

	while (pos < len && !*close) {
		ret = resp_parse(&kv->cmd, st, buf + pos, len - pos, &used,
				 &err);
		if (ret == 0)
			break;
		if (ret < 0) {
			if (ret == -EPROTO)
				reply_errorf(&kv->out, "ERR Protocol error: %s",
					     err);
			else
				reply_error(&kv->out, "ERR out of memory");
			*close = true;
			return len;
		}
		pos += used;
		if (kv->cmd.argc)
			*close = run(kv);
		/* A million-argument command's scratch goes back at once. */
		if (kv->cmd.cap > 64 * 1024)
			resp_cmd_free(&kv->cmd);
		if (kv->flush && kv->out.len >= KV_FLUSH_AT)
			kv->flush(kv, conn);
	}
	return *close ? len : pos;
}

/* Keeps buf's unparsed tail in the connection's buffer in guest RAM.
 * 0, -ENOBUFS past the client's limit, or -ENOMEM. */
static int keep(struct kv *kv, struct kv_conn *c, const uint8_t *p, size_t n)
{
	uint64_t cap;
	uint8_t *nb;

	if (c->len + n > kv->qbuf_max)
		return -ENOBUFS;
	if (c->len + n > c->cap) {
		cap = c->cap ? c->cap : 256;
		while (cap < c->len + n)
			cap *= 2;
		nb = colo_realloc(kv->g, c->buf, cap);
		if (!nb)
			return -ENOMEM;
		c->buf = nb;
		c->cap = cap;
	}
	memmove(c->buf + c->len, p, n);
	c->len += n;
	return 0;
}

/* keep(), and what the client gets when it fails: true to close. Over the
 * limit, like Redis, the client is closed with a log line and no reply
 * (it may be in the middle of sending). */
static bool keep_or_close(struct kv *kv, uint32_t conn, struct kv_conn *c,
			  const uint8_t *p, size_t n)
{
	int err = keep(kv, c, p, n);

	if (err == -ENOBUFS) {
		log_warn("kv: closing client %u that reached max query buffer "
			 "length (%llu bytes)", conn,
			 (unsigned long long)kv->qbuf_max);
		return true;
	}
	if (err) {
		reply_error(&kv->out, "ERR out of memory");
		return true;
	}
	return false;
}

bool kv_feed(struct kv *kv, uint32_t conn, const uint8_t *data, size_t len)
{
	struct kv_conn *c = conn_get(kv, conn, true);
	bool close = false;
	size_t used;

	if (!c) {
		reply_error(&kv->out, "ERR out of memory");
		return true;
	}
	if (c->len == 0) {
		/* The usual case: whole commands, straight from the event. */
		if (c->parse.pos)
			memset(&c->parse, 0, sizeof(c->parse));
		used = run_all(kv, conn, &c->parse, data, len, &close);
		if (!close && used < len)
			close = keep_or_close(kv, conn, c, data + used,
					      len - used);
		return close;
	}
	if (keep_or_close(kv, conn, c, data, len))
		return true;
	used = run_all(kv, conn, &c->parse, c->buf, c->len, &close);
	c->len -= used;
	if (c->len) {
		memmove(c->buf, c->buf + used, c->len);
	} else if (c->cap > 64 * 1024) {
		/* A big command is done: give its pages back. */
		colo_free(kv->g, c->buf);
		c->buf = NULL;
		c->cap = 0;
	}
	return close;
}
