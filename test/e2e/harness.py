"""End-to-end test harness for xmppd.

Starts a real xmppd per test (own port, own temporary directory), drives it
with Debian's slixmpp and with raw sockets, and stops it by PID.  Only the
standard library and slixmpp are used.

Environment:
  XMPPD_BUILD   build directory (default "build", relative to the repo root)
  E2E_DEBUG=1   slixmpp debug logging on stderr
  E2E_KEEP=1    keep every temporary directory, not only those of failures
"""

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import os
import re
import signal
import socket
import subprocess
import tempfile
import shutil
import time
import traceback
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

from certs import make_cert

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

NS_STREAM = 'http://etherx.jabber.org/streams'
NS_STREAMS = 'urn:ietf:params:xml:ns:xmpp-streams'
NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl'
NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'
NS_CLIENT = 'jabber:client'

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
CTL_TIMEOUT = 10.0
LOGIN_TIMEOUT = 10.0
IQ_TIMEOUT = 5.0
WORKERS = 2


class TestFailure(Exception):
    """A protocol or behaviour check failed."""


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def build_dir():
    b = os.environ.get('XMPPD_BUILD', 'build')
    return b if os.path.isabs(b) else os.path.join(REPO, b)


def binary(name):
    return os.path.join(build_dir(), name)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def proc_children(pid):
    """Direct children of pid, from /proc/PID/task/*/children (pgrep -P fallback)."""
    kids = set()
    try:
        for task in os.listdir('/proc/%d/task' % pid):
            try:
                with open('/proc/%d/task/%s/children' % (pid, task)) as f:
                    kids.update(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    if not kids:
        try:
            out = subprocess.run(['pgrep', '-P', str(pid)], capture_output=True,
                                 text=True, timeout=5).stdout
            kids.update(int(x) for x in out.split())
        except (OSError, subprocess.SubprocessError):
            pass
    return kids


def pid_alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
    except OSError:
        return False
    state = stat.rsplit(')', 1)[1].split()[0]
    return state not in ('Z', 'X')


def pid_cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().replace(b'\0', b' ').decode(errors='replace')
    except OSError:
        return ''


LOG_WORKER_STARTED = re.compile(r'worker (\d+) started \(pid (\d+), generation (\d+)\)')
LOG_ROUTER_STARTED = re.compile(r'router started \(pid (\d+)\)')
LOG_CHILD_DIED = re.compile(r'(worker \d+|router) \(pid \d+\) .*; restarting')
LOG_SANITIZER = re.compile(r'(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|'
                           r'AddressSanitizer:DEADLYSIGNAL)')


def module_names():
    """The modules of the tree, as the Makefile finds them: modules/NAME.c, and
    modules/NAME/ (a module built from several files)."""
    d = os.path.join(REPO, 'modules')
    names = [f[:-2] for f in os.listdir(d) if f.endswith('.c')]
    names += [f for f in os.listdir(d) if os.path.isdir(os.path.join(d, f)) and
              any(g.endswith('.c') for g in os.listdir(os.path.join(d, f)))]
    return sorted(names)


class Server:
    """One xmppd instance with its own port and temporary directory."""

    # Plain-TCP tests keep working next to TLS: STARTTLS is offered, not
    # required, and PLAIN is allowed in the clear on this loopback listener.
    PLAIN_LISTENER = 'starttls: optional, allow_plaintext_auth: true'
    # Every test client comes from 127.0.0.1: the per-address limits and the
    # shaper are off unless a test is about them.
    NO_LIMITS = ('max_connections_per_ip: 0, connection_rate_per_ip: 0, '
                 'shaper_bytes_per_second: 0, registration_rate_per_ip: 0')
    # Every module of the tree, loaded by every test unless it says otherwise.
    ALL_MODULES = '{%s}' % ', '.join('%s: {}' % m for m in module_names())

    def __init__(self, name, hosts=('localhost',), workers=WORKERS, listener=PLAIN_LISTENER,
                 extra_listeners=(), extra_config='', certfiles=None, limits=NO_LIMITS,
                 modules=ALL_MODULES):
        self.name = name
        self.modules = modules
        self.hosts = list(hosts)
        self.workers = workers
        self.listener = listener
        self.extra_listeners = list(extra_listeners)  # (port, options)
        self.extra_config = extra_config
        self.certfiles = certfiles
        self.limits = limits
        self.dir = tempfile.mkdtemp(prefix='xmppd-e2e-%s-' % re.sub(r'\W', '_', name))
        self.data_dir = os.path.join(self.dir, 'data')
        self.run_dir = os.path.join(self.dir, 'run')
        os.mkdir(self.data_dir)
        os.mkdir(self.run_dir)
        self.cfg = os.path.join(self.dir, 'xmppd.yml')
        self.log_path = os.path.join(self.dir, 'xmppd.log')
        self.port = None
        self.proc = None
        self.known_pids = set()
        self.problems = []  # found while stopping (survivors, no graceful stop, ...)
        self.stopped = False

    # ---- config and lifecycle

    def config_text(self, port):
        if self.certfiles is None:
            cert = os.path.join(self.dir, 'cert.pem')
            if not os.path.exists(cert):
                make_cert(cert, names=tuple(self.hosts))
            self.certfiles = [cert]
        listeners = '  - {port: %d, ip: 127.0.0.1, module: c2s%s}\n' % (
            port, ', ' + self.listener if self.listener else '')
        for p, opts in self.extra_listeners:
            listeners += '  - {port: %d, ip: 127.0.0.1, module: c2s%s}\n' % (
                p, ', ' + opts if opts else '')
        return ('hosts: [%s]\n'
                'loglevel: debug\n'
                'workers: %d\n'
                'data_dir: %s\n'
                'run_dir: %s\n'
                'certfiles: [%s]\n'
                'listen:\n%s'
                'modules: %s\n'
                'limits: {%s}\n%s'
                % (', '.join(self.hosts), self.workers, self.data_dir, self.run_dir,
                   ', '.join(self.certfiles), listeners, self.modules, self.limits,
                   self.extra_config))

    def start(self):
        last = None
        for _attempt in range(3):  # a port picked by bind(0) can be taken meanwhile
            self.port = free_port()
            with open(self.cfg, 'w') as f:
                f.write(self.config_text(self.port))
            self.log_file = open(self.log_path, 'ab')
            # A restart appends to the same log: readiness is judged on what follows.
            self.start_offset = os.path.getsize(self.log_path)
            self.proc = subprocess.Popen([binary('xmppd'), '-c', self.cfg], stdin=subprocess.DEVNULL,
                                         stdout=self.log_file, stderr=subprocess.STDOUT,
                                         cwd=self.dir)
            self.known_pids.add(self.proc.pid)
            self.stopped = False
            self.problems = []
            try:
                self._wait_ready()
                return
            except TestFailure as e:
                last = e
                self.stop()
                if 'in use' not in self.log():
                    break
        raise last

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise TestFailure('xmppd exited with status %s during start (log %s): %s'
                                  % (self.proc.returncode, self.log_path, self.log_tail(5)))
            if time.monotonic() > deadline:
                raise TestFailure('xmppd did not accept connections on port %d within %.0fs'
                                  % (self.port, START_TIMEOUT))
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.05)
        # The port is open once the master listens; also wait for the router and
        # every worker to say they are ready so that xmppctl and logins work.
        while True:
            text = self.log(self.start_offset)
            ready = 'router ready' in text and all(
                re.search(r'worker %d ready' % w, text) for w in range(self.workers))
            if ready:
                break
            if self.proc.poll() is not None:
                raise TestFailure('xmppd exited with status %s during start: %s'
                                  % (self.proc.returncode, self.log_tail(5)))
            if time.monotonic() > deadline:
                raise TestFailure('router/workers not ready within %.0fs: %s'
                                  % (START_TIMEOUT, self.log_tail(5)))
            time.sleep(0.05)
        self.known_pids.update(self.child_pids())

    def child_pids(self):
        if self.proc is None or self.proc.poll() is not None:
            return set()
        return proc_children(self.proc.pid)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM the master, wait, SIGKILL; then kill any surviving child by PID."""
        if self.proc is None or self.stopped:
            return
        self.stopped = True
        kids = self.child_pids()
        self.known_pids.update(kids)
        self.known_pids.update(self.logged_pids())
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.problems.append('master did not exit within %.0fs of SIGTERM; SIGKILLed'
                                     % STOP_TIMEOUT)
                self.proc.kill()
                self.proc.wait(5)
        else:
            self.problems.append('master had already exited with status %s'
                                 % self.proc.returncode)
        rc = self.proc.returncode
        if rc != 0 and not self.problems:
            self.problems.append('master exit status after SIGTERM was %s, not 0' % rc)
        # Children of the master must not survive it.  Give them a moment, then kill.
        deadline = time.monotonic() + 3.0
        survivors = []
        while True:
            survivors = [p for p in self.known_pids
                         if p != self.proc.pid and pid_alive(p) and 'xmppd' in pid_cmdline(p)]
            if not survivors or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        for p in survivors:
            self.problems.append('child pid %d (%s) survived the master' % (p, pid_cmdline(p).strip()))
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        try:
            self.log_file.close()
        except Exception:
            pass

    def cleanup(self, keep):
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---- log

    def log(self, offset=0):
        """The server log, from byte `offset` on."""
        try:
            with open(self.log_path, 'rb') as f:
                f.seek(offset)
                return f.read().decode(errors='replace')
        except OSError:
            return ''

    def log_tail(self, n=10):
        return ' | '.join(self.log().strip().splitlines()[-n:])

    def logged_pids(self):
        text = self.log()
        pids = {int(m.group(2)) for m in LOG_WORKER_STARTED.finditer(text)}
        pids.update(int(m.group(1)) for m in LOG_ROUTER_STARTED.finditer(text))
        return pids

    def worker_starts(self):
        """[(worker, pid, generation)] in log order."""
        return [(int(a), int(b), int(c)) for a, b, c in LOG_WORKER_STARTED.findall(self.log())]

    def worker_pid(self, w):
        """(pid, generation) of the latest start of worker w."""
        starts = [(p, g) for (ww, p, g) in self.worker_starts() if ww == w]
        check(starts, 'no "worker %d started" line in the master log' % w)
        return starts[-1]

    def router_pid(self):
        m = LOG_ROUTER_STARTED.findall(self.log())
        check(m, 'no "router started" line in the master log')
        return int(m[-1])

    async def wait_log(self, pattern, timeout, start=0):
        """Wait until regex pattern appears in the log after byte offset start."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()[start:]
            m = rx.search(text)
            if m:
                return m
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.05)

    # ---- xmppctl

    def ctl_sync(self, *args, timeout=CTL_TIMEOUT):
        p = subprocess.run([binary('xmppctl'), '-c', self.cfg] + [str(a) for a in args],
                           capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout, p.stderr

    async def ctl(self, *args, timeout=CTL_TIMEOUT):
        return await run_tool('xmppctl', '-c', self.cfg, *args, timeout=timeout)

    async def sessions(self):
        """Parsed `xmppctl sessions`: list of dicts."""
        rc, out, err = await self.ctl('sessions')
        check(rc == 0, 'xmppctl sessions failed (%s): %s' % (rc, err.strip()))
        res = []
        for line in out.splitlines():
            if not line.strip():
                continue
            f = line.split('\t')
            check(len(f) == 6, 'xmppctl sessions line is not 6 TAB-separated fields: %r' % line)
            res.append({'jid': f[0], 'worker': int(f[1]), 'conn': f[2], 'priority': int(f[3]),
                        'presence': f[4], 'since': f[5]})
        return res

    async def session_of(self, full_jid):
        for s in await self.sessions():
            if s['jid'] == full_jid:
                return s
        return None

    async def register(self, user, password, host='localhost'):
        rc, out, err = await self.ctl('register', user, host, password)
        check(rc == 0, 'xmppctl register %s %s failed (%s): %s' % (user, host, rc, err.strip()))


async def run_tool(name, *args, timeout=CTL_TIMEOUT):
    """Runs a built program (xmppd, xmppctl) with these arguments and no input:
    (exit status, stdout, stderr); TestFailure when it does not finish in time."""
    p = await asyncio.create_subprocess_exec(
        binary(name), *[str(a) for a in args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(p.communicate(), timeout)
    except asyncio.TimeoutError:
        p.kill()
        await p.wait()
        raise TestFailure('%s %s did not finish within %.0fs'
                          % (name, ' '.join(str(a) for a in args), timeout))
    return p.returncode, out.decode(errors='replace'), err.decode(errors='replace')


async def eventually(probe, timeout, interval=0.05):
    """Poll async probe() until it returns a true value or timeout; returns its last value.
    Only for state with no event to wait on (xmppctl output, the log)."""
    deadline = time.monotonic() + timeout
    while True:
        v = await probe()
        if v or time.monotonic() > deadline:
            return v
        await asyncio.sleep(interval)


# ------------------------------------------------------------------ slixmpp


class Client:
    """A slixmpp ClientXMPP with queues for what the tests look at."""

    def __init__(self, env, jid, password, mech=None, plugins=(), defaults=False):
        """defaults: slixmpp as a bot author leaves it (any mechanism, TLS required
        for authentication); else SASL may run in the clear, with mech forced."""
        self.env = env
        x = slixmpp.ClientXMPP(jid, password, sasl_mech=mech)
        for p in plugins:
            x.register_plugin(p)
        if not defaults:
            x['feature_mechanisms'].unencrypted_plain = True
            x['feature_mechanisms'].unencrypted_scram = True
            x.enable_plaintext = True
        x.register_plugin('xep_0030')
        x.register_plugin('xep_0199')
        self.x = x
        loop = asyncio.get_running_loop()
        self.session = loop.create_future()
        self.gone = loop.create_future()       # TCP connection ended
        self.stream_error = loop.create_future()
        self.self_presence = loop.create_future()
        self.messages = []        # non-error messages with a body
        self.errors = []          # message stanzas of type error
        self.presences = []
        self.changed = asyncio.Event()
        x.add_event_handler('session_start', self._on_session)
        # A client left to its defaults tries one mechanism after another: only the
        # last failure is the end.  The tests' own clients stop at the first.
        x.add_event_handler('failed_all_auth' if defaults else 'failed_auth', self._on_failed)
        x.add_event_handler('disconnected', self._on_gone)
        x.add_event_handler('connection_failed', self._on_conn_failed)
        x.add_event_handler('stream_error', self._on_stream_error)
        x.add_event_handler('message', self._on_message)
        x.add_event_handler('message_error', self._on_message_error)
        x.add_event_handler('presence', self._on_presence)

    @property
    def jid(self):
        return str(self.x.boundjid)

    def _set(self, fut, value):
        if not fut.done():
            fut.set_result(value)

    def _on_session(self, _e):
        self._set(self.session, 'ok')

    def _on_failed(self, _e):
        self._set(self.session, 'failed_auth')

    def _on_conn_failed(self, e):
        self._set(self.session, 'connection_failed: %s' % (e,))

    def _on_gone(self, reason):
        self._set(self.session, 'disconnected before session_start: %s' % (reason,))
        self._set(self.gone, reason)
        self.changed.set()

    def _on_stream_error(self, err):
        self._set(self.stream_error, err)
        self.changed.set()

    def _on_message(self, msg):
        if msg['type'] != 'error':
            self.messages.append(msg)
            self.changed.set()

    def _on_message_error(self, msg):
        self.errors.append(msg)
        self.changed.set()

    def _on_presence(self, pres):
        self.presences.append(pres)
        if pres['from'] == self.x.boundjid and pres['type'] in ('available', ''):
            self._set(self.self_presence, pres)
        self.changed.set()

    async def wait_until(self, pred, timeout, what):
        """Wait for pred() to become true, woken by incoming stanzas."""
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure('%s: timed out after %.0fs' % (what, timeout))
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(left, 1.0))
            except asyncio.TimeoutError:
                pass

    async def wait_messages(self, n, timeout, what=None):
        await self.wait_until(lambda: len(self.messages) >= n, timeout,
                              what or '%s waiting for %d message(s), has %d'
                              % (self.jid, n, len(self.messages)))

    async def wait_body(self, body, what, timeout=5):
        """Wait for a message with this body; returns it."""
        await self.wait_until(lambda: any(m['body'] == body for m in self.messages), timeout, what)
        return [m for m in self.messages if m['body'] == body][0]

    async def wait_error(self, timeout, what):
        await self.wait_until(lambda: self.errors, timeout, what)
        return self.errors.pop(0)

    async def wait_error_for(self, mid, timeout=5):
        """The message error with id mid (left in self.errors)."""
        await self.wait_until(lambda: any(e['id'] == mid for e in self.errors), timeout,
                              '%s: error for message %s' % (self.jid, mid))
        return [e for e in self.errors if e['id'] == mid][0]

    async def wait_gone(self, timeout, what):
        try:
            return await asyncio.wait_for(asyncio.shield(self.gone), timeout)
        except asyncio.TimeoutError:
            raise TestFailure('%s: connection still open after %.0fs' % (what, timeout))

    def send_chat(self, to, body, mtype='chat', mid=None):
        m = self.x.make_message(mto=to, mbody=body, mtype=mtype)
        if mid:
            m['id'] = mid
        m.send()
        return m

    async def iq_get(self, to, ns, timeout=IQ_TIMEOUT):
        """Send <iq type='get'><query xmlns=ns/></iq>; returns ('result', iq) or ('error', iq)."""
        iq = self.x.make_iq_get(queryxmlns=ns, ito=to)
        try:
            r = await iq.send(timeout=timeout)
            return 'result', r
        except IqError as e:
            return 'error', e.iq
        except IqTimeout:
            raise TestFailure('no answer within %.0fs to iq get %s to %s' % (timeout, ns, to))

    async def send_iq(self, itype, payload=None, to=None, timeout=IQ_TIMEOUT):
        """Send <iq type=itype> with payload (XML text or an Element; None: empty);
        returns ('result', iq) or ('error', iq)."""
        iq = self.x.make_iq(itype=itype, ito=to)
        if payload is not None:
            iq.xml.append(ET.fromstring(payload) if isinstance(payload, str) else payload)
        try:
            return 'result', await iq.send(timeout=timeout)
        except IqError as e:
            return 'error', e.iq
        except IqTimeout:
            what = payload[:80] if isinstance(payload, str) else getattr(payload, 'tag', '')
            raise TestFailure('%s: no answer within %.0fs to iq %s %s to %s'
                              % (self.jid, timeout, itype, what, to))

    async def ping(self, to='localhost', timeout=IQ_TIMEOUT):
        """XEP-0199 ping; returns the result IQ, TestFailure on error or timeout."""
        try:
            return await self.x['xep_0199'].send_ping(to, timeout=timeout)
        except IqError as e:
            raise TestFailure('%s: ping to %s answered with error %s'
                              % (self.jid, to, e.iq['error']['condition']))
        except IqTimeout:
            raise TestFailure('%s: no answer to ping to %s within %.0fs' % (self.jid, to, timeout))

    async def close(self):
        if self.x.transport is None:
            return
        try:
            await asyncio.wait_for(self.x.disconnect(wait=1.0), 2.0)
        except Exception:
            pass
        if self.x.transport is not None:
            self.x.abort()


class Env:
    """What a test gets: its server and helpers bound to it."""

    def __init__(self, srv):
        self.srv = srv
        self.clients = []
        self.raws = []
        self.step_name = 'start'

    def step(self, text):
        self.step_name = text

    async def register(self, user, password=None, host='localhost'):
        await self.srv.register(user, password or 'pw-' + user, host)

    def password(self, user):
        return 'pw-' + user

    def client(self, jid, password=None, mech=None, plugins=(), defaults=False):
        user = jid.split('@')[0].lower()
        c = Client(self, jid, password if password is not None else self.password(user), mech,
                   plugins, defaults)
        self.clients.append(c)
        return c

    async def login(self, jid, password=None, mech=None, presence=True, expect_ok=True,
                    timeout=LOGIN_TIMEOUT, plugins=(), priority=None):
        """Connect and wait for session_start (then presence and its echo) or failed_auth.
        plugins: slixmpp plugins to register (e.g. 'xep_0280') before connecting;
        priority: that of the initial presence (None: none given)."""
        c = self.client(jid, password, mech, plugins)
        c.x.connect(('127.0.0.1', self.srv.port), use_ssl=False, force_starttls=False,
                    disable_starttls=True)
        try:
            res = await asyncio.wait_for(asyncio.shield(c.session), timeout)
        except asyncio.TimeoutError:
            res = 'no session_start or failed_auth within %.0fs' % timeout
        if res != 'ok':
            c.x.abort()
            c.x.cancel_connection_attempt()
            if expect_ok:
                raise TestFailure('login %s (%s): %s' % (jid, mech or 'any mechanism', res))
            return res
        if not expect_ok:
            raise TestFailure('login %s with a bad password/user succeeded' % jid)
        if presence:
            await self.go_online(c, priority=priority)
        return c

    async def go_online(self, c, timeout=LOGIN_TIMEOUT, priority=None):
        """Send initial presence (with this priority) and wait for the server to reflect it
        to us (RFC 6121 4.2.2), which also proves the router has marked the session
        available."""
        c.x.send_presence(ppriority=priority)
        try:
            await asyncio.wait_for(asyncio.shield(c.self_presence), timeout)
        except asyncio.TimeoutError:
            raise TestFailure('%s: own initial presence (priority %s) not reflected back '
                              'within %.0fs' % (c.jid, priority, timeout))

    async def worker_of(self, c):
        s = await self.srv.session_of(c.jid)
        check(s is not None, 'xmppctl sessions does not list %s' % c.jid)
        return s['worker']

    async def login_placed(self, jid, password=None, want=None, avoid=None, attempts=6, tag='r'):
        """Log in bare jid with resources tag1, tag2, ... until the session lands on worker
        `want` (or any worker but `avoid`).  Misplaced sessions stay connected but never
        send presence, so routing to the bare JID ignores them; they only add load to a
        worker, which steers the master's least-loaded pick."""
        for i in range(1, attempts + 1):
            c = await self.login('%s/%s%d' % (jid, tag, i), password, presence=False)
            w = await self.worker_of(c)
            if (want is None or w == want) and (avoid is None or w != avoid):
                await self.go_online(c)
                return c, w
        raise TestFailure('could not get a session of %s on worker %s (avoiding %s) in %d logins'
                          % (jid, want, avoid, attempts))

    async def raw(self, timeout=5.0):
        rs = await RawStream.open(self.srv.port, timeout)
        self.raws.append(rs)
        return rs

    async def close_all(self):
        for rs in self.raws:
            await rs.close()
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)


# ------------------------------------------------------------------ raw socket XMPP


def stream_header(to='localhost', ns=NS_CLIENT, stream_ns=NS_STREAM, decl=True):
    return ("%s<stream:stream xmlns='%s' xmlns:stream='%s' to='%s' version='1.0'>"
            % ("<?xml version='1.0'?>" if decl else '', ns, stream_ns, to))


def local(tag):
    return tag.rsplit('}', 1)[-1]


def ns_of(tag):
    return tag[1:].split('}', 1)[0] if tag.startswith('{') else ''


class RawStream:
    """A bare TCP XMPP stream: whatever the server sends is fed to an XML pull parser
    and split into the stream header and the top-level elements."""

    def __init__(self, sock, timeout):
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.timeout = timeout
        self.parser = ET.XMLPullParser(events=('start', 'end'))
        self.depth = 0
        self.header = None
        self.elements = []
        self.stream_closed = False   # </stream:stream> received
        self.eof = False             # TCP closed by the server
        self.reset = None            # set when it was closed by a reset (RST), not FIN
        self.send_error = None       # a send that failed (the server closed first)
        self.data = b''
        self.parse_error = None

    @classmethod
    async def open(cls, port, timeout=5.0):
        # A plain non-blocking socket, not asyncio streams: a failed send must not
        # discard what the server sent before it closed (asyncio transports do).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(
                sock, ('127.0.0.1', port)), timeout)
        except BaseException:
            sock.close()
            raise
        return cls(sock, timeout)

    async def send(self, text):
        data = text.encode() if isinstance(text, str) else text
        try:
            await asyncio.wait_for(self.loop.sock_sendall(self.sock, data), self.timeout)
        except (ConnectionError, OSError) as e:
            self.send_error = '%s' % type(e).__name__
        except asyncio.TimeoutError:
            self.send_error = 'send timed out'

    def reset_parser(self):
        """Forget the current stream: the next bytes start a new one (stream restart)."""
        self.parser = ET.XMLPullParser(events=('start', 'end'))
        self.depth = 0
        self.header = None
        self.elements = []
        self.stream_closed = False
        self.parse_error = None

    def _feed(self, data):
        self.data += data
        if self.parse_error:
            return
        try:
            self.parser.feed(data)
            for ev, el in self.parser.read_events():
                if ev == 'start':
                    self.depth += 1
                    if self.depth == 1:
                        self.header = el
                else:
                    if self.depth == 2:
                        self.elements.append(el)
                    self.depth -= 1
                    if self.depth == 0:
                        self.stream_closed = True
        except ET.ParseError as e:
            self.parse_error = str(e)

    async def wait(self, pred, timeout=None, what='data'):
        """Read until pred(self) holds or the server closes; False on timeout/EOF."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not pred(self):
            if self.eof:
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                data = await asyncio.wait_for(self.loop.sock_recv(self.sock, 65536), left)
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

    async def wait_eof(self, timeout=None):
        return await self.wait(lambda s: s.eof, timeout)

    async def wait_id(self, iid, what, timeout=None):
        """The first element with id iid (an IQ's answer); TestFailure if none comes."""
        ok = await self.wait(lambda s: any(e.get('id') == iid for e in s.elements), timeout)
        check(ok, '%s: no answer (id %s); server sent %r' % (what, iid, self.text()[-400:]))
        return [e for e in self.elements if e.get('id') == iid][0]

    def find(self, ns, name):
        for el in self.elements:
            if el.tag == '{%s}%s' % (ns, name):
                return el
        return None

    def stream_error(self):
        """(condition, element) of the first <stream:error>, or (None, None)."""
        el = self.find(NS_STREAM, 'error')
        if el is None:
            return None, None
        conds = [local(c.tag) for c in el if ns_of(c.tag) == NS_STREAMS and local(c.tag) != 'text']
        return (conds[0] if conds else ''), el

    def text(self):
        return self.data.decode(errors='replace')

    async def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    async def open_stream(self, to='localhost'):
        await self.send(stream_header(to))
        ok = await self.wait(lambda s: s.find(NS_STREAM, 'features') is not None)
        check(ok, 'no <stream:features> after the stream header; got %r' % self.text()[:400])
        return self.find(NS_STREAM, 'features')


async def raw_login(env, user, password, resource):
    """A raw stream authenticated with PLAIN and bound to user@localhost/resource.
    Returns the RawStream (its elements list restarted after SASL)."""
    rs = await env.raw()
    await rs.open_stream()
    await rs.send(sasl_plain(user, password))
    check(await rs.wait(lambda s: s.find(NS_SASL, 'success') is not None),
          'raw PLAIN login of %s: %r' % (user, rs.text()[-300:]))
    rs.reset_parser()
    await rs.open_stream()
    await rs.send("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                  "<resource>%s</resource></bind></iq>" % resource)
    check(await rs.wait(lambda s: any(e.get('id') == 'bind1' for e in s.elements)),
          'raw bind of %s: no answer: %r' % (resource, rs.text()[-300:]))
    res = [e for e in rs.elements if e.get('id') == 'bind1'][0]
    check(res.get('type') == 'result', 'raw bind of %s: %s' % (resource, ET.tostring(res)))
    return rs


def sasl_plain(user, password):
    return ("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
            % (NS_SASL, base64.b64encode(b'\0' + user.encode() + b'\0' + password.encode()).decode()))


async def raw_scram(rs, mech, user, password):
    """Run a SCRAM exchange on raw stream rs (after stream features).  Returns the final
    top-level SASL element (success/failure) or raises TestFailure if the exchange stalls."""
    h = {'SCRAM-SHA-1': hashlib.sha1, 'SCRAM-SHA-256': hashlib.sha256}[mech]
    cnonce = base64.b64encode(os.urandom(18)).decode()
    bare = 'n=%s,r=%s' % (user, cnonce)
    first = 'n,,' + bare
    n0 = len(rs.elements)
    await rs.send("<auth xmlns='%s' mechanism='%s'>%s</auth>"
                  % (NS_SASL, mech, base64.b64encode(first.encode()).decode()))
    ok = await rs.wait(lambda s: len(s.elements) > n0)
    check(ok, '%s: no answer to the client-first message; got %r' % (mech, rs.text()[-300:]))
    el = rs.elements[n0]
    if local(el.tag) != 'challenge':
        return el
    server_first = base64.b64decode(el.text or '').decode()
    attrs = dict(kv.split('=', 1) for kv in server_first.split(','))
    check(attrs.get('r', '').startswith(cnonce), '%s: server nonce does not extend ours: %r'
          % (mech, server_first))
    salt = base64.b64decode(attrs['s'])
    it = int(attrs['i'])
    without_proof = 'c=biws,r=' + attrs['r']
    salted = hashlib.pbkdf2_hmac(h().name, password.encode(), salt, it)
    ckey = hmac.new(salted, b'Client Key', h).digest()
    skey = h(ckey).digest()
    auth_msg = ','.join([bare, server_first, without_proof]).encode()
    sig = hmac.new(skey, auth_msg, h).digest()
    proof = bytes(a ^ b for a, b in zip(ckey, sig))
    final = without_proof + ',p=' + base64.b64encode(proof).decode()
    n1 = len(rs.elements)
    await rs.send("<response xmlns='%s'>%s</response>"
                  % (NS_SASL, base64.b64encode(final.encode()).decode()))
    ok = await rs.wait(lambda s: len(s.elements) > n1)
    check(ok, '%s: no answer to the client-final message; got %r' % (mech, rs.text()[-300:]))
    return rs.elements[n1]


# ------------------------------------------------------------------ helpers of many tests


def stanza_error(st):
    """(condition, type, text) of the <error/> of a stanza (an Element or a slixmpp
    stanza), RFC 6120 8.3; (None, None, None) without one, condition '' when it names
    none."""
    el = getattr(st, 'xml', st).find('{%s}error' % NS_CLIENT)
    if el is None:
        return None, None, None
    conds = [local(c.tag) for c in el if ns_of(c.tag) == NS_STANZAS and local(c.tag) != 'text']
    text = el.find('{%s}text' % NS_STANZAS)
    return (conds[0] if conds else ''), el.get('type'), (text.text if text is not None else None)


def expect_error(kind, r, condition, what, etype=None):
    """An answer (kind, stanza) of Client.send_iq is an error with this condition (and,
    when given, this error type)."""
    check(kind == 'error', '%s: expected error %s, got %s' % (what, condition, r))
    got, gtype, _ = stanza_error(r)
    check(got == condition, '%s: condition %r, expected %s: %s' % (what, got, condition, r))
    check(etype is None or gtype == etype, '%s: error type %r, expected %s'
          % (what, gtype, etype))


async def barrier(*clients):
    """Each client pings the server in turn: whatever the server routed to a client
    before its ping was answered has arrived (each client's streams are ordered)."""
    for c in clients:
        await c.ping('localhost')


async def restart_server(srv):
    """Stops srv and starts it again on the same data directory (start() returns when the
    new router and every worker are ready); a problem of the stop fails the test."""
    await asyncio.to_thread(srv.stop)
    check(not srv.problems, 'stop: %s' % '; '.join(srv.problems))
    await asyncio.to_thread(srv.start)


def modules_with(module, opts):
    """Server.ALL_MODULES with `module: {opts}` in place of `module: {}`."""
    m = Server.ALL_MODULES
    old = '%s: {}' % module
    check(old in m, 'Server.ALL_MODULES has no %r: %s' % (old, m))
    return m.replace(old, '%s: {%s}' % (module, opts))


@contextlib.asynccontextmanager
async def own_server(name, **server_kw):
    """An Env on a server of the test's own (Server keywords), for a test that needs
    other options than the runner's server.  Stopped at the end; a sanitizer report in
    its log fails the test."""
    srv = Server(name, **server_kw)
    srv.start()
    env = Env(srv)
    try:
        yield env
    finally:
        await env.close_all()
        srv.stop()
        bad = [line for line in srv.log().splitlines() if LOG_SANITIZER.search(line)]
        srv.cleanup(keep=bool(bad) or bool(os.environ.get('E2E_KEEP')))
        check(not bad, 'sanitizer report: %s' % (bad[:1],))


# ------------------------------------------------------------------ runner

TESTS = []


def e2e_test(name, timeout=60, expect_child_death=False, stops_server=False, server=None):
    """Register an async test function f(env).  expect_child_death: the test kills a
    worker or the router itself; stops_server: the test stops xmppd itself; server: keyword
    arguments for its Server (e.g. {'modules': '{ping: {}}'})."""
    def deco(f):
        TESTS.append({'name': name, 'fn': f, 'timeout': timeout,
                      'expect_child_death': expect_child_death, 'stops_server': stops_server,
                      'server': server or {}})
        return f
    return deco


async def _run_one(t, env):
    try:
        await asyncio.wait_for(t['fn'](env), t['timeout'])
    except asyncio.TimeoutError:
        raise TestFailure('test timed out after %ss at step: %s' % (t['timeout'], env.step_name))
    finally:
        await env.close_all()


def run_test(t):
    srv = Server(t['name'], **t['server'])
    reason = None
    try:
        srv.start()
    except Exception as e:
        reason = 'server start: %s' % e
    if reason is None:
        env = Env(srv)
        try:
            asyncio.run(_run_one(t, env))
        except TestFailure as e:
            reason = str(e)
        except AssertionError as e:
            reason = 'assertion failed: %s' % (e or traceback.format_exc().strip().splitlines()[-2])
        except Exception as e:
            reason = 'exception %s: %s [%s]' % (
                type(e).__name__, e, traceback.format_exc().strip().splitlines()[-3].strip())
        # The server must have survived the test (unless the test stopped it).
        if reason is None and not srv.running() and not t['stops_server']:
            reason = 'xmppd master exited during the test (status %s)' % srv.proc.returncode
    try:
        srv.stop()
    except Exception as e:
        srv.problems.append('stop: %s' % e)
    # What the server log says can explain a failure better than the symptom the client
    # saw, and fails an otherwise passing test: a sanitizer report, a child that died
    # (unless the test killed it), the master gone.
    log = srv.log().splitlines()
    server = []
    san = [l.strip() for l in log if LOG_SANITIZER.search(l)]
    if san:
        server.append('sanitizer: %s' % san[0])
    if not t['expect_child_death']:
        died = [l.strip() for l in log if LOG_CHILD_DIED.search(l)]
        if died:
            server.append('child died: %s' % died[0])
    if srv.problems and not (reason and reason.startswith('server start')):
        server.append('shutdown: ' + '; '.join(srv.problems))
    if server:
        reason = ('%s; server: ' % reason if reason else 'server: ') + ' | '.join(server)
    keep = reason is not None or os.environ.get('E2E_KEEP')
    srv.cleanup(keep)
    return reason, srv


def main(argv):
    logging.basicConfig(level=logging.DEBUG if os.environ.get('E2E_DEBUG') else logging.CRITICAL,
                        format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    for b in ('xmppd', 'xmppctl'):
        if not os.access(binary(b), os.X_OK):
            print('FAIL setup: %s is missing (build first: make)' % binary(b))
            print('e2e: 0 passed, %d failed' % max(1, len(TESTS)))
            return 1
    selected = [t for t in TESTS if not argv or any(a in t['name'] for a in argv)]
    passed = failed = 0
    t0 = time.monotonic()
    for t in selected:
        start = time.monotonic()
        reason, srv = run_test(t)
        dt = time.monotonic() - start
        if reason is None:
            passed += 1
            print('PASS %s (%.1fs)' % (t['name'], dt), flush=True)
        else:
            failed += 1
            print('FAIL %s (%.1fs): %s [log: %s]' % (t['name'], dt, reason, srv.log_path),
                  flush=True)
    print('e2e: %d passed, %d failed' % (passed, failed), flush=True)
    if os.environ.get('E2E_DEBUG'):
        print('total %.1fs' % (time.monotonic() - t0))
    return 1 if failed else 0
