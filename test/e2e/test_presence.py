"""Presence subscriptions (RFC 6121 §3, Appendix A, pre-approval §3.4) and presence
to contacts (§4: broadcast, probes, directed presence, unavailable when a session
ends however it ends)."""

import asyncio
import os
import signal

from harness import check, e2e_test
from test_roster import PRESENCE, Q_ROSTER, Raw, make_mutual, show


def sub(jid, ptype):
    return "<presence to='%s' type='%s'/>" % (jid, ptype)


@e2e_test('presence_subscription_handshake')
async def t_handshake(env):
    """alice <-> bob, every step of §3.1 with the ask state and the pushes on both sides."""
    await env.register('alice')
    await env.register('bob')
    a = await Raw.login(env, 'alice', 'a', presence='<status>here</status>')
    b = await Raw.login(env, 'bob', 'b', presence='')

    env.step('alice asks: her push shows ask, bob gets the request from her bare JID')
    await a.send("<presence to='bob@localhost' type='subscribe' id='s1'><status>hi bob</status>"
                 "</presence>")
    await a.push('bob@localhost', 'alice subscribes', subscription='none', ask='subscribe')
    req = await b.presence_from('alice@localhost', 'subscribe')
    check(req.get('to') == 'bob@localhost', 'request to %r' % req.get('to'))
    check(req.findtext('{jabber:client}status') == 'hi bob', 'status lost: %s' % show(req))
    await b.expect_none(b.is_push(), 'a pending inbound request was pushed to bob (§3.1.3)')
    check(await b.roster() == {}, "bob's roster lists a request he did not answer")

    env.step('alice asks again: no new request for bob (A.3.1: pending in)')
    await a.send(sub('bob@localhost', 'subscribe'))
    await b.expect_none(b.presence_pred('alice@localhost', 'subscribe'),
                        'a second request while one is pending was delivered')

    env.step('bob approves: from for bob, to for alice, alice gets bob\'s presence')
    await b.send(sub('alice@localhost', 'subscribed'))
    await b.push('alice@localhost', 'bob approves', subscription='from', ask=None)
    await a.push('bob@localhost', 'approved', subscription='to', ask=None)
    await a.presence_from('bob@localhost', 'subscribed')
    await a.presence_from(b.full, None, "bob's presence after the approval (§3.1.5)")
    await b.expect_none(b.presence_pred(a.full), "bob sees alice's presence without a "
                        "subscription to her")

    env.step('bob asks back and alice approves: both')
    await b.send(sub('alice@localhost', 'subscribe'))
    await b.push('alice@localhost', 'bob asks', subscription='from', ask='subscribe')
    await a.presence_from('bob@localhost', 'subscribe')
    await a.send(sub('bob@localhost', 'subscribed'))
    await a.push('bob@localhost', 'alice approves', subscription='both')
    await b.push('alice@localhost', 'bob is subscribed', subscription='both', ask=None)
    await b.presence_from('alice@localhost', 'subscribed')
    p = await b.presence_from(a.full, None, "alice's presence after her approval")
    check(p.findtext('{jabber:client}status') == 'here', 'status lost: %s' % show(p))

    env.step('a redundant subscribed changes nothing and is not routed (A.2.3)')
    await a.send(sub('bob@localhost', 'subscribed'))
    await a.expect_none(a.is_push('bob@localhost'), 'a push for a subscribed that changed nothing')
    await b.expect_none(b.presence_pred('alice@localhost', 'subscribed'),
                        'a redundant subscribed was delivered')
    items = await a.roster()
    check(items['bob@localhost'].get('subscription') == 'both', 'alice: %s'
          % show(items['bob@localhost']))


@e2e_test('presence_subscribe_waits_for_login')
async def t_offline_request(env):
    """A request to a user with no available resource waits and is delivered on each initial
    presence until it is answered (§3.1.3)."""
    await env.register('alice')
    await env.register('bob')
    a = await Raw.login(env, 'alice', 'a')
    await a.send("<presence to='bob@localhost' type='subscribe'><status>it is me</status>"
                 "</presence>")
    await a.push('bob@localhost', 'asked', ask='subscribe')
    env.step('bob connects: nothing before initial presence')
    b = await Raw.login(env, 'bob', 'one')
    await b.expect_none(b.presence_pred('alice@localhost', 'subscribe'),
                        'the request came before initial presence')
    await b.send('<presence/>')
    req = await b.presence_from('alice@localhost', 'subscribe', 'the stored request')
    check(req.findtext('{jabber:client}status') == 'it is me', 'stored request lost its status: '
          '%s' % show(req))
    env.step('another resource becomes available: it gets it too (still pending)')
    b2 = await Raw.login(env, 'bob', 'two', presence='')
    await b2.presence_from('alice@localhost', 'subscribe', 'the stored request, again')
    env.step('bob approves; a later login gets no request')
    await b2.send(sub('alice@localhost', 'subscribed'))
    await a.push('bob@localhost', 'approved', subscription='to')
    await b.push('alice@localhost', 'approved', subscription='from')
    b3 = await Raw.login(env, 'bob', 'three', presence='')
    await b3.expect_none(b3.presence_pred('alice@localhost', 'subscribe'),
                         'an answered request was delivered again')
    env.step('a request that is denied is gone too')
    await env.register('carol')
    c = await Raw.login(env, 'carol', 'c', presence='')
    await c.send(sub('bob@localhost', 'subscribe'))
    await b3.presence_from('carol@localhost', 'subscribe')
    await b3.send(sub('carol@localhost', 'unsubscribed'))
    await c.push('bob@localhost', 'denied', subscription='none', ask=None)
    await c.presence_from('bob@localhost', 'unsubscribed')
    check('carol@localhost' not in await b3.roster(), 'a denied request shows in the roster')
    b4 = await Raw.login(env, 'bob', 'four', presence='')
    await b4.expect_none(b4.presence_pred('carol@localhost', 'subscribe'),
                         'a denied request was delivered again')


@e2e_test('presence_preapproval')
async def t_preapproval(env):
    """§3.4: subscribed before any request pre-approves; the request is then answered by
    the server and never reaches the user; unsubscribed cancels a pre-approval."""
    for u in ('alice', 'bob', 'carol'):
        await env.register(u)
    b = await Raw.login(env, 'bob', 'b', presence='<show>chat</show>')
    a = await Raw.login(env, 'alice', 'a', presence='')
    env.step('bob pre-approves alice: an item with approved=true, nothing sent to alice')
    await b.send(sub('alice@localhost', 'subscribed'))
    await b.push('alice@localhost', 'pre-approval', subscription='none', approved='true')
    await a.expect_none(a.presence_pred('bob@localhost', 'subscribed'),
                        'a pre-approval was sent to the contact')
    env.step('alice asks: approved at once, bob never sees the request')
    await a.send(sub('bob@localhost', 'subscribe'))
    await a.push('bob@localhost', 'asked', ask='subscribe')
    await a.push('bob@localhost', 'approved by the server', subscription='to', ask=None)
    await a.presence_from('bob@localhost', 'subscribed')
    p = await a.presence_from(b.full, None, "bob's presence after the automatic approval")
    check(p.findtext('{jabber:client}show') == 'chat', 'presence %s' % show(p))
    await b.push('alice@localhost', 'from, approval used', subscription='from', approved=None)
    await b.expect_none(b.presence_pred('alice@localhost', 'subscribe'),
                        'a pre-approved request reached the user')
    env.step('a cancelled pre-approval is not used')
    await b.send(sub('carol@localhost', 'subscribed'))
    await b.push('carol@localhost', 'pre-approval', approved='true')
    await b.send(sub('carol@localhost', 'unsubscribed'))
    await b.push('carol@localhost', 'pre-approval cancelled', approved=None, subscription='none')
    c = await Raw.login(env, 'carol', 'c', presence='')
    await c.expect_none(c.presence_pred('bob@localhost', 'unsubscribed'),
                        'cancelling a pre-approval was routed to the contact')
    await c.send(sub('bob@localhost', 'subscribe'))
    await c.push('bob@localhost', 'asked', ask='subscribe')
    await b.presence_from('carol@localhost', 'subscribe', 'the request (no pre-approval left)')
    await c.expect_none(c.presence_pred('bob@localhost', 'subscribed'),
                        'approved with a cancelled pre-approval')


@e2e_test('presence_unsubscribe_and_unsubscribed')
async def t_unsubscribe(env):
    """§3.2 / §3.3 on a mutual subscription: each side's state, pushes, delivery, and the
    unavailable presence the one who lost the subscription gets."""
    await env.register('alice')
    await env.register('bob')
    await make_mutual(env, 'alice', 'bob')
    a = await Raw.login(env, 'alice', 'a', presence='')
    b = await Raw.login(env, 'bob', 'b', presence='')
    await a.presence_from(b.full, None, 'bob (both) seen by alice')
    await b.presence_from(a.full, None, 'alice (both) seen by bob')

    env.step('alice unsubscribes from bob: alice from, bob to, alice sees bob go')
    await a.send(sub('bob@localhost', 'unsubscribe'))
    await a.push('bob@localhost', 'unsubscribe', subscription='from')
    await b.push('alice@localhost', 'alice unsubscribed', subscription='to')
    await b.presence_from('alice@localhost', 'unsubscribe')
    await a.presence_from(b.full, 'unavailable', "bob's resources unavailable to alice (§3.3.3)")

    env.step('bob changes presence: alice no longer gets it; bob still gets hers')
    await b.send('<presence><show>dnd</show></presence>')
    await a.send('<presence><show>away</show></presence>')
    await b.expect(lambda e: e.tag == PRESENCE and e.get('from') == a.full and
                   e.findtext('{jabber:client}show') == 'away', "alice's change")
    await a.expect_none(lambda e: e.tag == PRESENCE and e.get('from') == b.full and
                        e.findtext('{jabber:client}show') == 'dnd',
                        'presence to a contact that unsubscribed')

    env.step('alice revokes bob\'s subscription: none on both sides')
    await a.send(sub('bob@localhost', 'unsubscribed'))
    await a.push('bob@localhost', 'unsubscribed', subscription='none')
    await b.push('alice@localhost', 'revoked', subscription='none')
    await b.presence_from('alice@localhost', 'unsubscribed')
    await b.presence_from(a.full, 'unavailable', "alice's resources unavailable to bob (§3.2.2)")
    env.step('redundant ones are not routed (A.3.3, A.3.4)')
    await a.send(sub('bob@localhost', 'unsubscribed'))
    await a.send(sub('bob@localhost', 'unsubscribe'))
    await b.expect_none(lambda e: e.tag == PRESENCE and e.get('type') in ('unsubscribed',
                                                                           'unsubscribe'),
                        'a subscription stanza that changed nothing was delivered')
    env.step('remove after a new mutual subscription: unsubscribe + unsubscribed (§2.5.2)')
    await make_mutual(env, 'alice', 'bob')
    await a.push('bob@localhost', 'both again', subscription='both')
    await b.push('alice@localhost', 'both again', subscription='both')
    r = await a.set_item('bob@localhost', extra=" subscription='remove'")
    check(r.get('type') == 'result', 'remove: %s' % show(r))
    await a.push('bob@localhost', 'removed', subscription='remove')
    await b.presence_from('alice@localhost', 'unsubscribe')
    await b.presence_from('alice@localhost', 'unsubscribed')
    await b.push('alice@localhost', 'alice removed bob', subscription='none')
    await b.presence_from(a.full, 'unavailable', 'alice gone for bob after the removal')


@e2e_test('presence_probe_broadcast_priority')
async def t_broadcast(env):
    """After a mutual subscription: a contact's presence arrives on login (probe answered by
    the server), changes are broadcast with show/status/priority, a contact with only a
    pending request gets nothing."""
    for u in ('alice', 'bob', 'carol'):
        await env.register(u)
    await make_mutual(env, 'alice', 'bob')
    b = await Raw.login(env, 'bob', 'b',
                        presence='<show>away</show><status>lunch</status><priority>5</priority>')
    b2 = await Raw.login(env, 'bob', 'b2', presence='<priority>-1</priority>')
    c = await Raw.login(env, 'carol', 'c')
    await c.send(sub('alice@localhost', 'subscribe'))
    await c.push('alice@localhost', 'carol asks', ask='subscribe')
    await c.send('<presence/>')

    env.step("alice logs in: both of bob's resources' presence arrive")
    a = await Raw.login(env, 'alice', 'a', presence='<priority>3</priority>')
    p = await a.presence_from(b.full, None, "bob's presence on alice's login")
    check(p.findtext('{jabber:client}show') == 'away' and
          p.findtext('{jabber:client}status') == 'lunch' and
          p.findtext('{jabber:client}priority') == '5', 'presence %s' % show(p))
    check(p.get('to') == a.full, 'probe answer to %r' % p.get('to'))
    p = await a.presence_from(b2.full, None, "bob's second resource on alice's login")
    check(p.findtext('{jabber:client}priority') == '-1', 'priority lost: %s' % show(p))
    p = await b.presence_from(a.full, None, "alice's initial presence to bob")
    check(p.findtext('{jabber:client}priority') == '3', 'priority lost: %s' % show(p))
    check(p.get('to') == 'bob@localhost', 'broadcast to %r' % p.get('to'))
    await b2.presence_from(a.full, None, "alice's initial presence to bob's second resource")
    await c.expect_none(c.presence_pred(a.full), 'presence to a contact with a pending request')

    env.step('changes are broadcast')
    await b.send('<presence><show>xa</show><priority>7</priority></presence>')
    p = await a.expect(lambda e: e.tag == PRESENCE and e.get('from') == b.full and
                       e.findtext('{jabber:client}show') == 'xa', "bob's change")
    check(p.findtext('{jabber:client}priority') == '7', 'priority lost: %s' % show(p))
    await a.send('<presence><status>busy</status></presence>')
    await b.expect(lambda e: e.tag == PRESENCE and e.get('from') == a.full and
                   e.findtext('{jabber:client}status') == 'busy', "alice's change")
    env.step('unavailable is broadcast too')
    await b2.send("<presence type='unavailable'><status>bye</status></presence>")
    p = await a.presence_from(b2.full, 'unavailable')
    check(p.findtext('{jabber:client}status') == 'bye', 'status lost: %s' % show(p))
    env.step('a new resource of alice gets bob\'s current presence only')
    a2 = await Raw.login(env, 'alice', 'a2', presence='')
    p = await a2.expect(lambda e: e.tag == PRESENCE and e.get('from') == b.full, "bob's presence")
    check(p.findtext('{jabber:client}show') == 'xa', 'not the current presence: %s' % show(p))
    await a2.expect_none(a2.presence_pred(b2.full), 'presence of an unavailable resource')


@e2e_test('presence_directed')
async def t_directed(env):
    """§4.6: directed presence to a non-contact, and its unavailable when that session goes
    unavailable or closes."""
    for u in ('alice', 'dave', 'erin'):
        await env.register(u)
    d = await Raw.login(env, 'dave', 'd', presence='')
    e = await Raw.login(env, 'erin', 'e', presence='')
    a = await Raw.login(env, 'alice', 'a', presence='')
    await a.send("<presence to='dave@localhost'><status>psst</status></presence>")
    p = await d.presence_from(a.full, None, 'directed presence')
    check(p.findtext('{jabber:client}status') == 'psst', 'directed presence %s' % show(p))
    await a.send("<presence to='%s'/>" % e.full)
    await e.presence_from(a.full, None, 'directed presence to a full JID')
    env.step('a broadcast does not reach directed recipients')
    await a.send('<presence><show>away</show></presence>')
    await d.expect_none(lambda x: x.tag == PRESENCE and x.get('from') == a.full and
                        x.findtext('{jabber:client}show') == 'away',
                        'a broadcast reached a directed presence recipient')
    env.step('directed unavailable to erin: erin is forgotten')
    await a.send("<presence to='%s' type='unavailable'/>" % e.full)
    await e.presence_from(a.full, 'unavailable')
    env.step('alice closes her stream: dave gets unavailable, erin nothing more')
    await a.close()
    await d.presence_from(a.full, 'unavailable', 'unavailable after the session closed')
    await e.expect_none(e.presence_pred(a.full, 'unavailable'), 'a second unavailable')
    env.step('a session that never became available: still told')
    a2 = await Raw.login(env, 'alice', 'a2')
    await a2.send("<presence to='dave@localhost'/>")
    await d.presence_from(a2.full, None, 'directed presence without initial presence')
    await a2.close()
    await d.presence_from(a2.full, 'unavailable', 'unavailable of a never available session')


@e2e_test('presence_directed_without_initial_presence')
async def t_directed_no_initial(env):
    """RFC 6121 4.6: a session that never sent initial presence sends directed presence
    to a bare JID: every available resource of it gets it (two here), a second one with
    another <show/> arrives as a change, a directed unavailable arrives; after a new
    directed available, a broadcast unavailable (no 'to') reaches the recipient too
    (4.6.4), although the sender was never available.  The same for a contact."""
    for u in ('alice', 'dave', 'carl'):
        await env.register(u)
    await make_mutual(env, 'alice', 'carl')
    for peer in ('dave', 'carl'):
        env.step('recipient %s' % peer)
        r1 = await Raw.login(env, peer, 'one', presence='')
        r2 = await Raw.login(env, peer, 'two', presence='')
        a = await Raw.login(env, 'alice', 'quiet-' + peer)  # no initial presence
        await a.send("<presence to='%s@localhost'><show>chat</show></presence>" % peer)
        for r in (r1, r2):
            p = await r.presence_from(a.full, None, 'directed available at %s' % r.full)
            check(p.findtext('{jabber:client}show') == 'chat', 'show %s' % show(p))
        await a.send("<presence to='%s@localhost'><show>away</show></presence>" % peer)
        for r in (r1, r2):
            p = await r.presence_from(a.full, None, 'the change at %s' % r.full)
            check(p.findtext('{jabber:client}show') == 'away', 'changed show %s' % show(p))
        await a.send("<presence to='%s@localhost' type='unavailable'/>" % peer)
        for r in (r1, r2):
            await r.presence_from(a.full, 'unavailable', 'directed unavailable at %s' % r.full)
        env.step('directed available, then a broadcast unavailable (%s)' % peer)
        await a.send("<presence to='%s@localhost'/>" % peer)
        for r in (r1, r2):
            await r.presence_from(a.full, None, 'second directed available at %s' % r.full)
        await a.send("<presence type='unavailable'/>")
        for r in (r1, r2):
            await r.presence_from(a.full, 'unavailable', 'broadcast unavailable of a session '
                                  'that was never available, at %s' % r.full)
        await a.close()
        for r in (r1, r2):
            await r.expect_none(r.presence_pred(a.full, 'unavailable'),
                                'a second unavailable after the close')
            await r.close()


@e2e_test('presence_unavailable_on_close_and_crash', timeout=90, expect_child_death=True)
async def t_close_crash(env):
    """Contacts get unavailable when a session ends by a clean close and when its worker is
    killed with SIGKILL (RFC 6121 §4.5.3.2: the server does it for the client)."""
    srv = env.srv
    await env.register('alice')
    await env.register('bob')
    await make_mutual(env, 'alice', 'bob')
    b, wb = await env.login_placed('bob@localhost', tag='b')
    a, wa = await env.login_placed('alice@localhost', avoid=wb, tag='a')
    check(wa != wb, 'alice and bob on the same worker')

    def saw(c, frm, ptype):
        return any(str(p['from']) == frm and p['type'] == ptype for p in c.presences)

    await b.wait_until(lambda: saw(b, a.jid, 'available'), 5, "bob sees alice's presence")
    await a.wait_until(lambda: saw(a, b.jid, 'available'), 5, "alice sees bob's presence")
    env.step('clean close')
    await a.close()
    await b.wait_until(lambda: saw(b, a.jid, 'unavailable'), 5,
                       'bob waiting for unavailable from %s after a clean close' % a.jid)
    env.step('alice again on worker %d, then SIGKILL' % wa)
    a2, w2 = await env.login_placed('alice@localhost', want=wa, tag='k')
    await b.wait_until(lambda: saw(b, a2.jid, 'available'), 5, "bob sees alice's new session")
    pid, _gen = srv.worker_pid(w2)
    os.kill(pid, signal.SIGKILL)
    await a2.wait_gone(5, 'client on the killed worker')
    await b.wait_until(lambda: saw(b, a2.jid, 'unavailable'), 10,
                       'bob waiting for unavailable from %s after its worker died' % a2.jid)


@e2e_test('presence_slixmpp_mutual_subscription')
async def t_slixmpp(env):
    """A real client: slixmpp's default auto-authorize/auto-subscribe ends in 'both' on
    both sides with the presence flowing; with auto_authorize None the request is an event."""
    for u in ('alice', 'bob', 'carol'):
        await env.register(u)
    a = await env.login('alice@localhost/a')
    b = await env.login('bob@localhost/b')
    await a.x.get_roster()
    await b.x.get_roster()
    a.x.send_presence(pto='bob@localhost', ptype='subscribe')

    def state(c, jid):
        return c.x.client_roster[jid]['subscription'] if jid in c.x.client_roster else None
    await a.wait_until(lambda: state(a, 'bob@localhost') == 'both', 10,
                       'alice: bob both (is %s)' % state(a, 'bob@localhost'))
    await b.wait_until(lambda: state(b, 'alice@localhost') == 'both', 10,
                       'bob: alice both (is %s)' % state(b, 'alice@localhost'))
    await a.wait_until(lambda: any(str(p['from']) == b.jid and p['type'] == 'available'
                                   for p in a.presences), 5, "alice sees bob")
    env.step('manual flow: carol asks, bob answers by hand')
    b.x.auto_authorize = None
    b.x.auto_subscribe = False
    got = asyncio.get_running_loop().create_future()
    b.x.add_event_handler('presence_subscribe',
                          lambda p: got.done() or got.set_result(str(p['from'])))
    c = await env.login('carol@localhost/c')
    await c.x.get_roster()
    c.x.send_presence(pto='bob@localhost', ptype='subscribe')
    frm = await asyncio.wait_for(got, 5)
    check(frm == 'carol@localhost', 'subscribe event from %s' % frm)
    # Carol's roster push travels on her own connection: wait for it, do not race it.
    await c.wait_until(lambda: state(c, 'bob@localhost') == 'none' and
                       c.x.client_roster['bob@localhost']['pending_out'], 5,
                       'carol: bob none + pending out (is %s)' % state(c, 'bob@localhost'))
    b.x.send_presence(pto='carol@localhost', ptype='subscribed')
    await c.wait_until(lambda: state(c, 'bob@localhost') == 'to', 5,
                       'carol: bob to (is %s)' % state(c, 'bob@localhost'))
    await c.wait_until(lambda: any(str(p['from']) == b.jid for p in c.presences), 5,
                       'carol sees bob')


@e2e_test('presence_account_removed')
async def t_removed(env):
    """Deleting an account deletes its roster and cancels its subscriptions at its contacts."""
    await env.register('alice')
    await env.register('bob')
    await make_mutual(env, 'alice', 'bob')
    b = await Raw.login(env, 'bob', 'b', presence='')
    al = await Raw.login(env, 'alice', 'online', presence='')
    await b.presence_from('alice@localhost/online', None, 'alice available before the deletion')
    rc, _out, err = await env.srv.ctl('unregister', 'alice', 'localhost')
    check(rc == 0, 'unregister: %s' % err)
    # RFC 6121 3.2.2: a contact losing the subscription sees the account go.
    await b.presence_from('alice@localhost/online', 'unavailable', 'alice unavailable on deletion')
    await b.push('alice@localhost', 'alice deleted', subscription='none', ask=None)
    del al
    await env.register('alice')
    a = await Raw.login(env, 'alice', 'new')
    q = (await a.get_roster()).find(Q_ROSTER)
    check(len(q) == 0, 'a new account with the old name has roster %s' % show(q))
