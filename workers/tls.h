/* tls.h — TLS for client connections (GnuTLS), in the worker that owns the
 * socket.
 *
 * One credentials object per process holds every certificate of the
 * config's certfiles; GnuTLS picks the one matching the client's SNI.
 * Session tickets are encrypted with a key the master makes once, so a
 * client can resume on any worker.  Everything is non-blocking: calls
 * return XS_AGAIN (with the direction to wait for) and are repeated with
 * the same arguments, as GnuTLS requires. */
#ifndef XMPPD_WORKERS_TLS_H
#define XMPPD_WORKERS_TLS_H

#include "lib/cfg.h"

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TLS_TICKET_KEY_LEN 64 /* what gnutls_session_ticket_key_generate makes */

/* Loads and checks every certificate: a missing or unreadable file, a key
 * that does not match, an expired or not yet valid certificate are errors
 * (written to err), and a host no certificate names is a warning (logged).
 * XS_OK or XS_ERROR. */
int tls_check_config(const struct cfg *cfg, char *err, size_t errlen);
/* Per process: credentials, priorities, ticket key.  XS_OK or XS_ERROR. */
int tls_init(const struct cfg *cfg, const uint8_t ticket_key[TLS_TICKET_KEY_LEN]);
/* New credentials and priorities from a reloaded config, for new sessions;
 * sessions already made keep theirs.  XS_ERROR (logged): nothing changed. */
int tls_reload(const struct cfg *cfg);
void tls_done(void);
bool tls_available(void);

struct tls_conn;

/* A server-side session over fd.  NULL on failure (logged). */
struct tls_conn *tls_conn_new(int fd);
void tls_conn_free(struct tls_conn *t);
/* Sends close_notify if the socket takes it now; never waits. */
void tls_bye(struct tls_conn *t);
/* XS_OK when the handshake completed, XS_AGAIN (*want_write says for
 * which direction), XS_ERROR (the reason is logged at debug level). */
int tls_handshake(struct tls_conn *t, bool *want_write);
/* Like read(2)/write(2): >0 bytes, 0 for EOF (read), -1 with errno EAGAIN
 * or another errno for a broken session. */
ssize_t tls_read(struct tls_conn *t, void *buf, size_t len);
ssize_t tls_write(struct tls_conn *t, const void *buf, size_t len);
/* Decrypted bytes waiting: epoll cannot see them. */
size_t tls_pending(struct tls_conn *t);
/* Channel-binding data of RFC 5929 / RFC 9266 ("tls-exporter",
 * "tls-server-end-point", "tls-unique"); XS_OK with out/len set, XS_ERROR
 * when the session cannot provide it: tls-exporter without TLS 1.3 or the
 * extended master secret, tls-unique on TLS 1.3 (RFC 8446 §C.5: it is not
 * defined there) or without the extended master secret (RFC 7627: a
 * resumed session could share it with another).  *out is malloc'd: the
 * caller frees it. */
int tls_channel_binding(struct tls_conn *t, const char *type, uint8_t **out, size_t *len);
/* "TLSv1.3/AES-256-GCM" and whether the session was resumed, for logs. */
const char *tls_describe(struct tls_conn *t, char *buf, size_t cap);

#endif
