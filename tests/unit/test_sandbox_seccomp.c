/*
 * Unit tests for daemon/sandbox_seccomp.c. The filter is compiled once per test (the fixture)
 * and applied only in forked children, which try one forbidden thing each and report through
 * their exit code: 0 when the call succeeded, else its errno. A child that must die reports
 * through its wait status. The arguments of the refused calls are chosen so that without the
 * filter the kernel would answer something other than the filter's errno (and do nothing
 * harmful, as root too); a control test runs them unfiltered to keep that true.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/personality.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "sandbox.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef __NR_open_tree_attr
#define __NR_open_tree_attr 467
#endif
#define X32_SYSCALL_BIT 0x40000000L
#define I386_NR_GETPID 20L
#define UFFD_USER_MODE_ONLY 1L

static struct sandbox_seccomp filter;

static void
setup(void)
{
    struct err err = {0};

    cr_assert_eq(sandbox_seccomp_compile(&filter, &err), 0, "compile: %s", err.message);
}

static void
teardown(void)
{
    sandbox_seccomp_free(&filter);
}

TestSuite(sandbox_seccomp, .init = setup, .fini = teardown);

/* Exit codes a child uses for its own failures, above any errno. */
enum { CHILD_NNP_FAILED = 200, CHILD_APPLY_FAILED, CHILD_FORK_FAILED, CHILD_WRONG };

static int
wait_child(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) < 0)
        cr_assert_eq(errno, EINTR, "waitpid: %s", strerror(errno));
    return status;
}

/* Forks; the child sets no_new_privs, applies the filter when asked to, and exits with what
 * fn returns. Returns the child's wait status. */
static int
run_child(int (*fn)(const void *), const void *arg, bool filtered)
{
    pid_t pid;

    fflush(NULL);
    pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
            _exit(CHILD_NNP_FAILED);
        if (filtered && sandbox_seccomp_apply(&filter) < 0)
            _exit(CHILD_APPLY_FAILED);
        _exit(fn(arg));
    }
    return wait_child(pid);
}

/* The child's exit code; fails the test when it did not exit normally. */
static int
run_code(int (*fn)(const void *), const void *arg, bool filtered)
{
    int status = run_child(fn, arg, filtered);

    cr_assert(WIFEXITED(status), "child did not exit normally (status 0x%x, signal %d)", status,
              WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return WEXITSTATUS(status);
}

static int
result(long r)
{
    return r < 0 ? errno : 0;
}

/* ---------------------------------------------------------------------------------------------
 * The compiled program
 */

Test(sandbox_seccomp, compile_makes_a_bounded_program)
{
    cr_assert_not_null(filter.filter);
    cr_assert_gt(filter.len, 0);
    cr_assert_leq(filter.len, BPF_MAXINSNS);
    /* It starts by loading seccomp_data.arch, to send other ABIs to the kill action. */
    cr_assert_eq(filter.filter[0].code, BPF_LD | BPF_W | BPF_ABS);
    cr_assert_eq(filter.filter[0].k, 4);
}

Test(sandbox_seccomp, free_is_null_safe_and_idempotent)
{
    struct sandbox_seccomp s = {0};
    struct err err = {0};

    sandbox_seccomp_free(NULL);
    sandbox_seccomp_free(&s);
    cr_assert_eq(sandbox_seccomp_compile(&s, &err), 0, "%s", err.message);
    sandbox_seccomp_free(&s);
    cr_assert_null(s.filter);
    cr_assert_eq(s.len, 0);
    sandbox_seccomp_free(&s);
}

Test(sandbox_seccomp, apply_refuses_an_empty_filter)
{
    struct sandbox_seccomp empty = {0};

    cr_assert_eq(sandbox_seccomp_apply(NULL), -EINVAL);
    cr_assert_eq(sandbox_seccomp_apply(&empty), -EINVAL);
}

static int
apply_without_nnp(const void *arg)
{
    (void)arg;
    return -sandbox_seccomp_apply(&filter);
}

Test(sandbox_seccomp, apply_needs_no_new_privs_when_unprivileged)
{
    pid_t pid;

    /* Criterion does not run .fini for a skipped test, so each skip tears down first. */
    if (geteuid() == 0 || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1) {
        teardown();
        cr_skip_test("root's CAP_SYS_ADMIN, or no_new_privs set already, would let it through");
    }
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(apply_without_nnp(NULL));
    int status = wait_child(pid);
    cr_assert(WIFEXITED(status));
    cr_assert_eq(WEXITSTATUS(status), EACCES);
}

/* ---------------------------------------------------------------------------------------------
 * Calls refused whatever their arguments
 */

struct refused {
    const char *name;
    long nr;
    long a[6];
    int want;
    /* The kernel's own answer to these arguments is never `want`, as root or not, whatever the
     * sysctls; rows whose answer depends on privilege (a capability check comes first) are
     * false and checked only under the filter. */
    bool kernel_differs;
};

#define P(s) ((long)(uintptr_t)(s))

static int
call_refused(const void *arg)
{
    const struct refused *r = arg;

    return result(syscall(r->nr, r->a[0], r->a[1], r->a[2], r->a[3], r->a[4], r->a[5]));
}

/* Runs every row in its own child, under the filter or not. Nothing here may do harm if the
 * filter let it through: paths do not exist, fds are -1, pointers NULL, flags invalid. */
static void
check_refused(bool filtered)
{
    const char *none = "/nonexistent/airlock-seccomp-test";
    const struct refused rows[] = {
        {"unshare(CLONE_NEWUSER)", SYS_unshare, {CLONE_NEWUSER}, EPERM, false},
        {"unshare(CLONE_NEWNS)", SYS_unshare, {CLONE_NEWNS}, EPERM, false},
        {"setns", SYS_setns, {-1, 0}, EPERM, true},
        {"mount", SYS_mount, {P("none"), P(none), P("tmpfs"), 0, 0}, EPERM, true},
        {"umount2", SYS_umount2, {P(none), 0}, EPERM, true},
        {"pivot_root", SYS_pivot_root, {P(none), P(none)}, EPERM, false},
        {"chroot", SYS_chroot, {P(none)}, EPERM, true},
        {"move_mount", SYS_move_mount, {-1, P(""), -1, P(""), 0}, EPERM, false},
        {"open_tree", SYS_open_tree, {-1, P(none), 0}, EPERM, true},
        {"fsopen", SYS_fsopen, {0, 0}, EPERM, false},
        {"fsconfig", SYS_fsconfig, {-1, 0, 0, 0, 0}, EPERM, true},
        {"fsmount", SYS_fsmount, {-1, 0, 0}, EPERM, false},
        {"fspick", SYS_fspick, {-1, P(none), 0}, EPERM, false},
        {"mount_setattr", SYS_mount_setattr, {-1, P(none), 0, 0, 0}, EPERM, true},
        {"open_tree_attr", __NR_open_tree_attr, {-1, P(none), 0, 0, 0}, EPERM, true},
        {"ptrace(PTRACE_TRACEME)", SYS_ptrace, {PTRACE_TRACEME, 0, 0, 0}, EPERM, false},
        {"process_vm_readv", SYS_process_vm_readv, {0, 0, 0, 0, 0, 0}, EPERM, true},
        {"process_vm_writev", SYS_process_vm_writev, {0, 0, 0, 0, 0, 0}, EPERM, true},
        {"process_madvise", SYS_process_madvise, {-1, 0, 0, 0, 0}, EPERM, true},
        {"pidfd_getfd", SYS_pidfd_getfd, {-1, 0, 0}, EPERM, true},
        {"bpf", SYS_bpf, {-1, 0, 0}, EPERM, false},
        {"keyctl", SYS_keyctl, {-1, 0, 0, 0, 0}, EPERM, true},
        {"add_key", SYS_add_key, {0, 0, 0, 0, 0}, EPERM, true},
        {"request_key", SYS_request_key, {0, 0, 0, 0}, EPERM, true},
        {"perf_event_open", SYS_perf_event_open, {0, 0, -1, -1, 0}, EPERM, true},
        {"userfaultfd", SYS_userfaultfd, {UFFD_USER_MODE_ONLY | 0x10000}, EPERM, true},
        {"io_uring_setup", SYS_io_uring_setup, {0, 0}, EPERM, false},
        {"io_uring_enter", SYS_io_uring_enter, {-1, 0, 0, 0, 0, 0}, EPERM, true},
        {"io_uring_register", SYS_io_uring_register, {-1, 0, 0, 0}, EPERM, true},
        {"kexec_load", SYS_kexec_load, {0, 0, 0, -1}, EPERM, false},
        {"kexec_file_load", SYS_kexec_file_load, {-1, -1, 0, 0, -1}, EPERM, false},
        {"init_module", SYS_init_module, {0, 0, 0}, EPERM, false},
        {"finit_module", SYS_finit_module, {-1, 0, 0}, EPERM, false},
        {"delete_module", SYS_delete_module, {0, 0}, EPERM, false},
        {"quotactl", SYS_quotactl, {0, 0, 0, 0}, EPERM, false},
        {"quotactl_fd", SYS_quotactl_fd, {-1, 0, 0, 0}, EPERM, true},
        {"swapon", SYS_swapon, {P(none), 0}, EPERM, false},
        {"swapoff", SYS_swapoff, {P(none)}, EPERM, false},
        {"reboot (bad magic)", SYS_reboot, {0, 0, 0, 0}, EPERM, false},
        {"acct", SYS_acct, {P(none)}, EPERM, false},
        {"settimeofday", SYS_settimeofday, {0, 0}, EPERM, false},
        {"clock_settime", SYS_clock_settime, {-1, 0}, EPERM, true},
        {"clock_adjtime", SYS_clock_adjtime, {-1, 0}, EPERM, true},
        {"adjtimex", SYS_adjtimex, {0}, EPERM, true},
        {"syslog", SYS_syslog, {-1, 0, 0}, EPERM, false},
        {"iopl(4)", SYS_iopl, {4}, EPERM, true},
        {"ioperm", SYS_ioperm, {0, 0, 0}, EPERM, true},
        {"name_to_handle_at", SYS_name_to_handle_at, {-1, P(none), 0, 0, 0}, EPERM, true},
        {"open_by_handle_at", SYS_open_by_handle_at, {-1, 0, 0}, EPERM, false},
        {"fanotify_init", SYS_fanotify_init, {~0L, 0}, EPERM, false},
        {"lookup_dcookie", SYS_lookup_dcookie, {0, 0, 0}, EPERM, false},
        {"nfsservctl", SYS_nfsservctl, {0, 0, 0}, EPERM, true},
        {"uselib", SYS_uselib, {0}, EPERM, true},
        {"ustat", SYS_ustat, {0, 0}, EPERM, true},
        {"sysfs", SYS_sysfs, {0xdead}, EPERM, true},
        {"_sysctl", SYS__sysctl, {0}, EPERM, true},
        /* vhangup is refused too but not called here: unfiltered, as root, it would hang up
         * the terminal the tests run on. */
    };
    int checked = 0;

    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        if (!filtered && !rows[i].kernel_differs)
            continue;
        int got = run_code(call_refused, &rows[i], filtered);
        if (filtered)
            cr_expect_eq(got, rows[i].want, "%s: want errno %d, got %d", rows[i].name, rows[i].want,
                         got);
        else
            cr_expect_neq(got, rows[i].want, "%s unfiltered: the kernel answers %d itself",
                          rows[i].name, got);
        checked++;
    }
    cr_assert_gt(checked, 20);
}

Test(sandbox_seccomp, refused_calls_get_eperm, .timeout = 60)
{
    check_refused(true);
}

Test(sandbox_seccomp, refused_calls_differ_without_the_filter, .timeout = 60)
{
    check_refused(false);
}

/* ---------------------------------------------------------------------------------------------
 * clone, clone3, fork, threads, exec
 */

/* clone(2) used like fork (no stack): if the kernel let it through, the new child leaves at
 * once and its parent reports success. */
static int
call_clone(const void *arg)
{
    unsigned long flags = *(const unsigned long *)arg;
    long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);

    if (pid == 0)
        _exit(0);
    if (pid < 0)
        return errno;
    waitpid((pid_t)pid, NULL, 0);
    return 0;
}

Test(sandbox_seccomp, clone_with_a_namespace_flag_gets_eperm)
{
    const struct {
        const char *name;
        unsigned long flag;
    } flags[] = {
        {"CLONE_NEWUSER", CLONE_NEWUSER},
        {"CLONE_NEWNS", CLONE_NEWNS},
        {"CLONE_NEWPID", CLONE_NEWPID},
        {"CLONE_NEWNET", CLONE_NEWNET},
        {"CLONE_NEWIPC", CLONE_NEWIPC},
        {"CLONE_NEWUTS", CLONE_NEWUTS},
        {"CLONE_NEWCGROUP", CLONE_NEWCGROUP},
        {"CLONE_NEWTIME", CLONE_NEWTIME},
        /* Upper bits, which the kernel ignores, do not hide a flag. */
        {"CLONE_NEWNET with bit 32", CLONE_NEWNET | (1UL << 32)},
        {"CLONE_NEWUSER|CLONE_NEWNS", CLONE_NEWUSER | CLONE_NEWNS},
    };

    for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
        int got = run_code(call_clone, &flags[i].flag, true);
        cr_expect_eq(got, EPERM, "clone(%s): got %d", flags[i].name, got);
    }
}

Test(sandbox_seccomp, clone_without_namespace_flags_works)
{
    unsigned long flags = 0;

    cr_assert_eq(run_code(call_clone, &flags, true), 0);
}

/* struct clone_args, version 0 (64 bytes); declared here because <linux/sched.h> and glibc's
 * <sched.h> clash. */
struct test_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static int
call_clone3(const void *arg)
{
    struct test_clone_args ca = {.exit_signal = SIGCHLD};
    long pid;

    (void)arg;
    pid = syscall(SYS_clone3, &ca, sizeof(ca));
    if (pid == 0)
        _exit(0);
    if (pid < 0)
        return errno;
    waitpid((pid_t)pid, NULL, 0);
    return 0;
}

Test(sandbox_seccomp, clone3_gets_enosys)
{
    cr_assert_eq(run_code(call_clone3, NULL, true), ENOSYS);
    /* Unfiltered it forks: the ENOSYS is the filter's. */
    cr_assert_eq(run_code(call_clone3, NULL, false), 0);
}

static int
call_fork(const void *arg)
{
    pid_t pid = fork();
    int status;

    (void)arg;
    if (pid == 0)
        _exit(42);
    if (pid < 0)
        return errno;
    if (waitpid(pid, &status, 0) < 0)
        return errno;
    return WIFEXITED(status) && WEXITSTATUS(status) == 42 ? 0 : CHILD_WRONG;
}

Test(sandbox_seccomp, fork_works)
{
    cr_assert_eq(run_code(call_fork, NULL, true), 0);
}

static void *
thread_main(void *arg)
{
    return arg;
}

/* glibc's pthread_create tries clone3 first and falls back to clone on ENOSYS. */
static int
call_thread(const void *arg)
{
    static int token;
    pthread_t t;
    void *ret = NULL;
    int r;

    (void)arg;
    r = pthread_create(&t, NULL, thread_main, &token);
    if (r != 0)
        return r;
    r = pthread_join(t, &ret);
    if (r != 0)
        return r;
    return ret == &token ? 0 : CHILD_WRONG;
}

Test(sandbox_seccomp, threads_work)
{
    cr_assert_eq(run_code(call_thread, NULL, true), 0);
}

static int
call_exec_true(const void *arg)
{
    char *const argv[] = {"true", NULL};
    char *const envp[] = {NULL};

    (void)arg;
    execve("/bin/true", argv, envp);
    return errno;
}

Test(sandbox_seccomp, exec_of_a_normal_program_works)
{
    int status = run_child(call_exec_true, NULL, true);

    cr_assert(WIFEXITED(status), "status 0x%x", status);
    cr_assert_eq(WEXITSTATUS(status), 0);
}

/* ---------------------------------------------------------------------------------------------
 * Other ABIs
 */

static int
call_int80(const void *arg)
{
    long ret = I386_NR_GETPID;

    (void)arg;
    /* The 32-bit entry: getpid is 20 there. r8-r11 are clobbered by the compat entry on some
     * kernels. */
    __asm__ volatile("int $0x80" : "+a"(ret) : : "r8", "r9", "r10", "r11", "memory", "cc");
    return ret == getpid() ? 0 : CHILD_WRONG;
}

Test(sandbox_seccomp, i386_syscall_kills_the_process)
{
    int plain = run_child(call_int80, NULL, false);
    int status = run_child(call_int80, NULL, true);

    cr_assert(WIFSIGNALED(status), "status 0x%x", status);
    /* Where the kernel runs i386 calls (the control child got its pid), the filter is what
     * killed: SIGSYS. Without ia32 emulation int $0x80 faults (SIGSEGV) before seccomp. */
    if (WIFEXITED(plain) && WEXITSTATUS(plain) == 0)
        cr_assert_eq(WTERMSIG(status), SIGSYS);
}

static int
call_x32(const void *arg)
{
    (void)arg;
    /* getpid through the x32 ABI: the x86_64 number with bit 30 set. */
    return result(syscall(X32_SYSCALL_BIT | SYS_getpid));
}

Test(sandbox_seccomp, x32_syscall_kills_the_process)
{
    int status = run_child(call_x32, NULL, true);

    cr_assert(WIFSIGNALED(status), "status 0x%x", status);
    cr_assert_eq(WTERMSIG(status), SIGSYS);
}

/* ---------------------------------------------------------------------------------------------
 * Sockets
 */

struct sock_call {
    long domain;
    int type;
    bool pair;
};

static int
call_socket(const void *arg)
{
    const struct sock_call *c = arg;
    int sv[2];

    if (c->pair)
        return result(syscall(SYS_socketpair, c->domain, c->type, 0, sv));
    return result(syscall(SYS_socket, c->domain, c->type, 0));
}

static int
socket_result(long domain, int type, bool pair, bool filtered)
{
    struct sock_call c = {domain, type, pair};

    return run_code(call_socket, &c, filtered);
}

Test(sandbox_seccomp, netlink_and_packet_sockets_are_refused)
{
    cr_assert_eq(socket_result(AF_NETLINK, SOCK_RAW, false, true), EAFNOSUPPORT);
    cr_assert_eq(socket_result(AF_PACKET, SOCK_RAW, false, true), EAFNOSUPPORT);
    cr_assert_eq(socket_result(AF_NETLINK, SOCK_RAW, true, true), EAFNOSUPPORT);
    /* Unfiltered, netlink opens for anyone: the refusal is the filter's. */
    cr_assert_eq(socket_result(AF_NETLINK, SOCK_RAW, false, false), 0);
}

Test(sandbox_seccomp, every_other_family_is_refused)
{
    for (long af = 0; af < AF_MAX + 3; af++) {
        if (af == AF_UNIX || af == AF_INET || af == AF_INET6)
            continue;
        int got = socket_result(af, SOCK_STREAM, false, true);
        cr_expect_eq(got, EAFNOSUPPORT, "socket(%ld): got %d", af, got);
    }
    /* The kernel reads the domain as an int; upper bits do not smuggle AF_INET through. */
    cr_assert_eq(socket_result((1L << 32) | AF_INET, SOCK_STREAM, false, true), EAFNOSUPPORT);
    cr_assert_eq(socket_result(-1L, SOCK_STREAM, false, true), EAFNOSUPPORT);
}

Test(sandbox_seccomp, unix_inet_inet6_sockets_work)
{
    cr_assert_eq(socket_result(AF_UNIX, SOCK_STREAM, false, true), 0);
    cr_assert_eq(socket_result(AF_UNIX, SOCK_DGRAM, false, true), 0);
    cr_assert_eq(socket_result(AF_INET, SOCK_STREAM, false, true), 0);
    cr_assert_eq(socket_result(AF_INET, SOCK_DGRAM, false, true), 0);
    cr_assert_eq(socket_result(AF_UNIX, SOCK_STREAM, true, true), 0);
    if (socket_result(AF_INET6, SOCK_STREAM, false, false) != 0) {
        teardown();
        cr_skip_test("no IPv6 in this kernel");
    }
    cr_assert_eq(socket_result(AF_INET6, SOCK_STREAM, false, true), 0);
}

/* ---------------------------------------------------------------------------------------------
 * ioctl
 */

static int
call_ioctl(const void *arg)
{
    unsigned long req = *(const unsigned long *)arg;
    char c = 'x';

    /* fd -1: without the filter the kernel says EBADF, never EPERM. */
    return result(syscall(SYS_ioctl, -1, req, &c));
}

static int
ioctl_result(unsigned long req, bool filtered)
{
    return run_code(call_ioctl, &req, filtered);
}

Test(sandbox_seccomp, terminal_injection_ioctls_are_refused)
{
    cr_assert_eq(ioctl_result(TIOCSTI, true), EPERM);
    cr_assert_eq(ioctl_result(TIOCLINUX, true), EPERM);
    /* The kernel reads the request as 32 bits: bit 32 set is still TIOCSTI. */
    cr_assert_eq(ioctl_result((1UL << 32) | TIOCSTI, true), EPERM);
    cr_assert_eq(ioctl_result(TIOCSTI, false), EBADF);
    /* Other requests reach the kernel. */
    cr_assert_eq(ioctl_result(TIOCGWINSZ, true), EBADF);
    cr_assert_eq(ioctl_result(FIONREAD, true), EBADF);
}

static int
call_fionread(const void *arg)
{
    int p[2], n = -1;

    (void)arg;
    if (pipe(p) < 0)
        return errno;
    if (write(p[1], "abc", 3) != 3)
        return CHILD_WRONG;
    if (ioctl(p[0], FIONREAD, &n) < 0)
        return errno;
    return n == 3 ? 0 : CHILD_WRONG;
}

Test(sandbox_seccomp, ordinary_ioctls_work)
{
    cr_assert_eq(run_code(call_fionread, NULL, true), 0);
}

/* ---------------------------------------------------------------------------------------------
 * personality
 */

static int
call_personality(const void *arg)
{
    return result(syscall(SYS_personality, *(const unsigned long *)arg));
}

static int
personality_result(unsigned long persona)
{
    return run_code(call_personality, &persona, true);
}

Test(sandbox_seccomp, personality_allows_query_and_per_linux_only)
{
    cr_assert_eq(personality_result(0xffffffffUL), 0);
    cr_assert_eq(personality_result(PER_LINUX), 0);
    /* The kernel reads 32 bits; these are the query and PER_LINUX for it. */
    cr_assert_eq(personality_result(~0UL), 0);
    cr_assert_eq(personality_result(1UL << 32), 0);

    cr_assert_eq(personality_result(PER_LINUX32), EPERM);
    cr_assert_eq(personality_result(ADDR_NO_RANDOMIZE), EPERM);
    cr_assert_eq(personality_result(READ_IMPLIES_EXEC), EPERM);
    cr_assert_eq(personality_result(PER_LINUX | UNAME26), EPERM);
    cr_assert_eq(personality_result(0xfffffffeUL), EPERM);
    cr_assert_eq(personality_result(0x7fffffffUL), EPERM);
    cr_assert_eq(personality_result(0x80000000UL), EPERM);
    cr_assert_eq(personality_result((1UL << 32) | PER_LINUX32), EPERM);
}

Test(sandbox_seccomp, personality_refuses_every_single_bit)
{
    for (unsigned i = 0; i < 32; i++) {
        unsigned long v = 1UL << i;
        int got = personality_result(v);
        cr_expect_eq(got, EPERM, "personality(0x%lx): got %d", v, got);
        got = personality_result(0xffffffffUL & ~v);
        cr_expect_eq(got, EPERM, "personality(0x%lx): got %d", 0xffffffffUL & ~v, got);
    }
}
