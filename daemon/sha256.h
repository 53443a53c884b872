/*
 * sha256: SHA-256 (FIPS 180-4) of a byte string, as lowercase hex. Pure: no syscalls, no
 * globals. The daemon needs it for one thing, the Idempotency-Key body hash, which does not
 * justify linking libcrypto.
 */
#ifndef AIRLOCK_SHA256_H
#define AIRLOCK_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_HEX_LEN 64 /* without the NUL */

/* Incremental hashing (the tests hash large bodies as they stream): init, update any number of
 * times, then hex_final. */
struct sha256 {
    uint32_t h[8];
    uint64_t n; /* bytes hashed */
    unsigned char buf[64];
    size_t used;
};
void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* Finishes s and writes 64 lower-case hex digits and a NUL. */
void sha256_hex_final(struct sha256 *s, char hex[SHA256_HEX_LEN + 1]);
/* The hash of one buffer. */
/* Writes the hash of data[0..n) as 64 lowercase hex digits and a NUL into hex. */
void sha256_digest_hex(const void *data, size_t n, char hex[SHA256_HEX_LEN + 1]);

#endif
