// SPDX-License-Identifier: MIT
/*
 * The control socket's server side.
 *
 *   client ──bytes──► json_tokener ──object──► dispatch ──► cmds[i].fn
 *      ▲                                                        │
 *      └──────────── out buffer ◄── one line of JSON ◄──────────┘
 *
 * A request may arrive in pieces and several may arrive in one read, so each
 * client owns an incremental json_tokener fed with whatever read() gives;
 * every complete object is answered, in order, before the next is looked
 * at. Replies go into a per-client buffer written as the socket allows;
 * while it holds anything the client is not read from, so a client that
 * never reads cannot make us buffer without bound.
 *
 * Handlers run on the loop thread and may take their time (a checkpoint
 * does). If one runs the loop itself, its own client is left alone until it
 * returns (see 'busy'), other clients are served.
 *
 * A subscriber's events go into the same out buffer as its replies, so the
 * two stay in the order they happened. Only events are bounded there
 * (CTL_EVENT_QUEUE_MAX): a reply is what the client asked for and waits
 * for, an event it may never read. Past the bound the subscriber is
 * dropped rather than the daemon buffering for it: at once when no
 * handler of its own runs, else as that handler returns.
 */
#include "ctl-server.h"

#include "evloop.h"
#include "log.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* A client that sends this much without completing a request is dropped. */
#define CTL_MAX_REQUEST (1u << 20)
#define CTL_READ_CHUNK 4096

struct ctl_client {
	struct ctl_server *s;
	struct ctl_client *prev, *next;
	int fd;
	uint32_t want;         /* events registered with the loop */
	json_tokener *tok;
	size_t pending;        /* bytes fed since the last complete request */
	char *out;             /* replies not yet written */
	size_t nout, capout;
	bool closing;          /* close once out is flushed */
	bool busy;             /* a handler of ours is running */
	bool subscribed;       /* sent "subscribe": gets the events */
	bool overflowed;       /* its events went past the bound: drop */
};

struct ctl_server {
	struct evloop *l;
	char *path;
	int fd;
	const struct ctl_command *cmds;
	void *opaque;
	struct ctl_client *clients;
	pthread_t owner;       /* the loop's thread: broadcasts come from it */
};

void ctl_error_set(struct ctl_error *err, const char *cls, const char *fmt,
		   ...)
{
	va_list ap;

	snprintf(err->cls, sizeof(err->cls), "%s", cls);
	va_start(ap, fmt);
	vsnprintf(err->desc, sizeof(err->desc), fmt, ap);
	va_end(ap);
}

static void client_free(struct ctl_client *c)
{
	struct ctl_server *s = c->s;

	evloop_del(s->l, c->fd);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	json_tokener_free(c->tok);
	free(c->out);
	free(c);
}

static int out_append(struct ctl_client *c, const char *buf, size_t len)
{
	if (c->nout + len > c->capout) {
		size_t cap = c->capout ? c->capout : 1024;
		char *n;

		while (cap < c->nout + len)
			cap *= 2;
		n = realloc(c->out, cap);
		if (!n)
			return -ENOMEM;
		c->out = n;
		c->capout = cap;
	}
	memcpy(c->out + c->nout, buf, len);
	c->nout += len;
	return 0;
}

/* Write what the socket takes now. 0 (maybe with bytes left) or -errno. */
static int out_flush(struct ctl_client *c)
{
	size_t done = 0;
	int rc = 0;

	while (done < c->nout) {
		ssize_t n = send(c->fd, c->out + done, c->nout - done,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				rc = -errno;
			break;
		}
		done += (size_t)n;
	}
	if (done) {
		memmove(c->out, c->out + done, c->nout - done);
		c->nout -= done;
	}
	return rc;
}

static int send_reply(struct ctl_client *c, struct json_object *reply)
{
	const char *txt = json_object_to_json_string_ext(reply,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	int rc;

	rc = out_append(c, txt, strlen(txt));
	if (!rc)
		rc = out_append(c, "\n", 1);
	json_object_put(reply);
	return rc;
}

static int send_error(struct ctl_client *c, struct json_object *id,
		      const struct ctl_error *err)
{
	struct json_object *reply = json_object_new_object();
	struct json_object *e = json_object_new_object();

	json_object_object_add(e, "class", json_object_new_string(err->cls));
	json_object_object_add(e, "desc", json_object_new_string(err->desc));
	json_object_object_add(reply, "error", e);
	if (id)
		json_object_object_add(reply, "id", json_object_get(id));
	return send_reply(c, reply);
}

static const struct ctl_command *find_cmd(const struct ctl_server *s,
					  const char *name)
{
	const struct ctl_command *cmd;

	for (cmd = s->cmds; cmd->name; cmd++)
		if (!strcmp(cmd->name, name))
			return cmd;
	return NULL;
}

/* The built-in "subscribe": this client gets the events from now on. */
static int subscribe(struct ctl_client *c, struct json_object *args,
		     struct json_object *id)
{
	struct ctl_error err = { "", "" };
	struct json_object *reply;

	if (ctl_args_allowed(args, NULL, &err) < 0)
		return send_error(c, id, &err);
	c->subscribed = true;
	log_info("a control client subscribed to the events");
	reply = json_object_new_object();
	json_object_object_add(reply, "return", json_object_new_object());
	if (id)
		json_object_object_add(reply, "id", json_object_get(id));
	return send_reply(c, reply);
}

/* Answer one request. Returns 0 or -errno (out of memory, or a subscriber
 * to drop). */
static int dispatch(struct ctl_client *c, struct json_object *req)
{
	struct json_object *exec, *args = NULL, *id = NULL, *ret = NULL;
	struct json_object *reply;
	const struct ctl_command *cmd;
	struct ctl_error err = { "", "" };
	int rc;

	if (!json_object_is_type(req, json_type_object)) {
		ctl_error_set(&err, "GenericError",
			      "Expected a JSON object as request");
		return send_error(c, NULL, &err);
	}
	json_object_object_get_ex(req, "id", &id);
	if (!json_object_object_get_ex(req, "execute", &exec) ||
	    !json_object_is_type(exec, json_type_string)) {
		ctl_error_set(&err, "GenericError",
			      "Request lacks a string member 'execute'");
		return send_error(c, id, &err);
	}
	if (json_object_object_get_ex(req, "arguments", &args) && args &&
	    !json_object_is_type(args, json_type_object)) {
		ctl_error_set(&err, "GenericError",
			      "Request member 'arguments' must be an object");
		return send_error(c, id, &err);
	}
	cmd = find_cmd(c->s, json_object_get_string(exec));
	if (!cmd && !strcmp(json_object_get_string(exec), "subscribe"))
		return subscribe(c, args, id);
	if (!cmd) {
		ctl_error_set(&err, "CommandNotFound",
			      "The command %s has not been found",
			      json_object_get_string(exec));
		return send_error(c, id, &err);
	}

	/* A misspelt argument is an error, not a silent default. */
	if (ctl_args_allowed(args, cmd->args, &err) < 0)
		return send_error(c, id, &err);

	c->busy = true;
	rc = cmd->fn(c->s->opaque, args, &ret, &err);
	c->busy = false;
	if (c->overflowed) {
		/* Its events overflowed while the handler ran (see above). */
		json_object_put(ret);
		return -ENOBUFS;
	}
	if (rc < 0) {
		json_object_put(ret);
		if (!err.cls[0])
			ctl_error_set(&err, "GenericError", "%s: %s",
				      cmd->name, strerror(-rc));
		return send_error(c, id, &err);
	}
	reply = json_object_new_object();
	json_object_object_add(reply, "return",
			       ret ? ret : json_object_new_object());
	if (id)
		json_object_object_add(reply, "id", json_object_get(id));
	return send_reply(c, reply);
}

/* Feed what was read to the tokener; answer every request it completes. */
static int feed(struct ctl_client *c, const char *buf, size_t len)
{
	size_t off = 0;
	int rc;

	while (off < len && !c->closing) {
		struct json_object *req;
		enum json_tokener_error jerr;
		struct ctl_error err;

		req = json_tokener_parse_ex(c->tok, buf + off, (int)(len - off));
		jerr = json_tokener_get_error(c->tok);
		if (jerr == json_tokener_continue) {
			c->pending += len - off;
			if (c->pending > CTL_MAX_REQUEST) {
				log_warn("control client sent over %u bytes without a complete request, dropping it",
					 CTL_MAX_REQUEST);
				return -EMSGSIZE;
			}
			return 0;
		}
		if (jerr != json_tokener_success) {
			/* After a syntax error there is no telling where the
			 * next request would start: answer, then hang up. */
			ctl_error_set(&err, "GenericError", "JSON parse error: %s",
				      json_tokener_error_desc(jerr));
			c->closing = true;
			return send_error(c, NULL, &err);
		}
		off += json_tokener_get_parse_end(c->tok);
		c->pending = 0;
		json_tokener_reset(c->tok);
		rc = dispatch(c, req);
		json_object_put(req);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int client_read(struct ctl_client *c)
{
	char buf[CTL_READ_CHUNK];
	ssize_t n;

	n = read(c->fd, buf, sizeof(buf));
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0)
		return -ECONNRESET;   /* the client is done */
	return feed(c, buf, (size_t)n);
}

static void client_event(struct evloop *l, int fd, uint32_t events,
			 void *opaque)
{
	struct ctl_client *c = opaque;
	uint32_t want;
	int rc = 0;

	(void)fd;
	if (c->busy) {
		/* A handler of ours runs the loop: wait till it is done. */
		if (c->want && !evloop_mod(l, c->fd, 0))
			c->want = 0;
		return;
	}
	if (events & EV_WRITE)
		rc = out_flush(c);
	if (!rc && (events & EV_READ) && !c->nout && !c->closing) {
		rc = client_read(c);
		if (!rc)
			rc = out_flush(c);
	}
	if (rc < 0 || (c->closing && !c->nout)) {
		if (rc == -ENOBUFS)
			log_warn("event subscriber dropped: over %u bytes of "
				 "events unread", CTL_EVENT_QUEUE_MAX);
		else if (rc < 0 && rc != -ECONNRESET && rc != -EPIPE)
			log_debug("control client: %s", strerror(-rc));
		client_free(c);
		return;
	}
	want = c->nout ? EV_WRITE : EV_READ;
	if (want != c->want && !evloop_mod(l, c->fd, want))
		c->want = want;
}

/* One event line into a subscriber's queue, and out as far as it goes.
 * false when the subscriber is gone (or going) instead. */
static bool queue_event(struct ctl_client *c, const char *line, size_t len)
{
	uint32_t want;

	if (c->nout + len + 1 > CTL_EVENT_QUEUE_MAX ||
	    out_append(c, line, len) < 0 || out_append(c, "\n", 1) < 0) {
		if (c->busy) {
			/* Its handler is on the stack: dropped as it returns. */
			c->overflowed = true;
			return false;
		}
		log_warn("event subscriber dropped: over %u bytes of events "
			 "unread", CTL_EVENT_QUEUE_MAX);
		client_free(c);
		return false;
	}
	if (c->busy)
		return true;      /* written when its handler is done */
	if (out_flush(c) < 0) {
		client_free(c);   /* it hung up */
		return false;
	}
	want = c->nout ? EV_WRITE : EV_READ;
	if (want != c->want && !evloop_mod(c->s->l, c->fd, want))
		c->want = want;
	return true;
}

int ctl_server_broadcast(struct ctl_server *s, const char *line, size_t len)
{
	struct ctl_client *c, *next;
	int n = 0;

	if (!s)
		return 0;
	if (!pthread_equal(pthread_self(), s->owner)) {
		log_error("event dropped: emitted off the control loop's thread");
		return -EPERM;
	}
	for (c = s->clients; c; c = next) {
		next = c->next;
		if (!c->subscribed || c->overflowed || c->closing)
			continue;
		n += queue_event(c, line, len);
	}
	return n;
}

size_t ctl_server_subscribers(const struct ctl_server *s)
{
	const struct ctl_client *c;
	size_t n = 0;

	for (c = s ? s->clients : NULL; c; c = c->next)
		n += c->subscribed && !c->overflowed;
	return n;
}

static void on_accept(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct ctl_server *s = opaque;

	(void)events;
	for (;;) {
		struct ctl_client *c;
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("control socket: accept: %s",
					 strerror(errno));
			return;
		}
		c = calloc(1, sizeof(*c));
		if (c)
			c->tok = json_tokener_new();
		if (!c || !c->tok ||
		    evloop_add(l, cfd, EV_READ, client_event, c) < 0) {
			log_warn("control socket: cannot take a client");
			if (c)
				json_tokener_free(c->tok);
			free(c);
			close(cfd);
			continue;
		}
		c->s = s;
		c->fd = cfd;
		c->want = EV_READ;
		c->next = s->clients;
		if (s->clients)
			s->clients->prev = c;
		s->clients = c;
	}
}

/*
 * A socket file left by a daemon that died is replaced; one that a live
 * daemon still listens on is not, nor is anything that is not a socket.
 */
static int clear_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_error("control socket: %s exists and is not a socket", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (!rc) {
		log_error("control socket: %s is in use by a running daemon",
			  path);
		return -EADDRINUSE;
	}
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("control socket: path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	rc = clear_stale(path, &sa);
	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		log_error("control socket: bind %s: %s", path, strerror(-rc));
		goto out_close;
	}
	/* Before listen(), so nobody can connect while it is still open. */
	if (chmod(path, 0600) < 0) {
		rc = -errno;
		log_error("control socket: chmod %s: %s", path, strerror(-rc));
		goto out_unlink;
	}
	if (listen(fd, 16) < 0) {
		rc = -errno;
		log_error("control socket: listen: %s", strerror(-rc));
		goto out_unlink;
	}
	return fd;

out_unlink:
	unlink(path);
out_close:
	close(fd);
	return rc;
}

struct ctl_server *ctl_server_new(struct evloop *l, const char *path,
				  const struct ctl_command *cmds, void *opaque)
{
	struct ctl_server *s = calloc(1, sizeof(*s));
	int rc;

	if (!s || !(s->path = strdup(path))) {
		log_error("control socket: out of memory");
		goto out_free;
	}
	s->l = l;
	s->owner = pthread_self();
	s->cmds = cmds;
	s->opaque = opaque;
	s->fd = listen_on(path);
	if (s->fd < 0)
		goto out_free;
	rc = evloop_add(l, s->fd, EV_READ, on_accept, s);
	if (rc < 0) {
		log_error("control socket: %s", strerror(-rc));
		goto out_close;
	}
	return s;

out_close:
	close(s->fd);
	unlink(path);
out_free:
	if (s)
		free(s->path);
	free(s);
	return NULL;
}

void ctl_server_free(struct ctl_server *s)
{
	if (!s)
		return;
	while (s->clients)
		client_free(s->clients);
	evloop_del(s->l, s->fd);
	close(s->fd);
	unlink(s->path);
	free(s->path);
	free(s);
}
