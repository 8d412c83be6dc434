"""Private XML storage (XEP-0049, modules/private.c)."""

import xml.etree.ElementTree as ET

from harness import check, e2e_test, expect_error, modules_with, own_server, restart_server

NS_PRIVATE = 'jabber:iq:private'
NS_BOOKMARKS = 'storage:bookmarks'
NS_PREFS = 'urn:example:prefs'

BOOKMARKS = ("<storage xmlns='storage:bookmarks'>"
             "<conference jid='room@conference.example' autojoin='true' name='The room'>"
             "<nick>alice</nick></conference></storage>")


def query(*children):
    return "<query xmlns='%s'>%s</query>" % (NS_PRIVATE, ''.join(children))


async def store(c, *children, to=None):
    kind, r = await c.send_iq('set', query(*children), to)
    check(kind == 'result', '%s: private set answered %s' % (c.jid, r))
    return r


async def fetch(c, child, to=None):
    """The children of <query/> in the result of a get for `child`."""
    kind, r = await c.send_iq('get', query(child), to)
    check(kind == 'result', '%s: private get %s answered %s' % (c.jid, child, r))
    q = r.xml.find('{%s}query' % NS_PRIVATE)
    check(q is not None, 'private get result has no <query/>: %s' % r)
    return list(q)


async def check_bookmarks(c, stored, what):
    """c gets back BOOKMARKS (stored) or the empty <storage/> (nothing stored)."""
    got = await fetch(c, "<storage xmlns='storage:bookmarks'/>")
    check(len(got) == 1 and (got[0].find('{%s}conference' % NS_BOOKMARKS) is not None if stored
                             else len(got[0]) == 0),
          '%s: %s' % (what, [ET.tostring(e) for e in got]))


@e2e_test('private_store_get_roundtrip')
async def t_roundtrip(env):
    await env.register('alice')
    a = await env.login('alice@localhost/r1')
    env.step('nothing stored: the empty element comes back')
    got = await fetch(a, "<storage xmlns='storage:bookmarks'/>")
    check(len(got) == 1 and got[0].tag == '{%s}storage' % NS_BOOKMARKS and len(got[0]) == 0,
          'get of nothing stored: %r' % [ET.tostring(e) for e in got])
    env.step('store bookmarks and read them back')
    await store(a, BOOKMARKS)
    got = await fetch(a, "<storage xmlns='storage:bookmarks'/>")
    check(len(got) == 1, 'expected one stored element, got %d' % len(got))
    conf = got[0].find('{%s}conference' % NS_BOOKMARKS)
    check(conf is not None and conf.get('jid') == 'room@conference.example' and
          conf.get('autojoin') == 'true' and conf.get('name') == 'The room',
          'stored conference differs: %s' % ET.tostring(got[0]))
    nick = conf.find('{%s}nick' % NS_BOOKMARKS)
    check(nick is not None and nick.text == 'alice', 'nick differs: %s' % ET.tostring(got[0]))
    env.step('to= own bare JID works too; a set replaces what was stored')
    await store(a, "<storage xmlns='storage:bookmarks'><url name='x' url='http://x.example/'/>"
                   "</storage>", to='alice@localhost')
    got = await fetch(a, "<storage xmlns='storage:bookmarks'/>", to='alice@localhost')
    check(len(got) == 1 and got[0].find('{%s}url' % NS_BOOKMARKS) is not None and
          got[0].find('{%s}conference' % NS_BOOKMARKS) is None,
          'the second set did not replace the first: %s' % [ET.tostring(e) for e in got])
    env.step('another session of the account sees it')
    a2 = await env.login('alice@localhost/r2')
    got = await fetch(a2, "<storage xmlns='storage:bookmarks'/>")
    check(len(got) == 1 and got[0].find('{%s}url' % NS_BOOKMARKS) is not None,
          'second session: %s' % [ET.tostring(e) for e in got])
    env.step('disco#info lists the feature')
    kind, r = await a.iq_get('localhost', 'http://jabber.org/protocol/disco#info')
    feats = {f.get('var') for f in r.xml.iter('{http://jabber.org/protocol/disco#info}feature')}
    check(NS_PRIVATE in feats, 'disco#info lacks %s: %s' % (NS_PRIVATE, sorted(feats)))


@e2e_test('private_namespaces_independent')
async def t_independent(env):
    await env.register('alice')
    await env.register('bob')
    a = await env.login('alice@localhost/r1')
    b = await env.login('bob@localhost/r1')
    env.step('two namespaces in one set')
    await store(a, BOOKMARKS, "<prefs xmlns='%s'><colour>blue</colour></prefs>" % NS_PREFS)
    got = await fetch(a, "<prefs xmlns='%s'/>" % NS_PREFS)
    check(len(got) == 1 and got[0].findtext('{%s}colour' % NS_PREFS) == 'blue',
          'prefs: %s' % [ET.tostring(e) for e in got])
    await check_bookmarks(a, True, 'bookmarks')
    env.step('changing one leaves the other')
    await store(a, "<prefs xmlns='%s'><colour>red</colour></prefs>" % NS_PREFS)
    await check_bookmarks(a, True, 'bookmarks after the prefs changed')
    got = await fetch(a, "<prefs xmlns='%s'/>" % NS_PREFS)
    check(got[0].findtext('{%s}colour' % NS_PREFS) == 'red', 'prefs: %s' % ET.tostring(got[0]))
    env.step('two elements of one namespace are kept together')
    await store(a, "<item xmlns='urn:example:multi' n='1'/>",
                "<item xmlns='urn:example:multi' n='2'/>")
    got = await fetch(a, "<item xmlns='urn:example:multi'/>")
    check([e.get('n') for e in got] == ['1', '2'], 'multi: %s' % [ET.tostring(e) for e in got])
    env.step('accounts are independent')
    await check_bookmarks(b, False, "bob sees alice's bookmarks")


@e2e_test('private_disallowed_requests')
async def t_disallowed(env):
    await env.register('alice')
    a = await env.login('alice@localhost/r1')
    cases = [
        ('set', query("<x xmlns='jabber:client'/>"), 'not-acceptable', 'jabber:client'),
        ('set', query("<x xmlns='jabber:server'/>"), 'not-acceptable', 'jabber:server'),
        ('set', query("<x/>"), 'not-acceptable', 'a child in jabber:iq:private'),
        ('set', query(), 'not-acceptable', 'an empty set'),
        ('get', query(), 'not-acceptable', 'an empty get'),
        ('get', query("<x xmlns='jabber:client'/>"), 'not-acceptable', 'get jabber:client'),
        ('get', query("<a xmlns='urn:example:a'/>", "<b xmlns='urn:example:b'/>"),
         'bad-request', 'a get of two namespaces'),
        ('set', query(BOOKMARKS, "<x xmlns='jabber:client'/>"), 'not-acceptable',
         'a set mixing an allowed and a refused namespace'),
    ]
    for itype, payload, cond, what in cases:
        env.step(what)
        kind, r = await a.send_iq(itype, payload)
        expect_error(kind, r, cond, what)
    env.step('a refused set stored nothing')
    await check_bookmarks(a, False, 'the refused set stored bookmarks')


@e2e_test('private_other_user_forbidden')
async def t_forbidden(env):
    await env.register('alice')
    await env.register('mallory')
    a = await env.login('alice@localhost/r1')
    m = await env.login('mallory@localhost/r1')
    await store(a, BOOKMARKS)
    for itype, to, what in (('get', 'alice@localhost', "mallory gets alice's data"),
                            ('set', 'alice@localhost', "mallory sets alice's data"),
                            ('get', 'localhost', 'private get addressed to the server')):
        env.step(what)
        kind, r = await m.send_iq(itype, query("<storage xmlns='storage:bookmarks'/>"), to=to)
        expect_error(kind, r, 'forbidden', what)
        check(r.xml.find('.//{%s}conference' % NS_BOOKMARKS) is None,
              'the error leaks the stored data: %s' % r)
    await check_bookmarks(a, True, "alice's data changed")


@e2e_test('private_survives_restart', timeout=90)
async def t_restart(env):
    await env.register('alice')
    a = await env.login('alice@localhost/r1')
    await store(a, BOOKMARKS, "<prefs xmlns='%s'><colour>green</colour></prefs>" % NS_PREFS)
    await a.close()
    env.step('restart')
    await restart_server(env.srv)
    a = await env.login('alice@localhost/r1')
    await check_bookmarks(a, True, 'bookmarks after a restart')
    got = await fetch(a, "<prefs xmlns='%s'/>" % NS_PREFS)
    check(got[0].findtext('{%s}colour' % NS_PREFS) == 'green', 'prefs after a restart: %s'
          % ET.tostring(got[0]))


@e2e_test('private_size_limits', timeout=60)
async def t_limits(_env):
    mods = modules_with('private', 'max_size: 2048, max_total: 5000')
    async with own_server('private_size_limits', modules=mods) as env:
        await env.register('alice')
        await env.register('carol')
        a = await env.login('alice@localhost/r1')
        env.step('one namespace larger than max_size')
        big = "<big xmlns='urn:example:big'>%s</big>" % ('x' * 3000)
        kind, r = await a.send_iq('set', query(big))
        expect_error(kind, r, 'not-acceptable', 'an element over max_size')
        env.step('under max_size each, over max_total together')
        for i in range(2):
            await store(a, "<p%d xmlns='urn:example:p%d'>%s</p%d>" % (i, i, 'y' * 1500, i))
        kind, r = await a.send_iq('set', query("<p9 xmlns='urn:example:p9'>%s</p9>"
                                               % ('z' * 1500)))
        expect_error(kind, r, 'not-acceptable', 'a set past max_total')
        env.step('replacing a namespace counts its old size out')
        await store(a, "<p0 xmlns='urn:example:p0'>%s</p0>" % ('w' * 1500))
        await store(a, "<p0 xmlns='urn:example:p0'>small</p0>")
        await store(a, "<p9 xmlns='urn:example:p9'>%s</p9>" % ('z' * 1500))
        got = await fetch(a, "<p9 xmlns='urn:example:p9'/>")
        check(got and got[0].text == 'z' * 1500, 'p9 not stored')
        env.step('the quota is per account')
        c = await env.login('carol@localhost/r1')
        await store(c, "<p0 xmlns='urn:example:p0'>%s</p0>" % ('v' * 1500))


@e2e_test('private_removed_with_account')
async def t_removed(env):
    await env.register('alice')
    await env.register('bob')
    a = await env.login('alice@localhost/r1')
    b = await env.login('bob@localhost/r1')
    await store(a, BOOKMARKS)
    await store(b, BOOKMARKS)
    env.step('unregister alice and register her again')
    rc, out, err = await env.srv.ctl('unregister', 'alice', 'localhost')
    check(rc == 0, 'xmppctl unregister failed: %s' % err)
    await a.wait_gone(5, 'alice after unregister')
    await env.register('alice')
    a = await env.login('alice@localhost/r1')
    await check_bookmarks(a, False, 'the new alice sees the old data')
    await check_bookmarks(b, True, "bob's data went with alice's")
