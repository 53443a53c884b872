/*
 * sandbox_spec_check: the spawner's trust boundary. A spec that came over the socket is used
 * only when every count is inside its array and every offset points at a string that ends
 * inside the table.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"

static struct sandbox_spec *
good(void)
{
    struct sandbox_spec *s = calloc(1, sizeof(*s));
    int off;

    cr_assert(s);
    sandbox_spec_init(s, "j_0123");
    cr_assert_eq(sandbox_spec_add_arg(s, "/bin/true"), 0);
    cr_assert_eq(sandbox_spec_add_env(s, "PATH", "/usr/bin"), 0);
    cr_assert_eq(sandbox_spec_add_mount(s, "/usr", 0), 0);
    cr_assert((off = sandbox_spec_str(s, "/srv/state/jobs/j_0123/workspace")) > 0);
    s->workspace = (uint32_t)off;
    cr_assert((off = sandbox_spec_str(s, "/workspace")) > 0);
    s->cwd = (uint32_t)off;
    cr_assert((off = sandbox_spec_str(s, "/run/airlock/root")) > 0);
    s->root_dir = (uint32_t)off;
    cr_assert_eq(sandbox_spec_check(s), 0);
    return s;
}

Test(sandbox_spec, a_built_spec_passes)
{
    struct sandbox_spec *s = good();
    cr_expect_str_eq(sandbox_str(s, s->argv[0]), "/bin/true");
    cr_expect_str_eq(sandbox_str(s, s->envp[0]), "PATH=/usr/bin");
    free(s);
}

#define EXPECT_REFUSED(mutation)                                                                   \
    do {                                                                                           \
        struct sandbox_spec *s = good();                                                           \
        mutation;                                                                                  \
        cr_expect_eq(sandbox_spec_check(s), -EINVAL, "accepted after: %s", #mutation);             \
        free(s);                                                                                   \
    } while (0)

Test(sandbox_spec, every_bound_is_checked)
{
    EXPECT_REFUSED(s->magic = 0);
    EXPECT_REFUSED(s->size = 1);
    EXPECT_REFUSED(s->argc = 0);
    EXPECT_REFUSED(s->argc = SANDBOX_ARGV_MAX + 1);
    EXPECT_REFUSED(s->envc = SANDBOX_ENV_MAX + 1);
    EXPECT_REFUSED(s->nmounts = SANDBOX_MOUNTS_MAX + 1);
    EXPECT_REFUSED(s->ncgroups = SANDBOX_CGROUPS_MAX + 1);
    EXPECT_REFUSED(s->nnext_cgroups = SANDBOX_CGROUPS_MAX + 1);
    EXPECT_REFUSED(s->argv[0] = s->strtab_len);
    EXPECT_REFUSED(s->argv[0] = 0xffffffffu);
    EXPECT_REFUSED(s->argv[0] = 0);            /* the empty string: no command */
    EXPECT_REFUSED(s->envp[0] = s->workspace); /* not NAME=VALUE */
    EXPECT_REFUSED(s->mounts[0].flags = 0x80);
    EXPECT_REFUSED(s->mounts[0].path = s->argv[0] + 1); /* "bin/true": not absolute */
    EXPECT_REFUSED(s->workspace = 0);
    EXPECT_REFUSED(s->cwd = s->strtab_len + 5);
    EXPECT_REFUSED(s->root_dir = 0);
    EXPECT_REFUSED(s->stdin_path = s->argv[0] + 1);
    EXPECT_REFUSED((s->ncgroups = 1, s->cgroup_procs[0] = 0));
    EXPECT_REFUSED(s->strtab_len = 0);
    EXPECT_REFUSED(s->strtab_len = SANDBOX_STRTAB_MAX + 1);
    /* The table's last used byte must end a string. */
    EXPECT_REFUSED(s->strtab[s->strtab_len - 1] = 'x');
    EXPECT_REFUSED(memset(s->job_id, 'x', sizeof(s->job_id)));
}

Test(sandbox_spec, the_table_refuses_to_overflow)
{
    struct sandbox_spec *s = calloc(1, sizeof(*s));
    char *big = malloc(SANDBOX_STRTAB_MAX);
    int r = 0;

    sandbox_spec_init(s, "j_1");
    memset(big, 'a', SANDBOX_STRTAB_MAX - 1);
    big[SANDBOX_STRTAB_MAX - 1] = '\0';
    cr_expect_eq(sandbox_spec_str(s, big), -ENOSPC);
    for (int i = 0; i < SANDBOX_ARGV_MAX && r == 0; i++)
        r = sandbox_spec_add_arg(s, "x");
    cr_expect_eq(r, 0);
    cr_expect_eq(sandbox_spec_add_arg(s, "one too many"), -E2BIG);
    free(big);
    free(s);
}
