/*
 * Unit tests for daemon/store.c: every test runs against its own database in a fresh mkdtemp
 * directory under /tmp (removed by the fixture). The refusal tests build their damaged or
 * foreign files with the SQLite API directly and check the bytes are unchanged afterwards.
 */
#include <criterion/criterion.h>

#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>

#include "store.h"

static char dir[64];
static char db_path[128];

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
setup(void)
{
    cr_assert_eq(str_copy(dir, sizeof(dir), "/tmp/airlock-test-store-XXXXXX"), 0);
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_geq(str_printf(db_path, sizeof(db_path), "%s/airlock.db", dir), 0);
}

static void
teardown(void)
{
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(store, .init = setup, .fini = teardown);

/* ---- helpers ---- */

static struct store *
open_ok(void)
{
    struct err err = {0};
    struct store *s = NULL;
    int r = store_open(db_path, &s, &err);

    cr_assert_eq(r, 0, "store_open: %d %s", r, err.message);
    cr_assert_not_null(s);
    return s;
}

static char *
dup_or_null(const char *v)
{
    char *d;

    if (!v)
        return NULL;
    d = strdup(v);
    cr_assert_not_null(d);
    return d;
}

/* A job with the given id, status and labels JSON; every other string NULL. */
static struct store_job
job_make(const char *id, const char *status, const char *labels)
{
    struct store_job j;

    memset(&j, 0, sizeof(j));
    cr_assert_eq(str_copy(j.id, sizeof(j.id), id), 0);
    cr_assert_eq(str_copy(j.status, sizeof(j.status), status), 0);
    j.policy = dup_or_null("default");
    j.command_json = dup_or_null("[\"true\"]");
    j.labels_json = dup_or_null(labels);
    return j;
}

static void
insert_ok(struct store *s, const char *id, const char *status, const char *labels)
{
    struct store_job j = job_make(id, status, labels);
    int r = store_job_insert(s, &j);

    cr_assert_eq(r, 0, "insert %s: %d", id, r);
    store_job_clear(&j);
}

static void
assert_str_or_null(const char *got, const char *want, const char *field)
{
    if (!want) {
        cr_assert_null(got, "%s: want NULL, got \"%s\"", field, got);
        return;
    }
    cr_assert_not_null(got, "%s: want \"%s\", got NULL", field, want);
    cr_assert_str_eq(got, want, "%s", field);
}

static void
assert_job_eq(const struct store_job *a, const struct store_job *b)
{
    cr_assert_str_eq(a->id, b->id);
    cr_assert_str_eq(a->status, b->status);
    assert_str_or_null(a->policy, b->policy, "policy");
    assert_str_or_null(a->command_json, b->command_json, "command_json");
    assert_str_or_null(a->labels_json, b->labels_json, "labels_json");
    assert_str_or_null(a->reason, b->reason, "reason");
    assert_str_or_null(a->workspace, b->workspace, "workspace");
    assert_str_or_null(a->spec_json, b->spec_json, "spec_json");
    cr_assert_eq(a->has_exit_code, b->has_exit_code);
    if (b->has_exit_code)
        cr_assert_eq(a->exit_code, b->exit_code);
    cr_assert_eq(a->has_signal, b->has_signal);
    if (b->has_signal)
        cr_assert_eq(a->signal, b->signal);
    cr_assert_eq(a->created_ms, b->created_ms);
    cr_assert_eq(a->started_ms, b->started_ms);
    cr_assert_eq(a->finished_ms, b->finished_ms);
    cr_assert_eq(a->cpu_ms, b->cpu_ms);
    cr_assert_eq(a->max_rss_kb, b->max_rss_kb);
    cr_assert_eq(a->egress_allowed, b->egress_allowed);
    cr_assert_eq(a->egress_denied, b->egress_denied);
    cr_assert_eq(a->stdout_bytes, b->stdout_bytes);
    cr_assert_eq(a->stderr_bytes, b->stderr_bytes);
    cr_assert_eq(a->stdout_truncated, b->stdout_truncated);
    cr_assert_eq(a->stderr_truncated, b->stderr_truncated);
}

static void
assert_get_eq(struct store *s, const struct store_job *want)
{
    struct store_job got;
    int r = store_job_get(s, want->id, &got);

    cr_assert_eq(r, 0, "get %s: %d", want->id, r);
    assert_job_eq(&got, want);
    store_job_clear(&got);
}

/* Lists with f and checks the ids, in order, against want (n_want of them). */
static void
assert_list_ids(struct store *s, const struct store_job_filter *f, const char *const *want,
                size_t n_want)
{
    struct store_job *jobs = NULL;
    size_t n = 0;
    int r = store_job_list(s, f, &jobs, &n);

    cr_assert_eq(r, 0, "list: %d", r);
    cr_assert_eq(n, n_want, "list: %zu rows, want %zu", n, n_want);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(jobs[i].id, want[i], "row %zu", i);
    store_job_list_free(jobs, n);
}

static unsigned char *
slurp(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long len;

    cr_assert_not_null(f, "open %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    cr_assert_geq(len, 0);
    rewind(f);
    buf = malloc((size_t)len + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *ret_len = (size_t)len;
    return buf;
}

static void
write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static void
sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;

    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_close(db), SQLITE_OK);
}

static int64_t
sql_count(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v;

    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Opens db_path expecting failure `want`; checks the message names the file and the bytes of
 * the file did not change. Returns nothing; err is copied out for further checks. */
static void
assert_refused(int want, struct err *ret_err)
{
    struct err err = {0};
    struct store *s = NULL;
    size_t before_len, after_len;
    unsigned char *before = slurp(db_path, &before_len);
    int r = store_open(db_path, &s, &err);
    unsigned char *after = slurp(db_path, &after_len);

    cr_assert_eq(r, want, "store_open: %d, want %d (%s)", r, want, err.message);
    cr_assert_null(s);
    cr_assert_not_null(strstr(err.message, db_path), "message does not name the file: %s",
                       err.message);
    cr_assert_eq(after_len, before_len, "file size changed");
    cr_assert_eq(memcmp(before, after, before_len), 0, "file bytes changed");
    free(before);
    free(after);
    if (ret_err)
        *ret_err = err;
}

/* ---- open and reopen ---- */

Test(store, create_fresh)
{
    struct store *s = open_ok();
    struct stat st;
    size_t len;
    unsigned char *bytes;

    cr_assert_eq(store_schema_version(s), STORE_SCHEMA_VERSION);
    store_close(s);
    cr_assert_eq(stat(db_path, &st), 0);
    cr_assert(S_ISREG(st.st_mode));
    bytes = slurp(db_path, &len);
    cr_assert_geq(len, 100);
    cr_assert_eq(memcmp(bytes, "SQLite format 3", 16), 0);
    cr_assert_eq(bytes[18], 2, "file format write version: want 2 (WAL)");
    free(bytes);
    cr_assert_eq(sql_count(db_path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    cr_assert_eq(store_close(NULL), NULL);
}

Test(store, reopen_keeps_rows)
{
    struct store *s = open_ok();
    struct store_job j = job_make("j_keep", "succeeded", "{\"k\":\"v\"}");

    j.has_exit_code = true;
    j.created_ms = 1234;
    cr_assert_eq(store_job_insert(s, &j), 0);
    store_close(s);
    s = open_ok();
    cr_assert_eq(store_schema_version(s), STORE_SCHEMA_VERSION);
    assert_get_eq(s, &j);
    store_close(s);
    store_job_clear(&j);
}

Test(store, empty_file_is_initialised)
{
    struct store *s;

    write_file(db_path, "", 0);
    s = open_ok();
    cr_assert_eq(store_schema_version(s), STORE_SCHEMA_VERSION);
    insert_ok(s, "j1", "queued", "{}");
    store_close(s);
}

/* ---- job rows ---- */

Test(store, job_roundtrip_every_field)
{
    struct store *s = open_ok();
    struct store_job j, bare;

    memset(&j, 0, sizeof(j));
    str_copy(j.id, sizeof(j.id), "j_0193b2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    str_copy(j.status, sizeof(j.status), "timed_out");
    j.policy = dup_or_null("pypi");
    j.command_json = dup_or_null("[\"python3\",\"main.py\",\"caf\xc3\xa9\"]");
    j.labels_json = dup_or_null("{\"team\":\"infra\",\"run\":\"42\"}");
    j.reason = dup_or_null("timeout");
    j.workspace = dup_or_null("w_abc");
    j.spec_json = dup_or_null("{\"cwd\":\"src\",\"limits\":{\"memory_mb\":256}}");
    j.has_exit_code = true;
    j.exit_code = -1;
    j.has_signal = true;
    j.signal = 9;
    j.created_ms = 1700000000001;
    j.started_ms = 1700000000002;
    j.finished_ms = 1700000000003;
    j.cpu_ms = 640;
    j.max_rss_kb = 40212;
    j.egress_allowed = 3;
    j.egress_denied = 1;
    j.stdout_bytes = INT64_MAX;
    j.stderr_bytes = 0;
    j.stdout_truncated = true;
    j.stderr_truncated = false;
    cr_assert_eq(store_job_insert(s, &j), 0);
    assert_get_eq(s, &j);

    /* NULL strings, no exit code or signal, booleans flipped. */
    bare = job_make("j_bare", "queued", NULL);
    free(bare.policy);
    free(bare.command_json);
    bare.policy = bare.command_json = NULL;
    bare.stderr_truncated = true;
    cr_assert_eq(store_job_insert(s, &bare), 0);
    assert_get_eq(s, &bare);

    /* Update rewrites every column: swap most of them. */
    free(j.reason);
    free(j.workspace);
    free(j.spec_json);
    j.reason = j.workspace = j.spec_json = NULL;
    free(j.policy);
    j.policy = dup_or_null("npm");
    str_copy(j.status, sizeof(j.status), "failed");
    j.has_signal = false;
    j.exit_code = 2;
    j.finished_ms = 5;
    j.stdout_truncated = false;
    j.stderr_truncated = true;
    j.egress_denied = 77; /* not written: the counters move with the egress rows */
    cr_assert_eq(store_job_update(s, &j), 0);
    j.egress_denied = 1;
    assert_get_eq(s, &j);
    assert_get_eq(s, &bare);

    cr_assert_eq(store_job_delete(s, j.id), 0);
    cr_assert_eq(store_job_delete(s, j.id), -ENOENT);
    assert_get_eq(s, &bare);
    store_job_clear(&j);
    store_job_clear(&bare);
    store_job_clear(NULL);
    store_close(s);
}

Test(store, duplicate_insert_eexist)
{
    struct store *s = open_ok();
    struct store_job j = job_make("j_dup", "queued", "{}");

    cr_assert_eq(store_job_insert(s, &j), 0);
    cr_assert_eq(store_job_insert(s, &j), -EEXIST);
    store_job_clear(&j);
    store_close(s);
}

Test(store, missing_job_enoent)
{
    struct store *s = open_ok();
    struct store_job got, j = job_make("j_nope", "running", "{}");

    memset(&got, 0x5a, sizeof(got));
    cr_assert_eq(store_job_get(s, "j_nope", &got), -ENOENT);
    cr_assert_eq((unsigned char)got.id[0], 0x5a, "ret written on failure");
    cr_assert_eq(store_job_update(s, &j), -ENOENT);
    cr_assert_eq(store_job_delete(s, "j_nope"), -ENOENT);
    store_job_clear(&j);
    store_close(s);
}

Test(store, invalid_arguments)
{
    struct store *s = open_ok();
    struct store_job j = job_make("j_bad", "queued", "{not json");
    struct store_job_filter f = {.limit = 0};
    struct store_job *jobs = NULL;
    size_t n = 0;

    cr_assert_eq(store_job_insert(s, &j), -EINVAL, "labels_json must be JSON");
    free(j.labels_json);
    j.labels_json = NULL;
    memset(j.id, 'x', sizeof(j.id)); /* not NUL-terminated */
    cr_assert_eq(store_job_insert(s, &j), -EINVAL);
    j.id[0] = '\0';
    cr_assert_eq(store_job_insert(s, &j), -EINVAL);
    cr_assert_eq(store_job_insert(NULL, &j), -EINVAL);
    cr_assert_eq(store_job_list(s, &f, &jobs, &n), -EINVAL);
    f.limit = STORE_LIST_MAX + 1;
    cr_assert_eq(store_job_list(s, &f, &jobs, &n), -EINVAL);
    f.limit = 10;
    f.label_key = "k"; /* without a value */
    cr_assert_eq(store_job_list(s, &f, &jobs, &n), -EINVAL);
    cr_assert_eq(store_schema_version(NULL), -EINVAL);
    store_job_clear(&j);
    store_close(s);
}

/* ---- listing ---- */

Test(store, list_newest_first_and_status)
{
    struct store *s = open_ok();
    struct store_job_filter f = {.limit = 50};

    insert_ok(s, "j_a", "succeeded", "{}");
    insert_ok(s, "j_b", "running", "{}");
    insert_ok(s, "j_c", "succeeded", "{}");
    insert_ok(s, "j_d", "queued", "{}");
    assert_list_ids(s, &f, (const char *const[]){"j_d", "j_c", "j_b", "j_a"}, 4);
    f.status = "succeeded";
    assert_list_ids(s, &f, (const char *const[]){"j_c", "j_a"}, 2);
    f.status = "lost";
    assert_list_ids(s, &f, NULL, 0);
    f.status = NULL;
    f.limit = 2;
    assert_list_ids(s, &f, (const char *const[]){"j_d", "j_c"}, 2);
    f.limit = 1;
    assert_list_ids(s, &f, (const char *const[]){"j_d"}, 1);
    store_close(s);
}

Test(store, list_label_filter_hostile_keys)
{
    struct store *s = open_ok();
    struct store_job_filter f = {.limit = 50};

    insert_ok(s, "j1", "running", "{\"env\":\"prod\",\"a.b\":\"x\"}");
    insert_ok(s, "j2", "running", "{\"env\":\"dev\",\"k\\\"q\":\"v1\"}");
    insert_ok(s, "j3", "succeeded", "{\"$.env\":\"prod\",\"a\\\"b.$'c\":\"weird\",\"$\":\"d\"}");
    insert_ok(s, "j4", "running", NULL);
    insert_ok(s, "j5", "running", "{\"a\":\"x\",\"env\":\"prod\"}");

    struct {
        const char *key, *value;
        const char *want[3];
        size_t n;
    } cases[] = {
        {"env", "prod", {"j5", "j1"}, 2},
        {"env", "dev", {"j2"}, 1},
        {"env", "staging", {NULL}, 0},
        {"$.env", "prod", {"j3"}, 1}, /* as a JSON path this would match j1 and j5 */
        {"a.b", "x", {"j1"}, 1},      /* as a path this would look inside "a" */
        {"a", "x", {"j5"}, 1},
        {"k\"q", "v1", {"j2"}, 1},
        {"a\"b.$'c", "weird", {"j3"}, 1},
        {"$", "d", {"j3"}, 1},
        {"\"", "x", {NULL}, 0},
        {"' OR 1=1 --", "x", {NULL}, 0},
        {"env\") OR 1=1 --", "prod", {NULL}, 0},
        {"", "", {NULL}, 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        f.label_key = cases[i].key;
        f.label_value = cases[i].value;
        assert_list_ids(s, &f, cases[i].want, cases[i].n);
    }
    /* Label and status together. */
    f.label_key = "env";
    f.label_value = "prod";
    f.status = "running";
    assert_list_ids(s, &f, (const char *const[]){"j5", "j1"}, 2);
    f.status = "succeeded";
    assert_list_ids(s, &f, NULL, 0);
    store_close(s);
}

Test(store, list_before_paging)
{
    struct store *s = open_ok();
    struct store_job_filter f = {.limit = 10};
    char id[STORE_ID_MAX], before[STORE_ID_MAX] = "";
    size_t pages[4], npages = 0, seen = 0;

    for (int i = 0; i < 25; i++) {
        cr_assert_geq(str_printf(id, sizeof(id), "j_%02d", i), 0);
        insert_ok(s, id, i % 2 ? "running" : "succeeded", "{}");
    }
    for (;;) {
        struct store_job *jobs = NULL;
        size_t n = 0;

        f.before = before[0] ? before : NULL;
        cr_assert_eq(store_job_list(s, &f, &jobs, &n), 0);
        cr_assert_lt(npages, ARRAY_SIZE(pages));
        pages[npages++] = n;
        for (size_t i = 0; i < n; i++, seen++) {
            cr_assert_geq(str_printf(id, sizeof(id), "j_%02zu", 24 - seen), 0);
            cr_assert_str_eq(jobs[i].id, id);
        }
        if (n)
            str_copy(before, sizeof(before), jobs[n - 1].id);
        store_job_list_free(jobs, n);
        if (n < f.limit)
            break;
    }
    cr_assert_eq(seen, 25);
    cr_assert_eq(npages, 3);
    cr_assert_eq(pages[0], 10);
    cr_assert_eq(pages[1], 10);
    cr_assert_eq(pages[2], 5);

    /* Paging within a status: j_11 and older running jobs. */
    f.status = "running";
    f.before = "j_12";
    f.limit = 3;
    assert_list_ids(s, &f, (const char *const[]){"j_11", "j_09", "j_07"}, 3);
    f.before = "j_01";
    assert_list_ids(s, &f, NULL, 0);

    struct store_job *jobs = NULL;
    size_t n = 99;
    f.before = "j_unknown";
    cr_assert_eq(store_job_list(s, &f, &jobs, &n), -ENOENT);
    cr_assert_null(jobs);
    cr_assert_eq(n, 99);
    store_close(s);
}

/* ---- mark lost ---- */

Test(store, mark_lost_touches_queued_and_running)
{
    static const char *const statuses[] = {"queued",  "running",   "succeeded", "failed",
                                           "running", "timed_out", "canceled",  "lost"};
    struct store *s = open_ok();
    char **ids = NULL;
    size_t n = 0;
    char id[STORE_ID_MAX];

    for (size_t i = 0; i < ARRAY_SIZE(statuses); i++) {
        struct store_job j = job_make("x", statuses[i], "{}");
        str_printf(j.id, sizeof(j.id), "j_%zu", i);
        j.finished_ms = 7;
        j.reason = dup_or_null(strcmp(statuses[i], "lost") == 0 ? "daemon_restart" : NULL);
        cr_assert_eq(store_job_insert(s, &j), 0);
        store_job_clear(&j);
    }
    cr_assert_eq(store_jobs_mark_lost(s, 999, &ids, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(ids[0], "j_1");
    cr_assert_str_eq(ids[1], "j_4");
    store_ids_free(ids, n);

    for (size_t i = 0; i < ARRAY_SIZE(statuses); i++) {
        struct store_job got;
        bool touched = strcmp(statuses[i], "queued") == 0 || strcmp(statuses[i], "running") == 0;

        str_printf(id, sizeof(id), "j_%zu", i);
        cr_assert_eq(store_job_get(s, id, &got), 0);
        if (touched) {
            cr_assert_str_eq(got.status, "lost");
            assert_str_or_null(got.reason, "daemon_restart", "reason");
            cr_assert_eq(got.finished_ms, 999);
        } else {
            cr_assert_str_eq(got.status, statuses[i]);
            cr_assert_eq(got.finished_ms, 7);
            assert_str_or_null(got.reason, strcmp(statuses[i], "lost") ? NULL : "daemon_restart",
                               "reason");
        }
        store_job_clear(&got);
    }
    ids = (char **)&n; /* must be overwritten */
    cr_assert_eq(store_jobs_mark_lost(s, 1000, &ids, &n), 0);
    cr_assert_eq(n, 0);
    store_ids_free(ids, n);
    store_close(s);
}

/* ---- egress ---- */

static void
egress_fill(struct store_egress *e, const char *job_id, size_t i)
{
    memset(e, 0, sizeof(*e));
    str_copy(e->job_id, sizeof(e->job_id), job_id);
    e->time_ms = 1700000000000 + (int64_t)i;
    e->method = i % 3 == 0 ? "CONNECT" : "GET";
    e->scheme = i % 3 == 0 ? "https" : "http";
    e->host = i % 2 ? "pypi.org" : "files.pythonhosted.org";
    e->port = i % 3 == 0 ? 443 : 80;
    e->path = i % 3 == 0 ? NULL : "/simple/x/";
    e->decision = i % 5 == 0 ? "deny" : "allow";
    e->rule = i % 5 == 0 ? NULL : "allow[0]";
    e->reason = i % 5 == 0 ? "no_rule" : NULL;
    e->status = i % 3 == 0 ? 0 : 200;
    e->bytes_up = (int64_t)i * 10;
    e->bytes_down = (int64_t)i * 1000;
    e->duration_ms = (int64_t)i % 17;
}

static void
assert_egress_eq(const struct store_egress *got, const struct store_egress *want)
{
    cr_assert_str_eq(got->job_id, want->job_id);
    cr_assert_eq(got->time_ms, want->time_ms);
    assert_str_or_null(got->method, want->method, "method");
    assert_str_or_null(got->scheme, want->scheme, "scheme");
    assert_str_or_null(got->host, want->host, "host");
    cr_assert_eq(got->port, want->port);
    assert_str_or_null(got->path, want->path, "path");
    assert_str_or_null(got->decision, want->decision, "decision");
    assert_str_or_null(got->rule, want->rule, "rule");
    assert_str_or_null(got->reason, want->reason, "reason");
    cr_assert_eq(got->status, want->status);
    cr_assert_eq(got->bytes_up, want->bytes_up);
    cr_assert_eq(got->bytes_down, want->bytes_down);
    cr_assert_eq(got->duration_ms, want->duration_ms);
}

#define EGRESS_N 1000

Test(store, egress_batch_and_paging)
{
    struct store *s = open_ok();
    struct store_egress *ev = calloc(EGRESS_N, sizeof(*ev));
    struct store_egress *got = NULL;
    size_t n = 0, seen = 0;

    cr_assert_not_null(ev);
    insert_ok(s, "j_net", "running", "{}");
    for (size_t i = 0; i < EGRESS_N; i++)
        egress_fill(&ev[i], "j_net", i);
    cr_assert_eq(store_egress_insert(s, ev, EGRESS_N), 0);
    cr_assert_eq(store_egress_insert(s, ev, 0), 0);

    cr_assert_eq(store_egress_list(s, "j_net", 0, STORE_LIST_MAX, &got, &n), 0);
    cr_assert_eq(n, EGRESS_N);
    for (size_t i = 0; i < n; i++)
        assert_egress_eq(&got[i], &ev[i]);
    store_egress_free(got, n);

    for (size_t page = 0; page < 5; page++) {
        cr_assert_eq(store_egress_list(s, "j_net", seen, 300, &got, &n), 0);
        cr_assert_eq(n, page < 3 ? 300u : page == 3 ? 100u : 0u, "page %zu: %zu rows", page, n);
        for (size_t i = 0; i < n; i++)
            assert_egress_eq(&got[i], &ev[seen + i]);
        seen += n;
        store_egress_free(got, n);
    }
    cr_assert_eq(seen, EGRESS_N);

    cr_assert_eq(store_egress_list(s, "j_none", 0, 10, &got, &n), 0);
    cr_assert_eq(n, 0);
    store_egress_free(got, n);
    cr_assert_eq(store_egress_list(s, "j_net", 0, 0, &got, &n), -EINVAL);
    cr_assert_eq(store_egress_list(s, "j_net", 0, STORE_LIST_MAX + 1, &got, &n), -EINVAL);
    store_egress_free(NULL, 0);
    free(ev);
    store_close(s);
}

Test(store, egress_of_a_missing_job_is_dropped)
{
    struct store *s = open_ok();
    struct store_egress ev[3], *got = NULL;
    size_t n = 0;

    insert_ok(s, "j_net", "running", "{}");
    egress_fill(&ev[0], "j_net", 1);
    egress_fill(&ev[1], "j_ghost", 2); /* no such job: deleted while its events were queued */
    egress_fill(&ev[2], "j_net", 3);
    cr_assert_eq(store_egress_insert(s, ev, 3), 0);
    cr_assert_eq(store_egress_list(s, "j_net", 0, 10, &got, &n), 0);
    cr_assert_eq(n, 2, "%zu rows", n);
    store_egress_free(got, n);
    cr_assert_eq(store_egress_list(s, "j_ghost", 0, 10, &got, &n), 0);
    cr_assert_eq(n, 0);
    store_egress_free(got, n);

    ev[1].decision = NULL;
    str_copy(ev[1].job_id, sizeof(ev[1].job_id), "j_net");
    cr_assert_eq(store_egress_insert(s, ev, 3), -EINVAL);
    store_close(s);
}

/* The job's counters move with its events, and a job update (its end) leaves them alone. */
Test(store, egress_counts_on_the_job)
{
    struct store *s = open_ok();
    struct store_egress ev[10];
    struct store_job j;

    insert_ok(s, "j_net", "running", "{}");
    for (size_t i = 0; i < ARRAY_SIZE(ev); i++)
        egress_fill(&ev[i], "j_net", i); /* i % 5 == 0 is a deny: 2 of 10 */
    cr_assert_eq(store_egress_insert(s, ev, 6), 0);
    cr_assert_eq(store_job_get(s, "j_net", &j), 0);
    cr_assert_eq(j.egress_allowed, 4);
    cr_assert_eq(j.egress_denied, 2);
    str_copy(j.status, sizeof(j.status), "succeeded");
    j.egress_allowed = j.egress_denied = 0;
    cr_assert_eq(store_job_update(s, &j), 0);
    store_job_clear(&j);
    cr_assert_eq(store_egress_insert(s, ev + 6, 4), 0); /* late events, after the end */
    cr_assert_eq(store_job_get(s, "j_net", &j), 0);
    cr_assert_str_eq(j.status, "succeeded");
    cr_assert_eq(j.egress_allowed, 8);
    cr_assert_eq(j.egress_denied, 2);
    store_job_clear(&j);
    store_close(s);
}

Test(store, delete_job_deletes_egress)
{
    struct store *s = open_ok();
    struct store_egress ev[20], *got = NULL;
    size_t n = 0;

    insert_ok(s, "j_gone", "succeeded", "{}");
    insert_ok(s, "j_kept", "succeeded", "{}");
    for (size_t i = 0; i < ARRAY_SIZE(ev); i++)
        egress_fill(&ev[i], i % 2 ? "j_gone" : "j_kept", i);
    cr_assert_eq(store_egress_insert(s, ev, ARRAY_SIZE(ev)), 0);
    /* Updating a job that has egress rows keeps them (id, their parent key, is not rewritten). */
    struct store_job j = job_make("j_kept", "failed", "{}");
    cr_assert_eq(store_job_update(s, &j), 0);
    store_job_clear(&j);
    cr_assert_eq(store_job_delete(s, "j_gone"), 0);

    cr_assert_eq(store_egress_list(s, "j_gone", 0, 100, &got, &n), 0);
    cr_assert_eq(n, 0);
    store_egress_free(got, n);
    cr_assert_eq(store_egress_list(s, "j_kept", 0, 100, &got, &n), 0);
    cr_assert_eq(n, 10);
    store_egress_free(got, n);
    store_close(s);
    cr_assert_eq(sql_count(db_path, "SELECT count(*) FROM egress WHERE job_id = 'j_gone'"), 0);
    cr_assert_eq(sql_count(db_path, "SELECT count(*) FROM egress"), 10);
}

/* ---- concurrency: the mutex serialises callers from many threads ---- */

#define THREADS 4
#define PER_THREAD 100

static void *
hammer(void *arg)
{
    struct store *s = arg;
    static int next;
    int t = __atomic_fetch_add(&next, 1, __ATOMIC_SEQ_CST);

    for (int i = 0; i < PER_THREAD; i++) {
        struct store_job j, got;
        memset(&j, 0, sizeof(j));
        str_printf(j.id, sizeof(j.id), "j_%d_%d", t, i);
        str_copy(j.status, sizeof(j.status), "queued");
        if (store_job_insert(s, &j) != 0 || store_job_get(s, j.id, &got) != 0)
            return (void *)1;
        store_job_clear(&got);
    }
    return NULL;
}

Test(store, threads_share_one_store)
{
    struct store *s = open_ok();
    pthread_t th[THREADS];
    struct store_job_filter f = {.limit = STORE_LIST_MAX};
    struct store_job *jobs = NULL;
    size_t n = 0;

    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, hammer, s), 0);
    for (int i = 0; i < THREADS; i++) {
        void *res = (void *)2;
        cr_assert_eq(pthread_join(th[i], &res), 0);
        cr_assert_null(res, "thread %d failed", i);
    }
    cr_assert_eq(store_job_list(s, &f, &jobs, &n), 0);
    cr_assert_eq(n, THREADS * PER_THREAD);
    store_job_list_free(jobs, n);
    store_close(s);
}

/* ---- refusals: the file is left byte for byte as it was ---- */

Test(store, newer_schema_refused)
{
    struct store *s = open_ok();
    struct err err;

    insert_ok(s, "j1", "succeeded", "{}");
    store_close(s);
    sql_exec(db_path, "PRAGMA user_version = 99");
    assert_refused(-EPROTO, &err);
    cr_assert_not_null(strstr(err.message, "99"), "%s", err.message);
    cr_assert_not_null(strstr(err.message, "newer"), "%s", err.message);
    cr_assert_eq(sql_count(db_path, "PRAGMA user_version"), 99);
}

/* The newer version is only in the WAL (its writer closed without checkpointing): refusing
 * must not checkpoint it into the main file on close either. */
Test(store, newer_schema_in_wal_refused)
{
    struct store *s = open_ok();
    char wal_path[160];
    unsigned char *wal_before, *wal_after;
    size_t wal_before_len, wal_after_len;
    sqlite3 *db = NULL;

    insert_ok(s, "j1", "succeeded", "{}");
    store_close(s);
    cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version = 5", NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_close(db), SQLITE_OK);

    cr_assert_geq(str_printf(wal_path, sizeof(wal_path), "%s-wal", db_path), 0);
    wal_before = slurp(wal_path, &wal_before_len);
    cr_assert_gt(wal_before_len, 0, "the WAL should hold the version change");
    assert_refused(-EPROTO, NULL);
    wal_after = slurp(wal_path, &wal_after_len);
    cr_assert_eq(wal_after_len, wal_before_len);
    cr_assert_eq(memcmp(wal_before, wal_after, wal_before_len), 0, "WAL bytes changed");
    free(wal_before);
    free(wal_after);
}

Test(store, garbage_file_refused)
{
    static const char text[] = "this is not a database";
    size_t len = (sizeof(text) - 1) * 1000;
    char *buf = malloc(len);
    struct err err;

    cr_assert_not_null(buf);
    for (size_t i = 0; i < 1000; i++)
        memcpy(buf + i * (sizeof(text) - 1), text, sizeof(text) - 1);
    write_file(db_path, buf, len);
    free(buf);
    assert_refused(-EIO, &err);
    cr_assert_not_null(strstr(err.message, "not touched"), "%s", err.message);
    cr_assert_not_null(strstr(err.message, "backup"), "%s", err.message);
}

Test(store, corrupt_page_refused)
{
    static const char text[] = "this is not a database";
    struct store *s = open_ok();
    char id[STORE_ID_MAX];
    unsigned char *bytes;
    size_t len, page;
    struct err err;
    FILE *f;

    for (int i = 0; i < 200; i++) {
        str_printf(id, sizeof(id), "j_%03d", i);
        insert_ok(s, id, "succeeded", "{\"padding\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}");
    }
    store_close(s);
    bytes = slurp(db_path, &len);
    page = (size_t)bytes[16] << 8 | bytes[17]; /* big-endian page size in the header */
    free(bytes);
    cr_assert_geq(len, 3 * page, "database too small to corrupt page 2");

    f = fopen(db_path, "r+b");
    cr_assert_not_null(f);
    cr_assert_eq(fseek(f, (long)page, SEEK_SET), 0);
    for (size_t off = 0; off < page; off += sizeof(text) - 1)
        fwrite(text, 1, sizeof(text) - 1 < page - off ? sizeof(text) - 1 : page - off, f);
    cr_assert_eq(fclose(f), 0);
    assert_refused(-EIO, &err);
    cr_assert_not_null(strstr(err.message, "not touched"), "%s", err.message);
}

Test(store, foreign_database_refused)
{
    struct err err;

    sql_exec(db_path, "CREATE TABLE jobs (x); INSERT INTO jobs VALUES (1);");
    assert_refused(-EPROTO, &err);
    cr_assert_not_null(strstr(err.message, "not an Airlock"), "%s", err.message);
    sql_exec(db_path, "PRAGMA user_version = 1; PRAGMA application_id = 42;");
    assert_refused(-EPROTO, NULL);
}

Test(store, missing_directory)
{
    struct err err = {0};
    struct store *s = NULL;
    char path[256];
    struct stat st;
    int r;

    cr_assert_geq(str_printf(path, sizeof(path), "%s/missing/airlock.db", dir), 0);
    r = store_open(path, &s, &err);
    cr_assert_lt(r, 0);
    cr_assert_null(s);
    cr_assert_neq(err.message[0], '\0');
    cr_assert_not_null(strstr(err.message, path), "%s", err.message);
    cr_assert_neq(stat(path, &st), 0, "the file must not be created");
}

Test(store, directory_as_path)
{
    struct err err = {0};
    struct store *s = NULL;

    cr_assert_eq(store_open(dir, &s, &err), -EISDIR);
    cr_assert_not_null(strstr(err.message, dir), "%s", err.message);
    cr_assert_eq(store_open(NULL, &s, &err), -EINVAL);
    cr_assert_neq(err.message[0], '\0');
}

/* ---- workspace rows ---- */

/* A workspace row; host_path NULL for a managed one. */
static struct store_ws
ws_make(const char *id, const char *labels, const char *host_path, int64_t created_ms)
{
    struct store_ws w;

    memset(&w, 0, sizeof(w));
    cr_assert_eq(str_copy(w.id, sizeof(w.id), id), 0);
    w.labels_json = dup_or_null(labels);
    w.host_path = dup_or_null(host_path);
    w.owner_uid = w.owner_gid = -1;
    w.created_ms = w.last_used_ms = created_ms;
    return w;
}

static void
ws_insert_ok(struct store *s, const char *id, const char *labels, const char *host_path,
             int64_t created_ms)
{
    struct store_ws w = ws_make(id, labels, host_path, created_ms);
    int r = store_ws_insert(s, &w);

    cr_assert_eq(r, 0, "ws insert %s: %d", id, r);
    store_ws_clear(&w);
}

static void
assert_ws_eq(const struct store_ws *a, const struct store_ws *b)
{
    cr_assert_str_eq(a->id, b->id);
    assert_str_or_null(a->labels_json, b->labels_json, "labels_json");
    assert_str_or_null(a->host_path, b->host_path, "host_path");
    cr_assert_eq(a->owner_uid, b->owner_uid);
    cr_assert_eq(a->owner_gid, b->owner_gid);
    cr_assert_eq(a->dev, b->dev);
    cr_assert_eq(a->ino, b->ino);
    cr_assert_eq(a->disk_mb, b->disk_mb);
    cr_assert_eq(a->created_ms, b->created_ms);
    cr_assert_eq(a->last_used_ms, b->last_used_ms);
    cr_assert_eq(a->jobs_total, b->jobs_total);
}

static void
assert_ws_ids(const struct store_ws *rows, size_t n, const char *const *want, size_t n_want)
{
    cr_assert_eq(n, n_want, "%zu rows, want %zu", n, n_want);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(rows[i].id, want[i], "row %zu", i);
}

static void
assert_ws_list(struct store *s, const char *key, const char *value, size_t limit,
               const char *const *want, size_t n_want)
{
    struct store_ws *rows = NULL;
    size_t n = 99;
    int r = store_ws_list(s, key, value, limit, &rows, &n);

    cr_assert_eq(r, 0, "ws list: %d", r);
    assert_ws_ids(rows, n, want, n_want);
    if (n == 0)
        cr_assert_null(rows);
    store_ws_list_free(rows, n);
}

static int64_t
ws_count(struct store *s)
{
    int64_t n = -1;

    cr_assert_eq(store_ws_count(s, &n), 0);
    return n;
}

Test(store, ws_roundtrip_every_field)
{
    struct store *s = open_ok();
    struct store_ws w =
        ws_make("w_adopted", "{\"team\":\"a\",\"k\":\"v\"}", "/srv/agents/repo", 1700000000123);
    struct store_ws m = ws_make("w_managed", "{}", NULL, 1700000000456);
    struct store_ws got;

    w.owner_uid = 1234;
    w.owner_gid = 5678;
    w.dev = 0x10302;
    w.ino = 9007199254740993LL; /* past a double's precision */
    w.disk_mb = 0;
    w.last_used_ms = 1700000009999;
    w.jobs_total = 7;
    m.disk_mb = 1024;
    cr_assert_eq(store_ws_insert(s, &w), 0);
    cr_assert_eq(store_ws_insert(s, &m), 0);

    cr_assert_eq(store_ws_get(s, "w_adopted", &got), 0);
    assert_ws_eq(&got, &w);
    store_ws_clear(&got);
    cr_assert_null(got.labels_json);
    cr_assert_null(got.host_path);
    cr_assert_eq(store_ws_get(s, "w_managed", &got), 0);
    assert_ws_eq(&got, &m);
    cr_assert_null(got.host_path, "a managed workspace has no host_path");
    store_ws_clear(&got);
    store_ws_clear(NULL);
    store_ws_list_free(NULL, 0);

    /* kept across a reopen */
    store_close(s);
    s = open_ok();
    cr_assert_eq(store_ws_get(s, "w_adopted", &got), 0);
    assert_ws_eq(&got, &w);
    store_ws_clear(&got);
    store_ws_clear(&w);
    store_ws_clear(&m);
    store_close(s);
}

Test(store, ws_duplicates_eexist)
{
    struct store *s = open_ok();
    struct store_ws got;

    ws_insert_ok(s, "w1", "{}", "/srv/agents/repo", 1000);
    /* the same id again */
    {
        struct store_ws w = ws_make("w1", "{}", NULL, 2000);
        cr_assert_eq(store_ws_insert(s, &w), -EEXIST);
        store_ws_clear(&w);
    }
    /* a second adoption of the same path, under another id */
    {
        struct store_ws w = ws_make("w2", "{\"x\":\"y\"}", "/srv/agents/repo", 2000);
        cr_assert_eq(store_ws_insert(s, &w), -EEXIST);
        store_ws_clear(&w);
    }
    cr_assert_eq(store_ws_get(s, "w2", &got), -ENOENT, "the refused row was not written");
    /* paths are compared as given: another spelling is another row (callers resolve first) */
    ws_insert_ok(s, "w3", "{}", "/srv/agents/repo2", 3000);
    /* any number of managed workspaces (host_path NULL is not a duplicate) */
    ws_insert_ok(s, "m1", "{}", NULL, 4000);
    ws_insert_ok(s, "m2", "{}", NULL, 5000);
    ws_insert_ok(s, "m3", "{}", NULL, 6000);
    cr_assert_eq(ws_count(s), 5);

    /* once forgotten, the path may be adopted again */
    cr_assert_eq(store_ws_delete(s, "w1"), 0);
    ws_insert_ok(s, "w4", "{}", "/srv/agents/repo", 7000);
    cr_assert_eq(ws_count(s), 5);
    store_close(s);
}

Test(store, ws_get_delete_missing)
{
    struct store *s = open_ok();
    struct store_ws got;

    cr_assert_eq(store_ws_get(s, "w_nope", &got), -ENOENT);
    cr_assert_eq(store_ws_delete(s, "w_nope"), -ENOENT);
    cr_assert_eq(store_ws_touch(s, "w_nope", 5, 1), -ENOENT);
    ws_insert_ok(s, "w1", "{}", NULL, 1000);
    cr_assert_eq(store_ws_delete(s, "w1"), 0);
    cr_assert_eq(store_ws_delete(s, "w1"), -ENOENT);
    cr_assert_eq(store_ws_get(s, "w1", &got), -ENOENT);
    cr_assert_eq(ws_count(s), 0);
    store_close(s);
}

/* last_used_ms only moves forward (two threads may touch out of order); jobs accumulate. */
Test(store, ws_touch_is_monotonic_and_counts_jobs)
{
    struct store *s = open_ok();
    struct store_ws got;

    ws_insert_ok(s, "w1", "{}", NULL, 1000);
    cr_assert_eq(store_ws_touch(s, "w1", 2000, 1), 0);
    cr_assert_eq(store_ws_get(s, "w1", &got), 0);
    cr_assert_eq(got.last_used_ms, 2000);
    cr_assert_eq(got.jobs_total, 1);
    cr_assert_eq(got.created_ms, 1000, "created_ms never moves");
    store_ws_clear(&got);

    cr_assert_eq(store_ws_touch(s, "w1", 1500, 1), 0); /* older: kept at 2000 */
    cr_assert_eq(store_ws_get(s, "w1", &got), 0);
    cr_assert_eq(got.last_used_ms, 2000);
    cr_assert_eq(got.jobs_total, 2);
    store_ws_clear(&got);

    cr_assert_eq(store_ws_touch(s, "w1", 2000, 0), 0); /* same time, a file op */
    cr_assert_eq(store_ws_touch(s, "w1", 3000, 0), 0);
    cr_assert_eq(store_ws_get(s, "w1", &got), 0);
    cr_assert_eq(got.last_used_ms, 3000);
    cr_assert_eq(got.jobs_total, 2);
    store_ws_clear(&got);
    store_close(s);
}

Test(store, ws_list_newest_first_labels_limit)
{
    struct store *s = open_ok();
    struct store_ws *rows = NULL;
    size_t n = 0;

    assert_ws_list(s, NULL, NULL, 10, NULL, 0);
    /* inserted out of created_ms order: the list follows insertion (newest row first) */
    ws_insert_ok(s, "w1", "{\"env\":\"prod\",\"team\":\"a\"}", NULL, 3000);
    ws_insert_ok(s, "w2", "{\"env\":\"dev\"}", "/srv/x", 1000);
    ws_insert_ok(s, "w3", "{\"env\":\"prod\",\"$.env\":\"q\"}", NULL, 2000);
    ws_insert_ok(s, "w4", "{}", NULL, 4000);

    assert_ws_list(s, NULL, NULL, 10, (const char *const[]){"w4", "w3", "w2", "w1"}, 4);
    assert_ws_list(s, NULL, NULL, 2, (const char *const[]){"w4", "w3"}, 2);
    assert_ws_list(s, NULL, NULL, 1, (const char *const[]){"w4"}, 1);
    assert_ws_list(s, "env", "prod", 10, (const char *const[]){"w3", "w1"}, 2);
    assert_ws_list(s, "env", "prod", 1, (const char *const[]){"w3"}, 1);
    assert_ws_list(s, "env", "dev", 10, (const char *const[]){"w2"}, 1);
    assert_ws_list(s, "team", "a", 10, (const char *const[]){"w1"}, 1);
    assert_ws_list(s, "env", "staging", 10, NULL, 0);
    assert_ws_list(s, "$.env", "q", 10, (const char *const[]){"w3"}, 1);
    assert_ws_list(s, "' OR 1=1 --", "x", 10, NULL, 0);
    assert_ws_list(s, "", "", 10, NULL, 0);

    /* a deleted row leaves the list */
    cr_assert_eq(store_ws_delete(s, "w3"), 0);
    assert_ws_list(s, "env", "prod", 10, (const char *const[]){"w1"}, 1);

    /* bad arguments */
    cr_assert_eq(store_ws_list(s, NULL, NULL, 0, &rows, &n), -EINVAL);
    cr_assert_eq(store_ws_list(s, NULL, NULL, STORE_LIST_MAX + 1, &rows, &n), -EINVAL);
    cr_assert_eq(store_ws_list(s, "env", NULL, 10, &rows, &n), -EINVAL, "key without a value");
    cr_assert_eq(store_ws_list(NULL, NULL, NULL, 10, &rows, &n), -EINVAL);
    cr_assert_eq(store_ws_list(s, NULL, NULL, 10, NULL, &n), -EINVAL);
    cr_assert_eq(store_ws_list(s, NULL, NULL, 10, &rows, NULL), -EINVAL);
    store_close(s);
}

Test(store, ws_list_limit_max)
{
    struct store *s = open_ok();
    struct store_ws *rows = NULL;
    char id[STORE_ID_MAX];
    size_t n = 0;

    cr_assert_eq(store_ws_count(s, &(int64_t){0}), 0);
    for (int i = 0; i < STORE_LIST_MAX + 5; i++) {
        str_printf(id, sizeof(id), "w_%04d", i);
        ws_insert_ok(s, id, "{}", NULL, i);
    }
    cr_assert_eq(ws_count(s), STORE_LIST_MAX + 5);
    cr_assert_eq(store_ws_list(s, NULL, NULL, STORE_LIST_MAX, &rows, &n), 0);
    cr_assert_eq(n, STORE_LIST_MAX);
    str_printf(id, sizeof(id), "w_%04d", STORE_LIST_MAX + 4);
    cr_assert_str_eq(rows[0].id, id);
    cr_assert_str_eq(rows[n - 1].id, "w_0005");
    store_ws_list_free(rows, n);
    store_close(s);
}

Test(store, ws_idle_oldest_first)
{
    struct store *s = open_ok();
    struct store_ws *rows = NULL;
    size_t n = 0;

    ws_insert_ok(s, "w100", "{}", NULL, 100);
    ws_insert_ok(s, "w300", "{}", "/srv/a", 300);
    ws_insert_ok(s, "w200", "{}", NULL, 200);

    cr_assert_eq(store_ws_idle(s, 250, &rows, &n), 0);
    assert_ws_ids(rows, n, (const char *const[]){"w100", "w200"}, 2);
    store_ws_list_free(rows, n);

    /* strictly before: a row used exactly at the bound is not idle */
    cr_assert_eq(store_ws_idle(s, 100, &rows, &n), 0);
    assert_ws_ids(rows, n, NULL, 0);
    cr_assert_null(rows);
    cr_assert_eq(store_ws_idle(s, 101, &rows, &n), 0);
    assert_ws_ids(rows, n, (const char *const[]){"w100"}, 1);
    store_ws_list_free(rows, n);

    /* a touch makes a row young again */
    cr_assert_eq(store_ws_touch(s, "w100", 1000, 1), 0);
    cr_assert_eq(store_ws_idle(s, 1001, &rows, &n), 0);
    assert_ws_ids(rows, n, (const char *const[]){"w200", "w300", "w100"}, 3);
    store_ws_list_free(rows, n);

    cr_assert_eq(store_ws_idle(NULL, 1, &rows, &n), -EINVAL);
    cr_assert_eq(store_ws_idle(s, 1, NULL, &n), -EINVAL);
    store_close(s);
}

Test(store, ws_count_and_invalid_arguments)
{
    struct store *s = open_ok();
    struct store_ws w = ws_make("w_bad", "{not json", NULL, 1);
    struct store_ws got;
    int64_t n;

    cr_assert_eq(ws_count(s), 0);
    cr_assert_eq(store_ws_insert(s, &w), -EINVAL, "labels_json must be JSON");
    free(w.labels_json);
    w.labels_json = NULL;
    cr_assert_eq(store_ws_insert(s, &w), -EINVAL, "labels_json is required");
    w.labels_json = dup_or_null("{}");
    memset(w.id, 'x', sizeof(w.id)); /* not NUL-terminated */
    cr_assert_eq(store_ws_insert(s, &w), -EINVAL);
    w.id[0] = '\0';
    cr_assert_eq(store_ws_insert(s, &w), -EINVAL);
    cr_assert_eq(store_ws_insert(NULL, &w), -EINVAL);
    cr_assert_eq(store_ws_insert(s, NULL), -EINVAL);
    cr_assert_eq(store_ws_get(s, NULL, &got), -EINVAL);
    cr_assert_eq(store_ws_get(s, "w", NULL), -EINVAL);
    cr_assert_eq(store_ws_delete(s, NULL), -EINVAL);
    cr_assert_eq(store_ws_touch(NULL, "w", 1, 1), -EINVAL);
    cr_assert_eq(store_ws_count(NULL, &n), -EINVAL);
    cr_assert_eq(store_ws_count(s, NULL), -EINVAL);
    cr_assert_eq(ws_count(s), 0, "nothing was written");

    ws_insert_ok(s, "w1", "{}", NULL, 1);
    ws_insert_ok(s, "w2", "{}", NULL, 2);
    cr_assert_eq(ws_count(s), 2);
    cr_assert_eq(store_ws_delete(s, "w1"), 0);
    cr_assert_eq(ws_count(s), 1);
    store_ws_clear(&w);
    store_close(s);
}

/* ---- migration: a database written at schema 1 (before workspaces) ---- */

/* migrations[0] of daemon/store.c, copied as released: a released step never changes, so this
 * text is what an Airlock of schema 1 left on disk. */
static const char schema_1_sql[] =
    "PRAGMA application_id = 1095912523;"
    "CREATE TABLE jobs ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT UNIQUE NOT NULL,"
    " status TEXT NOT NULL,"
    " policy TEXT,"
    " command_json TEXT CHECK (command_json IS NULL OR json_valid(command_json)),"
    " labels_json TEXT CHECK (labels_json IS NULL OR json_valid(labels_json)),"
    " reason TEXT,"
    " workspace TEXT,"
    " spec_json TEXT CHECK (spec_json IS NULL OR json_valid(spec_json)),"
    " exit_code INTEGER,"
    " signal INTEGER,"
    " created_ms INTEGER NOT NULL DEFAULT 0,"
    " started_ms INTEGER NOT NULL DEFAULT 0,"
    " finished_ms INTEGER NOT NULL DEFAULT 0,"
    " cpu_ms INTEGER NOT NULL DEFAULT 0,"
    " max_rss_kb INTEGER NOT NULL DEFAULT 0,"
    " egress_allowed INTEGER NOT NULL DEFAULT 0,"
    " egress_denied INTEGER NOT NULL DEFAULT 0,"
    " stdout_bytes INTEGER NOT NULL DEFAULT 0,"
    " stderr_bytes INTEGER NOT NULL DEFAULT 0,"
    " stdout_truncated INTEGER NOT NULL DEFAULT 0,"
    " stderr_truncated INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX jobs_status_seq ON jobs (status, seq);"
    "CREATE TABLE egress ("
    " id INTEGER PRIMARY KEY,"
    " job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,"
    " time_ms INTEGER NOT NULL,"
    " method TEXT,"
    " scheme TEXT,"
    " host TEXT,"
    " port INTEGER NOT NULL,"
    " path TEXT,"
    " decision TEXT NOT NULL,"
    " rule TEXT,"
    " reason TEXT,"
    " status INTEGER NOT NULL,"
    " bytes_up INTEGER NOT NULL,"
    " bytes_down INTEGER NOT NULL,"
    " duration_ms INTEGER NOT NULL);"
    "CREATE INDEX egress_job_id ON egress (job_id, id);"
    "PRAGMA user_version = 1;";

Test(store, migrates_schema_1_to_2)
{
    struct store *s;
    struct store_job got;
    struct store_egress *ev = NULL;
    size_t n = 0;

    sql_exec(db_path, schema_1_sql);
    sql_exec(db_path,
             "INSERT INTO jobs (id, status, policy, command_json, labels_json, exit_code,"
             " created_ms, finished_ms, stdout_bytes)"
             " VALUES ('j_old', 'succeeded', 'default', '[\"echo\",\"hi\"]', '{\"k\":\"v\"}',"
             " 0, 1111, 2222, 3);"
             "INSERT INTO egress (job_id, time_ms, method, scheme, host, port, path, decision,"
             " status, bytes_up, bytes_down, duration_ms)"
             " VALUES ('j_old', 1500, 'GET', 'https', 'example.com', 443, '/', 'allow', 200,"
             " 1, 2, 3);");
    cr_assert_eq(sql_count(db_path, "PRAGMA user_version"), 1);
    cr_assert_eq(sql_count(db_path, "SELECT count(*) FROM sqlite_master WHERE name = 'workspaces'"),
                 0);

    s = open_ok();
    cr_assert_eq(store_schema_version(s), STORE_SCHEMA_VERSION);
    cr_assert_eq(STORE_SCHEMA_VERSION, 3);

    /* the job and its egress are kept as they were */
    cr_assert_eq(store_job_get(s, "j_old", &got), 0);
    cr_assert_str_eq(got.status, "succeeded");
    cr_assert_str_eq(got.policy, "default");
    cr_assert_str_eq(got.command_json, "[\"echo\",\"hi\"]");
    cr_assert_str_eq(got.labels_json, "{\"k\":\"v\"}");
    cr_assert_null(got.workspace, "an old job ran in its own workspace");
    cr_assert(got.has_exit_code);
    cr_assert_eq(got.exit_code, 0);
    cr_assert_eq(got.created_ms, 1111);
    cr_assert_eq(got.finished_ms, 2222);
    cr_assert_eq(got.stdout_bytes, 3);
    store_job_clear(&got);
    cr_assert_eq(store_egress_list(s, "j_old", 0, 10, &ev, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(ev[0].host, "example.com");
    store_egress_free(ev, n);

    /* an empty workspaces table, usable at once */
    cr_assert_eq(ws_count(s), 0);
    assert_ws_list(s, NULL, NULL, 10, NULL, 0);
    ws_insert_ok(s, "w1", "{}", "/srv/x", 5);
    cr_assert_eq(ws_count(s), 1);
    /* new jobs may name a workspace */
    {
        struct store_job j = job_make("j_new", "queued", "{}");
        j.workspace = dup_or_null("w1");
        cr_assert_eq(store_job_insert(s, &j), 0);
        store_job_clear(&j);
    }
    store_close(s);

    cr_assert_eq(sql_count(db_path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    cr_assert_eq(sql_count(db_path, "PRAGMA application_id"), 1095912523);
    cr_assert_eq(sql_count(db_path, "SELECT count(*) FROM sqlite_master"
                                    " WHERE type = 'table' AND name = 'workspaces'"),
                 1);
    cr_assert_eq(sql_count(db_path, "SELECT count(*) FROM sqlite_master"
                                    " WHERE type = 'index' AND name = 'jobs_workspace'"),
                 1);
    cr_assert_eq(sql_count(db_path, "SELECT count(*) FROM jobs"), 2);

    /* and a second open finds nothing left to do */
    s = open_ok();
    cr_assert_eq(ws_count(s), 1);
    cr_assert_eq(store_job_get(s, "j_old", &got), 0);
    store_job_clear(&got);
    store_close(s);
    cr_assert_eq(sql_count(db_path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
}

/* A fresh database is created straight at the current schema, workspaces table included. */
Test(store, fresh_database_has_workspaces)
{
    struct store *s = open_ok();

    cr_assert_eq(ws_count(s), 0);
    store_close(s);
    cr_assert_eq(sql_count(db_path, "SELECT count(*) FROM sqlite_master"
                                    " WHERE type = 'table' AND name = 'workspaces'"),
                 1);
}

/* ---- idempotency keys (schema 3) ---- */

static const char sha_a[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char sha_b[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

static void
idem_insert_ok(struct store *s, const char *id, const char *key, const char *sha, int64_t now)
{
    struct store_job j = job_make(id, "queued", "{}");

    cr_assert_eq(store_job_insert_idem(s, &j, key, sha, now), 0);
    store_job_clear(&j);
}

Test(store, idem_key_names_its_job)
{
    struct store *s = open_ok();
    struct store_idem got;
    struct store_job j;

    cr_assert_eq(store_idem_get(s, "k1", 1000, &got), -ENOENT);
    idem_insert_ok(s, "j1", "k1", sha_a, 1000);
    cr_assert_eq(store_idem_get(s, "k1", 2000, &got), 0);
    cr_assert_str_eq(got.job_id, "j1");
    cr_assert_str_eq(got.body_sha256, sha_a);
    cr_assert_eq(store_job_get(s, "j1", &j), 0, "the job is stored with its key");
    store_job_clear(&j);
    cr_assert_eq(store_idem_get(s, "k2", 2000, &got), -ENOENT);
    store_close(s);
}

/* A taken key refuses the whole insert: the job is not stored either. */
Test(store, idem_taken_key_stores_nothing)
{
    struct store *s = open_ok();
    struct store_job j = job_make("j2", "queued", "{}"), got;

    idem_insert_ok(s, "j1", "k", sha_a, 1000);
    cr_assert_eq(store_job_insert_idem(s, &j, "k", sha_b, 1001), -EEXIST);
    cr_assert_eq(store_job_get(s, "j2", &got), -ENOENT);
    /* nor does a taken job id keep the key */
    store_job_clear(&j);
    j = job_make("j1", "queued", "{}");
    cr_assert_eq(store_job_insert_idem(s, &j, "other", sha_a, 1002), -EEXIST);
    struct store_idem idem;
    cr_assert_eq(store_idem_get(s, "other", 1002, &idem), -ENOENT);
    store_job_clear(&j);
    store_close(s);
}

/* After 24 h a key is ignored, and the next insert purges it and may take it again. */
Test(store, idem_keys_expire_after_24h)
{
    struct store *s = open_ok();
    struct store_idem got;
    int64_t t0 = 1000000;

    idem_insert_ok(s, "j1", "k", sha_a, t0);
    cr_assert_eq(store_idem_get(s, "k", t0 + STORE_IDEM_TTL_MS, &got), 0, "alive at 24 h");
    cr_assert_eq(store_idem_get(s, "k", t0 + STORE_IDEM_TTL_MS + 1, &got), -ENOENT);
    store_close(s);
    cr_assert_eq(sql_count(db_path, "SELECT count(*) FROM idempotency"), 1, "not purged by a read");
    s = open_ok();
    idem_insert_ok(s, "j2", "k", sha_b, t0 + STORE_IDEM_TTL_MS + 1);
    cr_assert_eq(store_idem_get(s, "k", t0 + STORE_IDEM_TTL_MS + 2, &got), 0);
    cr_assert_str_eq(got.job_id, "j2");
    cr_assert_str_eq(got.body_sha256, sha_b);
    store_close(s);
    cr_assert_eq(sql_count(db_path, "SELECT count(*) FROM idempotency"), 1);
}

Test(store, idem_key_goes_with_its_job)
{
    struct store *s = open_ok();
    struct store_idem got;

    idem_insert_ok(s, "j1", "k", sha_a, 1000);
    cr_assert_eq(store_job_delete(s, "j1"), 0);
    cr_assert_eq(store_idem_get(s, "k", 1001, &got), -ENOENT);
    store_close(s);
    cr_assert_eq(sql_count(db_path, "SELECT count(*) FROM idempotency"), 0);
}

Test(store, idem_bad_arguments)
{
    struct store *s = open_ok();
    struct store_job j = job_make("j1", "queued", "{}");
    struct store_idem got;
    char long_key[STORE_IDEM_KEY_MAX + 2];

    memset(long_key, 'k', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    cr_assert_eq(store_job_insert_idem(s, &j, "", sha_a, 1), -EINVAL);
    cr_assert_eq(store_job_insert_idem(s, &j, NULL, sha_a, 1), -EINVAL);
    cr_assert_eq(store_job_insert_idem(s, &j, long_key, sha_a, 1), -EINVAL);
    cr_assert_eq(store_job_insert_idem(s, &j, "k", NULL, 1), -EINVAL);
    cr_assert_eq(store_idem_get(s, long_key, 1, &got), -EINVAL);
    cr_assert_eq(store_idem_get(s, "k", 1, NULL), -EINVAL);
    long_key[STORE_IDEM_KEY_MAX] = '\0'; /* exactly the maximum is fine */
    cr_assert_eq(store_job_insert_idem(s, &j, long_key, sha_a, 1), 0);
    cr_assert_eq(store_idem_get(s, long_key, 1, &got), 0);
    store_job_clear(&j);
    store_close(s);
}

/* ---- migration: a database written at schema 2 (before idempotency keys) ---- */

/* migrations[1] of daemon/store.c, copied as released. */
static const char schema_2_step_sql[] =
    "CREATE TABLE workspaces ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT UNIQUE NOT NULL,"
    " labels_json TEXT NOT NULL CHECK (json_valid(labels_json)),"
    " host_path TEXT UNIQUE,"
    " owner_uid INTEGER NOT NULL DEFAULT -1,"
    " owner_gid INTEGER NOT NULL DEFAULT -1,"
    " dev INTEGER NOT NULL DEFAULT 0,"
    " ino INTEGER NOT NULL DEFAULT 0,"
    " disk_mb INTEGER NOT NULL DEFAULT 0,"
    " created_ms INTEGER NOT NULL,"
    " last_used_ms INTEGER NOT NULL,"
    " jobs_total INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX jobs_workspace ON jobs (workspace) WHERE workspace IS NOT NULL;"
    "PRAGMA user_version = 2;";

Test(store, migrates_schema_2_to_3)
{
    struct store *s;
    struct store_job got;
    struct store_ws w;
    struct store_idem idem;

    sql_exec(db_path, schema_1_sql);
    sql_exec(db_path, schema_2_step_sql);
    sql_exec(db_path,
             "INSERT INTO jobs (id, status, policy, command_json, labels_json, workspace,"
             " created_ms) VALUES ('j_old', 'succeeded', 'default', '[\"true\"]', '{}', 'w1', 1);"
             "INSERT INTO workspaces (id, labels_json, created_ms, last_used_ms)"
             " VALUES ('w1', '{}', 1, 2);");
    cr_assert_eq(sql_count(db_path, "PRAGMA user_version"), 2);

    s = open_ok();
    cr_assert_eq(store_schema_version(s), 3);
    cr_assert_eq(store_job_get(s, "j_old", &got), 0, "jobs kept");
    cr_assert_str_eq(got.workspace, "w1");
    store_job_clear(&got);
    cr_assert_eq(store_ws_get(s, "w1", &w), 0, "workspaces kept");
    store_ws_clear(&w);
    cr_assert_eq(store_idem_get(s, "k", 5, &idem), -ENOENT, "an empty idempotency table");
    idem_insert_ok(s, "j_new", "k", sha_a, 5);
    store_close(s);

    cr_assert_eq(sql_count(db_path, "PRAGMA user_version"), 3);
    cr_assert_eq(sql_count(db_path, "SELECT count(*) FROM sqlite_master"
                                    " WHERE type = 'table' AND name = 'idempotency'"),
                 1);
    /* and a second open finds nothing left to do */
    s = open_ok();
    cr_assert_eq(store_idem_get(s, "k", 6, &idem), 0);
    cr_assert_str_eq(idem.job_id, "j_new");
    store_close(s);
    cr_assert_eq(sql_count(db_path, "PRAGMA user_version"), 3);
}

/* ---- retention ---- */

static void
insert_ended(struct store *s, const char *id, const char *status, int64_t finished_ms)
{
    struct store_job j = job_make(id, status, "{}");
    int r;

    j.finished_ms = finished_ms;
    r = store_job_insert(s, &j);
    cr_assert_eq(r, 0, "insert %s: %d", id, r);
    store_job_clear(&j);
}

Test(store, retention_lists_ended_jobs_by_end_and_deletes_only_old_ended_ones)
{
    struct store *s = open_ok();
    struct store_egress ev = {.job_id = "old",
                              .time_ms = 1,
                              .port = 80,
                              .decision = "deny",
                              .reason = "no_rule",
                              .host = "x.test",
                              .method = "GET"};
    char **ids = NULL;
    int64_t *ts = NULL;
    size_t n = 0;

    insert_ended(s, "old", "succeeded", 1000);
    insert_ended(s, "mid", "failed", 2000);
    insert_ended(s, "new", "canceled", 3000);
    insert_ended(s, "run", "running", 0);
    insert_ended(s, "odd", "running", 1500); /* a running job is never ended, whatever its time */
    cr_assert_eq(store_egress_insert(s, &ev, 1), 0);

    cr_assert_eq(store_jobs_ended_between(s, 0, 2000, 10, &ids, &ts, &n), 0);
    cr_assert_eq(n, 2);
    cr_expect_str_eq(ids[0], "old");
    cr_expect_eq(ts[0], 1000);
    cr_expect_str_eq(ids[1], "mid");
    store_ids_free(ids, n);
    free(ts);
    cr_assert_eq(store_jobs_ended_between(s, 1000, 5000, 1, &ids, &ts, &n), 0);
    cr_assert_eq(n, 1, "the limit");
    cr_expect_str_eq(ids[0], "mid");
    store_ids_free(ids, n);
    free(ts);

    cr_assert_eq(store_jobs_delete_ended(s, 2500, 10, &ids, &n), 0);
    cr_assert_eq(n, 2);
    store_ids_free(ids, n);
    struct store_job j;
    cr_expect_eq(store_job_get(s, "old", &j), -ENOENT);
    cr_expect_eq(store_job_get(s, "mid", &j), -ENOENT);
    cr_assert_eq(store_job_get(s, "new", &j), 0);
    store_job_clear(&j);
    cr_assert_eq(store_job_get(s, "odd", &j), 0, "a running job was deleted");
    store_job_clear(&j);
    struct store_egress *evs = NULL;
    size_t nev = 0;
    cr_assert_eq(store_egress_list(s, "old", 0, 10, &evs, &nev), 0);
    cr_expect_eq(nev, 0, "the deleted job's events stayed");
    store_egress_free(evs, nev);
    cr_assert_eq(store_jobs_delete_ended(s, 2500, 10, &ids, &n), 0);
    cr_expect_eq(n, 0, "a second pass finds nothing");
    store_ids_free(ids, n);
    store_close(s);
}
