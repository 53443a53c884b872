/*
 * cgroup: per-job cgroups for the memory, pids and cpu limits, managed by the daemon. v2 is used
 * where it is mounted with those controllers; otherwise the v1 hierarchies (this machine: memory,
 * pids, cpu and cpuacct mounted separately under /sys/fs/cgroup/<controller>). Creating a v1
 * cgroup costs milliseconds per controller, so a pool of prepared job cgroups is kept and reused
 * once empty: acquiring one on the job-start path is a few small writes.
 *
 * Layout: <mount>/<parent>/job-<n> per controller, <parent> being "airlock" (config). At start,
 * cgroup_pool_new kills whatever a previous daemon left in <parent>/job-* and reuses or removes
 * those cgroups. It never touches cgroups outside <parent>.
 *
 * The pool is NULL-safe: when no controller can be written (an unprivileged daemon without a
 * delegated tree), cgroup_pool_new still succeeds and every job runs with rlimits only; callers
 * ask cgroup_pool_enforces() what is covered.
 */
#ifndef AIRLOCK_CGROUP_H
#define AIRLOCK_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "probe.h"
#include "util.h"

enum cgroup_ctrl { CGROUP_MEMORY, CGROUP_PIDS, CGROUP_CPU, CGROUP_CTRL_COUNT };

/* Idle job cgroups kept for reuse; a release beyond this removes the cgroup instead. */
#define CGROUP_POOL_MAX 64
/* How long killing a job's processes may take before it is reported as failed (-EBUSY). */
#define CGROUP_KILL_TIMEOUT_MS 2000

struct cgroup_limits {
    uint64_t memory_bytes; /* 0 = no limit */
    uint64_t pids;         /* 0 = no limit */
};

struct cgroup_usage {
    uint64_t cpu_ns;       /* CPU time of everything that ran in the cgroup */
    uint64_t memory_peak;  /* bytes, high-water mark since acquire */
    bool memory_limit_hit; /* an allocation failed or the OOM killer ran since acquire */
    bool pids_limit_hit;   /* a fork was refused by pids.max since acquire */
};

struct cgroup_pool;
struct cgroup_job;

/* Finds the controllers (from the probe) and prepares <mount>/<parent> for each one the daemon
 * can write; cleans up what a previous daemon left (killing its processes). prealloc job cgroups
 * are created ahead. Never fails for lack of cgroups (see above); -errno for real errors. */
int cgroup_pool_new(const struct probe *probe, const char *parent, size_t prealloc,
                    struct cgroup_pool **ret, struct err *err);
struct cgroup_pool *cgroup_pool_free(struct cgroup_pool *p); /* NULL-safe; returns NULL */
/* True when the pool can enforce that controller's limit. */
bool cgroup_pool_enforces(const struct cgroup_pool *p, enum cgroup_ctrl c);
/* Human summary for logs and /healthz: "memory:v1 pids:v1 cpu:v1" or "none". */
const char *cgroup_pool_describe(const struct cgroup_pool *p);

/* Takes a prepared job cgroup (or creates one), sets its limits and resets its counters.
 * Thread-safe. *ret is NULL when the pool enforces nothing. */
int cgroup_job_acquire(struct cgroup_pool *p, const struct cgroup_limits *l,
                       struct cgroup_job **ret, struct err *err);
/* Sets the limits of a job cgroup acquired earlier (with no limits, for a warm child that
 * waits in it) and takes the counters' baseline now. */
int cgroup_job_set_limits(struct cgroup_job *j, const struct cgroup_limits *l, struct err *err);
/* The cgroup.procs (v1) or cgroup.procs (v2) files a new process must be written into, one per
 * hierarchy; returns how many were written to paths (at most CGROUP_CTRL_COUNT). */
size_t cgroup_job_procs_files(const struct cgroup_job *j, char paths[][PATH_MAX], size_t max);
int cgroup_job_usage(const struct cgroup_job *j, struct cgroup_usage *ret);
/* SIGKILLs every process in the job's cgroups (v2: cgroup.kill; v1: repeated reads of
 * cgroup.procs until empty, bounded). Returns 0 or -errno. */
int cgroup_job_kill(struct cgroup_job *j);
/* Gives the cgroup back: kills what is left, and returns it to the pool when empty (else it is
 * removed later). NULL-safe.
 * Added: j must come from p; every job is released before cgroup_pool_free(p), which removes the
 * idle job cgroups and <parent>. A cgroup that cannot be emptied or reset is logged and left for
 * the next cgroup_pool_new (the start-up cleanup) to remove. */
void cgroup_job_release(struct cgroup_pool *p, struct cgroup_job *j);

#endif
