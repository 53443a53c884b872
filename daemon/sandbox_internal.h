/*
 * sandbox_internal: what the sandbox's mechanism files share. Everything here runs in the child
 * between clone and exec: no allocation, no stdio. A step that fails fills a struct
 * sandbox_fail (the step, the errno, the path or name involved) which the child writes to the
 * error pipe before it exits; the spawner turns it into a message.
 */
#ifndef AIRLOCK_SANDBOX_INTERNAL_H
#define AIRLOCK_SANDBOX_INTERNAL_H

#include "sandbox.h"

enum sandbox_step {
    SANDBOX_STEP_SYNC = 1,
    SANDBOX_STEP_CGROUPNS,
    SANDBOX_STEP_NET,
    SANDBOX_STEP_LISTENER,
    SANDBOX_STEP_MOUNT,
    SANDBOX_STEP_PIVOT,
    SANDBOX_STEP_HOSTNAME,
    SANDBOX_STEP_IDS,
    SANDBOX_STEP_LANDLOCK,
    SANDBOX_STEP_RLIMIT,
    SANDBOX_STEP_CAPS,
    SANDBOX_STEP_NNP,
    SANDBOX_STEP_SECCOMP,
    SANDBOX_STEP_FORK,
    SANDBOX_STEP_STDIO,
    SANDBOX_STEP_CWD,
    SANDBOX_STEP_EXEC,
};

struct sandbox_fail {
    int32_t step;
    int32_t err;
    char what[256];
};

/* Copies up to n-1 bytes of each of a and b into dst (concatenated), NUL-terminated. */
void sandbox_cat(char *dst, size_t n, const char *a, const char *b);
/* Formats v in decimal into buf (no stdio between clone and exec). */
void sandbox_utoa(uint64_t v, char *buf, size_t n);
/* Records a failure and returns -err. */
int sandbox_fail(struct sandbox_fail *f, int step, int err, const char *what);

/* sandbox_mount.c: builds the new root on spec->root_dir and pivots into it. */
int sandbox_mount_setup(const struct sandbox_spec *s, int ws_fd, struct sandbox_fail *f);
/* sandbox_net.c: brings lo up and returns a listener on 127.0.0.1:port, or -errno. */
int sandbox_net_setup(uint16_t port, struct sandbox_fail *f);

#endif
