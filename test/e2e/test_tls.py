"""TLS of issue 4: STARTTLS (required | optional), direct TLS (XEP-0368),
PLAIN only inside TLS, SCRAM-*-PLUS with tls-server-end-point and, on TLS 1.2,
tls-unique (RFC 5929), the downgrade rule of RFC 5802 for the GS2 flag 'y'
(refused where tls-unique is offered, taken on TLS 1.3), XEP-0440 channel-binding
advertisement, SASL ANONYMOUS per host, certificate checks at start, and TLS
session resumption across workers.

Each test that needs a listener other than the harness default runs its own
server (tls_server below), the way test_limits does.  Raw TLS streams use
Python's ssl module over the harness's non-blocking socket (an SSLObject and
memory BIOs), so the stream parsing and the bounded waits of RawStream apply
inside TLS too."""

import asyncio
import base64
import contextlib
import hashlib
import hmac
import os
import pathlib
import re
import socket
import ssl
import time
import xml.etree.ElementTree as ET

from cryptography import x509

from certs import key_pem, make_cert, make_key
from harness import (LOG_CHILD_DIED, run_tool, LOG_SANITIZER, NS_SASL, NS_STREAM, Env, RawStream,
                     Server, TestFailure, check, e2e_test, free_port, local, ns_of, sasl_plain,
                     stream_header)

NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls'
NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind'
NS_SASL_CB = 'urn:xmpp:sasl-cb:0'
ANON_JID = re.compile(r'^anon-[0-9a-f]{16}@localhost/')


# ------------------------------------------------------------------ servers


@contextlib.asynccontextmanager
async def tls_server(name, **kw):
    """A server of the test's own (Server keywords: listener, extra_listeners, hosts,
    extra_config, certfiles); stopped at the end, which fails on a sanitizer report, a
    child that died or a shutdown problem."""
    srv = Server(name, **kw)
    srv.start()
    env = Env(srv)
    ok = False
    try:
        yield env
        ok = True
    except TestFailure as e:  # point at this server's log, not the runner's spare one
        raise TestFailure('%s [log of %s: %s]' % (e, name, srv.log_path)) from None
    finally:
        await env.close_all()
        srv.stop()
        log = srv.log().splitlines()
        bad = [line for line in log if LOG_SANITIZER.search(line) or LOG_CHILD_DIED.search(line)]
        srv.cleanup(keep=bool(bad) or not ok or bool(os.environ.get('E2E_KEEP')))
        if ok:
            check(not bad, '%s: server log: %s (log %s)' % (name, bad[0] if bad else '',
                                                             srv.log_path))
            check(not srv.problems, '%s: shutdown: %s' % (name, '; '.join(srv.problems)))


def client_ctx(srv, verify=True, max_version=None):
    """A client context that trusts exactly the server's (self-signed) certificate and
    checks it names localhost; verify=False accepts anything."""
    if verify:
        ctx = ssl.create_default_context(cafile=srv.certfiles[0])
    else:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


# ------------------------------------------------------------------ raw TLS streams


class TlsStream(RawStream):
    """A RawStream that can switch to TLS (STARTTLS, or at once for direct TLS).
    Before start_tls it behaves exactly like RawStream."""

    tls = None

    @classmethod
    async def connect(cls, env, port, timeout=5.0):
        rs = await cls.open(port, timeout)
        env.raws.append(rs)
        return rs

    @classmethod
    async def direct(cls, env, port, ctx, session=None, timeout=5.0):
        rs = await cls.connect(env, port, timeout)
        await rs.start_tls(ctx, session)
        return rs

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    async def _flush_tls(self):
        data = self._out.read()
        if data:
            await asyncio.wait_for(self.loop.sock_sendall(self.sock, data), self.timeout)

    async def start_tls(self, ctx, session=None, server_hostname='localhost'):
        """The TLS handshake over the socket; raises TestFailure when it fails."""
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        obj = ctx.wrap_bio(self._in, self._out, server_hostname=server_hostname, session=session)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as e:
                raise TestFailure('TLS handshake failed: %s' % e)
            await self._flush_tls()
            left = deadline - time.monotonic()
            check(left > 0, 'TLS handshake did not finish within %.0fs' % self.timeout)
            try:
                data = await asyncio.wait_for(self.loop.sock_recv(self.sock, 65536), left)
            except asyncio.TimeoutError:
                raise TestFailure('TLS handshake did not finish within %.0fs' % self.timeout)
            except (ConnectionError, OSError) as e:
                raise TestFailure('connection broke during the TLS handshake: %s' % e)
            check(data, 'server closed the connection during the TLS handshake')
            self._in.write(data)
        await self._flush_tls()
        self.tls = obj

    async def send(self, text):
        if self.tls is None:
            return await super().send(text)
        data = text.encode() if isinstance(text, str) else text
        try:
            self.tls.write(data)
            await self._flush_tls()
        except (ConnectionError, OSError, ssl.SSLError) as e:
            self.send_error = '%s' % type(e).__name__
        except asyncio.TimeoutError:
            self.send_error = 'send timed out'

    async def _recv(self, left):
        """Bytes from the server (decrypted inside TLS); b'' at the end."""
        if self.tls is None:
            return await asyncio.wait_for(self.loop.sock_recv(self.sock, 65536), left)
        deadline = time.monotonic() + left
        while True:
            try:
                data = self.tls.read(65536)
                await self._flush_tls()
                return data
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b''
            raw = await asyncio.wait_for(self.loop.sock_recv(self.sock, 65536),
                                         max(0.001, deadline - time.monotonic()))
            if not raw:
                self._in.write_eof()
            else:
                self._in.write(raw)

    async def wait(self, pred, timeout=None, what='data'):
        """RawStream.wait, reading through TLS when it is on."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not pred(self):
            if self.eof:
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                data = await self._recv(left)
            except asyncio.TimeoutError:
                return False
            except (ConnectionError, OSError) as e:
                self.reset = '%s' % type(e).__name__
                data = b''
            if not data:
                self.eof = True
            else:
                self._feed(data)
        return True

    async def starttls(self, ctx, session=None, to='localhost'):
        """<starttls/> on an open stream, <proceed/>, the handshake, a new stream.
        Returns the features inside TLS."""
        n = len(self.elements)
        await self.send("<starttls xmlns='%s'/>" % NS_TLS)
        check(await self.wait(lambda s: len(s.elements) > n),
              'no answer to <starttls/>: %r' % self.text()[-300:])
        el = self.elements[n]
        check(el.tag == '{%s}proceed' % NS_TLS, 'answer to <starttls/> is %s, not <proceed/>'
              % ET.tostring(el))
        await self.start_tls(ctx, session)
        self.reset_parser()
        return await self.open_stream(to)

    async def new_stream(self):
        self.reset_parser()
        return await self.open_stream()

    async def bind(self, resource):
        """Stream restart already done: bind a resource; returns the full JID."""
        await self.send("<iq type='set' id='bind1'><bind xmlns='%s'><resource>%s</resource>"
                        "</bind></iq>" % (NS_BIND, resource))
        check(await self.wait(lambda s: any(e.get('id') == 'bind1' for e in s.elements)),
              'no answer to the bind request: %r' % self.text()[-300:])
        res = [e for e in self.elements if e.get('id') == 'bind1'][0]
        check(res.get('type') == 'result', 'bind failed: %s' % ET.tostring(res))
        jid = res.find('{%s}bind/{%s}jid' % (NS_BIND, NS_BIND))
        check(jid is not None and jid.text, 'bind result without a JID: %s' % ET.tostring(res))
        return jid.text

    async def ping(self, pid='ping1'):
        n = len(self.elements)
        await self.send("<iq type='get' id='%s' to='localhost'><ping xmlns='urn:xmpp:ping'/>"
                        "</iq>" % pid)
        check(await self.wait(lambda s: any(e.get('id') == pid for e in s.elements[n:])),
              'no answer to a ping: %r' % self.text()[-300:])
        res = [e for e in self.elements[n:] if e.get('id') == pid][0]
        check(res.get('type') == 'result', 'ping answered with %s' % ET.tostring(res))

    async def sasl(self, xml):
        """Sends a SASL element; returns the next top-level element the server sends."""
        n = len(self.elements)
        await self.send(xml)
        check(await self.wait(lambda s: len(s.elements) > n),
              'no answer to %s: %r%s' % (xml[:80], self.text()[-300:],
                                         ' (connection closed)' if self.eof else ''))
        return self.elements[n]


def mechanisms(features):
    m = features.find('{%s}mechanisms' % NS_SASL)
    return [] if m is None else [x.text for x in m.findall('{%s}mechanism' % NS_SASL)]


def cb_types(features):
    el = features.find('{%s}sasl-channel-binding' % NS_SASL_CB)
    return None if el is None else [c.get('type') for c in el.findall('{%s}channel-binding'
                                                                      % NS_SASL_CB)]


def sasl_condition(el):
    """'success', or the condition of a <failure/>, or what the element is."""
    if el.tag == '{%s}success' % NS_SASL:
        return 'success'
    if el.tag == '{%s}failure' % NS_SASL:
        conds = [local(c.tag) for c in el if ns_of(c.tag) == NS_SASL and local(c.tag) != 'text']
        return 'failure:' + (conds[0] if conds else '')
    return ET.tostring(el).decode(errors='replace')


def server_end_point(der):
    """RFC 5929 4.1: the certificate's hash, with SHA-256 for MD5/SHA-1 signatures and
    otherwise the signature's own hash function (our test certificates are
    ecdsa-with-SHA256)."""
    alg = x509.load_der_x509_certificate(der).signature_hash_algorithm
    name = 'sha256' if alg is None or alg.name in ('md5', 'sha1') else alg.name
    return hashlib.new(name, der).digest()


async def scram(rs, mech, user, password, gs2='n,,', cb_data=b''):
    """A SCRAM exchange (RFC 5802) on stream rs (TLS or not) with the given GS2 header and
    channel-binding data.  Returns ('success', verified) with verified telling whether
    the server signature checked out, or (failure condition, None)."""
    h = hashlib.sha256 if mech.startswith('SCRAM-SHA-256') else hashlib.sha1
    cnonce = base64.b64encode(os.urandom(18)).decode()
    bare = 'n=%s,r=%s' % (user, cnonce)
    el = await rs.sasl("<auth xmlns='%s' mechanism='%s'>%s</auth>"
                       % (NS_SASL, mech, base64.b64encode((gs2 + bare).encode()).decode()))
    if local(el.tag) != 'challenge':
        return sasl_condition(el), None
    server_first = base64.b64decode(el.text or '').decode()
    attrs = dict(kv.split('=', 1) for kv in server_first.split(','))
    check(attrs.get('r', '').startswith(cnonce) and len(attrs['r']) > len(cnonce),
          '%s: server nonce does not extend ours: %r' % (mech, server_first))
    salted = hashlib.pbkdf2_hmac(h().name, password.encode(), base64.b64decode(attrs['s']),
                                 int(attrs['i']))
    cbind = base64.b64encode(gs2.encode() + cb_data).decode()
    without_proof = 'c=%s,r=%s' % (cbind, attrs['r'])
    ckey = hmac.new(salted, b'Client Key', h).digest()
    auth_msg = ','.join([bare, server_first, without_proof]).encode()
    sig = hmac.new(h(ckey).digest(), auth_msg, h).digest()
    proof = bytes(a ^ b for a, b in zip(ckey, sig))
    el = await rs.sasl("<response xmlns='%s'>%s</response>" % (
        NS_SASL, base64.b64encode((without_proof + ',p=' + base64.b64encode(proof).decode())
                                  .encode()).decode()))
    cond = sasl_condition(el)
    if cond != 'success':
        return cond, None
    final = base64.b64decode(el.text or '').decode()
    skey = hmac.new(salted, b'Server Key', h).digest()
    want = base64.b64encode(hmac.new(skey, auth_msg, h).digest()).decode()
    return cond, final == 'v=' + want


async def expect_stream_error(rs, condition, what):
    """<stream:error><condition/></stream:error>, </stream:stream>, then the close."""
    await rs.wait(lambda s: s.find(NS_STREAM, 'error') is not None, 5)
    got, el = rs.stream_error()
    check(el is not None, '%s: no <stream:error> within 5s; server sent %r%s'
          % (what, rs.text()[-400:], ' (connection closed)' if rs.eof else ''))
    check(got == condition, '%s: stream error <%s/>, expected <%s/>; server sent %r'
          % (what, got, condition, rs.text()[-300:]))
    check(await rs.wait_eof(5), '%s: connection still open 5s after the stream error' % what)
    check(rs.stream_closed, '%s: stream error not followed by </stream:stream>: %r'
          % (what, rs.text()[-200:]))


# ------------------------------------------------------------------ slixmpp over TLS


async def tls_login(env, jid, port, direct=False, mech='PLAIN', timeout=10.0, presence=True):
    """A slixmpp client over STARTTLS (force_starttls) or direct TLS, verifying the server
    certificate against the server's own.  Checks the session runs inside TLS."""
    c = env.client(jid, mech=mech)
    x = c.x
    x['feature_mechanisms'].unencrypted_plain = False
    x['feature_mechanisms'].unencrypted_scram = False
    x.enable_plaintext = False
    x.ca_certs = pathlib.Path(env.srv.certfiles[0])  # verify_mode CERT_REQUIRED + hostname
    x.connect(('127.0.0.1', port), use_ssl=direct, force_starttls=not direct,
              disable_starttls=direct)
    try:
        res = await asyncio.wait_for(asyncio.shield(c.session), timeout)
    except asyncio.TimeoutError:
        res = 'no session_start or failed_auth within %.0fs' % timeout
    if res != 'ok':
        x.abort()
        raise TestFailure('TLS login of %s (%s, %s): %s' % (
            jid, mech, 'direct TLS' if direct else 'STARTTLS', res))
    obj = x.transport.get_extra_info('ssl_object') if x.transport else None
    check(obj is not None, '%s: session_start without TLS on the transport' % jid)
    c.tls_version = obj.version()
    if presence:
        await env.go_online(c)
    return c


async def chat(a, b, body):
    a.send_chat(b.x.boundjid.bare, body)
    await b.wait_messages(1, 5, '%s waiting for a message from %s' % (b.jid, a.jid))
    got = b.messages[-1]
    check(got['body'] == body and got['from'].bare == a.x.boundjid.bare,
          '%s got %r from %s, expected %r from %s' % (b.jid, got['body'], got['from'], body,
                                                       a.x.boundjid.bare))


# ------------------------------------------------------------------ 1. STARTTLS required


@e2e_test('tls_starttls_required', timeout=90)
async def t_starttls_required(_env):
    async with tls_server('tls_starttls_required', listener='starttls: required') as env:
        port = env.srv.port
        await env.register('alice')
        await env.register('bob')

        env.step('features before TLS')
        rs = await TlsStream.connect(env, port)
        f = await rs.open_stream()
        st = f.find('{%s}starttls' % NS_TLS)
        check(st is not None and st.find('{%s}required' % NS_TLS) is not None,
              'features before TLS lack <starttls><required/></starttls>: %s' % ET.tostring(f))
        check(f.find('{%s}mechanisms' % NS_SASL) is None,
              'SASL mechanisms offered before TLS on a starttls: required listener: %s'
              % ET.tostring(f))

        env.step('SASL before STARTTLS')
        await rs.send(sasl_plain('alice', 'pw-alice'))
        await expect_stream_error(rs, 'policy-violation', 'PLAIN <auth/> before STARTTLS')
        rs = await TlsStream.connect(env, port)
        await rs.open_stream()
        await rs.send("<auth xmlns='%s' mechanism='SCRAM-SHA-1'>%s</auth>"
                      % (NS_SASL, base64.b64encode(b'n,,n=alice,r=abcdefgh').decode()))
        await expect_stream_error(rs, 'policy-violation', 'SCRAM <auth/> before STARTTLS')

        env.step('a stanza before STARTTLS')
        rs = await TlsStream.connect(env, port)
        await rs.open_stream()
        await rs.send("<message to='bob@localhost' type='chat'><body>clear</body></message>")
        await expect_stream_error(rs, 'policy-violation', 'a <message/> before STARTTLS')

        env.step('raw STARTTLS, then PLAIN inside TLS')
        rs = await TlsStream.connect(env, port)
        await rs.open_stream()
        f = await rs.starttls(client_ctx(env.srv))
        check(f.find('{%s}starttls' % NS_TLS) is None,
              'STARTTLS offered again inside TLS: %s' % ET.tostring(f))
        mechs = mechanisms(f)
        check('PLAIN' in mechs and 'SCRAM-SHA-256' in mechs and 'SCRAM-SHA-256-PLUS' in mechs,
              'mechanisms inside TLS: %s' % mechs)
        el = await rs.sasl(sasl_plain('alice', 'pw-alice'))
        check(sasl_condition(el) == 'success', 'PLAIN inside STARTTLS: %s' % sasl_condition(el))
        await rs.new_stream()
        jid = await rs.bind('raw')
        check(jid == 'alice@localhost/raw', 'bound %r' % jid)
        await rs.ping()
        await rs.close()

        env.step('plaintext pipelined behind <starttls/> is not run inside TLS')
        rs = await TlsStream.connect(env, port)
        await rs.open_stream()
        await rs.send("<starttls xmlns='%s'/>" % NS_TLS + stream_header(decl=False) +
                      sasl_plain('alice', 'pw-alice'))
        check(await rs.wait(lambda s: s.find(NS_TLS, 'proceed') is not None, 5),
              'no <proceed/>: %r' % rs.text()[-300:])
        await rs.start_tls(client_ctx(env.srv))
        rs.reset_parser()
        await rs.wait(lambda s: s.header is not None or s.eof, 1)
        check(rs.header is None and not rs.eof,
              'the server answered (or closed) inside TLS before we sent a stream header: the '
              'injected plaintext header was processed: %r' % rs.text()[-300:])
        f = await rs.open_stream()
        await rs.wait(lambda s: len(s.elements) > 1 or s.eof, 1)
        check([local(e.tag) for e in rs.elements] == ['features'] and mechanisms(f),
              'injected plaintext <auth/> was processed inside TLS: %r' % rs.text()[-300:])
        await rs.close()

        env.step('<starttls/> a second time, inside TLS')
        rs = await TlsStream.connect(env, port)
        await rs.open_stream()
        await rs.starttls(client_ctx(env.srv))
        await rs.send("<starttls xmlns='%s'/>" % NS_TLS)
        await rs.wait(lambda s: s.find(NS_TLS, 'failure') is not None or s.eof, 5)
        check(rs.find(NS_TLS, 'failure') is not None,
              'second <starttls/> inside TLS: expected <failure xmlns=%s/>, got %r'
              % (NS_TLS, rs.text()[-300:]))
        check(await rs.wait_eof(5), 'connection open 5s after the STARTTLS <failure/>')

        env.step('slixmpp over STARTTLS (certificate verified), chatting')
        a = await tls_login(env, 'alice@localhost/tls', port)
        b = await tls_login(env, 'bob@localhost/tls', port)
        check(a.tls_version in ('TLSv1.3', 'TLSv1.2'), 'TLS version %s' % a.tls_version)
        await chat(a, b, 'over STARTTLS')
        await chat(b, a, 'and back')
        await a.ping()


# ------------------------------------------------------------------ 2. direct TLS


@e2e_test('tls_direct_listener', timeout=90)
async def t_direct(_env):
    p2 = free_port()
    async with tls_server('tls_direct_listener', extra_listeners=[(p2, 'tls: true')]) as env:
        await env.register('alice')
        await env.register('bob')

        env.step('raw direct TLS: features right after the handshake')
        rs = await TlsStream.direct(env, p2, client_ctx(env.srv))
        f = await rs.open_stream()
        check(rs.header is not None, 'no stream header inside direct TLS')
        check(f.find('{%s}starttls' % NS_TLS) is None,
              'STARTTLS offered on a direct-TLS stream: %s' % ET.tostring(f))
        mechs = mechanisms(f)
        check('PLAIN' in mechs and 'SCRAM-SHA-256-PLUS' in mechs,
              'mechanisms on direct TLS: %s' % mechs)
        el = await rs.sasl(sasl_plain('alice', 'pw-alice'))
        check(sasl_condition(el) == 'success', 'PLAIN on direct TLS: %s' % sasl_condition(el))
        await rs.new_stream()
        check(await rs.bind('rawtls') == 'alice@localhost/rawtls', 'bind on direct TLS')
        await rs.ping()
        await rs.close()

        env.step('slixmpp use_ssl=True logs in and pings')
        a = await tls_login(env, 'alice@localhost/direct', p2, direct=True)
        await a.ping()
        await a.ping('alice@localhost')

        env.step('direct-TLS client chats with a STARTTLS client on the other listener')
        b = await tls_login(env, 'bob@localhost/starttls', env.srv.port)
        await chat(a, b, 'direct to starttls')
        await chat(b, a, 'starttls to direct')

        env.step('a client without SNI, and one asking for another name, get the certificate')
        for sni in (None, 'other.example'):
            rs = await TlsStream.connect(env, p2)
            await rs.start_tls(client_ctx(env.srv, verify=False), server_hostname=sni)
            f = await rs.open_stream()
            check('PLAIN' in mechanisms(f), 'SNI %s: features %s' % (sni, ET.tostring(f)))
            await rs.close()

        env.step('XMPP in the clear on the TLS port')
        rs = await TlsStream.connect(env, p2)
        await rs.send(stream_header())
        await rs.wait_eof(5)
        check(rs.eof and b'<stream:features' not in rs.data,
              'plaintext XMPP on the direct-TLS port: expected the connection to be closed '
              'without features, got %r (closed: %s)' % (rs.text()[:200], rs.eof))
        await a.ping()


@e2e_test('tls_handshake_timeout', timeout=60)
async def t_handshake_timeout(_env):
    """A TLS handshake that never finishes is bounded by auth_timeout: the connection is
    closed, and nothing is written in the clear after <proceed/>."""
    p2 = free_port()
    async with tls_server('tls_handshake_timeout', listener='starttls: required',
                          extra_listeners=[(p2, 'tls: true')],
                          limits=Server.NO_LIMITS + ', auth_timeout: 1') as env:
        cases = [('direct TLS, silent', p2, None, b''),
                 ('direct TLS, half a ClientHello', p2, None,
                  b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'),
                 ('STARTTLS <proceed/>, then silent', env.srv.port, 'starttls', b'')]
        for what, port, mode, payload in cases:
            env.step(what)
            rs = await TlsStream.connect(env, port)
            if mode == 'starttls':
                await rs.open_stream()
                await rs.send("<starttls xmlns='%s'/>" % NS_TLS)
                check(await rs.wait(lambda s: s.find(NS_TLS, 'proceed') is not None, 5),
                      '%s: no <proceed/>: %r' % (what, rs.text()[-300:]))
            n = len(rs.data)
            if payload:
                await rs.send(payload)
            t0 = time.monotonic()
            check(await rs.wait_eof(5), '%s: connection still open after 5s (auth_timeout 1s)'
                  % what)
            check(rs.data[n:] == b'', '%s: the server wrote in the clear during the handshake: %r'
                  % (what, rs.data[n:][:200]))
            check(time.monotonic() - t0 < 4, '%s: closed only after %.1fs'
                  % (what, time.monotonic() - t0))
        env.step('a normal TLS client afterwards')
        await env.register('alice')
        c = await tls_login(env, 'alice@localhost/after', p2, direct=True)
        await c.ping()


# ------------------------------------------------------------------ 3. PLAIN only inside TLS


@e2e_test('tls_plain_only_inside_tls', timeout=90)
async def t_plain(_env):
    p3 = free_port()
    async with tls_server('tls_plain_only_inside_tls', listener='starttls: optional',
                          extra_listeners=[(p3, 'starttls: off')]) as env:
        port = env.srv.port
        await env.register('alice')

        env.step('plain TCP without allow_plaintext_auth: no PLAIN')
        rs = await TlsStream.connect(env, port)
        f = await rs.open_stream()
        st = f.find('{%s}starttls' % NS_TLS)
        check(st is not None and st.find('{%s}required' % NS_TLS) is None,
              'starttls: optional should offer STARTTLS without <required/>: %s'
              % ET.tostring(f))
        mechs = mechanisms(f)
        check('PLAIN' not in mechs, 'PLAIN offered in the clear: %s' % mechs)
        check('SCRAM-SHA-256' in mechs and 'SCRAM-SHA-1' in mechs,
              'SCRAM not offered in the clear: %s' % mechs)
        check(not [m for m in mechs if m.endswith('-PLUS')] and cb_types(f) is None,
              '-PLUS / channel bindings offered without TLS: %s' % ET.tostring(f))
        el = await rs.sasl(sasl_plain('alice', 'pw-alice'))
        check(sasl_condition(el) == 'failure:invalid-mechanism',
              "<auth mechanism='PLAIN'> in the clear: expected failure invalid-mechanism, got %s"
              % sasl_condition(el))
        check(not rs.eof, 'the stream was closed after invalid-mechanism')

        env.step('STARTTLS on the same stream: PLAIN offered and working')
        f = await rs.starttls(client_ctx(env.srv))
        check('PLAIN' in mechanisms(f), 'PLAIN not offered inside TLS: %s' % mechanisms(f))
        el = await rs.sasl(sasl_plain('alice', 'pw-alice'))
        check(sasl_condition(el) == 'success', 'PLAIN inside TLS: %s' % sasl_condition(el))
        await rs.new_stream()
        check(await rs.bind('plain') == 'alice@localhost/plain', 'bind after PLAIN in TLS')
        await rs.ping()
        await rs.close()

        env.step('SCRAM in the clear still works (flag y is fine: no -PLUS offered)')
        for gs2 in ('n,,', 'y,,'):
            rs = await TlsStream.connect(env, port)
            await rs.open_stream()
            res, verified = await scram(rs, 'SCRAM-SHA-256', 'alice', 'pw-alice', gs2=gs2)
            check(res == 'success' and verified,
                  'SCRAM-SHA-256 in the clear with flag %s: %s (server signature ok: %s)'
                  % (gs2[0], res, verified))
            await rs.close()

        env.step('starttls: off: no STARTTLS, no PLAIN; <starttls/> gets <failure/>')
        rs = await TlsStream.connect(env, p3)
        f = await rs.open_stream()
        check(f.find('{%s}starttls' % NS_TLS) is None, 'STARTTLS offered with starttls: off: %s'
              % ET.tostring(f))
        check('PLAIN' not in mechanisms(f) and 'SCRAM-SHA-1' in mechanisms(f),
              'mechanisms with starttls: off: %s' % mechanisms(f))
        await rs.send("<starttls xmlns='%s'/>" % NS_TLS)
        await rs.wait(lambda s: s.find(NS_TLS, 'failure') is not None or s.eof, 5)
        check(rs.find(NS_TLS, 'failure') is not None,
              '<starttls/> with starttls: off: expected <failure xmlns=%s/>, got %r'
              % (NS_TLS, rs.text()[-300:]))
        check(await rs.wait_eof(5), 'connection open 5s after the STARTTLS <failure/>')

        env.step('slixmpp: PLAIN over STARTTLS works, PLAIN in the clear does not')
        c = await tls_login(env, 'alice@localhost/s1', port)
        await c.ping()
        res = await env.login('alice@localhost/clear', mech='PLAIN', presence=False,
                              expect_ok=False)
        check(res != 'ok', 'slixmpp PLAIN in the clear logged in')


# ------------------------------------------------------------------ 4. SCRAM-*-PLUS


@e2e_test('tls_scram_plus_channel_binding', timeout=120)
async def t_scram_plus(_env):
    p2 = free_port()
    async with tls_server('tls_scram_plus_channel_binding', listener='starttls: required',
                          extra_listeners=[(p2, 'tls: true')]) as env:
        await env.register('alice')
        ctx = client_ctx(env.srv)

        async def fresh(how='direct', c=ctx):
            if how == 'direct':
                rs = await TlsStream.direct(env, p2, c)
                f = await rs.open_stream()
            else:
                rs = await TlsStream.connect(env, env.srv.port)
                await rs.open_stream()
                f = await rs.starttls(c)
            return rs, f

        async def attempt(mech, gs2, cb=b'', how='direct', c=ctx):
            """One SCRAM attempt on a connection of its own (failures count per stream)."""
            rs, f = await fresh(how, c)
            res, verified = await scram(rs, mech, 'alice', 'pw-alice', gs2=gs2, cb_data=cb)
            return rs, f, res, verified

        rs, f = await fresh()
        der = rs.tls.getpeercert(binary_form=True)
        cb = server_end_point(der)
        check(len(cb) == 32, 'the test certificate is not SHA-256 signed?')
        await rs.close()

        for how in ('direct', 'starttls'):
            for mech in ('SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS'):
                env.step('%s tls-server-end-point over %s' % (mech, how))
                rs, f, res, verified = await attempt(mech, 'p=tls-server-end-point,,', cb, how)
                check(rs.tls.version() == 'TLSv1.3', 'TLS version %s' % rs.tls.version())
                check(mech in mechanisms(f), '%s not offered: %s' % (mech, mechanisms(f)))
                check(cb_types(f) == ['tls-exporter', 'tls-server-end-point'],
                      'XEP-0440 channel bindings under TLS 1.3: %s' % cb_types(f))
                check(res == 'success', '%s with the right tls-server-end-point data (%s): %s'
                      % (mech, how, res))
                check(verified, '%s: the server signature (v=) does not verify' % mech)
                await rs.new_stream()
                check(await rs.bind('plus') == 'alice@localhost/plus', 'bind after %s' % mech)
                await rs.ping()
                await rs.close()

                env.step('%s with wrong channel-binding data over %s' % (mech, how))
                wrong = hashlib.sha256(b'not the certificate' + der).digest()
                rs, f, res, _ = await attempt(mech, 'p=tls-server-end-point,,', wrong, how)
                check(res == 'failure:not-authorized',
                      '%s with wrong tls-server-end-point data: expected not-authorized, got %s'
                      % (mech, res))
                await rs.close()

        env.step('-PLUS with tls-unique, which TLS 1.3 does not have (RFC 8446 C.5)')
        rs, f, res, _ = await attempt('SCRAM-SHA-256-PLUS', 'p=tls-unique,,', b'x' * 12)
        check(res == 'failure:not-authorized',
              'SCRAM-SHA-256-PLUS with p=tls-unique over TLS 1.3: %s' % res)
        await rs.close()

        env.step('-PLUS with GS2 flag n')
        rs, f, res, _ = await attempt('SCRAM-SHA-256-PLUS', 'n,,')
        check(res.startswith('failure:'), 'SCRAM-SHA-256-PLUS with flag n: %s' % res)
        await rs.close()

        for mech in ('SCRAM-SHA-256', 'SCRAM-SHA-1'):
            # A client that binds with tls-unique only (RFC 5802's default)
            # finds nothing it can use on TLS 1.3 and says so with "y".
            env.step('%s with GS2 flag y over TLS 1.3 (no tls-unique: not a downgrade)' % mech)
            rs, f, res, verified = await attempt(mech, 'y,,')
            check(res == 'success' and verified, '%s with flag y over TLS 1.3, where tls-unique '
                  'does not exist: %s (v= ok: %s)' % (mech, res, verified))
            await rs.close()
            env.step('%s with GS2 flag n over TLS' % mech)
            rs, f, res, verified = await attempt(mech, 'n,,')
            check(res == 'success' and verified, '%s with flag n over TLS: %s (v= ok: %s)'
                  % (mech, res, verified))
            await rs.new_stream()
            await rs.bind('noplus')
            await rs.close()

        env.step('TLS 1.2: tls-server-end-point is offered and works')
        ctx12 = client_ctx(env.srv, max_version=ssl.TLSVersion.TLSv1_2)
        rs, f, res, verified = await attempt('SCRAM-SHA-256-PLUS', 'p=tls-server-end-point,,',
                                             cb, 'direct', ctx12)
        check(rs.tls.version() == 'TLSv1.2', 'TLS version %s' % rs.tls.version())
        check(cb_types(f) == ['tls-exporter', 'tls-server-end-point', 'tls-unique'],
              'XEP-0440 channel bindings under TLS 1.2 (extended master secret): %s'
              % cb_types(f))
        check(res == 'success' and verified, 'SCRAM-SHA-256-PLUS over TLS 1.2: %s (v= ok: %s)'
              % (res, verified))
        await rs.close()

        for how in ('direct', 'starttls'):
            env.step('TLS 1.2: tls-unique (RFC 5929 3) over %s' % how)
            rs, f = await fresh(how, ctx12)
            unique = rs.tls.get_channel_binding('tls-unique')
            check(unique, 'the client has no tls-unique for this TLS 1.2 session')
            res, verified = await scram(rs, 'SCRAM-SHA-1-PLUS', 'alice', 'pw-alice',
                                        gs2='p=tls-unique,,', cb_data=unique)
            check(res == 'success' and verified, 'SCRAM-SHA-1-PLUS with tls-unique over TLS 1.2 '
                  '(%s): %s (v= ok: %s)' % (how, res, verified))
            await rs.close()
            rs, f = await fresh(how, ctx12)
            res, _ = await scram(rs, 'SCRAM-SHA-256-PLUS', 'alice', 'pw-alice',
                                 gs2='p=tls-unique,,', cb_data=hashlib.sha1(unique).digest()[:12])
            check(res == 'failure:not-authorized',
                  'SCRAM-SHA-256-PLUS with wrong tls-unique data: %s' % res)
            await rs.close()

        for mech in ('SCRAM-SHA-256', 'SCRAM-SHA-1'):
            env.step('%s with GS2 flag y over TLS 1.2 (downgrade: tls-unique was offered)'
                     % mech)
            rs, f, res, _ = await attempt(mech, 'y,,', b'', 'direct', ctx12)
            check(res.startswith('failure:'), '%s with flag y while tls-unique is offered: '
                  'expected a SASL failure (downgrade, RFC 5802 6), got %s' % (mech, res))
            await rs.close()
            rs, f, res, verified = await attempt(mech, 'n,,', b'', 'direct', ctx12)
            check(res == 'success' and verified, '%s with flag n over TLS 1.2: %s' % (mech, res))
            await rs.close()


# ------------------------------------------------------------------ 5. SASL ANONYMOUS


@e2e_test('tls_sasl_anonymous', timeout=90)
async def t_anonymous(_env):
    async with tls_server('tls_sasl_anonymous', hosts=('localhost', 'other.test'),
                          listener='starttls: required',
                          extra_config='host_config: {localhost: {anonymous: true}}\n') as env:
        await env.register('alice')
        ctx = client_ctx(env.srv)

        async def anon(initial=''):
            rs = await TlsStream.connect(env, env.srv.port)
            await rs.open_stream()
            f = await rs.starttls(ctx)
            check('ANONYMOUS' in mechanisms(f), 'ANONYMOUS not offered on localhost: %s'
                  % mechanisms(f))
            el = await rs.sasl("<auth xmlns='%s' mechanism='ANONYMOUS'>%s</auth>"
                               % (NS_SASL, initial))
            check(sasl_condition(el) == 'success', 'SASL ANONYMOUS: %s' % sasl_condition(el))
            await rs.new_stream()
            jid = await rs.bind('anon')
            check(ANON_JID.match(jid), 'anonymous login bound %r, expected anon-<hex>@localhost/'
                  % jid)
            await rs.ping()
            return rs, jid

        env.step('two anonymous logins')
        r1, j1 = await anon()
        r2, j2 = await anon(base64.b64encode(b'trace-token').decode())  # RFC 4505 trace
        check(j1.split('/')[0] != j2.split('/')[0],
              'two anonymous logins got the same JID %s' % j1)

        env.step('an anonymous session chats with a registered user')
        alice = await tls_login(env, 'alice@localhost/a', env.srv.port)
        await r1.send("<message to='alice@localhost' type='chat' id='m1'><body>from anon</body>"
                      "</message>")
        await alice.wait_messages(1, 5, 'alice waiting for the anonymous message')
        got = alice.messages[0]
        check(str(got['from']) == j1 and got['body'] == 'from anon',
              'alice got %r from %s, expected from %s' % (got['body'], got['from'], j1))

        env.step('slixmpp ANONYMOUS login')
        c = env.client('localhost', '', mech='ANONYMOUS')
        c.x.ca_certs = pathlib.Path(env.srv.certfiles[0])
        c.x.connect(('127.0.0.1', env.srv.port), force_starttls=True)
        try:
            res = await asyncio.wait_for(asyncio.shield(c.session), 10)
        except asyncio.TimeoutError:
            res = 'no session_start within 10s'
        check(res == 'ok', 'slixmpp ANONYMOUS login: %s' % res)
        check(ANON_JID.match(c.jid), 'slixmpp anonymous JID %r' % c.jid)
        await c.ping()

        env.step('a host without anonymous: not offered, refused')
        rs = await TlsStream.connect(env, env.srv.port)
        await rs.open_stream('other.test')
        f = await rs.starttls(ctx, to='other.test')
        check(f.find('{%s}mechanisms' % NS_SASL) is not None and
              'ANONYMOUS' not in mechanisms(f),
              'mechanisms for other.test (no anonymous): %s' % mechanisms(f))
        el = await rs.sasl("<auth xmlns='%s' mechanism='ANONYMOUS'/>" % NS_SASL)
        check(sasl_condition(el) == 'failure:invalid-mechanism',
              'ANONYMOUS on a host without it: expected invalid-mechanism, got %s'
              % sasl_condition(el))


# ------------------------------------------------------------------ 6. certificates at start


async def run_xmppd(args, timeout=10):
    return await run_tool('xmppd', *args, timeout=timeout)


@e2e_test('tls_certificate_checks_at_start', timeout=90)
async def t_cert_checks(env):
    d = os.path.join(env.srv.dir, 'certcheck')
    os.mkdir(d)
    for sub in ('data', 'run'):
        os.mkdir(os.path.join(d, sub))
    port = free_port()

    def write_cfg(name, certfiles, listener='starttls: required'):
        path = os.path.join(d, name + '.yml')
        with open(path, 'w') as f:
            f.write('hosts: [localhost]\nloglevel: info\nworkers: 1\n'
                    'data_dir: %s/data\nrun_dir: %s/run\n%s'
                    'listen:\n  - {port: %d, ip: 127.0.0.1, module: c2s, %s}\n'
                    % (d, d, 'certfiles: [%s]\n' % ', '.join(certfiles) if certfiles else '',
                       port, listener))
        return path

    def p(name):
        return os.path.join(d, name)

    good = p('good.pem')
    make_cert(good)
    expired = p('expired.pem')
    make_cert(expired, expired=True)
    split = p('split.pem')
    make_cert(split, key_path=split + '.key')
    mismatched = p('mismatched.pem')
    make_cert(mismatched, key_path=mismatched + '.key')
    with open(mismatched + '.key', 'wb') as f:
        f.write(key_pem(make_key()))
    nokey = p('nokey.pem')
    make_cert(nokey, key_path=p('elsewhere.key'))
    garbage = p('garbage.pem')
    with open(garbage, 'w') as f:
        f.write('not a certificate\n')
    other = p('other.pem')
    make_cert(other, names=('other.example',))

    # (case, certfiles, listener, exit status, regexes stderr must match)
    cases = [
        ('good', [good], 'starttls: required', 0, []),
        ('key_in_file_key', [split], 'tls: true', 0, []),
        ('missing', [p('missing.pem')], 'starttls: required', 1,
         [re.escape(p('missing.pem')), r'No such file']),
        ('expired', [expired], 'starttls: required', 1,
         [re.escape(expired), r'expired']),
        ('mismatched_key', [mismatched], 'starttls: required', 1,
         [re.escape(mismatched), r'private key does not match']),
        ('no_key', [nokey], 'starttls: required', 1,
         [re.escape(nokey), r'no private key', re.escape(nokey + '.key')]),
        ('not_pem', [garbage], 'starttls: required', 1, [re.escape(garbage)]),
        ('other_name', [other], 'starttls: required', 0,
         [r'(?i)warn', r'\blocalhost\b']),
        ('required_without_certfiles', None, 'starttls: required', 1, [r'certfiles']),
        ('direct_tls_without_certfiles', None, 'tls: true', 1, [r'certfiles']),
        ('optional_without_certfiles', None, 'starttls: optional, allow_plaintext_auth: true',
         0, []),
    ]
    for name, certfiles, listener, want_rc, patterns in cases:
        env.step('xmppd -t: %s' % name)
        cfg = write_cfg(name, certfiles, listener)
        rc, out, err = await run_xmppd(['-t', '-c', cfg])
        check(rc == want_rc, 'xmppd -t, %s: exit status %s, expected %s (stdout %r, stderr %r)'
              % (name, rc, want_rc, out.strip(), err.strip()))
        for pat in patterns:
            check(re.search(pat, err), 'xmppd -t, %s: stderr does not match /%s/: %r'
                  % (name, pat, err.strip()))
        if want_rc == 0:
            check('configuration OK' in out, 'xmppd -t, %s: no "configuration OK": %r'
                  % (name, out))

    env.step('a real start with an expired certificate fails the same way')
    cfg = write_cfg('start_expired', [expired])
    rc, out, err = await run_xmppd(['-c', cfg])
    check(rc == 1 and expired in err and 'expired' in err,
          'xmppd -c with an expired certificate: exit %s, stderr %r' % (rc, err.strip()))
    with socket.socket() as s:
        s.settimeout(1)
        check(s.connect_ex(('127.0.0.1', port)) != 0,
              'something listens on %d after the refused start' % port)

    env.step('the harness server is unaffected')
    rs = await TlsStream.connect(env, env.srv.port)
    await rs.open_stream()
    await rs.starttls(client_ctx(env.srv))


# ------------------------------------------------------------------ 7. session resumption

TLS_LOG = r'worker (\d+)\[\d+\]: 127\.0\.0\.1:%d: TLS established \(([^)]*)\)'


async def tls_log_line(env, port, start):
    m = await env.srv.wait_log(TLS_LOG % port, 5, start)
    check(m, 'no "TLS established" log line for client port %d: %s' % (port, env.srv.log_tail(4)))
    return int(m.group(1)), m.group(2)


async def resume_elsewhere(env, port, ctx, what):
    """A full handshake (kept open, so the master picks the other worker next), then a
    connection with its ticket; up to 4 tries until the two land on different workers.
    Returns (first, second, features of the second, worker of the first, of the second)."""
    tried = []
    for i in range(4):
        env.step('%s: resumption attempt %d' % (what, i + 1))
        start = len(env.srv.log())
        a = await TlsStream.direct(env, port, ctx)
        await a.open_stream()  # TLS 1.3 tickets arrive after the handshake, before these
        sess = a.tls.session
        check(not a.tls.session_reused, '%s: the first connection reports a resumed session'
              % what)
        check(sess is not None and sess.has_ticket,
              '%s: no session ticket after the first handshake and the features' % what)
        wa, da = await tls_log_line(env, a.local_port, start)
        check('resumed' not in da, '%s: the server logged the first handshake as %r' % (what, da))
        b = await TlsStream.direct(env, port, ctx, session=sess)
        fb = await b.open_stream()
        wb, db = await tls_log_line(env, b.local_port, start)
        check(b.tls.session_reused, '%s: second connection (ticket of the first, worker %d -> '
              '%d): session_reused is False; server says %r' % (what, wa, wb, db))
        check('resumed' in db, '%s: client resumed but the server logged %r' % (what, db))
        tried.append((wa, wb))
        if wa != wb:
            return a, b, fb, wa, wb
        await a.close()
        await b.close()
    raise TestFailure('%s: every resumption landed on the first connection\'s worker '
                      '(first, second): %s' % (what, tried))


@e2e_test('tls_session_resumption', timeout=90)
async def t_resumption(_env):
    p2 = free_port()
    async with tls_server('tls_session_resumption', extra_listeners=[(p2, 'tls: true')]) as env:
        await env.register('alice')
        ctx12 = client_ctx(env.srv, max_version=ssl.TLSVersion.TLSv1_2)
        a, b, fb, wa, wb = await resume_elsewhere(env, p2, ctx12, 'TLS 1.2')
        check(b.tls.version() == 'TLSv1.2', 'TLS 1.2 pass ran %s' % b.tls.version())
        await a.close()
        await b.close()

        ctx = client_ctx(env.srv)
        a, b, fb, wa, wb = await resume_elsewhere(env, p2, ctx, 'TLS 1.3')
        check(b.tls.version() == 'TLSv1.3', 'TLS 1.3 pass ran %s' % b.tls.version())

        env.step('login on the resumed session (worker %d, ticket from worker %d)' % (wb, wa))
        check('tls-exporter' in (cb_types(fb) or []),
              'resumed TLS 1.3 session: channel bindings %s' % cb_types(fb))
        el = await b.sasl(sasl_plain('alice', 'pw-alice'))
        check(sasl_condition(el) == 'success', 'PLAIN on a resumed session: %s'
              % sasl_condition(el))
        await b.new_stream()
        await b.bind('resumed')
        await b.ping()

        env.step('resumed session: tls-server-end-point works exactly when advertised')
        cb = server_end_point(a.tls.getpeercert(binary_form=True))
        r = await TlsStream.direct(env, p2, ctx, session=a.tls.session)
        f = await r.open_stream()
        check(r.tls.session_reused, 'third connection not resumed')
        res, verified = await scram(r, 'SCRAM-SHA-256-PLUS', 'alice', 'pw-alice',
                                    gs2='p=tls-server-end-point,,', cb_data=cb)
        if 'tls-server-end-point' in (cb_types(f) or []):
            check(res == 'success' and verified, 'resumed session advertises '
                  'tls-server-end-point but SCRAM-SHA-256-PLUS with it gave %s' % res)
        else:
            check(res == 'failure:not-authorized', 'resumed session does not advertise '
                  'tls-server-end-point (%s) yet SCRAM-SHA-256-PLUS with it gave %s'
                  % (cb_types(f), res))

        env.step('STARTTLS resumes with a ticket too')
        start = len(env.srv.log())
        c = await TlsStream.connect(env, env.srv.port)
        await c.open_stream()
        await c.starttls(ctx, session=b.tls.session)
        _w, dc = await tls_log_line(env, c.local_port, start)
        check(c.tls.session_reused and 'resumed' in dc,
              'STARTTLS with a ticket: session_reused %s, server says %r'
              % (c.tls.session_reused, dc))
