/*
 * Unit tests for the files side of persistent workspaces: ws_path_protected (which paths of an
 * adopted workspace the API must refuse to change), ws_open_file and ws_list_dir (reads beneath
 * a directory a job may have filled with symlinks, FIFOs and hard links), and the jobs_fs
 * helpers the uploads use (fs_mkdirs, fs_open_parent, fs_write_files). Every test works in its
 * own mkdtemp directory under $TMPDIR (or /tmp), plus a second one standing for "outside the
 * workspace"; the fixture removes both.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "config.h"
#include "jobs_fs.h"
#include "workspaces.h"

static char dir[PATH_MAX];     /* the workspace */
static char outside[PATH_MAX]; /* a directory a planted symlink points at */
static int dfd = -1;

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
make_tmp(char *buf, const char *what)
{
    const char *tmp = getenv("TMPDIR");

    if (!tmp || !*tmp)
        tmp = "/tmp";
    cr_assert_geq(str_printf(buf, PATH_MAX, "%s/airlock-test-ws-%s-XXXXXX", tmp, what), 0);
    cr_assert_not_null(mkdtemp(buf), "mkdtemp %s: %s", buf, strerror(errno));
}

static void
setup(void)
{
    make_tmp(dir, "in");
    make_tmp(outside, "outside");
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(dfd, 0);
}

static void
teardown(void)
{
    if (dfd >= 0)
        close(dfd);
    dfd = -1;
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (outside[0])
        nftw(outside, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    dir[0] = outside[0] = '\0';
}

TestSuite(ws, .init = setup, .fini = teardown, .timeout = 30);

/* ---- helpers ---- */

/* Writes text to name beneath the directory fd at (created or truncated). */
static void
put_at(int at, const char *name, const char *text)
{
    int fd = openat(at, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    size_t len = strlen(text);

    cr_assert_geq(fd, 0, "create %s: %s", name, strerror(errno));
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
}

static void
put(const char *name, const char *text)
{
    put_at(dfd, name, text);
}

/* The whole content of an open fd (from its current offset), malloc'd. */
static char *
fd_slurp(int fd)
{
    size_t cap = 256, len = 0;
    char *buf = malloc(cap);
    ssize_t n;

    cr_assert_not_null(buf);
    while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)n;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
    }
    cr_assert_geq(n, 0, "read: %s", strerror(errno));
    buf[len] = '\0';
    return buf;
}

/* The content of name beneath at (never through a symlink), malloc'd. */
static char *
slurp_at(int at, const char *name)
{
    int fd = openat(at, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    char *s;

    cr_assert_geq(fd, 0, "open %s: %s", name, strerror(errno));
    s = fd_slurp(fd);
    close(fd);
    return s;
}

static void
assert_content(int at, const char *name, const char *want)
{
    char *got = slurp_at(at, name);

    cr_assert_str_eq(got, want, "content of %s", name);
    free(got);
}

/* Number of entries (other than "." and "..") in the directory at path. */
static size_t
count_entries(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d;
    struct dirent *de;
    size_t n = 0;

    cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
    d = fdopendir(fd);
    cr_assert_not_null(d);
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* Fails when any ".airlock-upload-*" temp file is left in the directory fd at. */
static void
assert_no_temp_left(int at)
{
    int fd = openat(at, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d;
    struct dirent *de;

    cr_assert_geq(fd, 0);
    d = fdopendir(fd);
    cr_assert_not_null(d);
    while ((de = readdir(d)))
        cr_assert_not(str_has_prefix(de->d_name, ".airlock-upload-"), "temp file left: %s",
                      de->d_name);
    closedir(d);
}

/* A symlink name -> target in the workspace. */
static void
plant(const char *target, const char *name)
{
    cr_assert_eq(symlinkat(target, dfd, name), 0, "symlink %s: %s", name, strerror(errno));
}

/* ---------------------------------------------------------------------------------------------
 * ws_path_protected with the default protected_paths (".git/hooks/", ".git/config")
 */

static const struct {
    const char *path;
    bool want;
} protected_cases[] = {
    /* an ancestor of a protected path: renaming or removing it would take the path along */
    {".git", true},
    /* the protected paths themselves */
    {".git/hooks", true},
    {".git/config", true},
    /* beneath a protected directory */
    {".git/hooks/pre-commit", true},
    {".git/hooks/a/b/c", true},
    /* beneath a protected file (cannot exist, but must not slip through either) */
    {".git/config/x", true},
    /* siblings that share a prefix are not protected */
    {".git/configx", false},
    {".git/config.bak", false},
    {".git/confi", false},
    {".git/hooksx", false},
    {".git/hook", false},
    {".gitx/hooks", false},
    {".gitx", false},
    {".gi", false},
    {"git/hooks", false},
    {".git/objects/x", false},
    {".git/HEAD", false},
    /* Relative to the workspace's root only: a nested repository's .git (a submodule or a
     * vendored checkout) is not covered. Expected behaviour, as documented for
     * protected_paths: the paths are fixed relative paths, not patterns. */
    {"a/.git/hooks", false},
    {"a/.git/config", false},
    {"a/.git", false},
    /* ordinary files */
    {"src/main.c", false},
    {"README.md", false},
    {"config", false},
    {"hooks", false},
};

Test(ws, path_protected_defaults)
{
    struct config c;

    config_defaults(&c);
    cr_assert_eq(c.nprotected_paths, 3);
    for (size_t i = 0; i < ARRAY_SIZE(protected_cases); i++)
        cr_expect_eq(ws_path_protected(&c, protected_cases[i].path), protected_cases[i].want,
                     "\"%s\": want %s", protected_cases[i].path,
                     protected_cases[i].want ? "protected" : "not protected");
    config_clear(&c);
}

Test(ws, path_protected_custom_list)
{
    struct config c;

    config_defaults(&c);
    str_copy(c.protected_paths[0], CONFIG_PROTECTED_LEN, "secrets/");
    str_copy(c.protected_paths[1], CONFIG_PROTECTED_LEN, "a/b/c");
    str_copy(c.protected_paths[2], CONFIG_PROTECTED_LEN, "Makefile");
    c.nprotected_paths = 3;
    cr_expect(ws_path_protected(&c, "secrets"));
    cr_expect(ws_path_protected(&c, "secrets/key"));
    cr_expect_not(ws_path_protected(&c, "secretsx"));
    cr_expect(ws_path_protected(&c, "a"));
    cr_expect(ws_path_protected(&c, "a/b"));
    cr_expect(ws_path_protected(&c, "a/b/c"));
    cr_expect(ws_path_protected(&c, "a/b/c/d"));
    cr_expect_not(ws_path_protected(&c, "a/b/cd"));
    cr_expect_not(ws_path_protected(&c, "a/bc"));
    cr_expect_not(ws_path_protected(&c, "ab"));
    cr_expect(ws_path_protected(&c, "Makefile"));
    cr_expect_not(ws_path_protected(&c, "Makefile.am"));
    cr_expect_not(ws_path_protected(&c, ".git"), "the defaults were replaced");

    c.nprotected_paths = 0;
    cr_expect_not(ws_path_protected(&c, ".git/config"), "an empty list protects nothing");
    cr_expect_not(ws_path_protected(&c, "a"));
    config_clear(&c);
}

/* ---------------------------------------------------------------------------------------------
 * ws_open_file
 */

Test(ws, open_regular_file)
{
    int fd = -1;
    bool is_dir = true;
    char *s;

    put("f", "hello");
    cr_assert_eq(ws_open_file(dfd, "f", &fd, &is_dir), 0);
    cr_assert_geq(fd, 0);
    cr_assert_not(is_dir);
    /* blocking again after the O_NONBLOCK open, and close-on-exec */
    cr_assert_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    cr_assert_neq(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    s = fd_slurp(fd);
    cr_assert_str_eq(s, "hello");
    free(s);
    close(fd);
}

Test(ws, open_nested_file_and_odd_names)
{
    static const char *const names[] = {"...",       ".hidden",  "a\\b",
                                        "new\nline", "\xff\xfe", "h\xc3\xa9llo"};
    int fd = -1;
    bool is_dir;

    cr_assert_eq(mkdirat(dfd, "d", 0755), 0);
    cr_assert_eq(mkdirat(dfd, "d/e", 0755), 0);
    put("d/e/f", "deep");
    cr_assert_eq(ws_open_file(dfd, "d/e/f", &fd, &is_dir), 0);
    cr_assert_not(is_dir);
    close(fd);
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        put(names[i], "x");
        fd = -1;
        cr_expect_eq(ws_open_file(dfd, names[i], &fd, &is_dir), 0, "\"%s\"", names[i]);
        cr_expect_not(is_dir);
        if (fd >= 0)
            close(fd);
    }
}

Test(ws, open_directory_reports_is_dir)
{
    int fd = -1;
    bool is_dir = false;

    cr_assert_eq(mkdirat(dfd, "d", 0755), 0);
    cr_assert_eq(ws_open_file(dfd, "d", &fd, &is_dir), 0);
    cr_assert(is_dir);
    close(fd);

    /* "" is the root itself */
    fd = -1;
    is_dir = false;
    cr_assert_eq(ws_open_file(dfd, "", &fd, &is_dir), 0);
    cr_assert(is_dir);
    cr_assert_geq(fd, 0);
    close(fd);
}

Test(ws, open_missing)
{
    int fd = -1;
    bool is_dir;

    cr_assert_eq(ws_open_file(dfd, "nope", &fd, &is_dir), -ENOENT);
    cr_assert_eq(fd, -1);
    cr_assert_eq(ws_open_file(dfd, "a/b/c", &fd, &is_dir), -ENOENT);
    cr_assert_eq(fd, -1);
    put("f", "x");
    cr_assert_eq(ws_open_file(dfd, "f/x", &fd, &is_dir), -ENOTDIR);
    cr_assert_eq(fd, -1);
}

/* Every symlink is refused wherever it is on the way, and wherever it points. */
Test(ws, open_through_symlinks_refused)
{
    char target[PATH_MAX + 16];
    static const char *const paths[] = {
        "in_file",  /* -> f, inside */
        "in_dir",   /* -> d, inside */
        "in_dir/g", /* through it, in the middle */
        "out_file", /* -> <outside>/secret */
        "out_dir",  /* -> <outside> */
        "out_dir/secret" /* through it */,
        "abs_etc",      /* -> /etc/passwd */
        "dotdot",       /* -> .. */
        "dotdot/x",     /* through it */
        "dangling",     /* -> missing */
        "self",         /* -> self (a loop) */
        "d/up",         /* d/up -> ../f */
        "d/up2/secret", /* d/up2 -> ../out_dir */
        "chain",        /* -> in_file -> f */
    };

    put("f", "inside");
    cr_assert_eq(mkdirat(dfd, "d", 0755), 0);
    put("d/g", "inside too");
    cr_assert_geq(str_printf(target, sizeof(target), "%s/secret", outside), 0);
    put_at(AT_FDCWD, target, "secret");
    plant("f", "in_file");
    plant("d", "in_dir");
    plant(target, "out_file");
    plant(outside, "out_dir");
    plant("/etc/passwd", "abs_etc");
    plant("..", "dotdot");
    plant("missing", "dangling");
    plant("self", "self");
    plant("../f", "d/up");
    plant("../out_dir", "d/up2");
    plant("in_file", "chain");

    for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
        int fd = -1;
        bool is_dir = false;
        int r = ws_open_file(dfd, paths[i], &fd, &is_dir);

        cr_expect(r == -ELOOP || r == -EXDEV, "\"%s\": got %d (%s), want -ELOOP or -EXDEV",
                  paths[i], r, r < 0 ? strerror(-r) : "an fd");
        cr_expect_eq(fd, -1, "\"%s\": an fd was returned", paths[i]);
        if (fd >= 0)
            close(fd);
    }
}

/* ".." that leaves the directory, and absolute paths, never open anything (ws_open_file is also
 * reached with paths path_rel_valid refuses, so it must hold on its own). */
Test(ws, open_escapes_refused)
{
    static const char *const paths[] = {"..", "../x", "d/../..", "d/../../x", "/etc/passwd", "/"};
    char escape[PATH_MAX + 16];

    cr_assert_eq(mkdirat(dfd, "d", 0755), 0);
    /* the name the ".." escapes would reach, so -ENOENT cannot pass for a refusal */
    cr_assert_geq(str_printf(escape, sizeof(escape), "%s/x", outside), 0);
    put_at(AT_FDCWD, escape, "outside");
    for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
        int fd = -1;
        bool is_dir = false;
        int r = ws_open_file(dfd, paths[i], &fd, &is_dir);

        cr_expect(r == -EXDEV || r == -ELOOP, "\"%s\": got %d (%s), want -EXDEV", paths[i], r,
                  r < 0 ? strerror(-r) : "an fd");
        cr_expect_eq(fd, -1, "\"%s\": an fd was returned", paths[i]);
        if (fd >= 0)
            close(fd);
    }
}

static void
on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "ws_open_file hung on a FIFO\n";
    (void)!write(2, msg, sizeof(msg) - 1);
    _exit(99);
}

/* A FIFO with no writer would block a plain open forever: it must be refused at once. alarm(5)
 * ends a hung test quickly (and the suite's .timeout backs it up; a per-test .timeout makes
 * Criterion 2.4's runner leak 48 bytes under LeakSanitizer, so none is set here). */
Test(ws, open_fifo_refused_without_hanging)
{
    int fd = -1;
    bool is_dir;
    int64_t t0;
    int r;

    cr_assert_eq(mkfifoat(dfd, "p", 0644), 0, "mkfifo: %s", strerror(errno));
    cr_assert_eq(mkdirat(dfd, "d", 0755), 0);
    cr_assert_eq(mkfifoat(dfd, "d/p", 0644), 0);
    signal(SIGALRM, on_alarm);
    alarm(5);
    t0 = time_mono_ms();
    r = ws_open_file(dfd, "p", &fd, &is_dir);
    cr_assert_eq(r, -ENXIO, "got %d", r);
    cr_assert_eq(fd, -1);
    r = ws_open_file(dfd, "d/p", &fd, &is_dir);
    cr_assert_eq(r, -ENXIO, "got %d", r);
    cr_assert_eq(fd, -1);
    alarm(0);
    cr_assert_lt(time_mono_ms() - t0, 2000);
}

/* A unix socket is not a file either (open(2) itself fails on one). */
Test(ws, open_socket_refused)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int fd = -1;
    bool is_dir;
    int r;

    cr_assert_geq(s, 0);
    if (str_printf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", dir) < 0) {
        close(s);
        cr_skip_test("temp path too long for a unix socket");
    }
    cr_assert_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind: %s", strerror(errno));
    r = ws_open_file(dfd, "sock", &fd, &is_dir);
    cr_assert_eq(r, -ENXIO, "got %d", r);
    cr_assert_eq(fd, -1);
    close(s);
}

/* A file with a second name may be a link to a file the job could not otherwise name. */
Test(ws, open_hard_linked_file_refused)
{
    int fd = -1;
    bool is_dir;

    put("x", "content");
    cr_assert_eq(linkat(dfd, "x", dfd, "y", 0), 0, "link: %s", strerror(errno));
    cr_assert_eq(ws_open_file(dfd, "x", &fd, &is_dir), -EMLINK);
    cr_assert_eq(fd, -1);
    cr_assert_eq(ws_open_file(dfd, "y", &fd, &is_dir), -EMLINK);
    cr_assert_eq(fd, -1);
    /* once the other name is gone, it reads again */
    cr_assert_eq(unlinkat(dfd, "y", 0), 0);
    cr_assert_eq(ws_open_file(dfd, "x", &fd, &is_dir), 0);
    close(fd);
}

/* ---------------------------------------------------------------------------------------------
 * ws_list_dir
 */

static json_t *
list_root(void)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    json_t *j;

    cr_assert_geq(fd, 0);
    j = ws_list_dir(fd); /* takes fd */
    cr_assert_not_null(j);
    return j;
}

static json_t *
entries_of(json_t *listing)
{
    json_t *e = json_object_get(listing, "entries");

    cr_assert(json_is_array(e));
    cr_assert(json_is_false(json_object_get(listing, "truncated")));
    return e;
}

Test(ws, list_empty_dir)
{
    json_t *j = list_root();

    cr_assert_eq(json_array_size(entries_of(j)), 0, "\".\" and \"..\" are not listed");
    json_decref(j);
}

Test(ws, list_sorted_with_types)
{
    static const struct {
        const char *name, *type;
    } want[] = {
        /* bytewise order: uppercase before lowercase, "a" before "a.txt" before "ab" */
        {"C", "file"}, {"a", "dir"},      {"a.txt", "file"},       {"ab", "symlink"},
        {"b", "file"}, {"fifo", "other"}, {"link_out", "symlink"}, {"z", "dir"},
    };
    json_t *j, *entries;
    char mtime_want[40];
    struct stat st;

    put("b", "bbb");
    put("C", "");
    put("a.txt", "0123456789");
    cr_assert_eq(mkdirat(dfd, "a", 0755), 0);
    cr_assert_eq(mkdirat(dfd, "z", 0755), 0);
    put("z/hidden_inside", "not listed: the listing is one level");
    plant("b", "ab");
    plant(outside, "link_out");
    cr_assert_eq(mkfifoat(dfd, "fifo", 0644), 0);

    j = list_root();
    entries = entries_of(j);
    cr_assert_eq(json_array_size(entries), ARRAY_SIZE(want), "%zu entries",
                 json_array_size(entries));
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        json_t *e = json_array_get(entries, i);
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *type = json_string_value(json_object_get(e, "type"));

        cr_assert_not_null(name, "entry %zu has no name", i);
        cr_expect_str_eq(name, want[i].name, "entry %zu", i);
        cr_assert_not_null(type);
        cr_expect_str_eq(type, want[i].type, "entry %zu (%s)", i, name);
        cr_expect(json_is_integer(json_object_get(e, "size")), "%s: size", name);
        cr_expect(json_is_string(json_object_get(e, "mtime")), "%s: mtime", name);
        cr_expect_eq(json_object_size(e), 4, "%s: name, type, size, mtime only", name);
    }
    /* sizes and times are the entries' own (lstat: a symlink is not followed) */
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(entries, 2), "size")), 10);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(entries, 4), "size")), 3);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(entries, 3), "size")), 1,
                 "a symlink's size is its target's length");
    cr_assert_eq(fstatat(dfd, "a.txt", &st, 0), 0);
    time_rfc3339(mtime_want, sizeof(mtime_want),
                 (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(entries, 2), "mtime")),
                     mtime_want);
    json_decref(j);
}

/* Names are bytes: a newline, a tab, a quote and invalid UTF-8 must all come out as JSON that
 * parses again. */
Test(ws, list_odd_names_are_valid_json)
{
    static const char *const names[] = {"new\nline",    "tab\there",    "quote\"back\\slash",
                                        "\x01\x1f\x7f", "\xff\xfe",     "x\xffy",
                                        "\xc3",         "h\xc3\xa9llo", "\xe6\x97\xa5"};
    json_t *j, *entries, *back;
    json_error_t je;
    char *text;
    bool seen_newline = false, seen_x_y = false, seen_ff = false;

    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        put(names[i], "x");
    j = list_root();
    entries = entries_of(j);
    cr_assert_eq(json_array_size(entries), ARRAY_SIZE(names));

    text = json_dumps(j, JSON_COMPACT);
    cr_assert_not_null(text, "the listing does not serialise");
    back = json_loads(text, 0, &je);
    cr_assert_not_null(back, "the listing is not valid JSON: %s: %s", je.text, text);
    cr_assert(json_equal(back, j));
    json_decref(back);
    free(text);

    for (size_t i = 0; i < json_array_size(entries); i++) {
        const char *name = json_string_value(json_object_get(json_array_get(entries, i), "name"));
        cr_assert_not_null(name);
        if (strcmp(name, "new\nline") == 0)
            seen_newline = true;
        if (strcmp(name, "x\xef\xbf\xbdy") == 0)
            seen_x_y = true;
        if (strcmp(name, "\xef\xbf\xbd\xef\xbf\xbd") == 0)
            seen_ff = true;
        if (i > 0) {
            const char *prev =
                json_string_value(json_object_get(json_array_get(entries, i - 1), "name"));
            cr_expect_lt(strcmp(prev, name), 0, "not sorted: \"%s\" before \"%s\"", prev, name);
        }
    }
    cr_expect(seen_newline, "a newline in a name is kept as it is");
    cr_expect(seen_x_y, "x<ff>y is listed as x<U+FFFD>y");
    cr_expect(seen_ff, "<ff><fe> is listed as two U+FFFD");
    json_decref(j);
}

/* Only the invalid bytes of a name become U+FFFD (workspaces.c: "shown with its invalid bytes
 * as U+FFFD"); the valid characters beside them are kept. */
Test(ws, list_invalid_utf8_keeps_valid_chars)
{
    json_t *j, *entries;
    const char *name;

    put("\xc3\xa9\xff", "x"); /* "é" then an invalid byte */
    j = list_root();
    entries = entries_of(j);
    cr_assert_eq(json_array_size(entries), 1);
    name = json_string_value(json_object_get(json_array_get(entries, 0), "name"));
    cr_assert_not_null(name);
    cr_expect_str_eq(name, "\xc3\xa9\xef\xbf\xbd", "want \"\\u00e9\\ufffd\", got \"%s\"", name);
    json_decref(j);
}

Test(ws, list_subdirectory_and_bad_fd)
{
    json_t *j, *entries;
    int fd;

    cr_assert_eq(mkdirat(dfd, "d", 0755), 0);
    put("d/one", "1");
    put("top", "t");
    fd = openat(dfd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    j = ws_list_dir(fd);
    cr_assert_not_null(j);
    entries = entries_of(j);
    cr_assert_eq(json_array_size(entries), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(entries, 0), "name")), "one");
    json_decref(j);
    cr_assert_null(ws_list_dir(-1));
}

/* ---------------------------------------------------------------------------------------------
 * fs_mkdirs, fs_open_parent
 */

static void
assert_dir_mode(const char *path, mode_t want)
{
    struct stat st;

    cr_assert_eq(fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW), 0, "%s: %s", path, strerror(errno));
    cr_assert(S_ISDIR(st.st_mode), "%s is not a directory", path);
    cr_assert_eq(st.st_mode & 07777, want, "%s: mode %o", path, st.st_mode & 07777);
}

Test(ws, mkdirs_creates_chain)
{
    mode_t old = umask(077);

    cr_assert_eq(fs_mkdirs(dfd, "x/y/z", (uid_t)-1, (gid_t)-1), 0);
    umask(old);
    assert_dir_mode("x", 0755);
    assert_dir_mode("x/y", 0755);
    assert_dir_mode("x/y/z", 0755);
    /* again: every component exists, nothing changes */
    cr_assert_eq(fs_mkdirs(dfd, "x/y/z", (uid_t)-1, (gid_t)-1), 0);
    cr_assert_eq(fs_mkdirs(dfd, "x", (uid_t)-1, (gid_t)-1), 0);
}

Test(ws, mkdirs_refuses_dots_and_files)
{
    put("f", "x");
    cr_assert_eq(fs_mkdirs(dfd, "f/sub", (uid_t)-1, (gid_t)-1), -ENOTDIR);
    cr_assert_eq(fs_mkdirs(dfd, "f", (uid_t)-1, (gid_t)-1), -ENOTDIR);
    cr_assert_eq(fs_mkdirs(dfd, "a/../b", (uid_t)-1, (gid_t)-1), -EINVAL);
    cr_assert_eq(fs_mkdirs(dfd, "../escape", (uid_t)-1, (gid_t)-1), -EINVAL);
    cr_assert_eq(fs_mkdirs(dfd, "./a", (uid_t)-1, (gid_t)-1), -EINVAL);
    cr_assert_eq(count_entries(outside), 0);
}

/* A planted symlink "a -> <outside>": nothing is ever created through it. */
Test(ws, mkdirs_through_planted_symlink_refused)
{
    char dangling[PATH_MAX + 16];
    struct stat st;
    int r;

    plant(outside, "a");
    r = fs_mkdirs(dfd, "a/b/c", (uid_t)-1, (gid_t)-1);
    cr_assert_lt(r, 0, "fs_mkdirs went through a symlink");
    cr_expect(r == -ENOTDIR || r == -ELOOP, "got %d (%s)", r, strerror(-r));
    cr_assert_eq(count_entries(outside), 0, "something was created outside");
    cr_assert_eq(fs_mkdirs(dfd, "a", (uid_t)-1, (gid_t)-1) < 0, true);
    cr_assert_eq(count_entries(outside), 0);

    /* a symlink to a directory that does not exist yet must not be created either */
    cr_assert_geq(str_printf(dangling, sizeof(dangling), "%s/later", outside), 0);
    plant(dangling, "b");
    cr_assert_lt(fs_mkdirs(dfd, "b/c", (uid_t)-1, (gid_t)-1), 0);
    cr_assert_neq(stat(dangling, &st), 0, "the symlink's target was created");
    cr_assert_eq(count_entries(outside), 0);

    /* deeper: the symlink is the second component */
    cr_assert_eq(mkdirat(dfd, "d", 0755), 0);
    cr_assert_eq(symlinkat(outside, dfd, "d/e"), 0);
    cr_assert_lt(fs_mkdirs(dfd, "d/e/f", (uid_t)-1, (gid_t)-1), 0);
    cr_assert_eq(count_entries(outside), 0);
    /* a symlink pointing inside is refused as well */
    plant("d", "in");
    cr_assert_lt(fs_mkdirs(dfd, "in/g", (uid_t)-1, (gid_t)-1), 0);
    cr_assert_neq(fstatat(dfd, "d/g", &st, AT_SYMLINK_NOFOLLOW), 0);
}

Test(ws, open_parent_finds_the_last_component)
{
    const char *name = NULL;
    const char *path = "x/y/file.txt";
    int pfd;
    struct stat st;

    pfd = fs_open_parent(dfd, "top", false, (uid_t)-1, (gid_t)-1, &name);
    cr_assert_geq(pfd, 0, "got %d", pfd);
    cr_assert_str_eq(name, "top");
    close(pfd);

    cr_assert_eq(fs_open_parent(dfd, path, false, (uid_t)-1, (gid_t)-1, &name), -ENOENT);
    pfd = fs_open_parent(dfd, path, true, (uid_t)-1, (gid_t)-1, &name);
    cr_assert_geq(pfd, 0, "got %d", pfd);
    cr_assert_eq(name, path + 4, "the name points into path");
    put_at(pfd, name, "here");
    close(pfd);
    assert_content(dfd, "x/y/file.txt", "here");
    cr_assert_eq(fstatat(dfd, "x/y/file.txt", &st, AT_SYMLINK_NOFOLLOW), 0);
    cr_assert(S_ISREG(st.st_mode), "the last component is not created as a directory");
}

/* A symlink as the parent, inside or outside: never an fd, and -ELOOP / -EXDEV whichever way it
 * is asked (fs_open_beneath's contract), so the API answers 403 "leads through a symlink" for a
 * DELETE as for a PUT -- not 404 (workspaces_file_delete turns -ENOTDIR into -ENOENT). */
Test(ws, open_parent_through_planted_symlink_refused)
{
    static const char *const paths[] = {"a/f", "a/b/c/f", "in/f", "d/in2/f"};
    const char *name;
    int pfd;

    plant(outside, "a");
    cr_assert_eq(mkdirat(dfd, "d", 0755), 0);
    plant("d", "in");
    cr_assert_eq(symlinkat("..", dfd, "d/in2"), 0);
    for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
        for (int create = 0; create <= 1; create++) {
            pfd = fs_open_parent(dfd, paths[i], create, (uid_t)-1, (gid_t)-1, &name);
            if (pfd >= 0)
                close(pfd);
            cr_assert_lt(pfd, 0, "\"%s\" (create %d): got an fd through a symlink", paths[i],
                         create);
            cr_expect(pfd == -ELOOP || pfd == -EXDEV, "\"%s\" (create %d): got %d (%s)", paths[i],
                      create, pfd, strerror(-pfd));
        }
    }
    cr_assert_eq(count_entries(outside), 0, "something was created outside");
    pfd = fs_open_parent(dfd, "../f", false, (uid_t)-1, (gid_t)-1, &name);
    cr_assert(pfd == -EXDEV || pfd == -ELOOP, "got %d", pfd);

    /* the same through fs_open_beneath directly, as a directory */
    pfd = fs_open_beneath(dfd, "a", O_RDONLY | O_DIRECTORY, 0);
    cr_expect(pfd == -ELOOP || pfd == -EXDEV, "fs_open_beneath(\"a\", O_DIRECTORY): got %d (%s)",
              pfd, strerror(-pfd));
    if (pfd >= 0)
        close(pfd);
}

/* ---------------------------------------------------------------------------------------------
 * fs_write_files
 */

static json_t *
files_obj(const char *path, const char *text)
{
    json_t *o = json_object();

    cr_assert_not_null(o);
    cr_assert_eq(json_object_set_new(o, path, json_string(text)), 0);
    return o;
}

static int
write_one_file(const char *path, const char *text, bool replace, struct err *err)
{
    json_t *o = files_obj(path, text);
    int r = fs_write_files(dfd, o, (uid_t)-1, (gid_t)-1, replace, err);

    json_decref(o);
    return r;
}

Test(ws, write_files_creates_parents_and_modes)
{
    struct err err = {0};
    mode_t old = umask(077);
    struct stat st;
    int r;

    r = write_one_file("n1/n2/f.txt", "content\n", false, &err);
    umask(old);
    cr_assert_eq(r, 0, "%d %s", r, err.message);
    assert_content(dfd, "n1/n2/f.txt", "content\n");
    cr_assert_eq(fstatat(dfd, "n1/n2/f.txt", &st, AT_SYMLINK_NOFOLLOW), 0);
    cr_assert(S_ISREG(st.st_mode));
    cr_assert_eq(st.st_mode & 07777, 0644);
    assert_dir_mode("n1", 0755);
    assert_dir_mode("n1/n2", 0755);
}

Test(ws, write_files_without_replace_refuses_existing)
{
    struct err err = {0};
    int r;

    put("x", "old");
    r = write_one_file("x", "new", false, &err);
    cr_assert_eq(r, -EEXIST, "got %d", r);
    cr_assert_not_null(strstr(err.message, "files.x"), "%s", err.message);
    cr_assert_str_eq(err.code, "bad_request");
    assert_content(dfd, "x", "old");
    assert_no_temp_left(dfd);
}

/* The replacement is a new inode renamed over the name: another hard link to the old file keeps
 * the old content (a link a job made to a file outside its reach is never written through). */
Test(ws, write_files_replace_does_not_write_through_hard_link)
{
    struct err err = {0};
    struct stat before, after;
    int r;

    put("x", "old");
    cr_assert_eq(linkat(dfd, "x", dfd, "y", 0), 0, "link: %s", strerror(errno));
    cr_assert_eq(fstatat(dfd, "x", &before, 0), 0);
    r = write_one_file("x", "new", true, &err);
    cr_assert_eq(r, 0, "%d %s", r, err.message);
    assert_content(dfd, "x", "new");
    assert_content(dfd, "y", "old");
    cr_assert_eq(fstatat(dfd, "x", &after, 0), 0);
    cr_assert_neq(after.st_ino, before.st_ino, "x was rewritten in place");
    cr_assert_eq(after.st_nlink, 1);
    cr_assert_eq(after.st_mode & 07777, 0644);
    assert_no_temp_left(dfd);
}

Test(ws, write_files_replace_creates_when_missing)
{
    struct err err = {0};
    int r;

    r = write_one_file("p/q/new", "fresh", true, &err);
    cr_assert_eq(r, 0, "%d %s", r, err.message);
    assert_content(dfd, "p/q/new", "fresh");
    {
        int q = openat(dfd, "p/q", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_geq(q, 0);
        assert_no_temp_left(q);
        close(q);
    }
}

/* A planted symlink as the parent: neither mode writes anything outside. */
Test(ws, write_files_through_symlinked_parent_refused)
{
    struct err err = {0};

    plant(outside, "a");
    cr_assert_lt(write_one_file("a/f", "x", false, &err), 0);
    cr_assert_lt(write_one_file("a/f", "x", true, &err), 0);
    cr_assert_lt(write_one_file("a/b/f", "x", true, &err), 0);
    cr_assert_eq(count_entries(outside), 0, "something was written outside");
}

/* A planted symlink as the target: the file it points at is never written. */
Test(ws, write_files_symlink_target_not_followed)
{
    char target[PATH_MAX + 16];
    char later[PATH_MAX + 16];
    struct err err = {0};
    struct stat st;
    char *s;
    int fd;

    cr_assert_geq(str_printf(target, sizeof(target), "%s/secret", outside), 0);
    put_at(AT_FDCWD, target, "secret");
    plant(target, "s");
    cr_assert_lt(write_one_file("s", "new", false, &err), 0);
    fd = open(target, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    s = fd_slurp(fd);
    close(fd);
    cr_assert_str_eq(s, "secret");
    free(s);

    cr_assert_eq(write_one_file("s", "new", true, &err), 0, "%s", err.message);
    fd = open(target, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    s = fd_slurp(fd);
    close(fd);
    cr_assert_str_eq(s, "secret", "written through the symlink");
    free(s);
    /* the name itself now holds the new file */
    cr_assert_eq(fstatat(dfd, "s", &st, AT_SYMLINK_NOFOLLOW), 0);
    cr_assert(S_ISREG(st.st_mode));
    assert_content(dfd, "s", "new");

    /* a dangling symlink to outside: nothing is created there */
    cr_assert_geq(str_printf(later, sizeof(later), "%s/later", outside), 0);
    plant(later, "t");
    cr_assert_lt(write_one_file("t", "new", false, &err), 0);
    cr_assert_neq(stat(later, &st), 0, "created through a dangling symlink");
    cr_assert_eq(count_entries(outside), 1);
    assert_no_temp_left(dfd);
}

/* A directory in the way is not replaced, and no temp file is left behind. */
Test(ws, write_files_replace_over_directory_refused)
{
    struct err err = {0};
    struct stat st;

    cr_assert_eq(mkdirat(dfd, "d", 0755), 0);
    put("d/keep", "k");
    cr_assert_lt(write_one_file("d", "x", true, &err), 0);
    cr_assert_eq(fstatat(dfd, "d", &st, AT_SYMLINK_NOFOLLOW), 0);
    cr_assert(S_ISDIR(st.st_mode));
    assert_content(dfd, "d/keep", "k");
    assert_no_temp_left(dfd);
}
