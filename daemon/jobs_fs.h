/*
 * jobs_fs: the job's files on the host -- its directory under the state dir, the workspace the
 * daemon fills before the start (and never writes after), safe reads from a workspace the job
 * may have filled with symlinks, its size, and its removal. Every path that came from a request
 * or from the job is resolved beneath a directory fd with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS), so a planted symlink or ".." never leads out.
 */
#ifndef AIRLOCK_JOBS_FS_H
#define AIRLOCK_JOBS_FS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "util.h"

/* Opens path beneath dirfd (flags as for open). Returns the fd or -errno: -ELOOP / -EXDEV for a
 * symlink or an escape. */
int fs_open_beneath(int dirfd, const char *path, int flags, mode_t mode);
/* Writes each files entry (path -> text) beneath the workspace dirfd, creating parents (0755)
 * and files (0644) owned by uid/gid (-1 to keep). Refuses to overwrite unless replace (then each
 * file is written aside and renamed over the old one). */
int fs_write_files(int dirfd, json_t *files, uid_t uid, gid_t gid, bool replace, struct err *err);
/* Creates <dirfd>/<path> as a directory chain, owned by uid/gid, one component at a time and
 * never through a symlink (-ENOTDIR when a component is not a directory). */
int fs_mkdirs(int dirfd, const char *path, uid_t uid, gid_t gid);
/* Opens the directory that holds path's last component, beneath dirfd (creating it first when
 * create), and points *ret_name at that component inside path. Returns the fd or -errno. */
int fs_open_parent(int dirfd, const char *path, bool create, uid_t uid, gid_t gid,
                   const char **ret_name);
/* Creates a new file ".airlock-upload-<random>" in pfd (0644, O_EXCL); name receives it. */
int fs_temp_create(int pfd, char *name, size_t n);
/* Removes name beneath dirfd recursively, never following a symlink. */
int fs_remove_tree(int dirfd, const char *name);
/* Sum of the disk blocks used beneath dirfd, in bytes, each entry counted as at least 4 KiB;
 * stops counting past limit_bytes (returns a value > limit then). Never follows a symlink. */
uint64_t fs_usage(int dirfd, uint64_t limit_bytes);

#endif
