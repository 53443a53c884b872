/*
 * airlock: the command-line client of airlockd. This file owns the entry point: the global
 * options (--url, --token-file, --json), finding the daemon (AIRLOCK_URL, else
 * http://127.0.0.1:8420), the usage texts and the dispatch to a command (cli_jobs.c, cli_ws.c).
 * It talks to the daemon only through the REST API, like any other client; it must never read
 * the daemon's state directory beyond the token file.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "util.h"

#define CLI_DEFAULT_URL "http://127.0.0.1:8420"

struct usage {
    const char *cmd;
    const char *text;
};

static const struct usage usages[] = {
    {NULL, "Usage: airlock [--url URL] [--token-file FILE] [--json] COMMAND [ARGS...]\n"
           "\n"
           "The command-line client of airlockd (docs/cli.md).\n"
           "\n"
           "Jobs:\n"
           "  run [OPTIONS] -- CMD...      run a command in a sandbox, stream its output, exit "
           "with its code\n"
           "  ps [--status S] [--label k=v] [--limit N]   list jobs, newest first\n"
           "  show ID                      one job\n"
           "  logs ID [-f] [--stderr]      a job's output (-f: follow until the job ends)\n"
           "  egress ID                    the requests the job's proxy saw\n"
           "  cancel ID                    kill a queued or running job\n"
           "  rm ID                        delete an ended job, its output and own workspace\n"
           "Workspaces and files:\n"
           "  ws create [--label k=v] [--host-path P] [--disk-mb N]\n"
           "  ws ls [--label k=v]          list workspaces\n"
           "  ws rm W...                   delete workspaces\n"
           "  cp LOCAL W:PATH | cp W:PATH LOCAL   copy a file in or out ('-': stdin/stdout)\n"
           "Policies:\n"
           "  policy ls | policy show NAME | policy check NAME URL [METHOD]\n"
           "\n"
           "Options:\n"
           "  --url URL          the daemon: http://HOST:PORT or unix:/PATH (default:\n"
           "                     $AIRLOCK_URL, else " CLI_DEFAULT_URL ")\n"
           "  --token-file FILE  the API token (default: $AIRLOCK_TOKEN, else "
           "$AIRLOCK_STATE_DIR/token,\n"
           "                     else ./var/token as `make run` writes it)\n"
           "  --json             print the API's JSON as it is, for scripts\n"
           "  --help, --version\n"
           "\n"
           "Exit codes: 0 success, 1 an error from the API or the connection, 2 a usage error;\n"
           "`airlock run` exits with the job's code (124 timeout, 128+N signal N, 125 no start).\n"
           "`airlock COMMAND --help` describes a command.\n"},
    {"run", "Usage: airlock run [OPTIONS] [--] CMD [ARG...]\n"
            "\n"
            "Starts CMD in a sandbox, prints its stdout and stderr as the job writes them, and "
            "exits\n"
            "with the job's exit code: 124 when it timed out, 128+N when signal N killed it, "
            "125 when\n"
            "it could not start or ended for another reason (the reason is printed). Ctrl-C "
            "cancels\n"
            "the job.\n"
            "\n"
            "  --policy P       the job's policy (default: the daemon's \"default\")\n"
            "  --workspace W    run in workspace W (ws create), mounted at /workspace\n"
            "  --timeout S      kill it after S seconds (at most the policy's timeout_s)\n"
            "  --env K=V        an environment variable (repeatable)\n"
            "  --file PATH      put the local text file PATH into the job's workspace under its\n"
            "                   basename (repeatable; binary files: cp into a workspace)\n"
            "  --label K=V      a label on the job (repeatable; ps --label finds it)\n"
            "  --json           do not print the output; print the ended job's JSON instead\n"},
    {"ps", "Usage: airlock ps [--status S] [--label k=v] [--limit N] [--before ID] [--json]\n"
           "\n"
           "Lists jobs, newest first (50 unless --limit, at most 1000; --before ID: the page\n"
           "after the job ID, as the last line suggests). S: queued, running, succeeded, "
           "failed,\n"
           "timed_out, canceled, lost.\n"},
    {"show", "Usage: airlock show ID [--json]\n\nOne job: status, exit, times, usage, limits.\n"},
    {"logs", "Usage: airlock logs ID [-f|--follow] [--stderr]\n"
             "\n"
             "Prints the job's stdout (--stderr: its stderr) as bytes. -f keeps printing as the "
             "job\n"
             "writes and returns when it has ended.\n"},
    {"egress", "Usage: airlock egress ID [--json]\n"
               "\n"
               "Every request and tunnel the job's proxy saw: the decision, the rule, the "
               "reason.\n"},
    {"cancel", "Usage: airlock cancel ID [--json]\n\nKills a queued or running job (it ends "
               "canceled).\n"},
    {"rm", "Usage: airlock rm ID... [--json]\n"
           "\n"
           "Deletes ended jobs: the record, the output and the job's own workspace.\n"},
    {"ws", "Usage: airlock ws create [--label k=v]... [--host-path P] [--disk-mb N] [--json]\n"
           "       airlock ws ls [--label k=v] [--json]\n"
           "       airlock ws rm W... [--json]\n"
           "\n"
           "create makes a workspace (an empty managed one, or adopts the directory P under the\n"
           "daemon's workspace_roots) and prints its id; ls lists them; rm deletes them (a "
           "managed\n"
           "one's files with it; an adopted directory stays).\n"},
    {"cp", "Usage: airlock cp LOCAL W:PATH\n"
           "       airlock cp W:PATH LOCAL\n"
           "\n"
           "Copies one file into workspace W (parent directories are made) or out of it, "
           "streamed.\n"
           "LOCAL '-' is stdin or stdout. A PATH ending in '/' (or empty) takes LOCAL's name; a "
           "LOCAL\n"
           "that is a directory takes PATH's.\n"},
    {"policy", "Usage: airlock policy ls [--json]\n"
               "       airlock policy show NAME [--json]\n"
               "       airlock policy check NAME URL [METHOD] [--json]\n"
               "\n"
               "check prints the decision the proxy would take for URL under policy NAME; "
               "nothing\n"
               "is sent anywhere.\n"},
};

void
cli_help(const char *cmd)
{
    /* "ws create" has the usage of "ws". */
    size_t len = cmd ? strcspn(cmd, " ") : 0;

    for (size_t i = 0; i < ARRAY_SIZE(usages); i++)
        if ((!cmd && !usages[i].cmd) || (cmd && usages[i].cmd && strlen(usages[i].cmd) == len &&
                                         !strncmp(cmd, usages[i].cmd, len))) {
            fputs(usages[i].text, stdout);
            return;
        }
    fputs(usages[0].text, stdout);
}

int
cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "airlock: %s%s", cmd ? cmd : "", cmd ? ": " : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'airlock %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
    return CLI_EXIT_USAGE;
}

#define OPT_JSON 0x1001
#define OPT_HELP 0x1002
#define OPTS_MAX 16

int
cli_opt_next(struct cli *c, const char *cmd, int argc, char **argv, const char *shortopts,
             const struct option *opts, const char **arg, int *code)
{
    struct option all[OPTS_MAX + 3] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, OPT_HELP},
    };
    char sopts[64];
    int n = 2, o;

    for (int i = 0; opts && opts[i].name && n < OPTS_MAX; i++)
        all[n++] = opts[i];
    /* '+' (before the command, and for run): stop at the first operand, so "run sh -c x"
     * leaves "-c" to the job; other commands take options after their operands too. ':': a
     * missing argument is reported as ':' rather than printed by getopt. */
    str_printf(sopts, sizeof(sopts), "%s:h%s", !cmd || !strcmp(cmd, "run") ? "+" : "",
               shortopts ? shortopts : "");
    opterr = 0;
    o = getopt_long(argc, argv, sopts, all, NULL);
    *arg = optarg;
    switch (o) {
    case -1:
        return 0;
    case OPT_JSON:
        c->json = true;
        return cli_opt_next(c, cmd, argc, argv, shortopts, opts, arg, code);
    case 'h':
    case OPT_HELP:
        cli_help(cmd);
        *code = 0;
        return -1;
    case ':':
        *code = cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        return -1;
    case '?':
        if (optopt > 0 && optopt < 128)
            *code = cli_usage_error(cmd, "unknown option -%c", optopt);
        else if (strchr(argv[optind - 1], '=') && optopt)
            *code = cli_usage_error(cmd, "%s: this option takes no value", argv[optind - 1]);
        else
            *code = cli_usage_error(cmd, "unknown option %s", argv[optind - 1]);
        return -1;
    default:
        return o;
    }
}

struct command {
    const char *name;
    int (*fn)(struct cli *c, int argc, char **argv);
};

static const struct command commands[] = {
    {"run", cli_cmd_run},       {"ps", cli_cmd_ps},         {"show", cli_cmd_show},
    {"logs", cli_cmd_logs},     {"egress", cli_cmd_egress}, {"cancel", cli_cmd_cancel},
    {"rm", cli_cmd_rm},         {"ws", cli_cmd_ws},         {"cp", cli_cmd_cp},
    {"policy", cli_cmd_policy},
};

/* The global options before the command; returns the index of the command in argv, or -1 with
 * *code set. */
static int
global_options(struct cli *c, int argc, char **argv, int *code)
{
    enum { G_URL = 1, G_TOKEN_FILE, G_VERSION };
    static const struct option opts[] = {
        {"url", required_argument, NULL, G_URL},
        {"token-file", required_argument, NULL, G_TOKEN_FILE},
        {"version", no_argument, NULL, G_VERSION},
        {0},
    };
    const char *arg;
    int o;

    optind = 0;
    while ((o = cli_opt_next(c, NULL, argc, argv, NULL, opts, &arg, code)) != 0) {
        if (o < 0)
            return -1;
        if (o == G_VERSION) {
            printf("airlock %s\n", AIRLOCK_VERSION);
            *code = 0;
            return -1;
        }
        if (o == G_URL && str_copy(c->url, sizeof(c->url), arg) < 0) {
            *code = cli_usage_error(NULL, "--url: longer than %d bytes", CLI_URL_MAX - 1);
            return -1;
        }
        if (o == G_TOKEN_FILE && str_copy(c->token_file, sizeof(c->token_file), arg) < 0) {
            *code = cli_usage_error(NULL, "--token-file: the path is too long");
            return -1;
        }
    }
    if (optind >= argc) {
        *code = cli_usage_error(NULL, "a command is needed (run, ps, show, logs, egress, "
                                      "cancel, rm, ws, cp, policy)");
        return -1;
    }
    return optind;
}

static int
find_url(struct cli *c)
{
    const char *env = secure_getenv("AIRLOCK_URL");
    size_t len;

    if (!c->url[0] && str_copy(c->url, sizeof(c->url), env && *env ? env : CLI_DEFAULT_URL) < 0)
        return cli_usage_error(NULL, "AIRLOCK_URL: longer than %d bytes", CLI_URL_MAX - 1);
    /* unix:/run/airlock/airlockd.sock: the daemon's listen_unix socket. */
    if (str_has_prefix(c->url, "unix:")) {
        if (c->url[5] != '/' || str_copy(c->unix_path, sizeof(c->unix_path), c->url + 5) < 0)
            return cli_usage_error(NULL,
                                   "the daemon's URL \"%s\": a socket is unix:/ABSOLUTE/PATH "
                                   "(at most %zu bytes)",
                                   c->url, sizeof(c->unix_path) - 1);
        str_copy(c->url, sizeof(c->url), "http://localhost");
    }
    if (!str_has_prefix(c->url, "http://") && !str_has_prefix(c->url, "https://"))
        return cli_usage_error(NULL,
                               "the daemon's URL \"%s\" (--url or AIRLOCK_URL) must begin "
                               "with http:// or be unix:/PATH (e.g. " CLI_DEFAULT_URL ")",
                               c->url);
    len = strlen(c->url);
    while (len > 0 && c->url[len - 1] == '/')
        c->url[--len] = '\0';
    return 0;
}

int
main(int argc, char **argv)
{
    struct cli c = {0};
    int code = 0, first;

    first = global_options(&c, argc, argv, &code);
    if (first < 0)
        return code;
    code = find_url(&c);
    if (code)
        return code;
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        if (!strcmp(argv[first], commands[i].name)) {
            if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                fprintf(stderr, "airlock: libcurl failed to start\n");
                return CLI_EXIT_ERR;
            }
            code = commands[i].fn(&c, argc - first, argv + first);
            cli_done(&c);
            curl_global_cleanup();
            fflush(stdout);
            if (ferror(stdout) && code == 0) {
                fprintf(stderr, "airlock: writing the output failed\n");
                code = CLI_EXIT_ERR;
            }
            return code;
        }
    return cli_usage_error(NULL,
                           "%s: no such command (run, ps, show, logs, egress, cancel, rm, "
                           "ws, cp, policy)",
                           argv[first]);
}
