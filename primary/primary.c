// SPDX-License-Identifier: MIT
/*
 * colo-primary's life: start the PVM, open the client port and the control
 * socket, say "ready", start live sync towards the secondary if there is
 * one, then run the event loop until told to stop.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl-server.h"
#include "digest.h"
#include "events.h"
#include "evloop.h"
#include "primary-int.h"
#include "log.h"
#include "metrics-http.h"
#include "xport.h"

#define TICK_MS 1000
/* An --exec program has this long to listen on its port. */
#define EXEC_START_TIMEOUT_MS 10000

const char *colo_state_name(enum colo_state s)
{
	switch (s) {
	case COLO_STATE_STANDALONE: return "standalone";
	case COLO_STATE_CONNECTING: return "connecting";
	case COLO_STATE_SYNCING: return "syncing";
	case COLO_STATE_COLO: return "colo";
	}
	return "unknown";
}

/* Live sync begins once the secondary answered; before, we dial. */
const char *primary_state_name(struct primary *p)
{
	return colo_state_name(p->state == COLO_STATE_SYNCING &&
			       !atomic_load(&p->mig.connected) ?
			       COLO_STATE_CONNECTING : p->state);
}

/* max-wait is the one `set` changes while the migration thread reads it. */
void primary_tunables(struct primary *p, struct proto_tunables *t)
{
	primary_opts_tunables(&p->opts, t);
	t->max_wait_ms = atomic_load(&p->max_wait_ms);
}

bool primary_stop_requested(struct primary *p)
{
	struct signalfd_siginfo si;

	if (read(p->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		char why[NOTIFY_STATUS_MAX];

		log_info("signal %u: stopping, leaving state %s", si.ssi_signo,
			 primary_state_name(p));
		snprintf(why, sizeof(why), "stopping (signal %u), leaving "
			 "state %s", si.ssi_signo, primary_state_name(p));
		notify_stopping(&p->notify, why);
		p->stop = true;
	}
	return p->stop;
}

/* Heartbeats go on during a wait, or a busy primary would look dead; a
 * broken link shows in the checkpoint's next read or write. */
int primary_wait_idle(void *opaque)
{
	struct primary *p = opaque;

	/* The main thread holds the link in colo state, and in syncing once
	 * the migration thread is joined: during the first checkpoint. */
	if (p->state == COLO_STATE_COLO ||
	    (p->state == COLO_STATE_SYNCING && !p->mig.running && p->link.x))
		link_heartbeat(&p->link, p->opts.heartbeat_ms);
	/* A bounded wait of the main thread: the loop is not stuck. */
	notify_watchdog(&p->notify, evloop_now_ms());
	return primary_stop_requested(p) ? -ECANCELED : 0;
}

struct cmp *primary_comparator_new(struct primary *p)
{
	return cmp_new(proxy_release, proxy_release_close, &p->proxy);
}

/* In colo state only: during live sync the migration thread owns the
 * link. */
static bool link_buffered(const struct primary *p)
{
	return p->state == COLO_STATE_COLO && link_has_buffered(&p->link);
}

static void on_signal(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	(void)l;
	(void)fd;
	(void)events;
	primary_stop_requested(opaque);
}

static int signals_init(struct primary *p)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	p->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (p->sig_fd < 0)
		return -errno;
	return evloop_add(p->loop, p->sig_fd, EV_READ, on_signal, p);
}

static void tick(struct primary *p)
{
	uint64_t now = evloop_now_ms();

	if (now - p->last_tick_ms < TICK_MS)
		return;
	p->last_tick_ms = now;
	pvm_send_event(&p->pvm, CHAN_EV_TICK, 0, now, NULL, 0);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* The next tick, re-dial, heartbeat, silence or checkpoint that is due. */
static uint64_t next_deadline_ms(struct primary *p)
{
	uint64_t d = p->last_tick_ms + TICK_MS;

	if (p->state == COLO_STATE_STANDALONE && p->redial && !p->mig.running)
		d = min_u64(d, p->redial_at_ms);
	if (p->state == COLO_STATE_COLO) {
		d = min_u64(d, p->link.hb_ms + p->opts.heartbeat_ms);
		d = min_u64(d, p->link.rx_ms + p->opts.failover_timeout_ms);
		d = checkpoint_deadline_ms(&p->ckpt, d);
	}
	return min_u64(d, proxy_next_deadline_ms(&p->proxy));
}

int colo_checkpoint(struct primary *p, bool verify, int child_wait_ms,
		    struct ckpt_result *res)
{
	int ret;

	if (p->state != COLO_STATE_COLO) {
		memset(res, 0, sizeof(*res));
		return -ENOTCONN;
	}
	ret = checkpoint_run(&p->ckpt, verify, child_wait_ms, res);
	if (ret == 0)
		events_checkpoint(p->ctl, p->ckpt.reason, res->id, res->pause_ms,
				  res->pages, res->bytes);
	/* -EAGAIN: put off, the --exec program has a child (pvm.c) or the
	 * secondary said "not now"; still due, tried again on a later turn
	 * with its reason, output held. */
	if (ret != -EAGAIN)
		p->ckpt.reason = NULL;
	/* A stop request (-ECANCELED) ends us with the output still held:
	 * releasing it would let out bytes the SVM may never produce. */
	if (ret < 0 && ret != -ECHILD && ret != -ECANCELED && ret != -EAGAIN)
		secondary_lost(p, ret == -ENOTSUP ? "the program cannot be "
			       "protected" : ret == -EBUSY ? "the secondary "
			       "put the checkpoint off too long (the program "
			       "kept a file open that its copy does not hold)"
			       : "checkpoint failed");
	if (ret == -ENOTSUP && p->ckpt.refusal[0])
		primary_refused_guest(p);
	return ret;
}

static void maybe_checkpoint(struct primary *p)
{
	struct ckpt_result res;

	if (p->state != COLO_STATE_COLO ||
	    !checkpoint_due(&p->ckpt, evloop_now_ms()))
		return;
	if (colo_checkpoint(p, false, CKPT_CHILD_GLANCE_MS, &res) == 0)
		log_debug("checkpoint %llu: %llu pages, %.1f ms",
			  (unsigned long long)res.id,
			  (unsigned long long)res.pages, res.pause_ms);
	ckpt_result_free(&res);
}

/* The link's handler for OUTPUT: the SVM's output, to the comparator. */
static int on_svm_output(void *opaque, const struct proto_msg *m)
{
	struct primary *p = opaque;

	return checkpoint_on_svm_output(&p->ckpt, m);
}

/* What the secondary may send unasked in colo state, and who takes it.
 * Heartbeats the link answers itself; replies a checkpoint waits for
 * (VERIFY, CKPT_ACK) it asks for with link_expect, so they are not here. */
static const link_handler_fn link_handlers[PROTO__MAX] = {
	[PROTO_OUTPUT] = on_svm_output,
};

/* What the proxy needs of the rest of the primary. */
static int proxy_to_guest(void *opaque, uint32_t type, uint32_t conn,
			  const void *data, size_t len)
{
		struct primary *p = opaque;

	return pvm_send_event(&p->pvm, type, conn, 0, data, len);
}

static uint64_t proxy_input_queued_end(void *opaque)
{
	struct primary *p = opaque;

	return pvm_input_queued_end(&p->pvm);
}

static uint64_t proxy_input_read(void *opaque)
{
	struct primary *p = opaque;

	return pvm_input_read(&p->pvm);
}

static size_t proxy_link_backlog(void *opaque)
{
	struct primary *p = opaque;

	if (p->state != COLO_STATE_COLO || !p->link.x)
		return 0;
	return xport_queued(p->link.x);
}

static bool proxy_protected(void *opaque)
{
	struct primary *p = opaque;

	return p->state == COLO_STATE_COLO;
}

static struct cmp *proxy_comparator(void *opaque)
{
	struct primary *p = opaque;

	return p->ckpt.cmp;
}

static const struct proxy_ops proxy_ops = {
	.to_guest = proxy_to_guest,
	.input_queued_end = proxy_input_queued_end,
	.input_read = proxy_input_read,
	.link_backlog = proxy_link_backlog,
	.protected = proxy_protected,
	.comparator = proxy_comparator,
};

/* The PVM's input goes to the secondary as well in colo state, numbered
 * the same, so both guests get one ordered stream. */
static void on_pvm_input(void *opaque, const struct chan_msg *ev)
{
	static const uint32_t kinds[CHAN__MAX] = {
		[CHAN_EV_OPEN] = PROTO_IN_OPEN,
		[CHAN_EV_DATA] = PROTO_IN_DATA,
		[CHAN_EV_CLOSE] = PROTO_IN_CLOSE,
		[CHAN_EV_TICK] = PROTO_IN_TICK,
	};
	struct primary *p = opaque;
	struct proto_msg m = { .type = PROTO_INPUT };

	if (p->state != COLO_STATE_COLO)
		return;
	m.input.seq = ev->seq;
	m.input.conn = ev->conn;
	m.input.kind = kinds[ev->type];
	m.input.arg = ev->a;
	m.input.len = ev->len;
	m.input.data = ev->data;
	link_queue(&p->link, &m);
}

/* The PVM's output: unprotected, straight to the client; in colo state,
 * to the comparator, where a difference asks for a checkpoint. */
static void on_pvm_output(void *opaque, uint32_t conn, const uint8_t *data,
			  size_t len)
{
	struct primary *p = opaque;

	if (p->state != COLO_STATE_COLO) {
		proxy_release(&p->proxy, conn, data, len);
		return;
	}
	if (proxy_output_over(&p->proxy, conn, len))
		return;
	if (cmp_push_pvm(p->ckpt.cmp, conn, data, len, evloop_now_ms()) ==
	    CMP_MISMATCH) {
		log_debug("conn %u: output differs, checkpoint", conn);
		checkpoint_mismatch(&p->ckpt);
		events_mismatch(p->ctl, conn, "output");
	}
	checkpoint_check_held(&p->ckpt);
}

static void on_pvm_close(void *opaque, uint32_t conn)
{
	struct primary *p = opaque;

	if (!proxy_guest_closed(&p->proxy, conn))
		return;
	/* Unprotected, the close goes out as output does. */
	if (p->state != COLO_STATE_COLO) {
		proxy_release_close(&p->proxy, conn);
		return;
	}
	if (cmp_close_pvm(p->ckpt.cmp, conn, evloop_now_ms()) == CMP_MISMATCH) {
		log_debug("conn %u: closed out of step, checkpoint", conn);
		checkpoint_mismatch(&p->ckpt);
		events_mismatch(p->ctl, conn, "close");
	}
}

/* The service is gone with its guest: stop, and say so in the exit status
 * (a supervisor's Restart=on-failure must see a failure, not a stop). */
static void on_pvm_died(void *opaque)
{
	struct primary *p = opaque;

	p->guest_died = true;
	p->stop = true;
}

static const struct pvm_ops pvm_ops = {
	.input = on_pvm_input,
	.output = on_pvm_output,
	.close = on_pvm_close,
	.idle = primary_wait_idle,
	.died = on_pvm_died,
};

/* Watch the running PVM: its dirty log, live sync's RAM state (which
 * answers its hints), its channel. */
static int pvm_attach(struct primary *p)
{
	int ret;

	ret = dirtylog_open(&p->dlog, p->pvm.proc.pid);
	if (ret < 0)
		return ret;
	ret = ram_state_init(&p->rs, &p->ram, &p->dlog,
			     p->opts.clear_bitmap_shift);
	if (ret == 0)
		ret = ram_state_set_delta_cache(&p->rs,
						p->opts.xbzrle_cache_size);
	if (ret < 0)
		return ret;
	/* Until live sync starts (migration_start), nobody wants discards. */
	ram_state_unprotected(&p->rs);
	return pvm_watch(&p->pvm, &p->rs);
}

static void proxy_limits_of(const struct primary_opts *o,
			    struct proxy_limits *l)
{
	l->client_output_limit = o->client_output_limit;
	l->client_input_limit = o->client_input_limit;
	l->max_held_output = o->max_held_output;
	l->max_clients = o->max_clients;
}

void primary_set_tunable(struct primary *p, enum tunable_id id, uint64_t v)
{
	struct proxy_limits l;

	primary_opts_set(&p->opts, id, v);
	proxy_limits_of(&p->opts, &l);
	proxy_set_limits(&p->proxy, &l);
}

static void ckpt_tunables(void *opaque, struct proto_tunables *t)
{
	primary_tunables(opaque, t);
}

static void ckpt_mismatch(void *opaque, uint32_t conn, const char *what)
{
	struct primary *p = opaque;

	events_mismatch(p->ctl, conn, what);
}

static const struct checkpoint_ops checkpoint_ops = {
	.idle = primary_wait_idle,
	.tunables = ckpt_tunables,
	.mismatch = ckpt_mismatch,
};

/* The checkpoint works on the units it is handed, never on p. */
static void checkpoint_wire(struct primary *p)
{
	p->ckpt.link = &p->link;
	p->ckpt.pvm = &p->pvm;
	p->ckpt.proxy = &p->proxy;
	p->ckpt.rs = &p->rs;
	p->ckpt.ram = &p->ram;
	p->ckpt.opts = &p->opts;
	p->ckpt.clock_ms = &p->last_tick_ms;
	p->ckpt.gen = &p->gen;
	p->ckpt.ops = &checkpoint_ops;
	p->ckpt.opaque = p;
	metrics_hist_init_ckpt_pause(&p->ckpt.pause_hist);
	metrics_hist_init_ckpt_pages(&p->ckpt.pages_hist);
}

static int setup(struct primary *p, struct primary_adopt *adopt)
{
	char hex[2 * DIGEST_LEN + 1];
	struct proxy_limits limits;
	int ret;

	p->loop = evloop_new();
	if (!p->loop)
		return -ENOMEM;
	pvm_init(&p->pvm, p->loop, &pvm_ops, p);
	ret = signals_init(p);
	if (ret < 0)
		return ret;
	ret = digest_file(p->opts.guest, p->guest_digest);
	if (ret < 0) {
		log_error("cannot read guest binary %s: %s", p->opts.guest,
			  strerror(-ret));
		return ret;
	}
	digest_hex(p->guest_digest, hex);
	log_info("guest %s sha256 %s", p->opts.guest, hex);
	checkpoint_wire(p);
	p->ckpt.cmp = primary_comparator_new(p);
	if (!p->ckpt.cmp)
		return -ENOMEM;
	ret = migration_init(&p->mig, &p->link, &p->rs, &p->ram,
			     &p->max_wait_ms);
	if (ret == 0)
		ret = evloop_add(p->loop, p->mig.event_fd, EV_READ,
				 primary_on_sync_done, p);
	if (ret < 0)
		return ret;
	link_set_handlers(&p->link, link_handlers, p);
	hb_rtt_reset(&p->link.rtt);
	link_set_loop(&p->link, p->loop, primary_on_link_lost);
	if (p->opts.exec) {
		/* No guest RAM of ours and no dirty log: the program's
		 * memory is its own, and each checkpoint copies it whole
		 * (image-save.h). The RAM state stays empty, for `status`. */
		if (adopt)
			ret = pvm_adopt_exec(&p->pvm, &adopt->exec_child,
					     adopt->exec_tracer,
					     p->opts.exec_port);
		else
			ret = pvm_start_exec(&p->pvm, p->opts.guest,
					     p->opts.guest_args,
					     p->opts.exec_port,
					     EXEC_START_TIMEOUT_MS);
		if (ret == 0)
			ret = ram_state_init(&p->rs, &p->ram, &p->dlog,
					     p->opts.clear_bitmap_shift);
	} else if (adopt) {
		p->ram = adopt->ram;
		pvm_adopt(&p->pvm, &adopt->guest);
		ret = pvm_attach(p);
	} else {
		ret = ram_layout_create(&p->ram, p->opts.ram_bytes);
		if (ret < 0) {
			log_error("cannot create %llu bytes of guest RAM: %s",
				  (unsigned long long)p->opts.ram_bytes,
				  strerror(-ret));
			return ret;
		}
		ret = pvm_start(&p->pvm, p->opts.guest, p->opts.guest_args,
				&p->ram);
		if (ret == 0)
			ret = pvm_attach(p);
	}
	if (ret < 0)
		return ret;
	proxy_limits_of(&p->opts, &limits);
	ret = proxy_init(&p->proxy, p->loop, p->opts.service, &limits,
			 &proxy_ops, p);
	if (ret < 0)
		return ret;
	ret = primary_control_init(p);
	if (ret < 0)
		return ret;
	ret = primary_metrics_init(p);
	/* A secondary taking over serves without metrics rather than not
	 * at all (the log says why). */
	return adopt ? 0 : ret;
}

static void teardown(struct primary *p)
{
	p->stop = true;
	primary_sync_cancel(p);
	migration_deinit(&p->mig);
	ctl_server_free(p->ctl);
	metrics_http_free(p->metrics);
	proxy_deinit(&p->proxy);
	pvm_deinit(&p->pvm);
	dirtylog_close(&p->dlog);
	ram_state_deinit(&p->rs);
	xport_free(p->link.x);
	xport_tls_ctx_free(p->tls);
	proto_rxbuf_free(&p->link.rx);
	cmp_free(p->ckpt.cmp);
	image_save_base_close(&p->ckpt.img_base);
	ram_layout_destroy(&p->ram);
	if (p->sig_fd >= 0)
		close(p->sig_fd);
	evloop_free(p->loop);
}

/*
 * The guest of a secondary that took over still believes the old primary's
 * clients are connected; they are gone, so tell it, and number new
 * connections above every id it has seen.
 */
static void adopt_connections(struct primary *p, struct primary_adopt *a)
{
	size_t i;

	p->pvm.input_seq = a->input_seq;
	p->proxy.next_conn_id = a->next_conn_id;
	p->gen = a->gen;
	for (i = 0; i < a->nopen; i++)
		pvm_send_event(&p->pvm, CHAN_EV_CLOSE, a->open_conns[i], 0,
			       NULL, 0);
	log_info("took over the guest (pid %d) after %llu input events; "
		 "closed %zu connections of the old primary",
		 (int)pvm_pid(&p->pvm), (unsigned long long)a->input_seq,
		 a->nopen);
}

int primary_run(const struct primary_opts *o)
{
	return primary_run_adopted(o, NULL);
}

int primary_run_adopted(const struct primary_opts *o,
			struct primary_adopt *adopt)
{
	struct primary *p = calloc(1, sizeof(*p));
	int ret;

	if (!p)
		return -ENOMEM;
	p->opts = *o;
	atomic_store(&p->max_wait_ms, o->max_wait_ms);
	p->sig_fd = -1;
	p->proxy.listen_fd = -1;
	p->mig.event_fd = -1;
	p->mig.cancel_fd = -1;
	p->pvm.proc.pid = -1;
	p->dlog.pagemap_fd = -1;     /* not opened yet: teardown must not
				      * close fd 0 */
	p->state = COLO_STATE_STANDALONE;
	p->ckpt.last_ms = p->last_tick_ms = evloop_now_ms();
	notify_init(&p->notify);
	p->took_over = adopt != NULL;
	p->failovers = adopt ? 1 : 0;

	ret = setup(p, adopt);
	if (ret < 0)
		goto out;
	if (adopt)
		adopt_connections(p, adopt);
	else if (getrandom(&p->gen.pair_id, sizeof(p->gen.pair_id), 0) !=
		 (ssize_t)sizeof(p->gen.pair_id))
		log_warn("getrandom: %s; pair id from the clock",
			 strerror(errno));
	if (!p->gen.pair_id)
		p->gen.pair_id = evloop_now_ms() ^ ((uint64_t)getpid() << 32);
	log_info("pair %016llx, generation %llu",
		 (unsigned long long)p->gen.pair_id,
		 (unsigned long long)p->gen.generation);
	if (o->exec)
		log_info("serving on %s, control on %s, program %s on its "
			 "port %u", o->service, o->control, o->guest,
			 o->exec_port);
	else
		log_info("serving on %s, control on %s, %llu MiB guest RAM",
			 o->service, o->control,
			 (unsigned long long)(ram_layout_bytes(&p->ram) >> 20));
	if (!adopt) {
		fprintf(stderr, "ready\n");
		primary_notify_ready(p);
	}
	p->redial = o->secondary != NULL;
	if (o->secondary) {
		ret = primary_sync_start(p);
		if (ret < 0)
			goto out;
	} else if (!adopt) {
		log_warn("no --secondary: running unprotected (standalone)");
	}

	while (!p->stop) {
		uint64_t now = evloop_now_ms();
		uint64_t deadline = next_deadline_ms(p);
		int timeout = deadline > now ? (int)(deadline - now) : 0;

		if (timeout > TICK_MS)
			timeout = TICK_MS;
		timeout = notify_timeout_ms(&p->notify, now, timeout);
		timeout = metrics_http_timeout(p->metrics, timeout);
		/* Secondary frames already read (see link_on_readable's
		 * budget) wait for no event: just peek at the rest. */
		if (link_buffered(p))
			timeout = 0;
		ret = evloop_run_once(p->loop, timeout);
		if (ret < 0 && ret != -EINTR) {
			log_error("event loop: %s", strerror(-ret));
			break;
		}
		if (p->stop)
			break;
		if (link_buffered(p))
			link_on_readable(p->loop, xport_fd(p->link.x), EV_READ,
					 &p->link);
		if (p->state == COLO_STATE_COLO)
			link_tick(&p->link, p->opts.heartbeat_ms,
				  p->opts.failover_timeout_ms);
		primary_redial_tick(p);
		maybe_checkpoint(p);
		proxy_flush_closing(&p->proxy);
		proxy_tick(&p->proxy);
		metrics_http_tick(p->metrics);
		tick(p);
		primary_notify_tick(p);
	}
	ret = p->guest_died || (!pvm_running(&p->pvm) && !p->stop) ?
	      -ECHILD : 0;
out:
	teardown(p);
	free(p);
	return ret;
}
