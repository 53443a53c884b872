/*
 * policy: one policy -- parsed and validated from its JSON text, rendered back as normalised
 * JSON, and asked for decisions. Pure: no syscalls, no globals, no sockets, no DNS. Every decision
 * the proxy takes about where a job may go is made here, so it is explainable from the policy
 * alone. Loading a directory of policies and reloading them live is policies.h.
 *
 * The order of checks the proxy follows (design.md, "The proxy"):
 *   1. policy_url_parse / policy_host_parse on what the job named (refuse anything ambiguous);
 *   2. policy_decide on the name, port, method and path -- before any lookup;
 *   3. resolve, then policy_decide_address on *every* address returned.
 */
#ifndef AIRLOCK_POLICY_H
#define AIRLOCK_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "airlock_limits.h"
#include "netaddr.h"
#include "util.h"

/* Resource limits. 0 means "not set" while parsing; after policy_parse every field is set
 * (from the policy or from the defaults it was given). */
struct policy_limits {
    uint64_t timeout_s;
    uint64_t memory_mb;
    uint64_t pids;
    uint64_t cpu_s;
    uint64_t output_bytes;
    uint64_t disk_mb;
};

/* Upper bounds a policy (or a job) may ask for; beyond these a value is a typo, not a wish. */
#define POLICY_TIMEOUT_S_MAX (7 * 24 * 3600)
#define POLICY_MEMORY_MB_MAX (1024 * 1024)
#define POLICY_PIDS_MAX 65536
#define POLICY_CPU_S_MAX (7 * 24 * 3600)
#define POLICY_OUTPUT_BYTES_MAX (1ULL << 40)
#define POLICY_DISK_MB_MAX (16 * 1024 * 1024)

/* Added with policy.c: the limits a policy gets when neither it nor the `defaults` given to
 * policy_parse set one (a `defaults` field of 0 counts as unset; `defaults` may be NULL). The
 * filesystem a policy without "filesystem" gets is built into policy.c (docs/policies.md). */
#define POLICY_TIMEOUT_S_DEFAULT 300
#define POLICY_MEMORY_MB_DEFAULT 1024
#define POLICY_PIDS_DEFAULT 256
#define POLICY_CPU_S_DEFAULT 300
#define POLICY_OUTPUT_BYTES_DEFAULT (16ULL * 1024 * 1024)
#define POLICY_DISK_MB_DEFAULT 1024
/* Longest path in a policy's filesystem section (PATH_MAX). */
#define POLICY_FS_PATH_MAX 4096

/* Added with policy.c: every reason policy_decide and policy_decide_address give for a denial
 * (struct policy_decision.reason points at one of these strings; compare with strcmp):
 *   no_rule          no rule names the host (or the policy has no network section);
 *   denied_by_rule   a deny rule matched (deny wins over allow);
 *   port             an allow rule names the host, but not the port;
 *   method           ...and the port, but not the method (or the rule limits methods or paths
 *                    and the request is a CONNECT tunnel, where neither can be seen);
 *   path             ...and the port and method, but not the path;
 *   ip_literal       the host is an IP literal and no cidr rule names it;
 *   bad_host         no host (or address) to decide on;
 *   bad_path         a plain HTTP request without a normalised path;
 *   private_address  a resolved address is not public and no allow cidr rule opens it. */
#define POLICY_REASON_NO_RULE "no_rule"
#define POLICY_REASON_DENIED_BY_RULE "denied_by_rule"
#define POLICY_REASON_PORT "port"
#define POLICY_REASON_METHOD "method"
#define POLICY_REASON_PATH "path"
#define POLICY_REASON_IP_LITERAL "ip_literal"
#define POLICY_REASON_BAD_HOST "bad_host"
#define POLICY_REASON_BAD_PATH "bad_path"
#define POLICY_REASON_PRIVATE_ADDRESS "private_address"

/* The host as named by a job or a URL, after parsing and normalisation. */
struct policy_host {
    char name[HOST_MAX + 1]; /* lower case, no trailing dot; for an IP, its canonical text */
    bool is_ip;
    struct netaddr ip; /* valid when is_ip */
};

struct policy_url {
    bool https;
    struct policy_host host;
    uint16_t port;
    char path[PATH_MAX_URL + 1]; /* normalised (see policy_path_normalize); "/" when empty */
};

enum policy_kind {
    POLICY_REQ_HTTP,    /* plain HTTP: method and path are known */
    POLICY_REQ_CONNECT, /* a tunnel: only host and port are known */
};

struct policy_request {
    enum policy_kind kind;
    const struct policy_host *host;
    uint16_t port;
    const char *method; /* HTTP only: upper-case token */
    const char *path;   /* HTTP only: normalised by policy_path_normalize */
};

struct policy_decision {
    bool allow;
    const char *reason; /* static string; NULL when allowed */
    const char *list;   /* "allow" or "deny": the list of the deciding rule; NULL when none */
    int rule;           /* index of the deciding rule in that list; -1 when no rule decided */
};

/* The limits a policy gets when neither it nor the config sets them (config.c's defaults). */
#define POLICY_LIMITS_DEFAULT                                                                      \
    {                                                                                              \
        .timeout_s = POLICY_TIMEOUT_S_DEFAULT, .memory_mb = POLICY_MEMORY_MB_DEFAULT,              \
        .pids = POLICY_PIDS_DEFAULT, .cpu_s = POLICY_CPU_S_DEFAULT,                                \
        .output_bytes = POLICY_OUTPUT_BYTES_DEFAULT, .disk_mb = POLICY_DISK_MB_DEFAULT,            \
    }

struct policy;

/* A job's limits: the policy's, each replaced by what the job asked (0 = not asked) when that
 * is not looser. Returns 0, or -EINVAL with err naming the first limit asked above the
 * policy's ("limits.memory_mb: 2048 is looser than policy \"default\" allows (1024); ..."). */
int policy_limits_tighten(const struct policy *p, const struct policy_limits *asked,
                          struct policy_limits *ret, struct err *err);

/* Parses a limits object (the keys of struct policy_limits, each an integer from 1 to its
 * POLICY_*_MAX) into l, setting only the keys present. where names the object in messages
 * ("default_limits", "limits"). Returns 0 or -EINVAL with err ("limits.pids: must be ..."). Used
 * for a policy's limits, the config's default_limits and a job's limits alike. */
int policy_limits_parse(json_t *lim, const char *where, struct policy_limits *l, struct err *err);

/* Parses and validates one policy named `name` from len bytes of JSON text. `defaults` fills
 * limits and the filesystem the policy leaves out. On failure returns -EINVAL (or -ENOMEM) and
 * err names the key and what is wrong ("network.allow[2].host: ..."); the caller adds the file.
 * On success *ret is a new policy with one reference, released by policy_unref. */
int policy_parse(const char *name, const char *text, size_t len,
                 const struct policy_limits *defaults, struct policy **ret, struct err *err);
/* Reference counting is atomic: a job holds its policy while a reload swaps the set. */
struct policy *policy_ref(struct policy *p);
struct policy *policy_unref(struct policy *p); /* NULL-safe; returns NULL */

const char *policy_name(const struct policy *p);
const char *policy_description(const struct policy *p);
const struct policy_limits *policy_limits(const struct policy *p);
/* Paths of the filesystem section; the arrays live as long as the policy. */
size_t policy_fs_read_only(const struct policy *p, const char *const **ret);
size_t policy_fs_read_write(const struct policy *p, const char *const **ret);
bool policy_has_network(const struct policy *p);
/* The policy as loaded, normalised (defaults filled in). New reference, or NULL on ENOMEM. */
json_t *policy_to_json(const struct policy *p);
/* One rule as normalised JSON (new reference), or NULL when list/index do not name a rule. */
json_t *policy_rule_to_json(const struct policy *p, const char *list, int index);

/* Parses a host as it appears in a URL or CONNECT target: a DNS name, a dotted-quad IPv4, or a
 * bracketed IPv6 literal. len bytes are read. Refuses (returns -EINVAL with err->code "bad_host")
 * userinfo, '%', '\\', control bytes, spaces, non-ASCII, empty labels, over-long names or labels,
 * and names that merely look numeric (2130706433, 0x7f.1, 0177.0.0.1, 127.1). */
int policy_host_parse(const char *s, size_t len, struct policy_host *ret, struct err *err);
/* Normalises an HTTP request path in place semantics: decodes percent-escapes of unreserved
 * characters, upper-cases the rest, drops the query and fragment, and resolves "." and ".."
 * segments. Refuses (err->code "bad_path") a path not starting with '/', one that climbs above
 * the root, an encoded dot segment, an encoded '/', '\\' or NUL, bad escapes and control bytes.
 * out gets at most n bytes including the NUL. Added with policy.c: in and out must not overlap
 * (the output can be longer: a raw space becomes "%20"); out holds nothing useful on failure;
 * printable bytes RFC 3986 does not allow raw in a path (space " < > [ ] ^ ` { | }) are
 * percent-encoded, so both spellings compare equal against a path rule. */
int policy_path_normalize(const char *in, size_t len, char *out, size_t n, struct err *err);
/* Parses an absolute http:// or https:// URL (the check endpoint; the proxy's absolute-form
 * targets). Refuses other schemes (err->code "scheme"), userinfo, bad hosts and bad ports. */
int policy_url_parse(const char *url, struct policy_url *ret, struct err *err);

/* Decides a request on its name (or IP literal), port, method and path. Never resolves. An IP
 * literal is decided on cidr rules only, and must also pass policy_decide_address. */
void policy_decide(const struct policy *p, const struct policy_request *req,
                   struct policy_decision *ret);
/* Decides one resolved (or literal) address the request would connect to: a deny cidr rule
 * refuses it (denied_by_rule); an address that is not public needs an allow cidr rule for that
 * port (else private_address). For an HTTP request, method and path count as in policy_decide. */
void policy_decide_address(const struct policy *p, const struct policy_request *req,
                           const struct netaddr *addr, struct policy_decision *ret);

/* A sentence for a person saying why d was taken for req, in the policy's terms ("a rule names
 * pypi.org but not port 8443"). Always NUL-terminates buf (n > 0). */
void policy_explain(const struct policy_decision *d, const struct policy_request *req, char *buf,
                    size_t n);

#endif
