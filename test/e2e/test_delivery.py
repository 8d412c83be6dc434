"""Message and IQ delivery to local accounts (RFC 6121 §8.5.2, §8.5.3), as the core
router implements them, end to end: priorities, headline and groupchat to a bare
JID, missing full JIDs, nonexistent accounts."""

from harness import barrier, check, e2e_test, expect_error

NS_DELAY = 'urn:xmpp:delay'


def bodies(c):
    return [m['body'] for m in c.messages]


async def alice_and_bob(env):
    """alice/a online, and bob/b online with priority 1."""
    await env.register('alice')
    await env.register('bob')
    return await env.login('alice@localhost/a'), await env.login('bob@localhost/b', priority=1)


def send_error_message(c, to, mid):
    m = c.x.make_message(mto=to, mbody='an error', mtype='error')
    m['id'] = mid
    m['error']['type'] = 'cancel'
    m['error']['condition'] = 'item-not-found'
    m.send()


async def check_error_ignored(a, b, to, mid, rule):
    """A message of type error from a to `to` is silently ignored (rule): bob (b) gets
    nothing and a no error back."""
    send_error_message(a, to, mid)
    await barrier(a, b)
    check(not b.errors, '%s: an error message to %s must be silently ignored; bob got %s'
          % (rule, to, b.errors[:1]))
    check(not a.errors, 'an error was answered with an error: %s' % a.errors[:1])


@e2e_test('delivery_bare_highest_priority_gets_it')
async def t_highest(env):
    await env.register('alice')
    await env.register('bob')
    a = await env.login('alice@localhost/a')
    low = await env.login('bob@localhost/low', priority=1)
    high = await env.login('bob@localhost/high', priority=5)
    for mtype in ('chat', 'normal'):
        env.step('%s to the bare JID' % mtype)
        a.send_chat('bob@localhost', mtype, mtype=mtype)
    await barrier(a, low, high)
    check(bodies(high) == ['chat', 'normal'], 'highest priority resource got %r' % bodies(high))
    check(not low.messages, 'lower priority resource got %r (RFC 6121 8.5.2.1.1 lets the server '
          'pick the most available; ours picks the highest)' % bodies(low))
    check(str(high.messages[0]['to']) == 'bob@localhost',
          "'to' rewritten to %r; RFC 6121 8.5.2.1.1: MUST NOT" % str(high.messages[0]['to']))


@e2e_test('delivery_bare_equal_priority_all_get_it')
async def t_equal(env):
    # route.c message_bare picks PICK_BEST: every resource sharing the highest
    # non-negative priority gets the message; a lower one does not.
    await env.register('alice')
    await env.register('bob')
    a = await env.login('alice@localhost/a')
    r1 = await env.login('bob@localhost/r1', priority=2)
    r2 = await env.login('bob@localhost/r2', priority=2)
    r3 = await env.login('bob@localhost/r3', priority=0)
    a.send_chat('bob@localhost', 'to both')
    await barrier(a, r1, r2, r3)
    check(bodies(r1) == ['to both'] and bodies(r2) == ['to both'],
          'equal top priorities: r1 %r r2 %r, expected both' % (bodies(r1), bodies(r2)))
    check(not r3.messages, 'lower priority r3 got %r' % bodies(r3))


@e2e_test('delivery_bare_negative_only_goes_offline')
async def t_negative(env):
    await env.register('alice')
    await env.register('bob')
    a = await env.login('alice@localhost/a')
    neg = await env.login('bob@localhost/neg', priority=-1)
    a.send_chat('bob@localhost', 'stored')
    await barrier(a, neg)
    check(not neg.messages, 'negative priority resource got %r (RFC 6121 8.5.2.1.1: MUST NOT)'
          % bodies(neg))
    check(not a.errors, 'sender got an error: %s' % a.errors[:1])
    env.step('a non-negative resource logs in and gets it from offline storage')
    pos = await env.login('bob@localhost/pos', priority=0)
    await pos.wait_messages(1, 10)
    check(bodies(pos) == ['stored'], 'got %r' % bodies(pos))
    check(pos.messages[0].xml.find('{%s}delay' % NS_DELAY) is not None,
          'not from offline storage (no delay): %s' % pos.messages[0])


@e2e_test('delivery_headline_bare_nonnegative_resources')
async def t_headline(env):
    await env.register('alice')
    await env.register('bob')
    a = await env.login('alice@localhost/a')
    r1 = await env.login('bob@localhost/r1', priority=3)
    r2 = await env.login('bob@localhost/r2', priority=0)
    neg = await env.login('bob@localhost/neg', priority=-1)
    a.send_chat('bob@localhost', 'news', mtype='headline')
    await barrier(a, r1, r2, neg)
    check(bodies(r1) == ['news'] and bodies(r2) == ['news'],
          'headline: r1 %r r2 %r, expected every non-negative resource' % (bodies(r1), bodies(r2)))
    check(not neg.messages, 'negative resource got the headline')
    env.step('with only a negative resource: dropped silently, not stored')
    await r1.close()
    await r2.close()
    a.send_chat('bob@localhost', 'late news', mtype='headline', mid='h2')
    await barrier(a, neg)
    check(not a.errors, 'headline to no resource answered with an error: %s' % a.errors[:1])
    check(not neg.messages, 'negative resource got %r' % bodies(neg))
    pos = await env.login('bob@localhost/pos', priority=1)
    await barrier(a, pos)
    check(not pos.messages, 'a headline was stored offline: %r' % bodies(pos))


@e2e_test('delivery_groupchat_to_bare_is_error')
async def t_groupchat(env):
    a, b = await alice_and_bob(env)
    a.send_chat('bob@localhost', 'gc', mtype='groupchat', mid='gc1')
    e = await a.wait_error_for('gc1')
    check(e['error']['condition'] == 'service-unavailable', 'groupchat to bare: %s' % e)
    check(str(e['from']) == 'bob@localhost', 'error from %r' % str(e['from']))
    await barrier(a, b)
    check(not b.messages, 'groupchat to a bare JID delivered: %r' % bodies(b))


@e2e_test('delivery_full_jid_missing')
async def t_full_missing(env):
    a, b = await alice_and_bob(env)
    env.step('chat to a missing full JID goes to the bare JID (RFC 6121 8.5.3.2.1)')
    a.send_chat('bob@localhost/nothere', 'rerouted', mid='c1')
    await b.wait_messages(1, 5)
    check(bodies(b) == ['rerouted'], 'got %r' % bodies(b))
    env.step('groupchat to a missing full JID: service-unavailable')
    a.send_chat('bob@localhost/nothere', 'gc', mtype='groupchat', mid='g1')
    e = await a.wait_error_for('g1')
    check(e['error']['condition'] == 'service-unavailable', 'groupchat: %s' % e)
    check(str(e['from']) == 'bob@localhost/nothere', 'error from %r' % str(e['from']))
    await barrier(a, b)
    check(bodies(b) == ['rerouted'], 'bob got %r' % bodies(b))


@e2e_test('delivery_normal_headline_to_missing_full_jid_not_rerouted')
async def t_headline_full_missing(env):
    # RFC 6121 8.5.3.2.1: only type chat to a missing full JID is handled as if sent
    # to the bare JID; normal, groupchat and headline are ignored or bounced.
    a, b = await alice_and_bob(env)
    a.send_chat('bob@localhost/nothere', 'hl', mtype='headline', mid='h1')
    a.send_chat('bob@localhost/nothere', 'nm', mtype='normal', mid='n1')
    await barrier(a, b)
    check(not b.messages, 'RFC 6121 8.5.3.2.1: a normal or headline message to a missing full '
          'JID must be ignored or answered with an error, not delivered to another resource; '
          'bob/b got %r' % bodies(b))
    for e in a.errors:
        check(e['error']['condition'] == 'service-unavailable', 'bounced with %s' % e)


@e2e_test('delivery_error_to_missing_full_jid_ignored')
async def t_error_full_missing(env):
    a, b = await alice_and_bob(env)
    await check_error_ignored(a, b, 'bob@localhost/nothere', 'e1', 'RFC 6121 8.5.3.2.1')


@e2e_test('delivery_error_to_bare_ignored')
async def t_error_bare(env):
    a, b = await alice_and_bob(env)
    await check_error_ignored(a, b, 'bob@localhost', 'e1', 'RFC 6121 8.5.2.1.1')
    env.step('and with bob offline: ignored too (8.5.2.2.1)')
    await b.close()
    send_error_message(a, 'bob@localhost', 'e2')
    await barrier(a)
    check(not a.errors, 'error to offline bare JID answered: %s' % a.errors[:1])
    b2 = await env.login('bob@localhost/b2', priority=1)
    await barrier(a, b2)
    check(not b2.errors and not b2.messages, 'an error message was stored: %s'
          % (b2.errors[:1] or b2.messages[:1]))


@e2e_test('delivery_nonexistent_user_service_unavailable')
async def t_nobody(env):
    await env.register('alice')
    a = await env.login('alice@localhost/a')
    for to in ('nobody@localhost', 'nobody@localhost/r'):
        for mtype in ('chat', 'normal'):
            mid = '%s-%s' % (mtype, to)
            a.send_chat(to, 'hi', mtype=mtype, mid=mid)
            e = await a.wait_error_for(mid)
            check(e['error']['condition'] == 'service-unavailable',
                  '%s to %s: condition %r' % (mtype, to, e['error']['condition']))
            check(e['error']['type'] == 'cancel', 'error type %r' % e['error']['type'])
    env.step('iq to a nonexistent account')
    kind, r = await a.iq_get('nobody@localhost/r', 'urn:xmpp:ping')
    expect_error(kind, r, 'service-unavailable', 'iq to nobody@localhost/r')


@e2e_test('delivery_iq_full_jid')
async def t_iq(env):
    a, b = await alice_and_bob(env)
    env.step('iq to a full JID with no session: service-unavailable (RFC 6121 8.5.3.2.2)')
    kind, r = await a.iq_get('bob@localhost/none', 'urn:xmpp:ping')
    expect_error(kind, r, 'service-unavailable', 'iq to a missing full JID')
    check(str(r['from']) == 'bob@localhost/none', 'error from %r' % str(r['from']))
    env.step('iq to a connected resource that sent no presence is delivered (RFC 6120 10.5.4)')
    quiet = await env.login('bob@localhost/quiet', presence=False)
    r = await a.ping(quiet.jid)
    check(r['type'] == 'result' and str(r['from']) == quiet.jid, 'ping %s: %s' % (quiet.jid, r))
    r = await a.ping(b.jid)
    check(r['type'] == 'result' and str(r['from']) == b.jid, 'ping %s: %s' % (b.jid, r))
