"""Software Version (XEP-0092), Entity Time (XEP-0202) and Last Activity (XEP-0012):
the exact reply fields, the errors for accounts and for type set, last activity's
access rule (the account itself or a contact subscribed to its presence)."""

import asyncio
import datetime
import os
import time

from harness import (TestFailure, check, e2e_test, eventually, expect_error, modules_with,
                     own_server)

NS_VERSION = 'jabber:iq:version'
NS_TIME = 'urn:xmpp:time'
NS_LAST = 'jabber:iq:last'
DISCO_INFO = 'http://jabber.org/protocol/disco#info'


def query(ns, name='query'):
    return "<%s xmlns='%s'/>" % (name, ns)


def features(r):
    return {f.get('var') for f in r.xml.iter('{%s}feature' % DISCO_INFO)}


# ------------------------------------------------------------------ version


@e2e_test('version_server_reply')
async def t_version(env):
    await env.register('alice')
    a = await env.login('alice@localhost/a')
    kind, r = await a.send_iq('get', query(NS_VERSION), 'localhost')
    check(kind == 'result', 'version get: %s' % r)
    check(str(r['from']) == 'localhost', 'from %r' % str(r['from']))
    q = r.xml.find('{%s}query' % NS_VERSION)
    check(q is not None, 'no query in %s' % r)
    name = q.find('{%s}name' % NS_VERSION)
    ver = q.find('{%s}version' % NS_VERSION)
    check(name is not None and name.text == 'xmppd', 'name %r' % (name is not None and name.text))
    check(ver is not None and ver.text and ver.text.strip(), 'version missing: %s' % r)
    check(q.find('{%s}os' % NS_VERSION) is None, 'os is shown by default: %s' % r)
    env.step('disco feature')
    kind, r = await a.send_iq('get', query(DISCO_INFO), 'localhost')
    check(NS_VERSION in features(r), 'disco#info lacks %s' % NS_VERSION)


@e2e_test('version_errors')
async def t_version_errors(env):
    await env.register('alice')
    await env.register('bob')
    a = await env.login('alice@localhost/a')
    await env.login('bob@localhost/b')
    kind, r = await a.send_iq('set', query(NS_VERSION), 'localhost')
    expect_error(kind, r, 'not-allowed', 'version set', 'cancel')
    for to in ('bob@localhost', 'alice@localhost'):
        kind, r = await a.send_iq('get', query(NS_VERSION), to)
        expect_error(kind, r, 'service-unavailable', 'version of account %s' % to, 'cancel')


@e2e_test('version_show_os', timeout=60)
async def t_version_os(_env):
    async with own_server('version_show_os',
                          modules=modules_with('version', 'show_os: true')) as env:
        await env.register('alice')
        a = await env.login('alice@localhost/a')
        kind, r = await a.send_iq('get', query(NS_VERSION), 'localhost')
        check(kind == 'result', 'version get: %s' % r)
        o = r.xml.find('{%s}query/{%s}os' % (NS_VERSION, NS_VERSION))
        u = os.uname()
        want = '%s %s' % (u.sysname, u.release)
        check(o is not None and o.text == want, 'os %r, expected %r'
              % (o is not None and o.text, want))


# ------------------------------------------------------------------ time


@e2e_test('time_server_reply')
async def t_time(env):
    await env.register('alice')
    a = await env.login('alice@localhost/a')
    before = time.time()
    kind, r = await a.send_iq('get', query(NS_TIME, 'time'), 'localhost')
    after = time.time()
    check(kind == 'result', 'time get: %s' % r)
    t = r.xml.find('{%s}time' % NS_TIME)
    check(t is not None, 'no <time/> in %s' % r)
    tzo = t.find('{%s}tzo' % NS_TIME)
    utc = t.find('{%s}utc' % NS_TIME)
    check(tzo is not None and tzo.text == '+00:00', 'tzo %r' % (tzo is not None and tzo.text))
    check(utc is not None and utc.text and utc.text.endswith('Z'), 'utc %r'
          % (utc is not None and utc.text))
    text = utc.text[:-1]
    fmt = '%Y-%m-%dT%H:%M:%S.%f' if '.' in text else '%Y-%m-%dT%H:%M:%S'
    try:
        ts = datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        raise TestFailure('utc %r is not XEP-0082 DateTime' % utc.text)
    check(before - 1 <= ts <= after + 1, 'utc %s is not now (%s..%s)' % (utc.text, before, after))
    kind, r = await a.send_iq('get', query(DISCO_INFO), 'localhost')
    check(NS_TIME in features(r), 'disco#info lacks %s' % NS_TIME)


@e2e_test('time_errors')
async def t_time_errors(env):
    await env.register('alice')
    a = await env.login('alice@localhost/a')
    kind, r = await a.send_iq('set', query(NS_TIME, 'time'), 'localhost')
    expect_error(kind, r, 'not-allowed', 'time set', 'cancel')
    kind, r = await a.send_iq('get', query(NS_TIME, 'time'), 'alice@localhost')
    expect_error(kind, r, 'service-unavailable', 'time of a bare JID', 'cancel')


# ------------------------------------------------------------------ last


def last_reply(kind, r, what):
    check(kind == 'result', '%s: %s' % (what, r))
    q = r.xml.find('{%s}query' % NS_LAST)
    check(q is not None, '%s: no query: %s' % (what, r))
    s = q.get('seconds')
    check(s is not None and s.isdigit(), '%s: seconds=%r' % (what, s))
    return int(s), (q.text or '')


@e2e_test('last_server_uptime')
async def t_uptime(env):
    await env.register('alice')
    a = await env.login('alice@localhost/a')
    s1, text = last_reply(*await a.send_iq('get', query(NS_LAST), 'localhost'), 'server uptime')
    check(s1 < 60, 'uptime %d s for a server started for this test' % s1)
    check(text == '', 'uptime has text %r' % text)
    await asyncio.sleep(2.1)
    s2, _ = last_reply(*await a.send_iq('get', query(NS_LAST), 'localhost'), 'server uptime')
    check(s1 + 1 <= s2 <= s1 + 4, 'uptime went from %d to %d over 2 s' % (s1, s2))
    kind, r = await a.send_iq('set', query(NS_LAST), 'localhost')
    expect_error(kind, r, 'not-allowed', 'last set', 'cancel')
    kind, r = await a.send_iq('get', query(DISCO_INFO), 'localhost')
    check(NS_LAST in features(r), 'disco#info lacks %s' % NS_LAST)


@e2e_test('last_own_account', timeout=60)
async def t_own(env):
    await env.register('bob')
    env.step('never seen: item-not-found')
    q = await env.login('bob@localhost/quiet', presence=False)
    kind, r = await q.send_iq('get', query(NS_LAST), 'bob@localhost')
    expect_error(kind, r, 'item-not-found', 'last of an account never seen', 'cancel')
    env.step('bob goes online, then unavailable with a status, then disconnects')
    b = await env.login('bob@localhost/b')
    s, _ = last_reply(*await q.send_iq('get', query(NS_LAST), 'bob@localhost'), 'online account')
    check(s == 0, 'an account with an available resource: seconds=%d, expected 0' % s)
    b.x.send_presence(ptype='unavailable', pstatus='gone fishing')
    await q.ping('localhost')
    await b.close()
    await asyncio.sleep(2.1)
    env.step('bob asks about himself from the quiet session (to the bare JID and without to)')
    for to in ('bob@localhost', None):
        s, text = last_reply(*await q.send_iq('get', query(NS_LAST), to), 'own last (to=%r)' % to)
        check(2 <= s <= 10, 'seconds=%d, expected about 2' % s)
        check(text == 'gone fishing', 'status %r, expected the last unavailable status' % text)
    env.step('a disconnect without unavailable records the time, with no status')
    b2 = await env.login('bob@localhost/b2')
    b2.x.abort()
    await asyncio.sleep(0.5)

    async def fresh():
        s, text = last_reply(*await q.send_iq('get', query(NS_LAST), 'bob@localhost'),
                             'after abort')
        return (s, text) if s <= 1 else None
    got = await eventually(fresh, 5)
    check(got is not None and got[1] == '', 'after an abrupt disconnect: %r' % (got,))


@e2e_test('last_forbidden_and_unknown')
async def t_forbidden(env):
    await env.register('alice')
    await env.register('bob')
    a = await env.login('alice@localhost/a')
    b = await env.login('bob@localhost/b')
    await b.close()
    env.step('alice has no subscription to bob: forbidden (XEP-0012 §4)')
    kind, r = await a.send_iq('get', query(NS_LAST), 'bob@localhost')
    expect_error(kind, r, 'forbidden', 'last of a non-contact', 'auth')
    check(str(r['from']) == 'bob@localhost', 'error from %r' % str(r['from']))
    env.step('an account that does not exist: service-unavailable')
    kind, r = await a.send_iq('get', query(NS_LAST), 'nobody@localhost')
    expect_error(kind, r, 'service-unavailable', 'last of a nonexistent account', 'cancel')


@e2e_test('last_subscribed_contact', timeout=60)
async def t_subscribed(env):
    await env.register('alice')
    await env.register('bob')
    a = await env.login('alice@localhost/a')
    b = await env.login('bob@localhost/b')
    for c in (a, b):
        c.x.auto_authorize = None
        c.x.auto_subscribe = False
    env.step('alice subscribes to bob, bob approves; and back')
    a.x.send_presence(pto='bob@localhost', ptype='subscribe')
    await b.ping('localhost')
    b.x.send_presence(pto='alice@localhost', ptype='subscribed')
    b.x.send_presence(pto='alice@localhost', ptype='subscribe')
    await a.ping('localhost')
    a.x.send_presence(pto='bob@localhost', ptype='subscribed')
    await a.ping('localhost')
    await b.ping('localhost')
    env.step('bob leaves with a status')
    b.x.send_presence(ptype='unavailable', pstatus='bye')
    await b.ping('localhost')
    await b.close()

    async def probe():
        kind, r = await a.send_iq('get', query(NS_LAST), 'bob@localhost')
        return (kind, r) if kind == 'result' else None
    got = await eventually(probe, 5)
    check(got is not None, 'a subscribed contact is still refused: %s'
          % ((await a.send_iq('get', query(NS_LAST), 'bob@localhost'))[1]))
    s, text = last_reply(got[0], got[1], 'last of a contact')
    check(s <= 10 and text == 'bye', 'seconds=%d status=%r' % (s, text))
    env.step('a third user without subscription is still refused')
    await env.register('carol')
    c = await env.login('carol@localhost/c')
    kind, r = await c.send_iq('get', query(NS_LAST), 'bob@localhost')
    expect_error(kind, r, 'forbidden', 'last for a non-contact', 'auth')
