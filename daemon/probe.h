/*
 * probe: what this kernel can do for a sandbox, found out once at start-up -- the Landlock ABI,
 * seccomp filters, the namespaces an unprivileged process may create, pidfd and openat2, and
 * which cgroup controllers exist where (v1 or v2) and whether the daemon can write them. The
 * sandbox refuses a job whose policy needs something missing (fail closed); this module only
 * reports. It forks a short-lived child to try the namespaces for real, so it must run before
 * the daemon starts any thread.
 */
#ifndef AIRLOCK_PROBE_H
#define AIRLOCK_PROBE_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>

/* PROBE_CG_CPUACCT is a v1 controller only (CPU accounting, cpuacct.usage); on v2 the cpu
 * controller's cpu.stat carries the same figure and cpuacct stays absent. */
enum probe_cgroup_ctrl {
    PROBE_CG_MEMORY,
    PROBE_CG_PIDS,
    PROBE_CG_CPU,
    PROBE_CG_CPUACCT,
    PROBE_CG_COUNT
};

struct probe_cgroup {
    int version; /* 0 absent, 1 or 2 */
    char path[PATH_MAX];
    bool writable;
};

struct probe {
    char kernel[128]; /* uname release */
    int landlock_abi; /* 0 when unavailable */
    bool seccomp_filter;
    bool ns_user, ns_mount, ns_pid, ns_net, ns_ipc, ns_uts, ns_cgroup;
    bool pidfd;
    bool openat2;
    bool cgroup2_mounted;
    char cgroup2_path[PATH_MAX];
    struct probe_cgroup cgroup[PROBE_CG_COUNT];
};

/* Fills ret. Never fails: what cannot be probed is reported as absent. */
void probe_kernel(struct probe *ret);
/* New reference: the "kernel" object of /healthz. */
json_t *probe_to_json(const struct probe *p);
/* One log line per fact. */
void probe_log(const struct probe *p);
const char *probe_cgroup_name(enum probe_cgroup_ctrl c);

#endif
