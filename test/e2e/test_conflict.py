"""Resource conflict: a new login with the same full JID replaces the old one."""

import asyncio

from harness import e2e_test, check, eventually


@e2e_test('resource_conflict_replaces_old_session')
async def t_conflict(env):
    await env.register('alice')
    await env.register('bob')
    bob = await env.login('bob@localhost/b')
    old = await env.login('alice@localhost/same')
    s_old = await env.srv.session_of('alice@localhost/same')
    check(s_old is not None, 'first session not listed')

    env.step('second login with the same full JID')
    new = await env.login('alice@localhost/same')
    check(new.jid == 'alice@localhost/same', 'second login bound %s (the server may pick '
          'another resource only if it keeps the old session; RFC 6120 7.7.2.2 lets it '
          'terminate the old one)' % new.jid)

    env.step('old stream gets a conflict stream error')
    try:
        err = await asyncio.wait_for(asyncio.shield(old.stream_error), 5)
    except asyncio.TimeoutError:
        raise AssertionError('old session got no stream error within 5s (gone: %s)'
                             % old.gone.done())
    check(err['condition'] == 'conflict', 'old session got stream error %r, expected conflict'
          % err['condition'])
    await old.wait_gone(5, 'old session after the conflict')

    env.step('sessions lists the JID once, for the new connection')

    async def only_new():
        rows = [s for s in await env.srv.sessions() if s['jid'] == 'alice@localhost/same']
        return rows if len(rows) == 1 and rows[0]['conn'] != s_old['conn'] else None
    rows = await eventually(only_new, 5)
    check(rows, 'sessions after the conflict: %r (old conn %s)'
          % (await env.srv.sessions(), s_old['conn']))
    check(rows[0]['presence'] == 'available', 'new session presence %r' % rows[0]['presence'])

    env.step('the new session works')
    await new.ping()
    bob.send_chat('alice@localhost/same', 'for the new one')
    await new.wait_messages(1, 5)
    check(new.messages[0]['body'] == 'for the new one', 'body %r' % new.messages[0]['body'])
    new.send_chat('bob@localhost', 'reply')
    await bob.wait_messages(1, 5)
    check(str(bob.messages[0]['from']) == 'alice@localhost/same', 'reply from %s'
          % bob.messages[0]['from'])
    check(not old.messages, 'old session received %s' % old.messages[:1])


@e2e_test('resource_conflict_other_resources_see_unavailable')
async def t_conflict_presence(env):
    """The replaced session ended: the account's other available resources get its
    unavailable presence (RFC 6121 4.5.2: a session that ends without unavailable
    presence is made unavailable by the server and that is sent to the user's other
    available resources), then the new session's own initial presence."""
    await env.register('alice')
    other = await env.login('alice@localhost/other')
    old = await env.login('alice@localhost/same')
    await other.wait_until(lambda: any(p['from'] == old.x.boundjid for p in other.presences), 5,
                           'alice/other waiting for alice/same available')
    n = len(other.presences)
    new = await env.login('alice@localhost/same', presence=False)
    await old.wait_gone(5, 'replaced session')
    await other.wait_until(
        lambda: any(str(p['from']) == 'alice@localhost/same' and p['type'] == 'unavailable'
                    for p in other.presences[n:]), 3,
        'alice/other waiting for the unavailable presence of the replaced alice/same')
    env.step('the new session, not yet available, gets no bare-JID chat')
    s = await env.srv.session_of('alice@localhost/same')
    check(s and s['presence'] == 'unavailable', 'new session before its presence: %r' % s)
    await env.go_online(new)
    await other.wait_until(
        lambda: any(str(p['from']) == 'alice@localhost/same' and p['type'] == 'available'
                    for p in other.presences[n:]), 3, 'new alice/same available')
