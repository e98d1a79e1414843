// Shim for the system OpenSSL libcrypto (Debian libssl-dev, 3.0): the digests and random bytes
// of RabbitMQ's password hashes (SHA-256, SHA-512, MD5) and their base64 form, and the subject
// of a client certificate (TLS itself is swift-nio-ssl's).
#ifndef BROKER_CLIBCRYPTO_SHIM_H
#define BROKER_CLIBCRYPTO_SHIM_H
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/bio.h>

/// RFC 2253 (RFC 4514) formatting of a distinguished name: a macro of macros Swift cannot import.
static inline unsigned long broker_xn_flag_rfc2253(void) { return XN_FLAG_RFC2253; }
#endif
