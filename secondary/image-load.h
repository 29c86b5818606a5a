/* SPDX-License-Identifier: MIT */
/*
 * A process guest's checkpoint data, received: the IMAGE pieces gathered
 * in order into one buffer (nothing touches the SVM meanwhile, I7), then
 * decoded as a whole at CKPT_END (proc-image-wire.h). The --exec
 * counterpart of the RAM cache: the image is the PVM's state, kept only
 * until it is applied.
 *
 * Main thread only, like the incoming stream that owns it.
 */
#ifndef COLO_SECONDARY_IMAGE_LOAD_H
#define COLO_SECONDARY_IMAGE_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "proc-image.h"
#include "proto.h"

struct image_load {
	uint8_t *buf;
	size_t len, cap;
	uint64_t total;                 /* 0: no piece yet */
};

/* Forget what was gathered (a new checkpoint begins, or the link ends). */
void image_load_reset(struct image_load *il);
/* One piece: it must follow the last one and agree on the total; 0 or
 * -EPROTO (logged, naming what did not fit), -ENOMEM. */
int image_load_piece(struct image_load *il, const struct proto_image *m,
		     const char *peer);
/* The image, once every piece is here: 0, or -EPROTO (missing pieces, or
 * what decode refused, logged). img is freed with proc_image_free. */
int image_load_decode(struct image_load *il, struct proc_image *img,
		      const char *peer);

#endif
