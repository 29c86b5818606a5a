// SPDX-License-Identifier: MIT
/*
 * The PVM: the primary's copy of the guest. Events go in numbered (and
 * ops.input passes each on, to the secondary in colo state); the guest's
 * output and closes come back and go up through ops. A libcolo-guest
 * program gets them on its channel, an unmodified one through proc-guest.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "pvm.h"
#include "ram-save.h"

#define GUEST_START_TIMEOUT_MS 10000
#define BARRIER_TIMEOUT_MS 30000
/* Above what loopback TCP buffers can hold unread (tcp_rmem's 6 MiB plus
 * our send queue's 4 MiB at most). */
#define PVM_EXEC_HISTORY_WINDOW (16u << 20)

static void exec_output(void *opaque, uint32_t conn, const uint8_t *data,
			size_t len)
{
	struct pvm *v = opaque;

	v->ops->output(v->opaque, conn, data, len);
}

static void exec_close(void *opaque, uint32_t conn)
{
	struct pvm *v = opaque;

	v->ops->close(v->opaque, conn);
}

static void exec_died(void *opaque)
{
	struct pvm *v = opaque;

	log_error("the PVM (the program) went away; stopping");
	v->ops->died(v->opaque);
}

static const struct proc_guest_ops exec_ops = {
	.output = exec_output,
	.close = exec_close,
	.died = exec_died,
};

void pvm_init(struct pvm *v, struct evloop *loop, const struct pvm_ops *ops,
	      void *opaque)
{
	memset(v, 0, sizeof(*v));
	v->loop = loop;
	v->ops = ops;
	v->opaque = opaque;
	v->proc.pid = -1;
	v->proc.chan_fd = v->proc.hint_fd = -1;
	v->proc.rd.fd = v->proc.wr.fd = v->proc.hint_rd.fd = -1;
	proc_guest_init(&v->exec, loop, &exec_ops, v);
	/* A checkpoint needs the bytes the program has not read yet, which
	 * sit in its socket and ours (a few MiB at most, the sockets'
	 * buffers); a secondary may be away for long, so keep a window of
	 * the latest rather than all since the last checkpoint. */
	v->exec.history_window = PVM_EXEC_HISTORY_WINDOW;
}

/* The hint thread reads hint_fd: end it before the fd is closed (and its
 * number possibly reused). */
static void hint_thread_end(struct pvm *v)
{
	if (!v->hint_thread_started)
		return;
	shutdown(v->proc.hint_fd, SHUT_RDWR);
	pthread_join(v->hint_thread, NULL);
	v->hint_thread_started = false;
}

static void flush_events(void *opaque);

void pvm_deinit(struct pvm *v)
{
	if (v->loop)
		evloop_defer_cancel(v->loop, flush_events, v);
	if (v->is_exec) {
		proc_guest_stop(&v->exec);
		return;
	}
	/* The hint thread ends when the guest's end of its socket closes. */
	if (v->proc.pid > 0)
		kill(v->proc.pid, SIGKILL);
	hint_thread_end(v);
	guestproc_stop(&v->proc);
}

static void died(struct pvm *v)
{
	log_error("the PVM (pid %d) went away; stopping", (int)v->proc.pid);
	evloop_del(v->loop, v->proc.chan_fd);
	hint_thread_end(v);
	guestproc_stop(&v->proc);
	v->ops->died(v->opaque);
}

static void watch(struct pvm *v)
{
	if (v->proc.pid >= 0)
		evloop_mod(v->loop, v->proc.chan_fd,
			   guestproc_events(&v->proc));
}

/* The events of one loop round go to the guest in one write, at the end
 * of the round (evloop_defer): one wake-up of the guest for all of them. */
static void flush_events(void *opaque)
{
	struct pvm *v = opaque;

	if (v->is_exec || v->proc.pid < 0)
		return;
	if (guestproc_flush(&v->proc) < 0)
		died(v);
	else
		watch(v);
}

static int on_guest_msg(void *opaque, const struct chan_msg *m)
{
	struct pvm *v = opaque;

	switch (m->type) {
	case CHAN_OUTPUT:
		v->ops->output(v->opaque, m->conn, m->data, m->len);
		break;
	case CHAN_CLOSE:
		v->ops->close(v->opaque, m->conn);
		break;
	default:
		log_warn("PVM sent an unexpected message type %u", m->type);
	}
	return 0;
}

static void on_readable(struct evloop *l, int fd, uint32_t events,
			void *opaque)
{
	struct pvm *v = opaque;

	(void)l;
	(void)fd;
	(void)events;
	if (guestproc_pump(&v->proc, NULL, on_guest_msg, v) < 0)
		died(v);
	else
		watch(v);
}

/*
 * Free page hints arrive on their own socket and are answered here, so that
 * a guest freeing memory waits only for bitmap_mutex, never for the event
 * loop. The guest reuses the pages only after the answer (I3).
 */
static void *hint_thread(void *opaque)
{
	struct pvm *v = opaque;
	struct chan_msg m;

	/* Only this thread reads hint_rd while it runs. */
	while (chan_recv(&v->proc.hint_rd, &m) == 0) {
		struct chan_msg ack = { .type = CHAN_HINT_ACK };
		int ret = -EPROTO;

		if (m.type == CHAN_HINT)
			ret = ram_discard_hint(v->rs, (uint32_t)m.a, m.b, m.c);
		if (ret < 0)
			log_warn("free page hint %#llx+%#llx refused: %s",
				 (unsigned long long)m.b,
				 (unsigned long long)m.c, strerror(-ret));
		ack.a = (uint64_t)(int64_t)ret;
		if (chan_send(v->proc.hint_fd, &ack) < 0)
			break;
	}
	return NULL;
}

int pvm_start(struct pvm *v, const char *guest, const char *const *args,
	      const struct ram_layout *ram)
{
	return guestproc_spawn(&v->proc, guest, args, ram, false,
			       GUEST_START_TIMEOUT_MS, NULL, NULL);
}

int pvm_start_exec(struct pvm *v, const char *path, const char *const *args,
		   uint16_t port, int timeout_ms)
{
	v->is_exec = true;
	return proc_guest_start(&v->exec, path, args, port, timeout_ms);
}

int pvm_adopt_exec(struct pvm *v, struct proc_child *child,
		   struct proc_stop *tracer, uint16_t port)
{
	v->is_exec = true;
	return proc_guest_adopt(&v->exec, child, tracer, port);
}

void pvm_adopt(struct pvm *v, struct guestproc *gp)
{
	v->proc = *gp;
	gp->pid = -1;
}

int pvm_watch(struct pvm *v, struct ram_state *rs)
{
	int ret;

	v->rs = rs;
	ret = pthread_create(&v->hint_thread, NULL, hint_thread, v);
	if (ret)
		return -ret;
	v->hint_thread_started = true;
	return evloop_add(v->loop, v->proc.chan_fd, guestproc_events(&v->proc),
			  on_readable, v);
}

bool pvm_running(const struct pvm *v)
{
	return pvm_pid(v) >= 0;
}

pid_t pvm_pid(const struct pvm *v)
{
	return v->is_exec ? v->exec.child.pid : v->proc.pid;
}

/* The events an unmodified program understands; a tick means nothing to
 * it (it reads its own clock). */
static int exec_event(struct pvm *v, uint32_t type, uint32_t conn,
		      const void *data, size_t len)
{
	switch (type) {
	case CHAN_EV_OPEN: return proc_guest_open(&v->exec, conn);
	case CHAN_EV_DATA: return proc_guest_write(&v->exec, conn, data, len);
	case CHAN_EV_CLOSE: return proc_guest_shutdown(&v->exec, conn);
	default: return proc_guest_running(&v->exec) ? 0 : -ECHILD;
	}
}

int pvm_send_event(struct pvm *v, uint32_t type, uint32_t conn, uint64_t arg,
		   const void *data, size_t len)
{
	struct chan_msg ev = {
		.type = type, .conn = conn, .seq = ++v->input_seq,
		.a = arg, .len = (uint32_t)len, .data = data,
	};
	int ret;

	if (v->is_exec) {
		ret = exec_event(v, type, conn, data, len);
		if (ret == 0)
			v->ops->input(v->opaque, &ev);
		return ret;
	}
	if (v->proc.pid < 0)
		return -ECHILD;
	ret = guestproc_send(&v->proc, &ev);
	if (ret < 0) {
		died(v);
		return ret;
	}
	/* The secondary's copy first: its way back (link, SVM, link) is the
	 * longer, and the comparator waits for both. */
	v->ops->input(v->opaque, &ev);
	evloop_defer(v->loop, flush_events, v);
	return 0;
}

/*
 * An unmodified program has no safe point to ask for: every thread is
 * stopped where it is (ptrace), then the output it wrote before the stop
 * is read, so that the comparator has seen all of it before the state is
 * captured.
 */
static int exec_pause(struct pvm *v, int child_wait_ms,
		      int (*child_idle)(void *), void *opaque)
{
	int ret;

	if (!proc_guest_running(&v->exec))
		return -ECHILD;
	/* Never with a child of its alive: the SVM could not follow. */
	ret = proc_guest_pause_childless(&v->exec, child_wait_ms,
					 BARRIER_TIMEOUT_MS, child_idle, opaque);
	if (ret == -EAGAIN || ret == -ECANCELED)
		return ret;
	if (ret < 0) {
		log_error("cannot stop the program for a checkpoint: %s",
			  strerror(-ret));
		proc_guest_resume(&v->exec);
		return ret == -ESRCH ? -ECHILD : ret;
	}
	proc_guest_drain(&v->exec);
	return 0;
}

void pvm_resume(struct pvm *v)
{
	int ret;

	if (!v->is_exec || !proc_guest_running(&v->exec))
		return;
	ret = proc_guest_resume(&v->exec);
	if (ret < 0)
		log_error("cannot resume the program after a checkpoint: %s",
			  strerror(-ret));
}

static int barrier_idle(void *opaque)
{
	struct pvm *v = opaque;

	return v->ops->idle ? v->ops->idle(v->opaque) : 0;
}

int pvm_barrier(struct pvm *v, int child_wait_ms, int (*child_idle)(void *),
		void *opaque)
{
	/* Hints need no answer here: hint_thread gives it. */
	const struct guestproc_wait_ops ops = {
		.on_msg = on_guest_msg, .idle = barrier_idle, .opaque = v,
	};
	int ret;

	if (v->is_exec)
		return exec_pause(v, child_wait_ms, child_idle, opaque);
	if (v->proc.pid < 0)
		return -ECHILD;
	ret = guestproc_barrier(&v->proc, ++v->barrier_id, BARRIER_TIMEOUT_MS,
				&ops);
	/* A barrier that timed out or was called off by a stop request
	 * leaves a live guest behind. */
	if (ret < 0 && ret != -ETIMEDOUT && ret != -ECANCELED)
		died(v);
	else
		watch(v);
	return ret;
}

uint64_t pvm_input_queued_end(const struct pvm *v)
{
	if (v->is_exec)
		return v->exec.queued_end;
	return chan_queued_end(&v->proc.wr);
}

uint64_t pvm_input_read(const struct pvm *v)
{
	if (v->is_exec)
		return v->exec.written;
	return v->proc.wr.written;
}
