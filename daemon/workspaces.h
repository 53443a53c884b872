/*
 * workspaces: persistent workspaces (api.md, "Workspaces") -- managed directories under
 * <state_dir>/workspaces/<id>, and adopted host directories under the config's
 * workspace_roots. It owns their rows in the store, the count of jobs using each (so one in use
 * is never deleted or expired), their files over REST, and the retention sweep. Every path that
 * comes from a request is resolved beneath the workspace's directory fd with openat2
 * (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), whatever a job planted there. It knows nothing of
 * HTTP or of how jobs run.
 */
#ifndef AIRLOCK_WORKSPACES_H
#define AIRLOCK_WORKSPACES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "config.h"
#include "store.h"
#include "util.h"

#define WS_PATH_MAX 4096

struct workspaces;

/* What a job needs to run in a workspace (workspaces_acquire). */
struct ws_use {
    char id[STORE_ID_MAX];
    char dir[PATH_MAX]; /* the host directory bound at /workspace */
    int dirfd;          /* O_RDONLY | O_DIRECTORY, owned by the caller */
    bool adopted;
    uid_t owner_uid; /* who files made in it must belong to on the host (-1: keep) */
    gid_t owner_gid;
    uint64_t cap_bytes; /* 0: none */
};

/* Opens (creating) <state_dir>/workspaces and starts the retention sweep (once now, then every
 * minute). */
int workspaces_new(const struct config *cfg, struct store *store, struct workspaces **ret,
                   struct err *err);
struct workspaces *workspaces_free(struct workspaces *w); /* NULL-safe; returns NULL */

/* POST /v1/workspaces, checked by the API for its shape. */
struct ws_create {
    json_t *labels;        /* object, or NULL */
    const char *host_path; /* adopt this directory; NULL for a managed one */
    uint64_t disk_mb;      /* 0: the default (config workspace_disk_mb; none when adopted) */
};
/* Returns the object (new reference), or NULL with *ret_errno and err: -EINVAL (bad_request,
 * naming the field), -EEXIST (conflict: adopted already, or workspaces_max reached), -EIO. */
json_t *workspaces_create(struct workspaces *w, const struct ws_create *req, int *ret_errno,
                          struct err *err);
/* The object of one (new reference), or NULL with *ret_errno -ENOENT / -ENOMEM / -EIO. */
json_t *workspaces_get_json(struct workspaces *w, const char *id, int *ret_errno);
/* {"workspaces": [...]}, newest first. -EINVAL for a bad label filter. */
int workspaces_list_json(struct workspaces *w, const char *label, json_t **ret);
/* 0 when it exists, else -ENOENT. */
int workspaces_exists(struct workspaces *w, const char *id);
/* Forgets it (and removes a managed one's directory). -ENOENT; -EBUSY while a job uses it. */
int workspaces_delete(struct workspaces *w, const char *id);

/* A job is about to use the workspace (queued or running): counted until workspaces_release.
 * Checks an adopted directory is still the one adopted (same device, inode and owner). */
int workspaces_acquire(struct workspaces *w, const char *id, struct ws_use *ret, struct err *err);
void workspaces_release(struct workspaces *w, const char *id);
/* Records a use now (a job started or ended, a file was written). */
void workspaces_touch(struct workspaces *w, const char *id, int jobs);

/* ---- files (every path relative, checked with path_rel_valid; "" = the root) ---- */

/* Opens a file for reading, or a directory for listing (*ret_is_dir). Errors: -ENOENT,
 * -EINVAL (bad path), -ELOOP / -EXDEV (a symlink on the way), -EMLINK (a file with other hard
 * links: it may be a link to a file the job could not otherwise name). */
int workspaces_file_open(struct workspaces *w, const char *id, const char *path, int *ret_fd,
                         bool *ret_is_dir);
/* Opens a regular file beneath dirfd for reading, with the checks above. */
int ws_open_file(int dirfd, const char *path, int *ret_fd, bool *ret_is_dir);
/* {"entries": [{"name","type","size","mtime"}]} of the directory fd (taken), sorted by name. */
json_t *ws_list_dir(int fd);
/* Removes a file, symlink or empty directory (a whole tree with recursive). -ENOTEMPTY,
 * -EPERM for a protected path. only_dir (the client wrote "dir/"): it must be a directory;
 * a symlink there is -ELOOP, anything else -ENOTDIR. */
int workspaces_file_delete(struct workspaces *w, const char *id, const char *path, bool recursive,
                           bool only_dir);
/* True when path is a protected path of an adopted workspace, beneath one, or an ancestor. */
bool ws_path_protected(const struct config *cfg, const char *path);

/* Uploads: begin (parents created, a temp file opened beside the target), write chunks, end
 * (renamed over the target when commit, else removed). Errors at begin: -ENOENT (workspace),
 * -EINVAL, -ELOOP/-EXDEV, -EPERM (protected), -EFBIG (the cap), -EISDIR. write: -EFBIG past the
 * cap, or the write's errno. */
struct ws_upload;
int workspaces_upload_begin(struct workspaces *w, const char *id, const char *path,
                            uint64_t expected, struct ws_upload **ret, struct err *err);
int workspaces_upload_write(struct ws_upload *u, const char *data, size_t n);
/* Commits (or, with commit false, aborts) and frees. On a commit, *ret_created tells whether
 * the name was new and *ret_entry is the entry object. */
int workspaces_upload_end(struct ws_upload *u, bool commit, bool *ret_created, json_t **ret_entry);

#endif
