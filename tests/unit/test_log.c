/*
 * Unit tests for log: level names, the level filter, and above all that a hostile message can
 * neither break a JSON line nor forge a second line in text mode. Each test that logs points
 * fd 2 at a file in its own mkdtemp directory under /tmp (restored and removed by the fixture),
 * then reads back what one log_event wrote.
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <sys/stat.h>

#include "airlock_limits.h"
#include "log.h"
#include "util.h"

static char dir[64];
static char out_path[128];
static int saved_stderr = -1;

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
restore_stderr(void)
{
    if (saved_stderr >= 0) {
        dup2(saved_stderr, STDERR_FILENO);
        close(saved_stderr);
        saved_stderr = -1;
    }
}

static void
setup(void)
{
    cr_assert_eq(str_copy(dir, sizeof(dir), "/tmp/airlock-test-log-XXXXXX"), 0);
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_geq(str_printf(out_path, sizeof(out_path), "%s/stderr", dir), 0);
}

static void
teardown(void)
{
    restore_stderr();
    log_setup(false, LOG_INFO);
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    dir[0] = '\0';
}

TestSuite(log, .init = setup, .fini = teardown);

/* ---- helpers ---- */

/* Points fd 2 at a fresh, empty <dir>/stderr. */
static void
capture_start(void)
{
    int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    cr_assert_geq(fd, 0, "open %s: %s", out_path, strerror(errno));
    if (saved_stderr < 0) {
        saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        cr_assert_geq(saved_stderr, 0);
    }
    cr_assert_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
}

/* Restores fd 2 and returns what was written (malloc'd, NUL-terminated); *ret_len its length. */
static char *
capture_end(size_t *ret_len)
{
    struct stat st;
    char *buf;
    ssize_t n;
    int fd;

    restore_stderr();
    fd = open(out_path, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(fstat(fd, &st), 0);
    buf = malloc((size_t)st.st_size + 1);
    cr_assert_not_null(buf);
    n = read(fd, buf, (size_t)st.st_size);
    close(fd);
    cr_assert_eq(n, st.st_size);
    buf[n] = '\0';
    if (ret_len)
        *ret_len = (size_t)n;
    return buf;
}

/* Asserts out holds exactly one line: one '\n', at the end, and no NUL before it. */
static void
assert_one_line(const char *out, size_t len)
{
    cr_assert_gt(len, 0, "nothing was logged");
    cr_assert_eq(strlen(out), len, "the line holds a NUL byte");
    cr_assert_eq(out[len - 1], '\n', "the line does not end in a newline");
    cr_assert_null(memchr(out, '\n', len - 1), "more than one line: \"%s\"", out);
    cr_assert_null(memchr(out, '\r', len), "a carriage return in the line");
}

/* Logs one JSON line and parses it; returns the object (new reference). */
static json_t *
log_json_line(enum log_level level, const char *event, const char *msg)
{
    json_error_t jerr;
    json_t *root;
    size_t len;
    char *out;

    log_setup(true, LOG_DEBUG);
    capture_start();
    log_event(level, event, "%s", msg);
    out = capture_end(&len);
    assert_one_line(out, len);
    root = json_loadb(out, len, 0, &jerr);
    cr_assert_not_null(root, "not valid JSON (%s at column %d): %s", jerr.text, jerr.column, out);
    free(out);
    cr_assert(json_is_object(root));
    return root;
}

/* ---- log_level_parse ---- */

struct level_case {
    const char *in;
    int r;
    enum log_level want;
};

static const struct level_case level_cases[] = {
    {"debug", 0, LOG_DEBUG}, {"info", 0, LOG_INFO}, {"warn", 0, LOG_WARN}, {"error", 0, LOG_ERROR},
    {"", -EINVAL, 0},        {"DEBUG", -EINVAL, 0}, {"Info", -EINVAL, 0},  {"warning", -EINVAL, 0},
    {"err", -EINVAL, 0},     {"inf", -EINVAL, 0},   {"info ", -EINVAL, 0}, {" info", -EINVAL, 0},
    {"fatal", -EINVAL, 0},   {"trace", -EINVAL, 0}, {"0", -EINVAL, 0},
};

Test(log, level_parse_table)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_cases); i++) {
        enum log_level lv = (enum log_level)42;
        int r = log_level_parse(level_cases[i].in, &lv);

        cr_expect_eq(r, level_cases[i].r, "\"%s\": got %d", level_cases[i].in, r);
        if (level_cases[i].r == 0)
            cr_expect_eq(lv, level_cases[i].want, "\"%s\": level %d", level_cases[i].in, lv);
        else
            cr_expect_eq(lv, (enum log_level)42, "\"%s\": *ret written on failure",
                         level_cases[i].in);
    }
}

/* ---- JSON mode ---- */

Test(log, json_fields)
{
    json_t *root = log_json_line(LOG_WARN, "api.request", "GET /v1/jobs 200");
    const char *t = json_string_value(json_object_get(root, "time"));

    cr_assert_eq(json_object_size(root), 4);
    cr_assert_str_eq(json_string_value(json_object_get(root, "level")), "warn");
    cr_assert_str_eq(json_string_value(json_object_get(root, "event")), "api.request");
    cr_assert_str_eq(json_string_value(json_object_get(root, "msg")), "GET /v1/jobs 200");
    cr_assert_not_null(t);
    cr_assert_eq(strlen(t), 24, "time \"%s\"", t);
    cr_assert_eq(t[10], 'T');
    cr_assert_eq(t[23], 'Z');
    json_decref(root);
}

Test(log, json_level_names)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};

    for (int lv = LOG_DEBUG; lv <= LOG_ERROR; lv++) {
        json_t *root = log_json_line((enum log_level)lv, "x", "m");

        cr_expect_str_eq(json_string_value(json_object_get(root, "level")), names[lv]);
        json_decref(root);
    }
}

/* Messages that must round-trip exactly through the JSON line. */
static const char *const json_msgs[] = {
    "",
    "plain",
    "a \"quoted\" word",
    "back\\slash and \\\" both",
    "two\nlines",
    "carriage\rreturn",
    "forged\n{\"time\":\"x\",\"level\":\"error\",\"event\":\"fake\",\"msg\":\"\"}",
    "tab\there",
    "\x01\x02\x03\x07\x08\x0b\x0c\x0e\x1b\x1f",
    "escape \x1b[31mred\x1b[0m",
    "del \x7f byte",
    "unicode caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x94\x92",
    "json-ish }\"]{,:",
    "slash / and %% percent",
};

Test(log, json_escaping_round_trips)
{
    for (size_t i = 0; i < ARRAY_SIZE(json_msgs); i++) {
        json_t *root = log_json_line(LOG_INFO, "test.escape", json_msgs[i]);
        const char *msg = json_string_value(json_object_get(root, "msg"));

        cr_expect_not_null(msg, "row %zu", i);
        if (msg)
            cr_expect_str_eq(msg, json_msgs[i], "row %zu: msg \"%s\"", i, msg);
        cr_expect_str_eq(json_string_value(json_object_get(root, "event")), "test.escape");
        json_decref(root);
    }
}

Test(log, json_event_escaped)
{
    json_t *root = log_json_line(LOG_INFO, "ev\"en\nt\\", "m");

    cr_assert_str_eq(json_string_value(json_object_get(root, "event")), "ev\"en\nt\\");
    cr_assert_str_eq(json_string_value(json_object_get(root, "msg")), "m");
    json_decref(root);
}

Test(log, json_control_bytes_are_escaped_not_raw)
{
    size_t len;
    char *out;

    log_setup(true, LOG_DEBUG);
    capture_start();
    log_event(LOG_INFO, "x",
              "a\nb\x01"
              "c\"d");
    out = capture_end(&len);
    assert_one_line(out, len);
    cr_assert_not_null(strstr(out, "\"msg\":\"a\\u000ab\\u0001c\\\"d\"}"), "%s", out);
    free(out);
}

/* A message of LOG_LINE_MAX control bytes expands six-fold when escaped: the line is cut, but
 * must stay one line of valid JSON. */
Test(log, json_long_escaped_message_truncated_validly)
{
    char *msg = malloc(LOG_LINE_MAX * 2);
    json_t *root;

    cr_assert_not_null(msg);
    memset(msg, '\n', LOG_LINE_MAX * 2 - 1);
    msg[LOG_LINE_MAX * 2 - 1] = '\0';
    root = log_json_line(LOG_INFO, "x", msg);
    cr_assert_gt(json_string_length(json_object_get(root, "msg")), 100);
    json_decref(root);
    memset(msg, '"', LOG_LINE_MAX * 2 - 1);
    root = log_json_line(LOG_INFO, "x", msg);
    json_decref(root);
    memset(msg, 'a', LOG_LINE_MAX * 2 - 1);
    root = log_json_line(LOG_INFO, "x", msg);
    cr_assert_lt(json_string_length(json_object_get(root, "msg")), LOG_LINE_MAX);
    json_decref(root);
    free(msg);
}

/* Strings the daemon logs are not all its own (file names in the policy directory, values from
 * requests), and may not be UTF-8. The JSON line must still be valid JSON (RFC 8259 requires
 * UTF-8), so invalid bytes need replacing or escaping. */
Test(log, json_invalid_utf8_still_valid_json)
{
    static const char *const bad[] = {"bad \xff byte", "lone \xc3", "\xc0\xaf overlong",
                                      "\xed\xa0\x80 surrogate"};

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        json_decref(log_json_line(LOG_INFO, "x", bad[i]));
}

/* A long message of two-byte characters: the cut at LOG_LINE_MAX (vsnprintf) or at the line
 * buffer (json_escape) can fall inside a character and leave half of it. */
Test(log, json_truncation_keeps_utf8_whole)
{
    size_t n = LOG_LINE_MAX * 2;
    char *msg = malloc(n + 1);

    cr_assert_not_null(msg);
    for (size_t i = 0; i + 1 < n; i += 2) {
        msg[i] = '\xc3';
        msg[i + 1] = '\xa9';
    }
    msg[n] = '\0';
    json_decref(log_json_line(LOG_INFO, "x", msg));
    /* Shifted by one byte so the cut falls on the other half. */
    msg[0] = 'a';
    msg[1] = 'a';
    memmove(msg + 1, msg, n - 1);
    msg[n] = '\0';
    json_decref(log_json_line(LOG_INFO, "x", msg));
    free(msg);
}

/* ---- text mode ---- */

Test(log, text_format)
{
    size_t len;
    char *out;

    log_setup(false, LOG_DEBUG);
    capture_start();
    log_event(LOG_WARN, "job.start", "job %s started", "j-1");
    out = capture_end(&len);
    assert_one_line(out, len);
    /* "<24-byte time> warn  job.start job j-1 started\n" */
    cr_assert_gt(len, 25);
    cr_assert_eq(out[23], 'Z', "%s", out);
    cr_assert_str_eq(out + 24, " warn  job.start job j-1 started\n");
    free(out);
}

/* Lines formatted apart and written together (the proxy's audit writer): the given time, the
 * same shape as log_event, nothing below the level, and control bytes still neutralised. */
Test(log, format_then_write_a_batch)
{
    char buf[3 * (LOG_LINE_MAX + 256)];
    size_t len = 0, n;
    char *out;

    log_setup(false, LOG_INFO);
    len += log_format(buf + len, sizeof(buf) - len, 1764000000123LL, LOG_INFO, "egress",
                      "job %s allow", "j_1");
    n = log_format(buf + len, sizeof(buf) - len, 0, LOG_DEBUG, "egress", "hidden");
    cr_assert_eq(n, 0, "a debug line at info level");
    len += log_format(buf + len, sizeof(buf) - len, 1764000000124LL, LOG_INFO, "egress",
                      "evil\n2026-01-01T00:00:00.000Z error forged");
    cr_assert(log_enabled(LOG_INFO));
    cr_assert_not(log_enabled(LOG_DEBUG));
    capture_start();
    log_write(buf, len);
    out = capture_end(&n);
    cr_assert_eq(n, len);
    cr_assert(strncmp(out, "2025-11-24T16:00:00.123Z info  egress job j_1 allow\n", 52) == 0, "%s",
              out);
    cr_assert_eq(strchr(out + 52, '\n'), out + n - 1, "the second line is one line: %s", out);
    free(out);
    /* Too small a buffer: nothing written into it. */
    cr_assert_eq(log_format(buf, 100, 0, LOG_ERROR, "x", "y"), 0);
}

static const char *const forgeries[] = {
    "ok\n2026-01-01T00:00:00.000Z error auth.failed forged line",
    "ok\r2026-01-01T00:00:00.000Z error x",
    "ok\r\nsecond",
    "nul-free but \x0b vertical tab \x0c form feed",
    "escape \x1b[2K\x1b[1G erase the line",
    "del \x7f",
    "\n\n\n",
};

Test(log, text_cannot_forge_a_line)
{
    for (size_t i = 0; i < ARRAY_SIZE(forgeries); i++) {
        size_t len;
        char *out;

        log_setup(false, LOG_DEBUG);
        capture_start();
        log_event(LOG_INFO, "x", "%s", forgeries[i]);
        out = capture_end(&len);
        assert_one_line(out, len);
        for (size_t j = 0; j + 1 < len; j++)
            cr_expect(!((unsigned char)out[j] < 0x20 || out[j] == 0x7f),
                      "row %zu: control byte 0x%02x at %zu", i, (unsigned char)out[j], j);
        free(out);
    }
}

Test(log, text_control_bytes_become_question_marks)
{
    size_t len;
    char *out;

    log_setup(false, LOG_DEBUG);
    capture_start();
    log_event(LOG_ERROR, "x",
              "a\nb\tc\x7f"
              "d");
    out = capture_end(&len);
    cr_assert(len > 24);
    cr_assert_str_eq(out + 24, " error x a?b?c?d\n");
    free(out);
}

Test(log, text_long_message_is_one_line)
{
    char *msg = malloc(LOG_LINE_MAX * 3);
    size_t len;
    char *out;

    cr_assert_not_null(msg);
    memset(msg, 'x', LOG_LINE_MAX * 3 - 1);
    msg[LOG_LINE_MAX * 3 - 1] = '\0';
    log_setup(false, LOG_DEBUG);
    capture_start();
    log_event(LOG_INFO, "x", "%s", msg);
    out = capture_end(&len);
    assert_one_line(out, len);
    cr_assert_lt(len, LOG_LINE_MAX + 256);
    free(out);
    free(msg);
}

/* ---- the level filter ---- */

Test(log, below_min_level_is_dropped)
{
    for (int json = 0; json <= 1; json++) {
        size_t len;
        char *out;

        log_setup(json != 0, LOG_WARN);
        capture_start();
        log_event(LOG_DEBUG, "x", "dropped");
        log_event(LOG_INFO, "x", "dropped");
        log_event(LOG_WARN, "x", "kept-warn");
        log_event(LOG_ERROR, "x", "kept-error");
        out = capture_end(&len);
        cr_expect_null(strstr(out, "dropped"), "json=%d: %s", json, out);
        cr_expect_not_null(strstr(out, "kept-warn"), "json=%d", json);
        cr_expect_not_null(strstr(out, "kept-error"), "json=%d", json);
        free(out);
    }
}

Test(log, error_only)
{
    size_t len;
    char *out;

    log_setup(false, LOG_ERROR);
    capture_start();
    log_warn("x", "dropped");
    log_error("x", "kept");
    out = capture_end(&len);
    assert_one_line(out, len);
    cr_assert_not_null(strstr(out, "kept"));
    free(out);
}

Test(log, macros_and_debug_level)
{
    size_t len;
    char *out;

    log_setup(false, LOG_DEBUG);
    capture_start();
    log_debug("a", "1");
    log_info("b", "2");
    log_warn("c", "3");
    log_error("d", "4");
    out = capture_end(&len);
    cr_assert_not_null(strstr(out, " debug a 1\n"), "%s", out);
    cr_assert_not_null(strstr(out, " info  b 2\n"), "%s", out);
    cr_assert_not_null(strstr(out, " warn  c 3\n"), "%s", out);
    cr_assert_not_null(strstr(out, " error d 4\n"), "%s", out);
    free(out);
}
