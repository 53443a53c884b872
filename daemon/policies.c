/*
 * policies: the policy directory made into a live, reloadable set. Reading files is here so
 * that policy.c stays pure. The set is an array sorted by name, replaced whole under a mutex at
 * reload; each entry holds one reference to its policy, and readers take their own.
 */
#include "policies.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>

#include "airlock_limits.h"
#include "log.h"

struct entry {
    char name[POLICY_NAME_MAX + 1];
    struct policy *policy;
    char *text; /* the file's bytes, to tell "unchanged" from "reloaded" */
    size_t len;
};

struct policies {
    char dir[PATH_MAX];
    struct policy_limits defaults;
    pthread_mutex_t lock;        /* guards entries and n */
    pthread_mutex_t reload_lock; /* one reload at a time (SIGHUP and the API may race) */
    struct entry *entries;       /* sorted by name */
    size_t n;
};

bool
policies_name_valid(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > POLICY_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  (i > 0 && (c == '.' || c == '_' || c == '-'));
        if (!ok)
            return false;
    }
    return true;
}

static void
entries_free(struct entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        policy_unref(e[i].policy);
        free(e[i].text);
    }
    free(e);
}

int
policies_new(const char *dir, const struct policy_limits *defaults, struct policies **ret)
{
    struct policies *ps = calloc(1, sizeof(*ps));

    if (!ps)
        return -ENOMEM;
    if (str_copy(ps->dir, sizeof(ps->dir), dir) < 0) {
        free(ps);
        return -ENAMETOOLONG;
    }
    ps->defaults = *defaults;
    pthread_mutex_init(&ps->lock, NULL);
    pthread_mutex_init(&ps->reload_lock, NULL);
    *ret = ps;
    return 0;
}

struct policies *
policies_free(struct policies *ps)
{
    if (!ps)
        return NULL;
    entries_free(ps->entries, ps->n);
    pthread_mutex_destroy(&ps->lock);
    pthread_mutex_destroy(&ps->reload_lock);
    free(ps);
    return NULL;
}

static struct entry *
find(struct entry *e, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(e[i].name, name) == 0)
            return &e[i];
    return NULL;
}

/* Reads a policy file relative to dirfd, at most POLICY_FILE_MAX bytes. */
static int
read_policy_file(int dirfd, const char *file, char **ret, size_t *ret_len, struct err *err)
{
    _cleanup_close_ int fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    _cleanup_free_ char *buf = NULL;
    struct stat st;
    size_t got = 0;

    /* O_NONBLOCK: a FIFO named *.json must not hang the reload; fstat refuses it. */
    if (fd < 0)
        return err_set(err, errno, "bad_policy", "cannot open: %m");
    if (fstat(fd, &st) < 0)
        return err_set(err, errno, "bad_policy", "cannot stat: %m");
    if (!S_ISREG(st.st_mode))
        return err_set(err, EINVAL, "bad_policy", "not a regular file");
    if (st.st_size > POLICY_FILE_MAX)
        return err_set(err, EFBIG, "bad_policy", "larger than %d bytes", POLICY_FILE_MAX);
    buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        return -ENOMEM;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_set(err, errno, "bad_policy", "cannot read: %m");
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    *ret_len = got;
    *ret = TAKE_PTR(buf);
    return 0;
}

static int
cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static void
report_error(json_t *errors, const char *file, const char *msg, bool kept)
{
    json_array_append_new(
        errors, json_pack("{s:s, s:s, s:b}", "file", file, "message", msg, "kept_previous", kept));
}

/* Loads one file into *e. On failure the previous entry (from old) is copied with a new
 * reference, when there is one. Returns true when *e was filled. */
static bool
load_one(struct policies *ps, int dirfd, const char *file, const char *name, struct entry *old,
         size_t nold, struct entry *e, json_t *report)
{
    struct entry *prev = find(old, nold, name);
    _cleanup_free_ char *text = NULL;
    struct err err = {0};
    struct policy *p = NULL;
    size_t len = 0;
    int r;

    str_copy(e->name, sizeof(e->name), name);
    r = read_policy_file(dirfd, file, &text, &len, &err);
    if (r == 0 && prev && prev->len == len && memcmp(prev->text, text, len) == 0) {
        e->policy = policy_ref(prev->policy);
        e->text = TAKE_PTR(text);
        e->len = len;
        json_array_append_new(json_object_get(report, "unchanged"), json_string(name));
        return true;
    }
    if (r == 0)
        r = policy_parse(name, text, len, &ps->defaults, &p, &err);
    if (r == 0) {
        e->policy = p;
        e->text = TAKE_PTR(text);
        e->len = len;
        json_array_append_new(json_object_get(report, "loaded"), json_string(name));
        return true;
    }
    if (r == -ENOMEM)
        str_copy(err.message, sizeof(err.message), "out of memory");
    log_error("policy.load", "%s/%s: %s%s", ps->dir, file, err.message,
              prev ? " (the previous version stays in force)" : "");
    report_error(json_object_get(report, "errors"), file, err.message, prev != NULL);
    if (!prev)
        return false;
    e->text = malloc(prev->len + 1);
    if (!e->text)
        return false;
    memcpy(e->text, prev->text, prev->len + 1);
    e->len = prev->len;
    e->policy = policy_ref(prev->policy);
    return true;
}

/* Lists candidate files: "*.json", not hidden. Names that are not valid policy names are
 * reported as errors. */
static int
scan_dir(struct policies *ps, DIR *d, struct entry *old, size_t nold, struct entry **ret,
         size_t *ret_n, json_t *report)
{
    struct entry *e = calloc(POLICY_COUNT_MAX, sizeof(*e));
    size_t n = 0;
    struct dirent *de;

    if (!e)
        return -ENOMEM;
    while ((de = readdir(d))) {
        char name[POLICY_NAME_MAX + 8];
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        if (len - 5 >= sizeof(name) ||
            (memcpy(name, de->d_name, len - 5), name[len - 5] = '\0', !policies_name_valid(name))) {
            report_error(json_object_get(report, "errors"), de->d_name,
                         "the file name is not a valid policy name (lower-case letters, digits, "
                         "'.', '_', '-'; at most 64)",
                         false);
            continue;
        }
        if (n == POLICY_COUNT_MAX) {
            report_error(json_object_get(report, "errors"), de->d_name,
                         "too many policy files; the rest are ignored", false);
            break;
        }
        if (load_one(ps, dirfd(d), de->d_name, name, old, nold, &e[n], report))
            n++;
    }
    qsort(e, n, sizeof(*e), cmp_entry);
    *ret = e;
    *ret_n = n;
    return 0;
}

int
policies_reload(struct policies *ps, json_t **ret_report, struct err *err)
{
    json_t *report =
        json_pack("{s:[], s:[], s:[], s:[]}", "loaded", "unchanged", "removed", "errors");
    struct entry *fresh = NULL, *old;
    size_t nfresh = 0, nold;
    DIR *d;
    int r;

    if (!report)
        return -ENOMEM;
    pthread_mutex_lock(&ps->reload_lock);
    d = opendir(ps->dir);
    if (!d) {
        pthread_mutex_unlock(&ps->reload_lock);
        json_decref(report);
        return err_set(err, errno, "bad_policy", "%s: cannot read the policy directory: %m",
                       ps->dir);
    }
    /* The old set is only read here; its entries stay valid because they are freed below, after
     * the swap, and only this function (serialised by reload_lock) replaces them. */
    pthread_mutex_lock(&ps->lock);
    old = ps->entries;
    nold = ps->n;
    pthread_mutex_unlock(&ps->lock);
    r = scan_dir(ps, d, old, nold, &fresh, &nfresh, report);
    closedir(d);
    if (r < 0) {
        pthread_mutex_unlock(&ps->reload_lock);
        json_decref(report);
        return r;
    }
    for (size_t i = 0; i < nold; i++)
        if (!find(fresh, nfresh, old[i].name))
            json_array_append_new(json_object_get(report, "removed"), json_string(old[i].name));
    pthread_mutex_lock(&ps->lock);
    ps->entries = fresh;
    ps->n = nfresh;
    pthread_mutex_unlock(&ps->lock);
    pthread_mutex_unlock(&ps->reload_lock);
    entries_free(old, nold);
    if (ret_report)
        *ret_report = report;
    else
        json_decref(report);
    return 0;
}

struct policy *
policies_get(struct policies *ps, const char *name)
{
    struct policy *p = NULL;
    struct entry *e;

    pthread_mutex_lock(&ps->lock);
    e = find(ps->entries, ps->n, name);
    if (e)
        p = policy_ref(e->policy);
    pthread_mutex_unlock(&ps->lock);
    return p;
}

size_t
policies_count(struct policies *ps)
{
    size_t n;

    pthread_mutex_lock(&ps->lock);
    n = ps->n;
    pthread_mutex_unlock(&ps->lock);
    return n;
}

json_t *
policies_list_json(struct policies *ps)
{
    json_t *arr = json_array();

    if (!arr)
        return NULL;
    pthread_mutex_lock(&ps->lock);
    for (size_t i = 0; i < ps->n; i++)
        json_array_append_new(arr,
                              json_pack("{s:s, s:s?}", "name", ps->entries[i].name, "description",
                                        policy_description(ps->entries[i].policy)));
    pthread_mutex_unlock(&ps->lock);
    return json_pack("{s:o}", "policies", arr);
}
