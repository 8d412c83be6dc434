/* xmpp.h — XMPP namespaces and the stanza-error reply shared by the worker
 * (errors it answers itself) and the router (routing errors, plugins). */
#ifndef XMPPD_LIB_XMPP_H
#define XMPPD_LIB_XMPP_H

#include "lib/stz.h"

#define NS_STREAMS      "http://etherx.jabber.org/streams"
#define NS_STREAM_ERR   "urn:ietf:params:xml:ns:xmpp-streams"
#define NS_SASL         "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND         "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION      "urn:ietf:params:xml:ns:xmpp-session"
#define NS_PING         "urn:xmpp:ping"
#define NS_DISCO_INFO   "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS  "http://jabber.org/protocol/disco#items"

/* Builds into `b` (reset first) the error reply RFC 6120 §8.3 prescribes for
 * `orig`: to = orig's from, from = orig's to (or `server` when it had none),
 * same id, type='error', orig's children copied, then
 * <error type='T'><CONDITION xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>
 * with T the condition's usual type.  XS_OK, or XS_ERROR (too big). */
int xmpp_error_reply(struct stz_builder *b, const struct stz *orig, const char *server,
                     const char *condition);
/* The same with another error type (NULL: the usual one), a <text/> (NULL:
 * none) and an application condition <app xmlns='app_ns'/> (NULL: none). */
int xmpp_error_reply_ext(struct stz_builder *b, const struct stz *orig, const char *server,
                         const char *condition, const char *type, const char *app,
                         const char *app_ns, const char *text);
/* Like xmpp_error_reply, with an optional text and without a copy of orig's
 * children (a request that may hold a password). */
int xmpp_error_reply_bare(struct stz_builder *b, const struct stz *orig, const char *server,
                          const char *condition, const char *text);
/* The error type RFC 6120 §8.3.3 gives a defined condition ("cancel", ...). */
const char *xmpp_error_type(const char *condition);
/* Whether an error may be answered to this stanza at all: never to an error,
 * nor to an IQ result (RFC 6120 §8.3.1). */
bool xmpp_may_answer_error(const struct stz *orig);

/* The sender's account: when s has a 'from' that names an account (a JID
 * with a node), copies its bare JID into out (cap bytes incl. NUL) and
 * returns its length; else (no 'from', a domain, cap too small) -1. */
int xmpp_from_account(const struct stz *s, char *out, size_t cap);
/* The priority of a presence stanza (RFC 6121 §4.7.2.3): its <priority/>
 * clamped to -128..127, 0 when it has none. */
int32_t xmpp_presence_priority(const struct stz *s);
/* For an IQ of a get-only namespace that the server answers about itself
 * (XEP-0092, XEP-0202): the stanza error condition it calls for, or NULL
 * when the server should answer.  "not-allowed" for a type other than get;
 * "service-unavailable" when it has no 'to' or is to an account (an account
 * has no such data on the server; its clients answer at full JIDs). */
const char *xmpp_server_get_error(const struct stz *iq);
/* Appends <name xmlns='ns'>text</name> to b (an empty element when len is
 * 0; text may then be NULL).  XS_OK or XS_ERROR (the builder's bound). */
int xmpp_b_text_elem(struct stz_builder *b, const char *name, const char *ns, const char *text,
                     size_t len);

#endif
