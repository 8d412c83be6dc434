/* tls.h — TLS for client connections (GnuTLS), in the worker that owns the
 * socket.
 *
 * One credentials object per process holds every certificate of the
 * config's certfiles; GnuTLS picks the one matching the client's SNI.
 * Session tickets are encrypted with a key the master makes once, so a
 * client can resume on any worker.  A session is a transport
 * (workers/transport.h); everything is non-blocking, and a call that
 * returned AGAIN is repeated with the same arguments, as GnuTLS requires. */
#ifndef XMPPD_WORKERS_TLS_H
#define XMPPD_WORKERS_TLS_H

#include "lib/cfg.h"
#include "workers/transport.h"

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

/* Puts a new server-side TLS session over fd into `t` (the handshake is
 * the transport's first step; see workers/transport.h).  Its pending()
 * counts the decrypted bytes GnuTLS holds, which epoll cannot see.  XS_OK,
 * or XS_ERROR (logged) with `t` untouched. */
int tls_transport_start(struct transport *t, int fd);

#endif
