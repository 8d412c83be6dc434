"""Server services (ping, disco) and routing errors."""

import xml.etree.ElementTree as ET

from slixmpp.exceptions import IqError, IqTimeout

from harness import e2e_test, check, NS_STANZAS

DISCO_INFO = 'http://jabber.org/protocol/disco#info'
DISCO_ITEMS = 'http://jabber.org/protocol/disco#items'


def err_condition(stanza):
    return stanza['error']['condition']


@e2e_test('ping_server')
async def t_ping(env):
    await env.register('alice')
    c = await env.login('alice@localhost/p')
    r = await c.ping('localhost')
    check(r['type'] == 'result', 'ping answered %s' % r)
    check(str(r['from']) in ('localhost', ''), 'ping result from %r' % str(r['from']))
    check(len(r.xml) == 0, 'ping result should be empty, got %s' % r)
    env.step('many pings in a row')
    for _ in range(20):
        await c.ping('localhost')


@e2e_test('disco_info_and_items_server')
async def t_disco(env):
    await env.register('alice')
    c = await env.login('alice@localhost/d')
    kind, r = await c.iq_get('localhost', DISCO_INFO)
    check(kind == 'result', 'disco#info to the server: %s %s' % (kind, r))
    q = r.xml.find('{%s}query' % DISCO_INFO)
    check(q is not None, 'disco#info result has no query: %s' % r)
    feats = {f.get('var') for f in q.findall('{%s}feature' % DISCO_INFO)}
    # Every plugin of the tree is loaded by the harness: each one's feature is listed.
    for f in ('urn:xmpp:ping', DISCO_INFO, DISCO_ITEMS, 'msgoffline', 'vcard-temp',
              'jabber:iq:register', 'jabber:iq:private', 'urn:xmpp:blocking',
              'urn:xmpp:carbons:2', 'jabber:iq:version', 'urn:xmpp:time', 'jabber:iq:last'):
        check(f in feats, 'disco#info does not list feature %s (has %s)' % (f, sorted(feats)))
    check(len(feats) == len(q.findall('{%s}feature' % DISCO_INFO)), 'a feature is listed twice')
    ids = [(i.get('category'), i.get('type')) for i in q.findall('{%s}identity' % DISCO_INFO)]
    check(('server', 'im') in ids, 'no identity category=server type=im: %r' % ids)
    env.step('disco#items lists the services (the vCard search directory)')
    kind, r = await c.iq_get('localhost', DISCO_ITEMS)
    check(kind == 'result', 'disco#items to the server: %s %s' % (kind, r))
    q = r.xml.find('{%s}query' % DISCO_ITEMS)
    check(q is not None, 'disco#items result has no query: %s' % r)
    items = {i.get('jid') for i in q.findall('{%s}item' % DISCO_ITEMS)}
    check('vjud.localhost' in items, 'disco#items does not list vjud.localhost: %s' % items)


@e2e_test('disco_info_account')
async def t_disco_account(env):
    await env.register('alice')
    await env.register('bob')
    c = await env.login('alice@localhost/d')
    for to in ('alice@localhost', 'bob@localhost'):
        env.step('disco#info to the account %s' % to)
        kind, r = await c.iq_get(to, DISCO_INFO)
        check(kind == 'result', 'disco#info to %s: %s %s' % (to, kind, r))
        q = r.xml.find('{%s}query' % DISCO_INFO)
        ids = [(i.get('category'), i.get('type')) for i in q.findall('{%s}identity' % DISCO_INFO)]
        check(ids == [('account', 'registered')], 'identities of %s: %r' % (to, ids))
        check(str(r['from']) == to, 'answer from %r, expected %s' % (str(r['from']), to))
    env.step('disco#info to an account that does not exist')
    kind, r = await c.iq_get('nobody@localhost', DISCO_INFO)
    check(kind == 'error' and err_condition(r) == 'service-unavailable',
          'disco#info to nobody@localhost: %s %s' % (kind, r))


@e2e_test('route_message_to_offline_user')
async def t_offline(env):
    await env.register('alice')
    await env.register('bob')
    a = await env.login('alice@localhost/x')
    # (bob exists: messages to him are kept offline, see test_offline.py)
    for to in ('nosuchuser@localhost', 'nosuchuser@localhost/somewhere'):
        env.step('chat message to %s' % to)
        a.send_chat(to, 'hello?', mid='m-' + to)
        e = await a.wait_error(5, 'error for a message to %s (no session)' % to)
        check(e['type'] == 'error', 'reply type %r' % e['type'])
        check(err_condition(e) == 'service-unavailable', 'message to %s: error condition %r, '
              'expected service-unavailable: %s' % (to, err_condition(e), e))
        check(e['id'] == 'm-' + to, 'error id %r does not echo m-%s' % (e['id'], to))
        check(str(e['from']) == to, 'error from %r, expected the original recipient %s'
              % (str(e['from']), to))
        check(str(e['to']) == a.jid, 'error to %r, expected %s' % (str(e['to']), a.jid))
        el = e.xml.find('{jabber:client}error')
        check(el is not None and el.find('{%s}service-unavailable' % NS_STANZAS) is not None,
              'error element lacks <service-unavailable xmlns=%s/>: %s' % (NS_STANZAS, e))
        check(el.get('type') == 'cancel', 'error type %r, expected cancel' % el.get('type'))
    check(not a.messages, 'a non-error message came back: %s' % a.messages[:1])


@e2e_test('route_iq_unknown_namespace_to_server')
async def t_iq_unknown(env):
    await env.register('alice')
    a = await env.login('alice@localhost/x')
    for ns in ('urn:example:nothing-here', 'jabber:iq:version-not-really'):
        kind, r = await a.iq_get('localhost', ns)
        check(kind == 'error', 'iq get %s to the server returned %s' % (ns, r))
        check(err_condition(r) == 'service-unavailable', 'iq %s: condition %r, expected '
              'service-unavailable' % (ns, err_condition(r)))
        check(r['error']['type'] == 'cancel', 'iq %s: error type %r' % (ns, r['error']['type']))
    env.step('iq set with unknown namespace')
    iq = a.x.make_iq_set(ito='localhost')
    iq.xml.append(ET.Element('{urn:example:nothing}thing'))
    try:
        await iq.send(timeout=5)
        raise AssertionError('iq set with unknown payload to the server got a result')
    except IqTimeout:
        raise AssertionError('iq set with unknown payload to the server: no answer in 5s')
    except IqError as e:
        check(err_condition(e.iq) == 'service-unavailable', 'iq set: condition %r'
              % err_condition(e.iq))


@e2e_test('route_message_to_offline_resource_goes_to_other')
async def t_other_resource(env):
    await env.register('alice')
    await env.register('bob')
    a = await env.login('alice@localhost/online')
    b = await env.login('bob@localhost/b')
    env.step('chat to alice/offline while alice/online is available')
    b.send_chat('alice@localhost/offline', 'to the offline resource', mid='r1')
    await a.wait_messages(1, 5, 'message to alice/offline delivered to alice/online '
                          '(RFC 6121 8.5.3.2.1)')
    m = a.messages[0]
    check(m['body'] == 'to the offline resource', 'body %r' % m['body'])
    check(str(m['from']) == b.jid, 'from %r, expected %s' % (str(m['from']), b.jid))
    check(not b.errors, 'sender got an error: %s' % b.errors[:1])

    env.step('iq to the offline full JID')
    kind, r = await b.iq_get('alice@localhost/offline', 'urn:xmpp:ping')
    check(kind == 'error' and err_condition(r) == 'service-unavailable',
          'iq to an offline full JID: %s %s' % (kind, r))
    env.step('iq to a full JID of a user with no session at all')
    await env.register('carol')
    kind, r = await b.iq_get('carol@localhost/none', 'urn:xmpp:ping')
    check(kind == 'error' and err_condition(r) == 'service-unavailable',
          'iq to an offline full JID: %s %s' % (kind, r))
    env.step('iq to the online full JID reaches the client')
    r = await b.ping(a.jid)
    check(r['type'] == 'result' and str(r['from']) == a.jid, 'ping to %s: %s' % (a.jid, r))
