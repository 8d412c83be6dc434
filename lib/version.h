/* version.h — the xmppd release, shown by xmppd -h, xmppctl status and
 * jabber:iq:version. */
#ifndef XMPPD_LIB_VERSION_H
#define XMPPD_LIB_VERSION_H

#define XMPPD_VERSION "0.1.0"

#endif
