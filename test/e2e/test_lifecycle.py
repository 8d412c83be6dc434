"""Process lifecycle: graceful stop, router crash, a client that does not read."""

import asyncio
import os
import signal
import time

from harness import e2e_test, check, eventually, raw_login


@e2e_test('graceful_stop_closes_sessions', stops_server=True)
async def t_stop(env):
    srv = env.srv
    await env.register('alice')
    await env.register('bob')
    a = await env.login('alice@localhost/a')
    rs = await raw_login(env, 'bob', 'pw-bob', 'raw')
    kids = srv.child_pids()
    env.step('SIGTERM the master')
    await asyncio.to_thread(srv.stop)
    check(not srv.problems, 'stop: %s' % '; '.join(srv.problems))
    check(srv.proc.returncode == 0, 'master exit status %s' % srv.proc.returncode)
    for p in kids:
        check(not os.path.exists('/proc/%d/cmdline' % p) or
              open('/proc/%d/stat' % p).read().rsplit(')', 1)[1].split()[0] in 'ZX',
              'child %d still running after the master exited' % p)
    env.step('clients were told (RFC 6120 4.9.3.22 system-shutdown)')
    await a.wait_gone(5, 'slixmpp client after SIGTERM')
    check(await rs.wait(lambda s: s.eof, 5), 'raw client still connected after the stop')
    got, _ = rs.stream_error()
    check(got == 'system-shutdown', 'raw client got stream error %r before the close (%s), '
          'expected <system-shutdown/> and </stream:stream>; its last bytes were %r'
          % (got, 'connection reset: ' + rs.reset if rs.reset else 'TCP FIN',
             rs.text()[-120:]))
    check(a.stream_error.done() and a.stream_error.result()['condition'] == 'system-shutdown',
          'slixmpp client got no system-shutdown stream error (%s)'
          % (a.stream_error.result()['condition'] if a.stream_error.done() else 'none'))


@e2e_test('router_crash_restart', timeout=60, expect_child_death=True)
async def t_router_crash(env):
    srv = env.srv
    for u in ('a', 'b', 'c'):
        await env.register(u)
    A, wa = await env.login_placed('a@localhost', tag='a')
    B, wb = await env.login_placed('b@localhost', avoid=wa, tag='b')
    A.send_chat('b@localhost', 'before')
    await B.wait_messages(1, 5)
    rpid = srv.router_pid()
    check(rpid in srv.child_pids(), 'router pid %d is not a child of the master' % rpid)
    offset = len(srv.log())

    env.step('kill -9 the router (pid %d)' % rpid)
    os.kill(rpid, signal.SIGKILL)
    m = await srv.wait_log(r'router started \(pid (\d+)\)', 10, offset)
    check(m, 'no new "router started" line within 10s; log: %s' % srv.log_tail(5))
    check(await srv.wait_log(r'router ready', 10, offset), 'restarted router never ready')

    env.step('clients stay connected and their sessions survive (DESIGN: sessions env '
             'outlives a router crash)')
    check(not A.gone.done() and not B.gone.done(), 'a client lost its connection with the router')
    sess = {s['jid']: s for s in await srv.sessions()}
    for c in (A, B):
        check(c.jid in sess and sess[c.jid]['presence'] == 'available',
              '%s after the router restart: %r' % (c.jid, sess.get(c.jid)))

    env.step('messages flow again')
    for i in range(10):
        A.send_chat('b@localhost', 'after %d' % i)
        B.send_chat('a@localhost', 'back %d' % i)
    await B.wait_messages(11, 10)
    await A.wait_messages(10, 10)
    check([m['body'] for m in B.messages[1:]] == ['after %d' % i for i in range(10)],
          'b got %r' % [m['body'] for m in B.messages])
    await A.ping()
    C = await env.login('c@localhost/c')
    C.send_chat('a@localhost', 'from c')
    await A.wait_messages(11, 5)


@e2e_test('router_crash_keeps_queued_stanzas', timeout=60, expect_child_death=True)
async def t_router_queue(env):
    """Stanzas written to the up ring while the router is dead wait in shared memory and
    are routed by the restarted router."""
    srv = env.srv
    for u in ('a', 'b'):
        await env.register(u)
    A, wa = await env.login_placed('a@localhost', tag='a')
    B, wb = await env.login_placed('b@localhost', avoid=wa, tag='b')
    rpid = srv.router_pid()
    offset = len(srv.log())
    os.kill(rpid, signal.SIGKILL)
    check(await srv.wait_log(r'router \(pid %d\) .*restarting' % rpid, 5, offset),
          'master did not notice the router death')
    env.step('send while the router is down')
    for i in range(10):
        A.send_chat('b@localhost', 'queued %d' % i)
    check(await srv.wait_log(r'router ready', 10, offset), 'restarted router never ready')
    await B.wait_messages(10, 10, 'messages sent while the router was down: b has %d of 10'
                          % len(B.messages))
    check([m['body'] for m in B.messages] == ['queued %d' % i for i in range(10)],
          'b got %r' % [m['body'] for m in B.messages])


@e2e_test('router_crash_mid_flow_no_duplicates', timeout=90, expect_child_death=True)
async def t_router_no_dup(env):
    """kill -9 of the router while messages stream: the restarted router goes on from
    the first record it had not taken; a message it was handling may be lost, none
    arrives twice, the order holds, and both clients keep their sessions."""
    srv = env.srv
    for u in ('a', 'b'):
        await env.register(u)
    A, wa = await env.login_placed('a@localhost', tag='a')
    B, wb = await env.login_placed('b@localhost', avoid=wa, tag='b')
    n = 3000
    offset = len(srv.log().encode())
    rpid = srv.router_pid()
    env.step('a streams %d messages; the router is killed in the middle' % n)
    for i in range(n):
        A.send_chat('b@localhost', 'm%d' % i)
        if i == n // 3:
            await asyncio.sleep(0)  # let some go out first
            os.kill(rpid, signal.SIGKILL)
    check(await srv.wait_log(r'router ready', 10, offset), 'restarted router never ready')
    env.step('the rest arrives: no duplicate, in order')
    await B.wait_until(lambda: any(m['body'] == 'm%d' % (n - 1) for m in B.messages), 20,
                       'the last message after the router restart')
    got = [int(m['body'][1:]) for m in B.messages if m['body'].startswith('m')]
    check(len(got) == len(set(got)), '%d message(s) delivered twice: %s'
          % (len(got) - len(set(got)), sorted(i for i in set(got) if got.count(i) > 1)[:10]))
    check(got == sorted(got), 'messages out of order around the crash')
    lost = n - len(got)
    check(lost <= 64, '%d messages lost: more than the router could have had in hand' % lost)
    env.step('both sessions survived the router crash and still chat')
    A.send_chat('b@localhost', 'after')
    await B.wait_until(lambda: any(m['body'] == 'after' for m in B.messages), 5, 'after')


@e2e_test('slow_reader_does_not_stall_others', timeout=90)
async def t_slow_reader(env):
    srv = env.srv
    for u in ('slow', 'a', 'b'):
        await env.register(u)
    rs = await raw_login(env, 'slow', 'pw-slow', 'raw')
    await rs.send('<presence/>')
    ws = (await srv.session_of('slow@localhost/raw'))['worker']
    A, wa = await env.login_placed('a@localhost', want=ws, tag='a')
    B, wb = await env.login_placed('b@localhost', avoid=ws, tag='b')

    env.step('b floods slow (which never reads) while a and b keep talking')
    chunk = 'z' * 2000
    n = 8000
    for i in range(n):
        B.send_chat('slow@localhost/raw', '%d %s' % (i, chunk))
    worst = 0.0
    for i in range(10):
        t0 = time.monotonic()
        A.send_chat('b@localhost', 'during %d' % i)
        await B.wait_until(lambda: any(m['body'] == 'during %d' % i for m in B.messages), 10,
                           'a->b message %d while slow is flooded' % i)
        await A.ping(B.jid, timeout=10)
        worst = max(worst, time.monotonic() - t0)
    check(worst < 5, 'a<->b round trip took %.1fs while another client of the same worker '
          'did not read' % worst)
    check(srv.running(), 'server died')
    env.step('slow client: read what the server kept for it')
    await rs.wait(lambda s: s.eof or len(s.elements) >= n, 30)
    msgs = [e for e in rs.elements if e.tag == '{jabber:client}message']
    check(rs.eof or len(msgs) >= n, 'slow reader: %d of %d messages and no disconnect after 30s'
          % (len(msgs), n))
    await rs.close()
    if rs.eof:
        async def slow_gone():
            return await srv.session_of('slow@localhost/raw') is None
        check(await eventually(slow_gone, 5), 'the slow reader was disconnected but its session '
              'is still listed')
    await A.ping()
    await B.ping()
