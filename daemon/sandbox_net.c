/*
 * sandbox_net: the job's only route out. In the job's fresh network namespace there is only
 * `lo`, down. It is brought up with an ioctl (no netlink needed), and a TCP listener is bound on
 * 127.0.0.1:3128 inside the namespace. The listener is handed to the daemon and closed here, so
 * the job can neither accept on it nor bind the port itself.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "sandbox_internal.h"

static int
lo_up(struct sandbox_fail *f)
{
    struct ifreq ifr = {0};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int r = 0;

    if (fd < 0)
        return sandbox_fail(f, SANDBOX_STEP_NET, errno, "socket");
    memcpy(ifr.ifr_name, "lo", 3);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        r = sandbox_fail(f, SANDBOX_STEP_NET, errno, "lo: SIOCGIFFLAGS");
    ifr.ifr_flags = (short)(ifr.ifr_flags | IFF_UP);
    if (r == 0 && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        r = sandbox_fail(f, SANDBOX_STEP_NET, errno, "lo: SIOCSIFFLAGS");
    close(fd);
    return r;
}

int
sandbox_net_setup(uint16_t port, struct sandbox_fail *f)
{
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    int fd, r;

    if ((r = lo_up(f)) < 0)
        return r;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sandbox_fail(f, SANDBOX_STEP_LISTENER, errno, "socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0) {
        r = sandbox_fail(f, SANDBOX_STEP_LISTENER, errno, "127.0.0.1:3128");
        close(fd);
        return r;
    }
    return fd;
}
