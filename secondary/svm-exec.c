// SPDX-License-Identifier: MIT
/*
 * The SVM as an unmodified program: started the way the primary started
 * its own (proc-guest.h), fed the primary's input events as TCP bytes on
 * connections whose local ports match the primary's, its output sent back
 * for comparison, and made the PVM's image at each checkpoint.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proc-cache.h"
#include "proc-fds.h"
#include "proc-guest.h"
#include "proc-idle.h"
#include "proc-image-digest.h"
#include "proc-image.h"
#include "proc-track.h"
#include "svm-exec.h"

#define EXEC_START_TIMEOUT_MS 10000
#define EXEC_STOP_TIMEOUT_MS 10000
#define EXEC_CONNECT_TIMEOUT_MS 5000
#define SVM_EXEC_HISTORY_WINDOW (16u << 20)
/* Before an apply, the SVM's own children (its BGSAVE) may finish within
 * this, heartbeating; then they are killed. */
#define SVM_CHILD_WAIT_MS 2000

static void exec_output(void *opaque, uint32_t conn, const uint8_t *data,
			size_t len)
{
	struct svm *v = opaque;
	struct proto_msg out = { .type = PROTO_OUTPUT };

	out.output.conn = conn;
	out.output.kind = PROTO_OUT_DATA;
	/* An OUTPUT carries at most PROTO_MAX_DATA. */
	while (len) {
		size_t n = len < PROTO_MAX_DATA ? len : PROTO_MAX_DATA;

		out.output.len = (uint32_t)n;
		out.output.data = data;
		v->ops.output(v->ops.opaque, &out);
		data += n;
		len -= n;
	}
}

static void exec_close(void *opaque, uint32_t conn)
{
	struct svm *v = opaque;
	struct proto_msg out = { .type = PROTO_OUTPUT };

	svm_conns_remove(v, conn);
	out.output.conn = conn;
	out.output.kind = PROTO_OUT_CLOSE;
	v->ops.output(v->ops.opaque, &out);
}

static void exec_died(void *opaque)
{
	struct svm *v = opaque;

	v->ops.gone(v->ops.opaque, "the SVM (the program) exited");
}

static const struct proc_guest_ops exec_ops = {
	.output = exec_output,
	.close = exec_close,
	.died = exec_died,
};

/* A proc_guest that is not running: safe to stop, ready to start. */
int svm_exec_init(struct svm *v)
{
	if (!v->exec)
		v->exec = calloc(1, sizeof(*v->exec));
	if (!v->exec)
		return -ENOMEM;
	proc_guest_init(v->exec, v->loop, &exec_ops, v);
	/* Each applied image resets the history; between two, keep a window
	 * rather than hold the program's input back (proc-guest.h). */
	v->exec->history_window = SVM_EXEC_HISTORY_WINDOW;
	return 0;
}

/* The dirty log belongs to one run of the program. */
static void forget_writes(struct svm *v)
{
	if (v->exec_track)
		proc_track_close(v->exec_track);
	free(v->exec_track);
	v->exec_track = NULL;
	v->exec_twin_is_cache = false;
}

/* The cache to one primary: live sync fills it before the program runs. */
void svm_exec_drop_cache(struct svm *v)
{
	proc_cache_free(v->exec_cache);
	v->exec_cache = NULL;
	v->exec_twin_is_cache = false;
}

static void forget_pages(struct svm *v)
{
	svm_exec_drop_cache(v);
	forget_writes(v);
}

int svm_exec_start(struct svm *v)
{
	/* A kept fenced SVM took the last one with it (svm_move). */
	int ret = svm_exec_init(v);

	forget_writes(v);
	if (ret < 0)
		return ret;
	return proc_guest_start(v->exec, v->guest, v->guest_args, v->exec_port,
				EXEC_START_TIMEOUT_MS);
}

void svm_exec_stop(struct svm *v)
{
	forget_pages(v);
	proc_guest_stop(v->exec);
}

bool svm_exec_running(const struct svm *v)
{
	return v->exec && proc_guest_running(v->exec);
}

/* A tick means nothing to a program that reads its own clock. */
int svm_exec_feed(struct svm *v, const struct proto_input *in)
{
	switch (in->kind) {
	case PROTO_IN_OPEN: return proc_guest_open(v->exec, in->conn);
	case PROTO_IN_DATA:
		return proc_guest_write(v->exec, in->conn, in->data, in->len);
	case PROTO_IN_CLOSE: return proc_guest_shutdown(v->exec, in->conn);
	default: return proc_guest_running(v->exec) ? 0 : -ECHILD;
	}
}

static bool listed(const uint32_t *ids, size_t n, uint32_t id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/*
 * The PVM's connections as of the checkpoint, ours too: one the primary
 * had before we were there (or that our program closed early) is opened
 * now, from the same port, so that applying the image finds it in the
 * program's listen queue or table as on the PVM.
 */
static int open_missing(struct svm *v, const uint32_t *conns, size_t nconns)
{
	size_t n = proc_guest_conns(v->exec, NULL, NULL, 0), i;
	uint32_t *have = calloc(n + 1, sizeof(*have));
	int ret = 0;

	if (!have)
		return -ENOMEM;
	n = proc_guest_conns(v->exec, have, NULL, n);
	for (i = 0; i < nconns && ret == 0; i++) {
		uint32_t id = conns[i] & ~PROTO_CONN_SHUT;

		if (!listed(have, n, id))
			ret = proc_guest_open(v->exec, id);
	}
	free(have);
	if (ret == 0)
		ret = proc_guest_wait_connected(v->exec,
						EXEC_CONNECT_TIMEOUT_MS);
	if (ret < 0)
		log_error("checkpoint: cannot open the PVM's connections to "
			  "the SVM: %s", strerror(-ret));
	return ret;
}

/* The image names connections by the daemon's port; links carry our fd
 * and the bytes the program must find unread. */
static int make_links(struct svm *v, const struct proc_image *img,
		      struct proc_image_link *links, uint32_t *ids)
{
	size_t i;

	for (i = 0; i < img->n_conns; i++) {
		const struct proc_image_conn *c = &img->conns[i];
		bool here = proc_guest_conn_by_port(v->exec, c->daemon_port,
						    &ids[i], &links[i].fd) == 0;

		if (!here || c->input_len < c->unconsumed) {
			log_error("checkpoint: the PVM's fd %d (port %u) has "
				  "%s", c->fd, c->daemon_port,
				  !here ? "no connection here" :
					  "less input than it left unread");
			return -EPROTO;
		}
		links[i].input = c->input;
		links[i].input_len = c->unconsumed;
	}
	return 0;
}

/* Half-closed by its client on the primary: here too, once the input the
 * program has not read is back in place (the end comes after it). */
static int shut_as_pvm(struct svm *v, const uint32_t *conns, size_t nconns)
{
	size_t i;
	int ret = 0;

	for (i = 0; i < nconns && ret == 0; i++)
		if (conns[i] & PROTO_CONN_SHUT)
			ret = proc_guest_shutdown(v->exec,
						  conns[i] & ~PROTO_CONN_SHUT);
	return ret;
}

/* After the apply: each connection's history is what was just written
 * into the program's socket, its queue the rest of the PVM's. */
static int reset_inputs(struct svm *v, const struct proc_image *img,
			const uint32_t *ids)
{
	size_t i;
	int ret;

	for (i = 0; i < img->n_conns; i++) {
		const struct proc_image_conn *c = &img->conns[i];

		ret = proc_guest_reset_input(v->exec, ids[i], c->input,
					     c->unconsumed,
					     c->input + c->unconsumed,
					     c->input_len - c->unconsumed);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* verify: what the SVM's memory is now, digested as the PVM's image was.
 * Captured with our ends of its connections, as on the primary. */
static int digest_svm(struct svm *v, const struct proc_image_link *links,
		      size_t n, struct svm_image_digests *dg)
{
	struct proc_image now = { 0 };
	int *fds = calloc(n + 1, sizeof(*fds));
	size_t i;
	int ret;

	if (!fds)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		fds[i] = links[i].fd;
	ret = proc_image_capture(proc_guest_tracer(v->exec),
				 v->exec->child.pidfd, fds, n, &now);
	free(fds);
	if (ret < 0)
		return ret;
	dg->nchunks = proc_image_nchunks(&now, dg->chunk_pages);
	dg->digests = malloc((size_t)dg->nchunks * PROC_IMAGE_DIGEST_LEN + 1);
	ret = dg->digests ? proc_image_digests(&now, dg->chunk_pages,
					       dg->digests, NULL) : -ENOMEM;
	proc_image_free(&now);
	return ret;
}

/*
 * The PVM's pages as of img, in the cache: a whole image fills it, a
 * delta updates it. Checked before it changes, so a delta that does not
 * fit (none came before it since the program started, or it names pages
 * we do not have) leaves both the cache and the SVM as they were (I7).
 */
static int cache_image(struct svm *v, const struct proc_image *img)
{
	char why[256];
	int ret;

	if (!v->exec_cache)
		v->exec_cache = proc_cache_new();
	if (!v->exec_cache)
		return -ENOMEM;
	ret = proc_cache_update(v->exec_cache, img, why, sizeof(why));
	if (ret == -EPROTO)
		log_error("checkpoint: the program's pages do not follow: %s",
			  why);
	else if (ret < 0)
		log_error("checkpoint: caching the program's pages: %s",
			  strerror(-ret));
	return ret;
}

/* Live sync: a window of the PVM's pages, added to the cache. */
int svm_exec_cache_add(struct svm *v, const struct proc_image *img)
{
	int ret;

	if (!v->exec_cache)
		v->exec_cache = proc_cache_new();
	if (!v->exec_cache)
		return -ENOMEM;
	ret = proc_cache_add(v->exec_cache, img);
	if (ret < 0)
		log_error("live sync: caching the program's pages: %s",
			  strerror(-ret));
	return ret;
}

/* The SVM's own dirty log, opened once per run of the program. */
static int follow_writes(struct svm *v)
{
	int ret;

	if (v->exec_track)
		return 0;
	v->exec_track = calloc(1, sizeof(*v->exec_track));
	if (!v->exec_track)
		return -ENOMEM;
	ret = proc_track_open(v->exec_track, v->exec->child.pid,
			      v->exec->child.pidfd);
	if (ret < 0) {
		free(v->exec_track);
		v->exec_track = NULL;
	}
	return ret;
}

/*
 * The paused SVM's fds against the PVM's as the image has them: whether
 * the apply would be refused only for now (PROC_FDS_NOT_NOW: the PVM was
 * caught with a regular file open that the SVM does not hold). Anything
 * else, refusals too, is left to the apply, which diffs again and says
 * why; a capture that fails here will there too.
 */
static bool fds_not_now(struct svm *v, const struct proc_image *img)
{
	struct proc_fd_table svm = { 0 };
	struct proc_fd_actions acts = { 0 };
	int r = proc_fds_capture(v->exec->child.pid, v->exec->child.pidfd,
				 &svm);

	if (r == 0)
		r = proc_fds_diff(&img->fds, &svm, &acts);
	proc_fds_free(&svm);
	for (size_t i = 0; r == PROC_FDS_NOT_NOW && i < acts.n; i++)
		if (acts.a[i].kind == PROC_FD_ACT_REFUSE &&
		    acts.a[i].transient) {
			if (v->exec_not_now)
				log_debug("checkpoint not now: %s",
					  acts.a[i].reason);
			else
				log_info("checkpoint not now: %s; the SVM "
					 "resumes as it was, the primary tries "
					 "again (not logged again until one is "
					 "applied)", acts.a[i].reason);
			v->exec_not_now = true;
			break;
		}
	proc_fd_actions_free(&acts);
	return r == PROC_FDS_NOT_NOW;
}

int svm_exec_apply(struct svm *v, const struct proc_image *img,
		   const uint32_t *conns, size_t nconns,
		   struct svm_image_digests *dg)
{
	/* The primary waits for our answer meanwhile: heartbeats go on. */
	struct proc_image_idle idle = { v->ops.idle, v->ops.opaque };
	struct proc_image_link *links;
	uint32_t *ids;
	int ret;

	/* Heartbeats inside the long steps too: the cache's copy, the
	 * writes, verify's capture and digests of a big program. */
	proc_idle_set(v->ops.idle, v->ops.opaque);
	/* Our dirty log of the program (once per run) and the PVM's
	 * connections, which it must find pending or have: neither is
	 * undone by a "not now" below, as neither makes the program other
	 * than it would be (the connections are its clients' anyway). */
	ret = follow_writes(v);
	if (ret == 0)
		ret = open_missing(v, conns, nconns);
	/* Paused once its children had their chance to end, and a thread
	 * the PVM started a moment earlier had its chance to come here. */
	if (ret == 0)
		ret = proc_guest_pause_settled(v->exec, SVM_CHILD_WAIT_MS,
					       EXEC_STOP_TIMEOUT_MS,
					       img->n_threads, v->ops.idle,
					       v->ops.opaque);
	if (ret < 0) {
		proc_idle_set(NULL, NULL);
		return ret;
	}
	/* "Not now" comes before any change: the cache, the children, the
	 * program's fds and memory are all as they were when it resumes. */
	if (fds_not_now(v, img)) {
		ret = proc_guest_resume(v->exec);
		proc_idle_set(NULL, NULL);
		return ret < 0 ? ret : SVM_APPLY_NOT_NOW;
	}
	/* Checked before it changes (cache_image), so a delta that does not
	 * fit leaves the SVM running as it was too. */
	ret = cache_image(v, img);
	if (ret < 0) {
		(void)proc_guest_resume(v->exec);
		proc_idle_set(NULL, NULL);
		return ret;
	}
	links = calloc(img->n_conns + 1, sizeof(*links));
	ids = calloc(img->n_conns + 1, sizeof(*ids));
	if (!links || !ids) {
		ret = -ENOMEM;
		goto out;
	}
	/* Its children are ended: the PVM's image has none. */
	ret = proc_guest_end_children(v->exec, EXEC_STOP_TIMEOUT_MS);
	if (ret == 0)
		ret = make_links(v, img, links, ids);
	if (ret == 0)
		ret = proc_image_apply_cached(img, v->exec_cache,
					      v->exec_track,
					      v->exec_twin_is_cache,
					      proc_guest_tracer(v->exec),
					      v->exec->child.pidfd, links,
					      img->n_conns, &idle);
	/* Half made on a failure: the caller starts the program again. */
	v->exec_twin_is_cache = ret == 0;
	if (ret == 0 && dg)
		ret = digest_svm(v, links, img->n_conns, dg);
	if (ret == 0)
		ret = reset_inputs(v, img, ids);
	if (ret == 0)
		ret = shut_as_pvm(v, conns, nconns);
	if (ret == 0)
		ret = proc_guest_resume(v->exec);
	if (ret == 0 && v->exec_not_now) {
		log_info("checkpoint applied after the \"not now\" above");
		v->exec_not_now = false;
	}
out:
	proc_idle_set(NULL, NULL);
	free(links);
	free(ids);
	return ret;
}

void svm_exec_detach(struct svm *v, struct proc_child *child,
		     struct proc_stop **tracer)
{
	forget_pages(v);
	proc_guest_detach(v->exec, child, tracer);
}
