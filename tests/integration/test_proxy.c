/*
 * The egress proxy as a job sees it (design.md "The proxy", docs/policies.md, api.md egress),
 * proved end to end: real jobs in real sandboxes send requests through 127.0.0.1:3128 (curl,
 * python3's urllib, and raw sockets for exact bytes) to loopback servers this suite starts
 * (upstream.py: an HTTP/1.1 upstream, the same over TLS, and a "sink" that nothing may reach).
 *
 * Allowed traffic arrives intact and as the contract says: bodies both ways (sha256 and length
 * checked, Content-Length and chunked, 200 MB down with the daemon's memory flat), keep-alive
 * with each request decided on its own, hop-by-hop headers dropped and Host rebuilt, the
 * normalised path and raw query sent upstream, redirects and gzip passed through untouched,
 * CONNECT tunnels whose TLS names the CONNECT host. Everything refused is refused before any
 * byte reaches a listener (the sink's and the upstream's logs stay empty): ports, methods,
 * paths, deny rules, private addresses by name, the daemon's own API port however it is
 * spelled, numeric-looking hosts, IPv4-mapped addresses, userinfo, look-alike names, https in
 * absolute form, malformed heads, a wrong or missing SNI, ECH, non-TLS or malformed bytes in a
 * tunnel, a policy without network. Each refusal has its status, X-Airlock-Deny reason, JSON
 * body and a deny egress event. The audit itself: the job's egress counters match its events,
 * the events come oldest first and are all there when the job ends. The proxy's timeouts
 * (upstream, request head, keep-alive idle) end what they should.
 *
 * Every test starts its own daemon and servers in its own directories; everything binds to
 * loopback only and every wait is bounded. Only the /etc/hosts test needs root (it skips
 * otherwise and always removes its line).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* upstream.py, built into the binary as a fallback: `make test-unprivileged` runs a copy of this
 * binary with AIRLOCK_SRC pointing at a directory that holds no tests/ (only policies/). The
 * checkout's file wins when it is there, so an edit to it needs no rebuild. */
__asm__(".pushsection .rodata\n"
        "airlock_upstream_py:\n"
        ".incbin \"tests/integration/upstream.py\"\n"
        ".byte 0\n"
        ".popsection\n");
extern const char airlock_upstream_py[];

#define BIG_BYTES (200LL * 1024 * 1024)
#define RSS_SLACK_KB (64LL * 1024)

struct upstream {
    pid_t pid;
    int port;
    char log[PATH_MAX + 32];      /* one line per HTTP request: "METHOD RAW-PATH HOST" */
    char conn_log[PATH_MAX + 32]; /* "accept PEER", then "data PEER" or "close PEER bytes=N" */
    char sni_log[PATH_MAX + 32];  /* TLS: one line per ClientHello, its SNI or "<none>" */
};

static struct daemon d;
static char tmp[PATH_MAX];         /* this test's own directory for servers, certs, logs */
static char script[PATH_MAX + 32]; /* upstream.py */
static struct upstream up, sink, tls;
static int dead_port;        /* a loopback port nothing listens on */
static char hosts_name[128]; /* the name added to /etc/hosts, while it is there */

static const char py_prelude[] =
    "import hashlib, json, os, socket, ssl, struct, sys, time\n"
    "PROXY = ('127.0.0.1', 3128)\n"
    "U, S, T, A, X = (int(os.environ.get(k) or 0) for k in 'USTAX')\n"
    "B = '127.0.0.1:%d' % U\n"
    "\n"
    "\n"
    "def recv_more(s, buf):\n"
    "    c = s.recv(65536)\n"
    "    if not c:\n"
    "        raise EOFError('the connection closed mid-response')\n"
    "    return buf + c\n"
    "\n"
    "\n"
    "def read_response(s, buf=b'', connect=False):\n"
    "    \"\"\"One response from s: (dict, bytes after it), or (None, buf) when s closed "
    "first.\"\"\"\n"
    "    try:\n"
    "        while b'\\r\\n\\r\\n' not in buf:\n"
    "            buf = recv_more(s, buf)\n"
    "    except (EOFError, OSError):\n"
    "        return None, buf\n"
    "    head, _, rest = buf.partition(b'\\r\\n\\r\\n')\n"
    "    lines = head.decode('latin-1').split('\\r\\n')\n"
    "    status = int(lines[0].split(' ')[1])\n"
    "    hdrs = {}\n"
    "    for line in lines[1:]:\n"
    "        k, _, v = line.partition(':')\n"
    "        hdrs.setdefault(k.strip().lower(), []).append(v.strip())\n"
    "    if 100 <= status < 200:\n"
    "        return read_response(s, rest, connect)\n"
    "    r = {'status': status, 'headers': hdrs, 'body': b''}\n"
    "    te = (hdrs.get('transfer-encoding') or [''])[0].lower()\n"
    "    cl = hdrs.get('content-length')\n"
    "    if status in (204, 304) or (connect and status // 100 == 2):\n"
    "        return r, rest\n"
    "    if te == 'chunked':\n"
    "        while True:\n"
    "            while b'\\r\\n' not in rest:\n"
    "                rest = recv_more(s, rest)\n"
    "            line, _, rest = rest.partition(b'\\r\\n')\n"
    "            n = int(line.split(b';')[0], 16)\n"
    "            while len(rest) < n + 2:\n"
    "                rest = recv_more(s, rest)\n"
    "            r['body'] += rest[:n]\n"
    "            rest = rest[n + 2:]\n"
    "            if n == 0:\n"
    "                return r, rest\n"
    "    if cl:\n"
    "        n = int(cl[0])\n"
    "        while len(rest) < n:\n"
    "            rest = recv_more(s, rest)\n"
    "        r['body'] = rest[:n]\n"
    "        return r, rest[n:]\n"
    "    while True:\n"
    "        c = s.recv(65536)\n"
    "        if not c:\n"
    "            r['body'] = rest\n"
    "            return r, b''\n"
    "        rest += c\n"
    "\n"
    "\n"
    "def closed(s, wait=2.0):\n"
    "    \"\"\"What s does next: 'eof', 'reset', 'data' or 'open' (nothing within wait "
    "seconds).\"\"\"\n"
    "    s.settimeout(wait)\n"
    "    try:\n"
    "        return 'eof' if not s.recv(1) else 'data'\n"
    "    except socket.timeout:\n"
    "        return 'open'\n"
    "    except OSError:\n"
    "        return 'reset'\n"
    "\n"
    "\n"
    "def hdr(r, name):\n"
    "    v = r['headers'].get(name)\n"
    "    return v[0] if v else None\n"
    "\n"
    "\n"
    "def summary(r):\n"
    "    try:\n"
    "        body = json.loads(r['body'])\n"
    "    except ValueError:\n"
    "        body = None\n"
    "    err = body.get('error') if isinstance(body, dict) else None\n"
    "    err = err if isinstance(err, dict) else {}\n"
    "    return {'status': r['status'], 'deny': hdr(r, 'x-airlock-deny'),\n"
    "            'ctype': hdr(r, 'content-type'), 'connection': hdr(r, 'connection'),\n"
    "            'location': hdr(r, 'location'), 'code': err.get('code'),\n"
    "            'reason': err.get('reason'), 'rule': err.get('rule', 'absent'),\n"
    "            'policy': err.get('policy'), 'message': err.get('message'), 'json': body,\n"
    "            'body': r['body'][:300].decode('latin-1')}\n"
    "\n"
    "\n"
    "def report(name, d):\n"
    "    print(name + '=' + json.dumps(d), flush=True)\n"
    "\n"
    "\n"
    "def req(method, target, host=None, headers='', body=b''):\n"
    "    \"\"\"A request head (and body) in absolute form; Host from the target unless "
    "given.\"\"\"\n"
    "    if host is None:\n"
    "        host = target.split('/')[2] if '://' in target else target\n"
    "    head = '%s %s HTTP/1.1\\r\\nHost: %s\\r\\n%s' % (method, target, host, headers)\n"
    "    if body:\n"
    "        head += 'Content-Length: %d\\r\\n' % len(body)\n"
    "    return (head + '\\r\\n').encode('latin-1') + body\n"
    "\n"
    "\n"
    "def raw(name, data):\n"
    "    \"\"\"Sends data on a new connection to the proxy and reports the response and whether "
    "the\n"
    "    proxy closed the connection after it.\"\"\"\n"
    "    s = socket.create_connection(PROXY, timeout=20)\n"
    "    try:\n"
    "        s.sendall(data)\n"
    "        r, _ = read_response(s)\n"
    "        d = summary(r) if r else {'status': None, 'error': 'closed without a response'}\n"
    "        d['closed'] = closed(s)\n"
    "    except OSError as e:\n"
    "        d = {'status': None, 'error': repr(e)}\n"
    "    s.close()\n"
    "    report(name, d)\n"
    "    return d\n"
    "\n"
    "\n"
    "def client_hello(sni, extra_ext=b''):\n"
    "    \"\"\"The first TLS record a client sends for sni (None: no SNI), with extra_ext appended "
    "to\n"
    "    its extensions (lengths fixed up) when given.\"\"\"\n"
    "    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n"
    "    ctx.check_hostname = False\n"
    "    ctx.verify_mode = ssl.CERT_NONE\n"
    "    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()\n"
    "    obj = ctx.wrap_bio(inc, out, server_hostname=sni)\n"
    "    try:\n"
    "        obj.do_handshake()\n"
    "    except ssl.SSLWantReadError:\n"
    "        pass\n"
    "    rec = out.read()\n"
    "    if not extra_ext:\n"
    "        return rec\n"
    "    body = rec[9:]\n"
    "    p = 2 + 32\n"
    "    p += 1 + body[p]\n"
    "    p += 2 + struct.unpack('>H', body[p:p + 2])[0]\n"
    "    p += 1 + body[p]\n"
    "    n = struct.unpack('>H', body[p:p + 2])[0]\n"
    "    body = body[:p] + struct.pack('>H', n + len(extra_ext)) + body[p + 2:] + extra_ext\n"
    "    hs = b'\\x01' + struct.pack('>I', len(body))[1:] + body\n"
    "    return rec[:3] + struct.pack('>H', len(hs)) + hs\n"
    "\n"
    "\n"
    "def tunnel(name, host, port, sni=None, payload=None, split=0):\n"
    "    \"\"\"CONNECT host:port; then a TLS handshake naming sni (None: no SNI) and GET /hello "
    "inside,\n"
    "    or, with payload, those bytes instead (the first split bytes, a pause, the rest). "
    "Reports\n"
    "    what happened: with payload, 'after' is 'data' (the upstream answered), 'eof' or 'reset'\n"
    "    (the tunnel was closed), or 'open'.\"\"\"\n"
    "    s = socket.create_connection(PROXY, timeout=20)\n"
    "    hp = '%s:%d' % (host, port)\n"
    "    try:\n"
    "        s.sendall(('CONNECT %s HTTP/1.1\\r\\nHost: %s\\r\\n\\r\\n' % (hp, hp)).encode())\n"
    "        r, rest = read_response(s, connect=True)\n"
    "        if r is None:\n"
    "            report(name, {'status': None, 'error': 'closed without a response'})\n"
    "            return\n"
    "        d = summary(r)\n"
    "        if r['status'] != 200:\n"
    "            d['closed'] = closed(s)\n"
    "        elif payload is not None:\n"
    "            if split:\n"
    "                s.sendall(payload[:split])\n"
    "                time.sleep(0.3)\n"
    "            s.sendall(payload[split:])\n"
    "            s.settimeout(5)\n"
    "            try:\n"
    "                got = rest or s.recv(65536)\n"
    "                d['after'] = 'data' if got else 'eof'\n"
    "            except socket.timeout:\n"
    "                got, d['after'] = b'', 'open'\n"
    "            except OSError:\n"
    "                got, d['after'] = b'', 'reset'\n"
    "            d['got'] = got[:16].hex()\n"
    "        else:\n"
    "            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n"
    "            ctx.check_hostname = False\n"
    "            ctx.verify_mode = ssl.CERT_NONE\n"
    "            try:\n"
    "                t = ctx.wrap_socket(s, server_hostname=sni)\n"
    "                t.sendall(b'GET /hello HTTP/1.1\\r\\nHost: %s\\r\\nConnection: "
    "close\\r\\n\\r\\n'\n"
    "                          % hp.encode())\n"
    "                r2, _ = read_response(t)\n"
    "                d['tls'] = 'ok'\n"
    "                d['inner'] = r2['status'] if r2 else None\n"
    "                d['inner_body'] = r2['body'].decode('latin-1') if r2 else None\n"
    "            except (ssl.SSLError, OSError) as e:\n"
    "                d['tls'] = 'error'\n"
    "                d['tls_error'] = repr(e)\n"
    "    except OSError as e:\n"
    "        d = {'status': None, 'error': repr(e)}\n"
    "    s.close()\n"
    "    report(name, d)\n";

static const char apiport_py[] =
    "for name, h in [('ip', '127.0.0.1'), ('name', 'localhost'), ('ip6', '[::1]'), ('lo2', "
    "'127.0.0.2'),\n"
    "                ('zero', '0.0.0.0'), ('mapped', '[::ffff:127.0.0.1]')]:\n"
    "    raw(name, req('GET', 'http://%s:%d/healthz' % (h, A)))\n"
    "for name, h in [('connect', '127.0.0.1'), ('connect_mapped', '[::ffff:127.0.0.1]')]:\n"
    "    raw(name, ('CONNECT %s:%d HTTP/1.1\\r\\nHost: %s:%d\\r\\n\\r\\n' % (h, A, h, "
    "A)).encode())\n";

static const char bodies_py[] =
    "import urllib.request\n"
    "data = bytes(range(256)) * 400\n"
    "rq = urllib.request.Request('http://%s/echo/py' % B, data=data, method='PUT')\n"
    "r = urllib.request.urlopen(rq, timeout=20)\n"
    "print('put=' + r.read().decode())\n"
    "print('putsha=' + hashlib.sha256(data).hexdigest())\n";

static const char bodies_sh[] =
    "B=127.0.0.1:$U\n"
    "printf 'get='; curl -sS --max-time 20 \"http://$B/hello\"\n"
    "head -c 1048577 /dev/urandom > f\n"
    "echo \"sha=$(sha256sum f | cut -d' ' -f1)\"\n"
    "printf 'post='; curl -sS --max-time 30 -H 'Content-Type: application/octet-stream' "
    "--data-binary @f \"http://$B/echo/bin?x=1\"; echo\n"
    "echo \"formsha=$(printf 'a=1&b=2' | sha256sum | cut -d' ' -f1)\"\n"
    "printf 'form='; curl -sS --max-time 20 -d 'a=1&b=2' \"http://$B/echo/form\"; echo\n"
    "python3 p.py\n";

static const char chunked_down_sh[] =
    "printf 'chunked='; curl -sS --max-time 60 "
    "\"http://127.0.0.1:$U/big?bytes=20971521&chunked=1\" | sha256sum | cut -d' ' -f1\n"
    "printf 'odd='; curl -sS --max-time 60 \"http://127.0.0.1:$U/big?bytes=1234567\" | sha256sum | "
    "cut -d' ' -f1\n"
    "printf 'head='; curl -sS --max-time 20 -I \"http://127.0.0.1:$U/big?bytes=1234567\" | tr -d "
    "'\\r' | grep -i '^content-length'\n";

static const char chunked_up_py[] =
    "body = b'5;ext=1\\r\\nhello\\r\\n6\\r\\n world\\r\\n0\\r\\nX-Trailer: t\\r\\n\\r\\n'\n"
    "raw('raw', req('POST', 'http://%s/echo/raw' % B, headers='Transfer-Encoding: chunked\\r\\n') "
    "+ body)\n"
    "raw('bad_chunk', req('POST', 'http://%s/echo/badchunk' % B,\n"
    "                     headers='Transfer-Encoding: chunked\\r\\n') + "
    "b'zz\\r\\nhello\\r\\n0\\r\\n\\r\\n')\n";

static const char chunked_up_sh[] =
    "head -c 3000001 /dev/urandom > f\n"
    "echo \"sha=$(sha256sum f | cut -d' ' -f1)\"\n"
    "printf 'echo='; curl -sS --max-time 30 -H 'Transfer-Encoding: chunked' --data-binary @f "
    "\"http://127.0.0.1:$U/echo/up\"; echo\n"
    "python3 p.py\n";

static const char dead_py[] = "raw('dead', req('GET', 'http://127.0.0.1:%d/' % X))\n";

static const char getonly_py[] =
    "raw('connect', ('CONNECT %s HTTP/1.1\\r\\nHost: %s\\r\\n\\r\\n' % (B, B)).encode())\n"
    "raw('post', req('POST', 'http://%s/echo' % B, body=b'abc'))\n";

static const char gzip_sh[] =
    "curl -sS --max-time 10 -H 'Accept-Encoding: gzip' -D h -o b \"http://127.0.0.1:$U/gzip\"\n"
    "echo \"sha=$(sha256sum b | cut -d' ' -f1)\"\n"
    "echo \"len=$(wc -c < b)\"\n"
    "echo \"ce=$(tr -d '\\r' < h | sed -n 's/^[Cc]ontent-[Ee]ncoding: *//p')\"\n";

static const char hop_py[] =
    "hop = ('Connection: keep-alive, X-Drop-Me\\r\\nKeep-Alive: timeout=5\\r\\n'\n"
    "       'Proxy-Connection: keep-alive\\r\\nProxy-Authorization: Basic dXNlcjpwYXNz\\r\\n'\n"
    "       'TE: trailers\\r\\nTrailer: X-Trailing\\r\\nUpgrade: websocket\\r\\nX-Drop-Me: "
    "1\\r\\n'\n"
    "       'X-Keep-Me: kept value\\r\\nUser-Agent: airlock-test/1\\r\\nAccept: "
    "text/x-test\\r\\n')\n"
    "raw('hop', req('GET', 'http://%s/echo/hop' % B, host='ignored.example:1', headers=hop))\n";

static const char hosts_ok_py[] =
    "raw('byname', req('GET', 'http://%s:%d/hello' % (os.environ['NAME'], U)))\n";

static const char hosts_py[] = "N = os.environ['NAME']\n"
                               "raw('byname', req('GET', 'http://%s:%d/hello' % (N, U)))\n"
                               "raw('connect', ('CONNECT %s:%d HTTP/1.1\\r\\nHost: "
                               "%s:%d\\r\\n\\r\\n' % (N, U, N, U)).encode())\n";

static const char keepalive_py[] =
    "s = socket.create_connection(PROXY, timeout=20)\n"
    "buf = b''\n"
    "\n"
    "\n"
    "def step(name, data):\n"
    "    global buf\n"
    "    try:\n"
    "        s.sendall(data)\n"
    "        r, buf = read_response(s, buf)\n"
    "        report(name, summary(r) if r else {'status': None, 'error': 'closed without a "
    "response'})\n"
    "    except OSError as e:\n"
    "        report(name, {'status': None, 'error': repr(e)})\n"
    "\n"
    "\n"
    "step('ka1', req('GET', 'http://%s/hello' % B))\n"
    "step('ka2', req('POST', 'http://%s/echo/ka' % B, body=b'abc'))\n"
    "step('ka3', req('GET', 'http://%s/hello' % B))\n"
    "step('ka4', req('GET', 'http://%s/other' % B))\n"
    "report('ka_end', {'closed': closed(s)})\n"
    "raw('deny_rule', req('GET', 'http://%s/echo/secret/x' % B))\n"
    "raw('method', req('DELETE', 'http://%s/hello' % B))\n"
    "raw('connect', ('CONNECT %s HTTP/1.1\\r\\nHost: %s\\r\\n\\r\\n' % (B, B)).encode())\n";

static const char lookalike_py[] =
    "for name, h in [('dash', 'evil-example.com'), ('suffix', 'example.com.evil.test'),\n"
    "                ('prefix', 'notexample.com'), ('sub', 'www.example.com')]:\n"
    "    raw(name, req('GET', 'http://%s/' % h))\n"
    "raw('port', req('GET', 'http://example.com:8080/'))\n"
    "raw('connect', b'CONNECT evil-example.com:443 HTTP/1.1\\r\\nHost: "
    "evil-example.com:443\\r\\n\\r\\n')\n";

static const char malformed_py[] =
    "H = 'Host: %s\\r\\n' % B\n"
    "raw('cl_te', ('POST http://%s/echo HTTP/1.1\\r\\n%sContent-Length: 5\\r\\n'\n"
    "              'Transfer-Encoding: chunked\\r\\n\\r\\n0\\r\\n\\r\\n' % (B, H)).encode())\n"
    "raw('two_cl', ('POST http://%s/echo HTTP/1.1\\r\\n%sContent-Length: 5\\r\\nContent-Length: "
    "5\\r\\n\\r\\n'\n"
    "               'hello' % (B, H)).encode())\n"
    "raw('lower', ('get http://%s/hello HTTP/1.1\\r\\n%s\\r\\n' % (B, H)).encode())\n"
    "raw('origin', ('GET /hello HTTP/1.1\\r\\n%s\\r\\n' % H).encode())\n"
    "raw('obs_fold', ('GET http://%s/hello HTTP/1.1\\r\\n%sX-A: 1\\r\\n folded\\r\\n\\r\\n' % (B, "
    "H)).encode())\n"
    "raw('bare_lf', ('GET http://%s/hello HTTP/1.1\\nHost: %s\\n\\n' % (B, B)).encode())\n"
    "raw('long', ('GET http://%s/hello?%s HTTP/1.1\\r\\n%s\\r\\n' % (B, 'a' * 9000, H)).encode())\n"
    "raw('good', req('GET', 'http://%s/hello' % B))\n";

static const char nonet_py[] =
    "raw('ip', req('GET', 'http://%s/hello' % B))\n"
    "raw('name', req('GET', 'http://localhost:%d/hello' % U))\n"
    "raw('public', req('GET', 'http://example.com/'))\n"
    "raw('connect', b'CONNECT example.com:443 HTTP/1.1\\r\\nHost: example.com:443\\r\\n\\r\\n')\n"
    "raw('connect_ip', ('CONNECT %s HTTP/1.1\\r\\nHost: %s\\r\\n\\r\\n' % (B, B)).encode())\n";

static const char inflight_py[] = "raw('done', req('GET', 'http://%s/hello' % B))\n"
                                  "s = socket.create_connection(PROXY, timeout=20)\n"
                                  "s.sendall(req('GET', 'http://%s/slow?s=3' % B))\n"
                                  "time.sleep(0.5)\n"
                                  "print('leaving with a request in flight', flush=True)\n"
                                  "os._exit(0)\n";

/* Many keep-alive connections, each with a request in flight, when the job leaves: the proxy
 * ends them all (job_ended or client_closed, whichever it sees first), records each, and serves
 * on. (The test upstream's listen backlog is 5: the first requests go one by one.) */
static const char abandon_py[] = "socks = []\n"
                                 "for i in range(8):\n"
                                 "    s = socket.create_connection(PROXY, timeout=20)\n"
                                 "    s.sendall(req('GET', 'http://%s/hello' % B))\n"
                                 "    read_response(s)\n"
                                 "    socks.append(s)\n"
                                 "for s in socks:\n"
                                 "    s.sendall(req('GET', 'http://%s/slow?s=3' % B))\n"
                                 "time.sleep(1.0)\n"
                                 "print('leaving', flush=True)\n"
                                 "os._exit(0)\n";

static const char order_py[] = "s = socket.create_connection(PROXY, timeout=20)\n"
                               "s.sendall(req('GET', 'http://%s/hello' % B))\n"
                               "r, buf = read_response(s)\n"
                               "report('first', summary(r))\n"
                               "s.sendall(req('GET', 'http://%s/other' % B))\n"
                               "r, buf = read_response(s, buf)\n"
                               "report('second', summary(r))\n"
                               "report('end', {'closed': closed(s)})\n"
                               "raw('third', req('GET', 'http://%s/echo/secret' % B))\n"
                               "raw('fourth', req('GET', 'http://%s/hello' % B))\n";

static const char paths_py[] =
    "raw('dots', req('GET', 'http://%s/echo/a/./b/../c/%%7Eme?x=1&y=%%2F&z=a/../b' % B))\n"
    "raw('escape', req('GET', 'http://%s/echo/a%%3ab' % B))\n"
    "raw('empty', req('GET', 'http://%s' % B))\n";

static const char private_py[] = "raw('byname', req('GET', 'http://localhost:%d/hello' % U))\n"
                                 "raw('connect', ('CONNECT localhost:%d HTTP/1.1\\r\\nHost: "
                                 "localhost:%d\\r\\n\\r\\n' % (U, U)).encode())\n";

static const char redirect_sh[] =
    "curl -sS --max-time 10 -D - -o /dev/null \"http://127.0.0.1:$U/redirect\" | tr -d '\\r'\n"
    "printf 'followed='; curl -sS -L --max-time 10 -o /dev/null -w '%{http_code}\\n' "
    "\"http://127.0.0.1:$U/redirect\"\n";

static const char refusals_py[] =
    "raw('port', req('GET', 'http://127.0.0.1:%d/' % S))\n"
    "for name, h in [('dec', '2130706433'), ('hex', '0x7f.0.0.1'), ('oct', '0177.0.0.1'),\n"
    "                ('short', '127.1')]:\n"
    "    raw(name, req('GET', 'http://%s:%d/hello' % (h, U)))\n"
    "# An IPv4 block never matches an IPv6 address, the IPv4-mapped form included.\n"
    "raw('mapped', req('GET', 'http://[::ffff:127.0.0.1]:%d/hello' % U))\n"
    "raw('v6', req('GET', 'http://[::1]:%d/hello' % U))\n"
    "raw('userinfo', req('GET', 'http://user@%s/hello' % B, host=B))\n"
    "raw('https', req('GET', 'https://%s/hello' % B))\n"
    "raw('dotdot', req('GET', 'http://%s/../hello' % B))\n"
    "raw('escdot', req('GET', 'http://%s/%%2e%%2e/hello' % B))\n"
    "raw('ip_literal', req('GET', 'http://10.1.2.3/'))\n"
    "raw('no_rule', req('GET', 'http://example.com/'))\n"
    "raw('good', req('GET', 'http://%s/hello' % B))\n";

static const char timeouts_py[] =
    "t0 = time.time()\n"
    "raw('slow', req('GET', 'http://%s/slow?s=8' % B))\n"
    "print('slow_ms=%d' % ((time.time() - t0) * 1000))\n"
    "s = socket.create_connection(PROXY, timeout=20)\n"
    "s.sendall(('GET http://%s/hello HTTP/1.1\\r\\n' % B).encode())\n"
    "t0 = time.time()\n"
    "s.settimeout(10)\n"
    "got = b''\n"
    "try:\n"
    "    while True:\n"
    "        c = s.recv(4096)\n"
    "        if not c:\n"
    "            break\n"
    "        got += c\n"
    "    end = 'eof'\n"
    "except socket.timeout:\n"
    "    end = 'open'\n"
    "except OSError:\n"
    "    end = 'reset'\n"
    "report('stall', {'end': end, 'ms': int((time.time() - t0) * 1000),\n"
    "                 'first': got.split(b'\\r\\n')[0].decode('latin-1')})\n"
    "s = socket.create_connection(PROXY, timeout=20)\n"
    "s.sendall(req('GET', 'http://%s/hello' % B))\n"
    "r, buf = read_response(s)\n"
    "t0 = time.time()\n"
    "c = closed(s, 10)\n"
    "report('idle', {'status': r['status'] if r else None, 'closed': c,\n"
    "                'ms': int((time.time() - t0) * 1000)})\n";

static const char tls_bad_py[] =
    "tunnel('evil', 'localhost', T, sni='evil.example')\n"
    "tunnel('nosni', 'localhost', T, sni=None)\n"
    "tunnel('ip_sni', '127.0.0.1', T, sni='localhost')\n"
    "tunnel('split_evil', 'localhost', T, payload=client_hello('evil.example'), split=3)\n"
    "tunnel('not_tls', 'localhost', T, payload=b'GET /hello HTTP/1.1\\r\\nHost: "
    "localhost\\r\\n\\r\\n')\n"
    "# An Encrypted Client Hello extension (0xfe0d): its inner name cannot be checked.\n"
    "ech = b'\\x00' + b'\\x00\\x01\\x00\\x01' + b'\\x07' + b'\\x00\\x20' + b'\\x11' * 32 + "
    "b'\\x00\\x40' + b'\\x22' * 64\n"
    "tunnel('ech', 'localhost', T,\n"
    "       payload=client_hello('localhost', struct.pack('>HH', 0xfe0d, len(ech)) + ech))\n"
    "# A handshake record whose ClientHello is cut short.\n"
    "tunnel('bad_tls', 'localhost', T, "
    "payload=b'\\x16\\x03\\x01\\x00\\x05\\x01\\x00\\x00\\x01\\x00')\n"
    "tunnel('port', 'localhost', S)\n"
    "tunnel('no_rule', 'evil.example', 443)\n";

static const char tls_ok_py[] =
    "tunnel('upper', 'localhost', T, sni='LOCALHOST')\n"
    "tunnel('ip_nosni', '127.0.0.1', T, sni=None)\n"
    "# A ClientHello that arrives in pieces, and one sent as raw bytes: the upstream answers "
    "both.\n"
    "tunnel('split', 'localhost', T, payload=client_hello('localhost'), split=3)\n"
    "tunnel('raw_hello', 'localhost', T, payload=client_hello('localhost'))\n";

static const char tls_ok_sh[] =
    "printf 'curl_name='; curl -sS -k --max-time 20 \"https://localhost:$T/hello\"\n"
    "printf 'tls_big='; curl -sS -k --max-time 60 \"https://localhost:$T/big?bytes=52428800\" |"
    " sha256sum | cut -d' ' -f1\n"
    "printf 'curl_ip='; curl -sS -k --max-time 20 \"https://127.0.0.1:$T/hello\"\n"
    "python3 p.py\n";
/* ---- files, processes, small shell helpers ---- */

static const char *
env_or(const char *name, const char *fallback)
{
    const char *v = secure_getenv(name);
    return v && *v ? v : fallback;
}

static const char *
python(void)
{
    /* The system interpreter when there is one: a pyenv shim on PATH costs a shell per start. */
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

/* The file's text (malloc'd), "" when it does not exist. */
static char *
slurp(const char *path)
{
    char *s = read_file_str(path);
    return s ? s : strdup("");
}

static int
count_lines(const char *path)
{
    char *s = slurp(path);
    int n = 0;

    for (char *p = s; *p; p++)
        n += *p == '\n';
    free(s);
    return n;
}

static void
write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s: %s", path, strerror(errno));
    fputs(text, f);
    cr_assert(fclose(f) == 0, "cannot write %s", path);
}

/* The stdout of a shell command, trailing newline dropped (malloc'd). */
__attribute__((format(printf, 1, 2))) static char *
sh_out(const char *fmt, ...)
{
    char *cmd, *out = NULL;
    size_t cap = 0, len = 0;
    va_list ap;
    FILE *p;

    va_start(ap, fmt);
    cr_assert(vasprintf(&cmd, fmt, ap) > 0);
    va_end(ap);
    p = popen(cmd, "r");
    cr_assert(p, "popen %s", cmd);
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 8192;
            out = realloc(out, cap);
            cr_assert(out);
        }
        size_t n = fread(out + len, 1, 4096, p);
        if (n == 0)
            break;
        len += n;
    }
    out[len] = '\0';
    pclose(p);
    while (len && (out[len - 1] == '\n' || out[len - 1] == '\r'))
        out[--len] = '\0';
    free(cmd);
    return out;
}

static int
unused_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

    cr_assert(fd >= 0);
    cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* upstream.py from the checkout, else the copy built into this binary written to tmp. */
static void
find_script(void)
{
    snprintf(script, sizeof(script), "%s/tests/integration/upstream.py",
             env_or("AIRLOCK_SRC", "."));
    if (access(script, R_OK) == 0)
        return;
    snprintf(script, sizeof(script), "%s/upstream.py", tmp);
    write_text(script, airlock_upstream_py);
}

/* Starts upstream.py with its logs in tmp/<name>.* and extra arguments (NULL-terminated); waits
 * (up to 10 s) for it to write its port. */
static void
upstream_start(struct upstream *u, const char *name, const char *const *extra)
{
    char port_file[PATH_MAX + 32], out[PATH_MAX + 32];
    const char *argv[24] = {python(), script,       "--port-file", port_file,   "--log",
                            u->log,   "--conn-log", u->conn_log,   "--sni-log", u->sni_log};
    size_t n = 10;

    memset(u, 0, sizeof(*u));
    snprintf(port_file, sizeof(port_file), "%s/%s.port", tmp, name);
    snprintf(out, sizeof(out), "%s/%s.out", tmp, name);
    snprintf(u->log, sizeof(u->log), "%s/%s.log", tmp, name);
    snprintf(u->conn_log, sizeof(u->conn_log), "%s/%s.conn", tmp, name);
    snprintf(u->sni_log, sizeof(u->sni_log), "%s/%s.sni", tmp, name);
    for (size_t i = 0; extra && extra[i] && n < 22; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    u->pid = fork();
    cr_assert(u->pid >= 0);
    if (u->pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    for (int waited = 0; waited < 10000; waited += 20) {
        char *s = read_file_str(port_file);
        int status;

        if (s && (u->port = (int)strtol(s, NULL, 10)) > 0) {
            free(s);
            return;
        }
        free(s);
        if (waitpid(u->pid, &status, WNOHANG) == u->pid) {
            char *o = slurp(out);
            u->pid = 0;
            cr_assert_fail("upstream.py %s exited at start (status 0x%x):\n%s", name, status, o);
        }
        usleep(20 * 1000);
    }
    cr_assert_fail("upstream.py %s wrote no port within 10 s", name);
}

static void
upstream_stop(struct upstream *u)
{
    int status;

    if (u->pid <= 0)
        return;
    kill(u->pid, SIGTERM);
    for (int waited = 0; waited < 3000; waited += 20) {
        if (waitpid(u->pid, &status, WNOHANG) == u->pid) {
            u->pid = 0;
            return;
        }
        usleep(20 * 1000);
    }
    kill(u->pid, SIGKILL);
    waitpid(u->pid, &status, 0);
    u->pid = 0;
}

/* sha256 of the first n bytes of upstream.py's /big stream, computed here without the proxy. */
static char *
big_sha256(long long n)
{
    return sh_out("'%s' '%s' --big-sha256 %lld", python(), script, n);
}

/* The daemon's resident memory in kB, or -1. (/proc files have no size: read them line by line,
 * not with read_file_str.) */
static long long
rss_kb(pid_t pid)
{
    char path[64], line[256];
    long long kb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtoll(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* ---- /etc/hosts (root only) ---- */

/* Removes every line naming hosts_name; safe to call when none was added. */
static void
hosts_remove(void)
{
    char *s, *line, *next, *kept;
    size_t len = 0;
    FILE *f;

    if (!hosts_name[0])
        return;
    s = read_file_str("/etc/hosts");
    if (!s)
        return;
    kept = calloc(1, strlen(s) + 1);
    cr_assert(kept);
    for (line = s; *line; line = next) {
        next = strchr(line, '\n');
        next = next ? next + 1 : line + strlen(line);
        if (memmem(line, (size_t)(next - line), hosts_name, strlen(hosts_name)))
            continue;
        memcpy(kept + len, line, (size_t)(next - line));
        len += (size_t)(next - line);
    }
    /* In place, not by rename: /etc/hosts is often a bind mount. */
    f = fopen("/etc/hosts", "w");
    if (f) {
        fwrite(kept, 1, len, f);
        fclose(f);
    }
    if (!strstr(kept, hosts_name))
        hosts_name[0] = '\0';
    free(kept);
    free(s);
}

/* ---- the fixture ---- */

static void policy(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
policy(const char *name, const char *fmt, ...)
{
    char *json;
    va_list ap;

    va_start(ap, fmt);
    cr_assert(vasprintf(&json, fmt, ap) > 0);
    va_end(ap);
    daemon_write_policy(&d, name, json);
    free(json);
}

static void
write_policies(void)
{
    int u = up.port, a = d.port;

    policy("up",
           "{\"description\": \"test: the upstream by address\", \"network\": {\"allow\":"
           " [{\"cidr\": \"127.0.0.1/32\", \"ports\": [%d]}]}}",
           u);
    policy("named_nocidr",
           "{\"description\": \"test: localhost by name, no cidr rule\", \"network\": {\"allow\":"
           " [{\"host\": \"localhost\", \"ports\": [%d]}]}}",
           u);
    policy("apiport",
           "{\"description\": \"test: a policy that tries to open the daemon's API port\","
           " \"network\": {\"allow\": [{\"cidr\": \"127.0.0.0/8\", \"ports\": [%d]},"
           " {\"host\": \"localhost\", \"ports\": [%d]}, {\"cidr\": \"::1/128\", \"ports\": [%d]},"
           " {\"cidr\": \"0.0.0.0/32\", \"ports\": [%d]}, {\"cidr\": \"::ffff:0:0/96\", \"ports\":"
           " [%d]}]}}",
           a, a, a, a, a);
    policy("paths",
           "{\"description\": \"test: methods, paths and a deny rule\", \"network\": {"
           "\"allow\": [{\"cidr\": \"127.0.0.1/32\", \"ports\": [%d], \"methods\": [\"GET\","
           " \"POST\"], \"paths\": [\"/hello\", \"/echo\"]}],"
           " \"deny\": [{\"cidr\": \"127.0.0.1/32\", \"ports\": [%d], \"paths\": "
           "[\"/echo/secret\"]}]}}",
           u, u);
    policy("getonly",
           "{\"description\": \"test: GET only\", \"network\": {\"allow\":"
           " [{\"cidr\": \"127.0.0.1/32\", \"ports\": [%d], \"methods\": [\"GET\"]}]}}",
           u);
    policy("example", "{\"description\": \"test: example.com only\", \"network\": {\"allow\":"
                      " [{\"host\": \"example.com\", \"ports\": [80]}]}}");
    policy("nonet", "{\"description\": \"test: no network section\"}");
    policy("emptynet", "{\"description\": \"test: an empty network section\", \"network\": {}}");
    policy("dead",
           "{\"description\": \"test: a port nothing listens on\", \"network\": {\"allow\":"
           " [{\"cidr\": \"127.0.0.1/32\", \"ports\": [%d]}]}}",
           dead_port);
    if (tls.port)
        policy("tls",
               "{\"description\": \"test: the TLS upstream by name and address\", \"network\":"
               " {\"allow\": [{\"host\": \"localhost\", \"ports\": [%d]}, {\"cidr\":"
               " \"127.0.0.1/32\", \"ports\": [%d]}, {\"cidr\": \"::1/128\", \"ports\": [%d]}]}}",
               tls.port, tls.port, tls.port);
}

static void down(void);

static void
setup(const char *config_extra, bool with_tls)
{
    char redirect[64];
    const char *sink_args[] = {"--sink", NULL};
    const char *up_args[] = {"--redirect", redirect, NULL};

    memset(&tls, 0, sizeof(tls));
    snprintf(tmp, sizeof(tmp), "/tmp/airlock-proxy-XXXXXX");
    cr_assert(mkdtemp(tmp), "mkdtemp");
    chmod(tmp, 0755);
    find_script();
    daemon_init(&d, config_extra, true);
    upstream_start(&sink, "sink", sink_args);
    snprintf(redirect, sizeof(redirect), "http://127.0.0.1:%d/leak", sink.port);
    upstream_start(&up, "up", up_args);
    if (with_tls) {
        char cert[PATH_MAX + 16], key[PATH_MAX + 16], *o;
        const char *tls_args[] = {"--tls", cert, key, NULL};

        snprintf(cert, sizeof(cert), "%s/cert.pem", tmp);
        snprintf(key, sizeof(key), "%s/key.pem", tmp);
        o = sh_out("openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -addext "
                   "subjectAltName=DNS:localhost -days 2 -keyout '%s' -out '%s' 2>&1 && echo ok",
                   key, cert);
        cr_assert(strstr(o, "ok"), "openssl req: %s", o);
        free(o);
        upstream_start(&tls, "tls", tls_args);
    }
    dead_port = unused_port();
    write_policies();
    if (!daemon_start_args(&d, NULL)) {
        char *log = slurp(d.log);
        down();
        cr_assert_fail("airlockd exited at start:\n%s", log);
    }
}

static void
up_plain(void)
{
    setup(NULL, false);
}

static void
up_tls(void)
{
    setup(NULL, true);
}

static void
up_timeouts(void)
{
    setup("\"proxy_upstream_timeout_s\": 2, \"proxy_header_timeout_s\": 2, "
          "\"proxy_idle_timeout_s\": 2",
          false);
}

/* Idempotent: the /etc/hosts test calls it itself before it skips (a skipped test's worker
 * exits without running the suite's fini). The servers and this test's directory go first, so
 * a daemon that fails to stop leaves nothing of ours behind. */
static void
down(void)
{
    char cmd[PATH_MAX + 16];

    hosts_remove();
    upstream_stop(&up);
    upstream_stop(&sink);
    upstream_stop(&tls);
    if (tmp[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", tmp);
        tmp[0] = '\0';
    }
    if (d.dir[0]) {
        daemon_stop(&d);
        daemon_cleanup(&d);
        d.dir[0] = '\0';
    }
}

TestSuite(proxy, .init = up_plain, .fini = down, .timeout = 120);
TestSuite(proxy_tls, .init = up_tls, .fini = down, .timeout = 120);
TestSuite(proxy_timeouts, .init = up_timeouts, .fini = down, .timeout = 120);

/* ---- jobs ---- */

/* The ports, for every job: U upstream, S sink, T TLS upstream, A the API, X nothing; and NAME,
 * the name added to /etc/hosts (or ""). */
static json_t *
ports_env(void)
{
    char u[16], s[16], t[16], a[16], x[16];

    snprintf(u, sizeof(u), "%d", up.port);
    snprintf(s, sizeof(s), "%d", sink.port);
    snprintf(t, sizeof(t), "%d", tls.port);
    snprintf(a, sizeof(a), "%d", d.port);
    snprintf(x, sizeof(x), "%d", dead_port);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "U", u, "S", s, "T", t, "A", a, "X", x, "NAME",
                     hosts_name);
}

/* Runs a job under policy with the ports in its environment and waits for it: `sh -c script`,
 * with the workspace file p.py (the prelude above and py) when py is given; python3 p.py alone
 * when script is NULL. Returns stdout (malloc'd) and the ended job (new reference). Expects the
 * job to succeed, and shows its output and stderr when it does not. */
static char *
run_job(const char *policy_name, const char *script_text, const char *py, int timeout_s,
        json_t **ret_job)
{
    json_t *spec, *job;
    char *prog = NULL, *out;

    spec = script_text ? job_sh(script_text) : json_pack("{s:[s,s]}", "command", "python3", "p.py");
    if (py) {
        cr_assert(asprintf(&prog, "%s%s", py_prelude, py) > 0);
        json_object_set_new(spec, "files", json_pack("{s:s}", "p.py", prog));
        free(prog);
    }
    json_object_set_new(spec, "policy", json_string(policy_name));
    json_object_set_new(spec, "timeout_s", json_integer(timeout_s));
    json_object_set_new(spec, "env", ports_env());
    job = job_run(&d, spec);
    out = job_output(&d, jstr(job, "id"), "stdout");
    if (strcmp(jstr(job, "status"), "succeeded") != 0) {
        char *err = job_output(&d, jstr(job, "id"), "stderr");
        cr_expect_fail("the job did not succeed: %s\nstdout:\n%s\nstderr:\n%s", jdump(job), out,
                       err);
        free(err);
    }
    *ret_job = job;
    return out;
}

/* The JSON a job printed as "name={...}" (new reference), or NULL. */
static json_t *
result(const char *out, const char *name)
{
    char *v = kv(out, name);
    json_t *r = v ? json_loads(v, 0, NULL) : NULL;

    free(v);
    return r;
}

/* A case the proxy refused: status, X-Airlock-Deny, and for a 403 the JSON body of the contract
 * naming reason and policy; the connection closed after it. */
static void
expect_refused(const char *out, const char *name, long long status, const char *reason,
               const char *policy_name)
{
    json_t *r = result(out, name);

    cr_expect(r, "%s: no result in the job's output:\n%s", name, out);
    if (!r)
        return;
    cr_expect_eq(jint(r, "status"), status, "%s: status %lld, want %lld: %s", name,
                 jint(r, "status"), status, jdump(r));
    cr_expect_str_eq(jstr(r, "deny"), reason, "%s: X-Airlock-Deny %s, want %s: %s", name,
                     jstr(r, "deny"), reason, jdump(r));
    cr_expect(strncmp(jstr(r, "ctype"), "application/json", 16) == 0, "%s: Content-Type: %s", name,
              jdump(r));
    if (status == 403) {
        cr_expect_str_eq(jstr(r, "code"), "egress_denied", "%s: %s", name, jdump(r));
        cr_expect_str_eq(jstr(r, "reason"), reason, "%s: %s", name, jdump(r));
        cr_expect_str_eq(jstr(r, "policy"), policy_name, "%s: %s", name, jdump(r));
        cr_expect(*jstr(r, "message") && strcmp(jstr(r, "message"), "null") != 0,
                  "%s: no message: %s", name, jdump(r));
        cr_expect(strcmp(jstr(r, "rule"), "absent") != 0, "%s: no \"rule\" member: %s", name,
                  jdump(r));
    } else if (status == 400 && strcmp(reason, "bad_request") == 0) {
        cr_expect_str_eq(jstr(r, "code"), "bad_request", "%s: %s", name, jdump(r));
    }
    cr_expect(strcasecmp(jstr(r, "connection"), "close") == 0, "%s: Connection: %s", name,
              jdump(r));
    cr_expect(strcmp(jstr(r, "closed"), "eof") == 0 || strcmp(jstr(r, "closed"), "reset") == 0,
              "%s: the proxy did not close the connection after refusing: %s", name, jdump(r));
    json_decref(r);
}

/* A case that went through: status and body as the upstream sent them. */
static void
expect_passed(const char *out, const char *name, long long status, const char *body)
{
    json_t *r = result(out, name);

    cr_expect(r, "%s: no result in the job's output:\n%s", name, out);
    if (!r)
        return;
    cr_expect_eq(jint(r, "status"), status, "%s: status %lld, want %lld: %s", name,
                 jint(r, "status"), status, jdump(r));
    if (body)
        cr_expect_str_eq(jstr(r, "body"), body, "%s: %s", name, jdump(r));
    cr_expect_str_eq(jstr(r, "deny"), "null", "%s: X-Airlock-Deny on a passed response: %s", name,
                     jdump(r));
    json_decref(r);
}

/* GET /v1/jobs/<id>/egress until it holds at least want events or 3 s passed; the array (new
 * reference). Events are written in batches, and flushed when the job ends. */
static json_t *
egress(const char *id, size_t want)
{
    char path[256];
    json_t *evs = NULL;

    snprintf(path, sizeof(path), "/v1/jobs/%s/egress", id);
    for (int waited = 0;; waited += 100) {
        struct resp r = http_get(&d, path);

        cr_assert_eq(r.status, 200, "GET %s: %ld %s", path, r.status, r.body);
        json_decref(evs);
        evs = json_incref(json_object_get(r.json, "events"));
        resp_free(&r);
        cr_assert(json_is_array(evs), "GET %s: no events array", path);
        if (json_array_size(evs) >= want || waited >= 3000)
            return evs;
        usleep(100 * 1000);
    }
}

/* Events matching every given field (NULL or -1: any). reason "null" matches a null reason. */
static int
count_ev(const json_t *evs, const char *decision, const char *reason, const char *method,
         const char *host, long long port)
{
    size_t i;
    json_t *e;
    int n = 0;

    json_array_foreach(evs, i, e)
    {
        if ((decision && strcmp(jstr(e, "decision"), decision) != 0) ||
            (reason && strcmp(jstr(e, "reason"), reason) != 0) ||
            (method && strcmp(jstr(e, "method"), method) != 0) ||
            (host && strcmp(jstr(e, "host"), host) != 0) || (port >= 0 && jint(e, "port") != port))
            continue;
        n++;
    }
    return n;
}

/* The first event with this decision and path (borrowed), or NULL. */
static json_t *
find_ev(const json_t *evs, const char *decision, const char *path)
{
    size_t i;
    json_t *e;

    json_array_foreach(evs, i, e)
    {
        if (strcmp(jstr(e, "decision"), decision) == 0 &&
            (!path || strcmp(jstr(e, "path"), path) == 0))
            return e;
    }
    return NULL;
}

/* want deny events with reason (and decision deny) in evs. */
static void
expect_denials(const json_t *evs, const char *reason, int want)
{
    int n = count_ev(evs, "deny", reason, NULL, NULL, -1);

    cr_expect_eq(n, want, "%d deny events with reason %s, want %d: %s", n, reason, want,
                 jdump(evs));
}

/* The job's "egress" counters agree with its events. */
static void
expect_counters(const char *id, const json_t *evs)
{
    json_t *job = job_get(&d, id), *eg = json_object_get(job, "egress");
    int allowed = count_ev(evs, "allow", NULL, NULL, NULL, -1);
    int denied = count_ev(evs, "deny", NULL, NULL, NULL, -1);

    cr_expect_eq(jint(eg, "allowed"), allowed, "egress.allowed %lld, %d allow events: %s",
                 jint(eg, "allowed"), allowed, jdump(job));
    cr_expect_eq(jint(eg, "denied"), denied, "egress.denied %lld, %d deny events: %s",
                 jint(eg, "denied"), denied, jdump(job));
    cr_expect_eq((size_t)(allowed + denied), json_array_size(evs),
                 "an event is neither allow nor deny: %s", jdump(evs));
    json_decref(job);
}

/* The events come oldest first (by "time"). */
static void
expect_oldest_first(const json_t *evs)
{
    for (size_t i = 1; i < json_array_size(evs); i++) {
        const char *a = jstr(json_array_get(evs, i - 1), "time");
        const char *b = jstr(json_array_get(evs, i), "time");
        cr_expect(strcmp(a, b) <= 0, "event %zu (%s) is older than event %zu (%s): %s", i, b, i - 1,
                  a, jdump(evs));
    }
}

/* Nothing connected to the listener u. */
static void
expect_untouched(const struct upstream *u, const char *what)
{
    char *c = slurp(u->conn_log), *l = slurp(u->log);

    cr_expect_str_eq(c, "", "%s got connections:\n%s", what, c);
    cr_expect_str_eq(l, "", "%s got requests:\n%s", what, l);
    free(c);
    free(l);
}

/* The header name in an echo reply, or NULL (borrowed). Names compare case-insensitively. */
static const char *
echo_header(const json_t *echo, const char *name)
{
    size_t i;
    json_t *h;

    json_array_foreach(json_object_get(echo, "headers"), i, h)
    {
        if (strcasecmp(json_string_value(json_array_get(h, 0)), name) == 0)
            return json_string_value(json_array_get(h, 1));
    }
    return NULL;
}

/* ---- allowed traffic ---- */

Test(proxy, get_post_and_put_bodies_reach_the_upstream_intact)
{
    json_t *job, *evs, *post, *form, *put, *e;
    char *out = run_job("up", bodies_sh, bodies_py, 60, &job), *sha, *formsha, *putsha, *log;

    cr_expect(kv_is(out, "get", "hello"), "curl GET /hello:\n%s", out);
    sha = kv(out, "sha");
    formsha = kv(out, "formsha");
    putsha = kv(out, "putsha");
    post = result(out, "post");
    form = result(out, "form");
    put = result(out, "put");
    cr_expect(post && sha, "no POST echo:\n%s", out);
    cr_expect_str_eq(jstr(post, "method"), "POST", "%s", jdump(post));
    cr_expect_str_eq(jstr(post, "path"), "/echo/bin?x=1", "%s", jdump(post));
    cr_expect_eq(jint(post, "body_len"), 1048577, "%s", jdump(post));
    cr_expect_str_eq(jstr(post, "body_sha256"), sha ? sha : "?", "%s", jdump(post));
    cr_expect(json_is_false(json_object_get(post, "chunked")), "%s", jdump(post));
    cr_expect_eq(jint(form, "body_len"), 7, "%s", jdump(form));
    cr_expect_str_eq(jstr(form, "body_sha256"), formsha ? formsha : "?", "%s", jdump(form));
    cr_expect_str_eq(jstr(put, "method"), "PUT", "urllib PUT: %s\n%s", jdump(put), out);
    cr_expect_eq(jint(put, "body_len"), 102400, "%s", jdump(put));
    cr_expect_str_eq(jstr(put, "body_sha256"), putsha ? putsha : "?", "%s", jdump(put));
    log = slurp(up.log);
    cr_expect_eq(count_lines(up.log), 4, "the upstream saw:\n%s", log);

    evs = egress(jstr(job, "id"), 4);
    cr_expect_eq(count_ev(evs, "allow", "null", NULL, "127.0.0.1", up.port), 4, "%s", jdump(evs));
    e = find_ev(evs, "allow", "/hello");
    cr_expect(e, "no event for GET /hello: %s", jdump(evs));
    if (e) {
        cr_expect_str_eq(jstr(e, "method"), "GET", "%s", jdump(e));
        cr_expect_str_eq(jstr(e, "scheme"), "http", "%s", jdump(e));
        cr_expect_str_eq(jstr(e, "rule"), "allow[0]", "%s", jdump(e));
        cr_expect_eq(jint(e, "status"), 200, "%s", jdump(e));
        cr_expect_eq(jint(e, "bytes_down"), 6, "%s", jdump(e));
        cr_expect_geq(jint(e, "duration_ms"), 0, "%s", jdump(e));
        cr_expect(*jstr(e, "time"), "%s", jdump(e));
    }
    e = find_ev(evs, "allow", "/echo/bin");
    cr_expect(e, "no event for POST /echo/bin (its path without the query): %s", jdump(evs));
    if (e) {
        cr_expect_str_eq(jstr(e, "method"), "POST", "%s", jdump(e));
        cr_expect_eq(jint(e, "bytes_up"), 1048577, "%s", jdump(e));
        cr_expect_gt(jint(e, "bytes_down"), 0, "%s", jdump(e));
    }
    e = find_ev(evs, "allow", "/echo/py");
    cr_expect(e && jint(e, "bytes_up") == 102400 && strcmp(jstr(e, "method"), "PUT") == 0,
              "the PUT's event: %s", jdump(evs));
    expect_counters(jstr(job, "id"), evs);
    json_decref(evs);
    json_decref(post);
    json_decref(form);
    json_decref(put);
    free(log);
    free(sha);
    free(formsha);
    free(putsha);
    free(out);
    json_decref(job);
}

Test(proxy, a_chunked_upload_arrives_whole_and_chunked)
{
    json_t *job, *evs, *echo, *r, *inner, *e;
    char *out = run_job("up", chunked_up_sh, chunked_up_py, 60, &job), *sha = kv(out, "sha");

    echo = result(out, "echo");
    cr_expect(echo && sha, "no echo:\n%s", out);
    cr_expect(json_is_true(json_object_get(echo, "chunked")), "not chunked upstream: %s",
              jdump(echo));
    cr_expect_eq(jint(echo, "body_len"), 3000001, "%s", jdump(echo));
    cr_expect_str_eq(jstr(echo, "body_sha256"), sha ? sha : "?", "%s", jdump(echo));
    /* The job's chunk extensions and trailers are consumed; the data arrives. */
    r = result(out, "raw");
    inner = json_object_get(r, "json");
    cr_expect_eq(jint(r, "status"), 200, "%s", jdump(r));
    cr_expect_eq(jint(inner, "body_len"), 11, "%s", jdump(r));
    cr_expect_str_eq(jstr(inner, "body_sha256"),
                     "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9", "%s",
                     jdump(r));
    /* A chunked body that breaks its framing ends the request with a 400 from the proxy. */
    expect_refused(out, "bad_chunk", 400, "bad_request", "up");
    evs = egress(jstr(job, "id"), 3);
    cr_expect_eq(count_ev(evs, NULL, "bad_request", "POST", "127.0.0.1", up.port), 1, "%s",
                 jdump(evs));
    e = find_ev(evs, "allow", "/echo/up");
    cr_expect(e, "%s", jdump(evs));
    if (e)
        cr_expect_eq(jint(e, "bytes_up"), 3000001, "body bytes up: %s", jdump(e));
    expect_counters(jstr(job, "id"), evs);
    json_decref(evs);
    json_decref(r);
    json_decref(echo);
    free(sha);
    free(out);
    json_decref(job);
}

Test(proxy, keep_alive_requests_are_decided_one_by_one)
{
    json_t *job, *evs, *r, *e;
    char *out = run_job("paths", NULL, keepalive_py, 60, &job), *log;

    expect_passed(out, "ka1", 200, "hello\n");
    r = result(out, "ka2");
    cr_expect_eq(jint(r, "status"), 200, "the second request on the connection: %s\n%s", jdump(r),
                 out);
    cr_expect_eq(jint(json_object_get(r, "json"), "body_len"), 3, "%s", jdump(r));
    json_decref(r);
    expect_passed(out, "ka3", 200, "hello\n");
    /* The fourth, to a path the policy does not allow, is refused on the same connection. */
    r = result(out, "ka4");
    cr_expect_eq(jint(r, "status"), 403, "%s\n%s", jdump(r), out);
    cr_expect_str_eq(jstr(r, "deny"), "path", "%s", jdump(r));
    cr_expect_str_eq(jstr(r, "reason"), "path", "%s", jdump(r));
    cr_expect_str_eq(jstr(r, "policy"), "paths", "%s", jdump(r));
    cr_expect(strcasecmp(jstr(r, "connection"), "close") == 0, "%s", jdump(r));
    json_decref(r);
    r = result(out, "ka_end");
    cr_expect(strcmp(jstr(r, "closed"), "eof") == 0 || strcmp(jstr(r, "closed"), "reset") == 0,
              "the connection stays open after the refusal: %s", jdump(r));
    json_decref(r);
    expect_refused(out, "deny_rule", 403, "denied_by_rule", "paths");
    r = result(out, "deny_rule");
    cr_expect_str_eq(jstr(r, "rule"), "deny[0]", "%s", jdump(r));
    json_decref(r);
    expect_refused(out, "method", 403, "method", "paths");
    /* A deny rule with methods or paths denies a CONNECT to its host and port outright. */
    expect_refused(out, "connect", 403, "denied_by_rule", "paths");
    log = slurp(up.log);
    cr_expect_eq(count_lines(up.log), 3, "the upstream saw:\n%s", log);
    cr_expect(!strstr(log, "/other") && !strstr(log, "secret"), "%s", log);

    evs = egress(jstr(job, "id"), 7);
    cr_expect_eq(count_ev(evs, "allow", NULL, NULL, NULL, -1), 3, "%s", jdump(evs));
    expect_denials(evs, "path", 1);
    expect_denials(evs, "denied_by_rule", 2);
    expect_denials(evs, "method", 1);
    cr_expect_eq(count_ev(evs, "deny", "denied_by_rule", "CONNECT", "127.0.0.1", up.port), 1, "%s",
                 jdump(evs));
    e = find_ev(evs, "deny", "/echo/secret/x");
    cr_expect(e && strcmp(jstr(e, "rule"), "deny[0]") == 0, "%s", jdump(evs));
    expect_counters(jstr(job, "id"), evs);
    json_decref(evs);
    free(out);
    json_decref(job);

    /* Without a deny rule in the way: a rule with methods never allows a CONNECT, and a method
     * it does not list is refused. */
    out = run_job("getonly", NULL, getonly_py, 30, &job);
    expect_refused(out, "connect", 403, "method", "getonly");
    expect_refused(out, "post", 403, "method", "getonly");
    cr_expect_eq(count_lines(up.log), 3, "the upstream saw:\n%s", log);
    evs = egress(jstr(job, "id"), 2);
    cr_expect_eq(count_ev(evs, "deny", "method", "CONNECT", "127.0.0.1", up.port), 1, "%s",
                 jdump(evs));
    cr_expect_eq(count_ev(evs, "deny", "method", "POST", "127.0.0.1", up.port), 1, "%s",
                 jdump(evs));
    expect_counters(jstr(job, "id"), evs);
    json_decref(evs);
    free(log);
    free(out);
    json_decref(job);
}

Test(proxy, a_200_mb_download_streams_with_the_daemon_memory_flat, .timeout = 360)
{
    json_t *spec, *job, *evs, *e;
    char *out, *want = big_sha256(BIG_BYTES), script_text[256], *id;
    long long idle, peak, slack = RSS_SLACK_KB, rss;
    struct timeval t0, t1;
    struct resp r;

    /* Idle is measured after one request went through, so the proxy's start-up is counted. */
    out = run_job("up", "curl -sS --max-time 10 \"http://127.0.0.1:$U/hello\"", NULL, 30, &job);
    cr_expect_str_eq(out, "hello\n");
    free(out);
    json_decref(job);
    idle = peak = rss_kb(d.pid);
    cr_assert_gt(idle, 0, "no VmRSS for %d", (int)d.pid);
    if (secure_getenv("AIRLOCK_SANITIZED"))
        slack *= 4; /* ASan's shadow memory and quarantine */

    snprintf(script_text, sizeof(script_text),
             "curl -sS --max-time 240 \"http://127.0.0.1:$U/big?bytes=%lld\" | sha256sum |"
             " cut -d' ' -f1",
             BIG_BYTES);
    spec = job_sh(script_text);
    json_object_set_new(spec, "policy", json_string("up"));
    json_object_set_new(spec, "timeout_s", json_integer(280));
    json_object_set_new(spec, "env", ports_env());
    r = job_post(&d, spec);
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    id = strdup(jstr(r.json, "id"));
    resp_free(&r);
    json_decref(spec);
    gettimeofday(&t0, NULL);
    /* VmRSS every 20 ms, the job's status every 200 ms. */
    for (int waited = 0;; waited += 20) {
        if ((rss = rss_kb(d.pid)) > peak)
            peak = rss;
        if (waited % 200 == 0) {
            job = job_get(&d, id);
            if (strcmp(jstr(job, "status"), "queued") != 0 &&
                strcmp(jstr(job, "status"), "running") != 0)
                break;
            json_decref(job);
        }
        cr_assert_lt(waited, 300000, "the download job did not end in 300 s");
        usleep(20 * 1000);
    }
    gettimeofday(&t1, NULL);
    out = job_output(&d, id, "stdout");
    cr_expect_str_eq(jstr(job, "status"), "succeeded", "%s", jdump(job));
    cr_expect_eq(strncmp(out, want, 64), 0, "sha256 through the proxy %s, want %s", out, want);
    cr_expect_lt(peak - idle, slack, "the daemon grew from %lld kB to %lld kB during the download",
                 idle, peak);
    cr_log_info("200 MB through the proxy in %ld ms; daemon VmRSS %lld kB idle, %lld kB peak",
                (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000), idle,
                peak);
    evs = egress(id, 1);
    e = find_ev(evs, "allow", "/big");
    cr_expect(e, "%s", jdump(evs));
    if (e) {
        cr_expect_eq(jint(e, "bytes_down"), BIG_BYTES, "%s", jdump(e));
        cr_expect_eq(jint(e, "status"), 200, "%s", jdump(e));
    }
    expect_counters(id, evs);
    json_decref(evs);
    json_decref(job);
    free(out);
    free(want);
    free(id);
}

Test(proxy, chunked_odd_sized_and_head_downloads_arrive_whole)
{
    json_t *job, *evs;
    char *out = run_job("up", chunked_down_sh, NULL, 90, &job), *chunked = big_sha256(20971521),
         *odd = big_sha256(1234567), *head = kv(out, "head");

    cr_expect(kv_is(out, "chunked", chunked), "a chunked 20 MB download:\n%s\nwant %s", out,
              chunked);
    cr_expect(kv_is(out, "odd", odd), "1234567 bytes:\n%s\nwant %s", out, odd);
    cr_expect(head && strcasecmp(head, "Content-Length: 1234567") == 0, "HEAD:\n%s", out);
    evs = egress(jstr(job, "id"), 3);
    cr_expect_eq(count_ev(evs, "allow", "null", "GET", "127.0.0.1", up.port), 2, "%s", jdump(evs));
    cr_expect_eq(count_ev(evs, "allow", "null", "HEAD", "127.0.0.1", up.port), 1, "%s", jdump(evs));
    expect_counters(jstr(job, "id"), evs);
    json_decref(evs);
    free(head);
    free(chunked);
    free(odd);
    free(out);
    json_decref(job);
}

Test(proxy, hop_by_hop_headers_are_dropped_and_host_is_rebuilt)
{
    const char *gone[] = {"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization",
                          "TE",         "Trailer",    "Upgrade",          "X-Drop-Me"};
    json_t *job, *r, *echo, *h;
    char *out = run_job("up", NULL, hop_py, 30, &job), host[64];
    const char *v;
    size_t i;
    int hosts = 0;

    r = result(out, "hop");
    echo = json_object_get(r, "json");
    cr_assert_eq(jint(r, "status"), 200, "%s\n%s", jdump(r), out);
    snprintf(host, sizeof(host), "127.0.0.1:%d", up.port);
    v = echo_header(echo, "Host");
    cr_expect(v && strcmp(v, host) == 0, "Host upstream: %s, want %s", v ? v : "(none)", host);
    json_array_foreach(json_object_get(echo, "headers"), i, h)
    {
        hosts += strcasecmp(json_string_value(json_array_get(h, 0)), "Host") == 0;
    }
    cr_expect_eq(hosts, 1, "Host sent %d times: %s", hosts, jdump(echo));
    for (i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
        cr_expect(!echo_header(echo, gone[i]), "%s reached the upstream: %s", gone[i], jdump(echo));
    v = echo_header(echo, "X-Keep-Me");
    cr_expect(v && strcmp(v, "kept value") == 0, "X-Keep-Me: %s", jdump(echo));
    v = echo_header(echo, "User-Agent");
    cr_expect(v && strcmp(v, "airlock-test/1") == 0, "User-Agent: %s", jdump(echo));
    v = echo_header(echo, "Accept");
    cr_expect(v && strcmp(v, "text/x-test") == 0, "Accept: %s", jdump(echo));
    json_decref(r);
    free(out);
    json_decref(job);
}

Test(proxy, the_normalised_path_and_the_raw_query_go_upstream)
{
    json_t *job, *evs, *r;
    char *out = run_job("up", NULL, paths_py, 30, &job), *log, want[64];

    r = result(out, "dots");
    cr_expect_eq(jint(r, "status"), 200, "%s\n%s", jdump(r), out);
    cr_expect_str_eq(jstr(json_object_get(r, "json"), "path"), "/echo/a/c/~me?x=1&y=%2F&z=a/../b",
                     "%s", jdump(r));
    json_decref(r);
    r = result(out, "escape");
    cr_expect_str_eq(jstr(json_object_get(r, "json"), "path"), "/echo/a%3Ab", "%s", jdump(r));
    json_decref(r);
    /* No path at all is sent as "/" (the upstream answers 404, passed through). */
    expect_passed(out, "empty", 404, NULL);
    log = slurp(up.log);
    snprintf(want, sizeof(want), "GET / 127.0.0.1:%d\n", up.port);
    cr_expect(strstr(log, want), "the upstream saw:\n%s", log);
    evs = egress(jstr(job, "id"), 3);
    cr_expect(find_ev(evs, "allow", "/echo/a/c/~me"), "%s", jdump(evs));
    cr_expect(find_ev(evs, "allow", "/echo/a%3Ab"), "%s", jdump(evs));
    cr_expect(find_ev(evs, "allow", "/"), "%s", jdump(evs));
    json_decref(evs);
    free(log);
    free(out);
    json_decref(job);
}

Test(proxy, a_redirect_is_passed_to_the_job_and_never_followed)
{
    json_t *job, *evs;
    char *out = run_job("up", redirect_sh, NULL, 30, &job), want[128];

    cr_expect(strstr(out, "HTTP/1.1 302"), "no 302 for the job:\n%s", out);
    snprintf(want, sizeof(want), "Location: http://127.0.0.1:%d/leak\n", sink.port);
    cr_expect(strcasestr(out, want), "no %s in:\n%s", want, out);
    /* curl -L follows it itself, as a new request the policy refuses (the sink's port). */
    cr_expect(kv_is(out, "followed", "403"), "%s", out);
    usleep(300 * 1000);
    expect_untouched(&sink, "the redirect's target");
    evs = egress(jstr(job, "id"), 3);
    cr_expect_eq(count_ev(evs, "allow", "null", "GET", "127.0.0.1", up.port), 2, "%s", jdump(evs));
    cr_expect_eq(count_ev(evs, "deny", "port", "GET", "127.0.0.1", sink.port), 1, "%s", jdump(evs));
    cr_expect(find_ev(evs, "allow", "/redirect") &&
                  jint(find_ev(evs, "allow", "/redirect"), "status") == 302,
              "%s", jdump(evs));
    expect_counters(jstr(job, "id"), evs);
    json_decref(evs);
    free(out);
    json_decref(job);
}

Test(proxy, gzip_is_passed_through_untouched)
{
    json_t *job;
    char *out = run_job("up", gzip_sh, NULL, 30, &job), *want, *len;

    /* The reference: the same body fetched here, straight from the upstream. */
    want = sh_out("curl -sS --noproxy '*' --max-time 10 http://127.0.0.1:%d/gzip | sha256sum |"
                  " cut -d' ' -f1",
                  up.port);
    len = sh_out("curl -sS --noproxy '*' --max-time 10 http://127.0.0.1:%d/gzip | wc -c", up.port);
    cr_expect(kv_is(out, "ce", "gzip"), "Content-Encoding for the job:\n%s", out);
    cr_expect(kv_is(out, "sha", want), "the body changed on the way:\n%s\nwant sha=%s", out, want);
    cr_expect(kv_is(out, "len", len), "%s\nwant len=%s", out, len);
    free(want);
    free(len);
    free(out);
    json_decref(job);
}

/* ---- the audit ---- */

Test(proxy, egress_events_come_oldest_first)
{
    const char *paths[] = {"/hello", "/other", "/echo/secret", "/hello"};
    json_t *job, *evs;
    char *out = run_job("paths", NULL, order_py, 30, &job);

    expect_passed(out, "first", 200, "hello\n");
    expect_passed(out, "fourth", 200, "hello\n");
    evs = egress(jstr(job, "id"), 4);
    cr_assert_eq(json_array_size(evs), 4, "%s\n%s", jdump(evs), out);
    expect_oldest_first(evs);
    for (size_t i = 0; i < 4; i++)
        cr_expect_str_eq(jstr(json_array_get(evs, i), "path"), paths[i],
                         "event %zu is not the job's request %zu: %s", i, i, jdump(evs));
    json_decref(evs);
    free(out);
    json_decref(job);
}

Test(proxy, egress_events_are_complete_when_the_job_ends)
{
    json_t *job, *evs;
    char *out = run_job("up", NULL, inflight_py, 30, &job), path[256];
    struct resp r;

    /* Read once, at once, as a client does right after the job ended: "they are flushed when
     * the job ends". The job left with one request answered and one still in flight. */
    snprintf(path, sizeof(path), "/v1/jobs/%s/egress", jstr(job, "id"));
    r = http_get(&d, path);
    cr_assert_eq(r.status, 200, "GET %s: %ld %s", path, r.status, r.body);
    cr_expect_eq(json_array_size(json_object_get(r.json, "events")), 2,
                 "right after the job ended its events are not all there: %s", r.body);
    resp_free(&r);
    cr_expect_eq(jint(json_object_get(job, "egress"), "allowed"), 2,
                 "the ended job's counters miss a request: %s", jdump(job));
    expect_passed(out, "done", 200, "hello\n");
    evs = egress(jstr(job, "id"), 2);
    cr_expect(find_ev(evs, "allow", "/hello") && find_ev(evs, "allow", "/slow"), "%s", jdump(evs));
    expect_counters(jstr(job, "id"), evs);
    json_decref(evs);
    free(out);
    json_decref(job);
}

Test(proxy, a_job_leaving_with_many_requests_in_flight_leaves_the_daemon_whole)
{
    for (int round = 0; round < 3; round++) {
        json_t *job, *evs;
        char *out = run_job("up", NULL, abandon_py, 30, &job);
        size_t i, ended = 0;
        json_t *e;

        cr_expect(strstr(out, "leaving") != NULL, "%s", out);
        evs = egress(jstr(job, "id"), 16);
        /* Each /slow ends as job_ended or client_closed, whichever the proxy sees first. */
        json_array_foreach(evs, i, e) if (strcmp(jstr(e, "path"), "/slow") == 0 &&
                                          (strcmp(jstr(e, "reason"), "job_ended") == 0 ||
                                           strcmp(jstr(e, "reason"), "client_closed") == 0))
            ended++;
        cr_expect_eq(json_array_size(evs), 16, "round %d: %zu events, %zu ended in flight", round,
                     json_array_size(evs), ended);
        cr_expect_eq(ended, 8, "round %d: %zu of 8 ended in flight", round, ended);
        expect_counters(jstr(job, "id"), evs);
        json_decref(evs);
        free(out);
        json_decref(job);
    }
    struct resp h = http_get(&d, "/healthz");
    cr_expect_eq(h.status, 200);
    resp_free(&h);
}

/* ---- refusals ---- */

Test(proxy, refusals_by_port_host_spelling_userinfo_scheme_and_path)
{
    const char *bad_hosts[] = {"dec", "hex", "oct", "short"};
    json_t *job, *evs;
    char *out = run_job("up", NULL, refusals_py, 60, &job), *log, want[64];

    expect_refused(out, "port", 403, "port", "up");
    for (size_t i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]); i++)
        expect_refused(out, bad_hosts[i], 403, "bad_host", "up");
    expect_refused(out, "mapped", 403, "ip_literal", "up");
    expect_refused(out, "v6", 403, "ip_literal", "up");
    expect_refused(out, "userinfo", 400, "bad_request", "up");
    expect_refused(out, "https", 400, "scheme", "up");
    expect_refused(out, "dotdot", 403, "bad_path", "up");
    expect_refused(out, "escdot", 403, "bad_path", "up");
    expect_refused(out, "ip_literal", 403, "ip_literal", "up");
    expect_refused(out, "no_rule", 403, "no_rule", "up");
    expect_passed(out, "good", 200, "hello\n");
    expect_untouched(&sink, "the sink");
    log = slurp(up.log);
    snprintf(want, sizeof(want), "GET /hello 127.0.0.1:%d\n", up.port);
    cr_expect_str_eq(log, want, "only the good request may reach the upstream");

    evs = egress(jstr(job, "id"), 14);
    cr_expect_eq(count_ev(evs, "deny", "port", "GET", "127.0.0.1", sink.port), 1, "%s", jdump(evs));
    expect_denials(evs, "bad_host", 4);
    expect_denials(evs, "bad_request", 1);
    expect_denials(evs, "scheme", 1);
    expect_denials(evs, "bad_path", 2);
    cr_expect_eq(count_ev(evs, "deny", "ip_literal", "GET", "10.1.2.3", 80), 1, "%s", jdump(evs));
    expect_denials(evs, "ip_literal", 3);
    cr_expect_eq(count_ev(evs, "deny", "no_rule", "GET", "example.com", 80), 1, "%s", jdump(evs));
    cr_expect_eq(count_ev(evs, "allow", "null", "GET", "127.0.0.1", up.port), 1, "%s", jdump(evs));
    expect_counters(jstr(job, "id"), evs);
    json_decref(evs);
    free(log);
    free(out);
    json_decref(job);
}

Test(proxy, localhost_without_a_cidr_rule_is_a_private_address)
{
    json_t *job, *evs;
    char *out = run_job("named_nocidr", NULL, private_py, 30, &job);

    expect_refused(out, "byname", 403, "private_address", "named_nocidr");
    expect_refused(out, "connect", 403, "private_address", "named_nocidr");
    expect_untouched(&up, "the upstream");
    evs = egress(jstr(job, "id"), 2);
    cr_expect_eq(count_ev(evs, "deny", "private_address", "GET", "localhost", up.port), 1, "%s",
                 jdump(evs));
    cr_expect_eq(count_ev(evs, "deny", "private_address", "CONNECT", "localhost", up.port), 1, "%s",
                 jdump(evs));
    expect_counters(jstr(job, "id"), evs);
    json_decref(evs);
    free(out);
    json_decref(job);
}

Test(proxy, the_daemon_api_port_is_refused_whatever_the_policy_says)
{
    /* Every local spelling of the API port: loopback by address and name, another loopback
     * address, the unspecified address, and IPv4-mapped IPv6. */
    const char *cases[] = {"ip",   "name",   "ip6",     "lo2",
                           "zero", "mapped", "connect", "connect_mapped"};
    const size_t n = sizeof(cases) / sizeof(cases[0]);
    json_t *job, *evs;
    char *out = run_job("apiport", NULL, apiport_py, 30, &job);

    for (size_t i = 0; i < n; i++)
        expect_refused(out, cases[i], 403, "daemon_port", "apiport");
    evs = egress(jstr(job, "id"), n);
    expect_denials(evs, "daemon_port", (int)n);
    cr_expect_eq(count_ev(evs, NULL, NULL, NULL, NULL, d.port), (int)n, "%s", jdump(evs));
    expect_counters(jstr(job, "id"), evs);
    json_decref(evs);
    free(out);
    json_decref(job);
}

Test(proxy, look_alike_names_are_no_rule)
{
    const char *cases[] = {"dash", "suffix", "prefix", "sub", "connect"};
    json_t *job, *evs;
    char *out = run_job("example", NULL, lookalike_py, 30, &job);

    /* These names do not resolve; a 403 no_rule (not a 502 dns_failed) shows the name was
     * refused before any lookup. */
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_refused(out, cases[i], 403, "no_rule", "example");
    expect_refused(out, "port", 403, "port", "example");
    evs = egress(jstr(job, "id"), 6);
    cr_expect_eq(count_ev(evs, "deny", "no_rule", "GET", "evil-example.com", 80), 1, "%s",
                 jdump(evs));
    cr_expect_eq(count_ev(evs, "deny", "no_rule", "GET", "example.com.evil.test", 80), 1, "%s",
                 jdump(evs));
    cr_expect_eq(count_ev(evs, "deny", "no_rule", "GET", "notexample.com", 80), 1, "%s",
                 jdump(evs));
    cr_expect_eq(count_ev(evs, "deny", "no_rule", "CONNECT", "evil-example.com", 443), 1, "%s",
                 jdump(evs));
    cr_expect_eq(count_ev(evs, "deny", "port", "GET", "example.com", 8080), 1, "%s", jdump(evs));
    expect_counters(jstr(job, "id"), evs);
    json_decref(evs);
    free(out);
    json_decref(job);
}

Test(proxy, malformed_heads_get_400_and_the_daemon_carries_on)
{
    const char *cases[] = {"cl_te", "two_cl", "lower", "origin", "obs_fold", "bare_lf"};
    json_t *job, *evs, *job2;
    char *out = run_job("up", NULL, malformed_py, 60, &job), *out2;
    struct resp r;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_refused(out, cases[i], 400, "bad_request", "up");
    expect_refused(out, "long", 414, "bad_request", "up");
    expect_passed(out, "good", 200, "hello\n");
    evs = egress(jstr(job, "id"), 8);
    expect_denials(evs, "bad_request", 7);
    cr_expect_eq(count_ev(evs, "allow", NULL, NULL, NULL, -1), 1, "%s", jdump(evs));
    expect_counters(jstr(job, "id"), evs);

    r = http(&d, "GET", "/healthz", NULL, "", NULL, NULL);
    cr_expect_eq(r.status, 200, "/healthz after the malformed requests: %ld", r.status);
    resp_free(&r);
    out2 = run_job("up", "curl -sS --max-time 10 \"http://127.0.0.1:$U/hello\"", NULL, 30, &job2);
    cr_expect_str_eq(out2, "hello\n");
    cr_expect_eq(count_lines(up.log), 2, "only the two good requests reach the upstream");
    json_decref(evs);
    json_decref(job2);
    free(out2);
    free(out);
    json_decref(job);
}

Test(proxy, nothing_listening_is_502_upstream_unreachable)
{
    json_t *job, *evs, *r, *e;
    char *out = run_job("dead", NULL, dead_py, 30, &job);

    r = result(out, "dead");
    cr_expect_eq(jint(r, "status"), 502, "%s\n%s", jdump(r), out);
    cr_expect_str_eq(jstr(r, "code"), "upstream_unreachable", "%s", jdump(r));
    json_decref(r);
    evs = egress(jstr(job, "id"), 1);
    cr_expect_eq(json_array_size(evs), 1, "%s", jdump(evs));
    e = json_array_get(evs, 0);
    cr_expect_str_eq(jstr(e, "decision"), "allow", "%s", jdump(e));
    cr_expect_str_eq(jstr(e, "reason"), "upstream_unreachable", "%s", jdump(e));
    cr_expect_str_eq(jstr(e, "rule"), "allow[0]", "%s", jdump(e));
    cr_expect(json_is_null(json_object_get(e, "status")), "%s", jdump(e));
    cr_expect_eq(jint(e, "port"), dead_port, "%s", jdump(e));
    expect_counters(jstr(job, "id"), evs);
    json_decref(evs);
    free(out);
    json_decref(job);
}

Test(proxy, a_policy_without_network_denies_everything)
{
    const char *policies[] = {"default", "nonet", "emptynet"};
    const char *cases[] = {"ip", "name", "public", "connect", "connect_ip"};

    for (size_t p = 0; p < sizeof(policies) / sizeof(policies[0]); p++) {
        json_t *job, *evs;
        char *out = run_job(policies[p], NULL, nonet_py, 30, &job);
        bool empty = strcmp(policies[p], "emptynet") == 0;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            /* With "network": {} an address may be refused as ip_literal: no cidr rule. */
            bool ip = strncmp(cases[i], "ip", 2) == 0 || strcmp(cases[i], "connect_ip") == 0;
            json_t *r = result(out, cases[i]);
            const char *reason = empty && ip && strcmp(jstr(r, "deny"), "ip_literal") == 0
                                     ? "ip_literal"
                                     : "no_rule";

            expect_refused(out, cases[i], 403, reason, policies[p]);
            json_decref(r);
        }
        evs = egress(jstr(job, "id"), 5);
        cr_expect_eq(count_ev(evs, "deny", NULL, NULL, NULL, -1), 5, "%s: %s", policies[p],
                     jdump(evs));
        expect_counters(jstr(job, "id"), evs);
        json_decref(evs);
        free(out);
        json_decref(job);
    }
    expect_untouched(&up, "the upstream");
}

Test(proxy, a_name_in_etc_hosts_pointing_at_loopback_needs_a_cidr_rule)
{
    char marker[32], line[192], want[192], *out, *log, *hosts;
    json_t *job, *evs;
    struct resp r;
    FILE *f;

    if (geteuid() != 0 || access("/etc/hosts", W_OK) != 0) {
        down();
        cr_skip_test("needs root and a writable /etc/hosts");
    }
    make_marker(marker, sizeof(marker));
    snprintf(hosts_name, sizeof(hosts_name), "airlock-%s.test", marker);
    hosts = slurp("/etc/hosts");
    f = fopen("/etc/hosts", "a");
    cr_assert(f, "cannot append to /etc/hosts");
    snprintf(line, sizeof(line), "%s127.0.0.1 %s\n",
             *hosts && hosts[strlen(hosts) - 1] != '\n' ? "\n" : "", hosts_name);
    free(hosts);
    fputs(line, f);
    cr_assert(fclose(f) == 0);
    policy("hostsname",
           "{\"description\": \"test: a name that points at loopback\", \"network\": {\"allow\":"
           " [{\"host\": \"%s\", \"ports\": [%d]}]}}",
           hosts_name, up.port);
    policy("hostsname_ok",
           "{\"description\": \"test: the same name with its address opened\", \"network\":"
           " {\"allow\": [{\"host\": \"%s\", \"ports\": [%d]}, {\"cidr\": \"127.0.0.1/32\","
           " \"ports\": [%d]}]}}",
           hosts_name, up.port, up.port);
    r = http_post(&d, "/v1/policies/reload", NULL);
    cr_assert_eq(r.status, 200, "reload: %ld %s", r.status, r.body);
    resp_free(&r);

    out = run_job("hostsname", NULL, hosts_py, 30, &job);
    expect_refused(out, "byname", 403, "private_address", "hostsname");
    expect_refused(out, "connect", 403, "private_address", "hostsname");
    expect_untouched(&up, "the upstream");
    evs = egress(jstr(job, "id"), 2);
    cr_expect_eq(count_ev(evs, "deny", "private_address", NULL, hosts_name, up.port), 2, "%s",
                 jdump(evs));
    json_decref(evs);
    free(out);
    json_decref(job);

    /* The control: with a cidr rule for its address the same name goes through. */
    out = run_job("hostsname_ok", NULL, hosts_ok_py, 30, &job);
    expect_passed(out, "byname", 200, "hello\n");
    log = slurp(up.log);
    snprintf(want, sizeof(want), "GET /hello %s:%d\n", hosts_name, up.port);
    cr_expect(strstr(log, want), "the upstream saw:\n%s", log);
    free(log);
    free(out);
    json_decref(job);
}

/* ---- CONNECT ---- */

Test(proxy_tls, connect_tunnels_carry_tls_that_names_the_connect_host)
{
    const char *tunnels[] = {"upper", "ip_nosni"}, *raw_hellos[] = {"split", "raw_hello"};
    json_t *job, *evs, *e;
    char *out = run_job("tls", tls_ok_sh, tls_ok_py, 90, &job), *sni, *big = big_sha256(52428800);
    size_t i;

    cr_expect(kv_is(out, "curl_name", "hello"), "curl -k https://localhost:T/hello:\n%s", out);
    cr_expect(kv_is(out, "curl_ip", "hello"), "curl -k https://127.0.0.1:T/hello:\n%s", out);
    cr_expect(kv_is(out, "tls_big", big), "50 MB through the tunnel:\n%s\nwant %s", out, big);
    for (i = 0; i < sizeof(tunnels) / sizeof(tunnels[0]); i++) {
        json_t *r = result(out, tunnels[i]);
        cr_expect_eq(jint(r, "status"), 200, "%s: %s", tunnels[i], jdump(r));
        cr_expect_str_eq(jstr(r, "tls"), "ok", "%s: %s", tunnels[i], jdump(r));
        cr_expect_str_eq(jstr(r, "inner_body"), "hello\n", "%s: %s", tunnels[i], jdump(r));
        json_decref(r);
    }
    for (i = 0; i < sizeof(raw_hellos) / sizeof(raw_hellos[0]); i++) {
        json_t *r = result(out, raw_hellos[i]);
        cr_expect_eq(jint(r, "status"), 200, "%s: %s", raw_hellos[i], jdump(r));
        cr_expect_str_eq(jstr(r, "after"), "data", "%s: no ServerHello came back: %s",
                         raw_hellos[i], jdump(r));
        json_decref(r);
    }
    /* The TLS server saw: localhost twice (curl), none (curl to an address), LOCALHOST, none,
     * and localhost twice (the hellos sent as bytes). */
    sni = slurp(tls.sni_log);
    cr_expect(strcasecmp(sni, "localhost\nlocalhost\n<none>\nlocalhost\n<none>\nlocalhost\n"
                              "localhost\n") == 0,
              "the TLS server's SNI log:\n%s", sni);
    evs = egress(jstr(job, "id"), 7);
    cr_expect_eq(count_ev(evs, "allow", NULL, "CONNECT", "127.0.0.1", tls.port), 2, "%s",
                 jdump(evs));
    json_array_foreach(evs, i, e)
    {
        cr_expect_str_eq(jstr(e, "scheme"), "https", "%s", jdump(e));
        cr_expect(json_is_null(json_object_get(e, "path")), "a CONNECT has no path: %s", jdump(e));
        cr_expect_gt(jint(e, "bytes_up"), 0, "%s", jdump(e));
        cr_expect_gt(jint(e, "bytes_down"), 0, "%s", jdump(e));
        cr_expect_str_eq(jstr(e, "rule"),
                         strcmp(jstr(e, "host"), "localhost") == 0 ? "allow[0]" : "allow[1]", "%s",
                         jdump(e));
    }
    cr_expect_eq(count_ev(evs, "allow", NULL, "CONNECT", "localhost", tls.port), 5, "%s",
                 jdump(evs));
    expect_counters(jstr(job, "id"), evs);
    json_decref(evs);
    free(big);
    free(sni);
    free(out);
    json_decref(job);
}

Test(proxy_tls, a_wrong_or_missing_sni_or_no_tls_closes_the_tunnel_before_the_upstream)
{
    const char *mismatches[] = {"evil", "nosni", "ip_sni"};
    const char *closed_tunnels[] = {"split_evil", "not_tls", "ech", "bad_tls"};
    json_t *job, *evs, *r;
    char *out = run_job("tls", NULL, tls_bad_py, 60, &job), *sni, *conns;

    for (size_t i = 0; i < sizeof(mismatches) / sizeof(mismatches[0]); i++) {
        r = result(out, mismatches[i]);
        cr_expect_eq(jint(r, "status"), 200, "%s: the CONNECT itself is allowed: %s\n%s",
                     mismatches[i], jdump(r), out);
        cr_expect_str_eq(jstr(r, "tls"), "error", "%s: the handshake went through: %s",
                         mismatches[i], jdump(r));
        json_decref(r);
    }
    for (size_t i = 0; i < sizeof(closed_tunnels) / sizeof(closed_tunnels[0]); i++) {
        r = result(out, closed_tunnels[i]);
        cr_expect_eq(jint(r, "status"), 200, "%s: %s\n%s", closed_tunnels[i], jdump(r), out);
        cr_expect(strcmp(jstr(r, "after"), "eof") == 0 || strcmp(jstr(r, "after"), "reset") == 0,
                  "%s: the tunnel was not closed: %s", closed_tunnels[i], jdump(r));
        json_decref(r);
    }
    expect_refused(out, "port", 403, "port", "tls");
    expect_refused(out, "no_rule", 403, "no_rule", "tls");

    sni = slurp(tls.sni_log);
    cr_expect_str_eq(sni, "", "a ClientHello reached the TLS server:\n%s", sni);
    conns = slurp(tls.conn_log);
    cr_expect(!strstr(conns, "data "), "bytes reached the TLS server:\n%s", conns);
    expect_untouched(&sink, "the sink");

    evs = egress(jstr(job, "id"), 9);
    expect_denials(evs, "sni_mismatch", 4);
    expect_denials(evs, "not_tls", 1);
    expect_denials(evs, "ech", 1);
    expect_denials(evs, "bad_tls", 1);
    cr_expect_eq(count_ev(evs, "deny", "sni_mismatch", "CONNECT", "localhost", tls.port), 3, "%s",
                 jdump(evs));
    cr_expect_eq(count_ev(evs, "deny", "sni_mismatch", "CONNECT", "127.0.0.1", tls.port), 1, "%s",
                 jdump(evs));
    cr_expect_eq(count_ev(evs, "deny", "port", "CONNECT", "localhost", sink.port), 1, "%s",
                 jdump(evs));
    cr_expect_eq(count_ev(evs, "deny", "no_rule", "CONNECT", "evil.example", 443), 1, "%s",
                 jdump(evs));
    expect_counters(jstr(job, "id"), evs);
    json_decref(evs);
    free(sni);
    free(conns);
    free(out);
    json_decref(job);
}

/* ---- timeouts ---- */

Test(proxy_timeouts, a_silent_upstream_a_stalled_head_and_an_idle_connection_time_out)
{
    json_t *job, *evs, *r;
    char *out = run_job("up", NULL, timeouts_py, 60, &job), *ms;

    r = result(out, "slow");
    cr_expect_eq(jint(r, "status"), 504, "%s\n%s", jdump(r), out);
    cr_expect_str_eq(jstr(r, "code"), "upstream_timeout", "%s", jdump(r));
    json_decref(r);
    ms = kv(out, "slow_ms");
    cr_expect(ms && strtol(ms, NULL, 10) < 6000, "the 504 came after %s ms (timeout 2 s)",
              ms ? ms : "?");
    free(ms);
    r = result(out, "stall");
    cr_expect(strcmp(jstr(r, "end"), "eof") == 0 || strcmp(jstr(r, "end"), "reset") == 0,
              "a head left unfinished is not closed: %s", jdump(r));
    cr_expect_lt(jint(r, "ms"), 6000, "%s", jdump(r));
    json_decref(r);
    /* Keep-alive: the connection waits for a next request, then closes after the idle timeout. */
    r = result(out, "idle");
    cr_expect_eq(jint(r, "status"), 200, "%s", jdump(r));
    cr_expect(strcmp(jstr(r, "closed"), "eof") == 0 || strcmp(jstr(r, "closed"), "reset") == 0,
              "an idle keep-alive connection is not closed: %s", jdump(r));
    cr_expect(jint(r, "ms") >= 1000 && jint(r, "ms") < 6000, "closed after %lld ms (idle 2 s)",
              jint(r, "ms"));
    json_decref(r);
    evs = egress(jstr(job, "id"), 2);
    cr_expect_eq(count_ev(evs, "allow", "upstream_timeout", "GET", "127.0.0.1", up.port), 1, "%s",
                 jdump(evs));
    json_decref(evs);
    free(out);
    json_decref(job);
}
