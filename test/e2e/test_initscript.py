"""Operations: the LSB init script (etc/init.d/xmppd), `make install`, log rotation.

The init script runs from the tree, unprivileged-style: a defaults file (named by
XMPPD_DEFAULTS, as /etc/default/xmppd would be) points DAEMON, XMPPCTL and CONFIG at
the build tree and a temporary configuration without user/group whose pid file,
run, data and log directories are in the test's own directory (the script makes the
missing ones).  Each test checks the LSB exit codes and what the server really does
(its pid file, its processes, its log), and kills by pid whatever it started if it
fails.  `make install DESTDIR=... PREFIX=/usr` is checked file by file, then the
installed xmppd checks (-t) and runs (-d) the installed example configuration with
only its paths (and ports, user) pointed at the test directory: the installed
plugins are found and loaded.  Log rotation runs the installed logrotate
configuration with logrotate when it is there (paths pointed at the test
directory), and always the same by hand (rename, SIGUSR1): every process writes to
the new file.

The runner's own server (env.srv) is not used; these tests start their own."""

import asyncio
import glob
import grp
import gzip
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time

from certs import make_cert
from harness import (REPO, Server, TestFailure, binary, build_dir, check, e2e_test, free_port,
                     module_names, pid_alive, pid_cmdline, proc_children)

INIT = os.path.join(REPO, 'etc', 'init.d', 'xmppd')
RUN_TIMEOUT = 60.0     # one init script action (stop waits up to STOP_TIMEOUT=20)
MAKE_TIMEOUT = 300.0


def read_pidfile(path):
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def comm(pid):
    try:
        with open('/proc/%d/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return ''


async def wait_for(probe, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = probe()
        if v or time.monotonic() > deadline:
            return v
        await asyncio.sleep(interval)


def sanitizer_env(env, where):
    """Sanitizer reports of a daemon (whose stderr is /dev/null) go to files."""
    for var in ('ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS'):
        old = env.get(var, '')
        env[var] = (old + ':' if old else '') + 'log_path=' + os.path.join(where, 'sanitizer')


def sanitizer_reports(where):
    out = []
    for p in glob.glob(os.path.join(where, 'sanitizer*')):
        with open(p, errors='replace') as f:
            text = f.read().strip()
        if text:
            out.append('%s: %s' % (os.path.basename(p), ' | '.join(text.splitlines()[:4])))
    return out


class Daemon:
    """A configuration in a temporary directory and the init script driving it."""

    def __init__(self, name):
        # A Server object only for its temporary directory, certificate and
        # config_text(); it is never started.
        self.srv = Server(name)
        self.dir = self.srv.dir
        self.port = free_port()
        self.cfg = os.path.join(self.dir, 'xmppd.yml')
        self.pidfile = os.path.join(self.dir, 'pid', 'xmppd.pid')  # made by the script
        self.log_dir = os.path.join(self.dir, 'log')                # made by the script
        self.log_path = os.path.join(self.log_dir, 'xmppd.log')
        self.good = (self.srv.config_text(self.port) +
                     'log: %s\npidfile: %s\n' % (self.log_path, self.pidfile))
        check('loglevel: debug\n' in self.good, 'harness config has no "loglevel: debug"')
        self.write_config(self.good)
        defaults = os.path.join(self.dir, 'default-xmppd')
        with open(defaults, 'w') as f:
            f.write('# as /etc/default/xmppd\nDAEMON=%s\nXMPPCTL=%s\nCONFIG=%s\nSTOP_TIMEOUT=20\n'
                    % (binary('xmppd'), binary('xmppctl'), self.cfg))
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ('DAEMON', 'XMPPCTL', 'CONFIG', 'PIDFILE')}
        self.env['XMPPD_DEFAULTS'] = defaults
        sanitizer_env(self.env, self.dir)
        self.pids = set()   # every xmppd process seen, for the cleanup

    def write_config(self, text):
        with open(self.cfg + '.tmp', 'w') as f:
            f.write(text)
        os.replace(self.cfg + '.tmp', self.cfg)

    def run_sync(self, *args):
        p = subprocess.run(['/bin/sh', INIT] + list(args), capture_output=True, text=True,
                           timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL, env=self.env,
                           cwd=self.dir)
        self.remember()
        return p.returncode, p.stdout, p.stderr

    async def run(self, *args):
        try:
            return await asyncio.to_thread(self.run_sync, *args)
        except subprocess.TimeoutExpired:
            raise TestFailure('init script %s did not finish within %.0fs'
                              % (' '.join(args), RUN_TIMEOUT))

    def master(self):
        return read_pidfile(self.pidfile)

    def remember(self):
        pid = self.master()
        if pid and pid_alive(pid) and comm(pid) == 'xmppd':
            self.pids.add(pid)
            self.pids.update(proc_children(pid))
        for m in re.finditer(r'(?:router started|worker \d+ started) \(pid (\d+)', self.log()):
            self.pids.add(int(m.group(1)))

    def log(self, path=None):
        try:
            with open(path or self.log_path, 'rb') as f:
                return f.read().decode(errors='replace')
        except OSError:
            return ''

    async def wait_log(self, pattern, timeout, start=0, path=None):
        rx = re.compile(pattern)
        return await wait_for(lambda: rx.search(self.log(path)[start:]), timeout)

    def serves(self):
        try:
            with socket.create_connection(('127.0.0.1', self.port), timeout=2):
                return True
        except OSError:
            return False

    def ctl(self, *args):
        sock = os.path.join(self.srv.run_dir, 'xmppd.ctl')
        p = subprocess.run([binary('xmppctl'), '-s', sock] + list(args), capture_output=True,
                           text=True, timeout=30, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout, p.stderr

    def cleanup(self, failed):
        """Kills by pid whatever is still running; returns what had to be killed."""
        self.remember()
        alive = lambda: [p for p in self.pids if pid_alive(p) and 'xmppd' in pid_cmdline(p)]
        left = alive()
        master = self.master()
        if left and master in left:
            os.kill(master, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while alive() and time.monotonic() < deadline:
                time.sleep(0.05)
        for p in alive():
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        self.srv.cleanup(failed or bool(os.environ.get('E2E_KEEP')))
        return left


async def with_daemon(name, body):
    d = Daemon(name)
    failed = True
    try:
        await body(d)
        failed = False
    finally:
        left = d.cleanup(failed)
    reports = sanitizer_reports(d.dir) if os.path.isdir(d.dir) else []
    check(not left, 'xmppd processes still running after the test: %s' % sorted(left))
    check(not reports, 'sanitizer: %s' % '; '.join(reports))


@e2e_test('init_script_lifecycle', timeout=180)
async def t_lifecycle(env):
    async def body(d):
        env.step('status before any start: 3 (not running)')
        rc, out, err = await d.run('status')
        check(rc == 3, 'status before start: exit %d (%s%s), expected 3' % (rc, out, err))

        env.step('start: 0, once the server serves; pid file names the live master')
        rc, out, err = await d.run('start')
        check(rc == 0, 'start: exit %d: %s %s; log: %s' % (rc, out, err, d.log()[-500:]))
        pid = d.master()
        check(pid is not None, 'no pid in %s after start' % d.pidfile)
        check(pid_alive(pid) and comm(pid) == 'xmppd',
              'pid %d of the pid file is not a live xmppd (%r)' % (pid, pid_cmdline(pid)))
        check(d.serves(), 'start returned 0 but port %d refuses connections' % d.port)
        check(os.path.isdir(d.log_dir), 'the script did not make the log directory')
        check(await d.wait_log(r'router ready', 10), 'no "router ready" in the log')
        kids = proc_children(pid)
        check(len(kids) >= 3, 'master %d has children %s, expected the router and 2 workers'
              % (pid, sorted(kids)))
        rc, out, err = d.ctl('status')
        check(rc == 0, 'xmppctl status after start: exit %d: %s' % (rc, err))

        env.step('status: 0 with the pid')
        rc, out, err = await d.run('status')
        check(rc == 0 and str(pid) in out, 'status while running: exit %d: %r' % (rc, out + err))

        env.step('start again: 0, the same server')
        rc, out, err = await d.run('start')
        check(rc == 0, 'second start: exit %d: %s %s' % (rc, out, err))
        check(d.master() == pid and pid_alive(pid), 'second start changed the master: %s -> %s'
              % (pid, d.master()))
        check(len(re.findall(r'xmppd started:', d.log())) == 1,
              'a second server was started: %s' % d.log()[-400:])

        env.step('reload with loglevel info: 0, and every process applies it')
        offset = len(d.log())
        d.write_config(d.good.replace('loglevel: debug\n', 'loglevel: info\n'))
        rc, out, err = await d.run('reload')
        check(rc == 0, 'reload: exit %d: %s %s' % (rc, out, err))
        check(await d.wait_log(r'reload: loglevel debug -> info', 10, offset),
              'no "reload: loglevel debug -> info" in the log: %s' % d.log()[offset:][-500:])
        check(await d.wait_log(r'reload: done: every process runs the new configuration', 10,
                               offset), 'reload never done: %s' % d.log()[offset:][-500:])
        check(d.master() == pid and pid_alive(pid), 'reload changed the master')

        env.step('reload with a broken file: non-zero, nothing asked of the server')
        offset = len(d.log())
        broken = d.good.replace('loglevel: debug\n', 'loglevel: error\n') + 'no_such_key: 1\n'
        d.write_config(broken)
        rc, out, err = await d.run('reload')
        check(rc != 0, 'reload of a broken file: exit 0 (%s)' % out)
        check('no_such_key' in err, 'reload did not say what is wrong: %r' % err)
        await asyncio.sleep(0.5)
        check('reload:' not in d.log()[offset:],
              'the server was asked to reload a broken file: %s' % d.log()[offset:])

        env.step('restart with a broken file: non-zero, the server stays up')
        rc, out, err = await d.run('restart')
        check(rc != 0, 'restart with a broken file: exit 0 (%s)' % out)
        check(d.master() == pid and pid_alive(pid), 'restart with a broken file stopped xmppd')
        check(d.serves(), 'xmppd no longer serves after the refused reload/restart')
        rc, out, err = d.ctl('status')
        check(rc == 0, 'xmppctl status after the refused reload: exit %d: %s' % (rc, err))
        rc, out, err = d.ctl('loglevel', 'info')
        check(rc == 0, 'xmppctl loglevel: %s' % err)
        check(await d.wait_log(r'log level is now info', 10, offset),
              'the server does not answer as before the refused reload')
        d.write_config(d.good)

        env.step('stop: 0; the master and its children are gone, and the pid file')
        offset = len(d.log())
        rc, out, err = await d.run('stop')
        check(rc == 0, 'stop: exit %d: %s %s' % (rc, out, err))
        check(not pid_alive(pid), 'master %d still alive after stop' % pid)
        gone = await wait_for(lambda: not [k for k in kids if pid_alive(k)], 5)
        check(gone, 'children %s still alive after stop' % [k for k in kids if pid_alive(k)])
        check(not os.path.exists(d.pidfile), 'pid file still there after stop')
        check(re.search(r'xmppd stopped', d.log()[offset:]),
              'no "xmppd stopped" (graceful exit) in the log: %s' % d.log()[offset:][-400:])
        check('did not stop within' not in err, 'stop needed SIGKILL: %s' % err)

        env.step('status: 3; stop again: 0')
        rc, out, err = await d.run('status')
        check(rc == 3, 'status after stop: exit %d (%s)' % (rc, out + err))
        rc, out, err = await d.run('stop')
        check(rc == 0, 'stop when stopped: exit %d (%s)' % (rc, out + err))
        rc, out, err = await d.run('reload')
        check(rc == 7, 'reload when stopped: exit %d, expected 7 (%s)' % (rc, out + err))

        env.step('a pid file naming a dead process: status 1, stop 0 removes it')
        p = subprocess.Popen(['true'])
        p.wait(10)
        os.makedirs(os.path.dirname(d.pidfile), exist_ok=True)
        with open(d.pidfile, 'w') as f:
            f.write('%d\n' % p.pid)
        rc, out, err = await d.run('status')
        check(rc == 1, 'status with a stale pid file: exit %d, expected 1 (%s)' % (rc, out + err))
        rc, out, err = await d.run('stop')
        check(rc == 0 and not os.path.exists(d.pidfile),
              'stop with a stale pid file: exit %d, pid file %s' % (
                  rc, 'kept' if os.path.exists(d.pidfile) else 'removed'))

        env.step('unknown action and no action: 2 with the usage')
        for args in (('frobnicate',), ()):
            rc, out, err = await d.run(*args)
            check(rc == 2 and 'usage' in err, '%r: exit %d, stderr %r' % (args, rc, err))

    await with_daemon('init_script_lifecycle', body)


def installed_text(root):
    """{relative path: text} of the installed text files (not ELF)."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, 'rb') as fh:
                data = fh.read()
            if not data.startswith(b'\x7fELF'):
                out[os.path.relpath(p, root)] = data.decode(errors='replace')
    return out


def run_make(*args):
    rel = os.path.relpath(build_dir(), REPO)
    # install depends on all: a stale build would be rebuilt here, without the
    # flags (sanitizers) the build directory was made with.
    q = subprocess.run(['make', '-q', '-C', REPO, 'B=' + rel, 'all'], capture_output=True,
                       timeout=MAKE_TIMEOUT, stdin=subprocess.DEVNULL)
    if q.returncode != 0:
        raise TestFailure('%s is not up to date: build it first (make B=%s all)' % (rel, rel))
    p = subprocess.run(['make', '-s', '-C', REPO, 'B=' + rel] + list(args), capture_output=True,
                       text=True, timeout=MAKE_TIMEOUT, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


@e2e_test('init_make_install', timeout=600)
async def t_install(env):
    top = tempfile.mkdtemp(prefix='xmppd-e2e-install-')
    dest = os.path.join(top, 'dest')
    started = []
    ok = False
    try:
        env.step('make install DESTDIR=... PREFIX=/usr')
        rc, out, err = await asyncio.to_thread(run_make, 'install', 'DESTDIR=' + dest,
                                               'PREFIX=/usr')
        check(rc == 0, 'make install: exit %d: %s' % (rc, (out + err)[-800:]))

        def mode(rel):
            st = os.stat(os.path.join(dest, rel))
            return stat.S_IMODE(st.st_mode)
        modules = module_names()
        expect = {'usr/sbin/xmppd': 0o755, 'usr/bin/xmppctl': 0o755,
                  'usr/bin/xmppd-shm-dump': 0o755, 'etc/init.d/xmppd': 0o755,
                  'etc/xmppd/xmppd.yml': 0o644, 'etc/logrotate.d/xmppd': 0o644,
                  'usr/lib/systemd/system/xmppd.service': 0o644}
        for m in modules:
            expect['usr/lib/xmppd/modules/%s.so' % m] = 0o644
        mans = sorted(os.path.basename(p) for p in glob.glob(os.path.join(REPO, 'man', '*.[0-9]')))
        check(mans, 'no man pages in man/')
        for m in mans:
            expect['usr/share/man/man%s/%s' % (m[-1], m)] = 0o644
        for rel, want in sorted(expect.items()):
            check(os.path.isfile(os.path.join(dest, rel)), 'not installed: %s' % rel)
            check(mode(rel) == want, '%s has mode %o, expected %o' % (rel, mode(rel), want))

        env.step('no @PLACEHOLDER@ left; the installed files name the installed paths')
        texts = installed_text(dest)
        for rel, text in texts.items():
            # The install placeholders (@HOST@ in the man pages is a config syntax).
            m = re.search(r'@(SBINDIR|BINDIR|SYSCONFDIR|MODULESDIR|UNITDIR|PREFIX)@', text)
            check(not m, '%s still has %s' % (rel, m.group(0) if m else ''))
        conf = texts['etc/xmppd/xmppd.yml']
        for key, value in (('modules_dir', '/usr/lib/xmppd/modules'), ('data_dir', '/var/lib/xmppd'),
                           ('run_dir', '/run/xmppd'), ('log', '/var/log/xmppd/xmppd.log'),
                           ('pidfile', '/run/xmppd/xmppd.pid'), ('user', 'xmppd'),
                           ('group', 'xmppd')):
            check(re.search(r'(?m)^%s: %s$' % (key, re.escape(value)), conf),
                  'installed xmppd.yml has no "%s: %s"' % (key, value))
        init = texts['etc/init.d/xmppd']
        for line in ('DAEMON=${DAEMON:-/usr/sbin/xmppd}', 'XMPPCTL=${XMPPCTL:-/usr/bin/xmppctl}',
                     'CONFIG=${CONFIG:-/etc/xmppd/xmppd.yml}',
                     'XMPPD_DEFAULTS=${XMPPD_DEFAULTS:-/etc/default/xmppd}'):
            check(line in init, 'installed init script lacks %r' % line)
        check('### BEGIN INIT INFO' in init and '### END INIT INFO' in init,
              'installed init script has no LSB header')
        unit = texts['usr/lib/systemd/system/xmppd.service']
        check('ExecStart=/usr/sbin/xmppd -d -c /etc/xmppd/xmppd.yml -p /run/xmppd/xmppd.pid'
              in unit and 'PIDFile=/run/xmppd/xmppd.pid' in unit,
              'installed unit does not run the installed xmppd on the installed config')
        lr = texts['etc/logrotate.d/xmppd']
        check('/var/log/xmppd/*.log' in lr and 'kill -USR1' in lr and '/run/xmppd/xmppd.pid' in lr,
              'installed logrotate file does not rotate /var/log/xmppd with SIGUSR1')

        env.step('installed man pages format without a warning')
        if shutil.which('groff'):
            for m in mans:
                p = subprocess.run(['groff', '-man', '-ww', '-z',
                                    os.path.join(dest, 'usr/share/man/man%s' % m[-1], m)],
                                   capture_output=True, text=True, timeout=30)
                check(p.returncode == 0 and not p.stderr.strip(),
                      'groff on installed %s: %s' % (m, p.stderr.strip()))

        env.step('every plugin the example loads is installed')
        listed = re.findall(r'(?m)^  ([a-z0-9_]+): \{\}', conf.split('\nmodules:', 1)[1])
        check(listed, 'the installed example loads no modules')
        for m in listed:
            check(os.path.isfile(os.path.join(dest, 'usr/lib/xmppd/modules/%s.so' % m)),
                  'the example loads %s, which is not installed' % m)

        env.step('installed xmppd -t on the example with only paths (and ports, user) moved')
        work = os.path.join(top, 'work')
        os.mkdir(work)
        for sub in ('data', 'run', 'log'):
            os.mkdir(os.path.join(work, sub))
        cert = os.path.join(work, 'xmppd.pem')
        make_cert(cert)
        p1, p2 = free_port(), free_port()
        if os.getuid() == 0:
            # As the init script runs it: root, dropping to an unprivileged user
            # (nobody stands in for xmppd) that owns data, run and log.
            nobody = pwd.getpwnam('nobody')
            user, group = 'nobody', grp.getgrgid(nobody.pw_gid).gr_name
            os.chmod(top, 0o755)
            os.chmod(work, 0o755)
            os.chmod(cert, 0o644)
            for sub in ('data', 'run', 'log'):
                os.chown(os.path.join(work, sub), nobody.pw_uid, nobody.pw_gid)
        else:
            user = pwd.getpwuid(os.getuid()).pw_name
            group = grp.getgrgid(os.getgid()).gr_name
        text = (conf.replace('/usr/lib/xmppd/modules', dest + '/usr/lib/xmppd/modules')
                .replace('/var/lib/xmppd', work + '/data')
                .replace('/run/xmppd', work + '/run')
                .replace('/var/log/xmppd', work + '/log')
                .replace('/etc/xmppd/xmppd.pem', cert)
                .replace('port: 5222', 'port: %d' % p1).replace('port: 5223', 'port: %d' % p2)
                .replace('\nuser: xmppd\n', '\nuser: %s\n' % user)
                .replace('\ngroup: xmppd\n', '\ngroup: %s\n' % group)
                .replace('workers: auto', 'workers: 2'))
        cfg = os.path.join(work, 'xmppd.yml')
        with open(cfg, 'w') as f:
            f.write(text)
        xmppd = os.path.join(dest, 'usr/sbin/xmppd')
        p = subprocess.run([xmppd, '-t', '-c', cfg], capture_output=True, text=True, timeout=30)
        check(p.returncode == 0, 'installed xmppd -t: exit %d: %s' % (p.returncode, p.stderr))

        env.step('installed xmppd -d serves with the installed plugins')
        denv = dict(os.environ)
        sanitizer_env(denv, work)
        p = subprocess.run([xmppd, '-d', '-c', cfg], capture_output=True, text=True, timeout=60,
                           env=denv, stdin=subprocess.DEVNULL)
        pidfile = os.path.join(work, 'run', 'xmppd.pid')
        pid = read_pidfile(pidfile)
        if pid:
            started.append(pid)
        logf = os.path.join(work, 'log', 'xmppd.log')
        with open(logf, errors='replace') as f:
            log = f.read()
        check(p.returncode == 0, 'installed xmppd -d: exit %d: %s; log: %s'
              % (p.returncode, p.stderr, log[-600:]))
        check(pid and pid_alive(pid), 'no live master in %s' % pidfile)
        started.extend(proc_children(pid))
        if os.getuid() == 0:
            check('running as uid %d' % pwd.getpwnam('nobody').pw_uid in log,
                  'the installed xmppd did not drop root: %s' % log[-600:])
        for m in listed:
            check(re.search(r'module %s loaded' % m, log),
                  'installed module %s not loaded: %s' % (m, log[-600:]))
        with socket.create_connection(('127.0.0.1', p1), timeout=5):
            pass
        p = subprocess.run([os.path.join(dest, 'usr/bin/xmppctl'), '-c', cfg, 'status'],
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 0, 'installed xmppctl status: exit %d: %s' % (p.returncode, p.stderr))
        os.kill(pid, signal.SIGTERM)
        check(await wait_for(lambda: not pid_alive(pid), 15), 'installed xmppd ignores SIGTERM')
        check(not os.path.exists(pidfile), 'pid file left after a clean stop')

        env.step('make install again keeps an edited configuration')
        with open(os.path.join(dest, 'etc/xmppd/xmppd.yml'), 'a') as f:
            f.write('# edited by the admin\n')
        rc, out, err = await asyncio.to_thread(run_make, 'install', 'DESTDIR=' + dest,
                                               'PREFIX=/usr')
        check(rc == 0, 'second make install: exit %d: %s' % (rc, (out + err)[-800:]))
        with open(os.path.join(dest, 'etc/xmppd/xmppd.yml')) as f:
            check('# edited by the admin' in f.read(), 'make install overwrote the configuration')

        env.step('make uninstall removes what install put, keeps the configuration')
        rc, out, err = await asyncio.to_thread(run_make, 'uninstall', 'DESTDIR=' + dest,
                                               'PREFIX=/usr')
        check(rc == 0, 'make uninstall: exit %d: %s' % (rc, (out + err)[-800:]))
        for rel in expect:
            if rel != 'etc/xmppd/xmppd.yml':
                check(not os.path.exists(os.path.join(dest, rel)), 'uninstall left %s' % rel)
        check(os.path.isfile(os.path.join(dest, 'etc/xmppd/xmppd.yml')),
              'uninstall removed the configuration')
        reports = sanitizer_reports(work)
        check(not reports, 'sanitizer: %s' % '; '.join(reports))
        ok = True
    finally:
        for p in started:
            if pid_alive(p) and 'xmppd' in pid_cmdline(p):
                os.kill(p, signal.SIGKILL)
        if ok and not os.environ.get('E2E_KEEP'):
            shutil.rmtree(top, ignore_errors=True)


@e2e_test('init_logrotate_reopens_log', timeout=180)
async def t_logrotate(env):
    async def reload_lines(d, path, what):
        """After a reload, the master, the router and each worker write to path."""
        offset = len(d.log(path))
        rc, _out, err = d.ctl('reload')
        check(rc == 0, 'xmppctl reload: %s' % err)
        # The master's last line of a reload: nothing more is written after it.
        check(await d.wait_log(r'reload: done: every process', 10, offset, path),
              '%s: no "reload: done" in %s: %s' % (what, path, d.log(path)[offset:][-600:]))
        for who in (r'master\[', r'router\[', r'worker 0\[', r'worker 1\['):
            check(await d.wait_log(who + r'\d+\]: reload: ', 10, offset, path),
                  '%s: no reload line of %s in %s: %s'
                  % (what, who, path, d.log(path)[offset:][-600:]))

    async def body(d):
        env.step('start through the init script')
        rc, out, err = await d.run('start')
        check(rc == 0, 'start: exit %d: %s %s' % (rc, out, err))
        pid = d.master()
        check(await d.wait_log(r'router ready', 10), 'no "router ready" in the log')

        if shutil.which('logrotate'):
            env.step('logrotate -f on the shipped configuration, paths moved to the test')
            with open(os.path.join(REPO, 'etc', 'logrotate.d', 'xmppd')) as f:
                conf = f.read()
            check('/var/log/xmppd/' in conf and '/run/xmppd/xmppd.pid' in conf,
                  'etc/logrotate.d/xmppd does not name the installed paths')
            conf = (conf.replace('/var/log/xmppd/', d.log_dir + '/')
                    .replace('/run/xmppd/xmppd.pid', d.pidfile))
            lr = os.path.join(d.dir, 'logrotate.conf')
            with open(lr, 'w') as f:
                f.write(conf)
            os.chmod(lr, 0o644)
            state = os.path.join(d.dir, 'logrotate.state')
            for n in (1, 2):
                before = d.log()
                p = subprocess.run(['logrotate', '-f', '-s', state, lr], capture_output=True,
                                   text=True, timeout=60)
                check(p.returncode == 0, 'logrotate: exit %d: %s' % (p.returncode, p.stderr))
                old = d.log(d.log_path + '.1')
                check(old == before or old.startswith(before),
                      'rotation %d: %s.1 is not the log before the rotation' % (n, d.log_path))
                check(('router ready' if n == 1 else 'SIGUSR1: log file reopened') in old,
                      'rotation %d: unexpected %s.1: %r' % (n, d.log_path, old[:300]))
                check(await d.wait_log(r'SIGUSR1: log file reopened', 10),
                      'rotation %d: the new xmppd.log has no "SIGUSR1: log file reopened": %r'
                      % (n, d.log()[-400:]))
                mode = stat.S_IMODE(os.stat(d.log_path).st_mode)
                check(mode == 0o640, 'the new log file has mode %o, expected 640' % mode)
                old_len = len(d.log(d.log_path + '.1'))
                await reload_lines(d, d.log_path, 'after rotation %d' % n)
                check('reload: ' not in d.log(d.log_path + '.1')[old_len:],
                      'rotation %d: reload lines went to the rotated file' % n)
            check(os.path.isfile(d.log_path + '.2.gz'), 'second rotation: no %s.2.gz (compress, '
                  'delaycompress): %s' % (d.log_path, os.listdir(d.log_dir)))
            with gzip.open(d.log_path + '.2.gz', 'rt', errors='replace') as f:
                check('router ready' in f.read(), 'xmppd.log.2.gz is not the first log')
        else:
            env.step('no logrotate here: only the same by hand')

        env.step('by hand: rename the log, SIGUSR1 to the master, a new file gets the lines')
        moved = d.log_path + '.moved'
        offset = len(d.log())
        os.rename(d.log_path, moved)
        os.kill(pid, signal.SIGUSR1)
        check(await d.wait_log(r'SIGUSR1: log file reopened', 10),
              'no new xmppd.log with "SIGUSR1: log file reopened" after SIGUSR1')
        await reload_lines(d, d.log_path, 'after SIGUSR1')
        check('reload: ' not in d.log(moved)[offset:],
              'reload lines went to the renamed file')

        env.step('stop')
        rc, out, err = await d.run('stop')
        check(rc == 0 and not pid_alive(pid), 'stop: exit %d: %s %s' % (rc, out, err))

    await with_daemon('init_logrotate', body)
