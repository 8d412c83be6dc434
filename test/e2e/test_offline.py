"""Offline messages (XEP-0160, XEP-0203 delay stamps, XEP-0334 hints): what is
stored for an account with no resource that takes it, delivered in order on the
first available presence with priority >= 0, never twice, kept across a server
restart, bounded by max_messages."""

import datetime
import time
import xml.etree.ElementTree as ET

from harness import (barrier, check, e2e_test, modules_with, own_server, raw_login,
                     restart_server)

NS_DELAY = 'urn:xmpp:delay'
NS_HINTS = 'urn:xmpp:hints'
NS_CHATSTATES = 'http://jabber.org/protocol/chatstates'
NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'
DISCO_INFO = 'http://jabber.org/protocol/disco#info'


def delay_of(m):
    return m.xml.find('{%s}delay' % NS_DELAY)


def parse_stamp(stamp):
    check(stamp and stamp.endswith('Z'), 'delay stamp %r is not UTC ISO 8601 with Z' % stamp)
    return datetime.datetime.strptime(stamp[:19], '%Y-%m-%dT%H:%M:%S').replace(
        tzinfo=datetime.timezone.utc).timestamp()


def check_delayed(m, after, before):
    d = delay_of(m)
    check(d is not None, 'offline message has no <delay xmlns=%s/>: %s' % (NS_DELAY, m))
    check(d.get('from') == 'localhost', 'delay from=%r, expected the server localhost'
          % d.get('from'))
    t = parse_stamp(d.get('stamp'))
    # The stamp has whole seconds (truncated): compare with whole seconds.
    check(int(after) - 1 <= t <= before + 1, 'delay stamp %s is not the arrival time (between %s '
          'and %s)' % (d.get('stamp'), after, before))


def send_xml(c, to, inner, mtype='chat', mid=None):
    """A message with arbitrary children (XML text in jabber:client)."""
    m = c.x.make_message(mto=to, mtype=mtype)
    if mid:
        m['id'] = mid
    wrapper = ET.fromstring('<w xmlns="jabber:client">%s</w>' % inner)
    for child in list(wrapper):
        m.xml.append(child)
    m.send()


@e2e_test('offline_stored_in_order_with_delay_then_gone')
async def t_order(env):
    await env.register('alice')
    await env.register('bob')
    a = await env.login('alice@localhost/a')
    t0 = time.time()
    env.step('alice sends 4 messages to bob (offline): chat, normal, no type, chat to a full JID')
    a.send_chat('bob@localhost', 'one', mid='o1')
    a.send_chat('bob@localhost', 'two', mtype='normal', mid='o2')
    send_xml(a, 'bob@localhost', '<body>three</body>', mtype=None, mid='o3')
    a.send_chat('bob@localhost/gone', 'four', mid='o4')
    await barrier(a)
    t1 = time.time()
    check(not a.errors, 'sender got an error for a stored message: %s' % a.errors[:1])
    env.step('bob logs in and gets them in order, each with a delay stamp')
    b = await env.login('bob@localhost/b')
    await b.wait_messages(4, 10)
    await barrier(b)
    bodies = [m['body'] for m in b.messages]
    check(bodies == ['one', 'two', 'three', 'four'], 'offline messages %r, expected one..four '
          'in order' % bodies)
    for m in b.messages:
        check_delayed(m, t0, t1)
        check(str(m['from']) == a.jid, 'from %r, expected %s' % (str(m['from']), a.jid))
    check([m['id'] for m in b.messages] == ['o1', 'o2', 'o3', 'o4'],
          'ids %r' % [m['id'] for m in b.messages])
    check(b.messages[0]['type'] == 'chat' and b.messages[1]['type'] == 'normal',
          'types changed: %r' % [m['type'] for m in b.messages])
    env.step('the next login gets nothing again')
    await b.close()
    b2 = await env.login('bob@localhost/b2')
    await barrier(a, b2)
    check(not b2.messages, 'stored messages delivered twice: %r' % [m['body'] for m in b2.messages])
    env.step('a message while bob is online has no delay')
    a.send_chat('bob@localhost', 'live')
    await b2.wait_messages(1, 5)
    check(delay_of(b2.messages[0]) is None, 'a live message got a delay element: %s'
          % b2.messages[0])


@e2e_test('offline_first_nonnegative_resource_gets_them')
async def t_priority(env):
    await env.register('alice')
    await env.register('bob')
    a = await env.login('alice@localhost/a')
    a.send_chat('bob@localhost', 'first')
    a.send_chat('bob@localhost', 'second')
    await barrier(a)
    env.step('bob/neg comes online with priority -1: keeps them stored')
    neg = await env.login('bob@localhost/neg', priority=-1)
    await barrier(a, neg)
    check(not neg.messages, 'negative-priority resource got offline messages: %r'
          % [m['body'] for m in neg.messages])
    env.step('a chat to bob while only a negative resource is online is stored too')
    a.send_chat('bob@localhost', 'third')
    await barrier(a, neg)
    check(not neg.messages and not a.errors, 'negative resource got %r, sender errors %r'
          % (neg.messages[:1], a.errors[:1]))
    env.step('bob/pos comes online with priority 3: gets all three')
    pos = await env.login('bob@localhost/pos', priority=3)
    await pos.wait_messages(3, 10)
    check([m['body'] for m in pos.messages] == ['first', 'second', 'third'],
          'got %r' % [m['body'] for m in pos.messages])
    env.step('a third resource with priority 1 gets none of them')
    other = await env.login('bob@localhost/other', priority=1)
    await barrier(a, neg, other)
    check(not other.messages and not neg.messages,
          'offline messages went to more than one resource: other %r neg %r'
          % ([m['body'] for m in other.messages], [m['body'] for m in neg.messages]))


@e2e_test('offline_priority_raised_later_delivers')
async def t_priority_change(env):
    await env.register('alice')
    await env.register('bob')
    a = await env.login('alice@localhost/a')
    b = await env.login('bob@localhost/b', priority=-5)
    a.send_chat('bob@localhost', 'waiting')
    await barrier(a, b)
    check(not b.messages, 'negative resource got %r' % b.messages[:1])
    env.step('bob raises his priority to 0 with a new presence')
    b.x.send_presence(ppriority=0)
    await b.wait_messages(1, 10)
    check(b.messages[0]['body'] == 'waiting' and delay_of(b.messages[0]) is not None,
          'got %s' % b.messages[0])


@e2e_test('offline_not_stored_kinds')
async def t_kinds(env):
    await env.register('alice')
    await env.register('bob')
    a = await env.login('alice@localhost/a')
    env.step('headline to offline bob: silently dropped (RFC 6121 8.5.2.2.1)')
    a.send_chat('bob@localhost', 'headline', mtype='headline', mid='h1')
    env.step('groupchat: service-unavailable')
    a.send_chat('bob@localhost', 'groupchat', mtype='groupchat', mid='g1')
    e = await a.wait_error_for('g1')
    check(e['error']['condition'] == 'service-unavailable', 'groupchat: %s' % e)
    env.step('<no-store/>: not stored, so the sender learns it was not delivered')
    send_xml(a, 'bob@localhost', '<body>secret</body><no-store xmlns="%s"/>' % NS_HINTS,
             mid='n1')
    e = await a.wait_error_for('n1')
    check(e['error']['condition'] == 'service-unavailable', 'no-store: %s' % e)
    env.step('a chat state alone is not stored')
    send_xml(a, 'bob@localhost', '<composing xmlns="%s"/>' % NS_CHATSTATES, mid='c1')
    e = await a.wait_error_for('c1')
    check(e['error']['condition'] == 'service-unavailable', 'chat state: %s' % e)
    env.step('a chat state with <store/> is stored; a body with a chat state is stored')
    send_xml(a, 'bob@localhost', '<gone xmlns="%s"/><store xmlns="%s"/>'
             % (NS_CHATSTATES, NS_HINTS), mid='s1')
    send_xml(a, 'bob@localhost', '<body>kept</body><active xmlns="%s"/>' % NS_CHATSTATES,
             mid='k1')
    send_xml(a, 'bob@localhost', '<x xmlns="jabber:x:oob"><url>http://example.org/</url></x>',
             mtype='normal', mid='x1')
    await barrier(a)
    ids = sorted(e['id'] for e in a.errors)
    check(ids == ['c1', 'g1', 'n1'], 'errors for %r, expected exactly c1 g1 n1' % ids)
    env.step('bob logs in: exactly the stored ones, in order')
    # A raw stream: slixmpp raises its message event only for messages with a body.
    rs = await raw_login(env, 'bob', 'pw-bob', 'raw')
    await rs.send('<presence/>')

    def msgs(r):
        return [e for e in r.elements if e.tag == '{jabber:client}message']
    check(await rs.wait(lambda r: len(msgs(r)) >= 3, 10), 'bob got %d stored message(s): %r'
          % (len(msgs(rs)), rs.text()[-600:]))
    await barrier(a)
    await rs.send("<iq type='get' id='bar1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    check(await rs.wait(lambda r: any(e.get('id') == 'bar1' for e in r.elements)), 'no ping reply')
    got = msgs(rs)
    check([m.get('id') for m in got] == ['s1', 'k1', 'x1'], 'delivered ids %r, expected s1 k1 x1'
          % [m.get('id') for m in got])
    check(got[0].find('{%s}gone' % NS_CHATSTATES) is not None,
          'stored chat state lost its payload: %s' % ET.tostring(got[0]))
    check(got[2].find('{jabber:x:oob}x/{jabber:x:oob}url') is not None,
          'stored payload lost: %s' % ET.tostring(got[2]))
    check(all(m.find('{%s}delay' % NS_DELAY) is not None for m in got), 'a message without delay')


@e2e_test('offline_nonexistent_user_bounced')
async def t_nobody(env):
    await env.register('alice')
    a = await env.login('alice@localhost/a')
    a.send_chat('nobody@localhost', 'hello?', mid='x1')
    e = await a.wait_error_for('x1')
    check(e['error']['condition'] == 'service-unavailable', 'condition %r'
          % e['error']['condition'])
    check(str(e['from']) == 'nobody@localhost', 'error from %r' % str(e['from']))


@e2e_test('offline_quota_full_answers_resource_constraint', timeout=90)
async def t_quota(_env):
    async with own_server('offline_quota',
                          modules=modules_with('offline', 'max_messages: 2')) as env:
        await env.register('alice')
        await env.register('bob')
        a = await env.login('alice@localhost/a')
        for i in range(1, 4):
            a.send_chat('bob@localhost', 'q%d' % i, mid='q%d' % i)
        await barrier(a)
        env.step('the third message is refused with resource-constraint')
        check([e['id'] for e in a.errors] == ['q3'], 'errors for %r, expected only q3'
              % [e['id'] for e in a.errors])
        e = a.errors[0]
        # ejabberd's answer for a full offline queue: resource-constraint, type wait
        # (temporary, the recipient exists), not service-unavailable.
        check(e['error']['condition'] == 'resource-constraint', 'condition %r, expected '
              'resource-constraint: %s' % (e['error']['condition'], e))
        check(e['error']['type'] == 'wait', 'error type %r, expected wait' % e['error']['type'])
        check(str(e['from']) == 'bob@localhost' and str(e['to']) == a.jid,
              'error from %s to %s' % (e['from'], e['to']))
        check(e.xml.find('{jabber:client}body') is not None and e['body'] == 'q3',
              'the error does not carry the original message: %s' % e)
        env.step('bob gets the first two; then the queue has room again')
        b = await env.login('bob@localhost/b')
        await b.wait_messages(2, 10)
        await barrier(a, b)
        check([m['body'] for m in b.messages] == ['q1', 'q2'], 'got %r'
              % [m['body'] for m in b.messages])
        await b.close()
        a.send_chat('bob@localhost', 'q4', mid='q4')
        await barrier(a)
        check(len(a.errors) == 1, 'message after delivery refused: %s' % a.errors[-1])


@e2e_test('offline_quota_bytes', timeout=90)
async def t_quota_bytes(_env):
    async with own_server('offline_quota_bytes',
                          modules=modules_with('offline', 'max_bytes: 65536')) as env:
        await env.register('alice')
        await env.register('bob')
        a = await env.login('alice@localhost/a')
        big = 'x' * 30000
        for i in range(1, 4):
            a.send_chat('bob@localhost', '%d%s' % (i, big), mid='b%d' % i)
        await barrier(a)
        env.step('two 30 kB messages fit in 64 kB, the third does not')
        check([e['id'] for e in a.errors] == ['b3'], 'errors for %r, expected only b3'
              % [e['id'] for e in a.errors])
        check(a.errors[0]['error']['condition'] == 'resource-constraint',
              'condition %r' % a.errors[0]['error']['condition'])
        env.step('a small one still fits')
        a.send_chat('bob@localhost', 'small', mid='s')
        await barrier(a)
        check(len(a.errors) == 1, 'small message refused: %s' % a.errors[-1:])
        b = await env.login('bob@localhost/b')
        await b.wait_messages(3, 10)
        check([m['body'][:1] for m in b.messages] == ['1', '2', 's'], 'got %r'
              % [m['body'][:8] for m in b.messages])


@e2e_test('offline_survives_restart', timeout=120, stops_server=True)
async def t_restart(env):
    srv = env.srv
    await env.register('alice')
    await env.register('bob')
    a = await env.login('alice@localhost/a')
    for i in range(1, 4):
        a.send_chat('bob@localhost', 'r%d' % i)
    await barrier(a)
    check(not a.errors, 'errors: %s' % a.errors[:1])
    env.step('stop and start the server')
    await a.close()
    await restart_server(srv)
    env.step('two more after the restart, then bob logs in')
    a2 = await env.login('alice@localhost/a2')
    a2.send_chat('bob@localhost', 'r4')
    a2.send_chat('bob@localhost', 'r5')
    await barrier(a2)
    b = await env.login('bob@localhost/b')
    await b.wait_messages(5, 10)
    await barrier(b)
    check([m['body'] for m in b.messages] == ['r1', 'r2', 'r3', 'r4', 'r5'],
          'after a restart bob got %r' % [m['body'] for m in b.messages])
    check(all(delay_of(m) is not None for m in b.messages), 'a message without delay')


@e2e_test('offline_user_removed_drops_queue', timeout=60)
async def t_removed(env):
    await env.register('alice')
    await env.register('bob')
    a = await env.login('alice@localhost/a')
    a.send_chat('bob@localhost', 'for the old bob')
    await barrier(a)
    env.step('unregister bob and register him again')
    rc, out, err = await env.srv.ctl('unregister', 'bob', 'localhost')
    check(rc == 0, 'xmppctl unregister: %s %s' % (out, err))
    await env.register('bob')
    b = await env.login('bob@localhost/b')
    await barrier(a, b)
    check(not b.messages, 'a new account with the old name got %r'
          % [m['body'] for m in b.messages])


@e2e_test('offline_long_jid')
async def t_long(env):
    # A 509-byte bare JID (with '/r' the longest full JID the session table binds:
    # LMDB keys are at most 511 bytes); plus a sequence number it would not fit a key.
    user = 'l' * 499
    await env.register('alice')
    await env.register(user)
    a = await env.login('alice@localhost/a')
    a.send_chat('%s@localhost' % user, 'long one', mid='L1')
    await barrier(a)
    check(not a.errors, 'message to the longest JID refused: %s' % a.errors[:1])
    rs = await raw_login(env, user, 'pw-' + user, 'r')
    await rs.send('<presence/>')
    ok = await rs.wait(lambda r: any(e.tag == '{jabber:client}message' for e in r.elements), 10)
    check(ok, 'the longest JID got no stored message: %r' % rs.text()[-300:])
    m = [e for e in rs.elements if e.tag == '{jabber:client}message'][0]
    check(m.get('id') == 'L1' and m.findtext('{jabber:client}body') == 'long one',
          'got %s' % ET.tostring(m))


@e2e_test('offline_disco_feature')
async def t_disco(env):
    await env.register('alice')
    a = await env.login('alice@localhost/a')
    kind, r = await a.iq_get('localhost', DISCO_INFO)
    check(kind == 'result', 'disco#info: %s' % r)
    feats = {f.get('var') for f in r.xml.iter('{%s}feature' % DISCO_INFO)}
    check('msgoffline' in feats, 'disco#info lacks msgoffline: %s' % sorted(feats))
