/*
 * util: the small vocabulary every module shares -- cleanup attributes, ownership hand-off
 * (TAKE_PTR/TAKE_FD), the error carrier `struct err`, and a few string helpers. It owns no state
 * and makes no syscalls beyond close(2); it must never grow policy or I/O logic.
 */
#ifndef AIRLOCK_UTIL_H
#define AIRLOCK_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Error carrier: `code` is a short machine word ("bad_request", "bad_host", ...), `message` a
 * sentence for a person that names what to fix. Functions that take one fill it only on failure. */
#define ERR_MSG_MAX 512
struct err {
    const char *code;
    char message[ERR_MSG_MAX];
};

/* Sets err (if non-NULL) and returns -errnum, so callers can `return err_set(err, ...)`. */
int err_set(struct err *err, int errnum, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prepends "<prefix>: " to err->message (context added on the way up). */
void err_prefix(struct err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline void
freep(void *p)
{
    free(*(void **)p);
}
static inline void
closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) _tp = (p);                                                                   \
        (p) = NULL;                                                                                \
        _tp;                                                                                       \
    })
#define TAKE_FD(fd)                                                                                \
    ({                                                                                             \
        int _tf = (fd);                                                                            \
        (fd) = -1;                                                                                 \
        _tf;                                                                                       \
    })

/* Copies src into dst of size n, always NUL-terminated; returns -ENAMETOOLONG when truncated. */
int str_copy(char *dst, size_t n, const char *src);
/* snprintf that reports truncation: returns the length, or -ENAMETOOLONG / -EINVAL. */
int str_printf(char *dst, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool str_has_prefix(const char *s, const char *prefix);
/* True when p is a relative path of 1..max bytes: no leading '/', no empty, "." or ".."
 * segment, no trailing '/'. Control bytes are refused unless allow_ctl (a file a job named
 * with a newline can still be fetched). */
bool path_rel_valid(const char *p, size_t max, bool allow_ctl);
/* Parses a whole decimal unsigned integer in [min,max]; no sign, no spaces, no junk. */
int str_to_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret);

/* Ids of jobs ("j_") and workspaces ("w_"): the prefix, 12 hex digits of the Unix time in ms
 * (so ids sort by creation), 16 random hex digits. id_make writes one into buf (n >= 31);
 * id_valid checks one's form (prefix, then 1 or more lower-case hex digits, shorter than max). */
void id_make(char *buf, size_t n, char prefix);
bool id_valid(const char *id, char prefix, size_t max);

/* Compares two byte strings in time that depends only on their lengths. */
bool mem_equal_ct(const void *a, size_t alen, const void *b, size_t blen);

/* Current time as RFC 3339 UTC with milliseconds into buf (at least 25 bytes). */
void time_rfc3339(char *buf, size_t n, int64_t unix_ms);
int64_t time_now_ms(void);
int64_t time_mono_ms(void);
int64_t time_mono_us(void);

#endif
