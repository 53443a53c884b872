/*
 * api: the REST API on libmicrohttpd -- the route table, bearer-token auth, request bodies,
 * JSON in and out, and the error shape of api.md. It maps errors to HTTP statuses; nothing below
 * it knows HTTP. It never touches namespaces or job sockets: it calls the modules that do.
 */
#ifndef AIRLOCK_API_H
#define AIRLOCK_API_H

#include <stdint.h>

#include "config.h"
#include "follow.h"
#include "jobs.h"
#include "policies.h"
#include "probe.h"
#include "store.h"
#include "util.h"
#include "workspaces.h"

/* What the API serves from. All borrowed: they must outlive the api. */
struct api_deps {
    const struct config *cfg;
    const char *token;
    struct policies *policies;
    struct store *store;
    struct jobs *jobs;
    struct workspaces *workspaces;
    struct follow *follow; /* wakes the readers of ?follow=true */
    struct cgroup_pool *cgroups;
    const struct probe *probe;
    int64_t started_ms;
};

struct api;

/* Creates the listening socket for cfg's address (CLOEXEC, SO_REUSEADDR). Returns the fd, or
 * -errno with err saying which address failed and why ("127.0.0.1:8420: address in use"). */
int api_listen(const struct config *cfg, struct err *err);
/* The port a listening fd is bound to (for port 0). Returns the port or -errno. */
int api_bound_port(int fd);
/* Creates the Unix socket of cfg->listen_unix: a stale socket file left by a daemon that died is
 * replaced, a live one (another daemon) or a file that is not a socket is refused; mode 0660,
 * group listen_unix_group. Returns the fd or -errno with err. */
int api_listen_unix(const struct config *cfg, struct err *err);
/* Starts serving on listen_fd and unix_fd (either may be -1; the api takes them). Starts
 * threads. */
int api_start(const struct api_deps *deps, int listen_fd, int unix_fd, struct api **ret,
              struct err *err);
/* Stops accepting, finishes or drops in-flight requests, frees. NULL-safe; returns NULL. */
struct api *api_stop(struct api *a);
/* The route table (for tests and docs checks): the first max routes' methods and patterns
 * ({} one segment, {*} the rest) into the arrays (static strings). Returns how many routes
 * there are, which may be more than max. */
size_t api_routes(const char **methods, const char **patterns, size_t max);

#endif
