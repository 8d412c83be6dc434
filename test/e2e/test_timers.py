"""Services of the router to modules (router/module.h), through the test module
test/modules/iqprobe.c: timers (one-shot after N ms, periodic k times then cancelled by
the module, cancelled by a reload and never firing, kept by a reload the module refuses,
armed by the reload itself and kept) and mod_deliver_each (one stanza to
every session of an account; the receive hook runs per recipient and drops one)."""

import os
import time

from harness import Server, check, e2e_test, own_server, raw_login, stanza_error
from test_iq_answers import NS_IQPROBE, modules_dir_with_probe


def probe_server(name):
    mdir = modules_dir_with_probe()
    modules = Server.ALL_MODULES[:-1] + ', iqprobe: {}}'
    return mdir, own_server(name, modules=modules, extra_config='modules_dir: %s\n' % mdir)


def drop_dir(mdir):
    for name in os.listdir(mdir):
        os.unlink(os.path.join(mdir, name))
    os.rmdir(mdir)


def timer_messages(rs, tag):
    """The n attributes of the timer messages of that tag, in order of arrival."""
    res = []
    for e in rs.elements:
        t = e.find('{%s}timer' % NS_IQPROBE)
        if t is not None and t.get('tag') == tag:
            res.append(int(t.get('n')))
    return res


async def ask(rs, iid, attrs):
    await rs.send("<iq type='set' id='%s'><probe xmlns='%s' %s/></iq>" % (iid, NS_IQPROBE, attrs))
    el = await rs.wait_id(iid, 'probe %s' % attrs)
    check(el.get('type') == 'result', 'probe %s: %s' % (attrs, stanza_error(el)))


@e2e_test('module_timers_one_shot_and_periodic', timeout=60)
async def t_timers(_env):
    mdir, server = probe_server('module_timers_one_shot_and_periodic')
    async with server as env:
        await env.register('alice')
        rs = await raw_login(env, 'alice', 'pw-alice', 'r')
        t0 = time.monotonic()
        await ask(rs, 'one', "do='timer' ms='400' tag='one'")
        await ask(rs, 'per', "do='timer' ms='150' count='3' tag='per'")
        check(await rs.wait(lambda s: timer_messages(s, 'one'), 5), 'the one-shot never fired')
        took = time.monotonic() - t0
        check(took >= 0.35, 'the 400 ms timer fired after %.0f ms' % (took * 1000))
        check(await rs.wait(lambda s: len(timer_messages(s, 'per')) >= 3, 5),
              'the periodic timer fired %d time(s), expected 3' % len(timer_messages(rs, 'per')))
        # It cancelled itself after the third: nothing more comes.
        await rs.wait(lambda s: False, 0.8)
        check(timer_messages(rs, 'per') == [1, 2, 3],
              'periodic timer: %r, expected [1, 2, 3]' % timer_messages(rs, 'per'))
        check(timer_messages(rs, 'one') == [1], 'one-shot: %r' % timer_messages(rs, 'one'))
    drop_dir(mdir)


@e2e_test('module_timer_cancelled_by_reload', timeout=60)
async def t_timer_reload(_env):
    mdir, server = probe_server('module_timer_cancelled_by_reload')
    async with server as env:
        await env.register('alice')
        rs = await raw_login(env, 'alice', 'pw-alice', 'r')
        await ask(rs, 'late', "do='timer' ms='1500' tag='late'")
        await ask(rs, 'tick', "do='timer' ms='200' count='1000' tag='tick'")
        check(await rs.wait(lambda s: timer_messages(s, 'tick'), 5), 'the periodic never fired')
        rc, out, err = await env.srv.ctl('reload')
        check(rc == 0, 'xmppctl reload: %s %s' % (out, err))
        check(await env.srv.wait_log(r'module iqprobe: 2 timer\(s\) cancelled', 5),
              'the router did not say it cancelled the two timers: %s' % env.srv.log_tail(5))
        ticks = len(timer_messages(rs, 'tick'))
        await rs.wait(lambda s: False, 2.0)
        check(timer_messages(rs, 'late') == [], 'a timer cancelled by the reload fired')
        check(len(timer_messages(rs, 'tick')) <= ticks + 1,
              'the periodic timer went on after the reload: %d then %d'
              % (ticks, len(timer_messages(rs, 'tick'))))
        # The module sets new timers after the reload.
        await ask(rs, 'after', "do='timer' ms='100' tag='after'")
        check(await rs.wait(lambda s: timer_messages(s, 'after'), 5),
              'a timer set after the reload never fired')
    drop_dir(mdir)


@e2e_test('module_timer_kept_by_refused_reload', timeout=60)
async def t_timer_refused_reload(_env):
    mdir, server = probe_server('module_timer_kept_by_refused_reload')
    async with server as env:
        await env.register('alice')
        rs = await raw_login(env, 'alice', 'pw-alice', 'r')
        # A reload the module refuses keeps its old options and so its timers.
        await ask(rs, 'kept', "do='timer' ms='1500' tag='kept'")
        await ask(rs, 'refuse', "do='refuse-reload'")
        rc, out, err = await env.srv.ctl('reload')
        check(rc == 0, 'xmppctl reload: %s %s' % (out, err))
        check(await env.srv.wait_log(r'module iqprobe refused its new options', 5),
              'the module did not refuse the reload: %s' % env.srv.log_tail(5))
        check(await rs.wait(lambda s: timer_messages(s, 'kept'), 5),
              'a timer of a module whose reload was refused never fired')
        # A reload that succeeds cancels the timers armed before it, and keeps
        # the one it armed itself.
        await ask(rs, 'gone', "do='timer' ms='1500' tag='gone'")
        await ask(rs, 'onreload', "do='timer-on-reload' ms='300' tag='reload'")
        rc, out, err = await env.srv.ctl('reload')
        check(rc == 0, 'xmppctl reload: %s %s' % (out, err))
        check(await env.srv.wait_log(r'module iqprobe: 1 timer\(s\) cancelled', 5),
              'the router did not cancel the one older timer: %s' % env.srv.log_tail(5))
        check(await rs.wait(lambda s: timer_messages(s, 'reload'), 5),
              'the timer the reload armed itself never fired')
        await rs.wait(lambda s: False, 1.8)
        check(timer_messages(rs, 'gone') == [], 'a timer cancelled by the reload fired')
        check(timer_messages(rs, 'reload') == [1], 'reload timer: %r'
              % timer_messages(rs, 'reload'))
    drop_dir(mdir)


@e2e_test('deliver_each_receive_hook_per_recipient', timeout=60)
async def t_deliver_each(_env):
    mdir, server = probe_server('deliver_each_receive_hook_per_recipient')
    async with server as env:
        await env.register('alice')
        r1 = await raw_login(env, 'alice', 'pw-alice', 'r1')
        r2 = await raw_login(env, 'alice', 'pw-alice', 'r2')
        dropped = await raw_login(env, 'alice', 'pw-alice', 'drop-me')

        def each(s):
            return [e for e in s.elements if e.find('{%s}each' % NS_IQPROBE) is not None]

        await ask(r1, 'each', "do='each'")
        check(await r1.wait(lambda s: each(s), 5), 'r1 got no copy')
        check(await r2.wait(lambda s: each(s), 5), 'r2 got no copy')
        await dropped.wait(lambda s: False, 0.8)
        check(len(each(r1)) == 1 and len(each(r2)) == 1,
              'copies: r1 %d, r2 %d (one each)' % (len(each(r1)), len(each(r2))))
        check(each(dropped) == [], 'the receive hook dropped it for drop-me, yet it came')
        # MSG_DELIVER_STAMP_TO: the worker gives each copy its recipient's own full JID.
        for rs, res in ((r1, 'r1'), (r2, 'r2')):
            to = each(rs)[0].get('to')
            check(to == 'alice@localhost/' + res, 'copy for %s has to=%r' % (res, to))
    drop_dir(mdir)
