/*
 * Unit tests for tlshello: real ClientHellos captured from curl, Python's ssl module and
 * openssl s_client, then ClientHellos built here field by field (so one length at a time can be
 * made wrong), cut into records every way, and fed a byte at a time. The contract under test:
 * 0 while the bytes so far can still become a ClientHello, 1 once one is whole (whatever
 * follows), -EPROTO from the first byte that shows it is not TLS, -E2BIG as soon as the declared
 * lengths need more than TLSHELLO_MAX bytes, -EINVAL for everything malformed or ambiguous, and
 * *ret untouched unless 1 is returned.
 */
#include <criterion/criterion.h>

#include <stdio.h>

#include "tlshello.h"
#include "util.h"

/* ---------------------------------------------------------------------------------------------
 * Captured ClientHellos. Recorded on 127.0.0.1 by a Python listener that accepted one
 * connection, read records until one handshake message was whole, and saved the bytes; each
 * client then failed its handshake. All four are TLS 1.3 with an X25519 key share, one record.
 */

/* curl 7.88.1 (OpenSSL 3.0.19): curl -k https://localhost:PORT/ (517 bytes) */
static const uint8_t hello_curl[] = {
    0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x76, 0xf7, 0x4e, 0xc7, 0x52,
    0xe6, 0x6f, 0xa3, 0xf4, 0xb1, 0x6e, 0x2d, 0xf4, 0xf7, 0x4c, 0x31, 0x3b, 0xa7, 0x46, 0x3c, 0x87,
    0xff, 0x8c, 0x23, 0x4c, 0xd6, 0x4c, 0xd2, 0x71, 0x00, 0x10, 0x25, 0x20, 0xa8, 0x71, 0xb7, 0xa7,
    0xbe, 0x7f, 0x7e, 0x76, 0x19, 0x2c, 0xd7, 0x81, 0x4c, 0x2c, 0x21, 0xe7, 0x90, 0xf2, 0x14, 0x06,
    0xf6, 0xc7, 0x18, 0xe8, 0x4a, 0xd4, 0xda, 0x7d, 0x92, 0x22, 0xb1, 0x71, 0x00, 0x3e, 0x13, 0x02,
    0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
    0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27,
    0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
    0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x01, 0x75,
    0x00, 0x00, 0x00, 0x0e, 0x00, 0x0c, 0x00, 0x00, 0x09, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x68, 0x6f,
    0x73, 0x74, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14,
    0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02,
    0x01, 0x03, 0x01, 0x04, 0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c, 0x02, 0x68, 0x32, 0x08, 0x68, 0x74,
    0x74, 0x70, 0x2f, 0x31, 0x2e, 0x31, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x31,
    0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07,
    0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01,
    0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02,
    0x00, 0x2b, 0x00, 0x09, 0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00,
    0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0xa7, 0x80, 0x3c,
    0xb0, 0x2b, 0xd5, 0x9b, 0x22, 0x33, 0xdd, 0xdd, 0xcc, 0x83, 0xe6, 0xef, 0x5d, 0x27, 0x27, 0x99,
    0x51, 0xde, 0xc3, 0x6a, 0x29, 0xc3, 0x50, 0xe6, 0x04, 0x02, 0x30, 0xa0, 0x36, 0x00, 0x15, 0x00,
    0xb4, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00,
};

/* Python 3.11.7 ssl: wrap_socket(s, server_hostname="example.com") (517 bytes) */
static const uint8_t hello_python[] = {
    0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x30, 0xbe, 0x63, 0x33, 0xa4,
    0xd5, 0x2c, 0xd9, 0xae, 0xef, 0xbb, 0x6a, 0x05, 0x25, 0x62, 0x97, 0xf3, 0xb1, 0xd7, 0x50, 0x26,
    0x4d, 0x98, 0xc5, 0xad, 0x50, 0x2b, 0xfd, 0x09, 0x90, 0x5d, 0x42, 0x20, 0x29, 0x47, 0xfb, 0x0b,
    0x1f, 0x80, 0xc7, 0x77, 0x53, 0xe7, 0x5c, 0xa1, 0xb7, 0x0b, 0xa3, 0xac, 0xb8, 0xb2, 0x50, 0xf7,
    0xd9, 0x4e, 0x84, 0xc7, 0x13, 0x81, 0x44, 0x73, 0x99, 0x9d, 0x70, 0x14, 0x00, 0x24, 0x13, 0x02,
    0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0xc0, 0x2b, 0xc0, 0x2f, 0xcc, 0xa9, 0xcc, 0xa8,
    0xc0, 0x24, 0xc0, 0x28, 0xc0, 0x23, 0xc0, 0x27, 0x00, 0x9f, 0x00, 0x9e, 0x00, 0x6b, 0x00, 0x67,
    0x00, 0xff, 0x01, 0x00, 0x01, 0x8f, 0x00, 0x00, 0x00, 0x10, 0x00, 0x0e, 0x00, 0x00, 0x0b, 0x65,
    0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x63, 0x6f, 0x6d, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00,
    0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19,
    0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23, 0x00, 0x00,
    0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03,
    0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04,
    0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02,
    0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x05, 0x04, 0x03, 0x04, 0x03, 0x03, 0x00,
    0x2d, 0x00, 0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0x56,
    0xa6, 0x7d, 0x65, 0x03, 0x89, 0xc9, 0x15, 0xfe, 0x1a, 0xd1, 0x41, 0xf4, 0x8e, 0x9d, 0x14, 0xf6,
    0xa4, 0x08, 0x65, 0xe2, 0x0b, 0x5d, 0xd1, 0xca, 0x2b, 0x57, 0xd2, 0x50, 0xe5, 0x85, 0x48, 0x00,
    0x15, 0x00, 0xe2, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00,
};

/* openssl s_client -servername x.example -connect 127.0.0.1:PORT (315 bytes) */
static const uint8_t hello_sclient[] = {
    0x16, 0x03, 0x01, 0x01, 0x36, 0x01, 0x00, 0x01, 0x32, 0x03, 0x03, 0xfa, 0x7b, 0x3e, 0x6f, 0x1a,
    0x9c, 0xe6, 0x68, 0xa5, 0x7d, 0x65, 0x3c, 0x93, 0xe3, 0xfa, 0x7a, 0x2b, 0x4d, 0xf1, 0x39, 0x43,
    0x6b, 0xc3, 0x16, 0x49, 0x2b, 0x45, 0x8f, 0xca, 0xd8, 0xce, 0x41, 0x20, 0xa7, 0xe7, 0xdf, 0xd6,
    0xbb, 0xb0, 0x9f, 0x44, 0xc1, 0xe3, 0xa3, 0x78, 0x38, 0x71, 0x47, 0xfe, 0x00, 0x19, 0xb1, 0x8f,
    0x2a, 0xe1, 0xec, 0x88, 0x74, 0x24, 0x19, 0x6e, 0x3e, 0x57, 0xcf, 0xe4, 0x00, 0x3e, 0x13, 0x02,
    0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
    0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27,
    0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
    0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0xab,
    0x00, 0x00, 0x00, 0x0e, 0x00, 0x0c, 0x00, 0x00, 0x09, 0x78, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70,
    0x6c, 0x65, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14,
    0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02,
    0x01, 0x03, 0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00,
    0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08,
    0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01,
    0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b,
    0x00, 0x09, 0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00, 0x02, 0x01,
    0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0x51, 0x8d, 0x14, 0xdd, 0x2e,
    0x9f, 0xe8, 0xcc, 0xb1, 0x83, 0xc6, 0xdb, 0xa2, 0xf0, 0x94, 0x7d, 0x9b, 0xc6, 0xea, 0xe9, 0x44,
    0x5f, 0x1d, 0xc2, 0x7d, 0x2d, 0x6a, 0x9c, 0x67, 0x9c, 0x69, 0x4b,
};

/* openssl s_client -noservername -connect 127.0.0.1:PORT (297 bytes) */
static const uint8_t hello_nosni[] = {
    0x16, 0x03, 0x01, 0x01, 0x24, 0x01, 0x00, 0x01, 0x20, 0x03, 0x03, 0x67, 0xdc, 0x2b, 0x78, 0xd2,
    0xbe, 0xb5, 0x7b, 0x23, 0xc1, 0xa8, 0x31, 0x1f, 0x2d, 0xe5, 0xbf, 0xb8, 0x70, 0x98, 0x56, 0xe6,
    0xd8, 0x7f, 0xde, 0xad, 0x95, 0x43, 0x71, 0xcb, 0xee, 0x23, 0xae, 0x20, 0x07, 0x6f, 0x91, 0xfb,
    0x02, 0x14, 0x2d, 0x2e, 0x3a, 0x5e, 0x62, 0x52, 0x61, 0x5d, 0x01, 0x89, 0x43, 0x68, 0x59, 0xdd,
    0x28, 0x9a, 0x89, 0x02, 0x2f, 0x3b, 0x6d, 0x15, 0x87, 0x3a, 0x51, 0x7b, 0x00, 0x3e, 0x13, 0x02,
    0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
    0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27,
    0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
    0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x99,
    0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d,
    0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03,
    0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d,
    0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09,
    0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01,
    0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09,
    0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01, 0x00,
    0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0xce, 0xea, 0xd3, 0xf9, 0xd1, 0xa5, 0x1a,
    0xe7, 0x4b, 0x4d, 0xdc, 0xcf, 0xe4, 0x68, 0xd4, 0xf4, 0x0b, 0x3c, 0x52, 0x68, 0x99, 0xb7, 0xab,
    0xec, 0x6d, 0x94, 0xe8, 0x15, 0x98, 0xe6, 0xce, 0x5c,
};

/* ---------------------------------------------------------------------------------------------
 * Helpers
 */

#define BUF_MAX (TLSHELLO_MAX + 4096)

/* Runs tlshello_parse with a sentinel in *ret and checks what the contract promises about ret
 * and err for the result, so every call in this file also tests that. */
static int
parse(const uint8_t *buf, size_t len, struct tlshello *ret, struct err *err)
{
    struct tlshello sentinel, h;
    int r;

    memset(&sentinel, 0x5a, sizeof(sentinel));
    h = sentinel;
    *err = (struct err){0};
    r = tlshello_parse(buf, len, &h, err);
    cr_assert(r == 1 || r == 0 || r == -EPROTO || r == -EINVAL || r == -E2BIG,
              "unexpected return %d", r);
    if (r != 1)
        cr_assert_eq(memcmp(&h, &sentinel, sizeof(h)), 0, "ret written on %d", r);
    if (r >= 0)
        cr_assert_null(err->code, "err set on %d: %s", r, err->message);
    else
        cr_assert(err->code && err->message[0], "no error for %d", r);
    if (r == -EPROTO)
        cr_assert_str_eq(err->code, "not_tls");
    else if (r < 0)
        cr_assert_str_eq(err->code, "bad_tls");
    if (r == 1) {
        cr_assert_lt(strlen(h.sni), sizeof(h.sni));
        cr_assert_eq(h.has_sni, h.sni[0] != '\0');
        *ret = h;
    }
    return r;
}

/* Every strict prefix needs more; the whole buffer is a hello. Returns it. */
static struct tlshello
accepted_by_prefix(const uint8_t *buf, size_t len)
{
    struct tlshello h;
    struct err err;

    for (size_t k = 0; k < len; k++) {
        int r = parse(buf, k, &h, &err);
        cr_assert_eq(r, 0, "prefix of %zu of %zu bytes: %d (%s)", k, len, r, err.message);
    }
    cr_assert_eq(parse(buf, len, &h, &err), 1, "whole hello of %zu bytes: %s", len, err.message);
    return h;
}

static void
expect_hello(const uint8_t *buf, size_t len, const char *sni, bool has_ech)
{
    struct tlshello h;
    struct err err;
    int r = parse(buf, len, &h, &err);

    cr_assert_eq(r, 1, "expected a hello for SNI \"%s\", got %d (%s)", sni ? sni : "(none)", r,
                 err.message);
    cr_expect_eq(h.has_sni, sni != NULL);
    cr_expect_str_eq(h.sni, sni ? sni : "");
    cr_expect_eq(h.has_ech, has_ech);
    cr_expect_eq(h.version, 0x0303);
}

/* Expects result want for the whole buffer, with words (if any) in the message. */
static void
expect_result(const uint8_t *buf, size_t len, int want, const char *words, const char *what)
{
    struct tlshello h;
    struct err err;
    int r = parse(buf, len, &h, &err);

    cr_expect_eq(r, want, "%s: expected %d, got %d (%s)", what, want, r, err.message);
    if (words && r == want)
        cr_expect_not_null(strstr(err.message, words), "%s: message \"%s\" lacks \"%s\"", what,
                           err.message, words);
}

/* ---------------------------------------------------------------------------------------------
 * The builder: a handshake message written field by field; every length field it writes is
 * recorded, so a test can make exactly one of them wrong. frame() then cuts it into records.
 */

struct lenfield {
    size_t pos;
    size_t width;
    const char *name;
};

struct builder {
    uint8_t b[BUF_MAX];
    size_t n;
    size_t open[8];
    int depth;
    struct lenfield fields[64];
    size_t nfields;
};

static struct builder M; /* one per test: criterion runs each test in its own process */
static uint8_t W[6 * BUF_MAX];

static void
put(struct builder *m, const void *p, size_t n)
{
    cr_assert_leq(m->n + n, sizeof(m->b));
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static void
put_u8(struct builder *m, unsigned v)
{
    uint8_t b = (uint8_t)v;
    put(m, &b, 1);
}

static void
put_u16(struct builder *m, unsigned v)
{
    put_u8(m, v >> 8);
    put_u8(m, v);
}

static void
vec_open(struct builder *m, size_t width, const char *name)
{
    cr_assert(m->depth < (int)ARRAY_SIZE(m->open) && m->nfields < ARRAY_SIZE(m->fields));
    m->fields[m->nfields] = (struct lenfield){m->n, width, name};
    m->open[m->depth++] = m->nfields++;
    for (size_t i = 0; i < width; i++)
        put_u8(m, 0);
}

static void
vec_close(struct builder *m)
{
    struct lenfield *f;
    size_t v;

    cr_assert_gt(m->depth, 0);
    f = &m->fields[m->open[--m->depth]];
    v = m->n - f->pos - f->width;
    cr_assert_lt(v, (size_t)1 << (8 * f->width), "%s overflows", f->name);
    for (size_t i = 0; i < f->width; i++)
        m->b[f->pos + i] = (uint8_t)(v >> (8 * (f->width - 1 - i)));
}

/* Adds delta to a recorded length field in place (the corruption under test). */
static void
field_add(uint8_t *b, const struct lenfield *f, int delta)
{
    size_t v = 0;

    for (size_t i = 0; i < f->width; i++)
        v = v << 8 | b[f->pos + i];
    v += (size_t)(ptrdiff_t)delta;
    for (size_t i = 0; i < f->width; i++)
        b[f->pos + i] = (uint8_t)(v >> (8 * (f->width - 1 - i)));
}

/* Handshake header and the fixed part of the body; leaves the extensions block open (or, with
 * extensions false, the body ends after the compression methods, as a TLS 1.2 hello may). */
static void
msg_begin(struct builder *m, unsigned type, bool extensions)
{
    *m = (struct builder){0};
    put_u8(m, type);
    vec_open(m, 3, "handshake length");
    put_u16(m, 0x0303);
    for (unsigned i = 0; i < 32; i++)
        put_u8(m, i * 7 + 1); /* random */
    vec_open(m, 1, "legacy_session_id");
    for (unsigned i = 0; i < 32; i++)
        put_u8(m, 0xe0 + i);
    vec_close(m);
    vec_open(m, 2, "cipher_suites");
    put_u16(m, 0x1301);
    put_u16(m, 0x1302);
    put_u16(m, 0xc02f);
    vec_close(m);
    vec_open(m, 1, "legacy_compression_methods");
    put_u8(m, 0);
    vec_close(m);
    if (extensions)
        vec_open(m, 2, "extensions");
}

static void
msg_end(struct builder *m)
{
    while (m->depth > 0)
        vec_close(m);
}

static void
ext_raw(struct builder *m, unsigned type, const void *data, size_t n)
{
    put_u16(m, type);
    vec_open(m, 2, "extension data");
    put(m, data, n);
    vec_close(m);
}

static void
ext_zeros(struct builder *m, unsigned type, size_t n)
{
    put_u16(m, type);
    vec_open(m, 2, "extension data");
    for (size_t i = 0; i < n; i++)
        put_u8(m, 0);
    vec_close(m);
}

/* server_name with one entry of the given type; name is n bytes (NULs allowed). */
static void
ext_sni_typed(struct builder *m, unsigned type, const char *name, size_t n)
{
    put_u16(m, 0);
    vec_open(m, 2, "server_name extension data");
    vec_open(m, 2, "server_name list");
    put_u8(m, type);
    vec_open(m, 2, "host_name");
    put(m, name, n);
    vec_close(m);
    vec_close(m);
    vec_close(m);
}

static void
ext_sni(struct builder *m, const char *name)
{
    ext_sni_typed(m, 0, name, strlen(name));
}

/* A hello shaped like a real one: SNI first, groups, a key share, padding of zeros last. */
static void
std_hello(struct builder *m, const char *sni)
{
    static const uint8_t groups[] = {0x00, 0x04, 0x00, 0x1d, 0x00, 0x17};
    uint8_t share[38] = {0x00, 0x24, 0x00, 0x1d, 0x00, 0x20};

    for (size_t i = 6; i < sizeof(share); i++)
        share[i] = (uint8_t)(0x40 + i);
    msg_begin(m, 1, true);
    if (sni)
        ext_sni(m, sni);
    ext_raw(m, 0x000a, groups, sizeof(groups));
    ext_raw(m, 0x0033, share, sizeof(share));
    ext_zeros(m, 0x0015, 16);
    msg_end(m);
}

/* Writes one handshake record of n bytes at out + w and returns the new end. */
static size_t
record(uint8_t *out, size_t w, unsigned version, const uint8_t *data, size_t n)
{
    cr_assert(n >= 1 && n <= 16384, "record of %zu bytes", n);
    cr_assert_leq(w + 5 + n, sizeof(W));
    out[w] = 22;
    out[w + 1] = (uint8_t)(version >> 8);
    out[w + 2] = (uint8_t)version;
    out[w + 3] = (uint8_t)(n >> 8);
    out[w + 4] = (uint8_t)n;
    memcpy(out + w + 5, data, n);
    return w + 5 + n;
}

/* Cuts msg into records that end at the given offsets (the last record takes the rest); the
 * first record says 0x0301 as clients do, the others 0x0303. Returns the wire length. */
static size_t
frame_cuts(const uint8_t *msg, size_t len, const size_t *cuts, size_t ncuts, uint8_t *out)
{
    size_t w = 0, start = 0;

    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        cr_assert(end > start && end <= len, "bad cut %zu at %zu", i, end);
        w = record(out, w, i == 0 ? 0x0301 : 0x0303, msg + start, end - start);
        start = end;
    }
    return w;
}

/* Records of chunk bytes each (the last may be shorter). */
static size_t
frame(const uint8_t *msg, size_t len, size_t chunk, uint8_t *out)
{
    size_t w = 0;

    for (size_t start = 0; start < len; start += chunk) {
        size_t n = len - start < chunk ? len - start : chunk;
        w = record(out, w, start == 0 ? 0x0301 : 0x0303, msg + start, n);
    }
    return w;
}

static size_t
frame1(const struct builder *m)
{
    return frame(m->b, m->n, 16384, W);
}

/* ---------------------------------------------------------------------------------------------
 * Captured hellos
 */

struct capture {
    const char *name;
    const uint8_t *buf;
    size_t len;
    const char *sni;
};

static const struct capture captures[] = {
    {"curl", hello_curl, sizeof(hello_curl), "localhost"},
    {"python", hello_python, sizeof(hello_python), "example.com"},
    {"s_client", hello_sclient, sizeof(hello_sclient), "x.example"},
    {"s_client -noservername", hello_nosni, sizeof(hello_nosni), NULL},
};

Test(captured, sni_of_each_client)
{
    for (size_t i = 0; i < ARRAY_SIZE(captures); i++)
        expect_hello(captures[i].buf, captures[i].len, captures[i].sni, false);
}

Test(captured, every_prefix_needs_more)
{
    for (size_t i = 0; i < ARRAY_SIZE(captures); i++) {
        struct tlshello h = accepted_by_prefix(captures[i].buf, captures[i].len);
        cr_expect_str_eq(h.sni, captures[i].sni ? captures[i].sni : "", "%s", captures[i].name);
    }
}

/* What follows the hello (the client's next record, or anything) is not the hello's business. */
Test(captured, bytes_after_the_hello_are_ignored)
{
    static const uint8_t after[][6] = {
        {0x14, 0x03, 0x03, 0x00, 0x01, 0x01}, /* change_cipher_spec */
        {0x17, 0x03, 0x03, 0x00, 0x20, 0xaa}, /* application data, truncated */
        {0x16, 0x03, 0x03, 0xff, 0xff, 0x02}, /* a handshake record too long to be one */
        {'G', 'E', 'T', ' ', '/', ' '},
    };

    for (size_t i = 0; i < ARRAY_SIZE(captures); i++) {
        const struct capture *c = &captures[i];
        for (size_t j = 0; j < ARRAY_SIZE(after); j++) {
            memcpy(W, c->buf, c->len);
            for (size_t k = 1; k <= sizeof(after[j]); k++) {
                memcpy(W + c->len, after[j], k);
                expect_hello(W, c->len + k, c->sni, false);
            }
        }
    }
}

/* curl's 512-byte handshake message, cut into two records at every offset. */
Test(captured, split_in_two_records_at_every_offset)
{
    const uint8_t *msg = hello_curl + 5;
    size_t len = sizeof(hello_curl) - 5;

    for (size_t at = 1; at < len; at++) {
        size_t n = frame_cuts(msg, len, &at, 1, W);
        cr_assert_eq(n, sizeof(hello_curl) + 5);
        expect_hello(W, n, "localhost", false);
        if (at <= 5 || at % 97 == 0 || at == len - 1)
            cr_expect_str_eq(accepted_by_prefix(W, n).sni, "localhost", "cut at %zu", at);
    }
}

/* One byte per record: even the handshake header arrives in four pieces. */
Test(captured, one_byte_per_record)
{
    for (size_t i = 0; i < ARRAY_SIZE(captures); i++) {
        const struct capture *c = &captures[i];
        size_t n = frame(c->buf + 5, c->len - 5, 1, W);
        struct tlshello h;

        cr_assert_eq(n, 6 * (c->len - 5));
        h = accepted_by_prefix(W, n);
        cr_expect_str_eq(h.sni, c->sni ? c->sni : "", "%s", c->name);
    }
}

/* The captures are single records; each of their length fields shortened or lengthened by one
 * must be refused (lengths are found by walking the capture, not typed in). */
Test(captured, record_and_handshake_lengths_off_by_one)
{
    static const struct lenfield fields[] = {{3, 2, "record length"}, {6, 3, "handshake length"}};

    for (size_t i = 0; i < ARRAY_SIZE(captures); i++) {
        for (size_t f = 0; f < ARRAY_SIZE(fields); f++) {
            for (int d = -1; d <= 1; d += 2) {
                memcpy(W, captures[i].buf, captures[i].len);
                field_add(W, &fields[f], d);
                expect_result(W, captures[i].len, -EINVAL, NULL, fields[f].name);
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * Built hellos: the good ones
 */

Test(built, standard_hello)
{
    std_hello(&M, "example.com");
    cr_expect_str_eq(accepted_by_prefix(W, frame1(&M)).sni, "example.com");
}

Test(built, no_server_name_extension)
{
    std_hello(&M, NULL);
    expect_hello(W, frame1(&M), NULL, false);
}

Test(built, no_extensions_block_at_all)
{
    msg_begin(&M, 1, false);
    msg_end(&M);
    expect_hello(W, frame1(&M), NULL, false);
}

Test(built, empty_extensions_block)
{
    msg_begin(&M, 1, true);
    msg_end(&M);
    expect_hello(W, frame1(&M), NULL, false);
}

Test(built, sni_is_lower_cased)
{
    std_hello(&M, "ExAmPle.COM");
    expect_hello(W, frame1(&M), "example.com", false);
    std_hello(&M, "API-1.Example_Host.IO");
    expect_hello(W, frame1(&M), "api-1.example_host.io", false);
}

Test(built, sni_anywhere_in_the_list)
{
    static const uint8_t groups[] = {0x00, 0x02, 0x00, 0x1d};

    msg_begin(&M, 1, true);
    ext_raw(&M, 0x000a, groups, sizeof(groups));
    ext_zeros(&M, 0x0015, 3);
    ext_sni(&M, "last.example");
    msg_end(&M);
    expect_hello(W, frame1(&M), "last.example", false);
}

Test(built, legacy_version_is_reported)
{
    std_hello(&M, "a.example");
    M.b[5] = 0x01; /* legacy_version 0x0301, a TLS 1.0 client */
    struct tlshello h;
    struct err err;
    cr_assert_eq(parse(W, frame1(&M), &h, &err), 1);
    cr_expect_eq(h.version, 0x0301);
}

Test(built, record_versions_0300_to_0304)
{
    std_hello(&M, "a.example");
    for (unsigned v = 0x0300; v <= 0x0304; v++) {
        size_t n = frame1(&M);
        W[2] = (uint8_t)v;
        expect_hello(W, n, "a.example", false);
    }
}

Test(built, ech_and_esni_are_flagged)
{
    static const uint8_t ech[] = {0x00, 0x00, 0x01, 0x00, 0x01, 0x07, 0x00, 0x00, 0x00, 0x00};

    msg_begin(&M, 1, true);
    ext_sni(&M, "public.example");
    ext_raw(&M, 0xfe0d, ech, sizeof(ech));
    msg_end(&M);
    expect_hello(W, frame1(&M), "public.example", true);

    msg_begin(&M, 1, true);
    ext_raw(&M, 0xffce, ech, sizeof(ech));
    msg_end(&M);
    expect_hello(W, frame1(&M), NULL, true);

    /* ECH outer extensions (0xfd00) and the ECH config ids of other drafts are not ECH. */
    msg_begin(&M, 1, true);
    ext_raw(&M, 0xfd00, ech, sizeof(ech));
    ext_raw(&M, 0xfe0c, ech, sizeof(ech));
    msg_end(&M);
    expect_hello(W, frame1(&M), NULL, false);
}

/* ---------------------------------------------------------------------------------------------
 * Names
 */

static char long_name[HOST_MAX + 2];

/* A name of n bytes in labels of 63 (the last shorter), e.g. 253 = 63.63.63.61. */
static const char *
name_of(size_t n)
{
    cr_assert_lt(n, sizeof(long_name));
    for (size_t i = 0; i < n; i++)
        long_name[i] = i % 64 == 63 ? '.' : 'a' + (char)(i % 26);
    long_name[n] = '\0';
    return long_name;
}

Test(names, accepted)
{
    static const char *const ok[] = {
        "a", "x.example", "a-b_c.d", "xn--bcher-kva.example", "0.example", "-lead.example",
        /* RFC 6066 forbids literal addresses, but they pass the byte rules: telling the proxy
         * what the job named is more useful than a refusal here. */
        "192.0.2.1"};

    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        std_hello(&M, ok[i]);
        expect_hello(W, frame1(&M), ok[i], false);
    }
    std_hello(&M, name_of(HOST_MAX));
    expect_hello(W, frame1(&M), long_name, false);
}

struct bad_name {
    const char *name;
    size_t len;
    const char *words;
};

#define BAD(s, w)                                                                                  \
    {                                                                                              \
        s, sizeof(s) - 1, w                                                                        \
    }

static const struct bad_name bad_names[] = {
    BAD("", "empty"),
    BAD("example.com.", "ends with a dot"),
    BAD(".", "ends with a dot"),
    BAD("a..b", "empty label"),
    BAD(".a", "empty label"),
    BAD("a\0b", "byte 0x00 at offset 1"),
    BAD("evil.example\0good.example", "byte 0x00"),
    BAD("a%2eb", "byte 0x25"),
    BAD("a b", "byte 0x20"),
    BAD("a/b", "byte 0x2f"),
    BAD("a:443", "byte 0x3a"),
    BAD("[::1]", "byte 0x5b"),
    BAD("a@b", "byte 0x40"),
    BAD("b\xc3\xbc"
        "cher.example",
        "byte 0xc3"),
    BAD("a\r\nb", "byte 0x0d"),
    BAD("a*.example", "byte 0x2a"),
};

Test(names, refused)
{
    for (size_t i = 0; i < ARRAY_SIZE(bad_names); i++) {
        const struct bad_name *b = &bad_names[i];
        msg_begin(&M, 1, true);
        ext_sni_typed(&M, 0, b->name, b->len);
        msg_end(&M);
        expect_result(W, frame1(&M), -EINVAL, b->words, b->name);
    }
}

Test(names, length_and_label_limits)
{
    std_hello(&M, name_of(HOST_MAX + 1));
    expect_result(W, frame1(&M), -EINVAL, "254 bytes", "254-byte name");

    char label[LABEL_MAX + 4];
    memset(label, 'a', LABEL_MAX + 1);
    label[LABEL_MAX + 1] = '\0';
    std_hello(&M, label);
    expect_result(W, frame1(&M), -EINVAL, "label over 63", "64-byte label");
    label[LABEL_MAX] = '\0';
    std_hello(&M, label);
    expect_hello(W, frame1(&M), label, false);
}

/* A bad name is refused from the byte that makes it bad, before the hello is whole. */
Test(names, refused_as_soon_as_seen)
{
    static const char name[] = "good.ex%ample";
    size_t at, n;
    struct tlshello h;
    struct err err;

    msg_begin(&M, 1, true);
    ext_sni_typed(&M, 0, name, sizeof(name) - 1);
    ext_zeros(&M, 0x0015, 100);
    msg_end(&M);
    n = frame1(&M);
    at = (size_t)((uint8_t *)memmem(W, n, "%", 1) - W);
    cr_assert_eq(parse(W, at, &h, &err), 0);
    cr_assert_eq(parse(W, at + 1, &h, &err), -EINVAL);
}

/* ---------------------------------------------------------------------------------------------
 * server_name and extensions that cannot be read one way only
 */

Test(server_name, two_host_names)
{
    msg_begin(&M, 1, true);
    put_u16(&M, 0);
    vec_open(&M, 2, "ext");
    vec_open(&M, 2, "list");
    put_u8(&M, 0);
    put_u16(&M, 6);
    put(&M, "a.test", 6);
    put_u8(&M, 0);
    put_u16(&M, 6);
    put(&M, "b.test", 6);
    msg_end(&M);
    expect_result(W, frame1(&M), -EINVAL, "more than one host_name", "two host_names");
}

Test(server_name, name_type_other_than_host_name)
{
    msg_begin(&M, 1, true);
    ext_sni_typed(&M, 1, "a.test", 6);
    msg_end(&M);
    expect_result(W, frame1(&M), -EINVAL, "type 1", "type 1 alone");

    msg_begin(&M, 1, true);
    put_u16(&M, 0);
    vec_open(&M, 2, "ext");
    vec_open(&M, 2, "list");
    put_u8(&M, 0);
    put_u16(&M, 6);
    put(&M, "a.test", 6);
    put_u8(&M, 255);
    put_u16(&M, 1);
    put_u8(&M, 'x');
    msg_end(&M);
    expect_result(W, frame1(&M), -EINVAL, "type 255", "host_name then type 255");
}

Test(server_name, empty_list_and_empty_extension)
{
    msg_begin(&M, 1, true);
    put_u16(&M, 0);
    vec_open(&M, 2, "ext");
    vec_open(&M, 2, "list");
    msg_end(&M);
    expect_result(W, frame1(&M), -EINVAL, "no name", "empty list");

    /* Empty server_name data is what a server sends back; in a ClientHello it is malformed. */
    msg_begin(&M, 1, true);
    ext_zeros(&M, 0, 0);
    msg_end(&M);
    expect_result(W, frame1(&M), -EINVAL, "server_name list", "empty extension");

    /* Bytes after the list inside the extension. */
    msg_begin(&M, 1, true);
    put_u16(&M, 0);
    vec_open(&M, 2, "ext");
    vec_open(&M, 2, "list");
    put_u8(&M, 0);
    put_u16(&M, 1);
    put_u8(&M, 'a');
    vec_close(&M);
    put_u8(&M, 0);
    msg_end(&M);
    expect_result(W, frame1(&M), -EINVAL, "1 bytes after", "byte after the list");
}

Test(extensions, duplicates_are_refused)
{
    static const uint8_t groups[] = {0x00, 0x02, 0x00, 0x1d};

    msg_begin(&M, 1, true);
    ext_sni(&M, "a.example");
    ext_raw(&M, 0x000a, groups, sizeof(groups));
    ext_raw(&M, 0x000a, groups, sizeof(groups));
    msg_end(&M);
    expect_result(W, frame1(&M), -EINVAL, "0x000a appears twice", "groups twice");

    msg_begin(&M, 1, true);
    ext_sni(&M, "a.example");
    ext_zeros(&M, 0x0015, 4);
    ext_sni(&M, "b.example");
    msg_end(&M);
    expect_result(W, frame1(&M), -EINVAL, "0x0000 appears twice", "server_name twice");

    msg_begin(&M, 1, true);
    ext_zeros(&M, 0xffff, 0);
    ext_zeros(&M, 0xffff, 0);
    msg_end(&M);
    expect_result(W, frame1(&M), -EINVAL, "0xffff appears twice", "0xffff twice");
}

/* Every length the builder wrote, one at a time, one too small and one too large. */
Test(lengths, each_field_off_by_one_both_ways)
{
    static struct builder good;
    size_t tried = 0;

    std_hello(&good, "off.by.one.example");
    for (size_t f = 0; f < good.nfields; f++) {
        for (int d = -1; d <= 1; d += 2) {
            char what[96];
            M = good;
            field_add(M.b, &M.fields[f], d);
            snprintf(what, sizeof(what), "%s at %zu %+d", M.fields[f].name, M.fields[f].pos, d);
            expect_result(W, frame1(&M), -EINVAL, NULL, what);
            tried++;
        }
    }
    /* handshake, session id, suites, compression, extensions, 3 in server_name, 3 others */
    cr_expect_eq(tried, 2 * 11);

    /* The record length, split over two records so that both headers are tried. */
    size_t cut = 40;
    for (size_t rec = 0; rec < 2; rec++) {
        for (int d = -1; d <= 1; d += 2) {
            size_t n = frame_cuts(good.b, good.n, &cut, 1, W);
            struct lenfield lf = {rec == 0 ? 3 : 5 + cut + 3, 2, "record length"};
            field_add(W, &lf, d);
            expect_result(W, n, -EINVAL, NULL, rec == 0 ? "first record" : "second record");
        }
    }
}

Test(lengths, fixed_part_limits)
{
    /* legacy_session_id of 33 bytes */
    msg_begin(&M, 1, true);
    msg_end(&M);
    M.b[4 + 34] = 33;
    expect_result(W, frame1(&M), -EINVAL, "legacy_session_id is 33 bytes", "session id 33");

    /* cipher_suites empty, or of an odd length */
    static const struct {
        uint8_t cs_len;
        const char *what;
    } cs[] = {{0, "cipher_suites is 0 bytes"}, {1, "cipher_suites is 1 bytes"}};
    for (size_t i = 0; i < ARRAY_SIZE(cs); i++) {
        M = (struct builder){0};
        put_u8(&M, 1);
        vec_open(&M, 3, "hs");
        put_u16(&M, 0x0303);
        for (int j = 0; j < 32; j++)
            put_u8(&M, 0);
        put_u8(&M, 0);
        put_u16(&M, cs[i].cs_len);
        for (int j = 0; j < cs[i].cs_len; j++)
            put_u8(&M, 0x13);
        put_u8(&M, 1);
        put_u8(&M, 0);
        msg_end(&M);
        expect_result(W, frame1(&M), -EINVAL, cs[i].what, cs[i].what);
    }

    /* legacy_compression_methods empty */
    M = (struct builder){0};
    put_u8(&M, 1);
    vec_open(&M, 3, "hs");
    put_u16(&M, 0x0303);
    for (int j = 0; j < 32; j++)
        put_u8(&M, 0);
    put_u8(&M, 0);
    put_u16(&M, 2);
    put_u16(&M, 0x1301);
    put_u8(&M, 0);
    msg_end(&M);
    expect_result(W, frame1(&M), -EINVAL, "legacy_compression_methods is empty", "no compression");

    /* one stray byte where the extensions length would start */
    msg_begin(&M, 1, false);
    put_u8(&M, 0);
    msg_end(&M);
    expect_result(W, frame1(&M), -EINVAL, "extensions needs 2 bytes", "stray byte");

    /* legacy_version not 3.x */
    std_hello(&M, "a.example");
    M.b[4] = 2;
    expect_result(W, frame1(&M), -EINVAL, "legacy_version 0x0203", "version 2.3");
}

/* ---------------------------------------------------------------------------------------------
 * Records
 */

Test(records, split_in_two_at_every_offset)
{
    std_hello(&M, "split.example");
    for (size_t at = 1; at < M.n; at++) {
        size_t n = frame_cuts(M.b, M.n, &at, 1, W);
        expect_hello(W, n, "split.example", false);
    }
}

Test(records, many_records_every_prefix)
{
    static const size_t chunks[] = {1, 2, 3, 4, 5, 7, 64};

    std_hello(&M, "many.example");
    for (size_t i = 0; i < ARRAY_SIZE(chunks); i++) {
        size_t n = frame(M.b, M.n, chunks[i], W);
        cr_expect_str_eq(accepted_by_prefix(W, n).sni, "many.example", "chunk %zu", chunks[i]);
    }
}

Test(records, other_record_types_inside_the_hello)
{
    static const uint8_t types[] = {20, 21, 23, 24, 0, 0x80};
    size_t cut = 30;

    std_hello(&M, "a.example");
    for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
        size_t n = frame_cuts(M.b, M.n, &cut, 1, W);
        W[5 + cut] = types[i];
        expect_result(W, 5 + cut, 0, NULL, "first record alone");
        expect_result(W, 5 + cut + 1, -EINVAL, "record of type", "type of the second record");
        expect_result(W, n, -EINVAL, "record of type", "second record");
    }
    /* and a continuation record whose version is not 3.x */
    size_t n = frame_cuts(M.b, M.n, &cut, 1, W);
    W[5 + cut + 1] = 2;
    expect_result(W, n, -EINVAL, "version", "second record version 2.x");
    n = frame_cuts(M.b, M.n, &cut, 1, W);
    W[5 + cut + 2] = 5;
    expect_result(W, n, -EINVAL, "version", "second record version 3.5");
}

Test(records, empty_and_oversized_records)
{
    static const uint8_t empty[] = {0x16, 0x03, 0x01, 0x00, 0x00, 0x01, 0x00};
    static const uint8_t big[] = {0x16, 0x03, 0x01, 0x40, 0x01, 0x01, 0x00};

    expect_result(empty, 4, 0, NULL, "empty record header, 4 bytes");
    expect_result(empty, 5, -EINVAL, "empty handshake record", "empty record");
    expect_result(big, 5, -EINVAL, "16385 bytes", "2^14 + 1");

    /* an empty record after the first one */
    std_hello(&M, "a.example");
    size_t cut = 10, n = frame_cuts(M.b, M.n, &cut, 1, W);
    W[5 + cut + 3] = 0;
    W[5 + cut + 4] = 0;
    expect_result(W, n, -EINVAL, "empty handshake record", "empty second record");
}

/* Nothing may share the ClientHello's last record: a server would read it as a second
 * handshake message. This is decided from the lengths alone, before the bytes arrive. */
Test(records, bytes_past_the_hello_in_its_record)
{
    std_hello(&M, "a.example");
    size_t len = M.n;
    put(&M, "\x02\x00\x00\x00", 4); /* a (bogus) second handshake message */
    size_t n = frame1(&M);
    cr_assert_eq(n, len + 9);
    expect_result(W, 8, 0, NULL, "before the handshake length");
    expect_result(W, 9, -EINVAL, "4 bytes past the end", "whole handshake header");
    expect_result(W, n, -EINVAL, "4 bytes past the end", "whole record");
}

Test(records, server_hello_and_other_handshake_types)
{
    static const uint8_t types[] = {0, 2, 4, 8, 11, 20, 24, 254};

    for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
        std_hello(&M, "a.example");
        M.b[0] = types[i];
        size_t n = frame1(&M);
        expect_result(W, 5, 0, NULL, "record header only");
        expect_result(W, 6, -EINVAL, "not ClientHello", "handshake type byte");
        expect_result(W, n, -EINVAL, "not ClientHello", "whole message");
    }
}

/* ---------------------------------------------------------------------------------------------
 * Not TLS: refused from the first byte that shows it
 */

struct not_tls {
    const char *what;
    const char *bytes;
    size_t len;
    size_t decided; /* bytes needed to tell */
};

#define NOT_TLS(w, s, d)                                                                           \
    {                                                                                              \
        w, s, sizeof(s) - 1, d                                                                     \
    }

static const struct not_tls not_tls_cases[] = {
    NOT_TLS("HTTP", "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", 1),
    NOT_TLS("HTTP CONNECT", "CONNECT example.com:443 HTTP/1.1\r\n\r\n", 1),
    NOT_TLS("SSH", "SSH-2.0-OpenSSH_9.2p1\r\n", 1),
    /* SSLv2-compatible CLIENT-HELLO: 2-byte header with the top bit set, msg type 1, 3.1 */
    NOT_TLS("SSLv2 hello", "\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10", 1),
    NOT_TLS("alert first", "\x15\x03\x03\x00\x02\x02\x28", 1),
    NOT_TLS("application data first", "\x17\x03\x03\x00\x05hello", 1),
    NOT_TLS("change_cipher_spec first", "\x14\x03\x03\x00\x01\x01", 1),
    NOT_TLS("heartbeat first", "\x18\x03\x03\x00\x01\x01", 1),
    NOT_TLS("record version 2.0", "\x16\x02\x00\x00\x04\x01\x00\x00\x00", 2),
    NOT_TLS("record version 0.2", "\x16\x00\x02\x00\x04\x01\x00\x00\x00", 2),
    NOT_TLS("record version 3.5", "\x16\x03\x05\x00\x04\x01\x00\x00\x00", 3),
    NOT_TLS("record version 3.255", "\x16\x03\xff\x00\x04\x01\x00\x00\x00", 3),
    NOT_TLS("empty-ish binary", "\x00\x00\x00\x00\x00\x00", 1),
};

Test(not_tls, refused_from_the_deciding_byte)
{
    for (size_t i = 0; i < ARRAY_SIZE(not_tls_cases); i++) {
        const struct not_tls *t = &not_tls_cases[i];
        for (size_t k = 0; k <= t->len; k++)
            expect_result((const uint8_t *)t->bytes, k, k < t->decided ? 0 : -EPROTO,
                          k < t->decided ? NULL : "not a TLS handshake", t->what);
    }
}

Test(not_tls, nothing_yet_needs_more)
{
    struct tlshello h;
    struct err err;

    cr_expect_eq(parse((const uint8_t *)"", 0, &h, &err), 0);
    cr_expect_eq(parse((const uint8_t *)"\x16", 1, &h, &err), 0);
    cr_expect_eq(parse((const uint8_t *)"\x16\x03", 2, &h, &err), 0);
    cr_expect_eq(parse((const uint8_t *)"\x16\x03\x01\x02", 4, &h, &err), 0);
}

/* ---------------------------------------------------------------------------------------------
 * -E2BIG: decided from the declared lengths, before the bytes arrive
 */

Test(too_big, declared_length_far_past_the_limit)
{
    static const uint8_t hdr[] = {0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0xff, 0xff, 0xff};

    for (size_t k = 0; k < sizeof(hdr); k++)
        expect_result(hdr, k, 0, NULL, "before the handshake length is whole");
    expect_result(hdr, sizeof(hdr), -E2BIG, "more than the 65536", "2^24 - 1 declared");
}

/* A hello of exactly TLSHELLO_MAX wire bytes in full records is accepted; one byte more is not,
 * and that is known from the first nine bytes. */
Test(too_big, exactly_the_limit)
{
    size_t base, n;

    msg_begin(&M, 1, true);
    ext_sni(&M, "big.example");
    base = M.n + 4; /* with the padding extension's header */
    /* 4 full records carry 65536 - 20 message bytes */
    size_t pad = TLSHELLO_MAX - 4 * 5 - base;
    ext_zeros(&M, 0x0015, pad);
    msg_end(&M);
    n = frame1(&M);
    cr_assert_eq(n, TLSHELLO_MAX);
    expect_hello(W, n, "big.example", false);
    expect_result(W, 9, 0, NULL, "header of the largest hello");
    for (size_t k = n - 40; k < n; k++)
        expect_result(W, k, 0, NULL, "prefix of the largest hello");

    msg_begin(&M, 1, true);
    ext_sni(&M, "big.example");
    ext_zeros(&M, 0x0015, pad + 1);
    msg_end(&M);
    n = frame1(&M);
    cr_assert_eq(n, TLSHELLO_MAX + 1);
    expect_result(W, 9, -E2BIG, "65537 bytes", "header of one byte more");
    expect_result(W, n, -E2BIG, "65537 bytes", "one byte more");
}

/* Small records cost 5 header bytes each, and count against the limit as they arrive. */
Test(too_big, small_records_count)
{
    size_t n;
    struct tlshello h;
    struct err err;

    msg_begin(&M, 1, true);
    ext_sni(&M, "small.example");
    ext_zeros(&M, 0x0015, 11000);
    msg_end(&M);
    n = frame(M.b, M.n, 1, W);
    cr_assert_gt(n, TLSHELLO_MAX);
    expect_result(W, n, -E2BIG, "needs at least", "one byte per record");
    /* The first 9000 records still leave room. */
    cr_expect_eq(parse(W, 9000 * 6, &h, &err), 0);
    /* The same message in 16-byte records fits. */
    n = frame(M.b, M.n, 16, W);
    cr_assert_leq(n, TLSHELLO_MAX);
    expect_hello(W, n, "small.example", false);
}

/* With TLSHELLO_MAX bytes in hand the answer is final, however the records are cut: a caller
 * whose buffer holds TLSHELLO_MAX bytes never waits on a full buffer. */
Test(too_big, never_needs_more_past_the_limit)
{
    static const size_t chunks[] = {1, 2, 5, 100, 4096, 16383, 16384};
    struct tlshello h;
    struct err err;

    msg_begin(&M, 1, true);
    ext_sni(&M, "edge.example");
    ext_zeros(&M, 0x0015, 65420);
    msg_end(&M);
    for (size_t i = 0; i < ARRAY_SIZE(chunks); i++) {
        size_t n = frame(M.b, M.n, chunks[i], W);
        cr_assert_gt(n, TLSHELLO_MAX);
        cr_expect_eq(parse(W, TLSHELLO_MAX, &h, &err), -E2BIG, "chunk %zu", chunks[i]);
    }
}
