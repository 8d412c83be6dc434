"""Limits of issue 4, each on a server of its own: provoke it, check the exact
error (or the refusal), then check that a fresh client still logs in and
chats."""

import asyncio
import re
import socket
import time

from harness import check, e2e_test, own_server, raw_login, sasl_plain, stream_header


async def still_serves(env, tag):
    """A fresh pair of clients logs in and exchanges a message."""
    await env.register('fresh%s' % tag)
    await env.register('peer%s' % tag)
    a = await env.login('fresh%s@localhost/x' % tag)
    b = await env.login('peer%s@localhost/y' % tag)
    a.send_chat('peer%s@localhost' % tag, 'still here')
    await b.wait_messages(1, 5, 'message after the limit')
    check(b.messages[0]['body'] == 'still here', 'got %r' % b.messages[0]['body'])


def refused(port):
    """True when a new connection is closed by the server without a byte."""
    s = socket.create_connection(('127.0.0.1', port), timeout=3)
    try:
        s.settimeout(3)
        s.sendall(stream_header().encode())
        data = s.recv(100)
        return data == b''
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    finally:
        s.close()


@e2e_test('limits_auth_timeout', timeout=40)
async def t_auth_timeout(_env):
    async with own_server('limits_auth_timeout',
                          limits='auth_timeout: 1, max_connections_per_ip: 0, '
                                 'connection_rate_per_ip: 0, shaper_bytes_per_second: 0') as env:
        rs = await env.raw()
        await rs.open_stream()
        t0 = time.monotonic()
        ok = await rs.wait(lambda s: s.stream_error()[0] is not None, timeout=5)
        check(ok, 'no stream error for a connection that never authenticated: %r'
              % rs.text()[-200:])
        cond, _ = rs.stream_error()
        check(cond == 'connection-timeout', 'stream error %r, expected connection-timeout' % cond)
        check(time.monotonic() - t0 < 4, 'connection-timeout came after %.1fs'
              % (time.monotonic() - t0))
        # An authenticated, bound session is not timed out.
        await env.register('bob')
        bound = await raw_login(env, 'bob', 'pw-bob', 'r')
        await asyncio.sleep(2.5)
        check(not bound.eof, 'a bound session was closed by the auth timeout')
        await still_serves(env, 'a')


@e2e_test('limits_whitespace_keepalive', timeout=40)
async def t_keepalive(_env):
    async with own_server('limits_keepalive',
                          limits='keepalive_interval: 1, max_connections_per_ip: 0, '
                                 'connection_rate_per_ip: 0, shaper_bytes_per_second: 0') as env:
        await env.register('bob')
        rs = await raw_login(env, 'bob', 'pw-bob', 'r')
        before = len(rs.data)
        ok = await rs.wait(lambda s: s.data[before:].strip(b' ') == b'' and len(s.data) > before,
                           timeout=4)
        check(ok, 'no whitespace keepalive within 4s on an idle session; got %r'
              % rs.data[before:][:100])
        check(not rs.eof, 'the idle session was closed')
        await still_serves(env, 'b')


@e2e_test('limits_auth_failures_block', timeout=60)
async def t_auth_failures(_env):
    async with own_server('limits_auth_failures',
                          limits='max_auth_failures: 3, auth_block_seconds: 2, '
                                 'max_connections_per_ip: 0, connection_rate_per_ip: 0, '
                                 'shaper_bytes_per_second: 0') as env:
        await env.register('bob')
        rs = await env.raw()
        await rs.open_stream()
        for i in range(3):
            await rs.send(sasl_plain('bob', 'wrong%d' % i))
        ok = await rs.wait(lambda s: s.stream_error()[0] is not None or s.eof, timeout=5)
        check(ok, 'no stream error after 3 failed authentications: %r' % rs.text()[-300:])
        cond, _ = rs.stream_error()
        check(cond == 'policy-violation', 'stream error %r after 3 failures, expected '
              'policy-violation (RFC 6120 6.4.5)' % cond)
        fails = rs.text().count('not-authorized')
        check(fails == 3, 'expected 3 <not-authorized/> failures first, saw %d' % fails)
        env.step('the address is blocked for a while')
        check(await asyncio.to_thread(refused, env.srv.port),
              'a new connection from the blocked address was served')
        await asyncio.sleep(2.5)
        env.step('the block is over')
        check(not await asyncio.to_thread(refused, env.srv.port),
              'the address is still refused after auth_block_seconds')
        await still_serves(env, 'c')


@e2e_test('limits_connections_per_ip', timeout=40)
async def t_per_ip(_env):
    async with own_server('limits_per_ip',
                          limits='max_connections_per_ip: 3, connection_rate_per_ip: 0, '
                                 'shaper_bytes_per_second: 0') as env:
        held = []
        for _ in range(3):
            rs = await env.raw()
            await rs.open_stream()
            held.append(rs)
        check(await asyncio.to_thread(refused, env.srv.port),
              'a 4th concurrent connection from the same address was served')
        env.step('closing one frees its place')
        await held[0].close()
        ok = False
        for _ in range(40):  # the worker reports the close to the master
            await asyncio.sleep(0.05)
            if not await asyncio.to_thread(refused, env.srv.port):
                ok = True
                break
        check(ok, 'after closing a connection, a new one is still refused')
        for rs in held[1:]:
            await rs.close()
        await asyncio.sleep(0.3)
        await still_serves(env, 'd')


@e2e_test('limits_connection_rate_per_ip', timeout=40)
async def t_rate(_env):
    async with own_server('limits_rate',
                          limits='connection_rate_per_ip: 6, max_connections_per_ip: 0, '
                                 'shaper_bytes_per_second: 0') as env:
        # The harness's readiness probe was the first connection of the minute.
        results = [not await asyncio.to_thread(refused, env.srv.port) for _ in range(8)]
        check(results[:5] == [True] * 5, 'early connections refused: %r' % results)
        check(results[-2:] == [False, False] and sum(results) <= 5,
              'past 6 connections a minute, connections were still served: %r' % results)
        check('too many new connections' in env.srv.log(), 'the refusal is not logged')


@e2e_test('limits_shaper', timeout=60)
async def t_shaper(_env):
    async with own_server('limits_shaper',
                          limits='shaper_bytes_per_second: 4000, '
                                 'max_connections_per_ip: 0, connection_rate_per_ip: 0',
                          extra_config='max_stanza_size: 4096\n') as env:
        for u in ('a', 'b', 'c', 'd'):
            await env.register(u)
        a = await env.login('a@localhost/a')
        b = await env.login('b@localhost/b')
        c = await env.login('c@localhost/c')
        d = await env.login('d@localhost/d')
        body = 'x' * 2000
        t0 = time.monotonic()
        for i in range(10):  # 20 kB at 4 kB/s after a 4 kB burst: about 4 s
            a.send_chat('b@localhost', '%d %s' % (i, body))
        c.send_chat('d@localhost', 'not held back')
        await d.wait_messages(1, 3, 'a message of an unshaped client')
        other = time.monotonic() - t0
        await b.wait_messages(10, 20, 'the shaped messages')
        took = time.monotonic() - t0
        check(took >= 2.5, '20 kB from one client arrived in %.1fs at a 4 kB/s shaper' % took)
        check(other < 2, 'another client waited %.1fs behind the shaped one' % other)
        check([m['body'].split()[0] for m in b.messages] == [str(i) for i in range(10)],
              'shaped messages out of order or lost')


@e2e_test('limits_shaper_lists_a_connection_once', timeout=60)
async def t_shaper_once(_env):
    """A client out of shaper tokens that keeps sending, in many small segments (each an
    epoll edge), waits on the worker's shaper list once: the worker's once-a-second debug
    line counts one connection, not one per segment, and its input still all arrives."""
    async with own_server('limits_shaper_once',
                          limits='shaper_bytes_per_second: 1000, '
                                 'max_connections_per_ip: 0, connection_rate_per_ip: 0',
                          extra_config='max_stanza_size: 4096\n') as env:
        await env.register('drip')
        await env.register('sink')
        sink = await env.login('sink@localhost/s')
        drip = await raw_login(env, 'drip', 'pw-drip', 'd')
        start = len(env.srv.log())
        env.step('a 4 kB burst empties the bucket, then 40-byte segments at 4 kB/s')
        await drip.send(' ' * 4096)
        for _ in range(200):
            await drip.send(' ' * 40)
            await asyncio.sleep(0.01)
        await drip.send("<message to='sink@localhost' type='chat'><body>end</body></message>")
        await sink.wait_messages(1, 30, 'the message behind the shaped whitespace')
        counts = [int(n) for n in re.findall(r'shaper: (\d+) connection\(s\) waited',
                                             env.srv.log()[start:])]
        check(counts, 'no shaper line in the log: %s' % env.srv.log_tail(3))
        check(max(counts) == 1, 'one shaped connection was listed %d times (per second: %r)'
              % (max(counts), counts))


@e2e_test('limits_slow_clients_do_not_delay_logins', timeout=90)
async def t_slow_clients(env):
    """Hundreds of connections that send one byte a second (a slowloris)
    must not make a new login slower than a normal one."""
    await env.register('alice')

    async def timed_login(tag):
        t0 = time.monotonic()
        c = await env.login('alice@localhost/%s' % tag)
        took = time.monotonic() - t0
        await c.close()
        return took

    baseline = min([await timed_login('base%d' % i) for i in range(3)])
    header = stream_header().encode()
    stop = asyncio.Event()
    socks = []
    for _ in range(300):
        s = socket.socket()
        s.setblocking(False)
        await asyncio.get_running_loop().sock_connect(s, ('127.0.0.1', env.srv.port))
        socks.append(s)

    async def drip():
        i = 0
        while not stop.is_set() and i < len(header):
            for s in socks:
                try:
                    s.send(header[i:i + 1])
                except OSError:
                    pass
            i += 1
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except asyncio.TimeoutError:
                pass

    dripper = asyncio.create_task(drip())
    try:
        await asyncio.sleep(2.5)  # every slow connection is mid-header now
        during = [await timed_login('slow%d' % i) for i in range(3)]
    finally:
        stop.set()
        await dripper
        for s in socks:
            s.close()
    worst = max(during)
    check(worst <= max(3 * baseline, baseline + 0.5),
          'a login took %.3fs with 300 slow clients connected, %.3fs without' % (worst, baseline))


@e2e_test('limits_refusals_log_bounded', timeout=60)
async def t_log_bounded(_env):
    """Each refused connection used to write a log line: an attacker could fill the
    disk.  Refusals are logged at a bounded rate (lib/log.h log_limited: 10 a minute per
    kind, then a count of those not written)."""
    async with own_server('limits_log_bounded',
                          limits='connection_rate_per_ip: 2, max_connections_per_ip: 0, '
                                 'shaper_bytes_per_second: 0') as env:
        results = [await asyncio.to_thread(refused, env.srv.port) for _ in range(40)]
        check(sum(results) >= 35, 'only %d of 40 connections refused' % sum(results))
        lines = [line for line in env.srv.log().splitlines() if 'refused a connection' in line]
        check(1 <= len(lines) <= 10, '%d refused connections wrote %d log lines, expected at '
              'most 10 a minute' % (sum(results), len(lines)))


@e2e_test('limits_output_not_read', timeout=90)
async def t_not_read(_env):
    """A client that never reads is cut off at the output bound (8 MB in the worker):
    between two stanzas, with <stream:error><resource-constraint/> and the end of the
    stream, which it finds after the last whole stanza once it reads (the closed
    connection's last output is given a few seconds to drain)."""
    async with own_server('limits_output_not_read') as env:
        await env.register('sink')
        await env.register('flood')
        sink = await raw_login(env, 'sink', 'pw-sink', 'r')
        flood = await raw_login(env, 'flood', 'pw-flood', 'f')
        n0 = len(sink.elements)
        body = 'x' * 100000
        env.step('flood sends 250 messages of 100 kB; sink reads nothing')
        for i in range(250):
            await flood.send("<message to='sink@localhost/r' id='m%d'><body>%s</body></message>"
                             % (i, body))
        cut = await env.srv.wait_log(r'output over \d+ bytes not read', 30)
        check(cut is not None, 'the worker did not cut the sink off: %s' % env.srv.log_tail(3))
        env.step('sink reads what the server sent it')
        check(await sink.wait(lambda s: s.eof, 20), 'the connection did not end after the cut')
        check(sink.parse_error is None, 'what the sink got is not well-formed XML: %s (last '
              'bytes %r)' % (sink.parse_error, sink.data[-200:]))
        msgs = [e for e in sink.elements[n0:] if e.tag == '{jabber:client}message']
        check(0 < len(msgs) < 250, 'the sink got %d messages' % len(msgs))
        check(all(m.findtext('{jabber:client}body') == body for m in msgs),
              'a message arrived cut short')
        cond, _el = sink.stream_error()
        check(cond == 'resource-constraint', 'stream error %r, expected resource-constraint'
              % cond)
        check(sink.stream_closed, 'no </stream:stream> after the stream error')
        await flood.close()
        await still_serves(env, 'n')
