"""Message Carbons (XEP-0280, modules/carbons.c)."""

import xml.etree.ElementTree as ET

from slixmpp.exceptions import IqError, IqTimeout

from harness import TestFailure, barrier, check, e2e_test

NS_CARBONS = 'urn:xmpp:carbons:2'
PLUGINS = ['xep_0280']


def watch_carbons(c):
    """c.carbons: ('received'|'sent', outer message, forwarded message) in arrival order."""
    c.carbons = []

    def on(kind):
        def handler(msg):
            inner = msg['carbon_%s' % kind]
            c.carbons.append((kind, msg, inner))
            c.changed.set()
        return handler
    c.x.add_event_handler('carbon_received', on('received'))
    c.x.add_event_handler('carbon_sent', on('sent'))


async def login(env, jid, enable):
    c = await env.login(jid, plugins=PLUGINS)
    watch_carbons(c)
    if enable:
        try:
            await c.x['xep_0280'].enable(timeout=5)
        except (IqError, IqTimeout) as e:
            raise TestFailure('%s: enabling carbons failed: %s' % (jid, e))
    return c


def send(c, to, body, mtype='chat', extra=()):
    m = c.x.make_message(mto=to, mbody=body, mtype=mtype)
    if body is None:
        del m['body']
    for x in extra:
        m.append(ET.fromstring(x))
    m.send()


def carbons_of(c):
    """(kind, body) of each carbon c got."""
    return [(k, inner['body']) for k, _outer, inner in c.carbons]


def bodies(c, kind=None):
    return [inner['body'] for k, _outer, inner in c.carbons if kind is None or k == kind]


async def wait_carbon(c, kind, body, what):
    await c.wait_until(lambda: any(k == kind and inner['body'] == body
                                   for k, _o, inner in c.carbons), 5, what)
    return [(o, i) for k, o, i in c.carbons if k == kind and i['body'] == body][0]


@e2e_test('carbons_received_and_sent')
async def t_copies(env):
    for u in ('alice', 'bob'):
        await env.register(u)
    r1 = await login(env, 'alice@localhost/r1', True)
    r2 = await login(env, 'alice@localhost/r2', True)
    r3 = await login(env, 'alice@localhost/r3', False)
    b = await env.login('bob@localhost/b')
    env.step('disco#info lists the feature')
    kind, r = await r1.iq_get('localhost', 'http://jabber.org/protocol/disco#info')
    feats = {f.get('var') for f in r.xml.iter('{http://jabber.org/protocol/disco#info}feature')}
    check(NS_CARBONS in feats, 'disco#info lacks %s: %s' % (NS_CARBONS, sorted(feats)))

    env.step('bob -> alice/r1: received carbon at r2, none at r3')
    send(b, 'alice@localhost/r1', 'hello r1')
    await r1.wait_body('hello r1', 'the original at r1')
    outer, inner = await wait_carbon(r2, 'received', 'hello r1', 'received carbon at r2')
    check(str(outer['from']) == 'alice@localhost', 'carbon from %r, expected the bare JID'
          % str(outer['from']))
    check(str(outer['to']) == r2.jid, 'carbon to %r, expected %s' % (str(outer['to']), r2.jid))
    check(outer['type'] == 'chat', 'carbon type %r, expected chat' % outer['type'])
    check(str(inner['from']) == b.jid and str(inner['to']) == r1.jid,
          'forwarded message from %s to %s' % (inner['from'], inner['to']))
    env.step('alice/r1 -> bob: sent carbon at r2, none at r1 or r3')
    send(r1, 'bob@localhost', 'hello bob')
    await b.wait_body('hello bob', 'the original at bob')
    outer, inner = await wait_carbon(r2, 'sent', 'hello bob', 'sent carbon at r2')
    check(str(outer['from']) == 'alice@localhost' and str(outer['to']) == r2.jid,
          'sent carbon from %s to %s' % (outer['from'], outer['to']))
    check(str(inner['from']) == r1.jid and str(inner['to']) == 'bob@localhost',
          'forwarded sent message from %s to %s' % (inner['from'], inner['to']))
    env.step('r3 (carbons off) sends: r1 and r2 get the sent carbon')
    send(r3, 'bob@localhost', 'from r3')
    await wait_carbon(r1, 'sent', 'from r3', 'sent carbon of r3 at r1')
    await wait_carbon(r2, 'sent', 'from r3', 'sent carbon of r3 at r2')
    env.step('a message to the bare JID reaches every resource: no carbons')
    send(b, 'alice@localhost', 'to all')
    for c in (r1, r2, r3):
        await c.wait_until(lambda c=c: any(m['body'] == 'to all' for m in c.messages), 5,
                           'bare-JID message at %s' % c.jid)
    await barrier(b, r1, r2, r3)
    check(r3.carbons == [], 'r3 without carbons got %s' % carbons_of(r3))
    check(bodies(r1) == ['from r3'], 'r1 carbons: %s' % bodies(r1))
    check(bodies(r2, 'received') == ['hello r1'], 'r2 received carbons: %s'
          % bodies(r2, 'received'))
    check(bodies(r2, 'sent') == ['hello bob', 'from r3'], 'r2 sent carbons: %s'
          % bodies(r2, 'sent'))


@e2e_test('carbons_not_copied')
async def t_not_copied(env):
    for u in ('alice', 'bob'):
        await env.register(u)
    r1 = await login(env, 'alice@localhost/r1', True)
    r2 = await login(env, 'alice@localhost/r2', True)
    b = await env.login('bob@localhost/b')
    private = "<private xmlns='%s'/>" % NS_CARBONS
    nocopy = "<no-copy xmlns='urn:xmpp:hints'/>"
    env.step('inbound messages that are not copied')
    send(b, 'alice@localhost/r1', 'private in', extra=[private])
    send(b, 'alice@localhost/r1', 'nocopy in', extra=[nocopy])
    send(b, 'alice@localhost/r1', 'headline in', mtype='headline')
    send(b, 'alice@localhost/r1', 'groupchat in', mtype='groupchat')
    send(b, 'alice@localhost/r1', None, mtype='normal',
         extra=["<active xmlns='http://jabber.org/protocol/chatstates'/>"])
    send(b, 'alice@localhost/r1', 'fake', extra=[
        "<received xmlns='%s'><forwarded xmlns='urn:xmpp:forward:0'><message "
        "xmlns='jabber:client' from='x@y' to='alice@localhost'><body>forged</body></message>"
        "</forwarded></received>" % NS_CARBONS])
    env.step('a normal message with a body is copied (and marks the end)')
    send(b, 'alice@localhost/r1', 'normal in', mtype='normal')
    await wait_carbon(r2, 'received', 'normal in', 'received carbon of a normal message')
    env.step('outbound messages that are not copied')
    send(r1, 'bob@localhost', 'private out', extra=[private])
    send(r1, 'bob@localhost', 'nocopy out', extra=[nocopy])
    send(r1, 'bob@localhost', 'headline out', mtype='headline')
    send(r1, 'bob@localhost', 'marker out')
    await wait_carbon(r2, 'sent', 'marker out', 'sent carbon of the marker')
    await b.wait_body('marker out', 'bob receives the marker')
    check(any(m['body'] == 'private out' for m in b.messages), 'bob did not get the private '
          'message itself')
    await barrier(b, r1, r2)
    got = carbons_of(r2)
    check(got == [('received', 'normal in'), ('sent', 'marker out')],
          'r2 got carbons of messages that are not eligible: %s' % got)
    check(r1.carbons == [], 'r1 got carbons: %s' % carbons_of(r1))
    check(any(m['body'] == 'private in' for m in r1.messages), 'r1 did not get the private '
          'message itself')


@e2e_test('carbons_disable_stops_copies')
async def t_disable(env):
    for u in ('alice', 'bob'):
        await env.register(u)
    r1 = await login(env, 'alice@localhost/r1', False)
    r2 = await login(env, 'alice@localhost/r2', True)
    b = await env.login('bob@localhost/b')
    env.step('enabling twice is not an error')
    await r2.x['xep_0280'].enable(timeout=5)
    send(b, 'alice@localhost/r1', 'one')
    await wait_carbon(r2, 'received', 'one', 'carbon before disabling')
    env.step('disable (twice)')
    await r2.x['xep_0280'].disable(timeout=5)
    await r2.x['xep_0280'].disable(timeout=5)
    send(b, 'alice@localhost/r1', 'two')
    send(r1, 'bob@localhost', 'three')
    await r1.wait_body('two', 'original two')
    await b.wait_body('three', 'original three')
    await barrier(b, r1, r2)
    check(bodies(r2) == ['one'], 'r2 got carbons after disabling: %s' % bodies(r2))
    env.step('enable again')
    await r2.x['xep_0280'].enable(timeout=5)
    send(b, 'alice@localhost/r1', 'four')
    await wait_carbon(r2, 'received', 'four', 'carbon after enabling again')


@e2e_test('carbons_own_account_and_errors')
async def t_own(env):
    for u in ('alice', 'bob'):
        await env.register(u)
    r1 = await login(env, 'alice@localhost/r1', True)
    r2 = await login(env, 'alice@localhost/r2', True)
    r3 = await login(env, 'alice@localhost/r3', True)
    b = await env.login('bob@localhost/b', plugins=PLUGINS)
    env.step('alice/r1 -> alice/r2: r3 gets a received carbon, r1 and r2 none')
    send(r1, 'alice@localhost/r2', 'note to self')
    await r2.wait_body('note to self', 'the original at r2')
    outer, inner = await wait_carbon(r3, 'received', 'note to self', 'carbon at r3')
    check(str(inner['from']) == r1.jid and str(inner['to']) == r2.jid, 'forwarded %s -> %s'
          % (inner['from'], inner['to']))
    await barrier(r1, r2, r3)
    check(r1.carbons == [] and r2.carbons == [], 'r1/r2 got carbons: %s %s'
          % (carbons_of(r1), carbons_of(r2)))
    check(len(r3.carbons) == 1, 'r3 got %d carbons' % len(r3.carbons))
    env.step('bad requests')
    iq = r1.x.make_iq_get()
    iq.enable('carbon_enable')
    try:
        await iq.send(timeout=5)
        raise TestFailure('carbons enable with type get was accepted')
    except IqError as e:
        check(e.iq['error']['condition'] == 'bad-request', 'get: %s' % e.iq)
    iq = b.x.make_iq_set(ito='alice@localhost')
    iq.enable('carbon_disable')
    try:
        await iq.send(timeout=5)
        raise TestFailure("bob disabled alice's carbons")
    except IqError as e:
        check(e.iq['error']['condition'] == 'not-allowed', 'other account: %s' % e.iq)
    env.step('alice/r2 still gets carbons')
    send(b, 'alice@localhost/r1', 'still')
    await wait_carbon(r2, 'received', 'still', 'carbon after the refused disable')


@e2e_test('carbons_refused_message_not_copied')
async def t_refused(env):
    """A message the server refuses (to a JID the sender blocks, XEP-0191) is not
    copied to the sender's other resources as sent."""
    for u in ('alice', 'bob'):
        await env.register(u)
    r1 = await login(env, 'alice@localhost/r1', False)
    r2 = await login(env, 'alice@localhost/r2', True)
    b = await env.login('bob@localhost/b')
    iq = r1.x.make_iq_set()
    iq.append(ET.fromstring("<block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/>"
                            "</block>"))
    await iq.send(timeout=5)
    send(r1, 'bob@localhost', 'refused')
    await r1.wait_error(5, 'the refusal of a message to a blocked JID')
    send(r1, 'alice@localhost/r2', 'marker')
    await r2.wait_body('marker', 'marker')
    await barrier(b, r1, r2)
    check(r2.carbons == [], 'r2 got carbons: %s' % carbons_of(r2))
    check(not any(m['body'] == 'refused' for m in b.messages), 'bob got the refused message')
