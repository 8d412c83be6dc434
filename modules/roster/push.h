/* push.h — roster items as clients see them (RFC 6121 §2.1): the <item/>
 * element and roster pushes (§2.1.6) to the account's interested resources
 * (the sessions flagged MOD_SESS_ROSTER, which asked for the roster): one iq
 * set each, no 'from', a random id, the new 'ver'. */
#ifndef XMPPD_MODULES_ROSTER_PUSH_H
#define XMPPD_MODULES_ROSTER_PUSH_H

#include "modules/roster/store.h"
#include "lib/stz.h"

#include <stdbool.h>

#define NS_ROSTER "jabber:iq:roster"

/* Adds <item/> for `it` to b (subscription='remove' and nothing else when
 * `remove`).  XS_OK, or the builder's error. */
int roster_put_item(struct stz_builder *b, const struct roster_item *it, bool remove);

/* Pushes `it` (or its removal) with the version of m to every interested
 * resource of `owner` (bare JID). */
void roster_push(const char *owner, const struct roster_item *it, bool remove,
                 const struct roster_meta *m);

/* Pushes whatever p's last store changed in what the roster shows, when
 * `vis` (roster_visible_changed) says it did. */
void roster_push_change(const char *owner, struct roster_pair *p, bool vis);

#endif
