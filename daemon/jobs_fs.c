/*
 * jobs_fs: see jobs_fs.h. Recursion is bounded by FS_DEPTH_MAX; each level holds one directory
 * fd, so a deep tree planted by a job cannot exhaust the daemon's fds or stack.
 */
#include "jobs_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
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
    return fd < 0 ? -errno : (int)fd;
}

int
fs_mkdirs(int dirfd, const char *path, uid_t uid, gid_t gid)
{
    char buf[4096];

    if (str_copy(buf, sizeof(buf), path) < 0)
        return -ENAMETOOLONG;
    for (char *p = buf;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdirat(dirfd, buf, 0755) == 0) {
            if (fchmodat(dirfd, buf, 0755, 0) < 0 ||
                (uid != (uid_t)-1 && fchownat(dirfd, buf, uid, gid, AT_SYMLINK_NOFOLLOW) < 0))
                return -errno;
        } else if (errno != EEXIST) {
            return -errno;
        }
        *p = saved;
        if (!saved)
            break;
    }
    return 0;
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

static int
write_one(int dirfd, const char *path, json_t *text, uid_t uid, gid_t gid)
{
    char parent[4096];
    char *slash;
    int fd, r;

    if (str_copy(parent, sizeof(parent), path) < 0)
        return -ENAMETOOLONG;
    slash = strrchr(parent, '/');
    if (slash) {
        *slash = '\0';
        if ((r = fs_mkdirs(dirfd, parent, uid, gid)) < 0)
            return r;
    }
    fd = fs_open_beneath(dirfd, path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        return fd;
    r = write_all(fd, json_string_value(text), json_string_length(text));
    /* The daemon's umask is 077; a job's files are as a shell would make them. */
    if (r == 0 && fchmod(fd, 0644) < 0)
        r = -errno;
    if (r == 0 && uid != (uid_t)-1 && fchown(fd, uid, gid) < 0)
        r = -errno;
    close(fd);
    return r;
}

int
fs_write_files(int dirfd, json_t *files, uid_t uid, gid_t gid, struct err *err)
{
    const char *path;
    json_t *text;
    int r;

    json_object_foreach(files, path, text)
    {
        if ((r = write_one(dirfd, path, text, uid, gid)) < 0)
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
