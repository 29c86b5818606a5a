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
#include "evloop.h"
#include "primary-int.h"
#include "log.h"
#include "xport.h"

#define TICK_MS 1000

void primary_opts_defaults(struct primary_opts *o)
{
	size_t i;

	memset(o, 0, sizeof(*o));
	for (i = 0; i < TUNABLE__MAX; i++)
		if (tunables[i].flags & TUNABLE_PRIMARY)
			primary_opts_set(o, (enum tunable_id)i,
					 tunables[i].def);
}

void primary_opts_set(struct primary_opts *o, enum tunable_id id, uint64_t v)
{
	unsigned u = (unsigned)v;    /* every count and time fits */

	switch (id) {
	case TUNABLE_CHECKPOINT_DELAY: o->checkpoint_delay_ms = u; break;
	case TUNABLE_COMPARE_TIMEOUT: o->compare_timeout_ms = u; break;
	case TUNABLE_MAX_WAIT: o->max_wait_ms = u; break;
	case TUNABLE_CLEAR_BITMAP_SHIFT: o->clear_bitmap_shift = u; break;
	case TUNABLE_HEARTBEAT: o->heartbeat_ms = u; break;
	case TUNABLE_FAILOVER_TIMEOUT: o->failover_timeout_ms = u; break;
	case TUNABLE_RAM: o->ram_bytes = v; break;
	case TUNABLE_CLIENT_OUTPUT_LIMIT: o->client_output_limit = v; break;
	case TUNABLE_CLIENT_INPUT_LIMIT: o->client_input_limit = v; break;
	case TUNABLE_MAX_HELD_OUTPUT: o->max_held_output = v; break;
	case TUNABLE_MAX_CLIENTS: o->max_clients = u; break;
	case TUNABLE__MAX: break;
	}
}

void primary_opts_tunables(const struct primary_opts *o,
			   struct proto_tunables *t)
{
	t->checkpoint_delay_ms = o->checkpoint_delay_ms;
	t->compare_timeout_ms = o->compare_timeout_ms;
	t->max_wait_ms = o->max_wait_ms;
	t->clear_bitmap_shift = o->clear_bitmap_shift;
	t->heartbeat_ms = o->heartbeat_ms;
	t->failover_timeout_ms = o->failover_timeout_ms;
}

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
		log_info("signal %u: stopping, leaving state %s", si.ssi_signo,
			 primary_state_name(p));
		p->stop = true;
	}
	return p->stop;
}

/* Heartbeats go on during a wait, or a busy primary would look dead; a
 * broken link shows in the checkpoint's next read or write. */
int primary_wait_idle(void *opaque)
{
	struct primary *p = opaque;

	if (p->state == COLO_STATE_COLO)
		link_heartbeat(&p->link, p->opts.heartbeat_ms);
	return primary_stop_requested(p) ? -ECANCELED : 0;
}

struct cmp *primary_comparator_new(struct primary *p)
{
	return cmp_new(proxy_release, proxy_release_close, &p->proxy);
}

/*
 * The secondary is gone. The PVM is now the only copy, so holding output
 * back protects nobody: release it and go on unprotected.
 */
void secondary_lost(struct primary *p, const char *why)
{
	if (!p->link.x)
		return;
	log_error("secondary lost (%s): continuing unprotected", why);
	snprintf(p->last_error, sizeof(p->last_error), "secondary lost: %s",
		 why);
	if (p->state == COLO_STATE_COLO)
		evloop_del(p->loop, xport_fd(p->link.x));
	xport_free(p->link.x);
	p->link.x = NULL;
	p->state = COLO_STATE_STANDALONE;
	ram_state_unprotected(&p->rs);
	p->secondary_losses++;
	p->redial_at_ms = evloop_now_ms() + 500;
	p->ckpt.requested = false;
	cmp_checkpoint_done(p->ckpt.cmp);
	cmp_free(p->ckpt.cmp);
	p->ckpt.cmp = primary_comparator_new(p);
}

/* Re-dial a secondary we could not reach with a capped backoff. */
#define REDIAL_MIN_MS 500
#define REDIAL_MAX_MS 5000

/* Live sync towards opts.secondary, on the migration thread with a copy of
 * what it needs to dial. */
int primary_sync_start(struct primary *p)
{
	struct migration_config cfg = { 0 };
	char err[256];
	int ret;

	if (!p->opts.insecure && !p->tls) {
		p->tls = xport_tls_ctx_new(p->opts.tls_creds, XPORT_TLS_CLIENT,
					   err, sizeof(err));
		if (!p->tls) {
			log_error("%s", err);
			return -EINVAL;
		}
		ret = xport_tls_ctx_set_authz(p->tls, p->opts.tls_authz,
					      p->opts.ntls_authz);
		if (ret < 0)
			return ret;
	}
	cfg.secondary = p->opts.secondary;
	cfg.insecure = p->opts.insecure;
	cfg.tls = p->tls;
	cfg.tls_hostname = p->opts.tls_hostname;
	memcpy(cfg.guest_digest, p->guest_digest, sizeof(cfg.guest_digest));
	cfg.gen = p->gen;
	cfg.heartbeat_ms = p->opts.heartbeat_ms;
	cfg.failover_timeout_ms = p->opts.failover_timeout_ms;
	ret = migration_start(&p->mig, &cfg);
	if (ret < 0)
		return ret;
	p->state = COLO_STATE_SYNCING;
	return 0;
}

/* Live sync called off (or ended without protection): unprotected. */
static void sync_ended(struct primary *p)
{
	xport_free(p->link.x);
	p->link.x = NULL;
	p->state = COLO_STATE_STANDALONE;
	ram_state_unprotected(&p->rs);
}

/* on_sync_done then finds nothing to join; the state is standalone. */
void primary_sync_cancel(struct primary *p)
{
	if (!p->mig.running)
		return;
	migration_cancel(&p->mig);
	sync_ended(p);
}

/* Protected from here on: compare every connection's output. */
static void colo_enter(struct primary *p)
{
	proxy_track_all(&p->proxy, p->ckpt.cmp);
	p->state = COLO_STATE_COLO;
	p->ckpt.last_ms = p->link.rx_ms = p->link.hb_ms = evloop_now_ms();
	/* A secondary silent this long is lost, also in the middle of a
	 * checkpoint: never keep clients waiting longer than that. The main
	 * thread's waits end on a stop signal. */
	xport_set_timeout(p->link.x, (int)p->opts.failover_timeout_ms);
	xport_set_cancel(p->link.x, p->sig_fd);
	if (evloop_add(p->loop, xport_fd(p->link.x), EV_READ, link_on_readable,
		       &p->link) < 0)
		secondary_lost(p, "cannot watch the link");
}

/* Unprotected, with a secondary to protect us: dial it again when due. */
static void redial_tick(struct primary *p)
{
	uint64_t now = evloop_now_ms();

	if (p->state == COLO_STATE_STANDALONE && p->redial && !p->mig.running &&
	    p->opts.secondary && now >= p->redial_at_ms) {
		log_info("dialling secondary %s to be protected again",
			 p->opts.secondary);
		if (primary_sync_start(p) < 0)
			p->redial_at_ms = now + 5000;
	}
}

/* Not protected yet: try again later, sooner after the first failures. */
static void schedule_redial(struct primary *p)
{
	uint64_t now = evloop_now_ms();

	p->dial_failures++;
	p->redial_backoff_ms = !p->redial_backoff_ms ? REDIAL_MIN_MS :
			       p->redial_backoff_ms * 2 > REDIAL_MAX_MS ?
			       REDIAL_MAX_MS : p->redial_backoff_ms * 2;
	p->redial_at_ms = now + p->redial_backoff_ms;
	/* A secondary down for hours must not fill the journal: say each new
	 * reason, then every minute or so. */
	if (p->dial_failures == 1 || strcmp(p->last_error, p->mig.error) ||
	    p->dial_failures % (60000 / REDIAL_MAX_MS) == 0)
		log_error("protection not established (%llu failed tries): %s; "
			  "next try in %u ms",
			  (unsigned long long)p->dial_failures,
			  p->mig.error[0] ? p->mig.error : "unknown error",
			  p->redial_backoff_ms);
}

/* Live sync failed, or its first checkpoint did: refused for good, or
 * another try later. */
static void sync_failed(struct primary *p, int ret)
{
	if (ret != -ECANCELED && atomic_load(&p->mig.refused)) {
		log_error("%s", p->mig.error);
		log_warn("not dialling %s again until `colo-ctl protect`",
			 p->opts.secondary);
		p->redial = false;
	} else if (ret != -ECANCELED) {
		if (!p->mig.error[0])
			snprintf(p->mig.error, sizeof(p->mig.error),
				 "first checkpoint failed: %s",
				 strerror(-ret));
		schedule_redial(p);
	}
	if (p->mig.error[0])
		snprintf(p->last_error, sizeof(p->last_error), "%s",
			 p->mig.error);
	sync_ended(p);
}

/* The migration thread's event_fd: live sync ended. Converged, the first
 * checkpoint (stop-and-copy) makes the pair. */
static void on_sync_done(struct evloop *l, int fd, uint32_t events,
			 void *opaque)
{
	struct primary *p = opaque;
	struct ram_save_stats st;
	int ret;

	(void)l;
	(void)fd;
	(void)events;
	if (!migration_join(&p->mig, &ret))
		return;
	if (ret == 0)
		ret = checkpoint_first(&p->ckpt);
	if (ret < 0) {
		sync_failed(p, ret);
		return;
	}
	p->redial_backoff_ms = 0;
	p->dial_failures = 0;
	p->last_error[0] = '\0';
	ram_state_get_stats(&p->rs, &st);
	p->last_sync_ms = (double)(evloop_now_ms() - p->mig.started_ms);
	p->last_sync_pages = st.pages_sent - p->mig.base.pages_sent;
	p->last_sync_bytes = st.bytes_sent - p->mig.base.bytes_sent;
	colo_enter(p);
	log_info("protected: live sync took %.0f ms, %llu pages (%llu MiB of "
		 "data); pair in colo state", p->last_sync_ms,
		 (unsigned long long)p->last_sync_pages,
		 (unsigned long long)(p->last_sync_bytes >> 20));
}

static void on_link_lost(void *opaque, const char *why)
{
	secondary_lost(opaque, why);
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

int colo_checkpoint(struct primary *p, bool verify, struct ckpt_result *res)
{
	int ret;

	if (p->state != COLO_STATE_COLO) {
		memset(res, 0, sizeof(*res));
		return -ENOTCONN;
	}
	ret = checkpoint_run(&p->ckpt, verify, res);
	/* A stop request (-ECANCELED) ends us with the output still held:
	 * releasing it would let out bytes the SVM may never produce. */
	if (ret < 0 && ret != -ECHILD && ret != -ECANCELED)
		secondary_lost(p, "checkpoint failed");
	return ret;
}

static void maybe_checkpoint(struct primary *p)
{
	struct ckpt_result res;

	if (p->state != COLO_STATE_COLO ||
	    !checkpoint_due(&p->ckpt, evloop_now_ms()))
		return;
	if (colo_checkpoint(p, false, &res) == 0)
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
	}
}

static void on_pvm_died(void *opaque)
{
	struct primary *p = opaque;

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

static const struct checkpoint_ops checkpoint_ops = {
	.idle = primary_wait_idle,
	.tunables = ckpt_tunables,
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
				 on_sync_done, p);
	if (ret < 0)
		return ret;
	link_set_handlers(&p->link, link_handlers, p);
	link_set_loop(&p->link, p->loop, on_link_lost);
	if (adopt) {
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
	return primary_control_init(p);
}

static void teardown(struct primary *p)
{
	p->stop = true;
	primary_sync_cancel(p);
	migration_deinit(&p->mig);
	ctl_server_free(p->ctl);
	proxy_deinit(&p->proxy);
	pvm_deinit(&p->pvm);
	dirtylog_close(&p->dlog);
	ram_state_deinit(&p->rs);
	xport_free(p->link.x);
	xport_tls_ctx_free(p->tls);
	proto_rxbuf_free(&p->link.rx);
	cmp_free(p->ckpt.cmp);
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
		 (int)p->pvm.proc.pid, (unsigned long long)a->input_seq,
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
	p->state = COLO_STATE_STANDALONE;
	p->ckpt.last_ms = p->last_tick_ms = evloop_now_ms();

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
	log_info("serving on %s, control on %s, %llu MiB guest RAM",
		 o->service, o->control,
		 (unsigned long long)(ram_layout_bytes(&p->ram) >> 20));
	if (!adopt)
		fprintf(stderr, "ready\n");
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
		redial_tick(p);
		maybe_checkpoint(p);
		proxy_flush_closing(&p->proxy);
		proxy_tick(&p->proxy);
		tick(p);
	}
	ret = !pvm_running(&p->pvm) && !p->stop ? -ECHILD : 0;
out:
	teardown(p);
	free(p);
	return ret;
}
