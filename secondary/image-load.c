// SPDX-License-Identifier: MIT
/* Gathering a checkpoint's process image from its IMAGE pieces. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "image-load.h"
#include "log.h"
#include "proc-image-wire.h"

void image_load_reset(struct image_load *il)
{
	if (il->buf)
		munmap(il->buf, il->cap);
	memset(il, 0, sizeof(*il));
}

/*
 * Grows to what has arrived, never to what a total claims: a lying
 * primary costs us the bytes it really sent, no more. Mapped and grown
 * with mremap, so that growing never copies what came: a copy of half a
 * GiB (realloc under ASan does one) is a second in which we read nothing,
 * and the primary's write times out.
 */
static int reserve(struct image_load *il, size_t need)
{
	size_t cap = il->cap ? il->cap : (1u << 20);
	void *p;

	if (need <= il->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (il->buf)
		p = mremap(il->buf, il->cap, cap, MREMAP_MAYMOVE);
	else
		p = mmap(NULL, cap, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	il->buf = p;
	il->cap = cap;
	return 0;
}

int image_load_piece(struct image_load *il, const struct proto_image *m,
		     const char *peer)
{
	int ret;

	if (il->total && m->total != il->total) {
		log_error("%s: image piece claims %llu bytes in all, the first "
			  "claimed %llu", peer, (unsigned long long)m->total,
			  (unsigned long long)il->total);
		return -EPROTO;
	}
	if (m->offset != il->len) {
		log_error("%s: image piece at %llu, expected %zu", peer,
			  (unsigned long long)m->offset, il->len);
		return -EPROTO;
	}
	ret = reserve(il, il->len + m->len);
	if (ret < 0) {
		log_error("%s: no memory for a %llu-byte image", peer,
			  (unsigned long long)m->total);
		return ret;
	}
	memcpy(il->buf + il->len, m->data, m->len);
	il->len += m->len;
	il->total = m->total;
	return 0;
}

int image_load_decode(struct image_load *il, struct proc_image *img,
		      const char *peer)
{
	char why[256];
	int ret;

	if (!il->total || il->len != il->total) {
		log_error("%s: checkpoint ended with %zu of %llu image bytes",
			  peer, il->len, (unsigned long long)il->total);
		return -EPROTO;
	}
	ret = proc_image_decode(il->buf, il->len, img, why, sizeof(why));
	if (ret < 0)
		log_error("%s: the program's image is malformed: %s", peer,
			  why);
	return ret;
}
