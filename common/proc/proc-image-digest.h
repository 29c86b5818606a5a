/* SPDX-License-Identifier: MIT */
/*
 * Digests of a process image's memory, chunk by chunk, for `verify` of an
 * unmodified program: the primary digests the image it sends, the
 * secondary an image captured from its SVM right after applying it; equal
 * arrays say the SVM's memory is the PVM's.
 *
 * The pages of all runs, in address order, are cut into chunks of
 * chunk_pages; each chunk's SHA-256 covers every page's address and
 * contents, so a page at another address, or one present on one side
 * only, makes the chunks differ from there on.
 */
#ifndef COLO_PROC_IMAGE_DIGEST_H
#define COLO_PROC_IMAGE_DIGEST_H

#include <stdint.h>

#include "proc-image.h"

#define PROC_IMAGE_DIGEST_LEN 32

uint32_t proc_image_nchunks(const struct proc_image *img,
			    uint32_t chunk_pages);
/* out holds proc_image_nchunks * 32 bytes; addr (NULL: not wanted) as
 * many addresses, each chunk's first page. 0 or -errno. */
int proc_image_digests(const struct proc_image *img, uint32_t chunk_pages,
		       uint8_t *out, uint64_t *addr);

#endif
