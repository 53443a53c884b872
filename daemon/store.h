/*
 * store: the SQLite state file -- schema, migrations, and the rows for jobs and egress events.
 * It is the only module that includes sqlite3.h. It knows nothing of HTTP or of how jobs run; it
 * stores what it is given and answers queries. One connection, serialised by a mutex, so any
 * thread may call it. A database written by a newer Airlock, or one that is corrupt, is refused
 * at open and never written to.
 */
#ifndef AIRLOCK_STORE_H
#define AIRLOCK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define STORE_SCHEMA_VERSION 3
#define STORE_ID_MAX 64
#define STORE_LIST_MAX 1000 /* rows one list call returns at most */

/* One job row. Strings are owned by the struct (malloc'd) and released by store_job_clear;
 * JSON-valued columns are kept as JSON text. Times are Unix milliseconds, 0 when unset. */
struct store_job {
    char id[STORE_ID_MAX];
    char status[16]; /* queued running succeeded failed timed_out canceled lost */
    char *policy;
    char *command_json; /* JSON array of strings */
    char *labels_json;  /* JSON object string -> string */
    char *reason;       /* NULL when none */
    char *workspace;    /* persistent workspace id, NULL for the job's own */
    char *spec_json;    /* everything else the job was asked for (cwd, limits, ...) */
    bool has_exit_code;
    int exit_code;
    bool has_signal;
    int signal;
    int64_t created_ms, started_ms, finished_ms;
    int64_t cpu_ms, max_rss_kb;
    int64_t egress_allowed, egress_denied;
    int64_t stdout_bytes, stderr_bytes;
    bool stdout_truncated, stderr_truncated;
};

struct store_job_filter {
    const char *status;    /* NULL for any */
    const char *label_key; /* NULL for any; with label_value */
    const char *label_value;
    const char *before; /* job id: only jobs created before it; NULL from the newest */
    size_t limit;       /* 1..STORE_LIST_MAX */
};

/* One egress event (api.md, "GET /v1/jobs/<id>/egress"). Strings are borrowed on insert and
 * owned (malloc'd) in rows returned by store_egress_list. */
struct store_egress {
    char job_id[STORE_ID_MAX];
    int64_t time_ms;
    char *method, *scheme, *host, *path; /* path NULL for CONNECT */
    int port;
    char *decision; /* "allow" / "deny" */
    char *rule;     /* NULL when no rule decided */
    char *reason;   /* NULL when allowed */
    int status;     /* upstream HTTP status, 0 when none */
    int64_t bytes_up, bytes_down, duration_ms;
};

/* One persistent workspace (api.md, "Workspaces"). host_path is NULL for a managed one (its
 * directory is <state_dir>/workspaces/<id>); an adopted one records the directory's identity
 * (dev, ino) and owner when it was adopted, so a directory swapped behind it is noticed. */
struct store_ws {
    char id[STORE_ID_MAX];
    char *labels_json; /* JSON object string -> string */
    char *host_path;   /* NULL: managed */
    int64_t owner_uid, owner_gid, dev, ino;
    int64_t disk_mb; /* 0: no cap */
    int64_t created_ms, last_used_ms, jobs_total;
};

struct store;

/* Besides the codes each prototype names, every function below may return -EINVAL (a NULL
 * argument, an id that is empty or fills its array, a limit outside 1..STORE_LIST_MAX, a label
 * key without a value, a JSON column that is not valid JSON), -ENOMEM, -EBUSY (the file stayed
 * locked by another process past the busy timeout) and -ENOSPC. Output parameters are written
 * only on success; *ret of store_job_get is overwritten, not cleared first. A list with no rows
 * is *ret = NULL, *n = 0. store_egress_list of an unknown job is an empty list, not -ENOENT. */

/* Opens (creating when absent) the database at path, WAL mode, and applies migrations.
 * Refuses with -EPROTO a database whose schema version is newer than STORE_SCHEMA_VERSION, and
 * with -EIO one that is not a database or fails its integrity check; err says which and what to
 * do. The file is never modified in those cases. */
int store_open(const char *path, struct store **ret, struct err *err);
struct store *store_close(struct store *s); /* NULL-safe; returns NULL */
int store_schema_version(struct store *s);

/* Job rows. Return 0, -ENOENT (no such job), -EEXIST (insert of a taken id) or -EIO. */
int store_job_insert(struct store *s, const struct store_job *j);
int store_job_update(struct store *s, const struct store_job *j); /* every column by id */
int store_job_get(struct store *s, const char *id, struct store_job *ret);
int store_job_delete(struct store *s, const char *id); /* its egress events go with it */
/* Newest first. *ret is a malloc'd array of *n jobs; free with store_job_list_free. */
int store_job_list(struct store *s, const struct store_job_filter *f, struct store_job **ret,
                   size_t *n);
void store_job_clear(struct store_job *j);
void store_job_list_free(struct store_job *jobs, size_t n);
/* Marks every queued or running job as lost with reason daemon_restart and finished_ms = now.
 * The ids of those that were running are returned (malloc'd array of malloc'd strings, free
 * with store_ids_free) so the caller can clean what they left. */
int store_jobs_mark_lost(struct store *s, int64_t now_ms, char ***ret_ids, size_t *ret_n);
void store_ids_free(char **ids, size_t n);
/* Retention: ended jobs whose finished_ms is in (after_ms, upto_ms], oldest first, at most
 * limit (ids and finished_ms, malloc'd; free the ids with store_ids_free, the times with
 * free). */
int store_jobs_ended_between(struct store *s, int64_t after_ms, int64_t upto_ms, size_t limit,
                             char ***ret_ids, int64_t **ret_finished, size_t *ret_n);
/* Deletes at most limit ended jobs that finished before before_ms (their egress events and
 * idempotency keys go with them), in one transaction, and returns their ids. */
int store_jobs_delete_ended(struct store *s, int64_t before_ms, size_t limit, char ***ret_ids,
                            size_t *ret_n);

/* Egress events: inserted in one transaction per batch, each counted on its job's
 * egress_allowed / egress_denied (store_job_update leaves those two alone). An event whose job
 * no longer exists is dropped. */
int store_egress_insert(struct store *s, const struct store_egress *ev, size_t n);
/* Oldest first, at most limit rows after `after` rows (paging). Free with store_egress_free. */
int store_egress_list(struct store *s, const char *job_id, size_t after, size_t limit,
                      struct store_egress **ret, size_t *n);
void store_egress_free(struct store_egress *ev, size_t n);

/* Idempotency keys (api.md, Idempotency-Key on POST /v1/jobs): a key names the job its first
 * POST created and the SHA-256 of that POST's body. A key lives STORE_IDEM_TTL_MS: an older row
 * is ignored by store_idem_get and deleted by the next store_job_insert_idem. A key goes with
 * its job (store_job_delete). */
#define STORE_IDEM_KEY_MAX 128                 /* bytes of a key, without the NUL */
#define STORE_IDEM_TTL_MS (24LL * 3600 * 1000) /* 24 h */
struct store_idem {
    char body_sha256[65]; /* lowercase hex */
    char job_id[STORE_ID_MAX];
};
/* Inserts job j and key (naming j) in one transaction, after deleting the expired keys:
 * both or neither are stored. -EEXIST: the job id or a live key is taken (nothing stored). */
int store_job_insert_idem(struct store *s, const struct store_job *j, const char *key,
                          const char *body_sha256, int64_t now_ms);
/* The live row of key at now_ms into *ret. 0, or -ENOENT (none, or expired). */
int store_idem_get(struct store *s, const char *key, int64_t now_ms, struct store_idem *ret);

/* Workspace rows. Return 0, -ENOENT, -EEXIST (a taken id, or a host_path adopted already). */
int store_ws_insert(struct store *s, const struct store_ws *w);
int store_ws_get(struct store *s, const char *id, struct store_ws *ret);
int store_ws_delete(struct store *s, const char *id);
/* last_used_ms = now_ms; jobs_total += jobs. */
int store_ws_touch(struct store *s, const char *id, int64_t now_ms, int jobs);
/* Newest first, at most limit; label_key NULL for all. Free with store_ws_list_free. */
int store_ws_list(struct store *s, const char *label_key, const char *label_value, size_t limit,
                  struct store_ws **ret, size_t *n);
/* Rows whose last_used_ms is before before_ms, oldest first. */
int store_ws_idle(struct store *s, int64_t before_ms, struct store_ws **ret, size_t *n);
int store_ws_count(struct store *s, int64_t *ret);
void store_ws_clear(struct store_ws *w);
void store_ws_list_free(struct store_ws *w, size_t n);

#endif
