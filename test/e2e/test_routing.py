"""More routing rules of RFC 6120/6121 (beyond the basic error cases)."""

import xml.etree.ElementTree as ET

from slixmpp.exceptions import IqError, IqTimeout

from harness import (e2e_test, check, eventually, raw_login, sasl_plain, local, NS_STREAM,
                     NS_SASL)


def cond(st):
    return st['error']['condition']


@e2e_test('route_from_is_stamped_by_server')
async def t_stamp(env):
    """RFC 6120 8.1.2.1: the server stamps 'from' with the sender's full JID; a client
    cannot pretend to be someone else."""
    for u in ('alice', 'bob', 'mallory'):
        await env.register(u)
    b = await env.login('bob@localhost/b')
    rs = await raw_login(env, 'mallory', 'pw-mallory', 'm')
    await rs.send("<presence/>")
    await rs.send("<message from='alice@localhost/a' to='bob@localhost/b' type='chat' id='s1'>"
                  "<body>I am alice</body></message>")
    await rs.send("<message to='bob@localhost/b' type='chat' id='s2'><body>plain</body></message>")
    await b.wait_messages(2, 5)
    for m in b.messages:
        check(str(m['from']) == 'mallory@localhost/m', 'message %s reached bob with from=%r, '
              'expected mallory@localhost/m' % (m['id'], str(m['from'])))
    await rs.close()


@e2e_test('route_jid_normalization')
async def t_norm(env):
    """JIDs are compared after nodeprep/nameprep: BOB@LocalHost is bob@localhost."""
    await env.register('alice')
    await env.register('bob')
    a = await env.login('Alice@LOCALHOST/MyRes')
    check(a.jid == 'alice@localhost/MyRes', 'bound JID %s, expected alice@localhost/MyRes '
          '(node and domain case-folded, resource kept)' % a.jid)
    b = await env.login('bob@localhost/b')
    b.send_chat('ALICE@LocalHost', 'bare, mixed case')
    b.send_chat('alice@LOCALHOST/MyRes', 'full, mixed case')
    await a.wait_messages(2, 5)
    check([m['body'] for m in a.messages] == ['bare, mixed case', 'full, mixed case'],
          'got %r' % [m['body'] for m in a.messages])
    check(not b.errors, 'errors: %s' % b.errors[:1])


# Without offline storage (test_offline.py and test_delivery.py cover the routing with it):
# what the core does when no resource takes a message.
@e2e_test('route_unavailable_and_negative_priority', server={'modules': '{ping: {}, disco: {}}'})
async def t_avail(env):
    await env.register('alice')
    await env.register('bob')
    b = await env.login('bob@localhost/b')
    a = await env.login('alice@localhost/a', presence=False)
    env.step('connected but never available: bare JID chat bounces (RFC 6121 8.5.2.2)')
    s = await env.srv.session_of(a.jid)
    check(s and s['presence'] == 'unavailable', 'session before presence: %r' % s)
    b.send_chat('alice@localhost', 'not yet', mid='u1')
    e = await b.wait_error(5, 'error for chat to a bare JID with no available resource')
    check(cond(e) == 'service-unavailable', 'condition %r' % cond(e))
    check(not a.messages, 'unavailable resource got a bare-JID message')
    env.step('full JID of a connected resource gets the message (RFC 6121 8.5.3.1)')
    b.send_chat(a.jid, 'direct')
    await a.wait_messages(1, 5)

    env.step('negative priority: not a target for bare-JID messages (RFC 6121 8.5.2.1.1)')
    a.x.send_presence(ppriority=-1)
    await a.wait_until(lambda: sum(1 for p in a.presences if p['from'] == a.x.boundjid) >= 1,
                       5, 'own presence echo')

    async def neg():
        s = await env.srv.session_of(a.jid)
        return s if s and s['priority'] == -1 and s['presence'] == 'available' else None
    check(await eventually(neg, 5), 'sessions after priority -1: %r' % await env.srv.sessions())
    b.send_chat('alice@localhost', 'to negative', mid='u2')
    e = await b.wait_error(5, 'error for chat to a bare JID whose only resource has priority -1')
    check(cond(e) == 'service-unavailable', 'condition %r' % cond(e))
    check(len(a.messages) == 1, 'priority -1 resource received a bare-JID message: %s'
          % a.messages[-1]['body'])

    env.step('back to priority 5, then unavailable')
    n = len(a.presences)
    a.x.send_presence(ppriority=5)
    await a.wait_until(lambda: len(a.presences) > n, 5, 'own presence echo')
    b.send_chat('alice@localhost', 'to positive')
    await a.wait_messages(2, 5)
    a.x.send_presence(ptype='unavailable')

    async def unav():
        s = await env.srv.session_of(a.jid)
        return s if s and s['presence'] == 'unavailable' else None
    check(await eventually(unav, 5), 'sessions after unavailable: %r' % await env.srv.sessions())
    b.send_chat('alice@localhost', 'gone', mid='u3')
    e = await b.wait_error(5, 'error for chat after unavailable presence')
    check(cond(e) == 'service-unavailable', 'condition %r' % cond(e))


async def online_with_priority(c, prio):
    n = len([p for p in c.presences if p['from'] == c.x.boundjid])
    c.x.send_presence(ppriority=prio)
    await c.wait_until(lambda: len([p for p in c.presences if p['from'] == c.x.boundjid]) > n,
                       5, '%s: own presence (priority %d) not reflected' % (c.jid, prio))


@e2e_test('route_highest_priority_resource_wins')
async def t_prio(env):
    """RFC 6121 8.5.2.1.1: a chat to the bare JID goes to the highest-priority resource."""
    await env.register('alice')
    await env.register('bob')
    b = await env.login('bob@localhost/b')
    lo = await env.login('alice@localhost/low', presence=False)
    hi = await env.login('alice@localhost/high', presence=False)
    await online_with_priority(lo, 1)
    await online_with_priority(hi, 10)
    for i in range(5):
        b.send_chat('alice@localhost', 'p%d' % i)
    await hi.wait_messages(5, 5)
    await b.ping(lo.jid)  # flush: anything for 'low' would have arrived by now
    check(not lo.messages, 'lower-priority resource got %d bare-JID message(s)' % len(lo.messages))

    env.step('the available resource sees the new resource\'s presence (RFC 6121 4.2.2)')
    await lo.wait_until(lambda: any(p['from'] == hi.x.boundjid for p in lo.presences), 5,
                        'alice/low waiting for the initial presence of alice/high')
    env.step('closing high: low gets its unavailable presence')
    await hi.close()
    await lo.wait_until(lambda: any(p['from'] == hi.x.boundjid and p['type'] == 'unavailable'
                                    for p in lo.presences), 5,
                        'unavailable presence of a closed resource')
    env.step('bare JID chat now goes to low')
    b.send_chat('alice@localhost', 'to low')
    await lo.wait_messages(1, 5)


@e2e_test('presence_new_resource_learns_other_resources')
async def t_self_probe(env):
    """RFC 6121 4.2.2: an entity is implicitly subscribed to its own presence, so a resource
    that becomes available learns the presence of the account's other available resources
    (as Prosody and ejabberd do)."""
    await env.register('alice')
    first = await env.login('alice@localhost/first')
    second = await env.login('alice@localhost/second')
    await second.wait_until(lambda: any(p['from'] == first.x.boundjid for p in second.presences),
                            3, 'alice/second never received the presence of the already '
                            'available alice/first')


@e2e_test('route_remote_domain_and_server_jid')
async def t_remote(env):
    await env.register('alice')
    a = await env.login('alice@localhost/a')
    env.step('message to a remote domain (no s2s yet)')
    a.send_chat('someone@remote.example', 'hi', mid='r1')
    e = await a.wait_error(5, 'error for a message to a remote domain')
    check(cond(e) == 'remote-server-not-found', 'condition %r, expected remote-server-not-found'
          % cond(e))
    check(e['id'] == 'r1', 'id %r' % e['id'])
    env.step('iq to a remote domain')
    kind, r = await a.iq_get('remote.example', 'urn:xmpp:ping')
    check(kind == 'error' and cond(r) == 'remote-server-not-found', 'iq: %s %s' % (kind, r))
    env.step('iq ping to the own bare JID is answered by the server (RFC 6121 8.5.1)')
    r = await a.ping('alice@localhost')
    check(r['type'] == 'result', 'ping own bare JID: %s' % r)


@e2e_test('route_iq_validation')
async def t_iq_validation(env):
    """RFC 6120 8.2.3: an IQ get/set has exactly one payload child."""
    await env.register('alice')
    a = await env.login('alice@localhost/a')
    for children in (2, 0):
        env.step('iq get with %d children' % children)
        iq = a.x.make_iq_get(ito='localhost')
        for i in range(children):
            iq.xml.append(ET.Element('{urn:xmpp:ping}ping' if i == 0 else '{urn:x:y}z'))
        try:
            r = await iq.send(timeout=5)
            raise AssertionError('iq get with %d payloads got a result: %s' % (children, r))
        except IqTimeout:
            raise AssertionError('iq get with %d payloads: no answer in 5s' % children)
        except IqError as e:
            check(cond(e.iq) == 'bad-request', 'iq get with %d payloads: %r, expected '
                  'bad-request' % (children, cond(e.iq)))
    await a.ping()


async def two_clients(env):
    await env.register('alice')
    await env.register('bob')
    a = await env.login('alice@localhost/a')
    b = await env.login('bob@localhost/b')
    return a, b


@e2e_test('route_payload_fidelity')
async def t_fidelity(env):
    """What a client sends arrives unchanged: escaped text, non-ASCII text, extension
    elements with their namespaces and attributes."""
    a, b = await two_clients(env)
    tricky = 'a < b && c > d "quoted" \'single\' \u00e9\u00e8 \u4e2d\u6587 \U0001F600 ]]> tab\tend'
    m = a.x.make_message(mto=b.jid, mbody=tricky, mtype='chat')
    m['id'] = 'id with \' and " and <>'
    ext = ET.SubElement(m.xml, '{urn:example:ext}data', {'k': 'v<>"\'', 'n': '1'})
    ET.SubElement(ext, '{urn:example:ext}item').text = 'inner <text> & more'
    ET.SubElement(m.xml, '{http://jabber.org/protocol/chatstates}active')
    m.send()
    await b.wait_messages(1, 5)
    got = b.messages[0]
    check(got['body'] == tricky, 'body changed: %r != %r' % (got['body'], tricky))
    check(got['id'] == 'id with \' and " and <>', 'id changed: %r' % got['id'])
    d = got.xml.find('{urn:example:ext}data')
    check(d is not None, 'extension element lost: %s' % got)
    check(d.get('k') == 'v<>"\'' and d.get('n') == '1', 'extension attributes changed: %r'
          % d.attrib)
    it = d.find('{urn:example:ext}item')
    check(it is not None and it.text == 'inner <text> & more', 'nested element changed: %s'
          % ET.tostring(d))
    check(got.xml.find('{http://jabber.org/protocol/chatstates}active') is not None,
          'chat state element lost: %s' % got)


@e2e_test('route_attribute_with_ampersand')
async def t_amp_attr(env):
    """An attribute value containing '&' (sent as &amp;) arrives as '&', in a routed
    message and in the id of the server's IQ answer."""
    a, b = await two_clients(env)
    m = a.x.make_message(mto=b.jid, mbody='amp', mtype='chat')
    m['id'] = 'x&y'
    ET.SubElement(m.xml, '{urn:example:ext}data', {'url': 'http://h/?a=1&b=2'})
    m.send()
    await b.wait_messages(1, 5)
    got = b.messages[0]
    d = got.xml.find('{urn:example:ext}data')
    problems = []
    if not (got['id'] == 'x&y' and d is not None and d.get('url') == 'http://h/?a=1&b=2'):
        problems.append('message sent with id="x&amp;y" url="http://h/?a=1&amp;b=2" arrived '
                        'with id=%r url=%r' % (got['id'], d.get('url') if d is not None else None))
    env.step('iq id with & to the server')
    rs = await raw_login(env, 'alice', 'pw-alice', 'raw')
    await rs.send("<iq type='get' id='p&amp;1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    check(await rs.wait(lambda s: any(local(e.tag) == 'iq' and e.get('id') != 'bind1'
                                      for e in s.elements)), 'no ping answer: %r' % rs.text())
    r = [e for e in rs.elements if local(e.tag) == 'iq' and e.get('id') != 'bind1'][0]
    if r.get('id') != 'p&1':
        problems.append('ping sent with id="p&amp;1" answered with id=%r' % r.get('id'))
    check(not problems, '; '.join(problems))


@e2e_test('route_stream_prefix_redeclared')
async def t_prefix(env):
    """A prefix declared on the sender's stream header is redeclared when the server
    takes the stanza out of that stream (the receiver's stream never declared it)."""
    a, b = await two_clients(env)
    rs = await env.raw()
    hdr = ("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
           "xmlns:foo='urn:example:foo' to='localhost' version='1.0'>")
    await rs.send("<?xml version='1.0'?>" + hdr)
    check(await rs.wait(lambda s: s.find(NS_STREAM, 'features') is not None), 'no features')
    await rs.send(sasl_plain('alice', 'pw-alice'))
    check(await rs.wait(lambda s: s.find(NS_SASL, 'success') is not None), 'no success')
    rs.reset_parser()
    await rs.send(hdr)
    check(await rs.wait(lambda s: s.find(NS_STREAM, 'features') is not None), 'no features 2')
    await rs.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                  "<resource>pfx</resource></bind></iq>")
    check(await rs.wait(lambda s: any(e.get('id') == 'b1' for e in s.elements)), 'no bind')
    await rs.send("<message to='%s' type='chat' id='pfx1'><body>prefixed</body>"
                  "<foo:thing foo:attr='x'>t</foo:thing></message>" % b.jid)
    await b.wait_messages(1, 5, 'message with a stream-level prefix (bob has %d; gone: %s)'
                          % (len(b.messages), b.gone.done()))
    got = b.messages[0]
    th = got.xml.find('{urn:example:foo}thing')
    check(th is not None and th.get('{urn:example:foo}attr') == 'x' and th.text == 't',
          'prefixed element arrived as %s' % got)
    check(not b.gone.done(), 'bob was disconnected')
