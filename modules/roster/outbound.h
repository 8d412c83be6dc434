/* outbound.h — presence stanzas the roster module sends on an account's
 * behalf: subscription stanzas from its bare JID, the presence of its
 * available resources to one contact, and copies of a presence to another
 * recipient.  Each is routed through the router (mod_route) at once; a
 * failure is logged and the stanza is lost, as a lost presence would be. */
#ifndef XMPPD_MODULES_ROSTER_OUTBOUND_H
#define XMPPD_MODULES_ROSTER_OUTBOUND_H

#include "lib/stz.h"

#include <stdbool.h>
#include <stddef.h>

/* Builds into b a <presence> with from, to and type (NULL: src's own, if
 * any), the other attributes of src's root (id, xml:lang) and its children
 * (src may be NULL).  XS_OK, or the builder's error. */
int presence_build(struct stz_builder *b, const struct stz *src, const char *from, size_t flen,
                   const char *to, size_t tlen, const char *type);

/* Builds as presence_build and routes the stanza. */
void presence_route(const struct stz *src, const char *from, size_t flen, const char *to,
                    size_t tlen, const char *type);

/* The presence of each available resource of the account `owner` (bare) to
 * `to`: its last presence, or unavailable when `unavailable`. */
void presence_send_all(const char *owner, const char *to, size_t tlen, bool unavailable);

/* A subscription stanza of type t from the account's bare JID (RFC 6121
 * §3.1.2), a copy of src's attributes and children when src is not NULL. */
void presence_route_sub(const char *owner, const char *peer, size_t plen, const struct stz *src,
                        enum stz_type t);

#endif
