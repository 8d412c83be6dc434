"""xmppd -t: configuration check."""

import os
import re

from harness import e2e_test, check, run_tool


async def check_config(path):
    return await run_tool('xmppd', '-t', '-c', path, timeout=10)


@e2e_test('config_check_good_and_bad')
async def t_config(env):
    srv = env.srv
    good = os.path.join(srv.dir, 'good.yml')
    with open(good, 'w') as f:
        f.write(srv.config_text(srv.port))
    env.step('xmppd -t on a good file')
    rc, out, err = await check_config(good)
    check(rc == 0, 'xmppd -t -c good.yml exited %s (stdout %r stderr %r)' % (rc, out, err))

    cases = [
        # (name, text, line, key)
        ('bad_toplevel.yml',
         'hosts: [localhost]\nloglevel: debug\nworkers: 2\nbogus_key: 3\n'
         'listen:\n  - {port: 5222, ip: 127.0.0.1, module: c2s}\n', 4, 'bogus_key'),
        ('bad_listener.yml',
         'hosts: [localhost]\nlisten:\n  - port: 5222\n    ip: 127.0.0.1\n'
         '    module: c2s\n    prot: 1\n', 6, 'prot'),
    ]
    for name, text, line, key in cases:
        env.step('xmppd -t on %s' % name)
        path = os.path.join(srv.dir, name)
        with open(path, 'w') as f:
            f.write(text)
        rc, out, err = await check_config(path)
        check(rc == 1, 'xmppd -t -c %s exited %s, expected 1 (stderr %r)' % (name, rc, err))
        check(re.search(r'%s:%d(:\d+)?:.*\b%s\b' % (re.escape(path), line, re.escape(key)), err),
              '%s: stderr does not name file:line and key %s (line %d): %r'
              % (name, key, line, err))
    env.step('the running server is unaffected')
    await env.register('alice')
    c = await env.login('alice@localhost/cfg')
    await c.ping()


@e2e_test('config_check_module_options')
async def t_config_modules(env):
    """xmppd -t opens every module and lets it check its options: a bad option or a
    missing module is a configuration error with its line, and xmppd does not start."""
    srv = env.srv
    base = srv.config_text(srv.port).replace('modules: ', 'modules_orig: ')
    base = re.sub(r'(?m)^modules_orig: .*\n', '', base)
    cases = [
        ('roster: {max_items: banana}', r"module 'roster': option 'max_items': expected a number"),
        ('ping: {verbose: true}', r"module 'ping': unknown option 'verbose'"),
        ('offline: {max_messages: -3}', r'offline'),
        ('nosuchmodule: {}', r'module nosuchmodule: .*nosuchmodule\.so'),
    ]
    for mod, want in cases:
        env.step('xmppd -t with modules: {%s}' % mod)
        path = os.path.join(srv.dir, 'mod.yml')
        with open(path, 'w') as f:
            f.write(base + 'modules: {%s, disco: {}}\n' % mod)
        rc, out, err = await check_config(path)
        check(rc == 1, 'xmppd -t with %s exited %s (stderr %r)' % (mod, rc, err))
        check(re.search(want, err), 'with %s the error does not say %r: %r' % (mod, want, err))
        check(re.search(r'%s:\d+' % re.escape(path), err), 'no file:line in %r' % err)
    env.step('a good module option passes')
    with open(path, 'w') as f:
        f.write(base + 'modules: {roster: {max_items: 50}, disco: {}}\n')
    rc, out, err = await check_config(path)
    check(rc == 0, 'xmppd -t with roster max_items 50 exited %s: %r' % (rc, err))
