/*
 * config: the daemon's configuration -- its defaults, the JSON file, and the command-line
 * overrides. Strict: an unknown key, a wrong type or a bad value stops the start with a message
 * naming the file, the key and what is wrong. It knows nothing of jobs or HTTP; it only holds
 * values. Relative paths in the file are resolved against the file's own directory, so a
 * checkout's config works from any working directory.
 */
#ifndef AIRLOCK_CONFIG_H
#define AIRLOCK_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "log.h"
#include "netaddr.h"
#include "policy.h"
#include "util.h"

#define CONFIG_DEFAULT_PORT 8420
#define CONFIG_RUNNING_MAX 1024
#define CONFIG_QUEUED_MAX 100000
#define CONFIG_THREADS_MAX 64
#define CONFIG_ROOTS_MAX 16
#define CONFIG_PROTECTED_MAX 16
#define CONFIG_PROTECTED_LEN 256
#define CONFIG_PLACEHOLDER_LEN 64

struct config {
    char path[PATH_MAX]; /* the file loaded, "" when none */
    struct netaddr listen_addr;
    uint16_t listen_port;
    bool listen_tcp;            /* false: "listen": null, the Unix socket only */
    char listen_unix[108];      /* a Unix socket path ("" none): sun_path's size */
    char listen_unix_group[64]; /* its group ("" the daemon's own); mode 0660 */
    char state_dir[PATH_MAX];
    char policy_dir[PATH_MAX];
    /* The dashboard's static files (GET /); may not exist. */
    char web_dir[PATH_MAX];
    char *token; /* NULL when not set; wiped with explicit_bzero by config_clear */
    bool log_json;
    enum log_level log_level;
    unsigned max_running_jobs;
    unsigned max_queued_jobs;
    size_t max_body_bytes;
    unsigned api_threads;
    struct policy_limits default_limits;
    uid_t job_uid; /* host uid jobs map to when the daemon runs as root */
    gid_t job_gid;
    char cgroup_parent[64]; /* per-job cgroups live in <controller>/<cgroup_parent>/ */
    bool require_landlock;  /* refuse jobs when the kernel has no Landlock */
    bool metrics_public;    /* GET /metrics without the bearer token */
    /* The egress proxy (docs/config.md). */
    unsigned proxy_max_connections;         /* open connections from all jobs */
    unsigned proxy_max_connections_per_job; /* open connections from one job */
    unsigned proxy_header_timeout_s;        /* a started request head must complete in this */
    unsigned proxy_idle_timeout_s;          /* keep-alive wait, and a stalled job's body */
    unsigned proxy_connect_timeout_s;       /* connecting to an upstream */
    unsigned proxy_upstream_timeout_s;      /* an upstream silent this long: 504 */
    unsigned shutdown_grace_s;              /* SIGTERM: how long canceled jobs get to be recorded */
    unsigned retention_hours; /* an ended job's files (output, own workspace) kept (0: ever) */
    unsigned record_retention_days; /* an ended job's record and events kept (0: ever) */
    unsigned min_free_mb; /* no job or upload below this much free on state_dir (0: off) */
    /* Workspaces (docs/config.md). */
    char workspace_roots[CONFIG_ROOTS_MAX][PATH_MAX]; /* adoptable trees, absolute, resolved */
    unsigned nworkspace_roots;
    char protected_paths[CONFIG_PROTECTED_MAX][CONFIG_PROTECTED_LEN]; /* "x/" = a directory */
    char protected_placeholders[CONFIG_PROTECTED_MAX][CONFIG_PLACEHOLDER_LEN]; /* for a file */
    unsigned nprotected_paths;
    unsigned workspace_idle_hours; /* unused this long: removed (0 = never) */
    unsigned workspace_disk_mb;    /* a new managed workspace's cap */
    unsigned workspace_disk_mb_max;
    bool workspace_allow_root_owned; /* adopting a directory owned by root */
    unsigned workspaces_max;
};

/* Fills c with the built-in defaults (127.0.0.1:8420, ./var state, ./policies). */
void config_defaults(struct config *c);
/* Reads and applies the JSON file at path over c. Returns 0, or -errno with err naming the file
 * and the key ("config/airlockd.json: max_running_jobs: must be an integer from 1 to 1024"). */
int config_load(struct config *c, const char *path, struct err *err);
/* Parses "ADDR:PORT" (IPv4 dotted quad or [IPv6]) into c. Returns 0 or -EINVAL with err. */
int config_set_listen(struct config *c, const char *value, struct err *err);
/* Sets a directory value (state_dir, policy_dir, web_dir) made absolute against base ("" = cwd). */
int config_set_dir(char *dst, const char *value, const char *base, struct err *err);
/* Sets the token after checking its form (TOKEN_MIN..TOKEN_MAX printable, no spaces). */
int config_set_token(struct config *c, const char *value, const char *origin, struct err *err);
/* Formats the listen address as "ADDR:PORT" ("[::1]:8420" for IPv6) into buf. */
void config_listen_format(const struct config *c, char *buf, size_t n);
void config_clear(struct config *c);

#endif
