/*
 * libFuzzer target for sandbox_spec_check, the spawner's trust boundary: whatever bytes arrive
 * as a spec, the check must not read outside it, and a spec it accepts must have every string
 * it names inside the table and terminated there.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"

static void
touch(const struct sandbox_spec *s, uint32_t off)
{
    if (off >= s->strtab_len || !memchr(s->strtab + off, '\0', s->strtab_len - off))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sandbox_spec s;

    memset(&s, 0, sizeof(s));
    memcpy(&s, data, size < sizeof(s) ? size : sizeof(s));
    /* Give most inputs a chance to pass the header checks. */
    s.magic = SANDBOX_MAGIC;
    s.size = sizeof(s);
    if (sandbox_spec_check(&s) != 0)
        return 0;
    for (uint32_t i = 0; i < s.argc; i++)
        touch(&s, s.argv[i]);
    for (uint32_t i = 0; i < s.envc; i++)
        touch(&s, s.envp[i]);
    for (uint32_t i = 0; i < s.nmounts; i++)
        touch(&s, s.mounts[i].path);
    for (uint32_t i = 0; i < s.ncgroups; i++)
        touch(&s, s.cgroup_procs[i]);
    touch(&s, s.workspace);
    touch(&s, s.cwd);
    touch(&s, s.root_dir);
    return 0;
}
