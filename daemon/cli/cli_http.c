/*
 * cli_http: the client's HTTP calls to airlockd over libcurl -- a JSON request and its answer
 * held in memory (bounded by CLI_BODY_MAX), a download streamed to a file descriptor, an upload
 * streamed from one, and the token lookup. It prints what went wrong for a person (the API's own
 * message, or why the daemon could not be reached); it must never print or log the token.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

void
cli_resp_free(struct cli_resp *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

void
cli_done(struct cli *c)
{
    explicit_bzero(c->token, sizeof(c->token));
    c->token_loaded = false;
}

int
cli_write_all(int fd, const void *p, size_t len)
{
    const char *s = p;

    while (len > 0) {
        ssize_t n = write(fd, s, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        s += n;
        len -= (size_t)n;
    }
    return 0;
}

void
cli_print_body(const struct cli_resp *r)
{
    fwrite(r->body, 1, r->len, stdout);
    if (r->len == 0 || r->body[r->len - 1] != '\n')
        fputc('\n', stdout);
}

int
cli_escape(char *buf, size_t n, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(buf);

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || strchr("-._~", *p) || (keep_slash && *p == '/');
        if (len + (plain ? 1 : 3) >= n)
            return -1;
        if (plain) {
            buf[len++] = (char)*p;
        } else {
            buf[len++] = '%';
            buf[len++] = hex[*p >> 4];
            buf[len++] = hex[*p & 15];
        }
    }
    buf[len] = '\0';
    return 0;
}

/* ---- the token ---- */

/* Reads the first line of path into c->token; -errno on failure, -EINVAL when empty. */
static int
token_read(struct cli *c, const char *path)
{
    char buf[CLI_TOKEN_MAX];
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -errno;
    n = read(fd, buf, sizeof(buf) - 1);
    if (n < 0)
        return -errno;
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (!buf[0]) {
        explicit_bzero(buf, sizeof(buf));
        return -EINVAL;
    }
    str_copy(c->token, sizeof(c->token), buf);
    explicit_bzero(buf, sizeof(buf));
    return 0;
}

int
cli_token_load(struct cli *c)
{
    const char *env = secure_getenv("AIRLOCK_TOKEN");
    const char *state = secure_getenv("AIRLOCK_STATE_DIR");
    char path[4096];
    int r;

    if (c->token_loaded)
        return 0;
    if (c->token_file[0]) {
        r = token_read(c, c->token_file);
        if (r < 0) {
            fprintf(stderr, "airlock: --token-file %s: %s\n", c->token_file,
                    r == -EINVAL ? "the file is empty" : strerror(-r));
            return CLI_EXIT_ERR;
        }
    } else if (env && *env) {
        if (str_copy(c->token, sizeof(c->token), env) < 0) {
            fprintf(stderr, "airlock: AIRLOCK_TOKEN is too long (at most %d bytes)\n",
                    CLI_TOKEN_MAX - 1);
            return CLI_EXIT_ERR;
        }
    } else {
        if (str_printf(path, sizeof(path), "%s/token", state && *state ? state : "./var") < 0)
            return cli_usage_error(NULL, "AIRLOCK_STATE_DIR is too long");
        r = token_read(c, path);
        if (r < 0) {
            fprintf(stderr,
                    "airlock: no API token: AIRLOCK_TOKEN is not set and %s could not be read "
                    "(%s).\n"
                    "  Set AIRLOCK_TOKEN=$(cat <state_dir>/token), or pass --token-file FILE, or "
                    "set AIRLOCK_STATE_DIR to the daemon's state_dir\n"
                    "  (airlockd writes the token to <state_dir>/token at its first start; `make "
                    "run` uses ./var).\n",
                    path, r == -EINVAL ? "empty" : strerror(-r));
            return CLI_EXIT_ERR;
        }
    }
    c->token_loaded = true;
    return 0;
}

/* ---- requests ---- */

struct membuf {
    char *data;
    size_t len;
    bool too_big;
};

static size_t
on_mem(char *p, size_t size, size_t n, void *arg)
{
    struct membuf *b = arg;
    size_t add = size * n;
    char *grown;

    if (b->len + add > CLI_BODY_MAX) {
        b->too_big = true;
        return 0;
    }
    grown = realloc(b->data, b->len + add + 1);
    if (!grown)
        return 0;
    memcpy(grown + b->len, p, add);
    b->data = grown;
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

/* A new easy handle for url path with the token header in *hdrs (caller frees both). */
static CURL *
easy_new(struct cli *c, const char *method, const char *path, struct curl_slist **hdrs)
{
    char url[CLI_URL_MAX + 8192];
    char auth[CLI_TOKEN_MAX + 32];
    CURL *h;
    struct curl_slist *l;

    if (str_printf(url, sizeof(url), "%s%s", c->url, path) < 0)
        return NULL;
    h = curl_easy_init();
    if (!h)
        return NULL;
    str_printf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
    l = curl_slist_append(NULL, auth);
    explicit_bzero(auth, sizeof(auth));
    if (!l) {
        curl_easy_cleanup(h);
        return NULL;
    }
    *hdrs = l;
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (c->unix_path[0])
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->unix_path);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, l);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "airlock/" AIRLOCK_VERSION);
    return h;
}

/* Prints why no answer came. */
static void
print_transport_error(const struct cli *c, CURLcode rc, const char *errbuf)
{
    fprintf(stderr, "airlock: cannot reach airlockd at %s: %s\n", c->url,
            errbuf[0] ? errbuf : curl_easy_strerror(rc));
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
        rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
        fprintf(stderr, "  Is the daemon running (`make run`)? Set AIRLOCK_URL or --url to where "
                        "it listens (its config's \"listen\").\n");
}

static void
free_easy(CURL *h, struct curl_slist *hdrs)
{
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
}

int
cli_call(struct cli *c, const char *method, const char *path, const json_t *body,
         struct cli_resp *r)
{
    struct curl_slist *hdrs = NULL;
    struct membuf b = {0};
    char errbuf[CURL_ERROR_SIZE] = "";
    _cleanup_free_ char *text = NULL;
    CURL *h;
    CURLcode rc;

    memset(r, 0, sizeof(*r));
    if (cli_token_load(c))
        return CLI_EXIT_ERR;
    h = easy_new(c, method, path, &hdrs);
    if (!h) {
        fprintf(stderr, "airlock: out of memory (or a URL over 8 KiB)\n");
        return CLI_EXIT_ERR;
    }
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        struct curl_slist *l =
            text ? curl_slist_append(hdrs, "Content-Type: application/json") : NULL;
        if (!l) {
            free_easy(h, hdrs);
            fprintf(stderr, "airlock: out of memory\n");
            return CLI_EXIT_ERR;
        }
        hdrs = l;
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_mem);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        if (b.too_big)
            fprintf(stderr, "airlock: %s %s: the answer is over %u MiB\n", method, path,
                    CLI_BODY_MAX >> 20);
        else
            print_transport_error(c, rc, errbuf);
        free(b.data);
        free_easy(h, hdrs);
        return CLI_EXIT_ERR;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    free_easy(h, hdrs);
    r->body = b.data ? b.data : strdup("");
    r->len = b.len;
    if (!r->body) {
        fprintf(stderr, "airlock: out of memory\n");
        return CLI_EXIT_ERR;
    }
    return 0;
}

void
cli_print_api_error(const char *what, const struct cli_resp *r)
{
    json_t *j = json_loadb(r->body, r->len, 0, NULL);
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));

    if (!msg) {
        fprintf(stderr, "airlock: HTTP %ld from airlockd: %.200s\n", r->status,
                r->len ? r->body : "(no body)");
        json_decref(j);
        return;
    }
    /* The daemon names the object itself ("j_...: no such job"): the context ("job j_...")
     * replaces that name rather than repeating it. Other messages are printed as they are. */
    const char *id = what ? strrchr(what, ' ') : NULL;
    id = id ? id + 1 : what;
    size_t il = id ? strlen(id) : 0;
    if (il && strncmp(msg, id, il) == 0 && msg[il] == ':')
        fprintf(stderr, "airlock: %s:%s\n", what, msg + il + 1);
    else
        fprintf(stderr, "airlock: %s\n", msg);
    json_decref(j);
}

int
cli_json(struct cli *c, const char *method, const char *path, const json_t *body, const char *what,
         json_t **ret, struct cli_resp *raw)
{
    struct cli_resp r;
    json_error_t jerr;

    if (cli_call(c, method, path, body, &r))
        return CLI_EXIT_ERR;
    if (r.status >= 400) {
        cli_print_api_error(what, &r);
        cli_resp_free(&r);
        return CLI_EXIT_ERR;
    }
    if (ret) {
        *ret = json_loadb(r.body, r.len, 0, &jerr);
        if (!*ret) {
            fprintf(stderr, "airlock: %s %s: the answer is not JSON (%s)\n", method, path,
                    jerr.text);
            cli_resp_free(&r);
            return CLI_EXIT_ERR;
        }
    }
    if (raw)
        *raw = r;
    else
        cli_resp_free(&r);
    return 0;
}

/* ---- downloads ---- */

struct sink {
    CURL *h;
    int fd;
    const char *open_path;
    bool refuse_json;
    bool decided, failed, is_json;
    long status;
    struct membuf err; /* an error answer's body */
    unsigned long long n;
    int saved_errno;
};

/* Decides at the first bytes where they go: the error buffer, or fd (opening the file). */
static int
sink_decide(struct sink *s)
{
    const char *ct = NULL;

    s->decided = true;
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
    curl_easy_getinfo(s->h, CURLINFO_CONTENT_TYPE, &ct);
    if (s->status >= 400)
        return 0;
    if (s->refuse_json && ct && str_has_prefix(ct, "application/json")) {
        s->is_json = true;
        return 0;
    }
    if (s->open_path) {
        s->fd = open(s->open_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (s->fd < 0) {
            s->saved_errno = errno;
            return -1;
        }
    }
    return 0;
}

static size_t
on_sink(char *p, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t len = size * n;

    if (!s->decided && sink_decide(s) < 0)
        return 0;
    if (s->status >= 400 || s->is_json)
        return on_mem(p, size, n, &s->err);
    if (cli_write_all(s->fd, p, len) < 0) {
        s->saved_errno = errno;
        s->failed = true;
        return 0;
    }
    s->n += len;
    return len;
}

int
cli_download(struct cli *c, const char *path, int fd, const char *open_path, bool refuse_json,
             const char *what, unsigned long long *nbytes)
{
    struct curl_slist *hdrs = NULL;
    struct sink s = {.fd = open_path ? -1 : fd, .open_path = open_path, .refuse_json = refuse_json};
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode rc;
    int ret = CLI_EXIT_ERR;

    if (cli_token_load(c))
        return CLI_EXIT_ERR;
    s.h = easy_new(c, "GET", path, &hdrs);
    if (!s.h) {
        fprintf(stderr, "airlock: out of memory\n");
        return CLI_EXIT_ERR;
    }
    curl_easy_setopt(s.h, CURLOPT_WRITEFUNCTION, on_sink);
    curl_easy_setopt(s.h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(s.h, CURLOPT_ERRORBUFFER, errbuf);
    rc = curl_easy_perform(s.h);
    if (!s.decided && rc == CURLE_OK && sink_decide(&s) < 0)
        rc = CURLE_WRITE_ERROR;
    if (s.saved_errno) {
        fprintf(stderr, "airlock: %s: %s\n", open_path ? open_path : "writing the output",
                strerror(s.saved_errno));
    } else if (rc != CURLE_OK) {
        print_transport_error(c, rc, errbuf);
    } else if (s.status >= 400) {
        struct cli_resp r = {.status = s.status, .body = s.err.data, .len = s.err.len};
        cli_print_api_error(what, &r);
    } else if (s.is_json) {
        fprintf(stderr, "airlock: %s: is a directory; cp copies one file at a time\n", what);
    } else {
        ret = 0;
    }
    free(s.err.data);
    if (open_path && s.fd >= 0 && close(s.fd) < 0 && ret == 0) {
        fprintf(stderr, "airlock: %s: %s\n", open_path, strerror(errno));
        ret = CLI_EXIT_ERR;
    }
    if (nbytes)
        *nbytes = s.n;
    free_easy(s.h, hdrs);
    return ret;
}

/* ---- uploads ---- */

struct source {
    int fd;
    int saved_errno;
};

static size_t
on_source(char *buf, size_t size, size_t n, void *arg)
{
    struct source *src = arg;
    ssize_t got;

    do
        got = read(src->fd, buf, size * n);
    while (got < 0 && errno == EINTR);
    if (got < 0) {
        src->saved_errno = errno;
        return CURL_READFUNC_ABORT;
    }
    return (size_t)got;
}

int
cli_upload(struct cli *c, const char *path, int fd, long long size, const char *what, json_t **ret,
           struct cli_resp *raw)
{
    struct curl_slist *hdrs = NULL, *l;
    struct source src = {.fd = fd};
    struct membuf b = {0};
    char errbuf[CURL_ERROR_SIZE] = "";
    struct cli_resp r = {0};
    CURL *h;
    CURLcode rc;

    if (cli_token_load(c))
        return CLI_EXIT_ERR;
    h = easy_new(c, "PUT", path, &hdrs);
    l = h ? curl_slist_append(hdrs, "Content-Type: application/octet-stream") : NULL;
    if (!l) {
        if (h)
            free_easy(h, hdrs);
        fprintf(stderr, "airlock: out of memory\n");
        return CLI_EXIT_ERR;
    }
    hdrs = l;
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_source);
    curl_easy_setopt(h, CURLOPT_READDATA, &src);
    if (size >= 0)
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_mem);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
    free_easy(h, hdrs);
    r.body = b.data ? b.data : strdup("");
    r.len = b.len;
    if (src.saved_errno || rc != CURLE_OK || !r.body) {
        if (src.saved_errno)
            fprintf(stderr, "airlock: reading the file to upload: %s\n", strerror(src.saved_errno));
        else if (r.status >= 400)
            cli_print_api_error(what, &r);
        else
            print_transport_error(c, rc, errbuf);
        cli_resp_free(&r);
        return CLI_EXIT_ERR;
    }
    if (r.status >= 400) {
        cli_print_api_error(what, &r);
        cli_resp_free(&r);
        return CLI_EXIT_ERR;
    }
    if (ret && !(*ret = json_loadb(r.body, r.len, 0, NULL))) {
        fprintf(stderr, "airlock: PUT %s: the answer is not JSON\n", path);
        cli_resp_free(&r);
        return CLI_EXIT_ERR;
    }
    if (raw)
        *raw = r;
    else
        cli_resp_free(&r);
    return 0;
}
