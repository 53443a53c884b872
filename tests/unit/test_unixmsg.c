/*
 * unixmsg: a message and its fds over a socketpair, and the edges: no fds, more fds than the
 * receiver takes (the rest are closed, never leaked), EOF, a closed peer.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unixmsg.h"

static int sv[2];

static void
up(void)
{
    cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

static void
down(void)
{
    close(sv[0]);
    close(sv[1]);
}

TestSuite(unixmsg, .init = up, .fini = down, .timeout = 10);

Test(unixmsg, message_without_fds)
{
    char buf[16] = {0};
    size_t n = 99;

    cr_assert_eq(unixmsg_send(sv[0], "hello", 5, NULL, 0), 0);
    cr_assert_eq(unixmsg_recv(sv[1], buf, sizeof(buf), NULL, 0, &n), 5);
    cr_assert_eq(n, 0);
    cr_assert_str_eq(buf, "hello");
}

Test(unixmsg, fds_arrive_cloexec_and_work)
{
    int p[2], got[2] = {-1, -1};
    size_t n = 0;
    char c = 0, buf[4];

    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(unixmsg_send(sv[0], "x", 1, p, 2), 0);
    cr_assert_eq(unixmsg_recv(sv[1], &c, 1, got, 2, &n), 1);
    cr_assert_eq(n, 2);
    cr_assert(fcntl(got[0], F_GETFD) & FD_CLOEXEC);
    cr_assert_eq(write(got[1], "ok", 2), 2);
    cr_assert_eq(read(p[0], buf, 2), 2);
    cr_assert_eq(memcmp(buf, "ok", 2), 0);
    for (int i = 0; i < 2; i++) {
        close(p[i]);
        close(got[i]);
    }
}

Test(unixmsg, extra_fds_are_closed_not_leaked)
{
    int p[2], got = -1;
    size_t n = 0;
    char c = 0;

    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(unixmsg_send(sv[0], "x", 1, p, 2), 0);
    cr_assert_eq(unixmsg_recv(sv[1], &c, 1, &got, 1, &n), 1);
    cr_assert_eq(n, 1);
    close(got);
    /* Both received copies are closed: the write end left is p[1] alone. */
    close(p[1]);
    cr_assert_eq(read(p[0], &c, 1), 0, "a copy of the write end was leaked");
    close(p[0]);
}

Test(unixmsg, too_many_fds_refused)
{
    int fds[UNIXMSG_FDS_MAX + 1] = {0};

    cr_assert_eq(unixmsg_send(sv[0], "x", 1, fds, UNIXMSG_FDS_MAX + 1), -EINVAL);
}

Test(unixmsg, eof_and_closed_peer)
{
    char c;
    size_t n = 0;

    close(sv[0]);
    cr_assert_eq(unixmsg_recv(sv[1], &c, 1, NULL, 0, &n), 0);
    cr_assert_eq(unixmsg_send(sv[1], "x", 1, NULL, 0), -EPIPE);
    sv[0] = open("/dev/null", O_RDONLY);
}
