/*
 * sandbox_spec: building and checking the fixed-size spec that crosses the spawner's socket.
 * The check is the one place where a spec from elsewhere is trusted or not: every offset and
 * count is bounded before any of it is used.
 */
#include "sandbox.h"

#include <stdio.h>

void
sandbox_spec_init(struct sandbox_spec *s, const char *job_id)
{
    memset(s, 0, offsetof(struct sandbox_spec, strtab));
    s->magic = SANDBOX_MAGIC;
    s->size = sizeof(*s);
    str_copy(s->job_id, sizeof(s->job_id), job_id);
    s->strtab[0] = '\0'; /* offset 0 is the empty string */
    s->strtab_len = 1;
}

int
sandbox_spec_str(struct sandbox_spec *s, const char *str)
{
    size_t len = strlen(str) + 1;
    uint32_t off = s->strtab_len;

    if (len > SANDBOX_STRTAB_MAX - s->strtab_len)
        return -ENOSPC;
    memcpy(s->strtab + off, str, len);
    s->strtab_len += (uint32_t)len;
    return (int)off;
}

int
sandbox_spec_add_arg(struct sandbox_spec *s, const char *arg)
{
    int off;

    if (s->argc >= SANDBOX_ARGV_MAX)
        return -E2BIG;
    if ((off = sandbox_spec_str(s, arg)) < 0)
        return off;
    s->argv[s->argc++] = (uint32_t)off;
    return 0;
}

int
sandbox_spec_add_env(struct sandbox_spec *s, const char *name, const char *value)
{
    char buf[SANDBOX_PATH_MAX * 2];
    int off;

    if (s->envc >= SANDBOX_ENV_MAX)
        return -E2BIG;
    if (str_printf(buf, sizeof(buf), "%s=%s", name, value) < 0)
        return -E2BIG;
    if ((off = sandbox_spec_str(s, buf)) < 0)
        return off;
    s->envp[s->envc++] = (uint32_t)off;
    return 0;
}

int
sandbox_spec_add_mount(struct sandbox_spec *s, const char *path, uint32_t flags)
{
    int off;

    if (s->nmounts >= SANDBOX_MOUNTS_MAX)
        return -E2BIG;
    if ((off = sandbox_spec_str(s, path)) < 0)
        return off;
    s->mounts[s->nmounts].path = (uint32_t)off;
    s->mounts[s->nmounts].flags = flags;
    s->nmounts++;
    return 0;
}

/* An offset is good when it points inside the used table at a string that ends inside it. */
static bool
str_ok(const struct sandbox_spec *s, uint32_t off, size_t max_len)
{
    const char *end;

    if (off >= s->strtab_len)
        return false;
    end = memchr(s->strtab + off, '\0', s->strtab_len - off);
    return end && (size_t)(end - (s->strtab + off)) < max_len;
}

static bool
path_ok(const struct sandbox_spec *s, uint32_t off)
{
    return str_ok(s, off, SANDBOX_PATH_MAX) && s->strtab[off] == '/';
}

int
sandbox_spec_check(const struct sandbox_spec *s)
{
    if (s->magic != SANDBOX_MAGIC || s->size != sizeof(*s) || s->strtab_len == 0 ||
        s->strtab_len > SANDBOX_STRTAB_MAX || s->strtab[s->strtab_len - 1] != '\0')
        return -EINVAL;
    if (!memchr(s->job_id, '\0', sizeof(s->job_id)))
        return -EINVAL;
    if (s->argc == 0 || s->argc > SANDBOX_ARGV_MAX || s->envc > SANDBOX_ENV_MAX ||
        s->nmounts > SANDBOX_MOUNTS_MAX || s->ncgroups > SANDBOX_CGROUPS_MAX)
        return -EINVAL;
    for (uint32_t i = 0; i < s->argc; i++)
        if (!str_ok(s, s->argv[i], SANDBOX_STRTAB_MAX))
            return -EINVAL;
    if (s->strtab[s->argv[0]] == '\0')
        return -EINVAL;
    for (uint32_t i = 0; i < s->envc; i++)
        if (!str_ok(s, s->envp[i], SANDBOX_STRTAB_MAX) || !strchr(s->strtab + s->envp[i], '='))
            return -EINVAL;
    for (uint32_t i = 0; i < s->nmounts; i++)
        if (!path_ok(s, s->mounts[i].path) || (s->mounts[i].flags & ~SANDBOX_MNT_RW))
            return -EINVAL;
    for (uint32_t i = 0; i < s->ncgroups; i++)
        if (!path_ok(s, s->cgroup_procs[i]))
            return -EINVAL;
    if (s->nnext_cgroups > SANDBOX_CGROUPS_MAX)
        return -EINVAL;
    for (uint32_t i = 0; i < s->nnext_cgroups; i++)
        if (!path_ok(s, s->next_cgroup_procs[i]))
            return -EINVAL;
    if (!path_ok(s, s->workspace) || !path_ok(s, s->cwd) || !path_ok(s, s->root_dir))
        return -EINVAL;
    if (s->stdin_path && !path_ok(s, s->stdin_path))
        return -EINVAL;
    if (s->nprotected > SANDBOX_PROTECTED_MAX)
        return -EINVAL;
    /* Protected paths are relative to /workspace: no leading '/', no "." or "..". */
    for (uint32_t i = 0; i < s->nprotected; i++) {
        const char *p = s->strtab + s->protected_paths[i];
        if (!str_ok(s, s->protected_paths[i], 256) || !*p || *p == '/' || strstr(p, "..") ||
            strstr(p, "//") || !str_ok(s, s->protected_placeholders[i], 64))
            return -EINVAL;
    }
    return 0;
}
