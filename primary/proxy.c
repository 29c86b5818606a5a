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
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evloop.h"
#include "primary-int.h"
#include "log.h"
#include "xport.h"

#define READ_CHUNK 65536

static struct client *client_find(struct primary *p, uint32_t id)
{
	size_t i;

	for (i = 0; i < p->nclients; i++)
		if (p->clients[i]->id == id)
			return p->clients[i];
	return NULL;
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
	return evloop_mod(p->loop, c->fd, (c->rd_closed ? 0 : EV_READ) |
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
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n > 0) {
		if (!c->guest_closed)
			pvm_send_event(p, CHAN_EV_DATA, c->id, 0, buf,
				       (size_t)n);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == 0)
		client_eof(p, c);
	else
		client_gone(p, c);
}

static void on_accept(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct primary *p = opaque;
	struct client *c, **grown;
	char peer[64];
	int cfd;

	(void)events;
	cfd = net_accept(fd, peer, sizeof(peer));
	if (cfd < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (p->nclients == p->clients_cap) {
		size_t cap = p->clients_cap ? p->clients_cap * 2 : 64;

		grown = realloc(p->clients, cap * sizeof(*grown));
		if (grown) {
			p->clients = grown;
			p->clients_cap = cap;
		}
	}
	if (!c || p->nclients == p->clients_cap ||
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

int proxy_init(struct primary *p)
{
	char err[256];

	p->listen_fd = net_listen(p->opts.service, err, sizeof(err));
	if (p->listen_fd < 0) {
		log_error("--service %s: %s", p->opts.service, err);
		return p->listen_fd;
	}
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

void proxy_release(void *opaque, uint32_t conn, const uint8_t *buf,
		   size_t len)
{
	struct primary *p = opaque;
	struct client *c = client_find(p, conn);

	if (!c || c->gone || c->close_ok)
		return;        /* the client left; its output has no reader */
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
