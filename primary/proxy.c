// SPDX-License-Identifier: MIT
/*
 * The client-facing proxy: accepts clients on --service, turns what they
 * send into events for the guest (ops->to_guest: the PVM and, in colo
 * state, the secondary), and writes back only the output the comparator
 * releases.
 *
 * A connection ends in two halves. The client's end of input (EOF: it
 * half-closed, or closed, which looks the same until a write fails) becomes
 * a CLOSE event after its last input; the socket stays open for writing.
 * The guest answers with a close of its own after its last output; once
 * that close is released (compared with the SVM's in colo state) and every
 * released byte is written, the socket is closed. A broken socket (write
 * error, error or hangup) is the client gone: nothing more is written.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evloop.h"
#include "compare.h"
#include "chan.h"
#include "proxy.h"
#include "log.h"
#include "proto.h"
#include "xport.h"

#define READ_CHUNK 65536
/* Paused after running out of fds: long enough not to spin, short enough
 * that a freed fd is used soon. */
#define ACCEPT_PAUSE_MS 100
/* At most one report of refused or failed accepts per this long. */
#define REPORT_EVERY_MS 5000
/* fds kept free for what opens after start-up: the link to the secondary
 * and its dial, control connections, the migration thread's. */
#define FD_MARGIN 32

struct proxy_client {
	uint32_t id;
	int fd;
	uint8_t *out;            /* released bytes not yet written */
	size_t out_len, out_cap;
	bool rd_closed;          /* the client half-closed: write only */
	bool guest_closed;       /* the PVM closed it (told the comparator) */
	bool close_ok;           /* ... and that close was released: close
				  * the socket once out is written */
	bool gone;               /* broken: free it, nothing more to write */
	bool rd_paused;          /* not read until the guest catches up */
	bool reset;              /* close with a reset: drop unsent output */
	uint64_t in_end;         /* guest input offset past its last input */
};

static int to_guest(struct proxy *px, uint32_t type, uint32_t conn,
		    const void *data, size_t len)
{
	return px->ops->to_guest(px->opaque, type, conn, data, len);
}

static struct proxy_client *client_find(struct proxy *px, uint32_t id)
{
	size_t i;

	for (i = 0; i < px->nclients; i++)
		if (px->clients[i]->id == id)
			return px->clients[i];
	return NULL;
}

/* Connection ids stay below PROTO_CONN_SHUT (a flag bit beside them in the
 * device state) and unique among open clients: after 2^31 connections
 * they wrap, skipping any still open. */
static uint32_t next_conn_id(struct proxy *px)
{
	do {
		if (++px->next_conn_id >= PROTO_CONN_SHUT)
			px->next_conn_id = 1;
	} while (client_find(px, px->next_conn_id));
	return px->next_conn_id;
}

/* A plain close leaves unsent output in the kernel, and the FIN behind
 * it, for as long as the client keeps its window shut: a reset frees both
 * and tells the client at once. */
static void reset_on_close(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
		log_debug("SO_LINGER on fd %d: %s", fd, strerror(errno));
}

static void client_free(struct proxy *px, struct proxy_client *c)
{
	size_t i;

	for (i = 0; i < px->nclients; i++) {
		if (px->clients[i] == c) {
			px->clients[i] = px->clients[--px->nclients];
			break;
		}
	}
	if (c->rd_paused)
		px->npaused--;
	if (c->reset)
		reset_on_close(c->fd);
	evloop_del(px->loop, c->fd);
	close(c->fd);
	cmp_conn_close(px->ops->comparator(px->opaque), c->id);
	free(c->out);
	free(c);
}

/* A half-closed client is only written to; epoll still reports its
 * errors and hangups (evloop passes them as EV_READ when nothing is
 * watched). */
static int client_watch(struct proxy *px, struct proxy_client *c)
{
	bool rd = !c->rd_closed && !c->rd_paused;

	return evloop_mod(px->loop, c->fd, (rd ? EV_READ : 0) |
					  (c->out_len ? EV_WRITE : 0));
}

static int client_write_out(struct proxy *px, struct proxy_client *c)
{
	while (c->out_len) {
		ssize_t n = send(c->fd, c->out, c->out_len,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -errno;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	return client_watch(px, c);
}

/* The client went away (or broke): tell the guest, forget it. */
static void client_gone(struct proxy *px, struct proxy_client *c)
{
	uint32_t id = c->id;
	bool tell = !c->guest_closed && !c->rd_closed;

	client_free(px, c);
	if (tell)
		to_guest(px, CHAN_EV_CLOSE, id, NULL, 0);
}

/*
 * The client ended its input. Every byte it sent already went to the guest,
 * so the CLOSE event follows them in the one ordered stream both guests get;
 * what the guest says in reply is still written (client_write_out) until
 * the guest's close is released.
 */
static void client_eof(struct proxy *px, struct proxy_client *c)
{
	c->rd_closed = true;
	if (!c->guest_closed)
		to_guest(px, CHAN_EV_CLOSE, c->id, NULL, 0);
	if (client_watch(px, c) < 0)
		c->gone = true;
}

/* Is the guest more than limit bytes behind this client's last input, or
 * the secondary behind by that much on the link all clients share? */
static bool input_over(struct proxy *px, const struct proxy_client *c,
		       uint64_t limit)
{
	uint64_t read = px->ops->input_read(px->opaque);

	if (c->in_end > read && c->in_end - read > limit)
		return true;
	return px->ops->link_backlog(px->opaque) > limit;
}

/* After queueing c's input: past the limit, stop reading c (its kernel
 * buffers then fill and TCP slows it down) instead of queueing more. */
static void input_queued(struct proxy *px, struct proxy_client *c)
{
	c->in_end = px->ops->input_queued_end(px->opaque);
	if (!input_over(px, c, px->limits.client_input_limit))
		return;
	c->rd_paused = true;
	px->npaused++;
	if (client_watch(px, c) < 0)
		c->gone = true;
}

/* Read paused clients again once the backlog is down to half the limit,
 * so that a client is not paused and resumed on every event. */
static void input_resume(struct proxy *px)
{
	size_t i;

	for (i = 0; i < px->nclients && px->npaused; i++) {
		struct proxy_client *c = px->clients[i];

		if (!c->rd_paused ||
		    input_over(px, c, px->limits.client_input_limit / 2))
			continue;
		c->rd_paused = false;
		px->npaused--;
		if (client_watch(px, c) < 0)
			c->gone = true;
	}
}

static void on_client(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct proxy *px = opaque;
	uint8_t buf[READ_CHUNK];
	struct proxy_client *c = NULL;
	size_t i;
	ssize_t n;

	(void)l;
	for (i = 0; i < px->nclients; i++)
		if (px->clients[i]->fd == fd)
			c = px->clients[i];
	if (!c)
		return;
	if ((events & EV_WRITE) && client_write_out(px, c) < 0) {
		client_gone(px, c);
		return;
	}
	if (!(events & EV_READ))
		return;
	if (c->rd_closed) {
		client_gone(px, c);     /* error or hangup, see client_watch */
		return;
	}
	/* A paused client gets here only for an error or hangup: reading
	 * finds out which, and adds at most what its socket still holds. */
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n > 0) {
		if (!c->guest_closed &&
		    to_guest(px, CHAN_EV_DATA, c->id, buf,
				   (size_t)n) == 0 && !c->rd_paused)
			input_queued(px, c);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == 0)
		client_eof(px, c);
	else
		client_gone(px, c);
}

/* Rate-limits a report to one per REPORT_EVERY_MS; true when one is due. */
static bool report_due(uint64_t *last_ms)
{
	uint64_t now = evloop_now_ms();

	if (*last_ms && now - *last_ms < REPORT_EVERY_MS)
		return false;
	*last_ms = now;
	return true;
}

/*
 * Out of fds (or memory): the pending connection stays in the backlog and
 * the level-triggered listening socket would wake us at once, forever. Stop
 * watching it for a while (proxy_tick resumes) and say so, with a count.
 */
static void accept_failed(struct proxy *px, int err)
{
	if (!net_accept_exhausted(err))
		return;             /* transient: the next wake-up retries */
	evloop_mod(px->loop, px->listen_fd, 0);
	px->accept_resume_ms = evloop_now_ms() + ACCEPT_PAUSE_MS;
	px->accept_failures++;
	if (!report_due(&px->accept_report_ms))
		return;
	log_warn("accept: %s (%llu times since the last report); pausing "
		 "accepts for %d ms each time", strerror(-err),
		 (unsigned long long)px->accept_failures, ACCEPT_PAUSE_MS);
	px->accept_failures = 0;
}

/* Over --max-clients: accepted only to be closed, so that the client
 * learns at once rather than waiting in the backlog. The proxy does not
 * speak the guest's protocol, so there is no error message to send. */
static void refuse_client(struct proxy *px, int cfd, const char *peer)
{
	close(cfd);
	px->refused_clients++;
	if (!report_due(&px->refused_report_ms))
		return;
	log_warn("refused %llu clients over --max-clients %u since the last "
		 "report (the last from %s)",
		 (unsigned long long)px->refused_clients, px->max_clients,
		 peer);
	px->refused_clients = 0;
}

static int clients_reserve(struct proxy *px)
{
	struct proxy_client **grown;
	size_t cap;

	if (px->nclients < px->clients_cap)
		return 0;
	cap = px->clients_cap ? px->clients_cap * 2 : 64;
	grown = realloc(px->clients, cap * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	px->clients = grown;
	px->clients_cap = cap;
	return 0;
}

static void on_accept(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct proxy *px = opaque;
	struct proxy_client *c;
	char peer[64];
	int cfd;

	(void)events;
	cfd = net_accept(fd, peer, sizeof(peer));
	if (cfd < 0) {
		accept_failed(px, cfd);
		return;
	}
	if (px->nclients >= px->max_clients) {
		refuse_client(px, cfd, peer);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c || clients_reserve(px) < 0 ||
	    evloop_add(l, cfd, EV_READ, on_client, px) < 0) {
		log_warn("dropping client %s: out of memory", peer);
		free(c);
		close(cfd);
		return;
	}
	c->id = next_conn_id(px);
	c->fd = cfd;
	px->clients[px->nclients++] = c;
	if (px->ops->protected(px->opaque) &&
	    cmp_conn_open(px->ops->comparator(px->opaque), c->id) < 0)
		c->gone = true;     /* untracked output would never be released */
	log_debug("client %s is connection %u", peer, c->id);
	to_guest(px, CHAN_EV_OPEN, c->id, NULL, 0);
}

/* fds open now (start-up's: guest channels, RAM, dirty log, listeners). */
static unsigned long open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned long n = 0;

	if (!d)
		return 64;              /* a guess on the safe side */
	while (readdir(d))
		n++;
	closedir(d);
	return n > 3 ? n - 3 : 0;       /* ".", ".." and d's own fd */
}

/*
 * Clients the fd limit leaves room for, after the fds open now and a
 * margin for what opens later; never more than the device state can list,
 * or every checkpoint would fail.
 */
static unsigned clients_fd_room(void)
{
	unsigned long used = open_fds() + FD_MARGIN;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return MAX_CONNS_IN_STATE;
	if (rl.rlim_cur <= used)
		return 1;
	if (rl.rlim_cur - used > MAX_CONNS_IN_STATE)
		return MAX_CONNS_IN_STATE;
	return (unsigned)(rl.rlim_cur - used);
}

static void max_clients_init(struct proxy *px)
{
	unsigned room = clients_fd_room();

	px->max_clients = px->limits.max_clients ? px->limits.max_clients :
						   room;
	if (px->max_clients > room)
		log_warn("--max-clients %u: the fd limit leaves room for about "
			 "%u; accepting pauses while fds run out",
			 px->max_clients, room);
	log_info("at most %u clients", px->max_clients);
}

int proxy_init(struct proxy *px, struct evloop *loop, const char *service,
	       const struct proxy_limits *limits, const struct proxy_ops *ops,
	       void *opaque)
{
	char err[256];

	px->loop = loop;
	px->ops = ops;
	px->opaque = opaque;
	px->limits = *limits;
	px->listen_fd = net_listen(service, err, sizeof(err));
	if (px->listen_fd < 0) {
		log_error("--service %s: %s", service, err);
		return px->listen_fd;
	}
	max_clients_init(px);
	return evloop_add(px->loop, px->listen_fd, EV_READ, on_accept, px);
}

void proxy_deinit(struct proxy *px)
{
	while (px->nclients)
		client_free(px, px->clients[0]);
	free(px->clients);
	px->clients = NULL;
	if (px->listen_fd >= 0) {
		evloop_del(px->loop, px->listen_fd);
		close(px->listen_fd);
		px->listen_fd = -1;
	}
}

/* A client that does not read what it asked for costs itself, not us:
 * one line, and proxy_flush_closing ends it. */
static void output_over(struct proxy *px, struct proxy_client *c,
			size_t pending)
{
	log_warn("connection %u: %zu bytes of output unread, over "
		 "--client-output-limit %llu: disconnecting", c->id, pending,
		 (unsigned long long)px->limits.client_output_limit);
	c->gone = true;
	c->reset = true;
}

void proxy_release(void *opaque, uint32_t conn, const uint8_t *buf,
		   size_t len)
{
	struct proxy *px = opaque;
	struct proxy_client *c = client_find(px, conn);

	if (!c || c->gone || c->close_ok)
		return;        /* the client left; its output has no reader */
	if (c->out_len + len > px->limits.client_output_limit) {
		output_over(px, c, c->out_len + len);
		return;
	}
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		uint8_t *out;

		while (cap < c->out_len + len)
			cap *= 2;
		out = realloc(c->out, cap);
		if (!out) {
			log_error("connection %u: out of memory for output",
				  conn);
			c->gone = true;
			return;
		}
		c->out = out;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
	/* This runs inside the comparator's release: a broken client is only
	 * marked here and freed by proxy_flush_closing. */
	if (client_write_out(px, c) < 0)
		c->gone = true;
}

/*
 * In colo state output for conn is held until the other side's matches it
 * (the PVM's, or the SVM's when it is ahead), and only then joins what the
 * client has not read. Held output up to --max-held-output is the pair's
 * lag, which a checkpoint ends; held beyond it (a checkpoint cannot begin
 * while the PVM is brought to a safe point) is what this client's requests
 * produce faster than anyone can take, and counts against its limit. True
 * when conn went over it and the len new bytes are to be dropped (the
 * comparator forgets conn at once, so nothing more is held for it).
 */
bool proxy_output_over(struct proxy *px, uint32_t conn, size_t len)
{
	struct proxy_client *c = client_find(px, conn);
	struct cmp *cmp;
	size_t held, pending;

	if (!c || c->gone)
		return false;
	cmp = px->ops->comparator(px->opaque);
	held = cmp_held(cmp, conn) + len;
	if (held <= px->limits.max_held_output)
		held = 0;
	else
		held -= px->limits.max_held_output;
	pending = c->out_len + held;
	if (pending <= px->limits.client_output_limit)
		return false;
	output_over(px, c, pending);
	cmp_conn_close(cmp, conn);
	return true;
}

/* The PVM closed conn; false when there is nothing to close (a client
 * already gone, or a second close). */
bool proxy_guest_closed(struct proxy *px, uint32_t conn)
{
	struct proxy_client *c = client_find(px, conn);

	if (!c || c->guest_closed)
		return false;
	c->guest_closed = true;
	return true;
}

/* The comparator's (or, unprotected, the PVM's own) word that the guest's
 * close may reach the client. Runs inside the comparator: only mark here,
 * proxy_flush_closing closes. */
void proxy_release_close(void *opaque, uint32_t conn)
{
	struct proxy_client *c = client_find(opaque, conn);

	if (c)
		c->close_ok = true;
}

/* Close connections the guest ended, once their last byte went out. */
void proxy_flush_closing(struct proxy *px)
{
	size_t i = 0;

	while (i < px->nclients) {
		struct proxy_client *c = px->clients[i];

		if (c->gone) {
			client_gone(px, c);
			continue;
		}
		if (c->close_ok && !c->out_len) {
			client_free(px, c);
			continue;
		}
		i++;
	}
}

size_t proxy_conn_ids(const struct proxy *px, uint32_t *ids, size_t max)
{
	size_t i;

	for (i = 0; i < px->nclients && i < max; i++)
		ids[i] = px->clients[i]->id;
	return i;
}

/* Timed work of the proxy, from the loop: accept again after a pause, read
 * paused clients again once the guest caught up. */
void proxy_tick(struct proxy *px)
{
	if (px->accept_resume_ms && evloop_now_ms() >= px->accept_resume_ms) {
		px->accept_resume_ms = 0;
		if (evloop_mod(px->loop, px->listen_fd, EV_READ) < 0)
			log_error("cannot watch the client port again");
	}
	if (px->npaused)
		input_resume(px);
}

uint64_t proxy_next_deadline_ms(const struct proxy *px)
{
	return px->accept_resume_ms ? px->accept_resume_ms : UINT64_MAX;
}

size_t proxy_nclients(const struct proxy *px)
{
	return px->nclients;
}

void proxy_set_limits(struct proxy *px, const struct proxy_limits *limits)
{
	px->limits = *limits;
}

/* A connection the comparator cannot track would never be answered:
 * close it rather than leave it silent. */
void proxy_track_all(struct proxy *px, struct cmp *cmp)
{
	size_t i;

	for (i = 0; i < px->nclients; i++)
		if (cmp_conn_open(cmp, px->clients[i]->id) == -ENOMEM)
			px->clients[i]->gone = true;
}
