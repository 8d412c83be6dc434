"""A worker killed with SIGKILL: other workers keep serving, the master restarts it."""

import asyncio
import os
import re
import signal

from harness import e2e_test, check, eventually, LOG_CHILD_DIED


async def exchange(a, b, n, tag):
    """a and b send n chat messages each to the other's bare JID; all must arrive in order."""
    na, nb = len(a.messages), len(b.messages)
    for i in range(n):
        a.send_chat(b.x.boundjid.bare, '%s a %d' % (tag, i))
        b.send_chat(a.x.boundjid.bare, '%s b %d' % (tag, i))
    await asyncio.gather(b.wait_messages(nb + n, 10, '%s: %s waiting for %d messages from %s'
                                         % (tag, b.jid, n, a.jid)),
                         a.wait_messages(na + n, 10, '%s: %s waiting for %d messages from %s'
                                         % (tag, a.jid, n, b.jid)))
    got_b = [m['body'] for m in b.messages[nb:]]
    got_a = [m['body'] for m in a.messages[na:]]
    check(got_b == ['%s a %d' % (tag, i) for i in range(n)], '%s: %s got %r...'
          % (tag, b.jid, got_b[:5]))
    check(got_a == ['%s b %d' % (tag, i) for i in range(n)], '%s: %s got %r...'
          % (tag, a.jid, got_a[:5]))


@e2e_test('worker_crash_restart', timeout=90, expect_child_death=True)
async def t_crash(env):
    srv = env.srv
    for u in ('x', 'y', 'z'):
        await env.register(u)
    env.step('placing x, y, z')
    X, wx = await env.login_placed('x@localhost', tag='x')
    Y, wy = await env.login_placed('y@localhost', avoid=wx, tag='y')
    Z, wz = await env.login_placed('z@localhost', want=wy, tag='z')
    check(wx != wy and wz == wy, 'placement x:%d y:%d z:%d' % (wx, wy, wz))

    env.step('chat before the crash')
    await exchange(X, Y, 20, 'before-xy')
    await exchange(Y, Z, 20, 'before-yz')

    pid, gen = srv.worker_pid(wx)
    kids = srv.child_pids()
    check(pid in kids, 'worker %d pid %d from the log is not a child of the master (%s)'
          % (wx, pid, sorted(kids)))
    offset = len(srv.log())

    env.step('kill -9 worker %d (pid %d)' % (wx, pid))
    os.kill(pid, signal.SIGKILL)

    env.step('y and z (worker %d) keep chatting' % wy)
    await exchange(Y, Z, 50, 'during')

    env.step('x (worker %d) loses its connection' % wx)
    await X.wait_gone(5, 'client on the killed worker')

    env.step('master restarts worker %d' % wx)
    m = await srv.wait_log(r'worker %d started \(pid (\d+), generation (\d+)\)' % wx, 5, offset)
    check(m, 'no new "worker %d started" line within 5s of the kill; log tail: %s'
          % (wx, srv.log_tail(6)))
    new_pid, new_gen = int(m.group(1)), int(m.group(2))
    check(new_gen > gen, 'restarted worker %d has generation %d, not above %d'
          % (wx, new_gen, gen))
    check(new_pid != pid, 'restarted worker has the dead pid %d' % pid)
    check(await srv.wait_log(r'worker %d ready' % wx, 5, offset),
          'restarted worker %d never logged ready' % wx)
    deaths = [l for l in srv.log().splitlines() if LOG_CHILD_DIED.search(l)]
    check(len(deaths) == 1 and re.search(r'worker %d \(pid %d\)' % (wx, pid), deaths[0]),
          'expected exactly one death (worker %d pid %d), log has %r' % (wx, pid, deaths))

    env.step('the dead worker\'s session leaves the session table')

    async def x_gone():
        return all(s['jid'] != X.jid for s in await srv.sessions())
    check(await eventually(x_gone, 5), 'xmppctl sessions still lists %s 5s after its worker '
          'died: %r' % (X.jid, await srv.sessions()))
    sess = await srv.sessions()
    for c in (Y, Z):
        check(any(s['jid'] == c.jid for s in sess), '%s vanished from sessions: %r'
              % (c.jid, sess))

    env.step('a message to x (no session left) is kept offline')
    Y.send_chat('x@localhost', 'anyone?', mid='kept')

    env.step('y and z still chat after the restart')
    await exchange(Y, Z, 20, 'after')

    env.step('new logins succeed, one of them on the restarted worker')
    X2, w2 = await env.login_placed('x@localhost', want=wx, tag='again')
    await X2.ping()
    await X2.wait_until(lambda: any(m['body'] == 'anyone?' for m in X2.messages), 5,
                        'the message kept offline while x had no session')
    await exchange(X2, Y, 20, 'after-xy')


@e2e_test('worker_crash_broadcasts_unavailable', timeout=60, expect_child_death=True)
async def t_crash_presence(env):
    """Sessions lost with a worker end ungracefully: the account's other available
    resources get an unavailable presence for each (RFC 6121 4.5.2)."""
    srv = env.srv
    await env.register('alice')
    one, w1 = await env.login_placed('alice@localhost', tag='one')
    two, w2 = await env.login_placed('alice@localhost', avoid=w1, tag='two')
    await one.wait_until(lambda: any(p['from'] == two.x.boundjid for p in one.presences), 5,
                         'one sees two')
    n = len(two.presences)
    pid, gen = srv.worker_pid(w1)
    os.kill(pid, signal.SIGKILL)
    await one.wait_gone(5, 'client on the killed worker')
    await two.wait_until(
        lambda: any(p['from'] == one.x.boundjid and p['type'] == 'unavailable'
                    for p in two.presences[n:]), 5,
        '%s waiting for the unavailable presence of %s (its worker died)' % (two.jid, one.jid))
