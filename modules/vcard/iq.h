/* iq.h — vcard-temp (XEP-0054): the IQ handler for every host, the
 * "vcard-temp" disco feature of every account, and the removal of a
 * deleted account's vCard.
 *   get, no 'to' or to = own bare JID  -> the account's own vCard
 *   get, to = another local bare JID    -> that account's vCard (anyone may read,
 *                                          XEP-0054 §3.3); an account without a vCard
 *                                          -> an empty <vCard xmlns='vcard-temp'/>
 *                                          result (as ejabberd; XEP-0054 allows it);
 *                                          no such account -> service-unavailable
 *                                          (RFC 6121 §8.5.1, XEP-0054 §3.3)
 *   get, to = the server itself         -> an empty vCard
 *   set by the account itself           -> stored whole (no partial updates);
 *                                          a vCard with no child element clears it
 *                                          (and takes the account out of the directory)
 *   set by a session without an account -> not-allowed (SASL ANONYMOUS: nothing
 *                                          would ever remove it); its own get is an
 *                                          empty vCard
 *   set on any other JID                -> forbidden (XEP-0054 §3.2)
 *   set larger than max_size            -> not-acceptable (modify) with a <text/>:
 *                                          XEP-0054 names no condition and ejabberd has
 *                                          no limit; RFC 6120 §8.3.3.9 not-acceptable
 *                                          is "does not meet criteria defined by the
 *                                          server" and is permanent, unlike
 *                                          resource-constraint (type wait, "retry"),
 *                                          and is what XEP-0060 uses for too-big items. */
#ifndef XMPPD_MODULES_VCARD_IQ_H
#define XMPPD_MODULES_VCARD_IQ_H

#include "router/module.h"

#include <stddef.h>

/* The IQ handler of vcard-temp. */
int vcard_iq(struct iq_req *req, void *arg);

/* HOOK_USER_REMOVED: the vCard, its summary and index entries go. */
int vcard_on_user_removed(struct hook_args *a, void *arg);

/* HOOK_DISCO_INFO of an account: adds the vcard-temp feature. */
int vcard_on_disco_info(struct hook_args *a, void *arg);

/* Answers req with an empty <vCard/>, or one with the given FN and DESC
 * (both or neither NULL).  What mod_iq_result_send returns. */
int vcard_reply_plain(struct iq_req *req, const char *fn, const char *desc);

/* Sets the bound of a vCard being stored (encoded bytes, max_size); call
 * before the first set and whenever max_size changes. */
void vcard_iq_limit(size_t max_size);

/* Frees what vcard-temp keeps (module stop). */
void vcard_iq_free(void);

#endif
