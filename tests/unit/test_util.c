/*
 * Unit tests for util: the string helpers (truncation is reported and the result always
 * NUL-terminated), the strict decimal parser, the constant-time comparison, the error carrier
 * and the RFC 3339 time format. Tables are walked with cr_expect so one failing row names itself
 * and the others still run.
 */
#include <criterion/criterion.h>
#include <unistd.h>

#include <stdio.h>

#include "util.h"

/* ---------------------------------------------------------------------------------------------
 * str_copy
 */

Test(util, str_copy_fits)
{
    char buf[8];

    cr_assert_eq(str_copy(buf, sizeof(buf), "abc"), 0);
    cr_assert_str_eq(buf, "abc");
    cr_assert_eq(str_copy(buf, sizeof(buf), ""), 0);
    cr_assert_str_eq(buf, "");
}

Test(util, str_copy_exact_fit)
{
    char buf[8];

    /* 7 characters and the NUL fill the buffer exactly: not a truncation. */
    cr_assert_eq(str_copy(buf, sizeof(buf), "1234567"), 0);
    cr_assert_str_eq(buf, "1234567");
}

Test(util, str_copy_truncates_and_terminates)
{
    char buf[8];

    memset(buf, 'x', sizeof(buf));
    cr_assert_eq(str_copy(buf, sizeof(buf), "12345678"), -ENAMETOOLONG);
    cr_assert_str_eq(buf, "1234567");
    memset(buf, 'x', sizeof(buf));
    cr_assert_eq(str_copy(buf, sizeof(buf), "a much longer string than the buffer"), -ENAMETOOLONG);
    cr_assert_eq(buf[7], '\0');
    cr_assert_str_eq(buf, "a much ");
}

Test(util, str_copy_size_one)
{
    char buf[1] = {'x'};

    cr_assert_eq(str_copy(buf, 1, "a"), -ENAMETOOLONG);
    cr_assert_eq(buf[0], '\0');
    buf[0] = 'x';
    cr_assert_eq(str_copy(buf, 1, ""), 0);
    cr_assert_eq(buf[0], '\0');
}

Test(util, str_copy_size_zero_writes_nothing)
{
    char buf[2] = {'x', 'y'};

    cr_assert_eq(str_copy(buf, 0, "abc"), -ENAMETOOLONG);
    cr_assert_eq(buf[0], 'x');
    cr_assert_eq(buf[1], 'y');
}

/* ---------------------------------------------------------------------------------------------
 * str_printf, str_has_prefix
 */

Test(util, str_printf_returns_length)
{
    char buf[16];

    cr_assert_eq(str_printf(buf, sizeof(buf), "%s-%d", "ab", 42), 5);
    cr_assert_str_eq(buf, "ab-42");
    cr_assert_eq(str_printf(buf, sizeof(buf), "%s", ""), 0);
    cr_assert_str_eq(buf, "");
}

Test(util, str_printf_exact_fit)
{
    char buf[6];

    cr_assert_eq(str_printf(buf, sizeof(buf), "%s", "12345"), 5);
    cr_assert_str_eq(buf, "12345");
}

Test(util, str_printf_truncation)
{
    char buf[6];

    memset(buf, 'x', sizeof(buf));
    cr_assert_eq(str_printf(buf, sizeof(buf), "%s", "123456"), -ENAMETOOLONG);
    cr_assert_str_eq(buf, "12345");
    memset(buf, 'x', sizeof(buf));
    cr_assert_eq(str_printf(buf, sizeof(buf), "%d/%d", 1000, 2000), -ENAMETOOLONG);
    cr_assert_eq(buf[5], '\0');
    cr_assert_str_eq(buf, "1000/");
}

Test(util, str_has_prefix)
{
    cr_expect(str_has_prefix("Bearer abc", "Bearer "));
    cr_expect(str_has_prefix("abc", ""));
    cr_expect(str_has_prefix("abc", "abc"));
    cr_expect_not(str_has_prefix("ab", "abc"));
    cr_expect_not(str_has_prefix("bearer abc", "Bearer "));
    cr_expect_not(str_has_prefix("", "a"));
}

/* ---------------------------------------------------------------------------------------------
 * str_to_u64
 */

struct u64_case {
    const char *in;
    uint64_t min, max;
    int r;
    uint64_t v; /* when r == 0 */
};

static const struct u64_case u64_cases[] = {
    {"0", 0, UINT64_MAX, 0, 0},
    {"1", 0, UINT64_MAX, 0, 1},
    {"42", 0, UINT64_MAX, 0, 42},
    {"007", 0, UINT64_MAX, 0, 7},
    {"8420", 0, 65535, 0, 8420},
    {"65535", 0, 65535, 0, 65535},
    {"18446744073709551615", 0, UINT64_MAX, 0, UINT64_MAX},
    {"18446744073709551614", 0, UINT64_MAX, 0, UINT64_MAX - 1},
    /* overflow */
    {"18446744073709551616", 0, UINT64_MAX, -ERANGE, 0},
    {"18446744073709551620", 0, UINT64_MAX, -ERANGE, 0},
    {"99999999999999999999", 0, UINT64_MAX, -ERANGE, 0},
    {"184467440737095516150", 0, UINT64_MAX, -ERANGE, 0},
    /* bounds */
    {"0", 1, 10, -ERANGE, 0},
    {"1", 1, 10, 0, 1},
    {"10", 1, 10, 0, 10},
    {"11", 1, 10, -ERANGE, 0},
    {"65536", 0, 65535, -ERANGE, 0},
    {"5", 5, 5, 0, 5},
    {"4", 5, 5, -ERANGE, 0},
    {"6", 5, 5, -ERANGE, 0},
    /* sign */
    {"-1", 0, UINT64_MAX, -EINVAL, 0},
    {"-0", 0, UINT64_MAX, -EINVAL, 0},
    {"+1", 0, UINT64_MAX, -EINVAL, 0},
    /* spaces */
    {" 1", 0, UINT64_MAX, -EINVAL, 0},
    {"1 ", 0, UINT64_MAX, -EINVAL, 0},
    {"1 2", 0, UINT64_MAX, -EINVAL, 0},
    {"\t1", 0, UINT64_MAX, -EINVAL, 0},
    {"1\n", 0, UINT64_MAX, -EINVAL, 0},
    {" ", 0, UINT64_MAX, -EINVAL, 0},
    /* junk */
    {"", 0, UINT64_MAX, -EINVAL, 0},
    {"1a", 0, UINT64_MAX, -EINVAL, 0},
    {"a1", 0, UINT64_MAX, -EINVAL, 0},
    {"0x10", 0, UINT64_MAX, -EINVAL, 0},
    {"1e3", 0, UINT64_MAX, -EINVAL, 0},
    {"1.0", 0, UINT64_MAX, -EINVAL, 0},
    {"1,000", 0, UINT64_MAX, -EINVAL, 0},
    {"1_000", 0, UINT64_MAX, -EINVAL, 0},
    {"\xd9\xa1", 0, UINT64_MAX, -EINVAL, 0}, /* ARABIC-INDIC DIGIT ONE */
};

Test(util, str_to_u64_table)
{
    for (size_t i = 0; i < ARRAY_SIZE(u64_cases); i++) {
        const struct u64_case *c = &u64_cases[i];
        uint64_t v = 12345;
        int r = str_to_u64(c->in, c->min, c->max, &v);

        cr_expect_eq(r, c->r, "str_to_u64(\"%s\", %llu, %llu) = %d, want %d", c->in,
                     (unsigned long long)c->min, (unsigned long long)c->max, r, c->r);
        if (c->r == 0)
            cr_expect_eq(v, c->v, "str_to_u64(\"%s\") gave %llu, want %llu", c->in,
                         (unsigned long long)v, (unsigned long long)c->v);
        else
            cr_expect_eq(v, 12345, "str_to_u64(\"%s\") wrote *ret on failure", c->in);
    }
}

Test(util, str_to_u64_null)
{
    uint64_t v = 7;

    cr_assert_eq(str_to_u64(NULL, 0, UINT64_MAX, &v), -EINVAL);
    cr_assert_eq(v, 7);
}

/* ---------------------------------------------------------------------------------------------
 * mem_equal_ct
 */

struct ct_case {
    const char *a;
    size_t alen;
    const char *b;
    size_t blen;
    bool equal;
};

static const struct ct_case ct_cases[] = {
    {"abc", 3, "abc", 3, true},    {"", 0, "", 0, true},
    {"abc", 0, "xyz", 0, true}, /* zero lengths: nothing to compare */
    {"abc", 3, "abd", 3, false},   {"abc", 3, "xbc", 3, false},
    {"abc", 3, "ab", 2, false},    {"ab", 2, "abc", 3, false},
    {"abc", 3, "", 0, false},      {"", 0, "abc", 3, false},
    {"a\0b", 3, "a\0c", 3, false}, /* embedded NUL: lengths, not strings */
    {"a\0b", 3, "a\0b", 3, true},  {"\xff", 1, "\x7f", 1, false},
};

Test(util, mem_equal_ct_table)
{
    for (size_t i = 0; i < ARRAY_SIZE(ct_cases); i++) {
        const struct ct_case *c = &ct_cases[i];
        bool eq = mem_equal_ct(c->a, c->alen, c->b, c->blen);

        cr_expect_eq(eq, c->equal, "row %zu: mem_equal_ct(len %zu, len %zu) = %d, want %d", i,
                     c->alen, c->blen, eq, c->equal);
    }
}

Test(util, mem_equal_ct_every_byte_position)
{
    char a[64], b[64];

    memset(a, 'k', sizeof(a));
    for (size_t i = 0; i < sizeof(a); i++) {
        memcpy(b, a, sizeof(b));
        b[i] ^= 1;
        cr_expect_not(mem_equal_ct(a, sizeof(a), b, sizeof(b)), "difference at %zu missed", i);
    }
    memcpy(b, a, sizeof(b));
    cr_expect(mem_equal_ct(a, sizeof(a), b, sizeof(b)));
}

/* ---------------------------------------------------------------------------------------------
 * err_set, err_prefix
 */

Test(util, err_set_fills_and_returns_negative)
{
    struct err err = {0};

    cr_assert_eq(err_set(&err, EINVAL, "bad_request", "field %s: %d", "x", 3), -EINVAL);
    cr_assert_str_eq(err.code, "bad_request");
    cr_assert_str_eq(err.message, "field x: 3");
}

Test(util, err_set_negative_errnum_kept)
{
    struct err err = {0};

    cr_assert_eq(err_set(&err, -ENOENT, "x", "y"), -ENOENT);
    cr_assert_eq(err_set(&err, 0, "x", "y"), 0);
}

Test(util, err_set_null_err)
{
    cr_assert_eq(err_set(NULL, EPERM, "x", "%s", "ignored"), -EPERM);
    err_prefix(NULL, "ignored %d", 1);
}

Test(util, err_set_truncates_terminated)
{
    struct err err;
    char big[ERR_MSG_MAX * 2];

    memset(&err, 'z', sizeof(err));
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    err_set(&err, EINVAL, "c", "%s", big);
    cr_assert_eq(err.message[ERR_MSG_MAX - 1], '\0');
    cr_assert_eq(strlen(err.message), ERR_MSG_MAX - 1);
}

Test(util, err_prefix_prepends)
{
    struct err err = {0};

    err_set(&err, EINVAL, "bad_config", "must be a string");
    err_prefix(&err, "%s", "listen");
    cr_assert_str_eq(err.message, "listen: must be a string");
    err_prefix(&err, "/etc/airlock/%s", "airlockd.json");
    cr_assert_str_eq(err.message, "/etc/airlock/airlockd.json: listen: must be a string");
    cr_assert_str_eq(err.code, "bad_config");
}

Test(util, err_prefix_on_empty_message)
{
    struct err err = {0};

    err_prefix(&err, "ctx");
    cr_assert_str_eq(err.message, "ctx: ");
}

Test(util, err_prefix_truncates_long_message)
{
    struct err err = {0};
    char big[ERR_MSG_MAX];

    memset(big, 'm', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    err_set(&err, EINVAL, "c", "%s", big);
    cr_assert_eq(strlen(err.message), ERR_MSG_MAX - 1);
    err_prefix(&err, "prefix");
    cr_assert_eq(err.message[ERR_MSG_MAX - 1], '\0');
    cr_assert_eq(strlen(err.message), ERR_MSG_MAX - 1);
    cr_assert(str_has_prefix(err.message, "prefix: mmm"));
}

Test(util, err_prefix_truncates_long_prefix)
{
    struct err err = {0};
    char big[ERR_MSG_MAX * 2];

    memset(big, 'p', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    err_set(&err, EINVAL, "c", "short");
    err_prefix(&err, "%s", big);
    cr_assert_eq(err.message[ERR_MSG_MAX - 1], '\0');
    cr_assert_eq(strlen(err.message), ERR_MSG_MAX - 1);
    cr_assert_eq(err.message[0], 'p');
}

/* ---------------------------------------------------------------------------------------------
 * time_rfc3339, time_now_ms, time_mono_ms
 */

struct time_case {
    int64_t ms;
    const char *want;
};

static const struct time_case time_cases[] = {
    {0, "1970-01-01T00:00:00.000Z"},
    {1, "1970-01-01T00:00:00.001Z"},
    {999, "1970-01-01T00:00:00.999Z"},
    {1000, "1970-01-01T00:00:01.000Z"},
    {86399999, "1970-01-01T23:59:59.999Z"},
    {86400000, "1970-01-02T00:00:00.000Z"},
    {951782400000, "2000-02-29T00:00:00.000Z"}, /* a leap day */
    {1795760828123, "2026-11-27T06:27:08.123Z"},
    {4102444799999, "2099-12-31T23:59:59.999Z"},
    {253402300799999, "9999-12-31T23:59:59.999Z"},
};

Test(util, time_rfc3339_table)
{
    for (size_t i = 0; i < ARRAY_SIZE(time_cases); i++) {
        char buf[32];

        time_rfc3339(buf, sizeof(buf), time_cases[i].ms);
        cr_expect_str_eq(buf, time_cases[i].want, "%lld -> \"%s\", want \"%s\"",
                         (long long)time_cases[i].ms, buf, time_cases[i].want);
    }
}

Test(util, time_rfc3339_fits_25_bytes)
{
    char buf[25];

    time_rfc3339(buf, sizeof(buf), 1795760828123);
    cr_assert_str_eq(buf, "2026-11-27T06:27:08.123Z");
}

Test(util, time_rfc3339_short_buffer_terminated)
{
    char buf[11];

    time_rfc3339(buf, sizeof(buf), 0);
    cr_assert_str_eq(buf, "1970-01-01");
}

Test(util, time_now_is_plausible)
{
    int64_t now = time_now_ms();
    int64_t m1 = time_mono_ms();
    int64_t m2 = time_mono_ms();
    char buf[32];

    cr_assert_gt(now, 1700000000000LL); /* after November 2023 */
    cr_assert_geq(m2, m1);
    time_rfc3339(buf, sizeof(buf), now);
    cr_assert_eq(strlen(buf), 24);
    cr_assert_eq(buf[10], 'T');
    cr_assert_eq(buf[23], 'Z');
}

/* ---------------------------------------------------------------------------------------------
 * path_rel_valid: the gate for every path a request names inside a workspace. Each row is
 * checked with allow_ctl false and true; only the control-byte rows differ between the two.
 */

static const struct {
    const char *p;
    bool want;     /* allow_ctl false */
    bool want_ctl; /* allow_ctl true */
} rel_cases[] = {
    /* absolute, empty */
    {"", false, false},
    {"/", false, false},
    {"//", false, false},
    {"/etc", false, false},
    {"/etc/passwd", false, false},
    /* ".", ".." and empty segments anywhere */
    {".", false, false},
    {"..", false, false},
    {"./a", false, false},
    {"a/.", false, false},
    {"a/./b", false, false},
    {"../a", false, false},
    {"a/..", false, false},
    {"a/../b", false, false},
    {"a/b/../../..", false, false},
    {"a//b", false, false},
    {"a///b", false, false},
    /* a trailing '/' (the API strips the one it allows before asking) */
    {"a/", false, false},
    {"a/b/", false, false},
    {"a//", false, false},
    {"./", false, false},
    {"../", false, false},
    /* names that only look like dots are plain names */
    {"...", true, true},
    {"....", true, true},
    {"..a", true, true},
    {"a..", true, true},
    {".a.", true, true},
    {".hidden", true, true},
    {".git/config", true, true},
    {"a/.../b", true, true},
    {"a/..b/c..", true, true},
    /* ordinary paths */
    {"a", true, true},
    {"a/b", true, true},
    {"src/main.c", true, true},
    {" ", true, true},
    {"a b/c d", true, true},
    {"-", true, true},
    {"~", true, true},
    {"*?[]", true, true},
    /* a backslash is a plain name byte on Linux, not a separator */
    {"\\", true, true},
    {"a\\b", true, true},
    {"..\\..\\etc", true, true},
    {"\\..", true, true},
    {"C:\\x", true, true},
    /* unicode and other bytes >= 0x80 (names are bytes, not text) */
    {"h\xc3\xa9llo", true, true},
    {"\xe6\x97\xa5\xe6\x9c\xac/\xe8\xaa\x9e.txt", true, true},
    {"\xf0\x9f\x98\x80", true, true},
    {"\xff\xfe", true, true},
    {"a\x80/b\xc0", true, true},
    /* control bytes: refused unless allow_ctl */
    {"a\nb", false, true},
    {"\n", false, true},
    {"a\tb", false, true},
    {"a\rb", false, true},
    {"a\x01", false, true},
    {"\x1f", false, true},
    {"a\x7f", false, true},
    {"\x7f", false, true},
    {"dir/new\nline", false, true},
    {"\x1b[31m", false, true},
    /* allow_ctl relaxes nothing else */
    {"a\n/../b", false, false},
    {"\n/", false, false},
    {"/\n", false, false},
    {"a//\t", false, false},
};

Test(util, path_rel_valid_table)
{
    for (size_t i = 0; i < ARRAY_SIZE(rel_cases); i++) {
        const char *p = rel_cases[i].p;

        cr_expect_eq(path_rel_valid(p, 4096, false), rel_cases[i].want,
                     "row %zu \"%s\" (allow_ctl false): want %d", i, p, rel_cases[i].want);
        cr_expect_eq(path_rel_valid(p, 4096, true), rel_cases[i].want_ctl,
                     "row %zu \"%s\" (allow_ctl true): want %d", i, p, rel_cases[i].want_ctl);
    }
}

Test(util, path_rel_valid_length_bounds)
{
    char buf[4100];

    cr_assert(path_rel_valid("abcd", 4, false), "exactly max bytes");
    cr_assert_not(path_rel_valid("abcde", 4, false), "max + 1 bytes");
    cr_assert(path_rel_valid("a/bc", 4, false), "exactly max with a separator");
    cr_assert_not(path_rel_valid("a/bcd", 4, false));
    cr_assert(path_rel_valid("a", 1, false));
    cr_assert_not(path_rel_valid("ab", 1, false));
    cr_assert_not(path_rel_valid("a", 0, false), "max 0 admits nothing");
    cr_assert_not(path_rel_valid("", 0, false));

    /* The length counts bytes, not characters: "é" is two. */
    cr_assert(path_rel_valid("\xc3\xa9", 2, false));
    cr_assert_not(path_rel_valid("\xc3\xa9", 1, false));

    /* At the workspaces' own bound. */
    memset(buf, 'x', 4096);
    buf[4096] = '\0';
    cr_assert(path_rel_valid(buf, 4096, false), "4096 bytes at max 4096");
    buf[4096] = 'x';
    buf[4097] = '\0';
    cr_assert_not(path_rel_valid(buf, 4096, false), "4097 bytes at max 4096");
    cr_assert_not(path_rel_valid(buf, 4096, true), "allow_ctl does not relax the length");
}

/* "a/a/a/.../a": 2048 segments of one byte; a bad segment at the very end or the very start is
 * still found, and the walk does not depend on depth. */
Test(util, path_rel_valid_very_deep)
{
    enum { DEPTH = 2048 };
    char buf[2 * DEPTH + 8];
    size_t len = 0;

    for (size_t i = 0; i < DEPTH; i++) {
        buf[len++] = 'a';
        buf[len++] = '/';
    }
    buf[--len] = '\0'; /* drop the last '/' */
    cr_assert_eq(strlen(buf), 2 * DEPTH - 1);
    cr_assert(path_rel_valid(buf, sizeof(buf), false));
    cr_assert_not(path_rel_valid(buf, len - 1, false), "one byte over max");

    /* a trailing '/' */
    buf[len] = '/';
    buf[len + 1] = '\0';
    cr_assert_not(path_rel_valid(buf, sizeof(buf), false));
    /* ".." as the last segment */
    buf[len + 1] = '.';
    buf[len + 2] = '.';
    buf[len + 3] = '\0';
    cr_assert_not(path_rel_valid(buf, sizeof(buf), false));
    /* "." as the last segment */
    buf[len + 2] = '\0';
    cr_assert_not(path_rel_valid(buf, sizeof(buf), false));
    /* "..." as the last segment is a name */
    buf[len + 2] = '.';
    buf[len + 3] = '.';
    buf[len + 4] = '\0';
    cr_assert(path_rel_valid(buf, sizeof(buf), false));
    /* an empty segment deep in the middle */
    buf[len + 1] = '\0';
    buf[len] = '\0';
    buf[DEPTH] = '/'; /* "a/a/.../a//a/..." : position DEPTH held an 'a' (even index) */
    cr_assert_eq(buf[DEPTH - 1], '/');
    cr_assert_not(path_rel_valid(buf, sizeof(buf), false));
    /* a control byte deep in the middle */
    buf[DEPTH] = '\n';
    cr_assert_not(path_rel_valid(buf, sizeof(buf), false));
    cr_assert(path_rel_valid(buf, sizeof(buf), true));
}

Test(util, ids_sort_by_time_and_are_checked)
{
    char a[32], b[32];

    id_make(a, sizeof(a), 'j');
    usleep(2000);
    id_make(b, sizeof(b), 'j');
    cr_expect_eq(strlen(a), 30, "%s", a);
    cr_expect(strncmp(a, "j_", 2) == 0, "%s", a);
    cr_expect_lt(strcmp(a, b), 0, "ids do not sort by creation: %s %s", a, b);
    cr_expect(id_valid(a, 'j', 64));
    cr_expect(!id_valid(a, 'w', 64), "a job id taken for a workspace's");
    cr_expect(!id_valid("j_", 'j', 64));
    cr_expect(!id_valid("j_ABC", 'j', 64), "upper case");
    cr_expect(!id_valid("j_../x", 'j', 64));
    cr_expect(!id_valid("j_0123", 'j', 6), "the length bound");
    cr_expect(id_valid("w_0123", 'w', 7));
}
