// SPDX-License-Identifier: MIT
/* Chunk digests of a process image's pages (see the header). */
#include <errno.h>
#include <openssl/evp.h>

#include "proc-idle.h"
#include "proc-image-digest.h"

#define PAGE 4096u

uint32_t proc_image_nchunks(const struct proc_image *img,
			    uint32_t chunk_pages)
{
	return (uint32_t)((proc_image_pages(img) + chunk_pages - 1) / chunk_pages);
}

static void put_be64(uint8_t b[8], uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

int proc_image_digests(const struct proc_image *img, uint32_t chunk_pages,
		       uint8_t *out, uint64_t *addr)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint64_t in_chunk = 0;
	unsigned int len;
	uint8_t be[8];
	size_t r, p;
	int ok = ctx != NULL, err = 0;

	for (r = 0; ok && !err && r < img->n_runs; r++) {
		const struct proc_image_run *run = &img->runs[r];

		for (p = 0; ok && p < run->pages; p++) {
			uint64_t at = run->addr + (uint64_t)p * PAGE;

			if (in_chunk == 0) {
				ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
				if (addr)
					*addr++ = at;
			}
			put_be64(be, at);
			ok = ok && EVP_DigestUpdate(ctx, be, sizeof(be)) &&
			     EVP_DigestUpdate(ctx, run->data + p * PAGE, PAGE);
			if (ok && p % 1024 == 1023 && (err = proc_idle_tick()))
				break;
			if (ok && ++in_chunk == chunk_pages) {
				ok = EVP_DigestFinal_ex(ctx, out, &len);
				out += PROC_IMAGE_DIGEST_LEN;
				in_chunk = 0;
			}
		}
	}
	if (ok && !err && in_chunk)
		ok = EVP_DigestFinal_ex(ctx, out, &len);
	EVP_MD_CTX_free(ctx);
	return err ? err : ok ? 0 : -ENOMEM;
}
