#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Create the TLS credentials of one colo pair: a private CA, a server
# certificate (for colo-secondary, which listens) and a client certificate
# (for colo-primary), with the file names QEMU's tls-creds-x509 uses, so one
# directory can serve both tools:
#
#   ca-cert.pem ca-key.pem server-cert.pem server-key.pem
#   client-cert.pem client-key.pem
#
# Copy the directory to both hosts; ca-key.pem can then be moved offline.
# Keys are EC P-256; certificates are valid for 10 years.
#
# The primary checks that the secondary's certificate names the host it
# dialled (its --secondary HOST, or --tls-hostname), so the server
# certificate carries subjectAltNames for localhost, 127.0.0.1 and ::1, and
# for every HOSTNAME given: the names or addresses the secondaries are
# dialled by. Subjects are "CN=colo CA", "CN=colo server" and
# "CN=colo client" (plus the suffix), which --tls-authz can name.
set -euo pipefail

usage() {
	cat >&2 <<EOF
usage: ${0##*/} [--force] [--suffix SUFFIX] DIR [HOSTNAME...]

Creates a CA and server and client certificates in DIR (created if needed).
The server certificate names localhost, 127.0.0.1, ::1 and each HOSTNAME
(a DNS name, or an IPv4/IPv6 address) in its subjectAltName: give the
names the primary dials its secondaries by. SUFFIX (letters, digits, '.',
'_', '-') is appended to each common name, to tell several pairs apart.
Existing files are kept unless --force is given.
EOF
	exit 2
}

force=0
suffix=
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--force) force=1 ;;
	--suffix) [ $# -ge 2 ] || usage; suffix=$2; shift ;;
	-h|--help) usage ;;
	-*) echo "${0##*/}: unknown option '$1'" >&2; usage ;;
	*) args+=("$1") ;;
	esac
	shift
done
if [ "${#args[@]}" -lt 1 ]; then
	usage
fi
dir=${args[0]}
if [ -n "$suffix" ] && ! [[ "$suffix" =~ ^[A-Za-z0-9._-]+$ ]]; then
	echo "${0##*/}: bad SUFFIX '$suffix'" >&2
	usage
fi
# An address goes in as IP:, anything else as DNS:.
san="DNS:localhost, IP:127.0.0.1, IP:::1"
for h in "${args[@]:1}"; do
	if [[ "$h" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ || "$h" =~ ^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$ ]]; then
		san+=", IP:$h"
	elif [[ "$h" =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]]; then
		san+=", DNS:$h"
	else
		echo "${0##*/}: bad HOSTNAME '$h'" >&2
		usage
	fi
done
command -v openssl >/dev/null || {
	echo "${0##*/}: the openssl command is not installed" >&2
	exit 1
}

names="ca-cert.pem ca-key.pem server-cert.pem server-key.pem client-cert.pem client-key.pem"
mkdir -p -- "$dir"
if [ "$force" = 0 ]; then
	for f in $names; do
		if [ -e "$dir/$f" ]; then
			echo "${0##*/}: $dir/$f exists; use --force to replace" >&2
			exit 1
		fi
	done
fi

# Work in a private directory inside DIR, so a failure halfway leaves DIR as
# it was and the final mv is a rename on the same filesystem.
tmp=$(mktemp -d "$dir/.gen-certs.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
umask 077

cn() { echo "$1${suffix:+ $suffix}"; }

cat >"$tmp/openssl.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

# Run openssl without its chatter, but show what it said when it fails.
quiet() {
	"$@" 2>"$tmp/stderr" || { cat "$tmp/stderr" >&2; return 1; }
}

newkey() {
	quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$tmp/$1"
}

# A random 120-bit serial: positive, unique without a serial file.
serial() { echo "0x$(openssl rand -hex 15)"; }

newkey ca-key.pem
openssl req -new -x509 -config "$tmp/openssl.cnf" -extensions ca_ext \
	-key "$tmp/ca-key.pem" -subj "/CN=$(cn "colo CA")" -days 3650 \
	-sha256 -set_serial "$(serial)" -out "$tmp/ca-cert.pem"

for role in server client; do
	newkey "$role-key.pem"
	openssl req -new -config "$tmp/openssl.cnf" -key "$tmp/$role-key.pem" \
		-subj "/CN=$(cn "colo $role")" -out "$tmp/$role.csr"
	quiet openssl x509 -req -in "$tmp/$role.csr" -CA "$tmp/ca-cert.pem" \
		-CAkey "$tmp/ca-key.pem" -set_serial "$(serial)" -days 3650 \
		-sha256 -extfile "$tmp/openssl.cnf" -extensions "${role}_ext" \
		-out "$tmp/$role-cert.pem"
	openssl verify -CAfile "$tmp/ca-cert.pem" "$tmp/$role-cert.pem" >/dev/null
done

chmod 0600 "$tmp"/*-key.pem
chmod 0644 "$tmp"/*-cert.pem
for f in $names; do
	mv -f -- "$tmp/$f" "$dir/$f"
done
echo "${0##*/}: wrote $names to $dir" >&2
