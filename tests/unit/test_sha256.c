/*
 * Unit tests for daemon/sha256.c: the FIPS 180-4 example vectors, every padding boundary
 * (55, 56, 63, 64 bytes) against sha256sum's answers, and a million bytes.
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "sha256.h"

static void
check(const char *data, size_t n, const char *want)
{
    char hex[SHA256_HEX_LEN + 1];

    sha256_digest_hex(data, n, hex);
    cr_assert_str_eq(hex, want, "sha256 of %zu bytes", n);
}

Test(sha256, fips_vectors)
{
    check("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

Test(sha256, padding_boundaries)
{
    static const struct {
        size_t n;
        const char *hex;
    } cases[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
    };
    char buf[64];

    memset(buf, 'a', sizeof(buf));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check(buf, cases[i].n, cases[i].hex);
}

Test(sha256, a_million_a)
{
    char *buf = malloc(1000000);

    cr_assert_not_null(buf);
    memset(buf, 'a', 1000000);
    check(buf, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(buf);
}
