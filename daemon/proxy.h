/*
 * proxy: the egress proxy, a job's only route out. It serves each job's listener (the socket
 * the sandbox created on 127.0.0.1:3128 inside the job's network namespace and handed over), reads
 * every request with httpreq, decides it with the job's policy, resolves and classifies the
 * addresses itself, and forwards what is allowed from the host namespace: plain HTTP with
 * libcurl, HTTPS as a CONNECT tunnel once the ClientHello names the allowed host. Every request
 * or tunnel becomes one egress event, in the log and (batched) in the store.
 *
 * It must never forward anything the policy did not allow, never resolve a name before the
 * policy allowed it, and never connect to an address other than the one it checked. It knows
 * nothing of how jobs are spawned or of the REST API.
 *
 * Files: proxy.c (listeners, connections, limits), proxy_http.c (plain HTTP with libcurl),
 * proxy_tunnel.c (CONNECT, SNI, relay), proxy_route.c (decide, resolve, classify), proxy_audit.c
 * (events). Internals: docs/internals/proxy.md.
 */
#ifndef AIRLOCK_PROXY_H
#define AIRLOCK_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "policy.h"
#include "store.h"
#include "util.h"

struct proxy_deps {
    const struct config *cfg; /* limits and timeouts; listen_port is read at each decision */
    struct store *store;      /* egress events */
};

struct proxy;
struct proxy_job;

/* Creates the proxy (no thread yet). Returns 0 or -errno with err. Free with proxy_free. */
int proxy_new(const struct proxy_deps *deps, struct proxy **ret, struct err *err);
/* Starts the acceptor and the audit writer. */
int proxy_start(struct proxy *p, struct err *err);
/* Closes every listener and connection, waits for the workers, stores the pending events.
 * Call after the jobs have stopped (they detach first). Idempotent. */
void proxy_stop(struct proxy *p);
/* proxy_stop, then frees. NULL-safe; returns NULL. */
struct proxy *proxy_free(struct proxy *p);

/* Serves a job's listener from now on. Takes listen_fd in every case (closed on failure) and a
 * new reference to pol. Returns 0 with *ret, or -ENOMEM / -errno. */
int proxy_job_attach(struct proxy *p, const char *job_id, struct policy *pol, int listen_fd,
                     struct proxy_job **ret);
/* The job's decisions so far (live: events may still be on their way to the store). */
void proxy_job_counts(const struct proxy_job *pj, int64_t *ret_allowed, int64_t *ret_denied);
/* The job's process ended: stop accepting and end its connections (each records its event as
 * it unwinds; a transfer in libcurl notices within a second). Idempotent, NULL-safe. */
void proxy_job_close(struct proxy *p, struct proxy_job *pj);
/* True once the job is closed and its last connection has ended (its event recorded). */
bool proxy_job_idle(struct proxy *p, struct proxy_job *pj);
/* The job ended: closes it if not done, stores every event recorded so far, so the job's record
 * and GET /egress agree once this returns. pj is released (connections still unwinding, when
 * the caller did not wait for proxy_job_idle, hold their own reference; their late events still
 * count). NULL-safe. */
void proxy_job_detach(struct proxy *p, struct proxy_job *pj);

#endif
