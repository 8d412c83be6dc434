"""Chat between clients on different workers."""

import asyncio

from harness import e2e_test, check

N = 1000


def check_sequence(c, sender, n, prefix):
    got = [m for m in c.messages if str(m['from']).startswith(sender)]
    bodies = [m['body'] for m in got]
    expected = ['%s %d' % (prefix, i) for i in range(n)]
    if bodies == expected:
        return
    dups = len(bodies) - len(set(bodies))
    missing = [b for b in expected if b not in set(bodies)]
    first_bad = next((i for i, (a, b) in enumerate(zip(bodies, expected)) if a != b), None)
    raise AssertionError('%s received %d messages from %s (expected exactly %d): %d duplicate(s), '
                         '%d missing (first: %s), first out-of-order index %s'
                         % (c.jid, len(bodies), sender, n, dups, len(missing), missing[:3],
                            first_bad))


@e2e_test('chat_1000_each_way_across_workers', timeout=90)
async def t_chat(env):
    await env.register('alice')
    await env.register('bob')
    env.step('place alice and bob on different workers')
    a, wa = await env.login_placed('alice@localhost', tag='a')
    b, wb = await env.login_placed('bob@localhost', avoid=wa, tag='b')
    check(wa != wb, 'alice and bob on the same worker %d' % wa)

    env.step('send %d messages each way' % N)
    for i in range(N):
        a.send_chat('bob@localhost', 'a2b %d' % i)
        b.send_chat('alice@localhost', 'b2a %d' % i)
    await asyncio.gather(a.wait_messages(N, 60), b.wait_messages(N, 60))
    # A ping to the peer travels the same path after the messages; once it is answered,
    # any duplicate would have been received too.
    await asyncio.gather(a.ping(b.jid), b.ping(a.jid))
    check_sequence(b, 'alice@localhost', N, 'a2b')
    check_sequence(a, 'bob@localhost', N, 'b2a')
    for m in b.messages:
        check(str(m['from']) == a.jid, 'message to bob stamped from %s, expected %s'
              % (m['from'], a.jid))
        check(m['type'] == 'chat', 'message type %r, expected chat' % m['type'])
    for m in a.messages:
        check(str(m['from']) == b.jid, 'message to alice stamped from %s, expected %s'
              % (m['from'], b.jid))
    check(not a.errors and not b.errors, 'error messages came back: %s'
          % [str(e) for e in (a.errors + b.errors)][:2])


@e2e_test('chat_many_clients_ring', timeout=90)
async def t_many(env):
    """30 clients log in at once (PLAIN, to keep it quick), spread over both workers; each
    sends 50 messages to the next one in a ring; every client receives its 50, in order."""
    n, k = 30, 50
    await asyncio.gather(*(env.register('u%d' % i) for i in range(n)))
    env.step('%d concurrent logins' % n)
    clients = await asyncio.gather(*(env.login('u%d@localhost/r' % i, mech='PLAIN')
                                     for i in range(n)))
    workers = {s['worker'] for s in await env.srv.sessions()}
    check(workers == set(range(env.srv.workers)), 'sessions use workers %s, expected all of %s'
          % (sorted(workers), list(range(env.srv.workers))))
    env.step('ring of messages')
    for j in range(k):
        for i, c in enumerate(clients):
            c.send_chat('u%d@localhost' % ((i + 1) % n), 'from u%d #%d' % (i, j))
    await asyncio.gather(*(c.wait_messages(k, 30) for c in clients))
    for i, c in enumerate(clients):
        prev = (i - 1) % n
        want = ['from u%d #%d' % (prev, j) for j in range(k)]
        got = [m['body'] for m in c.messages]
        check(got == want, 'u%d received %d messages, first differences: %r'
              % (i, len(got), [(a, b) for a, b in zip(got, want) if a != b][:2]))
