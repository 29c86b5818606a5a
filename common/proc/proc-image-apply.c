// SPDX-License-Identifier: MIT
/*
 * Applying a proc_image to a stopped twin (proc-image.h has the order and
 * why). The fds go first: their injected calls use the twin's own stack
 * as scratch (an epoll_event below the red zone of the injecting thread),
 * which the image's pages then overwrite; the registers go last, as every
 * injected call restores the registers it found.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "proc-image-apply-int.h"
#include "proc-image.h"
#include "proc-inject.h"
#include "proc-mem.h"
#include "proc-ranges.h"
#include "proc-rseq.h"

#define PAGE 4096ULL
#define RED_ZONE 128            /* the x86-64 ABI's, below the stack pointer */
#define SEND_WAIT_MS 2000       /* for the twin's socket to take input */


static int check_threads(struct applier *ap)
{
	for (size_t i = 0; i < ap->img->n_threads; i++)
		if (!proc_stop_find_ns(ap->twin, ap->img->threads[i].ns_tid)) {
			log_error("proc-image: thread %d of the image has no "
				  "twin in %d", (int)ap->img->threads[i].ns_tid,
				  (int)ap->twin->pid);
			return -ESRCH;
		}
	if (ap->twin->n != ap->img->n_threads) {
		log_error("proc-image: %zu threads in the image, %zu in %d",
			  ap->img->n_threads, ap->twin->n, (int)ap->twin->pid);
		return -ESRCH;
	}
	return 0;
}

/* Both tables behind a refusal, fd by fd, for --verbose. */
static void log_tables(const struct proc_fd_table *pvm,
		       const struct proc_fd_table *svm, pid_t twin)
{
	const struct proc_fd_table *t[2] = { pvm, svm };
	static const char *const side[2] = { "PVM", "SVM" };
	char what[320];

	if (!log_enabled(LOG_LVL_DEBUG))
		return;
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < t[k]->n; i++) {
			proc_fd_describe(&t[k]->fds[i], what, sizeof(what));
			log_debug("proc-image: %d refused: %s fd %d: %s",
				  (int)twin, side[k], t[k]->fds[i].fd, what);
		}
}

/* The fd diff against the twin's table now; -ENOTSUP on a refusal. One
 * that is only for now (PROC_FDS_NOT_NOW) is the caller's to have asked
 * about before it changed anything: here it is as fatal as the rest. */
static int diff_twin(struct applier *ap, struct proc_fd_actions *acts)
{
	struct proc_fd_table svm = { 0 };
	int r = proc_fds_capture(ap->twin->pid, ap->pidfd, &svm);

	if (r == 0)
		r = proc_fds_diff(&ap->img->fds, &svm, acts);
	if (r == PROC_FDS_UNSUPPORTED || r == PROC_FDS_NOT_NOW)
		log_tables(&ap->img->fds, &svm, ap->twin->pid);
	proc_fds_free(&svm);
	if (r == PROC_FDS_UNSUPPORTED || r == PROC_FDS_NOT_NOW) {
		for (size_t i = 0; i < acts->n; i++)
			if (acts->a[i].kind == PROC_FD_ACT_REFUSE) {
				log_error("proc-image: fds of %d: %s",
					  (int)ap->twin->pid,
					  acts->a[i].reason);
				break;
			}
		r = -ENOTSUP;
	}
	return r;
}

/* An epoll_event written below the injecting thread's red zone. */
static int scratch_event(struct applier *ap, const struct proc_epoll_item *it,
			 uint64_t *addr)
{
	struct epoll_event ev = { .events = it->events, .data.u64 = it->data };
	struct user_regs_struct gp;
	int r = proc_regs_get_gp(ap->in.tid, &gp);

	if (r < 0)
		return r;
	*addr = (gp.rsp - RED_ZONE - 64) & ~15ULL;
	return proc_mem_write(ap->twin->pid, ap->mem, *addr, &ev, sizeof(ev));
}

static int64_t accept_into(struct applier *ap, const struct proc_fd_action *a)
{
	int64_t fd = proc_inject_accept4(&ap->in, a->listen_fd,
					 a->accept_flags), r;

	if (fd < 0 || fd == a->fd)
		return fd;
	r = proc_inject_dup3(&ap->in, (int)fd, a->fd,
			     a->accept_flags & SOCK_CLOEXEC ? O_CLOEXEC : 0);
	if (r >= 0)
		r = proc_inject_close(&ap->in, (int)fd);
	return r;
}

static int run_action(struct applier *ap, const struct proc_fd_action *a)
{
	static const char *const what[PROC_FD_ACT__MAX] = {
		[PROC_FD_ACT_REFUSE] = "refuse",
		[PROC_FD_ACT_EPOLL_DEL] = "epoll_ctl(DEL)",
		[PROC_FD_ACT_CLOSE] = "close",
		[PROC_FD_ACT_ACCEPT] = "accept4",
		[PROC_FD_ACT_EPOLL_ADD] = "epoll_ctl(ADD)",
		[PROC_FD_ACT_EPOLL_MOD] = "epoll_ctl(MOD)",
		[PROC_FD_ACT_EVENTFD_SET] = "eventfd counter",
		[PROC_FD_ACT_MOVE] = "dup3",
		[PROC_FD_ACT_LSEEK] = "lseek",
	};
	uint64_t ev = 0;
	int64_t r;

	switch (a->kind) {
	case PROC_FD_ACT_EPOLL_DEL:
		r = proc_inject_epoll_ctl(&ap->in, a->fd, EPOLL_CTL_DEL,
					  a->item.tfd, 0);
		break;
	case PROC_FD_ACT_CLOSE:
		r = proc_inject_close(&ap->in, a->fd);
		break;
	case PROC_FD_ACT_ACCEPT:
		r = accept_into(ap, a);
		break;
	case PROC_FD_ACT_EPOLL_ADD:
	case PROC_FD_ACT_EPOLL_MOD:
		r = scratch_event(ap, &a->item, &ev);
		if (r == 0)
			r = proc_inject_epoll_ctl(&ap->in, a->fd,
				a->kind == PROC_FD_ACT_EPOLL_ADD ?
				EPOLL_CTL_ADD : EPOLL_CTL_MOD, a->item.tfd, ev);
		break;
	case PROC_FD_ACT_EVENTFD_SET:
		r = proc_fds_eventfd_set(ap->pidfd, a->fd, a->count);
		break;
	case PROC_FD_ACT_MOVE:
		r = proc_inject_dup3(&ap->in, a->from, a->fd,
				     a->cloexec ? O_CLOEXEC : 0);
		if (r >= 0)
			r = proc_inject_close(&ap->in, a->from);
		break;
	case PROC_FD_ACT_LSEEK:
		r = proc_inject_lseek(&ap->in, a->fd, a->offset);
		if (r >= 0 && (uint64_t)r != a->offset)
			r = -EIO;
		break;
	default:
		r = -EINVAL;
		break;
	}
	if (r < 0)
		log_error("proc-image: %s on fd %d (target %d, listener %d) "
			  "of %d: %s", what[a->kind], a->fd, a->item.tfd,
			  a->listen_fd, (int)ap->twin->pid,
			  strerror((int)-r));
	return r < 0 ? (int)r : 0;
}

static int apply_fds(struct applier *ap)
{
	struct proc_fd_actions acts = { 0 };
	int r = diff_twin(ap, &acts);
	size_t moves = 0;

	for (size_t i = 0; i < acts.n && r == 0; i++) {
		r = run_action(ap, &acts.a[i]);
		moves += acts.a[i].kind == PROC_FD_ACT_MOVE;
	}
	if (r == 0 && moves)
		log_info("proc-image: %zu fd moves gave %d the PVM's fd "
			 "numbers", moves, (int)ap->twin->pid);
	proc_fd_actions_free(&acts);
	if (r < 0)
		return r;
	/* Again: nothing may be left, and an accept must have taken the
	 * connection meant (a wrong one is a connection that differs). */
	r = diff_twin(ap, &acts);
	if (r == 0 && acts.n > 0) {
		log_error("proc-image: fds of %d still differ after the "
			  "actions, first at fd %d", (int)ap->twin->pid,
			  acts.a[0].fd);
		r = -EPROTO;
	}
	proc_fd_actions_free(&acts);
	return r;
}

/* Reads and drops everything fd holds now. */
static int drain(int fd, const char *what, int prog_fd)
{
	char buf[16384];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0)
			continue;
		if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno == EINTR)
			continue;
		n = -errno;
		log_error("proc-image: draining %s of fd %d: %s", what, prog_fd,
			  strerror((int)-n));
		return (int)n;
	}
}

static int send_all(int fd, const uint8_t *p, size_t len, int prog_fd)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			int err = -errno;

			log_error("proc-image: input for fd %d: %s", prog_fd,
				  strerror(-err));
			return err;
		}
		if (n < 0 && errno == EAGAIN &&
		    poll(&pfd, 1, SEND_WAIT_MS) == 0) {
			log_error("proc-image: fd %d takes no more input",
				  prog_fd);
			return -ETIMEDOUT;
		}
	}
	return 0;
}

static const struct proc_image_link *link_of(const struct proc_image_link *l,
					     size_t n, uint16_t port)
{
	for (size_t i = 0; i < n; i++)
		if (proc_image_local_port(l[i].fd) == port)
			return &l[i];
	return NULL;
}

static int apply_conn(struct applier *ap, const struct proc_image_conn *c,
		      const struct proc_image_link *link)
{
	int mine, r;

	if (!link || link->input_len < c->unconsumed) {
		log_error("proc-image: fd %d: %s", c->fd, link ?
			  "less input history than the bytes it had unread" :
			  "no daemon end on its port");
		return -EPROTO;
	}
	mine = (int)syscall(SYS_pidfd_getfd, ap->pidfd, c->fd, 0);
	if (mine < 0) {
		int err = -errno;

		log_error("proc-image: pidfd_getfd fd %d of %d: %s", c->fd,
			  (int)ap->twin->pid, strerror(-err));
		return err;
	}
	r = drain(mine, "the twin's unread input", c->fd);
	close(mine);
	if (r == 0)
		r = drain(link->fd, "the twin's output", c->fd);
	if (r == 0)
		r = send_all(link->fd, link->input + link->input_len -
			     c->unconsumed, (size_t)c->unconsumed, c->fd);
	return r;
}

static int apply_conns(struct applier *ap, const struct proc_image_link *links,
		       size_t n_links)
{
	int r = 0;

	for (size_t i = 0; i < ap->img->n_conns && r == 0; i++) {
		const struct proc_image_conn *c = &ap->img->conns[i];

		r = apply_conn(ap, c, link_of(links, n_links, c->daemon_port));
	}
	return r;
}

/* Whether addr lies in one of the image's runs (sorted by address). */
static bool in_image(const struct proc_image *img, uint64_t addr)
{
	size_t lo = 0, hi = img->n_runs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct proc_image_run *run = &img->runs[mid];

		if (addr < run->addr)
			hi = mid;
		else if (addr >= run->addr + run->pages * PAGE)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

int proc_apply_drop(struct applier *ap, uint64_t addr, uint64_t pages)
{
	uint64_t args[6] = { addr, pages * PAGE, MADV_DONTNEED };
	int64_t ret;
	int r = proc_inject_syscall(&ap->in, SYS_madvise, args, &ret);

	if (r == 0 && ret < 0)
		r = (int)ret;
	if (r < 0)
		log_error("proc-image: madvise(DONTNEED) %#llx+%llu pages of "
			  "%d: %s", (unsigned long long)addr,
			  (unsigned long long)pages,
			  (int)ap->twin->pid, strerror(-r));
	return r;
}

/*
 * Drops the twin's own pages of v that the image does not have: its other
 * pages (none, the zero page, the file's) read as the source's do where
 * the source has no own page.
 */
static int drop_extra(struct applier *ap, int pagemap,
		      const struct proc_vma *v)
{
	struct proc_ranges own = { 0 };
	int r = proc_mem_own_pages(pagemap, v->start, v->end, &own);

	for (size_t i = 0; i < own.n && r == 0; i++) {
		uint64_t a = own.r[i].addr, end = a + own.r[i].pages * PAGE;

		while (a < end && r == 0) {
			uint64_t b = a;

			while (b < end && !in_image(ap->img, b))
				b += PAGE;
			if (b > a)
				r = proc_apply_drop(ap, a, (b - a) / PAGE);
			a = b > a ? b : a + PAGE;
		}
	}
	proc_ranges_free(&own);
	return r;
}

static int apply_memory(struct applier *ap)
{
	const struct proc_image *img = ap->img;
	int pagemap, r;

	r = proc_mem_reconcile_to(&img->maps, ap->twin->pid, &ap->in);
	if (r < 0)
		return r;
	if (ap->cache)
		return proc_apply_pages_cached(ap);
	pagemap = proc_mem_open(ap->twin->pid, "pagemap", O_RDONLY);
	if (pagemap < 0)
		return pagemap;
	for (size_t i = 0; i < img->maps.n && r == 0; i++)
		if (proc_image_carries(&img->maps.vma[i]))
			r = drop_extra(ap, pagemap, &img->maps.vma[i]);
	close(pagemap);
	for (size_t i = 0; i < img->n_runs && r == 0; i++) {
		const struct proc_image_run *run = &img->runs[i];

		r = proc_mem_write(ap->twin->pid, ap->mem, run->addr,
				   run->data, run->pages * PAGE);
		if (r < 0)
			log_error("proc-image: writing %#llx+%zu pages into "
				  "%d: %s", (unsigned long long)run->addr,
				  run->pages, (int)ap->twin->pid, strerror(-r));
	}
	return r;
}

/* The kernel's values (arch/x86/include/asm/..., not in uapi). */
#define ERESTARTNOHAND_ 514
#define ERESTART_RESTARTBLOCK_ 516

/*
 * A thread stopped in poll, nanosleep or a futex wait with a timeout would
 * resume through restart_syscall, which reads the call's arguments from
 * the kernel's restart block of the thread: the twin's own, pointing into
 * its own stack, not the source's (poll then failed with EFAULT where the
 * twin's stacks lay elsewhere). Restarting the call itself from its
 * registers, which the image carries, is what an unblocked signal does
 * too; a timeout starts again whole.
 */
static int set_registers(pid_t tid, const struct proc_regs *from)
{
	struct proc_regs *regs;
	int r;

	if (from->gp.rax != (uint64_t)-ERESTART_RESTARTBLOCK_ ||
	    (int64_t)from->gp.orig_rax < 0)
		return proc_regs_set(tid, from);
	regs = malloc(sizeof(*regs));
	if (!regs)
		return -ENOMEM;
	*regs = *from;
	regs->gp.rax = (uint64_t)-ERESTARTNOHAND_;
	r = proc_regs_set(tid, regs);
	free(regs);
	return r;
}

static int apply_registers(struct applier *ap)
{
	for (size_t i = 0; i < ap->img->n_threads; i++) {
		const struct proc_image_thread *t = &ap->img->threads[i];
		int r = set_registers(proc_stop_find_ns(ap->twin,
							t->ns_tid)->tid,
				      t->regs);

		if (r < 0)
			return r;
	}
	return 0;
}

static int apply(struct applier *ap, const struct proc_image_link *links,
		 size_t n_links)
{
	struct proc_stop *twin = ap->twin;
	struct proc_fd_actions acts = { 0 };
	struct proc_rseq_moves rseq = { 0 };
	int r;

	/* Step 1: what cannot be matched is refused before any change. */
	r = check_threads(ap);
	if (r == 0)
		r = diff_twin(ap, &acts);
	proc_fd_actions_free(&acts);
	if (r < 0)
		return r;
	ap->mem = proc_mem_open(twin->pid, "mem", O_RDWR);
	if (ap->mem < 0)
		return ap->mem;
	r = proc_inject_init(&ap->in, twin, twin->thread[0].tid);
	if (r == 0)
		r = apply_fds(ap);
	if (r == 0)
		r = apply_conns(ap, links, n_links);
	/* rseq areas that move with the thread pointers: unregistered
	 * while the memory is still the twin's own (proc-rseq.h). */
	if (r == 0)
		r = proc_rseq_unhook(twin, ap->img, &rseq);
	if (r == 0)
		r = apply_memory(ap);
	if (r == 0)
		r = proc_rseq_rehook(twin, &rseq);
	free(rseq.m);
	if (r == 0)
		r = apply_registers(ap);
	close(ap->mem);
	if (r < 0)
		log_error("proc-image: %d is half-made (%s): kill and restart "
			  "it", (int)twin->pid, strerror(-r));
	return r;
}

int proc_image_apply(const struct proc_image *img, struct proc_stop *twin,
		     int pidfd, const struct proc_image_link *links,
		     size_t n_links)
{
	struct applier ap = { .img = img, .twin = twin, .pidfd = pidfd };

	/* A delta's runs are not all the pages: it needs the cache's. */
	if (img->delta) {
		log_error("proc-image: a delta is applied from a cache, "
			  "not alone");
		return -EINVAL;
	}
	return apply(&ap, links, n_links);
}

int proc_image_apply_cached(const struct proc_image *img,
			    const struct proc_cache *cache,
			    struct proc_track *twin_track, bool twin_is_cache,
			    struct proc_stop *twin, int pidfd,
			    const struct proc_image_link *links,
			    size_t n_links, const struct proc_image_idle *idle)
{
	struct applier ap = {
		.img = img, .twin = twin, .pidfd = pidfd, .cache = cache,
		.track = twin_track, .twin_is_cache = twin_is_cache,
		.idle = idle,
	};

	return apply(&ap, links, n_links);
}
