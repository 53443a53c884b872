/*
 * jobs_fs: see jobs_fs.h. Recursion is bounded by FS_DEPTH_MAX; each level holds one directory
 * fd, so a deep tree planted by a job cannot exhaust the daemon's fds or stack.
 */
#include "jobs_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/syscall.h>

#define FS_DEPTH_MAX 64
#define FS_ENTRY_MIN 4096

int
fs_open_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
        .mode = (flags & O_CREAT) ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    long fd;

    do
        fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    while (fd < 0 && errno == EAGAIN);
    if (fd < 0 && errno == ENOTDIR && (flags & O_DIRECTORY)) {
        /* A symlink as the last component fails O_DIRECTORY before RESOLVE_NO_SYMLINKS is
         * checked: say what it is, so a symlink is refused as one everywhere. */
        struct stat st;
        how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
        how.mode = 0;
        long p = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
        bool link = p >= 0 && fstat((int)p, &st) == 0 && S_ISLNK(st.st_mode);
        if (p >= 0)
            close((int)p);
        errno = link ? ELOOP : ENOTDIR;
    }
    return fd < 0 ? -errno : (int)fd;
}

int
fs_mkdirs(int dirfd, const char *path, uid_t uid, gid_t gid)
{
    char buf[4096];
    char *seg, *save = NULL;
    int cur, next;

    if (str_copy(buf, sizeof(buf), path) < 0)
        return -ENAMETOOLONG;
    /* One component at a time from a directory fd, never following a symlink: whatever a job
     * planted in a workspace, a directory is only ever made beneath it. */
    cur = openat(dirfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0)
        return -errno;
    for (seg = strtok_r(buf, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
        if (strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0) {
            close(cur);
            return -EINVAL;
        }
        if (mkdirat(cur, seg, 0755) == 0) {
            if (fchmodat(cur, seg, 0755, 0) < 0 ||
                (uid != (uid_t)-1 && fchownat(cur, seg, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)) {
                int e = -errno;
                close(cur);
                return e;
            }
        } else if (errno != EEXIST) {
            int e = -errno;
            close(cur);
            return e;
        }
        next = openat(cur, seg, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            struct stat st;
            int e = errno;
            /* A symlink where a directory should be: refused as one, like openat2 would. */
            if (e == ENOTDIR && fstatat(cur, seg, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(st.st_mode))
                e = ELOOP;
            close(cur);
            return -e;
        }
        close(cur);
        cur = next;
    }
    close(cur);
    return 0;
}

int
fs_open_parent(int dirfd, const char *path, bool create, uid_t uid, gid_t gid,
               const char **ret_name)
{
    char parent[4096];
    const char *slash = strrchr(path, '/');
    int r;

    *ret_name = slash ? slash + 1 : path;
    if (!slash)
        return fs_open_beneath(dirfd, ".", O_RDONLY | O_DIRECTORY, 0);
    if ((size_t)(slash - path) >= sizeof(parent))
        return -ENAMETOOLONG;
    memcpy(parent, path, (size_t)(slash - path));
    parent[slash - path] = '\0';
    if (create && (r = fs_mkdirs(dirfd, parent, uid, gid)) < 0)
        return r;
    return fs_open_beneath(dirfd, parent, O_RDONLY | O_DIRECTORY, 0);
}

static int
write_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int
fs_temp_create(int pfd, char *name, size_t n)
{
    for (int tries = 0; tries < 16; tries++) {
        uint64_t rnd = 0;
        if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
            rnd = (uint64_t)time_mono_us() ^ ((uint64_t)getpid() << 32);
        snprintf(name, n, ".airlock-upload-%016llx", (unsigned long long)rnd);
        int fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0 || errno != EEXIST)
            return fd < 0 ? -errno : fd;
    }
    return -EEXIST;
}

static int
write_one(int dirfd, const char *path, json_t *text, uid_t uid, gid_t gid, bool replace)
{
    char tmp[64];
    const char *name;
    int pfd, fd, r;

    pfd = fs_open_parent(dirfd, path, true, uid, gid, &name);
    if (pfd < 0)
        return pfd;
    /* A replacement is written aside and renamed over the name: a hard link or a file a job
     * holds open is never written through, and a reader never sees half a file. */
    fd = replace ? fs_temp_create(pfd, tmp, sizeof(tmp))
                 : fs_open_beneath(pfd, name, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        close(pfd);
        return fd;
    }
    r = write_all(fd, json_string_value(text), json_string_length(text));
    /* The daemon's umask is 077; a job's files are as a shell would make them. */
    if (r == 0 && fchmod(fd, 0644) < 0)
        r = -errno;
    if (r == 0 && uid != (uid_t)-1 && fchown(fd, uid, gid) < 0)
        r = -errno;
    close(fd);
    if (replace) {
        if (r == 0 && renameat(pfd, tmp, pfd, name) < 0)
            r = -errno;
        if (r < 0)
            unlinkat(pfd, tmp, 0);
    }
    close(pfd);
    return r;
}

int
fs_write_files(int dirfd, json_t *files, uid_t uid, gid_t gid, bool replace, struct err *err)
{
    const char *path;
    json_t *text;
    int r;

    json_object_foreach(files, path, text)
    {
        if ((r = write_one(dirfd, path, text, uid, gid, replace)) < 0)
            return err_set(
                err, -r, "bad_request", "files.%.128s: cannot write: %s%s", path, strerror(-r),
                r == -EEXIST || r == -ENOTDIR ? " (another entry of files already uses this path)"
                                              : "");
    }
    return 0;
}

static int remove_children(int fd, int depth);

static int
remove_entry(int dirfd, const char *name, int depth)
{
    int fd;

    if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -errno;
    if (depth >= FS_DEPTH_MAX)
        return -ELOOP;
    fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = remove_children(fd, depth + 1);
    close(fd);
    if (r == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        r = -errno;
    return r;
}

static int
remove_children(int fd, int depth)
{
    /* A fresh open, not dup(): a dup shares the directory offset, and the next scan of the
     * same fd would start at its end. */
    int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    struct dirent *de;
    int r = 0;

    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        return -errno;
    }
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        int e = remove_entry(fd, de->d_name, depth);
        if (e < 0 && r == 0)
            r = e;
    }
    closedir(d);
    return r;
}

int
fs_remove_tree(int dirfd, const char *name)
{
    return remove_entry(dirfd, name, 0);
}

static uint64_t
usage_dir(int fd, int depth, uint64_t limit, uint64_t sum)
{
    /* A fresh open, not dup(): a dup shares the directory offset, and the next scan of the
     * same fd would start at its end. */
    int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    struct dirent *de;

    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        return sum;
    }
    while ((de = readdir(d)) && sum <= limit) {
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        /* Every entry costs at least a block: a flood of empty files reaches the cap (and
         * ends the scan) instead of making each scan longer. */
        uint64_t used = (uint64_t)st.st_blocks * 512;
        sum += used > FS_ENTRY_MIN ? used : FS_ENTRY_MIN;
        if (S_ISDIR(st.st_mode) && depth < FS_DEPTH_MAX) {
            int sub = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) {
                sum = usage_dir(sub, depth + 1, limit, sum);
                close(sub);
            }
        }
    }
    closedir(d);
    return sum;
}

uint64_t
fs_usage(int dirfd, uint64_t limit_bytes)
{
    return usage_dir(dirfd, 0, limit_bytes, 0);
}
