/*
 * cli: the shared face of the `airlock` command-line client's modules -- where the daemon is and
 * the token (struct cli), the HTTP calls (cli_http.c), the aligned tables (cli_table.c) and the
 * commands (cli_jobs.c, cli_ws.c, airlock.c). The client is a plain REST client: it decides
 * nothing the daemon decides, and it never prints the token.
 *
 * Exit codes every command shares: 0 success, 1 an error from the API or the connection (its
 * message printed), 2 a usage error. `airlock run` passes the job's own code through (cli_jobs.c).
 */
#ifndef AIRLOCK_CLI_H
#define AIRLOCK_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_ERR 1
#define CLI_EXIT_USAGE 2
/* Not an exit code: a helper's "stop here, with exit code 0" (after --help). */
#define CLI_DONE (-1)

#define CLI_URL_MAX 1024
#define CLI_TOKEN_MAX 512
/* An answer held in memory (JSON answers only; files and output are streamed). */
#define CLI_BODY_MAX (64u << 20)

struct cli {
    char url[CLI_URL_MAX];     /* base URL without a trailing '/' */
    char unix_path[108];       /* "unix:/path" URLs: the socket (the URL is then localhost) */
    char token_file[4096];     /* --token-file, or "" */
    char token[CLI_TOKEN_MAX]; /* loaded by cli_token_load; wiped by cli_done */
    bool token_loaded;
    bool json; /* --json: the API's JSON as is */
};

/* ---- cli_http.c ---- */

/* An answer: the status and the body (NUL-terminated, malloc'd). */
struct cli_resp {
    long status;
    char *body;
    size_t len;
};
void cli_resp_free(struct cli_resp *r);

/* Loads the token (AIRLOCK_TOKEN, --token-file, <state_dir>/token). Prints what to set and
 * returns CLI_EXIT_ERR when none is found; 0 otherwise. */
int cli_token_load(struct cli *c);
/* Wipes the token. */
void cli_done(struct cli *c);

/* method path (beginning with '/', escaped already) with an optional JSON body (borrowed).
 * Returns 0 and fills *r (caller frees with cli_resp_free) for any HTTP answer, including
 * errors; prints the reason and returns CLI_EXIT_ERR when no answer came. */
int cli_call(struct cli *c, const char *method, const char *path, const json_t *body,
             struct cli_resp *r);
/* cli_call, then: a status >= 400 is printed as the API's message (prefixed by what, when
 * non-NULL) and returns CLI_EXIT_ERR; otherwise parses the body into *ret (new reference; may
 * be NULL when the caller only wants the text) and returns 0. raw (may be NULL) receives the
 * answer itself, which the caller frees. */
int cli_json(struct cli *c, const char *method, const char *path, const json_t *body,
             const char *what, json_t **ret, struct cli_resp *raw);
/* Prints an API error answer: "airlock: <what>: <message>" (what may be NULL). */
void cli_print_api_error(const char *what, const struct cli_resp *r);

/* GET path streamed to fd: the bytes are written as they come. Errors (status >= 400) are
 * printed as with cli_json and nothing is written. With open_path non-NULL, the file is
 * created (truncated) only once the answer is known to be a 200 with bytes, so a refused
 * download leaves no file; fd is then ignored. A JSON answer (a directory listing) is refused
 * when refuse_json. *nbytes (may be NULL) receives the count written. */
int cli_download(struct cli *c, const char *path, int fd, const char *open_path, bool refuse_json,
                 const char *what, unsigned long long *nbytes);
/* PUT path with the bytes of fd (size >= 0: sent with Content-Length; -1: chunked). The
 * answer is returned as with cli_json. */
int cli_upload(struct cli *c, const char *path, int fd, long long size, const char *what,
               json_t **ret, struct cli_resp *raw);

/* Appends s to buf (of size n, holding a string) percent-escaped for a URL path: unreserved
 * characters and, when keep_slash, '/' stay. Returns -1 when it does not fit. */
int cli_escape(char *buf, size_t n, const char *s, bool keep_slash);

/* Writes all of len bytes to fd; -1 on failure (errno set). */
int cli_write_all(int fd, const void *p, size_t len);

/* Prints the body of an answer on stdout as is, with a final newline. */
void cli_print_body(const struct cli_resp *r);

/* ---- cli_table.c ---- */

#define CLI_TABLE_COLS 12

struct cli_table {
    int ncols;
    const char *head[CLI_TABLE_COLS];
    char **cells; /* nrows * ncols, malloc'd strings */
    size_t nrows, cap;
    bool oom;
};
/* Starts a table with the column heads (borrowed string literals). */
void cli_table_init(struct cli_table *t, int ncols, const char *const *head);
/* Adds a row: ncols printf-free strings (copied; NULL prints "-"). */
void cli_table_row(struct cli_table *t, const char *const *cells);
/* Prints the table with aligned columns (the last one not padded) and frees it. Returns 0 or
 * CLI_EXIT_ERR when memory ran out. */
int cli_table_print(struct cli_table *t, FILE *out);

/* Small formatting helpers into buf: a JSON value as text ("-" for null or absent). */
const char *cli_fmt_value(char *buf, size_t n, const json_t *v);
/* A command array as one line, each word shell-quoted when needed; cut at max bytes with "...". */
const char *cli_fmt_command(char *buf, size_t n, const json_t *cmd, size_t max);
/* A labels object as "k=v,k2=v2" ("-" when empty). */
const char *cli_fmt_labels(char *buf, size_t n, json_t *labels);
/* A byte count as "94 B", "1.2 KiB", "3.4 MiB". */
const char *cli_fmt_bytes(char *buf, size_t n, long long bytes);
/* An RFC 3339 time as "2026-11-27 11:14:34" (UTC; the milliseconds and zone dropped). */
const char *cli_fmt_time(char *buf, size_t n, const json_t *v);

/* ---- options and usage (airlock.c) ---- */

#include <getopt.h>

/* The next option of a command (argv[0] its name), getopt_long style with shortopts and opts
 * (terminated by a zero entry); --json and --help are added. Set optind = 0 before the first
 * call. Returns the option's val, 0 at the end (operands from optind), or -1 when the command
 * must return *code at once (--help printed: 0; a usage error printed: CLI_EXIT_USAGE). */
int cli_opt_next(struct cli *c, const char *cmd, int argc, char **argv, const char *shortopts,
                 const struct option *opts, const char **arg, int *code);
/* Prints the usage of cmd ("run", "ws", ...; NULL for the whole client) on stdout. */
void cli_help(const char *cmd);

/* Prints "airlock: <cmd>: <message>" and "Try 'airlock <cmd> --help'." and returns
 * CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the commands: argv[0] is the command's name; each returns an exit code ---- */

int cli_cmd_run(struct cli *c, int argc, char **argv);
int cli_cmd_ps(struct cli *c, int argc, char **argv);
int cli_cmd_show(struct cli *c, int argc, char **argv);
int cli_cmd_logs(struct cli *c, int argc, char **argv);
int cli_cmd_egress(struct cli *c, int argc, char **argv);
int cli_cmd_cancel(struct cli *c, int argc, char **argv);
int cli_cmd_rm(struct cli *c, int argc, char **argv);
int cli_cmd_ws(struct cli *c, int argc, char **argv);
int cli_cmd_cp(struct cli *c, int argc, char **argv);
int cli_cmd_policy(struct cli *c, int argc, char **argv);

#endif
