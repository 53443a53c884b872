/*
 * libFuzzer target for netaddr. The input is tried three ways: as an address literal given by
 * pointer and length (never NUL-terminated, so an over-read shows up under ASan), as a
 * NUL-terminated CIDR, and as raw address bytes. Whatever parses must format back to text that
 * parses to the same bytes, canonical text must be a fixed point, and classification must be
 * stable and named. Any broken invariant aborts, which libFuzzer reports as a crash.
 *
 *   clang -fsanitize=fuzzer,address -iquote daemon tests/fuzz/fuzz_netaddr.c daemon/netaddr.c \
 *         daemon/util.c -o /tmp/fuzz_netaddr && /tmp/fuzz_netaddr -max_total_time=20
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include "netaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "invariant failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool
same_addr(const struct netaddr *a, const struct netaddr *b)
{
    return a->family == b->family && memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

static bool
is_literal_byte(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.' ||
           c == ':';
}

/* Classification is a total function onto named classes. */
static void
check_class(const struct netaddr *a)
{
    enum netaddr_class c = netaddr_classify(a);
    const char *name = netaddr_class_name(c);

    CHECK((unsigned)c < NETADDR_CLASS_COUNT);
    CHECK(name != NULL && strcmp(name, "unknown") != 0);
    CHECK(netaddr_classify(a) == c);
}

/* A parsed or built address: format -> parse gives the same bytes, and the text is canonical. */
static void
check_round_trip(const struct netaddr *a)
{
    char text[NETADDR_STR_MAX], again[NETADDR_STR_MAX];
    struct netaddr back;

    check_class(a);
    netaddr_format(a, text, sizeof(text));
    CHECK(text[0] != '\0');
    CHECK(netaddr_parse(text, strlen(text), &back) == 0);
    CHECK(same_addr(a, &back));
    CHECK(netaddr_classify(&back) == netaddr_classify(a));
    netaddr_format(&back, again, sizeof(again));
    CHECK(strcmp(text, again) == 0);
}

static void
fuzz_literal(const uint8_t *data, size_t size)
{
    struct netaddr a;
    /* An exact-size heap copy: reading past len is an ASan error, not a silent pass. */
    char *buf = malloc(size ? size : 1);

    if (!buf)
        return;
    memcpy(buf, data, size);
    if (netaddr_parse(buf, size, &a) == 0) {
        CHECK(size > 0 && size < 46);
        for (size_t i = 0; i < size; i++)
            CHECK(is_literal_byte(data[i]));
        CHECK(a.family == AF_INET || a.family == AF_INET6);
        if (a.family == AF_INET)
            for (size_t i = 4; i < sizeof(a.bytes); i++)
                CHECK(a.bytes[i] == 0);
        check_round_trip(&a);
    }
    free(buf);
}

static void
check_cidr_members(const struct netaddr_cidr *c)
{
    unsigned bits = c->addr.family == AF_INET ? 32 : 128;
    struct netaddr last = c->addr, outside = c->addr, other = {0};

    CHECK(netaddr_cidr_contains(c, &c->addr));
    for (unsigned b = c->prefix; b < bits; b++)
        last.bytes[b / 8] |= (uint8_t)(0x80u >> (b % 8));
    CHECK(netaddr_cidr_contains(c, &last));
    if (c->prefix > 0) {
        unsigned b = c->prefix - 1;

        outside.bytes[b / 8] ^= (uint8_t)(0x80u >> (b % 8));
        CHECK(!netaddr_cidr_contains(c, &outside));
    }
    /* The same bytes in the other family are never inside. */
    other = c->addr;
    other.family = c->addr.family == AF_INET ? AF_INET6 : AF_INET;
    CHECK(!netaddr_cidr_contains(c, &other));
}

static void
fuzz_cidr(const uint8_t *data, size_t size)
{
    struct netaddr_cidr c, back;
    char text[NETADDR_STR_MAX + 8];
    char *s = malloc(size + 1);

    if (!s)
        return;
    memcpy(s, data, size);
    s[size] = '\0';
    if (netaddr_cidr_parse(s, &c) == 0) {
        CHECK(c.addr.family == AF_INET || c.addr.family == AF_INET6);
        CHECK(c.prefix <= (c.addr.family == AF_INET ? 32u : 128u));
        check_round_trip(&c.addr);
        check_cidr_members(&c);
        netaddr_cidr_format(&c, text, sizeof(text));
        CHECK(text[0] != '\0');
        CHECK(netaddr_cidr_parse(text, &back) == 0);
        CHECK(same_addr(&c.addr, &back.addr) && back.prefix == c.prefix);
    }
    free(s);
}

/* Raw bytes as an address: every 4- and 16-byte value must format and come back. */
static void
fuzz_raw(const uint8_t *data, size_t size)
{
    struct netaddr a = {.family = AF_INET6};

    if (size < 16)
        return;
    memcpy(a.bytes, data, 16);
    check_round_trip(&a);
    memset(&a, 0, sizeof(a));
    a.family = AF_INET;
    memcpy(a.bytes, data, 4);
    check_round_trip(&a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_literal(data, size);
    fuzz_cidr(data, size);
    fuzz_raw(data, size);
    return 0;
}
