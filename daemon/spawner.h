/*
 * spawner: the small single-threaded process that clones jobs. It is forked at start-up before
 * any thread exists (a child cloned from a threaded process may inherit a malloc lock held by
 * another thread) and driven over two SOCK_SEQPACKET socketpairs with fixed-size, size-checked
 * messages (docs/internals/spawner.md):
 *   - requests: the daemon sends a struct sandbox_spec; the spawner answers with the result and,
 *     on success, the job's pidfd, stdout and stderr pipes and proxy listener (SCM_RIGHTS);
 *   - events: when a job's init exits the spawner reaps it and sends its id, the command's wait
 *     status and the rusage.
 * If the daemon goes away the spawner kills every job and exits; if the spawner dies, every
 * job's init dies with it (PR_SET_PDEATHSIG), and the kernel kills each job's namespace.
 */
#ifndef AIRLOCK_SPAWNER_H
#define AIRLOCK_SPAWNER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sandbox.h"
#include "util.h"

#define SPAWNER_CHILDREN_MAX 4096

struct spawner_result {
    pid_t pid;
    int pidfd, stdout_fd, stderr_fd, listener_fd; /* owned by the caller, CLOEXEC */
};

struct spawner_event {
    uint32_t magic;
    char job_id[64];
    int32_t init_status;    /* the init's own wait status */
    int32_t has_cmd_status; /* 1 when the command ended before its init did */
    int32_t cmd_status;     /* the command's wait status */
    int64_t cpu_us;         /* user + system of the job's processes that were reaped */
    int64_t max_rss_kb;
};

struct spawner;

/* Forks the spawner. Call before any thread starts. argv is main's: its memory becomes the
 * spawner's (and each job init's) process title. */
int spawner_start(int argc, char **argv, struct spawner **ret, struct err *err);
/* Stops it (it kills its jobs) and frees. NULL-safe; returns NULL. */
struct spawner *spawner_stop(struct spawner *s);
/* Runs a job (thread-safe; one request at a time). Returns 0 and fills ret, or -errno with err
 * saying what failed ("exec python4: not found in the sandbox's PATH"). */
int spawner_spawn(struct spawner *s, const struct sandbox_spec *spec, struct spawner_result *ret,
                  struct err *err);
/* The event socket, for epoll; spawner_read_event reads one (non-blocking: -EAGAIN when none,
 * -EPIPE when the spawner is gone). */
int spawner_event_fd(const struct spawner *s);
int spawner_read_event(struct spawner *s, struct spawner_event *ret);

#endif
