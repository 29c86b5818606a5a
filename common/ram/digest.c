// SPDX-License-Identifier: MIT
/*
 * SHA-256 through OpenSSL's EVP interface. Both daemons digest the guest
 * binary and compare at HELLO, so a secondary never replays input into a
 * different program.
 */
#include "digest.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

int digest_buf(const void *buf, size_t len, uint8_t out[DIGEST_LEN])
{
	unsigned int n = 0;

	if (!EVP_Digest(buf, len, out, &n, EVP_sha256(), NULL) ||
	    n != DIGEST_LEN) {
		log_error("EVP_Digest(sha256) failed");
		return -EIO;
	}
	return 0;
}

/* Feeds the rest of fd to ctx in fixed-size pieces. */
static int digest_fd(EVP_MD_CTX *ctx, int fd, const char *path)
{
	uint8_t buf[64 * 1024];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0) {
			int err = errno;

			if (err == EINTR)
				continue;
			log_error("read %s: %s", path, strerror(err));
			return -err;
		}
		if (n == 0)
			return 0;
		if (!EVP_DigestUpdate(ctx, buf, (size_t)n)) {
			log_error("EVP_DigestUpdate failed");
			return -EIO;
		}
	}
}

int digest_file(const char *path, uint8_t out[DIGEST_LEN])
{
	EVP_MD_CTX *ctx;
	unsigned int n = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		log_error("open %s: %s", path, strerror(errno));
		return r;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx) {
		r = -ENOMEM;
		goto out_close;
	}
	if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		log_error("EVP_DigestInit_ex(sha256) failed");
		r = -EIO;
		goto out_free;
	}
	r = digest_fd(ctx, fd, path);
	if (r)
		goto out_free;
	if (!EVP_DigestFinal_ex(ctx, out, &n) || n != DIGEST_LEN) {
		log_error("EVP_DigestFinal_ex failed");
		r = -EIO;
	}
out_free:
	EVP_MD_CTX_free(ctx);
out_close:
	close(fd);
	return r;
}

void digest_hex(const uint8_t d[DIGEST_LEN], char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned int i;

	for (i = 0; i < DIGEST_LEN; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 0xf];
	}
	out[2 * DIGEST_LEN] = '\0';
}
