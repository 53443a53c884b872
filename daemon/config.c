/*
 * config: defaults, the JSON config file and overrides. Every key is described in
 * docs/config.md; a key added here is added there in the same commit. The file is parsed with
 * duplicate keys rejected, and every value is range-checked: a typo stops the start instead of
 * running a daemon the operator did not mean to run.
 */
#include "config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/stat.h>

#include <stddef.h>

#include "airlock_limits.h"

void
config_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    netaddr_parse("127.0.0.1", 9, &c->listen_addr);
    c->listen_port = CONFIG_DEFAULT_PORT;
    c->listen_tcp = true;
    config_set_dir(c->state_dir, "var", "", NULL);
    config_set_dir(c->policy_dir, "policies", "", NULL);
    config_set_dir(c->web_dir, "web", "", NULL);
    c->log_level = LOG_INFO;
    c->max_running_jobs = 4;
    c->max_queued_jobs = 64;
    c->max_body_bytes = API_BODY_MAX_DEFAULT;
    c->api_threads = API_THREADS_DEFAULT;
    c->job_uid = 65534;
    c->job_gid = 65534;
    str_copy(c->cgroup_parent, sizeof(c->cgroup_parent), "airlock");
    c->require_landlock = true;
    c->default_limits = (struct policy_limits)POLICY_LIMITS_DEFAULT;
    c->proxy_max_connections = PROXY_CONNECTIONS_DEFAULT;
    c->proxy_max_connections_per_job = PROXY_CONNECTIONS_PER_JOB_DEFAULT;
    c->proxy_header_timeout_s = 10;
    c->proxy_idle_timeout_s = 60;
    c->proxy_connect_timeout_s = 10;
    c->proxy_upstream_timeout_s = 60;
    c->shutdown_grace_s = 10;
    c->retention_hours = 168;
    c->record_retention_days = 90;
    c->min_free_mb = 512;
    str_copy(c->protected_paths[0], CONFIG_PROTECTED_LEN, ".git/hooks/");
    str_copy(c->protected_paths[1], CONFIG_PROTECTED_LEN, ".git/config");
    /* git takes config and hooks from the directory .git/commondir names: "." keeps them in
     * .git itself (an empty file would stop git). */
    str_copy(c->protected_paths[2], CONFIG_PROTECTED_LEN, ".git/commondir");
    str_copy(c->protected_placeholders[2], CONFIG_PLACEHOLDER_LEN, ".\n");
    c->nprotected_paths = 3;
    c->workspace_idle_hours = 168;
    c->workspace_disk_mb = 1024;
    c->workspace_disk_mb_max = 102400;
    c->workspaces_max = 1000;
}

/* The proxy's numeric keys: name, bounds, and where the value goes. */
struct uint_key {
    const char *name;
    uint64_t min, max;
    size_t offset;
};
static const struct uint_key proxy_keys[] = {
    {"proxy_max_connections", 1, PROXY_CONNECTIONS_MAX,
     offsetof(struct config, proxy_max_connections)},
    {"proxy_max_connections_per_job", 1, PROXY_CONNECTIONS_MAX,
     offsetof(struct config, proxy_max_connections_per_job)},
    {"proxy_header_timeout_s", 1, 3600, offsetof(struct config, proxy_header_timeout_s)},
    {"proxy_idle_timeout_s", 1, 86400, offsetof(struct config, proxy_idle_timeout_s)},
    {"proxy_connect_timeout_s", 1, 3600, offsetof(struct config, proxy_connect_timeout_s)},
    {"proxy_upstream_timeout_s", 1, 86400, offsetof(struct config, proxy_upstream_timeout_s)},
    {"shutdown_grace_s", 0, 3600, offsetof(struct config, shutdown_grace_s)},
    {"retention_hours", 0, 876000, offsetof(struct config, retention_hours)},
    {"record_retention_days", 0, 36500, offsetof(struct config, record_retention_days)},
    {"min_free_mb", 0, 16777216, offsetof(struct config, min_free_mb)},
    {"workspace_idle_hours", 0, 87600, offsetof(struct config, workspace_idle_hours)},
    {"workspace_disk_mb", 1, 16777216, offsetof(struct config, workspace_disk_mb)},
    {"workspace_disk_mb_max", 1, 16777216, offsetof(struct config, workspace_disk_mb_max)},
    {"workspaces_max", 1, 1000000, offsetof(struct config, workspaces_max)},
};

void
config_clear(struct config *c)
{
    if (c->token) {
        explicit_bzero(c->token, strlen(c->token));
        free(c->token);
        c->token = NULL;
    }
}

int
config_set_listen(struct config *c, const char *value, struct err *err)
{
    const char *colon = strrchr(value, ':');
    const char *host = value;
    struct netaddr addr;
    bool bracketed = false;
    size_t hlen;
    uint64_t port;

    if (!colon)
        return err_set(err, EINVAL, "bad_config", "\"%s\": expected ADDR:PORT, e.g. 127.0.0.1:8420",
                       value);
    hlen = (size_t)(colon - value);
    if (hlen >= 2 && value[0] == '[' && value[hlen - 1] == ']') {
        host++;
        hlen -= 2;
        bracketed = true;
    } else if (memchr(value, ':', hlen)) {
        return err_set(err, EINVAL, "bad_config",
                       "\"%s\": an IPv6 address must be in brackets, e.g. [::1]:8420", value);
    }
    if (netaddr_parse(host, hlen, &addr) < 0)
        return err_set(err, EINVAL, "bad_config",
                       "\"%s\": the address must be an IP address (e.g. 127.0.0.1), not a name",
                       value);
    if (bracketed != (addr.family == AF_INET6))
        return err_set(err, EINVAL, "bad_config",
                       "\"%s\": brackets are for IPv6 addresses only ([::1]:8420, 127.0.0.1:8420)",
                       value);
    if ((colon[1] == '0' && colon[2] != '\0') || str_to_u64(colon + 1, 0, 65535, &port) < 0)
        return err_set(err, EINVAL, "bad_config",
                       "\"%s\": the port must be a number from 0 to 65535", value);
    c->listen_addr = addr;
    c->listen_port = (uint16_t)port;
    c->listen_tcp = true;
    return 0;
}

void
config_listen_format(const struct config *c, char *buf, size_t n)
{
    char addr[NETADDR_STR_MAX];

    netaddr_format(&c->listen_addr, addr, sizeof(addr));
    if (c->listen_addr.family == AF_INET6)
        snprintf(buf, n, "[%s]:%u", addr, c->listen_port);
    else
        snprintf(buf, n, "%s:%u", addr, c->listen_port);
}

int
config_set_dir(char *dst, const char *value, const char *base, struct err *err)
{
    char cwd[PATH_MAX];
    int r;

    if (!*value)
        return err_set(err, EINVAL, "bad_config", "must be a non-empty path");
    for (const char *p = value; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return err_set(err, EINVAL, "bad_config", "must not contain control characters");
    if (value[0] == '/') {
        r = str_copy(dst, PATH_MAX, value);
    } else if (*base) {
        r = str_printf(dst, PATH_MAX, "%s/%s", base, value);
    } else {
        if (!getcwd(cwd, sizeof(cwd)))
            return err_set(err, errno, "bad_config", "cannot read the working directory: %m");
        r = str_printf(dst, PATH_MAX, "%s/%s", cwd, value);
    }
    if (r < 0)
        return err_set(err, ENAMETOOLONG, "bad_config", "path is too long");
    return 0;
}

int
config_set_token(struct config *c, const char *value, const char *origin, struct err *err)
{
    size_t len = strlen(value);

    if (len < TOKEN_MIN || len > TOKEN_MAX)
        return err_set(err, EINVAL, "bad_config",
                       "%s: the token must be %d to %d characters long (it is %zu)", origin,
                       TOKEN_MIN, TOKEN_MAX, len);
    for (size_t i = 0; i < len; i++)
        if (value[i] <= 0x20 || value[i] >= 0x7f)
            return err_set(err, EINVAL, "bad_config",
                           "%s: the token must be printable ASCII without spaces", origin);
    config_clear(c);
    c->token = strdup(value);
    return c->token ? 0 : -ENOMEM;
}

/* Reads a JSON integer in [min,max] into *ret, naming key on error. */
static int
get_uint(json_t *v, const char *key, uint64_t min, uint64_t max, uint64_t *ret, struct err *err)
{
    json_int_t i;

    if (!json_is_integer(v))
        return err_set(err, EINVAL, "bad_config", "%s: must be an integer from %llu to %llu", key,
                       (unsigned long long)min, (unsigned long long)max);
    i = json_integer_value(v);
    if (i < 0 || (uint64_t)i < min || (uint64_t)i > max)
        return err_set(err, EINVAL, "bad_config", "%s: %lld is out of range (%llu to %llu)", key,
                       (long long)i, (unsigned long long)min, (unsigned long long)max);
    *ret = (uint64_t)i;
    return 0;
}

static int
get_string(json_t *v, const char *key, const char **ret, struct err *err)
{
    if (!json_is_string(v))
        return err_set(err, EINVAL, "bad_config", "%s: must be a string", key);
    *ret = json_string_value(v);
    if (strlen(*ret) != json_string_length(v))
        return err_set(err, EINVAL, "bad_config", "%s: must not contain NUL bytes", key);
    return 0;
}

static int
load_limits(json_t *obj, struct policy_limits *l, struct err *err)
{
    struct policy_limits parsed = {0};
    int r = policy_limits_parse(obj, "default_limits", &parsed, err);

    if (r < 0) {
        if (err)
            err->code = "bad_config";
        return r;
    }
    /* Keys left out keep the built-in defaults. */
    if (parsed.timeout_s)
        l->timeout_s = parsed.timeout_s;
    if (parsed.memory_mb)
        l->memory_mb = parsed.memory_mb;
    if (parsed.pids)
        l->pids = parsed.pids;
    if (parsed.cpu_s)
        l->cpu_s = parsed.cpu_s;
    if (parsed.output_bytes)
        l->output_bytes = parsed.output_bytes;
    if (parsed.disk_mb)
        l->disk_mb = parsed.disk_mb;
    return 0;
}

/* workspace_roots: absolute (or relative to the file) directories, kept as their real paths so
 * an adopted directory's real path can be compared with them. A root that does not exist is an
 * error: a typo must not silently adopt nothing. */
static int
load_roots(struct config *c, json_t *v, const char *base, struct err *err)
{
    char abs[PATH_MAX];
    json_t *e;
    size_t i;
    int r;

    if (!json_is_array(v) || json_array_size(v) > CONFIG_ROOTS_MAX)
        return err_set(err, EINVAL, "bad_config",
                       "workspace_roots: must be an array of at most %d directories",
                       CONFIG_ROOTS_MAX);
    json_array_foreach(v, i, e)
    {
        const char *s;
        if ((r = get_string(e, "workspace_roots[]", &s, err)) < 0)
            return r;
        if (config_set_dir(abs, s, base, err) < 0)
            return err_prefix(err, "workspace_roots[%zu]", i), -EINVAL;
        struct stat st;
        if (!realpath(abs, c->workspace_roots[i]))
            return err_set(err, errno, "bad_config", "workspace_roots[%zu]: %.200s: %m", i, abs);
        if (stat(c->workspace_roots[i], &st) < 0 || !S_ISDIR(st.st_mode))
            return err_set(err, ENOTDIR, "bad_config",
                           "workspace_roots[%zu]: %.200s is not a directory", i, abs);
        if (strcmp(c->workspace_roots[i], "/") == 0)
            return err_set(err, EINVAL, "bad_config",
                           "workspace_roots[%zu]: \"/\" would let any directory be adopted", i);
    }
    c->nworkspace_roots = (unsigned)json_array_size(v);
    return 0;
}

/* protected_paths: relative paths inside a workspace, "x/" for a directory. */
static int
load_protected(struct config *c, json_t *v, struct err *err)
{
    json_t *e;
    size_t i;
    int r;

    if (!json_is_array(v) || json_array_size(v) > CONFIG_PROTECTED_MAX)
        return err_set(err, EINVAL, "bad_config",
                       "protected_paths: must be an array of at most %d paths",
                       CONFIG_PROTECTED_MAX);
    json_array_foreach(v, i, e)
    {
        const char *s, *content = "";
        char p[CONFIG_PROTECTED_LEN];
        size_t len;
        /* "path", or {"path": ..., "placeholder": ...}: what a missing file is created with. */
        if (json_is_object(e)) {
            json_t *pv = json_object_get(e, "path"), *cv = json_object_get(e, "placeholder");
            if (json_object_size(e) != (cv ? 2u : 1u) || !pv)
                return err_set(err, EINVAL, "bad_config",
                               "protected_paths[%zu]: an object has \"path\" and, optionally, "
                               "\"placeholder\"",
                               i);
            if ((r = get_string(pv, "protected_paths[].path", &s, err)) < 0 ||
                (cv && (r = get_string(cv, "protected_paths[].placeholder", &content, err)) < 0))
                return r;
            if (strlen(content) >= CONFIG_PLACEHOLDER_LEN)
                return err_set(err, EINVAL, "bad_config",
                               "protected_paths[%zu].placeholder: at most %d bytes", i,
                               CONFIG_PLACEHOLDER_LEN - 1);
        } else if ((r = get_string(e, "protected_paths[]", &s, err)) < 0) {
            return r;
        }
        len = strlen(s);
        if (len == 0 || len >= sizeof(p))
            return err_set(err, EINVAL, "bad_config", "protected_paths[%zu]: must be 1 to %d bytes",
                           i, CONFIG_PROTECTED_LEN - 1);
        str_copy(p, sizeof(p), s);
        if (p[len - 1] == '/')
            p[len - 1] = '\0';
        if (!path_rel_valid(p, CONFIG_PROTECTED_LEN, false))
            return err_set(err, EINVAL, "bad_config",
                           "protected_paths[%zu]: \"%.64s\" must be a relative path without "
                           "\".\", \"..\" or empty segments",
                           i, s);
        if (*content && s[len - 1] == '/')
            return err_set(err, EINVAL, "bad_config",
                           "protected_paths[%zu]: a directory (\"%.64s\") has no placeholder "
                           "content",
                           i, s);
        str_copy(c->protected_paths[i], CONFIG_PROTECTED_LEN, s);
        str_copy(c->protected_placeholders[i], CONFIG_PLACEHOLDER_LEN, content);
    }
    c->nprotected_paths = (unsigned)json_array_size(v);
    return 0;
}

/* Applies one top-level key. base is the config file's directory. */
static int
apply_key(struct config *c, const char *key, json_t *v, const char *base, struct err *err)
{
    const char *s;
    uint64_t u;
    int r;

    if (strcmp(key, "listen") == 0 && json_is_null(v)) {
        c->listen_tcp = false; /* the Unix socket only (checked once the file is read) */
        return 0;
    }
    if (strcmp(key, "listen_unix") == 0 || strcmp(key, "listen_unix_group") == 0) {
        bool path = key[11] == '\0';
        if ((r = get_string(v, key, &s, err)) < 0)
            return r;
        if (path && (s[0] != '/' || strlen(s) >= sizeof(c->listen_unix)))
            return err_set(err, EINVAL, "bad_config",
                           "listen_unix: must be an absolute path of at most %zu bytes (a Unix "
                           "socket's limit)",
                           sizeof(c->listen_unix) - 1);
        if (!path && (!*s || strlen(s) >= sizeof(c->listen_unix_group)))
            return err_set(err, EINVAL, "bad_config",
                           "listen_unix_group: must be a group name or number");
        str_copy(path ? c->listen_unix : c->listen_unix_group,
                 path ? sizeof(c->listen_unix) : sizeof(c->listen_unix_group), s);
        return 0;
    }
    if (strcmp(key, "listen") == 0) {
        if ((r = get_string(v, key, &s, err)) < 0)
            return r;
        if ((r = config_set_listen(c, s, err)) < 0)
            err_prefix(err, "listen");
        return r;
    }
    if (strcmp(key, "state_dir") == 0 || strcmp(key, "policy_dir") == 0 ||
        strcmp(key, "web_dir") == 0) {
        if ((r = get_string(v, key, &s, err)) < 0)
            return r;
        r = config_set_dir(key[0] == 's'   ? c->state_dir
                           : key[0] == 'p' ? c->policy_dir
                                           : c->web_dir,
                           s, base, err);
        if (r < 0)
            err_prefix(err, "%s", key);
        return r;
    }
    if (strcmp(key, "token") == 0) {
        if (json_is_null(v))
            return 0;
        if ((r = get_string(v, key, &s, err)) < 0)
            return r;
        return config_set_token(c, s, "token", err);
    }
    if (strcmp(key, "log_format") == 0) {
        if ((r = get_string(v, key, &s, err)) < 0)
            return r;
        if (strcmp(s, "text") != 0 && strcmp(s, "json") != 0)
            return err_set(err, EINVAL, "bad_config",
                           "log_format: \"%.64s\" is not one of \"text\", \"json\"", s);
        c->log_json = s[0] == 'j';
        return 0;
    }
    if (strcmp(key, "log_level") == 0) {
        if ((r = get_string(v, key, &s, err)) < 0)
            return r;
        if (log_level_parse(s, &c->log_level) < 0)
            return err_set(err, EINVAL, "bad_config",
                           "log_level: \"%.64s\" is not one of debug, info, warn, error", s);
        return 0;
    }
    if (strcmp(key, "max_running_jobs") == 0) {
        if ((r = get_uint(v, key, 1, CONFIG_RUNNING_MAX, &u, err)) < 0)
            return r;
        c->max_running_jobs = (unsigned)u;
        return 0;
    }
    if (strcmp(key, "max_queued_jobs") == 0) {
        if ((r = get_uint(v, key, 0, CONFIG_QUEUED_MAX, &u, err)) < 0)
            return r;
        c->max_queued_jobs = (unsigned)u;
        return 0;
    }
    if (strcmp(key, "max_body_bytes") == 0) {
        if ((r = get_uint(v, key, 1024, API_BODY_MAX_CEILING, &u, err)) < 0)
            return r;
        c->max_body_bytes = (size_t)u;
        return 0;
    }
    if (strcmp(key, "api_threads") == 0) {
        if ((r = get_uint(v, key, 1, CONFIG_THREADS_MAX, &u, err)) < 0)
            return r;
        c->api_threads = (unsigned)u;
        return 0;
    }
    if (strcmp(key, "default_limits") == 0)
        return load_limits(v, &c->default_limits, err);
    if (strcmp(key, "job_uid") == 0 || strcmp(key, "job_gid") == 0) {
        if ((r = get_uint(v, key, 1, 4294967294u, &u, err)) < 0)
            return r;
        if (key[4] == 'u')
            c->job_uid = (uid_t)u;
        else
            c->job_gid = (gid_t)u;
        return 0;
    }
    if (strcmp(key, "cgroup_parent") == 0) {
        if ((r = get_string(v, key, &s, err)) < 0)
            return r;
        if (!*s || strlen(s) >= sizeof(c->cgroup_parent) ||
            strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-_.") != strlen(s) || s[0] == '.')
            return err_set(err, EINVAL, "bad_config",
                           "cgroup_parent: \"%.64s\" must be 1 to 63 of [a-z0-9._-], not "
                           "starting with '.'",
                           s);
        str_copy(c->cgroup_parent, sizeof(c->cgroup_parent), s);
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(proxy_keys); i++) {
        const struct uint_key *k = &proxy_keys[i];
        if (strcmp(key, k->name) != 0)
            continue;
        if ((r = get_uint(v, key, k->min, k->max, &u, err)) < 0)
            return r;
        *(unsigned *)(void *)((char *)c + k->offset) = (unsigned)u;
        return 0;
    }
    if (strcmp(key, "workspace_roots") == 0)
        return load_roots(c, v, base, err);
    if (strcmp(key, "protected_paths") == 0)
        return load_protected(c, v, err);
    if (strcmp(key, "workspace_allow_root_owned") == 0) {
        if (!json_is_boolean(v))
            return err_set(err, EINVAL, "bad_config",
                           "workspace_allow_root_owned: must be true or false");
        c->workspace_allow_root_owned = json_is_true(v);
        return 0;
    }
    if (strcmp(key, "metrics_public") == 0) {
        if (!json_is_boolean(v))
            return err_set(err, EINVAL, "bad_config", "metrics_public: must be true or false");
        c->metrics_public = json_is_true(v);
        return 0;
    }
    if (strcmp(key, "require_landlock") == 0) {
        if (!json_is_boolean(v))
            return err_set(err, EINVAL, "bad_config", "require_landlock: must be true or false");
        c->require_landlock = json_is_true(v);
        return 0;
    }
    return err_set(err, EINVAL, "bad_config",
                   "%.64s: unknown key (see docs/config.md for the keys airlockd knows)", key);
}

/* Reads at most CONFIG_FILE_MAX bytes of path into a malloc'd, NUL-terminated buffer. */
static int
read_file(const char *path, char **ret, size_t *ret_len, struct err *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    _cleanup_free_ char *buf = NULL;
    struct stat st;
    ssize_t n;

    /* O_NONBLOCK: a FIFO in place of the file must not hang the start; fstat refuses it. */
    if (fd < 0)
        return err_set(err, errno, "bad_config", "cannot open: %m");
    if (fstat(fd, &st) < 0)
        return err_set(err, errno, "bad_config", "cannot stat: %m");
    if (!S_ISREG(st.st_mode))
        return err_set(err, EINVAL, "bad_config", "not a regular file");
    if (st.st_size > CONFIG_FILE_MAX)
        return err_set(err, EFBIG, "bad_config", "larger than %d bytes", CONFIG_FILE_MAX);
    buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        return -ENOMEM;
    n = read(fd, buf, (size_t)st.st_size);
    if (n < 0)
        return err_set(err, errno, "bad_config", "cannot read: %m");
    buf[n] = '\0';
    *ret_len = (size_t)n;
    *ret = TAKE_PTR(buf);
    return 0;
}

int
config_load(struct config *c, const char *path, struct err *err)
{
    _cleanup_free_ char *text = NULL;
    _cleanup_free_ char *dir_copy = NULL;
    char base[PATH_MAX];
    json_error_t jerr;
    json_t *root;
    const char *key;
    json_t *v;
    size_t len = 0;
    int r;

    if ((r = read_file(path, &text, &len, err)) < 0) {
        err_prefix(err, "%s", path);
        return r;
    }
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return err_set(err, EINVAL, "bad_config", "%s: line %d column %d: %s", path, jerr.line,
                       jerr.column, jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return err_set(err, EINVAL, "bad_config", "%s: must be a JSON object", path);
    }
    dir_copy = strdup(path);
    if (!dir_copy || config_set_dir(base, dirname(dir_copy), "", err) < 0) {
        json_decref(root);
        return -ENOMEM;
    }
    json_object_foreach(root, key, v)
    {
        if ((r = apply_key(c, key, v, base, err)) < 0) {
            err_prefix(err, "%s", path);
            json_decref(root);
            return r;
        }
    }
    json_decref(root);
    if (!c->listen_tcp && !c->listen_unix[0])
        return err_set(err, EINVAL, "bad_config",
                       "%s: \"listen\": null turns TCP off, so listen_unix must name a socket",
                       path);
    if (c->workspace_disk_mb > c->workspace_disk_mb_max)
        return err_set(err, EINVAL, "bad_config",
                       "%s: workspace_disk_mb (%u) must not be more than workspace_disk_mb_max "
                       "(%u)",
                       path, c->workspace_disk_mb, c->workspace_disk_mb_max);
    str_copy(c->path, sizeof(c->path), path);
    return 0;
}
