/*
 * make install into a DESTDIR: the layout, the modes, the config pointing at the installed
 * paths, the systemd unit with its paths filled in, a file changed locally kept on the next
 * install, uninstall leaving config and state; and the installed daemon starting from the
 * installed config and policies.
 */
#include <criterion/criterion.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static char dest[PATH_MAX];

static void
up(void)
{
    snprintf(dest, sizeof(dest), "/tmp/airlock-install-XXXXXX");
    cr_assert_not_null(mkdtemp(dest));
}

static void
down(void)
{
    char cmd[PATH_MAX + 16];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dest);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(install, .init = up, .fini = down, .timeout = 120);

/* Runs make TARGET with the built binaries (no rebuild) into dest. Returns make's status. */
static int
make_target(const char *target, char **out)
{
    const char *src = secure_getenv("AIRLOCK_SRC");
    const char *daemon = secure_getenv("AIRLOCKD");
    char dbuf[PATH_MAX], cli[PATH_MAX + 16];
    const char *argv[16];
    char a_dest[PATH_MAX + 16], a_daemon[PATH_MAX + 16], a_cli[PATH_MAX + 32], a_src[PATH_MAX];
    int n = 0;

    cr_assert(src && daemon, "AIRLOCK_SRC and AIRLOCKD must be set (make test sets them)");
    snprintf(a_src, sizeof(a_src), "%s/Makefile", src);
    if (access(a_src, R_OK) != 0)
        cr_skip_test("%s: no source tree here (make test-unprivileged hands the tests a copy of "
                     "the build only); make install is tested by make test",
                     a_src);
    snprintf(dbuf, sizeof(dbuf), "%s", daemon);
    snprintf(cli, sizeof(cli), "%s/airlock", dirname(dbuf));
    cr_assert_eq(access(cli, X_OK), 0, "%s: the CLI is not built next to airlockd", cli);
    snprintf(a_src, sizeof(a_src), "%s", src);
    snprintf(a_dest, sizeof(a_dest), "DESTDIR=%s", dest);
    snprintf(a_daemon, sizeof(a_daemon), "DAEMON=%s", daemon);
    snprintf(a_cli, sizeof(a_cli), "CLI=%s", cli);
    argv[n++] = "/usr/bin/make";
    argv[n++] = "-s";
    argv[n++] = "-C";
    argv[n++] = a_src;
    argv[n++] = target;
    /* -o: the binaries are what they are; make must not try to rebuild them from here. */
    argv[n++] = "-o";
    argv[n++] = daemon;
    argv[n++] = "-o";
    argv[n++] = cli;
    argv[n++] = a_dest;
    argv[n++] = a_daemon;
    argv[n++] = a_cli;
    argv[n] = NULL;
    return daemon_run(argv, NULL, out);
}

static char *
dpath(const char *rel)
{
    static char buf[4][PATH_MAX + 64];
    static int k;

    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s%s", dest, rel);
    return buf[k];
}

static unsigned
mode_of(const char *path)
{
    struct stat st;

    cr_assert_eq(stat(path, &st), 0, "%s is missing", path);
    return st.st_mode & 07777;
}

Test(install, layout_config_unit_and_a_second_install)
{
    char *out = NULL, *text;
    FILE *f;

    cr_assert_eq(make_target("install", &out), 0, "make install: %s", out);
    free(out);
    cr_expect_eq(mode_of(dpath("/usr/local/bin/airlockd")), 0755);
    cr_expect_eq(mode_of(dpath("/usr/local/bin/airlock")), 0755);
    cr_expect_eq(mode_of(dpath("/var/lib/airlock")), 0700, "the state directory");
    cr_expect_eq(mode_of(dpath("/etc/airlock/airlockd.json")), 0644);
    cr_expect_eq(mode_of(dpath("/etc/airlock/policies/default.json")), 0644);
    cr_expect_eq(mode_of(dpath("/etc/systemd/system/airlockd.service")), 0644);
    cr_expect_eq(mode_of(dpath("/usr/local/share/doc/airlock/api.md")), 0644);
    cr_expect_eq(mode_of(dpath("/usr/local/share/airlock/web")), 0755, "the dashboard's files");

    text = read_file_str(dpath("/etc/airlock/airlockd.json"));
    cr_expect(strstr(text, "\"state_dir\": \"/var/lib/airlock\""), "%s", text);
    cr_expect(strstr(text, "\"policy_dir\": \"/etc/airlock/policies\""), "%s", text);
    cr_expect(strstr(text, "\"web_dir\": \"/usr/local/share/airlock/web\""), "%s", text);
    free(text);
    text = read_file_str(dpath("/etc/systemd/system/airlockd.service"));
    cr_expect(strstr(text, "ExecStart=/usr/local/bin/airlockd --config /etc/airlock/airlockd.json"),
              "%s", text);
    cr_expect(strstr(text, "ExecReload=/bin/kill -HUP $MAINPID"), "%s", text);
    cr_expect_null(strstr(text, "@PREFIX@"), "an unfilled path in the unit");
    free(text);

    /* A policy the operator changed is kept; the bundled one lands beside it. */
    f = fopen(dpath("/etc/airlock/policies/pypi.json"), "w");
    cr_assert_not_null(f);
    fputs("{\"description\": \"mine\"}\n", f);
    fclose(f);
    cr_assert_eq(make_target("install", &out), 0, "second make install: %s", out);
    cr_expect(strstr(out, "kept"), "the second install says what it kept: %s", out);
    free(out);
    cr_expect(file_contains(dpath("/etc/airlock/policies/pypi.json"), "mine"),
              "a changed policy was overwritten");
    cr_expect_eq(access(dpath("/etc/airlock/policies/pypi.json.new"), F_OK), 0);
    cr_expect_neq(access(dpath("/etc/airlock/policies/npm.json.new"), F_OK), 0,
                  "an unchanged file got a .new");

    cr_assert_eq(make_target("uninstall", &out), 0, "make uninstall: %s", out);
    free(out);
    cr_expect_neq(access(dpath("/usr/local/bin/airlockd"), F_OK), 0);
    cr_expect_neq(access(dpath("/etc/systemd/system/airlockd.service"), F_OK), 0);
    cr_expect_eq(access(dpath("/etc/airlock/airlockd.json"), F_OK), 0, "uninstall removed config");
    cr_expect_eq(access(dpath("/var/lib/airlock"), F_OK), 0, "uninstall removed the state");
}

/* The installed binary runs from the installed config and policies (the state directory and
 * the address overridden: the test must not touch /var/lib/airlock or port 8420). */
Test(install, the_installed_daemon_starts_and_runs_a_job)
{
    const char *argv[] = {NULL, "--version", NULL};
    struct daemon d;
    char *out = NULL;
    json_t *job;

    cr_assert_eq(make_target("install", &out), 0, "make install: %s", out);
    free(out);
    argv[0] = dpath("/usr/local/bin/airlock");
    cr_assert_eq(daemon_run(argv, NULL, &out), 0, "airlock --version: %s", out);
    cr_expect(strstr(out, "airlock"), "%s", out);
    free(out);

    /* The installed config, with what must differ here: address, state, token, cgroups, and
     * the policies where DESTDIR put them. */
    daemon_init(&d, NULL, false);
    json_t *mine = json_load_file(d.config, 0, NULL);
    json_t *cfg = json_load_file(dpath("/etc/airlock/airlockd.json"), 0, NULL);
    cr_assert(mine && cfg, "cannot read the configs");
    cr_expect_str_eq(json_string_value(json_object_get(cfg, "policy_dir")),
                     "/etc/airlock/policies");
    static const char *const keep[] = {"listen", "state_dir", "token", "cgroup_parent"};
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        if (json_object_get(mine, keep[i]))
            json_object_set(cfg, keep[i], json_object_get(mine, keep[i]));
    json_object_set_new(cfg, "policy_dir", json_string(dpath("/etc/airlock/policies")));
    cr_assert_eq(json_dump_file(cfg, d.config, JSON_INDENT(2)), 0);
    json_decref(cfg);
    json_decref(mine);
    snprintf(d.bin, sizeof(d.bin), "%s", dpath("/usr/local/bin/airlockd"));
    daemon_start(&d);
    job = job_run(&d, json_pack("{s:[s,s]}", "command", "echo", "installed"));
    cr_expect_str_eq(jstr(job, "status"), "succeeded", "%s", jdump(job));
    json_decref(job);
    daemon_stop(&d);
    daemon_cleanup(&d);
}
