"""Raw-socket stream-level checks (RFC 6120 4.9 stream errors, 11 restricted XML)."""

from harness import (e2e_test, check, eventually, stream_header, sasl_plain, raw_login,
                     NS_STREAM, NS_STREAMS, NS_SASL)


async def expect_stream_error(env, rs, condition, what):
    """The server sends <stream:error><condition xmlns=streams/></stream:error>, closes the
    stream and the TCP connection."""
    await rs.wait(lambda s: s.find(NS_STREAM, 'error') is not None, 5)
    got, el = rs.stream_error()
    check(el is not None, '%s: no <stream:error> within 5s; server sent %r%s'
          % (what, rs.text()[-400:], (' (connection closed%s)' % (
              ' by reset: ' + rs.reset if rs.reset else '')) if rs.eof else ''))
    check(got == condition, '%s: stream error <%s/>, expected <%s xmlns=%s/>; server sent %r'
          % (what, got, condition, NS_STREAMS, rs.text()[-300:]))
    check(await rs.wait_eof(5), '%s: server did not close the connection within 5s after the '
          'stream error' % what)
    check(rs.stream_closed, '%s: stream error not followed by </stream:stream>: %r'
          % (what, rs.text()[-200:]))
    await rs.close()


async def fresh_client_works(env):
    env.step('fresh slixmpp client after the bad stream')
    c = await env.login('alice@localhost/fresh')
    await c.ping()
    await c.close()


def raw_test(name, payloads, condition, send_header=True):
    async def t(env):
        await env.register('alice')
        rs = await env.raw()
        if send_header:
            await rs.open_stream()
            check(rs.header is not None and rs.header.tag == '{%s}stream' % NS_STREAM,
                  'no stream header from the server: %r' % rs.text()[:300])
        for p in payloads:
            await rs.send(p)
        await expect_stream_error(env, rs, condition, name)
        await fresh_client_works(env)
    e2e_test('raw_' + name)(t)


raw_test('host_unknown', [stream_header('no-such-host.example')], 'host-unknown',
         send_header=False)
raw_test('invalid_namespace',
         [stream_header('localhost', stream_ns='http://example.com/not-streams')],
         'invalid-namespace', send_header=False)
raw_test('invalid_default_namespace',
         [stream_header('localhost', ns='jabber:not-client')],
         'invalid-namespace', send_header=False)
raw_test('stanza_before_auth',
         ["<message to='alice@localhost' type='chat'><body>sneaky</body></message>"],
         'not-authorized')
raw_test('iq_before_auth',
         ["<iq type='get' id='x1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"],
         'not-authorized')
raw_test('not_well_formed', ["<message to='alice@localhost'><<body>x</body></message>"],
         'not-well-formed')
raw_test('not_well_formed_mismatched_tag', ["<message><body>x</bodyy></message>"],
         'not-well-formed')
raw_test('restricted_xml_doctype',
         ["<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY x 'y'>]>"
          + stream_header('localhost', decl=False)],
         'restricted-xml', send_header=False)
raw_test('restricted_xml_comment', ["<!-- a comment -->"], 'restricted-xml')
# An overlong UTF-8 form inside CDATA (libxml2 2.9.14 lets it through in push mode;
# passed on, it would break the recipient's parser).
raw_test('cdata_overlong_utf8',
         [b"<message to='alice@localhost'><body><![CDATA[a\xc1\x83b]]></body></message>"],
         'not-well-formed')
# One byte order mark opens a stream; a second one is text before the markup.
raw_test('byte_order_mark_twice', [b'\xef\xbb\xbf\xef\xbb\xbf' + stream_header().encode()],
         'not-well-formed', send_header=False)
raw_test('utf16_byte_order_mark', [b'\xff\xfe<\x00'], 'unsupported-encoding', send_header=False)
# A second stream header (no XML declaration) inside the stream: not a restart.
raw_test('second_stream_header_before_auth', [stream_header(decl=False)],
         'unsupported-stanza-type')
raw_test('restricted_xml_processing_instruction', ["<?foo bar?>"], 'restricted-xml')


@e2e_test('raw_byte_order_mark_in_pieces')
async def t_bom_pieces(env):
    """A UTF-8 byte order mark opening the stream, sent a byte at a time: the stream
    opens as it does without one (libxml2 alone takes it or not depending on the reads)."""
    await env.register('alice')
    for pieces in ([b'\xef', b'\xbb', b'\xbf'], [b'\xef\xbb', b'\xbf'], [b'\xef\xbb\xbf']):
        rs = await env.raw()
        for p in pieces:
            await rs.send(p)
            await rs.wait(lambda s: s.eof, 0.05)
        f = await rs.open_stream()
        check(f is not None and not rs.eof, 'stream after a mark sent as %s: %r'
              % (pieces, rs.text()[-300:]))
        await rs.send(sasl_plain('alice', 'pw-alice'))
        check(await rs.wait(lambda s: s.find(NS_SASL, 'success') is not None),
              'PLAIN after a mark sent as %s: %r' % (pieces, rs.text()[-300:]))
        await rs.close()


@e2e_test('raw_client_stream_error')
async def t_client_stream_error(env):
    """A client that ends its stream with a <stream:error/> of its own (aioxmpp does
    after a SASL failure) gets the end of the stream, not an error about its error."""
    await env.register('alice')
    rs = await env.raw()
    await rs.open_stream()
    await rs.send("<stream:error><undefined-condition xmlns='%s'/></stream:error>" % NS_STREAMS)
    check(await rs.wait_eof(5), 'the server did not close after the client\'s stream error')
    check(rs.stream_closed, 'no </stream:stream> after the client\'s stream error: %r'
          % rs.text()[-200:])
    cond, _ = rs.stream_error()
    check(cond is None, 'the server answered the client\'s stream error with one: %s' % cond)
    await fresh_client_works(env)


@e2e_test('raw_second_stream_header_after_auth')
async def t_second_header_bound(env):
    """A stream header inside a bound session's stream ends it with a stream error at
    once, not after everything that follows was taken for its content."""
    await env.register('alice')
    rs = await raw_login(env, 'alice', 'pw-alice', 'r')
    await rs.send(stream_header(decl=False) + "<message to='alice@localhost'><body>x</body>"
                  "</message>")
    await expect_stream_error(env, rs, 'unsupported-stanza-type', 'second header when bound')
    await fresh_client_works(env)


@e2e_test('raw_stanza_after_auth_before_bind')
async def t_before_bind(env):
    """After SASL but before resource binding, a message must not be routed
    (RFC 6120 7.1: not-authorized stream error)."""
    await env.register('alice')
    watcher = await env.login('alice@localhost/watch')
    rs = await env.raw()
    await rs.open_stream()
    await rs.send(sasl_plain('alice', 'pw-alice'))
    check(await rs.wait(lambda s: s.find(NS_SASL, 'success') is not None),
          'PLAIN success expected: %r' % rs.text()[-300:])
    # restart the stream as a client must after SASL
    rs2_start = len(rs.data)
    await rs.send(stream_header('localhost', decl=False))
    check(await rs.wait(lambda s: b'features' in s.data[rs2_start:]),
          'no features after the post-SASL stream restart: %r' % rs.text()[-300:])
    # The parser saw a second root: read what follows by bytes from here on.
    start = len(rs.data)
    await rs.send("<message to='alice@localhost/watch' type='chat'><body>unbound</body></message>")
    await rs.wait(lambda s: s.eof or b'error' in s.data[start:], 5)
    tail = rs.data[start:].decode(errors='replace')
    check('not-authorized' in tail, 'a stanza before binding: expected a not-authorized stream '
          'error, server sent %r' % tail[:300])
    await rs.close()
    await watcher.ping()
    check(not watcher.messages, 'a stanza sent before resource binding was delivered: %s'
          % (watcher.messages[:1],))


@e2e_test('raw_client_closes_stream')
async def t_close(env):
    """RFC 6120 4.4: the server answers the client's </stream:stream> with its own and
    closes; the session ends."""
    await env.register('alice')
    rs = await raw_login(env, 'alice', 'pw-alice', 'raw')
    check(await env.srv.session_of('alice@localhost/raw'), 'raw session not listed')
    await rs.send(' \n\t ')  # whitespace keepalive between stanzas is fine
    await rs.send("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    check(await rs.wait(lambda s: any(e.get('id') == 'p1' for e in s.elements)),
          'no ping answer after whitespace keepalive: %r' % rs.text()[-300:])
    await rs.send('</stream:stream>')
    check(await rs.wait(lambda s: s.stream_closed, 5),
          'server did not close its stream after ours: %r' % rs.text()[-200:])
    check(await rs.wait_eof(5), 'server did not close the TCP connection after </stream:stream>')
    await rs.close()

    async def gone():
        return await env.srv.session_of('alice@localhost/raw') is None
    check(await eventually(gone, 5), 'session still listed after the stream closed')


@e2e_test('raw_stanza_too_large')
async def t_too_large(env):
    """A stanza above max_stanza_size (default 256 KiB) is refused with a
    policy-violation stream error (RFC 6120 4.9.3.14)."""
    await env.register('alice')
    await env.register('bob')
    b = await env.login('bob@localhost/b')
    rs = await raw_login(env, 'alice', 'pw-alice', 'big')
    body = 'x' * (300 * 1024)
    await rs.send("<message to='bob@localhost/b' type='chat'><body>%s</body></message>" % body)
    await expect_stream_error(env, rs, 'policy-violation', 'stanza of 300 KiB')
    await b.ping()
    check(not b.messages, 'the oversized message was delivered')
    env.step('a large but allowed stanza passes')
    rs = await raw_login(env, 'alice', 'pw-alice', 'big2')
    body = 'y' * (200 * 1024)
    await rs.send("<message to='bob@localhost/b' type='chat'><body>%s</body></message>" % body)
    await b.wait_messages(1, 10)
    check(b.messages[0]['body'] == body, 'the 200 KiB body arrived changed (length %d)'
          % len(b.messages[0]['body']))
    await rs.close()


@e2e_test('raw_pipelined_restart_bind_and_stanzas')
async def t_pipelined(env):
    """After <success/>, a client may send the new stream header, the bind request and its
    first stanzas in one TCP write; the server must handle every one of them."""
    await env.register('alice')
    await env.register('bob')
    b = await env.login('bob@localhost/b')
    rs = await env.raw()
    await rs.open_stream()
    await rs.send(sasl_plain('alice', 'pw-alice'))
    check(await rs.wait(lambda s: s.find(NS_SASL, 'success') is not None), 'no success')
    rs.reset_parser()
    await rs.send(stream_header('localhost') +
                  "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                  "<resource>pipe</resource></bind></iq>"
                  "<presence/>"
                  "<message to='bob@localhost/b' type='chat' id='m1'><body>pipelined 1</body>"
                  "</message>"
                  "<iq type='get' id='ping1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
                  "<message to='bob@localhost/b' type='chat' id='m2'><body>pipelined 2</body>"
                  "</message>")
    ok = await rs.wait(lambda s: any(e.get('id') == 'ping1' for e in s.elements), 5)
    check(ok, 'no answer to the pipelined ping; received %r%s'
          % (rs.text()[-300:], ' (closed)' if rs.eof else ''))
    bind = [e for e in rs.elements if e.get('id') == 'bind1']
    check(bind and bind[0].get('type') == 'result', 'bind: %r' % rs.text()[-300:])
    await b.wait_messages(2, 5)
    check([m['body'] for m in b.messages] == ['pipelined 1', 'pipelined 2'],
          'bob got %r' % [m['body'] for m in b.messages])


@e2e_test('raw_stanza_split_into_tiny_writes')
async def t_split(env):
    """The push parser copes with a stanza arriving a few bytes at a time, including
    multi-byte UTF-8 characters split across TCP segments."""
    import asyncio
    import socket as _s
    await env.register('alice')
    await env.register('bob')
    b = await env.login('bob@localhost/b')
    rs = await raw_login(env, 'alice', 'pw-alice', 'split')
    rs.sock.setsockopt(_s.IPPROTO_TCP, _s.TCP_NODELAY, 1)
    body = 'h\u00e9llo \u4e2d\u6587 \U0001F600 &amp; done'
    data = ("<message to='bob@localhost/b' type='chat' id='sp1'><body>%s</body></message>"
            % body).encode()
    for i in range(0, len(data), 2):
        await rs.send(data[i:i + 2])
        await asyncio.sleep(0.002)
    await b.wait_messages(1, 5)
    check(b.messages[0]['body'] == body.replace('&amp;', '&'), 'body arrived as %r'
          % b.messages[0]['body'])
