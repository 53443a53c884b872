/*
 * probe: kernel feature detection. Each fact is found by asking the kernel the way the sandbox
 * will use it (a real landlock_create_ruleset, a real unshare in a child, a real pidfd_open),
 * not by reading version numbers, so a kernel with a feature compiled out or disabled by sysctl
 * is seen as it is.
 */
#include "probe.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static const char *const cg_names[PROBE_CG_COUNT] = {"memory", "pids", "cpu", "cpuacct"};

const char *
probe_cgroup_name(enum probe_cgroup_ctrl c)
{
    return cg_names[c];
}

static int
probe_landlock(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return abi < 0 ? 0 : (int)abi;
}

static bool
probe_seccomp(void)
{
    unsigned int action = SECCOMP_RET_KILL_PROCESS;

    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0)
        return false;
    return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
}

enum { NS_USER = 1, NS_MOUNT = 2, NS_PID = 4, NS_NET = 8, NS_IPC = 16, NS_UTS = 32, NS_CG = 64 };

/* In a child: create a user namespace first (as the sandbox does, also when root), then each
 * other namespace inside it. The bitmask of what worked comes back through a pipe. */
static unsigned
probe_namespaces(void)
{
    static const struct {
        int flag;
        unsigned bit;
    } others[] = {{CLONE_NEWNS, NS_MOUNT}, {CLONE_NEWPID, NS_PID}, {CLONE_NEWNET, NS_NET},
                  {CLONE_NEWIPC, NS_IPC},  {CLONE_NEWUTS, NS_UTS}, {CLONE_NEWCGROUP, NS_CG}};
    int fds[2];
    unsigned mask = 0;
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) < 0)
        return 0;
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        if (unshare(CLONE_NEWUSER) == 0) {
            mask |= NS_USER;
            for (size_t i = 0; i < ARRAY_SIZE(others); i++)
                if (unshare(others[i].flag) == 0)
                    mask |= others[i].bit;
        }
        ssize_t w = write(fds[1], &mask, sizeof(mask));
        _exit(w == sizeof(mask) ? 0 : 1);
    }
    close(fds[1]);
    if (pid > 0) {
        if (read(fds[0], &mask, sizeof(mask)) != sizeof(mask))
            mask = 0;
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    close(fds[0]);
    return mask;
}

static bool
probe_pidfd(void)
{
    int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static bool
probe_openat2(void)
{
    struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
    int fd = (int)syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof(how));
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static void
cg_set(struct probe_cgroup *c, int version, const char *path)
{
    if (c->version == 2 && version == 1)
        return; /* v2 preferred when a controller is on both */
    c->version = version;
    str_copy(c->path, sizeof(c->path), path);
    c->writable = access(path, W_OK) == 0;
}

/* A v2 tree lists its enabled controllers in cgroup.controllers. */
static void
probe_cgroup2(struct probe *p, const char *mnt)
{
    char path[PATH_MAX + 32];
    char buf[512];
    FILE *f;

    p->cgroup2_mounted = true;
    str_copy(p->cgroup2_path, sizeof(p->cgroup2_path), mnt);
    snprintf(path, sizeof(path), "%s/cgroup.controllers", mnt);
    f = fopen(path, "re");
    if (!f)
        return;
    if (fgets(buf, sizeof(buf), f)) {
        for (char *save = NULL, *w = strtok_r(buf, " \n", &save); w;
             w = strtok_r(NULL, " \n", &save))
            for (int i = 0; i < PROBE_CG_COUNT; i++)
                if (strcmp(w, cg_names[i]) == 0)
                    cg_set(&p->cgroup[i], 2, mnt);
    }
    fclose(f);
}

/* A v1 hierarchy names its controllers in the super options ("rw,memory", "rw,cpu,cpuacct"). */
static void
probe_cgroup1(struct probe *p, const char *mnt, char *opts)
{
    for (char *save = NULL, *w = strtok_r(opts, ",", &save); w; w = strtok_r(NULL, ",", &save))
        for (int i = 0; i < PROBE_CG_COUNT; i++)
            if (strcmp(w, cg_names[i]) == 0)
                cg_set(&p->cgroup[i], 1, mnt);
}

/* mountinfo: "id parent maj:min root mountpoint opts [optional...] - fstype source superopts" */
static void
probe_cgroups(struct probe *p)
{
    char line[4096];
    FILE *f = fopen("/proc/self/mountinfo", "re");

    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        char mnt[PATH_MAX], fstype[64], super[1024];
        char *sep = strstr(line, " - ");
        if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
            continue;
        if (sscanf(sep + 3, "%63s %*s %1023s", fstype, super) != 2)
            continue;
        if (strcmp(fstype, "cgroup2") == 0 && !p->cgroup2_mounted)
            probe_cgroup2(p, mnt);
        else if (strcmp(fstype, "cgroup") == 0)
            probe_cgroup1(p, mnt, super);
    }
    fclose(f);
}

void
probe_kernel(struct probe *ret)
{
    struct utsname u;
    unsigned ns;

    memset(ret, 0, sizeof(*ret));
    if (uname(&u) == 0)
        str_copy(ret->kernel, sizeof(ret->kernel), u.release);
    ret->landlock_abi = probe_landlock();
    ret->seccomp_filter = probe_seccomp();
    ns = probe_namespaces();
    ret->ns_user = ns & NS_USER;
    ret->ns_mount = ns & NS_MOUNT;
    ret->ns_pid = ns & NS_PID;
    ret->ns_net = ns & NS_NET;
    ret->ns_ipc = ns & NS_IPC;
    ret->ns_uts = ns & NS_UTS;
    ret->ns_cgroup = ns & NS_CG;
    ret->pidfd = probe_pidfd();
    ret->openat2 = probe_openat2();
    probe_cgroups(ret);
}

json_t *
probe_to_json(const struct probe *p)
{
    json_t *cg = json_object();
    json_t *o;

    for (int i = 0; cg && i < PROBE_CG_COUNT; i++) {
        const struct probe_cgroup *c = &p->cgroup[i];
        json_object_set_new(cg, cg_names[i],
                            c->version ? json_pack("{s:i, s:s, s:b}", "version", c->version, "path",
                                                   c->path, "writable", c->writable)
                                       : json_null());
    }
    o = json_pack("{s:s, s:i, s:b, s:{s:b, s:b, s:b, s:b, s:b, s:b, s:b}, s:b, s:b, s:o?, s:o}",
                  "release", p->kernel, "landlock_abi", p->landlock_abi, "seccomp_filter",
                  p->seccomp_filter, "namespaces", "user", p->ns_user, "mount", p->ns_mount, "pid",
                  p->ns_pid, "net", p->ns_net, "ipc", p->ns_ipc, "uts", p->ns_uts, "cgroup",
                  p->ns_cgroup, "pidfd", p->pidfd, "openat2", p->openat2, "cgroup2_mount",
                  p->cgroup2_mounted ? json_string(p->cgroup2_path) : NULL, "cgroups", cg);
    return o;
}

void
probe_log(const struct probe *p)
{
    log_info("probe.kernel", "release=%s landlock_abi=%d seccomp_filter=%s pidfd=%s openat2=%s",
             p->kernel, p->landlock_abi, p->seccomp_filter ? "yes" : "no", p->pidfd ? "yes" : "no",
             p->openat2 ? "yes" : "no");
    log_info("probe.namespaces", "user=%s mount=%s pid=%s net=%s ipc=%s uts=%s cgroup=%s",
             p->ns_user ? "yes" : "no", p->ns_mount ? "yes" : "no", p->ns_pid ? "yes" : "no",
             p->ns_net ? "yes" : "no", p->ns_ipc ? "yes" : "no", p->ns_uts ? "yes" : "no",
             p->ns_cgroup ? "yes" : "no");
    for (int i = 0; i < PROBE_CG_COUNT; i++) {
        const struct probe_cgroup *c = &p->cgroup[i];
        if (c->version)
            log_info("probe.cgroup", "%s: v%d at %s (%s)", cg_names[i], c->version, c->path,
                     c->writable ? "writable" : "not writable");
        else if (i == PROBE_CG_CPUACCT && p->cgroup[PROBE_CG_CPU].version == 2)
            continue; /* v2 has no cpuacct: cpu.stat of the cpu controller serves */
        else
            log_warn("probe.cgroup", "%s: no controller mounted; rlimits only", cg_names[i]);
    }
    if (!p->landlock_abi)
        log_warn("probe.kernel", "landlock unavailable: jobs whose policy needs it are refused");
}
