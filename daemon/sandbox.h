/*
 * sandbox: the facade over the isolation mechanisms. It applies a fully resolved spec and
 * decides nothing: which paths, limits and uids a job gets was settled by the daemon (jobs.c,
 * from the policy and the config) before the spec was made. The spec is a fixed-size struct with
 * no pointers (strings live in its own table, referred to by offset), so it can cross the
 * spawner's socket whole and be checked for size and bounds in one place.
 *
 * What runs where:
 *   - sandbox_seccomp_compile: once, in the spawner at start (may allocate);
 *   - sandbox_spawn: in the spawner, per job: clone into new namespaces, write the uid/gid maps,
 *     put the child into its cgroups, release it, collect the proxy listener and the exec result;
 *   - everything under sandbox_child_* runs between clone and exec: no malloc, no stdio, only
 *     syscalls on data prepared beforehand. A failure writes {step, errno} to the error pipe and
 *     exits; the spawner turns that into a message naming the step.
 *
 * Mechanisms, one file each: sandbox_spec.c (building and checking the spec), sandbox.c
 * (clone, uid maps, the init process, exec),
 * sandbox_mount.c (the new root), sandbox_landlock.c, sandbox_seccomp.c, sandbox_net.c (lo and
 * the proxy listener). Cgroups are managed by the daemon (cgroup.c); the spawner only writes
 * the child's pid into the cgroup.procs files it is given.
 */
#ifndef AIRLOCK_SANDBOX_H
#define AIRLOCK_SANDBOX_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "util.h"

#define SANDBOX_MAGIC 0x41524c4bu /* "ARLK" */
#define SANDBOX_STRTAB_MAX 65536  /* bytes of argv, env, paths together */
#define SANDBOX_ARGV_MAX 256
#define SANDBOX_ENV_MAX 256
#define SANDBOX_MOUNTS_MAX 128
#define SANDBOX_CGROUPS_MAX 4
#define SANDBOX_PATH_MAX 4096
#define SANDBOX_PROXY_PORT 3128
#define SANDBOX_INNER_UID 1000 /* the job's uid and gid inside its user namespace */
#define SANDBOX_HOSTNAME "airlock"
#define SANDBOX_PROTECTED_MAX 16

/* Mount flags of one bind (policy filesystem entries). */
#define SANDBOX_MNT_RW 1u /* read-write (else read-only) */

struct sandbox_mount {
    uint32_t path;  /* strtab offset: the host path, also its path inside */
    uint32_t flags; /* SANDBOX_MNT_* */
};

/* Resource limits applied as rlimits in the child (cgroups are set by the daemon). 0 = none. */
struct sandbox_rlimits {
    uint64_t cpu_s;       /* RLIMIT_CPU, per process */
    uint64_t as_bytes;    /* RLIMIT_AS: only when no memory cgroup enforces memory */
    uint64_t nproc;       /* RLIMIT_NPROC: only when no pids cgroup enforces pids */
    uint64_t fsize_bytes; /* RLIMIT_FSIZE: the largest file the job may write */
    uint64_t nofile;      /* RLIMIT_NOFILE */
};

struct sandbox_spec {
    uint32_t magic;
    uint32_t size; /* sizeof(struct sandbox_spec) */
    char job_id[64];
    uint32_t argc, envc; /* argv[0] is looked up in the PATH of envp */
    uint32_t argv[SANDBOX_ARGV_MAX];
    uint32_t envp[SANDBOX_ENV_MAX];
    uint32_t nmounts;
    struct sandbox_mount mounts[SANDBOX_MOUNTS_MAX];
    uint32_t workspace; /* strtab: host directory bound read-write at /workspace */
    /* An adopted workspace: its owner's ids are mapped to the job's host ids by an idmapped
     * mount (idmap), and these paths in it (strtab; "x/" a directory) are bound read-only
     * over it, each directory on the way pinned so it cannot be renamed away. */
    bool idmap;
    uid_t idmap_uid;
    gid_t idmap_gid;
    uint32_t nprotected;
    uint32_t protected_paths[SANDBOX_PROTECTED_MAX];
    uint32_t protected_placeholders[SANDBOX_PROTECTED_MAX]; /* strtab: a missing file's content */
    uint32_t cwd;        /* strtab: working directory inside (absolute, under /workspace) */
    uint32_t stdin_path; /* strtab: host file opened read-only as fd 0 (0 = /dev/null) */
    uint32_t root_dir;   /* strtab: an empty host directory the new root is mounted on */
    uint64_t tmp_bytes;  /* size of the private /tmp (tmpfs) */
    uid_t host_uid;      /* the host uid the job's uid maps to */
    gid_t host_gid;
    bool setgroups_deny; /* unprivileged spawner: "deny" before writing gid_map */
    int landlock_abi;    /* 0: none (the daemon refused the job already if it was needed) */
    struct sandbox_rlimits rlimits;
    uint32_t ncgroups;
    uint32_t cgroup_procs[SANDBOX_CGROUPS_MAX]; /* strtab: cgroup.procs files for the child */
    /* The cgroups the daemon reserved for the next job: the spawner puts the next warm child
     * in them ahead of time (a v1 attach can wait ~10 ms for an RCU grace period). */
    uint32_t nnext_cgroups;
    uint32_t next_cgroup_procs[SANDBOX_CGROUPS_MAX];
    uint32_t strtab_len;
    char strtab[SANDBOX_STRTAB_MAX];
};

/* Builds a spec: sandbox_spec_init, then sandbox_spec_str for each string (returns its offset,
 * or -ENOSPC / -E2BIG when the table or a list is full). */
void sandbox_spec_init(struct sandbox_spec *s, const char *job_id);
int sandbox_spec_str(struct sandbox_spec *s, const char *str);
int sandbox_spec_add_arg(struct sandbox_spec *s, const char *arg);
int sandbox_spec_add_env(struct sandbox_spec *s, const char *name, const char *value);
int sandbox_spec_add_mount(struct sandbox_spec *s, const char *path, uint32_t flags);
/* Checks every count and offset of a spec received from elsewhere: offsets inside the table,
 * strings NUL-terminated inside it, counts within their arrays. Returns 0 or -EINVAL. */
int sandbox_spec_check(const struct sandbox_spec *s);
/* The string at offset off (valid only after sandbox_spec_check). */
static inline const char *
sandbox_str(const struct sandbox_spec *s, uint32_t off)
{
    return s->strtab + off;
}

/* ---- seccomp (sandbox_seccomp.c) ---- */

/* The compiled filter: a BPF program in memory, made once before any clone. */
struct sandbox_seccomp {
    struct sock_filter *filter;
    unsigned short len;
};

/* Builds the filter with libseccomp (design.md "The sandbox", layer 4) and exports it to BPF.
 * Returns 0 or -errno with err. */
int sandbox_seccomp_compile(struct sandbox_seccomp *ret, struct err *err);
void sandbox_seccomp_free(struct sandbox_seccomp *s);
/* Applies the filter with the raw seccomp(2) syscall; async-signal-safe, no allocation. Needs
 * no_new_privs set first. Returns 0 or -errno. */
int sandbox_seccomp_apply(const struct sandbox_seccomp *s);

/* ---- Landlock (sandbox_landlock.c) ---- */

#define SANDBOX_LL_READ 1u  /* read files and directories */
#define SANDBOX_LL_WRITE 2u /* create, write, remove, rename beneath */
#define SANDBOX_LL_EXEC 4u  /* execute files beneath */
#define SANDBOX_LL_DEV 8u   /* read and write existing files only (for /dev nodes) */
#define SANDBOX_LL_LIST 16u /* list directories (no file contents) */

struct sandbox_ll_rule {
    const char *path; /* inside the new root */
    unsigned access;  /* SANDBOX_LL_* */
};

/* Restricts the calling process (and what it execs) to the rules: every filesystem access the
 * ABI can handle is denied except beneath those paths as granted. With ABI >= 4, TCP bind is
 * denied and TCP connect allowed only to connect_port; with ABI >= 6, abstract unix sockets and
 * signals are scoped to the sandbox. Paths that do not exist are skipped. No allocation.
 * Returns 0 or -errno (-EOPNOTSUPP when abi is 0). */
int sandbox_landlock_apply(int abi, const struct sandbox_ll_rule *rules, size_t n,
                           uint16_t connect_port);

/* ---- spawning (sandbox.c) ---- */

/* The memory of the process's original argv (inherited by fork): sandbox_title overwrites it,
 * so `ps` inside a job shows "airlock-init", never the daemon's command line and its paths. */
void sandbox_title_area(char *start, size_t len);
void sandbox_title(const char *title);

/* What a job's init writes to the status pipe when the command has ended and every other
 * process of the job has been killed and reaped. */
struct sandbox_end {
    int32_t status; /* the command's wait status */
    int32_t pad;
    int64_t cpu_us; /* user + system time of every process the init reaped */
    int64_t max_rss_kb;
};

struct sandbox_child {
    pid_t pid;     /* in the spawner's pid namespace */
    int pidfd;     /* CLOEXEC */
    int stdout_fd; /* read ends of the job's output pipes, CLOEXEC */
    int stderr_fd;
    int listener_fd; /* the listening socket bound to 127.0.0.1:3128 in the job's netns */
    int status_fd;   /* read end: the init process writes the command's wait status here */
};

/* A child cloned ahead of time, its namespaces made and its uid/gid maps written, waiting for
 * its spec: the clone (about 1 ms, most of it the network namespace) is then off the path of
 * the next job. It runs nothing until sandbox_spawn hands it a spec. */
struct sandbox_warm {
    pid_t pid; /* 0 when none */
    int pidfd;
    int ctl;                  /* the spawner's end of the socket the child waits on */
    struct sandbox_spec *shm; /* shared with the child: the spec is copied here at start */
    uid_t host_uid;           /* the maps it was made with */
    gid_t host_gid;
    bool setgroups_deny;
    uint32_t ncgroups; /* the cgroup.procs files it was written into */
    char cgroups[SANDBOX_CGROUPS_MAX][SANDBOX_PATH_MAX];
};

/* Clones a warm child with the ids of spec (host uid/gid, setgroups). Returns 0 or -errno. */
int sandbox_warm_prepare(struct sandbox_warm *w, const struct sandbox_spec *spec,
                         const struct sandbox_seccomp *filter, struct err *err);
/* Kills and forgets a warm child (NULL-safe). */
void sandbox_warm_discard(struct sandbox_warm *w);

/* Runs the job described by spec (already checked), in warm's child when it is ready and has
 * the spec's ids (it is then used up), else in a child cloned now. On success fills ret and the
 * job's command has been exec'd; on failure returns -errno and err names the step that failed
 * ("mount /workspace: No such file or directory", "exec python3: not found in PATH"). */
int sandbox_spawn(const struct sandbox_spec *spec, const struct sandbox_seccomp *filter,
                  struct sandbox_warm *warm, struct sandbox_child *ret, struct err *err);

#endif
