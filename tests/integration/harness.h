/*
 * harness: starts the real, built airlockd (path in $AIRLOCKD) on a free loopback port with its
 * own temporary state and policy directories, and drives it over HTTP with libcurl. Each daemon
 * writes its log to <dir>/daemon.log; stopping it checks a clean exit and, under sanitizers,
 * that the log holds no sanitizer report.
 */
#ifndef AIRLOCK_HARNESS_H
#define AIRLOCK_HARNESS_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct daemon {
    pid_t pid;
    int port;
    char dir[PATH_MAX];        /* the test's temporary directory */
    char state_dir[PATH_MAX];  /* <dir>/state */
    char policy_dir[PATH_MAX]; /* <dir>/policies */
    char config[PATH_MAX];     /* <dir>/airlockd.json */
    char log[PATH_MAX];        /* <dir>/daemon.log */
    char token[128];
    char env[4][512];   /* "NAME=value" added to the daemon's environment (daemon_setenv) */
    char bin[PATH_MAX]; /* the airlockd to run; "" for $AIRLOCKD */
    int nenv;
};

struct resp {
    long status;
    char *body;
    size_t len;
    char *headers; /* raw header block */
    json_t *json;  /* parsed body when it is JSON, else NULL */
    int curl_code; /* libcurl's result (CURLE_OK = 0); status is 0 when no answer came */
};

/* Makes the directories and writes a config (extra: more JSON members, e.g. "\"log_format\":
 * \"json\"", or NULL). Copies the repository's policies/ when copy_policies. */
void daemon_init(struct daemon *d, const char *extra, bool copy_policies);
/* The config's cgroup_parent for this daemon: "airlock-test-<port>" (static buffer). */
const char *daemon_cgroup_parent(const struct daemon *d);
/* Starts airlockd with the config and extra argv (NULL-terminated, may be NULL). Waits until
 * /healthz answers. Returns false (and keeps the log) when the daemon exits first. */
bool daemon_start_args(struct daemon *d, const char *const *extra_argv);
void daemon_start(struct daemon *d);
/* Runs airlockd to completion with argv and returns its exit status; output into *out. */
int daemon_run(const char *const *argv, const char *const *env, char **out);
/* SIGTERM and wait: asserts a clean exit 0 within 10 s. */
void daemon_stop(struct daemon *d);
/* SIGKILL and wait. */
void daemon_kill(struct daemon *d);
/* Sends a signal. */
void daemon_signal(struct daemon *d, int sig);
/* Removes the temporary directory. */
void daemon_cleanup(struct daemon *d);
/* Writes a policy file <policy_dir>/<name>.json. */
void daemon_write_policy(struct daemon *d, const char *name, const char *json);
char *read_file_str(const char *path);
bool file_contains(const char *path, const char *needle);

/* HTTP. token NULL uses the daemon's; "" sends no Authorization header. content_type NULL
 * sends application/json when body is non-NULL. extra_header may be NULL. */
struct resp http(struct daemon *d, const char *method, const char *path, const char *body,
                 const char *token, const char *content_type, const char *extra_header);
struct resp http_get(struct daemon *d, const char *path);
struct resp http_post(struct daemon *d, const char *path, const char *body);
void resp_free(struct resp *r);
/* Sends len raw bytes (may hold NULs) as the body with method. content_type NULL sends
 * application/octet-stream; extra_header may be NULL. */
struct resp http_bytes(struct daemon *d, const char *method, const char *path, const void *data,
                       size_t len, const char *content_type, const char *extra_header);
/* A body produced on the fly: read_cb fills up to size bytes of buf and returns how many, 0 at
 * the end (the body is never held in memory). length >= 0 is sent as Content-Length, -1 sends
 * the body chunked. No "Expect: 100-continue" unless extra_header asks for it. The answer's
 * body is kept whole (answers to uploads are small). timeout_s bounds the whole exchange. */
typedef size_t (*body_reader)(char *buf, size_t size, void *arg);
struct resp http_stream(struct daemon *d, const char *method, const char *path, body_reader read_cb,
                        void *arg, long long length, const char *content_type,
                        const char *extra_header, int timeout_s);
/* GET path, the answer's body streamed into SHA-256 (never held in memory): its digest as 64
 * hex digits into hex, its length into *nbytes. r.body keeps only the first 4 KiB (for
 * messages; r.json is parsed from those). timeout_s bounds the whole exchange. */
struct resp http_get_sha256(struct daemon *d, const char *path, char hex[65],
                            unsigned long long *nbytes, int timeout_s);
/* The value of header name (case-insensitive) in r, malloc'd, or NULL. */
char *resp_header(const struct resp *r, const char *name);
/* error.code and error.message of an error body, or "" */
const char *err_code(const struct resp *r);
const char *err_message(const struct resp *r);

/* Rewrites <dir>/airlockd.json as daemon_init did, with other extra members (after daemon_init,
 * before daemon_start; for members that name paths under d->dir). */
void daemon_write_config(struct daemon *d, const char *extra);
/* VmRSS of a process in KiB (from /proc/<pid>/status), -1 when unreadable. */
long proc_rss_kb(pid_t pid);

/* ---- SHA-256: the daemon's (daemon/sha256.h), to compare large bodies without holding them ----
 */

#include "sha256.h"

/* ---- jobs ---- */

/* Adds "NAME=value" to the environment the next daemon_start* gives airlockd. */
void daemon_setenv(struct daemon *d, const char *name_value);
/* /healthz kernel.cgroups.<ctrl>.writable: whether this daemon can enforce that controller's
 * limit through a cgroup (else it has rlimits only). */
bool daemon_cgroup_writable(struct daemon *d, const char *ctrl);

/* A new job body {"command": ["sh", "-c", script]}. */
json_t *job_sh(const char *script);
/* POST /v1/jobs with spec (borrowed) as the body. */
struct resp job_post(struct daemon *d, json_t *spec);
/* Sets "wait": true on spec, POSTs it and asserts 200 with a job object; returns a new reference
 * to that job. Steals spec. */
json_t *job_run(struct daemon *d, json_t *spec);
/* GET /v1/jobs/<id>; asserts 200; new reference. */
json_t *job_get(struct daemon *d, const char *id);
/* Polls GET /v1/jobs/<id> until status is none of queued/running, or until timeout_ms passes
 * (then asserts). New reference. */
json_t *job_wait_end(struct daemon *d, const char *id, int timeout_ms);
/* Polls until status is "running" (asserts within timeout_ms). New reference. */
json_t *job_wait_running(struct daemon *d, const char *id, int timeout_ms);
/* GET /v1/jobs/<id>/<stream> (stdout or stderr): the body, malloc'd; asserts 200. */
char *job_output(struct daemon *d, const char *id, const char *stream);
/* Runs sh -c script with wait; returns its stdout (malloc'd) and, when job is non-NULL, the
 * job (new reference). extra may add members to the body (borrowed, may be NULL). */
char *run_sh(struct daemon *d, const char *script, json_t *extra, json_t **job);
/* A string member of a job (or any object), "null" for JSON null, "" when absent. */
const char *jstr(const json_t *o, const char *key);
/* An integer member, or -1 when absent or not an integer. */
long long jint(const json_t *o, const char *key);
/* The object as compact JSON text for failure messages (static buffer, cut at 4 KiB). */
const char *jdump(const json_t *o);
/* The value of the line "key=value" in text (malloc'd), or NULL when no such line. */
char *kv(const char *text, const char *key);
/* True when kv(text, key) equals want. */
bool kv_is(const char *text, const char *key, const char *want);

/* A random string of digits (at least 12), unique to this call: "sleep 1000 0.<marker>" is a
 * sleep whose command line names it, found again with procs_matching. */
void make_marker(char *buf, size_t size);

/* Host processes: how many have needle in their command line (args joined by spaces); the
 * first pids go into pids (may be NULL). */
int procs_matching(const char *needle, pid_t *pids, int max);
/* Waits up to timeout_ms for no process to match needle; returns how many still match. */
int procs_wait_gone(const char *needle, int timeout_ms);
/* SIGKILLs the processes matching needle (a unique marker), so a failed test leaks none. */
void procs_kill_matching(const char *needle);

#endif
