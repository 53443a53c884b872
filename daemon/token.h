/*
 * token: the API bearer token -- where it comes from and how it is compared. Order (api.md):
 * the config's "token", else AIRLOCK_TOKEN from the environment, else <state_dir>/token, created
 * at first start (mode 0600, 32 random bytes as hex) and reused after. The token is never
 * logged; buffers that held it are wiped with explicit_bzero.
 */
#ifndef AIRLOCK_TOKEN_H
#define AIRLOCK_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

enum token_source { TOKEN_FROM_CONFIG, TOKEN_FROM_ENV, TOKEN_FROM_FILE_NEW, TOKEN_FROM_FILE };

/* Reads <state_dir>/token, creating it when absent. The file must be a regular file owned by
 * the daemon's uid with no group or other permissions; otherwise -EPERM and err says to fix the
 * mode. *ret is malloc'd; free with token_free. *ret_new is true when the file was created. */
int token_load_file(const char *state_dir, char **ret, bool *ret_new, struct err *err);
/* Wipes and frees. NULL-safe; returns NULL. */
char *token_free(char *t);
/* Checks an "Authorization" header value against the token in constant time: "Bearer <token>"
 * (scheme case-insensitive, one space). NULL header is a mismatch. */
bool token_check_header(const char *token, const char *header);
const char *token_source_name(enum token_source s);

#endif
