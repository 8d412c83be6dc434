"""The domain table (router/routes.h): the hosts and the service domains of modules
(vjud.HOST of the vcard module) are routes in the sessions env, listed by `xmppctl
routes` (text and --json) and by xmppd-shm-dump; a restarted router rebuilds the same
table; a service domain a module adds at run time is routed at once."""

import json
import os
import signal

from harness import (Server, check, e2e_test, own_server, raw_login, run_tool,
                     stanza_error)
from test_iq_answers import NS_IQPROBE, modules_dir_with_probe


async def ctl_routes(srv):
    """`xmppctl routes` as {domain: [kind, target...]}, and the --json list."""
    rc, out, err = await srv.ctl('routes')
    check(rc == 0, 'xmppctl routes failed (%s): %s' % (rc, err.strip()))
    table = {}
    for line in out.splitlines():
        f = line.split('\t')
        check(len(f) in (3, 4), 'xmppctl routes line is not 3 or 4 TAB-separated fields: %r'
              % line)
        table[f[0]] = f[1:]
    rc, out, err = await run_tool('xmppctl', '--json', '-c', srv.cfg, 'routes')
    check(rc == 0, 'xmppctl --json routes failed (%s): %s' % (rc, err.strip()))
    return table, json.loads(out)


async def dump_routes(srv):
    """The routes section of xmppd-shm-dump: {domain: (kind, to)}."""
    rc, out, err = await run_tool('xmppd-shm-dump', '-c', srv.cfg)
    check(rc == 0, 'xmppd-shm-dump failed (%s): %s' % (rc, err.strip()))
    lines = out.splitlines()
    check('routes' in lines, 'xmppd-shm-dump prints no routes section: %r' % out[-600:])
    res = {}
    for line in lines[lines.index('routes') + 2:]:
        if not line.startswith('  ') or line.strip().endswith('route(s)'):
            break
        f = line.split(None, 2)
        res[f[0]] = (f[1], f[2] if len(f) > 2 else '')
    return res


def check_hosts_and_vjud(table, js, dump, what):
    check(table.get('localhost') == ['local', '-'],
          '%s: localhost is not a local route: %r' % (what, table))
    check(table.get('vjud.localhost') == ['service', 'vcard'],
          '%s: vjud.localhost is not a service of vcard: %r' % (what, table))
    byd = {r['domain']: r for r in js}
    check(byd.get('localhost', {}).get('kind') == 'local' and
          byd.get('vjud.localhost', {}).get('module') == 'vcard' and
          byd['vjud.localhost'].get('kind') == 'service',
          '%s: --json routes: %r' % (what, js))
    check(dump.get('localhost', ('',))[0] == 'local' and
          dump.get('vjud.localhost') == ('service', 'module vcard'),
          '%s: xmppd-shm-dump routes: %r' % (what, dump))


@e2e_test('routes_hosts_and_services_listed', timeout=60, expect_child_death=True)
async def t_routes_listed(env):
    srv = env.srv
    table, js = await ctl_routes(srv)
    check_hosts_and_vjud(table, js, await dump_routes(srv), 'at start')
    check(len(table) == 2, 'routes other than localhost and vjud.localhost: %r' % table)
    # The sessions env outlives a router crash: the restarted router rewrites hosts
    # and services without a conflict and lists the same table.
    offset = len(srv.log())
    rpid = srv.router_pid()
    env.step('kill -9 the router (pid %d)' % rpid)
    os.kill(rpid, signal.SIGKILL)
    check(await srv.wait_log(r'router ready', 10, offset), 'restarted router never ready')
    table2, js2 = await ctl_routes(srv)
    check(table2 == table, 'routes after a router restart: %r, before: %r' % (table2, table))
    check_hosts_and_vjud(table2, js2, await dump_routes(srv), 'after a router restart')
    check('already served' not in srv.log()[offset:],
          'the restarted router found its own services in the way: %s' % srv.log_tail(5))
    # The service is still served.
    await env.register('alice')
    c = await env.login('alice@localhost')
    kind, _iq = await c.iq_get('vjud.localhost', 'http://jabber.org/protocol/disco#info')
    check(kind == 'result', 'disco#info of vjud.localhost after the restart: %s' % kind)


@e2e_test('routes_service_added_at_run_time', timeout=60)
async def t_routes_runtime(_env):
    mdir = modules_dir_with_probe()
    modules = Server.ALL_MODULES[:-1] + ', iqprobe: {}}'
    async with own_server('routes_service_added_at_run_time', modules=modules,
                          extra_config='modules_dir: %s\n' % mdir) as env:
        await env.register('alice')
        rs = await raw_login(env, 'alice', 'pw-alice', 'r')
        probe = ("<iq type='get' id='%s' to='route.localhost'><probe xmlns='%s' do='x'/></iq>"
                 % ('%s', NS_IQPROBE))
        await rs.send(probe % 'before')
        el = await rs.wait_id('before', 'an IQ to route.localhost before it is a route')
        check(el.get('type') == 'error' and stanza_error(el)[0] == 'remote-server-not-found',
              'before: %s' % stanza_error(el)[0])
        await rs.send("<iq type='set' id='add'><probe xmlns='%s' do='route'/></iq>" % NS_IQPROBE)
        el = await rs.wait_id('add', 'the module adds route.localhost')
        check(el.get('type') == 'result', 'adding route.localhost: %s' % (stanza_error(el),))
        table, js = await ctl_routes(env.srv)
        check(table.get('route.localhost') == ['service', 'iqprobe'],
              'route.localhost is not listed as a service of iqprobe: %r' % table)
        dump = await dump_routes(env.srv)
        check(dump.get('route.localhost') == ('service', 'module iqprobe'),
              'xmppd-shm-dump: %r' % dump)
        await rs.send(probe % 'after')
        el = await rs.wait_id('after', 'an IQ to route.localhost once it is a route')
        check(el.get('type') == 'result' and el.get('from') == 'route.localhost',
              'after: %s %s' % (el.get('type'), stanza_error(el)))
        # A second time: the domain is taken.
        await rs.send("<iq type='set' id='again'><probe xmlns='%s' do='route'/></iq>"
                      % NS_IQPROBE)
        el = await rs.wait_id('again', 'adding route.localhost twice')
        check(stanza_error(el)[0] == 'conflict', 'twice: %s' % (stanza_error(el),))
    for name in os.listdir(mdir):
        os.unlink(os.path.join(mdir, name))
    os.rmdir(mdir)
