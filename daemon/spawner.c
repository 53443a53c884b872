/*
 * spawner: see spawner.h. The spawner's own loop is poll() over the request socket and a
 * signalfd for SIGCHLD; nothing in it blocks for long (a spawn waits only for the child's exec).
 */
#include "spawner.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "log.h"
#include "unixmsg.h"

#define SPAWNER_MAGIC 0x53504e52u /* "SPNR" */
#define SPAWNER_SOCKBUF (512 * 1024)

struct spawner_req {
    uint32_t magic;
    struct sandbox_spec spec;
};

struct spawner_resp {
    uint32_t magic;
    int32_t result;
    pid_t pid;
    char message[ERR_MSG_MAX];
};

struct spawner {
    pid_t pid;
    int req; /* daemon's end of the request socket */
    int ev;  /* daemon's end of the event socket */
    pthread_mutex_t lock;
    struct spawner_req *buf; /* one request at a time, under lock */
};

/* ---- the spawner process ---- */

struct child_slot {
    pid_t pid;
    int status_fd; /* -1 once read */
    bool reported; /* the event was sent when the init wrote the end */
    char job_id[64];
};

struct spawner_state {
    int req, ev, sfd;
    struct sandbox_seccomp filter;
    struct sandbox_warm warm; /* the next job's child, cloned ahead */
    struct child_slot slots[SPAWNER_CHILDREN_MAX];
};

static struct child_slot *
slot_free(struct spawner_state *st)
{
    for (size_t i = 0; i < SPAWNER_CHILDREN_MAX; i++)
        if (st->slots[i].pid == 0)
            return &st->slots[i];
    return NULL;
}

static void
handle_request(struct spawner_state *st, struct spawner_req *req, ssize_t n)
{
    struct spawner_resp resp = {.magic = SPAWNER_MAGIC};
    struct sandbox_child c;
    struct child_slot *slot = slot_free(st);
    struct err err = {0};
    int r;

    if (n != (ssize_t)sizeof(*req) || req->magic != SPAWNER_MAGIC ||
        sandbox_spec_check(&req->spec) < 0)
        r = err_set(&err, EINVAL, "internal", "malformed spawn request (%zd bytes)", n);
    else if (!slot)
        r = err_set(&err, EAGAIN, "internal", "the spawner has %d jobs already",
                    SPAWNER_CHILDREN_MAX);
    else
        r = sandbox_spawn(&req->spec, &st->filter, &st->warm, &c, &err);
    resp.result = r;
    if (r < 0) {
        str_copy(resp.message, sizeof(resp.message), err.message);
        unixmsg_send(st->req, &resp, sizeof(resp), NULL, 0);
        return;
    }
    resp.pid = c.pid;
    slot->pid = c.pid;
    slot->status_fd = c.status_fd;
    str_copy(slot->job_id, sizeof(slot->job_id), req->spec.job_id);
    int fds[4] = {c.pidfd, c.stdout_fd, c.stderr_fd, c.listener_fd};
    if (unixmsg_send(st->req, &resp, sizeof(resp), fds, 4) < 0)
        kill(c.pid, SIGKILL); /* the daemon is gone: the job must not outlive it */
    for (int i = 0; i < 4; i++)
        close(fds[i]);
    /* The answer is sent: clone the next job's child now, off the next request's path. */
    if (sandbox_warm_prepare(&st->warm, &req->spec, &st->filter, &err) < 0)
        memset(&st->warm, 0, sizeof(st->warm)); /* the next spawn clones cold */
}

/* An init wrote its job's end: report it now, without waiting for the init to be reaped (the
 * teardown of its namespaces can wait for an RCU grace period, ~10-20 ms on an idle host). */
static void
read_end(struct spawner_state *st, struct child_slot *slot)
{
    struct sandbox_end end;
    ssize_t n = read(slot->status_fd, &end, sizeof(end));

    if (n < 0 && errno == EAGAIN)
        return;
    close(slot->status_fd);
    slot->status_fd = -1;
    if (n != (ssize_t)sizeof(end))
        return; /* EOF without an end: the init was killed; wait4 reports it */
    struct spawner_event ev = {.magic = SPAWNER_MAGIC,
                               .has_cmd_status = 1,
                               .cmd_status = end.status,
                               .cpu_us = end.cpu_us,
                               .max_rss_kb = end.max_rss_kb};
    str_copy(ev.job_id, sizeof(ev.job_id), slot->job_id);
    slot->reported = true;
    unixmsg_send(st->ev, &ev, sizeof(ev), NULL, 0);
}

static void
reap(struct spawner_state *st)
{
    struct rusage ru;
    int status;
    pid_t pid;

    while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0) {
        struct spawner_event ev = {.magic = SPAWNER_MAGIC, .init_status = status};
        struct child_slot *slot = NULL;
        if (pid == st->warm.pid) {
            /* The warm child died before use: forget it, never signal its pid again. */
            close(st->warm.pidfd);
            close(st->warm.ctl);
            munmap(st->warm.shm, sizeof(*st->warm.shm));
            memset(&st->warm, 0, sizeof(st->warm));
            continue;
        }
        for (size_t i = 0; i < SPAWNER_CHILDREN_MAX && !slot; i++)
            if (st->slots[i].pid == pid)
                slot = &st->slots[i];
        if (!slot)
            continue;
        if (slot->status_fd >= 0)
            read_end(st, slot);
        if (slot->reported) {
            memset(slot, 0, sizeof(*slot));
            continue;
        }
        str_copy(ev.job_id, sizeof(ev.job_id), slot->job_id);
        ev.cpu_us = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
                    (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
        ev.max_rss_kb = ru.ru_maxrss;
        memset(slot, 0, sizeof(*slot));
        unixmsg_send(st->ev, &ev, sizeof(ev), NULL, 0);
    }
}

static void
kill_all(struct spawner_state *st)
{
    sandbox_warm_discard(&st->warm);
    for (size_t i = 0; i < SPAWNER_CHILDREN_MAX; i++)
        if (st->slots[i].pid > 0)
            kill(st->slots[i].pid, SIGKILL);
    while (wait(NULL) > 0 || errno == EINTR)
        ;
}

__attribute__((noreturn)) static void
spawner_main(int req, int ev)
{
    static struct spawner_state st; /* large: static, the process runs one of these */
    struct spawner_req *buf = malloc(sizeof(*buf));
    struct err err = {0};
    sigset_t mask;

    /* If the daemon dies (even by SIGKILL) the spawner follows, and the jobs' inits follow it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    st.req = req;
    st.ev = ev;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    st.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (!buf || st.sfd < 0 || sandbox_seccomp_compile(&st.filter, &err) < 0) {
        fprintf(stderr, "airlock-spawner: %s\n", err.message[0] ? err.message : "cannot start");
        _exit(1);
    }
    for (;;) {
        static struct pollfd p[2 + SPAWNER_CHILDREN_MAX];
        static struct child_slot *who[2 + SPAWNER_CHILDREN_MAX];
        nfds_t n = 2;
        p[0] = (struct pollfd){.fd = req, .events = POLLIN};
        p[1] = (struct pollfd){.fd = st.sfd, .events = POLLIN};
        for (size_t i = 0; i < SPAWNER_CHILDREN_MAX; i++)
            if (st.slots[i].pid > 0 && st.slots[i].status_fd >= 0) {
                who[n] = &st.slots[i];
                p[n++] = (struct pollfd){.fd = st.slots[i].status_fd, .events = POLLIN};
            }
        if (poll(p, n, -1) < 0 && errno != EINTR)
            break;
        for (nfds_t i = 2; i < n; i++)
            if (p[i].revents)
                read_end(&st, who[i]);
        if (p[1].revents) {
            struct signalfd_siginfo si;
            while (read(st.sfd, &si, sizeof(si)) == sizeof(si))
                ;
            reap(&st);
        }
        if (p[0].revents & POLLIN) {
            ssize_t got = recv(req, buf, sizeof(*buf), 0);
            if (got <= 0)
                break;
            handle_request(&st, buf, got);
        } else if (p[0].revents & (POLLHUP | POLLERR)) {
            break;
        }
    }
    kill_all(&st);
    _exit(0);
}

/* ---- the daemon's side ---- */

/* argv's strings and, right after them, the environment's, as the kernel laid them out: the
 * whole area is overwritten by the process title, so no child keeps the daemon's
 * environment (AIRLOCK_TOKEN) in its memory. */
static size_t
title_area_len(int argc, char **argv)
{
    char *end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;

    for (char **e = environ; e && *e; e++)
        if (*e == end)
            end = *e + strlen(*e) + 1;
    return (size_t)(end - argv[0]);
}

int
spawner_start(int argc, char **argv, struct spawner **ret, struct err *err)
{
    int rq[2], ev[2];
    int size = SPAWNER_SOCKBUF;
    struct spawner *s = calloc(1, sizeof(*s));

    if (!s || !(s->buf = malloc(sizeof(*s->buf)))) {
        free(s);
        return -ENOMEM;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, rq) < 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ev) < 0) {
        free(s->buf);
        free(s);
        return err_set(err, errno, "internal", "spawner: socketpair: %m");
    }
    for (int i = 0; i < 2; i++) {
        setsockopt(rq[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
        setsockopt(rq[i], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
    s->pid = fork();
    if (s->pid < 0) {
        free(s->buf);
        free(s);
        return err_set(err, errno, "internal", "spawner: fork: %m");
    }
    if (s->pid == 0) {
        close(rq[0]);
        close(ev[0]);
        if (argc > 0)
            sandbox_title_area(argv[0], title_area_len(argc, argv));
        sandbox_title("airlock-spawner");
        spawner_main(rq[1], ev[1]);
    }
    close(rq[1]);
    close(ev[1]);
    s->req = rq[0];
    s->ev = ev[0];
    fcntl(s->ev, F_SETFL, O_NONBLOCK);
    pthread_mutex_init(&s->lock, NULL);
    *ret = s;
    return 0;
}

struct spawner *
spawner_stop(struct spawner *s)
{
    if (!s)
        return NULL;
    close(s->req); /* EOF: the spawner kills its jobs and exits */
    close(s->ev);
    while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    pthread_mutex_destroy(&s->lock);
    free(s->buf);
    free(s);
    return NULL;
}

int
spawner_spawn(struct spawner *s, const struct sandbox_spec *spec, struct spawner_result *ret,
              struct err *err)
{
    struct spawner_resp resp;
    int fds[4];
    size_t nfds = 0;
    int r;

    pthread_mutex_lock(&s->lock);
    s->buf->magic = SPAWNER_MAGIC;
    memcpy(&s->buf->spec, spec, sizeof(*spec));
    r = unixmsg_send(s->req, s->buf, sizeof(*s->buf), NULL, 0);
    if (r == 0)
        r = unixmsg_recv(s->req, &resp, sizeof(resp), fds, 4, &nfds) == (ssize_t)sizeof(resp) &&
                    resp.magic == SPAWNER_MAGIC
                ? 0
                : -EPIPE;
    pthread_mutex_unlock(&s->lock);
    if (r < 0) {
        for (size_t i = 0; i < nfds; i++)
            close(fds[i]);
        return err_set(err, -r, "internal", "the spawner is not answering: %s", strerror(-r));
    }
    if (resp.result < 0 || nfds != 4) {
        for (size_t i = 0; i < nfds; i++)
            close(fds[i]);
        resp.message[sizeof(resp.message) - 1] = '\0';
        return err_set(err, resp.result < 0 ? -resp.result : EPROTO, "spawn", "%s", resp.message);
    }
    *ret = (struct spawner_result){.pid = resp.pid,
                                   .pidfd = fds[0],
                                   .stdout_fd = fds[1],
                                   .stderr_fd = fds[2],
                                   .listener_fd = fds[3]};
    return 0;
}

int
spawner_event_fd(const struct spawner *s)
{
    return s->ev;
}

int
spawner_read_event(struct spawner *s, struct spawner_event *ret)
{
    ssize_t n = recv(s->ev, ret, sizeof(*ret), MSG_DONTWAIT);

    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
    if (n == 0)
        return -EPIPE;
    if (n != (ssize_t)sizeof(*ret) || ret->magic != SPAWNER_MAGIC)
        return -EPROTO;
    ret->job_id[sizeof(ret->job_id) - 1] = '\0';
    return 0;
}
