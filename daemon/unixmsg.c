/*
 * unixmsg: see unixmsg.h.
 */
#include "unixmsg.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

union unixmsg_cmsg {
    char buf[CMSG_SPACE(sizeof(int) * UNIXMSG_FDS_MAX)];
    struct cmsghdr align;
};

int
unixmsg_send(int sock, const void *buf, size_t len, const int *fds, size_t nfds)
{
    struct iovec iov = {.iov_base = (void *)(uintptr_t)buf, .iov_len = len};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    union unixmsg_cmsg u;
    ssize_t n;

    if (nfds > UNIXMSG_FDS_MAX)
        return -EINVAL;
    if (nfds) {
        struct cmsghdr *c;
        memset(&u, 0, sizeof(u));
        m.msg_control = u.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    do
        n = sendmsg(sock, &m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EMSGSIZE;
}

ssize_t
unixmsg_recv(int sock, void *buf, size_t len, int *fds, size_t max, size_t *ret_nfds)
{
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    union unixmsg_cmsg u;
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    size_t got = 0;
    ssize_t n;

    do
        n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (got < max)
                fds[got++] = fd;
            else
                close(fd);
        }
    }
    if (ret_nfds)
        *ret_nfds = got;
    else
        for (size_t i = 0; i < got; i++)
            close(fds[i]);
    return n;
}
