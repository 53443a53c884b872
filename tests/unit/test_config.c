/*
 * Unit tests for config: the built-in defaults, loading good files, and the refusals. Every
 * refusal must name the file and the key, so the tables below give each bad file the words its
 * message must contain. Each test writes its files into its own mkdtemp directory under /tmp,
 * removed by the fixture.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

#include "airlock_limits.h"
#include "config.h"

static char dir[64];
static char cfg_path[128];

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
    cr_assert_eq(str_copy(dir, sizeof(dir), "/tmp/airlock-test-config-XXXXXX"), 0);
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_geq(str_printf(cfg_path, sizeof(cfg_path), "%s/airlockd.json", dir), 0);
}

static void
teardown(void)
{
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    dir[0] = '\0';
}

TestSuite(config, .init = setup, .fini = teardown);

/* ---- helpers ---- */

static void
write_file(const char *path, const char *text, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* Writes text as <dir>/airlockd.json and loads it over the defaults. */
static int
load_text(const char *text, struct config *c, struct err *err)
{
    write_file(cfg_path, text, strlen(text));
    config_defaults(c);
    return config_load(c, cfg_path, err);
}

/* Loads text and fails the test unless it is accepted. */
static void
load_ok(const char *text, struct config *c)
{
    struct err err = {0};
    int r = load_text(text, c, &err);

    cr_assert_eq(r, 0, "config %s refused: %d %s", text, r, err.message);
}

/* ---- defaults ---- */

Test(config, defaults)
{
    struct config c;
    char cwd[PATH_MAX], want[PATH_MAX + 16], buf[64];

    memset(&c, 0xa5, sizeof(c));
    config_defaults(&c);
    cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
    cr_assert_str_eq(c.path, "");
    config_listen_format(&c, buf, sizeof(buf));
    cr_assert_str_eq(buf, "127.0.0.1:8420");
    cr_assert_eq(c.listen_addr.family, AF_INET);
    cr_assert_eq(c.listen_port, CONFIG_DEFAULT_PORT);
    snprintf(want, sizeof(want), "%s/var", cwd);
    cr_assert_str_eq(c.state_dir, want);
    snprintf(want, sizeof(want), "%s/policies", cwd);
    cr_assert_str_eq(c.policy_dir, want);
    snprintf(want, sizeof(want), "%s/web", cwd);
    cr_assert_str_eq(c.web_dir, want);
    cr_assert_null(c.token);
    cr_assert_eq(c.log_json, false);
    cr_assert_eq(c.log_level, LOG_INFO);
    cr_assert_eq(c.max_running_jobs, 4);
    cr_assert_eq(c.max_queued_jobs, 64);
    cr_assert_eq(c.max_body_bytes, API_BODY_MAX_DEFAULT);
    cr_assert_eq(c.api_threads, API_THREADS_DEFAULT);
    cr_assert_eq(c.default_limits.timeout_s, 300);
    cr_assert_eq(c.default_limits.memory_mb, 1024);
    cr_assert_eq(c.default_limits.pids, 256);
    cr_assert_eq(c.default_limits.cpu_s, 300);
    cr_assert_eq(c.default_limits.output_bytes, 16 * 1024 * 1024);
    cr_assert_eq(c.default_limits.disk_mb, 1024);
    cr_assert_eq(c.proxy_max_connections, PROXY_CONNECTIONS_DEFAULT);
    cr_assert_eq(c.proxy_max_connections_per_job, PROXY_CONNECTIONS_PER_JOB_DEFAULT);
    cr_assert_eq(c.proxy_header_timeout_s, 10);
    cr_assert_eq(c.proxy_idle_timeout_s, 60);
    cr_assert_eq(c.proxy_connect_timeout_s, 10);
    cr_assert_eq(c.proxy_upstream_timeout_s, 60);
    config_clear(&c);
}

/* ---- good files ---- */

Test(config, empty_object_keeps_defaults)
{
    struct config c, d;

    load_ok("{}", &c);
    config_defaults(&d);
    cr_assert_str_eq(c.path, cfg_path);
    cr_assert_eq(c.listen_port, d.listen_port);
    cr_assert_str_eq(c.state_dir, d.state_dir);
    cr_assert_str_eq(c.policy_dir, d.policy_dir);
    cr_assert_eq(c.max_running_jobs, d.max_running_jobs);
    cr_assert_eq(c.default_limits.pids, d.default_limits.pids);
    cr_assert_null(c.token);
    config_clear(&c);
}

Test(config, every_key)
{
    struct config c;
    char buf[64];

    load_ok("{\n"
            "  \"listen\": \"127.0.0.2:9000\",\n"
            "  \"state_dir\": \"/srv/airlock/state\",\n"
            "  \"policy_dir\": \"/srv/airlock/policies\",\n"
            "  \"token\": \"0123456789abcdef-token\",\n"
            "  \"log_format\": \"json\",\n"
            "  \"log_level\": \"debug\",\n"
            "  \"max_running_jobs\": 8,\n"
            "  \"max_queued_jobs\": 0,\n"
            "  \"max_body_bytes\": 2048,\n"
            "  \"api_threads\": 3,\n"
            "  \"default_limits\": {\"timeout_s\": 10, \"memory_mb\": 20, \"pids\": 30,\n"
            "                      \"cpu_s\": 40, \"output_bytes\": 50, \"disk_mb\": 60},\n"
            "  \"proxy_max_connections\": 100, \"proxy_max_connections_per_job\": 7,\n"
            "  \"proxy_header_timeout_s\": 2, \"proxy_idle_timeout_s\": 3,\n"
            "  \"proxy_connect_timeout_s\": 4, \"proxy_upstream_timeout_s\": 5\n"
            "}\n",
            &c);
    cr_assert_eq(c.proxy_max_connections, 100);
    cr_assert_eq(c.proxy_max_connections_per_job, 7);
    cr_assert_eq(c.proxy_header_timeout_s, 2);
    cr_assert_eq(c.proxy_idle_timeout_s, 3);
    cr_assert_eq(c.proxy_connect_timeout_s, 4);
    cr_assert_eq(c.proxy_upstream_timeout_s, 5);
    config_listen_format(&c, buf, sizeof(buf));
    cr_assert_str_eq(buf, "127.0.0.2:9000");
    cr_assert_eq(c.listen_port, 9000);
    cr_assert_str_eq(c.state_dir, "/srv/airlock/state");
    cr_assert_str_eq(c.policy_dir, "/srv/airlock/policies");
    cr_assert_not_null(c.token);
    cr_assert_str_eq(c.token, "0123456789abcdef-token");
    cr_assert_eq(c.log_json, true);
    cr_assert_eq(c.log_level, LOG_DEBUG);
    cr_assert_eq(c.max_running_jobs, 8);
    cr_assert_eq(c.max_queued_jobs, 0);
    cr_assert_eq(c.max_body_bytes, 2048);
    cr_assert_eq(c.api_threads, 3);
    cr_assert_eq(c.default_limits.timeout_s, 10);
    cr_assert_eq(c.default_limits.memory_mb, 20);
    cr_assert_eq(c.default_limits.pids, 30);
    cr_assert_eq(c.default_limits.cpu_s, 40);
    cr_assert_eq(c.default_limits.output_bytes, 50);
    cr_assert_eq(c.default_limits.disk_mb, 60);
    config_clear(&c);
    cr_assert_null(c.token);
}

Test(config, text_format_and_levels)
{
    static const struct {
        const char *level;
        enum log_level want;
    } levels[] = {
        {"debug", LOG_DEBUG}, {"info", LOG_INFO}, {"warn", LOG_WARN}, {"error", LOG_ERROR}};
    struct config c;
    char text[128];

    load_ok("{\"log_format\": \"text\"}", &c);
    cr_assert_eq(c.log_json, false);
    for (size_t i = 0; i < ARRAY_SIZE(levels); i++) {
        snprintf(text, sizeof(text), "{\"log_level\": \"%s\"}", levels[i].level);
        load_ok(text, &c);
        cr_expect_eq(c.log_level, levels[i].want, "log_level %s", levels[i].level);
    }
}

Test(config, partial_default_limits_keep_the_others)
{
    struct config c;

    load_ok("{\"default_limits\": {\"pids\": 10}}", &c);
    cr_assert_eq(c.default_limits.pids, 10);
    cr_assert_eq(c.default_limits.timeout_s, 300);
    cr_assert_eq(c.default_limits.memory_mb, 1024);
    cr_assert_eq(c.default_limits.disk_mb, 1024);
    load_ok("{\"default_limits\": {}}", &c);
    cr_assert_eq(c.default_limits.pids, 256);
}

/* Values at the edges of their ranges are accepted. */
static const char *const edge_ok[] = {
    "{\"max_running_jobs\": 1}",
    "{\"max_running_jobs\": 1024}",
    "{\"max_queued_jobs\": 0}",
    "{\"max_queued_jobs\": 100000}",
    "{\"max_body_bytes\": 1024}",
    "{\"max_body_bytes\": 67108864}",
    "{\"api_threads\": 1}",
    "{\"api_threads\": 64}",
    "{\"default_limits\": {\"pids\": 1}}",
    "{\"default_limits\": {\"pids\": 65536}}",
    "{\"default_limits\": {\"timeout_s\": 604800, \"cpu_s\": 604800}}",
    "{\"default_limits\": {\"memory_mb\": 1048576, \"disk_mb\": 16777216}}",
    "{\"default_limits\": {\"output_bytes\": 1099511627776}}",
    "{\"token\": null}",
    "{\"token\": \"0123456789abcdef\"}",
    "{\"token\": \"!#$%&'()*+,-./~~\"}",
    "{\"listen\": \"127.0.0.1:1\"}",
    "{\"listen\": \"127.0.0.1:65535\"}",
    "{\"listen\": \"0.0.0.0:8420\"}",
    "{\"listen\": \"[::1]:8420\"}",
    "{\"listen\": \"[::]:80\"}",
    "{\"listen\": \"[fe80::1]:80\"}",
    "{\"state_dir\": \"/\"}",
    "{\"workspace_roots\": []}",
    "{\"protected_paths\": []}",
    "{\"protected_paths\": [\"x/\"]}",
    "{\"protected_paths\": [\"...\", \"..a\", \".hidden/\", \"a\\\\b\", \"h\\u00e9\"]}",
    "{\"workspace_idle_hours\": 0}",
    "{\"workspace_idle_hours\": 87600}",
    "{\"workspace_disk_mb\": 1, \"workspace_disk_mb_max\": 1}",
    "{\"workspace_disk_mb\": 16777216, \"workspace_disk_mb_max\": 16777216}",
    "{\"workspaces_max\": 1}",
    "{\"workspaces_max\": 1000000}",
    "{\"workspace_allow_root_owned\": false}",
    "{\"workspace_allow_root_owned\": true}",
    "{\"metrics_public\": false}",
    "{\"metrics_public\": true}",
    "{\"listen_unix\": \"/run/airlock/airlockd.sock\"}",
    "{\"listen_unix\": \"/run/airlock/airlockd.sock\", \"listen\": null}",
    "{\"listen_unix\": \"/tmp/a.sock\", \"listen_unix_group\": \"airlock\"}",
    "{\"listen_unix_group\": \"1000\"}",
};

Test(config, edge_values_accepted)
{
    for (size_t i = 0; i < ARRAY_SIZE(edge_ok); i++) {
        struct config c;
        struct err err = {0};
        int r = load_text(edge_ok[i], &c, &err);

        cr_expect_eq(r, 0, "%s refused: %s", edge_ok[i], err.message);
        config_clear(&c);
    }
}

struct listen_ok {
    const char *in;
    int family;
    uint16_t port;
    const char *formatted;
};

static const struct listen_ok listen_ok_cases[] = {
    {"127.0.0.1:8420", AF_INET, 8420, "127.0.0.1:8420"},
    {"0.0.0.0:1", AF_INET, 1, "0.0.0.0:1"},
    {"10.1.2.3:65535", AF_INET, 65535, "10.1.2.3:65535"},
    {"[::1]:8420", AF_INET6, 8420, "[::1]:8420"},
    {"[::]:443", AF_INET6, 443, "[::]:443"},
    {"[2001:db8::1]:80", AF_INET6, 80, "[2001:db8::1]:80"},
    {"[2001:DB8:0:0:0:0:0:1]:80", AF_INET6, 80, "[2001:db8::1]:80"},
};

Test(config, listen_values_accepted)
{
    for (size_t i = 0; i < ARRAY_SIZE(listen_ok_cases); i++) {
        const struct listen_ok *t = &listen_ok_cases[i];
        struct config c;
        struct err err = {0};
        char buf[80];
        int r;

        config_defaults(&c);
        r = config_set_listen(&c, t->in, &err);
        cr_expect_eq(r, 0, "listen \"%s\" refused: %s", t->in, err.message);
        if (r < 0)
            continue;
        cr_expect_eq(c.listen_addr.family, t->family, "listen \"%s\" family", t->in);
        cr_expect_eq(c.listen_port, t->port, "listen \"%s\" port %u", t->in, c.listen_port);
        config_listen_format(&c, buf, sizeof(buf));
        cr_expect_str_eq(buf, t->formatted, "listen \"%s\" formats as \"%s\"", t->in, buf);
    }
}

/* ---- relative and absolute directories ---- */

Test(config, relative_dirs_resolve_against_the_file)
{
    struct config c;
    char want[PATH_MAX + 32];

    load_ok("{\"state_dir\": \"var\", \"policy_dir\": \"conf/policies\", \"web_dir\": "
            "\"../web\"}",
            &c);
    snprintf(want, sizeof(want), "%s/var", dir);
    cr_assert_str_eq(c.state_dir, want);
    snprintf(want, sizeof(want), "%s/conf/policies", dir);
    cr_assert_str_eq(c.policy_dir, want);
    snprintf(want, sizeof(want), "%s/../web", dir);
    cr_assert_str_eq(c.web_dir, want);
}

Test(config, relative_dirs_in_a_subdirectory_config)
{
    struct config c;
    struct err err = {0};
    char sub[PATH_MAX], path[PATH_MAX + 32], want[PATH_MAX + 32];

    snprintf(sub, sizeof(sub), "%s/etc", dir);
    cr_assert_eq(mkdir(sub, 0755), 0);
    snprintf(path, sizeof(path), "%s/airlockd.json", sub);
    write_file(path, "{\"state_dir\": \"../var\"}", 23);
    config_defaults(&c);
    cr_assert_eq(config_load(&c, path, &err), 0, "%s", err.message);
    snprintf(want, sizeof(want), "%s/../var", sub);
    cr_assert_str_eq(c.state_dir, want);
    cr_assert_str_eq(c.path, path);
}

Test(config, relative_config_path_gives_absolute_dirs)
{
    struct config c;
    struct err err = {0};
    char real[PATH_MAX], got[PATH_MAX + 8];
    int saved = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    cr_assert_geq(saved, 0);
    write_file(cfg_path, "{\"state_dir\": \"var\"}", 20);
    cr_assert_not_null(realpath(dir, real));
    cr_assert_eq(chdir(dir), 0);
    config_defaults(&c);
    int r = config_load(&c, "airlockd.json", &err);
    cr_assert_eq(fchdir(saved), 0);
    close(saved);
    cr_assert_eq(r, 0, "%s", err.message);
    cr_assert_eq(c.state_dir[0], '/', "state_dir \"%s\" is not absolute", c.state_dir);
    /* The directory part is not normalised ("<cwd>/./var"); it must point at <dir>/var. */
    cr_assert_eq(mkdir(c.state_dir, 0700), 0, "mkdir %s: %s", c.state_dir, strerror(errno));
    snprintf(got, sizeof(got), "%s/var", real);
    struct stat a, b;
    cr_assert_eq(stat(c.state_dir, &a), 0);
    cr_assert_eq(stat(got, &b), 0);
    cr_assert_eq(a.st_ino, b.st_ino);
}

Test(config, absolute_dirs_kept)
{
    struct config c;

    load_ok("{\"state_dir\": \"/var/lib/airlock\", \"policy_dir\": \"/etc/airlock/policies\"}", &c);
    cr_assert_str_eq(c.state_dir, "/var/lib/airlock");
    cr_assert_str_eq(c.policy_dir, "/etc/airlock/policies");
}

Test(config, set_dir_against_cwd)
{
    char out[PATH_MAX], cwd[PATH_MAX], want[PATH_MAX + 8];
    struct err err = {0};

    cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
    cr_assert_eq(config_set_dir(out, "x", "", &err), 0);
    snprintf(want, sizeof(want), "%s/x", cwd);
    cr_assert_str_eq(out, want);
    cr_assert_eq(config_set_dir(out, "x", "/base", &err), 0);
    cr_assert_str_eq(out, "/base/x");
    cr_assert_eq(config_set_dir(out, "/abs", "/base", &err), 0);
    cr_assert_str_eq(out, "/abs");
}

Test(config, set_dir_too_long)
{
    char out[PATH_MAX];
    char *big = malloc(PATH_MAX + 2);
    struct err err = {0};

    cr_assert_not_null(big);
    big[0] = '/';
    memset(big + 1, 'a', PATH_MAX);
    big[PATH_MAX + 1] = '\0';
    cr_assert_eq(config_set_dir(out, big, "", &err), -ENAMETOOLONG);
    cr_assert_eq(config_set_dir(out, big + 1, "/base", &err), -ENAMETOOLONG);
    free(big);
}

/* ---- refusals: each names the file and the key ---- */

struct bad {
    const char *json;
    const char *key;  /* must appear in the message */
    const char *what; /* must also appear (NULL: only the key) */
};

static const struct bad bad_cases[] = {
    /* unknown keys */
    {"{\"bogus\": 1}", "bogus", "unknown key"},
    {"{\"Listen\": \"127.0.0.1:8420\"}", "Listen", "unknown key"},
    {"{\"max_jobs\": 4}", "max_jobs", "unknown key"},
    /* listen: type */
    {"{\"listen\": 8420}", "listen", "must be a string"},
    {"{\"listen\": null}", "listen", "listen_unix must name a socket"},
    {"{\"listen_unix\": \"relative.sock\"}", "listen_unix", "absolute path"},
    {"{\"listen_unix\": 5}", "listen_unix", "must be a string"},
    {"{\"listen_unix\": \"/tmp/"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaa.sock\"}",
     "listen_unix", "at most 107 bytes"},
    {"{\"listen_unix_group\": \"\"}", "listen_unix_group", "group name or number"},
    {"{\"listen_unix_group\": 5}", "listen_unix_group", "must be a string"},
    {"{\"listen\": [\"127.0.0.1:8420\"]}", "listen", "must be a string"},
    /* listen: value */
    {"{\"listen\": \"127.0.0.1\"}", "listen", "ADDR:PORT"},
    {"{\"listen\": \"8420\"}", "listen", "ADDR:PORT"},
    {"{\"listen\": \"\"}", "listen", "ADDR:PORT"},
    {"{\"listen\": \"localhost:8420\"}", "listen", "not a name"},
    {"{\"listen\": \":8420\"}", "listen", "IP address"},
    {"{\"listen\": \"127.1:8420\"}", "listen", "IP address"},
    {"{\"listen\": \"127.000.0.1:8420\"}", "listen", "IP address"},
    {"{\"listen\": \" 127.0.0.1:8420\"}", "listen", "IP address"},
    {"{\"listen\": \"127.0.0.1:65536\"}", "listen", "port"},
    {"{\"listen\": \"127.0.0.1:99999999999999999999999\"}", "listen", "port"},
    {"{\"listen\": \"127.0.0.1:-1\"}", "listen", "port"},
    {"{\"listen\": \"127.0.0.1:+80\"}", "listen", "port"},
    {"{\"listen\": \"127.0.0.1:08420\"}", "listen", "port"},
    {"{\"listen\": \"127.0.0.1:00\"}", "listen", "port"},
    {"{\"listen\": \"127.0.0.1:\"}", "listen", "port"},
    {"{\"listen\": \"127.0.0.1:8420 \"}", "listen", "port"},
    {"{\"listen\": \"127.0.0.1:http\"}", "listen", "port"},
    {"{\"listen\": \"::1:8420\"}", "listen", "brackets"},
    {"{\"listen\": \"::1\"}", "listen", "brackets"},
    {"{\"listen\": \"[::1]\"}", "listen", NULL},
    {"{\"listen\": \"[::1]8420\"}", "listen", NULL},
    {"{\"listen\": \"[]:8420\"}", "listen", "IP address"},
    {"{\"listen\": \"[::1]:65536\"}", "listen", "port"},
    {"{\"listen\": \"[fe80::1%eth0]:80\"}", "listen", "IP address"},
    /* directories */
    {"{\"state_dir\": 1}", "state_dir", "must be a string"},
    {"{\"state_dir\": \"\"}", "state_dir", "non-empty"},
    {"{\"state_dir\": \"a\\nb\"}", "state_dir", "control"},
    {"{\"policy_dir\": false}", "policy_dir", "must be a string"},
    {"{\"policy_dir\": \"\"}", "policy_dir", "non-empty"},
    {"{\"policy_dir\": \"x\\ty\"}", "policy_dir", "control"},
    {"{\"web_dir\": 1}", "web_dir", "must be a string"},
    {"{\"web_dir\": \"\"}", "web_dir", "non-empty"},
    /* token */
    {"{\"token\": 5}", "token", "must be a string"},
    {"{\"token\": true}", "token", "must be a string"},
    {"{\"token\": {}}", "token", "must be a string"},
    {"{\"token\": \"\"}", "token", "16 to 256"},
    {"{\"token\": \"short\"}", "token", "16 to 256"},
    {"{\"token\": \"0123456789abcde\"}", "token", "16 to 256"},
    {"{\"token\": \"0123456789 abcdef\"}", "token", "without spaces"},
    {"{\"token\": \"0123456789abcdef \"}", "token", "without spaces"},
    {"{\"token\": \"0123456789\\tabcdef\"}", "token", "without spaces"},
    {"{\"token\": \"0123456789\\u00e9abcdef\"}", "token", "printable ASCII"},
    {"{\"token\": \"0123456789\\u007fabcdef\"}", "token", "printable ASCII"},
    /* log_format, log_level */
    {"{\"log_format\": \"xml\"}", "log_format", "\"xml\""},
    {"{\"log_format\": \"JSON\"}", "log_format", "\"JSON\""},
    {"{\"log_format\": \"\"}", "log_format", "not one of"},
    {"{\"log_format\": 1}", "log_format", "must be a string"},
    {"{\"log_format\": true}", "log_format", "must be a string"},
    {"{\"log_level\": \"verbose\"}", "log_level", "\"verbose\""},
    {"{\"log_level\": \"INFO\"}", "log_level", "\"INFO\""},
    {"{\"log_level\": \"warning\"}", "log_level", "\"warning\""},
    {"{\"log_level\": \"info \"}", "log_level", "not one of"},
    {"{\"log_level\": 2}", "log_level", "must be a string"},
    {"{\"log_level\": null}", "log_level", "must be a string"},
    /* max_running_jobs */
    {"{\"max_running_jobs\": 0}", "max_running_jobs", "out of range"},
    {"{\"max_running_jobs\": 1025}", "max_running_jobs", "out of range"},
    {"{\"max_running_jobs\": -1}", "max_running_jobs", "out of range"},
    {"{\"max_running_jobs\": \"4\"}", "max_running_jobs", "must be an integer"},
    {"{\"max_running_jobs\": 4.0}", "max_running_jobs", "must be an integer"},
    {"{\"max_running_jobs\": 1e3}", "max_running_jobs", "must be an integer"},
    {"{\"max_running_jobs\": true}", "max_running_jobs", "must be an integer"},
    {"{\"max_running_jobs\": null}", "max_running_jobs", "must be an integer"},
    {"{\"max_running_jobs\": [4]}", "max_running_jobs", "must be an integer"},
    /* the proxy's keys */
    {"{\"proxy_max_connections\": 0}", "proxy_max_connections", "out of range"},
    {"{\"proxy_max_connections\": 16385}", "proxy_max_connections", "out of range"},
    {"{\"proxy_max_connections_per_job\": 0}", "proxy_max_connections_per_job", "out of range"},
    {"{\"proxy_header_timeout_s\": 0}", "proxy_header_timeout_s", "out of range"},
    {"{\"proxy_header_timeout_s\": 3601}", "proxy_header_timeout_s", "out of range"},
    {"{\"proxy_idle_timeout_s\": \"60\"}", "proxy_idle_timeout_s", "must be an integer"},
    {"{\"proxy_connect_timeout_s\": -1}", "proxy_connect_timeout_s", "out of range"},
    {"{\"proxy_upstream_timeout_s\": 86401}", "proxy_upstream_timeout_s", "out of range"},
    {"{\"proxy_timeout_s\": 5}", "proxy_timeout_s", "unknown key"},
    /* max_queued_jobs */
    {"{\"max_queued_jobs\": 100001}", "max_queued_jobs", "out of range"},
    {"{\"max_queued_jobs\": -1}", "max_queued_jobs", "out of range"},
    {"{\"max_queued_jobs\": \"64\"}", "max_queued_jobs", "must be an integer"},
    /* max_body_bytes */
    {"{\"max_body_bytes\": 1023}", "max_body_bytes", "out of range"},
    {"{\"max_body_bytes\": 0}", "max_body_bytes", "out of range"},
    {"{\"max_body_bytes\": 67108865}", "max_body_bytes", "out of range"},
    {"{\"max_body_bytes\": 9223372036854775807}", "max_body_bytes", "out of range"},
    {"{\"max_body_bytes\": \"1MB\"}", "max_body_bytes", "must be an integer"},
    {"{\"max_body_bytes\": 1048576.5}", "max_body_bytes", "must be an integer"},
    /* api_threads */
    {"{\"api_threads\": 0}", "api_threads", "out of range"},
    {"{\"api_threads\": 65}", "api_threads", "out of range"},
    {"{\"api_threads\": 1.5}", "api_threads", "must be an integer"},
    {"{\"api_threads\": false}", "api_threads", "must be an integer"},
    /* default_limits */
    {"{\"default_limits\": []}", "default_limits", "must be an object"},
    {"{\"default_limits\": null}", "default_limits", "must be an object"},
    {"{\"default_limits\": 5}", "default_limits", "must be an object"},
    {"{\"default_limits\": {\"bogus\": 1}}", "default_limits.bogus", "unknown key"},
    {"{\"default_limits\": {\"PIDS\": 1}}", "default_limits.PIDS", "unknown key"},
    {"{\"default_limits\": {\"pids\": 0}}", "default_limits.pids", "must be an integer from 1 to"},
    {"{\"default_limits\": {\"pids\": 65537}}", "default_limits.pids",
     "must be an integer from 1 to"},
    {"{\"default_limits\": {\"pids\": -5}}", "default_limits.pids", "must be an integer from 1 to"},
    {"{\"default_limits\": {\"pids\": \"256\"}}", "default_limits.pids", "must be an integer"},
    {"{\"default_limits\": {\"timeout_s\": 0}}", "default_limits.timeout_s",
     "must be an integer from 1 to"},
    {"{\"default_limits\": {\"timeout_s\": 604801}}", "default_limits.timeout_s",
     "must be an integer from 1 to"},
    {"{\"default_limits\": {\"memory_mb\": 0}}", "default_limits.memory_mb",
     "must be an integer from 1 to"},
    {"{\"default_limits\": {\"memory_mb\": 1048577}}", "default_limits.memory_mb",
     "must be an integer from 1 to"},
    {"{\"default_limits\": {\"cpu_s\": 1.0}}", "default_limits.cpu_s", "must be an integer"},
    {"{\"default_limits\": {\"output_bytes\": 1099511627777}}", "default_limits.output_bytes",
     "must be an integer from 1 to"},
    {"{\"default_limits\": {\"disk_mb\": 16777217}}", "default_limits.disk_mb",
     "must be an integer from 1 to"},
    {"{\"default_limits\": {\"disk_mb\": {}}}", "default_limits.disk_mb", "must be an integer"},
    /* workspace_roots (the ones that need real directories are tested below) */
    {"{\"workspace_roots\": \"/tmp\"}", "workspace_roots", "must be an array"},
    {"{\"workspace_roots\": null}", "workspace_roots", "must be an array"},
    {"{\"workspace_roots\": {}}", "workspace_roots", "must be an array"},
    {"{\"workspace_roots\": 1}", "workspace_roots", "must be an array"},
    {"{\"workspace_roots\": [1]}", "workspace_roots", "must be a string"},
    {"{\"workspace_roots\": [null]}", "workspace_roots", "must be a string"},
    {"{\"workspace_roots\": [[\"/tmp\"]]}", "workspace_roots", "must be a string"},
    {"{\"workspace_roots\": [\"\"]}", "workspace_roots[0]", "non-empty"},
    {"{\"workspace_roots\": [\"/tmp\\nx\"]}", "workspace_roots[0]", "control"},
    {"{\"workspace_roots\": [\"/\"]}", "workspace_roots[0]", "\"/\""},
    {"{\"workspace_roots\": [\"//\"]}", "workspace_roots[0]", "\"/\""},
    {"{\"workspace_roots\": [\"/tmp/..\"]}", "workspace_roots[0]", "\"/\""},
    {"{\"workspace_roots\": [\"/tmp\", \"/\"]}", "workspace_roots[1]", "\"/\""},
    /* protected_paths */
    {"{\"protected_paths\": \".git/config\"}", "protected_paths", "must be an array"},
    {"{\"protected_paths\": null}", "protected_paths", "must be an array"},
    {"{\"protected_paths\": {\".git\": true}}", "protected_paths", "must be an array"},
    {"{\"protected_paths\": [1]}", "protected_paths", "must be a string"},
    {"{\"protected_paths\": [null]}", "protected_paths", "must be a string"},
    {"{\"protected_paths\": [\"\"]}", "protected_paths[0]", "1 to 255"},
    {"{\"protected_paths\": [\"/abs\"]}", "protected_paths[0]", "relative"},
    {"{\"protected_paths\": [\"/\"]}", "protected_paths[0]", "relative"},
    {"{\"protected_paths\": [\"//\"]}", "protected_paths[0]", "relative"},
    {"{\"protected_paths\": [\"/.git/config\"]}", "protected_paths[0]", "relative"},
    {"{\"protected_paths\": [\"a/../b\"]}", "protected_paths[0]", "relative"},
    {"{\"protected_paths\": [\"..\"]}", "protected_paths[0]", "relative"},
    {"{\"protected_paths\": [\"../x\"]}", "protected_paths[0]", "relative"},
    {"{\"protected_paths\": [\".\"]}", "protected_paths[0]", "relative"},
    {"{\"protected_paths\": [\"./\"]}", "protected_paths[0]", "relative"},
    {"{\"protected_paths\": [\"./x\"]}", "protected_paths[0]", "relative"},
    {"{\"protected_paths\": [\"x/.\"]}", "protected_paths[0]", "relative"},
    {"{\"protected_paths\": [\"a//b\"]}", "protected_paths[0]", "relative"},
    {"{\"protected_paths\": [\"x//\"]}", "protected_paths[0]", "relative"},
    {"{\"protected_paths\": [\"a\\nb\"]}", "protected_paths[0]", NULL},
    {"{\"protected_paths\": [\"a\\u007f\"]}", "protected_paths[0]", NULL},
    {"{\"protected_paths\": [\".git/hooks/\", \"/etc\"]}", "protected_paths[1]", "relative"},
    /* the workspace numbers */
    {"{\"workspace_idle_hours\": -1}", "workspace_idle_hours", "out of range"},
    {"{\"workspace_idle_hours\": 87601}", "workspace_idle_hours", "out of range"},
    {"{\"workspace_idle_hours\": \"168\"}", "workspace_idle_hours", "must be an integer"},
    {"{\"workspace_idle_hours\": 1.5}", "workspace_idle_hours", "must be an integer"},
    {"{\"workspace_idle_hours\": null}", "workspace_idle_hours", "must be an integer"},
    {"{\"workspace_disk_mb\": 0}", "workspace_disk_mb", "out of range"},
    {"{\"workspace_disk_mb\": 16777217}", "workspace_disk_mb", "out of range"},
    {"{\"workspace_disk_mb\": true}", "workspace_disk_mb", "must be an integer"},
    {"{\"workspace_disk_mb_max\": 0}", "workspace_disk_mb_max", "out of range"},
    {"{\"workspace_disk_mb_max\": 16777217}", "workspace_disk_mb_max", "out of range"},
    {"{\"workspace_disk_mb_max\": \"1G\"}", "workspace_disk_mb_max", "must be an integer"},
    {"{\"workspaces_max\": 0}", "workspaces_max", "out of range"},
    {"{\"workspaces_max\": 1000001}", "workspaces_max", "out of range"},
    {"{\"workspaces_max\": -5}", "workspaces_max", "out of range"},
    {"{\"workspaces_max\": [10]}", "workspaces_max", "must be an integer"},
    {"{\"workspace_allow_root_owned\": 1}", "workspace_allow_root_owned", "true or false"},
    {"{\"workspace_allow_root_owned\": 0}", "workspace_allow_root_owned", "true or false"},
    {"{\"workspace_allow_root_owned\": \"true\"}", "workspace_allow_root_owned", "true or false"},
    {"{\"workspace_allow_root_owned\": null}", "workspace_allow_root_owned", "true or false"},
    {"{\"metrics_public\": 1}", "metrics_public", "true or false"},
    {"{\"metrics_public\": \"yes\"}", "metrics_public", "true or false"},
    {"{\"workspace_roots_max\": 1}", "workspace_roots_max", "unknown key"},
    {"{\"workspace_idle_days\": 1}", "workspace_idle_days", "unknown key"},
};

Test(config, refusals_name_file_and_key)
{
    for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
        const struct bad *t = &bad_cases[i];
        struct config c;
        struct err err = {0};
        char want_prefix[PATH_MAX + 4];
        int r = load_text(t->json, &c, &err);

        config_clear(&c);
        cr_expect_eq(r, -EINVAL, "%s: got %d, want -EINVAL", t->json, r);
        if (r == 0)
            continue;
        snprintf(want_prefix, sizeof(want_prefix), "%s: ", cfg_path);
        cr_expect(str_has_prefix(err.message, want_prefix),
                  "%s: message \"%s\" does not start with the file", t->json, err.message);
        cr_expect_not_null(strstr(err.message, t->key),
                           "%s: message \"%s\" does not name the key \"%s\"", t->json, err.message,
                           t->key);
        if (t->what)
            cr_expect_not_null(strstr(err.message, t->what),
                               "%s: message \"%s\" does not say \"%s\"", t->json, err.message,
                               t->what);
        cr_expect_str_eq(err.code, "bad_config", "%s: code %s", t->json,
                         err.code ? err.code : "(null)");
    }
}

/* The key comes right after the file name, so a person reads "file: key: problem". */
Test(config, refusal_message_shape)
{
    struct config c;
    struct err err = {0};
    char want[PATH_MAX + 128];

    cr_assert_eq(load_text("{\"max_running_jobs\": 0}", &c, &err), -EINVAL);
    snprintf(want, sizeof(want), "%s: max_running_jobs: 0 is out of range (1 to 1024)", cfg_path);
    cr_assert_str_eq(err.message, want);
    cr_assert_eq(load_text("{\"listen\": \"::1:8420\"}", &c, &err), -EINVAL);
    snprintf(want, sizeof(want), "%s: listen: ", cfg_path);
    cr_assert(str_has_prefix(err.message, want), "%s", err.message);
}

Test(config, token_length_edges)
{
    struct config c;
    struct err err = {0};
    char tok[TOKEN_MAX + 2], text[TOKEN_MAX + 64];

    memset(tok, 'k', TOKEN_MAX);
    tok[TOKEN_MAX] = '\0';
    snprintf(text, sizeof(text), "{\"token\": \"%s\"}", tok);
    cr_assert_eq(load_text(text, &c, &err), 0, "%s", err.message);
    cr_assert_eq(strlen(c.token), TOKEN_MAX);
    config_clear(&c);
    tok[TOKEN_MAX] = 'k';
    tok[TOKEN_MAX + 1] = '\0';
    snprintf(text, sizeof(text), "{\"token\": \"%s\"}", tok);
    cr_assert_eq(load_text(text, &c, &err), -EINVAL);
    cr_assert_not_null(strstr(err.message, "token"), "%s", err.message);
    cr_assert_null(c.token);
}

Test(config, token_null_leaves_token_unset)
{
    struct config c;

    load_ok("{\"token\": null}", &c);
    cr_assert_null(c.token);
}

Test(config, set_token_origin_named)
{
    struct config c;
    struct err err = {0};

    config_defaults(&c);
    cr_assert_eq(config_set_token(&c, "short", "AIRLOCK_TOKEN", &err), -EINVAL);
    cr_assert(str_has_prefix(err.message, "AIRLOCK_TOKEN: "), "%s", err.message);
    cr_assert_null(c.token);
    cr_assert_eq(config_set_token(&c, "first-token-0123456789", "x", &err), 0);
    cr_assert_eq(config_set_token(&c, "second-token-0123456789", "x", &err), 0);
    cr_assert_str_eq(c.token, "second-token-0123456789");
    /* A refused token leaves the previous one in place. */
    cr_assert_eq(config_set_token(&c, "bad token with spaces", "x", &err), -EINVAL);
    cr_assert_str_eq(c.token, "second-token-0123456789");
    config_clear(&c);
}

/* ---- file-level refusals ---- */

struct bad_json {
    const char *text;
    const char *what;
};

static const struct bad_json bad_json_cases[] = {
    {"", "line 1"},
    {"{", "line 1"},
    {"{\"listen\": }", "line 1 column"},
    {"{\"listen\": \"127.0.0.1:8420\",}", "line 1 column"},
    {"{\n  \"max_running_jobs\": 4,\n  oops\n}\n", "line 3 column"},
    {"{\"a\": 1} trailing", "line 1 column"},
    {"{\"max_body_bytes\": 99999999999999999999999}", "line 1 column"},
    {"{\"log_level\": \"info\\u0000x\"}", "line 1 column"}, /* NUL inside a string */
    {"{\"log_level\": \"\xff\"}", "line 1"},                /* not UTF-8 */
    {"// comment\n{}", "line 1"},
};

Test(config, invalid_json_has_position)
{
    for (size_t i = 0; i < ARRAY_SIZE(bad_json_cases); i++) {
        struct config c;
        struct err err = {0};
        char want[PATH_MAX + 4];
        int r = load_text(bad_json_cases[i].text, &c, &err);

        cr_expect_eq(r, -EINVAL, "row %zu: got %d", i, r);
        snprintf(want, sizeof(want), "%s: ", cfg_path);
        cr_expect(str_has_prefix(err.message, want), "row %zu: \"%s\" does not name the file", i,
                  err.message);
        cr_expect_not_null(strstr(err.message, bad_json_cases[i].what),
                           "row %zu: \"%s\" does not contain \"%s\"", i, err.message,
                           bad_json_cases[i].what);
    }
}

static const char *const not_object_cases[] = {"[]", "[{}]", "[1, 2]"};

Test(config, not_an_object)
{
    for (size_t i = 0; i < ARRAY_SIZE(not_object_cases); i++) {
        struct config c;
        struct err err = {0};
        char want[PATH_MAX + 64];
        int r = load_text(not_object_cases[i], &c, &err);

        cr_expect_eq(r, -EINVAL, "%s: got %d", not_object_cases[i], r);
        snprintf(want, sizeof(want), "%s: must be a JSON object", cfg_path);
        cr_expect_str_eq(err.message, want, "%s: \"%s\"", not_object_cases[i], err.message);
    }
}

/* A bare scalar is refused by the parser itself (jansson wants an array or object at the top
 * without JSON_DECODE_ANY), so the message is a position; it still names the file. */
static const char *const scalar_cases[] = {"\"x\"", "42", "null", "true"};

Test(config, scalar_top_level)
{
    for (size_t i = 0; i < ARRAY_SIZE(scalar_cases); i++) {
        struct config c;
        struct err err = {0};
        char want[PATH_MAX + 4];
        int r = load_text(scalar_cases[i], &c, &err);

        cr_expect_eq(r, -EINVAL, "%s: got %d", scalar_cases[i], r);
        snprintf(want, sizeof(want), "%s: ", cfg_path);
        cr_expect(str_has_prefix(err.message, want), "%s: \"%s\"", scalar_cases[i], err.message);
    }
}

Test(config, duplicate_keys_refused)
{
    static const char *const dups[] = {
        "{\"listen\": \"127.0.0.1:1\", \"listen\": \"127.0.0.1:2\"}",
        "{\"max_running_jobs\": 4,\n \"max_running_jobs\": 4}",
        "{\"default_limits\": {\"pids\": 1, \"pids\": 2}}",
    };

    for (size_t i = 0; i < ARRAY_SIZE(dups); i++) {
        struct config c;
        struct err err = {0};
        char want[PATH_MAX + 4];
        int r = load_text(dups[i], &c, &err);

        cr_expect_eq(r, -EINVAL, "%s: got %d", dups[i], r);
        snprintf(want, sizeof(want), "%s: ", cfg_path);
        cr_expect(str_has_prefix(err.message, want), "%s: \"%s\"", dups[i], err.message);
        cr_expect_not_null(strstr(err.message, "duplicate"), "%s: \"%s\"", dups[i], err.message);
        cr_expect_not_null(strstr(err.message, "line"), "%s: \"%s\"", dups[i], err.message);
    }
}

/* jansson names the key in its "near" part: "duplicate object key near '"api_threads"'". */
Test(config, duplicate_key_message_names_the_key)
{
    struct config c;
    struct err err = {0};

    cr_assert_eq(load_text("{\"api_threads\": 2, \"api_threads\": 3}", &c, &err), -EINVAL);
    cr_assert_not_null(strstr(err.message, "api_threads"), "\"%s\"", err.message);
}

/* config_set_dir says "must not contain control characters" but only checks \n, \r and \t. */
Test(config, dir_with_other_control_bytes_refused)
{
    char out[PATH_MAX];
    struct err err = {0};

    cr_expect_eq(config_set_dir(out,
                                "a\x01"
                                "b",
                                "/base", &err),
                 -EINVAL);
    cr_expect_eq(config_set_dir(out, "a\x1b[2Jb", "/base", &err), -EINVAL);
    cr_expect_eq(config_set_dir(out,
                                "a\x7f"
                                "b",
                                "/base", &err),
                 -EINVAL);
}

/* config.h: "ADDR:PORT" is "IPv4 dotted quad or [IPv6]"; brackets are for IPv6 only. */
Test(config, bracketed_ipv4_listen_refused)
{
    struct config c;
    struct err err = {0};

    config_defaults(&c);
    cr_assert_eq(config_set_listen(&c, "[127.0.0.1]:8420", &err), -EINVAL);
}

Test(config, missing_file)
{
    struct config c;
    struct err err = {0};
    char path[PATH_MAX], want[PATH_MAX + 16];

    snprintf(path, sizeof(path), "%s/nope.json", dir);
    config_defaults(&c);
    cr_assert_eq(config_load(&c, path, &err), -ENOENT);
    snprintf(want, sizeof(want), "%s: cannot open", path);
    cr_assert(str_has_prefix(err.message, want), "\"%s\"", err.message);
    cr_assert_str_eq(c.path, "");
}

Test(config, directory_as_file)
{
    struct config c;
    struct err err = {0};
    char want[PATH_MAX + 32];

    config_defaults(&c);
    cr_assert_eq(config_load(&c, dir, &err), -EINVAL);
    snprintf(want, sizeof(want), "%s: not a regular file", dir);
    cr_assert_str_eq(err.message, want);
}

Test(config, too_large_file)
{
    struct config c;
    struct err err = {0};
    size_t n = CONFIG_FILE_MAX + 1;
    char *big = malloc(n);

    cr_assert_not_null(big);
    /* A valid object padded with spaces: refused by size, not by the parser. */
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    write_file(cfg_path, big, n);
    free(big);
    config_defaults(&c);
    cr_assert_eq(config_load(&c, cfg_path, &err), -EFBIG);
    cr_assert(str_has_prefix(err.message, cfg_path), "\"%s\"", err.message);
    cr_assert_not_null(strstr(err.message, "larger than"), "\"%s\"", err.message);
}

Test(config, largest_file_accepted)
{
    struct config c;
    struct err err = {0};
    size_t n = CONFIG_FILE_MAX;
    char *big = malloc(n);

    cr_assert_not_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    write_file(cfg_path, big, n);
    free(big);
    config_defaults(&c);
    cr_assert_eq(config_load(&c, cfg_path, &err), 0, "%s", err.message);
}

/* ---- config_clear ---- */

/* config_clear must wipe the token before freeing it. Reading freed memory is undefined, so in
 * builds without AddressSanitizer (which owns free itself) this file interposes free(3) and looks
 * at the watched block on its way out. Everything else goes straight to glibc's __libc_free. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#endif

#ifndef TEST_ASAN
extern void __libc_free(void *p);
static const void *watch_ptr;
static size_t watch_len;
static int watch_seen = -1; /* -1 not freed, 0 freed with secret bytes, 1 freed wiped */

void
free(void *p)
{
    if (p && p == watch_ptr) {
        const unsigned char *b = p;
        int wiped = 1;
        for (size_t i = 0; i < watch_len; i++)
            if (b[i] != 0)
                wiped = 0;
        watch_seen = wiped;
        watch_ptr = NULL;
    }
    __libc_free(p);
}
#endif

Test(config, clear_wipes_and_frees_token)
{
    struct config c;
    struct err err = {0};

    config_defaults(&c);
    cr_assert_eq(config_set_token(&c, "secret-token-0123456789", "test", &err), 0);
#ifndef TEST_ASAN
    watch_len = strlen(c.token);
    watch_ptr = c.token;
#endif
    config_clear(&c);
    cr_assert_null(c.token);
#ifndef TEST_ASAN
    cr_assert_eq(watch_seen, 1, "the token was freed without being wiped (%d)", watch_seen);
#endif
    config_clear(&c); /* twice is harmless */
    cr_assert_null(c.token);
}

Test(config, clear_without_token)
{
    struct config c;

    config_defaults(&c);
    config_clear(&c);
    cr_assert_null(c.token);
}

/* ---- workspaces ---- */

Test(config, workspace_defaults)
{
    struct config c;

    memset(&c, 0xa5, sizeof(c));
    config_defaults(&c);
    cr_assert_eq(c.nworkspace_roots, 0, "no directory may be adopted until the operator says");
    cr_assert_eq(c.nprotected_paths, 3);
    cr_assert_str_eq(c.protected_paths[0], ".git/hooks/");
    cr_assert_str_eq(c.protected_paths[1], ".git/config");
    cr_assert_str_eq(c.protected_paths[2], ".git/commondir");
    cr_assert_str_eq(c.protected_placeholders[2], ".\n", "an empty commondir would stop git");
    cr_assert_str_eq(c.protected_placeholders[1], "");
    cr_assert_eq(c.workspace_idle_hours, 168);
    cr_assert_eq(c.workspace_disk_mb, 1024);
    cr_assert_eq(c.workspace_disk_mb_max, 102400);
    cr_assert_eq(c.workspaces_max, 1000);
    cr_assert_eq(c.workspace_allow_root_owned, false);
    cr_assert_eq(c.metrics_public, false, "/metrics needs the token unless the operator says");
    config_clear(&c);
}

Test(config, protected_paths_placeholder_objects)
{
    struct config c;
    struct err err = {0};

    load_ok("{\"protected_paths\": [\"a/\", {\"path\": \"b/c\", \"placeholder\": \"x\"},"
            " {\"path\": \"d\"}]}",
            &c);
    cr_assert_eq(c.nprotected_paths, 3);
    cr_assert_str_eq(c.protected_paths[1], "b/c");
    cr_assert_str_eq(c.protected_placeholders[1], "x");
    cr_assert_str_eq(c.protected_placeholders[2], "");
    static const char *const bad[] = {
        "{\"protected_paths\": [{\"path\": \"a/\", \"placeholder\": \"x\"}]}",
        "{\"protected_paths\": [{\"placeholder\": \"x\"}]}",
        "{\"protected_paths\": [{\"path\": \"a\", \"mode\": 1}]}",
        "{\"protected_paths\": [{\"path\": \"../a\"}]}",
        "{\"protected_paths\": [{\"path\": \"a\", \"placeholder\": 5}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct config d;
        cr_expect_lt(load_text(bad[i], &d, &err), 0, "%s: accepted", bad[i]);
        cr_expect(strstr(err.message, "protected_paths"), "%s: %s", bad[i], err.message);
        config_clear(&d);
    }
    config_clear(&c);
}

/* Makes <dir>/<name> as a directory and returns its real path in real. */
static void
make_dir(const char *name, char *real)
{
    char path[PATH_MAX + 64];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    cr_assert_eq(mkdir(path, 0755), 0, "mkdir %s: %s", path, strerror(errno));
    cr_assert_not_null(realpath(path, real));
}

Test(config, workspace_every_key)
{
    struct config c;
    char real_a[PATH_MAX], real_b[PATH_MAX], text[3 * PATH_MAX];

    make_dir("a", real_a);
    make_dir("b", real_b);
    snprintf(text, sizeof(text),
             "{\"workspace_roots\": [\"%s\", \"b\"],\n"
             " \"protected_paths\": [\"x/\", \"a/b\", \".env\"],\n"
             " \"workspace_idle_hours\": 0, \"workspace_disk_mb\": 7,\n"
             " \"workspace_disk_mb_max\": 9, \"workspaces_max\": 3,\n"
             " \"workspace_allow_root_owned\": true}",
             real_a);
    load_ok(text, &c);
    cr_assert_eq(c.nworkspace_roots, 2);
    cr_assert_str_eq(c.workspace_roots[0], real_a);
    cr_assert_str_eq(c.workspace_roots[1], real_b, "a relative root resolves against the file");
    cr_assert_eq(c.nprotected_paths, 3, "the list replaces the defaults");
    cr_assert_str_eq(c.protected_paths[0], "x/", "the trailing '/' (a directory) is kept");
    cr_assert_str_eq(c.protected_paths[1], "a/b");
    cr_assert_str_eq(c.protected_paths[2], ".env");
    cr_assert_eq(c.workspace_idle_hours, 0);
    cr_assert_eq(c.workspace_disk_mb, 7);
    cr_assert_eq(c.workspace_disk_mb_max, 9);
    cr_assert_eq(c.workspaces_max, 3);
    cr_assert_eq(c.workspace_allow_root_owned, true);
    config_clear(&c);

    load_ok("{\"workspace_roots\": [], \"protected_paths\": []}", &c);
    cr_assert_eq(c.nworkspace_roots, 0);
    cr_assert_eq(c.nprotected_paths, 0);
    config_clear(&c);
}

/* Roots are kept as real paths: symlinks, "..", "." and trailing slashes are resolved, so an
 * adopted directory's real path can be compared with them byte for byte. */
Test(config, workspace_roots_stored_as_real_paths)
{
    struct config c;
    char real[PATH_MAX], real_dir[PATH_MAX], x[PATH_MAX], link[PATH_MAX + 16];
    char text[4 * PATH_MAX];

    make_dir("real", real);
    make_dir("x", x); /* "<dir>/./x/../" needs x to exist */
    cr_assert_not_null(realpath(dir, real_dir));
    snprintf(link, sizeof(link), "%s/link", dir);
    cr_assert_eq(symlink("real", link), 0);
    snprintf(text, sizeof(text),
             "{\"workspace_roots\": [\"%s\", \"%s/\", \"%s/./x/../\", \"link\", \"./real//\"]}",
             link, real, dir);
    load_ok(text, &c);
    cr_assert_eq(c.nworkspace_roots, 5);
    cr_assert_str_eq(c.workspace_roots[0], real, "a symlink is resolved");
    cr_assert_str_eq(c.workspace_roots[1], real, "a trailing '/' is dropped");
    cr_assert_str_eq(c.workspace_roots[2], real_dir, "\".\" and \"..\" are resolved");
    cr_assert_str_eq(c.workspace_roots[3], real, "a relative symlink is resolved");
    cr_assert_str_eq(c.workspace_roots[4], real, "\"./real//\"");
    config_clear(&c);
}

/* The refusals that need the file system: each names the file, the key and the entry. */
static void
assert_roots_refused(const char *text, const char *key, const char *what)
{
    struct config c;
    struct err err = {0};
    char want_prefix[PATH_MAX + 4];
    int r = load_text(text, &c, &err);

    config_clear(&c);
    cr_assert_lt(r, 0, "%s: accepted", text);
    snprintf(want_prefix, sizeof(want_prefix), "%s: ", cfg_path);
    cr_expect(str_has_prefix(err.message, want_prefix), "%s: \"%s\" does not start with the file",
              text, err.message);
    cr_expect_not_null(strstr(err.message, key), "%s: \"%s\" does not name \"%s\"", text,
                       err.message, key);
    if (what)
        cr_expect_not_null(strstr(err.message, what), "%s: \"%s\" does not say \"%s\"", text,
                           err.message, what);
    cr_expect_str_eq(err.code, "bad_config", "%s: code %s", text, err.code ? err.code : "(null)");
}

Test(config, workspace_roots_missing_dir_refused)
{
    char real[PATH_MAX], text[3 * PATH_MAX];

    make_dir("there", real);
    snprintf(text, sizeof(text), "{\"workspace_roots\": [\"%s\", \"%s/missing\"]}", real, dir);
    assert_roots_refused(text, "workspace_roots[1]", "missing");
    assert_roots_refused("{\"workspace_roots\": [\"missing\"]}", "workspace_roots[0]", "missing");
    /* a dangling symlink is a missing directory too */
    snprintf(text, sizeof(text), "%s/dangling", dir);
    cr_assert_eq(symlink("nowhere", text), 0);
    assert_roots_refused("{\"workspace_roots\": [\"dangling\"]}", "workspace_roots[0]", NULL);
}

Test(config, workspace_roots_slash_refused_even_through_a_symlink)
{
    char link[PATH_MAX + 16];

    snprintf(link, sizeof(link), "%s/to_root", dir);
    cr_assert_eq(symlink("/", link), 0);
    assert_roots_refused("{\"workspace_roots\": [\"to_root\"]}", "workspace_roots[0]", "\"/\"");
    assert_roots_refused("{\"workspace_roots\": [\"/usr/..\"]}", "workspace_roots[0]", "\"/\"");
}

/* "an array of existing dirs": a regular file is not a directory anything could be adopted
 * under, and accepting it would hide a typo. */
Test(config, workspace_roots_regular_file_refused)
{
    char path[PATH_MAX + 16];

    snprintf(path, sizeof(path), "%s/file", dir);
    write_file(path, "x", 1);
    assert_roots_refused("{\"workspace_roots\": [\"file\"]}", "workspace_roots[0]", NULL);
}

Test(config, workspace_roots_at_most_16)
{
    char real[PATH_MAX];
    char *text = malloc(20 * (PATH_MAX + 8));
    size_t len;
    struct config c;

    cr_assert_not_null(text);
    make_dir("r", real);
    len = (size_t)sprintf(text, "{\"workspace_roots\": [");
    for (int i = 0; i < CONFIG_ROOTS_MAX; i++)
        len += (size_t)sprintf(text + len, "%s\"%s\"", i ? ", " : "", real);
    strcpy(text + len, "]}");
    load_ok(text, &c);
    cr_assert_eq(c.nworkspace_roots, CONFIG_ROOTS_MAX);
    cr_assert_eq(CONFIG_ROOTS_MAX, 16);
    config_clear(&c);

    len += (size_t)sprintf(text + len, ", \"%s\"]}", real);
    assert_roots_refused(text, "workspace_roots", "at most 16");
    free(text);
}

Test(config, protected_paths_bounds)
{
    char text[8192];
    char name[300];
    size_t len;
    struct config c;

    /* 16 entries accepted, 17 refused */
    len = (size_t)sprintf(text, "{\"protected_paths\": [");
    for (int i = 0; i < CONFIG_PROTECTED_MAX; i++)
        len += (size_t)sprintf(text + len, "%s\"p%d/\"", i ? ", " : "", i);
    strcpy(text + len, "]}");
    load_ok(text, &c);
    cr_assert_eq(c.nprotected_paths, CONFIG_PROTECTED_MAX);
    cr_assert_eq(CONFIG_PROTECTED_MAX, 16);
    cr_assert_str_eq(c.protected_paths[15], "p15/");
    config_clear(&c);
    sprintf(text + len, ", \"p16\"]}");
    assert_roots_refused(text, "protected_paths", "at most 16");

    /* 255 bytes accepted, 256 refused (with or without the trailing '/') */
    memset(name, 'n', 255);
    name[255] = '\0';
    snprintf(text, sizeof(text), "{\"protected_paths\": [\"%s\"]}", name);
    load_ok(text, &c);
    cr_assert_eq(strlen(c.protected_paths[0]), 255);
    config_clear(&c);
    name[254] = '/';
    snprintf(text, sizeof(text), "{\"protected_paths\": [\"%s\"]}", name);
    load_ok(text, &c);
    cr_assert_str_eq(c.protected_paths[0], name);
    config_clear(&c);
    name[254] = 'n';
    name[255] = 'n';
    name[256] = '\0';
    snprintf(text, sizeof(text), "{\"protected_paths\": [\"%s\"]}", name);
    assert_roots_refused(text, "protected_paths[0]", "1 to 255");
}
