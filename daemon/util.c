/*
 * util: shared helpers with no state of their own. See util.h.
 */
#include "util.h"

#include <sys/random.h>

#include <stdio.h>
#include <time.h>

int
err_set(struct err *err, int errnum, const char *code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
    return errnum > 0 ? -errnum : errnum;
}

void
err_prefix(struct err *err, const char *fmt, ...)
{
    char prefix[ERR_MSG_MAX];
    char old[ERR_MSG_MAX];
    va_list ap;

    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof(old));
    /* Truncation is acceptable: the message is for a person and stays NUL-terminated. */
    if (str_printf(err->message, sizeof(err->message), "%s: %s", prefix, old) < 0)
        err->message[sizeof(err->message) - 1] = '\0';
}

int
str_copy(char *dst, size_t n, const char *src)
{
    size_t len = strlen(src);

    if (n == 0)
        return -ENAMETOOLONG;
    if (len >= n) {
        memcpy(dst, src, n - 1);
        dst[n - 1] = '\0';
        return -ENAMETOOLONG;
    }
    memcpy(dst, src, len + 1);
    return 0;
}

int
str_printf(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vsnprintf(dst, n, fmt, ap);
    va_end(ap);
    if (r < 0)
        return -EINVAL;
    if ((size_t)r >= n)
        return -ENAMETOOLONG;
    return r;
}

bool
str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

void
id_make(char *buf, size_t n, char prefix)
{
    uint8_t rnd[8] = {0};
    uint64_t ms = (uint64_t)time_now_ms();

    if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
        memset(rnd, 0, sizeof(rnd));
    snprintf(buf, n, "%c_%012llx%02x%02x%02x%02x%02x%02x%02x%02x", prefix,
             (unsigned long long)(ms & 0xffffffffffffULL), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
             rnd[5], rnd[6], rnd[7]);
}

bool
id_valid(const char *id, char prefix, size_t max)
{
    size_t len = strlen(id);

    if (len < 3 || len >= max || id[0] != prefix || id[1] != '_')
        return false;
    return strspn(id + 2, "0123456789abcdef") == len - 2;
}

bool
path_rel_valid(const char *p, size_t max, bool allow_ctl)
{
    size_t len = strlen(p);

    if (len == 0 || len > max || p[0] == '/')
        return false;
    while (*p) {
        size_t seg = strcspn(p, "/");
        if (seg == 0 || (seg == 1 && p[0] == '.') || (seg == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        for (size_t i = 0; i < seg && !allow_ctl; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
                return false;
        p += seg;
        if (*p == '/' && *++p == '\0')
            return false;
    }
    return true;
}

int
str_to_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
    uint64_t v = 0;

    if (!s || !*s)
        return -EINVAL;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return -ERANGE;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v < min || v > max)
        return -ERANGE;
    *ret = v;
    return 0;
}

bool
mem_equal_ct(const void *a, size_t alen, const void *b, size_t blen)
{
    const volatile unsigned char *x = a;
    const volatile unsigned char *y = b;
    unsigned char diff = alen == blen ? 0 : 1;
    size_t n = alen < blen ? alen : blen;

    /* Walk the shorter length fully; a length mismatch is folded in, never short-circuited on
     * content. Token lengths are not secret (they are fixed by format). */
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(x[i] ^ y[i]);
    return diff == 0;
}

void
time_rfc3339(char *buf, size_t n, int64_t unix_ms)
{
    time_t secs = (time_t)(unix_ms / 1000);
    struct tm tm;

    gmtime_r(&secs, &tm);
    snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(unix_ms % 1000));
}

static int64_t
clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
time_now_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

int64_t
time_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

int64_t
time_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
