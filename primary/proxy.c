// SPDX-License-Identifier: MIT
/*
 * The client-facing proxy: accepts clients on --service, turns what they
 * send into events for the PVM (and, through pvm_send_event, the
 * secondary), and writes back only the output the comparator releases.
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
#include "primary-int.h"
#include "log.h"
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

static struct client *client_find(struct primary *p, uint32_t id)
{
	size_t i;

	for (i = 0; i < p->nclients; i++)
		if (p->clients[i]->id == id)
			return p->clients[i];
	return NULL;
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

static void client_free(struct primary *p, struct client *c)
{
	size_t i;

	for (i = 0; i < p->nclients; i++) {
		if (p->clients[i] == c) {
			p->clients[i] = p->clients[--p->nclients];
			break;
		}
	}
	if (c->rd_paused)
		p->npaused--;
	if (c->reset)
		reset_on_close(c->fd);
	evloop_del(p->loop, c->fd);
	close(c->fd);
	cmp_conn_close(p->cmp, c->id);
	free(c->out);
	free(c);
}

/* A half-closed client is only written to; epoll still reports its
 * errors and hangups (evloop passes them as EV_READ when nothing is
 * watched). */
static int client_watch(struct primary *p, struct client *c)
{
	bool rd = !c->rd_closed && !c->rd_paused;

	return evloop_mod(p->loop, c->fd, (rd ? EV_READ : 0) |
					  (c->out_len ? EV_WRITE : 0));
}

static int client_write_out(struct primary *p, struct client *c)
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
	return client_watch(p, c);
}

/* The client went away (or broke): tell the guest, forget it. */
static void client_gone(struct primary *p, struct client *c)
{
	uint32_t id = c->id;
	bool tell = !c->guest_closed && !c->rd_closed;

	client_free(p, c);
	if (tell)
		pvm_send_event(p, CHAN_EV_CLOSE, id, 0, NULL, 0);
}

/*
 * The client ended its input. Every byte it sent already went to the guest,
 * so the CLOSE event follows them in the one ordered stream both guests get;
 * what the guest says in reply is still written (client_write_out) until
 * the guest's close is released.
 */
static void client_eof(struct primary *p, struct client *c)
{
	c->rd_closed = true;
	if (!c->guest_closed)
		pvm_send_event(p, CHAN_EV_CLOSE, c->id, 0, NULL, 0);
	if (client_watch(p, c) < 0)
		c->gone = true;
}

/* Is the guest more than limit bytes behind this client's last input, or
 * the secondary behind by that much on the link all clients share? */
static bool input_over(struct primary *p, const struct client *c,
		       uint64_t limit)
{
	uint64_t written = p->pvm.wr.written;

	if (c->in_end > written && c->in_end - written > limit)
		return true;
	return p->state == COLO_STATE_COLO && p->link.x &&
	       xport_queued(p->link.x) > limit;
}

/* After queueing c's input: past the limit, stop reading c (its kernel
 * buffers then fill and TCP slows it down) instead of queueing more. */
static void input_queued(struct primary *p, struct client *c)
{
	c->in_end = chan_queued_end(&p->pvm.wr);
	if (!input_over(p, c, p->opts.client_input_limit))
		return;
	c->rd_paused = true;
	p->npaused++;
	if (client_watch(p, c) < 0)
		c->gone = true;
}

/* Read paused clients again once the backlog is down to half the limit,
 * so that a client is not paused and resumed on every event. */
static void input_resume(struct primary *p)
{
	size_t i;

	for (i = 0; i < p->nclients && p->npaused; i++) {
		struct client *c = p->clients[i];

		if (!c->rd_paused ||
		    input_over(p, c, p->opts.client_input_limit / 2))
			continue;
		c->rd_paused = false;
		p->npaused--;
		if (client_watch(p, c) < 0)
			c->gone = true;
	}
}

static void on_client(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct primary *p = opaque;
	uint8_t buf[READ_CHUNK];
	struct client *c = NULL;
	size_t i;
	ssize_t n;

	(void)l;
	for (i = 0; i < p->nclients; i++)
		if (p->clients[i]->fd == fd)
			c = p->clients[i];
	if (!c)
		return;
	if ((events & EV_WRITE) && client_write_out(p, c) < 0) {
		client_gone(p, c);
		return;
	}
	if (!(events & EV_READ))
		return;
	if (c->rd_closed) {
		client_gone(p, c);     /* error or hangup, see client_watch */
		return;
	}
	/* A paused client gets here only for an error or hangup: reading
	 * finds out which, and adds at most what its socket still holds. */
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n > 0) {
		if (!c->guest_closed &&
		    pvm_send_event(p, CHAN_EV_DATA, c->id, 0, buf,
				   (size_t)n) == 0 && !c->rd_paused)
			input_queued(p, c);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == 0)
		client_eof(p, c);
	else
		client_gone(p, c);
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
static void accept_failed(struct primary *p, int err)
{
	if (!net_accept_exhausted(err))
		return;             /* transient: the next wake-up retries */
	evloop_mod(p->loop, p->listen_fd, 0);
	p->accept_resume_ms = evloop_now_ms() + ACCEPT_PAUSE_MS;
	p->accept_failures++;
	if (!report_due(&p->accept_report_ms))
		return;
	log_warn("accept: %s (%llu times since the last report); pausing "
		 "accepts for %d ms each time", strerror(-err),
		 (unsigned long long)p->accept_failures, ACCEPT_PAUSE_MS);
	p->accept_failures = 0;
}

/* Over --max-clients: accepted only to be closed, so that the client
 * learns at once rather than waiting in the backlog. The proxy does not
 * speak the guest's protocol, so there is no error message to send. */
static void refuse_client(struct primary *p, int cfd, const char *peer)
{
	close(cfd);
	p->refused_clients++;
	if (!report_due(&p->refused_report_ms))
		return;
	log_warn("refused %llu clients over --max-clients %u since the last "
		 "report (the last from %s)",
		 (unsigned long long)p->refused_clients, p->max_clients, peer);
	p->refused_clients = 0;
}

static int clients_reserve(struct primary *p)
{
	struct client **grown;
	size_t cap;

	if (p->nclients < p->clients_cap)
		return 0;
	cap = p->clients_cap ? p->clients_cap * 2 : 64;
	grown = realloc(p->clients, cap * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	p->clients = grown;
	p->clients_cap = cap;
	return 0;
}

static void on_accept(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct primary *p = opaque;
	struct client *c;
	char peer[64];
	int cfd;

	(void)events;
	cfd = net_accept(fd, peer, sizeof(peer));
	if (cfd < 0) {
		accept_failed(p, cfd);
		return;
	}
	if (p->nclients >= p->max_clients) {
		refuse_client(p, cfd, peer);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c || clients_reserve(p) < 0 ||
	    evloop_add(l, cfd, EV_READ, on_client, p) < 0) {
		log_warn("dropping client %s: out of memory", peer);
		free(c);
		close(cfd);
		return;
	}
	c->id = ++p->next_conn_id;
	c->fd = cfd;
	p->clients[p->nclients++] = c;
	if (p->state == COLO_STATE_COLO && cmp_conn_open(p->cmp, c->id) < 0)
		c->gone = true;     /* untracked output would never be released */
	log_debug("client %s is connection %u", peer, c->id);
	pvm_send_event(p, CHAN_EV_OPEN, c->id, 0, NULL, 0);
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

static void max_clients_init(struct primary *p)
{
	unsigned room = clients_fd_room();

	p->max_clients = p->opts.max_clients ? p->opts.max_clients : room;
	if (p->max_clients > room)
		log_warn("--max-clients %u: the fd limit leaves room for about "
			 "%u; accepting pauses while fds run out",
			 p->max_clients, room);
	log_info("at most %u clients", p->max_clients);
}

int proxy_init(struct primary *p)
{
	char err[256];

	p->listen_fd = net_listen(p->opts.service, err, sizeof(err));
	if (p->listen_fd < 0) {
		log_error("--service %s: %s", p->opts.service, err);
		return p->listen_fd;
	}
	max_clients_init(p);
	return evloop_add(p->loop, p->listen_fd, EV_READ, on_accept, p);
}

void proxy_deinit(struct primary *p)
{
	while (p->nclients)
		client_free(p, p->clients[0]);
	free(p->clients);
	p->clients = NULL;
	if (p->listen_fd >= 0) {
		evloop_del(p->loop, p->listen_fd);
		close(p->listen_fd);
		p->listen_fd = -1;
	}
}

/* A client that does not read what it asked for costs itself, not us:
 * one line, and proxy_flush_closing ends it. */
static void output_over(struct primary *p, struct client *c, size_t pending)
{
	log_warn("connection %u: %zu bytes of output unread, over "
		 "--client-output-limit %llu: disconnecting", c->id, pending,
		 (unsigned long long)p->opts.client_output_limit);
	c->gone = true;
	c->reset = true;
}

void proxy_release(void *opaque, uint32_t conn, const uint8_t *buf,
		   size_t len)
{
	struct primary *p = opaque;
	struct client *c = client_find(p, conn);

	if (!c || c->gone || c->close_ok)
		return;        /* the client left; its output has no reader */
	if (c->out_len + len > p->opts.client_output_limit) {
		output_over(p, c, c->out_len + len);
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
	if (client_write_out(p, c) < 0)
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
bool proxy_output_over(struct primary *p, uint32_t conn, size_t len)
{
	struct client *c = client_find(p, conn);
	size_t held, pending;

	if (!c || c->gone)
		return false;
	held = cmp_held(p->cmp, conn) + len;
	if (held <= p->opts.max_held_output)
		held = 0;
	else
		held -= p->opts.max_held_output;
	pending = c->out_len + held;
	if (pending <= p->opts.client_output_limit)
		return false;
	output_over(p, c, pending);
	cmp_conn_close(p->cmp, conn);
	return true;
}

/* The PVM closed conn; false when there is nothing to close (a client
 * already gone, or a second close). */
bool proxy_guest_closed(struct primary *p, uint32_t conn)
{
	struct client *c = client_find(p, conn);

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
	struct client *c = client_find(opaque, conn);

	if (c)
		c->close_ok = true;
}

/* Close connections the guest ended, once their last byte went out. */
void proxy_flush_closing(struct primary *p)
{
	size_t i = 0;

	while (i < p->nclients) {
		struct client *c = p->clients[i];

		if (c->gone) {
			client_gone(p, c);
			continue;
		}
		if (c->close_ok && !c->out_len) {
			client_free(p, c);
			continue;
		}
		i++;
	}
}

size_t proxy_conn_ids(struct primary *p, uint32_t *ids, size_t max)
{
	size_t i;

	for (i = 0; i < p->nclients && i < max; i++)
		ids[i] = p->clients[i]->id;
	return i;
}

/* Timed work of the proxy, from the loop: accept again after a pause, read
 * paused clients again once the guest caught up. */
void proxy_tick(struct primary *p)
{
	if (p->accept_resume_ms && evloop_now_ms() >= p->accept_resume_ms) {
		p->accept_resume_ms = 0;
		if (evloop_mod(p->loop, p->listen_fd, EV_READ) < 0)
			log_error("cannot watch the client port again");
	}
	if (p->npaused)
		input_resume(p);
}

uint64_t proxy_next_deadline_ms(struct primary *p)
{
	return p->accept_resume_ms ? p->accept_resume_ms : UINT64_MAX;
}
