/*
 * netaddr owns the text and byte forms of IP addresses and CIDR blocks and their classification
 * against the IANA IPv4 and IPv6 special-purpose address registries. It is where "is this address
 * loopback, private, metadata, an IPv4 address hidden inside IPv6, ...?" is answered, once, for
 * the proxy and the policy. It must stay pure: no syscalls, no allocation, no state beyond the
 * const tables below, and it must never decide whether an address is allowed -- that is the
 * policy's job. Parsing is deliberately narrower than what resolvers accept: only inet_pton's
 * strict forms, never the numeric shorthands (2130706433, 0x7f.1, 0177.0.0.1, 127.1) that
 * inet_aton, getaddrinfo and libcurl quietly turn into 127.0.0.1.
 */
#include "netaddr.h"

#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

_Static_assert(NETADDR_STR_MAX >= INET6_ADDRSTRLEN, "NETADDR_STR_MAX too small for inet_ntop");

/* One row of a classification table: addresses whose first `bits` bits equal `prefix`. */
struct netaddr_range {
    uint8_t prefix[16];
    uint8_t bits;
    enum netaddr_class cls;
};

/*
 * IPv4, after the IANA IPv4 Special-Purpose Address Registry. The first matching row wins, so a
 * more specific row always comes before the block that contains it. Anything not listed is
 * public. 192.0.0.0/24 is refused whole, although IANA marks a few single addresses in it
 * (192.0.0.9 PCP anycast, 192.0.0.10 TURN anycast) globally reachable: no job needs them, and
 * failing closed is cheaper than a row per exception.
 */
static const struct netaddr_range ipv4_ranges[] = {
    {{169, 254, 169, 254}, 32, NETADDR_METADATA}, /* AWS, GCP, Azure, OpenStack, ... */
    {{255, 255, 255, 255}, 32, NETADDR_BROADCAST},
    {{0}, 8, NETADDR_UNSPECIFIED}, /* "this network" */
    {{10}, 8, NETADDR_PRIVATE},
    {{100, 64}, 10, NETADDR_CGNAT},
    {{127}, 8, NETADDR_LOOPBACK},
    {{169, 254}, 16, NETADDR_LINK_LOCAL},
    {{172, 16}, 12, NETADDR_PRIVATE},
    {{192, 0, 0}, 24, NETADDR_RESERVED},      /* IETF protocol assignments, incl. .170/.171 NAT64 */
    {{192, 0, 2}, 24, NETADDR_DOCUMENTATION}, /* TEST-NET-1 */
    {{192, 88, 99}, 24, NETADDR_RESERVED},    /* deprecated 6to4 relay anycast */
    {{192, 168}, 16, NETADDR_PRIVATE},
    {{198, 18}, 15, NETADDR_BENCHMARKING},
    {{198, 51, 100}, 24, NETADDR_DOCUMENTATION}, /* TEST-NET-2 */
    {{203, 0, 113}, 24, NETADDR_DOCUMENTATION},  /* TEST-NET-3 */
    {{224}, 4, NETADDR_MULTICAST},
    {{240}, 4, NETADDR_RESERVED}, /* future use; 255.255.255.255 matched above */
};

/*
 * IPv6, after the IANA IPv6 Special-Purpose Address Registry. First match wins, as above. Only
 * 2000::/3 is global unicast, so the table ends with it and anything below it that is not listed
 * (including future IANA assignments) is reserved.
 *
 * 64:ff9b:1::/48 (RFC 8215, local-use IPv4/IPv6 translation) is classed NAT64 rather than
 * IPV4_MAPPED: it is a NAT64 prefix that an operator chooses, it carries an IPv4 address the same
 * way 64:ff9b::/96 does, and a policy that opens one translation prefix should reason about both
 * under one name. Either class is refused by default, so the choice changes only the name logged.
 *
 * ::/96 (IPv4-compatible, deprecated by RFC 4291) is classed IPV4_MAPPED: some stacks still route
 * ::a.b.c.d to a.b.c.d. It comes after ::/128 and ::1/128, which it contains.
 *
 * 2001::/23 (IETF protocol assignments) is reserved as a whole, after its more specific rows
 * (Teredo, benchmarking). That includes ORCHIDv2 (2001:20::/28), AMT (2001:3::/32), AS112
 * (2001:4:112::/48) and the anycast addresses in 2001:1::/48: none is a destination a job needs.
 */
static const struct netaddr_range ipv6_ranges[] = {
    {{0}, 128, NETADDR_UNSPECIFIED},
    {{[15] = 1}, 128, NETADDR_LOOPBACK},
    {{[10] = 0xff, [11] = 0xff}, 96, NETADDR_IPV4_MAPPED},
    {{0}, 96, NETADDR_IPV4_MAPPED}, /* IPv4-compatible */
    {{0x00, 0x64, 0xff, 0x9b}, 96, NETADDR_NAT64},
    {{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48, NETADDR_NAT64}, /* local-use, see above */
    {{0x01, 0x00}, 64, NETADDR_RESERVED},                      /* discard-only */
    {{0x20, 0x01, 0x00, 0x00}, 32, NETADDR_TEREDO},
    {{0x20, 0x01, 0x00, 0x02, 0x00, 0x00}, 48, NETADDR_BENCHMARKING},
    {{0x20, 0x01}, 23, NETADDR_RESERVED}, /* IETF protocol assignments */
    {{0x20, 0x01, 0x0d, 0xb8}, 32, NETADDR_DOCUMENTATION},
    {{0x20, 0x02}, 16, NETADDR_6TO4},
    {{0x3f, 0xff, 0x00}, 20, NETADDR_DOCUMENTATION},
    {{0x20}, 3, NETADDR_PUBLIC}, /* global unicast */
    {{0xfd, 0x00, 0x0e, 0xc2, [14] = 0x02, [15] = 0x54}, 128, NETADDR_METADATA}, /* AWS IMDS */
    {{0xfc}, 7, NETADDR_PRIVATE},                                                /* ULA */
    {{0xfe, 0x80}, 10, NETADDR_LINK_LOCAL},
    {{0xfe, 0xc0}, 10, NETADDR_PRIVATE}, /* deprecated site-local */
    {{0xff}, 8, NETADDR_MULTICAST},
};

static const char *const class_names[] = {
    [NETADDR_PUBLIC] = "public",
    [NETADDR_UNSPECIFIED] = "unspecified",
    [NETADDR_LOOPBACK] = "loopback",
    [NETADDR_PRIVATE] = "private",
    [NETADDR_CGNAT] = "cgnat",
    [NETADDR_LINK_LOCAL] = "link_local",
    [NETADDR_METADATA] = "metadata",
    [NETADDR_DOCUMENTATION] = "documentation",
    [NETADDR_BENCHMARKING] = "benchmarking",
    [NETADDR_MULTICAST] = "multicast",
    [NETADDR_BROADCAST] = "broadcast",
    [NETADDR_RESERVED] = "reserved",
    [NETADDR_IPV4_MAPPED] = "ipv4_mapped",
    [NETADDR_NAT64] = "nat64",
    [NETADDR_6TO4] = "6to4",
    [NETADDR_TEREDO] = "teredo",
};
_Static_assert(ARRAY_SIZE(class_names) == NETADDR_CLASS_COUNT, "a class has no name");

/* Address length in bytes for a family, or 0 for a family this module does not know. */
static unsigned
family_bytes(int family)
{
    if (family == AF_INET)
        return 4;
    if (family == AF_INET6)
        return 16;
    return 0;
}

/* True when the first `bits` bits of a and p are equal. bits is at most 8 * 16. */
static bool
prefix_match(const uint8_t *a, const uint8_t *p, unsigned bits)
{
    unsigned whole = bits / 8;
    unsigned rest = bits % 8;
    uint8_t mask;

    if (memcmp(a, p, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    mask = (uint8_t)(0xffu << (8 - rest));
    return ((a[whole] ^ p[whole]) & mask) == 0;
}

/* True when every bit of b after the first `bits` (up to nbytes bytes) is zero. */
static bool
host_bits_zero(const uint8_t *b, unsigned bits, unsigned nbytes)
{
    for (unsigned i = bits / 8; i < nbytes; i++) {
        unsigned keep = i == bits / 8 ? bits % 8 : 0;

        if (b[i] & (0xffu >> keep))
            return false;
    }
    return true;
}

/*
 * Only hex digits, '.' and ':' can appear in what we accept. inet_pton would refuse brackets,
 * '%' zones and spaces on its own; refusing them here too keeps the rule visible and independent
 * of the libc.
 */
static bool
literal_chars_ok(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        bool hex = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');

        if (!hex && ch != '.' && ch != ':')
            return false;
    }
    return true;
}

int
netaddr_parse(const char *s, size_t len, struct netaddr *ret)
{
    char text[INET6_ADDRSTRLEN];
    struct netaddr a = {0};

    /* The longest valid literal is 45 bytes ("ffff:...:ffff:255.255.255.255"). */
    if (!s || len == 0 || len >= sizeof(text))
        return -EINVAL;
    if (memchr(s, '\0', len) || !literal_chars_ok(s, len))
        return -EINVAL;
    memcpy(text, s, len);
    text[len] = '\0';

    /*
     * The family is decided by the text, and each text is tried against one family only:
     * AF_INET gets exactly four decimal parts without leading zeros (glibc's inet_pton4, unlike
     * inet_aton, has no octal, hex or short forms).
     */
    a.family = memchr(text, ':', len) ? AF_INET6 : AF_INET;
    if (inet_pton(a.family, text, a.bytes) != 1)
        return -EINVAL;
    *ret = a;
    return 0;
}

/* Strict decimal prefix length: digits only, no sign, no leading zero except "0" itself. */
static int
parse_prefix(const char *s, unsigned max, unsigned *ret)
{
    unsigned v = 0;
    size_t n;

    if (s[0] == '0' && s[1] != '\0')
        return -EINVAL;
    for (n = 0; s[n]; n++) {
        if (s[n] < '0' || s[n] > '9' || n >= 3)
            return -EINVAL;
        v = v * 10 + (unsigned)(s[n] - '0');
    }
    if (n == 0 || v > max)
        return -EINVAL;
    *ret = v;
    return 0;
}

int
netaddr_cidr_parse(const char *s, struct netaddr_cidr *ret)
{
    struct netaddr_cidr c = {0};
    const char *slash;
    unsigned nbytes;

    /* A bare address is not a CIDR: a rule for one host says so with /32 or /128. */
    if (!s || !(slash = strchr(s, '/')))
        return -EINVAL;
    if (netaddr_parse(s, (size_t)(slash - s), &c.addr) < 0)
        return -EINVAL;
    nbytes = family_bytes(c.addr.family);
    if (parse_prefix(slash + 1, nbytes * 8, &c.prefix) < 0)
        return -EINVAL;
    if (!host_bits_zero(c.addr.bytes, c.prefix, nbytes))
        return -EINVAL;
    *ret = c;
    return 0;
}

bool
netaddr_cidr_contains(const struct netaddr_cidr *c, const struct netaddr *a)
{
    unsigned nbytes;

    if (!c || !a || c->addr.family != a->family)
        return false;
    nbytes = family_bytes(a->family);
    /* A hand-built block with an impossible prefix contains nothing (and reads nothing past). */
    if (nbytes == 0 || c->prefix > nbytes * 8)
        return false;
    return prefix_match(a->bytes, c->addr.bytes, c->prefix);
}

static enum netaddr_class
lookup(const struct netaddr_range *t, size_t n, const uint8_t *bytes, enum netaddr_class dflt)
{
    for (size_t i = 0; i < n; i++)
        if (prefix_match(bytes, t[i].prefix, t[i].bits))
            return t[i].cls;
    return dflt;
}

enum netaddr_class
netaddr_classify(const struct netaddr *a)
{
    if (a && a->family == AF_INET)
        return lookup(ipv4_ranges, ARRAY_SIZE(ipv4_ranges), a->bytes, NETADDR_PUBLIC);
    if (a && a->family == AF_INET6)
        return lookup(ipv6_ranges, ARRAY_SIZE(ipv6_ranges), a->bytes, NETADDR_RESERVED);
    /* Not an address we know: never let it pass as public. */
    return NETADDR_RESERVED;
}

const char *
netaddr_class_name(enum netaddr_class c)
{
    if ((unsigned)c >= NETADDR_CLASS_COUNT)
        return "unknown";
    return class_names[c];
}

/* On an unknown family or a short buffer, buf becomes "" (if n > 0): never half an address. */
void
netaddr_format(const struct netaddr *a, char *buf, size_t n)
{
    socklen_t size = n > NETADDR_STR_MAX ? NETADDR_STR_MAX : (socklen_t)n;

    if (n == 0)
        return;
    if (!a || family_bytes(a->family) == 0 || !inet_ntop(a->family, a->bytes, buf, size))
        buf[0] = '\0';
}

/* "addr/prefix"; "" (when n > 0) on the same failures as netaddr_format, or when it won't fit. */
void
netaddr_cidr_format(const struct netaddr_cidr *c, char *buf, size_t n)
{
    char digits[4];
    size_t len, nd = 0;
    unsigned p;

    if (n == 0)
        return;
    netaddr_format(c ? &c->addr : NULL, buf, n);
    len = strlen(buf);
    if (len == 0 || c->prefix > family_bytes(c->addr.family) * 8)
        goto fail;
    p = c->prefix;
    do {
        digits[nd++] = (char)('0' + p % 10);
        p /= 10;
    } while (p > 0);
    if (len + 1 + nd >= n)
        goto fail;
    buf[len++] = '/';
    while (nd > 0)
        buf[len++] = digits[--nd];
    buf[len] = '\0';
    return;
fail:
    buf[0] = '\0';
}

int
netaddr_from_sockaddr(const void *sa, struct netaddr *ret)
{
    struct netaddr a = {0};
    sa_family_t family;

    if (!sa)
        return -EAFNOSUPPORT;
    /*
     * memcpy rather than casts: the caller's buffer may be a sockaddr_storage or a bare
     * sockaddr_in, so read the family first and then only as many bytes as that family has.
     */
    memcpy(&family, (const char *)sa + offsetof(struct sockaddr, sa_family), sizeof(family));
    if (family == AF_INET) {
        struct sockaddr_in sin;

        memcpy(&sin, sa, sizeof(sin));
        memcpy(a.bytes, &sin.sin_addr, 4);
    } else if (family == AF_INET6) {
        struct sockaddr_in6 sin6;

        memcpy(&sin6, sa, sizeof(sin6));
        memcpy(a.bytes, &sin6.sin6_addr, 16);
    } else {
        return -EAFNOSUPPORT;
    }
    a.family = family;
    *ret = a;
    return 0;
}

bool
netaddr_unmap(const struct netaddr *a, struct netaddr *ret)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (!a || a->family != AF_INET6 || memcmp(a->bytes, prefix, sizeof(prefix)) != 0)
        return false;
    *ret = (struct netaddr){.family = AF_INET};
    memcpy(ret->bytes, a->bytes + 12, 4);
    return true;
}
