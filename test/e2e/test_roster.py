"""The roster (RFC 6121 §2): get, set, remove, pushes to interested resources,
versioning (§2.6), the error cases of §2.3.3 / §2.5.3, the size limit, and
persistence across a restart.  Raw XML where the exact stanzas matter; slixmpp
where a real client's view is the point.  The helpers (Raw, make_mutual, ...)
are shared with test_presence.py."""

import asyncio
import itertools
import xml.etree.ElementTree as ET

from harness import (NS_CLIENT, TestFailure, check, e2e_test, modules_with, own_server,
                     raw_login, restart_server, stanza_error)

NS_ROSTER = 'jabber:iq:roster'
Q_ROSTER = '{%s}query' % NS_ROSTER
I_ROSTER = '{%s}item' % NS_ROSTER
G_ROSTER = '{%s}group' % NS_ROSTER
IQ = '{%s}iq' % NS_CLIENT
PRESENCE = '{%s}presence' % NS_CLIENT
_ids = itertools.count(1)


def xml_escape(s):
    return (s.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
            .replace("'", '&apos;').replace('"', '&quot;'))


def show(el):
    return ET.tostring(el, encoding='unicode') if el is not None else 'None'


def items_of(query):
    """{jid: item element} of a roster <query/>."""
    return {i.get('jid'): i for i in query.findall(I_ROSTER)}


def groups_of(item):
    return sorted(g.text or '' for g in item.findall(G_ROSTER))


class Raw:
    """A raw, bound XMPP session: what arrives is kept in order; expect() takes the
    first element not yet taken that matches."""

    def __init__(self, rs, user, resource):
        self.rs = rs
        self.bare = '%s@localhost' % user
        self.full = '%s/%s' % (self.bare, resource)
        self.taken = set()

    @classmethod
    async def login(cls, env, user, resource, roster=True, presence=None):
        rs = await raw_login(env, user, env.password(user), resource)
        r = cls(rs, user, resource)
        if roster:
            await r.get_roster()
        if presence is not None:
            await r.available(presence)
        return r

    async def send(self, text):
        await self.rs.send(text)
        check(self.rs.send_error is None, '%s: send failed: %s' % (self.full, self.rs.send_error))

    def _find(self, pred):
        for i, el in enumerate(self.rs.elements):
            if i not in self.taken and pred(el):
                return i, el
        return None, None

    async def expect(self, pred, what, timeout=5.0):
        ok = await self.rs.wait(lambda _s: self._find(pred)[1] is not None, timeout)
        i, el = self._find(pred)
        if not ok or el is None:
            raise TestFailure('%s: %s: not received within %.0fs; got %s' % (
                self.full, what, timeout,
                [show(e)[:300] for j, e in enumerate(self.rs.elements) if j not in self.taken][-6:]))
        self.taken.add(i)
        return el

    async def expect_none(self, pred, what, wait=0.7):
        """Nothing matching arrives: checked after a round trip to the server and a pause."""
        await self.ping()
        await asyncio.sleep(wait)
        _i, el = self._find(pred)
        check(el is None, '%s: %s, but got %s' % (self.full, what, show(el)))

    async def iq(self, typ, payload, to=None, timeout=5.0):
        iid = 'q%d' % next(_ids)
        await self.send("<iq type='%s' id='%s'%s>%s</iq>" % (
            typ, iid, " to='%s'" % to if to else '', payload))
        return await self.expect(lambda e: e.tag == IQ and e.get('id') == iid and
                                 e.get('type') in ('result', 'error'),
                                 'answer to iq %s %s' % (typ, payload[:80]), timeout)

    async def ping(self):
        r = await self.iq('get', "<ping xmlns='urn:xmpp:ping'/>")
        check(r.get('type') == 'result', '%s: ping failed: %s' % (self.full, show(r)))

    async def get_roster(self, ver=None):
        """The roster result iq (after a roster get, this session gets pushes)."""
        r = await self.iq('get', "<query xmlns='%s'%s/>" % (
            NS_ROSTER, '' if ver is None else " ver='%s'" % xml_escape(ver)))
        check(r.get('type') == 'result', '%s: roster get failed: %s' % (self.full, show(r)))
        return r

    async def roster(self):
        """{jid: item} of the current roster."""
        q = (await self.get_roster()).find(Q_ROSTER)
        check(q is not None, '%s: roster result without <query/>' % self.full)
        return items_of(q)

    async def set_item(self, jid, name=None, groups=(), extra=''):
        r = await self.iq('set', "<query xmlns='%s'><item jid='%s'%s%s>%s</item></query>" % (
            NS_ROSTER, xml_escape(jid), " name='%s'" % xml_escape(name) if name is not None else '',
            extra, ''.join('<group>%s</group>' % xml_escape(g) for g in groups)))
        return r

    async def available(self, inner=''):
        await self.send('<presence>%s</presence>' % inner)
        await self.expect(lambda e: e.tag == PRESENCE and e.get('from') == self.full and
                          e.get('type') is None, 'own initial presence echoed')

    async def push(self, jid, what, **attrs):
        """Waits for a roster push of `jid` whose item has the given attributes (None: absent);
        answers it like a client should and returns the item."""
        def match(e):
            if e.tag != IQ or e.get('type') != 'set':
                return False
            q = e.find(Q_ROSTER)
            if q is None:
                return False
            its = q.findall(I_ROSTER)
            if len(its) != 1 or its[0].get('jid') != jid:
                return False
            return all(its[0].get(k) == v for k, v in attrs.items())
        el = await self.expect(match, 'roster push of %s %s (%s)' % (jid, attrs, what))
        check(el.get('from') in (None, self.bare), 'push from %r (RFC 6121 §2.1.6: none or the '
              'bare JID)' % el.get('from'))
        check(el.get('to') in (self.full, None), 'push to %r, not %s' % (el.get('to'), self.full))
        check(el.find(Q_ROSTER).get('ver'), 'push without ver: %s' % show(el))
        await self.send("<iq type='result' id='%s'/>" % el.get('id'))
        return el.find(Q_ROSTER).find(I_ROSTER)

    def is_push(self, jid=None):
        def match(e):
            q = e.find(Q_ROSTER) if e.tag == IQ and e.get('type') == 'set' else None
            return q is not None and (jid is None or any(
                i.get('jid') == jid for i in q.findall(I_ROSTER)))
        return match

    async def presence_from(self, frm, ptype=None, what=None):
        return await self.expect(
            lambda e: e.tag == PRESENCE and e.get('from') == frm and e.get('type') == ptype,
            what or 'presence type=%s from %s' % (ptype, frm))

    def presence_pred(self, frm, ptype=None):
        return lambda e: e.tag == PRESENCE and e.get('from') == frm and e.get('type') == ptype

    async def close(self):
        await self.rs.send('</stream:stream>')
        await self.rs.wait(lambda s: s.eof, 3)
        await self.rs.close()


async def make_mutual(env, a, b):
    """Subscription both between users a and b, made through two raw sessions that
    never become available (and are closed afterwards)."""
    A = await Raw.login(env, a, 'setup')
    B = await Raw.login(env, b, 'setup')
    abare, bbare = A.bare, B.bare
    await A.send("<presence to='%s' type='subscribe'/>" % bbare)
    await A.push(bbare, 'a asks', ask='subscribe')
    await B.send("<presence to='%s' type='subscribed'/>" % abare)
    await B.push(abare, 'b approves', subscription='from')
    await A.push(bbare, 'a is subscribed', subscription='to')
    await B.send("<presence to='%s' type='subscribe'/>" % abare)
    await B.push(abare, 'b asks', subscription='from', ask='subscribe')
    await A.send("<presence to='%s' type='subscribed'/>" % bbare)
    await A.push(bbare, 'a approves', subscription='both')
    await B.push(abare, 'b is subscribed', subscription='both')
    await A.close()
    await B.close()


# ------------------------------------------------------------------ tests


async def full_roster(x):
    """slixmpp's get_roster without its cached version (a current ver gets an empty result)."""
    x.client_roster.version = ''
    return await x.get_roster()


@e2e_test('roster_get_set_remove_slixmpp')
async def t_get_set_remove(env):
    """A real client's view: add with name and groups, change, remove."""
    await env.register('alice')
    await env.register('bob')
    c = await env.login('alice@localhost/x')
    x = c.x
    env.step('empty roster')
    r = await x.get_roster()
    check(r['type'] == 'result' and list(r['roster']['items']) == [],
          'a new account has roster %s' % r['roster']['items'])
    check(r['roster']['ver'] != '', 'roster result without ver (RFC 6121 §2.6)')

    env.step('add bob with a name and two groups')
    await x.update_roster('bob@localhost', name='Bobby', groups=['Friends', 'Work'])
    v = x.client_roster.version
    r = await x.get_roster()
    # (slixmpp's roster_update handler adds an empty <query/> to the result it got)
    check(r['type'] == 'result' and not r['roster']['ver'] and not r['roster']['items'],
          'get with the version of the last push (%s) is not an empty result: %s' % (v, r))
    r = await full_roster(x)
    items = r['roster']['items']
    check(set(str(j) for j in items) == {'bob@localhost'}, 'roster items %s' % items)
    it = items['bob@localhost']
    check(it['name'] == 'Bobby', 'name %r' % it['name'])
    check(sorted(it['groups']) == ['Friends', 'Work'], 'groups %r' % it['groups'])
    check(it['subscription'] == 'none' and not it['ask'], 'subscription %r ask %r'
          % (it['subscription'], it['ask']))
    check(x.client_roster['bob@localhost']['name'] == 'Bobby',
          'slixmpp roster after the push: %r' % x.client_roster['bob@localhost']['name'])

    env.step('change the name, drop a group, add an item with no name or group')
    await x.update_roster('bob@localhost', name='Bob', groups=['Work'])
    await x.update_roster('carol@example.org')
    items = (await full_roster(x))['roster']['items']
    check(set(str(j) for j in items) == {'bob@localhost', 'carol@example.org'},
          'roster items %s' % list(items))
    check(items['bob@localhost']['name'] == 'Bob' and items['bob@localhost']['groups'] == ['Work'],
          'bob after the change: %s' % items['bob@localhost'])
    check(items['carol@example.org']['name'] == '' and items['carol@example.org']['groups'] == [],
          'carol: %s' % items['carol@example.org'])

    env.step('remove bob')
    await x.del_roster_item('bob@localhost')
    check('bob@localhost' not in x.client_roster, 'slixmpp still lists bob after the push')
    items = (await full_roster(x))['roster']['items']
    check(set(str(j) for j in items) == {'carol@example.org'}, 'after remove: %s' % list(items))


@e2e_test('roster_push_to_interested_resources_only')
async def t_push(env):
    """§2.1.6: a push reaches every resource that requested the roster (two here), not a
    third that never did; a push carries ver and no 'from'."""
    await env.register('alice')
    a1 = await Raw.login(env, 'alice', 'one')
    a2 = await Raw.login(env, 'alice', 'two', presence='')
    a3 = await Raw.login(env, 'alice', 'three', roster=False, presence='')
    env.step('one adds an item')
    r = await a1.set_item('bob@localhost', name='Bob', groups=['G'])
    check(r.get('type') == 'result', 'roster set: %s' % show(r))
    check(r.find(Q_ROSTER) is None, 'a roster set result is empty: %s' % show(r))
    i1 = await a1.push('bob@localhost', 'to the resource that set it', name='Bob',
                       subscription='none')
    i2 = await a2.push('bob@localhost', 'to the other interested resource', name='Bob',
                       subscription='none')
    check(groups_of(i1) == ['G'] and groups_of(i2) == ['G'], 'pushed groups %s %s'
          % (groups_of(i1), groups_of(i2)))
    check(i1.get('ask') is None, 'ask on a new item: %s' % show(i1))
    await a3.expect_none(a3.is_push(), 'a resource that never asked for the roster got a push')
    env.step('two removes it: both interested resources see subscription=remove')
    r = await a2.set_item('bob@localhost', extra=" subscription='remove'")
    check(r.get('type') == 'result', 'remove: %s' % show(r))
    await a1.push('bob@localhost', 'removal', subscription='remove')
    await a2.push('bob@localhost', 'removal', subscription='remove')
    await a3.expect_none(a3.is_push(), 'a resource that never asked for the roster got a push')
    check(await a1.roster() == {}, 'roster not empty after the removal')


@e2e_test('roster_versioning')
async def t_versioning(env):
    """§2.6: a current ver gives an empty result; a stale one the whole roster with the new
    ver; each change moves the version and the push carries it."""
    await env.register('alice')
    a = await Raw.login(env, 'alice', 'v', roster=False)
    r = await a.get_roster(ver='')
    q = r.find(Q_ROSTER)
    check(q is not None and q.get('ver'), 'get with ver="" must return the roster with ver: %s'
          % show(r))
    v1 = q.get('ver')
    env.step('ver current: empty result')
    r = await a.get_roster(ver=v1)
    check(r.get('type') == 'result' and len(r) == 0, 'get with the current ver %s: %s'
          % (v1, show(r)))
    env.step('a change moves the version')
    await a.set_item('bob@localhost', name='B')
    it = await a.push('bob@localhost', 'after the set')
    v2 = [e for e in a.rs.elements if e.tag == IQ and e.get('type') == 'set'][-1] \
        .find(Q_ROSTER).get('ver')
    check(v2 and v2 != v1, 'the push has ver %r, the version before was %r' % (v2, v1))
    check(it.get('name') == 'B', 'pushed %s' % show(it))
    env.step('a stale ver gets the whole roster with the new ver')
    r = await a.get_roster(ver=v1)
    q = r.find(Q_ROSTER)
    check(q is not None and q.get('ver') == v2, 'get with stale ver: %s' % show(r))
    check(list(items_of(q)) == ['bob@localhost'], 'items %s' % list(items_of(q)))
    r = await a.get_roster(ver=v2)
    check(len(r) == 0, 'get with the new ver is not empty: %s' % show(r))
    env.step('a removal moves it again')
    await a.set_item('bob@localhost', extra=" subscription='remove'")
    await a.push('bob@localhost', 'removal', subscription='remove')
    q = (await a.get_roster(ver=v2)).find(Q_ROSTER)
    check(q is not None and q.get('ver') not in (v1, v2) and len(q) == 0,
          'after the removal: %s' % show(q))


@e2e_test('roster_set_errors')
async def t_errors(env):
    """§2.3.3 / §2.5.3 error cases, each with its exact condition; nothing changes."""
    await env.register('alice')
    await env.register('bob')
    a = await Raw.login(env, 'alice', 'e')

    async def expect_error(payload, want, what, to=None, typ='set'):
        r = await a.iq(typ, payload, to=to)
        cond, etype, _ = stanza_error(r)
        check(r.get('type') == 'error' and cond == want, '%s: expected %s, got %s'
              % (what, want, show(r)[:400]))
        return etype

    Q = "<query xmlns='%s'>%%s</query>" % NS_ROSTER
    await expect_error(Q % "<item jid='b@localhost'/><item jid='c@localhost'/>", 'bad-request',
                       'two items in one set')
    await expect_error(Q % '', 'bad-request', 'a set without an item')
    await expect_error(Q % "<item name='x'/>", 'bad-request', 'an item without jid')
    await expect_error(Q % "<item jid='a@b@c'/>", 'bad-request', 'an invalid JID')
    await expect_error(Q % "<item jid='bob@localhost/res'/>", 'bad-request', 'a full JID')
    await expect_error(Q % "<item jid='bob@localhost'><group></group></item>", 'not-acceptable',
                       'an empty group')
    await expect_error(Q % "<item jid='bob@localhost'><group>G</group><group>G</group></item>",
                       'bad-request', 'duplicate groups')
    await expect_error(Q % ("<item jid='bob@localhost' name='%s'/>" % ('n' * 1024)),
                       'not-acceptable', 'a name of 1024 bytes')
    await expect_error(Q % ("<item jid='bob@localhost'><group>%s</group></item>" % ('g' * 1024)),
                       'not-acceptable', 'a group of 1024 bytes')
    await expect_error(Q % ''.join("<item jid='bob@localhost'>%s</item>" % ''.join(
        '<group>g%d</group>' % i for i in range(33))), 'not-acceptable', '33 groups')
    await expect_error(Q % "<item jid='nobody@localhost' subscription='remove'/>",
                       'item-not-found', 'removing an item that is not there')
    env.step("another user's roster")
    await expect_error(Q % "<item jid='carol@localhost'/>", 'forbidden', "a set to bob's roster",
                       to='bob@localhost')
    await expect_error(Q % '', 'forbidden', "a get of bob's roster", to='bob@localhost',
                       typ='get')
    check(await a.roster() == {}, 'an erroneous set changed the roster: %s'
          % list(await a.roster()))
    b = await Raw.login(env, 'bob', 'e')
    check(await b.roster() == {}, "bob's roster changed: %s" % list(await b.roster()))

    env.step('subscription values other than remove are ignored (RFC 6121 §2.1.2.5)')
    for sub in ('both', 'from', 'to', 'bogus'):
        r = await a.set_item('bob@localhost', extra=" subscription='%s' ask='subscribe' "
                             "approved='true'" % sub)
        check(r.get('type') == 'result', 'a set with subscription=%s: %s' % (sub, show(r)))
        it = await a.push('bob@localhost', 'set with subscription=%s' % sub)
        check(it.get('subscription') == 'none' and it.get('ask') is None and
              it.get('approved') is None,
              'a client forged its subscription state with subscription=%s: %s' % (sub, show(it)))
    env.step('limits that pass: 32 groups, a name of 1023 bytes')
    r = await a.set_item('bob@localhost', name='n' * 1023, groups=['g%d' % i for i in range(32)])
    check(r.get('type') == 'result', '32 groups and a 1023-byte name: %s' % show(r)[:300])
    it = (await a.roster())['bob@localhost']
    check(len(groups_of(it)) == 32 and it.get('name') == 'n' * 1023, 'stored %d groups, name %d'
          % (len(groups_of(it)), len(it.get('name') or '')))
    env.step('a contact JID too long to be a key as it is (1023-byte node)')
    long_jid = 'x' * 1023 + '@localhost'
    r = await a.set_item(long_jid, name='Long')
    check(r.get('type') == 'result', 'a 1033-byte contact JID: %s' % show(r)[:300])
    items = await a.roster()
    check(long_jid in items and items[long_jid].get('name') == 'Long',
          'the long JID is not listed as set: %s' % [j[:20] for j in items])
    r = await a.set_item(long_jid, extra=" subscription='remove'")
    check(r.get('type') == 'result' and long_jid not in await a.roster(),
          'removing the long JID: %s' % show(r)[:300])
    env.step('a roster IQ addressed to the own bare JID works')
    r = await a.iq('get', "<query xmlns='%s'/>" % NS_ROSTER, to='alice@localhost')
    check(r.get('type') == 'result' and 'bob@localhost' in items_of(r.find(Q_ROSTER)),
          'get to the own bare JID: %s' % show(r)[:300])


@e2e_test('roster_max_items', timeout=60)
async def t_max_items(_env):
    """A set that would exceed max_items gets resource-constraint (type cancel); changing an
    existing item still works; so does a subscribe once there is room again."""
    async with own_server('roster_max_items', modules=modules_with('roster', 'max_items: 3')) as env:
        await env.register('alice')
        a = await Raw.login(env, 'alice', 'm')
        for i in range(3):
            r = await a.set_item('u%d@localhost' % i)
            check(r.get('type') == 'result', 'item %d: %s' % (i, show(r)))
        r = await a.set_item('u3@localhost')
        cond, etype, _ = stanza_error(r)
        check((etype, cond) == ('cancel', 'resource-constraint'),
              'the 4th item with max_items 3: %s' % show(r))
        env.step('updating an existing item is not adding one')
        r = await a.set_item('u1@localhost', name='One')
        check(r.get('type') == 'result', 'updating an item of a full roster: %s' % show(r))
        env.step('a subscription request to a new contact is refused too')
        await a.send("<presence to='u4@localhost' type='subscribe' id='s4'/>")
        e = await a.expect(lambda e: e.tag == PRESENCE and e.get('id') == 's4', 'error for s4')
        check(stanza_error(e)[:2] == ('resource-constraint', 'cancel'),
              'subscribe past max_items: %s' % show(e))
        check(sorted(await a.roster()) == ['u0@localhost', 'u1@localhost', 'u2@localhost'],
              'roster %s' % sorted(await a.roster()))
        env.step('room again after a removal')
        await a.set_item('u0@localhost', extra=" subscription='remove'")
        r = await a.set_item('u3@localhost')
        check(r.get('type') == 'result', 'adding after a removal: %s' % show(r))


@e2e_test('roster_survives_restart', timeout=90)
async def t_restart(env):
    """Items, names, groups, subscription states (both, ask, pre-approval, a pending inbound
    request) and the version are on disk."""
    for u in ('alice', 'bob', 'carol', 'dave'):
        await env.register(u)
    await make_mutual(env, 'alice', 'bob')
    a = await Raw.login(env, 'alice', 'r')
    await a.set_item('bob@localhost', name='Bob', groups=['Friends'])
    await a.push('bob@localhost', 'name set', name='Bob', subscription='both')
    await a.send("<presence to='carol@localhost' type='subscribe'/>")
    await a.push('carol@localhost', 'ask', ask='subscribe')
    await a.send("<presence to='dave@localhost' type='subscribed'/>")
    await a.push('dave@localhost', 'pre-approval', approved='true')
    c = await Raw.login(env, 'carol', 'r')
    await c.send("<presence to='alice@localhost' type='subscribe'/>")
    await c.push('alice@localhost', 'carol asks alice', ask='subscribe')
    before = (await a.get_roster()).find(Q_ROSTER)
    ver = before.get('ver')
    await a.close()
    await c.close()

    env.step('restart')
    await restart_server(env.srv)
    env.clients.clear()
    env.raws.clear()

    env.step('the roster after the restart')
    a = await Raw.login(env, 'alice', 'again', roster=False)
    r = await a.get_roster(ver=ver)
    check(len(r) == 0, 'the version did not survive: get with ver %s gave %s' % (ver, show(r)))
    items = await a.roster()
    check(sorted(items) == ['bob@localhost', 'carol@localhost', 'dave@localhost'],
          'items after the restart: %s' % sorted(items))
    b = items['bob@localhost']
    check(b.get('subscription') == 'both' and b.get('name') == 'Bob' and
          groups_of(b) == ['Friends'], 'bob after the restart: %s' % show(b))
    check(items['carol@localhost'].get('ask') == 'subscribe', 'carol: %s'
          % show(items['carol@localhost']))
    check(items['dave@localhost'].get('approved') == 'true', 'dave: %s'
          % show(items['dave@localhost']))
    env.step('the pending request from carol is delivered on initial presence')
    await a.send('<presence/>')
    await a.presence_from('carol@localhost', 'subscribe', 'stored subscribe from carol')
    env.step('bob (both) gets alice\'s presence; bob\'s presence reaches alice')
    bob = await Raw.login(env, 'bob', 'again', presence='<show>away</show>')
    await bob.presence_from(a.full, None, 'alice presence to bob after the restart (probe)')
    await a.presence_from(bob.full, None, 'bob presence to alice after the restart')
