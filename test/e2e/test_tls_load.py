"""Many STARTTLS handshakes at once, each client sending its stream header
the moment its handshake ends: every one must get its stream features.
(GnuTLS can hold the next record where epoll cannot see it; a worker that
waited for the socket to wake it again left such clients hanging.)"""

import asyncio
import socket
import ssl
import threading

from harness import check, e2e_test, stream_header

N = 80


def starttls_features(port, results, i):
    try:
        s = socket.create_connection(('127.0.0.1', port), timeout=10)
        s.sendall(stream_header().encode())
        data = b''
        while b'</stream:features>' not in data:
            chunk = s.recv(4096)
            if not chunk:
                raise OSError('closed before features')
            data += chunk
        s.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        data = b''
        while b'proceed' not in data:
            chunk = s.recv(4096)
            if not chunk:
                raise OSError('closed before proceed')
            data += chunk
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        t = ctx.wrap_socket(s, server_hostname='localhost')
        t.sendall(stream_header().encode())
        data = b''
        while b'</stream:features>' not in data:
            chunk = t.recv(4096)
            if not chunk:
                raise OSError('closed before the features inside TLS')
            data += chunk
        results[i] = b'mechanisms' in data
        t.close()
    except Exception as e:  # noqa: BLE001 - reported per client
        results[i] = 'client %d: %s' % (i, e)


@e2e_test('tls_starttls_burst', timeout=60)
async def t_burst(env):
    results = [None] * N
    threads = [threading.Thread(target=starttls_features, args=(env.srv.port, results, i))
               for i in range(N)]
    for t in threads:
        t.start()
    await asyncio.to_thread(lambda: [t.join(30) for t in threads])
    bad = [r for r in results if r is not True]
    check(not bad, '%d of %d STARTTLS clients got no features inside TLS; first: %r'
          % (len(bad), N, bad[:1]))


@e2e_test('tls_starttls_burst_gnutls_client', timeout=120)
async def t_burst_bench(env):
    """The same with GnuTLS on the client side (the load generator), whose
    first records after the handshake arrive in the pattern that stalled."""
    import os
    import subprocess
    from harness import binary
    bench = binary('xmppd-bench')
    check(os.path.exists(bench), '%s is missing (make bench)' % bench)
    users = 200
    for i in range(1, users + 1):
        rc, _, err = await env.srv.ctl('register', 'user%d' % i, 'localhost', 'pw')
        check(rc == 0, 'register user%d: %s' % (i, err))
    out = await asyncio.to_thread(subprocess.run,
                                  [bench, 'login', '--port', str(env.srv.port), '--users',
                                   str(users), '--concurrency', '50', '--starttls', '--mech',
                                   'PLAIN', '--password', 'pw', '--login-timeout', '10'],
                                  capture_output=True, text=True, timeout=90)
    check(out.returncode == 0, 'xmppd-bench login --starttls: exit %d: %s'
          % (out.returncode, out.stderr.strip().splitlines()[-1:] if out.stderr else ''))
