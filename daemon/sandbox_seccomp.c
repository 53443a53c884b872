/*
 * sandbox_seccomp: the job's seccomp filter (design.md "The sandbox", layer 4). It owns the list
 * of refused system calls and turns it into a BPF program once, with libseccomp, in the spawner
 * before any job is cloned; a job's child then loads that program with the raw seccomp(2) call,
 * which allocates nothing. The filter is a deny list on top of SCMP_ACT_ALLOW: it refuses what
 * lets a job leave or widen its sandbox (namespaces, mounts, tracing, kernel keyrings, eBPF,
 * modules) and the interfaces with a long record of kernel bugs that a job has no use for
 * (userfaultfd, io_uring, perf). It must never decide per job: every job gets the same filter,
 * and what a policy allows is enforced by the other layers.
 */
#include "sandbox.h"

#include <linux/personality.h>
#include <linux/seccomp.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

/* open_tree_attr(2) came with Linux 6.15, after Debian 12's headers and libseccomp 2.5.4, so
 * neither knows its name; the number is the same on every architecture ("common" in the
 * kernel's syscall tables). libseccomp takes a raw number for the native architecture. */
#ifndef __NR_open_tree_attr
#define __NR_open_tree_attr 467
#endif

/* clone's low byte is the exit signal, not a flag; CLONE_NEWTIME (0x80) lives there and is
 * only meaningful to clone3 and unshare. Older headers lack it. */
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

struct ss_syscall {
    const char *name;
    int nr;
};

#define SS_SYS(n)                                                                                  \
    {                                                                                              \
#n, SCMP_SYS(n)                                                                            \
    }

/* Refused with EPERM, whatever the arguments. EPERM (not ENOSYS) because these calls exist and
 * a program that probes for them should learn "not allowed here", not "old kernel". */
static const struct ss_syscall ss_refused[] = {
    /* New namespaces and joining others': the job's namespaces are made for it before exec, and
     * a user namespace of its own would give it capabilities over the next ones it creates
     * (mount and netfilter code reachable by an unprivileged process). */
    SS_SYS(unshare),
    SS_SYS(setns),
    /* Mounts, old and new API: the root the sandbox built is read-only and must stay the only
     * view of the host. chroot and pivot_root would let a process holding a directory fd walk
     * out of a nested root. */
    SS_SYS(mount),
    SS_SYS(umount2),
    SS_SYS(pivot_root),
    SS_SYS(chroot),
    SS_SYS(move_mount),
    SS_SYS(open_tree),
    SS_SYS(fsopen),
    SS_SYS(fsconfig),
    SS_SYS(fsmount),
    SS_SYS(fspick),
    SS_SYS(mount_setattr),
    {"open_tree_attr", __NR_open_tree_attr},
    /* Reading or writing another process's memory or fds: even inside the job's pid namespace,
     * one job process must not become a debugger of another, and ptrace has been the way round
     * seccomp itself on old kernels. */
    SS_SYS(ptrace),
    SS_SYS(process_vm_readv),
    SS_SYS(process_vm_writev),
    SS_SYS(process_madvise),
    SS_SYS(pidfd_getfd),
    /* Kernel attack surface a job never needs: eBPF, the keyrings (shared per user on the host
     * and not namespaced), perf events, userfaultfd (the tool of choice to widen kernel race
     * windows) and io_uring (which performs I/O that seccomp never sees). */
    SS_SYS(bpf),
    SS_SYS(keyctl),
    SS_SYS(add_key),
    SS_SYS(request_key),
    SS_SYS(perf_event_open),
    SS_SYS(userfaultfd),
    SS_SYS(io_uring_setup),
    SS_SYS(io_uring_enter),
    SS_SYS(io_uring_register),
    /* The machine's own state: kernels, modules, swap, quotas, clocks, the kernel log, process
     * accounting, reboot. A job's capabilities are gone already; this holds if one is left. */
    SS_SYS(kexec_load),
    SS_SYS(kexec_file_load),
    SS_SYS(init_module),
    SS_SYS(finit_module),
    SS_SYS(delete_module),
    SS_SYS(quotactl),
    SS_SYS(quotactl_fd),
    SS_SYS(swapon),
    SS_SYS(swapoff),
    SS_SYS(reboot),
    SS_SYS(acct),
    SS_SYS(settimeofday),
    SS_SYS(clock_settime),
    SS_SYS(clock_adjtime),
    SS_SYS(adjtimex),
    SS_SYS(syslog),
    SS_SYS(iopl),
    SS_SYS(ioperm),
    /* File handles bypass the path walk (and so the mount namespace and Landlock's view);
     * fanotify watches whole mounts; vhangup hangs up the terminal under another process. */
    SS_SYS(name_to_handle_at),
    SS_SYS(open_by_handle_at),
    SS_SYS(fanotify_init),
    SS_SYS(vhangup),
    /* Obsolete calls with no users left, each with a past of bugs: refusing costs nothing. */
    SS_SYS(lookup_dcookie),
    SS_SYS(nfsservctl),
    SS_SYS(uselib),
    SS_SYS(ustat),
    SS_SYS(sysfs),
    SS_SYS(_sysctl),
};

/* The namespace flags clone(2) must not carry: the same reasons as unshare above. */
static const uint64_t ss_clone_ns_flags[] = {
    CLONE_NEWUSER, CLONE_NEWNS,  CLONE_NEWPID,    CLONE_NEWNET,
    CLONE_NEWIPC,  CLONE_NEWUTS, CLONE_NEWCGROUP, CLONE_NEWTIME,
};

static inline void
ss_releasep(scmp_filter_ctx *ctx)
{
    if (*ctx)
        seccomp_release(*ctx);
}

static int
ss_add(scmp_filter_ctx ctx, uint32_t action, int nr, const char *name, unsigned n,
       const struct scmp_arg_cmp *cmp, struct err *err)
{
    int r = seccomp_rule_add_exact_array(ctx, action, nr, n, cmp);

    if (r < 0)
        return err_set(err, -r, "internal", "seccomp: rule for %s: %s", name, strerror(-r));
    return 0;
}

static int
ss_add_refused(scmp_filter_ctx ctx, struct err *err)
{
    for (size_t i = 0; i < ARRAY_SIZE(ss_refused); i++) {
        int r =
            ss_add(ctx, SCMP_ACT_ERRNO(EPERM), ss_refused[i].nr, ss_refused[i].name, 0, NULL, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* clone(2): refused when its flags carry any namespace flag, one rule per flag because
 * libseccomp ORs rules and ANDs the comparisons inside one. The test is on single bits, so the
 * upper 32 bits (which the kernel ignores) cannot hide a flag. clone3(2) passes its flags in
 * memory, where a seccomp filter cannot look, so it is refused as a whole with ENOSYS: glibc
 * (pthread_create, posix_spawn, fork) and other runtimes then fall back to clone(2), which the
 * rules above can check. EPERM would not do; callers take it as final and fail. */
static int
ss_add_clone(scmp_filter_ctx ctx, struct err *err)
{
    for (size_t i = 0; i < ARRAY_SIZE(ss_clone_ns_flags); i++) {
        uint64_t f = ss_clone_ns_flags[i];
        struct scmp_arg_cmp cmp = SCMP_A0(SCMP_CMP_MASKED_EQ, f, f);
        int r = ss_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), "clone", 1, &cmp, err);
        if (r < 0)
            return r;
    }
    return ss_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), "clone3", 0, NULL, err);
}

/* socket(2) and socketpair(2): only AF_UNIX, AF_INET and AF_INET6. Everything else, netlink
 * (the route, netfilter and other families that talk to kernel subsystems), packet, vsock,
 * the rarely built protocol families that keep turning up in CVEs, is refused with
 * EAFNOSUPPORT, which programs already handle as "no such family here". libseccomp cannot put
 * two comparisons on one argument in a rule, so the refused set is written as "above AF_INET6"
 * plus one equality rule for each value below it that is not allowed. The comparison is on all
 * 64 bits: a domain with any upper bit set is above AF_INET6 and refused, so garbage in the
 * upper half (which the kernel would drop) cannot smuggle a family through. */
static int
ss_add_socket(scmp_filter_ctx ctx, int nr, const char *name, struct err *err)
{
    const uint32_t act = SCMP_ACT_ERRNO(EAFNOSUPPORT);
    struct scmp_arg_cmp above = SCMP_A0(SCMP_CMP_GT, AF_INET6);
    int r = ss_add(ctx, act, nr, name, 1, &above, err);

    for (uint64_t af = 0; r == 0 && af < AF_INET6; af++) {
        if (af == AF_UNIX || af == AF_INET)
            continue;
        struct scmp_arg_cmp eq = SCMP_A0(SCMP_CMP_EQ, af);
        r = ss_add(ctx, act, nr, name, 1, &eq, err);
    }
    return r;
}

/* ioctl(2): TIOCSTI pushes bytes into a terminal's input queue and TIOCLINUX can paste the
 * console selection; on a terminal shared with the daemon's operator either runs commands
 * outside the sandbox. The kernel reads the request as a 32-bit int, so the comparison masks
 * the upper half: otherwise 0x100005412 would pass the filter and still be TIOCSTI (the hole
 * of CVE-2019-10063 in flatpak). */
static int
ss_add_ioctl(scmp_filter_ctx ctx, struct err *err)
{
    static const uint64_t req[] = {TIOCSTI, TIOCLINUX};

    for (size_t i = 0; i < ARRAY_SIZE(req); i++) {
        struct scmp_arg_cmp cmp = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, req[i]);
        int r = ss_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), "ioctl", 1, &cmp, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* personality(2): allowed only as the query (0xffffffff) and to set PER_LINUX (0). Other
 * personas turn off address-space randomisation (ADDR_NO_RANDOMIZE) or make data executable
 * (READ_IMPLIES_EXEC) for what the job execs next, or claim to be another kernel. The kernel
 * reads the argument as 32 bits, so only those are compared.
 *
 * "Neither all zeros nor all ones" needs two comparisons on one argument, which libseccomp
 * refuses, so it is spelled with single masked comparisons: a 32-bit value is neither 0 nor
 * 0xffffffff exactly when, going round its bits cyclically, some bit i is 1 and bit i+1 is 0.
 * That is 32 rules, one per i, and 32 is the fewest that can do it (each value with a single
 * 0 bit needs a rule of its own). */
static int
ss_add_personality(scmp_filter_ctx ctx, struct err *err)
{
    for (unsigned i = 0; i < 32; i++) {
        uint64_t one = 1ull << i;
        uint64_t next = 1ull << ((i + 1) % 32);
        struct scmp_arg_cmp cmp = SCMP_A0(SCMP_CMP_MASKED_EQ, one | next, one);
        int r =
            ss_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), "personality", 1, &cmp, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Set-user-ID and set-group-ID bits: a job's files can outlive it on the host (a persistent
 * workspace, an adopted directory), where a setuid file would run with its owner's rights for
 * anyone who executes it -- inside, every mount is nosuid, but the host's are not. So no mode
 * with S_ISUID or S_ISGID is set by chmod, fchmod, fchmodat, or a file creation (open, openat,
 * creat with O_CREAT or O_TMPFILE). fchmodat2 (Linux 6.6) and openat2 carry the mode where a
 * filter cannot look (libseccomp 2.5.4 does not know the first; the second passes a struct): they
 * get ENOSYS, and libc falls back to fchmodat and openat. S_ISGID on a directory is left alone
 * (mkdir): it only makes new files inherit the directory's group. */
#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452
#endif
static int
ss_add_setid(scmp_filter_ctx ctx, struct err *err)
{
    const uint32_t act = SCMP_ACT_ERRNO(EPERM);
    struct scmp_arg_cmp m1[] = {SCMP_A1(SCMP_CMP_MASKED_EQ, S_ISUID, S_ISUID),
                                SCMP_A1(SCMP_CMP_MASKED_EQ, S_ISGID, S_ISGID)};
    struct scmp_arg_cmp m2[] = {SCMP_A2(SCMP_CMP_MASKED_EQ, S_ISUID, S_ISUID),
                                SCMP_A2(SCMP_CMP_MASKED_EQ, S_ISGID, S_ISGID)};
    struct scmp_arg_cmp m3[] = {SCMP_A3(SCMP_CMP_MASKED_EQ, S_ISUID, S_ISUID),
                                SCMP_A3(SCMP_CMP_MASKED_EQ, S_ISGID, S_ISGID)};
    /* The mode of open/openat counts only with O_CREAT or O_TMPFILE (else it is whatever is in
     * the register); __O_TMPFILE is O_TMPFILE without O_DIRECTORY. */
    const scmp_datum_t creates[] = {O_CREAT, __O_TMPFILE};
    int r = 0;

    for (size_t i = 0; i < 2 && r == 0; i++) {
        r = ss_add(ctx, act, SCMP_SYS(chmod), "chmod", 1, &m1[i], err);
        if (r == 0)
            r = ss_add(ctx, act, SCMP_SYS(fchmod), "fchmod", 1, &m1[i], err);
        if (r == 0)
            r = ss_add(ctx, act, SCMP_SYS(fchmodat), "fchmodat", 1, &m2[i], err);
        if (r == 0)
            r = ss_add(ctx, act, SCMP_SYS(creat), "creat", 1, &m1[i], err);
        for (size_t c = 0; c < ARRAY_SIZE(creates) && r == 0; c++) {
            struct scmp_arg_cmp open_cmp[] = {SCMP_A1(SCMP_CMP_MASKED_EQ, creates[c], creates[c]),
                                              m2[i]};
            struct scmp_arg_cmp openat_cmp[] = {SCMP_A2(SCMP_CMP_MASKED_EQ, creates[c], creates[c]),
                                                m3[i]};
            r = ss_add(ctx, act, SCMP_SYS(open), "open", 2, open_cmp, err);
            if (r == 0)
                r = ss_add(ctx, act, SCMP_SYS(openat), "openat", 2, openat_cmp, err);
        }
    }
    if (r == 0)
        r = ss_add(ctx, SCMP_ACT_ERRNO(ENOSYS), __NR_fchmodat2, "fchmodat2", 0, NULL, err);
    if (r == 0)
        r = ss_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), "openat2", 0, NULL, err);
    return r;
}

/* libseccomp 2.5.4 can export only to an fd, so the program goes through a memfd and is read
 * back. The size is checked against what seccomp(2) accepts (BPF_MAXINSNS) before any copy. */
static int
ss_export(scmp_filter_ctx ctx, struct sandbox_seccomp *ret, struct err *err)
{
    _cleanup_close_ int fd = memfd_create("airlock-seccomp", MFD_CLOEXEC);
    _cleanup_free_ struct sock_filter *prog = NULL;
    struct stat st;
    size_t size, done = 0;
    int r;

    if (fd < 0)
        return err_set(err, errno, "internal", "seccomp: memfd_create: %m");
    r = seccomp_export_bpf(ctx, fd);
    if (r < 0)
        return err_set(err, -r, "internal", "seccomp: export: %s", strerror(-r));
    if (fstat(fd, &st) < 0)
        return err_set(err, errno, "internal", "seccomp: fstat: %m");
    size = (size_t)st.st_size;
    if (size == 0 || size % sizeof(struct sock_filter) != 0 ||
        size / sizeof(struct sock_filter) > BPF_MAXINSNS)
        return err_set(err, E2BIG, "internal", "seccomp: exported program of %zu bytes", size);
    prog = malloc(size);
    if (!prog)
        return err_set(err, ENOMEM, "internal", "seccomp: out of memory");
    while (done < size) {
        ssize_t n = pread(fd, (char *)prog + done, size - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return err_set(err, n < 0 ? errno : EIO, "internal", "seccomp: read back: %s",
                           n < 0 ? strerror(errno) : "short read");
        done += (size_t)n;
    }
    ret->len = (unsigned short)(size / sizeof(struct sock_filter));
    ret->filter = TAKE_PTR(prog);
    return 0;
}

static int
ss_init(scmp_filter_ctx *ret, struct err *err)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    int r;

    if (!ctx)
        return err_set(err, ENOMEM, "internal", "seccomp: seccomp_init failed");
    *ret = ctx;
    /* Only the native architecture is in the filter (seccomp_init adds it and nothing else).
     * Another ABI numbers its calls differently, so the rules would miss them: an i386 call
     * (int $0x80) arrives as AUDIT_ARCH_I386, an x32 call as x86_64 with bit 30 set in the
     * number, which libseccomp checks for in an x86_64 filter. Both kill the whole process. */
    r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (r < 0)
        return err_set(err, -r, "internal", "seccomp: bad-arch action: %s", strerror(-r));
    /* no_new_privs is the child's own step (sandbox.c, just before the filter), and the filter
     * is loaded with seccomp(2), not seccomp_load; say so, in case it ever is. */
    r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    if (r < 0)
        return err_set(err, -r, "internal", "seccomp: no_new_privs attribute: %s", strerror(-r));
    return 0;
}

int
sandbox_seccomp_compile(struct sandbox_seccomp *ret, struct err *err)
{
    _cleanup_(ss_releasep) scmp_filter_ctx ctx = NULL;
    int r;

    r = ss_init(&ctx, err);
    if (r == 0)
        r = ss_add_refused(ctx, err);
    if (r == 0)
        r = ss_add_clone(ctx, err);
    if (r == 0)
        r = ss_add_socket(ctx, SCMP_SYS(socket), "socket", err);
    if (r == 0)
        r = ss_add_socket(ctx, SCMP_SYS(socketpair), "socketpair", err);
    if (r == 0)
        r = ss_add_ioctl(ctx, err);
    if (r == 0)
        r = ss_add_personality(ctx, err);
    if (r == 0)
        r = ss_add_setid(ctx, err);
    if (r == 0)
        r = ss_export(ctx, ret, err);
    return r;
}

void
sandbox_seccomp_free(struct sandbox_seccomp *s)
{
    if (!s)
        return;
    free(s->filter);
    s->filter = NULL;
    s->len = 0;
}

int
sandbox_seccomp_apply(const struct sandbox_seccomp *s)
{
    struct sock_fprog prog;

    if (!s || !s->filter || s->len == 0)
        return -EINVAL;
    prog.len = s->len;
    prog.filter = s->filter;
    /* No SECCOMP_FILTER_FLAG_TSYNC: the caller is the job's only thread (between clone and
     * exec), and the filter is inherited across fork and kept across exec. */
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        return -errno;
    return 0;
}
