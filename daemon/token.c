/*
 * token: loading, creating and checking the API token. The file is created with O_EXCL and
 * O_NOFOLLOW at mode 0600 so a planted symlink or a pre-made file with loose permissions is
 * never trusted. Comparison runs in time that depends only on lengths.
 */
#include "token.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "airlock_limits.h"

char *
token_free(char *t)
{
    if (t) {
        explicit_bzero(t, strlen(t));
        free(t);
    }
    return NULL;
}

const char *
token_source_name(enum token_source s)
{
    switch (s) {
    case TOKEN_FROM_CONFIG:
        return "config";
    case TOKEN_FROM_ENV:
        return "AIRLOCK_TOKEN";
    case TOKEN_FROM_FILE_NEW:
        return "new token file";
    case TOKEN_FROM_FILE:
        return "token file";
    }
    return "?";
}

static int
token_create(const char *path, char **ret, struct err *err)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[TOKEN_BYTES];
    char text[TOKEN_BYTES * 2 + 2];
    _cleanup_close_ int fd = -1;
    size_t got = 0;

    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0 && errno != EINTR)
            return err_set(err, errno, "internal", "getrandom: %m");
        if (n > 0)
            got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        text[2 * i] = hex[raw[i] >> 4];
        text[2 * i + 1] = hex[raw[i] & 15];
    }
    text[TOKEN_BYTES * 2] = '\n';
    text[TOKEN_BYTES * 2 + 1] = '\0';
    explicit_bzero(raw, sizeof(raw));
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(err, errno, "internal", "%s: cannot create: %m", path);
    if (write(fd, text, TOKEN_BYTES * 2 + 1) != TOKEN_BYTES * 2 + 1 || fsync(fd) < 0) {
        int e = errno;
        unlink(path);
        explicit_bzero(text, sizeof(text));
        return err_set(err, e, "internal", "%s: cannot write: %m", path);
    }
    text[TOKEN_BYTES * 2] = '\0';
    *ret = strdup(text);
    explicit_bzero(text, sizeof(text));
    return *ret ? 0 : -ENOMEM;
}

static int
token_read(const char *path, int fd, char **ret, struct err *err)
{
    char text[TOKEN_MAX + 2];
    struct stat st;
    ssize_t n;

    if (fstat(fd, &st) < 0)
        return err_set(err, errno, "internal", "%s: cannot stat: %m", path);
    if (!S_ISREG(st.st_mode))
        return err_set(err, EPERM, "bad_config", "%s: not a regular file", path);
    if (st.st_uid != geteuid())
        return err_set(err, EPERM, "bad_config",
                       "%s: owned by uid %u, not by the daemon's uid %u; remove it or chown it",
                       path, st.st_uid, geteuid());
    if (st.st_mode & 077)
        return err_set(err, EPERM, "bad_config",
                       "%s: readable by others (mode %03o); run: chmod 600 %s", path,
                       st.st_mode & 0777, path);
    n = read(fd, text, sizeof(text) - 1);
    if (n < 0)
        return err_set(err, errno, "internal", "%s: cannot read: %m", path);
    text[n] = '\0';
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    bool printable = true;
    for (ssize_t i = 0; i < n; i++)
        printable = printable && text[i] > 0x20 && text[i] < 0x7f;
    if (n < TOKEN_MIN || n > TOKEN_MAX || !printable) {
        explicit_bzero(text, sizeof(text));
        return err_set(
            err, EINVAL, "bad_config",
            "%s: not a valid token (%d to %d printable characters, no spaces); delete it "
            "to have a new one made",
            path, TOKEN_MIN, TOKEN_MAX);
    }
    *ret = strdup(text);
    explicit_bzero(text, sizeof(text));
    return *ret ? 0 : -ENOMEM;
}

int
token_load_file(const char *state_dir, char **ret, bool *ret_new, struct err *err)
{
    char path[PATH_MAX];
    _cleanup_close_ int fd = -1;
    int r;

    if (str_printf(path, sizeof(path), "%s/token", state_dir) < 0)
        return err_set(err, ENAMETOOLONG, "bad_config", "%s: path too long", state_dir);
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0 && errno == ENOENT) {
        r = token_create(path, ret, err);
        if (r == 0)
            *ret_new = true;
        return r;
    }
    if (fd < 0)
        return err_set(err, errno, "bad_config", "%s: cannot open: %m (a symlink is refused)",
                       path);
    r = token_read(path, fd, ret, err);
    if (r == 0)
        *ret_new = false;
    return r;
}

bool
token_check_header(const char *token, const char *header)
{
    size_t len;

    if (!token || !header || strncasecmp(header, "Bearer ", 7) != 0)
        return false;
    header += 7;
    len = strnlen(header, TOKEN_MAX + 1);
    return mem_equal_ct(header, len, token, strlen(token));
}
