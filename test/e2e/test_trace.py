"""Stanza tracing: xmppctl trace JID on|off and the `trace:` config key.  One id per
stanza, the same in every process: grep on it shows the stanza's whole path."""

import re

from harness import check, e2e_test, eventually

TRACE_LINE = re.compile(r' trace ([a-z]+(?: \d+)?)\[\d+\]: ([0-9a-f]{16}) (\w+)')


def trace_lines(srv, offset=0):
    """(role, id, stage, line) of every trace line logged since offset."""
    out = []
    for line in srv.log(offset).splitlines():
        m = TRACE_LINE.search(line)
        if m:
            out.append((m.group(1), m.group(2), m.group(3), line))
    return out


@e2e_test('trace_on_off_message_path', timeout=60)
async def t_trace(env):
    srv = env.srv
    await env.register('alice')
    await env.register('bob')
    a = await env.login('alice@localhost/t')
    b = await env.login('bob@localhost/t')
    env.step('nothing is traced before xmppctl trace')
    a.send_chat('bob@localhost/t', 'before')
    await b.wait_messages(1, 5)
    check(not trace_lines(srv), 'trace lines without tracing: %s' % trace_lines(srv)[:2])

    env.step('xmppctl trace alice on: her next message is followed in every process')
    out = await srv.ctl('trace', 'alice@localhost', 'on')
    offset = len(srv.log().encode())
    a.send_chat('bob@localhost/t', 'traced')
    await b.wait_messages(2, 5)

    async def receive_line():
        return [t for t in trace_lines(srv, offset) if t[2] == 'receive']
    rec = await eventually(receive_line, 5)
    check(rec, 'no "receive" trace line after trace on: %s' % srv.log_tail(8))
    tid = rec[0][1]

    async def path_done():
        stages = [(t[0].split()[0], t[2]) for t in trace_lines(srv, offset) if t[1] == tid]
        return stages if ('worker', 'write') in stages else None
    stages = await eventually(path_done, 5)
    check(stages, 'the traced message never reached "write": %s'
          % [t[3] for t in trace_lines(srv, offset)])
    names = [s for _, s in stages]
    for want in ('receive', 'route', 'hook', 'deliver', 'write'):
        check(want in names, 'stage %s missing from the path of %s: %s' % (want, tid, names))
    check(names.index('receive') < names.index('route') < names.index('deliver')
          < names.index('write'), 'stages out of order: %s' % names)
    roles = {r for r, _ in stages}
    check({'worker', 'router'} <= roles, 'the id did not cross processes: %s' % roles)

    env.step('a reply to alice is traced too (it concerns her)')
    offset = len(srv.log().encode())
    b.send_chat('alice@localhost/t', 'to a traced user')
    await a.wait_messages(1, 5)
    check(await eventually(lambda: _has(srv, offset, 'write'), 5),
          'no write trace for a message to the traced user')

    env.step('xmppctl trace alice off: silence again')
    await srv.ctl('trace', 'alice@localhost', 'off')
    offset = len(srv.log().encode())
    a.send_chat('bob@localhost/t', 'after')
    await b.wait_messages(3, 5)
    check(not trace_lines(srv, offset), 'trace lines after trace off: %s'
          % trace_lines(srv, offset)[:2])
    del out


async def _has(srv, offset, stage):
    return any(t[2] == stage for t in trace_lines(srv, offset))


@e2e_test('trace_config_key_connection_stages', timeout=60,
          server={'extra_config': 'trace: [carol@localhost]\n'})
async def t_trace_cfg(env):
    srv = env.srv
    await env.register('carol')
    c = await env.login('carol@localhost/x')
    await c.ping()

    async def conn_stages():
        st = {t[2] for t in trace_lines(srv)}
        return st if {'accept', 'auth', 'bind'} <= st else None
    st = await eventually(conn_stages, 5)
    check(st, 'accept/auth/bind not traced for a JID of the trace: key: %s'
          % [t[3] for t in trace_lines(srv)])
    ids = {t[1] for t in trace_lines(srv) if t[2] in ('accept', 'auth', 'bind')}
    check(len(ids) == 1, 'connection stages under several ids: %s' % ids)
    env.step('the ping and its answer are one traced path with a handler line')
    lines = trace_lines(srv)
    iq = [t for t in lines if t[2] == 'iq']
    check(iq, 'no "iq handler" trace line for the ping: %s' % [t[3] for t in lines])
