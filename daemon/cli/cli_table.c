/*
 * cli_table: the human output of the `airlock` client -- tables with aligned columns (as
 * `docker ps` prints them) and the small formatters of JSON values they hold. It reads the
 * API's JSON and writes text; it must never change a value's meaning (a null is "-", never 0).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

void
cli_table_init(struct cli_table *t, int ncols, const char *const *head)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols < CLI_TABLE_COLS ? ncols : CLI_TABLE_COLS;
    for (int i = 0; i < t->ncols; i++)
        t->head[i] = head[i];
}

void
cli_table_row(struct cli_table *t, const char *const *cells)
{
    if (t->oom)
        return;
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **grown = realloc(t->cells, cap * (size_t)t->ncols * sizeof(*grown));
        if (!grown) {
            t->oom = true;
            return;
        }
        t->cells = grown;
        t->cap = cap;
    }
    for (int i = 0; i < t->ncols; i++) {
        char *s = strdup(cells[i] ? cells[i] : "-");
        if (!s)
            t->oom = true;
        t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = s;
    }
    t->nrows++;
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t
width(const char *s)
{
    size_t w = 0;

    for (; s && *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

static void
print_row(FILE *out, const struct cli_table *t, const char *const *cells, const size_t *w)
{
    for (int i = 0; i < t->ncols; i++) {
        const char *s = cells[i] ? cells[i] : "-";
        fputs(s, out);
        if (i + 1 < t->ncols)
            for (size_t pad = width(s); pad < w[i] + 3; pad++)
                fputc(' ', out);
    }
    fputc('\n', out);
}

int
cli_table_print(struct cli_table *t, FILE *out)
{
    size_t w[CLI_TABLE_COLS] = {0};
    int ret = 0;

    if (t->oom) {
        fprintf(stderr, "airlock: out of memory\n");
        ret = CLI_EXIT_ERR;
    } else {
        for (int i = 0; i < t->ncols; i++)
            w[i] = width(t->head[i]);
        for (size_t r = 0; r < t->nrows; r++)
            for (int i = 0; i < t->ncols; i++) {
                size_t cw = width(t->cells[r * (size_t)t->ncols + (size_t)i]);
                w[i] = cw > w[i] ? cw : w[i];
            }
        print_row(out, t, t->head, w);
        for (size_t r = 0; r < t->nrows; r++)
            print_row(out, t, (const char *const *)&t->cells[r * (size_t)t->ncols], w);
    }
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
    return ret;
}

const char *
cli_fmt_value(char *buf, size_t n, const json_t *v)
{
    if (!v || json_is_null(v))
        str_copy(buf, n, "-");
    else if (json_is_string(v))
        str_copy(buf, n, json_string_value(v));
    else if (json_is_integer(v))
        str_printf(buf, n, "%lld", (long long)json_integer_value(v));
    else if (json_is_true(v))
        str_copy(buf, n, "true");
    else if (json_is_false(v))
        str_copy(buf, n, "false");
    else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        str_copy(buf, n, s ? s : "?");
        free(s);
    }
    return buf;
}

/* Appends s to buf (length *len), keeping room for "..."; false once full. */
static bool
append(char *buf, size_t n, size_t *len, const char *s, size_t max)
{
    size_t sl = strlen(s);
    size_t lim = max < n - 1 ? max : n - 1;

    if (*len + sl > lim) {
        size_t keep = lim > *len + 3 ? lim - *len - 3 : 0;
        memcpy(buf + *len, s, keep);
        *len += keep;
        str_copy(buf + *len, n - *len, "...");
        *len += strlen(buf + *len);
        return false;
    }
    memcpy(buf + *len, s, sl);
    *len += sl;
    buf[*len] = '\0';
    return true;
}

const char *
cli_fmt_command(char *buf, size_t n, const json_t *cmd, size_t max)
{
    size_t len = 0, i;
    json_t *w;
    char q[1024];

    buf[0] = '\0';
    json_array_foreach(cmd, i, w)
    {
        const char *s = json_string_value(w);
        if (!s)
            continue;
        bool plain = *s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789-_./=:,+@%") == strlen(s);
        if (plain)
            str_copy(q, sizeof(q), s);
        else
            str_printf(q, sizeof(q), "'%s'", s);
        if ((i > 0 && !append(buf, n, &len, " ", max)) || !append(buf, n, &len, q, max))
            break;
    }
    /* A newline in a script would break the table's row. */
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\t' || *p == '\r')
            *p = ' ';
    return buf;
}

const char *
cli_fmt_labels(char *buf, size_t n, json_t *labels)
{
    size_t len = 0;
    const char *k;
    json_t *v;
    char kv[600];

    buf[0] = '\0';
    json_object_foreach(labels, k, v)
    {
        str_printf(kv, sizeof(kv), "%s%s=%s", len ? "," : "", k,
                   json_string_value(v) ? json_string_value(v) : "");
        if (!append(buf, n, &len, kv, n - 1))
            break;
    }
    if (!buf[0])
        str_copy(buf, n, "-");
    return buf;
}

const char *
cli_fmt_bytes(char *buf, size_t n, long long bytes)
{
    if (bytes < 0)
        str_copy(buf, n, "-");
    else if (bytes < 1024)
        str_printf(buf, n, "%lld B", bytes);
    else if (bytes < 1024 * 1024)
        str_printf(buf, n, "%.1f KiB", (double)bytes / 1024);
    else if (bytes < 1024LL * 1024 * 1024)
        str_printf(buf, n, "%.1f MiB", (double)bytes / (1024 * 1024));
    else
        str_printf(buf, n, "%.1f GiB", (double)bytes / (1024.0 * 1024 * 1024));
    return buf;
}

const char *
cli_fmt_time(char *buf, size_t n, const json_t *v)
{
    const char *s = json_string_value(v);

    if (!s || strlen(s) < 19) {
        str_copy(buf, n, "-");
        return buf;
    }
    str_printf(buf, n, "%.10s %.8s", s, s + 11);
    return buf;
}
