"""One answer per IQ request (RFC 6120 §8.2.3): the plugin contract of router/module.h,
seen from a client.  The test module test/modules/iqprobe.c (built by `make test`,
never installed) breaks the contract's easy cases on purpose: a result that cannot be
sent, an answer followed by a decline, a plain decline.  Each request must get exactly
one answer: before the contract was settled, a result that could not be sent got an
internal-server-error and then a service-unavailable."""

import os
import tempfile
import xml.etree.ElementTree as ET

from harness import (NS_CLIENT, Server, build_dir, check, e2e_test, own_server, raw_login,
                     stanza_error)

NS_IQPROBE = 'urn:xmppd:test:iqprobe'


def modules_dir_with_probe():
    """A modules directory: every module of the build, and the test module."""
    d = tempfile.mkdtemp(prefix='xmppd-e2e-modules-')
    for name in os.listdir(os.path.join(build_dir(), 'modules')):
        if name.endswith('.so'):
            os.symlink(os.path.join(build_dir(), 'modules', name), os.path.join(d, name))
    probe = os.path.join(build_dir(), 'test', 'modules', 'iqprobe.so')
    check(os.path.exists(probe), '%s is missing: make test builds it' % probe)
    os.symlink(probe, os.path.join(d, 'iqprobe.so'))
    return d


@e2e_test('iq_answered_exactly_once', timeout=60)
async def t_iq_once(_env):
    mdir = modules_dir_with_probe()
    modules = Server.ALL_MODULES[:-1] + ', iqprobe: {}}'
    async with own_server('iq_answered_exactly_once', modules=modules,
                          extra_config='modules_dir: %s\n' % mdir) as env:
        await env.register('alice')
        rs = await raw_login(env, 'alice', 'pw-alice', 'r')
        want = {'too-large': ('error', 'internal-server-error'),
                'answer-then-pass': ('result', None),
                'decline': ('error', 'service-unavailable')}
        for what in want:
            await rs.send("<iq type='get' id='p-%s'><probe xmlns='%s' do='%s'/></iq>"
                          % (what, NS_IQPROBE, what))
        # Answers come in order: once the ping is answered, every answer is in.
        await rs.send("<iq type='get' id='barrier' to='localhost'>"
                      "<ping xmlns='urn:xmpp:ping'/></iq>")
        await rs.wait_id('barrier', 'ping after the probes')
        for what, (kind, cond) in want.items():
            got = [e for e in rs.elements if e.get('id') == 'p-' + what]
            check(len(got) == 1, '%s: %d answers, expected exactly one: %s'
                  % (what, len(got), [ET.tostring(e).decode() for e in got]))
            el = got[0]
            check(el.tag == '{%s}iq' % NS_CLIENT and el.get('type') == kind,
                  '%s: answered %s, expected type %s' % (what, ET.tostring(el).decode(), kind))
            if cond:
                check(stanza_error(el)[0] == cond, '%s: condition %s, expected %s'
                      % (what, stanza_error(el)[0], cond))
    for name in os.listdir(mdir):
        os.unlink(os.path.join(mdir, name))
    os.rmdir(mdir)
