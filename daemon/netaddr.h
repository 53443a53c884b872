/*
 * netaddr: parsing and classifying IP addresses against the IANA special-purpose registries.
 * Pure: no syscalls, no globals, no allocation. It answers "what kind of address is this", never
 * "is this allowed" -- that is the policy's decision.
 */
#ifndef AIRLOCK_NETADDR_H
#define AIRLOCK_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NETADDR_STR_MAX 48 /* INET6_ADDRSTRLEN rounded up */

struct netaddr {
    int family;        /* AF_INET or AF_INET6 */
    uint8_t bytes[16]; /* network order; the first 4 used for AF_INET */
};

struct netaddr_cidr {
    struct netaddr addr; /* with host bits zero */
    unsigned prefix;     /* 0..32 or 0..128 */
};

enum netaddr_class {
    NETADDR_PUBLIC = 0,    /* globally routable: the only class a policy may reach by name */
    NETADDR_UNSPECIFIED,   /* 0.0.0.0/8, ::/128 */
    NETADDR_LOOPBACK,      /* 127.0.0.0/8, ::1/128 */
    NETADDR_PRIVATE,       /* 10/8, 172.16/12, 192.168/16, fc00::/7 (ULA) */
    NETADDR_CGNAT,         /* 100.64.0.0/10 */
    NETADDR_LINK_LOCAL,    /* 169.254.0.0/16, fe80::/10 */
    NETADDR_METADATA,      /* 169.254.169.254, fd00:ec2::254 (cloud instance metadata) */
    NETADDR_DOCUMENTATION, /* 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20 */
    NETADDR_BENCHMARKING,  /* 198.18.0.0/15, 2001:2::/48 */
    NETADDR_MULTICAST,     /* 224.0.0.0/4, ff00::/8 */
    NETADDR_BROADCAST,     /* 255.255.255.255 */
    NETADDR_RESERVED,      /* 240.0.0.0/4, 192.0.0.0/24, 192.88.99/24, 100::/64, 2001::/23 ... */
    NETADDR_IPV4_MAPPED,   /* ::ffff:0:0/96, ::/96 (deprecated IPv4-compatible) */
    NETADDR_NAT64,         /* 64:ff9b::/96, 64:ff9b:1::/48 (local-use translation) */
    NETADDR_6TO4,          /* 2002::/16 */
    NETADDR_TEREDO,        /* 2001::/32 */
    NETADDR_CLASS_COUNT
};

/* Parses a literal strictly with inet_pton semantics: dotted quad (no leading zeros, exactly
 * four parts) for IPv4, RFC 4291 text for IPv6 (no brackets, no zone). len bytes of s are
 * read (s need not be NUL-terminated). Returns 0, or -EINVAL. */
int netaddr_parse(const char *s, size_t len, struct netaddr *ret);
/* Parses "a.b.c.d/n" or "x::y/n"; a bare address is not a CIDR (write /32 or /128). Host bits must
 * be zero ("10.0.0.1/8" is -EINVAL, so an operator never believes a rule is narrower than it is).
 * Returns 0 or -EINVAL. */
int netaddr_cidr_parse(const char *s, struct netaddr_cidr *ret);
/* True when a is inside c; families must match (an IPv4 CIDR never matches an IPv6 address). */
bool netaddr_cidr_contains(const struct netaddr_cidr *c, const struct netaddr *a);
/* Unknown family or NULL: NETADDR_RESERVED, never public (fail closed). */
enum netaddr_class netaddr_classify(const struct netaddr *a);
/* Stable lower-case name ("loopback", "ipv4_mapped", ...) for logs, events and the API. */
const char *netaddr_class_name(enum netaddr_class c);
/* Canonical text (inet_ntop form) into buf of NETADDR_STR_MAX bytes (enough for a CIDR too).
 * On an unknown family or a short buffer, buf gets "", never a cut-off address. */
void netaddr_format(const struct netaddr *a, char *buf, size_t n);
void netaddr_cidr_format(const struct netaddr_cidr *c, char *buf, size_t n);
/* True when a is an IPv4-mapped IPv6 address (::ffff:a.b.c.d), with the IPv4 address it stands
 * for in *ret: the kernel connects such an address over IPv4, so ::ffff:127.0.0.1 reaches the
 * IPv4 loopback. *ret is written only when true. */
bool netaddr_unmap(const struct netaddr *a, struct netaddr *ret);
/* Fills ret from a struct sockaddr_in / sockaddr_in6 (given as const void * to keep this header
 * free of socket headers). Returns 0 or -EAFNOSUPPORT. */
int netaddr_from_sockaddr(const void *sa, struct netaddr *ret);

#endif
