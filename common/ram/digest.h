/* SPDX-License-Identifier: MIT */
/* SHA-256 through OpenSSL's EVP interface. */
#ifndef COLO_DIGEST_H
#define COLO_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define DIGEST_LEN 32

int digest_buf(const void *buf, size_t len, uint8_t out[DIGEST_LEN]);
/* Digest of a whole file (the guest binary). 0 or -errno. */
int digest_file(const char *path, uint8_t out[DIGEST_LEN]);
/* Lower-case hex, out has room for 2 * DIGEST_LEN + 1. */
void digest_hex(const uint8_t d[DIGEST_LEN], char *out);

#endif
