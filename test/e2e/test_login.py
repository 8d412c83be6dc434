"""SASL mechanisms, resource binding and authentication failures."""

import base64
import xml.etree.ElementTree as ET

from harness import (e2e_test, check, local, ns_of, sasl_plain, raw_scram, NS_SASL)

EXACT_FAILURE = "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>"


def login_test(mech):
    async def t(env):
        await env.register('alice')
        env.step('login with %s' % mech)
        c = await env.login('alice@localhost/res-%s' % mech, mech=mech)
        check(c.jid == 'alice@localhost/res-%s' % mech,
              'bound JID %s, expected alice@localhost/res-%s' % (c.jid, mech))
        s = await env.srv.session_of(c.jid)
        check(s is not None, 'sessions does not list %s' % c.jid)
        m = await env.srv.wait_log(r'authenticated alice@localhost \(%s\)' % mech, 5)
        check(m, 'the worker log does not say "authenticated alice@localhost (%s)"' % mech)
        env.step('ping after login')
        r = await c.ping()
        check(r['type'] == 'result', 'ping after %s login answered %s' % (mech, r))
    return t


for _mech in ('SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'):
    e2e_test('login_' + _mech.lower().replace('-', '_'))(login_test(_mech))


@e2e_test('login_server_generated_resource')
async def t_no_resource(env):
    await env.register('alice')
    c = await env.login('alice@localhost')
    j = c.x.boundjid
    check(j.bare == 'alice@localhost', 'bound bare JID %s' % j.bare)
    check(j.resource != '', 'no resource in the bound JID %s' % j)
    s = await env.srv.session_of(str(j))
    check(s is not None, 'sessions does not list the generated JID %s' % j)
    env.step('a second login without resource gets another one')
    c2 = await env.login('alice@localhost')
    check(c2.x.boundjid.resource and c2.x.boundjid.resource != j.resource,
          'two resourceless logins got %s and %s' % (j, c2.x.boundjid))
    check(c.gone.done() is False, 'first resourceless session was closed by the second')


@e2e_test('login_wrong_password_slixmpp')
async def t_wrong_pw(env):
    await env.register('alice')
    for mech in ('SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'):
        env.step('wrong password with %s' % mech)
        res = await env.login('alice@localhost/r', 'wrong', mech=mech, expect_ok=False)
        check(res == 'failed_auth', '%s with a wrong password: %s' % (mech, res))
        env.step('unknown user with %s' % mech)
        res = await env.login('nobody@localhost/r', 'pw', mech=mech, expect_ok=False)
        check(res == 'failed_auth', '%s for an unknown user: %s' % (mech, res))
    env.step('good login still works')
    await env.login('alice@localhost/r')


def check_failure(rs, el, what):
    check(el is not None, '%s: no SASL answer; got %r' % (what, rs.text()[-300:]))
    check(el.tag == '{%s}failure' % NS_SASL, '%s: expected <failure/>, got %s; stream %r'
          % (what, el.tag, rs.text()[-300:]))
    kids = [c.tag for c in el]
    check(kids == ['{%s}not-authorized' % NS_SASL], '%s: failure children %r, expected '
          '<not-authorized/>' % (what, kids))


@e2e_test('login_sasl_failure_raw')
async def t_sasl_raw(env):
    await env.register('alice')

    env.step('PLAIN wrong password')
    rs = await env.raw()
    feats = await rs.open_stream()
    mechs = [m.text for m in feats.iter('{%s}mechanism' % NS_SASL)]
    for m in ('SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'):
        check(m in mechs, 'stream features do not offer %s: %r' % (m, mechs))
    await rs.send(sasl_plain('alice', 'wrong'))
    check(await rs.wait(lambda s: s.find(NS_SASL, 'failure') is not None),
          'no <failure/> for a wrong PLAIN password; got %r' % rs.text()[-300:])
    check_failure(rs, rs.find(NS_SASL, 'failure'), 'PLAIN wrong password')
    check(EXACT_FAILURE in rs.text(), 'failure is not exactly %s; got %r'
          % (EXACT_FAILURE, rs.text()[-200:]))
    env.step('retry on the same stream after a failure (RFC 6120 6.4.5)')
    check(not rs.eof, 'server closed the stream after one SASL failure')
    await rs.send(sasl_plain('alice', 'pw-alice'))
    ok = await rs.wait(lambda s: s.find(NS_SASL, 'success') is not None)
    check(ok, 'correct PLAIN after a failure got no <success/>: %r' % rs.text()[-300:])
    await rs.close()

    env.step('PLAIN unknown user')
    rs = await env.raw()
    await rs.open_stream()
    await rs.send(sasl_plain('nobody', 'pw'))
    check(await rs.wait(lambda s: s.find(NS_SASL, 'failure') is not None),
          'no <failure/> for an unknown PLAIN user; got %r' % rs.text()[-300:])
    check_failure(rs, rs.find(NS_SASL, 'failure'), 'PLAIN unknown user')
    check(EXACT_FAILURE in rs.text(), 'failure is not exactly %s; got %r'
          % (EXACT_FAILURE, rs.text()[-200:]))
    await rs.close()

    for mech in ('SCRAM-SHA-256', 'SCRAM-SHA-1'):
        for user, pw, what in (('alice', 'wrong', 'wrong password'),
                               ('nobody', 'pw', 'unknown user')):
            env.step('%s %s' % (mech, what))
            rs = await env.raw()
            await rs.open_stream()
            el = await raw_scram(rs, mech, user, pw)
            check_failure(rs, el, '%s %s' % (mech, what))
            check(EXACT_FAILURE in rs.text(), '%s %s: failure is not exactly %s; got %r'
                  % (mech, what, EXACT_FAILURE, rs.text()[-200:]))
            await rs.close()

        env.step('%s right password (raw)' % mech)
        rs = await env.raw()
        await rs.open_stream()
        el = await raw_scram(rs, mech, 'alice', 'pw-alice')
        check(el.tag == '{%s}success' % NS_SASL, '%s with the right password: %s %r'
              % (mech, el.tag, rs.text()[-300:]))
        await rs.close()


@e2e_test('login_sasl_error_conditions')
async def t_sasl_errors(env):
    """RFC 6120 6.4.5-6.5: the SASL failure conditions a client can provoke."""
    await env.register('alice')
    await env.register('bob')

    async def one(payload, what, expect):
        rs = await env.raw()
        await rs.open_stream()
        n = len(rs.elements)
        await rs.send(payload)
        ok = await rs.wait(lambda s: len(s.elements) > n)
        check(ok, '%s: no answer; got %r%s' % (what, rs.text()[-200:],
                                                 ' (closed)' if rs.eof else ''))
        el = rs.elements[n]
        kids = [local(c.tag) for c in el if ns_of(c.tag) == NS_SASL]
        got = '%s/%s' % (local(el.tag), kids[0] if kids else '')
        check(got == expect, '%s: got <%s>, expected <%s>; raw %r'
              % (what, got, expect, rs.text()[-200:]))
        await rs.close()

    def b64(s):
        return base64.b64encode(s).decode()

    env.step('PLAIN with authzid = own bare JID')
    await one("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
              % (NS_SASL, b64(b'alice@localhost\0alice\0pw-alice')),
              'PLAIN authzid=alice@localhost', 'success/')
    env.step('PLAIN with authzid of another user')
    await one("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
              % (NS_SASL, b64(b'bob@localhost\0alice\0pw-alice')),
              'PLAIN authzid=bob@localhost by alice', 'failure/invalid-authzid')
    env.step('unknown mechanism')
    await one("<auth xmlns='%s' mechanism='X-NOPE'>%s</auth>" % (NS_SASL, b64(b'x')),
              'mechanism X-NOPE', 'failure/invalid-mechanism')
    env.step('bad base64')
    await one("<auth xmlns='%s' mechanism='PLAIN'>!!!not base64!!!</auth>" % NS_SASL,
              'PLAIN with invalid base64', 'failure/incorrect-encoding')
    env.step('abort a SCRAM exchange')
    rs = await env.raw()
    await rs.open_stream()
    await rs.send("<auth xmlns='%s' mechanism='SCRAM-SHA-1'>%s</auth>"
                  % (NS_SASL, b64(b'n,,n=alice,r=abcdefghijklmnop')))
    check(await rs.wait(lambda s: s.find(NS_SASL, 'challenge') is not None),
          'no SCRAM challenge: %r' % rs.text()[-200:])
    await rs.send("<abort xmlns='%s'/>" % NS_SASL)
    check(await rs.wait(lambda s: s.find(NS_SASL, 'failure') is not None),
          'no failure after <abort/>: %r' % rs.text()[-200:])
    f = rs.find(NS_SASL, 'failure')
    check([local(c.tag) for c in f] == ['aborted'], '<abort/> answered with %r, expected '
          '<failure><aborted/></failure>' % ET.tostring(f))
    env.step('after the abort, PLAIN works on the same stream')
    await rs.send(sasl_plain('alice', 'pw-alice'))
    check(await rs.wait(lambda s: s.find(NS_SASL, 'success') is not None),
          'PLAIN after abort: %r' % rs.text()[-200:])
