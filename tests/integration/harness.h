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
};

struct resp {
    long status;
    char *body;
    size_t len;
    char *headers; /* raw header block */
    json_t *json;  /* parsed body when it is JSON, else NULL */
};

/* Makes the directories and writes a config (extra: more JSON members, e.g. "\"log_format\":
 * \"json\"", or NULL). Copies the repository's policies/ when copy_policies. */
void daemon_init(struct daemon *d, const char *extra, bool copy_policies);
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
/* The value of header name (case-insensitive) in r, malloc'd, or NULL. */
char *resp_header(const struct resp *r, const char *name);
/* error.code and error.message of an error body, or "" */
const char *err_code(const struct resp *r);
const char *err_message(const struct resp *r);

#endif
