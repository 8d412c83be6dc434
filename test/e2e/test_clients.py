"""Every client works on the first try: the newcomer's path through `make run`, and
slixmpp exactly as a bot author writes it (slixmpp.ClientXMPP(jid, password), no
mechanism forced, TLS as it comes), over TLS 1.3 and TLS 1.2.

The `make run` test runs the README's command itself, in a copy of this tree (the
tracked files and the build directory, modification times kept, so nothing is
rebuilt), so that the accounts it makes never land in the developer's own var/.  It
needs the ports of etc/xmppd.yml (5222, 5223 on 127.0.0.1) and says so when they are
taken."""

import asyncio
import os
import pathlib
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

from harness import (REPO, Env, TestFailure, build_dir, check, e2e_test, eventually,
                     expect_error, pid_alive, pid_cmdline, proc_children, stanza_error)
from test_tls import tls_server

RUN_PORTS = (5222, 5223)  # etc/xmppd.yml
RUN_TIMEOUT = 60.0        # make run: dependency check, certificate, start


def port_taken(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex(('127.0.0.1', port)) == 0


class MakeRun:
    """`make run` in a copy of the tree, in its own process group (stopped by PID)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='xmppd-e2e-make-run-')
        self.tree = os.path.join(self.dir, 'tree')
        self.log_path = os.path.join(self.dir, 'make-run.log')
        self.port = RUN_PORTS[0]
        self.proc = None
        self.pids = set()

    def copy_tree(self):
        files = subprocess.run(['git', '-C', REPO, 'ls-files', '-z', '--cached', '--others',
                                '--exclude-standard'], capture_output=True, check=True,
                               timeout=30).stdout.split(b'\0')
        for f in files:
            src = os.path.join(REPO, f.decode())
            if not f or not os.path.isfile(src):
                continue
            dst = os.path.join(self.tree, f.decode())
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(src, dst)
        # The objects keep their times: make finds them newer than the sources.
        shutil.copytree(build_dir(), os.path.join(self.tree, os.path.basename(build_dir())),
                        symlinks=True)

    def start(self):
        for p in RUN_PORTS:
            check(not port_taken(p), 'port %d on 127.0.0.1 is taken (a `make run` of your own?): '
                  'this test runs the default configuration, which listens there' % p)
        self.copy_tree()
        args = ['make', '--no-print-directory', 'run']
        if os.path.basename(build_dir()) != 'build':  # the sanitizer build (make check-asan)
            args.append('B=' + os.path.basename(build_dir()))
        self.log_file = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(args, cwd=self.tree, stdin=subprocess.DEVNULL,
                                     stdout=self.log_file, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + RUN_TIMEOUT
        while not ('router ready' in self.log() and 'worker 1 ready' in self.log()
                   and 'worker 0 ready' in self.log()):
            if self.proc.poll() is not None:
                raise TestFailure('make run exited with status %s: %s'
                                  % (self.proc.returncode, self.log()[-600:]))
            check(time.monotonic() < deadline, 'make run: not ready within %.0fs: %s'
                  % (RUN_TIMEOUT, self.log()[-600:]))
            time.sleep(0.1)
        self.pids = self.group_pids()

    def group_pids(self):
        pids, todo = set(), [self.proc.pid]
        while todo:
            p = todo.pop()
            pids.add(p)
            todo.extend(proc_children(p) - pids)
        return pids

    def log(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode(errors='replace')
        except OSError:
            return ''

    def stop(self):
        """SIGTERM to the group (make and xmppd, which stops gracefully), then SIGKILL to
        any process of it still alive."""
        if self.proc is None:
            return []
        self.pids |= self.group_pids() if self.proc.poll() is None else set()
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + 5
        left = []
        while True:
            left = [p for p in self.pids if pid_alive(p) and
                    ('xmppd' in pid_cmdline(p) or 'make' in pid_cmdline(p))]
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.log_file.close()
        return left

    def cleanup(self, keep):
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


async def register_in_band(jid, password, port, cafile):
    """Creates an account the way aioxmpp does it (XEP-0077 over STARTTLS, before
    authentication: aioxmpp.ibr).  slixmpp 1.8.3 cannot: it holds back every IQ until its
    session has started ("NOT SENT" in its debug log), so its register_account example
    never gets the form."""
    import aioxmpp
    import aioxmpp.ibr

    def tls_context():
        ctx = aioxmpp.security_layer.default_ssl_context()
        ctx.load_verify_locations(cafile)
        return ctx
    j = aioxmpp.JID.fromstr(jid)
    layer = aioxmpp.make_security_layer(None, ssl_context_factory=tls_context)
    transport, stream, _features = await aioxmpp.node.connect_xmlstream(
        j, layer, negotiation_timeout=10,
        override_peer=[('127.0.0.1', port, aioxmpp.connector.STARTTLSConnector())])
    try:
        try:
            fields = await aioxmpp.ibr.get_registration_fields(stream, timeout=5)
        except aioxmpp.errors.XMPPError as e:
            raise TestFailure('%s: the registration form was refused: %s' % (jid, e))
        check(fields is not None, '%s: the server offers no registration form (is in-band '
              'registration open and the register module loaded?)' % jid)
        used = {name for _ns, name in aioxmpp.ibr.get_used_fields(fields)}
        check({'username', 'password'} <= used,
              'registration form of %s asks for %s' % (jid, sorted(used)))
        try:
            await aioxmpp.ibr.register(stream, aioxmpp.ibr.Query(j.localpart, password),
                                       timeout=5)
        except aioxmpp.errors.XMPPError as e:
            raise TestFailure('%s: registration refused: %s' % (jid, e))
    finally:
        stream.close()
        transport.close()


async def default_client(env, jid, password, port, cafile, plugins=()):
    """slixmpp as in its own examples: ClientXMPP(jid, password), the plugins a bot
    registers, the server's certificate trusted, connect.  Returns the Client once the
    session started."""
    c = env.client(jid, password, plugins=plugins, defaults=True)
    x = c.x
    x.ca_certs = pathlib.Path(cafile)
    x.connect(('127.0.0.1', port))
    try:
        res = await asyncio.wait_for(asyncio.shield(c.session), 15)
    except asyncio.TimeoutError:
        res = 'no session_start or failed_auth within 15s'
    check(res == 'ok', '%s with slixmpp defaults: %s (mechanisms tried: %s)'
          % (jid, res, sorted(x['feature_mechanisms'].attempted_mechs)))
    obj = x.transport.get_extra_info('ssl_object') if x.transport else None
    check(obj is not None, '%s: the session is not inside TLS' % jid)
    c.tls_version = obj.version()
    c.mech = x['feature_mechanisms'].mech.name
    return c


async def chat(a, b, body):
    a.send_chat(b.x.boundjid.bare, body)
    got = await b.wait_body(body, '%s waiting for %r from %s' % (b.jid, body, a.jid))
    check(got['from'] == a.x.boundjid and got['type'] == 'chat',
          '%s got %r from %s type %s' % (b.jid, body, got['from'], got['type']))


# ------------------------------------------------------------------ make run


def config_modules(path):
    """The module names under `modules:` of a configuration file, in order."""
    names, inside = [], False
    with open(path) as f:
        for line in f:
            if line.startswith('modules:'):
                inside = True
            elif inside and line.startswith('  ') and ':' in line:
                names.append(line.split(':', 1)[0].strip())
            elif inside and line.strip() and not line.startswith(' '):
                inside = False
    return names


@e2e_test('make_run_config_is_the_installed_one', timeout=10)
async def t_config_modules(_env):
    """The configuration `make run` uses loads every module the installed example
    (etc/xmppd.yml.dist) loads, and opens registration (it listens on loopback only)."""
    run = config_modules(os.path.join(REPO, 'etc/xmppd.yml'))
    dist = config_modules(os.path.join(REPO, 'etc/xmppd.yml.dist'))
    check(dist and run == dist, 'modules of etc/xmppd.yml %s, of etc/xmppd.yml.dist %s'
          % (run, dist))
    with open(os.path.join(REPO, 'etc/xmppd.yml')) as f:
        text = f.read()
    check('\nregistration: open\n' in text, 'etc/xmppd.yml does not open registration')
    check(all("ip: 127.0.0.1" in block for block in text.split('- port:')[1:]),
          'a listener of etc/xmppd.yml is not on loopback: open registration is not for that')


@e2e_test('newcomer_make_run', timeout=150)
async def t_make_run(_env):
    run = MakeRun()
    env = Env(run)
    ok = False
    try:
        env.step('make run in a copy of the tree')
        await asyncio.to_thread(run.start)
        cafile = os.path.join(run.tree, 'var/cert/localhost.crt')
        check(os.path.exists(cafile), 'make run made no var/cert/localhost.crt')
        env.step('two accounts made in band (aioxmpp), logged in with slixmpp defaults')
        await register_in_band('newcomer-a@localhost', 'first-secret-A', run.port, cafile)
        await register_in_band('newcomer-b@localhost', 'second-secret-B', run.port, cafile)
        a = await default_client(env, 'newcomer-a@localhost', 'first-secret-A', run.port,
                                 cafile)
        b = await default_client(env, 'newcomer-b@localhost', 'second-secret-B', run.port,
                                 cafile)
        check(a.mech.startswith('SCRAM-SHA-256') and b.mech.startswith('SCRAM-SHA-256'),
              'default clients authenticated with %s and %s, expected SCRAM-SHA-256'
              % (a.mech, b.mech))
        for c in (a, b):
            c.x.send_presence()
            await c.x.get_roster()

        env.step('they add each other (subscriptions both ways)')
        a.x.send_presence_subscription(pto=b.x.boundjid.bare)
        await b.wait_until(lambda: b.x.client_roster[a.x.boundjid.bare]['subscription']
                           == 'both', 10, 'b: subscription with a is not both')
        await a.wait_until(lambda: a.x.client_roster[b.x.boundjid.bare]['subscription']
                           == 'both', 10, 'a: subscription with b is not both')

        env.step('they chat')
        await chat(a, b, 'hello from a')
        await chat(b, a, 'hello from b')

        env.step('b leaves; a message waits for it offline')
        await b.close()
        await a.wait_until(lambda: any(p['from'].bare == b.x.boundjid.bare and
                                       p['type'] == 'unavailable' for p in a.presences),
                           10, 'a never saw b go unavailable')
        a.send_chat(b.x.boundjid.bare, 'while you were away')
        await a.ping()  # the router has stored it before the ping is answered
        b2 = await default_client(env, 'newcomer-b@localhost', 'second-secret-B', run.port,
                                  cafile)
        b2.x.send_presence()
        got = await b2.wait_body('while you were away', 'b: the offline message', 10)
        delay = got.xml.find('{urn:xmpp:delay}delay')
        check(delay is not None and delay.get('stamp'),
              'the offline message carries no delay stamp (XEP-0203): %s' % got)
        ok = True
    finally:
        await env.close_all()
        left = await asyncio.to_thread(run.stop)
        run.cleanup(keep=not ok or bool(os.environ.get('E2E_KEEP')))
        if ok:
            check(not left, 'processes of make run survived SIGTERM: %s' % left)
            bad = [line for line in run.log().splitlines()
                   if 'AddressSanitizer' in line or 'runtime error:' in line]
            check(not bad, 'sanitizer report: %s' % bad[:1])


# ------------------------------------------------------------------ slixmpp defaults


@e2e_test('slixmpp_default_client_starttls', timeout=90)
async def t_slixmpp_defaults(_env):
    """STARTTLS required, as in etc/xmppd.yml.dist: slixmpp 1.8.3 knows only the
    tls-unique binding; over TLS 1.3 it tries -PLUS with it, then SCRAM with the GS2 flag
    y, which must be taken (no tls-unique on TLS 1.3); over TLS 1.2 tls-unique is offered
    and it binds."""
    async with tls_server('slixmpp_default_client_starttls',
                          listener='starttls: required') as env:
        cafile = env.srv.certfiles[0]
        for user in ('alice', 'bob', 'carol'):
            await env.register(user)
        env.step('two default clients over TLS 1.3')
        a = await default_client(env, 'alice@localhost', 'pw-alice', env.srv.port, cafile)
        b = await default_client(env, 'bob@localhost', 'pw-bob', env.srv.port, cafile)
        for c in (a, b):
            check(c.tls_version == 'TLSv1.3', 'TLS version %s' % c.tls_version)
            check(c.mech == 'SCRAM-SHA-256', '%s: mechanism %s over TLS 1.3, expected '
                  'SCRAM-SHA-256 (GS2 flag y taken)' % (c.jid, c.mech))
        log = env.srv.log()
        check('authenticated alice@localhost (SCRAM-SHA-256)' in log,
              'the server log does not say alice used SCRAM-SHA-256')
        a.x.send_presence()
        b.x.send_presence()
        await chat(a, b, 'bots can talk')
        await chat(b, a, 'yes they can')

        env.step('a default client over TLS 1.2 binds with tls-unique')
        c = env.client('carol@localhost', 'pw-carol', defaults=True)
        c.x.ca_certs = pathlib.Path(cafile)
        c.x.ssl_context.maximum_version = ssl.TLSVersion.TLSv1_2
        c.x.connect(('127.0.0.1', env.srv.port))
        res = await asyncio.wait_for(asyncio.shield(c.session), 15)
        check(res == 'ok', 'carol over TLS 1.2: %s' % res)
        mech = c.x['feature_mechanisms'].mech.name
        check(mech == 'SCRAM-SHA-256-PLUS', 'carol over TLS 1.2 used %s, expected '
              'SCRAM-SHA-256-PLUS with tls-unique' % mech)
        c.x.send_presence()
        await chat(c, a, 'bound to the channel')


# ------------------------------------------------------------------ SASL ANONYMOUS


NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info'
NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items'


def identities(iq):
    q = iq.xml.find('{%s}query' % NS_DISCO_INFO)
    return [] if q is None else [(i.get('category'), i.get('type'))
                                 for i in q.findall('{%s}identity' % NS_DISCO_INFO)]


@e2e_test('anonymous_account_is_whole', timeout=60,
          server={'extra_config': 'host_config: {localhost: {anonymous: true}}\n'})
async def t_anonymous_whole(env):
    """A SASL ANONYMOUS session's bare JID is an account while the session lasts (RFC
    6120 10.3, RFC 6121 8.5.1): it answers disco#info (account/anonymous) and #items, IQs
    without 'to', the roster, presence, private storage and vCard with results or the
    errors RFC 6120 allows, never service-unavailable; once the session ends it is gone."""
    await env.register('bob')
    anon = await env.login('localhost', password='', mech='ANONYMOUS')  # presence echoed
    me = anon.x.boundjid.bare
    check(me.startswith('anon-'), 'anonymous login bound %s' % anon.jid)
    for to in (me, None):
        env.step('disco#info of the own account, to=%s' % to)
        kind, r = await anon.iq_get(to, NS_DISCO_INFO)
        check(kind == 'result', 'disco#info to %s: %s %s' % (to, kind, stanza_error(r)))
        check(('account', 'anonymous') in identities(r),
              'disco#info to %s: identities %s, expected account/anonymous'
              % (to, identities(r)))
        kind, r = await anon.iq_get(to, NS_DISCO_ITEMS)
        check(kind == 'result', 'disco#items to %s: %s %s' % (to, kind, stanza_error(r)))
        kind, r = await anon.iq_get(to, 'jabber:iq:roster')
        check(kind == 'result' and r.xml.find('{jabber:iq:roster}query') is not None and
              len(r.xml.find('{jabber:iq:roster}query')) == 0,
              'roster get to %s: %s %s' % (to, kind, r))
    env.step('an IQ without to (ping) is answered')
    await anon.ping(None)
    env.step('private storage and vCard: results or allowed errors')
    kind, r = await anon.send_iq('get', "<query xmlns='jabber:iq:private'><a xmlns='x:y'/>"
                                 "</query>")
    check(kind == 'result', 'private get: %s %s' % (kind, stanza_error(r)))
    kind, r = await anon.send_iq('set', "<query xmlns='jabber:iq:private'><a xmlns='x:y'>1</a>"
                                 "</query>")
    expect_error(kind, r, 'not-allowed', 'private set (nothing is kept for the account)')
    kind, r = await anon.send_iq('get', "<vCard xmlns='vcard-temp'/>")
    check(kind == 'result', 'own vCard get: %s %s' % (kind, stanza_error(r)))
    kind, r = await anon.send_iq('set', "<vCard xmlns='vcard-temp'><FN>A</FN></vCard>")
    expect_error(kind, r, 'not-allowed', 'vCard set (nothing is kept for the account)')

    env.step('another user sees the account while it lasts')
    bob = await env.login('bob@localhost/b')
    kind, r = await bob.iq_get(me, NS_DISCO_INFO)
    check(kind == 'result' and ('account', 'anonymous') in identities(r),
          'bob: disco#info of %s: %s %s' % (me, kind, identities(r)))
    kind, r = await bob.send_iq('get', "<vCard xmlns='vcard-temp'/>", to=me)
    check(kind == 'result', 'bob: vCard of %s: %s %s' % (me, kind, stanza_error(r)))
    env.step('the anonymous account subscribes to bob, who approves (slixmpp default)')
    anon.x.send_presence_subscription(pto='bob@localhost')
    await anon.wait_until(lambda: any(p['from'].bare == 'bob@localhost' and
                                       p['type'] == 'available' for p in anon.presences), 5,
                          'no presence of bob: he did not approve the subscription')
    kind, r = await anon.iq_get(None, 'jabber:iq:roster')
    items = r.xml.findall('{jabber:iq:roster}query/{jabber:iq:roster}item')
    # 'both' when bob's slixmpp also subscribed back and the anonymous one approved
    check(kind == 'result' and len(items) == 1 and items[0].get('jid') == 'bob@localhost' and
          items[0].get('subscription') in ('to', 'both'), 'the anonymous roster after bob '
          'approved (his subscribed must reach the account): %s' % r)
    await anon.close()
    env.step('once the session ended, the account is gone, and its subscription with it')
    await bob.wait_until(lambda: any(p['type'] == 'unsubscribe' and p['from'].bare == me
                                     for p in bob.presences), 5,
                         'bob was not told that the anonymous account left')

    async def gone():
        k, rr = await bob.iq_get(me, NS_DISCO_INFO)
        return k == 'error' and stanza_error(rr)[0] == 'service-unavailable'
    check(await eventually(gone, 5), 'disco#info of %s still answered after its session '
          'ended' % me)
