"""vcard-temp (XEP-0054) and the user directory (XEP-0055 with XEP-0004 forms)
on vjud.localhost: storage and retrieval, who may read and write, the size
limit, the search form, exact / prefix / ANDed / case-insensitive searches,
the result limit, the index kept right across updates, account removal and a
restart."""

import asyncio
import base64
import os
import xml.etree.ElementTree as ET

from harness import (check, e2e_test, modules_with, own_server, raw_login, restart_server,
                     stanza_error)

NS_VCARD = 'vcard-temp'
NS_SEARCH = 'jabber:iq:search'
NS_XDATA = 'jabber:x:data'
NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'
DISCO_INFO = 'http://jabber.org/protocol/disco#info'
DISCO_ITEMS = 'http://jabber.org/protocol/disco#items'
VJUD = 'vjud.localhost'
FORM_FIELDS = ['user', 'fn', 'first', 'middle', 'last', 'nick', 'bday', 'ctry', 'locality',
               'email', 'orgname', 'orgunit']


# ------------------------------------------------------------------ helpers

def V(tag):
    return '{%s}%s' % (NS_VCARD, tag)


def X(tag):
    return '{%s}%s' % (NS_XDATA, tag)


def S(tag):
    return '{%s}%s' % (NS_SEARCH, tag)


def vcard(**f):
    """A <vCard/> with the usual fields: fn, given, family, middle, nick, bday,
    email, locality, ctry, orgname, orgunit, desc (only those given)."""
    vc = ET.Element(V('vCard'))

    def sub(parent, tag, text=None):
        e = ET.SubElement(parent, V(tag))
        if text is not None:
            e.text = text
        return e
    if 'fn' in f:
        sub(vc, 'FN', f['fn'])
    if any(k in f for k in ('given', 'family', 'middle')):
        n = sub(vc, 'N')
        for k, tag in (('family', 'FAMILY'), ('given', 'GIVEN'), ('middle', 'MIDDLE')):
            if k in f:
                sub(n, tag, f[k])
    if 'nick' in f:
        sub(vc, 'NICKNAME', f['nick'])
    if 'bday' in f:
        sub(vc, 'BDAY', f['bday'])
    if 'email' in f:
        e = sub(vc, 'EMAIL')
        sub(e, 'INTERNET')
        sub(e, 'USERID', f['email'])
    if 'locality' in f or 'ctry' in f:
        a = sub(vc, 'ADR')
        sub(a, 'HOME')
        if 'locality' in f:
            sub(a, 'LOCALITY', f['locality'])
        if 'ctry' in f:
            sub(a, 'CTRY', f['ctry'])
    if 'orgname' in f or 'orgunit' in f:
        o = sub(vc, 'ORG')
        if 'orgname' in f:
            sub(o, 'ORGNAME', f['orgname'])
        if 'orgunit' in f:
            sub(o, 'ORGUNIT', f['orgunit'])
    if 'desc' in f:
        sub(vc, 'DESC', f['desc'])
    return vc


def same_tree(a, b, path=''):
    """None when the two elements are equal (tags, attributes, text, tails, children
    in order), else where they differ."""
    here = '%s/%s' % (path, a.tag)
    if a.tag != b.tag:
        return '%s: tag %r != %r' % (here, a.tag, b.tag)
    if dict(a.attrib) != dict(b.attrib):
        return '%s: attributes %r != %r' % (here, a.attrib, b.attrib)
    if (a.text or '') != (b.text or ''):
        return '%s: text %r != %r' % (here, (a.text or '')[:80], (b.text or '')[:80])
    if path and (a.tail or '') != (b.tail or ''):
        return '%s: tail %r != %r' % (here, a.tail, b.tail)
    if len(a) != len(b):
        return '%s: %d children != %d' % (here, len(a), len(b))
    for ca, cb in zip(a, b):
        d = same_tree(ca, cb, here)
        if d:
            return d
    return None


async def set_vcard(c, vc, to=None):
    return await c.send_iq('set', vc, to)


async def get_vcard(c, to=None):
    """The <vCard/> of a result; TestFailure on an error."""
    kind, r = await c.send_iq('get', ET.Element(V('vCard')), to)
    check(kind == 'result', 'vCard get (to %s) answered %s: %s' % (to, stanza_error(r), r))
    vc = r.xml.find(V('vCard'))
    check(vc is not None, 'vCard result (to %s) without <vCard xmlns=vcard-temp/>: %s' % (to, r))
    return vc, r


async def check_vcard(c, vc, what, to=None):
    """c gets vc back as its own vCard or, with to, as that account's; the result IQ."""
    got, r = await get_vcard(c, to)
    d = same_tree(vc, got)
    check(d is None, '%s: %s' % (what, d))
    return r


async def ok_set(c, vc, what):
    kind, r = await set_vcard(c, vc)
    check(kind == 'result', '%s: vCard set answered %s' % (what, stanza_error(r)))


def form_query(fields):
    """<query><x type='submit'> with FORM_TYPE and the fields (dict var -> value)."""
    q = ET.Element(S('query'))
    x = ET.SubElement(q, X('x'), type='submit')
    ft = ET.SubElement(x, X('field'), var='FORM_TYPE', type='hidden')
    ET.SubElement(ft, X('value')).text = NS_SEARCH
    for var, val in fields.items():
        f = ET.SubElement(x, X('field'), var=var)
        ET.SubElement(f, X('value')).text = val
    return q


def legacy_query(fields):
    q = ET.Element(S('query'))
    for name, val in fields.items():
        ET.SubElement(q, S(name)).text = val
    return q


def form_items(x):
    """Items of a result form: list of dicts var -> value."""
    items = []
    for it in x.findall(X('item')):
        d = {}
        for f in it.findall(X('field')):
            v = f.find(X('value'))
            d[f.get('var')] = (v.text or '') if v is not None else ''
        items.append(d)
    return items


async def search(c, fields, to=VJUD):
    """A form search: (items, result <x/>)."""
    kind, r = await c.send_iq('set', form_query(fields), to)
    check(kind == 'result', 'search %r answered %s' % (fields, stanza_error(r)))
    x = r.xml.find('%s/%s' % (S('query'), X('x')))
    check(x is not None and x.get('type') == 'result',
          'search %r: no result form in %s' % (fields, r))
    return form_items(x), x


async def search_jids(c, fields):
    items, _ = await search(c, fields)
    return sorted(i.get('jid', '?') for i in items)


async def legacy_search(c, fields):
    kind, r = await c.send_iq('set', legacy_query(fields), VJUD)
    check(kind == 'result', 'legacy search %r answered %s' % (fields, stanza_error(r)))
    q = r.xml.find(S('query'))
    check(q is not None, 'legacy search result without <query/>: %s' % r)
    check(q.find(X('x')) is None, 'a legacy search was answered with a form: %s' % r)
    return q.findall(S('item'))


async def raw_set_vcard(env, user, vc):
    """Logs user in over a raw stream, stores vc, closes."""
    rs = await raw_login(env, user, 'pw-' + user, 'setup')
    iq = ET.Element('iq', type='set', id='v1')
    iq.append(vc)
    text = ET.tostring(iq, encoding='unicode')
    await rs.send(text)
    res = await rs.wait_id('v1', '%s: the vCard set' % user)
    check(res.get('type') == 'result', '%s: vCard set answered %s' % (user, ET.tostring(res)))
    await rs.close()


async def populate(env, people, batch=10):
    """Registers every user of people (dict user -> vcard kwargs) and stores their vCards."""
    for u in people:
        await env.register(u)
    items = list(people.items())
    for i in range(0, len(items), batch):
        await asyncio.gather(*(raw_set_vcard(env, u, vcard(**f)) for u, f in items[i:i + batch]))


def rich_vcard():
    """Nested elements, empty elements, an attribute, markup characters, non-ASCII
    text and a binary photo."""
    vc = vcard(fn='Alice Liddell', given='Alice', family='Liddell', middle='',
               nick='alice', bday='1852-05-04', email='alice@wonder.land',
               locality='Oxford', ctry='UK', orgname='Wonderland', orgunit='Tea Party',
               desc='Curiouser & curiouser <said> "Alice" \'Zoë\' ☃ 漢字')
    vc.set('version', '3.0')
    tel = ET.SubElement(vc, V('TEL'))
    ET.SubElement(tel, V('HOME'))
    ET.SubElement(tel, V('VOICE'))
    ET.SubElement(tel, V('NUMBER')).text = '+44 1865 000000'
    photo = ET.SubElement(vc, V('PHOTO'))
    ET.SubElement(photo, V('TYPE')).text = 'image/png'
    ET.SubElement(photo, V('BINVAL')).text = base64.b64encode(os.urandom(3000)).decode()
    return vc


# ------------------------------------------------------------------ vcard-temp

@e2e_test('vcard_set_get_own_roundtrip')
async def t_roundtrip(env):
    await env.register('alice')
    a = await env.login('alice@localhost/a')
    vc = rich_vcard()
    env.step('set own vCard')
    kind, r = await set_vcard(a, vc)
    check(kind == 'result', 'vCard set answered %s' % (stanza_error(r),))
    check(len(r.xml) == 0, 'vCard set result should be empty: %s' % r)
    env.step('get own vCard without to')
    await check_vcard(a, vc, 'own vCard does not round-trip')
    env.step('get own vCard with to = own bare JID')
    r = await check_vcard(a, vc, 'own vCard (to bare JID) does not round-trip',
                          to='alice@localhost')
    check(str(r['from']) == 'alice@localhost', 'result from %r' % str(r['from']))
    env.step('another resource of alice sees the same')
    a2 = await env.login('alice@localhost/other')
    await check_vcard(a2, vc, 'second resource')
    env.step('a second set replaces the whole vCard')
    vc2 = vcard(fn='Alice L.', nick='al')
    await ok_set(a, vc2, 'replace')
    await check_vcard(a, vc2, 'after replace')
    env.step('a set addressed to the own bare JID')
    vc3 = vcard(fn='Alice Three')
    kind, r = await set_vcard(a, vc3, to='alice@localhost')
    check(kind == 'result', 'set to own bare JID answered %s' % (stanza_error(r),))
    await check_vcard(a, vc3, 'after a set to the bare JID')


@e2e_test('vcard_read_other_user')
async def t_read_other(env):
    for u in ('alice', 'bob'):
        await env.register(u)
    a = await env.login('alice@localhost/a')
    b = await env.login('bob@localhost/b')
    vc = rich_vcard()
    await ok_set(a, vc, 'alice')
    env.step('bob reads alice@localhost')
    r = await check_vcard(b, vc, 'alice as bob sees it', to='alice@localhost')
    check(str(r['from']) == 'alice@localhost', 'result from %r, expected alice@localhost'
          % str(r['from']))
    check(str(r['to']) == b.jid, 'result to %r' % str(r['to']))
    env.step('the JID is prepared: ALICE@LocalHost is alice')
    # slixmpp matches a reply's 'from' to the request's 'to' without preparing it.
    rs = await raw_login(env, 'bob', 'pw-bob', 'raw')
    await rs.send("<iq type='get' id='up1' to='ALICE@LocalHost'><vCard xmlns='vcard-temp'/></iq>")
    res = await rs.wait_id('up1', 'a vCard get to ALICE@LocalHost')
    got = res.find(V('vCard'))
    check(res.get('type') == 'result' and got is not None, 'ALICE@LocalHost: %s'
          % ET.tostring(res)[:300])
    check(same_tree(vc, got) is None, 'ALICE@LocalHost: %s' % same_tree(vc, got))


@e2e_test('vcard_set_other_forbidden')
async def t_set_other(env):
    for u in ('alice', 'bob'):
        await env.register(u)
    a = await env.login('alice@localhost/a')
    b = await env.login('bob@localhost/b')
    vc = vcard(fn='Alice', nick='alice')
    await ok_set(a, vc, 'alice')
    for to in ('alice@localhost', 'localhost', 'nobody@localhost'):
        env.step('bob sets a vCard to %s' % to)
        kind, r = await set_vcard(b, vcard(fn='Mallory'), to=to)
        cond, etype, _ = stanza_error(r)
        check(kind == 'error' and cond == 'forbidden' and etype == 'auth',
              'set to %s by bob: %s %s/%s, expected forbidden (auth)' % (to, kind, cond, etype))
    await check_vcard(b, vc, 'alice\'s vCard changed', to='alice@localhost')
    got, _ = await get_vcard(b)
    check(len(got) == 0, 'bob has a vCard now: %s' % ET.tostring(got))


@e2e_test('vcard_too_large_not_acceptable')
async def t_too_large(env):
    await env.register('alice')
    a = await env.login('alice@localhost/a')
    small = vcard(fn='Alice', nick='alice')
    await ok_set(a, small, 'small')
    env.step('a 40 KB photo fits the default 64 KiB')
    ok = vcard(fn='Alice', nick='alice')
    p = ET.SubElement(ok, V('PHOTO'))
    ET.SubElement(p, V('BINVAL')).text = base64.b64encode(os.urandom(30000)).decode()
    await ok_set(a, ok, '40 KB photo')
    await check_vcard(a, ok, '40 KB photo')
    env.step('a 90 KB photo does not')
    big = vcard(fn='Alice', nick='bigalice')
    p = ET.SubElement(big, V('PHOTO'))
    ET.SubElement(p, V('BINVAL')).text = base64.b64encode(os.urandom(68000)).decode()
    kind, r = await set_vcard(a, big)
    cond, etype, text = stanza_error(r)
    check(kind == 'error' and cond == 'not-acceptable' and etype == 'modify',
          'too large vCard: %s %s/%s, expected not-acceptable (modify)' % (kind, cond, etype))
    check(text and '65536' in text, 'error text %r does not give the limit' % text)
    env.step('the previous vCard is kept')
    await check_vcard(a, ok, 'after the refused set')
    items = await search_jids(a, {'nick': 'bigalice'})
    check(items == [], 'the refused vCard is searchable: %s' % items)


@e2e_test('vcard_empty_and_missing')
async def t_empty(env):
    for u in ('alice', 'carol'):
        await env.register(u)
    a = await env.login('alice@localhost/a')
    env.step('own vCard before any set: empty result')
    got, _ = await get_vcard(a)
    check(len(got) == 0 and not (got.text or '').strip(), 'empty vCard expected: %s'
          % ET.tostring(got))
    env.step('an account without a vCard: empty result')
    got, r = await get_vcard(a, 'carol@localhost')
    check(len(got) == 0, 'carol has no vCard, got %s' % ET.tostring(got))
    check(str(r['from']) == 'carol@localhost', 'from %r' % str(r['from']))
    env.step('no such account: service-unavailable')
    kind, r = await a.send_iq('get', ET.Element(V('vCard')), 'nobody@localhost')
    cond, etype, _ = stanza_error(r)
    check(kind == 'error' and cond == 'service-unavailable' and etype == 'cancel',
          'vCard of a missing account: %s %s/%s' % (kind, cond, etype))
    env.step('the server\'s own vCard')
    got, r = await get_vcard(a, 'localhost')
    check(len(got) == 0, 'server vCard: %s' % ET.tostring(got))
    env.step('an empty set clears the vCard')
    await ok_set(a, vcard(fn='Alice', nick='alice'), 'alice')
    check(await search_jids(a, {'nick': 'alice'}) == ['alice@localhost'], 'not found')
    await ok_set(a, ET.Element(V('vCard')), 'empty vCard')
    got, _ = await get_vcard(a)
    check(len(got) == 0, 'after an empty set: %s' % ET.tostring(got))
    check(await search_jids(a, {'user': 'alice'}) == [], 'a cleared vCard is still searchable')
    env.step('a payload that is not <vCard/>')
    kind, r = await a.send_iq('set', ET.Element(V('vcard')))
    check(kind == 'error' and stanza_error(r)[0] == 'bad-request', 'wrong element: %s %s'
          % (kind, stanza_error(r)))


# ------------------------------------------------------------------ directory: discovery

@e2e_test('vcard_disco_server_and_vjud')
async def t_disco(env):
    await env.register('alice')
    a = await env.login('alice@localhost/a')
    env.step('disco#info of the server lists vcard-temp')
    kind, r = await a.iq_get('localhost', DISCO_INFO)
    feats = {f.get('var') for f in r.xml.iter('{%s}feature' % DISCO_INFO)}
    check(kind == 'result' and NS_VCARD in feats, 'server features: %s' % sorted(feats))
    env.step('disco#info of an account lists vcard-temp (XEP-0054 4)')
    kind, r = await a.iq_get('alice@localhost', DISCO_INFO)
    feats = {f.get('var') for f in r.xml.iter('{%s}feature' % DISCO_INFO)}
    check(kind == 'result' and NS_VCARD in feats, 'account features: %s %s'
          % (kind, sorted(feats)))
    env.step('disco#items of the server lists vjud.localhost')
    kind, r = await a.iq_get('localhost', DISCO_ITEMS)
    check(kind == 'result', 'disco#items: %s' % r)
    items = {i.get('jid'): i.get('name') for i in r.xml.iter('{%s}item' % DISCO_ITEMS)}
    check(VJUD in items, 'disco#items of localhost lists %r, not %s' % (items, VJUD))
    check(items[VJUD] == 'vCard User Search', 'vjud item name %r' % items[VJUD])
    env.step('disco#info of vjud.localhost')
    kind, r = await a.iq_get(VJUD, DISCO_INFO)
    check(kind == 'result', 'disco#info of %s: %s' % (VJUD, stanza_error(r)))
    ids = [(i.get('category'), i.get('type'), i.get('name'))
           for i in r.xml.iter('{%s}identity' % DISCO_INFO)]
    check(ids == [('directory', 'user', 'vCard User Search')], 'identities %r' % ids)
    feats = {f.get('var') for f in r.xml.iter('{%s}feature' % DISCO_INFO)}
    for f in (NS_SEARCH, NS_VCARD, DISCO_INFO):
        check(f in feats, '%s does not list %s: %s' % (VJUD, f, sorted(feats)))
    check('urn:xmpp:ping' not in feats, 'vjud lists the server\'s features: %s' % sorted(feats))
    env.step('disco#items of vjud.localhost is empty')
    kind, r = await a.iq_get(VJUD, DISCO_ITEMS)
    check(kind == 'result' and not list(r.xml.iter('{%s}item' % DISCO_ITEMS)),
          'disco#items of %s: %s' % (VJUD, r))
    env.step('the service\'s own vCard')
    got, r = await get_vcard(a, VJUD)
    fn = got.find(V('FN'))
    check(fn is not None and fn.text == 'vCard User Search', 'vjud vCard %s' % ET.tostring(got))
    env.step('an IQ to a JID at vjud.localhost')
    kind, r = await a.iq_get('someone@' + VJUD, NS_SEARCH)
    check(kind == 'error' and stanza_error(r)[0] == 'service-unavailable',
          'search to someone@vjud: %s %s' % (kind, stanza_error(r)))


@e2e_test('vcard_search_form_fields')
async def t_form(env):
    await env.register('alice')
    a = await env.login('alice@localhost/a')
    kind, r = await a.iq_get(VJUD, NS_SEARCH)
    check(kind == 'result', 'search get: %s' % (stanza_error(r),))
    check(str(r['from']) == VJUD, 'from %r' % str(r['from']))
    q = r.xml.find(S('query'))
    check(q is not None, 'no <query/>: %s' % r)
    check((q.findtext(S('instructions')) or '').strip(), 'no legacy instructions')
    legacy = [c.tag for c in q if c.tag.startswith('{%s}' % NS_SEARCH) and
              c.tag != S('instructions')]
    check(legacy == [S(n) for n in ('first', 'last', 'nick', 'email')],
          'legacy fields %r (XEP-0055: first, last, nick, email)' % legacy)
    x = q.find(X('x'))
    check(x is not None and x.get('type') == 'form', 'no data form of type form: %s' % r)
    fields = x.findall(X('field'))
    ft = [f for f in fields if f.get('var') == 'FORM_TYPE']
    check(len(ft) == 1 and ft[0].get('type') == 'hidden' and
          ft[0].findtext(X('value')) == NS_SEARCH, 'FORM_TYPE field: %s'
          % [ET.tostring(f) for f in ft])
    rest = [(f.get('var'), f.get('type')) for f in fields if f.get('var') != 'FORM_TYPE']
    check([v for v, _ in rest] == FORM_FIELDS, 'form fields %r, expected %r'
          % ([v for v, _ in rest], FORM_FIELDS))
    check(all(t == 'text-single' for _, t in rest), 'field types %r' % rest)
    check(all(f.get('label') for f in fields if f.get('var') != 'FORM_TYPE'),
          'a field without a label')


# ------------------------------------------------------------------ directory: searches

PEOPLE = {
    'alice': dict(fn='Alice Liddell', given='Alice', family='Liddell', nick='alice',
                  email='alice@wonder.land', locality='Oxford', ctry='UK', orgname='Wonderland',
                  bday='1852-05-04'),
    'alan': dict(fn='Alan Turing', given='Alan', family='Turing', nick='Enigma',
                 locality='Manchester', ctry='UK', orgname='University of Manchester',
                 orgunit='Computing'),
    'albert': dict(fn='Albert Einstein', given='Albert', family='Einstein', nick='Relativity',
                   locality='Bern', ctry='CH'),
    'bob': dict(fn='Bob Smith', given='Bob', family='Smith', nick='Bobby', locality='Oxford',
                email='bob@example.org'),
    'zoe': dict(fn='Zoë Éclair', given='Zoë', family='ÉCLAIR', nick='zed', locality='Paris'),
    'ally': dict(fn='Sally Ally', given='Sally', family='Ally', nick='sal'),
}
for _i in range(45):
    PEOPLE['filler%02d' % _i] = dict(fn='Filler Person %02d' % _i, given='Filler',
                                     family='Person%02d' % _i, nick='filler%02d' % _i,
                                     locality='Springfield', orgname='ACME')


@e2e_test('vcard_search_50_users', timeout=180)
async def t_search(env):
    env.step('register %d users and store their vCards' % len(PEOPLE))
    await populate(env, PEOPLE)
    await env.register('searcher')
    c = await env.login('searcher@localhost/s')

    async def expect(fields, users):
        got = await search_jids(c, fields)
        want = sorted('%s@localhost' % u for u in users)
        check(got == want, 'search %r found %r, expected %r' % (fields, got, want))

    env.step('exact nick')
    await expect({'nick': 'Enigma'}, ['alan'])
    env.step('case-insensitive')
    await expect({'nick': 'eNiGmA'}, ['alan'])
    await expect({'last': 'éclair'}, ['zoe'])
    await expect({'first': 'ZOË'}, ['zoe'])
    await expect({'fn': 'zoë éclair'}, ['zoe'])
    env.step('prefix Al*')
    await expect({'first': 'Al*'}, ['alice', 'alan', 'albert'])
    await expect({'first': 'al*'}, ['alice', 'alan', 'albert'])
    await expect({'user': 'al*'}, ['alice', 'alan', 'albert', 'ally'])
    await expect({'orgname': 'univ*'}, ['alan'])
    env.step('exact does not match a prefix')
    await expect({'first': 'Al'}, [])
    await expect({'nick': 'Enig'}, [])
    env.step('two fields ANDed')
    await expect({'first': 'Al*', 'locality': 'oxford'}, ['alice'])
    await expect({'locality': 'Oxford', 'first': 'Bob'}, ['bob'])
    await expect({'locality': 'Oxford', 'ctry': 'UK'}, ['alice'])
    await expect({'first': 'Al*', 'ctry': 'ch'}, ['albert'])
    await expect({'first': 'Alan', 'last': 'Einstein'}, [])
    env.step('other fields')
    await expect({'email': 'ALICE@wonder.land'}, ['alice'])
    await expect({'email': 'bob@*'}, ['bob'])
    await expect({'bday': '1852-05-04'}, ['alice'])
    await expect({'orgunit': 'computing'}, ['alan'])
    await expect({'user': 'bob'}, ['bob'])
    await expect({'fn': 'Albert Einstein'}, ['albert'])
    env.step('the result form and its items')
    items, x = await search(c, {'nick': 'Enigma'})
    rep = [f.get('var') for f in x.findall('%s/%s' % (X('reported'), X('field')))]
    check(rep[0] == 'jid' and set(FORM_FIELDS[1:]) <= set(rep), 'reported fields %r' % rep)
    it = items[0]
    want = {'jid': 'alan@localhost', 'fn': 'Alan Turing', 'first': 'Alan', 'last': 'Turing',
            'nick': 'Enigma', 'locality': 'Manchester', 'ctry': 'UK',
            'orgname': 'University of Manchester', 'orgunit': 'Computing'}
    for k, v in want.items():
        check(it.get(k) == v, 'item field %s = %r, expected %r (item %r)' % (k, it.get(k), v, it))
    env.step('the default limit: 30 of 45 matches')
    found = await search_jids(c, {'locality': 'Springfield'})
    check(len(found) == 30 and len(set(found)) == 30, '%d results for 45 matches (limit 30)'
          % len(found))
    check(all(j.startswith('filler') for j in found), 'wrong users: %r' % found[:5])
    found = await search_jids(c, {'locality': 'Springfield', 'last': 'person4*'})
    check(found == ['filler%02d@localhost' % i for i in range(40, 45)],
          'ANDed prefix among the fillers: %r' % found)
    env.step('an empty query returns nothing (allow_return_all is off)')
    await expect({}, [])
    await expect({'nick': ''}, [])
    await expect({'nick': '*'}, [])
    env.step('no match')
    items, x = await search(c, {'nick': 'nobody-like-this'})
    check(items == [], 'items %r' % items)
    env.step('legacy search')
    items = await legacy_search(c, {'nick': 'Bobby'})
    check(len(items) == 1 and items[0].get('jid') == 'bob@localhost', 'legacy nick=Bobby: %s'
          % [ET.tostring(i) for i in items])
    got = {c2.tag.split('}')[1]: (c2.text or '') for c2 in items[0]}
    check(got == {'first': 'Bob', 'last': 'Smith', 'nick': 'Bobby', 'email': 'bob@example.org'},
          'legacy item fields %r' % got)
    items = await legacy_search(c, {'last': 'tur*'})
    check([i.get('jid') for i in items] == ['alan@localhost'], 'legacy last=tur*: %r'
          % [i.get('jid') for i in items])
    items = await legacy_search(c, {'first': 'al*', 'email': 'alice@wonder.land'})
    check([i.get('jid') for i in items] == ['alice@localhost'], 'legacy ANDed: %r'
          % [i.get('jid') for i in items])
    items = await legacy_search(c, {})
    check(items == [], 'empty legacy search: %r' % items)


@e2e_test('vcard_search_bad_requests')
async def t_search_bad(env):
    await env.register('alice')
    a = await env.login('alice@localhost/a')
    env.step('a form that is not submitted')
    q = form_query({'nick': 'x'})
    q.find(X('x')).set('type', 'form')
    kind, r = await a.send_iq('set', q, VJUD)
    check(kind == 'error' and stanza_error(r)[0] == 'bad-request', 'type=form submitted: %s %s'
          % (kind, stanza_error(r)))
    env.step('a value longer than 256 bytes')
    kind, r = await a.send_iq('set', form_query({'nick': 'x' * 300}), VJUD)
    check(kind == 'error' and stanza_error(r)[0] == 'not-acceptable', 'long value: %s %s'
          % (kind, stanza_error(r)))
    env.step('too many conditions')
    q = form_query({})
    x = q.find(X('x'))
    for i in range(20):
        f = ET.SubElement(x, X('field'), var='nick')
        ET.SubElement(f, X('value')).text = 'n%d' % i
    kind, r = await a.send_iq('set', q, VJUD)
    check(kind == 'error' and stanza_error(r)[0] == 'not-acceptable', '20 conditions: %s %s'
          % (kind, stanza_error(r)))
    env.step('unknown form fields are ignored')
    items, _ = await search(a, {'gender': 'male'})
    check(items == [], 'unknown field: %r' % items)
    env.step('a payload that is not <query/>')
    kind, r = await a.send_iq('set', ET.Element(S('search')), VJUD)
    check(kind == 'error' and stanza_error(r)[0] in ('bad-request', 'service-unavailable'),
          'wrong element: %s %s' % (kind, stanza_error(r)))
    env.step('the server still answers')
    await a.ping()


@e2e_test('vcard_search_limit_and_return_all', timeout=120)
async def t_limit(_env):
    mods = modules_with('vcard', 'matches: 5, allow_return_all: true')
    async with own_server('vcard_search_limit_and_return_all', modules=mods) as env:
        people = {'town%02d' % i: dict(fn='Towns Person', nick='t%02d' % i,
                                       locality='Springfield') for i in range(12)}
        await populate(env, people)
        await env.register('searcher')
        c = await env.login('searcher@localhost/s')
        env.step('matches: 5')
        found = await search_jids(c, {'locality': 'Springfield'})
        check(len(found) == 5 and len(set(found)) == 5, 'matches 5: %d results: %r'
              % (len(found), found))
        found = await search_jids(c, {'fn': 'towns*'})
        check(len(found) == 5, 'prefix with matches 5: %d results' % len(found))
        env.step('allow_return_all: an empty query lists accounts, up to the limit')
        found = await search_jids(c, {})
        check(len(found) == 5 and all(j.startswith('town') for j in found),
              'empty query: %r' % found)
        items = await legacy_search(c, {})
        check(len(items) == 5, 'empty legacy query: %d items' % len(items))
        env.step('one exact match is still found')
        found = await search_jids(c, {'nick': 'T07'})
        check(found == ['town07@localhost'], 'nick T07: %r' % found)


@e2e_test('vcard_search_update_removes_old_entries')
async def t_update(env):
    await env.register('alice')
    a = await env.login('alice@localhost/a')
    await ok_set(a, vcard(fn='Alice Old', nick='oldnick', given='Alice', locality='Oxford'), 'v1')
    check(await search_jids(a, {'nick': 'oldnick'}) == ['alice@localhost'], 'v1 not found')
    env.step('update the vCard')
    await ok_set(a, vcard(fn='Alice New', nick='newnick', given='Alice'), 'v2')
    check(await search_jids(a, {'nick': 'oldnick'}) == [], 'old nick still matches')
    check(await search_jids(a, {'nick': 'old*'}) == [], 'old nick prefix still matches')
    check(await search_jids(a, {'locality': 'oxford'}) == [], 'removed locality still matches')
    check(await search_jids(a, {'fn': 'alice old'}) == [], 'old FN still matches')
    check(await search_jids(a, {'nick': 'newnick'}) == ['alice@localhost'], 'new nick not found')
    check(await search_jids(a, {'fn': 'Alice*'}) == ['alice@localhost'], 'FN prefix')
    env.step('the same vCard set twice')
    await ok_set(a, vcard(fn='Alice New', nick='newnick', given='Alice'), 'v2 again')
    check(await search_jids(a, {'nick': 'newnick'}) == ['alice@localhost'], 'after a re-set')
    items, _ = await search(a, {'first': 'alice'})
    check(len(items) == 1, 'one account, %d items' % len(items))


@e2e_test('vcard_unregister_leaves_directory')
async def t_unregister(env):
    for u in ('alice', 'bob'):
        await env.register(u)
    a = await env.login('alice@localhost/a')
    b = await env.login('bob@localhost/b')
    await ok_set(a, vcard(fn='Alice', nick='wonder'), 'alice')
    check(await search_jids(b, {'nick': 'wonder'}) == ['alice@localhost'], 'not found')
    env.step('xmppctl unregister alice')
    rc, out, err = await env.srv.ctl('unregister', 'alice', 'localhost')
    check(rc == 0, 'unregister: %s %s' % (out, err))
    check(await search_jids(b, {'nick': 'wonder'}) == [], 'a removed account is found')
    check(await search_jids(b, {'user': 'alice'}) == [], 'a removed account is found by user')
    kind, r = await b.send_iq('get', ET.Element(V('vCard')), 'alice@localhost')
    check(kind == 'error' and stanza_error(r)[0] == 'service-unavailable',
          'vCard of a removed account: %s %s' % (kind, stanza_error(r)))
    env.step('a new account with the same name starts without a vCard')
    await env.register('alice')
    got, _ = await get_vcard(b, 'alice@localhost')
    check(len(got) == 0, 'the new alice has the old vCard: %s' % ET.tostring(got))


@e2e_test('vcard_survives_restart', timeout=120, stops_server=True)
async def t_restart(env):
    srv = env.srv
    await env.register('alice')
    a = await env.login('alice@localhost/a')
    vc = rich_vcard()
    await ok_set(a, vc, 'alice')
    await a.close()
    env.step('stop and start the server')
    await restart_server(srv)
    env.step('the vCard and the index are back')
    a2 = await env.login('alice@localhost/a2')
    await check_vcard(a2, vc, 'after a restart')
    check(await search_jids(a2, {'nick': 'ALICE'}) == ['alice@localhost'], 'search after restart')
    check(await search_jids(a2, {'orgunit': 'tea*'}) == ['alice@localhost'],
          'prefix search after restart')


@e2e_test('vcard_search_several_values_unicode_long')
async def t_values(env):
    await env.register('alice')
    a = await env.login('alice@localhost/a')
    long_fn = 'Ä' + 'é' * 200 + 'Z'   # 403 bytes: kept as its first 256 bytes
    vc = vcard(fn=long_fn, nick='ПРИВЕТ Мир', given='Ὀδυσσεύς')
    for mail in ('home@example.org', 'work@example.com', 'old@example.net'):
        e = ET.SubElement(vc, V('EMAIL'))
        ET.SubElement(e, V('USERID')).text = mail
    legacy_mail = ET.SubElement(vc, V('EMAIL'))   # text directly in EMAIL (old clients)
    legacy_mail.text = '  legacy@example.org  '
    adr = ET.SubElement(vc, V('ADR'))
    ET.SubElement(adr, V('WORK'))
    ET.SubElement(adr, V('LOCALITY')).text = 'Zürich'
    await ok_set(a, vc, 'several values')
    await check_vcard(a, vc, 'round trip')
    me = ['alice@localhost']

    async def expect(fields, want):
        found = await search_jids(a, fields)
        check(found == want, 'search %r found %r, expected %r' % (fields, found, want))
    env.step('every EMAIL is searchable')
    for mail in ('home@example.org', 'WORK@example.com', 'old@*', 'legacy@example.org'):
        await expect({'email': mail}, me)
    env.step('a second ADR adds a locality')
    await expect({'locality': 'zürich'}, me)
    await expect({'locality': 'ZÜRICH'}, me)
    env.step('Cyrillic and Greek fold')
    await expect({'nick': 'привет мир'}, me)
    await expect({'nick': 'привет*'}, me)
    await expect({'first': 'ὀΔΥΣΣΕΎΣ'}, me)
    env.step('a long value: its beginning matches as a prefix, never exactly')
    await expect({'fn': 'ä' + 'É' * 50 + '*'}, me)
    await expect({'fn': 'ä' + 'É' * 127 + '*'}, me)
    await expect({'fn': 'ä' + 'é' * 127}, [])
    env.step('the item shows the first value of each field')
    items, _ = await search(a, {'email': 'old@example.net'})
    check(len(items) == 1 and items[0].get('email') == 'home@example.org',
          'item email %r' % (items[0].get('email') if items else None))
    check(items[0].get('fn') == long_fn[:128], 'item fn is not the kept beginning: %r'
          % items[0].get('fn', '')[:20])


@e2e_test('vcard_search_per_host', timeout=90)
async def t_hosts(_env):
    async with own_server('vcard_search_per_host', hosts=('localhost', 'example.org')) as env:
        await env.register('alice')
        await env.register('alice', host='example.org')
        await env.register('bob', host='example.org')
        a = await env.login('alice@localhost/a')
        e = await env.login('alice@example.org/e')
        await ok_set(a, vcard(fn='Alice Here', nick='twin'), 'alice@localhost')
        await ok_set(e, vcard(fn='Alice There', nick='twin'), 'alice@example.org')
        env.step('each host has its own directory')
        kind, r = await e.iq_get('example.org', DISCO_ITEMS)
        jids = [i.get('jid') for i in r.xml.iter('{%s}item' % DISCO_ITEMS)]
        check('vjud.example.org' in jids and VJUD not in jids,
              'disco#items of example.org: %r' % jids)
        found = await search_jids(a, {'nick': 'twin'})
        check(found == ['alice@localhost'], 'vjud.localhost found %r' % found)
        items, _ = await search(a, {'nick': 'twin'}, to='vjud.example.org')
        found = sorted(i['jid'] for i in items)
        check(found == ['alice@example.org'], 'vjud.example.org found %r' % found)
        env.step('vCards of accounts on another host')
        got, _ = await get_vcard(a, 'alice@example.org')
        check(got.findtext(V('FN')) == 'Alice There', 'alice@example.org as seen from '
              'localhost: %s' % ET.tostring(got))
        got, _ = await get_vcard(a, 'bob@example.org')
        check(len(got) == 0, 'bob@example.org has no vCard: %s' % ET.tostring(got))
        kind, r = await a.send_iq('set', vcard(fn='x'), 'alice@example.org')
        check(kind == 'error' and stanza_error(r)[0] == 'forbidden', 'set on the namesake: %s %s'
              % (kind, stanza_error(r)))


@e2e_test('vcard_anonymous_session', timeout=60)
async def t_anonymous(_env):
    async with own_server('vcard_anonymous_session',
                          extra_config='host_config: {localhost: {anonymous: true}}\n') as env:
        await env.register('alice')
        a = await env.login('alice@localhost/a')
        await ok_set(a, vcard(fn='Alice', nick='alice'), 'alice')
        rs = await env.raw()
        await rs.open_stream()
        await rs.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>")
        check(await rs.wait(lambda s: any(e.tag.endswith('}success') for e in s.elements)),
              'SASL ANONYMOUS in the clear: %r' % rs.text()[-300:])
        rs.reset_parser()
        await rs.open_stream()
        await rs.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
                      "</iq>")
        await rs.wait_id('b1', 'bind')

        async def ask(xml, iq_id):
            await rs.send(xml)
            return await rs.wait_id(iq_id, 'an anonymous IQ')
        env.step('an anonymous session reads its own (empty) vCard and alice\'s')
        r = await ask("<iq type='get' id='g1'><vCard xmlns='vcard-temp'/></iq>", 'g1')
        vc = r.find(V('vCard'))
        check(r.get('type') == 'result' and vc is not None and len(vc) == 0,
              'own vCard of an anonymous session: %s' % ET.tostring(r))
        r = await ask("<iq type='get' id='g2' to='alice@localhost'><vCard xmlns='vcard-temp'/>"
                      "</iq>", 'g2')
        check(r.get('type') == 'result' and r.find(V('vCard')).findtext(V('FN')) == 'Alice',
              'alice\'s vCard from an anonymous session: %s' % ET.tostring(r))
        env.step('it cannot store one')
        r = await ask("<iq type='set' id='s1'><vCard xmlns='vcard-temp'><FN>Anon</FN></vCard>"
                      "</iq>", 's1')
        err = r.find('{jabber:client}error')
        check(r.get('type') == 'error' and err is not None and
              err.find('{%s}not-allowed' % NS_STANZAS) is not None,
              'vCard set by an anonymous session: %s' % ET.tostring(r))
        found = await search_jids(a, {'fn': 'anon'})
        check(found == [], 'an anonymous session is in the directory: %r' % found)


@e2e_test('vcard_hostile_vcards', timeout=60)
async def t_hostile(env):
    await env.register('alice')
    a = await env.login('alice@localhost/a')
    env.step('300 EMAIL elements: stored whole, the first 8 indexed')
    vc = vcard(fn='Many Mails')
    for i in range(300):
        e = ET.SubElement(vc, V('EMAIL'))
        ET.SubElement(e, V('USERID')).text = 'm%04d@example.org' % i
    await ok_set(a, vc, '300 emails')
    await check_vcard(a, vc, '300 emails')
    check(await search_jids(a, {'email': 'm0007@example.org'}) == ['alice@localhost'],
          'the 8th email is not searchable')
    check(await search_jids(a, {'email': 'm0299@example.org'}) == [],
          'the 300th email is indexed (at most 8 values per field)')
    check(await search_jids(a, {'email': 'm*'}) == ['alice@localhost'],
          'one account matching by several values is listed more than once')
    env.step('deep nesting, foreign namespaces and mixed text round-trip (raw XML: slixmpp '
             'drops namespaced attributes)')
    text = ("<vCard xmlns='vcard-temp'><FN>Deep</FN>" + '<X-DEEP>' * 50 + 'bottom' +
            '</X-DEEP>' * 50 + "<e:thing xmlns:e='urn:example:ext' a='1' e:b='2' "
            "xml:lang='fr'>text<e:child/>tail &amp; &lt;text&gt;</e:thing></vCard>")
    vc = ET.fromstring(text)
    rs = await raw_login(env, 'alice', 'pw-alice', 'raw')

    async def ask(xml, iq_id):
        await rs.send(xml)
        return await rs.wait_id(iq_id, 'a hostile vCard IQ')
    r = await ask("<iq type='set' id='d1'>%s</iq>" % text, 'd1')
    check(r.get('type') == 'result', 'deep vCard set: %s' % ET.tostring(r)[:300])
    r = await ask("<iq type='get' id='d2'><vCard xmlns='vcard-temp'/></iq>", 'd2')
    got = r.find(V('vCard'))
    check(r.get('type') == 'result' and got is not None, 'deep get: %s' % ET.tostring(r)[:300])
    check(same_tree(vc, got) is None, 'deep vCard: %s' % same_tree(vc, got))
    check(await search_jids(a, {'fn': 'deep'}) == ['alice@localhost'], 'deep vCard not indexed')
    check(await search_jids(a, {'email': 'm*'}) == [], 'old emails still indexed')
    env.step('the server still answers')
    await a.ping()
