/*
 * The daemon's life: flags, config errors, the token, restarts on the same state (also after
 * kill -9), a database it must refuse, and the log formats.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static const char *
bin(void)
{
    const char *b = secure_getenv("AIRLOCKD");
    return b && *b ? b : "build/airlockd";
}

TestSuite(daemon, .timeout = 60);

Test(daemon, version_and_help)
{
    const char *v[] = {bin(), "--version", NULL};
    const char *h[] = {bin(), "--help", NULL};
    const char *bad[] = {bin(), "--no-such-flag", NULL};
    char *out = NULL;

    cr_assert_eq(daemon_run(v, NULL, &out), 0);
    cr_assert(strstr(out, "airlockd "), "%s", out);
    free(out);
    cr_assert_eq(daemon_run(h, NULL, &out), 0);
    cr_assert(strstr(out, "--listen") && strstr(out, "--state-dir") && strstr(out, "--policy-dir"));
    free(out);
    cr_assert_neq(daemon_run(bad, NULL, &out), 0);
    cr_assert(strstr(out, "Usage"));
    free(out);
}

static void
expect_config_error(const char *json, const char *needle)
{
    struct daemon d;
    char path[PATH_MAX + 16];
    char *out = NULL;
    FILE *f;

    daemon_init(&d, NULL, false);
    snprintf(path, sizeof(path), "%s/bad.json", d.dir);
    f = fopen(path, "w");
    fputs(json, f);
    fclose(f);
    const char *argv[] = {bin(), "--config", path, "--state-dir", d.state_dir, NULL};
    int rc = daemon_run(argv, NULL, &out);
    cr_expect_neq(rc, 0, "%s started", json);
    cr_expect(out && strstr(out, "bad.json"), "%s: message lacks the file: %s", json, out);
    cr_expect(out && strstr(out, needle), "%s: message lacks \"%s\": %s", json, needle, out);
    free(out);
    daemon_cleanup(&d);
}

Test(daemon, config_errors_stop_the_start_naming_file_and_key)
{
    expect_config_error("{\"listne\": \"127.0.0.1:1\"}", "listne");
    expect_config_error("{\"max_running_jobs\": \"4\"}", "max_running_jobs");
    expect_config_error("{\"max_running_jobs\": 0}", "max_running_jobs");
    expect_config_error("{\"max_queued_jobs\": -1}", "max_queued_jobs");
    expect_config_error("{\"listen\": \"localhost:8420\"}", "listen");
    expect_config_error("{\"listen\": \"127.0.0.1:99999\"}", "listen");
    expect_config_error("{\"log_format\": \"xml\"}", "log_format");
    expect_config_error("{\"default_limits\": {\"pids\": 0}}", "default_limits.pids");
    expect_config_error("{\"default_limits\": {\"ram\": 1}}", "default_limits.ram");
    expect_config_error("{\"token\": \"short\"}", "token");
    expect_config_error("{\"listen\": ", "line");
}

Test(daemon, flags_override_the_config)
{
    struct daemon d;
    char port[32];

    daemon_init(&d, NULL, true);
    int want = d.port;
    /* The config names a port that is taken; --listen must win. */
    snprintf(port, sizeof(port), "127.0.0.1:%d", want);
    FILE *f = fopen(d.config, "w");
    fprintf(f,
            "{\"listen\": \"127.0.0.1:1\", \"state_dir\": \"elsewhere\", \"token\": \"%s\", "
            "\"cgroup_parent\": \"airlock-test-%d\"}",
            d.token, d.port);
    fclose(f);
    const char *args[] = {"--listen",     port,         "--state-dir", d.state_dir,
                          "--policy-dir", d.policy_dir, NULL};
    cr_assert(daemon_start_args(&d, args), "log: %s", d.log);
    struct resp r = http_get(&d, "/v1/policies/default");
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    char db[PATH_MAX + 16];
    snprintf(db, sizeof(db), "%s/airlock.db", d.state_dir);
    cr_assert_eq(access(db, F_OK), 0);
    daemon_stop(&d);
    daemon_cleanup(&d);
}

Test(daemon, generated_token_is_0600_and_reused)
{
    struct daemon d;
    char path[PATH_MAX + 16];
    struct stat st;
    char *tok1, *tok2;

    daemon_init(&d, NULL, true);
    /* No token in the config: the daemon makes one. */
    FILE *f = fopen(d.config, "w");
    fprintf(f,
            "{\"listen\": \"127.0.0.1:%d\", \"state_dir\": \"state\", \"policy_dir\": "
            "\"policies\", \"cgroup_parent\": \"airlock-test-%d\"}",
            d.port, d.port);
    fclose(f);
    daemon_start(&d);
    snprintf(path, sizeof(path), "%s/token", d.state_dir);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    tok1 = read_file_str(path);
    tok1[strcspn(tok1, "\n")] = '\0';
    cr_assert_eq(strlen(tok1), 64);
    snprintf(d.token, sizeof(d.token), "%s", tok1);
    struct resp r = http_get(&d, "/v1/policies");
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    cr_assert(!file_contains(d.log, tok1), "the token is in the log");
    daemon_stop(&d);
    daemon_start(&d);
    tok2 = read_file_str(path);
    cr_assert(strncmp(tok1, tok2, 64) == 0, "the token changed across a restart");
    r = http_get(&d, "/v1/policies");
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    daemon_stop(&d);
    free(tok1);
    free(tok2);
    daemon_cleanup(&d);
}

Test(daemon, loose_token_file_is_refused)
{
    struct daemon d;
    char path[PATH_MAX + 16];

    daemon_init(&d, NULL, true);
    FILE *f = fopen(d.config, "w");
    fprintf(f,
            "{\"listen\": \"127.0.0.1:%d\", \"state_dir\": \"state\", \"cgroup_parent\": "
            "\"airlock-test-%d\"}",
            d.port, d.port);
    fclose(f);
    mkdir(d.state_dir, 0700);
    snprintf(path, sizeof(path), "%s/token", d.state_dir);
    f = fopen(path, "w");
    fputs("0123456789abcdef0123456789abcdef\n", f);
    fclose(f);
    chmod(path, 0644);
    cr_assert(!daemon_start_args(&d, NULL), "started with a world-readable token file");
    cr_assert(file_contains(d.log, "chmod 600"));
    daemon_cleanup(&d);
}

Test(daemon, token_from_environment)
{
    struct daemon d;
    const char *env_token = "env-token-0123456789abcdef";

    daemon_init(&d, NULL, true);
    FILE *f = fopen(d.config, "w");
    fprintf(f,
            "{\"listen\": \"127.0.0.1:%d\", \"state_dir\": \"state\", \"cgroup_parent\": "
            "\"airlock-test-%d\"}",
            d.port, d.port);
    fclose(f);
    setenv("AIRLOCK_TOKEN", env_token, 1);
    daemon_start(&d);
    unsetenv("AIRLOCK_TOKEN");
    snprintf(d.token, sizeof(d.token), "%s", env_token);
    struct resp r = http_get(&d, "/v1/policies");
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    cr_assert(!file_contains(d.log, env_token));
    daemon_stop(&d);
    daemon_cleanup(&d);
}

Test(daemon, restart_after_kill_keeps_state)
{
    struct daemon d;

    daemon_init(&d, NULL, true);
    daemon_start(&d);
    daemon_kill(&d);
    daemon_start(&d);
    struct resp r = http_get(&d, "/healthz");
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    daemon_stop(&d);
    daemon_cleanup(&d);
}

static void
make_db(const char *path, const char *sql)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

Test(daemon, newer_database_is_refused_and_untouched)
{
    struct daemon d;
    char db[PATH_MAX + 16];
    char *before, *after;

    daemon_init(&d, NULL, true);
    mkdir(d.state_dir, 0700);
    snprintf(db, sizeof(db), "%s/airlock.db", d.state_dir);
    make_db(db, "CREATE TABLE future(x); PRAGMA user_version = 999;");
    before = read_file_str(db);
    cr_assert(!daemon_start_args(&d, NULL), "started on a newer database");
    cr_assert(file_contains(d.log, "airlock.db"));
    cr_assert(file_contains(d.log, "999"));
    after = read_file_str(db);
    cr_assert(memcmp(before, after, 4096) == 0, "the database was modified");
    free(before);
    free(after);
    daemon_cleanup(&d);
}

Test(daemon, corrupt_database_is_refused_and_untouched)
{
    struct daemon d;
    char db[PATH_MAX + 16];
    char *after;

    daemon_init(&d, NULL, true);
    mkdir(d.state_dir, 0700);
    snprintf(db, sizeof(db), "%s/airlock.db", d.state_dir);
    FILE *f = fopen(db, "w");
    for (int i = 0; i < 200; i++)
        fputs("this is not a database ", f);
    fclose(f);
    cr_assert(!daemon_start_args(&d, NULL), "started on a corrupt database");
    cr_assert(file_contains(d.log, "airlock.db"));
    after = read_file_str(db);
    cr_assert(strncmp(after, "this is not a database", 22) == 0);
    free(after);
    daemon_cleanup(&d);
}

Test(daemon, json_log_lines)
{
    struct daemon d;

    daemon_init(&d, "\"log_format\": \"json\"", true);
    daemon_start(&d);
    struct resp r = http_get(&d, "/v1/policies");
    resp_free(&r);
    daemon_stop(&d);
    char *log = read_file_str(d.log);
    int lines = 0;
    for (char *save = NULL, *line = strtok_r(log, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);
        cr_expect(j && json_is_string(json_object_get(j, "event")), "not a JSON line: %s", line);
        json_decref(j);
        lines++;
    }
    cr_assert(lines > 3);
    free(log);
    daemon_cleanup(&d);
}

Test(daemon, broken_policy_does_not_stop_the_others)
{
    struct daemon d;

    daemon_init(&d, NULL, true);
    daemon_write_policy(&d, "broken", "{\"network\": {\"allow\": [{\"cidr\": \"10.0.0.0/33\"}]}}");
    daemon_start(&d);
    struct resp r = http_get(&d, "/v1/policies/default");
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    r = http_get(&d, "/v1/policies/broken");
    cr_assert_eq(r.status, 404);
    resp_free(&r);
    cr_assert(file_contains(d.log, "broken.json"));
    cr_assert(file_contains(d.log, "10.0.0.0/33"));
    daemon_stop(&d);
    daemon_cleanup(&d);
}

Test(daemon, missing_policy_dir_stops_the_start)
{
    struct daemon d;
    const char *args[] = {"--policy-dir", "/nonexistent/airlock-policies", NULL};

    daemon_init(&d, NULL, false);
    cr_assert(!daemon_start_args(&d, args));
    cr_assert(file_contains(d.log, "/nonexistent/airlock-policies"));
    daemon_cleanup(&d);
}
