"""TLS records that carry no application data (TLS 1.3 KeyUpdate messages),
several in one TCP segment ahead of the client's stream header: GnuTLS answers
AGAIN after each of them although the socket still holds the rest, and
edge-triggered epoll will not wake the worker for bytes that are already
there.  The worker must read on until the socket is empty, and the client get
its stream features without sending anything more.

Python's ssl module cannot send a KeyUpdate, so the client is GnuTLS itself,
through ctypes, on a socket that did the STARTTLS negotiation in the clear."""

import asyncio
import ctypes
import ctypes.util
import socket
import time

from harness import check, e2e_test, stream_header

GNUTLS_CLIENT = 1 << 1
GNUTLS_CRD_CERTIFICATE = 1
GNUTLS_E_AGAIN = -28
GNUTLS_E_INTERRUPTED = -52
KEY_UPDATES = 6  # more than the 4 AGAINs the worker used to allow; GnuTLS takes 8 a second


def recv_until(s, marker, what):
    data = b''
    while marker not in data:
        chunk = s.recv(4096)
        if not chunk:
            raise OSError('closed before ' + what)
        data += chunk
    return data


def key_updates_then_header(port):
    """The features inside TLS (bytes), or raises with what went wrong."""
    path = ctypes.util.find_library('gnutls') or 'libgnutls.so.30'
    g = ctypes.CDLL(path)
    g.gnutls_init.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_uint]
    g.gnutls_set_default_priority.argtypes = [ctypes.c_void_p]
    g.gnutls_certificate_allocate_credentials.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    g.gnutls_credentials_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    g.gnutls_transport_set_int2.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    g.gnutls_handshake.argtypes = [ctypes.c_void_p]
    g.gnutls_session_key_update.argtypes = [ctypes.c_void_p, ctypes.c_uint]
    g.gnutls_record_send.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    g.gnutls_record_send.restype = ctypes.c_ssize_t
    g.gnutls_record_recv.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    g.gnutls_record_recv.restype = ctypes.c_ssize_t
    g.gnutls_protocol_get_version.argtypes = [ctypes.c_void_p]
    g.gnutls_strerror.argtypes = [ctypes.c_int]
    g.gnutls_strerror.restype = ctypes.c_char_p
    g.gnutls_deinit.argtypes = [ctypes.c_void_p]
    g.gnutls_certificate_free_credentials.argtypes = [ctypes.c_void_p]

    def ok(rc, what):
        if rc < 0:
            raise OSError('%s: %s' % (what, g.gnutls_strerror(rc).decode()))

    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    sess, cred = ctypes.c_void_p(), ctypes.c_void_p()
    try:
        s.sendall(stream_header().encode())
        recv_until(s, b'</stream:features>', 'features')
        s.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        recv_until(s, b'proceed', 'proceed')
        ok(g.gnutls_init(ctypes.byref(sess), GNUTLS_CLIENT), 'gnutls_init')
        ok(g.gnutls_set_default_priority(sess), 'priority')
        ok(g.gnutls_certificate_allocate_credentials(ctypes.byref(cred)), 'credentials')
        ok(g.gnutls_credentials_set(sess, GNUTLS_CRD_CERTIFICATE, cred), 'credentials_set')
        g.gnutls_transport_set_int2(sess, s.fileno(), s.fileno())
        while True:
            rc = g.gnutls_handshake(sess)
            if rc not in (GNUTLS_E_AGAIN, GNUTLS_E_INTERRUPTED):
                break
        ok(rc, 'handshake')
        # The worker ends the handshake and reads what followed it; once it is
        # idle (no read queued, no edge pending) the records come,
        time.sleep(0.3)
        # in one segment: the KeyUpdates, then the header in an application-data record.
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        for _ in range(KEY_UPDATES):
            ok(g.gnutls_session_key_update(sess, 0), 'key update')
        hdr = stream_header().encode()
        ok(g.gnutls_record_send(sess, hdr, len(hdr)), 'send')
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
        # Nothing more is sent: the features come now or never.
        s.settimeout(0.5)
        buf = ctypes.create_string_buffer(16384)
        data = b''
        deadline = time.monotonic() + 5
        while b'</stream:features>' not in data:
            if time.monotonic() > deadline:
                raise OSError('no stream features inside TLS within 5 s after %d KeyUpdates '
                              '(got %r)' % (KEY_UPDATES, data[:200]))
            n = g.gnutls_record_recv(sess, buf, len(buf))
            if n in (GNUTLS_E_AGAIN, GNUTLS_E_INTERRUPTED):
                continue
            ok(n, 'recv')
            if n == 0:
                raise OSError('closed before the features inside TLS')
            data += buf.raw[:n]
        return data
    finally:
        if sess.value:
            g.gnutls_deinit(sess)
        if cred.value:
            g.gnutls_certificate_free_credentials(cred)
        s.close()


@e2e_test('tls_records_without_data_before_the_header', timeout=60)
async def t_key_updates(env):
    for i in range(3):
        try:
            data = await asyncio.to_thread(key_updates_then_header, env.srv.port)
        except OSError as e:
            check(False, 'client %d: %s' % (i, e))
        check(b'mechanisms' in data, 'client %d: features without mechanisms: %r' % (i, data[:200]))
