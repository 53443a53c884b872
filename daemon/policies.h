/*
 * policies: the live set of policies loaded from the policy directory, and reloading it. A
 * policy is named after its file (pypi.json -> "pypi"). A file that fails to load does not stop
 * the others; at reload, a broken file leaves the previous version of that policy in force.
 * Readers take a reference (policies_get) and keep it as long as they need, so a reload never
 * frees a policy a job is using. Thread-safe.
 */
#ifndef AIRLOCK_POLICIES_H
#define AIRLOCK_POLICIES_H

#include <jansson.h>

#include "policy.h"
#include "util.h"

struct policies;

/* Creates an empty set reading from dir; the first policies_reload loads it. *ret is freed by
 * policies_free. defaults are copied. */
int policies_new(const char *dir, const struct policy_limits *defaults, struct policies **ret);
struct policies *policies_free(struct policies *ps); /* NULL-safe; returns NULL */

/* Rereads the directory. Returns 0 and, in *ret_report (new reference, may be NULL'd by the
 * caller not wanting it), {"loaded": [names], "unchanged": [...], "removed": [names],
 * "errors": [{"file", "message", "kept_previous"}]}. Returns -errno with err when the directory
 * itself cannot be read; then nothing changes. */
int policies_reload(struct policies *ps, json_t **ret_report, struct err *err);
/* A new reference to the named policy (release with policy_unref), or NULL. */
struct policy *policies_get(struct policies *ps, const char *name);
/* {"policies": [{"name", "description"}...]} sorted by name; new reference or NULL (ENOMEM). */
json_t *policies_list_json(struct policies *ps);
size_t policies_count(struct policies *ps);
/* True when name is a valid policy name: [a-z0-9][a-z0-9._-]* up to POLICY_NAME_MAX. */
bool policies_name_valid(const char *name);

#endif
