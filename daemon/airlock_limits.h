/*
 * airlock_limits: every hard limit on externally controlled sizes, in one place. A value here
 * bounds what a client, a policy file or a job can make the daemon hold. Change a limit here and
 * the docs (docs/internals/limits.md) in the same commit. (Not called limits.h: gcc's own
 * limits.h pulls in the next limits.h on the search path with #include_next, and found ours.)
 */
#ifndef AIRLOCK_LIMITS_H
#define AIRLOCK_LIMITS_H

/* HTTP API */
#define API_BODY_MAX_DEFAULT (1024 * 1024) /* request body bytes, overridable in the config */
#define API_BODY_MAX_CEILING (64 * 1024 * 1024)
#define API_JSON_DEPTH_MAX 32      /* nesting of a request body */
#define API_URL_MAX 4096           /* bytes of a request URL */
#define API_HEADER_BYTES_MAX 16384 /* libmicrohttpd per-connection memory for the head */
#define API_CONNECTIONS_MAX 512
#define API_CONNECTION_TIMEOUT_S 30
#define API_THREADS_DEFAULT 2
#define API_WAIT_S_MAX 60 /* GET /v1/jobs/<id>?wait_s=N: the longest long-poll, seconds */

/* Tokens */
#define TOKEN_BYTES 32 /* random bytes; hex-encoded on disk */
#define TOKEN_MAX 256  /* longest token accepted from the config or environment */
#define TOKEN_MIN 16

/* Policies */
#define POLICY_FILE_MAX (256 * 1024) /* bytes of one policy file */
#define POLICY_COUNT_MAX 1024        /* policy files in the directory */
#define POLICY_NAME_MAX 64           /* [a-z0-9._-], from the file name */
#define POLICY_RULES_MAX 1024        /* allow + deny rules in one policy */
#define POLICY_PORTS_MAX 64
#define POLICY_METHODS_MAX 16
#define POLICY_PATHS_MAX 64
#define POLICY_FS_PATHS_MAX 128
#define POLICY_DESCRIPTION_MAX 1024
#define HOST_MAX 253      /* a DNS name, without trailing dot */
#define LABEL_MAX 63      /* one DNS label */
#define PATH_MAX_URL 8192 /* a URL path checked against path rules */
#define URL_MAX 8192      /* a URL given to the check endpoint */

/* Egress proxy (request heads: httpreq.h; ClientHello: tlshello.h) */
#define PROXY_CONNECTIONS_DEFAULT 512        /* open connections, all jobs (config) */
#define PROXY_CONNECTIONS_PER_JOB_DEFAULT 64 /* open connections, one job (config) */
#define PROXY_CONNECTIONS_MAX 16384          /* the most either key may say */

/* Logs */
#define LOG_LINE_MAX 4096

/* Config */
#define CONFIG_FILE_MAX (64 * 1024)

#endif
