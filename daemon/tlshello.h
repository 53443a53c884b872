/*
 * tlshello: reads the server name (SNI) out of the TLS ClientHello a job sends first into a
 * CONNECT tunnel, so the proxy can end a tunnel whose TLS names another host than the one the
 * policy allowed (domain fronting) before the upstream sees a byte. Pure: no syscalls, no
 * allocation, no globals. It never decrypts or changes anything; it refuses what it cannot read
 * unambiguously (duplicate extensions, two names, lengths that do not add up).
 */
#ifndef AIRLOCK_TLSHELLO_H
#define AIRLOCK_TLSHELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airlock_limits.h"
#include "util.h"

/* Most bytes the proxy reads (and holds) before the ClientHello must be complete: records
 * carry at most 2^14 bytes each, and a ClientHello with post-quantum key shares is a few KiB. */
#define TLSHELLO_MAX (64 * 1024)

struct tlshello {
    bool has_sni;
    char sni[HOST_MAX + 1]; /* the host_name, lower case, NUL-terminated; "" without SNI */
    bool has_ech;           /* encrypted_client_hello (0xfe0d) or the old ESNI (0xffce) */
    uint16_t version;       /* legacy_version of the ClientHello (0x0303 for TLS 1.2 and 1.3) */
};

/*
 * Parses the ClientHello at the start of buf (len bytes as read so far). The handshake message
 * may span several TLS records; all must be handshake records (type 22) of 1..2^14 bytes (the
 * TLSPlaintext limit, RFC 8446 5.1) with a record version of 0x0300..0x0304.
 * Returns 1 when a whole ClientHello was read (*ret filled), 0 when more bytes are needed to
 * decide, -EPROTO when the bytes are not a TLS handshake at all (the first record is not type
 * 22 with a 3.x record version: plain HTTP, SSH, an SSLv2 hello, a first record of another
 * type, ...), -E2BIG when the ClientHello would not be complete within TLSHELLO_MAX bytes, or
 * -EINVAL when it is TLS but malformed or ambiguous: a handshake type other than ClientHello
 * (1), a record or vector length past its bounds or not filling its parent exactly (including
 * an empty record, a session id over 32 bytes, and a record that carries bytes past the end of
 * the ClientHello), a record of another type before the ClientHello is whole, a legacy_version
 * that is not 3.x, an empty cipher suite or compression list, an extension that appears twice,
 * a server_name list with no name, more than one host_name, a name type other than host_name
 * (0), an empty name, a name over HOST_MAX, a trailing dot, an empty label or one over
 * LABEL_MAX, or a byte other than an ASCII letter, digit, '.', '-' or '_'. err says which, with
 * err->code "not_tls" for -EPROTO and "bad_tls" otherwise; it is untouched when 0 or 1 is
 * returned. *ret is written only when 1 is returned; sni is then lower case.
 * Bytes after the record that ends the ClientHello are not read (the next record may follow).
 * Every answer is decided in wire order from the first byte that settles it, so the answer for
 * a buffer is the answer for every longer buffer starting with it: call again with everything
 * read so far until the result is not 0. -E2BIG is known from the declared lengths, as soon as
 * the handshake length (or a record header after it) arrives, not once TLSHELLO_MAX bytes have;
 * with TLSHELLO_MAX bytes in buf the result is never 0, so a caller's buffer of that size does
 * not fill up while waiting.
 */
int tlshello_parse(const uint8_t *buf, size_t len, struct tlshello *ret, struct err *err);

#endif
