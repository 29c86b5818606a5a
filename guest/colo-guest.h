/* SPDX-License-Identifier: MIT */
/*
 * libcolo-guest: what a protected service links.
 *
 * A guest keeps all of its state in guest RAM, allocated with colo_alloc(),
 * and reacts to events from its daemon (connection opened, bytes received,
 * connection closed, tick). Its only output is colo_send(). It never opens
 * sockets of its own, never reads the clock or a random source except
 * through events, and never stores a function pointer in guest RAM (the two
 * copies of the binary may be loaded at different addresses).
 *
 * The allocator is deterministic: the same calls give the same layout on
 * both hosts. Freeing whole pages zeroes them and sends a free page hint to
 * the daemon, so that migration skips them.
 */
#ifndef COLO_GUEST_H
#define COLO_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct colo_guest;

struct colo_guest_ops {
	void (*on_open)(struct colo_guest *g, void *app, uint32_t conn);
	void (*on_data)(struct colo_guest *g, void *app, uint32_t conn,
			const uint8_t *data, size_t len);
	/* The client's input ended (it half-closed or went away). Output
	 * sent until on_close returns still reaches a half-closed client;
	 * then the loop closes the connection (colo_close). */
	void (*on_close)(struct colo_guest *g, void *app, uint32_t conn);
	void (*on_tick)(struct colo_guest *g, void *app, uint64_t clock_ms);
};

/*
 * Maps guest RAM, registers the dirty log and, unless resuming, sets up an
 * empty heap. Reads the COLO_GUEST_* environment its daemon sets. NULL on
 * failure, after printing the reason to stderr.
 */
struct colo_guest *colo_guest_init(void);
/* Closes the channels and frees the handle (NULL is fine). Guest RAM stays
 * mapped until the process exits. */
void colo_guest_free(struct colo_guest *g);

/* True when RAM came from a checkpoint: the app must not initialise. */
bool colo_guest_resumed(const struct colo_guest *g);

/* The app's root pointer, kept in guest RAM so that a resumed guest finds
 * its state: set it once after initialising. */
void colo_guest_set_root(struct colo_guest *g, void *root);
void *colo_guest_root(const struct colo_guest *g);

/* Runs the event loop until the daemon closes the channel. Returns 0 then,
 * or -errno on a channel error. */
int colo_guest_run(struct colo_guest *g, const struct colo_guest_ops *ops,
		   void *app);

/* Output to a connection (split as needed). 0 or -errno. */
int colo_send(struct colo_guest *g, uint32_t conn, const void *buf,
	      size_t len);
/* Close a connection after its output. */
int colo_close(struct colo_guest *g, uint32_t conn);

/* The guest RAM heap. NULL when full. */
void *colo_alloc(struct colo_guest *g, size_t size);
void *colo_calloc(struct colo_guest *g, size_t n, size_t size);
void *colo_realloc(struct colo_guest *g, void *p, size_t size);
void colo_free(struct colo_guest *g, void *p);

struct colo_heap_stats {
	uint64_t ram_bytes, used_bytes, hinted_pages;
};
void colo_heap_stats(const struct colo_guest *g, struct colo_heap_stats *st);

#endif
