/*
 * Unit tests for token: the token file (created once at 0600 and reused; a symlink, loose mode,
 * foreign owner or malformed content is refused, never trusted or repaired) and the
 * Authorization header check. Each test uses its own mkdtemp state directory under /tmp, removed
 * by the fixture.
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <limits.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

#include "airlock_limits.h"
#include "token.h"

static char dir[64];
static char tok_path[128];

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
setup(void)
{
    cr_assert_eq(str_copy(dir, sizeof(dir), "/tmp/airlock-test-token-XXXXXX"), 0);
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_geq(str_printf(tok_path, sizeof(tok_path), "%s/token", dir), 0);
}

static void
teardown(void)
{
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    dir[0] = '\0';
}

TestSuite(token, .init = setup, .fini = teardown);

/* ---- helpers ---- */

static void
write_file(const char *path, const char *text, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

    cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    /* The umask may have cleared bits the test asks for. */
    cr_assert_eq(fchmod(fd, mode), 0);
    close(fd);
}

static bool
is_lower_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* Loads and expects a refusal with r; *ret must stay untouched. */
static void
load_refused(int want, const char *needle)
{
    struct err err = {0};
    char *tok = (char *)"untouched";
    bool is_new = true;
    int r = token_load_file(dir, &tok, &is_new, &err);

    cr_assert_eq(r, want, "got %d (%s), want %d", r, err.message, want);
    cr_assert_str_eq(tok, "untouched");
    cr_assert(str_has_prefix(err.message, tok_path), "message \"%s\" does not name the file",
              err.message);
    if (needle)
        cr_assert_not_null(strstr(err.message, needle), "message \"%s\" lacks \"%s\"", err.message,
                           needle);
}

/* ---- creating and reusing ---- */

Test(token, created_at_0600_with_64_hex)
{
    struct err err = {0};
    char *tok = NULL;
    bool is_new = false;
    struct stat st;
    char text[128];
    ssize_t n;
    int fd;

    cr_assert_eq(token_load_file(dir, &tok, &is_new, &err), 0, "%s", err.message);
    cr_assert_not_null(tok);
    cr_assert(is_new);
    cr_assert_eq(strlen(tok), TOKEN_BYTES * 2);
    cr_assert(is_lower_hex(tok, strlen(tok)), "\"%s\" is not lower-case hex", tok);
    cr_assert_eq(lstat(tok_path, &st), 0);
    cr_assert(S_ISREG(st.st_mode));
    cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
    cr_assert_eq(st.st_uid, geteuid());
    fd = open(tok_path, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    n = read(fd, text, sizeof(text) - 1);
    close(fd);
    cr_assert_eq(n, TOKEN_BYTES * 2 + 1);
    text[n] = '\0';
    cr_assert_eq(text[TOKEN_BYTES * 2], '\n');
    text[TOKEN_BYTES * 2] = '\0';
    cr_assert_str_eq(text, tok);
    token_free(tok);
}

Test(token, created_0600_despite_permissive_umask)
{
    struct err err = {0};
    char *tok = NULL;
    bool is_new = false;
    struct stat st;
    mode_t old = umask(0);

    int r = token_load_file(dir, &tok, &is_new, &err);
    umask(old);
    cr_assert_eq(r, 0, "%s", err.message);
    cr_assert_eq(stat(tok_path, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
    token_free(tok);
}

Test(token, reused_on_second_call)
{
    struct err err = {0};
    char *first = NULL, *second = NULL, *third = NULL;
    bool is_new = false;

    cr_assert_eq(token_load_file(dir, &first, &is_new, &err), 0, "%s", err.message);
    cr_assert(is_new);
    cr_assert_eq(token_load_file(dir, &second, &is_new, &err), 0, "%s", err.message);
    cr_assert_not(is_new);
    cr_assert_str_eq(first, second);
    is_new = true;
    cr_assert_eq(token_load_file(dir, &third, &is_new, &err), 0, "%s", err.message);
    cr_assert_not(is_new);
    cr_assert_str_eq(first, third);
    token_free(first);
    token_free(second);
    token_free(third);
}

Test(token, two_directories_get_different_tokens)
{
    struct err err = {0};
    char other[PATH_MAX], other_tok[PATH_MAX + 8];
    char *a = NULL, *b = NULL;
    bool is_new;

    snprintf(other, sizeof(other), "%s/other", dir);
    cr_assert_eq(mkdir(other, 0700), 0);
    cr_assert_eq(token_load_file(dir, &a, &is_new, &err), 0, "%s", err.message);
    cr_assert_eq(token_load_file(other, &b, &is_new, &err), 0, "%s", err.message);
    cr_assert(is_new);
    cr_assert_str_neq(a, b);
    snprintf(other_tok, sizeof(other_tok), "%s/token", other);
    cr_assert_eq(access(other_tok, F_OK), 0);
    token_free(a);
    token_free(b);
}

/* Tokens written by hand are accepted when well formed. */
struct hand_ok {
    const char *content;
    const char *want;
};

static const struct hand_ok hand_ok_cases[] = {
    {"0123456789abcdef", "0123456789abcdef"},
    {"0123456789abcdef\n", "0123456789abcdef"},
    {"0123456789abcdef\r\n", "0123456789abcdef"},
    {"0123456789abcdef\n\n", "0123456789abcdef"},
    {"Mixed-Case_Token.With~Punctuation!", "Mixed-Case_Token.With~Punctuation!"},
};

Test(token, hand_written_accepted)
{
    for (size_t i = 0; i < ARRAY_SIZE(hand_ok_cases); i++) {
        struct err err = {0};
        char *tok = NULL;
        bool is_new = true;
        int r;

        unlink(tok_path);
        write_file(tok_path, hand_ok_cases[i].content, strlen(hand_ok_cases[i].content), 0600);
        r = token_load_file(dir, &tok, &is_new, &err);
        cr_expect_eq(r, 0, "row %zu refused: %s", i, err.message);
        if (r < 0)
            continue;
        cr_expect_not(is_new);
        cr_expect_str_eq(tok, hand_ok_cases[i].want, "row %zu", i);
        token_free(tok);
    }
}

Test(token, longest_accepted)
{
    char text[TOKEN_MAX + 2];
    struct err err = {0};
    char *tok = NULL;
    bool is_new;

    memset(text, 'a', TOKEN_MAX);
    text[TOKEN_MAX] = '\n';
    text[TOKEN_MAX + 1] = '\0';
    write_file(tok_path, text, TOKEN_MAX + 1, 0600);
    cr_assert_eq(token_load_file(dir, &tok, &is_new, &err), 0, "%s", err.message);
    cr_assert_eq(strlen(tok), TOKEN_MAX);
    token_free(tok);
}

Test(token, mode_0400_accepted)
{
    struct err err = {0};
    char *tok = NULL;
    bool is_new;

    write_file(tok_path, "0123456789abcdef0123\n", 21, 0400);
    cr_assert_eq(token_load_file(dir, &tok, &is_new, &err), 0, "%s", err.message);
    cr_assert_str_eq(tok, "0123456789abcdef0123");
    token_free(tok);
}

/* ---- refusals ---- */

Test(token, symlink_refused)
{
    char real[PATH_MAX];

    snprintf(real, sizeof(real), "%s/real", dir);
    write_file(real, "0123456789abcdef0123\n", 21, 0600);
    cr_assert_eq(symlink(real, tok_path), 0);
    load_refused(-ELOOP, "symlink");
}

Test(token, dangling_symlink_refused_and_target_not_created)
{
    char target[PATH_MAX];

    snprintf(target, sizeof(target), "%s/planted", dir);
    cr_assert_eq(symlink(target, tok_path), 0);
    load_refused(-ELOOP, "symlink");
    cr_assert_neq(access(target, F_OK), 0, "the symlink's target was created");
}

static const mode_t loose_modes[] = {0644, 0640, 0604, 0660, 0606, 0666, 0610, 0601, 0700 | 070};

Test(token, loose_mode_refused_with_chmod_hint)
{
    for (size_t i = 0; i < ARRAY_SIZE(loose_modes); i++) {
        struct err err = {0};
        char *tok = (char *)"untouched";
        bool is_new;
        int r;

        unlink(tok_path);
        write_file(tok_path, "0123456789abcdef0123\n", 21, loose_modes[i]);
        r = token_load_file(dir, &tok, &is_new, &err);
        cr_expect_eq(r, -EPERM, "mode %o: got %d", loose_modes[i], r);
        cr_expect_str_eq(tok, "untouched");
        cr_expect_not_null(strstr(err.message, "chmod 600"), "mode %o: \"%s\"", loose_modes[i],
                           err.message);
        cr_expect(str_has_prefix(err.message, tok_path), "\"%s\"", err.message);
    }
}

Test(token, mode_0644_message)
{
    char want[PATH_MAX * 2 + 64];
    struct err err = {0};
    char *tok = NULL;
    bool is_new;

    write_file(tok_path, "0123456789abcdef0123\n", 21, 0644);
    cr_assert_eq(token_load_file(dir, &tok, &is_new, &err), -EPERM);
    snprintf(want, sizeof(want), "%s: readable by others (mode 644); run: chmod 600 %s", tok_path,
             tok_path);
    cr_assert_str_eq(err.message, want);
}

struct junk {
    const char *content;
    size_t len;
};

#define JUNK(s)                                                                                    \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }

static const struct junk junk_cases[] = {
    JUNK(""),
    JUNK("\n"),
    JUNK("short\n"),
    JUNK("0123456789abcde\n"), /* 15 characters */
    JUNK("0123456789 abcdef0123\n"),
    JUNK("0123456789\tabcdef0123\n"),
    JUNK(" 0123456789abcdef0123\n"),
    JUNK("0123456789abcdef0123 \n"),
    JUNK("0123456789abcdef\n0123456789abcdef\n"),
    JUNK("0123456789abcdef\r0123456789abcdef\n"),
    JUNK("0123456789abcdef\0"
         "0123456789abcdef"),
    JUNK("\0"
         "0123456789abcdef0123"),
};

Test(token, junk_refused)
{
    for (size_t i = 0; i < ARRAY_SIZE(junk_cases); i++) {
        struct err err = {0};
        char *tok = (char *)"untouched";
        bool is_new;
        int r;

        unlink(tok_path);
        write_file(tok_path, junk_cases[i].content, junk_cases[i].len, 0600);
        r = token_load_file(dir, &tok, &is_new, &err);
        cr_expect_eq(r, -EINVAL, "row %zu: got %d", i, r);
        cr_expect_str_eq(tok, "untouched", "row %zu", i);
        cr_expect_not_null(strstr(err.message, "not a valid token"), "row %zu: \"%s\"", i,
                           err.message);
        cr_expect(str_has_prefix(err.message, tok_path), "row %zu: \"%s\"", i, err.message);
    }
}

Test(token, too_long_refused)
{
    char text[TOKEN_MAX + 64];

    memset(text, 'a', sizeof(text));
    write_file(tok_path, text, sizeof(text), 0600);
    load_refused(-EINVAL, "not a valid token");
    unlink(tok_path);
    memset(text, 'a', TOKEN_MAX + 1);
    text[TOKEN_MAX + 1] = '\n';
    write_file(tok_path, text, TOKEN_MAX + 2, 0600);
    load_refused(-EINVAL, "not a valid token");
}

/* config_set_token accepts printable ASCII without spaces; the token file should hold the same
 * alphabet. token_read only rejects ' ', '\t', '\r', '\n' (and NUL), so control bytes, DEL and
 * non-ASCII bytes in a hand-edited file become the API token. */
Test(token, non_printable_refused)
{
    static const char *const bad[] = {
        "\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01",
        "0123456789abcdef\x1b[2J",
        "0123456789abcdef\x7f",
        "0123456789abcdef\xff\xfe",
    };

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        unlink(tok_path);
        write_file(tok_path, bad[i], strlen(bad[i]), 0600);
        load_refused(-EINVAL, "not a valid token");
    }
}

Test(token, directory_refused)
{
    cr_assert_eq(mkdir(tok_path, 0700), 0);
    load_refused(-EPERM, "not a regular file");
}

Test(token, foreign_owner_refused)
{
    if (geteuid() != 0) {
        teardown(); /* criterion does not run .fini for a skipped test */
        cr_skip_test("needs root to chown a file to another uid");
    }
    write_file(tok_path, "0123456789abcdef0123\n", 21, 0600);
    cr_assert_eq(chown(tok_path, 65534, 65534), 0);
    load_refused(-EPERM, "owned by uid 65534");
}

Test(token, missing_state_dir)
{
    struct err err = {0};
    char missing[PATH_MAX];
    char *tok = (char *)"untouched";
    bool is_new = false;

    snprintf(missing, sizeof(missing), "%s/missing", dir);
    cr_assert_eq(token_load_file(missing, &tok, &is_new, &err), -ENOENT);
    cr_assert_str_eq(tok, "untouched");
    cr_assert_not_null(strstr(err.message, "cannot create"), "\"%s\"", err.message);
}

Test(token, state_dir_path_too_long)
{
    struct err err = {0};
    char *big = malloc(PATH_MAX + 1);
    char *tok = NULL;
    bool is_new;

    cr_assert_not_null(big);
    memset(big, 'a', PATH_MAX);
    big[PATH_MAX] = '\0';
    cr_assert_eq(token_load_file(big, &tok, &is_new, &err), -ENAMETOOLONG);
    cr_assert_null(tok);
    free(big);
}

/* A FIFO planted at the token path: open(2) without O_NONBLOCK waits for a writer forever. */
Test(token, fifo_refused_without_hanging, .timeout = 5)
{
    cr_assert_eq(mkfifo(tok_path, 0600), 0);
    load_refused(-EPERM, "not a regular file");
}

/* ---- token_check_header ---- */

#define TOK "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct hdr_case {
    const char *header;
    bool ok;
};

static const struct hdr_case hdr_cases[] = {
    {"Bearer " TOK, true},
    {"bearer " TOK, true},
    {"BEARER " TOK, true},
    {"bEaReR " TOK, true},
    {NULL, false},
    {"", false},
    {"Bearer", false},
    {"Bearer ", false},
    {"Bearer" TOK, false},   /* missing space */
    {"Bearer  " TOK, false}, /* two spaces */
    {"Bearer\t" TOK, false},
    {" Bearer " TOK, false},
    {"Basic " TOK, false},
    {"Basic dXNlcjpwYXNz", false},
    {"Token " TOK, false},
    {TOK, false},
    {"Bearer " TOK "x", false}, /* trailing junk */
    {"Bearer " TOK " ", false},
    {"Bearer " TOK "\n", false},
    {"Bearer " TOK TOK, false},
    {"Bearer 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde", false},
    {"Bearer 0", false},          /* prefix of the token */
    {"Bearer 0123456789", false}, /* prefix of the token */
    {"Bearer 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeF", false},
    {"Bearer 1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false},
    {"Bearer 0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", false},
};

Test(token, check_header_table)
{
    for (size_t i = 0; i < ARRAY_SIZE(hdr_cases); i++) {
        bool ok = token_check_header(TOK, hdr_cases[i].header);

        cr_expect_eq(ok, hdr_cases[i].ok, "header \"%s\": got %d, want %d",
                     hdr_cases[i].header ? hdr_cases[i].header : "(null)", ok, hdr_cases[i].ok);
    }
}

Test(token, check_header_null_token)
{
    cr_assert_not(token_check_header(NULL, "Bearer " TOK));
    cr_assert_not(token_check_header(NULL, NULL));
}

Test(token, check_header_long_header)
{
    size_t n = 7 + TOKEN_MAX * 4;
    char *h = malloc(n + 1);

    cr_assert_not_null(h);
    memcpy(h, "Bearer ", 7);
    memset(h + 7, 'a', n - 7);
    h[n] = '\0';
    cr_assert_not(token_check_header(TOK, h));
    /* The token itself at its longest still matches. */
    h[7 + TOKEN_MAX] = '\0';
    cr_assert(token_check_header(h + 7, h));
    free(h);
}

Test(token, check_header_against_loaded_token)
{
    struct err err = {0};
    char *tok = NULL;
    bool is_new;
    char header[TOKEN_MAX + 16];

    cr_assert_eq(token_load_file(dir, &tok, &is_new, &err), 0, "%s", err.message);
    snprintf(header, sizeof(header), "Bearer %s", tok);
    cr_assert(token_check_header(tok, header));
    header[strlen(header) - 1] ^= 1;
    cr_assert_not(token_check_header(tok, header));
    token_free(tok);
}

/* ---- token_free, token_source_name ---- */

/* token_free must wipe before freeing. Reading freed memory is undefined, so in builds without
 * AddressSanitizer (which owns free itself) this file interposes free(3) and inspects the watched
 * block on its way out; everything goes on to glibc's __libc_free. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#endif

#ifndef TEST_ASAN
extern void __libc_free(void *p);
static const void *watch_ptr;
static size_t watch_len;
static int watch_seen = -1; /* -1 not freed, 0 freed with secret bytes, 1 freed wiped */

void
free(void *p)
{
    if (p && p == watch_ptr) {
        const unsigned char *b = p;
        int wiped = 1;
        for (size_t i = 0; i < watch_len; i++)
            if (b[i] != 0)
                wiped = 0;
        watch_seen = wiped;
        watch_ptr = NULL;
    }
    __libc_free(p);
}
#endif

Test(token, free_wipes_and_is_null_safe)
{
    char *t = strdup("secret-token-value-0123456789");

    cr_assert_not_null(t);
#ifndef TEST_ASAN
    watch_len = strlen(t);
    watch_ptr = t;
#endif
    cr_assert_null(token_free(t));
#ifndef TEST_ASAN
    cr_assert_eq(watch_seen, 1, "the token was freed without being wiped (%d)", watch_seen);
#endif
    cr_assert_null(token_free(NULL));
}

Test(token, source_names)
{
    cr_assert_str_eq(token_source_name(TOKEN_FROM_CONFIG), "config");
    cr_assert_str_eq(token_source_name(TOKEN_FROM_ENV), "AIRLOCK_TOKEN");
    cr_assert_str_eq(token_source_name(TOKEN_FROM_FILE_NEW), "new token file");
    cr_assert_str_eq(token_source_name(TOKEN_FROM_FILE), "token file");
    cr_assert_str_eq(token_source_name((enum token_source)99), "?");
}
