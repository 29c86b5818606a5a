/* SPDX-License-Identifier: MIT */
/*
 * A proc_image (proc-image.h) as one buffer of bytes, to cross the link
 * from the primary to the secondary, and back. Fixed-width big-endian
 * fields as common/proto's, after a magic and a version:
 *
 *   header   "COLOPIMG" u16 version, u16 flags (bit 0: a delta)
 *   maps     u32 n, then per VMA: start, end, offset (u64), prot (u32),
 *            shared, kind (u8), path (u16 length + bytes)
 *   runs     u32 n, then per run: addr, pages (u64), pages * 4096 bytes
 *   threads  u32 n, then per thread: ns_tid (u32), the 27 general
 *            registers (u64), sigmask (u64), xstate (u32 length + bytes)
 *   fds      u32 n, then per fd: every field of struct proc_fd, its
 *            epoll items as a u32 count and (tfd, events, data) each
 *   conns    u32 n, then per connection: fd (u32), daemon_port (u16),
 *            unconsumed (u64), input (u64 length + bytes)
 *   present  a delta only: u32 n, then per range: addr, pages (u64)
 *
 * Both directions hold the same limits, so whatever encode produces,
 * decode takes: at most PROC_WIRE_MAX_COUNT VMAs, threads, fds, epoll
 * items per fd, connections or present ranges, strings of at most
 * PROC_WIRE_MAX_STR bytes without a NUL. Decode also checks what apply
 * relies on: VMAs and runs page-aligned, in address order and not
 * overlapping, fds in fd order, an xstate no longer than struct proc_regs
 * holds; a delta's present ranges page-aligned, non-empty, in order and
 * apart (neither overlapping nor touching: one spelling), each page of
 * them in a carried VMA (proc_image_carries), and every run inside one;
 * no other flag. A full image has no present list. The encoder writes
 * what it is given: a present list as proc_image_capture_tracked makes
 * it (merged) is the one the decoder takes.
 */
#ifndef COLO_PROC_IMAGE_WIRE_H
#define COLO_PROC_IMAGE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "proc-image.h"

#define PROC_WIRE_VERSION 2
#define PROC_WIRE_MAX_COUNT 65536
#define PROC_WIRE_MAX_STR 4096

/* The image as one buffer, malloc'd. 0 or -errno (-ENOMEM, -E2BIG). */
int proc_image_encode(const struct proc_image *img, uint8_t **out,
		      size_t *out_len);

/*
 * Pure: bytes in, image out (freed with proc_image_free). 0, or -EPROTO
 * with a one-line reason naming what is wrong in why (why may be NULL);
 * out is then empty. Never trusts a length or count to size an
 * allocation beyond what the buffer can hold.
 */
int proc_image_decode(const uint8_t *buf, size_t len, struct proc_image *out,
		      char *why, size_t why_len);

#endif
