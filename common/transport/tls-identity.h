/* SPDX-License-Identifier: MIT */
/*
 * Who a peer certificate says it is, beyond "signed by our CA": the pieces
 * of xport-tls.c that implement QEMU's tls-hostname and tls-authz. Private
 * to the TLS transport; its API is in xport.h.
 */
#ifndef COLO_TLS_IDENTITY_H
#define COLO_TLS_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

/* "subject CN=..., SAN DNS:a, IP:10.0.0.2" for refusal messages. */
void tls_id_describe(X509 *cert, char *buf, size_t len);
/* Whether cert's subject DN (RFC 2253) equals one of ids exactly, or one
 * of its subjectAltName DNS names equals one (case-insensitively). */
bool tls_id_authz_match(X509 *cert, char *const *ids, size_t n);
/* Makes ssl's verification demand that the peer certificate names host:
 * an IP address literal against its IP SANs, anything else against its
 * DNS names (OpenSSL's matching, no partial wildcards). 0 or -EINVAL. */
int tls_id_expect_host(SSL *ssl, const char *host);

#endif
