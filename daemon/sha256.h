/*
 * sha256: SHA-256 (FIPS 180-4) of a byte string, as lowercase hex. Pure: no syscalls, no
 * globals. The daemon needs it for one thing, the Idempotency-Key body hash, which does not
 * justify linking libcrypto.
 */
#ifndef AIRLOCK_SHA256_H
#define AIRLOCK_SHA256_H

#include <stddef.h>

#define SHA256_HEX_LEN 64 /* without the NUL */

/* Writes the hash of data[0..n) as 64 lowercase hex digits and a NUL into hex. */
void sha256_digest_hex(const void *data, size_t n, char hex[SHA256_HEX_LEN + 1]);

#endif
