"""Configuration reload (SIGHUP to the master, or `xmppctl reload`).

Each test edits the running server's own config file (srv.cfg: the harness's
srv.config_text() with some changes), asks for a reload, waits for the master
to say every process runs the new configuration, then observes the effect
through the protocol or the log: the debug lines of a new connection, a
refused third connection, a <register/> stream feature, a listener that
accepts and then refuses, the certificate a new TLS handshake presents (and
an older TLS session that keeps working), a module option in force.  An
invalid file (YAML syntax, an unknown key, a missing certificate, a port that
cannot be opened) changes nothing; a setting that needs a restart (workers)
is logged and not applied while the rest of the file is.

Every test runs on the runner's own server (env.srv) and leaves it running."""

import asyncio
import json
import os
import re
import signal
import socket
import ssl
import time
import xml.etree.ElementTree as ET

from certs import make_cert
from harness import (CTL_TIMEOUT, run_tool, NS_SASL, NS_STANZAS, NS_STREAM, RawStream, Server,
                     check, e2e_test, eventually, free_port, local, ns_of, sasl_plain,
                     stream_header)

NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls'
NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind'
NS_REG = 'jabber:iq:register'
NS_REG_FEATURE = 'http://jabber.org/features/iq-register'

DONE = r'master\[\d+\]: reload: done: every process runs the new configuration'
NOT_VALID = r'master\[\d+\]: reload: .* nothing changed'
APPLIED = re.compile(r'(router|worker \d+)\[\d+\]: reload: applied')
DEBUG_LINE = re.compile(r' debug (worker \d+|router|master)\[\d+\]: ')
CLOSED_DEBUG = re.compile(r' debug (worker \d+)\[\d+\]: 127\.0\.0\.1:\d+: '
                          r'connection closed by peer')
RELOAD_TIMEOUT = 10.0


# ------------------------------------------------------------------ config and reload


def write_config(srv, edit=None, **attrs):
    """Sets Server attributes (limits, extra_listeners, certfiles, extra_config, ...),
    renders the config for the running port, applies edit(text) and replaces the file
    (write + rename, the way an operator's tools do)."""
    for k, v in attrs.items():
        setattr(srv, k, v)
    text = srv.config_text(srv.port)
    if edit is not None:
        text = edit(text)
    tmp = srv.cfg + '.new'
    with open(tmp, 'w') as f:
        f.write(text)
    os.replace(tmp, srv.cfg)
    return text


def loglevel(level):
    def edit(text):
        check('loglevel: debug\n' in text, 'harness config has no "loglevel: debug" line')
        return text.replace('loglevel: debug\n', 'loglevel: %s\n' % level)
    return edit


async def sighup(srv, timeout=RELOAD_TIMEOUT):
    """SIGHUP the master and wait until every process has applied the file.
    Returns the log offset from before the signal."""
    start = len(srv.log())
    os.kill(srv.proc.pid, signal.SIGHUP)
    await reload_done(srv, start, timeout)
    return start


async def reload_done(srv, start, timeout=RELOAD_TIMEOUT):
    m = await srv.wait_log(DONE + '|' + NOT_VALID, timeout, start)
    check(m, 'no "reload: done" (nor "nothing changed") in the log within %.0fs after the '
          'reload: %s' % (timeout, srv.log_tail(8)))
    check('done' in m.group(0), 'the reload was refused: %s' % m.group(0))
    applied = APPLIED.findall(srv.log()[start:])
    check(sorted(applied) == sorted(['router'] + ['worker %d' % w for w in range(srv.workers)]),
          'expected "reload: applied" from the router and each worker, got %r' % applied)


async def sighup_refused(srv, timeout=RELOAD_TIMEOUT):
    """SIGHUP with a file that must not validate: returns the log text of the attempt."""
    start = len(srv.log())
    os.kill(srv.proc.pid, signal.SIGHUP)
    m = await srv.wait_log(NOT_VALID + '|' + DONE, timeout, start)
    check(m, 'no answer to SIGHUP in the log within %.0fs: %s' % (timeout, srv.log_tail(5)))
    check('nothing changed' in m.group(0), 'an invalid file was applied: %s' % m.group(0))
    await asyncio.sleep(0.2)  # would a child apply something anyway?
    seg = srv.log()[start:]
    applied = APPLIED.search(seg)
    check(not applied, 'a child applied the configuration the master refused: %r'
          % (applied and applied.group(0)))
    return seg


async def ctl(*args, timeout=CTL_TIMEOUT):
    """xmppctl with exactly these arguments: (rc, stdout, stderr)."""
    return await run_tool('xmppctl', *args, timeout=timeout)


def ctl_socket(srv):
    return os.path.join(srv.run_dir, 'xmppd.ctl')


async def status(srv):
    rc, out, err = await ctl('--json', '-s', ctl_socket(srv), 'status')
    check(rc == 0, 'xmppctl --json status: exit %s, %r' % (rc, err))
    return json.loads(out)


async def open_connections(srv):
    rc, out, err = await ctl('--json', '-s', ctl_socket(srv), 'stats')
    check(rc == 0, 'xmppctl --json stats: exit %s, %r' % (rc, err))
    return sum(w['connections'] for w in json.loads(out)['workers'])


async def settle(srv, n=0, timeout=5):
    """Wait until the workers count n open connections (closes have been handled)."""
    async def probe():
        return await open_connections(srv) == n
    check(await eventually(probe, timeout), 'the workers still count %d open connection(s), '
          'expected %d' % (await open_connections(srv), n))


async def poke(env, n=2):
    """n concurrent streams (the master spreads them over the workers), then closed:
    each worker that had one logs "connection closed by peer" at debug level."""
    streams = []
    for _ in range(n):
        rs = await RawStream.open(env.srv.port)
        env.raws.append(rs)
        await rs.open_stream()
        streams.append(rs)
    for rs in streams:
        await rs.close()
    await settle(env.srv)


def refused(port):
    """True when a new connection is closed by the server without a byte."""
    s = socket.create_connection(('127.0.0.1', port), timeout=3)
    try:
        s.settimeout(3)
        s.sendall(stream_header().encode())
        return s.recv(100) == b''
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    finally:
        s.close()


def port_closed(port):
    """True when nothing listens on 127.0.0.1:port (connection refused)."""
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=3):
            return False
    except ConnectionRefusedError:
        return True


# ------------------------------------------------------------------ blocking XMPP over TLS


def cert_der(path):
    """DER of the first certificate in a PEM file (chain, then key)."""
    with open(path) as f:
        pem = f.read()
    m = re.search(r'-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----', pem, re.S)
    check(m, 'no certificate in %s' % path)
    return ssl.PEM_cert_to_DER_cert(m.group(0))


def no_verify():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Stream:
    """A blocking XMPP stream (plain, STARTTLS or direct TLS), run with asyncio.to_thread:
    the bytes go through an XML pull parser split into top-level elements."""

    def __init__(self, port, direct_tls=False, ctx=None):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=5)
        self.eof = False
        self.restart()
        if direct_tls:
            self.sock = (ctx or no_verify()).wrap_socket(self.sock, server_hostname='localhost')

    def restart(self):
        self.parser = ET.XMLPullParser(events=('start', 'end'))
        self.depth = 0
        self.elements = []
        self.data = b''

    def peer_cert(self):
        return self.sock.getpeercert(binary_form=True)

    def version(self):
        return self.sock.version()

    def send(self, text):
        self.sock.sendall(text.encode())

    def wait(self, pred, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not pred(self):
            left = deadline - time.monotonic()
            if left <= 0 or self.eof:
                return False
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionError, OSError, ssl.SSLError):
                data = b''
            if not data:
                self.eof = True
                continue
            self.data += data
            self.parser.feed(data)
            for ev, el in self.parser.read_events():
                if ev == 'start':
                    self.depth += 1
                else:
                    if self.depth == 2:
                        self.elements.append(el)
                    self.depth -= 1
        return True

    def find(self, ns, name):
        return next((e for e in self.elements if e.tag == '{%s}%s' % (ns, name)), None)

    def answer(self, iid):
        return next((e for e in self.elements if e.get('id') == iid), None)

    def features(self):
        self.send(stream_header())
        check(self.wait(lambda s: s.find(NS_STREAM, 'features') is not None),
              'no stream features; got %r' % self.data[-300:])
        return self.find(NS_STREAM, 'features')

    def starttls(self, ctx=None):
        self.send("<starttls xmlns='%s'/>" % NS_TLS)
        check(self.wait(lambda s: s.find(NS_TLS, 'proceed') is not None),
              'no <proceed/> to <starttls/>; got %r' % self.data[-300:])
        self.sock = (ctx or no_verify()).wrap_socket(self.sock, server_hostname='localhost')
        self.restart()

    def login(self, user, password, resource):
        """PLAIN (the stream is open), restart, bind, then a ping answered by the server."""
        self.send(sasl_plain(user, password))
        check(self.wait(lambda s: s.find(NS_SASL, 'success') is not None
                        or s.find(NS_SASL, 'failure') is not None),
              'no answer to PLAIN; got %r' % self.data[-300:])
        check(self.find(NS_SASL, 'success') is not None, 'PLAIN failed: %r' % self.data[-300:])
        self.restart()
        self.features()
        self.send("<iq type='set' id='b1'><bind xmlns='%s'><resource>%s</resource></bind></iq>"
                  % (NS_BIND, resource))
        check(self.wait(lambda s: s.answer('b1') is not None), 'no answer to bind: %r'
              % self.data[-300:])
        check(self.answer('b1').get('type') == 'result', 'bind failed: %r' % self.data[-300:])
        self.ping('p1')

    def ping(self, iid):
        self.send("<iq type='get' id='%s' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>" % iid)
        check(self.wait(lambda s: s.answer(iid) is not None), 'no answer to a ping: %r'
              % self.data[-300:])
        check(self.answer(iid).get('type') == 'result', 'ping answered %r' % self.data[-300:])

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


async def stream(port, **kw):
    return await asyncio.to_thread(Stream, port, **kw)


async def starttls_cert(port):
    """The certificate a new STARTTLS handshake on port presents (DER)."""
    def run():
        s = Stream(port)
        try:
            feats = s.features()
            check(feats.find('{%s}starttls' % NS_TLS) is not None,
                  'STARTTLS not offered on port %d' % port)
            s.starttls()
            return s.peer_cert()
        finally:
            s.close()
    return await asyncio.to_thread(run)


async def direct_tls(port):
    """(certificate DER, TLS version) of a new direct-TLS handshake on port."""
    def run():
        s = Stream(port, direct_tls=True)
        try:
            return s.peer_cert(), s.version()
        finally:
            s.close()
    return await asyncio.to_thread(run)


# ------------------------------------------------------------------ tests


@e2e_test('reload_loglevel_info_then_debug', timeout=60)
async def t_loglevel(env):
    srv = env.srv
    env.step('reload with loglevel: info')
    write_config(srv, loglevel('info'))
    start = await sighup(srv)
    check(re.search(r'master\[\d+\]: reload: loglevel debug -> info', srv.log()[start:]),
          'the master did not log the level change: %s' % srv.log_tail(8))
    st = await status(srv)
    check(st['loglevel'] == 'info', 'the router runs at %r after the reload, not info'
          % st['loglevel'])

    env.step('at info: a connection logs no debug line')
    mark = len(srv.log())
    await poke(env)
    debug = DEBUG_LINE.search(srv.log()[mark:])
    check(not debug, 'a debug line was logged at loglevel info: %r' % (debug and debug.group(0)))

    env.step('reload with loglevel: debug')
    write_config(srv)  # the harness's text says debug
    await sighup(srv)
    check((await status(srv))['loglevel'] == 'debug', 'the router is not at debug')
    mark = len(srv.log())
    await poke(env)
    workers = set(CLOSED_DEBUG.findall(srv.log()[mark:]))
    check(workers == {'worker 0', 'worker 1'}, 'after the reload to debug, "connection closed '
          'by peer" debug lines came from %r, expected both workers: %s'
          % (sorted(workers), srv.log_tail(6)))


@e2e_test('reload_limits_max_connections_per_ip', timeout=60)
async def t_limits(env):
    srv = env.srv
    env.step('limits off: two held connections and a third one is served')
    held = []
    for _ in range(2):
        rs = await env.raw()
        await rs.open_stream()
        held.append(rs)
    check(not await asyncio.to_thread(refused, srv.port),
          'a third connection was refused while max_connections_per_ip is 0 (off)')
    await settle(srv, 2)

    env.step('xmppctl reload with max_connections_per_ip: 2')
    write_config(srv, limits=Server.NO_LIMITS.replace('max_connections_per_ip: 0',
                                                      'max_connections_per_ip: 2'))
    start = len(srv.log())
    rc, out, err = await srv.ctl('reload')
    check(rc == 0, 'xmppctl reload: exit %s, stderr %r' % (rc, err))
    check('reloaded' in out, 'xmppctl reload said %r' % out)
    await reload_done(srv, start)
    check(re.search(r'reload: limits changed', srv.log()[start:]), 'no "limits changed" line')

    env.step('the third concurrent connection is refused now')
    mark = len(srv.log())
    check(await asyncio.to_thread(refused, srv.port),
          'a third concurrent connection was served after the reload set the limit to 2')
    check(await srv.wait_log(r'refused a connection from 127\.0\.0\.1: too many connections',
                             3, mark), 'the refusal is not logged: %s' % srv.log_tail(3))
    for rs in held:
        await rs.wait(lambda s: s.eof, timeout=0.3)
        check(not rs.eof, 'a connection opened before the reload was closed by it')

    env.step('closing one frees its place')
    await held[0].close()
    async def served():
        return not await asyncio.to_thread(refused, srv.port)
    check(await eventually(served, 5, 0.1), 'after closing a connection, a new one is still '
          'refused')
    for rs in held[1:]:
        await rs.close()
    await settle(srv)

    env.step('auth_timeout: 1 applies to new connections in the workers')
    write_config(srv, limits=Server.NO_LIMITS + ', auth_timeout: 1')
    await sighup(srv)
    rs = await env.raw()
    await rs.open_stream()
    t0 = time.monotonic()
    ok = await rs.wait(lambda s: s.stream_error()[0] is not None, timeout=6)
    check(ok, 'no stream error for an unauthenticated connection after auth_timeout became 1: %r'
          % rs.text()[-200:])
    check(rs.stream_error()[0] == 'connection-timeout', 'stream error %r, expected '
          'connection-timeout' % rs.stream_error()[0])
    check(time.monotonic() - t0 < 5, 'connection-timeout came after %.1fs'
          % (time.monotonic() - t0))


async def iq(rs, itype, payload, iid):
    await rs.send("<iq type='%s' id='%s'>%s</iq>" % (itype, iid, payload))
    ok = await rs.wait(lambda s: any(e.get('id') == iid for e in s.elements))
    check(ok, 'no answer to IQ %s; got %r' % (iid, rs.text()[-300:]))
    return [e for e in rs.elements if e.get('id') == iid][0]


def reg_query(user, password):
    return ("<query xmlns='%s'><username>%s</username><password>%s</password></query>"
            % (NS_REG, user, password))


def error_condition(el):
    err = el.find('{%s}error' % 'jabber:client')
    if err is None:
        err = next((c for c in el if local(c.tag) == 'error'), None)
    if err is None:
        return None
    return next((local(c.tag) for c in err
                 if ns_of(c.tag) == NS_STANZAS and local(c.tag) != 'text'), '')


async def register_inband(env, user, password, iid):
    """A new stream, then an in-band registration: (features, answer)."""
    rs = await env.raw()
    feats = await rs.open_stream()
    ans = await iq(rs, 'set', reg_query(user, password), iid)
    await rs.close()
    return feats, ans


def offers_register(feats):
    return feats.find('{%s}register' % NS_REG_FEATURE) is not None


async def users(srv):
    rc, out, err = await ctl('--json', '-s', ctl_socket(srv), 'users', 'localhost')
    check(rc == 0, 'xmppctl users: exit %s, %r' % (rc, err))
    return sorted(json.loads(out))


@e2e_test('reload_registration_closed_then_open', timeout=60)
async def t_registration(env):
    srv = env.srv
    env.step('closed (the default): no <register/> and the IQ is refused')
    feats, ans = await register_inband(env, 'early', 'secret-early', 'r1')
    check(not offers_register(feats), 'registration is closed but <register/> is offered')
    check(ans.get('type') == 'error' and error_condition(ans) == 'service-unavailable',
          'registration while closed: %s' % ET.tostring(ans).decode())
    check('early' not in await users(srv), 'an account was made while registration was closed')

    env.step('reload with registration: open')
    write_config(srv, extra_config='registration: open\n')
    await sighup(srv)
    feats, ans = await register_inband(env, 'newbie', 'secret-newbie', 'r2')
    check(offers_register(feats), 'after the reload opened registration, the stream features '
          'lack <register/>: %s' % ET.tostring(feats).decode())
    check(ans.get('type') == 'result', 'registration after the reload: %s'
          % ET.tostring(ans).decode())
    check('newbie' in await users(srv), 'xmppctl users does not list the new account')
    c = await env.login('newbie@localhost/x', 'secret-newbie')
    await c.ping()

    env.step('reload with host_config closing localhost again')
    write_config(srv, extra_config='registration: open\n'
                 'host_config: {localhost: {registration: closed}}\n')
    await sighup(srv)
    feats, ans = await register_inband(env, 'late', 'secret-late', 'r3')
    check(not offers_register(feats), 'host_config closed registration but <register/> is '
          'still offered')
    check(ans.get('type') == 'error' and error_condition(ans) == 'service-unavailable',
          'registration after host_config closed it: %s' % ET.tostring(ans).decode())


@e2e_test('reload_module_options', timeout=60)
async def t_module_options(env):
    srv = env.srv
    check('register: {}' in srv.modules, 'the register module is not in %s' % srv.modules)
    env.step('registration open, default min_password_length (6)')
    write_config(srv, extra_config='registration: open\n')
    await sighup(srv)
    _, ans = await register_inband(env, 'first', 'nine-char', 'm1')
    check(ans.get('type') == 'result', 'a 9-character password was refused before the option '
          'changed: %s' % ET.tostring(ans).decode())

    env.step('reload with modules: {register: {min_password_length: 12}}')
    write_config(srv, lambda t: t.replace('register: {}', 'register: {min_password_length: 12}'))
    start = await sighup(srv)
    check(re.search(r'router\[\d+\]: reload: module register: options applied',
                    srv.log()[start:]), 'the router did not apply the register options: %s'
          % srv.log_tail(8))
    _, ans = await register_inband(env, 'second', 'nine-char', 'm2')
    check(ans.get('type') == 'error' and error_condition(ans) == 'not-acceptable',
          'a 9-character password after min_password_length became 12: %s'
          % ET.tostring(ans).decode())
    _, ans = await register_inband(env, 'third', 'twelve-chars', 'm3')
    check(ans.get('type') == 'result', 'a 12-character password was refused: %s'
          % ET.tostring(ans).decode())
    check(await users(srv) == ['first', 'third'], 'accounts: %r' % await users(srv))

    env.step('a bad option value is refused and the old value stays')
    write_config(srv, lambda t: t.replace('register: {}', 'register: {min_password_length: 0}'))
    start = len(srv.log())
    os.kill(srv.proc.pid, signal.SIGHUP)
    m = await srv.wait_log(DONE + '|' + NOT_VALID, RELOAD_TIMEOUT, start)
    check(m, 'no end of the reload in the log: %s' % srv.log_tail(5))
    seg = srv.log()[start:]
    check(re.search(r'register', seg) and re.search(r'(refused|not valid|min_password_length)',
                                                     seg),
          'the bad min_password_length is not reported: %r' % seg[-600:])
    _, ans = await register_inband(env, 'fourth', 'nine-char', 'm4')
    check(ans.get('type') == 'error' and error_condition(ans) == 'not-acceptable',
          'after a refused option, a 9-character password: %s' % ET.tostring(ans).decode())


@e2e_test('reload_listener_added_changed_removed', timeout=60)
async def t_listeners(env):
    srv = env.srv
    await env.register('bob')
    p2 = free_port()
    check(await asyncio.to_thread(port_closed, p2), 'port %d already accepts' % p2)

    env.step('reload with a second listener')
    write_config(srv, extra_listeners=[(p2, Server.PLAIN_LISTENER)])
    start = await sighup(srv)
    check(re.search(r'listening on 127\.0\.0\.1 port %d' % p2, srv.log()[start:]),
          'the new listener is not logged: %s' % srv.log_tail(8))
    s2 = await stream(p2)
    try:
        feats = await asyncio.to_thread(s2.features)
        check(feats.find('{%s}mechanisms' % NS_SASL) is not None, 'no SASL on the new listener')
        await asyncio.to_thread(s2.login, 'bob', 'pw-bob', 'p2')

        env.step('the same port with other options: kept open, new streams get them')
        write_config(srv, extra_listeners=[(p2, 'starttls: required')])
        start = await sighup(srv)
        check(not re.search(r'no longer listening on 127\.0\.0\.1 port %d' % p2,
                            srv.log()[start:]), 'the listener was closed for an option change')
        s3 = await stream(p2)
        feats = await asyncio.to_thread(s3.features)
        s3.close()
        tls = feats.find('{%s}starttls' % NS_TLS)
        check(tls is not None and tls.find('{%s}required' % NS_TLS) is not None,
              'starttls: required not in force on the kept listener: %s'
              % ET.tostring(feats).decode())
        check(feats.find('{%s}mechanisms' % NS_SASL) is None, 'SASL offered before the '
              'required STARTTLS: %s' % ET.tostring(feats).decode())

        env.step('reload without it: the port refuses, established sessions stay')
        write_config(srv, extra_listeners=[])
        start = await sighup(srv)
        check(re.search(r'no longer listening on 127\.0\.0\.1 port %d' % p2, srv.log()[start:]),
              'the removed listener is not logged: %s' % srv.log_tail(8))
        check(await asyncio.to_thread(port_closed, p2), 'port %d still accepts connections '
              'after its listener was removed' % p2)
        await asyncio.to_thread(s2.ping, 'p2')
        c = await env.login('bob@localhost/main')
        await c.ping()
    finally:
        s2.close()


@e2e_test('reload_certificate_for_new_tls_connections', timeout=60)
async def t_certs(env):
    srv = env.srv
    await env.register('carol')
    cert_a = srv.certfiles[0]
    der_a = cert_der(cert_a)
    p2 = free_port()

    env.step('a direct-TLS listener with certificate A')
    write_config(srv, extra_listeners=[(p2, 'tls: true')])
    await sighup(srv)
    der, _ = await direct_tls(p2)
    check(der == der_a, 'the direct-TLS listener does not present certificate A')
    check(await starttls_cert(srv.port) == der_a, 'STARTTLS does not present certificate A')
    old = await stream(p2, direct_tls=True)
    try:
        check(old.peer_cert() == der_a, 'the long-lived TLS connection did not get A')
        await asyncio.to_thread(old.features)

        env.step('reload with certificate B')
        cert_b = os.path.join(srv.dir, 'cert-b.pem')
        make_cert(cert_b, names=tuple(srv.hosts))
        der_b = cert_der(cert_b)
        check(der_b != der_a, 'the two test certificates are the same')
        write_config(srv, certfiles=[cert_b])
        await sighup(srv)
        der, _ = await direct_tls(p2)
        check(der == der_b, 'a direct-TLS handshake after the reload got %s, not certificate B'
              % ('A' if der == der_a else 'another certificate'))
        check(await starttls_cert(srv.port) == der_b, 'a STARTTLS handshake after the reload '
              'did not get certificate B')

        env.step('the TLS connection opened before the reload keeps working')
        await asyncio.to_thread(old.login, 'carol', 'pw-carol', 'old')
        check(old.peer_cert() == der_a, 'the old session changed certificate')
        await asyncio.to_thread(old.ping, 'p2')
    finally:
        old.close()


@e2e_test('reload_tls_priority_for_new_connections', timeout=60)
async def t_tls_priority(env):
    srv = env.srv
    p2 = free_port()
    write_config(srv, extra_listeners=[(p2, 'tls: true')])
    await sighup(srv)
    _, ver = await direct_tls(p2)
    check(ver == 'TLSv1.3', 'the default priority negotiated %s, expected TLSv1.3' % ver)
    env.step('reload with a TLS 1.2-only tls_priority')
    write_config(srv, extra_config='tls_priority: "NORMAL:-VERS-ALL:+VERS-TLS1.2"\n')
    await sighup(srv)
    _, ver = await direct_tls(p2)
    check(ver == 'TLSv1.2', 'after tls_priority allowed only TLS 1.2, a new handshake '
          'negotiated %s' % ver)


async def still_debug(env):
    """The level stayed debug: the router says so and a connection logs debug lines."""
    st = await status(env.srv)
    check(st['loglevel'] == 'debug', 'the router runs at %r, the refused file said info'
          % st['loglevel'])
    mark = len(env.srv.log())
    await poke(env)
    check(CLOSED_DEBUG.search(env.srv.log()[mark:]), 'no debug line after a refused reload: '
          'the workers changed their level')


@e2e_test('reload_yaml_error_changes_nothing', timeout=60)
async def t_yaml_error(env):
    srv = env.srv
    text = write_config(srv, lambda t: loglevel('info')(t) + 'bogus: [unclosed\n')
    bad_line = text.count('\n')  # the line of the unclosed flow sequence (or the next)

    env.step('SIGHUP with a YAML syntax error')
    seg = await sighup_refused(srv)
    m = re.search(re.escape(srv.cfg) + r':(\d+):\d+: .*syntax error', seg)
    check(m, 'the log does not name the file, line and error: %r' % seg[-500:])
    check(int(m.group(1)) in (bad_line, bad_line + 1), 'the error names line %s, the broken '
          'line is %d' % (m.group(1), bad_line))
    await still_debug(env)

    env.step('xmppctl -s SOCKET reload: exit 1 with the reason')
    start = len(srv.log())
    rc, out, err = await ctl('-s', ctl_socket(srv), 'reload')
    check(rc == 1, 'xmppctl -s reload of an invalid file: exit %s, stdout %r' % (rc, out))
    lines = [l for l in err.splitlines() if l.strip()]
    check(len(lines) == 1 and 'nothing changed' in lines[0] and srv.cfg in lines[0],
          'expected one line naming the file and "nothing changed", got %r' % err)
    check(await srv.wait_log(NOT_VALID, 3, start), 'the master did not log the refusal')
    rc, out, err = await ctl('--json', '-s', ctl_socket(srv), 'reload')
    doc = json.loads(out)
    check(rc == 1 and doc.get('ok') is False and 'nothing changed' in doc.get('error', ''),
          'xmppctl --json reload of an invalid file: exit %s, %r' % (rc, out))

    env.step('xmppctl -c BROKEN reload: exit 1, nothing was reloaded')
    start = len(srv.log())
    rc, out, err = await ctl('-c', srv.cfg, 'reload')
    check(rc == 1, 'xmppctl -c BROKEN reload: exit %s' % rc)
    lines = [l for l in err.splitlines() if l.strip()]
    check(lines and 'nothing was reloaded' in lines[-1], 'xmppctl -c BROKEN reload said %r' % err)
    await asyncio.sleep(0.3)
    check('reload: reading' not in srv.log()[start:], 'xmppctl -c BROKEN reached the server')
    await still_debug(env)

    env.step('the file fixed: the next reload applies it')
    write_config(srv, loglevel('info'))
    await sighup(srv)
    check((await status(srv))['loglevel'] == 'info', 'the fixed file was not applied')


@e2e_test('reload_unknown_key_changes_nothing', timeout=60)
async def t_unknown_key(env):
    srv = env.srv
    text = write_config(srv, lambda t: loglevel('info')(t) + 'no_such_setting: 1\n')
    line = text.count('\n')
    seg = await sighup_refused(srv)
    check(re.search(re.escape(srv.cfg) + r':%d:\d+: key .no_such_setting.: unknown key' % line,
                    seg), 'the log does not name the file, line %d and the key: %r'
          % (line, seg[-500:]))
    await still_debug(env)
    rc, out, err = await ctl('-s', ctl_socket(srv), 'reload')
    check(rc == 1 and 'no_such_setting' in err, 'xmppctl reload: exit %s, %r' % (rc, err))

    env.step('a bad value inside limits is refused the same way')
    write_config(srv, loglevel('info'), limits=Server.NO_LIMITS + ', auth_timeout: many')
    seg = await sighup_refused(srv)
    check('auth_timeout' in seg, 'the log does not name auth_timeout: %r' % seg[-500:])
    await still_debug(env)


@e2e_test('reload_missing_certificate_changes_nothing', timeout=60)
async def t_missing_cert(env):
    srv = env.srv
    der_a = cert_der(srv.certfiles[0])
    cert_a = srv.certfiles
    missing = os.path.join(srv.dir, 'missing.pem')
    write_config(srv, loglevel('info'), certfiles=[missing])
    srv.certfiles = cert_a
    seg = await sighup_refused(srv)
    check('missing.pem' in seg, 'the log does not name the missing file: %r' % seg[-500:])
    await still_debug(env)
    check(await starttls_cert(srv.port) == der_a, 'STARTTLS no longer presents the running '
          'certificate')
    rc, out, err = await ctl('-s', ctl_socket(srv), 'reload')
    check(rc == 1 and 'missing.pem' in err, 'xmppctl reload: exit %s, %r' % (rc, err))


@e2e_test('reload_listener_port_in_use_changes_nothing', timeout=60)
async def t_port_in_use(env):
    srv = env.srv
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        blocker.bind(('127.0.0.1', 0))
        blocker.listen(1)
        busy = blocker.getsockname()[1]
        p_ok = free_port()
        write_config(srv, loglevel('info'),
                     extra_listeners=[(p_ok, Server.PLAIN_LISTENER), (busy, Server.PLAIN_LISTENER)])
        seg = await sighup_refused(srv)
        check(re.search(r'port %d' % busy, seg), 'the log does not name the busy port: %r'
              % seg[-500:])
        check(await asyncio.to_thread(port_closed, p_ok), 'port %d of the refused file was left '
              'open' % p_ok)
        await still_debug(env)
        await env.register('dora')
        c = await env.login('dora@localhost/x')
        await c.ping()
    finally:
        blocker.close()
        srv.extra_listeners = []


@e2e_test('reload_needs_restart_keeps_workers', timeout=60)
async def t_needs_restart(env):
    srv = env.srv
    await env.register('erin')
    env.step('reload with workers: 3, another data_dir and loglevel: info')
    other = os.path.join(srv.dir, 'data2')
    os.mkdir(other)
    data_dir = srv.data_dir
    try:
        write_config(srv, loglevel('info'), workers=3, data_dir=other)
    finally:
        srv.workers = 2
        srv.data_dir = data_dir
    start = len(srv.log())
    rc, out, err = await srv.ctl('reload')
    check(rc == 0, 'xmppctl reload: exit %s, %r' % (rc, err))
    check('restart' in out, 'xmppctl reload does not say some settings need a restart: %r' % out)
    await reload_done(srv, start)
    seg = srv.log()[start:]
    for key in ('workers', 'data_dir'):
        check(re.search(r"reload: '%s' changed: needs a restart \(not applied" % key, seg),
              'no "needs a restart" line for %s: %r' % (key, seg[-800:]))
    check(not re.search(r'worker 2 started', srv.log()), 'a third worker was started')

    env.step('workers stay 2, the rest of the file applies')
    st = await status(srv)
    check(st['workers'] == 2 and st['workers_running'] == 2,
          'status after the reload: workers %s, running %s (expected 2 and 2)'
          % (st['workers'], st['workers_running']))
    check(st['loglevel'] == 'info', 'loglevel %r: the live part of the file was not applied'
          % st['loglevel'])
    check(await users(srv) == ['erin'], 'the accounts changed (data_dir switched?): %r'
          % await users(srv))
    c = await env.login('erin@localhost/x')
    await c.ping()
    check(not os.listdir(other), 'the new data_dir was used: %r' % os.listdir(other))


@e2e_test('reload_hosts_change_not_applied', timeout=60)
async def t_hosts(env):
    """hosts needs a restart: the master says it is not applied, so no process may serve
    the added host until then."""
    srv = env.srv
    both = os.path.join(srv.dir, 'cert-both.pem')
    make_cert(both, names=('localhost', 'other.test'))
    try:
        text = write_config(srv, certfiles=[both], hosts=['localhost', 'other.test'])
    finally:
        srv.hosts = ['localhost']
    check('other.test' in text, 'the new hosts list is not in the file')
    start = len(srv.log())
    os.kill(srv.proc.pid, signal.SIGHUP)
    await reload_done(srv, start)
    check(re.search(r"reload: 'hosts' changed: needs a restart \(not applied; host_config",
                    srv.log()[start:]), 'no "needs a restart" line for hosts: %s'
          % srv.log_tail(8))

    env.step('the added host is not served')
    problems = []
    st = await status(srv)
    if st['hosts'] != 1:
        problems.append('xmppctl status counts %s hosts' % st['hosts'])
    rc, out, err = await ctl('-s', ctl_socket(srv), 'register', 'u', 'other.test', 'pw-u')
    if rc != 1:
        problems.append('xmppctl register u other.test succeeded (exit %s)' % rc)
    rs = await env.raw()
    await rs.send(stream_header(to='other.test'))
    await rs.wait(lambda s: s.stream_error()[0] is not None or s.eof
                  or s.find(NS_STREAM, 'features') is not None, timeout=5)
    if rs.stream_error()[0] != 'host-unknown':
        problems.append('a stream to other.test got %s, not host-unknown'
                        % (rs.stream_error()[0] or 'stream features'))
    check(not problems, 'the hosts change was logged as "needs a restart (not applied)" but: %s'
          % '; '.join(problems))
    await env.register('fred')
    c = await env.login('fred@localhost/x')
    await c.ping()


@e2e_test('reload_modules_list_change_not_applied', timeout=60)
async def t_modules_list(env):
    """Removing a module from the list needs a restart: until then it keeps running, and
    what the workers advertise for it stays consistent with that."""
    srv = env.srv
    write_config(srv, extra_config='registration: open\n')
    await sighup(srv)
    feats, ans = await register_inband(env, 'before', 'secret-before', 'l1')
    check(offers_register(feats) and ans.get('type') == 'result', 'registration does not work '
          'with registration: open: %s' % ET.tostring(ans).decode())
    env.step('reload without register in the modules list')
    write_config(srv, lambda t: re.sub(r'register: \{\}, ?', '', t))
    check('register' not in open(srv.cfg).read().split('modules:')[1].split('\n')[0],
          'register still in the modules list')
    start = len(srv.log())
    os.kill(srv.proc.pid, signal.SIGHUP)
    await reload_done(srv, start)
    check(re.search(r"reload: 'modules' changed: needs a restart \(not applied; module options",
                    srv.log()[start:]), 'no "needs a restart" line for the modules list: %s'
          % srv.log_tail(8))
    feats, ans = await register_inband(env, 'after', 'secret-after', 'l2')
    check(ans.get('type') == 'result', 'the register module (still loaded) refused: %s'
          % ET.tostring(ans).decode())
    check(offers_register(feats), 'the register module still runs (the list change needs a '
          'restart) but the stream features no longer offer <register/>')


@e2e_test('reload_restores_file_loglevel_after_runtime_change', timeout=60)
async def t_loglevel_after_ctl(env):
    """`xmppctl loglevel error`, then a reload of the unchanged file (loglevel: debug):
    every process runs the file's level again, the master included."""
    srv = env.srv
    rc, out, err = await ctl('-s', ctl_socket(srv), 'loglevel', 'error')
    check(rc == 0, 'xmppctl loglevel error: exit %s, %r' % (rc, err))
    check((await status(srv))['loglevel'] == 'error', 'the router is not at error')
    start = len(srv.log())
    os.kill(srv.proc.pid, signal.SIGHUP)
    applied = lambda: sorted(APPLIED.findall(srv.log()[start:]))
    async def children():
        return applied() == ['router', 'worker 0', 'worker 1']
    check(await eventually(children, RELOAD_TIMEOUT), 'the children did not apply the reload: '
          '%r' % applied())
    check((await status(srv))['loglevel'] == 'debug', 'the router did not return to the file\'s '
          'level')
    check(await srv.wait_log(DONE, 3, start), 'the master logged no "reload: done" (info): it '
          'still runs at the level xmppctl set (error) while the file, the router and the '
          'workers say debug')


@e2e_test('reload_log_target_to_file_and_back', timeout=60)
async def t_log_target(env):
    srv = env.srv
    other = os.path.join(srv.dir, 'other.log')

    def other_log():
        try:
            with open(other, errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    env.step('reload with log: FILE')
    write_config(srv, extra_config='log: %s\n' % other)
    start = len(srv.log())
    os.kill(srv.proc.pid, signal.SIGHUP)
    async def done_in_file():
        return re.search(DONE, other_log())
    check(await eventually(done_in_file, RELOAD_TIMEOUT), 'no "reload: done" in %s: %r'
          % (other, other_log()[-500:]))
    moved = r'master\[\d+\]: reload: log now goes to %s' % re.escape(other)
    check(re.search(moved, srv.log()[start:]) or re.search(moved, other_log()),
          'no "log now goes to %s" line in either log' % other)
    check(sorted(APPLIED.findall(other_log())) == ['router', 'worker 0', 'worker 1'],
          'the children\'s "reload: applied" lines are not in the new file: %r'
          % other_log()[-600:])
    mark = len(srv.log())
    await poke(env)
    check(CLOSED_DEBUG.search(other_log()), 'the workers\' debug lines are not in the new file')
    check(not CLOSED_DEBUG.search(srv.log()[mark:]), 'workers still log to the old place')

    env.step('reload with the log back on stderr')
    write_config(srv, extra_config='')
    start = len(srv.log())
    os.kill(srv.proc.pid, signal.SIGHUP)
    await reload_done(srv, start)
    mark = len(srv.log())
    size = len(other_log())
    await poke(env)
    check(CLOSED_DEBUG.search(srv.log()[mark:]), 'the workers\' debug lines did not come back '
          'to stderr')
    check(not CLOSED_DEBUG.search(other_log()[size:]), 'workers still write to the file')


@e2e_test('reload_listeners_reordered', timeout=60)
async def t_reordered(env):
    """Two kept listeners swap places in the file: each keeps its own options."""
    srv = env.srv
    p2 = free_port()
    write_config(srv, extra_listeners=[(p2, 'tls: true')])
    await sighup(srv)

    def swap(text):
        lines = text.split('\n')
        i = next(k for k, l in enumerate(lines) if 'port: %d,' % srv.port in l)
        j = next(k for k, l in enumerate(lines) if 'port: %d,' % p2 in l)
        lines[i], lines[j] = lines[j], lines[i]
        return '\n'.join(lines)
    write_config(srv, swap)
    start = await sighup(srv)
    check(not re.search(r'no longer listening', srv.log()[start:]), 'a kept listener was closed')
    der, _ = await direct_tls(p2)
    check(der == cert_der(srv.certfiles[0]), 'port %d is no longer direct TLS' % p2)
    await env.register('gina')
    c = await env.login('gina@localhost/x')  # plain TCP on the main port
    await c.ping()
