"""aioxmpp (Debian's python3-aioxmpp 0.13) as a second real client (aio.py), each test
asserting the protocol result a real aioxmpp application sees:

  - login: PLAIN, SCRAM-SHA-1 and SCRAM-SHA-256 each forced through the security
    layer's SASL provider (the mechanism used checked in the server log), a wrong
    password refused with not-authorized, SASL ANONYMOUS (AnonymousSASLProvider), and
    make_security_layer over STARTTLS with the harness's self-signed certificate checked
    (and refused when the client trusts another one);
  - disco#info / disco#items (XEP-0030) of the server and of the user's own account
    (account/registered), and of an ANONYMOUS session's own account (account/anonymous,
    also for an IQ without 'to'), whose roster get answers an empty roster;
  - roster (RFC 6121 §2): get, add with a name and a group, the push, remove;
  - presence: subscription both ways and broadcast; directed presence from a session
    that never sent initial presence (RFC 6121 §4.6): to both available resources of a
    bare JID, a change of <show/>, a directed unavailable, and a broadcast unavailable
    that must reach the directed recipient (§4.6.3);
  - messages: chat with body and type; offline storage delivered with a delay stamp
    (XEP-0160, XEP-0203);
  - private XML storage (XEP-0049, through BookmarkClient and PrivateXMLService),
    vCard (XEP-0054), blocking (XEP-0191), ping (XEP-0199).
"""

import datetime
import os
import re

import aiosasl
import aioxmpp
import aioxmpp.blocking.xso
import aioxmpp.bookmarks
import aioxmpp.disco
import aioxmpp.misc  # registers Message.xep0203_delay
import aioxmpp.ping
import aioxmpp.ping.xso
import aioxmpp.private_xml
import aioxmpp.roster.xso
import aioxmpp.vcard
import aioxmpp.vcard.xso
import aioxmpp.xso

from aio import (Aio, StartTLSConnector, error_condition, login, login_anonymous,
                 plain_security, starttls_security, track)
from certs import make_cert
from harness import TestFailure, check, e2e_test

NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info'
NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items'
NS_PING = 'urn:xmpp:ping'
NS_ROSTERVER = 'urn:xmpp:features:rosterver'
NS_VCARD = 'vcard-temp'
ANONYMOUS = {'extra_config': 'host_config: {localhost: {anonymous: true}}\n'}
ANON_JID = re.compile(r'^anon-[0-9a-f]+@localhost/.+$')
SERVER = aioxmpp.JID.fromstr('localhost')
# What the server wrote, as aioxmpp logged it (any quoting, optional whitespace).
SASL_NOT_AUTHORIZED = re.compile(rb"<failure xmlns=['\"]urn:ietf:params:xml:ns:xmpp-sasl['\"]\s*>"
                                 rb"\s*<not-authorized\s*/?>")
TLS_PROCEED = re.compile(rb"<proceed xmlns=['\"]urn:ietf:params:xml:ns:xmpp-tls['\"]\s*/?>")


def jid(s):
    return aioxmpp.JID.fromstr(s)


def body_of(msg):
    return msg.body.any() if msg.body else None


def identities(info):
    """{(category, type)} of a disco#info result (None: an empty result)."""
    return {(i.category, i.type_) for i in info.identities} if info is not None else set()


async def wait_authenticated(env, offset, user, mech):
    """The server log says user@localhost authenticated with mech after byte offset."""
    m = await env.srv.wait_log(r'authenticated (%s)@localhost \(([A-Z0-9-]+)\)' % user, 5,
                               start=offset)
    check(m is not None, 'no "authenticated %s@localhost" line in the server log' % user)
    check(m.group(2) == mech, '%s authenticated with %s, expected %s' % (user, m.group(2), mech))
    return m.group(1)


async def disco_info(c, to, what):
    return await c.ok(c.summon(aioxmpp.DiscoClient).query_info(to, require_fresh=True),
                      'disco#info of %s (%s)' % (to, what))


async def disco_items(c, to, what):
    return await c.ok(c.summon(aioxmpp.DiscoClient).query_items(to, require_fresh=True),
                      'disco#items of %s (%s)' % (to, what))


async def roster_of(c):
    """A fresh roster get: {bare jid: item}."""
    kind, r = await c.iq(aioxmpp.IQType.GET, aioxmpp.roster.xso.Query())
    check(kind == 'result', '%s: roster get answered %s' % (c.name, r))
    check(r is not None, '%s: roster get answered an empty result, not a roster' % c.name)
    return {i.jid: i for i in r.items}


# ------------------------------------------------------------------ 1. login


@e2e_test('aioxmpp_login_plain_and_scram')
async def t_login(env):
    await env.register('alice')
    for mech in ('PLAIN', 'SCRAM-SHA-1', 'SCRAM-SHA-256'):
        env.step('login with %s forced' % mech)
        offset = len(env.srv.log())
        a = await login(env, 'alice@localhost/%s' % mech, mechanisms=[mech])
        check(str(a.jid) == 'alice@localhost/%s' % mech, 'bound %s' % (a.jid,))
        await wait_authenticated(env, offset, 'alice', mech)
        await a.ok(aioxmpp.ping.ping(a.client, SERVER), 'ping after %s' % mech)
        await a.stop()
    env.step('a wrong password: not-authorized')
    for mech in ('PLAIN', 'SCRAM-SHA-256'):
        bad = track(env, Aio(env, 'alice@localhost/bad', plain_security('wrong', [mech])))
        failure = await bad.start(expect_ok=False)
        check(SASL_NOT_AUTHORIZED.search(bad.wire.received()),
              '%s with a wrong password: no <failure><not-authorized/></failure> (RFC 6120 '
              '6.5.10); the client failed with %r after:\n%s' % (mech, failure, bad.wire.tail(4)))
        # aioxmpp raises AuthenticationFailure; when the server has already reset the
        # connection, the OSError of aioxmpp's own stream-error-and-close replaces it.
        check(isinstance(failure, OSError) or (isinstance(failure, aiosasl.AuthenticationFailure)
                                               and failure.opaque_error == 'not-authorized'),
              '%s with a wrong password: the client failed with %r' % (mech, failure))


@e2e_test('aioxmpp_login_anonymous', server=ANONYMOUS)
async def t_anonymous(env):
    env.step('AnonymousSASLProvider')
    offset = len(env.srv.log())
    a = await login_anonymous(env)
    check(ANON_JID.match(str(a.jid)), 'anonymous session bound %s, expected anon-HEX@localhost/'
          % (a.jid,))
    await wait_authenticated(env, offset, a.bare.localpart, 'ANONYMOUS')
    await a.ok(aioxmpp.ping.ping(a.client, SERVER), 'anonymous ping')
    env.step('a second anonymous login gets another account')
    b = await login_anonymous(env)
    check(b.bare != a.bare, 'two anonymous logins share %s' % (a.bare,))


@e2e_test('aioxmpp_starttls_verified')
async def t_starttls(env):
    await env.register('alice')
    env.step('make_security_layer: STARTTLS required, certificate checked')
    offset = len(env.srv.log())
    a = track(env, Aio(env, 'alice@localhost/tls',
                       starttls_security(env.password('alice'), env.srv.certfiles[0]),
                       connector=StartTLSConnector()))
    await a.start()
    sent, recv = a.wire.sent(), a.wire.received()
    check(b'<starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"/>' in sent and
          TLS_PROCEED.search(recv),
          'no STARTTLS negotiation on the wire: %r' % sent[:300])
    check(b'SCRAM-SHA-256-PLUS' in recv, 'no -PLUS mechanism offered after STARTTLS (the '
          'server offers channel binding only inside TLS): %r' % recv[-600:])
    # aioxmpp's PasswordSASLProvider prefers SCRAM (strongest hash) and never uses -PLUS.
    await wait_authenticated(env, offset, 'alice', 'SCRAM-SHA-256')
    await a.ok(aioxmpp.ping.ping(a.client, SERVER), 'ping over TLS')
    await a.stop()

    env.step('a client that trusts another certificate refuses the server')
    other = os.path.join(env.srv.dir, 'other.pem')
    make_cert(other, names=('localhost',))
    offset = len(env.srv.log())
    b = track(env, Aio(env, 'alice@localhost/untrusted',
                       starttls_security(env.password('alice'), other),
                       connector=StartTLSConnector()))
    failure = await b.start(expect_ok=False)
    # aioxmpp writes '<!-- some bytes omitted -->' in its log in place of SASL bytes.
    check(b'some bytes omitted' not in b.wire.sent() and b'<bind' not in b.wire.sent(),
          'the client went on with SASL on an untrusted server')
    check('authenticated alice@localhost' not in env.srv.log()[offset:],
          'the server logged an authentication of the untrusting client')
    # aioopenssl sometimes reports it as an InvalidStateError raised while handling it.
    chain = []
    while failure is not None and failure not in chain:
        chain.append(failure)
        failure = failure.__cause__ or failure.__context__
    check(any('certificate verify failed' in str(e) for e in chain),
          'expected a certificate verification failure, got %s'
          % ['%s: %s' % (type(e).__name__, e) for e in chain])


# ------------------------------------------------------------------ 2. disco


@e2e_test('aioxmpp_disco_server')
async def t_disco_server(env):
    await env.register('alice')
    a = await login(env, 'alice@localhost/r1')
    info = await disco_info(a, SERVER, 'server')
    check(('server', 'im') in identities(info), 'server identities %s, expected server/im'
          % identities(info))
    feats = set(info.features)
    for f in (NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING):
        check(f in feats, 'server disco#info lacks %s: %s' % (f, sorted(feats)))
    # Roster versioning is a stream feature (RFC 6121 §2.6.1); listed in disco or not,
    # it must be announced where the client looks for it.
    check(a.client.stream_features.has_feature(aioxmpp.roster.xso.RosterVersioningFeature),
          'no <ver xmlns="%s"/> stream feature' % NS_ROSTERVER)
    items = await disco_items(a, SERVER, 'server')
    check(all(i.jid is not None for i in items.items), 'a server item without a jid')


@e2e_test('aioxmpp_disco_own_account')
async def t_disco_account(env):
    await env.register('alice')
    a = await login(env, 'alice@localhost/r1')
    info = await disco_info(a, a.bare, 'own bare JID')
    check(('account', 'registered') in identities(info),
          'own account identities %s, expected account/registered (XEP-0030 and the '
          'registry of disco categories)' % identities(info))
    check(NS_DISCO_INFO in set(info.features), 'own account lacks the disco#info feature: %s'
          % sorted(info.features))
    await disco_items(a, a.bare, 'own bare JID')
    env.step('an IQ without to is answered by the account (RFC 6120 §10.3.3)')
    kind, r = await a.iq(aioxmpp.IQType.GET, aioxmpp.disco.xso.InfoQuery())
    check(kind == 'result', 'disco#info without to: %s' % (r,))
    check(('account', 'registered') in identities(r), 'disco#info without to: identities %s'
          % identities(r))


@e2e_test('aioxmpp_anonymous_account', server=ANONYMOUS)
async def t_anonymous_account(env):
    """While an ANONYMOUS session lives its account exists (RFC 4505, XEP-0175): the server
    answers for it like for a registered one, never service-unavailable.  Every request is
    made and the problems are reported together, each with the bytes exchanged."""
    a = await login_anonymous(env, services=[aioxmpp.RosterClient])
    problems = []

    async def ask(what, payload, to, identity=None):
        env.step(what)
        kind, r = await a.iq(aioxmpp.IQType.GET, payload, to=to)
        if kind != 'result':
            problems.append('%s answered %s, expected a result:\n%s'
                            % (what, error_condition(r), a.exchange()))
        elif identity is not None and identity not in identities(r):
            problems.append('%s: identities %s, expected %s/%s:\n%s'
                            % (what, sorted(identities(r)), identity[0], identity[1],
                               a.exchange()))
        return kind, r

    await ask('disco#info of its own bare JID', aioxmpp.disco.xso.InfoQuery(), a.bare,
              ('account', 'anonymous'))
    await ask('disco#info without to (RFC 6120 10.3.3)', aioxmpp.disco.xso.InfoQuery(), None,
              ('account', 'anonymous'))
    await ask('disco#items of its own bare JID', aioxmpp.disco.xso.ItemsQuery(), a.bare)
    await ask('ping to its own bare JID', aioxmpp.ping.xso.Ping(), a.bare)
    check(a.summon(aioxmpp.RosterClient).items == {},
          'initial roster of an anonymous session not empty')
    kind, r = await ask('roster get', aioxmpp.roster.xso.Query(), None)
    if kind == 'result' and (r is None or r.items):
        problems.append('roster get: %s, expected an empty roster:\n%s'
                        % ('no <query/>' if r is None else [str(i.jid) for i in r.items],
                           a.exchange()))
    env.step('the server itself answers an anonymous session')
    await ask('disco#info of the server', aioxmpp.disco.xso.InfoQuery(), SERVER,
              ('server', 'im'))
    check(not problems, 'anonymous session %s:\n%s' % (a.jid, '\n'.join(problems)))


# ------------------------------------------------------------------ 3. roster


@e2e_test('aioxmpp_roster_add_push_remove')
async def t_roster(env):
    for u in ('alice', 'bob'):
        await env.register(u)
    a1 = await login(env, 'alice@localhost/r1', services=[aioxmpp.RosterClient])
    a2 = await login(env, 'alice@localhost/r2', services=[aioxmpp.RosterClient])
    r1, r2 = a1.summon(aioxmpp.RosterClient), a2.summon(aioxmpp.RosterClient)
    check(r1.items == {} and r2.items == {}, 'a fresh roster is not empty: %s' % r1.items)
    check(r1.version is not None, 'roster result without ver although <ver/> is announced')
    for c, r in ((a1, r1), (a2, r2)):
        c.wake_on(r.on_entry_added, r.on_entry_removed)
    bob = jid('bob@localhost')
    added = []
    r2.on_entry_added.connect(added.append)
    env.step('add bob with a name and a group')
    await a1.ok(r1.set_entry(bob, name='Bob B.', add_to_groups={'Friends'}), 'roster set')
    for c, r in ((a1, r1), (a2, r2)):
        await c.wait_until(lambda: bob in r.items, 5, '%s: roster push of bob' % c.name)
        item = r.items[bob]
        check(item.name == 'Bob B.' and item.groups == {'Friends'} and
              item.subscription == 'none', '%s: pushed item name %r groups %s subscription %s'
              % (c.name, item.name, item.groups, item.subscription))
    check(len(added) == 1 and added[0].jid == bob, 'on_entry_added at r2: %s' % added)
    got = await roster_of(a1)
    check(bob in got and got[bob].name == 'Bob B.' and
          [g.name for g in got[bob].groups] == ['Friends'],
          'roster get after the set: %s' % {str(k): (v.name, [g.name for g in v.groups])
                                            for k, v in got.items()})
    env.step('remove bob')
    await a1.ok(r1.remove_entry(bob), 'roster remove')
    for c, r in ((a1, r1), (a2, r2)):
        await c.wait_until(lambda: bob not in r.items, 5, '%s: removal push' % c.name)
    check(await roster_of(a1) == {}, 'roster not empty after the removal')


# ------------------------------------------------------------------ 4. presence


async def subscribe_both_ways(a, b):
    """a and b subscribe to each other through RosterClient.subscribe/approve."""
    ra, rb = a.summon(aioxmpp.RosterClient), b.summon(aioxmpp.RosterClient)
    subscribe_requests = {a: [], b: []}
    for c, r in ((a, ra), (b, rb)):
        c.wake_on(r.on_entry_added, r.on_entry_subscription_state_changed)
        r.on_subscribe.connect(subscribe_requests[c].append)
    for x, rx, y, ry in ((a, ra, b, rb), (b, rb, a, ra)):
        rx.subscribe(y.bare)
        asked = await y.wait_presence(lambda p: p.type_ == aioxmpp.PresenceType.SUBSCRIBE,
                                      '%s: subscribe from %s' % (y.name, x.bare))
        check(asked.from_ == x.bare, 'subscribe from %s, expected the bare %s'
              % (asked.from_, x.bare))
        check(any(st is asked for st in subscribe_requests[y]),
              '%s: RosterClient.on_subscribe did not fire' % y.name)
        ry.approve(x.bare)
        await x.wait_presence(lambda p: p.type_ == aioxmpp.PresenceType.SUBSCRIBED and
                              p.from_ == y.bare, '%s: subscribed from %s' % (x.name, y.bare))
    for x, rx, y in ((a, ra, b), (b, rb, a)):
        await x.wait_until(lambda: y.bare in rx.items and
                           rx.items[y.bare].subscription == 'both', 5,
                           '%s: subscription both with %s' % (x.name, y.bare))


def recorder(events, kind):
    """A PresenceClient signal handler appending (kind, stanza) to events.  It returns
    None: an aioxmpp signal disconnects a handler that returns a true value."""
    def on_event(_full_jid, stanza):
        events.append((kind, stanza))
    return on_event


def from_is(j, ptype=aioxmpp.PresenceType.AVAILABLE, show=None):
    def pred(p):
        return (p.from_ == j and p.type_ == ptype and
                (show is None or p.show == show))
    return pred


@e2e_test('aioxmpp_presence_subscription_broadcast')
async def t_presence_broadcast(env):
    for u in ('alice', 'bob'):
        await env.register(u)
    a = await login(env, 'alice@localhost/a', services=[aioxmpp.RosterClient,
                                                       aioxmpp.PresenceClient])
    b = await login(env, 'bob@localhost/b', services=[aioxmpp.RosterClient,
                                                     aioxmpp.PresenceClient])
    env.step('subscribe both ways')
    await subscribe_both_ways(a, b)
    env.step('after the subscription each has the other\'s presence')
    await a.wait_presence(from_is(b.jid), 'alice: bob\'s presence')
    await b.wait_presence(from_is(a.jid), 'bob: alice\'s presence')
    env.step('bob goes away: broadcast to alice')
    b.summon(aioxmpp.PresenceServer).set_presence(
        aioxmpp.PresenceState(True, aioxmpp.PresenceShow.AWAY), 'lunch')
    p = await a.wait_presence(from_is(b.jid, show=aioxmpp.PresenceShow.AWAY),
                              'alice: bob away')
    check(p.status.any() == 'lunch', 'status %r' % p.status.any())
    pc = a.summon(aioxmpp.PresenceClient)
    st = pc.get_most_available_stanza(b.bare)
    check(st is not None and st.show == aioxmpp.PresenceShow.AWAY,
          'PresenceClient\'s view of bob: %s' % st)
    env.step('a second session of alice gets bob\'s presence (probe)')
    a2 = await login(env, 'alice@localhost/a2')
    await a2.wait_presence(from_is(b.jid, show=aioxmpp.PresenceShow.AWAY), 'alice/a2: bob (probe)')
    await b.wait_presence(from_is(a2.jid), 'bob: alice/a2 available')
    env.step('bob logs out: alice gets unavailable')
    await b.stop()
    await a.wait_presence(from_is(b.jid, aioxmpp.PresenceType.UNAVAILABLE),
                          'alice: bob unavailable')
    check(pc.get_most_available_stanza(b.bare) is None, 'bob still available for alice')


@e2e_test('aioxmpp_directed_presence_never_available')
async def t_directed(env):
    for u in ('carol', 'dave'):
        await env.register(u)
    d1 = await login(env, 'dave@localhost/d1', services=[aioxmpp.PresenceClient])
    d2 = await login(env, 'dave@localhost/d2', services=[aioxmpp.PresenceClient])
    c = await login(env, 'carol@localhost/c', available=False)
    check(not any(p.from_ == c.jid for p in c.presences), 'carol got her own presence back')
    changes = {d1: [], d2: []}
    for d in (d1, d2):
        pc = d.summon(aioxmpp.PresenceClient)
        for kind in ('available', 'changed', 'unavailable'):
            getattr(pc, 'on_' + kind).connect(recorder(changes[d], kind))
    env.step('directed available to dave\'s bare JID reaches both resources')
    await c.send(aioxmpp.Presence(type_=aioxmpp.PresenceType.AVAILABLE, to=jid('dave@localhost')))
    for d in (d1, d2):
        await d.wait_presence(from_is(c.jid), '%s: carol\'s directed presence' % d.name)
    env.step('a second directed presence with show=dnd: a change')
    await c.send(aioxmpp.Presence(type_=aioxmpp.PresenceType.AVAILABLE, to=jid('dave@localhost'),
                                  show=aioxmpp.PresenceShow.DND))
    for d in (d1, d2):
        await d.wait_presence(from_is(c.jid, show=aioxmpp.PresenceShow.DND),
                              '%s: carol\'s directed dnd' % d.name)
        check([k for k, _ in changes[d]] == ['available', 'changed'],
              '%s: PresenceClient events %s' % (d.name, [k for k, _ in changes[d]]))
    env.step('a directed unavailable')
    await c.send(aioxmpp.Presence(type_=aioxmpp.PresenceType.UNAVAILABLE,
                                  to=jid('dave@localhost')))
    for d in (d1, d2):
        await d.wait_presence(from_is(c.jid, aioxmpp.PresenceType.UNAVAILABLE),
                              '%s: carol\'s directed unavailable' % d.name)
        check([k for k, _ in changes[d]] == ['available', 'changed', 'unavailable'],
              '%s: PresenceClient events %s' % (d.name, [k for k, _ in changes[d]]))
    check(not any(p.from_ == c.jid for p in c.presences), 'carol got her own presence back')


@e2e_test('aioxmpp_directed_then_broadcast_unavailable')
async def t_directed_broadcast_unavailable(env):
    for u in ('carol', 'dave'):
        await env.register(u)
    d = await login(env, 'dave@localhost/d1')
    c = await login(env, 'carol@localhost/c', available=False)
    env.step('directed available from carol (never available) to dave')
    await c.send(aioxmpp.Presence(type_=aioxmpp.PresenceType.AVAILABLE, to=jid('dave@localhost'),
                                  show=aioxmpp.PresenceShow.CHAT))
    await d.wait_presence(from_is(c.jid, show=aioxmpp.PresenceShow.CHAT),
                          'dave: carol\'s directed presence')
    env.step('carol broadcasts unavailable (no to): dave, a directed recipient, gets it')
    await c.send(aioxmpp.Presence(type_=aioxmpp.PresenceType.UNAVAILABLE))
    try:
        await d.wait_presence(from_is(c.jid, aioxmpp.PresenceType.UNAVAILABLE),
                              'dave: unavailable from carol after her broadcast unavailable')
    except TestFailure as e:
        raise TestFailure('%s\ncarol sent:\n%s\n(RFC 6121 4.6.3: the server MUST also send a '
                          'broadcast unavailable to the entities that got directed presence)'
                          % (e, c.wire.tail(2))) from None


# ------------------------------------------------------------------ 5. messages


@e2e_test('aioxmpp_chat')
async def t_chat(env):
    for u in ('alice', 'bob'):
        await env.register(u)
    a = await login(env, 'alice@localhost/a')
    b = await login(env, 'bob@localhost/b')
    for x, y, text in ((a, b, 'hello bob'), (b, a, 'hi alice')):
        env.step('%s -> %s' % (x.name, y.name))
        m = aioxmpp.Message(type_=aioxmpp.MessageType.CHAT, to=y.bare)
        m.body[None] = text
        await x.send(m)
        got = await y.wait_message(lambda m: body_of(m) == text, '%s: the chat' % y.name)
        check(got.type_ == aioxmpp.MessageType.CHAT, 'type %s, expected chat' % got.type_)
        check(got.from_ == x.jid, 'from %s, expected %s' % (got.from_, x.jid))
        check(got.to in (y.jid, y.bare), 'to %s' % (got.to,))
    check(not [m for m in a.messages + b.messages if m.type_ == aioxmpp.MessageType.ERROR],
          'an error message arrived')


@e2e_test('aioxmpp_offline_message_delay')
async def t_offline(env):
    for u in ('alice', 'bob'):
        await env.register(u)
    a = await login(env, 'alice@localhost/a')
    env.step('alice -> bob (offline)')
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    m = aioxmpp.Message(type_=aioxmpp.MessageType.CHAT, to=jid('bob@localhost'))
    m.body[None] = 'while you were out'
    await a.send(m)
    await a.ok(aioxmpp.ping.ping(a.client, SERVER), 'barrier')  # the server has it
    check(not [x for x in a.messages if x.type_ == aioxmpp.MessageType.ERROR],
          'the message to an offline account bounced')
    env.step('bob logs in: the message comes with a delay stamp')
    b = await login(env, 'bob@localhost/b')
    got = await b.wait_message(lambda x: body_of(x) == 'while you were out',
                               'bob: the offline message')
    check(got.type_ == aioxmpp.MessageType.CHAT and got.from_ == a.jid,
          'type %s from %s' % (got.type_, got.from_))
    check(got.xep0203_delay, 'the offline message has no <delay xmlns="urn:xmpp:delay"/>')
    d = got.xep0203_delay[0]
    after = datetime.datetime.now(datetime.timezone.utc)
    stamp = d.stamp if d.stamp.tzinfo else d.stamp.replace(tzinfo=datetime.timezone.utc)
    check(before - datetime.timedelta(seconds=1) <= stamp <= after,
          'delay stamp %s not between %s and %s' % (d.stamp, before, after))
    check(d.from_ in (None, SERVER), 'delay from %s' % (d.from_,))


# ------------------------------------------------------------------ 6. private XML storage


@aioxmpp.private_xml.Query.as_payload_class
class Prefs(aioxmpp.xso.XSO):
    TAG = ('urn:example:aioxmpp:prefs', 'prefs')
    colour = aioxmpp.xso.ChildText(('urn:example:aioxmpp:prefs', 'colour'), default=None)


@e2e_test('aioxmpp_private_storage')
async def t_private(env):
    await env.register('alice')
    a = await login(env, 'alice@localhost/a', services=[aioxmpp.bookmarks.BookmarkClient])
    bm = a.summon(aioxmpp.bookmarks.BookmarkClient)
    env.step('bookmarks through BookmarkClient')
    check(await a.ok(bm.get_bookmarks(), 'get bookmarks') == [], 'stored bookmarks at first')
    room = aioxmpp.bookmarks.Conference('The room', jid('room@conference.example'),
                                        autojoin=True, nick='alice')
    await a.ok(bm.set_bookmarks([room]), 'set bookmarks')
    got = await a.ok(bm.get_bookmarks(), 'get bookmarks')
    check(len(got) == 1 and got[0].jid == room.jid and got[0].name == 'The room' and
          got[0].autojoin is True and got[0].nick == 'alice', 'bookmarks read back: %s' % got)
    env.step('a namespace of our own through PrivateXMLService')
    px = a.summon(aioxmpp.private_xml.PrivateXMLService)
    p = Prefs()
    p.colour = 'blue'
    await a.ok(px.set_private_xml(p), 'private set')
    r = await a.ok(px.get_private_xml(Prefs()), 'private get')
    check(isinstance(r.registered_payload, Prefs) and r.registered_payload.colour == 'blue',
          'private get: %r' % (r.registered_payload,))
    env.step('another session reads the same')
    a2 = await login(env, 'alice@localhost/a2')
    r = await a2.ok(a2.summon(aioxmpp.private_xml.PrivateXMLService).get_private_xml(Prefs()),
                    'private get from a2')
    check(r.registered_payload.colour == 'blue', 'a2 reads %r' % r.registered_payload.colour)


# ------------------------------------------------------------------ 7. vCard


def vcard_fields(card):
    """[(element name, text)] of a vCard XSO (its elements are an lxml tree)."""
    return [(c.tag.split('}')[-1], c.text) for c in card.elements] if card is not None else []


def vcard_field(card, name):
    return dict(vcard_fields(card)).get(name)


@e2e_test('aioxmpp_vcard')
async def t_vcard(env):
    for u in ('alice', 'bob'):
        await env.register(u)
    a = await login(env, 'alice@localhost/a')
    b = await login(env, 'bob@localhost/b')
    va, vb = a.summon(aioxmpp.vcard.VCardService), b.summon(aioxmpp.vcard.VCardService)
    env.step('alice sets her vCard')
    card = aioxmpp.vcard.xso.VCard()
    for name, text in (('FN', 'Alice Example'), ('NICKNAME', 'ali')):
        el = card.elements.makeelement('{%s}%s' % (NS_VCARD, name), {})
        el.text = text
        card.elements.append(el)
    await a.ok(va.set_vcard(card), 'vCard set')
    env.step('alice gets it back')
    got = await a.ok(va.get_vcard(), 'own vCard get')
    check(vcard_field(got, 'FN') == 'Alice Example' and vcard_field(got, 'NICKNAME') == 'ali',
          'own vCard: %s' % vcard_fields(got))
    env.step('bob gets alice\'s')
    got = await b.ok(vb.get_vcard(a.bare), 'alice\'s vCard from bob')
    check(vcard_field(got, 'FN') == 'Alice Example',
          'alice\'s vCard seen by bob: %s' % vcard_fields(got))
    env.step('bob\'s own, never set, is empty (result or item-not-found)')
    kind, r = await b.iq(aioxmpp.IQType.GET, aioxmpp.vcard.xso.VCard())
    check((kind == 'result' and not vcard_fields(r)) or
          (kind == 'error' and error_condition(r) == 'item-not-found'),
          'bob\'s empty vCard: %s %s' % (kind, r if kind == 'error' else vcard_fields(r)))


# ------------------------------------------------------------------ 8. blocking


@e2e_test('aioxmpp_blocking')
async def t_blocking(env):
    for u in ('alice', 'bob'):
        await env.register(u)
    a = await login(env, 'alice@localhost/a', services=[aioxmpp.BlockingClient])
    b = await login(env, 'bob@localhost/b')
    blk = a.summon(aioxmpp.BlockingClient)
    check(blk.blocklist == frozenset(), 'initial blocklist %s' % blk.blocklist)
    pushed = []
    blk.on_jids_blocked.connect(lambda jids: pushed.append(jids))
    a.wake_on(blk.on_jids_blocked, blk.on_jids_unblocked)
    env.step('alice blocks bob')
    await a.ok(blk.block_jids([b.bare]), 'block')
    await a.wait_until(lambda: pushed, 5, 'alice: block push')
    check(pushed == [frozenset({b.bare})], 'block push %s' % pushed)
    kind, r = await a.iq(aioxmpp.IQType.GET, aioxmpp.blocking.xso.BlockList())
    check(kind == 'result' and set(r.items) == {b.bare}, 'blocklist get: %s' % (
        r if kind == 'error' else set(r.items)))
    env.step('bob -> alice: not delivered, service-unavailable')
    m = aioxmpp.Message(type_=aioxmpp.MessageType.CHAT, to=a.bare)
    m.body[None] = 'blocked?'
    await b.send(m)
    err = await b.wait_message(lambda x: x.type_ == aioxmpp.MessageType.ERROR,
                               'bob: the error for a message to a blocker')
    check(err.error is not None and error_condition(err.error) == 'service-unavailable',
          'error %s, expected service-unavailable (XEP-0191)' % (err.error,))
    await a.ok(aioxmpp.ping.ping(a.client, SERVER), 'barrier')
    check(not any(body_of(x) == 'blocked?' for x in a.messages),
          'alice got a message from a blocked JID')
    env.step('unblock: delivered again')
    await a.ok(blk.unblock_jids([b.bare]), 'unblock')
    await a.wait_until(lambda: blk.blocklist == frozenset(), 5, 'alice: unblock push')
    m = aioxmpp.Message(type_=aioxmpp.MessageType.CHAT, to=a.bare)
    m.body[None] = 'after unblock'
    await b.send(m)
    await a.wait_message(lambda x: body_of(x) == 'after unblock', 'alice: message after unblock')


# ------------------------------------------------------------------ 9. ping


@e2e_test('aioxmpp_ping')
async def t_ping(env):
    for u in ('alice', 'bob'):
        await env.register(u)
    a = await login(env, 'alice@localhost/a')
    b = await login(env, 'bob@localhost/b', services=[aioxmpp.PingService])
    for to, what in ((SERVER, 'the server'), (a.bare, 'the own bare JID')):
        env.step('ping %s' % what)
        kind, r = await a.call(aioxmpp.ping.ping(a.client, to), 'ping %s' % what)
        check(kind == 'result', 'ping to %s answered %s' % (what, error_condition(r)
                                                            if kind == 'error' else r))
    env.step('ping bob\'s full JID: his aioxmpp PingService answers')
    await a.ok(aioxmpp.ping.ping(a.client, b.jid), 'ping bob')
    env.step('ping a full JID with no session: service-unavailable (RFC 6120 §8.5.3.2.1)')
    kind, r = await a.call(aioxmpp.ping.ping(a.client, jid('bob@localhost/nosuch')), 'ping nosuch')
    check(kind == 'error' and error_condition(r) == 'service-unavailable',
          'ping to a resource with no session: %s' % (error_condition(r) if kind == 'error'
                                                        else 'result'))
