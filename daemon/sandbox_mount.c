/*
 * sandbox_mount: the job's filesystem. In the job's own mount namespace: everything made
 * private, a small tmpfs mounted on an empty host directory (spec->root_dir) becomes the new
 * root; the policy's paths are bound into it (read-only unless the policy says read-write, and
 * host symlinks such as /lib64 -> usr/lib64 recreated as symlinks), the workspace is bound at
 * /workspace, /tmp and /dev/shm are fresh tmpfs, /dev holds only null, zero, full, random,
 * urandom and tty, /proc is a fresh procfs of the job's pid namespace. Then pivot_root, the old
 * root detached, and the root tmpfs made read-only. Nothing else of the host exists inside: not
 * /home, not /root, not the daemon's state, not other jobs' workspaces.
 *
 * Runs between clone and exec: paths are built in stack buffers, no allocation.
 */
#include <fcntl.h>
#include <linux/openat2.h>
#include <linux/stat.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "sandbox_internal.h"

#define P SANDBOX_PATH_MAX

static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};

/* mkdir -p of path (absolute, inside the new root being built), mode 0755. */
static int
mkdir_p(const char *path)
{
    char buf[P];

    sandbox_cat(buf, sizeof(buf), path, "");
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Creates the parent directories of path and an empty file at path (a bind target). */
static int
touch_p(const char *path)
{
    char parent[P];
    char *slash;
    int fd;

    sandbox_cat(parent, sizeof(parent), path, "");
    slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        if (mkdir_p(parent) < 0)
            return -errno;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 && errno != EEXIST)
        return -errno;
    if (fd >= 0)
        close(fd);
    return 0;
}

/* Adds flags to a bind mount (recursively), keeping the flags the host locked on it. */
static int
set_attr(const char *target, uint64_t attrs, bool recursive)
{
    struct mount_attr a = {.attr_set = attrs};

    return (int)syscall(SYS_mount_setattr, AT_FDCWD, target, recursive ? AT_RECURSIVE : 0, &a,
                        sizeof(a));
}

/* Recreates a host symlink inside the new root (merged-/usr systems: /lib64 -> usr/lib64). */
static int
copy_symlink(const char *src, const char *dst, struct sandbox_fail *f)
{
    char target[P];
    char parent[P];
    ssize_t n = readlink(src, target, sizeof(target) - 1);
    char *slash;

    if (n < 0)
        return sandbox_fail(f, SANDBOX_STEP_MOUNT, errno, src);
    target[n] = '\0';
    sandbox_cat(parent, sizeof(parent), dst, "");
    slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        mkdir_p(parent);
    }
    if (symlink(target, dst) < 0 && errno != EEXIST)
        return sandbox_fail(f, SANDBOX_STEP_MOUNT, errno, src);
    return 0;
}

/* Binds host path src at dst (both absolute; dst inside the new root). */
static int
bind_one(const char *src, const char *dst, bool rw, bool is_dev, struct sandbox_fail *f)
{
    uint64_t attrs =
        MOUNT_ATTR_NOSUID | (rw ? 0 : MOUNT_ATTR_RDONLY) | (is_dev ? 0 : MOUNT_ATTR_NODEV);
    struct stat st;
    int r;

    if (lstat(src, &st) < 0)
        return errno == ENOENT ? 0 : sandbox_fail(f, SANDBOX_STEP_MOUNT, errno, src);
    if (S_ISLNK(st.st_mode))
        return copy_symlink(src, dst, f);
    r = S_ISDIR(st.st_mode) ? mkdir_p(dst) : touch_p(dst);
    if (r < 0)
        return sandbox_fail(f, SANDBOX_STEP_MOUNT, -r, src);
    if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
        return sandbox_fail(f, SANDBOX_STEP_MOUNT, errno, src);
    if (set_attr(dst, attrs, true) < 0)
        return sandbox_fail(f, SANDBOX_STEP_MOUNT, errno, src);
    return 0;
}

static int
mount_tmpfs(const char *dst, const char *opts, unsigned long flags, struct sandbox_fail *f)
{
    if (mkdir_p(dst) < 0 || mount("tmpfs", dst, "tmpfs", flags, opts) < 0)
        return sandbox_fail(f, SANDBOX_STEP_MOUNT, errno, dst);
    return 0;
}

static int
setup_dev(const char *root, struct sandbox_fail *f)
{
    static const char *const links[][2] = {{"/proc/self/fd", "fd"},
                                           {"/proc/self/fd/0", "stdin"},
                                           {"/proc/self/fd/1", "stdout"},
                                           {"/proc/self/fd/2", "stderr"}};
    char dev[P], dst[P], src[64];
    int r;

    sandbox_cat(dev, sizeof(dev), root, "/dev");
    if ((r = mount_tmpfs(dev, "mode=0755,size=64k", MS_NOSUID | MS_NOEXEC, f)) < 0)
        return r;
    for (size_t i = 0; i < ARRAY_SIZE(dev_nodes); i++) {
        sandbox_cat(src, sizeof(src), "/dev/", dev_nodes[i]);
        sandbox_cat(dst, sizeof(dst), dev, src + 4);
        if ((r = bind_one(src, dst, true, true, f)) < 0)
            return r;
    }
    for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
        sandbox_cat(dst, sizeof(dst), dev, "/");
        sandbox_cat(dst, sizeof(dst), dst, links[i][1]);
        if (symlink(links[i][0], dst) < 0)
            return sandbox_fail(f, SANDBOX_STEP_MOUNT, errno, dst);
    }
    sandbox_cat(dst, sizeof(dst), dev, "/shm");
    return mount_tmpfs(dst, "mode=1777,size=64m", MS_NOSUID | MS_NODEV | MS_NOEXEC, f);
}

/* /etc/hosts, so "localhost" resolves without DNS, unless the policy bound its own. */
static void
write_hosts(const char *root)
{
    static const char hosts[] = "127.0.0.1 localhost\n::1 localhost\n";
    char path[P];
    struct stat st;
    int fd;

    sandbox_cat(path, sizeof(path), root, "/etc");
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return;
    sandbox_cat(path, sizeof(path), root, "/etc/hosts");
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return;
    ssize_t w = write(fd, hosts, sizeof(hosts) - 1);
    (void)w;
    close(fd);
}

static int
bind_policy_paths(const struct sandbox_spec *s, const char *root, struct sandbox_fail *f)
{
    char dst[P];
    int r;

    for (uint32_t i = 0; i < s->nmounts; i++) {
        const char *path = sandbox_str(s, s->mounts[i].path);
        sandbox_cat(dst, sizeof(dst), root, path);
        if ((r = bind_one(path, dst, s->mounts[i].flags & SANDBOX_MNT_RW, false, f)) < 0)
            return r;
    }
    return 0;
}

/* Binds the file or directory at fd onto itself: read-only for a protected path, read-write to
 * pin a directory on the way to one (a mount point cannot be renamed or removed). */
static int
bind_self(int fd, bool ro)
{
    struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV};
    int m =
        (int)syscall(SYS_open_tree, fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    int r = 0;

    if (m < 0)
        return -errno;
    if (ro && syscall(SYS_mount_setattr, m, "", AT_EMPTY_PATH, &a, sizeof(a)) < 0)
        r = -errno;
    if (r == 0 && syscall(SYS_move_mount, m, "", fd, "",
                          MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        r = -errno;
    close(m);
    return r;
}

static int
open_beneath(int dirfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));

    return fd < 0 ? -errno : (int)fd;
}

/* Creates a missing component: a directory on the way (or for an entry "x/"), else an empty
 * file. Made as the job's uid, so on the host it belongs to the workspace's owner. */
static int
make_placeholder(int ws, const char *rel, size_t len, bool dir, const char *content)
{
    char parent[P], name[256];
    const char *slash = NULL;
    int pfd, r = 0;

    for (size_t i = 0; i < len; i++)
        if (rel[i] == '/')
            slash = rel + i;
    if (slash) {
        size_t plen = (size_t)(slash - rel);
        memcpy(parent, rel, plen);
        parent[plen] = '\0';
        sandbox_cat(name, sizeof(name), "", "");
        memcpy(name, slash + 1, len - plen - 1);
        name[len - plen - 1] = '\0';
        pfd = open_beneath(ws, parent, O_PATH | O_DIRECTORY);
    } else {
        memcpy(name, rel, len);
        name[len] = '\0';
        pfd = open_beneath(ws, ".", O_PATH | O_DIRECTORY);
    }
    if (pfd < 0)
        return pfd;
    if (dir) {
        if (mkdirat(pfd, name, 0755) < 0 && errno != EEXIST)
            r = -errno;
    } else {
        int fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        size_t n = strlen(content);
        if (fd < 0 && errno != EEXIST)
            r = -errno;
        if (fd >= 0 && n && write(fd, content, n) != (ssize_t)n)
            r = -EIO;
        if (fd >= 0)
            close(fd);
    }
    close(pfd);
    return r;
}

static bool
is_mount_root(int fd)
{
    struct statx stx;

    return syscall(SYS_statx, fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_TYPE, &stx) == 0 &&
           (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
           (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/* One protected path (relative to the workspace, "x/" a directory): each directory on the way
 * pinned, the path itself bound read-only. A missing component is created; a symlink anywhere
 * fails the job (fail closed: nothing is bound through it). Each prefix is opened again from
 * the workspace's top, so it is looked up through the mounts made for the previous one. */
static int
protect_one(const char *ws_dst, const char *p, const char *content, struct sandbox_fail *f)
{
    char rel[P], what[P];
    size_t len = strlen(p);
    bool want_dir = len && p[len - 1] == '/';
    int r = 0;

    sandbox_cat(rel, sizeof(rel), p, "");
    if (want_dir)
        rel[--len] = '\0';
    sandbox_cat(what, sizeof(what), "/workspace/", rel);
    for (size_t end = 0; end <= len && r == 0; end++) {
        if (end < len && rel[end] != '/')
            continue;
        bool last = end == len;
        char prefix[P];
        struct stat st;
        int ws = open(ws_dst, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (ws < 0)
            return sandbox_fail(f, SANDBOX_STEP_MOUNT, errno, what);
        memcpy(prefix, rel, end);
        prefix[end] = '\0';
        int fd = open_beneath(ws, prefix, O_PATH);
        if (fd == -ENOENT &&
            (r = make_placeholder(ws, rel, end, !last || want_dir, last ? content : "")) == 0)
            fd = open_beneath(ws, prefix, O_PATH);
        close(ws);
        if (r < 0 || fd < 0)
            return sandbox_fail(f, SANDBOX_STEP_MOUNT, r < 0 ? -r : -fd, what);
        if (fstat(fd, &st) < 0 || S_ISLNK(st.st_mode)) {
            close(fd);
            return sandbox_fail(f, SANDBOX_STEP_MOUNT, ELOOP, what);
        }
        /* A file on the way (a worktree's ".git" file) is itself protected: nothing past it. */
        bool stop = !last && !S_ISDIR(st.st_mode);
        if (last || stop)
            r = bind_self(fd, true);
        else if (!is_mount_root(fd))
            r = bind_self(fd, false);
        close(fd);
        if (r < 0)
            return sandbox_fail(f, SANDBOX_STEP_MOUNT, -r, what);
        if (stop)
            break;
    }
    return 0;
}

static int
protect_paths(const struct sandbox_spec *s, const char *ws_dst, struct sandbox_fail *f)
{
    int r;

    for (uint32_t i = 0; i < s->nprotected; i++)
        if ((r = protect_one(ws_dst, sandbox_str(s, s->protected_paths[i]),
                             sandbox_str(s, s->protected_placeholders[i]), f)) < 0)
            return r;
    return 0;
}

/* "/proc/self/fd/N" without stdio: binding from it needs no traversal of the fd's path. */
static void
fd_path(int fd, char *buf, size_t n)
{
    char num[24];

    sandbox_utoa((uint64_t)fd, num, sizeof(num));
    sandbox_cat(buf, n, "/proc/self/fd/", num);
}

static int
pivot(const char *root, struct sandbox_fail *f)
{
    if (chdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
        return sandbox_fail(f, SANDBOX_STEP_PIVOT, errno, root);
    /* The old root now sits under the new one at "."; detach it so nothing of it stays. */
    if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
        return sandbox_fail(f, SANDBOX_STEP_PIVOT, errno, "umount old root");
    if (set_attr("/", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, false) < 0)
        return sandbox_fail(f, SANDBOX_STEP_PIVOT, errno, "remount / read-only");
    return 0;
}

int
sandbox_mount_setup(const struct sandbox_spec *s, int ws_fd, struct sandbox_fail *f)
{
    char ws_src[32];
    const char *root = sandbox_str(s, s->root_dir);
    char dst[P], opts[64], num[24];
    int r;

    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return sandbox_fail(f, SANDBOX_STEP_MOUNT, errno, "make / private");
    if ((r = mount_tmpfs(root, "mode=0755,size=16m", MS_NOSUID | MS_NODEV, f)) < 0)
        return r;
    if ((r = bind_policy_paths(s, root, f)) < 0)
        return r;
    sandbox_cat(dst, sizeof(dst), root, "/workspace");
    /* The workspace from the spawner's fd: the magic link is followed by mount(2) itself. An
     * idmapped workspace is a detached mount already: it is moved into place. */
    fd_path(ws_fd, ws_src, sizeof(ws_src));
    if (mkdir_p(dst) < 0 ||
        (s->idmap ? syscall(SYS_move_mount, ws_fd, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH)
                  : mount(ws_src, dst, NULL, MS_BIND | MS_REC, NULL)) < 0 ||
        set_attr(dst, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, true) < 0)
        return sandbox_fail(f, SANDBOX_STEP_MOUNT, errno, "/workspace");
    if ((r = protect_paths(s, dst, f)) < 0)
        return r;
    sandbox_cat(dst, sizeof(dst), root, "/tmp");
    sandbox_utoa(s->tmp_bytes / 1024 ? s->tmp_bytes / 1024 : 65536, num, sizeof(num));
    sandbox_cat(opts, sizeof(opts), "mode=1777,size=", num);
    sandbox_cat(opts, sizeof(opts), opts, "k");
    if ((r = mount_tmpfs(dst, opts, MS_NOSUID | MS_NODEV, f)) < 0)
        return r;
    if ((r = setup_dev(root, f)) < 0)
        return r;
    sandbox_cat(dst, sizeof(dst), root, "/proc");
    if (mkdir_p(dst) < 0 || mount("proc", dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        return sandbox_fail(f, SANDBOX_STEP_MOUNT, errno, "/proc");
    write_hosts(root);
    return pivot(root, f);
}
