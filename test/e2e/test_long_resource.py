"""Resources of the longest length RFC 7622 allows (1023 bytes, ASCII or multi-byte UTF-8):
they bind (longer than an LMDB key, so the session table derives a key for them), are
routed to, take part in presence, are listed by xmppctl and xmppd-shm-dump exactly,
conflict like any other, and go away cleanly.  1024 bytes is refused with bad-request
(RFC 6120 7.7.2.1)."""

import json
import os
import signal

from harness import (NS_CLIENT, NS_SASL, NS_STANZAS, NS_STREAM, check, e2e_test, eventually,
                     raw_login, run_tool, sasl_plain, stanza_error)
from test_roster import PRESENCE, Raw, make_mutual, show

NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind'
MESSAGE = '{%s}message' % NS_CLIENT

# 1023 bytes each: ASCII, and 2-, 3- and 4-byte UTF-8 characters (e-acute, euro, an emoji
# newer than Unicode 3.2, which resourceprep lets through) after 6 ASCII bytes.
RES_ASCII = ''.join('abcdefghijklmnopqrstuvwxyz0123456789'[i % 36] for i in range(1023))
RES_UTF8 = 'utf8-x' + '\u00e9\u20ac\U0001F600' * 113
assert len(RES_ASCII.encode()) == 1023 and len(RES_UTF8.encode()) == 1023
TOO_LONG = (RES_ASCII + 'z', 'x' + RES_UTF8, 'y' * 5000)


def full_of(user, res):
    return '%s@localhost/%s' % (user, res)


async def bind_on(rs, iid, res):
    """Sends a bind request on an authenticated raw stream; the answer element."""
    await rs.send("<iq type='set' id='%s'><bind xmlns='%s'><resource>%s</resource></bind></iq>"
                  % (iid, NS_BIND, res))
    return await rs.wait_id(iid, 'bind of a %d-byte resource' % len(res.encode()))


async def authed_stream(env, user):
    """A raw stream after SASL and the stream restart, not yet bound."""
    rs = await env.raw()
    await rs.open_stream()
    await rs.send(sasl_plain(user, env.password(user)))
    check(await rs.wait(lambda s: s.find(NS_SASL, 'success') is not None),
          'PLAIN login of %s: %r' % (user, rs.text()[-300:]))
    rs.reset_parser()
    await rs.open_stream()
    return rs


def bound_jid(answer):
    el = answer.find('{%s}bind/{%s}jid' % (NS_BIND, NS_BIND))
    return el.text if el is not None else None


async def dump_lines(env):
    rc, out, err = await run_tool('xmppd-shm-dump', '-c', env.srv.cfg)
    check(rc == 0, 'xmppd-shm-dump failed (%s): %s' % (rc, err.strip()))
    return out.splitlines()


def dump_lists(lines, jid):
    """Whether a session line of xmppd-shm-dump names exactly this JID."""
    return any(line.startswith('  %s ' % jid) for line in lines)


async def listed_everywhere(env, jid, conn=None):
    """xmppctl sessions (text and --json) and xmppd-shm-dump list jid exactly once."""
    rows = [s for s in await env.srv.sessions() if s['jid'] == jid]
    check(len(rows) == 1, 'xmppctl sessions lists %s %d times: %r'
          % (jid[:40] + '...', len(rows), [s['jid'][:60] for s in await env.srv.sessions()]))
    check(conn is None or rows[0]['conn'] == conn, 'listed for connection %s, not %s'
          % (rows[0]['conn'], conn))
    rc, out, err = await env.srv.ctl('--json', 'sessions')
    check(rc == 0, 'xmppctl --json sessions: %s' % err.strip())
    jids = [s['jid'] for s in json.loads(out)]
    check(jids.count(jid) == 1, 'xmppctl --json sessions: %r' % [j[:60] for j in jids])
    lines = await dump_lines(env)
    check(dump_lists(lines, jid), 'xmppd-shm-dump does not list %s...: %r'
          % (jid[:40], [l[:80] for l in lines if l.startswith('  ') and '@' in l]))
    return rows[0]


async def gone_everywhere(env, jid):
    async def gone():
        return await env.srv.session_of(jid) is None
    check(await eventually(gone, 5), 'xmppctl sessions still lists %s... after it ended'
          % jid[:40])
    check(not dump_lists(await dump_lines(env), jid), 'xmppd-shm-dump still lists %s...'
          % jid[:40])


@e2e_test('long_resource_bind_1023_and_refuse_1024')
async def t_bind(env):
    await env.register('alice')
    for res in (RES_ASCII, RES_UTF8):
        env.step('bind a 1023-byte resource (%s)' % ('ASCII' if res == RES_ASCII else 'UTF-8'))
        rs = await authed_stream(env, 'alice')
        ans = await bind_on(rs, 'b1', res)
        check(ans.get('type') == 'result', 'bind of 1023 bytes: %s' % show(ans))
        check(bound_jid(ans) == full_of('alice', res), 'bound JID %r' % (bound_jid(ans) or '')[:80])
        await listed_everywhere(env, full_of('alice', res))
        await rs.send("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        ping = await rs.wait_id('p1', 'ping from the long session')
        check(ping.get('type') == 'result' and ping.get('to') == full_of('alice', res),
              'ping answer %s' % show(ping)[:200])

    for res in TOO_LONG:
        env.step('a %d-byte resource is refused with bad-request' % len(res.encode()))
        rs = await authed_stream(env, 'alice')
        ans = await bind_on(rs, 'b2', res)
        cond, etype, _ = stanza_error(ans)
        check(ans.get('type') == 'error' and cond == 'bad-request' and etype == 'modify',
              'bind of %d bytes: %s' % (len(res.encode()), show(ans)[:300]))
        check(rs.find(NS_STREAM, 'error') is None, 'the stream was ended: %r' % rs.text()[-200:])
        env.step('the same stream can bind another resource after the refusal')
        ans = await bind_on(rs, 'b3', 'after-refusal')
        check(ans.get('type') == 'result' and bound_jid(ans) == 'alice@localhost/after-refusal',
              'bind after a refused one: %s' % show(ans)[:300])

    env.step('the refused resources made no session')
    want = sorted(full_of('alice', r) for r in (RES_ASCII, RES_UTF8, 'after-refusal'))

    async def settled():
        return sorted(x['jid'] for x in await env.srv.sessions()) == want
    check(await eventually(settled, 5), 'sessions: %r'
          % [x['jid'][:60] for x in await env.srv.sessions()])


@e2e_test('long_resource_routing_and_presence')
async def t_routing(env):
    for u in ('alice', 'bob'):
        await env.register(u)
    await make_mutual(env, 'alice', 'bob')
    b = await Raw.login(env, 'bob', 'b', presence='')

    env.step('alice binds 1023 bytes of resource and becomes available')
    a = await Raw.login(env, 'alice', RES_UTF8, presence='<status>long</status>')
    check(a.full == full_of('alice', RES_UTF8), 'test setup')
    p = await b.presence_from(a.full, None, "alice's long resource's presence broadcast to bob")
    check(p.findtext('{jabber:client}status') == 'long', 'status lost: %s' % show(p)[:200])
    p = await a.presence_from(b.full, None, "bob's presence answering alice's probe")
    check(p.get('to') == a.full, 'probe answer to %r' % (p.get('to') or '')[:80])
    await listed_everywhere(env, a.full)

    env.step("a contact's new session gets the long resource's stored presence (probe)")
    b2 = await Raw.login(env, 'bob', 'b2', presence='')
    await b2.presence_from(a.full, None, "alice's stored presence for bob's new session")
    env.step("alice's other resource gets the long resource's stored presence")
    a2 = await Raw.login(env, 'alice', 'short', presence='')
    await a2.presence_from(a.full, None, "alice's long resource seen by her other resource")
    await a.presence_from(a2.full, None, "alice's other resource seen by the long one")

    env.step('a message to the full JID, and one to the bare JID, arrive')
    await b.send("<message to='%s' type='chat' id='m1'><body>to the full JID</body></message>"
                 % a.full)
    m = await a.expect(lambda e: e.tag == MESSAGE and e.get('id') == 'm1', 'message to full JID')
    check(m.get('to') == a.full and m.get('from') == b.full, 'message %s' % show(m)[:200])
    await a2.expect_none(lambda e: e.tag == MESSAGE and e.get('id') == 'm1',
                         'a message to the long full JID reached another resource')
    await a2.send("<presence><priority>-1</priority></presence>")
    await b.send("<message to='alice@localhost' type='chat' id='m2'><body>bare</body></message>")
    await a.expect(lambda e: e.tag == MESSAGE and e.get('id') == 'm2', 'message to the bare JID')
    env.step('an IQ to the long full JID reaches it; its answer reaches bob')
    await b.send("<iq type='get' id='v1' to='%s'><query xmlns='jabber:iq:version'/></iq>" % a.full)
    q = await a.expect(lambda e: e.tag == '{%s}iq' % NS_CLIENT and e.get('id') == 'v1',
                       'iq to the long full JID')
    check(q.get('from') == b.full, 'iq from %r' % q.get('from'))
    await a.send("<iq type='error' id='v1' to='%s'><query xmlns='jabber:iq:version'/>"
                 "<error type='cancel'><service-unavailable xmlns='%s'/></error></iq>"
                 % (b.full, NS_STANZAS))
    r = await b.expect(lambda e: e.tag == '{%s}iq' % NS_CLIENT and e.get('id') == 'v1',
                       "the long session's answer")
    check(r.get('from') == a.full, 'answer from %r' % (r.get('from') or '')[:80])

    env.step('a presence change of the long resource is broadcast')
    await a.send('<presence><show>away</show></presence>')
    await b.expect(lambda e: e.tag == PRESENCE and e.get('from') == a.full and
                   e.findtext('{jabber:client}show') == 'away', "the long resource's change")

    env.step('disconnect: contacts see it unavailable, it is no longer listed')
    await a.close()
    await b.presence_from(a.full, 'unavailable', 'unavailable of the long resource')
    await a2.presence_from(a.full, 'unavailable', 'unavailable to alice\'s other resource')
    await gone_everywhere(env, a.full)
    await b.send("<message to='%s' type='normal' id='m3'><body>gone</body></message>" % a.full)
    err = await b.expect(lambda e: e.tag == MESSAGE and e.get('id') == 'm3', 'bounce')
    check(stanza_error(err)[0] == 'service-unavailable', 'to a gone resource: %s' % show(err))


@e2e_test('long_resource_conflict_replaces_old_session')
async def t_conflict(env):
    await env.register('alice')
    await env.register('bob')
    b = await Raw.login(env, 'bob', 'b', presence='')
    jid = full_of('alice', RES_ASCII)
    old = await raw_login(env, 'alice', env.password('alice'), RES_ASCII)
    s_old = await listed_everywhere(env, jid)

    env.step('a second login with the same 1023-byte resource')
    new = await Raw.login(env, 'alice', RES_ASCII, roster=False)
    await old.wait(lambda s: s.find(NS_STREAM, 'error') is not None, 5)
    cond, _ = old.stream_error()
    check(cond == 'conflict', 'old session: stream error %r, expected conflict; got %r'
          % (cond, old.text()[-200:]))
    check(await old.wait_eof(5), 'old session not closed after the conflict')

    async def only_new():
        rows = [s for s in await env.srv.sessions() if s['jid'] == jid]
        return rows if len(rows) == 1 and rows[0]['conn'] != s_old['conn'] else None
    rows = await eventually(only_new, 5)
    check(rows, 'sessions after the conflict: %r' % [s['jid'][:60] for s in await env.srv.sessions()])
    await listed_everywhere(env, jid, rows[0]['conn'])

    env.step('the new session gets messages')
    await b.send("<message to='%s' type='chat' id='c1'><body>new</body></message>" % jid)
    await new.expect(lambda e: e.tag == MESSAGE and e.get('id') == 'c1', 'message to new session')

    env.step('disconnect removes it')
    await new.close()
    await gone_everywhere(env, jid)
    check(await env.srv.sessions() == [await env.srv.session_of('bob@localhost/b')],
          'sessions left: %r' % [s['jid'][:60] for s in await env.srv.sessions()])


@e2e_test('long_resource_carbons_directed_kick_worker_death', timeout=90,
          expect_child_death=True)
async def t_state(env):
    """Per-session state kept for a long resource: its carbons flag (stored in its session
    record), the directed presence it sent (told unavailable when an administrator ends
    it), and a worker that dies with it."""
    for u in ('alice', 'bob', 'dave'):
        await env.register(u)
    b = await Raw.login(env, 'bob', 'b', presence='')
    d = await Raw.login(env, 'dave', 'd', presence='')
    a = await Raw.login(env, 'alice', RES_ASCII, presence='')
    a2 = await Raw.login(env, 'alice', 'short', presence='')

    env.step('the long resource enables carbons and gets a copy of a message to another one')
    r = await a.iq('set', "<enable xmlns='urn:xmpp:carbons:2'/>")
    check(r.get('type') == 'result', 'carbons enable: %s' % show(r)[:200])
    await b.send("<message to='%s' type='chat' id='k1'><body>to short</body></message>" % a2.full)
    await a2.expect(lambda e: e.tag == MESSAGE and e.get('id') == 'k1', 'the original')
    c = await a.expect(lambda e: e.tag == MESSAGE and
                       e.find('{urn:xmpp:carbons:2}received') is not None, 'received carbon')
    check(c.get('to') == a.full, 'carbon to %r' % (c.get('to') or '')[:80])

    env.step('directed presence from the long resource, then an administrator ends it')
    await a.send("<presence to='dave@localhost'><status>psst</status></presence>")
    await d.presence_from(a.full, None, 'directed presence from the long resource')
    rc, out, err = await env.srv.ctl('kick', a.full)
    check(rc == 0, 'xmppctl kick of the long full JID: %s %s' % (rc, err.strip()))
    await a.rs.wait(lambda s: s.find(NS_STREAM, 'error') is not None, 5)
    check(a.rs.stream_error()[0] == 'policy-violation', 'kicked session: %r'
          % a.rs.text()[-200:])
    await d.presence_from(a.full, 'unavailable', 'unavailable after the directed presence')
    await a2.presence_from(a.full, 'unavailable', "the kicked resource, to alice's other one")
    await gone_everywhere(env, a.full)

    env.step("the worker holding a long resource dies: its session is removed")
    a3 = await Raw.login(env, 'alice', RES_UTF8, roster=False, presence='')
    s = await listed_everywhere(env, a3.full)
    pid, _gen = env.srv.worker_pid(s['worker'])
    os.kill(pid, signal.SIGKILL)
    await gone_everywhere(env, a3.full)
