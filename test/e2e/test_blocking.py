"""Blocking Command (XEP-0191, modules/blocking.c)."""

import xml.etree.ElementTree as ET

from slixmpp.exceptions import IqError, IqTimeout

from harness import (NS_STANZAS, TestFailure, barrier, check, e2e_test, expect_error,
                     restart_server)

NS_BLOCKING = 'urn:xmpp:blocking'
NS_BLOCKED = 'urn:xmpp:blocking:errors'
PLUGINS = ['xep_0191']


async def blocklist(c):
    try:
        r = await c.x['xep_0191'].get_blocked(timeout=5)
    except (IqError, IqTimeout) as e:
        raise TestFailure('%s: blocklist get failed: %s' % (c.jid, e))
    return {str(j) for j in r['blocklist']['items']}


async def block(c, *jids):
    try:
        await c.x['xep_0191'].block(list(jids), timeout=5)
    except (IqError, IqTimeout) as e:
        raise TestFailure('%s: block %s failed: %s' % (c.jid, jids, e))


async def unblock(c, *jids):
    """Unblocks jids, or everything when none are given."""
    if jids:
        try:
            await c.x['xep_0191'].unblock(list(jids), timeout=5)
        except (IqError, IqTimeout) as e:
            raise TestFailure('%s: unblock %s failed: %s' % (c.jid, jids, e))
        return
    kind, r = await c.send_iq('set', "<unblock xmlns='%s'/>" % NS_BLOCKING)
    check(kind == 'result', '%s: unblock all answered %s' % (c.jid, r))


def watch_pushes(c):
    """A list filling with ('block'|'unblock', {jids}) for each push c receives."""
    got = []

    def on_block(iq):
        got.append(('block', {str(j) for j in iq['block']['items']}))
        c.changed.set()

    def on_unblock(iq):
        got.append(('unblock', {str(j) for j in iq['unblock']['items']}))
        c.changed.set()
    c.x.add_event_handler('blocked', on_block)
    c.x.add_event_handler('unblocked', on_unblock)
    return got


def error_of(msg):
    el = msg.xml.find('{jabber:client}error')
    check(el is not None, 'error stanza without <error/>: %s' % msg)
    conds = [child.tag for child in el]
    return el, conds


def check_bounced(err, cond, who):
    el, conds = error_of(err)
    check('{%s}%s' % (NS_STANZAS, cond) in conds, '%s: expected <%s/>, got %s: %s'
          % (who, cond, conds, err))
    return el


async def chat_both_ways(x, y, what):
    """A chat from x to y and one back both arrive; neither gets an error."""
    for src, dst in ((x, y), (y, x)):
        body = '%s: %s -> %s' % (what, src.jid, dst.jid)
        src.send_chat(dst.jid, body)
        await dst.wait_body(body, body)
    check(not x.errors and not y.errors, '%s: errors %s %s' % (what, x.errors, y.errors))


async def expect_message_error(c, what, cond):
    e = await c.wait_error(5, what)
    return check_bounced(e, cond, what)


@e2e_test('blocking_block_push_and_enforce')
async def t_block(env):
    for u in ('alice', 'bob', 'carol'):
        await env.register(u)
    a1 = await env.login('alice@localhost/r1', plugins=PLUGINS)
    a2 = await env.login('alice@localhost/r2', plugins=PLUGINS)
    b = await env.login('bob@localhost/b', plugins=PLUGINS)
    c = await env.login('carol@localhost/c')
    pushes1, pushes2 = watch_pushes(a1), watch_pushes(a2)
    env.step('disco#info lists the feature')
    kind, r = await a1.iq_get('localhost', 'http://jabber.org/protocol/disco#info')
    feats = {f.get('var') for f in r.xml.iter('{http://jabber.org/protocol/disco#info}feature')}
    check(NS_BLOCKING in feats, 'disco#info lacks %s: %s' % (NS_BLOCKING, sorted(feats)))
    env.step('r2 fetches the (empty) list; r1 blocks bob')
    check(await blocklist(a2) == set(), 'fresh blocklist not empty')
    await block(a1, 'bob@localhost')
    await a2.wait_until(lambda: pushes2, 5, 'block push to alice/r2')
    check(pushes2 == [('block', {'bob@localhost'})], 'push to r2: %r' % pushes2)
    await barrier(a1)
    check(pushes1 == [], 'alice/r1 never fetched the list but got pushes: %r' % pushes1)
    check(await blocklist(a1) == {'bob@localhost'}, 'blocklist after block')

    env.step('bob -> alice (bare and full): service-unavailable, nothing arrives')
    n1, n2 = len(a1.messages), len(a2.messages)
    b.send_chat('alice@localhost', 'to bare', mid='m1')
    await expect_message_error(b, 'bob -> alice bare', 'service-unavailable')
    b.send_chat('alice@localhost/r1', 'to full', mid='m2')
    await expect_message_error(b, 'bob -> alice/r1', 'service-unavailable')
    b.send_chat('alice@localhost', 'normal', mtype='normal', mid='m3')
    await expect_message_error(b, 'bob -> alice normal', 'service-unavailable')
    env.step('bob IQ to alice: service-unavailable')
    kind, r = await b.send_iq('get', "<query xmlns='jabber:iq:version'/>", to='alice@localhost/r1')
    expect_error(kind, r, 'service-unavailable', 'bob iq to alice/r1')
    kind, r = await b.send_iq('get', "<vCard xmlns='vcard-temp'/>", to='alice@localhost')
    expect_error(kind, r, 'service-unavailable', 'bob iq to alice bare')
    env.step('bob presence to alice: dropped')
    p1 = len(a1.presences)
    b.x.send_presence(pto='alice@localhost', pstatus='hello')
    b.x.send_presence(pto='alice@localhost/r1', pstatus='hello again')
    await barrier(b, a1, a2)
    check(len(a1.messages) == n1 and len(a2.messages) == n2,
          'a message from bob arrived: %s' % (a1.messages[n1:] + a2.messages[n2:]))
    got = [p for p in a1.presences[p1:] if str(p['from']).startswith('bob@')]
    check(not got, 'presence from bob reached alice: %s' % got)

    env.step('alice -> bob: not-acceptable + <blocked/>, nothing arrives')
    nb = len(b.messages)
    a1.send_chat('bob@localhost', 'hi bob', mid='m4')
    el = await expect_message_error(a1, 'alice -> bob', 'not-acceptable')
    check(el.find('{%s}blocked' % NS_BLOCKED) is not None,
          'no <blocked xmlns=%s/> in the error: %s' % (NS_BLOCKED, ET.tostring(el)))
    check(el.get('type') == 'cancel', 'error type %r, expected cancel' % el.get('type'))
    kind, r = await a1.send_iq('get', "<query xmlns='jabber:iq:version'/>", to='bob@localhost/b')
    expect_error(kind, r, 'not-acceptable', 'alice iq to bob')
    await barrier(a1, b)
    check(len(b.messages) == nb, 'bob received %s' % b.messages[nb:])

    env.step('others are not affected')
    await chat_both_ways(c, a1, 'carol and alice')


@e2e_test('blocking_unblock_restores')
async def t_unblock(env):
    for u in ('alice', 'bob'):
        await env.register(u)
    a1 = await env.login('alice@localhost/r1', plugins=PLUGINS)
    a2 = await env.login('alice@localhost/r2', plugins=PLUGINS)
    b = await env.login('bob@localhost/b')
    pushes = watch_pushes(a2)
    await blocklist(a2)
    await block(a1, 'bob@localhost', 'dave@localhost')
    await a2.wait_until(lambda: pushes, 5, 'block push')
    b.send_chat('alice@localhost/r1', 'blocked', mid='x1')
    await expect_message_error(b, 'bob while blocked', 'service-unavailable')
    env.step('unblock bob only')
    await unblock(a1, 'bob@localhost')
    await a2.wait_until(lambda: len(pushes) >= 2, 5, 'unblock push')
    check(pushes[1] == ('unblock', {'bob@localhost'}), 'unblock push: %r' % pushes)
    check(await blocklist(a1) == {'dave@localhost'}, 'list after unblocking bob')
    env.step('messages flow both ways again')
    await chat_both_ways(b, a1, 'bob and alice after the unblock')
    env.step('unblocking what is not blocked is fine')
    await unblock(a1, 'nobody@localhost')
    check(await blocklist(a1) == {'dave@localhost'}, 'list changed')


@e2e_test('blocking_unblock_all')
async def t_unblock_all(env):
    for u in ('alice', 'bob', 'carol'):
        await env.register(u)
    a1 = await env.login('alice@localhost/r1', plugins=PLUGINS)
    a2 = await env.login('alice@localhost/r2', plugins=PLUGINS)
    b = await env.login('bob@localhost/b')
    c = await env.login('carol@localhost/c')
    pushes = watch_pushes(a2)
    await blocklist(a2)
    await block(a1, 'bob@localhost', 'carol@localhost', 'evil.example')
    check(await blocklist(a1) == {'bob@localhost', 'carol@localhost', 'evil.example'},
          'list after block')
    for x in (b, c):
        x.send_chat('alice@localhost', 'blocked')
        await expect_message_error(x, '%s while blocked' % x.jid, 'service-unavailable')
    env.step('unblock all')
    await unblock(a1)
    await a2.wait_until(lambda: len(pushes) >= 2, 5, 'unblock-all push')
    check(pushes[1] == ('unblock', set()), 'unblock-all push: %r' % pushes)
    check(await blocklist(a1) == set(), 'list after unblock all')
    for x in (b, c):
        x.send_chat('alice@localhost/r1', 'free from %s' % x.jid)
    await a1.wait_until(lambda: len([m for m in a1.messages if m['body'].startswith('free')]) == 2,
                        5, 'messages after unblock all')
    env.step('block again after unblock all')
    await block(a1, 'bob@localhost')
    b.send_chat('alice@localhost', 'blocked again')
    await expect_message_error(b, 'bob blocked again', 'service-unavailable')


@e2e_test('blocking_jid_matching')
async def t_matching(env):
    """XEP-0191 §4: full JID items match one resource, bare JIDs all of them,
    domains every JID at them; own JIDs and the server are never blocked."""
    for u in ('alice', 'bob', 'carol'):
        await env.register(u)
    a = await env.login('alice@localhost/r1', plugins=PLUGINS)
    a2 = await env.login('alice@localhost/r2')
    bad = await env.login('bob@localhost/evil')
    good = await env.login('bob@localhost/good')
    c = await env.login('carol@localhost/c')
    await block(a, 'bob@localhost/evil')
    bad.send_chat('alice@localhost/r1', 'from evil')
    await expect_message_error(bad, 'bob/evil', 'service-unavailable')
    good.send_chat('alice@localhost/r1', 'from good')
    await a.wait_body('from good', 'bob/good -> alice')
    env.step('a domain item blocks every user at it, but not the server nor alice herself')
    await block(a, 'localhost')
    c.send_chat('alice@localhost/r1', 'from carol')
    await expect_message_error(c, 'carol with localhost blocked', 'service-unavailable')
    await a.ping('localhost')
    check(await blocklist(a) == {'bob@localhost/evil', 'localhost'}, 'list')
    a2.send_chat('alice@localhost/r1', 'from myself')
    await a.wait_body('from myself', 'alice/r2 -> alice/r1')
    env.step('a parent domain blocks its subdomains')
    kind, r = await a.send_iq('get', "<query xmlns='jabber:iq:version'/>",
                              to='x.sub.localhost')
    expect_error(kind, r, 'not-acceptable', 'alice -> x.sub.localhost with localhost blocked')
    await unblock(a, 'localhost')
    c.send_chat('alice@localhost/r1', 'carol again')
    await a.wait_body('carol again', 'carol after unblocking the domain')


@e2e_test('blocking_bad_requests')
async def t_bad(env):
    for u in ('alice', 'bob'):
        await env.register(u)
    a = await env.login('alice@localhost/r1', plugins=PLUGINS)
    b = await env.login('bob@localhost/b', plugins=PLUGINS)
    cases = [
        ('set', "<block xmlns='%s'/>" % NS_BLOCKING, 'bad-request', 'block without items'),
        ('set', "<block xmlns='%s'><item/></block>" % NS_BLOCKING, 'bad-request',
         'item without jid'),
        ('set', "<block xmlns='%s'><item jid='a@b@c'/></block>" % NS_BLOCKING, 'jid-malformed',
         'malformed jid'),
        ('set', "<blocklist xmlns='%s'/>" % NS_BLOCKING, 'bad-request', 'set blocklist'),
        ('get', "<block xmlns='%s'><item jid='x@y'/></block>" % NS_BLOCKING, 'bad-request',
         'get block'),
    ]
    for itype, payload, cond, what in cases:
        env.step(what)
        kind, r = await a.send_iq(itype, payload)
        expect_error(kind, r, cond, what)
    env.step("another account's list")
    kind, r = await b.send_iq('get', "<blocklist xmlns='%s'/>" % NS_BLOCKING,
                              to='alice@localhost')
    expect_error(kind, r, 'forbidden', 'bob reads alice')
    kind, r = await b.send_iq('set', "<block xmlns='%s'><item jid='x@y'/></block>" % NS_BLOCKING,
                              to='alice@localhost')
    expect_error(kind, r, 'forbidden', 'bob writes alice')
    check(await blocklist(a) == set(), 'a refused request changed the list')
    env.step('items are stored prepared')
    await block(a, 'Dave@LocalHost', 'dave@localhost')
    check(await blocklist(a) == {'dave@localhost'}, 'prepared item')


@e2e_test('blocking_presence_on_block_and_unblock', timeout=60)
async def t_presence(env):
    """§3.3/§3.4: a subscribed contact gets unavailable presence when blocked,
    no presence while blocked, and the current presence when unblocked."""
    for u in ('alice', 'bob'):
        await env.register(u)
    a = await env.login('alice@localhost/r1', plugins=PLUGINS)
    b = await env.login('bob@localhost/b')
    env.step('bob subscribes to alice (slixmpp accepts and subscribes back)')
    b.x.send_presence(pto='alice@localhost', ptype='subscribe')

    def alice_available():
        return [p for p in b.presences if str(p['from']) == a.jid and p['type'] != 'unavailable'
                and p['type'] in ('available', '', 'away', 'chat', 'dnd', 'xa')]
    await b.wait_until(alice_available, 10, "alice's presence at bob after subscribing")
    env.step('alice blocks bob: bob sees her go offline')
    n = len(b.presences)
    await block(a, 'bob@localhost')
    await b.wait_until(lambda: any(str(p['from']) == a.jid and p['type'] == 'unavailable'
                                   for p in b.presences[n:]), 5,
                       'unavailable presence from alice after the block')
    env.step('a presence change of alice does not reach bob')
    n = len(b.presences)
    a.x.send_presence(pstatus='busy now', pshow='dnd')
    await barrier(a, b)
    check(not [p for p in b.presences[n:] if str(p['from']).startswith('alice@')],
          'presence from alice reached bob while blocked: %s' % b.presences[n:])
    env.step('unblock: bob gets her current presence')
    await unblock(a, 'bob@localhost')
    await b.wait_until(lambda: any(str(p['from']) == a.jid and p['status'] == 'busy now'
                                   for p in b.presences[n:]), 5,
                       'current presence from alice after the unblock')


@e2e_test('blocking_survives_restart', timeout=90)
async def t_restart(env):
    for u in ('alice', 'bob'):
        await env.register(u)
    a = await env.login('alice@localhost/r1', plugins=PLUGINS)
    await block(a, 'bob@localhost', 'spam.example')
    await a.close()
    env.step('restart')
    await restart_server(env.srv)
    a = await env.login('alice@localhost/r1', plugins=PLUGINS)
    b = await env.login('bob@localhost/b')
    check(await blocklist(a) == {'bob@localhost', 'spam.example'}, 'list after restart')
    b.send_chat('alice@localhost', 'after restart')
    await expect_message_error(b, 'bob after restart', 'service-unavailable')
    a.send_chat('bob@localhost', 'to bob')
    el = await expect_message_error(a, 'alice -> bob after restart', 'not-acceptable')
    check(el.find('{%s}blocked' % NS_BLOCKED) is not None, 'no <blocked/>: %s' % ET.tostring(el))
    await barrier(a)
    check(not [m for m in a.messages if str(m['from']).startswith('bob@')],
          'bob reached alice after restart: %s' % a.messages)


@e2e_test('blocking_removed_with_account')
async def t_removed(env):
    for u in ('alice', 'bob'):
        await env.register(u)
    a = await env.login('alice@localhost/r1', plugins=PLUGINS)
    b = await env.login('bob@localhost/b')
    await block(a, 'bob@localhost')
    env.step('unregister alice and register her again')
    rc, out, err = await env.srv.ctl('unregister', 'alice', 'localhost')
    check(rc == 0, 'xmppctl unregister failed: %s' % err)
    await a.wait_gone(5, 'alice after unregister')
    await env.register('alice')
    a = await env.login('alice@localhost/r1', plugins=PLUGINS)
    check(await blocklist(a) == set(), 'the new alice inherited the blocklist')
    b.send_chat('alice@localhost/r1', 'hello new alice')
    await a.wait_body('hello new alice', 'bob -> the new alice')
    check(not b.errors, 'bob got errors: %s' % b.errors)


@e2e_test('blocking_refused_block_is_not_pushed', timeout=60,
          server={'modules': '{ping: {}, disco: {}, roster: {}, blocking: {max_items: 2}}'})
async def t_full(env):
    """A block the server refuses (the list would exceed max_items) changes nothing: no
    push reaches the account's other resources and the list stays as it was."""
    await env.register('alice')
    r1 = await env.login('alice@localhost/r1', plugins=PLUGINS)
    r2 = await env.login('alice@localhost/r2', plugins=PLUGINS)
    pushes = watch_pushes(r1)
    check(await blocklist(r1) == set(), 'the list is not empty at first')
    await blocklist(r2)
    env.step('r2 asks to block three JIDs: over max_items 2')
    try:
        await r2.x['xep_0191'].block(['x@a.example', 'y@a.example', 'z@a.example'], timeout=5)
        raise TestFailure('a block over max_items was accepted')
    except IqError as e:
        check(e.iq['error']['condition'] == 'not-acceptable',
              'over max_items answered %s' % e.iq['error']['condition'])
    await barrier(r1)
    check(not pushes, 'r1 was pushed a block that was refused: %s' % pushes)
    check(await blocklist(r1) == set(), 'a refused block left items: %s' % await blocklist(r1))
    env.step('a block within the limit is pushed')
    await block(r2, 'x@a.example')
    await r1.wait_until(lambda: pushes, 5, 'the push of an accepted block')
    check(pushes == [('block', {'x@a.example'})], 'pushes: %s' % pushes)
