// SPDX-License-Identifier: MIT
/*
 * Peer identity for the TLS transport (see tls-identity.h). The matching of
 * names against certificates is OpenSSL's (X509_VERIFY_PARAM host and IP
 * checks); this file only reads what a certificate presents, to compare it
 * with an operator's authz list and to say so when it is refused.
 */
#include "tls-identity.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/x509v3.h>

/* The subject as RFC 2253 prints it ("CN=colo client,O=Example"): the form
 * QEMU's tls-authz lists and `openssl x509 -nameopt RFC2253` use. */
static void subject_rfc2253(X509 *cert, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n = -1;

	buf[0] = '\0';
	if (!b)
		return;
	if (X509_NAME_print_ex(b, X509_get_subject_name(cert), 0,
			       XN_FLAG_RFC2253) >= 0)
		n = BIO_read(b, buf, (int)(len - 1));
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(b);
}

/* A DNS SAN as a C string, or NULL when it holds a NUL (a forgery trick:
 * "good.example\0.evil" must not compare equal to "good.example"). */
static const char *dns_name(const GENERAL_NAME *gn)
{
	const ASN1_IA5STRING *s = gn->d.dNSName;
	const char *p = (const char *)ASN1_STRING_get0_data(s);
	int n = ASN1_STRING_length(s);

	if (n < 0 || memchr(p, '\0', (size_t)n))
		return NULL;
	return p;
}

static void ip_name(const GENERAL_NAME *gn, char *buf, size_t len)
{
	const ASN1_OCTET_STRING *s = gn->d.iPAddress;
	int n = ASN1_STRING_length(s);
	int af = n == 4 ? AF_INET : n == 16 ? AF_INET6 : AF_UNSPEC;

	if (af == AF_UNSPEC ||
	    !inet_ntop(af, ASN1_STRING_get0_data(s), buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

/* Appends item; a buffer that fills up ends in "...". */
static void append(char *buf, size_t len, size_t *used, const char *item)
{
	size_t n = strlen(item);

	if (*used + 1 >= len)
		return;
	if (*used + n + 1 > len) {
		snprintf(buf + *used, len - *used, "%s", item);
		if (len >= 4)
			memcpy(buf + len - 4, "...", 4);
		*used = len;
		return;
	}
	memcpy(buf + *used, item, n + 1);
	*used += n;
}

void tls_id_describe(X509 *cert, char *buf, size_t len)
{
	GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name,
					       NULL, NULL);
	char item[512];
	size_t used = 0;
	int i, shown = 0;

	buf[0] = '\0';
	subject_rfc2253(cert, item, sizeof(item));
	append(buf, len, &used, "subject ");
	append(buf, len, &used, item[0] ? item : "(empty)");
	append(buf, len, &used, sans ? ", SAN " : ", no SAN");
	for (i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
		const char *dns;

		if (gn->type != GEN_DNS && gn->type != GEN_IPADD)
			continue;
		append(buf, len, &used, shown++ ? ", " : "");
		if (gn->type == GEN_DNS) {
			dns = dns_name(gn);
			append(buf, len, &used, "DNS:");
			append(buf, len, &used, dns ? dns : "(holds a NUL)");
		} else {
			ip_name(gn, item, sizeof(item));
			append(buf, len, &used, "IP:");
			append(buf, len, &used, item);
		}
	}
	GENERAL_NAMES_free(sans);
}

static bool san_dns_match(X509 *cert, const char *id)
{
	GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name,
					       NULL, NULL);
	bool found = false;
	int i;

	for (i = 0; sans && !found && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
		const char *dns = gn->type == GEN_DNS ? dns_name(gn) : NULL;

		found = dns && !strcasecmp(dns, id);
	}
	GENERAL_NAMES_free(sans);
	return found;
}

bool tls_id_authz_match(X509 *cert, char *const *ids, size_t n)
{
	char subject[512];
	size_t i;

	subject_rfc2253(cert, subject, sizeof(subject));
	for (i = 0; i < n; i++)
		if ((subject[0] && !strcmp(subject, ids[i])) ||
		    san_dns_match(cert, ids[i]))
			return true;
	return false;
}

int tls_id_expect_host(SSL *ssl, const char *host)
{
	unsigned char addr[16];

	if (inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
						     host) == 1 ? 0 : -EINVAL;
	/* "*.example.com" may match one label, "w*.example.com" nothing. */
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return SSL_set1_host(ssl, host) == 1 ? 0 : -EINVAL;
}
