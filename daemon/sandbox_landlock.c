/*
 * sandbox_landlock: the job's Landlock domain (design.md "The sandbox", layer 3). It turns the
 * spec's path grants into a ruleset that handles every filesystem right the running kernel's ABI
 * knows, so that whatever the mount layer let through by mistake is still refused; with ABI 4 it
 * refuses TCP bind and every TCP connect but the one to the proxy port, with ABI 6 it scopes
 * abstract unix sockets and signals to the job. It runs between clone and exec: syscalls on the
 * caller's data only, no allocation, no stdio. It must never widen anything: a right the kernel
 * does not know is left out of the ruleset (the kernel would refuse the whole ruleset), never
 * granted in its place, and whether a job may run without Landlock was decided by the daemon.
 *
 * Debian 12 ships the 6.1 uapi header (ABI 2). What later ABIs added is defined here, and the
 * two structures that grew are declared here under our own names, so the code reads the same
 * whichever header the build machine has.
 */
#include "sandbox.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/syscall.h>

/* ABI 2 (5.19): moving or linking a file into another directory. */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
/* ABI 3 (6.2): truncate(2), ftruncate on a file opened with it, open with O_TRUNC. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
/* ABI 4 (6.7): TCP bind and connect, per port. */
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)
#endif
#ifndef LANDLOCK_ACCESS_NET_CONNECT_TCP
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
/* ABI 5 (6.10): ioctl on character and block devices. */
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
/* ABI 6 (6.12): scopes. */
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif

/* enum landlock_rule_type values: an enum cannot be tested with #ifndef, so ours are macros
 * under another name. */
#define LL_RULE_PATH_BENEATH 1
#define LL_RULE_NET_PORT 2

/* The highest ABI this file was written against. ABI 7 (6.15) added only audit-log flags to
 * landlock_restrict_self, no right, so 7 behaves as 6 here; a newer kernel is asked for what
 * ABI 7 knows, which it must accept. */
#define LL_ABI_MAX 7

/* struct landlock_ruleset_attr as of ABI 6. The kernel takes the size it is given and treats
 * missing trailing fields as zero, so an older kernel is handed only the fields it knows:
 * 8 bytes up to ABI 3, 16 for ABI 4 and 5, 24 from ABI 6. */
struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI 4 */
    uint64_t scoped;             /* ABI 6 */
};

/* struct landlock_path_beneath_attr: packed in the uapi, 12 bytes. */
struct ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

/* struct landlock_net_port_attr (ABI 4): the port in host byte order. */
struct ll_net_port_attr {
    uint64_t allowed_access;
    uint64_t port;
};

_Static_assert(sizeof(struct ll_ruleset_attr) == 24, "landlock_ruleset_attr layout");
_Static_assert(sizeof(struct ll_path_beneath_attr) == 12, "landlock_path_beneath_attr layout");
_Static_assert(sizeof(struct ll_net_port_attr) == 16, "landlock_net_port_attr layout");

/* ABI 1 rights. */
#define LL_FS_V1                                                                                   \
    (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |   \
     LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR |                                 \
     LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | \
     LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |   \
     LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM)

/* The rights a rule on a file (not a directory) may carry; the kernel refuses a file rule
 * with any other right with EINVAL. */
#define LL_FS_FILE                                                                                 \
    (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |   \
     LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV)

/* What each SANDBOX_LL_* grants, before masking with what the ABI handles. */
#define LL_GRANT_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define LL_GRANT_EXEC LANDLOCK_ACCESS_FS_EXECUTE
#define LL_GRANT_WRITE                                                                             \
    (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |                               \
     LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | \
     LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |   \
     LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_REFER |      \
     LANDLOCK_ACCESS_FS_TRUNCATE)
/* Device nodes are bound one by one as files: reading and writing them, their ioctls (a
 * terminal needs TCGETS), O_TRUNC (shells open /dev/null with it for "> /dev/null"), but no
 * creating or removing anything. */
#define LL_GRANT_DEV                                                                               \
    (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_IOCTL_DEV | \
     LANDLOCK_ACCESS_FS_TRUNCATE)

#define LL_KNOWN                                                                                   \
    (SANDBOX_LL_READ | SANDBOX_LL_WRITE | SANDBOX_LL_EXEC | SANDBOX_LL_DEV | SANDBOX_LL_LIST)

/* Every filesystem right the ABI knows: all of them are handled, so all are denied but where a
 * rule grants them. */
static uint64_t
ll_fs_handled(int abi)
{
    uint64_t fs = LL_FS_V1;

    if (abi >= 2)
        fs |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5)
        fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    return fs;
}

static uint64_t
ll_grant(unsigned access)
{
    uint64_t g = 0;

    if (access & SANDBOX_LL_READ)
        g |= LL_GRANT_READ;
    if (access & SANDBOX_LL_WRITE)
        g |= LL_GRANT_WRITE;
    if (access & SANDBOX_LL_EXEC)
        g |= LL_GRANT_EXEC;
    if (access & SANDBOX_LL_DEV)
        g |= LL_GRANT_DEV;
    if (access & SANDBOX_LL_LIST)
        g |= LANDLOCK_ACCESS_FS_READ_DIR;
    return g;
}

static int
ll_add_path(int ruleset, const struct sandbox_ll_rule *rule, uint64_t handled)
{
    struct ll_path_beneath_attr attr = {0};
    struct stat st;
    int fd, r = 0;

    if (!rule->path || rule->access == 0 || (rule->access & ~LL_KNOWN))
        return -EINVAL;
    fd = open(rule->path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    attr.allowed_access = ll_grant(rule->access) & handled;
    attr.parent_fd = fd;
    if (fstat(fd, &st) < 0)
        r = -errno;
    else if (!S_ISDIR(st.st_mode))
        attr.allowed_access &= LL_FS_FILE;
    /* Every SANDBOX_LL_* keeps at least one right after both masks; the test only spares the
     * kernel an empty rule (ENOMSG) should a future grant not. */
    if (r == 0 && attr.allowed_access != 0 &&
        syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &attr, 0) < 0)
        r = -errno;
    close(fd);
    return r;
}

static int
ll_add_port(int ruleset, uint16_t port)
{
    struct ll_net_port_attr attr = {
        .allowed_access = LANDLOCK_ACCESS_NET_CONNECT_TCP,
        .port = port,
    };

    if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_NET_PORT, &attr, 0) < 0)
        return -errno;
    return 0;
}

static int
ll_create(int abi)
{
    struct ll_ruleset_attr attr = {.handled_access_fs = ll_fs_handled(abi)};
    size_t size = offsetof(struct ll_ruleset_attr, handled_access_net);
    long fd;

    if (abi >= 4) {
        /* Bind is handled and never granted: a job has no business listening on TCP (its
         * netns is its own, but a listener is how it would serve the host if it ever shared
         * one). Connect is granted to one port only, by ll_add_port. */
        attr.handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP;
        size = offsetof(struct ll_ruleset_attr, scoped);
    }
    if (abi >= 6) {
        /* Abstract unix sockets have no path, so neither the mount namespace nor the rules
         * above see them (the job's network namespace separates their names already; the
         * scope holds should it ever share one). Signals are limited to processes in the
         * job's own domain, whatever pid or pidfd the job gets hold of. */
        attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
        size = sizeof(attr);
    }
    fd = syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    return fd < 0 ? -errno : (int)fd;
}

/* landlock_restrict_self refuses (EPERM) a process that has neither no_new_privs nor
 * CAP_SYS_ADMIN in its user namespace. This function sets neither: the caller sets
 * no_new_privs (prctl PR_SET_NO_NEW_PRIVS, which seccomp needs too) before it, or calls it while
 * it still holds the capabilities of the job's user namespace and sets no_new_privs before exec.
 * A connect_port of 0 grants no connect at all. */
int
sandbox_landlock_apply(int abi, const struct sandbox_ll_rule *rules, size_t n,
                       uint16_t connect_port)
{
    _cleanup_close_ int ruleset = -1;
    uint64_t handled;
    int r = 0;

    if (abi <= 0)
        return -EOPNOTSUPP;
    if (n > 0 && !rules)
        return -EINVAL;
    if (abi > LL_ABI_MAX)
        abi = LL_ABI_MAX;
    ruleset = ll_create(abi);
    if (ruleset < 0)
        return ruleset;
    handled = ll_fs_handled(abi);
    for (size_t i = 0; i < n && r == 0; i++)
        r = ll_add_path(ruleset, &rules[i], handled);
    if (r == 0 && abi >= 4 && connect_port != 0)
        r = ll_add_port(ruleset, connect_port);
    if (r == 0 && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
        r = -errno;
    return r;
}
