/*
 * workspaces: see workspaces.h. One mutex guards the table of workspaces in use (by queued or
 * running jobs) and those being deleted; rows live in the store. A managed workspace is
 * <state_dir>/workspaces/<id>/, owned by the uid jobs run as; an adopted one is the operator's
 * directory, identified by its real path, device and inode at adoption.
 */
#include "workspaces.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "jobs_fs.h"
#include "log.h"

#define MIB (1024ULL * 1024ULL)
#define WS_SWEEP_EVERY_S 60
#define WS_LIST_ENTRIES_MAX 10000

struct ws_user {
    char id[STORE_ID_MAX];
    unsigned jobs;
    bool deleting;
    struct ws_user *next;
};

struct workspaces {
    const struct config *cfg;
    struct store *store;
    int dirfd; /* <state_dir>/workspaces */
    pthread_mutex_t lock;
    struct ws_user *users;
    pthread_t thread;
    pthread_cond_t wake;
    bool stop, thread_started;
};

struct ws_upload {
    struct workspaces *w;
    char id[STORE_ID_MAX];
    int pfd, fd;
    char tmp[64];
    char name[WS_PATH_MAX];
    uint64_t base, written, cap;
};

/* ---- the table of workspaces in use ---- */

static struct ws_user *
user_find(struct workspaces *w, const char *id)
{
    for (struct ws_user *u = w->users; u; u = u->next)
        if (strcmp(u->id, id) == 0)
            return u;
    return NULL;
}

static struct ws_user *
user_get(struct workspaces *w, const char *id)
{
    struct ws_user *u = user_find(w, id);

    if (u)
        return u;
    u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    str_copy(u->id, sizeof(u->id), id);
    u->next = w->users;
    w->users = u;
    return u;
}

static void
user_drop_if_idle(struct workspaces *w, struct ws_user *u)
{
    if (u->jobs || u->deleting)
        return;
    for (struct ws_user **p = &w->users; *p; p = &(*p)->next)
        if (*p == u) {
            *p = u->next;
            free(u);
            return;
        }
}

static unsigned
jobs_using(struct workspaces *w, const char *id)
{
    pthread_mutex_lock(&w->lock);
    struct ws_user *u = user_find(w, id);
    unsigned n = u ? u->jobs : 0;
    pthread_mutex_unlock(&w->lock);
    return n;
}

/* ---- rows and directories ---- */

static int
row_get(struct workspaces *w, const char *id, struct store_ws *ret)
{
    if (!id_valid(id, 'w', STORE_ID_MAX))
        return -ENOENT;
    return store_ws_get(w->store, id, ret);
}

/* Who files the daemon makes in a workspace belong to (-1: the daemon itself). */
static void
owner_of(const struct workspaces *w, const struct store_ws *row, uid_t *uid, gid_t *gid)
{
    *uid = (uid_t)-1;
    *gid = (gid_t)-1;
    if (geteuid() != 0)
        return;
    if (row->host_path) {
        *uid = (uid_t)row->owner_uid;
        *gid = (gid_t)row->owner_gid;
    } else {
        *uid = w->cfg->job_uid;
        *gid = w->cfg->job_gid;
    }
}

/* Opens the workspace's directory. An adopted one must still be the directory that was adopted:
 * same device and inode (not a directory swapped in, or a symlink planted, at its path) and
 * the same owner. -ESTALE otherwise. */
static int
dir_open(struct workspaces *w, const struct store_ws *row)
{
    struct stat st;
    int fd;

    if (!row->host_path) {
        fd = openat(w->dirfd, row->id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
    }
    fd = open(row->host_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || (int64_t)st.st_dev != row->dev || (int64_t)st.st_ino != row->ino ||
        (int64_t)st.st_uid != row->owner_uid) {
        close(fd);
        return -ESTALE;
    }
    return fd;
}

static json_t *
row_json(struct workspaces *w, const struct store_ws *row, unsigned jobs)
{
    char created[40], used[40];
    json_t *labels = json_loads(row->labels_json, 0, NULL);
    uint64_t size = 0;
    int fd = dir_open(w, row);

    if (fd >= 0) {
        size = fs_usage(fd, UINT64_MAX);
        close(fd);
    }
    time_rfc3339(created, sizeof(created), row->created_ms);
    time_rfc3339(used, sizeof(used), row->last_used_ms);
    return json_pack("{s:s, s:s, s:s, s:o, s:I, s:o, s:o, s:o, s:I, s:I}", "id", row->id,
                     "created_at", created, "last_used_at", used, "labels",
                     labels ? labels : json_object(), "size_bytes", (json_int_t)size, "disk_mb",
                     row->disk_mb ? json_integer(row->disk_mb) : json_null(), "host_path",
                     row->host_path ? json_string(row->host_path) : json_null(), "owner",
                     row->host_path ? json_pack("{s:I, s:I}", "uid", (json_int_t)row->owner_uid,
                                                "gid", (json_int_t)row->owner_gid)
                                    : json_null(),
                     "jobs_running", (json_int_t)jobs, "jobs_total", (json_int_t)row->jobs_total);
}

/* ---- create ---- */

static bool
path_under(const char *path, const char *root)
{
    size_t n = strlen(root);

    return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* One adopted directory inside another would let a job in the outer one rewrite the inner one's
 * protected paths: refused either way round. */
static int
adopted_overlap(struct workspaces *w, const char *real, struct err *err)
{
    struct store_ws *rows = NULL;
    size_t n = 0;
    int r = store_ws_list(w->store, NULL, NULL, STORE_LIST_MAX, &rows, &n);

    if (r < 0)
        return err_set(err, -r, "internal", "workspaces: %s", strerror(-r));
    for (size_t i = 0; i < n && r == 0; i++)
        if (rows[i].host_path &&
            (path_under(real, rows[i].host_path) || path_under(rows[i].host_path, real)))
            r = strcmp(real, rows[i].host_path) == 0
                    ? err_set(err, EEXIST, "conflict",
                              "host_path: %.200s is adopted already by workspace %s", real,
                              rows[i].id)
                    : err_set(err, EEXIST, "conflict",
                              "host_path: %.200s %s %.200s, adopted already by workspace %s", real,
                              path_under(real, rows[i].host_path) ? "is inside" : "contains",
                              rows[i].host_path, rows[i].id);
    store_ws_list_free(rows, n);
    return r;
}

/* Checks a directory to adopt and fills the row's host_path, dev, ino and owner. */
static int
adopt_check(struct workspaces *w, const char *host_path, struct store_ws *row, struct err *err)
{
    const struct config *cfg = w->cfg;
    char real[PATH_MAX];
    struct stat st;
    bool under = false;
    int r;

    if (cfg->nworkspace_roots == 0)
        return err_set(err, EINVAL, "bad_request",
                       "host_path: adopting host directories is off; the daemon config's "
                       "workspace_roots lists the trees that may be adopted");
    if (host_path[0] != '/' || strlen(host_path) >= PATH_MAX)
        return err_set(err, EINVAL, "bad_request", "host_path: must be an absolute path");
    /* Decided on the real path: a symlink inside a root cannot lead out of the roots. */
    if (!realpath(host_path, real))
        return err_set(err, errno, "bad_request", "host_path: %.200s: %m", host_path);
    for (unsigned i = 0; i < cfg->nworkspace_roots && !under; i++)
        under = path_under(real, cfg->workspace_roots[i]);
    if (!under)
        return err_set(err, EINVAL, "bad_request",
                       "host_path: %.200s is not under any of the directories in the daemon "
                       "config's workspace_roots",
                       real);
    if (path_under(real, cfg->state_dir) || path_under(cfg->state_dir, real))
        return err_set(err, EINVAL, "bad_request",
                       "host_path: %.200s overlaps the daemon's state_dir", real);
    if (lstat(real, &st) < 0)
        return err_set(err, errno, "bad_request", "host_path: %.200s: %m", real);
    if (!S_ISDIR(st.st_mode))
        return err_set(err, ENOTDIR, "bad_request", "host_path: %.200s is not a directory", real);
    if (st.st_uid == 0 && geteuid() == 0 && !cfg->workspace_allow_root_owned)
        return err_set(err, EPERM, "bad_request",
                       "host_path: %.200s belongs to root; jobs would write as root there. "
                       "Give it to the user who owns the work, or set "
                       "workspace_allow_root_owned in the daemon config",
                       real);
    if (geteuid() != 0 && st.st_uid != geteuid())
        return err_set(err, EPERM, "bad_request",
                       "host_path: %.200s belongs to uid %u; a daemon running as uid %u can "
                       "adopt only its own user's directories",
                       real, (unsigned)st.st_uid, (unsigned)geteuid());
    if ((r = adopted_overlap(w, real, err)) < 0)
        return r;
    row->host_path = strdup(real);
    if (!row->host_path)
        return -ENOMEM;
    row->dev = (int64_t)st.st_dev;
    row->ino = (int64_t)st.st_ino;
    row->owner_uid = st.st_uid;
    row->owner_gid = st.st_gid;
    return 0;
}

json_t *
workspaces_create(struct workspaces *w, const struct ws_create *req, int *ret_errno,
                  struct err *err)
{
    struct store_ws row = {0};
    int64_t count = 0;
    json_t *obj;
    int r;

    if ((r = store_ws_count(w->store, &count)) < 0)
        goto fail_msg;
    if (count >= (int64_t)w->cfg->workspaces_max) {
        r = err_set(err, EEXIST, "conflict",
                    "there are %lld workspaces, the daemon's limit (workspaces_max): delete "
                    "some first",
                    (long long)count);
        goto fail;
    }
    if (req->disk_mb > w->cfg->workspace_disk_mb_max) {
        r = err_set(err, EINVAL, "bad_request",
                    "disk_mb: must be from 1 to %u (workspace_disk_mb_max)",
                    w->cfg->workspace_disk_mb_max);
        goto fail;
    }
    id_make(row.id, sizeof(row.id), 'w');
    row.labels_json = req->labels ? json_dumps(req->labels, JSON_COMPACT) : strdup("{}");
    row.owner_uid = row.owner_gid = -1;
    row.created_ms = row.last_used_ms = time_now_ms();
    row.disk_mb =
        (int64_t)(req->disk_mb ? req->disk_mb : (req->host_path ? 0 : w->cfg->workspace_disk_mb));
    if (!row.labels_json) {
        r = -ENOMEM;
        goto fail_msg;
    }
    if (req->host_path) {
        if ((r = adopt_check(w, req->host_path, &row, err)) < 0)
            goto fail;
    } else {
        uid_t uid;
        gid_t gid;
        owner_of(w, &row, &uid, &gid);
        if (mkdirat(w->dirfd, row.id, 0700) < 0 ||
            (uid != (uid_t)-1 && fchownat(w->dirfd, row.id, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)) {
            r = err_set(err, errno, "internal", "%s/workspaces/%s: %m", w->cfg->state_dir, row.id);
            goto fail;
        }
    }
    if ((r = store_ws_insert(w->store, &row)) < 0) {
        if (!row.host_path)
            fs_remove_tree(w->dirfd, row.id);
        if (r == -EEXIST && row.host_path) {
            err_set(err, EEXIST, "conflict",
                    "host_path: %.200s is adopted already (GET /v1/workspaces shows by which "
                    "workspace)",
                    row.host_path);
            goto fail;
        }
        goto fail_msg;
    }
    log_info("workspace.create", "workspace %s %s%s", row.id, row.host_path ? "adopted " : "new",
             row.host_path ? row.host_path : "");
    obj = row_json(w, &row, 0);
    store_ws_clear(&row);
    if (!obj)
        *ret_errno = -ENOMEM;
    return obj;
fail_msg:
    err_set(err, -r, "internal", "cannot record the workspace: %s", strerror(-r));
fail:
    store_ws_clear(&row);
    *ret_errno = r;
    return NULL;
}

json_t *
workspaces_get_json(struct workspaces *w, const char *id, int *ret_errno)
{
    struct store_ws row;
    json_t *obj;
    int r = row_get(w, id, &row);

    if (r < 0) {
        *ret_errno = r;
        return NULL;
    }
    obj = row_json(w, &row, jobs_using(w, id));
    store_ws_clear(&row);
    if (!obj)
        *ret_errno = -ENOMEM;
    return obj;
}

int
workspaces_list_json(struct workspaces *w, const char *label, json_t **ret)
{
    struct store_ws *rows = NULL;
    char key[128] = "";
    const char *value = NULL;
    size_t n = 0;
    json_t *arr;
    int r;

    if (label) {
        const char *colon = strchr(label, ':');
        if (!colon || colon == label || (size_t)(colon - label) >= sizeof(key))
            return -EINVAL;
        memcpy(key, label, (size_t)(colon - label));
        key[colon - label] = '\0';
        value = colon + 1;
    }
    if ((r = store_ws_list(w->store, label ? key : NULL, value, STORE_LIST_MAX, &rows, &n)) < 0)
        return r;
    arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, row_json(w, &rows[i], jobs_using(w, rows[i].id)));
    store_ws_list_free(rows, n);
    *ret = json_pack("{s:o?}", "workspaces", arr);
    return *ret ? 0 : -ENOMEM;
}

int
workspaces_exists(struct workspaces *w, const char *id)
{
    struct store_ws row;
    int r = row_get(w, id, &row);

    if (r == 0)
        store_ws_clear(&row);
    return r;
}

/* Forgets a row (and removes a managed directory) unless a job uses it. */
static int
forget(struct workspaces *w, const struct store_ws *row, const char *why)
{
    struct ws_user *u;
    int r;

    pthread_mutex_lock(&w->lock);
    u = user_get(w, row->id);
    if (!u) {
        pthread_mutex_unlock(&w->lock);
        return -ENOMEM;
    }
    if (u->jobs || u->deleting) {
        r = u->jobs ? -EBUSY : -ENOENT;
        pthread_mutex_unlock(&w->lock);
        return r;
    }
    u->deleting = true; /* acquire refuses it from here on */
    pthread_mutex_unlock(&w->lock);
    /* The row first: once it is gone the workspace is, whatever is left of its directory. */
    r = store_ws_delete(w->store, row->id);
    if (r == 0) {
        int e = row->host_path ? 0 : fs_remove_tree(w->dirfd, row->id);
        if (e < 0)
            log_warn("workspace.delete", "workspace %s: cannot remove all of its directory: %s",
                     row->id, strerror(-e));
        log_info("workspace.delete", "workspace %s %s (%s)", row->id,
                 row->host_path ? "forgotten; its directory stays" : "removed", why);
    }
    pthread_mutex_lock(&w->lock);
    u->deleting = false;
    user_drop_if_idle(w, u);
    pthread_mutex_unlock(&w->lock);
    return r;
}

int
workspaces_delete(struct workspaces *w, const char *id)
{
    struct store_ws row;
    int r = row_get(w, id, &row);

    if (r < 0)
        return r;
    r = forget(w, &row, "deleted");
    store_ws_clear(&row);
    return r;
}

/* ---- jobs ---- */

int
workspaces_acquire(struct workspaces *w, const char *id, struct ws_use *ret, struct err *err)
{
    struct store_ws row, again;
    bool gone = false;
    struct ws_user *u;
    int fd, r;

    if ((r = row_get(w, id, &row)) < 0) {
        if (r == -ENOENT)
            return err_set(err, EINVAL, "bad_request",
                           "workspace: no workspace \"%.64s\" (POST /v1/workspaces makes one)", id);
        return err_set(err, -r, "internal", "workspace %.64s: %s", id, strerror(-r));
    }
    fd = dir_open(w, &row);
    if (fd < 0) {
        r = err_set(err, -fd, "bad_request",
                    fd == -ESTALE ? "workspace %s: %s is no longer the directory that was "
                                    "adopted (replaced, or its owner changed); delete the "
                                    "workspace and adopt it again"
                                  : "workspace %s: cannot open %s: %m",
                    row.id, row.host_path ? row.host_path : "its directory");
        store_ws_clear(&row);
        return r;
    }
    memset(ret, 0, sizeof(*ret));
    str_copy(ret->id, sizeof(ret->id), row.id);
    if (row.host_path)
        str_copy(ret->dir, sizeof(ret->dir), row.host_path);
    else
        (void)str_printf(ret->dir, sizeof(ret->dir), "%s/workspaces/%s", w->cfg->state_dir,
                         row.id); /* fits: state_dir was checked with this suffix at start */
    ret->dirfd = fd;
    ret->adopted = row.host_path != NULL;
    owner_of(w, &row, &ret->owner_uid, &ret->owner_gid);
    ret->cap_bytes = (uint64_t)row.disk_mb * MIB;
    pthread_mutex_lock(&w->lock);
    u = user_get(w, row.id);
    /* Looked up again under the lock: a delete that finished since the first look must not
     * leave a job in a directory that is gone (a delete that starts after this sees jobs). */
    if (u && !u->deleting && row_get(w, id, &again) == 0)
        store_ws_clear(&again);
    else if (u && !u->deleting)
        u->deleting = true, gone = true;
    if (!u || u->deleting) {
        pthread_mutex_unlock(&w->lock);
        close(fd);
        if (gone) {
            u->deleting = false;
            user_drop_if_idle(w, u);
        }
        r = !u ? -ENOMEM : err_set(err, EINVAL, "bad_request", "workspace: %s was deleted", row.id);
        store_ws_clear(&row);
        return r;
    }
    u->jobs++;
    pthread_mutex_unlock(&w->lock);
    store_ws_clear(&row);
    return 0;
}

void
workspaces_release(struct workspaces *w, const char *id)
{
    pthread_mutex_lock(&w->lock);
    struct ws_user *u = user_find(w, id);
    if (u && u->jobs) {
        u->jobs--;
        user_drop_if_idle(w, u);
    }
    pthread_mutex_unlock(&w->lock);
}

void
workspaces_touch(struct workspaces *w, const char *id, int jobs)
{
    int r = store_ws_touch(w->store, id, time_now_ms(), jobs);

    if (r < 0 && r != -ENOENT)
        log_warn("workspace.store", "workspace %s: cannot record its use: %s", id, strerror(-r));
}

/* ---- files ---- */

bool
ws_path_protected(const struct config *cfg, const char *path)
{
    for (unsigned i = 0; i < cfg->nprotected_paths; i++) {
        const char *p = cfg->protected_paths[i];
        size_t n = strlen(p), plen = strlen(path);
        if (n && p[n - 1] == '/')
            n--;
        /* The path itself, anything beneath it, or a directory on the way to it. */
        if ((plen >= n && strncmp(path, p, n) == 0 && (path[n] == '\0' || path[n] == '/')) ||
            (plen < n && strncmp(p, path, plen) == 0 && p[plen] == '/'))
            return true;
    }
    return false;
}

int
ws_open_file(int dirfd, const char *path, int *ret_fd, bool *ret_is_dir)
{
    struct stat st;
    int fd;

    /* O_NONBLOCK: a FIFO a job planted must not hang the daemon's thread on open. */
    fd = *path ? fs_open_beneath(dirfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0)
               : openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fd == -1 ? -errno : fd;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
        close(fd);
        return -EMLINK;
    }
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
        close(fd);
        return -ENXIO;
    }
    fcntl(fd, F_SETFL, 0);
    *ret_fd = fd;
    *ret_is_dir = S_ISDIR(st.st_mode);
    return 0;
}

int
workspaces_file_open(struct workspaces *w, const char *id, const char *path, int *ret_fd,
                     bool *ret_is_dir)
{
    struct store_ws row;
    int dfd, r;

    if (*path && !path_rel_valid(path, WS_PATH_MAX, true))
        return -EINVAL;
    if ((r = row_get(w, id, &row)) < 0)
        return r;
    dfd = dir_open(w, &row);
    store_ws_clear(&row);
    if (dfd < 0)
        return dfd;
    r = ws_open_file(dfd, path, ret_fd, ret_is_dir);
    close(dfd);
    return r;
}

static const char *
type_name(mode_t m)
{
    return S_ISREG(m) ? "file" : S_ISDIR(m) ? "dir" : S_ISLNK(m) ? "symlink" : "other";
}

static int
entry_cmp(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "name"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "name"));

    return strcmp(x ? x : "", y ? y : "");
}

/* The length of the valid UTF-8 sequence at s (1 to 4), or 0 when it is not one. */
static size_t
utf8_len(const unsigned char *s)
{
    size_t n = s[0] < 0x80             ? 1
               : (s[0] & 0xe0) == 0xc0 ? 2
               : (s[0] & 0xf0) == 0xe0 ? 3
               : (s[0] & 0xf8) == 0xf0 ? 4
                                       : 0;
    uint32_t cp;

    if (n <= 1)
        return n;
    cp = s[0] & (0xff >> (n + 1));
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    /* No overlong forms, no surrogates, nothing past U+10FFFF. */
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return n;
}

static json_t *
entry_json(const char *name, const struct stat *st)
{
    char mtime[40];
    int64_t ms = (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;

    time_rfc3339(mtime, sizeof(mtime), ms);
    /* A name is bytes: one that is not UTF-8 is shown with each invalid byte as U+FFFD. */
    json_t *jname = json_string(name);
    if (!jname) {
        char fixed[1024];
        size_t j = 0;
        for (const unsigned char *p = (const unsigned char *)name; *p && j + 5 < sizeof(fixed);) {
            size_t n = utf8_len(p);
            if (n) {
                memcpy(fixed + j, p, n);
                j += n;
                p += n;
            } else {
                memcpy(fixed + j, "\xef\xbf\xbd", 3);
                j += 3;
                p++;
            }
        }
        fixed[j] = '\0';
        jname = json_string(fixed);
    }
    return json_pack("{s:o, s:s, s:I, s:s}", "name", jname ? jname : json_string("?"), "type",
                     type_name(st->st_mode), "size", (json_int_t)st->st_size, "mtime", mtime);
}

json_t *
ws_list_dir(int fd)
{
    DIR *d = fdopendir(fd);
    json_t *arr = json_array();
    struct dirent *de;
    bool truncated = false;
    json_t **items;
    size_t n;

    if (!d) {
        close(fd);
        json_decref(arr);
        return NULL;
    }
    while (arr && (de = readdir(d))) {
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (json_array_size(arr) >= WS_LIST_ENTRIES_MAX) {
            truncated = true;
            break;
        }
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        json_array_append_new(arr, entry_json(de->d_name, &st));
    }
    closedir(d);
    if (!arr)
        return NULL;
    /* Sorted by name (bytewise): a listing reads the same every time. */
    n = json_array_size(arr);
    items = malloc((n ? n : 1) * sizeof(*items));
    if (items) {
        for (size_t i = 0; i < n; i++)
            items[i] = json_incref(json_array_get(arr, i));
        qsort(items, n, sizeof(*items), entry_cmp);
        json_array_clear(arr);
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, items[i]);
        free(items);
    }
    return json_pack("{s:o, s:b}", "entries", arr, "truncated", truncated);
}

/* The workspace's row and directory for a change to its files. */
static int
open_for_change(struct workspaces *w, const char *id, const char *path, struct store_ws *row,
                int *ret_dfd)
{
    int r;

    if (!path_rel_valid(path, WS_PATH_MAX, true))
        return -EINVAL;
    if ((r = row_get(w, id, row)) < 0)
        return r;
    if (row->host_path && ws_path_protected(w->cfg, path)) {
        store_ws_clear(row);
        return -EPERM;
    }
    *ret_dfd = dir_open(w, row);
    if (*ret_dfd < 0) {
        store_ws_clear(row);
        return *ret_dfd;
    }
    return 0;
}

int
workspaces_file_delete(struct workspaces *w, const char *id, const char *path, bool recursive,
                       bool only_dir)
{
    struct store_ws row;
    const char *name;
    uid_t uid;
    gid_t gid;
    int dfd, pfd, r;

    if ((r = open_for_change(w, id, path, &row, &dfd)) < 0)
        return r;
    owner_of(w, &row, &uid, &gid);
    pfd = fs_open_parent(dfd, path, false, uid, gid, &name);
    close(dfd);
    if (pfd < 0) {
        store_ws_clear(&row);
        return pfd;
    }
    r = 0;
    struct stat st;
    if (only_dir && fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
        r = S_ISLNK(st.st_mode) ? -ELOOP : -ENOTDIR;
    else if (unlinkat(pfd, name, 0) < 0) {
        r = -errno;
        if (r == -EISDIR || r == -EPERM) {
            r = unlinkat(pfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
            if ((r == -ENOTEMPTY || r == -EEXIST) && recursive)
                r = fs_remove_tree(pfd, name);
            if (r == -EEXIST)
                r = -ENOTEMPTY;
        }
    }
    close(pfd);
    if (r == 0)
        workspaces_touch(w, row.id, 0);
    store_ws_clear(&row);
    return r;
}

int
workspaces_upload_begin(struct workspaces *w, const char *id, const char *path, uint64_t expected,
                        struct ws_upload **ret, struct err *err)
{
    struct store_ws row;
    struct ws_upload *u;
    struct stat st;
    const char *name;
    uid_t uid;
    gid_t gid;
    int dfd, r;

    if ((r = open_for_change(w, id, path, &row, &dfd)) < 0)
        return r;
    u = calloc(1, sizeof(*u));
    if (!u) {
        close(dfd);
        store_ws_clear(&row);
        return -ENOMEM;
    }
    u->w = w;
    u->pfd = u->fd = -1;
    str_copy(u->id, sizeof(u->id), row.id);
    u->cap = (uint64_t)row.disk_mb * MIB;
    if (u->cap) {
        u->base = fs_usage(dfd, u->cap);
        if (u->base + expected > u->cap) {
            r = err_set(err, EFBIG, "payload_too_large",
                        "workspace %s: %llu more bytes would pass its disk cap of %lld MB "
                        "(disk_mb); %llu bytes are in use",
                        row.id, (unsigned long long)expected, (long long)row.disk_mb,
                        (unsigned long long)u->base);
            goto fail;
        }
    }
    owner_of(w, &row, &uid, &gid);
    u->pfd = fs_open_parent(dfd, path, true, uid, gid, &name);
    if (u->pfd < 0) {
        r = u->pfd;
        goto fail;
    }
    str_copy(u->name, sizeof(u->name), name);
    if (fstatat(u->pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
        r = -EISDIR;
        goto fail;
    }
    if ((u->fd = fs_temp_create(u->pfd, u->tmp, sizeof(u->tmp))) < 0) {
        r = u->fd;
        goto fail;
    }
    if (fchmod(u->fd, 0644) < 0 || (uid != (uid_t)-1 && fchown(u->fd, uid, gid) < 0)) {
        r = -errno;
        goto fail;
    }
    close(dfd);
    store_ws_clear(&row);
    *ret = u;
    return 0;
fail:
    close(dfd);
    store_ws_clear(&row);
    workspaces_upload_end(u, false, NULL, NULL);
    return r;
}

int
workspaces_upload_write(struct ws_upload *u, const char *data, size_t n)
{
    u->written += n;
    if (u->cap && u->base + u->written > u->cap)
        return -EFBIG;
    while (n) {
        ssize_t k = write(u->fd, data, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        data += k;
        n -= (size_t)k;
    }
    return 0;
}

int
workspaces_upload_end(struct ws_upload *u, bool commit, bool *ret_created, json_t **ret_entry)
{
    struct stat st;
    int r = 0;

    if (!u)
        return 0;
    if (commit) {
        bool existed = fstatat(u->pfd, u->name, &st, AT_SYMLINK_NOFOLLOW) == 0;
        if (fstat(u->fd, &st) < 0 || renameat(u->pfd, u->tmp, u->pfd, u->name) < 0)
            r = -errno;
        if (r == 0) {
            if (ret_created)
                *ret_created = !existed;
            if (ret_entry)
                *ret_entry = entry_json(u->name, &st);
            workspaces_touch(u->w, u->id, 0);
        }
    }
    if ((!commit || r < 0) && u->fd >= 0)
        unlinkat(u->pfd, u->tmp, 0);
    if (u->fd >= 0)
        close(u->fd);
    if (u->pfd >= 0)
        close(u->pfd);
    free(u);
    return r;
}

/* ---- retention ---- */

static void
sweep(struct workspaces *w)
{
    struct store_ws *rows = NULL;
    size_t n = 0;
    int64_t before = time_now_ms() - (int64_t)w->cfg->workspace_idle_hours * 3600 * 1000;

    if (!w->cfg->workspace_idle_hours || store_ws_idle(w->store, before, &rows, &n) < 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (jobs_using(w, rows[i].id) == 0)
            forget(w, &rows[i], "unused for workspace_idle_hours");
    store_ws_list_free(rows, n);
}

static void *
sweeper(void *arg)
{
    struct workspaces *w = arg;

    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += WS_SWEEP_EVERY_S;
        pthread_cond_timedwait(&w->wake, &w->lock, &ts);
        if (w->stop)
            break;
        pthread_mutex_unlock(&w->lock);
        sweep(w);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int
workspaces_new(const struct config *cfg, struct store *store, struct workspaces **ret,
               struct err *err)
{
    struct workspaces *w = calloc(1, sizeof(*w));
    pthread_condattr_t ca;
    char path[PATH_MAX];

    if (!w)
        return -ENOMEM;
    w->cfg = cfg;
    w->store = store;
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (str_printf(path, sizeof(path), "%s/workspaces", cfg->state_dir) < 0) {
        workspaces_free(w);
        return err_set(err, ENAMETOOLONG, "internal", "%s/workspaces: path too long",
                       cfg->state_dir);
    }
    /* 0700 like the rest of the state: a job's init opens its workspace before it takes the
     * job's uid. */
    if ((mkdir(path, 0700) < 0 && errno != EEXIST) ||
        (w->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        int e = errno;
        workspaces_free(w);
        return err_set(err, e, "internal", "%s: %s", path, strerror(e));
    }
    sweep(w);
    if (pthread_create(&w->thread, NULL, sweeper, w) != 0) {
        workspaces_free(w);
        return err_set(err, EAGAIN, "internal", "cannot start the workspace sweeper");
    }
    w->thread_started = true;
    *ret = w;
    return 0;
}

struct workspaces *
workspaces_free(struct workspaces *w)
{
    if (!w)
        return NULL;
    if (w->thread_started) {
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
    }
    while (w->users) {
        struct ws_user *u = w->users;
        w->users = u->next;
        free(u);
    }
    if (w->dirfd > 0)
        close(w->dirfd);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return NULL;
}
