/* SPDX-License-Identifier: MIT */
/*
 * A whole stopped program as data: captured from one program, applied to
 * its stopped twin (the same binary started the same way, proc-launch.h),
 * which then continues exactly where the first stopped, its client
 * connections included.
 *
 * An image holds the memory map, the present pages of the private data
 * mappings (writable ones, and read-only non-executable ones: RELRO and
 * the loader's), every thread's registers and signal mask keyed by its
 * id inside the program's PID namespace, the fd table (proc-fds.h), and
 * per client connection how many of the bytes the daemon sent the
 * program has not consumed: those unread in the program's socket plus
 * those not yet acknowledged on the daemon's end.
 *
 * A connection is named by its daemon's end: the local port the daemon
 * bound it to (proc_connect_from), the same on both hosts. The caller
 * keeps, per connection, every byte it wrote to the program (its input
 * history); apply takes the last "unconsumed" bytes of it.
 *
 * Nothing here is a wire format: proc-image-wire.h turns an image into
 * bytes and back. Every call comes from the thread that holds the programs
 * stopped (proc-stop.h).
 */
#ifndef COLO_PROC_IMAGE_H
#define COLO_PROC_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proc-fds.h"
#include "proc-maps.h"
#include "proc-ranges.h"
#include "proc-regs.h"
#include "proc-stop.h"

/* Consecutive present pages, and their contents. */
struct proc_image_run {
	uint64_t addr;
	size_t pages;
	uint8_t *data;                  /* pages * 4096 bytes */
};


struct proc_image_thread {
	pid_t ns_tid;
	struct proc_regs *regs;
};

struct proc_image_conn {
	int fd;                         /* the program's fd */
	uint16_t daemon_port;           /* the daemon's end: its local port */
	uint64_t unconsumed;            /* bytes sent it has not read */
	/* The last `unconsumed` bytes the daemon wrote, then the bytes it
	 * still queues for the program. Owned by the image; capture leaves
	 * them NULL/0 and the caller fills them (the daemon knows its own
	 * history). input_len >= unconsumed whenever input is set. */
	uint8_t *input;
	size_t input_len;
};

struct proc_image {
	struct proc_maps maps;
	struct proc_image_run *runs;    /* in address order */
	size_t n_runs;
	struct proc_image_thread *threads;
	size_t n_threads;
	struct proc_fd_table fds;
	struct proc_image_conn *conns;  /* one per TCP connection in fds */
	size_t n_conns;
	/*
	 * A delta (proc_image_capture_tracked, not full) carries in runs
	 * only the pages that changed since the image it follows; present
	 * then lists every page the program holds content of its own in,
	 * in address order, and every run lies inside it. A full image has
	 * delta false and no present list: its runs are that list.
	 */
	bool delta;
	struct proc_image_range *present;
	size_t n_present;
};

/*
 * Captures the program held stopped in ps (pidfd its pidfd). daemon_fds
 * are the daemon's ends of its client connections (bound with
 * proc_connect_from); every connection of the program must have one
 * (-ENOTCONN, logged, naming the fd, otherwise). 0 or -errno (logged);
 * out is then freed. proc_image_free releases a captured image.
 */
int proc_image_capture(struct proc_stop *ps, int pidfd, const int *daemon_fds,
		       size_t n_daemon_fds, struct proc_image *out);

void proc_image_free(struct proc_image *img);

/*
 * What a program's own pages are, for capture, deltas and apply alike:
 * pages of the carried mappings (proc_image_carries) that are present or
 * swapped and hold content of the program's own: anonymous ones (a
 * private file page it wrote is anonymous after the copy), not the shared
 * zero page and not a file's page it only read. Everything else reads
 * the same on the twin once dropped (MADV_DONTNEED: zero, or the file's).
 * A full image's runs are exactly these pages.
 */

/*
 * The capturing side's memory of the image it sent last, which a delta
 * follows: the program's dirty log (proc-track.h) and that image's own
 * pages. valid is false until a capture succeeds, and after
 * proc_image_base_invalidate.
 *
 * For proc_image_base_not_applied it also keeps, from the last capture
 * if it was a delta, the own pages of the image that delta followed
 * (before) and every page it carried or was to carry (sent); and, after
 * a capture was not applied, the pages the next one must carry though
 * the dirty log no longer shows them (pending). Range lists only: no
 * page is copied.
 */
struct proc_track;
struct proc_image_base {
	struct proc_track *track;       /* the caller's, open on the program */
	struct proc_image_range *present;
	size_t n_present;
	bool valid;
	bool before_valid;              /* the last capture was a delta */
	struct proc_ranges before;      /* present as that delta followed it */
	struct proc_ranges sent;        /* what it carried, and pending then */
	struct proc_ranges pending;     /* for the next capture to carry */
};

/*
 * Like proc_image_capture, and also reads and clears the program's dirty
 * log (base->track, refreshed first). With full, or when base is not
 * valid, the image is full; otherwise it is a delta of the last image
 * captured with base: runs hold each own page written since (the dirty
 * log), each own page that was not an own page then, each own page in
 * base->pending, and every own page of a mapping the log does not follow
 * (read-only data, a mapping the kernel refused or that was registered
 * only now). Either way base then follows this image. If the other side
 * did not apply it, the caller says so: proc_image_base_not_applied when
 * it knows that side holds the image before, unchanged, else
 * proc_image_base_invalidate (the next capture is full). 0 or -errno
 * (logged); base is invalid after a failure.
 */
int proc_image_capture_tracked(struct proc_stop *ps, int pidfd,
			       const int *daemon_fds, size_t n_daemon_fds,
			       struct proc_image_base *base, bool full,
			       struct proc_image *out);

/*
 * Live sync of a program that runs (proc-image-sweep.c): its own pages a
 * window of the address space at a time, so that no step on either side
 * is longer than one window's. A sweep begins full (every own page) or
 * not (only what changed since the last sweep with base, which must have
 * ended; else it is full); each proc_image_sweep_next gives the next
 * window's pages as an image of pages only (map and runs: no threads, fds
 * or connections, delta false), at most about max_pages own pages looked
 * at, possibly none carried. Such images are never applied, only added
 * to the other side's cache (proc_cache_add): a page written while they
 * are read is in the dirty log again, and the next capture with base
 * (the first checkpoint's, the program stopped) is the delta that makes
 * the other side exact. 0 while windows remain, 1 when the sweep has
 * ended (base then follows it), -errno (logged; base invalid).
 */
struct proc_image_sweep {
	uint64_t next;                  /* where the next window starts */
	bool full;
	struct proc_ranges seen;        /* own pages read so far */
};

void proc_image_sweep_begin(struct proc_image_sweep *sw, bool full);
int proc_image_sweep_next(pid_t pid, struct proc_image_base *base,
			  struct proc_image_sweep *sw, uint64_t max_pages,
			  struct proc_image *out);
void proc_image_sweep_free(struct proc_image_sweep *sw);

/* The next capture with base is full. */
void proc_image_base_invalidate(struct proc_image_base *base);

/*
 * The last image captured with base was not applied, and the other side
 * still holds, unchanged, the image before it (a "not now"): base follows
 * that image again, and the next capture is a delta of it that also
 * carries every own page the rejected one carried (its dirty-log bits
 * were cleared by that capture). Over a streak of such captures the
 * pages add up, so a page carried by the first and not own at the second
 * is still carried once it is own again. When the last capture was full
 * (nothing before it to follow) or was already called not applied, base
 * is invalidated instead. A capture that is applied needs no call.
 */
void proc_image_base_not_applied(struct proc_image_base *base);

/* Frees what base holds (not its track). */
void proc_image_base_free(struct proc_image_base *base);

/* The present pages it carries, over all runs. */
uint64_t proc_image_pages(const struct proc_image *img);

/* The daemon's end of one connection to the twin, and its input history. */
struct proc_image_link {
	int fd;                         /* bound to the port the image names */
	const uint8_t *input;           /* every byte written to the program */
	size_t input_len;               /* on this connection, oldest first */
};

/*
 * Makes the twin held stopped in twin (pidfd its pidfd) the image, in
 * this order, each step checked before the next:
 *   1. its thread set and fd table compared with the image's: a thread
 *      or an fd that cannot be matched is refused before anything changes
 *   2. the fd-table diff's actions injected (close, accept4 moved with
 *      dup3, epoll_ctl), then the table captured again and compared: it
 *      must equal the image's (the accepted connections are the ones
 *      meant)
 *   3. per connection: the twin's unread bytes drained (a pidfd_getfd
 *      copy of its socket), what it sent the daemon's end discarded (its
 *      output since the last checkpoint), and the last `unconsumed` bytes
 *      of the link's input written into the daemon's end
 *   4. its map reconciled to the image's (proc_mem_reconcile_to), the
 *      image's pages written, and pages the twin has where the image has
 *      none dropped (madvise MADV_DONTNEED: zero, or the file's)
 *   5. every thread's registers and signal mask, last
 * Returns 0, or -errno with the step that failed logged (-ENOTSUP: the
 * fd diff refused; -ESRCH: the thread sets differ; -EPROTO: the twin
 * does not match after a step, or a link lacks input history). After a
 * failure at step 2 or later the twin is half-made: the caller kills it
 * and starts it again; nothing reports it as the image.
 */
int proc_image_apply(const struct proc_image *img, struct proc_stop *twin,
		     int pidfd, const struct proc_image_link *links,
		     size_t n_links);

/*
 * proc_image_apply, with the pages taken from cache (proc-cache.h),
 * already updated with img, which may be a delta. When twin_is_cache
 * (the last apply made this twin's pages this cache's, and its dirty log
 * twin_track has followed it since), step 4 writes only what may differ:
 * the pages img carries, the pages the twin wrote since (its log,
 * refreshed and read here) and the pages that the twin and the cache
 * disagree on holding. Otherwise (a fresh twin, or a cache a new primary
 * filled) it writes every page the cache holds: a page the twin wrote
 * before its shim's constructor write-protected it, and never since, is
 * in no log, and may hold anything. After it every own page of the
 * twin's is the cache's, it has no other, and its dirty log is clear.
 * idle (may be NULL) is called between every 64 MiB written (a first
 * checkpoint after a live sync writes the whole program into a fresh
 * twin: seconds for a large one, which the caller's heartbeats must
 * span). Same returns as proc_image_apply.
 *
 * With COLO_CHECK_APPLY=1 in the environment (the tests set it), step 4
 * ends by reading every held page back from the twin and comparing it
 * with the cache's, and the twin's own pages with the cache's set: a
 * difference fails the apply (-EPROTO, the first addresses logged).
 */
struct proc_cache;
struct proc_image_idle {
	int (*fn)(void *opaque);        /* nonzero ends the apply with it */
	void *opaque;
};
int proc_image_apply_cached(const struct proc_image *img,
			    const struct proc_cache *cache,
			    struct proc_track *twin_track, bool twin_is_cache,
			    struct proc_stop *twin, int pidfd,
			    const struct proc_image_link *links,
			    size_t n_links, const struct proc_image_idle *idle);

/*
 * The pages img's present list names (every own page of the program when
 * img, a delta, was captured), read from pid, still stopped, into out as
 * runs only (no map, threads or fds): what the other side holds once it
 * applied img, for verify's digests. 0 or -errno (logged).
 */
int proc_image_read_present(const struct proc_image *img, pid_t pid,
			    struct proc_image *out);

/* Shared by capture and apply, and useful to callers. */

/* Whether the image carries v's pages (private data mappings). */
bool proc_image_carries(const struct proc_vma *v);

/* The local port a daemon's end is bound to, or 0. */
uint16_t proc_image_local_port(int fd);

#endif
