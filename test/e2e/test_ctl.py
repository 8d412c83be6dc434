"""xmppctl: accounts and sessions."""

from harness import e2e_test, check, eventually


def one_line_reason(err):
    lines = [l for l in err.splitlines() if l.strip()]
    return len(lines) == 1


@e2e_test('ctl_register_users_unregister')
async def t_ctl_accounts(env):
    srv = env.srv
    env.step('register alice, bob')
    for u in ('alice', 'bob'):
        rc, out, err = await srv.ctl('register', u, 'localhost', 'pw-' + u)
        check(rc == 0, 'register %s: exit %s, stderr %r' % (u, rc, err))

    env.step('register alice again')
    rc, out, err = await srv.ctl('register', 'alice', 'localhost', 'other')
    check(rc != 0, 'registering an existing user exited 0 (stdout %r)' % out)
    check(one_line_reason(err), 'duplicate register: expected a one-line reason on stderr, got %r'
          % err)

    env.step('users localhost')
    rc, out, err = await srv.ctl('users', 'localhost')
    check(rc == 0, 'users: exit %s, stderr %r' % (rc, err))
    users = sorted(l.strip() for l in out.splitlines() if l.strip())
    check(users == ['alice', 'bob'], 'users localhost listed %r, expected alice and bob' % users)

    env.step('the duplicate register did not change the password')
    c = await env.login('alice@localhost/x', 'pw-alice', presence=False)
    await c.close()

    env.step('unregister alice')
    rc, out, err = await srv.ctl('unregister', 'alice', 'localhost')
    check(rc == 0, 'unregister alice: exit %s, stderr %r' % (rc, err))
    rc, out, err = await srv.ctl('users', 'localhost')
    users = sorted(l.strip() for l in out.splitlines() if l.strip())
    check(rc == 0 and users == ['bob'], 'after unregister, users localhost listed %r (exit %s)'
          % (users, rc))

    env.step('unregister alice again')
    rc, out, err = await srv.ctl('unregister', 'alice', 'localhost')
    check(rc != 0, 'unregistering a missing user exited 0')

    env.step('login of the removed account')
    res = await env.login('alice@localhost/x', 'pw-alice', expect_ok=False)
    check(res == 'failed_auth', 'login of an unregistered account: %s' % res)

    env.step('register on an unknown host')
    rc, out, err = await srv.ctl('register', 'carol', 'example.org', 'pw')
    check(rc != 0, 'register on a host the server does not serve exited 0')
    check(one_line_reason(err), 'register on unknown host: expected a one-line reason, got %r' % err)
    rc, out, err = await srv.ctl('users', 'localhost')
    check('carol' not in out, 'carol appeared in users localhost: %r' % out)


@e2e_test('ctl_sessions_lists_full_jid')
async def t_ctl_sessions(env):
    srv = env.srv
    await env.register('bob')
    env.step('no sessions yet')
    check(await srv.sessions() == [], 'sessions not empty before any login')
    env.step('login bob/phone')
    c = await env.login('bob@localhost/phone')
    check(c.jid == 'bob@localhost/phone', 'bound JID %s' % c.jid)
    sess = await srv.sessions()
    check(len(sess) == 1, 'expected one session, got %r' % sess)
    s = sess[0]
    check(s['jid'] == 'bob@localhost/phone', 'sessions lists %r, expected bob@localhost/phone'
          % s['jid'])
    check(0 <= s['worker'] < srv.workers, 'worker column %r out of range' % s['worker'])
    check(s['presence'] == 'available', 'presence column %r after initial presence' % s['presence'])
    check(s['priority'] == 0, 'priority column %r, expected 0' % s['priority'])
    env.step('logout removes the session')
    await c.close()
    async def none_left():
        return await srv.sessions() == []
    check(await eventually(none_left, 5), 'session still listed 5s after the client closed its '
          'stream: %r' % await srv.sessions())


@e2e_test('ctl_unregister_ends_session')
async def t_ctl_unregister_live(env):
    srv = env.srv
    await env.register('dave')
    c = await env.login('dave@localhost/desk')
    env.step('unregister dave while online')
    rc, out, err = await srv.ctl('unregister', 'dave', 'localhost')
    check(rc == 0, 'unregister: exit %s %r' % (rc, err))
    await c.wait_gone(5, 'the session of an unregistered account')

    async def dave_gone():
        return all(not s['jid'].startswith('dave@') for s in await srv.sessions())
    check(await eventually(dave_gone, 5), 'sessions still lists dave after unregister: %r'
          % await srv.sessions())
