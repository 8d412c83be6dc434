"""In-band registration (XEP-0077, modules/register.c): the stream feature and
account creation before authentication (raw streams, and slixmpp's own
xep_0077 client), each refusal with its exact condition, the per-address rate
limit, password change and account removal after authentication.

Tests that need registration open run a server of their own (reg_server), the
way test_limits does; the runner's server keeps the default (closed)."""

import asyncio
import contextlib
import os
import xml.etree.ElementTree as ET

from slixmpp.exceptions import IqError

from harness import (LOG_CHILD_DIED, LOG_SANITIZER, NS_SASL, NS_STANZAS, Env, Server,
                     TestFailure, check, e2e_test, eventually, local, modules_with, raw_login,
                     sasl_plain, stanza_error)

NS_REG = 'jabber:iq:register'
NS_REG_FEATURE = 'http://jabber.org/features/iq-register'
NS_ROSTER = 'jabber:iq:roster'
NS_VCARD = 'vcard-temp'
OPEN = 'registration: open\n'
RATE_LIMITS = Server.NO_LIMITS.replace('registration_rate_per_ip: 0', 'registration_rate_per_ip: %d')


@contextlib.asynccontextmanager
async def reg_server(name, **kw):
    """A server of the test's own (Server keywords); stopped at the end, failing on a
    sanitizer report, a child that died or a shutdown problem."""
    kw.setdefault('extra_config', OPEN)
    srv = Server(name, **kw)
    srv.start()
    env = Env(srv)
    ok = False
    try:
        yield env
        ok = True
    except TestFailure as e:
        raise TestFailure('%s [log of %s: %s]' % (e, name, srv.log_path)) from None
    finally:
        await env.close_all()
        srv.stop()
        bad = [line for line in srv.log().splitlines()
               if LOG_SANITIZER.search(line) or LOG_CHILD_DIED.search(line)]
        srv.cleanup(keep=bool(bad) or not ok or bool(os.environ.get('E2E_KEEP')))
        if ok:
            check(not bad, '%s: server log: %s (log %s)' % (name, bad[0] if bad else '',
                                                             srv.log_path))
            check(not srv.problems, '%s: shutdown: %s' % (name, '; '.join(srv.problems)))


# ------------------------------------------------------------------ helpers


def esc(text):
    return text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')


def has_register_feature(features):
    return features is not None and features.find('{%s}register' % NS_REG_FEATURE) is not None


_ids = [0]


async def iq(rs, itype, payload, what, to=None):
    """Sends an IQ on raw stream rs and returns its answer (an Element)."""
    _ids[0] += 1
    iid = 'reg%d' % _ids[0]
    await rs.send("<iq type='%s' id='%s'%s>%s</iq>"
                  % (itype, iid, " to='%s'" % to if to else '', payload))
    return await rs.wait_id(iid, what)


def reg_query(user=None, password=None, extra=''):
    parts = []
    if user is not None:
        parts.append('<username>%s</username>' % esc(user))
    if password is not None:
        parts.append('<password>%s</password>' % esc(password))
    return "<query xmlns='%s'>%s%s</query>" % (NS_REG, ''.join(parts), extra)


def error_of(el):
    """(condition, type) of an IQ error, or (None, None)."""
    if el.get('type') != 'error':
        return None, None
    return stanza_error(el)[:2]


def expect_result(el, what):
    check(el.get('type') == 'result', '%s: expected a result, got %s'
          % (what, ET.tostring(el).decode(errors='replace')[:400]))


def expect_error(el, cond, etype, what):
    got, gtype = error_of(el)
    check(got == cond and gtype == etype, '%s: expected <%s/> type %s, got %s'
          % (what, cond, etype, ET.tostring(el).decode(errors='replace')[:400]))


async def preauth_stream(env, to='localhost'):
    rs = await env.raw()
    features = await rs.open_stream(to)
    return rs, features


async def register_raw(env, user, password, what='register'):
    """Registers user in-band on a new raw stream; returns the answer."""
    rs, _ = await preauth_stream(env)
    el = await iq(rs, 'set', reg_query(user, password), what)
    await rs.close()
    return el


async def login_fails(env, jid, password, what):
    res = await env.login(jid, password, expect_ok=False)
    check(res == 'failed_auth', '%s: login %s expected failed_auth, got %s' % (what, jid, res))


# ------------------------------------------------------------------ tests


@e2e_test('register_closed_by_default', timeout=40)
async def t_closed(env):
    """Registration closed (the default): no stream feature, get and set answer
    service-unavailable (XEP-0077 3.1), no account is made; the disco feature is still
    there because password change and removal work for users."""
    rs, features = await preauth_stream(env)
    check(not has_register_feature(features), 'register feature offered while closed: %s'
          % ET.tostring(features).decode())
    el = await iq(rs, 'get', reg_query(), 'get while closed')
    expect_error(el, 'service-unavailable', 'cancel', 'get while closed')
    el = await iq(rs, 'set', reg_query('mallory', 'secret-pw'), 'set while closed')
    expect_error(el, 'service-unavailable', 'cancel', 'set while closed')
    await rs.close()
    await login_fails(env, 'mallory@localhost/r', 'secret-pw', 'after a refused registration')
    await env.register('alice')
    c = await env.login('alice@localhost/r')
    kind, info = await c.iq_get('localhost', 'http://jabber.org/protocol/disco#info')
    check(kind == 'result', 'disco#info: %s' % kind)
    check(NS_REG in info['disco_info']['features'], 'disco#info lacks %s: %s'
          % (NS_REG, info['disco_info']['features']))


@e2e_test('register_feature_per_host', timeout=60)
async def t_feature_per_host(_env):
    """Open at the top level: the feature is offered.  host_config overrides it per
    host: closed at the top, open for one host only -> offered there alone, and the
    closed host answers service-unavailable."""
    async with reg_server('register_feature_open') as env:
        rs, features = await preauth_stream(env)
        check(has_register_feature(features), 'no <register xmlns=%s/> in the features: %s'
              % (NS_REG_FEATURE, ET.tostring(features).decode()))
    cfg = 'host_config: {other.test: {registration: open}}\n'
    async with reg_server('register_feature_per_host', hosts=('localhost', 'other.test'),
                          extra_config=cfg) as env:
        rs, features = await preauth_stream(env, 'localhost')
        check(not has_register_feature(features), 'localhost (closed) offers registration')
        el = await iq(rs, 'set', reg_query('carol', 'secret-pw'), 'closed host')
        expect_error(el, 'service-unavailable', 'cancel', 'set on the closed host')
        rs2, features = await preauth_stream(env, 'other.test')
        check(has_register_feature(features), 'other.test (open) does not offer registration')
        el = await iq(rs2, 'set', reg_query('carol', 'secret-pw'), 'open host')
        expect_result(el, 'register carol@other.test')
        rc, out, err = await env.srv.ctl('users', 'other.test')
        check(rc == 0 and 'carol' in out.split(), 'xmppctl users other.test: %r %r' % (out, err))
        rc, out, err = await env.srv.ctl('users', 'localhost')
        check(rc == 0 and 'carol' not in out.split(), 'carol appeared on localhost: %r' % out)


@e2e_test('register_create_login_and_chat', timeout=60)
async def t_create(_env):
    """get -> the fields; set -> result; the same stream then authenticates with the new
    account (XEP-0077 3.1.1 bootstrap), and a new slixmpp connection logs in and chats."""
    async with reg_server('register_create_login_and_chat') as env:
        rs, features = await preauth_stream(env)
        check(has_register_feature(features), 'register feature missing while open')
        el = await iq(rs, 'get', reg_query(), 'get fields', to='localhost')
        expect_result(el, 'get fields')
        q = el.find('{%s}query' % NS_REG)
        check(q is not None, 'no <query/> in %s' % ET.tostring(el).decode())
        names = [local(c.tag) for c in q]
        check('username' in names and 'password' in names and 'registered' not in names,
              'fields: %s' % names)
        el = await iq(rs, 'set', reg_query('Newbie', 'n3wbie-pass'), 'register Newbie')
        expect_result(el, 'register Newbie')
        check(len(list(el)) == 0, 'result carries a payload: %s' % ET.tostring(el).decode())
        await rs.send(sasl_plain('newbie', 'n3wbie-pass'))
        ok = await rs.wait(lambda s: s.find(NS_SASL, 'success') is not None
                           or s.find(NS_SASL, 'failure') is not None)
        check(ok and rs.find(NS_SASL, 'success') is not None,
              'SASL on the registering stream: %r' % rs.text()[-300:])
        await rs.close()
        await env.register('bob')
        n = await env.login('newbie@localhost/r', 'n3wbie-pass')
        b = await env.login('bob@localhost/b')
        n.send_chat('bob@localhost/b', 'hello from a new account')
        await b.wait_messages(1, 5)
        check(b.messages[0]['body'] == 'hello from a new account', 'got %r'
              % b.messages[0]['body'])
        check(b.messages[0]['from'].bare == 'newbie@localhost', 'from %s' % b.messages[0]['from'])
        b.send_chat('newbie@localhost/r', 'welcome')
        await n.wait_messages(1, 5)
        # The account, once authenticated, is told it is registered.
        rs = await raw_login(env, 'newbie', 'n3wbie-pass', 'raw')
        el = await iq(rs, 'get', reg_query(), 'get after auth')
        expect_result(el, 'get after auth')
        q = el.find('{%s}query' % NS_REG)
        check(q is not None and q.find('{%s}registered' % NS_REG) is not None
              and q.findtext('{%s}username' % NS_REG) == 'newbie',
              'get after auth: %s' % ET.tostring(el).decode())


@e2e_test('register_slixmpp_client_registers', timeout=60)
async def t_slixmpp(_env):
    """slixmpp's xep_0077 sees the stream feature, registers, then logs in with the new
    account on the same connection."""
    async with reg_server('register_slixmpp_client_registers') as env:
        c = env.client('sli@localhost/r', 'sli-password', plugins=['xep_0004', 'xep_0066',
                                                                  'xep_0077'])
        answered = asyncio.get_running_loop().create_future()

        async def on_register(form):
            resp = c.x.Iq()
            resp['type'] = 'set'
            resp['register']['username'] = 'sli'
            resp['register']['password'] = 'sli-password'
            try:
                await resp.send(timeout=5)
                answered.set_result('ok')
            except Exception as e:  # IqError, IqTimeout
                answered.set_result('error: %s' % e)
                c.x.disconnect()

        c.x.add_event_handler('register', on_register)
        # slixmpp 1.8.3 holds every IQ back until session start, its own registration
        # IQs included ("NOT SENT"), so xep_0077 cannot register on its own.
        c.x._always_send_everything = True
        c.x.connect(('127.0.0.1', env.srv.port), use_ssl=False, force_starttls=False,
                    disable_starttls=True)
        res = await asyncio.wait_for(asyncio.shield(c.session), 10)
        check(answered.done() and answered.result() == 'ok',
              'registration by slixmpp: %s' % (answered.result() if answered.done() else
                                               'never asked'))
        check(res == 'ok', 'slixmpp login after registering: %s' % res)
        await c.ping()


@e2e_test('register_conflict', timeout=60)
async def t_conflict(_env):
    """An existing name (made by xmppctl, or in-band before, or the same after nodeprep)
    -> conflict (XEP-0077 3.1); the existing password is untouched."""
    async with reg_server('register_conflict') as env:
        await env.register('alice')
        el = await register_raw(env, 'alice', 'other-pass', 'alice again')
        expect_error(el, 'conflict', 'cancel', 'name made by xmppctl')
        check(b'other-pass' not in ET.tostring(el), 'the error echoes the password: %s'
              % ET.tostring(el).decode())
        check(el.get('from') == 'localhost', 'error from %r' % el.get('from'))
        el = await register_raw(env, 'dave', 'dave-pass-1')
        expect_result(el, 'dave')
        for name in ('dave', 'DAVE'):
            el = await register_raw(env, name, 'dave-pass-2', name)
            expect_error(el, 'conflict', 'cancel', 'in-band name %s again' % name)
        # Existence is decided before the password policy: a taken name is a
        # conflict whatever the password, too short or too long.
        for pw, what in (('x', 'a password below the minimum length'),
                         ('p' * 5000, 'a password over the maximum length')):
            el = await register_raw(env, 'alice', pw, 'alice again with ' + what)
            expect_error(el, 'conflict', 'cancel', 'taken name with ' + what)
        el = await register_raw(env, 'erin', 'p' * 5000, 'a free name, password too long')
        expect_error(el, 'not-acceptable', 'modify', 'a free name with a password too long')
        await env.login('alice@localhost/a')
        await env.login('dave@localhost/d', 'dave-pass-1')
        await login_fails(env, 'dave@localhost/x', 'dave-pass-2', 'password of the refused one')


@e2e_test('register_refusals', timeout=60)
async def t_refusals(_env):
    """Each malformed request gets its own condition and makes no account."""
    async with reg_server('register_refusals') as env:
        rs, _ = await preauth_stream(env)
        cases = [
            ('bad@name', 'good-pass', None, 'jid-malformed', 'modify', 'username with @'),
            ('a b', 'good-pass', None, 'jid-malformed', 'modify', 'username with a space'),
            ('', 'good-pass', None, 'not-acceptable', 'modify', 'empty username'),
            (None, 'good-pass', None, 'not-acceptable', 'modify', 'no username'),
            ('erin', None, None, 'not-acceptable', 'modify', 'no password'),
            ('erin', '', None, 'not-acceptable', 'modify', 'empty password'),
            ('erin', 'abc', None, 'not-acceptable', 'modify', 'password shorter than 6'),
            ('erin', 'x' * 1024, None, 'not-acceptable', 'modify', 'password of 1024 bytes'),
            ('e' * 600, 'good-pass', None, 'not-acceptable', 'modify', 'username of 600 bytes'),
            ('erin', 'good-pass', '<username>erin2</username>', 'bad-request', 'modify',
             'two usernames'),
            (None, None, '<username>er<b/>in</username><password>good-pass</password>',
             'bad-request', 'modify', 'markup inside username'),
            (None, None, '<remove/>', 'unexpected-request', 'wait', 'remove before auth'),
        ]
        # At most 16 IQs per connection before authentication (the worker's bound).
        for i, (user, pw, extra, cond, etype, what) in enumerate(cases):
            if i == 8:
                rs, _ = await preauth_stream(env)
            el = await iq(rs, 'set', reg_query(user, pw, extra or ''), what)
            expect_error(el, cond, etype, what)
        el = await iq(rs, 'set', "<query xmlns='%s'>%s</query>" % (NS_REG, '<x/>' * 40),
                      '40 children')
        expect_error(el, 'bad-request', 'modify', '40 children')
        el = await iq(rs, 'set', "<other xmlns='%s'/>" % NS_REG, 'not a query')
        expect_error(el, 'bad-request', 'modify', 'payload other than <query/>')
        # The connection is still usable, and nothing was made by the refusals.
        el = await iq(rs, 'set', reg_query('erin', 'good-pass'), 'erin at last')
        expect_result(el, 'erin at last')
        rc, out, err = await env.srv.ctl('users', 'localhost')
        check(rc == 0 and sorted(out.split()) == ['erin'],
              'accounts after the refusals: %r %r' % (out, err))


@e2e_test('register_min_password_length_option', timeout=60)
async def t_min_len(_env):
    """modules: {register: {min_password_length: 10}}: counted in characters, not
    bytes - nine 2-byte characters are refused (not-acceptable), ten are taken and
    log in."""
    mods = modules_with('register', 'min_password_length: 10')
    async with reg_server('register_min_password_length_option', modules=mods) as env:
        rs, _ = await preauth_stream(env)
        el = await iq(rs, 'set', reg_query('frank', '\u00e9' * 9), 'nine characters')
        expect_error(el, 'not-acceptable', 'modify', 'password of 9 characters (18 bytes)')
        el = await iq(rs, 'set', reg_query('frank', '\u00e9' * 10), 'ten characters')
        expect_result(el, 'password of 10 characters')
        await env.login('frank@localhost/r', '\u00e9' * 10)


@e2e_test('register_rate_limit_per_ip', timeout=60)
async def t_rate(_env):
    """limits: registration_rate_per_ip: 2 -> the third account from 127.0.0.1 within
    the hour is refused with resource-constraint (type wait); refused attempts
    (conflict) do not count; the refused account does not exist."""
    async with reg_server('register_rate_limit_per_ip', limits=RATE_LIMITS % 2) as env:
        await env.register('alice')
        el = await register_raw(env, 'alice', 'whatever-pw', 'conflict first')
        expect_error(el, 'conflict', 'cancel', 'conflict (not counted)')
        for name in ('one', 'two'):
            el = await register_raw(env, name, 'pass-%s-1' % name, name)
            expect_result(el, 'account %s' % name)
        el = await register_raw(env, 'three', 'pass-three-1', 'third')
        expect_error(el, 'resource-constraint', 'wait', 'third account within the hour')
        check(el.find('{jabber:client}error/{%s}text' % NS_STANZAS) is not None,
              'no <text/> explaining the refusal: %s' % ET.tostring(el).decode())
        await login_fails(env, 'three@localhost/r', 'pass-three-1', 'refused account')
        await env.login('two@localhost/r', 'pass-two-1')


@e2e_test('register_starttls_required', timeout=60)
async def t_starttls(_env):
    """With STARTTLS required and not done, the feature is not offered and a register
    IQ is refused (the worker ends the stream: policy-violation) - no account.  Inside
    TLS the feature appears and registration works."""
    from test_tls import TlsStream, client_ctx
    async with reg_server('register_starttls_required', listener='') as env:
        rs, features = await preauth_stream(env)
        check(features.find('{urn:ietf:params:xml:ns:xmpp-tls}starttls') is not None,
              'STARTTLS not offered: %s' % ET.tostring(features).decode())
        check(not has_register_feature(features), 'register offered before TLS')
        await rs.send("<iq type='set' id='r1'>%s</iq>" % reg_query('tlsless', 'tlsless-pw'))
        await rs.wait(lambda s: s.eof or s.stream_error()[0] is not None
                      or any(e.get('id') == 'r1' for e in s.elements), 5)
        check(not any(e.get('id') == 'r1' and e.get('type') == 'result' for e in rs.elements),
              'registration before STARTTLS succeeded')
        cond, _ = rs.stream_error()
        check(cond == 'policy-violation', 'expected a policy-violation stream error, got %r: %r'
              % (cond, rs.text()[-300:]))
        rc, out, _ = await env.srv.ctl('users', 'localhost')
        check(rc == 0 and 'tlsless' not in out.split(), 'account made without TLS: %r' % out)

        env.step('registration inside TLS')
        ts = await TlsStream.connect(env, env.srv.port)
        await ts.open_stream()
        features = await ts.starttls(client_ctx(env.srv))
        check(has_register_feature(features), 'no register feature inside TLS: %s'
              % ET.tostring(features).decode())
        el = await iq(ts, 'set', reg_query('tlsuser', 'tls-user-pw'), 'register inside TLS')
        expect_result(el, 'register inside TLS')
        rc, out, _ = await env.srv.ctl('users', 'localhost')
        check(rc == 0 and 'tlsuser' in out.split(), 'tlsuser not listed: %r' % out)


@e2e_test('register_change_password', timeout=60)
async def t_passwd(env):
    """After auth, <username/><password/> changes the password: the old one fails, the
    new one works (with slixmpp's xep_0077 change_password too); an empty password,
    another account's name and a short password are refused.  Works while
    registration is closed (this is the runner's default server)."""
    await env.register('alice')
    await env.register('bob')
    rs = await raw_login(env, 'alice', 'pw-alice', 'raw')
    for q, cond, what in [
            (reg_query('alice', ''), 'bad-request', 'empty password'),
            (reg_query('alice'), 'bad-request', 'no password'),
            (reg_query('bob', 'bobs-new-pw'), 'bad-request', "bob's username"),
            (reg_query('alice', 'abc'), 'not-acceptable', 'short password')]:
        el = await iq(rs, 'set', q, what)
        expect_error(el, cond, 'modify', what)
        # XEP-0077 3.3: the request (a password) is not sent back in the error.
        check(el.find('{%s}query' % NS_REG) is None, '%s: the error echoes the request: %s'
              % (what, ET.tostring(el).decode()))
    el = await iq(rs, 'set', reg_query('bob', 'hijacked-pw'), 'to bob', to='bob@localhost')
    expect_error(el, 'service-unavailable', 'cancel', "alice's request to bob's bare JID")
    el = await iq(rs, 'set', reg_query(None, None, '<remove/>'), 'remove bob', to='bob@localhost')
    expect_error(el, 'service-unavailable', 'cancel', "alice's <remove/> to bob's bare JID")
    await env.login('bob@localhost/b')      # bob untouched
    el = await iq(rs, 'set', reg_query('alice', 'alice-new-pw'), 'change')
    expect_result(el, 'change the password')
    await login_fails(env, 'alice@localhost/old', 'pw-alice', 'old password')
    c = await env.login('alice@localhost/new', 'alice-new-pw', plugins=['xep_0077'])
    env.step('a second change of the same account within 10 s: resource-constraint (wait)')
    try:
        await c.x['xep_0077'].change_password('alice-third-pw', jid='localhost', timeout=5)
        raise TestFailure('a second password change right after the first was accepted')
    except IqError as e:
        err = e.iq['error']
        check(err['condition'] == 'resource-constraint' and err['type'] == 'wait',
              'second change answered %s/%s' % (err['condition'], err['type']))
    await env.login('alice@localhost/still', 'alice-new-pw')
    env.step('slixmpp change_password (bob)')
    b = await env.login('bob@localhost/b2', plugins=['xep_0077'])
    await b.x['xep_0077'].change_password('bob-new-pw', jid='localhost', timeout=5)
    await login_fails(env, 'bob@localhost/old2', 'pw-bob', "bob's old password")
    await env.login('bob@localhost/third', 'bob-new-pw')
    # Sessions opened with the old password stay.
    await c.ping()
    await b.ping()


def loaded(env, module):
    return (' %s:' % module) in env.srv.modules or ('{%s:' % module) in env.srv.modules


async def set_profile(env, c):
    """Stores a roster item and a vCard for c, each when its module is loaded, and
    checks they read back; returns which of the two were stored."""
    stored = []
    if loaded(env, 'roster'):
        iq = c.x.make_iq_set(ito=None)
        q = ET.SubElement(iq.xml, '{%s}query' % NS_ROSTER)
        ET.SubElement(q, '{%s}item' % NS_ROSTER, jid='friend@localhost', name='Friend')
        await iq.send(timeout=5)
        stored.append('roster')
    if loaded(env, 'vcard'):
        iq = c.x.make_iq_set(ito=None)
        v = ET.SubElement(iq.xml, '{%s}vCard' % NS_VCARD)
        ET.SubElement(v, '{%s}FN' % NS_VCARD).text = 'Old Self'
        await iq.send(timeout=5)
        stored.append('vcard')
    items, fn = await profile_of(c)
    if 'roster' in stored:
        check(items == ['friend@localhost'], 'roster before the removal: %s' % items)
    if 'vcard' in stored:
        check(fn == 'Old Self', 'vCard before the removal: FN %r' % fn)
    return stored


async def profile_of(c):
    """(roster item jids, vCard FN or None)."""
    items = []
    kind, r = await c.iq_get(None, NS_ROSTER)
    if kind == 'result':
        items = [i.get('jid') for i in r.xml.iter('{%s}item' % NS_ROSTER)]
    fn = None
    iq = c.x.make_iq_get(ito=None)
    ET.SubElement(iq.xml, '{%s}vCard' % NS_VCARD)
    try:
        r = await iq.send(timeout=5)
        fn = r.xml.findtext('{%s}vCard/{%s}FN' % (NS_VCARD, NS_VCARD))
    except IqError:
        pass
    return items, fn


@e2e_test('register_cancel', timeout=60)
async def t_cancel(env):
    """<remove/> after auth: result, then every session of the account ends with a
    not-authorized stream error (XEP-0077 3.2); login fails; the account's data
    (roster, vCard) is gone when the name is registered again.  <remove/> with another
    element beside it -> bad-request."""
    await env.register('alice')
    first = await env.login('alice@localhost/one')
    stored = await set_profile(env, first)
    rs = await raw_login(env, 'alice', 'pw-alice', 'raw')
    el = await iq(rs, 'set', reg_query('alice', None, '<remove/>'), 'remove with username')
    expect_error(el, 'bad-request', 'modify', '<remove/> not alone')
    n0 = len(rs.elements)
    await rs.send("<iq type='set' id='unreg'><query xmlns='%s'><remove/></query></iq>" % NS_REG)
    ok = await rs.wait(lambda s: s.stream_error()[0] is not None, 5)
    check(ok, 'no stream error after <remove/>: %r' % rs.text()[-400:])
    answers = [e for e in rs.elements[n0:] if e.get('id') == 'unreg']
    check(answers and answers[0].get('type') == 'result',
          'the <remove/> was not answered with a result before the stream error: %r'
          % rs.text()[-400:])
    cond, _ = rs.stream_error()
    check(cond == 'not-authorized', 'stream error <%s/>, expected <not-authorized/>' % cond)
    check(await rs.wait_eof(5), 'connection not closed after the stream error')
    err = await asyncio.wait_for(asyncio.shield(first.stream_error), 5)
    check(err['condition'] == 'not-authorized', 'other session: stream error %s'
          % err['condition'])
    await first.wait_gone(5, 'the other session of the removed account')

    async def gone():
        return not [s for s in await env.srv.sessions() if s['jid'].startswith('alice@')]
    check(await eventually(gone, 5), 'sessions of alice still in the session table')
    await login_fails(env, 'alice@localhost/again', 'pw-alice', 'removed account')
    await env.register('alice', 'pw-alice-2')
    c = await env.login('alice@localhost/new', 'pw-alice-2')
    items, fn = await profile_of(c)
    if 'roster' in stored:
        check(items == [], 'roster of the new alice: %s' % items)
    if 'vcard' in stored:
        check(fn is None, 'vCard of the new alice: FN %r' % fn)
