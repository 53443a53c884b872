/*
 * unixmsg: one message and its file descriptors over an AF_UNIX socket (SCM_RIGHTS). Used by
 * the spawner protocol and by a sandbox child handing its listener back, so it allocates
 * nothing and calls only sendmsg/recvmsg: safe between clone and exec.
 */
#ifndef AIRLOCK_UNIXMSG_H
#define AIRLOCK_UNIXMSG_H

#include <stddef.h>
#include <sys/types.h>

#define UNIXMSG_FDS_MAX 8

/* Sends len bytes of buf with nfds (<= UNIXMSG_FDS_MAX) fds. Returns 0, or -errno (-EMSGSIZE
 * for a short send). MSG_NOSIGNAL: a closed peer is -EPIPE, not a signal. */
int unixmsg_send(int sock, const void *buf, size_t len, const int *fds, size_t nfds);
/* Receives one message into buf (at most len bytes) and up to max fds (CLOEXEC) into fds;
 * *ret_nfds says how many came (fds beyond max are closed). Returns the byte count (0 at EOF)
 * or -errno. */
ssize_t unixmsg_recv(int sock, void *buf, size_t len, int *fds, size_t max, size_t *ret_nfds);

#endif
