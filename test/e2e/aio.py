"""aioxmpp (Debian's python3-aioxmpp 0.13) as a second real client of the e2e tests.

An Aio wraps an aioxmpp.Client (or PresenceManagedClient when it goes available) that
connects to the test server only (never to DNS-discovered peers), keeps what it
receives in lists the tests wait on, and records the XML it sends and receives (aioxmpp
logs it at DEBUG) so a failure can show the bytes exchanged.

Security layers (aioxmpp.make_security_layer, adapted):
  plain_security(password, mechanisms)  plain TCP, TLS not required, SASL with exactly
                                        these aiosasl mechanism classes (PLAIN, SCRAM
                                        with SHA-1 or SHA-256 only, ...)
  anonymous_security()                  plain TCP, SASL ANONYMOUS (RFC 4505, XEP-0175)
  starttls_security(password, cafile)   what a real client uses: STARTTLS required, the
                                        certificate checked (PKIX) against cafile,
                                        aioxmpp's own choice of SASL mechanism
"""

import asyncio
import datetime
import itertools
import logging
import os
import time

import aiosasl
import aioxmpp
import aioxmpp.connector
import aioxmpp.errors
import aioxmpp.protocol
import aioxmpp.sasl
import aioxmpp.security_layer

from harness import IQ_TIMEOUT, LOGIN_TIMEOUT, TestFailure

STOP_TIMEOUT = 3.0
_serial = itertools.count(1)


class NoFallback(Exception):
    """The connection to the test server failed.  Not an OSError on purpose: aioxmpp
    tries DNS-discovered peers of the domain (localhost:5222, someone else's server)
    after an OSError of every given peer, and retries after one."""


class PlainConnector(aioxmpp.connector.BaseConnector):
    """Plain TCP to the test server: the stream header, the features, no STARTTLS (the
    default test listener offers it optionally)."""

    @property
    def tls_supported(self):
        return False

    @property
    def dane_supported(self):
        return False

    async def connect(self, loop, metadata, domain, host, port, negotiation_timeout,
                      base_logger=None):
        features_future = asyncio.Future()
        stream = aioxmpp.protocol.XMLStream(to=domain, features_future=features_future,
                                            base_logger=base_logger)
        try:
            transport, _ = await loop.create_connection(lambda: stream, host, port)
        except OSError as e:
            stream.abort()
            raise NoFallback('connect to %s:%s: %s' % (host, port, e)) from None
        stream.deadtime_hard_limit = datetime.timedelta(seconds=negotiation_timeout)
        try:
            features = await features_future
        except OSError as e:
            raise NoFallback('no stream features from %s:%s: %s' % (host, port, e)) from None
        return transport, stream, features


class StartTLSConnector(aioxmpp.connector.STARTTLSConnector):
    """aioxmpp's own STARTTLS connector, without the fallback to discovered peers."""

    async def connect(self, *args, **kwargs):
        try:
            return await super().connect(*args, **kwargs)
        except OSError as e:
            raise NoFallback('STARTTLS connection: %s: %s' % (type(e).__name__, e)) from None


class MechanismSASLProvider(aioxmpp.security_layer.SASLProvider):
    """Password SASL with exactly these aiosasl mechanism classes, first match wins, TLS or
    not (aioxmpp's PasswordSASLProvider offers PLAIN only over TLS and always prefers
    SCRAM, so a test could not pick PLAIN with it)."""

    def __init__(self, password, mechanisms):
        super().__init__()
        self.password = password
        self.mechanisms = list(mechanisms)

    async def execute(self, client_jid, features, xmlstream, tls_transport):
        async def credentials():
            return client_jid.localpart, self.password
        cls, token = self._find_supported(features, self.mechanisms)
        if cls is None:
            return False
        return await self._execute(aioxmpp.sasl.SASLXMPPInterface(xmlstream),
                                   cls(credentials), token)


def _scram_only(hash_name):
    """aiosasl.SCRAM restricted to one hash (aiosasl picks the strongest offered)."""
    return type('SCRAM_%s' % hash_name.replace('-', ''), (aiosasl.SCRAM,), {
        '_supported_hashalgos': {hash_name: aiosasl.SCRAM._supported_hashalgos[hash_name]}})


SCRAM_SHA1 = _scram_only('SHA-1')
SCRAM_SHA256 = _scram_only('SHA-256')
MECHANISMS = {'PLAIN': aiosasl.PLAIN, 'SCRAM-SHA-1': SCRAM_SHA1, 'SCRAM-SHA-256': SCRAM_SHA256}


def plain_security(password, mechanisms=('SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN')):
    """make_security_layer's layer with TLS not required and SASL limited to these
    mechanisms (names of MECHANISMS, in order of preference)."""
    base = aioxmpp.make_security_layer(password, no_verify=True)
    return base._replace(tls_required=False, sasl_providers=(
        MechanismSASLProvider(password, [MECHANISMS[m] for m in mechanisms]),))


def anonymous_security():
    """SASL ANONYMOUS with the empty trace token (XEP-0175), TLS not required."""
    base = aioxmpp.make_security_layer(None, anonymous='', no_verify=True)
    return base._replace(tls_required=False)


def starttls_security(password, cafile):
    """What an aioxmpp application uses: make_security_layer(password) (TLS required,
    PKIX verification, aioxmpp's PasswordSASLProvider), trusting exactly cafile."""
    def context():
        ctx = aioxmpp.security_layer.default_ssl_context()
        ctx.load_verify_locations(cafile)
        return ctx
    return aioxmpp.make_security_layer(password, ssl_context_factory=context)


class WireLog(logging.Handler):
    """Keeps what aioxmpp's XMLStream logs as 'SENT %r' / 'RECV %r' (bytes)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        if record.msg in ('SENT %r', 'RECV %r') and record.args:
            self.lines.append((record.msg[:4], record.args[0]))

    def sent(self):
        return b''.join(d for k, d in self.lines if k == 'SENT')

    def received(self):
        return b''.join(d for k, d in self.lines if k == 'RECV')

    def tail(self, n=12):
        lines = [(k, d) for k, d in self.lines if d.strip()]
        return '\n'.join('  %s %s' % (k, d.decode(errors='replace')) for k, d in lines[-n:])


class Aio:
    """One aioxmpp client session of a test."""

    def __init__(self, env, jid, security, connector=None, name=None):
        self.env = env
        self.name = name or jid
        self.logger = logging.getLogger('e2e.aioxmpp.%d' % next(_serial))
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = bool(os.environ.get('E2E_DEBUG'))
        self.wire = WireLog()
        self.logger.addHandler(self.wire)
        self.security = security
        self.connector = connector or PlainConnector()
        self.available = None
        self.client = None
        self.jid_requested = aioxmpp.JID.fromstr(jid)
        self.messages = []     # aioxmpp.Message received, any type
        self.presences = []    # aioxmpp.Presence received, any type
        self.changed = asyncio.Event()
        self.last_iq = None

    # ---- session

    async def start(self, available=True, show=aioxmpp.PresenceShow.NONE, priority=0,
                    services=(), expect_ok=True, timeout=LOGIN_TIMEOUT):
        """Connects; available: through PresenceManagedClient, whose initial presence is
        then waited for until the server reflects it (RFC 6121 4.2.2); otherwise a plain
        aioxmpp.Client that never sends presence.  services: aioxmpp services summoned
        before connecting (those that act at session start, like RosterClient, must be).
        TestFailure when the login fails, unless expect_ok is false: then the login must
        fail and the exception aioxmpp failed with is returned."""
        self.available = available
        cls = aioxmpp.PresenceManagedClient if available else aioxmpp.Client
        kw = dict(override_peer=[('127.0.0.1', self.env.srv.port, self.connector)],
                  logger=self.logger, max_initial_attempts=1,
                  negotiation_timeout=datetime.timedelta(seconds=timeout))
        self.client = cls(self.jid_requested, self.security, **kw)
        self.client.stream.on_message_received.connect(self._on_message)
        self.client.stream.on_presence_received.connect(self._on_presence)
        for svc in services:
            self.client.summon(svc)
        established = self.client.on_stream_established.future()
        failed = self.client.on_failure.future()
        if available:
            self.client.summon(aioxmpp.PresenceServer).set_presence(
                aioxmpp.PresenceState(True, show), priority=priority)
        else:
            self.client.start()
        done, pending = await asyncio.wait([established, failed], timeout=timeout,
                                           return_when=asyncio.FIRST_COMPLETED)
        for f in pending:
            f.cancel()
        if established not in done:
            failure = failed.exception() if failed in done else None
            await self.stop()
            if not expect_ok and failure is not None:
                return failure
            why = ('%s: %s' % (type(failure).__name__, failure) if failure is not None
                   else 'no session within %.0fs' % timeout)
            raise TestFailure('aioxmpp login of %s: %s\n%s' % (self.name, why, self.wire.tail()))
        if not expect_ok:
            raise TestFailure('aioxmpp login of %s succeeded; it should have failed' % self.name)
        if available:
            me = self.jid
            await self.wait_until(lambda: any(
                p.from_ == me and p.type_ == aioxmpp.PresenceType.AVAILABLE
                for p in self.presences), timeout,
                '%s: own initial presence reflected (RFC 6121 4.2.2)' % (me,))
        return self

    @property
    def jid(self):
        """The full JID bound."""
        return self.client.local_jid

    @property
    def bare(self):
        return self.client.local_jid.bare()

    async def stop(self):
        """Closes the stream (</stream:stream>) and waits for the client to stop."""
        c = self.client
        if c is not None and c.running:
            stopped = c.on_stopped.future()
            failed = c.on_failure.future()
            c.stop()
            await asyncio.wait([stopped, failed], timeout=STOP_TIMEOUT,
                               return_when=asyncio.FIRST_COMPLETED)
            for f in (stopped, failed):
                f.cancel()
        self.logger.removeHandler(self.wire)

    def summon(self, service):
        return self.client.summon(service)

    # ---- what arrives

    def _on_message(self, msg):
        self.messages.append(msg)
        self.changed.set()

    def _on_presence(self, pres):
        self.presences.append(pres)
        self.changed.set()

    def wake_on(self, *signals):
        """Wakes wait_until() when one of these aioxmpp signals fires (a service's view
        changed by an IQ push, which is neither a message nor a presence)."""
        for sig in signals:
            sig.connect(lambda *_args: self.changed.set())

    async def wait_until(self, pred, timeout, what):
        """Waits for pred() to hold, woken by each stanza received; TestFailure with the
        last bytes exchanged when it does not within timeout."""
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure('%s: not within %.0fs; last bytes of %s:\n%s'
                                  % (what, timeout, self.name, self.wire.tail()))
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(left, 0.5))
            except asyncio.TimeoutError:
                pass

    async def wait_message(self, pred, what, timeout=5.0):
        await self.wait_until(lambda: any(pred(m) for m in self.messages), timeout, what)
        return [m for m in self.messages if pred(m)][0]

    async def wait_presence(self, pred, what, timeout=5.0):
        await self.wait_until(lambda: any(pred(p) for p in self.presences), timeout, what)
        return [p for p in self.presences if pred(p)][0]

    # ---- sending

    async def send(self, stanza):
        """Sends a message or presence and waits until aioxmpp wrote it."""
        await self.client.send(stanza)

    async def iq(self, itype, payload, to=None, timeout=IQ_TIMEOUT):
        """Sends an IQ get/set; ('result', payload or None) or ('error', XMPPError).
        TestFailure (with the bytes exchanged) when no answer comes."""
        iq = aioxmpp.IQ(type_=itype, to=to, payload=payload)
        self.last_iq = iq
        return await self.call(self.client.send(iq, timeout=timeout),
                               'iq %s %s to %s' % (itype.value, type(payload).__name__, str(to)),
                               timeout + 1)

    def exchange(self, iq=None):
        """The bytes sent and received that carry the id of iq (the last one iq() sent):
        the request and its answer as they were on the wire."""
        iq = iq or self.last_iq
        key = (iq.id_ or '').encode()
        return '\n'.join('  %s %s' % (k, d.decode(errors='replace'))
                         for k, d in self.wire.lines if key and key in d)

    async def call(self, coro, what, timeout=IQ_TIMEOUT + 1):
        """Awaits an aioxmpp request (a service's get/set): ('result', value) or
        ('error', XMPPError)."""
        try:
            return 'result', await asyncio.wait_for(coro, timeout)
        except aioxmpp.errors.XMPPError as e:
            return 'error', e
        except (asyncio.TimeoutError, TimeoutError):
            raise TestFailure('%s: %s: no answer within %.0fs; last bytes:\n%s'
                              % (self.name, what, timeout, self.wire.tail()))

    async def ok(self, coro, what, timeout=IQ_TIMEOUT + 1):
        """Like call(), but an error answer fails the test; returns the value."""
        kind, r = await self.call(coro, what, timeout)
        if kind != 'result':
            raise TestFailure('%s: %s answered error %s (%s); last bytes:\n%s'
                              % (self.name, what, r.condition, r.text, self.wire.tail()))
        return r


def error_condition(err):
    """The defined condition of an aioxmpp.errors.XMPPError (or of the aioxmpp.stanza.Error
    of a received error stanza) as its element name, e.g. 'service-unavailable'."""
    return err.condition.value[1]


async def login(env, jid, password=None, mechanisms=None, **start_kw):
    """An Aio logged in over plain TCP with a password (env.password(user) by default)."""
    user = jid.split('@')[0]
    pw = password if password is not None else env.password(user)
    sec = plain_security(pw) if mechanisms is None else plain_security(pw, mechanisms)
    return await track(env, Aio(env, jid, sec)).start(**start_kw)


async def login_anonymous(env, host='localhost', **start_kw):
    return await track(env, Aio(env, host, anonymous_security(), name='anonymous@' + host)
                       ).start(**start_kw)


def track(env, c):
    """Registers c for cleanup at the end of the test (Env.close_all)."""
    if not hasattr(env, 'aio_clients'):
        env.aio_clients = []
        close_all = env.close_all

        async def close_both():
            await asyncio.gather(*(a.stop() for a in env.aio_clients), return_exceptions=True)
            await close_all()
        env.close_all = close_both
    env.aio_clients.append(c)
    return c
