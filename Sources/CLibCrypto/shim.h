// Shim for the system OpenSSL libcrypto (Debian libssl-dev, 3.0): the digests and random bytes
// of RabbitMQ's password hashes (SHA-256, SHA-512, MD5) and their base64 form.
#ifndef BROKER_CLIBCRYPTO_SHIM_H
#define BROKER_CLIBCRYPTO_SHIM_H
#include <openssl/evp.h>
#include <openssl/rand.h>
#endif
