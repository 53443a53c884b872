/*
 * Unit tests for netaddr: strict literal parsing (including the numeric tricks resolvers accept),
 * classification against the IANA special-purpose registries at every range edge, CIDR parsing
 * and containment, formatting and sockaddr conversion. Tables are walked with cr_expect so one
 * failing row names itself and the others still run. A second, string-written copy of the
 * registries (parsed with netaddr_cidr_parse) cross-checks the byte tables in netaddr.c at the
 * first and last address of every range and the neighbours just outside.
 */
#include <criterion/criterion.h>

#include <stdio.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "netaddr.h"
#include "util.h"

/* Parses s or fails the test: for rows whose address is part of the fixture, not the subject. */
static struct netaddr
addr(const char *s)
{
    struct netaddr a;
    int r = netaddr_parse(s, strlen(s), &a);

    cr_assert_eq(r, 0, "fixture \"%s\" does not parse (%d)", s, r);
    return a;
}

static struct netaddr_cidr
cidr(const char *s)
{
    struct netaddr_cidr c;
    int r = netaddr_cidr_parse(s, &c);

    cr_assert_eq(r, 0, "fixture \"%s\" does not parse as CIDR (%d)", s, r);
    return c;
}

static const char *
fmt(const struct netaddr *a, char *buf)
{
    netaddr_format(a, buf, NETADDR_STR_MAX);
    return buf;
}

/* ---------------------------------------------------------------------------------------------
 * netaddr_parse
 */

struct parse_ok {
    const char *in;
    int family;
    const char *canonical;
};

static const struct parse_ok parse_ok_cases[] = {
    {"0.0.0.0", AF_INET, "0.0.0.0"},
    {"127.0.0.1", AF_INET, "127.0.0.1"},
    {"255.255.255.255", AF_INET, "255.255.255.255"},
    {"8.8.8.8", AF_INET, "8.8.8.8"},
    {"1.2.3.4", AF_INET, "1.2.3.4"},
    {"10.0.0.255", AF_INET, "10.0.0.255"},
    {"100.64.0.0", AF_INET, "100.64.0.0"},
    {"169.254.169.254", AF_INET, "169.254.169.254"},
    {"192.0.2.10", AF_INET, "192.0.2.10"},
    {"::", AF_INET6, "::"},
    {"::1", AF_INET6, "::1"},
    {"::0:1", AF_INET6, "::1"},
    {"0:0:0:0:0:0:0:1", AF_INET6, "::1"},
    {"0:0:0:0:0:0:0:0", AF_INET6, "::"},
    {"FE80::1", AF_INET6, "fe80::1"},
    {"fe80:0000:0000:0000:0000:0000:0000:0001", AF_INET6, "fe80::1"},
    {"::ffff:127.0.0.1", AF_INET6, "::ffff:127.0.0.1"},
    {"::ffff:7f00:1", AF_INET6, "::ffff:127.0.0.1"},
    {"::FFFF:8.8.8.8", AF_INET6, "::ffff:8.8.8.8"},
    {"::127.0.0.1", AF_INET6, "::127.0.0.1"},
    {"64:ff9b::8.8.8.8", AF_INET6, "64:ff9b::808:808"},
    {"2001:db8::1", AF_INET6, "2001:db8::1"},
    {"2001:0db8:0:0:1:0:0:1", AF_INET6, "2001:db8::1:0:0:1"},
    {"2001:db8:0:0:0:0:2:1", AF_INET6, "2001:db8::2:1"},
    {"1:2:3:4:5:6:7:8", AF_INET6, "1:2:3:4:5:6:7:8"},
    {"1:2:3:4:5:6:1.2.3.4", AF_INET6, "1:2:3:4:5:6:102:304"},
    {"1:2:3:4:5:6:7::", AF_INET6, "1:2:3:4:5:6:7:0"},
    {"::2:3:4:5:6:7:8", AF_INET6, "0:2:3:4:5:6:7:8"},
    {"1::", AF_INET6, "1::"},
    {"fd00:ec2::254", AF_INET6, "fd00:ec2::254"},
    /* 45 bytes, the longest literal there is */
    {"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", AF_INET6,
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
    {"0000:0000:0000:0000:0000:ffff:255.255.255.255", AF_INET6, "::ffff:255.255.255.255"},
};

Test(parse, accepts_canonical_and_rfc4291_forms)
{
    for (size_t i = 0; i < ARRAY_SIZE(parse_ok_cases); i++) {
        const struct parse_ok *t = &parse_ok_cases[i];
        struct netaddr a;
        char buf[NETADDR_STR_MAX];
        int r = netaddr_parse(t->in, strlen(t->in), &a);

        cr_expect_eq(r, 0, "\"%s\" must parse, got %d", t->in, r);
        if (r != 0)
            continue;
        cr_expect_eq(a.family, t->family, "\"%s\": family %d", t->in, a.family);
        cr_expect_str_eq(fmt(&a, buf), t->canonical, "\"%s\" formats as \"%s\"", t->in, buf);
    }
}

/* Everything here must be refused. The first block is what inet_aton, getaddrinfo or libcurl
 * would turn into a real (often loopback) address. */
static const char *const parse_bad_cases[] = {
    "2130706433",
    "0x7f000001",
    "0x7f.1",
    "0x7f.0.0.1",
    "0X7F.0.0.1",
    "0177.0.0.1",
    "0177.0.0.01",
    "127.1",
    "127.0.1",
    "127.0.0.01",
    "01.2.3.4",
    "1.02.3.4",
    "1.2.3.04",
    "00.0.0.0",
    "0.0.0.00",
    "1.2.3",
    "4294967295",
    "0",
    "017700000001",
    /* syntax around a valid address */
    "127.0.0.1.",
    ".127.0.0.1",
    " 127.0.0.1",
    "127.0.0.1 ",
    "1.2.3.4 ",
    "\t1.2.3.4",
    "127.0.0.1\n",
    "127.0.0.1\r",
    "+1.2.3.4",
    "1.2.3.-4",
    "1.2.3.4/32",
    "1.2.3.4:80",
    "1.2.3.4a",
    "1..2.3",
    "1.2.3.4.5",
    /* out of range */
    "1.2.3.256",
    "256.0.0.0",
    "999.999.999.999",
    "1e2.0.0.1",
    /* not addresses */
    "localhost",
    "a.b.c.d",
    "example.com",
    "%31.2.3.4",
    /* IPv6 with URL or zone decoration */
    "[::1]",
    "[::1]:80",
    "::1%eth0",
    "fe80::1%1",
    "fe80::1%25eth0",
    "::1/128",
    "::1 ",
    " ::1",
    "::1\n",
    /* malformed IPv6 */
    ":",
    ":::",
    "1:::2",
    "1::2::3",
    ":1::",
    "1::2:",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "1::2:3:4:5:6:7:8",
    "0:0:0:0:0:0:0:0:0",
    "12345::",
    "00001::",
    "fffff::",
    "g::1",
    "::g",
    /* IPv6 with an IPv4 tail: the tail gets the same strictness */
    "::ffff:127.1",
    "::ffff:0177.0.0.1",
    "::ffff:0x7f.0.0.1",
    "::ffff:01.2.3.4",
    "::ffff:1.2.3.04",
    "::ffff:1.2.3.256",
    "::ffff:2130706433",
    "::1.2.3",
    "::1.2.3.4.5",
    "1:2:3:4:5:6:7:1.2.3.4",
    "::1.2.3.4:5",
};

Test(parse, refuses_numeric_tricks_and_decorations)
{
    for (size_t i = 0; i < ARRAY_SIZE(parse_bad_cases); i++) {
        const char *s = parse_bad_cases[i];
        struct netaddr a;
        int r = netaddr_parse(s, strlen(s), &a);

        cr_expect_eq(r, -EINVAL, "\"%s\" must be refused with -EINVAL, got %d", s, r);
    }
}

/* The tricks are real: the libc's lenient parser maps each of them to 127.0.0.1. If this ever
 * fails, the libc changed, not netaddr; the refusals above are what matters. */
Test(parse, tricks_are_what_inet_aton_accepts)
{
    static const char *const tricks[] = {"2130706433", "0x7f000001", "0x7f.1",
                                         "0177.0.0.1", "127.1",      "127.0.0.01"};

    for (size_t i = 0; i < ARRAY_SIZE(tricks); i++) {
        struct in_addr ia;
        struct netaddr a;

        cr_expect_eq(inet_aton(tricks[i], &ia), 1, "inet_aton(\"%s\")", tricks[i]);
        cr_expect_eq(ntohl(ia.s_addr), 0x7f000001u, "inet_aton(\"%s\") is 127.0.0.1", tricks[i]);
        cr_expect_eq(netaddr_parse(tricks[i], strlen(tricks[i]), &a), -EINVAL, "\"%s\"", tricks[i]);
    }
}

Test(parse, empty_and_null)
{
    struct netaddr a;

    cr_expect_eq(netaddr_parse("", 0, &a), -EINVAL);
    cr_expect_eq(netaddr_parse("127.0.0.1", 0, &a), -EINVAL, "len 0 of a valid string");
    cr_expect_eq(netaddr_parse(NULL, 0, &a), -EINVAL);
    cr_expect_eq(netaddr_parse(NULL, 9, &a), -EINVAL);
}

struct parse_len {
    const char *buf;
    size_t len;
    const char *name;
    const char *want; /* canonical text, or NULL when it must be refused */
};

/* Inputs given by pointer and length: embedded NULs, and bytes after len that must be ignored. */
static const struct parse_len parse_len_cases[] = {
    {"127.0.0.1\0", 10, "trailing NUL inside len", NULL},
    {"127.0\0.0.1", 10, "NUL in the middle", NULL},
    {"\0127.0.0.1", 10, "leading NUL", NULL},
    {"\0", 1, "a lone NUL", NULL},
    {"::1\0", 4, "IPv6 with trailing NUL", NULL},
    {"::1\0:2", 6, "IPv6 with NUL between groups", NULL},
    {"1.2.3.4\0junk", 12, "junk after NUL", NULL},
    {"127.0.0.1junk", 9, "junk after len is not read", "127.0.0.1"},
    {"1.2.3.45", 7, "a shorter prefix of a longer address", "1.2.3.4"},
    {"10.0.0.1/8", 8, "cidr text cut before the slash", "10.0.0.1"},
    {"::1:2", 3, "IPv6 cut short", "::1"},
    {"127.0.0.1", 8, "cut into a trailing dot", NULL},
    {"127.0.0.1", 5, "cut into a short form", NULL},
    {"[::1]", 4, "bracket at the start still seen", NULL},
};

Test(parse, reads_exactly_len_bytes)
{
    for (size_t i = 0; i < ARRAY_SIZE(parse_len_cases); i++) {
        const struct parse_len *t = &parse_len_cases[i];
        struct netaddr a;
        char out[NETADDR_STR_MAX];
        int r = netaddr_parse(t->buf, t->len, &a);

        if (!t->want) {
            cr_expect_eq(r, -EINVAL, "%s: must be refused, got %d", t->name, r);
            continue;
        }
        cr_expect_eq(r, 0, "%s: must parse, got %d", t->name, r);
        if (r == 0)
            cr_expect_str_eq(fmt(&a, out), t->want, "%s: got \"%s\"", t->name, out);
    }
}

Test(parse, length_limits)
{
    /* 45 bytes is the longest literal and parses; anything of 46 or more is refused before
     * inet_pton sees it, whatever its content. */
    const char *longest = "0000:0000:0000:0000:0000:ffff:255.255.255.255";
    char big[128];
    struct netaddr a;

    cr_assert_eq(strlen(longest), 45);
    cr_expect_eq(netaddr_parse(longest, 45, &a), 0);
    memset(big, '1', sizeof(big));
    for (size_t len = 46; len <= sizeof(big); len++)
        cr_expect_eq(netaddr_parse(big, len, &a), -EINVAL, "len %zu", len);
    memcpy(big, "1.2.3.4", 7);
    memset(big + 7, ' ', 60);
    cr_expect_eq(netaddr_parse(big, 67, &a), -EINVAL, "padded to 67 bytes");
}

Test(parse, ret_untouched_on_failure_and_zeroed_on_success)
{
    struct netaddr a;

    memset(&a, 0xa5, sizeof(a));
    cr_expect_eq(netaddr_parse("127.1", 5, &a), -EINVAL);
    for (size_t i = 0; i < sizeof(a.bytes); i++)
        cr_expect_eq(a.bytes[i], 0xa5, "byte %zu written on failure", i);

    cr_expect_eq(netaddr_parse("192.0.2.1", 9, &a), 0);
    cr_expect_eq(a.family, AF_INET);
    cr_expect_eq(a.bytes[0], 192);
    cr_expect_eq(a.bytes[1], 0);
    cr_expect_eq(a.bytes[2], 2);
    cr_expect_eq(a.bytes[3], 1);
    for (size_t i = 4; i < sizeof(a.bytes); i++)
        cr_expect_eq(a.bytes[i], 0, "IPv4 byte %zu not zeroed", i);
}

/* Writes o[0..3] as a dotted quad into s, with a leading "0" on part zpos (none if zpos > 3). */
static void
quad(char *s, size_t n, const unsigned o[4], unsigned zpos)
{
    snprintf(s, n, "%s%u.%s%u.%s%u.%s%u", zpos == 0 ? "0" : "", o[0], zpos == 1 ? "0" : "", o[1],
             zpos == 2 ? "0" : "", o[2], zpos == 3 ? "0" : "", o[3]);
}

Test(parse, every_ipv4_octet_value)
{
    /* Every octet value in every position parses; its leading-zero spelling ("1.2.03.4") and
     * values past 255 are refused. */
    for (unsigned pos = 0; pos < 4; pos++) {
        for (unsigned v = 0; v < 1000; v++) {
            unsigned o[4] = {1, 2, 3, 4};
            char s[32];
            struct netaddr a;

            o[pos] = v;
            quad(s, sizeof(s), o, 4);
            if (v > 255) {
                cr_expect_eq(netaddr_parse(s, strlen(s), &a), -EINVAL, "\"%s\"", s);
                continue;
            }
            cr_expect_eq(netaddr_parse(s, strlen(s), &a), 0, "\"%s\"", s);
            cr_expect_eq(a.bytes[pos], v, "\"%s\" byte %u", s, pos);
            quad(s, sizeof(s), o, pos);
            cr_expect_eq(netaddr_parse(s, strlen(s), &a), -EINVAL, "\"%s\"", s);
        }
    }
}

Test(parse, rejects_every_byte_outside_the_alphabet)
{
    /* One foreign byte appended to, prepended to, and inside a valid literal. */
    for (unsigned c = 0; c < 256; c++) {
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        char s[16];
        struct netaddr a;

        if (hex || c == '.' || c == ':')
            continue;
        memcpy(s, "::1", 3);
        s[3] = (char)c;
        cr_expect_eq(netaddr_parse(s, 4, &a), -EINVAL, "\"::1\" + byte 0x%02x", c);
        s[0] = (char)c;
        memcpy(s + 1, "1.2.3.4", 7);
        cr_expect_eq(netaddr_parse(s, 8, &a), -EINVAL, "byte 0x%02x + \"1.2.3.4\"", c);
        memcpy(s, "1.2.3.4", 7);
        s[3] = (char)c;
        cr_expect_eq(netaddr_parse(s, 7, &a), -EINVAL, "\"1.2\" + byte 0x%02x + \".4\"", c);
    }
}

/* ---------------------------------------------------------------------------------------------
 * netaddr_classify: hand-written rows
 */

struct class_case {
    const char *addr;
    enum netaddr_class want;
};

static const struct class_case ipv4_class_cases[] = {
    /* 0.0.0.0/8 */
    {"0.0.0.0", NETADDR_UNSPECIFIED},
    {"0.0.0.1", NETADDR_UNSPECIFIED},
    {"0.255.255.255", NETADDR_UNSPECIFIED},
    {"1.0.0.0", NETADDR_PUBLIC},
    {"1.1.1.1", NETADDR_PUBLIC},
    {"8.8.8.8", NETADDR_PUBLIC},
    /* 10.0.0.0/8 */
    {"9.255.255.255", NETADDR_PUBLIC},
    {"10.0.0.0", NETADDR_PRIVATE},
    {"10.1.2.3", NETADDR_PRIVATE},
    {"10.255.255.255", NETADDR_PRIVATE},
    {"11.0.0.0", NETADDR_PUBLIC},
    /* 100.64.0.0/10 */
    {"100.63.255.255", NETADDR_PUBLIC},
    {"100.64.0.0", NETADDR_CGNAT},
    {"100.100.100.200", NETADDR_CGNAT},
    {"100.127.255.255", NETADDR_CGNAT},
    {"100.128.0.0", NETADDR_PUBLIC},
    /* 127.0.0.0/8 */
    {"126.255.255.255", NETADDR_PUBLIC},
    {"127.0.0.0", NETADDR_LOOPBACK},
    {"127.0.0.1", NETADDR_LOOPBACK},
    {"127.0.1.1", NETADDR_LOOPBACK},
    {"127.255.255.255", NETADDR_LOOPBACK},
    {"128.0.0.0", NETADDR_PUBLIC},
    /* 169.254.0.0/16 and the metadata address inside it */
    {"169.253.255.255", NETADDR_PUBLIC},
    {"169.254.0.0", NETADDR_LINK_LOCAL},
    {"169.254.0.1", NETADDR_LINK_LOCAL},
    {"169.254.169.253", NETADDR_LINK_LOCAL},
    {"169.254.169.254", NETADDR_METADATA},
    {"169.254.169.255", NETADDR_LINK_LOCAL},
    {"169.254.170.2", NETADDR_LINK_LOCAL},
    {"169.254.255.255", NETADDR_LINK_LOCAL},
    {"169.255.0.0", NETADDR_PUBLIC},
    /* 172.16.0.0/12 */
    {"172.15.255.255", NETADDR_PUBLIC},
    {"172.16.0.0", NETADDR_PRIVATE},
    {"172.17.0.1", NETADDR_PRIVATE},
    {"172.31.255.255", NETADDR_PRIVATE},
    {"172.32.0.0", NETADDR_PUBLIC},
    /* 192.0.0.0/24 */
    {"191.255.255.255", NETADDR_PUBLIC},
    {"192.0.0.0", NETADDR_RESERVED},
    {"192.0.0.8", NETADDR_RESERVED},
    {"192.0.0.9", NETADDR_RESERVED},
    {"192.0.0.170", NETADDR_RESERVED},
    {"192.0.0.171", NETADDR_RESERVED},
    {"192.0.0.255", NETADDR_RESERVED},
    {"192.0.1.0", NETADDR_PUBLIC},
    /* 192.0.2.0/24 */
    {"192.0.1.255", NETADDR_PUBLIC},
    {"192.0.2.0", NETADDR_DOCUMENTATION},
    {"192.0.2.1", NETADDR_DOCUMENTATION},
    {"192.0.2.255", NETADDR_DOCUMENTATION},
    {"192.0.3.0", NETADDR_PUBLIC},
    /* 192.88.99.0/24 */
    {"192.88.98.255", NETADDR_PUBLIC},
    {"192.88.99.0", NETADDR_RESERVED},
    {"192.88.99.1", NETADDR_RESERVED},
    {"192.88.99.255", NETADDR_RESERVED},
    {"192.88.100.0", NETADDR_PUBLIC},
    /* 192.168.0.0/16 */
    {"192.167.255.255", NETADDR_PUBLIC},
    {"192.168.0.0", NETADDR_PRIVATE},
    {"192.168.1.1", NETADDR_PRIVATE},
    {"192.168.255.255", NETADDR_PRIVATE},
    {"192.169.0.0", NETADDR_PUBLIC},
    /* 198.18.0.0/15 */
    {"198.17.255.255", NETADDR_PUBLIC},
    {"198.18.0.0", NETADDR_BENCHMARKING},
    {"198.19.255.255", NETADDR_BENCHMARKING},
    {"198.20.0.0", NETADDR_PUBLIC},
    /* 198.51.100.0/24 */
    {"198.51.99.255", NETADDR_PUBLIC},
    {"198.51.100.0", NETADDR_DOCUMENTATION},
    {"198.51.100.255", NETADDR_DOCUMENTATION},
    {"198.51.101.0", NETADDR_PUBLIC},
    /* 203.0.113.0/24 */
    {"203.0.112.255", NETADDR_PUBLIC},
    {"203.0.113.0", NETADDR_DOCUMENTATION},
    {"203.0.113.255", NETADDR_DOCUMENTATION},
    {"203.0.114.0", NETADDR_PUBLIC},
    /* 224.0.0.0/4, 240.0.0.0/4, 255.255.255.255 */
    {"223.255.255.255", NETADDR_PUBLIC},
    {"224.0.0.0", NETADDR_MULTICAST},
    {"224.0.0.1", NETADDR_MULTICAST},
    {"239.255.255.250", NETADDR_MULTICAST},
    {"239.255.255.255", NETADDR_MULTICAST},
    {"240.0.0.0", NETADDR_RESERVED},
    {"250.1.2.3", NETADDR_RESERVED},
    {"255.255.255.254", NETADDR_RESERVED},
    {"255.255.255.255", NETADDR_BROADCAST},
    /* ordinary public addresses between the blocks */
    {"93.184.216.34", NETADDR_PUBLIC},
    {"151.101.0.223", NETADDR_PUBLIC},
    {"192.31.196.1", NETADDR_PUBLIC},
    {"199.232.0.0", NETADDR_PUBLIC},
};

static const struct class_case ipv6_class_cases[] = {
    /* ::/128, ::1/128, ::/96 compatible, ::ffff:0:0/96 mapped */
    {"::", NETADDR_UNSPECIFIED},
    {"::1", NETADDR_LOOPBACK},
    {"::2", NETADDR_IPV4_MAPPED},
    {"::127.0.0.1", NETADDR_IPV4_MAPPED},
    {"::8.8.8.8", NETADDR_IPV4_MAPPED},
    {"::ffff:ffff", NETADDR_IPV4_MAPPED},
    {"::1:0:0", NETADDR_RESERVED},
    {"::fffe:ffff:ffff", NETADDR_RESERVED},
    {"::ffff:0:0", NETADDR_IPV4_MAPPED},
    {"::ffff:0.0.0.0", NETADDR_IPV4_MAPPED},
    {"::ffff:127.0.0.1", NETADDR_IPV4_MAPPED},
    {"::ffff:8.8.8.8", NETADDR_IPV4_MAPPED},
    {"::ffff:169.254.169.254", NETADDR_IPV4_MAPPED},
    {"::ffff:ffff:ffff", NETADDR_IPV4_MAPPED},
    {"::1:0:0:0", NETADDR_RESERVED},
    {"::ffff:0:0:0", NETADDR_RESERVED},
    {"0:0:0:1::", NETADDR_RESERVED},
    /* 64:ff9b::/96 and 64:ff9b:1::/48 */
    {"64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", NETADDR_RESERVED},
    {"64:ff9b::", NETADDR_NAT64},
    {"64:ff9b::7f00:1", NETADDR_NAT64},
    {"64:ff9b::8.8.8.8", NETADDR_NAT64},
    {"64:ff9b::ffff:ffff", NETADDR_NAT64},
    {"64:ff9b::1:0:0", NETADDR_RESERVED},
    {"64:ff9b:0:1::", NETADDR_RESERVED},
    {"64:ff9b:0:ffff:ffff:ffff:ffff:ffff", NETADDR_RESERVED},
    {"64:ff9b:1::", NETADDR_NAT64},
    {"64:ff9b:1::a00:1", NETADDR_NAT64},
    {"64:ff9b:1:ffff:ffff:ffff:ffff:ffff", NETADDR_NAT64},
    {"64:ff9b:2::", NETADDR_RESERVED},
    /* 100::/64 discard */
    {"ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETADDR_RESERVED},
    {"100::", NETADDR_RESERVED},
    {"100::ffff:ffff:ffff:ffff", NETADDR_RESERVED},
    {"100:0:0:1::", NETADDR_RESERVED},
    /* 2000::/3 begins */
    {"1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETADDR_RESERVED},
    {"2000::", NETADDR_PUBLIC},
    {"2000::1", NETADDR_PUBLIC},
    /* 2001::/23 and what is inside it */
    {"2001::", NETADDR_TEREDO},
    {"2001:0::", NETADDR_TEREDO},
    {"2001:0:4136:e378:8000:63bf:3fff:fdd2", NETADDR_TEREDO},
    {"2001:0:ffff:ffff:ffff:ffff:ffff:ffff", NETADDR_TEREDO},
    {"2001:1::", NETADDR_RESERVED},
    {"2001:1::1", NETADDR_RESERVED},
    {"2001:1::2", NETADDR_RESERVED},
    {"2001:1:ffff:ffff:ffff:ffff:ffff:ffff", NETADDR_RESERVED},
    {"2001:2::", NETADDR_BENCHMARKING},
    {"2001:2::1", NETADDR_BENCHMARKING},
    {"2001:2:0:ffff:ffff:ffff:ffff:ffff", NETADDR_BENCHMARKING},
    {"2001:2:1::", NETADDR_RESERVED},
    {"2001:3::", NETADDR_RESERVED},
    {"2001:4:112::", NETADDR_RESERVED},
    {"2001:10::", NETADDR_RESERVED},
    {"2001:20::", NETADDR_RESERVED},
    {"2001:2f:ffff:ffff:ffff:ffff:ffff:ffff", NETADDR_RESERVED},
    {"2001:30::", NETADDR_RESERVED},
    {"2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", NETADDR_RESERVED},
    {"2001:200::", NETADDR_PUBLIC},
    /* 2001:db8::/32 */
    {"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", NETADDR_PUBLIC},
    {"2001:db8::", NETADDR_DOCUMENTATION},
    {"2001:db8::1", NETADDR_DOCUMENTATION},
    {"2001:DB8::1", NETADDR_DOCUMENTATION},
    {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", NETADDR_DOCUMENTATION},
    {"2001:db9::", NETADDR_PUBLIC},
    {"2001:4860:4860::8888", NETADDR_PUBLIC},
    {"2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETADDR_PUBLIC},
    /* 2002::/16 */
    {"2002::", NETADDR_6TO4},
    {"2002:7f00:1::", NETADDR_6TO4},
    {"2002:a9fe:a9fe::1", NETADDR_6TO4},
    {"2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETADDR_6TO4},
    {"2003::", NETADDR_PUBLIC},
    {"2606:4700:4700::1111", NETADDR_PUBLIC},
    {"2620:4f:8000::", NETADDR_PUBLIC},
    {"2a00:1450:4001::200e", NETADDR_PUBLIC},
    /* 3fff::/20 and the end of 2000::/3 */
    {"3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETADDR_PUBLIC},
    {"3fff::", NETADDR_DOCUMENTATION},
    {"3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", NETADDR_DOCUMENTATION},
    {"3fff:1000::", NETADDR_PUBLIC},
    {"3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETADDR_PUBLIC},
    {"4000::", NETADDR_RESERVED},
    {"5f00::", NETADDR_RESERVED},
    {"8000::", NETADDR_RESERVED},
    /* fc00::/7 and the AWS metadata address inside it */
    {"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETADDR_RESERVED},
    {"fc00::", NETADDR_PRIVATE},
    {"fcff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETADDR_PRIVATE},
    {"fd00::", NETADDR_PRIVATE},
    {"fd00:ec2::253", NETADDR_PRIVATE},
    {"fd00:ec2::254", NETADDR_METADATA},
    {"fd00:ec2:0:0:0:0:0:254", NETADDR_METADATA},
    {"FD00:EC2::254", NETADDR_METADATA},
    {"fd00:ec2::255", NETADDR_PRIVATE},
    {"fd00:ec2::1:254", NETADDR_PRIVATE},
    {"fd12:3456:789a::1", NETADDR_PRIVATE},
    {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETADDR_PRIVATE},
    /* fe80::/10, fec0::/10 */
    {"fe00::", NETADDR_RESERVED},
    {"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETADDR_RESERVED},
    {"fe80::", NETADDR_LINK_LOCAL},
    {"fe80::1", NETADDR_LINK_LOCAL},
    {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETADDR_LINK_LOCAL},
    {"fec0::", NETADDR_PRIVATE},
    {"fec0::1", NETADDR_PRIVATE},
    {"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETADDR_PRIVATE},
    /* ff00::/8 */
    {"ff00::", NETADDR_MULTICAST},
    {"ff02::1", NETADDR_MULTICAST},
    {"ff05::1:3", NETADDR_MULTICAST},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETADDR_MULTICAST},
};

static void
expect_classes(const struct class_case *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct netaddr a = addr(t[i].addr);
        enum netaddr_class got = netaddr_classify(&a);

        cr_expect_eq(got, t[i].want, "%s: got %s, want %s", t[i].addr, netaddr_class_name(got),
                     netaddr_class_name(t[i].want));
    }
}

Test(classify, ipv4_ranges_and_edges)
{
    expect_classes(ipv4_class_cases, ARRAY_SIZE(ipv4_class_cases));
}

Test(classify, ipv6_ranges_and_edges)
{
    expect_classes(ipv6_class_cases, ARRAY_SIZE(ipv6_class_cases));
}

/* An IPv4 address inside an IPv6 form is classed by the form, never by the IPv4 address: a
 * public 8.8.8.8 behind ::ffff: is still "ipv4_mapped", and so is 127.0.0.1. */
Test(classify, embedded_ipv4_classed_by_the_wrapper)
{
    for (size_t i = 0; i < ARRAY_SIZE(ipv4_class_cases); i++) {
        struct netaddr v4 = addr(ipv4_class_cases[i].addr);
        struct netaddr v6 = {.family = AF_INET6};
        struct {
            const uint8_t head[6];
            size_t headlen, at;
            enum netaddr_class want;
        } forms[] = {
            {{0}, 0, 12, NETADDR_IPV4_MAPPED},                /* ::a.b.c.d, unless :: or ::1 */
            {{0x00, 0x64, 0xff, 0x9b}, 4, 12, NETADDR_NAT64}, /* 64:ff9b::a.b.c.d */
            {{0x00, 0x64, 0xff, 0x9b, 0, 1}, 6, 12, NETADDR_NAT64}, /* 64:ff9b:1::a.b.c.d */
            {{0x20, 0x02}, 2, 2, NETADDR_6TO4},                     /* 2002:aabb:ccdd:: */
            {{0x20, 0x01, 0, 0}, 4, 12, NETADDR_TEREDO}, /* client address (obfuscated) */
        };

        for (size_t f = 0; f < ARRAY_SIZE(forms); f++) {
            enum netaddr_class want = forms[f].want, got;
            char buf[NETADDR_STR_MAX];

            memset(v6.bytes, 0, sizeof(v6.bytes));
            memcpy(v6.bytes, forms[f].head, forms[f].headlen);
            memcpy(v6.bytes + forms[f].at, v4.bytes, 4);
            if (f == 0 && memcmp(v4.bytes, "\0\0\0\0", 4) == 0)
                want = NETADDR_UNSPECIFIED;
            if (f == 0 && memcmp(v4.bytes, "\0\0\0\1", 4) == 0)
                want = NETADDR_LOOPBACK;
            got = netaddr_classify(&v6);
            cr_expect_eq(got, want, "%s as %s: got %s", ipv4_class_cases[i].addr, fmt(&v6, buf),
                         netaddr_class_name(got));
        }
        memset(v6.bytes, 0, sizeof(v6.bytes));
        v6.bytes[10] = v6.bytes[11] = 0xff;
        memcpy(v6.bytes + 12, v4.bytes, 4);
        cr_expect_eq(netaddr_classify(&v6), NETADDR_IPV4_MAPPED, "::ffff:%s",
                     ipv4_class_cases[i].addr);
    }
}

Test(classify, unknown_family_is_never_public)
{
    struct netaddr a = {.family = AF_UNIX};
    struct netaddr zero = {0};

    cr_expect_eq(netaddr_classify(&a), NETADDR_RESERVED);
    cr_expect_eq(netaddr_classify(&zero), NETADDR_RESERVED, "family 0 (AF_UNSPEC)");
    cr_expect_eq(netaddr_classify(NULL), NETADDR_RESERVED);
}

/* ---------------------------------------------------------------------------------------------
 * netaddr_classify against a reference written as CIDR strings: the same registries, in the same
 * first-match order, parsed by netaddr_cidr_parse and checked with netaddr_cidr_contains. Every
 * range contributes its first, second, second-to-last and last address and the two neighbours
 * just outside it; each must get the class the reference gives.
 */

struct ref_range {
    const char *cidr;
    enum netaddr_class cls;
};

static const struct ref_range ipv4_ref[] = {
    {"169.254.169.254/32", NETADDR_METADATA},  {"255.255.255.255/32", NETADDR_BROADCAST},
    {"0.0.0.0/8", NETADDR_UNSPECIFIED},        {"10.0.0.0/8", NETADDR_PRIVATE},
    {"100.64.0.0/10", NETADDR_CGNAT},          {"127.0.0.0/8", NETADDR_LOOPBACK},
    {"169.254.0.0/16", NETADDR_LINK_LOCAL},    {"172.16.0.0/12", NETADDR_PRIVATE},
    {"192.0.0.0/24", NETADDR_RESERVED},        {"192.0.2.0/24", NETADDR_DOCUMENTATION},
    {"192.88.99.0/24", NETADDR_RESERVED},      {"192.168.0.0/16", NETADDR_PRIVATE},
    {"198.18.0.0/15", NETADDR_BENCHMARKING},   {"198.51.100.0/24", NETADDR_DOCUMENTATION},
    {"203.0.113.0/24", NETADDR_DOCUMENTATION}, {"224.0.0.0/4", NETADDR_MULTICAST},
    {"240.0.0.0/4", NETADDR_RESERVED},
};

static const struct ref_range ipv6_ref[] = {
    {"::/128", NETADDR_UNSPECIFIED},          {"::1/128", NETADDR_LOOPBACK},
    {"::ffff:0:0/96", NETADDR_IPV4_MAPPED},   {"::/96", NETADDR_IPV4_MAPPED},
    {"64:ff9b::/96", NETADDR_NAT64},          {"64:ff9b:1::/48", NETADDR_NAT64},
    {"100::/64", NETADDR_RESERVED},           {"2001::/32", NETADDR_TEREDO},
    {"2001:2::/48", NETADDR_BENCHMARKING},    {"2001::/23", NETADDR_RESERVED},
    {"2001:db8::/32", NETADDR_DOCUMENTATION}, {"2002::/16", NETADDR_6TO4},
    {"3fff::/20", NETADDR_DOCUMENTATION},     {"2000::/3", NETADDR_PUBLIC},
    {"fd00:ec2::254/128", NETADDR_METADATA},  {"fc00::/7", NETADDR_PRIVATE},
    {"fe80::/10", NETADDR_LINK_LOCAL},        {"fec0::/10", NETADDR_PRIVATE},
    {"ff00::/8", NETADDR_MULTICAST},
    /* the IPv6 default (reserved) is applied by ref_class */
};

static enum netaddr_class
ref_class(const struct netaddr *a)
{
    const struct ref_range *t = a->family == AF_INET ? ipv4_ref : ipv6_ref;
    size_t n = a->family == AF_INET ? ARRAY_SIZE(ipv4_ref) : ARRAY_SIZE(ipv6_ref);

    for (size_t i = 0; i < n; i++) {
        struct netaddr_cidr c = cidr(t[i].cidr);

        if (netaddr_cidr_contains(&c, a))
            return t[i].cls;
    }
    return a->family == AF_INET ? NETADDR_PUBLIC : NETADDR_RESERVED;
}

/* a += delta (+1 or -1) over its family's bytes; false on wrap-around. */
static bool
step(struct netaddr *a, int delta)
{
    size_t n = a->family == AF_INET ? 4 : 16;

    for (size_t i = n; i-- > 0;) {
        uint8_t stop = delta > 0 ? 0xff : 0x00;
        bool carry = a->bytes[i] == stop;

        a->bytes[i] = (uint8_t)(a->bytes[i] + delta);
        if (!carry)
            return true;
    }
    return false;
}

/* The last address of c: its host bits all set. */
static struct netaddr
last_of(const struct netaddr_cidr *c)
{
    struct netaddr a = c->addr;
    size_t n = a.family == AF_INET ? 4 : 16;

    for (size_t i = 0; i < n; i++) {
        unsigned bit0 = (unsigned)i * 8;

        if (c->prefix <= bit0)
            a.bytes[i] = 0xff;
        else if (c->prefix < bit0 + 8)
            a.bytes[i] |= (uint8_t)(0xffu >> (c->prefix - bit0));
    }
    return a;
}

static void
expect_like_reference(const struct netaddr *a, const char *why)
{
    char buf[NETADDR_STR_MAX];
    enum netaddr_class got = netaddr_classify(a), want = ref_class(a);

    cr_expect_eq(got, want, "%s (%s): got %s, want %s", fmt(a, buf), why, netaddr_class_name(got),
                 netaddr_class_name(want));
}

static void
expect_reference_edges(const struct ref_range *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct netaddr_cidr c = cidr(t[i].cidr);
        struct netaddr first = c.addr, last = last_of(&c), a;

        /* The reference itself: the range's first address gets the range's class unless an
         * earlier (more specific) row claims it. */
        expect_like_reference(&first, t[i].cidr);
        expect_like_reference(&last, t[i].cidr);
        a = first;
        if (step(&a, -1))
            expect_like_reference(&a, "just below");
        a = first;
        if (step(&a, +1))
            expect_like_reference(&a, "second");
        a = last;
        if (step(&a, -1))
            expect_like_reference(&a, "second to last");
        a = last;
        if (step(&a, +1))
            expect_like_reference(&a, "just above");
    }
}

Test(classify, ipv4_edges_match_reference)
{
    expect_reference_edges(ipv4_ref, ARRAY_SIZE(ipv4_ref));
}

Test(classify, ipv6_edges_match_reference)
{
    expect_reference_edges(ipv6_ref, ARRAY_SIZE(ipv6_ref));
}

/* The reference must agree with the hand-written rows too, or it proves nothing. */
Test(classify, reference_agrees_with_hand_written_rows)
{
    for (size_t i = 0; i < ARRAY_SIZE(ipv4_class_cases); i++) {
        struct netaddr a = addr(ipv4_class_cases[i].addr);

        cr_expect_eq(ref_class(&a), ipv4_class_cases[i].want, "%s", ipv4_class_cases[i].addr);
    }
    for (size_t i = 0; i < ARRAY_SIZE(ipv6_class_cases); i++) {
        struct netaddr a = addr(ipv6_class_cases[i].addr);

        cr_expect_eq(ref_class(&a), ipv6_class_cases[i].want, "%s", ipv6_class_cases[i].addr);
    }
}

/* A spread over the whole IPv4 space (every 4099th address, a prime stride so every octet value
 * turns up in every position), compared with the reference. */
Test(classify, ipv4_sweep_matches_reference)
{
    struct netaddr_cidr refs[ARRAY_SIZE(ipv4_ref)];

    for (size_t i = 0; i < ARRAY_SIZE(ipv4_ref); i++)
        refs[i] = cidr(ipv4_ref[i].cidr);
    for (uint64_t x = 0; x <= UINT32_MAX; x += 4099) {
        struct netaddr a = {.family = AF_INET};
        enum netaddr_class want = NETADDR_PUBLIC, got;

        a.bytes[0] = (uint8_t)(x >> 24);
        a.bytes[1] = (uint8_t)(x >> 16);
        a.bytes[2] = (uint8_t)(x >> 8);
        a.bytes[3] = (uint8_t)x;
        for (size_t i = 0; i < ARRAY_SIZE(refs); i++) {
            if (netaddr_cidr_contains(&refs[i], &a)) {
                want = ipv4_ref[i].cls;
                break;
            }
        }
        got = netaddr_classify(&a);
        if (got != want) {
            char buf[NETADDR_STR_MAX];

            cr_assert_eq(got, want, "%s: got %s, want %s", fmt(&a, buf), netaddr_class_name(got),
                         netaddr_class_name(want));
        }
    }
}

/* Every IPv6 /8, /16 first address, and random host bits inside every reference range. */
Test(classify, ipv6_spread_matches_reference)
{
    uint64_t rng = 0x9e3779b97f4a7c15u;

    for (unsigned hi = 0; hi < 0x10000; hi += 0x11) {
        struct netaddr a = {.family = AF_INET6};

        a.bytes[0] = (uint8_t)(hi >> 8);
        a.bytes[1] = (uint8_t)hi;
        expect_like_reference(&a, "first of a /16");
        memset(a.bytes + 2, 0xff, 14);
        expect_like_reference(&a, "last of a /16");
    }
    for (size_t i = 0; i < ARRAY_SIZE(ipv6_ref); i++) {
        struct netaddr_cidr c = cidr(ipv6_ref[i].cidr);

        for (int k = 0; k < 64; k++) {
            struct netaddr a = c.addr, hostmask = last_of(&c);

            for (size_t b = 0; b < 16; b++) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                a.bytes[b] |= (uint8_t)(rng & (hostmask.bytes[b] & ~c.addr.bytes[b]));
            }
            cr_expect(netaddr_cidr_contains(&c, &a), "random member of %s", ipv6_ref[i].cidr);
            expect_like_reference(&a, ipv6_ref[i].cidr);
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * netaddr_class_name
 */

Test(class_name, stable_names)
{
    static const struct {
        enum netaddr_class c;
        const char *name;
    } names[] = {
        {NETADDR_PUBLIC, "public"},
        {NETADDR_UNSPECIFIED, "unspecified"},
        {NETADDR_LOOPBACK, "loopback"},
        {NETADDR_PRIVATE, "private"},
        {NETADDR_CGNAT, "cgnat"},
        {NETADDR_LINK_LOCAL, "link_local"},
        {NETADDR_METADATA, "metadata"},
        {NETADDR_DOCUMENTATION, "documentation"},
        {NETADDR_BENCHMARKING, "benchmarking"},
        {NETADDR_MULTICAST, "multicast"},
        {NETADDR_BROADCAST, "broadcast"},
        {NETADDR_RESERVED, "reserved"},
        {NETADDR_IPV4_MAPPED, "ipv4_mapped"},
        {NETADDR_NAT64, "nat64"},
        {NETADDR_6TO4, "6to4"},
        {NETADDR_TEREDO, "teredo"},
    };

    cr_assert_eq(ARRAY_SIZE(names), NETADDR_CLASS_COUNT, "a class is missing from this test");
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        cr_expect_str_eq(netaddr_class_name(names[i].c), names[i].name, "class %d", names[i].c);
}

Test(class_name, distinct_lower_case_and_bounded)
{
    for (int i = 0; i < NETADDR_CLASS_COUNT; i++) {
        const char *n = netaddr_class_name((enum netaddr_class)i);

        cr_assert_not_null(n, "class %d", i);
        cr_expect_gt(strlen(n), 0, "class %d", i);
        for (const char *p = n; *p; p++)
            cr_expect((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_',
                      "class %d name \"%s\"", i, n);
        for (int j = 0; j < i; j++)
            cr_expect_str_neq(n, netaddr_class_name((enum netaddr_class)j), "classes %d, %d", i, j);
    }
    cr_expect_str_eq(netaddr_class_name(NETADDR_CLASS_COUNT), "unknown");
    cr_expect_str_eq(netaddr_class_name((enum netaddr_class) - 1), "unknown");
    cr_expect_str_eq(netaddr_class_name((enum netaddr_class)1000), "unknown");
}

/* ---------------------------------------------------------------------------------------------
 * netaddr_format
 */

Test(format, round_trips_every_accepted_case)
{
    const struct class_case *tables[] = {ipv4_class_cases, ipv6_class_cases};
    size_t sizes[] = {ARRAY_SIZE(ipv4_class_cases), ARRAY_SIZE(ipv6_class_cases)};

    for (size_t t = 0; t < 2; t++) {
        for (size_t i = 0; i < sizes[t]; i++) {
            struct netaddr a = addr(tables[t][i].addr), b;
            char buf[NETADDR_STR_MAX], again[NETADDR_STR_MAX];

            fmt(&a, buf);
            cr_expect_eq(netaddr_parse(buf, strlen(buf), &b), 0, "%s -> \"%s\"", tables[t][i].addr,
                         buf);
            cr_expect_eq(b.family, a.family, "%s", tables[t][i].addr);
            cr_expect_eq(memcmp(a.bytes, b.bytes, 16), 0, "%s -> \"%s\"", tables[t][i].addr, buf);
            cr_expect_str_eq(fmt(&b, again), buf, "%s: canonical form is stable",
                             tables[t][i].addr);
        }
    }
}

Test(format, small_buffer_or_bad_family_gives_empty_string)
{
    struct netaddr a = addr("255.255.255.255");
    struct netaddr bad = {.family = AF_UNIX};
    char buf[NETADDR_STR_MAX];

    memset(buf, 'x', sizeof(buf));
    netaddr_format(&a, buf, 15);
    cr_expect_str_eq(buf, "", "15 bytes cannot hold 255.255.255.255 and its NUL");
    netaddr_format(&a, buf, 16);
    cr_expect_str_eq(buf, "255.255.255.255");
    netaddr_format(&bad, buf, sizeof(buf));
    cr_expect_str_eq(buf, "");
    memset(buf, 'x', sizeof(buf));
    netaddr_format(NULL, buf, sizeof(buf));
    cr_expect_str_eq(buf, "");
    buf[0] = 'x';
    netaddr_format(&a, buf, 0);
    cr_expect_eq(buf[0], 'x', "n == 0 writes nothing");
}

Test(format, longest_ipv6_fits)
{
    struct netaddr a = addr("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
    struct netaddr m = addr("::ffff:255.255.255.255");
    char buf[NETADDR_STR_MAX];

    cr_expect_str_eq(fmt(&a, buf), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    cr_expect_str_eq(fmt(&m, buf), "::ffff:255.255.255.255");
}

/* ---------------------------------------------------------------------------------------------
 * netaddr_cidr_parse, netaddr_cidr_format
 */

struct cidr_ok {
    const char *in;
    int family;
    unsigned prefix;
    const char *canonical;
};

static const struct cidr_ok cidr_ok_cases[] = {
    {"0.0.0.0/0", AF_INET, 0, "0.0.0.0/0"},
    {"::/0", AF_INET6, 0, "::/0"},
    {"10.0.0.0/8", AF_INET, 8, "10.0.0.0/8"},
    {"10.0.0.0/9", AF_INET, 9, "10.0.0.0/9"},
    {"10.128.0.0/9", AF_INET, 9, "10.128.0.0/9"},
    {"10.0.0.0/32", AF_INET, 32, "10.0.0.0/32"},
    {"10.20.0.0/16", AF_INET, 16, "10.20.0.0/16"},
    {"172.16.0.0/12", AF_INET, 12, "172.16.0.0/12"},
    {"100.64.0.0/10", AF_INET, 10, "100.64.0.0/10"},
    {"192.168.1.1/32", AF_INET, 32, "192.168.1.1/32"},
    {"255.255.255.255/32", AF_INET, 32, "255.255.255.255/32"},
    {"255.255.255.254/31", AF_INET, 31, "255.255.255.254/31"},
    {"1.2.3.4/30", AF_INET, 30, "1.2.3.4/30"},
    {"1.2.3.4/31", AF_INET, 31, "1.2.3.4/31"},
    {"128.0.0.0/1", AF_INET, 1, "128.0.0.0/1"},
    {"fc00::/7", AF_INET6, 7, "fc00::/7"},
    {"FC00::/7", AF_INET6, 7, "fc00::/7"},
    {"fc00::/6", AF_INET6, 6, "fc00::/6"},
    {"fe80::/10", AF_INET6, 10, "fe80::/10"},
    {"2001:db8::/32", AF_INET6, 32, "2001:db8::/32"},
    {"2001:0db8:0000::/48", AF_INET6, 48, "2001:db8::/48"},
    {"::1/128", AF_INET6, 128, "::1/128"},
    {"64:ff9b::/96", AF_INET6, 96, "64:ff9b::/96"},
    {"::ffff:10.0.0.0/104", AF_INET6, 104, "::ffff:10.0.0.0/104"},
    {"8000::/1", AF_INET6, 1, "8000::/1"},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127", AF_INET6, 127,
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127"},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", AF_INET6, 128,
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"},
};

Test(cidr_parse, accepts_valid_blocks)
{
    for (size_t i = 0; i < ARRAY_SIZE(cidr_ok_cases); i++) {
        const struct cidr_ok *t = &cidr_ok_cases[i];
        struct netaddr_cidr c, back;
        char buf[NETADDR_STR_MAX + 8];
        int r = netaddr_cidr_parse(t->in, &c);

        cr_expect_eq(r, 0, "\"%s\" must parse, got %d", t->in, r);
        if (r != 0)
            continue;
        cr_expect_eq(c.addr.family, t->family, "\"%s\" family", t->in);
        cr_expect_eq(c.prefix, t->prefix, "\"%s\" prefix %u", t->in, c.prefix);
        netaddr_cidr_format(&c, buf, sizeof(buf));
        cr_expect_str_eq(buf, t->canonical, "\"%s\" formats as \"%s\"", t->in, buf);
        cr_expect_eq(netaddr_cidr_parse(buf, &back), 0, "\"%s\" reparses", buf);
        cr_expect_eq(back.prefix, c.prefix, "\"%s\"", buf);
        cr_expect_eq(memcmp(&back.addr.bytes, &c.addr.bytes, 16), 0, "\"%s\"", buf);
    }
}

static const char *const cidr_bad_cases[] = {
    /* prefix out of range or not strict decimal */
    "10.0.0.0/33",
    "10.0.0.0/64",
    "10.0.0.0/128",
    "10.0.0.0/-1",
    "10.0.0.0/+8",
    "10.0.0.0/08",
    "10.0.0.0/00",
    "10.0.0.0/008",
    "10.0.0.0/0x8",
    "10.0.0.0/8a",
    "10.0.0.0/8 ",
    "10.0.0.0/ 8",
    "10.0.0.0 /8",
    "10.0.0.0/8.0",
    "10.0.0.0/1e1",
    "10.0.0.0/4294967304",
    "10.0.0.0/99999999999999999999",
    "::/129",
    "::/00",
    "::/0128",
    "::/1000",
    "::/-0",
    /* host bits set */
    "10.0.0.1/8",
    "10.0.0.1/31",
    "1.2.3.5/31",
    "0.0.0.1/0",
    "128.0.0.0/0",
    "10.128.0.0/8",
    "172.16.0.1/12",
    "172.17.0.0/12",
    "192.168.1.0/16",
    "fd00::/7",
    "fe80::1/10",
    "fec0::/9",
    "::1/0",
    "::1/127",
    "2001:db8::1/32",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/127",
    /* missing or doubled parts */
    "",
    "/",
    "/8",
    "10.0.0.0",
    "10.0.0.0/",
    "10.0.0.0//8",
    "10.0.0.0/8/8",
    "::",
    "::/",
    /* the address part gets netaddr_parse's strictness */
    "127.1/32",
    "0177.0.0.0/8",
    "0x7f.0.0.0/8",
    "2130706432/8",
    "10.0.0/24",
    "010.0.0.0/8",
    "[::1]/128",
    "[::1/128]",
    "::1%eth0/128",
    " 10.0.0.0/8",
    "10.0.0.0./8",
};

Test(cidr_parse, refuses_invalid_blocks)
{
    for (size_t i = 0; i < ARRAY_SIZE(cidr_bad_cases); i++) {
        struct netaddr_cidr c;
        int r = netaddr_cidr_parse(cidr_bad_cases[i], &c);

        cr_expect_eq(r, -EINVAL, "\"%s\" must be refused with -EINVAL, got %d", cidr_bad_cases[i],
                     r);
    }
}

Test(cidr_parse, every_prefix_length)
{
    /* 0.0.0.0/n and ::/n for every n in range; one past the end is refused. */
    for (unsigned n = 0; n <= 129; n++) {
        char s[16];
        struct netaddr_cidr c;

        snprintf(s, sizeof(s), "0.0.0.0/%u", n);
        cr_expect_eq(netaddr_cidr_parse(s, &c), n <= 32 ? 0 : -EINVAL, "\"%s\"", s);
        snprintf(s, sizeof(s), "::/%u", n);
        cr_expect_eq(netaddr_cidr_parse(s, &c), n <= 128 ? 0 : -EINVAL, "\"%s\"", s);
    }
    /* The lowest set bit decides the shortest prefix a /n base address allows. */
    for (unsigned bit = 0; bit < 32; bit++) {
        uint32_t v = 0x80000000u >> bit;
        char s[32];
        struct netaddr_cidr c;

        for (unsigned n = 0; n <= 32; n++) {
            snprintf(s, sizeof(s), "%u.%u.%u.%u/%u", v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff,
                     v & 0xff, n);
            cr_expect_eq(netaddr_cidr_parse(s, &c), n > bit ? 0 : -EINVAL, "\"%s\"", s);
        }
    }
}

Test(cidr_parse, ret_untouched_on_failure)
{
    struct netaddr_cidr c;

    memset(&c, 0xa5, sizeof(c));
    cr_expect_eq(netaddr_cidr_parse("10.0.0.1/8", &c), -EINVAL);
    cr_expect_eq(c.prefix, 0xa5a5a5a5u);
    cr_expect_eq(c.addr.bytes[0], 0xa5);
    cr_expect_eq(netaddr_cidr_parse(NULL, &c), -EINVAL);
}

Test(cidr_format, small_buffer_and_bad_input)
{
    struct netaddr_cidr c = cidr("255.255.255.255/32");
    struct netaddr_cidr bad = c;
    char buf[64];

    netaddr_cidr_format(&c, buf, 19);
    cr_expect_str_eq(buf, "255.255.255.255/32");
    netaddr_cidr_format(&c, buf, 18);
    cr_expect_str_eq(buf, "", "18 bytes cannot hold it: nothing, not a shorter prefix");
    netaddr_cidr_format(&c, buf, 17);
    cr_expect_str_eq(buf, "");
    bad.prefix = 33;
    netaddr_cidr_format(&bad, buf, sizeof(buf));
    cr_expect_str_eq(buf, "", "IPv4 /33");
    bad.addr.family = AF_UNIX;
    bad.prefix = 8;
    netaddr_cidr_format(&bad, buf, sizeof(buf));
    cr_expect_str_eq(buf, "");
    netaddr_cidr_format(NULL, buf, sizeof(buf));
    cr_expect_str_eq(buf, "");
}

/* ---------------------------------------------------------------------------------------------
 * netaddr_cidr_contains
 */

struct contains_case {
    const char *cidr;
    const char *addr;
    bool want;
};

static const struct contains_case contains_cases[] = {
    {"10.0.0.0/8", "9.255.255.255", false},
    {"10.0.0.0/8", "10.0.0.0", true},
    {"10.0.0.0/8", "10.255.255.255", true},
    {"10.0.0.0/8", "11.0.0.0", false},
    {"10.0.0.0/9", "10.127.255.255", true},
    {"10.0.0.0/9", "10.128.0.0", false},
    {"172.16.0.0/12", "172.15.255.255", false},
    {"172.16.0.0/12", "172.16.0.0", true},
    {"172.16.0.0/12", "172.31.255.255", true},
    {"172.16.0.0/12", "172.32.0.0", false},
    {"100.64.0.0/10", "100.63.255.255", false},
    {"100.64.0.0/10", "100.64.0.0", true},
    {"100.64.0.0/10", "100.127.255.255", true},
    {"100.64.0.0/10", "100.128.0.0", false},
    {"10.20.0.0/16", "10.19.255.255", false},
    {"10.20.0.0/16", "10.20.0.0", true},
    {"10.20.0.0/16", "10.20.255.255", true},
    {"10.20.0.0/16", "10.21.0.0", false},
    {"192.168.1.1/32", "192.168.1.0", false},
    {"192.168.1.1/32", "192.168.1.1", true},
    {"192.168.1.1/32", "192.168.1.2", false},
    {"255.255.255.254/31", "255.255.255.253", false},
    {"255.255.255.254/31", "255.255.255.254", true},
    {"255.255.255.254/31", "255.255.255.255", true},
    {"128.0.0.0/1", "127.255.255.255", false},
    {"128.0.0.0/1", "128.0.0.0", true},
    {"128.0.0.0/1", "255.255.255.255", true},
    {"0.0.0.0/0", "0.0.0.0", true},
    {"0.0.0.0/0", "127.0.0.1", true},
    {"0.0.0.0/0", "255.255.255.255", true},
    {"::/0", "::", true},
    {"::/0", "::1", true},
    {"::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
    {"fc00::/7", "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false},
    {"fc00::/7", "fc00::", true},
    {"fc00::/7", "fd00:ec2::254", true},
    {"fc00::/7", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
    {"fc00::/7", "fe00::", false},
    {"fe80::/10", "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false},
    {"fe80::/10", "fe80::", true},
    {"fe80::/10", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
    {"fe80::/10", "fec0::", false},
    {"::1/128", "::", false},
    {"::1/128", "::1", true},
    {"::1/128", "::2", false},
    {"64:ff9b::/96", "64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", false},
    {"64:ff9b::/96", "64:ff9b::", true},
    {"64:ff9b::/96", "64:ff9b::ffff:ffff", true},
    {"64:ff9b::/96", "64:ff9b::1:0:0", false},
    {"2001:db8::/32", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", false},
    {"2001:db8::/32", "2001:db8::", true},
    {"2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true},
    {"2001:db8::/32", "2001:db9::", false},
    {"8000::/1", "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false},
    {"8000::/1", "8000::", true},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffd",
     false},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
     true},
    {"::ffff:10.0.0.0/104", "::ffff:10.0.0.1", true},
    {"::ffff:10.0.0.0/104", "::ffff:11.0.0.0", false},
    /* family mismatch never contains, even where the bytes would match */
    {"::ffff:10.0.0.0/104", "10.0.0.1", false},
    {"10.0.0.0/8", "::ffff:10.0.0.1", false},
    {"10.0.0.0/8", "a00::", false},
    {"0.0.0.0/0", "::", false},
    {"0.0.0.0/0", "::ffff:1.2.3.4", false},
    {"::/0", "0.0.0.0", false},
    {"::/0", "1.2.3.4", false},
    {"::/96", "1.2.3.4", false},
    {"127.0.0.0/8", "::1", false},
    {"127.0.0.0/8", "::ffff:127.0.0.1", false},
};

Test(cidr_contains, edges_and_family_mismatch)
{
    for (size_t i = 0; i < ARRAY_SIZE(contains_cases); i++) {
        const struct contains_case *t = &contains_cases[i];
        struct netaddr_cidr c = cidr(t->cidr);
        struct netaddr a = addr(t->addr);

        cr_expect_eq(netaddr_cidr_contains(&c, &a), t->want, "%s contains %s: want %s", t->cidr,
                     t->addr, t->want ? "true" : "false");
    }
}

Test(cidr_contains, impossible_blocks_contain_nothing)
{
    /* The address matches the block's bytes exactly, so only the prefix check can refuse. */
    struct netaddr_cidr c = cidr("1.2.3.4/32");
    struct netaddr a = addr("1.2.3.4");
    struct netaddr_cidr c6 = cidr("::1/128");
    struct netaddr a6 = addr("::1");
    struct netaddr unix_a = {.family = AF_UNIX};
    struct netaddr_cidr unix_c = {.addr = {.family = AF_UNIX}, .prefix = 0};

    c.prefix = 33;
    cr_expect_not(netaddr_cidr_contains(&c, &a), "IPv4 /33");
    c6.prefix = 129;
    cr_expect_not(netaddr_cidr_contains(&c6, &a6), "IPv6 /129");
    c6.prefix = 4000000000u;
    cr_expect_not(netaddr_cidr_contains(&c6, &a6), "IPv6 /4000000000");
    cr_expect_not(netaddr_cidr_contains(&unix_c, &unix_a), "unknown family");
    cr_expect_not(netaddr_cidr_contains(NULL, &a));
    cr_expect_not(netaddr_cidr_contains(&c, NULL));
}

Test(cidr_contains, every_prefix_of_one_address)
{
    /* 203.0.113.77 is inside a.b.c.d/n built from itself for every n, and its neighbour across
     * bit n is not. */
    struct netaddr a = addr("203.0.113.77");
    struct netaddr a6 = addr("2001:db8:85a3::8a2e:370:7334");
    const struct netaddr *addrs[] = {&a, &a6};

    for (size_t k = 0; k < 2; k++) {
        unsigned bits = addrs[k]->family == AF_INET ? 32 : 128;

        for (unsigned n = 0; n <= bits; n++) {
            struct netaddr_cidr c = {.addr = *addrs[k], .prefix = n};
            struct netaddr other = *addrs[k];

            for (unsigned b = n; b < bits; b++)
                c.addr.bytes[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
            cr_expect(netaddr_cidr_contains(&c, addrs[k]), "k=%zu /%u", k, n);
            if (n == 0)
                continue;
            other.bytes[(n - 1) / 8] ^= (uint8_t)(0x80u >> ((n - 1) % 8));
            cr_expect_not(netaddr_cidr_contains(&c, &other), "k=%zu /%u, bit %u flipped", k, n,
                          n - 1);
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * netaddr_from_sockaddr
 */

Test(from_sockaddr, ipv4)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(443)};
    struct netaddr a;
    char buf[NETADDR_STR_MAX];

    cr_assert_eq(inet_pton(AF_INET, "169.254.169.254", &sin.sin_addr), 1);
    memset(&a, 0xa5, sizeof(a));
    cr_expect_eq(netaddr_from_sockaddr(&sin, &a), 0);
    cr_expect_eq(a.family, AF_INET);
    cr_expect_str_eq(fmt(&a, buf), "169.254.169.254");
    for (size_t i = 4; i < sizeof(a.bytes); i++)
        cr_expect_eq(a.bytes[i], 0, "byte %zu", i);
    cr_expect_eq(netaddr_classify(&a), NETADDR_METADATA);
}

Test(from_sockaddr, ipv6)
{
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_scope_id = 2};
    struct sockaddr_storage ss = {0};
    struct netaddr a;
    char buf[NETADDR_STR_MAX];

    cr_assert_eq(inet_pton(AF_INET6, "fe80::1", &sin6.sin6_addr), 1);
    cr_expect_eq(netaddr_from_sockaddr(&sin6, &a), 0);
    cr_expect_eq(a.family, AF_INET6);
    cr_expect_str_eq(fmt(&a, buf), "fe80::1");
    cr_expect_eq(netaddr_classify(&a), NETADDR_LINK_LOCAL);

    /* A mapped address from a dual-stack socket stays IPv6 and is classed as such. */
    cr_assert_eq(inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6.sin6_addr), 1);
    memcpy(&ss, &sin6, sizeof(sin6));
    cr_expect_eq(netaddr_from_sockaddr(&ss, &a), 0);
    cr_expect_eq(a.family, AF_INET6);
    cr_expect_eq(netaddr_classify(&a), NETADDR_IPV4_MAPPED);
}

Test(from_sockaddr, other_families_refused)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX, .sun_path = "/tmp/x"};
    struct sockaddr_storage ss = {.ss_family = AF_UNSPEC};
    struct sockaddr_storage pk = {.ss_family = AF_PACKET};
    struct netaddr a;

    memset(&a, 0xa5, sizeof(a));
    cr_expect_eq(netaddr_from_sockaddr(&sun, &a), -EAFNOSUPPORT);
    cr_expect_eq(netaddr_from_sockaddr(&ss, &a), -EAFNOSUPPORT);
    cr_expect_eq(netaddr_from_sockaddr(&pk, &a), -EAFNOSUPPORT);
    cr_expect_eq(netaddr_from_sockaddr(NULL, &a), -EAFNOSUPPORT);
    cr_expect_eq(a.bytes[0], 0xa5, "ret untouched on failure");
}

/* ::ffff:a.b.c.d stands for a.b.c.d (the kernel connects it over IPv4); nothing else unmaps. */
Test(netaddr, unmap_only_ipv4_mapped)
{
    struct netaddr a = addr("::ffff:127.0.0.1"), v4, want = addr("127.0.0.1");
    const char *not_mapped[] = {"::127.0.0.1", "64:ff9b::7f00:1",  "2002:7f00:1::",        "::1",
                                "127.0.0.1",   "::fffe:127.0.0.1", "0:0:0:0:1:ffff:7f00:1"};

    cr_assert(netaddr_unmap(&a, &v4));
    cr_assert_eq(v4.family, AF_INET);
    cr_assert_eq(memcmp(v4.bytes, want.bytes, 4), 0);
    for (size_t i = 0; i < sizeof(not_mapped) / sizeof(not_mapped[0]); i++) {
        struct netaddr b = addr(not_mapped[i]), out = {.family = 99};
        cr_expect_not(netaddr_unmap(&b, &out), "%s", not_mapped[i]);
        cr_expect_eq(out.family, 99, "%s: written", not_mapped[i]);
    }
    cr_assert_not(netaddr_unmap(NULL, &v4));
}
