"""xmppctl, every command: exit status 0 on success and 1 with a one-line reason
on stderr otherwise; with --json one JSON document on stdout (the data, or
{"ok":true} when there is none, or {"ok":false,"error":...}) that is checked
against what the server is doing: status against the logged-in clients, stats
against messages sent, sessions/users against logins and accounts, passwd
against logins, kick against the kicked stream (policy-violation) and the
sessions left, loglevel against what each process logs.  (test_ctl.py covers
the plain-text register/users/unregister/sessions basics.)"""

import asyncio
import json
import os
import re
import signal

from harness import check, e2e_test, eventually, raw_login
from test_reload import CLOSED_DEBUG, ctl, ctl_socket, poke


def one_line(err):
    return len([l for l in err.splitlines() if l.strip()]) == 1


async def jctl(srv, *args, ok=True):
    """xmppctl --json ARGS: (rc, parsed stdout).  ok: the exit status expected (0 or 1)."""
    rc, out, err = await srv.ctl('--json', *args)
    try:
        doc = json.loads(out)
    except ValueError as e:
        raise AssertionError('xmppctl --json %s: stdout is not one JSON document (%s): %r'
                             % (' '.join(args), e, out[:300]))
    if ok:
        check(rc == 0, 'xmppctl --json %s: exit %s, stderr %r' % (' '.join(args), rc, err))
    else:
        check(rc == 1, 'xmppctl --json %s: exit %s, expected 1 (stdout %r)'
              % (' '.join(args), rc, out))
        check(isinstance(doc, dict) and doc.get('ok') is False and doc.get('error'),
              'xmppctl --json %s failed without {"ok":false,"error":...}: %r'
              % (' '.join(args), out))
        check(one_line(err), 'xmppctl --json %s: expected a one-line reason on stderr, got %r'
              % (' '.join(args), err))
    return rc, doc


async def fails(srv, *args, reason=None):
    """Plain xmppctl ARGS must exit 1 with one line on stderr (containing reason)."""
    rc, out, err = await srv.ctl(*args)
    check(rc == 1, 'xmppctl %s: exit %s, expected 1 (stdout %r)' % (' '.join(args), rc, out))
    check(one_line(err), 'xmppctl %s: expected a one-line reason on stderr, got %r'
          % (' '.join(args), err))
    if reason:
        check(reason in err, 'xmppctl %s: reason %r does not say %r' % (' '.join(args), err,
                                                                        reason))
    return err


async def json_ok(srv, *args):
    """A command without data: --json prints exactly {"ok":true}."""
    _, doc = await jctl(srv, *args)
    check(doc == {'ok': True}, 'xmppctl --json %s printed %r, expected {"ok":true}'
          % (' '.join(args), doc))


# ------------------------------------------------------------------ status, stats


@e2e_test('ctl_status_json')
async def t_status(env):
    srv = env.srv
    rc, out, err = await srv.ctl('status')
    check(rc == 0 and 'is running' in out and 'workers: 2 of 2 running' in out,
          'xmppctl status: exit %s, %r' % (rc, out))
    _, st = await jctl(srv, 'status')
    for key, want in (('workers', 2), ('workers_running', 2), ('master_pid', srv.proc.pid),
                      ('sessions', 0), ('available', 0), ('hosts', 1), ('loglevel', 'debug')):
        check(st.get(key) == want, 'status --json %s = %r, expected %r' % (key, st.get(key), want))
    check(isinstance(st.get('version'), str) and st['version'], 'no version: %r' % st)
    check(isinstance(st.get('uptime'), int) and st['uptime'] >= 0, 'uptime %r' % st.get('uptime'))

    env.step('four sessions, three available')
    for u in ('alice', 'bob', 'carol'):
        await env.register(u)
    a1 = await env.login('alice@localhost/a')
    await env.login('alice@localhost/b')
    await env.login('bob@localhost/x')
    await env.login('carol@localhost/y', presence=False)
    _, st = await jctl(srv, 'status')
    check(st['sessions'] == 4 and st['available'] == 3,
          'status --json with 4 sessions (3 available): sessions %s, available %s'
          % (st['sessions'], st['available']))
    check(st['connections'] >= 4, 'status counts %s connections for 4 logged-in clients'
          % st['connections'])

    env.step('one logs out')
    await a1.close()
    async def three():
        _, s = await jctl(srv, 'status')
        return s['sessions'] == 3 and s['available'] == 2
    check(await eventually(three, 5), 'status --json after a logout: %r'
          % (await jctl(srv, 'status'))[1])
    rc, out, err = await ctl('--json', '-s', ctl_socket(srv), 'status')
    check(rc == 0 and json.loads(out)['sessions'] == 3, 'status through -s SOCKET: %s %r'
          % (rc, out))


def totals(stats, key):
    return sum(w[key] for w in stats['workers'])


@e2e_test('ctl_stats_counters_grow')
async def t_stats(env):
    srv = env.srv
    rc, out, err = await srv.ctl('stats')
    check(rc == 0 and out.startswith('router:') and 'worker 0 (pid' in out and 'worker 1 (pid'
          in out, 'xmppctl stats: exit %s, %r' % (rc, out))
    _, s0 = await jctl(srv, 'stats')
    check(len(s0['workers']) == 2, 'stats lists %d workers' % len(s0['workers']))
    for w in s0['workers']:
        check(w['pid'] == srv.worker_pid(w['worker'])[0], 'stats says worker %s has pid %s, the '
              'master log says %s' % (w['worker'], w['pid'], srv.worker_pid(w['worker'])[0]))
    for key in ('stanzas', 'deliveries', 'batches', 'data_commits'):
        check(isinstance(s0['router'].get(key), int), 'stats router.%s missing: %r'
              % (key, s0['router']))

    env.step('five messages')
    await env.register('alice')
    await env.register('bob')
    a = await env.login('alice@localhost/a')
    b = await env.login('bob@localhost/b')
    _, s1 = await jctl(srv, 'stats')
    for i in range(5):
        a.send_chat('bob@localhost/b', 'm%d' % i)
    await b.wait_messages(5, 5)
    async def grown():
        _, s2 = await jctl(srv, 'stats')
        return s2 if (s2['router']['stanzas'] - s1['router']['stanzas'] >= 5
                      and totals(s2, 'stanzas_in') - totals(s1, 'stanzas_in') >= 5
                      and totals(s2, 'stanzas_out') - totals(s1, 'stanzas_out') >= 5) else None
    s2 = await eventually(grown, 5)
    _, now = await jctl(srv, 'stats')
    check(s2, 'after 5 messages the counters did not grow by 5: before %r, now %r' % (s1, now))
    check(totals(s2, 'bytes_in') > totals(s1, 'bytes_in') and
          totals(s2, 'bytes_out') > totals(s1, 'bytes_out'), 'byte counters did not grow')
    check(totals(s2, 'sessions') == 2, 'stats counts %d sessions for 2 clients'
          % totals(s2, 'sessions'))
    check(s2['router']['deliveries'] >= s1['router']['deliveries'] + 5,
          'router deliveries did not grow by 5')


# ------------------------------------------------------------------ sessions, users, passwd


@e2e_test('ctl_sessions_json')
async def t_sessions(env):
    srv = env.srv
    _, doc = await jctl(srv, 'sessions')
    check(doc == [], 'sessions --json with nobody logged in: %r' % doc)
    await env.register('alice')
    await env.login('alice@localhost/a')
    await env.login('alice@localhost/b', presence=False)
    _, doc = await jctl(srv, 'sessions')
    by = {s['jid']: s for s in doc}
    check(sorted(by) == ['alice@localhost/a', 'alice@localhost/b'], 'sessions --json lists %r'
          % sorted(by))
    plain = {s['jid']: s for s in await srv.sessions()}
    for jid, s in by.items():
        check(s['worker'] in (0, 1) and s['worker'] == plain[jid]['worker'],
              '%s: worker %r (plain output says %r)' % (jid, s['worker'], plain[jid]['worker']))
        check(s['connection'] == plain[jid]['conn'] and re.fullmatch(r'[0-9a-f]{16}',
                                                                      s['connection']),
              '%s: connection %r' % (jid, s['connection']))
        check(s['priority'] == 0 and isinstance(s['since'], int), '%s: %r' % (jid, s))
    check(by['alice@localhost/a']['presence'] == 'available', 'alice/a after initial presence: %r'
          % by['alice@localhost/a']['presence'])
    check(by['alice@localhost/b']['presence'] == 'unavailable', 'alice/b without presence: %r'
          % by['alice@localhost/b']['presence'])


@e2e_test('ctl_users_register_unregister_json')
async def t_users(env):
    srv = env.srv
    _, doc = await jctl(srv, 'users', 'localhost')
    check(doc == [], 'users --json of an empty host: %r' % doc)
    await json_ok(srv, 'register', 'alice', 'localhost', 'pw-alice')
    await json_ok(srv, 'register', 'bob', 'localhost', 'pw-bob')
    _, doc = await jctl(srv, 'users', 'localhost')
    check(sorted(doc) == ['alice', 'bob'], 'users --json: %r' % doc)
    _, doc = await jctl(srv, 'register', 'alice', 'localhost', 'x', ok=False)
    check('exists' in doc['error'], 'duplicate register: %r' % doc)
    await jctl(srv, 'users', 'nowhere.example', ok=False)
    await fails(srv, 'users', 'nowhere.example', reason='not a host')
    await json_ok(srv, 'unregister', 'alice', 'localhost')
    await jctl(srv, 'unregister', 'alice', 'localhost', ok=False)
    _, doc = await jctl(srv, 'users', 'localhost')
    check(doc == ['bob'], 'users --json after unregister: %r' % doc)


@e2e_test('ctl_passwd_changes_login')
async def t_passwd(env):
    srv = env.srv
    await env.register('alice')
    rc, out, err = await srv.ctl('passwd', 'alice', 'localhost', 'new-secret')
    check(rc == 0, 'passwd: exit %s, %r' % (rc, err))
    env.step('the old password fails')
    res = await env.login('alice@localhost/x', 'pw-alice', expect_ok=False)
    check(res == 'failed_auth', 'login with the old password: %s' % res)
    env.step('the new one works')
    c = await env.login('alice@localhost/y', 'new-secret')
    await c.ping()
    for mech in ('PLAIN', 'SCRAM-SHA-1'):
        c = await env.login('alice@localhost/%s' % mech, 'new-secret', mech=mech, presence=False)
        await c.close()
    await json_ok(srv, 'passwd', 'alice', 'localhost', 'third-secret')
    res = await env.login('alice@localhost/z', 'new-secret', expect_ok=False)
    check(res == 'failed_auth', 'login with the second password after a third: %s' % res)
    await env.login('alice@localhost/w', 'third-secret', presence=False)
    env.step('refusals')
    await fails(srv, 'passwd', 'nobody', 'localhost', 'pw', reason='no user')
    await fails(srv, 'passwd', 'alice', 'nowhere.example', 'pw', reason='not a host')
    await fails(srv, 'passwd', 'alice', 'localhost', '', reason='empty')
    await jctl(srv, 'passwd', 'nobody', 'localhost', 'pw', ok=False)
    await env.login('alice@localhost/v', 'third-secret', presence=False)


# ------------------------------------------------------------------ kick


async def kicked(rs, what):
    ok = await rs.wait(lambda s: s.stream_error()[0] is not None, timeout=5)
    check(ok, '%s: no stream error; got %r' % (what, rs.text()[-300:]))
    cond, el = rs.stream_error()
    check(cond == 'policy-violation', '%s: stream error %r, expected policy-violation'
          % (what, cond))
    check(await rs.wait_eof(5), '%s: the connection stayed open after the stream error' % what)


async def session_jids(srv):
    _, doc = await jctl(srv, 'sessions')
    return sorted(s['jid'] for s in doc)


@e2e_test('ctl_kick_full_jid')
async def t_kick_full(env):
    srv = env.srv
    await env.register('alice')
    await env.register('bob')
    ra = await raw_login(env, 'alice', 'pw-alice', 'a')
    b = await env.login('alice@localhost/b')
    bob = await env.login('bob@localhost/x')
    _, doc = await jctl(srv, 'kick', 'alice@localhost/a')
    check(doc == {'kicked': 1}, 'kick --json of a full JID: %r' % doc)
    await kicked(ra, 'alice/a')
    await b.ping()
    await bob.ping()
    async def left():
        return await session_jids(srv) == ['alice@localhost/b', 'bob@localhost/x']
    check(await eventually(left, 5), 'sessions after kicking alice/a: %r'
          % await session_jids(srv))
    check(not b.gone.done(), 'the other resource was disconnected')


@e2e_test('ctl_kick_bare_jid')
async def t_kick_bare(env):
    srv = env.srv
    await env.register('alice')
    await env.register('bob')
    ra = await raw_login(env, 'alice', 'pw-alice', 'a')
    rb = await raw_login(env, 'alice', 'pw-alice', 'b')
    bob = await env.login('bob@localhost/x')
    rc, out, err = await srv.ctl('kick', 'alice@localhost')
    check(rc == 0 and '2 session(s)' in out, 'kick of a bare JID: exit %s, %r %r'
          % (rc, out, err))
    await kicked(ra, 'alice/a')
    await kicked(rb, 'alice/b')
    await bob.ping()
    async def left():
        return await session_jids(srv) == ['bob@localhost/x']
    check(await eventually(left, 5), 'sessions after kicking alice: %r'
          % await session_jids(srv))
    check(re.search(r'kicked 2 session\(s\) of alice@localhost', srv.log()),
          'the kick is not logged')
    env.step('alice can log in again')
    c = await env.login('alice@localhost/c')
    await c.ping()


@e2e_test('ctl_kick_unknown_fails')
async def t_kick_unknown(env):
    srv = env.srv
    await env.register('alice')
    c = await env.login('alice@localhost/a')
    await fails(srv, 'kick', 'nobody@localhost', reason='no session')
    await fails(srv, 'kick', 'alice@localhost/other', reason='no session')
    await fails(srv, 'kick', 'a@b@c', reason='not a valid JID')
    await jctl(srv, 'kick', 'nobody@localhost/x', ok=False)
    await c.ping()
    check(await session_jids(srv) == ['alice@localhost/a'], 'a failed kick ended a session')


# ------------------------------------------------------------------ loglevel


async def info_lines(env, tag):
    """Work that makes each process log at info: the router registers an account, a worker
    authenticates it, the master answers SIGUSR1.  Returns the log from before it."""
    srv = env.srv
    mark = len(srv.log())
    await env.register('user%s' % tag)
    c = await env.login('user%s@localhost/r' % tag, presence=False)
    await c.close()
    os.kill(srv.proc.pid, signal.SIGUSR1)
    await asyncio.sleep(0.3)
    return srv.log()[mark:]


INFO = {
    'router': r'info router\[\d+\]: registered user%s@localhost',
    'worker': r'info worker \d+\[\d+\]: [0-9.:]+: authenticated user%s@localhost',
    'master': r'info master\[\d+\]: SIGUSR1',
}


@e2e_test('ctl_loglevel_every_process', timeout=60)
async def t_loglevel(env):
    srv = env.srv
    env.step('loglevel warning')
    await json_ok(srv, 'loglevel', 'warning')
    _, st = await jctl(srv, 'status')
    check(st['loglevel'] == 'warning', 'the router runs at %r' % st['loglevel'])
    seg = await info_lines(env, 'w')
    for who, rx in INFO.items():
        check(not re.search(rx % 'w' if '%s' in rx else rx, seg), 'the %s logged at info after '
              'loglevel warning: %r' % (who, seg[-400:]))

    env.step('loglevel info')
    rc, out, err = await srv.ctl('loglevel', 'info')
    check(rc == 0, 'loglevel info: exit %s, %r' % (rc, err))
    seg = await info_lines(env, 'i')
    for who, rx in INFO.items():
        check(re.search(rx % 'i' if '%s' in rx else rx, seg), 'the %s logged nothing at info '
              'after loglevel info: %r' % (who, seg[-600:]))
    mark = len(srv.log())
    await poke(env)
    check(not CLOSED_DEBUG.search(srv.log()[mark:]), 'a worker logged at debug at loglevel info')

    env.step('loglevel debug: both workers log debug lines')
    await json_ok(srv, 'loglevel', 'debug')
    check(re.search(r'master\[\d+\]: log level is now debug', srv.log()[mark:]),
          'the master did not log its new level')
    mark = len(srv.log())
    await poke(env)
    workers = set(CLOSED_DEBUG.findall(srv.log()[mark:]))
    check(workers == {'worker 0', 'worker 1'}, 'debug lines after loglevel debug came from %r, '
          'expected both workers' % sorted(workers))

    env.step('back to info')
    await json_ok(srv, 'loglevel', 'info')
    mark = len(srv.log())
    await poke(env)
    check(not CLOSED_DEBUG.search(srv.log()[mark:]), 'debug lines after loglevel info')

    env.step('a bad level changes nothing')
    await fails(srv, 'loglevel', 'verbose', reason='not a level')
    _, st = await jctl(srv, 'status')
    check(st['loglevel'] == 'info', 'loglevel after a refused level: %r' % st['loglevel'])


# ------------------------------------------------------------------ reload, usage


@e2e_test('ctl_reload_answers')
async def t_reload(env):
    srv = env.srv
    mark = len(srv.log())
    rc, out, err = await srv.ctl('reload')
    check(rc == 0 and 'reloaded' in out, 'xmppctl reload: exit %s, %r %r' % (rc, out, err))
    check(await srv.wait_log(r'reload: done', 10, mark), 'the reload did not finish')
    mark = len(srv.log())
    _, doc = await jctl(srv, 'reload')
    check(isinstance(doc, dict) and doc.get('ok', True) is not False,
          'xmppctl --json reload: %r' % doc)
    check(await srv.wait_log(r'reload: done', 10, mark), 'the second reload did not finish')


@e2e_test('ctl_usage_errors')
async def t_usage(env):
    srv = env.srv
    await fails(srv, 'frobnicate', reason="unknown command 'frobnicate'")
    await jctl(srv, 'frobnicate', ok=False)
    await fails(srv, 'status', 'extra', reason='takes 0 argument')
    await fails(srv, 'stats', 'extra')
    await fails(srv, 'kick', reason='takes 1 argument')
    await fails(srv, 'kick', 'a@localhost', 'b@localhost')
    await fails(srv, 'register', 'alice', 'localhost', reason='takes 3 argument')
    await fails(srv, 'loglevel')
    await jctl(srv, 'users', ok=False)
    env.step('no command, no -c/-s, an unreachable socket, a missing config')
    rc, out, err = await ctl('-c', srv.cfg)
    check(rc == 1 and 'usage' in err, 'xmppctl without a command: exit %s, %r' % (rc, err))
    rc, out, err = await ctl('status')
    check(rc == 1 and 'usage' in err, 'xmppctl without -c or -s: exit %s, %r' % (rc, err))
    rc, out, err = await ctl('-s', os.path.join(srv.dir, 'no.sock'), 'status')
    check(rc == 1 and one_line(err) and 'cannot reach' in err, 'unreachable socket: exit %s, %r'
          % (rc, err))
    rc, out, err = await ctl('--json', '-s', os.path.join(srv.dir, 'no.sock'), 'status')
    check(rc == 1 and json.loads(out).get('ok') is False, 'unreachable socket --json: %s %r'
          % (rc, out))
    rc, out, err = await ctl('-c', os.path.join(srv.dir, 'none.yml'), 'status')
    check(rc == 1 and 'none.yml' in err, 'missing config: exit %s, %r' % (rc, err))
    rc, out, err = await ctl('--help')
    check(rc == 0 and 'usage' in out, 'xmppctl --help: exit %s, %r' % (rc, out))
    env.step('the server still answers')
    _, st = await jctl(srv, 'status')
    check(st['workers_running'] == 2, 'status after the errors: %r' % st)
    check(srv.log().count('reload: reading') == 0, 'a failed command reloaded')
