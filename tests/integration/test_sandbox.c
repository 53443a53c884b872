/*
 * Each layer of the sandbox (design.md, "The sandbox"; api.md, "Inside the sandbox") proved by
 * an attempt that must fail, run as a real job through the API: reading outside the policy,
 * writing /usr or /, seeing host processes, ptrace, mount, unshare, netlink and packet sockets,
 * direct connections, DNS, keyctl, io_uring, the daemon's token and environment, and workspace
 * symlinks or ".." served back by the files endpoint. Jobs print key=value lines; the tests
 * assert on those, one expectation per fact so a failure names it.
 *
 * The daemon here makes its own token (<state_dir>/token) and carries a marker variable in its
 * environment: neither may reach a job.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;
static char env_marker[64];
static char fs_base[PATH_MAX] = "";

static void
write_text(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

/* /var/tmp/airlock-fs-XXXXXX/{ro/ok.txt, rw/, secret.txt} and a policy "narrow" that binds
 * ro read-only and rw read-write (the parent and secret.txt stay outside the policy). */
static void
make_fs_policy(void)
{
    char path[PATH_MAX + 64], policy[4 * PATH_MAX];

    snprintf(fs_base, sizeof(fs_base), "/var/tmp/airlock-fs-XXXXXX");
    cr_assert(mkdtemp(fs_base), "mkdtemp %s", fs_base);
    chmod(fs_base, 0755);
    snprintf(path, sizeof(path), "%s/ro", fs_base);
    cr_assert(mkdir(path, 0755) == 0);
    snprintf(path, sizeof(path), "%s/rw", fs_base);
    cr_assert(mkdir(path, 0777) == 0);
    chmod(path, 0777);
    snprintf(path, sizeof(path), "%s/ro/ok.txt", fs_base);
    write_text(path, "readable\n", 0644);
    snprintf(path, sizeof(path), "%s/secret.txt", fs_base);
    write_text(path, "host-secret\n", 0644);
    snprintf(policy, sizeof(policy),
             "{\"description\": \"test: one extra read-only and one read-write directory\","
             " \"filesystem\": {\"read_only\": [\"/usr\", \"/bin\", \"/lib\", \"/lib64\","
             " \"/etc/passwd\", \"/etc/group\", \"%s/ro\"], \"read_write\": [\"%s/rw\"]}}",
             fs_base, fs_base);
    daemon_write_policy(&d, "narrow", policy);
}

static void
up(void)
{
    char path[PATH_MAX + 16], *tok;
    FILE *f;

    daemon_init(&d, NULL, true);
    make_fs_policy();
    /* No token in the config: the daemon writes <state_dir>/token. */
    f = fopen(d.config, "w");
    cr_assert(f);
    fprintf(f,
            "{\"listen\": \"127.0.0.1:%d\", \"state_dir\": \"state\", \"policy_dir\": "
            "\"policies\", \"cgroup_parent\": \"%s\"}\n",
            d.port, daemon_cgroup_parent(&d));
    fclose(f);
    make_marker(env_marker, sizeof(env_marker));
    snprintf(path, sizeof(path), "AIRLOCK_TEST_MARKER=daemon-env-%s", env_marker);
    daemon_setenv(&d, path);
    daemon_start(&d);
    snprintf(path, sizeof(path), "%s/token", d.state_dir);
    tok = read_file_str(path);
    cr_assert(tok && strlen(tok) >= 32, "no generated token in %s", path);
    tok[strcspn(tok, "\r\n")] = '\0';
    snprintf(d.token, sizeof(d.token), "%s", tok);
    free(tok);
}

static void
down(void)
{
    char cmd[PATH_MAX + 16];

    daemon_stop(&d);
    daemon_cleanup(&d);
    if (fs_base[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fs_base);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", fs_base);
    }
}

TestSuite(sandbox, .init = up, .fini = down, .timeout = 90);

/* Runs script with env (borrowed, may be NULL) and policy (NULL: default); returns stdout and
 * asserts the job ran (any exit). */
static char *
probe(const char *script, json_t *env, const char *policy, json_t **ret_job)
{
    json_t *extra = json_object();
    char *out;

    json_object_set_new(extra, "timeout_s", json_integer(30));
    if (env)
        json_object_set(extra, "env", env);
    if (policy)
        json_object_set_new(extra, "policy", json_string(policy));
    out = run_sh(&d, script, extra, ret_job);
    json_decref(extra);
    return out;
}

/* Runs python3 with the program given as the workspace file probe.py. */
static char *
probe_py(const char *program, json_t *env, json_t **ret_job)
{
    json_t *spec = json_pack("{s:[s,s],s:{s:s},s:i}", "command", "python3", "probe.py", "files",
                             "probe.py", program, "timeout_s", 30),
           *job;
    char *out;

    if (env)
        json_object_set(spec, "env", env);
    job = job_run(&d, spec);
    out = job_output(&d, jstr(job, "id"), "stdout");
    if (strcmp(jstr(job, "status"), "succeeded") != 0) {
        char *err = job_output(&d, jstr(job, "id"), "stderr");
        cr_expect_fail("the probe itself failed: %s\nstdout:\n%s\nstderr:\n%s", jdump(job), out,
                       err);
        free(err);
    }
    if (ret_job)
        *ret_job = job;
    else
        json_decref(job);
    return out;
}

static void
expect_kv(const char *out, const char *key, const char *want)
{
    char *v = kv(out, key);
    cr_expect(v && strcmp(v, want) == 0, "%s=%s, want %s", key, v ? v : "(missing)", want);
    free(v);
}

static void
expect_kv_not(const char *out, const char *key, const char *bad)
{
    char *v = kv(out, key);
    cr_expect(v && strcmp(v, bad) != 0, "%s=%s: the attempt must fail", key, v ? v : "(missing)");
    free(v);
}

/* ---- identity, environment, privileges ---- */

Test(sandbox, identity_environment_and_privileges)
{
    const char *script =
        "echo \"cwd=$(pwd)\"; echo \"home=$HOME\"; echo \"path=$PATH\"; echo \"lang=$LANG\";"
        " echo \"tmpdir=$TMPDIR\";"
        " for v in HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY; do"
        "   eval \"echo $v=\\$$v\"; done;"
        " echo \"no_proxy=${NO_PROXY-}\"; echo \"no_proxy_lc=${no_proxy-}\";"
        " echo \"uid=$(id -u)\"; echo \"gid=$(id -g)\";"
        " for k in CapInh CapPrm CapEff CapBnd CapAmb NoNewPrivs Seccomp; do"
        "   echo \"$k=$(sed -n \"s/^$k:[[:space:]]*//p\" /proc/self/status)\"; done;"
        " unshare -U true 2>/dev/null && echo unshare_user=ok || echo unshare_user=fail;"
        " unshare -Ur true 2>/dev/null && echo unshare_root=ok || echo unshare_root=fail;"
        " unshare -n true 2>/dev/null && echo unshare_net=ok || echo unshare_net=fail;"
        " mkdir -p /tmp/m; mount -t tmpfs none /tmp/m 2>/dev/null && echo mount=ok ||"
        "   echo mount=fail;"
        " echo ---env---; env; echo ---proc1-environ---;"
        " tr '\\0' '\\n' < /proc/1/environ 2>/dev/null; echo ---end---";
    json_t *job;
    char *out = probe(script, NULL, NULL, &job), *home, *path, *lang, *tmpdir;
    const char *proxies[] = {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"};

    cr_assert_str_eq(jstr(job, "status"), "succeeded", "%s\n%s", jdump(job), out);
    expect_kv(out, "cwd", "/workspace");
    home = kv(out, "home");
    path = kv(out, "path");
    lang = kv(out, "lang");
    tmpdir = kv(out, "tmpdir");
    cr_expect(home && *home, "HOME is not set");
    cr_expect(path && strstr(path, "/usr/bin"), "PATH=%s", path ? path : "(unset)");
    cr_expect(lang && *lang, "LANG is not set");
    cr_expect(tmpdir && *tmpdir, "TMPDIR is not set");
    for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
        expect_kv(out, proxies[i], "http://127.0.0.1:3128");
    expect_kv(out, "no_proxy", "");
    expect_kv(out, "no_proxy_lc", "");
    expect_kv_not(out, "uid", "0");
    expect_kv_not(out, "gid", "0");
    expect_kv(out, "CapInh", "0000000000000000");
    expect_kv(out, "CapPrm", "0000000000000000");
    expect_kv(out, "CapEff", "0000000000000000");
    expect_kv(out, "CapBnd", "0000000000000000");
    expect_kv(out, "CapAmb", "0000000000000000");
    expect_kv(out, "NoNewPrivs", "1");
    expect_kv(out, "Seccomp", "2");
    expect_kv(out, "unshare_user", "fail");
    expect_kv(out, "unshare_root", "fail");
    expect_kv(out, "unshare_net", "fail");
    expect_kv(out, "mount", "fail");
    cr_expect(!strstr(out, env_marker),
              "the daemon's environment reaches the job (AIRLOCK_TEST_MARKER):\n%s", out);
    cr_expect(!strstr(out, d.token), "the daemon's token reaches the job's environment");
    free(home);
    free(path);
    free(lang);
    free(tmpdir);
    free(out);
    json_decref(job);
}

Test(sandbox, request_env_cannot_override_the_proxy_variables)
{
    const char *body = "{\"command\": [\"sh\", \"-c\", \"echo HTTP_PROXY=$HTTP_PROXY; echo "
                       "https_proxy=$https_proxy; echo NO_PROXY=$NO_PROXY\"], \"env\": "
                       "{\"HTTP_PROXY\": \"http://evil:1\", \"https_proxy\": \"http://evil:1\", "
                       "\"NO_PROXY\": \"*\"}, \"wait\": true}";
    struct resp r = http_post(&d, "/v1/jobs", body);

    cr_assert(r.status == 200 || r.status == 400, "%ld %s", r.status, r.body);
    if (r.status == 400) {
        cr_expect(strstr(err_message(&r), "env"), "%s", r.body);
    } else {
        char *out = job_output(&d, jstr(r.json, "id"), "stdout");
        expect_kv(out, "HTTP_PROXY", "http://127.0.0.1:3128");
        expect_kv(out, "https_proxy", "http://127.0.0.1:3128");
        expect_kv(out, "NO_PROXY", "");
        free(out);
    }
    resp_free(&r);
}

/* ---- processes ---- */

Test(sandbox, only_the_jobs_own_processes_are_visible)
{
    const char *script =
        "echo \"nprocs=$(ls /proc | grep -c '^[0-9][0-9]*$')\";"
        " echo \"pid1=$(tr '\\0' ' ' < /proc/1/cmdline)\";"
        " echo \"ps_lines=$(ps -e --no-headers | wc -l)\";"
        " for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done > /tmp/c;"
        " echo \"sees_daemon=$(grep -c 'air''lockd' /tmp/c)\";"
        " echo \"sees_tests=$(grep -c 'test_''sandbox' /tmp/c)\";"
        " echo \"self_pid_small=$( [ $$ -lt 100 ] && echo yes || echo no)\"";
    json_t *job;
    char *out = probe(script, NULL, NULL, &job), *n, *ps;

    cr_assert_str_eq(jstr(job, "status"), "succeeded", "%s\n%s", jdump(job), out);
    n = kv(out, "nprocs");
    ps = kv(out, "ps_lines");
    cr_expect(n && atoi(n) >= 1 && atoi(n) <= 8, "the job sees %s processes in /proc:\n%s",
              n ? n : "(?)", out);
    cr_expect(ps && atoi(ps) <= 8, "ps -e shows %s processes", ps ? ps : "(?)");
    expect_kv(out, "sees_daemon", "0");
    expect_kv(out, "sees_tests", "0");
    expect_kv(out, "self_pid_small", "yes");
    free(n);
    free(ps);
    free(out);
    json_decref(job);
}

/* The job has a session of its own and no controlling terminal: /dev/tty is never the
 * terminal the daemon was started from. */
Test(sandbox, no_controlling_terminal)
{
    const char *script = "echo \"sid=$(cut -d' ' -f6 /proc/self/stat)\";"
                         " echo \"tty_nr=$(cut -d' ' -f7 /proc/self/stat)\";"
                         " if (exec 3<>/dev/tty) 2>/dev/null; then echo tty=open; else echo "
                         "tty=refused; fi";
    json_t *job;
    char *out = probe(script, NULL, NULL, &job);

    cr_assert_str_eq(jstr(job, "status"), "succeeded", "%s\n%s", jdump(job), out);
    expect_kv(out, "sid", "1");
    expect_kv(out, "tty_nr", "0");
    expect_kv(out, "tty", "refused");
    free(out);
    json_decref(job);
}

/* ---- the filesystem ---- */

Test(sandbox, filesystem_view_and_writes)
{
    const char *script =
        "for p in /root /home /var /work /boot /srv /opt /mnt /etc/shadow /etc/hostname"
        " /etc/resolv.conf /etc/sudoers /dev/mem /dev/kmem /dev/kmsg /dev/port"
        " /dev/sda /dev/vda /dev/nvme0 /dev/loop0 /dev/net/tun /dev/fuse"
        " \"$P_STATE\" \"$P_CONFIG\" \"$P_DIR\" \"$P_SRC\" \"$P_LOG\"; do"
        "   [ -e \"$p\" ] && echo \"exists=$p\"; done;"
        " cat /etc/shadow >/dev/null 2>&1 && echo shadow=readable || echo shadow=blocked;"
        " cat /etc/passwd >/dev/null 2>&1 && echo passwd=readable || echo passwd=blocked;"
        " for p in /usr/x /x /etc/x /bin/x /lib/x /proc/x /workspace/x /tmp/x; do"
        "   (echo hi > \"$p\") 2>/dev/null && echo \"w:$p=ok\" || echo \"w:$p=fail\"; done;"
        " mkdir /newdir 2>/dev/null && echo mkdir_root=ok || echo mkdir_root=fail;"
        " (echo x > /dev/null) 2>/dev/null && echo devnull=ok || echo devnull=fail;"
        " head -c 4 /dev/urandom | wc -c | sed 's/^/urandom=/';"
        " echo \"hosts=$(tr '\\n' '|' < /etc/hosts 2>/dev/null)\";"
        " for p in /workspace /tmp /usr /proc/self /dev/null; do"
        "   [ -e \"$p\" ] || echo \"missing=$p\"; done";
    char *out, *hosts;
    json_t *env = json_pack("{s:s,s:s,s:s,s:s,s:s}", "P_STATE", d.state_dir, "P_CONFIG", d.config,
                            "P_DIR", d.dir, "P_LOG", d.log, "P_SRC",
                            secure_getenv("AIRLOCK_SRC") ? secure_getenv("AIRLOCK_SRC") : "/x");
    json_t *job;

    out = probe(script, env, NULL, &job);
    cr_assert_str_eq(jstr(job, "status"), "succeeded", "%s\n%s", jdump(job), out);
    cr_expect(!strstr(out, "exists="), "paths outside the policy exist inside:\n%s", out);
    expect_kv(out, "shadow", "blocked");
    expect_kv(out, "passwd", "readable");
    expect_kv(out, "w:/usr/x", "fail");
    expect_kv(out, "w:/x", "fail");
    expect_kv(out, "w:/etc/x", "fail");
    expect_kv(out, "w:/bin/x", "fail");
    expect_kv(out, "w:/lib/x", "fail");
    expect_kv(out, "w:/proc/x", "fail");
    expect_kv(out, "mkdir_root", "fail");
    expect_kv(out, "w:/workspace/x", "ok");
    expect_kv(out, "w:/tmp/x", "ok");
    expect_kv(out, "devnull", "ok");
    expect_kv(out, "urandom", "4");
    cr_expect(!strstr(out, "missing="), "the sandbox lacks what it should have:\n%s", out);
    /* /etc/hosts is not in the policy: absent, or made for the sandbox, never the host's. */
    hosts = read_file_str("/etc/hosts");
    if (hosts) {
        char *inside = kv(out, "hosts");
        for (char *p = hosts; *p; p++)
            if (*p == '\n')
                *p = '|';
        cr_expect(!inside || strcmp(inside, hosts) != 0, "the host's /etc/hosts is visible: %s",
                  hosts);
        free(inside);
        free(hosts);
    }
    free(out);
    json_decref(env);
    json_decref(job);
}

Test(sandbox, policy_paths_are_bound_as_the_policy_says)
{
    const char *script =
        "echo \"ro=$(cat \"$B/ro/ok.txt\" 2>&1)\";"
        " cat \"$B/secret.txt\" >/dev/null 2>&1 && echo secret=readable || echo secret=blocked;"
        " (echo x > \"$B/ro/new\") 2>/dev/null && echo ro_write=ok || echo ro_write=fail;"
        " (echo from-job > \"$B/rw/new\") 2>/dev/null && echo rw_write=ok || echo rw_write=fail;"
        " echo \"parent=$(ls \"$B\" | tr '\\n' ' ')\";"
        " [ -e /etc/nsswitch.conf ] && echo nsswitch=exists || echo nsswitch=absent;"
        " [ -e /etc/ssl ] && echo ssl=exists || echo ssl=absent";
    json_t *env = json_pack("{s:s}", "B", fs_base), *job;
    char *out = probe(script, env, "narrow", &job), path[PATH_MAX + 16], *host, *parent;

    cr_assert_str_eq(jstr(job, "status"), "succeeded", "%s\n%s", jdump(job), out);
    expect_kv(out, "ro", "readable");
    expect_kv(out, "secret", "blocked");
    expect_kv(out, "ro_write", "fail");
    expect_kv(out, "rw_write", "ok");
    parent = kv(out, "parent");
    cr_expect(parent && !strstr(parent, "secret"), "the parent of a bound path shows: %s",
              parent ? parent : "(missing)");
    /* Paths of the default policy that "narrow" leaves out are not there. */
    expect_kv(out, "nsswitch", "absent");
    expect_kv(out, "ssl", "absent");
    snprintf(path, sizeof(path), "%s/rw/new", fs_base);
    host = read_file_str(path);
    cr_expect(host && strcmp(host, "from-job\n") == 0, "the read-write path on the host: %s",
              host ? host : "(missing)");
    free(host);
    free(parent);
    free(out);
    json_decref(env);
    json_decref(job);
}

Test(sandbox, other_jobs_and_the_daemons_files_are_unreachable)
{
    json_t *a = job_run(&d, job_sh("echo other-job-secret > secret.txt")), *env, *job;
    char ws[PATH_MAX + 128], tok[PATH_MAX + 16], db[PATH_MAX + 16], *out;
    const char *script =
        "for p in \"$A_WS/secret.txt\" \"$A_WS\" \"$TOKEN_FILE\" \"$DB\" \"$P_CONFIG\"; do"
        "   cat \"$p\" 2>/dev/null; [ -e \"$p\" ] && echo \"exists=$p\"; done;"
        " cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n';"
        " ls /workspace; ls -a /workspace/.. | tr '\\n' ' '; echo";

    snprintf(ws, sizeof(ws), "%s/jobs/%s/workspace", d.state_dir, jstr(a, "id"));
    snprintf(tok, sizeof(tok), "%s/token", d.state_dir);
    snprintf(db, sizeof(db), "%s/airlock.db", d.state_dir);
    env = json_pack("{s:s,s:s,s:s,s:s}", "A_WS", ws, "TOKEN_FILE", tok, "DB", db, "P_CONFIG",
                    d.config);
    out = probe(script, env, NULL, &job);
    cr_expect(!strstr(out, "other-job-secret"), "a job read another job's workspace:\n%s", out);
    cr_expect(!strstr(out, d.token), "a job read the daemon's token:\n%s", out);
    cr_expect(!strstr(out, env_marker), "a job read the daemon's environment:\n%s", out);
    cr_expect(!strstr(out, "exists="), "the daemon's files exist inside:\n%s", out);
    free(out);
    json_decref(env);
    json_decref(job);
    json_decref(a);
}

/* ---- the network ---- */

static const char *net_py =
    "import errno, os, socket\n"
    "def err(e):\n"
    "    return 'fail:' + (errno.errorcode.get(e.errno, str(e.errno)) if e.errno else "
    "type(e).__name__)\n"
    "def tcp(name, host, port, fam=socket.AF_INET):\n"
    "    try:\n"
    "        s = socket.socket(fam, socket.SOCK_STREAM)\n"
    "        s.settimeout(3)\n"
    "        s.connect((host, port))\n"
    "        print(name + '=connected')\n"
    "        s.close()\n"
    "    except OSError as e:\n"
    "        print(name + '=' + err(e))\n"
    "def sock(name, *args):\n"
    "    try:\n"
    "        socket.socket(*args).close()\n"
    "        print(name + '=ok')\n"
    "    except OSError as e:\n"
    "        print(name + '=' + err(e))\n"
    "fds = []\n"
    "for fd in sorted(os.listdir('/proc/self/fd'), key=int):\n"
    "    try:\n"
    "        fds.append(fd + ':' + os.readlink('/proc/self/fd/' + fd))\n"
    "    except OSError:\n"
    "        pass\n"
    "print('extra_fds=' + ' '.join(f for f in fds if f.split(':')[0] not in ('0', '1', '2')))\n"
    "try:\n"
    "    s = socket.create_connection(('127.0.0.1', 3128), timeout=5)\n"
    "    s.sendall(b'GET http://example.com/ HTTP/1.1\\r\\nHost: example.com\\r\\n"
    "Connection: close\\r\\n\\r\\n')\n"
    "    data = b''\n"
    "    while b'\\r\\n' not in data:\n"
    "        chunk = s.recv(4096)\n"
    "        if not chunk:\n"
    "            break\n"
    "        data += chunk\n"
    "    print('proxy=' + data.split(b'\\r\\n')[0].decode('latin-1'))\n"
    "except OSError as e:\n"
    "    print('proxy=' + err(e))\n"
    "api = int(os.environ['API_PORT'])\n"
    "tcp('api', '127.0.0.1', api)\n"
    "tcp('api6', '::1', api, socket.AF_INET6)\n"
    "tcp('loopback_other', '127.0.0.2', 3128)\n"
    "if os.environ.get('HOST_IP'):\n"
    "    tcp('host_ip', os.environ['HOST_IP'], api)\n"
    "    tcp('host_ip_22', os.environ['HOST_IP'], 22)\n"
    "tcp('public4', '1.1.1.1', 443)\n"
    "tcp('public6', '2606:4700:4700::1111', 443, socket.AF_INET6)\n"
    "tcp('metadata', '169.254.169.254', 80)\n"
    "try:\n"
    "    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "    u.sendto(b'x', ('1.1.1.1', 53))\n"
    "    print('udp_out=sent')\n"
    "except OSError as e:\n"
    "    print('udp_out=' + err(e))\n"
    "try:\n"
    "    socket.getaddrinfo('example.com', 80)\n"
    "    print('dns=resolved')\n"
    "except OSError as e:\n"
    "    print('dns=fail:' + type(e).__name__)\n"
    "sock('netlink_route', socket.AF_NETLINK, socket.SOCK_RAW, 0)\n"
    "sock('netlink_dgram', socket.AF_NETLINK, socket.SOCK_DGRAM, 0)\n"
    "sock('netlink_audit', socket.AF_NETLINK, socket.SOCK_RAW, 9)\n"
    "sock('packet_raw', socket.AF_PACKET, socket.SOCK_RAW, 0)\n"
    "sock('packet_dgram', socket.AF_PACKET, socket.SOCK_DGRAM, 0)\n"
    "sock('inet_raw', socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)\n"
    "sock('alg', 38, socket.SOCK_SEQPACKET, 0)\n"
    "sock('vsock', 40, socket.SOCK_STREAM, 0)\n"
    "sock('unix', socket.AF_UNIX, socket.SOCK_STREAM, 0)\n"
    "sock('inet', socket.AF_INET, socket.SOCK_STREAM, 0)\n"
    "sock('inet6', socket.AF_INET6, socket.SOCK_STREAM, 0)\n";

/* The first non-loopback IPv4 address of the host, or "" */
static void
host_ip(char *buf, size_t size)
{
    struct ifaddrs *ifa, *i;

    buf[0] = '\0';
    if (getifaddrs(&ifa) != 0)
        return;
    for (i = ifa; i; i = i->ifa_next) {
        struct sockaddr_in *sin = (struct sockaddr_in *)i->ifa_addr;
        if (!sin || sin->sin_family != AF_INET || ntohl(sin->sin_addr.s_addr) >> 24 == 127)
            continue;
        inet_ntop(AF_INET, &sin->sin_addr, buf, (socklen_t)size);
        break;
    }
    freeifaddrs(ifa);
}

Test(sandbox, the_proxy_port_is_the_only_route)
{
    char port[16], ip[64], *out, *proxy;
    const char *fails[] = {"api",           "api6",          "loopback_other",
                           "public4",       "public6",       "metadata",
                           "udp_out",       "dns",           "netlink_route",
                           "netlink_dgram", "netlink_audit", "packet_raw",
                           "packet_dgram",  "inet_raw",      "alg",
                           "vsock"};
    json_t *env;

    snprintf(port, sizeof(port), "%d", d.port);
    host_ip(ip, sizeof(ip));
    env = json_pack("{s:s,s:s}", "API_PORT", port, "HOST_IP", ip);
    out = probe_py(net_py, env, NULL);
    proxy = kv(out, "proxy");
    cr_expect(proxy && strncmp(proxy, "HTTP/1.", 7) == 0,
              "127.0.0.1:3128 gives no HTTP answer: proxy=%s", proxy ? proxy : "(missing)");
    for (size_t i = 0; i < sizeof(fails) / sizeof(fails[0]); i++) {
        char *v = kv(out, fails[i]);
        cr_expect(v && strncmp(v, "fail", 4) == 0, "%s=%s: the attempt must fail", fails[i],
                  v ? v : "(missing)");
        free(v);
    }
    if (ip[0]) {
        char *v = kv(out, "host_ip"), *v22 = kv(out, "host_ip_22");
        cr_expect(v && strncmp(v, "fail", 4) == 0, "connect to the host's %s:%s: %s", ip, port,
                  v ? v : "(missing)");
        cr_expect(v22 && strncmp(v22, "fail", 4) == 0, "connect to the host's %s:22: %s", ip,
                  v22 ? v22 : "(missing)");
        free(v);
        free(v22);
    }
    expect_kv(out, "unix", "ok");
    expect_kv(out, "inet", "ok");
    expect_kv(out, "inet6", "ok");
    expect_kv(out, "extra_fds", "");
    free(proxy);
    free(out);
    json_decref(env);
}

/* ---- system calls ---- */

static const char *sys_py =
    "import ctypes, errno, os, signal, time\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "L = ctypes.c_long\n"
    "buf = ctypes.create_string_buffer(256)\n"
    "def attempt(name, fn):\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n"
    "        try:\n"
    "            r = fn()\n"
    "        except Exception:\n"
    "            os._exit(254)\n"
    "        os._exit(0 if r >= 0 else min(ctypes.get_errno(), 250) + 1)\n"
    "    _, st = os.waitpid(pid, 0)\n"
    "    if os.WIFSIGNALED(st):\n"
    "        print(name + '=killed:%d' % os.WTERMSIG(st))\n"
    "    elif os.WEXITSTATUS(st) == 0:\n"
    "        print(name + '=allowed')\n"
    "    else:\n"
    "        e = os.WEXITSTATUS(st) - 1\n"
    "        print(name + '=errno:' + errno.errorcode.get(e, str(e)))\n"
    "def sc(nr, *a):\n"
    "    return lambda: libc.syscall(L(nr), *[a_ if isinstance(a_, (bytes, ctypes.Array)) else "
    "L(a_) for a_ in a])\n"
    "attempt('getpid', sc(39))\n"
    "attempt('ptrace_traceme', sc(101, 0, 0, 0, 0))\n"
    "def on_child(nr, *a):\n"
    "    def run():\n"
    "        v = os.fork()\n"
    "        if v == 0:\n"
    "            time.sleep(30)\n"
    "            os._exit(0)\n"
    "        time.sleep(0.05)\n"
    "        r = sc(nr, *[v if x == 'PID' else x for x in a])()\n"
    "        os.kill(v, signal.SIGKILL)\n"
    "        return r\n"
    "    return run\n"
    "iov = ctypes.create_string_buffer(16)\n"
    "attempt('ptrace_attach', on_child(101, 16, 'PID', 0, 0))\n"
    "attempt('ptrace_seize', on_child(101, 0x4206, 'PID', 0, 0))\n"
    "attempt('process_vm_readv', on_child(310, 'PID', iov, 1, iov, 1, 0))\n"
    "attempt('keyctl', sc(250, 0, -3, 1))\n"
    "attempt('add_key', sc(248, b'user', b'k', b'data', 4, -2))\n"
    "attempt('request_key', sc(249, b'user', b'k', 0, -2))\n"
    "attempt('io_uring_setup', sc(425, 4, buf))\n"
    "attempt('unshare_user', sc(272, 0x10000000))\n"
    "attempt('unshare_mount', sc(272, 0x00020000))\n"
    "attempt('unshare_net', sc(272, 0x40000000))\n"
    "attempt('clone_newuser', sc(56, 0x10000000 | 17, 0, 0, 0, 0))\n"
    "cl = ctypes.create_string_buffer(88)\n"
    "ctypes.memmove(cl, (0x10000000).to_bytes(8, 'little'), 8)\n"
    "ctypes.memmove(ctypes.addressof(cl) + 32, (17).to_bytes(8, 'little'), 8)\n"
    "attempt('clone3_newuser', sc(435, cl, 88))\n"
    "fd = os.open('/proc/self/ns/user', os.O_RDONLY)\n"
    "attempt('setns', sc(308, fd, 0))\n"
    "os.close(fd)\n"
    "os.makedirs('/tmp/mnt', exist_ok=True)\n"
    "attempt('mount', sc(165, b'none', b'/tmp/mnt', b'tmpfs', 0, 0))\n"
    "attempt('umount', sc(166, b'/workspace', 2))\n"
    "attempt('pivot_root', sc(155, b'/tmp', b'/tmp/mnt'))\n"
    "attempt('chroot', sc(161, b'/tmp'))\n"
    "ctypes.memmove(buf, (2).to_bytes(4, 'little') + (4).to_bytes(4, 'little') + "
    "(4).to_bytes(4, 'little') + (1).to_bytes(4, 'little'), 16)\n"
    "attempt('bpf', sc(321, 0, buf, 72))\n"
    "ctypes.memset(buf, 0, 256)\n"
    "attempt('perf_event_open', sc(298, buf, 0, -1, -1, 0))\n"
    "attempt('userfaultfd', sc(323, 0))\n"
    "attempt('kexec_load', sc(246, 0, 0, 0, 0))\n"
    "attempt('init_module', sc(175, buf, 16, b''))\n"
    "attempt('finit_module', sc(313, 0, b'', 0))\n"
    "attempt('delete_module', sc(176, b'x', 0))\n"
    "attempt('open_by_handle_at', sc(304, -100, buf, 0))\n"
    "attempt('setuid0', sc(105, 0))\n";

Test(sandbox, dangerous_system_calls_are_refused)
{
    const char *refused[] = {"ptrace_traceme",
                             "ptrace_attach",
                             "ptrace_seize",
                             "process_vm_readv",
                             "keyctl",
                             "add_key",
                             "request_key",
                             "io_uring_setup",
                             "unshare_user",
                             "unshare_mount",
                             "unshare_net",
                             "clone_newuser",
                             "clone3_newuser",
                             "setns",
                             "mount",
                             "umount",
                             "pivot_root",
                             "chroot",
                             "bpf",
                             "perf_event_open",
                             "userfaultfd",
                             "kexec_load",
                             "init_module",
                             "finit_module",
                             "delete_module",
                             "open_by_handle_at",
                             "setuid0"};
    char *out = probe_py(sys_py, NULL, NULL);

    expect_kv(out, "getpid", "allowed");
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        char *v = kv(out, refused[i]);
        cr_expect(v && strcmp(v, "allowed") != 0, "%s=%s: must be refused", refused[i],
                  v ? v : "(missing)");
        free(v);
    }
    free(out);
}

/* The sandbox init (pid 1) must not hold a way out: its root and cwd are the sandbox's, and no
 * descriptor it holds names a host directory. */
static const char *init_py =
    "import os\n"
    "def ls(p):\n"
    "    try:\n"
    "        return ' '.join(sorted(os.listdir(p)))\n"
    "    except OSError as e:\n"
    "        return 'error:%d' % e.errno\n"
    "print('root_self=' + ls('/'))\n"
    "print('root_init=' + ls('/proc/1/root/'))\n"
    "print('cwd_init=' + ls('/proc/1/cwd/'))\n"
    "links = []\n"
    "try:\n"
    "    for fd in os.listdir('/proc/1/fd'):\n"
    "        try:\n"
    "            t = os.readlink('/proc/1/fd/' + fd)\n"
    "        except OSError:\n"
    "            continue\n"
    "        links.append(t)\n"
    "        if t.startswith('/'):\n"
    "            print('init_fd_dir_%s=%s' % (fd, ls('/proc/1/fd/%s/' % fd)))\n"
    "except OSError as e:\n"
    "    links.append('error:%d' % e.errno)\n"
    "print('init_fds=' + ' '.join(links))\n";

Test(sandbox, the_sandbox_init_holds_no_way_out)
{
    char *out = probe_py(init_py, NULL, NULL), *self, *init, *cwd, *fds;

    self = kv(out, "root_self");
    init = kv(out, "root_init");
    cwd = kv(out, "cwd_init");
    fds = kv(out, "init_fds");
    cr_expect(init && (strncmp(init, "error:", 6) == 0 || (self && strcmp(init, self) == 0)),
              "/proc/1/root is not the sandbox's root: %s (sandbox: %s)", init ? init : "?",
              self ? self : "?");
    cr_expect(cwd && (strncmp(cwd, "error:", 6) == 0 || !strstr(cwd, "airlock-test")),
              "/proc/1/cwd: %s", cwd ? cwd : "?");
    cr_expect(fds && !strstr(fds, d.dir), "the sandbox init holds host paths: %s", fds);
    for (const char *p = strstr(out, "init_fd_dir_"); p; p = strstr(p + 1, "init_fd_dir_")) {
        const char *v = strchr(p, '=');
        cr_expect(v && strncmp(v + 1, "error:", 6) == 0,
                  "a directory descriptor of the sandbox init can be listed:\n%s", out);
    }
    free(self);
    free(init);
    free(cwd);
    free(fds);
    free(out);
}

/* The init reports the command's wait status to the daemon: a job writing into whatever
 * descriptors of the init it can open must not change how it is reported to have ended. */
Test(sandbox, a_job_cannot_forge_its_exit_status)
{
    const char *script =
        "for f in /proc/1/fd/*; do"
        "   printf '\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0' > \"$f\" 2>/dev/null &&"
        "   echo \"wrote=$f\"; done; exit 7";
    json_t *job;
    char *out = probe(script, NULL, NULL, &job);

    cr_expect_str_eq(jstr(job, "status"), "failed", "the job exited 7: %s\nits output:\n%s",
                     jdump(job), out);
    cr_expect_eq(jint(job, "exit_code"), 7, "%s\n%s", jdump(job), out);
    free(out);
    json_decref(job);
}

/* ---- the files endpoint and a hostile workspace ---- */

static void
expect_file_ok(const char *id)
{
    char path[256];
    struct resp r;

    snprintf(path, sizeof(path), "/v1/jobs/%s/files/real.txt", id);
    r = http_get(&d, path);
    cr_expect_eq(r.status, 200, "GET %s: %ld %s", path, r.status, r.body);
    cr_expect_str_eq(r.body, "ok\n", "GET %s", path);
    resp_free(&r);
}

static void
expect_refused(const char *id, const char *rel, const char *leak)
{
    char path[1024];
    struct timeval t0, t1;
    struct resp r;
    long ms;

    snprintf(path, sizeof(path), "/v1/jobs/%s/files/%s", id, rel);
    gettimeofday(&t0, NULL);
    r = http_get(&d, path);
    gettimeofday(&t1, NULL);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
    cr_expect(r.status == 400 || r.status == 403 || r.status == 404,
              "GET %s: %ld (want 400/403/404) after %ld ms: %.200s", path, r.status, ms, r.body);
    cr_expect(!leak || !strstr(r.body, leak), "GET %s served \"%s\": %.300s", path, leak, r.body);
    cr_expect(ms < 5000, "GET %s took %ld ms", path, ms);
    resp_free(&r);
}

Test(sandbox, workspace_symlinks_and_dotdot_never_leave_the_workspace)
{
    json_t *other = job_run(&d, job_sh("echo other-workspace-secret > secret.txt")), *env, *job;
    char tok[PATH_MAX + 16], rel[512], *out, *hard;
    const char *id;
    const char *script =
        "echo JOB-STDOUT-MARK; ln -s /etc/passwd link; ln -s / rootlink; ln -s .. up;"
        " mkdir d && ln -s /etc/passwd d/inner; ln -s \"$TOKEN_FILE\" tokenlink;"
        " ln -s \"$STATE\" statelink; ln -s \"$OTHER_WS/secret.txt\" otherlink;"
        " ln -s link chain; ln /etc/passwd hard 2>/dev/null; echo \"hard_rc=$?\";"
        " mkfifo fifo; echo ok > real.txt";

    snprintf(tok, sizeof(tok), "%s/token", d.state_dir);
    snprintf(rel, sizeof(rel), "%s/jobs/%s/workspace", d.state_dir, jstr(other, "id"));
    env = json_pack("{s:s,s:s,s:s}", "TOKEN_FILE", tok, "STATE", d.state_dir, "OTHER_WS", rel);
    out = probe(script, env, NULL, &job);
    id = jstr(job, "id");
    cr_assert_str_eq(jstr(job, "status"), "succeeded", "%s\n%s", jdump(job), out);
    hard = kv(out, "hard_rc");
    cr_expect(hard && strcmp(hard, "0") != 0, "a hard link to /etc/passwd was made in the "
                                              "workspace");
    free(hard);
    expect_file_ok(id);
    expect_refused(id, "link", "root:");
    expect_refused(id, "chain", "root:");
    expect_refused(id, "rootlink/etc/passwd", "root:");
    expect_refused(id, "d/inner", "root:");
    expect_refused(id, "tokenlink", d.token);
    expect_refused(id, "statelink/token", d.token);
    expect_refused(id, "otherlink", "other-workspace-secret");
    expect_refused(id, "up/stdout", "JOB-STDOUT-MARK");
    expect_refused(id, "fifo", NULL);
    /* ".." in every spelling: the job's own directory holds its stdout, its parent the others. */
    expect_refused(id, "../stdout", "JOB-STDOUT-MARK");
    expect_refused(id, "%2e%2e/stdout", "JOB-STDOUT-MARK");
    expect_refused(id, "%2E%2E%2Fstdout", "JOB-STDOUT-MARK");
    expect_refused(id, "..%2fstdout", "JOB-STDOUT-MARK");
    expect_refused(id, "d/../../stdout", "JOB-STDOUT-MARK");
    snprintf(rel, sizeof(rel), "../../%s/workspace/secret.txt", jstr(other, "id"));
    expect_refused(id, rel, "other-workspace-secret");
    snprintf(rel, sizeof(rel), "%%2e%%2e/%%2e%%2e/%s/workspace/secret.txt", jstr(other, "id"));
    expect_refused(id, rel, "other-workspace-secret");
    expect_refused(id, "../../../token", d.token);
    expect_refused(id, "/etc/passwd", "root:");
    expect_refused(id, "%2fetc%2fpasswd", "root:");
    expect_refused(id, "hard", "root:");
    free(out);
    json_decref(env);
    json_decref(job);
    json_decref(other);
}
