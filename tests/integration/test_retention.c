/*
 * Retention and the free-space floor: the output and own workspace of a job that ended more
 * than retention_hours ago are removed while its record stays; a job that ended more than
 * record_retention_days ago is forgotten with its events; recent jobs are untouched; and below
 * min_free_mb on the state volume, jobs and uploads are refused with 503.
 */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;

static void
down(void)
{
    daemon_stop(&d);
    daemon_cleanup(&d);
}

TestSuite(retention, .fini = down, .timeout = 90);

/* Moves a job's end (and start, creation) back by age_ms in the stopped daemon's database. */
static void
age_job(const char *id, int64_t age_ms)
{
    char path[PATH_MAX + 16], sql[256];
    sqlite3 *db = NULL;
    char *msg = NULL;

    snprintf(path, sizeof(path), "%s/airlock.db", d.state_dir);
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    snprintf(sql, sizeof(sql),
             "UPDATE jobs SET created_ms = created_ms - %lld, started_ms = started_ms - %lld,"
             " finished_ms = finished_ms - %lld WHERE id = '%s'",
             (long long)age_ms, (long long)age_ms, (long long)age_ms, id);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s", msg ? msg : "");
    cr_assert_eq(sqlite3_changes(db), 1, "no job %s", id);
    sqlite3_close(db);
}

static bool
job_dir_exists(const char *id)
{
    char path[PATH_MAX + 80];
    struct stat st;

    snprintf(path, sizeof(path), "%s/jobs/%s", d.state_dir, id);
    return stat(path, &st) == 0;
}

static char *
run_one(const char *script)
{
    json_t *job = job_run(&d, job_sh(script));
    char *id;

    cr_assert_str_eq(jstr(job, "status"), "succeeded", "%s", jdump(job));
    id = strdup(jstr(job, "id"));
    json_decref(job);
    return id;
}

Test(retention, old_files_removed_old_records_forgotten_recent_kept)
{
    char *files_old, *record_old, *recent, url[200];
    struct resp r;

    daemon_init(&d, "\"retention_hours\": 24, \"record_retention_days\": 30", true);
    daemon_start(&d);
    files_old = run_one("echo out-a; echo kept > a.txt");
    record_old = run_one("echo out-b; echo x > b.txt");
    recent = run_one("echo out-c; echo x > c.txt");
    daemon_stop(&d);
    age_job(files_old, 25LL * 3600 * 1000);   /* past retention_hours */
    age_job(record_old, 31LL * 86400 * 1000); /* past record_retention_days */
    daemon_start(&d);                         /* a pass runs at start */

    for (int i = 0; i < 100 && (job_dir_exists(files_old) || job_dir_exists(record_old)); i++)
        usleep(50 * 1000);
    cr_expect(!job_dir_exists(files_old), "the old job's files are still there");
    cr_expect(!job_dir_exists(record_old), "the forgotten job's files are still there");

    /* Files gone, record kept. */
    json_t *job = job_get(&d, files_old);
    cr_expect_str_eq(jstr(job, "status"), "succeeded", "%s", jdump(job));
    cr_expect_eq(jint(job, "stdout_bytes"), 6, "%s", jdump(job));
    json_decref(job);
    snprintf(url, sizeof(url), "/v1/jobs/%s/files/a.txt", files_old);
    r = http_get(&d, url);
    cr_expect_eq(r.status, 404, "a removed workspace file: %ld %s", r.status, r.body);
    resp_free(&r);

    /* Record gone, with its events. */
    snprintf(url, sizeof(url), "/v1/jobs/%s", record_old);
    r = http_get(&d, url);
    cr_expect_eq(r.status, 404, "a forgotten job: %ld %s", r.status, r.body);
    resp_free(&r);
    snprintf(url, sizeof(url), "/v1/jobs/%s/egress", record_old);
    r = http_get(&d, url);
    cr_expect_eq(r.status, 404, "a forgotten job's events: %ld", r.status);
    resp_free(&r);

    /* The recent one is whole. */
    cr_expect(job_dir_exists(recent));
    char *out = job_output(&d, recent, "stdout");
    cr_expect_str_eq(out, "out-c\n");
    free(out);
    snprintf(url, sizeof(url), "/v1/jobs/%s/files/c.txt", recent);
    r = http_get(&d, url);
    cr_expect_eq(r.status, 200, "%ld", r.status);
    resp_free(&r);
    cr_expect(file_contains(d.log, "retention.files"), "log: %s", d.log);
    cr_expect(file_contains(d.log, "retention.records"), "log: %s", d.log);
    free(files_old);
    free(record_old);
    free(recent);
}

Test(retention, zero_keeps_everything)
{
    char *old;

    daemon_init(&d, "\"retention_hours\": 0, \"record_retention_days\": 0", true);
    daemon_start(&d);
    old = run_one("echo x > x.txt");
    daemon_stop(&d);
    age_job(old, 3650LL * 86400 * 1000);
    daemon_start(&d);
    usleep(500 * 1000);
    cr_expect(job_dir_exists(old), "retention 0 removed files");
    json_t *job = job_get(&d, old);
    cr_expect_str_eq(jstr(job, "status"), "succeeded", "%s", jdump(job));
    json_decref(job);
    free(old);
}

/* Below the floor nothing new is written: a job or an upload is a 503 saying why. */
Test(retention, under_min_free_mb_jobs_and_uploads_are_503)
{
    struct resp r;

    daemon_init(&d, "\"min_free_mb\": 16777216", true); /* 16 TiB: more than this disk has */
    daemon_start(&d);
    r = http_post(&d, "/v1/jobs", "{\"command\": [\"true\"]}");
    cr_expect_eq(r.status, 503, "%ld %s", r.status, r.body);
    cr_expect_str_eq(err_code(&r), "unavailable");
    cr_expect(strstr(err_message(&r), "min_free_mb"), "%s", r.body);
    resp_free(&r);
    r = http_post(&d, "/v1/workspaces", "{}");
    cr_assert_eq(r.status, 201, "%s", r.body);
    char url[160];
    snprintf(url, sizeof(url), "/v1/workspaces/%s/files/a.txt", jstr(r.json, "id"));
    resp_free(&r);
    r = http(&d, "PUT", url, "hello", NULL, NULL, NULL);
    cr_expect_eq(r.status, 503, "upload under the floor: %ld %s", r.status, r.body);
    resp_free(&r);
    r = http_get(&d, "/healthz");
    cr_expect_eq(r.status, 200);
    resp_free(&r);
}
