/*
 * cli_ws: the workspace, file and policy commands of the `airlock` client -- ws create|ls|rm,
 * cp in both directions (streamed: a PUT fed by a read callback, a GET written as it comes) and
 * policy ls|show|check. Files are never held in memory whole; a refused download leaves no
 * local file behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

/* Reads a command's options with none of its own; 0, an exit code or CLI_DONE. */
static int
no_options(struct cli *c, const char *cmd, int argc, char **argv)
{
    const char *arg;
    int opt, code = 0;

    optind = 0;
    while ((opt = cli_opt_next(c, cmd, argc, argv, NULL, NULL, &arg, &code)) != 0)
        if (opt < 0)
            return code ? code : CLI_DONE;
    return 0;
}

/* "/v1/workspaces/<id><suffix>" with the id escaped; -1 when too long. */
static int
ws_path(char *buf, size_t n, const char *id, const char *suffix)
{
    str_copy(buf, n, "/v1/workspaces/");
    if (cli_escape(buf, n, id, false) < 0 || strlen(buf) + strlen(suffix) >= n)
        return -1;
    memcpy(buf + strlen(buf), suffix, strlen(suffix) + 1);
    return 0;
}

/* ---- ws ---- */

static int
ws_create(struct cli *c, int argc, char **argv)
{
    enum { W_LABEL = 1, W_HOST, W_DISK };
    static const struct option opts[] = {
        {"label", required_argument, NULL, W_LABEL},
        {"host-path", required_argument, NULL, W_HOST},
        {"disk-mb", required_argument, NULL, W_DISK},
        {0},
    };
    json_t *body = json_object(), *labels = json_object(), *ws = NULL;
    const char *arg, *eq;
    struct cli_resp raw;
    int opt, code = 0;
    uint64_t mb;

    optind = 0;
    while (code == 0 &&
           (opt = cli_opt_next(c, "ws create", argc, argv, NULL, opts, &arg, &code)) != 0) {
        if (opt < 0)
            code = code ? code : CLI_DONE;
        else if (opt == W_HOST)
            json_object_set_new(body, "host_path", json_string(arg));
        else if (opt == W_DISK && str_to_u64(arg, 1, 1u << 30, &mb) < 0)
            code = cli_usage_error("ws create",
                                   "--disk-mb \"%s\": must be a whole number of "
                                   "MiB, 1 or more",
                                   arg);
        else if (opt == W_DISK)
            json_object_set_new(body, "disk_mb", json_integer((json_int_t)mb));
        else if (!(eq = strchr(arg, '=')) || eq == arg)
            code = cli_usage_error("ws create", "--label \"%s\": must be KEY=VALUE", arg);
        else {
            char key[256];
            str_printf(key, sizeof(key), "%.*s", (int)(eq - arg), arg);
            json_object_set_new(labels, key, json_string(eq + 1));
        }
    }
    if (code == 0 && optind < argc)
        code = cli_usage_error("ws create", "unexpected argument \"%s\"", argv[optind]);
    if (code == 0 && json_object_size(labels))
        json_object_set(body, "labels", labels);
    if (code == 0 && cli_json(c, "POST", "/v1/workspaces", body, NULL, &ws, &raw) == 0) {
        if (c->json)
            cli_print_body(&raw);
        else
            puts(json_string_value(json_object_get(ws, "id")));
        cli_resp_free(&raw);
    } else if (code == 0) {
        code = CLI_EXIT_ERR;
    }
    json_decref(ws);
    json_decref(body);
    json_decref(labels);
    return code == CLI_DONE ? 0 : code;
}

static void
ws_row(struct cli_table *t, const json_t *w)
{
    char labels[256], size[32], disk[32], jobs[48], used[32];

    str_printf(jobs, sizeof(jobs), "%lld/%lld",
               (long long)json_integer_value(json_object_get(w, "jobs_running")),
               (long long)json_integer_value(json_object_get(w, "jobs_total")));
    cli_fmt_value(disk, sizeof(disk), json_object_get(w, "disk_mb"));
    if (json_is_integer(json_object_get(w, "disk_mb")))
        str_printf(disk, sizeof(disk), "%lld MiB",
                   (long long)json_integer_value(json_object_get(w, "disk_mb")));
    const char *cells[] = {
        json_string_value(json_object_get(w, "id")),
        cli_fmt_labels(labels, sizeof(labels), json_object_get(w, "labels")),
        cli_fmt_bytes(size, sizeof(size),
                      (long long)json_integer_value(json_object_get(w, "size_bytes"))),
        disk,
        jobs,
        cli_fmt_time(used, sizeof(used), json_object_get(w, "last_used_at")),
        json_string_value(json_object_get(w, "host_path")),
    };
    cli_table_row(t, cells);
}

static int
ws_ls(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"label", required_argument, NULL, 1}, {0}};
    static const char *const head[] = {"ID",   "LABELS",    "SIZE",     "DISK CAP",
                                       "JOBS", "LAST USED", "HOST PATH"};
    char path[1024] = "/v1/workspaces";
    const char *arg, *label = NULL;
    struct cli_resp raw;
    struct cli_table t;
    json_t *list = NULL, *w;
    int opt, code = 0;
    size_t i;

    optind = 0;
    while ((opt = cli_opt_next(c, "ws ls", argc, argv, NULL, opts, &arg, &code)) != 0) {
        if (opt < 0)
            return code;
        label = arg;
    }
    if (optind < argc)
        return cli_usage_error("ws ls", "unexpected argument \"%s\"", argv[optind]);
    if (label) {
        char kv[600];
        if (!strchr(label, '=') || str_copy(kv, sizeof(kv), label) < 0)
            return cli_usage_error("ws ls", "--label \"%s\": must be KEY=VALUE", label);
        *strchr(kv, '=') = ':';
        str_copy(path + strlen(path), sizeof(path) - strlen(path), "?label=");
        if (cli_escape(path, sizeof(path), kv, false) < 0)
            return cli_usage_error("ws ls", "--label: too long");
    }
    if (cli_json(c, "GET", path, NULL, NULL, &list, &raw))
        return CLI_EXIT_ERR;
    if (c->json) {
        cli_print_body(&raw);
    } else {
        cli_table_init(&t, 7, head);
        json_array_foreach(json_object_get(list, "workspaces"), i, w) ws_row(&t, w);
        code = cli_table_print(&t, stdout);
    }
    cli_resp_free(&raw);
    json_decref(list);
    return code;
}

static int
ws_rm(struct cli *c, int argc, char **argv)
{
    char path[512], what[160];
    int code = no_options(c, "ws rm", argc, argv), ret = 0;

    if (code)
        return code == CLI_DONE ? 0 : code;
    if (optind >= argc)
        return cli_usage_error("ws rm", "a workspace id is needed (airlock ws ls lists them)");
    for (int i = optind; i < argc; i++) {
        struct cli_resp raw;
        str_printf(what, sizeof(what), "workspace %s", argv[i]);
        if (ws_path(path, sizeof(path), argv[i], "") < 0 ||
            cli_json(c, "DELETE", path, NULL, what, NULL, &raw)) {
            ret = CLI_EXIT_ERR;
            continue;
        }
        if (c->json)
            cli_print_body(&raw);
        else
            printf("%s: deleted\n", argv[i]);
        cli_resp_free(&raw);
    }
    return ret;
}

int
cli_cmd_ws(struct cli *c, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        if (argc < 2)
            return cli_usage_error("ws", "a subcommand is needed: create, ls or rm");
        cli_help("ws");
        return 0;
    }
    if (!strcmp(argv[1], "create"))
        return ws_create(c, argc - 1, argv + 1);
    if (!strcmp(argv[1], "ls"))
        return ws_ls(c, argc - 1, argv + 1);
    if (!strcmp(argv[1], "rm"))
        return ws_rm(c, argc - 1, argv + 1);
    return cli_usage_error("ws", "\"%s\": no such subcommand (create, ls, rm)", argv[1]);
}

/* ---- cp ---- */

/* A remote operand "W:PATH": a colon before any '/', with a non-empty W. */
static bool
split_remote(const char *s, char *ws, size_t n, const char **path)
{
    const char *colon = strchr(s, ':');
    const char *slash = strchr(s, '/');

    if (!colon || colon == s || (slash && slash < colon) || (size_t)(colon - s) >= n)
        return false;
    str_printf(ws, n, "%.*s", (int)(colon - s), s);
    *path = colon + 1;
    return true;
}

static const char *
base_name(const char *p)
{
    const char *s = strrchr(p, '/');

    return s ? s + 1 : p;
}

/* "/v1/workspaces/<ws>/files/<path>" (path escaped, its '/' kept). */
static int
files_path(char *buf, size_t n, const char *ws, const char *path)
{
    if (ws_path(buf, n, ws, "/files/") < 0)
        return -1;
    return cli_escape(buf, n, path, true);
}

static int
cp_up(struct cli *c, const char *local, const char *ws, const char *rpath)
{
    char path[8192], full[4096], what[4200];
    struct cli_resp raw;
    struct stat st;
    json_t *entry = NULL;
    int fd = 0, code;
    long long size = -1;

    if (strcmp(local, "-") != 0) {
        fd = open(local, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
            fprintf(stderr, "airlock: cp: %s: %s\n", local, strerror(errno));
            if (fd >= 0)
                close(fd);
            return CLI_EXIT_ERR;
        }
        if (!S_ISREG(st.st_mode)) {
            close(fd);
            return cli_usage_error("cp", "%s: not a regular file (cp copies one file)", local);
        }
        size = st.st_size;
    }
    if (!*rpath || rpath[strlen(rpath) - 1] == '/') {
        if (fd == 0)
            return cli_usage_error("cp", "%s:%s: name the file to write from stdin", ws, rpath);
        str_printf(full, sizeof(full), "%s%s", rpath, base_name(local));
    } else {
        str_copy(full, sizeof(full), rpath);
    }
    str_printf(what, sizeof(what), "workspace %s", ws);
    if (files_path(path, sizeof(path), ws, full) < 0) {
        if (fd > 0)
            close(fd);
        return cli_usage_error("cp", "%s: the path is too long", full);
    }
    code = cli_upload(c, path, fd, size, what, &entry, &raw);
    if (fd > 0)
        close(fd);
    if (code)
        return code;
    if (c->json)
        cli_print_body(&raw);
    else
        printf("%s:%s: %lld bytes\n", ws, json_string_value(json_object_get(entry, "path")) ?: full,
               (long long)json_integer_value(json_object_get(entry, "size")));
    cli_resp_free(&raw);
    json_decref(entry);
    return 0;
}

static int
cp_down(struct cli *c, const char *ws, const char *rpath, const char *local)
{
    char path[8192], target[4096], what[4200];
    struct stat st;
    unsigned long long n = 0;
    bool to_stdout = !strcmp(local, "-");
    int code;

    if (!*rpath || rpath[strlen(rpath) - 1] == '/')
        return cli_usage_error("cp", "%s:%s: name a file (cp copies one file)", ws, rpath);
    if (!to_stdout && stat(local, &st) == 0 && S_ISDIR(st.st_mode))
        str_printf(target, sizeof(target), "%s/%s", local, base_name(rpath));
    else
        str_copy(target, sizeof(target), local);
    str_printf(what, sizeof(what), "%s:%s", ws, rpath);
    if (files_path(path, sizeof(path), ws, rpath) < 0)
        return cli_usage_error("cp", "%s: the path is too long", rpath);
    signal(SIGPIPE, SIG_IGN);
    fflush(stdout);
    code = cli_download(c, path, 1, to_stdout ? NULL : target, true, what, &n);
    if (code == 0 && !to_stdout && !c->json)
        printf("%s: %llu bytes\n", target, n);
    return code;
}

int
cli_cmd_cp(struct cli *c, int argc, char **argv)
{
    char ws_a[128], ws_b[128];
    const char *pa, *pb;
    bool ra, rb;
    int code = no_options(c, "cp", argc, argv);

    if (code)
        return code == CLI_DONE ? 0 : code;
    if (argc - optind != 2)
        return cli_usage_error("cp", "two operands are needed: LOCAL W:PATH, or W:PATH LOCAL");
    ra = split_remote(argv[optind], ws_a, sizeof(ws_a), &pa);
    rb = split_remote(argv[optind + 1], ws_b, sizeof(ws_b), &pb);
    if (ra == rb)
        return cli_usage_error("cp",
                               "exactly one operand must be W:PATH (a workspace id, a "
                               "colon, a path in it); use ./%s for a local name with a "
                               "colon",
                               argv[optind]);
    return rb ? cp_up(c, argv[optind], ws_b, pb) : cp_down(c, ws_a, pa, argv[optind + 1]);
}

/* ---- policy ---- */

static int
policy_ls(struct cli *c, int argc, char **argv)
{
    static const char *const head[] = {"NAME", "DESCRIPTION"};
    struct cli_resp raw;
    struct cli_table t;
    json_t *list = NULL, *p;
    int code = no_options(c, "policy ls", argc, argv);
    size_t i;

    if (code)
        return code == CLI_DONE ? 0 : code;
    if (optind < argc)
        return cli_usage_error("policy ls", "unexpected argument \"%s\"", argv[optind]);
    if (cli_json(c, "GET", "/v1/policies", NULL, NULL, &list, &raw))
        return CLI_EXIT_ERR;
    if (c->json) {
        cli_print_body(&raw);
    } else {
        cli_table_init(&t, 2, head);
        json_array_foreach(json_object_get(list, "policies"), i, p)
        {
            const char *cells[] = {json_string_value(json_object_get(p, "name")),
                                   json_string_value(json_object_get(p, "description"))};
            cli_table_row(&t, cells);
        }
        code = cli_table_print(&t, stdout);
    }
    cli_resp_free(&raw);
    json_decref(list);
    return code;
}

static int
policy_show(struct cli *c, int argc, char **argv)
{
    char path[512] = "/v1/policies/", what[160];
    struct cli_resp raw;
    json_t *p = NULL;
    char *s;
    int code = no_options(c, "policy show", argc, argv);

    if (code)
        return code == CLI_DONE ? 0 : code;
    if (argc - optind != 1)
        return cli_usage_error("policy show", "one policy name is needed (airlock policy ls)");
    if (cli_escape(path, sizeof(path), argv[optind], false) < 0)
        return cli_usage_error("policy show", "the name is too long");
    str_printf(what, sizeof(what), "policy %s", argv[optind]);
    if (cli_json(c, "GET", path, NULL, what, &p, &raw))
        return CLI_EXIT_ERR;
    /* A policy is a tree (network rules, filesystem lists, limits): indented JSON is the
     * clearest table of it. */
    if (c->json) {
        cli_print_body(&raw);
    } else if ((s = json_dumps(p, JSON_INDENT(2) | JSON_PRESERVE_ORDER))) {
        puts(s);
        free(s);
    }
    cli_resp_free(&raw);
    json_decref(p);
    return 0;
}

static int
policy_check(struct cli *c, int argc, char **argv)
{
    char path[512] = "/v1/policies/", what[160];
    const char *reason, *rule;
    struct cli_resp raw;
    json_t *body, *d = NULL;
    int code = no_options(c, "policy check", argc, argv);

    if (code)
        return code == CLI_DONE ? 0 : code;
    if (argc - optind < 2 || argc - optind > 3)
        return cli_usage_error("policy check", "NAME URL [METHOD] are needed, e.g. policy "
                                               "check default https://pypi.org/");
    if (cli_escape(path, sizeof(path), argv[optind], false) < 0)
        return cli_usage_error("policy check", "the name is too long");
    str_copy(path + strlen(path), sizeof(path) - strlen(path), "/check");
    body = json_pack("{s:s?}", "url", argv[optind + 1]);
    if (body && argc - optind == 3)
        json_object_set_new(body, "method", json_string(argv[optind + 2]));
    str_printf(what, sizeof(what), "policy %s", argv[optind]);
    if (!body || cli_json(c, "POST", path, body, what, &d, &raw)) {
        json_decref(body);
        return CLI_EXIT_ERR;
    }
    json_decref(body);
    if (c->json) {
        cli_print_body(&raw);
    } else {
        reason = json_string_value(json_object_get(d, "reason"));
        rule = json_string_value(json_object_get(d, "rule"));
        printf("%s", json_string_value(json_object_get(d, "decision")));
        if (rule)
            printf("  rule=%s", rule);
        if (reason)
            printf("  reason=%s", reason);
        printf("\n%s\n", json_string_value(json_object_get(d, "explanation")) ?: "");
        if (json_string_value(json_object_get(d, "note")))
            printf("note: %s\n", json_string_value(json_object_get(d, "note")));
    }
    cli_resp_free(&raw);
    json_decref(d);
    return 0;
}

int
cli_cmd_policy(struct cli *c, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("policy", "a subcommand is needed: ls, show or check");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        cli_help("policy");
        return 0;
    }
    if (!strcmp(argv[1], "ls"))
        return policy_ls(c, argc - 1, argv + 1);
    if (!strcmp(argv[1], "show"))
        return policy_show(c, argc - 1, argv + 1);
    if (!strcmp(argv[1], "check"))
        return policy_check(c, argc - 1, argv + 1);
    return cli_usage_error("policy", "\"%s\": no such subcommand (ls, show, check)", argv[1]);
}
