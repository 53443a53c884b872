/*
 * Unit tests for daemon/sandbox_landlock.c. Each test forks a child that sets no_new_privs,
 * applies a ruleset and then tries things; the child writes what each try returned (0 or its
 * errno) into a report that it sends back through a pipe, and the parent checks it. The
 * Landlock ABI is asked of the kernel; without Landlock the tests are skipped, and the network
 * and scope tests need ABI 4 and 6. Files live in a mkdtemp directory under /tmp, so the tests
 * run as root and as nobody alike. Nothing in a child is harmful if the ruleset did not hold:
 * writes under /usr open an existing file without truncating, and a directory made there by
 * mistake is removed.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/landlock.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>

#include "sandbox.h"

#define REPORT_MAX 32

/* What a child tried, in order: each entry 0 or an errno. */
struct report {
    int apply; /* sandbox_landlock_apply's return */
    int n;
    int res[REPORT_MAX];
};

static int abi;
static char dir[64];
static char usr_file[] = "/usr/lib/os-release"; /* readable by all on Debian 12 */
static const char *etc_file;                    /* a file outside every rule */

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
    long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

    abi = v < 0 ? 0 : (int)v;
    etc_file = access("/etc/hostname", R_OK) == 0 ? "/etc/hostname" : "/etc/passwd";
    cr_assert_eq(str_copy(dir, sizeof(dir), "/tmp/airlock-test-landlock-XXXXXX"), 0);
    cr_assert_not_null(mkdtemp(dir));
}

static void
teardown(void)
{
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(sandbox_landlock, .init = setup, .fini = teardown);

/* Criterion does not run .fini for a skipped test, so each skip tears down first. */
static void
need_abi(int min)
{
    if (abi > 0 && abi >= min)
        return;
    teardown();
    if (abi == 0)
        cr_skip_test("no Landlock in this kernel");
    cr_skip_test("Landlock ABI %d, this test needs %d", abi, min);
}

/* Records a result that is 0 or an errno already. */
static void
put(struct report *r, int e)
{
    if (r->n < REPORT_MAX)
        r->res[r->n++] = e;
}

/* Records a syscall's result: 0, or the errno of a -1. */
static void
note(struct report *r, long ret)
{
    put(r, ret < 0 ? errno : 0);
}

/* What run_sandboxed applies and then runs. */
struct sandboxed {
    const struct sandbox_ll_rule *rules;
    size_t n;
    uint16_t port;
    void (*body)(struct report *, const void *);
    const void *arg;
};

/* Forks; the child sets no_new_privs, applies the rules and, when that worked, runs body.
 * Fills ret with the child's report after checking it exited cleanly. */
static void
run_sandboxed(const struct sandboxed *s, struct report *ret)
{
    int p[2], status;
    pid_t pid;

    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    fflush(NULL);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct report r = {0};
        close(p[0]);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
            _exit(100);
        r.apply = sandbox_landlock_apply(abi, s->rules, s->n, s->port);
        if (r.apply == 0 && s->body)
            s->body(&r, s->arg);
        _exit(write(p[1], &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 101);
    }
    close(p[1]);
    memset(ret, 0, sizeof(*ret));
    ssize_t got = read(p[0], ret, sizeof(*ret));
    close(p[0]);
    while (waitpid(pid, &status, 0) < 0)
        cr_assert_eq(errno, EINTR);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
    cr_assert_eq(got, (ssize_t)sizeof(*ret));
}

/* The common ruleset: the system read-only and executable, the test directory
 * readable and writable. */
static struct sandbox_ll_rule base_rules[2];

static const struct sandbox_ll_rule *
base(void)
{
    base_rules[0] = (struct sandbox_ll_rule){"/usr", SANDBOX_LL_READ | SANDBOX_LL_EXEC};
    base_rules[1] = (struct sandbox_ll_rule){dir, SANDBOX_LL_READ | SANDBOX_LL_WRITE};
    return base_rules;
}

/* name under the test directory; no assertion, as children call it too (an empty path on
 * overflow makes the try fail with ENOENT, which the parent reports). */
static void
path_in(char *buf, size_t n, const char *name)
{
    if (str_printf(buf, n, "%s/%s", dir, name) < 0)
        buf[0] = '\0';
}

static int
open_result(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC, 0600);

    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

/* fork + execve in a child already sandboxed: 0 when the program ran and exited 0, its
 * execve errno when it could not run. */
static long
exec_result(const char *path)
{
    char *const argv[] = {"prog", NULL};
    char *const envp[] = {NULL};
    int p[2], e = 0, status;
    pid_t pid;

    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execve(path, argv, envp);
        e = errno;
        (void)!write(p[1], &e, sizeof(e));
        _exit(127);
    }
    close(p[1]);
    if (read(p[0], &e, sizeof(e)) != (ssize_t)sizeof(e))
        e = 0;
    close(p[0]);
    if (waitpid(pid, &status, 0) < 0)
        return -1;
    if (e) {
        errno = e;
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        errno = ECHILD;
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Arguments
 */

Test(sandbox_landlock, abi_zero_is_not_supported)
{
    cr_assert_eq(sandbox_landlock_apply(0, NULL, 0, 0), -EOPNOTSUPP);
    cr_assert_eq(sandbox_landlock_apply(-1, NULL, 0, 0), -EOPNOTSUPP);
}

Test(sandbox_landlock, bad_rules_are_refused_before_anything_is_restricted)
{
    const struct sandbox_ll_rule none[] = {{"/usr", 0}};
    const struct sandbox_ll_rule unknown[] = {{"/usr", SANDBOX_LL_READ | 64u}};
    const struct sandbox_ll_rule null_path[] = {{NULL, SANDBOX_LL_READ}};
    struct report r;

    need_abi(1);
    cr_assert_eq(sandbox_landlock_apply(abi, NULL, 1, 0), -EINVAL);
    run_sandboxed(&(struct sandboxed){none, 1, 0, NULL, NULL}, &r);
    cr_assert_eq(r.apply, -EINVAL);
    run_sandboxed(&(struct sandboxed){unknown, 1, 0, NULL, NULL}, &r);
    cr_assert_eq(r.apply, -EINVAL);
    run_sandboxed(&(struct sandboxed){null_path, 1, 0, NULL, NULL}, &r);
    cr_assert_eq(r.apply, -EINVAL);
}

Test(sandbox_landlock, restrict_needs_no_new_privs_when_unprivileged)
{
    int status;
    pid_t pid;

    need_abi(1);
    if (geteuid() == 0 || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1) {
        teardown();
        cr_skip_test("root's CAP_SYS_ADMIN, or no_new_privs set already, would let it through");
    }
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(-sandbox_landlock_apply(abi, base(), 2, 0));
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status));
    cr_assert_eq(WEXITSTATUS(status), EPERM);
}

/* ---------------------------------------------------------------------------------------------
 * Filesystem
 */

/* Copies /usr/bin/true into the test directory as an executable file, to show that a directory
 * granted READ|WRITE does not let its files run. */
static void
copy_true(const char *to)
{
    char buf[65536];
    int in = open("/usr/bin/true", O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
    ssize_t n;

    cr_assert_geq(in, 0);
    cr_assert_geq(out, 0);
    while ((n = read(in, buf, sizeof(buf))) > 0)
        cr_assert_eq(write(out, buf, (size_t)n), n);
    cr_assert_eq(n, 0);
    close(in);
    close(out);
}

enum {
    FS_ETC_READ,
    FS_USR_READ,
    FS_USR_LIST,
    FS_TMP_CREATE,
    FS_TMP_RENAME,
    FS_TMP_MKDIR,
    FS_TMP_REPARENT,
    FS_TMP_TRUNCATE,
    FS_TMP_SYMLINK,
    FS_TMP_FIFO,
    FS_TMP_UNLINK,
    FS_TMP_RMDIR,
    FS_USR_WRITE,
    FS_USR_MKDIR,
    FS_EXEC_USR,
    FS_EXEC_TMP,
    FS_LIST_TMPROOT,
    FS_COUNT
};

static void
body_fs(struct report *r, const void *arg)
{
    char f[128], f2[128], sub[128], f3[128], link[128], fifo[128], prog[128];
    const char *usr_dir = "/usr/airlock-landlock-test";
    int fd;

    (void)arg;
    path_in(f, sizeof(f), "new");
    path_in(f2, sizeof(f2), "renamed");
    path_in(sub, sizeof(sub), "sub");
    path_in(f3, sizeof(f3), "sub/moved");
    path_in(link, sizeof(link), "link");
    path_in(fifo, sizeof(fifo), "fifo");
    path_in(prog, sizeof(prog), "prog");

    put(r, open_result(etc_file, O_RDONLY));
    put(r, open_result(usr_file, O_RDONLY));
    put(r, open_result("/usr/bin", O_RDONLY | O_DIRECTORY));
    fd = open(f, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    note(r, fd < 0 ? -1 : write(fd, "x", 1));
    if (fd >= 0)
        close(fd);
    note(r, rename(f, f2));
    note(r, mkdir(sub, 0700));
    note(r, rename(f2, f3));
    note(r, truncate(f3, 0));
    note(r, symlink("new", link));
    note(r, mkfifo(fifo, 0600));
    note(r, unlink(f3));
    note(r, rmdir(sub));
    put(r, open_result(usr_file, O_WRONLY));
    note(r, mkdir(usr_dir, 0700));
    if (r->res[r->n - 1] == 0)
        rmdir(usr_dir);
    note(r, exec_result("/usr/bin/true"));
    note(r, exec_result(prog));
    put(r, open_result("/tmp", O_RDONLY | O_DIRECTORY));
}

Test(sandbox_landlock, filesystem_rules_hold, .timeout = 30)
{
    char prog[128];
    struct report r;

    need_abi(1);
    path_in(prog, sizeof(prog), "prog");
    copy_true(prog);
    run_sandboxed(&(struct sandboxed){base(), 2, 0, body_fs, NULL}, &r);
    cr_assert_eq(r.apply, 0, "apply: %s", strerror(-r.apply));
    cr_assert_eq(r.n, FS_COUNT);
    cr_expect_eq(r.res[FS_ETC_READ], EACCES, "read %s: %d", etc_file, r.res[FS_ETC_READ]);
    cr_expect_eq(r.res[FS_USR_READ], 0, "read under /usr: %d", r.res[FS_USR_READ]);
    cr_expect_eq(r.res[FS_USR_LIST], 0, "list /usr/bin: %d", r.res[FS_USR_LIST]);
    cr_expect_eq(r.res[FS_TMP_CREATE], 0, "create and write: %d", r.res[FS_TMP_CREATE]);
    cr_expect_eq(r.res[FS_TMP_RENAME], 0, "rename: %d", r.res[FS_TMP_RENAME]);
    cr_expect_eq(r.res[FS_TMP_MKDIR], 0, "mkdir: %d", r.res[FS_TMP_MKDIR]);
    /* Moving into another directory needs REFER from ABI 2; ABI 1 refuses it always. */
    cr_expect_eq(r.res[FS_TMP_REPARENT], abi >= 2 ? 0 : EXDEV, "move into a subdirectory: %d",
                 r.res[FS_TMP_REPARENT]);
    if (abi >= 2) {
        cr_expect_eq(r.res[FS_TMP_TRUNCATE], 0, "truncate: %d", r.res[FS_TMP_TRUNCATE]);
        cr_expect_eq(r.res[FS_TMP_UNLINK], 0, "unlink: %d", r.res[FS_TMP_UNLINK]);
    }
    cr_expect_eq(r.res[FS_TMP_SYMLINK], 0, "symlink: %d", r.res[FS_TMP_SYMLINK]);
    cr_expect_eq(r.res[FS_TMP_FIFO], 0, "mkfifo: %d", r.res[FS_TMP_FIFO]);
    cr_expect_eq(r.res[FS_TMP_RMDIR], abi >= 2 ? 0 : ENOTEMPTY, "rmdir: %d", r.res[FS_TMP_RMDIR]);
    cr_expect_eq(r.res[FS_USR_WRITE], EACCES, "write under /usr: %d", r.res[FS_USR_WRITE]);
    cr_expect_eq(r.res[FS_USR_MKDIR], EACCES, "mkdir under /usr: %d", r.res[FS_USR_MKDIR]);
    cr_expect_eq(r.res[FS_EXEC_USR], 0, "exec /usr/bin/true: %d", r.res[FS_EXEC_USR]);
    cr_expect_eq(r.res[FS_EXEC_TMP], EACCES, "exec from a READ|WRITE directory: %d",
                 r.res[FS_EXEC_TMP]);
    cr_expect_eq(r.res[FS_LIST_TMPROOT], EACCES, "list /tmp: %d", r.res[FS_LIST_TMPROOT]);
}

static void
body_etc_file(struct report *r, const void *arg)
{
    const char *other = arg;

    put(r, open_result(etc_file, O_RDONLY));
    put(r, open_result(other, O_RDONLY));
    put(r, open_result(etc_file, O_WRONLY));
}

/* A READ rule on a single file is masked to the rights a file can carry (READ_DIR would make
 * the kernel refuse the rule) and grants that file and nothing beside it. */
Test(sandbox_landlock, a_rule_on_a_file_grants_that_file)
{
    const char *other = strcmp(etc_file, "/etc/passwd") == 0 ? "/etc/group" : "/etc/passwd";
    const struct sandbox_ll_rule rules[] = {
        {etc_file, SANDBOX_LL_READ},
        {"/usr", SANDBOX_LL_READ | SANDBOX_LL_EXEC},
    };
    struct report r;

    need_abi(1);
    run_sandboxed(&(struct sandboxed){rules, 2, 0, body_etc_file, other}, &r);
    cr_assert_eq(r.apply, 0, "apply: %s", strerror(-r.apply));
    cr_assert_eq(r.n, 3);
    cr_expect_eq(r.res[0], 0, "read %s: %d", etc_file, r.res[0]);
    cr_expect_eq(r.res[1], EACCES, "read %s: %d", other, r.res[1]);
    cr_expect_eq(r.res[2], EACCES, "open %s for writing: %d", etc_file, r.res[2]);
}

static void
body_dev(struct report *r, const void *arg)
{
    struct termios t;
    int null_fd, zero_fd;

    (void)arg;
    null_fd = open("/dev/null", O_RDWR | O_TRUNC | O_CLOEXEC);
    note(r, null_fd);
    note(r, null_fd < 0 ? -1 : write(null_fd, "x", 1));
    zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    note(r, zero_fd);
    put(r, open_result("/dev/zero", O_WRONLY));
    put(r, open_result("/dev/full", O_RDONLY));
    note(r, null_fd < 0 ? -1 : ioctl(null_fd, TCGETS, &t));
    note(r, zero_fd < 0 ? -1 : ioctl(zero_fd, TCGETS, &t));
}

/* DEV on a device node: read, write, O_TRUNC and (ABI 5) ioctl, on that node only. */
Test(sandbox_landlock, dev_rules_grant_the_node_only)
{
    const struct sandbox_ll_rule rules[] = {
        {"/dev/null", SANDBOX_LL_DEV},
        {"/dev/zero", SANDBOX_LL_READ},
    };
    struct report r;

    need_abi(1);
    run_sandboxed(&(struct sandboxed){rules, 2, 0, body_dev, NULL}, &r);
    cr_assert_eq(r.apply, 0, "apply: %s", strerror(-r.apply));
    cr_assert_eq(r.n, 7);
    cr_expect_eq(r.res[0], 0, "open /dev/null O_RDWR|O_TRUNC: %d", r.res[0]);
    cr_expect_eq(r.res[1], 0, "write /dev/null: %d", r.res[1]);
    cr_expect_eq(r.res[2], 0, "read /dev/zero: %d", r.res[2]);
    cr_expect_eq(r.res[3], EACCES, "write /dev/zero: %d", r.res[3]);
    cr_expect_eq(r.res[4], EACCES, "open /dev/full: %d", r.res[4]);
    /* The ioctl reaches the driver (which knows no TCGETS) where DEV granted it ... */
    cr_expect_eq(r.res[5], ENOTTY, "ioctl /dev/null: %d", r.res[5]);
    /* ... and from ABI 5 stops at Landlock where it was not granted. */
    cr_expect_eq(r.res[6], abi >= 5 ? EACCES : ENOTTY, "ioctl /dev/zero: %d", r.res[6]);
}

static void
body_read_etc(struct report *r, const void *arg)
{
    (void)arg;
    put(r, open_result(etc_file, O_RDONLY));
    put(r, open_result(usr_file, O_RDONLY));
}

Test(sandbox_landlock, missing_paths_are_skipped)
{
    const struct sandbox_ll_rule rules[] = {
        {"/nonexistent/airlock-landlock-test", SANDBOX_LL_READ | SANDBOX_LL_WRITE},
        {"/usr", SANDBOX_LL_READ | SANDBOX_LL_EXEC},
    };
    struct report r;

    need_abi(1);
    run_sandboxed(&(struct sandboxed){rules, 2, 0, body_read_etc, NULL}, &r);
    cr_assert_eq(r.apply, 0, "apply: %s", strerror(-r.apply));
    cr_assert_eq(r.n, 2);
    cr_expect_eq(r.res[0], EACCES);
    cr_expect_eq(r.res[1], 0);
}

Test(sandbox_landlock, a_newer_abi_is_treated_as_the_newest_known)
{
    struct report r;

    need_abi(1);
    abi += 100;
    run_sandboxed(&(struct sandboxed){base(), 2, 0, body_read_etc, NULL}, &r);
    abi -= 100;
    /* A kernel at least as new as the newest ABI known here takes what that ABI asks; an
     * older one refuses the ruleset (it never comes out weaker than asked). */
    if (abi >= 7)
        cr_assert_eq(r.apply, 0, "apply: %s", strerror(-r.apply));
    else
        cr_assert_lt(r.apply, 0);
}

/* ---------------------------------------------------------------------------------------------
 * Network (ABI 4) and scopes (ABI 6)
 */

static int
listener(struct sockaddr_in *ret)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0, "bind: %s", strerror(errno));
    cr_assert_eq(listen(fd, 8), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *ret = a;
    return fd;
}

struct net_arg {
    struct sockaddr_in allowed, other;
};

static long
connect_to(const struct sockaddr_in *a)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    long r;

    if (fd < 0)
        return -1;
    r = connect(fd, (const struct sockaddr *)a, sizeof(*a));
    close(fd);
    return r;
}

static void
body_net(struct report *r, const void *arg)
{
    const struct net_arg *n = arg;
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    note(r, fd < 0 ? -1 : bind(fd, (struct sockaddr *)&any, sizeof(any)));
    if (fd >= 0)
        close(fd);
    note(r, connect_to(&n->other));
    note(r, connect_to(&n->allowed));
}

Test(sandbox_landlock, tcp_bind_refused_connect_only_to_the_port)
{
    struct net_arg n;
    struct report r;
    int a, b;

    need_abi(4);
    a = listener(&n.allowed);
    b = listener(&n.other);
    run_sandboxed(&(struct sandboxed){base(), 2, ntohs(n.allowed.sin_port), body_net, &n}, &r);
    cr_assert_eq(r.apply, 0, "apply: %s", strerror(-r.apply));
    cr_assert_eq(r.n, 3);
    cr_expect_eq(r.res[0], EACCES, "bind: %d", r.res[0]);
    cr_expect_eq(r.res[1], EACCES, "connect to another port: %d", r.res[1]);
    cr_expect_eq(r.res[2], 0, "connect to the allowed port: %d", r.res[2]);

    /* Port 0 grants no connect at all. */
    run_sandboxed(&(struct sandboxed){base(), 2, 0, body_net, &n}, &r);
    cr_assert_eq(r.apply, 0, "apply: %s", strerror(-r.apply));
    cr_expect_eq(r.res[2], EACCES, "connect with no port granted: %d", r.res[2]);
    close(a);
    close(b);
}

struct scope_arg {
    struct sockaddr_un addr;
    socklen_t len;
};

static void
body_scope(struct report *r, const void *arg)
{
    const struct scope_arg *s = arg;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    note(r, kill(getppid(), 0));
    note(r, kill(getpid(), 0));
    note(r, fd < 0 ? -1 : connect(fd, (const struct sockaddr *)&s->addr, s->len));
    if (fd >= 0)
        close(fd);
}

Test(sandbox_landlock, signals_and_abstract_sockets_stay_inside)
{
    struct scope_arg s = {.addr.sun_family = AF_UNIX};
    struct report r;
    int fd, n;

    need_abi(6);
    /* An abstract name: a NUL first, no file. */
    n = str_printf(s.addr.sun_path + 1, sizeof(s.addr.sun_path) - 1, "airlock-test-%d",
                   (int)getpid());
    cr_assert_gt(n, 0);
    s.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&s.addr, s.len), 0, "bind: %s", strerror(errno));
    cr_assert_eq(listen(fd, 8), 0);

    run_sandboxed(&(struct sandboxed){base(), 2, 0, body_scope, &s}, &r);
    cr_assert_eq(r.apply, 0, "apply: %s", strerror(-r.apply));
    cr_assert_eq(r.n, 3);
    cr_expect_eq(r.res[0], EPERM, "kill(parent, 0): %d", r.res[0]);
    cr_expect_eq(r.res[1], 0, "kill(self, 0): %d", r.res[1]);
    cr_expect_eq(r.res[2], EPERM, "connect to an abstract socket outside: %d", r.res[2]);
    close(fd);
}
