/*
 * main: arguments, config, wiring, signals and shutdown -- the order in which airlockd comes up
 * is visible here and nowhere else. Anything that forks (the kernel probe; the job spawner)
 * happens before the first thread starts (libmicrohttpd, libcurl's resolver), because a child
 * forked from a threaded process may inherit a lock held by another thread.
 */
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stddef.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sysexits.h>

#include <curl/curl.h>

#include "api.h"
#include "cgroup.h"
#include "jobs.h"
#include "spawner.h"
#include "config.h"
#include "follow.h"
#include "log.h"
#include "metrics.h"
#include "policies.h"
#include "probe.h"
#include "proxy.h"
#include "store.h"
#include "token.h"

struct overrides {
    const char *config, *listen, *state_dir, *policy_dir;
};

static void
usage(FILE *f)
{
    fprintf(f, "Usage: airlockd [--config FILE] [--listen ADDR:PORT] [--state-dir DIR]\n"
               "                [--policy-dir DIR]\n"
               "       airlockd --version | --help\n"
               "\n"
               "Runs agents' code in sandboxes whose only network route is a policy-checking\n"
               "proxy, and serves the REST API (docs/api.md).\n"
               "\n"
               "  --config FILE       JSON config (docs/config.md); flags below override it\n"
               "  --listen ADDR:PORT  API address, e.g. 127.0.0.1:8420 or [::1]:8420\n"
               "  --state-dir DIR     database, token and job files (created, mode 0700)\n"
               "  --policy-dir DIR    the policy files, one *.json per policy (docs/policies.md)\n"
               "  --version           print the version and exit\n"
               "  --help              print this and exit\n"
               "\n"
               "The API token comes from the config's \"token\", else AIRLOCK_TOKEN, else\n"
               "<state-dir>/token (created at first start). SIGHUP reloads the policies;\n"
               "SIGTERM or SIGINT stop the daemon.\n");
}

/* Returns 0 to go on, 1 to exit 0 (help/version), -1 on a usage error. */
static int
parse_args(int argc, char **argv, struct overrides *o)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {"state-dir", required_argument, NULL, 's'},
        {"policy-dir", required_argument, NULL, 'p'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "c:l:s:p:Vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'l':
            o->listen = optarg;
            break;
        case 's':
            o->state_dir = optarg;
            break;
        case 'p':
            o->policy_dir = optarg;
            break;
        case 'V':
            printf("airlockd %s\n", AIRLOCK_VERSION);
            return 1;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "airlockd: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return -1;
    }
    return 0;
}

static int
build_config(const struct overrides *o, struct config *cfg, struct err *err)
{
    const char *env_token;
    int r;

    config_defaults(cfg);
    if (o->config && (r = config_load(cfg, o->config, err)) < 0)
        return r;
    if (o->listen && (r = config_set_listen(cfg, o->listen, err)) < 0) {
        err_prefix(err, "--listen");
        return r;
    }
    if (o->state_dir && (r = config_set_dir(cfg->state_dir, o->state_dir, "", err)) < 0) {
        err_prefix(err, "--state-dir");
        return r;
    }
    if (o->policy_dir && (r = config_set_dir(cfg->policy_dir, o->policy_dir, "", err)) < 0) {
        err_prefix(err, "--policy-dir");
        return r;
    }
    env_token = secure_getenv("AIRLOCK_TOKEN");
    if (!cfg->token && env_token && *env_token)
        return config_set_token(cfg, env_token, "AIRLOCK_TOKEN", err);
    return 0;
}

/* Creates the state directory (and its parents) owner-only, then makes the path canonical. */
static int
prepare_state_dir(struct config *cfg, struct err *err)
{
    char path[PATH_MAX], real[PATH_MAX];
    struct stat st;

    str_copy(path, sizeof(path), cfg->state_dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            return err_set(err, errno, "internal", "%s: cannot create: %m", path);
        *p = '/';
    }
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return err_set(err, errno, "internal", "%s: cannot create the state directory: %m", path);
    if (!realpath(path, real) || stat(real, &st) < 0)
        return err_set(err, errno, "internal", "%s: %m", path);
    if (!S_ISDIR(st.st_mode))
        return err_set(err, ENOTDIR, "internal", "%s: the state directory is not a directory",
                       real);
    if (st.st_mode & 022)
        return err_set(err, EPERM, "internal",
                       "%s: the state directory is writable by others; run: chmod go-w %s", real,
                       real);
    str_copy(cfg->state_dir, sizeof(cfg->state_dir), real);
    return 0;
}

/* The policy directory must exist at start; its canonical path is what the log shows. */
static int
prepare_policy_dir(struct config *cfg, struct err *err)
{
    char real[PATH_MAX];
    struct stat st;

    if (!realpath(cfg->policy_dir, real) || stat(real, &st) < 0)
        return err_set(err, errno, "bad_config", "%s: cannot use the policy directory: %m",
                       cfg->policy_dir);
    if (!S_ISDIR(st.st_mode))
        return err_set(err, ENOTDIR, "bad_config", "%s: the policy directory is not a directory",
                       cfg->policy_dir);
    str_copy(cfg->policy_dir, sizeof(cfg->policy_dir), real);
    return 0;
}

static int
resolve_token(struct config *cfg, char **ret, struct err *err)
{
    enum token_source src = TOKEN_FROM_CONFIG;
    bool created = false;
    int r;

    if (cfg->token) {
        *ret = strdup(cfg->token);
        if (!*ret)
            return -ENOMEM;
        /* The config's copy is not needed any more: one copy of a secret is enough. */
        config_clear(cfg);
    } else {
        if ((r = token_load_file(cfg->state_dir, ret, &created, err)) < 0)
            return r;
        src = created ? TOKEN_FROM_FILE_NEW : TOKEN_FROM_FILE;
    }
    if (src == TOKEN_FROM_FILE || src == TOKEN_FROM_FILE_NEW)
        log_info("auth.token", "API token from %s/token%s", cfg->state_dir,
                 created ? " (created now, mode 0600)" : "");
    else
        log_info("auth.token", "API token from the config or AIRLOCK_TOKEN");
    return 0;
}

static int
open_store(const struct config *cfg, struct store **ret, struct err *err)
{
    char path[PATH_MAX];
    char **lost = NULL;
    size_t nlost = 0;
    int r;

    if (str_printf(path, sizeof(path), "%s/airlock.db", cfg->state_dir) < 0)
        return err_set(err, ENAMETOOLONG, "internal", "%s: path too long", cfg->state_dir);
    if ((r = store_open(path, ret, err)) < 0)
        return r;
    if ((r = store_jobs_mark_lost(*ret, time_now_ms(), &lost, &nlost)) < 0)
        return err_set(err, -r, "internal", "%s: cannot mark interrupted jobs: %s", path,
                       strerror(-r));
    for (size_t i = 0; i < nlost; i++) {
        log_warn("job.lost", "job %s was running when the daemon stopped: marked lost", lost[i]);
        metrics_job_ended("lost"); /* this start records its end: the only place it shows */
    }
    store_ids_free(lost, nlost);
    log_info("store.open", "%s (schema %d)", path, store_schema_version(*ret));
    return 0;
}

static int
load_policies(const struct config *cfg, struct policies **ret, struct err *err)
{
    struct policy *def;
    json_t *report = NULL;
    int r;

    if ((r = policies_new(cfg->policy_dir, &cfg->default_limits, ret)) < 0)
        return err_set(err, -r, "internal", "policies: %s", strerror(-r));
    if ((r = policies_reload(*ret, &report, err)) < 0)
        return r;
    log_info("policy.load", "%zu policies from %s, %zu files with errors", policies_count(*ret),
             cfg->policy_dir, json_array_size(json_object_get(report, "errors")));
    json_decref(report);
    def = policies_get(*ret, "default");
    if (!def)
        log_warn("policy.load",
                 "no \"default\" policy in %s: jobs that name no policy will be "
                 "refused",
                 cfg->policy_dir);
    policy_unref(def);
    return 0;
}

/* One daemon per cgroup_parent: a second one would kill the first one's jobs as stale at its
 * start. An abstract unix socket named after the parent is the host-wide (per network
 * namespace) lock; it goes away with the process, even after kill -9. */
static int
claim_cgroup_parent(const struct config *cfg, int *ret_fd, struct err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int len;

    if (fd < 0)
        return err_set(err, errno, "internal", "socket: %m");
    len = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "airlockd-cgroup-%s",
                   cfg->cgroup_parent);
    if (bind(fd, (struct sockaddr *)&sa,
             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len)) < 0) {
        int e = errno;
        close(fd);
        if (e == EADDRINUSE)
            return err_set(err, e, "bad_config",
                           "cgroup_parent \"%s\" is in use by another airlockd on this host; "
                           "give each daemon its own cgroup_parent",
                           cfg->cgroup_parent);
        return err_set(err, e, "internal", "cgroup_parent lock: %s", strerror(e));
    }
    *ret_fd = fd;
    return 0;
}

/* The main loop: signals only. Returns when asked to stop. */
static void
serve(struct policies *ps, int sfd)
{
    struct signalfd_siginfo si;

    for (;;) {
        ssize_t n = read(sfd, &si, sizeof(si));
        if (n < 0 && errno == EINTR)
            continue;
        if (n != sizeof(si))
            return;
        if (si.ssi_signo == SIGHUP) {
            struct err err = {0};
            json_t *report = NULL;
            if (policies_reload(ps, &report, &err) < 0)
                log_error("policy.reload", "SIGHUP: %s; the loaded policies stay in force",
                          err.message);
            else
                log_info("policy.reload", "SIGHUP: %zu policies, %zu files with errors",
                         policies_count(ps), json_array_size(json_object_get(report, "errors")));
            json_decref(report);
            continue;
        }
        log_info("daemon.stop", "%s received: stopping", strsignal((int)si.ssi_signo));
        return;
    }
}

/* The graceful part of a stop: no new job, the active ones canceled with reason shutdown, and
 * up to shutdown_grace_s for their ends to be recorded (output drained, egress stored). A
 * second SIGTERM or SIGINT ends the wait at once; what is left is then recorded as canceled
 * by jobs_stop. */
static void
drain_jobs(struct jobs *jobs, int sfd, unsigned grace_s)
{
    int64_t deadline = time_mono_ms() + (int64_t)grace_s * 1000;
    unsigned running, queued;
    int n = jobs_shutdown(jobs);

    if (n == 0)
        return;
    log_info("daemon.stop",
             "%d jobs canceled (reason shutdown); waiting up to %us for their ends to be "
             "recorded (a second SIGTERM stops at once)",
             n, grace_s);
    for (;;) {
        jobs_counts(jobs, &running, &queued);
        if (running + queued == 0)
            return;
        int64_t left = deadline - time_mono_ms();
        if (left <= 0) {
            log_warn("daemon.stop", "%u jobs still ending after %us (shutdown_grace_s): stopping",
                     running + queued, grace_s);
            return;
        }
        struct pollfd p = {.fd = sfd, .events = POLLIN};
        struct signalfd_siginfo si;
        if (poll(&p, 1, left < 50 ? (int)left : 50) > 0 &&
            read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si) && si.ssi_signo != SIGHUP) {
            log_info("daemon.stop", "%s received again: stopping now",
                     strsignal((int)si.ssi_signo));
            return;
        }
    }
}

int
main(int argc, char **argv)
{
    struct overrides o = {0};
    struct config cfg;
    struct err err = {0};
    struct probe probe;
    struct store *store = NULL;
    struct policies *ps = NULL;
    struct api *api = NULL;
    struct spawner *spawner = NULL;
    struct cgroup_pool *cgroups = NULL;
    struct jobs *jobs = NULL;
    struct follow *follow = NULL;
    struct proxy *proxy = NULL;
    struct workspaces *workspaces = NULL;
    char *token = NULL;
    char where[80];
    sigset_t mask;
    int r, fd, ufd = -1, sfd, cg_lock = -1, status = EX_CONFIG;
    bool unix_bound = false;

    r = parse_args(argc, argv, &o);
    if (r != 0)
        return r > 0 ? 0 : EX_USAGE;
    if (build_config(&o, &cfg, &err) < 0) {
        fprintf(stderr, "airlockd: %s\n", err.message);
        config_clear(&cfg);
        return EX_CONFIG;
    }
    log_setup(cfg.log_json, cfg.log_level);
    /* Everything the daemon creates is private unless it says otherwise. */
    umask(077);
    /* Signals are blocked before any thread exists, so every thread inherits the mask and only
     * the signalfd below sees them. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    log_info("daemon.start", "airlockd %s, pid %d, uid %u%s%s", AIRLOCK_VERSION, getpid(),
             geteuid(), cfg.path[0] ? ", config " : "", cfg.path);
    probe_kernel(&probe);
    probe_log(&probe);
    /* The spawner is forked now, while this process has no thread (spawner.h). */
    if (spawner_start(argc, argv, &spawner, &err) < 0)
        goto out;
    /* libcurl's global state, set up once before any thread uses it (the proxy's workers). */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        err_set(&err, EIO, "internal", "libcurl cannot be initialised");
        goto out;
    }
    if (sfd < 0 || prepare_state_dir(&cfg, &err) < 0 || prepare_policy_dir(&cfg, &err) < 0 ||
        resolve_token(&cfg, &token, &err) < 0 || open_store(&cfg, &store, &err) < 0 ||
        load_policies(&cfg, &ps, &err) < 0)
        goto out;
    if (claim_cgroup_parent(&cfg, &cg_lock, &err) < 0 ||
        cgroup_pool_new(&probe, cfg.cgroup_parent, 4, &cgroups, &err) < 0)
        goto out;
    log_info("cgroup.pool", "per-job cgroups: %s", cgroup_pool_describe(cgroups));
    struct proxy_deps pd = {.cfg = &cfg, .store = store};
    if (proxy_new(&pd, &proxy, &err) < 0 || proxy_start(proxy, &err) < 0)
        goto out;
    if (workspaces_new(&cfg, store, &workspaces, &err) < 0)
        goto out;
    struct jobs_deps jd = {.cfg = &cfg,
                           .workspaces = workspaces,
                           .store = store,
                           .policies = ps,
                           .spawner = spawner,
                           .cgroups = cgroups,
                           .probe = &probe,
                           .proxy = proxy};
    if (jobs_new(&jd, &jobs, &err) < 0 || jobs_start(jobs, &err) < 0 ||
        follow_new(jobs, cfg.state_dir, &follow, &err) < 0)
        goto out;
    if (cfg.listen_tcp) {
        if ((fd = api_listen(&cfg, &err)) < 0)
            goto out;
        cfg.listen_port = (uint16_t)api_bound_port(fd);
    } else {
        fd = -1;
        cfg.listen_port = 0;
    }
    if (cfg.listen_unix[0]) {
        if ((ufd = api_listen_unix(&cfg, &err)) < 0) {
            if (fd >= 0)
                close(fd);
            goto out;
        }
        unix_bound = true;
    }
    struct api_deps deps = {.cfg = &cfg,
                            .token = token,
                            .policies = ps,
                            .store = store,
                            .jobs = jobs,
                            .workspaces = workspaces,
                            .follow = follow,
                            .cgroups = cgroups,
                            .probe = &probe,
                            .started_ms = time_now_ms()};
    if (api_start(&deps, fd, ufd, &api, &err) < 0)
        goto out;
    config_listen_format(&cfg, where, sizeof(where));
    log_info("api.listen", "listening on %s%s%s%s%s (state %s, policies %s)",
             cfg.listen_tcp ? "http://" : "", cfg.listen_tcp ? where : "",
             cfg.listen_tcp && unix_bound ? " and " : "", unix_bound ? "unix:" : "",
             unix_bound ? cfg.listen_unix : "", cfg.state_dir, cfg.policy_dir);
    char index_html[PATH_MAX + 16];
    snprintf(index_html, sizeof(index_html), "%s/index.html", cfg.web_dir);
    if (access(index_html, R_OK) < 0)
        log_warn("web.missing", "no dashboard: %s: %m (web_dir); GET / answers 404", index_html);
    serve(ps, sfd);
    drain_jobs(jobs, sfd, cfg.shutdown_grace_s);
    status = 0;
out:
    if (status != 0)
        log_error("daemon.start", "%s", err.message[0] ? err.message : "cannot start");
    /* Jobs first (they answer waiting clients), then the API, then what they used. */
    jobs_stop(jobs);
    /* Followers then end their streams; none may stay suspended into MHD_stop_daemon. */
    follow_stop(follow);
    api = api_stop(api);
    if (unix_bound)
        unlink(cfg.listen_unix);
    follow = follow_free(follow); /* after the API: closing a stream closes its follower */
    jobs = jobs_free(jobs);
    proxy = proxy_free(proxy); /* after the jobs: they detach from it */
    workspaces = workspaces_free(workspaces);
    spawner = spawner_stop(spawner);
    cgroups = cgroup_pool_free(cgroups);
    ps = policies_free(ps);
    store = store_close(store);
    token = token_free(token);
    config_clear(&cfg);
    curl_global_cleanup();
    if (sfd >= 0)
        close(sfd);
    if (cg_lock >= 0)
        close(cg_lock);
    if (status == 0)
        log_info("daemon.stop", "stopped cleanly");
    return status;
}
