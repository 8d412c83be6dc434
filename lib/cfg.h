/* cfg.h — the xmppd YAML configuration (libyaml).
 *
 * cfg_load() reads a file into a struct cfg, validating every key: an unknown
 * key, a wrong type or a bad value is an error naming the file, line, column
 * and key ("xmppd.yml:7:3: key 'workers': expected a number or 'auto'").  Every
 * error found is reported through the callback, not just the first.  YAML
 * anchors/aliases are rejected, documents are bounded in size and depth.
 *
 * The settings, their types, defaults, ranges and reload classes are
 * declared once, in the table of lib/cfg_settings.c (lib/cfg_settings.h);
 * man/xmppd.yml.5 describes them.  `modules:` maps a module name to its
 * options, kept as a cfg_node tree that the module's option table reads
 * (lib/cfgopt.h).
 * Relative paths are kept as written (relative to the working directory). */
#ifndef XMPPD_LIB_CFG_H
#define XMPPD_LIB_CFG_H

#include "lib/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_TRACE_JID_MAX 256 /* bytes of a traced JID with its NUL (SHM_TRACE_JID) */

enum cfg_node_kind { CFG_SCALAR, CFG_SEQ, CFG_MAP };

/* A generic YAML node (for module options), with its position for errors.
 * A YAML null (nothing, ~ or null, unquoted) is a CFG_SCALAR with value "". */
struct cfg_node {
	enum cfg_node_kind kind;
	int line, col;             /* 1-based */
	char *value;               /* CFG_SCALAR */
	char *key;                 /* set when this node is a value inside a map */
	int key_line, key_col;     /* position of that key (for "unknown option") */
	struct cfg_node *children; /* CFG_SEQ items / CFG_MAP values, in order */
	size_t nchildren;
};

enum cfg_listen_module { CFG_LISTEN_C2S = 1 };
enum cfg_starttls { CFG_STARTTLS_REQUIRED = 0, CFG_STARTTLS_OPTIONAL, CFG_STARTTLS_OFF };

struct cfg_listen {
	char ip[64];
	uint16_t port;
	enum cfg_listen_module module;
	bool tls;                  /* direct TLS: the handshake comes first */
	enum cfg_starttls starttls;
	bool allow_plaintext_auth; /* PLAIN offered without TLS */
	int line;
};

#define CFG_DEFAULT_TLS_PRIORITY \
	"SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:" \
	"+CHACHA20-POLY1305:-MAC-ALL:+AEAD:%SERVER_PRECEDENCE"

struct cfg_module {
	char *name;
	struct cfg_node opts;  /* CFG_MAP (possibly empty) */
	int line;
};

struct cfg_limits {
	unsigned max_connections_per_ip;
	unsigned connection_rate_per_ip;   /* per minute */
	unsigned auth_timeout;             /* seconds */
	unsigned keepalive_interval;       /* seconds */
	unsigned max_auth_failures;
	unsigned auth_block_seconds;
	unsigned shaper_bytes_per_second;
	unsigned registration_rate_per_ip; /* per hour */
};

struct cfg {
	char *path;            /* the file it came from */
	char **hosts;          /* nameprep'd lowercase domain names */
	bool *host_anonymous;  /* [nhosts]: SASL ANONYMOUS offered */
	int8_t *host_registration; /* [nhosts]: 1 open, -1 closed, 0 the top-level value */
	bool registration_open;
	size_t nhosts;
	char **certfiles;
	size_t ncertfiles;
	char *tls_priority;
	enum log_level loglevel;
	enum log_target log_target;
	char *log_file;        /* LOG_TO_FILE */
	char *pidfile, *user, *group;  /* NULL: none */
	char **trace;          /* prepared bare JIDs traced from the start */
	size_t ntrace;
	unsigned workers;      /* resolved: auto became the CPU count */
	char *data_dir, *run_dir, *control_socket, *modules_dir;
	size_t max_stanza_size;
	size_t max_encoded;    /* derived: the largest stanza encoding built anywhere */
	unsigned scram_iterations;
	uint64_t ring_size;
	struct cfg_limits limits;
	struct cfg_listen *listen;
	size_t nlisten;
	struct cfg_module *modules;
	size_t nmodules;
};

/* Receives each error as one formatted line "FILE:LINE:COL: key 'K': reason". */
typedef void cfg_err_fn(void *arg, const char *line);

/* XS_OK with *out filled (free with cfg_free), or XS_ERROR after reporting
 * every problem through err (err may be NULL: errors go to log_error); on
 * error *out is left untouched. */
int cfg_load(const char *path, struct cfg *out, cfg_err_fn *err, void *arg);
void cfg_free(struct cfg *cfg);
/* Reload: n (freshly loaded) takes the running config's values of what only
 * a restart changes (the settings of class CFG_RESTART and CFG_STARTUP in
 * lib/cfg_settings.h) — swapped, so each stays freeable — and returns how
 * many of class CFG_RESTART differed (each logged as "needs a restart (not
 * applied)" when `log`). */
unsigned cfg_keep_running(struct cfg *n, struct cfg *run, bool log);
/* A child's side of a reload: the running config's file again, with what
 * needs a restart kept (cfg_keep_running) and the log target and level
 * applied.  NULL (logged) when it does not load: nothing changed. */
struct cfg *cfg_reread(const struct cfg *running);
/* A configuration replaced by a reload may still be pointed into (a
 * connection's listener, a module's options): it is kept, not freed, until
 * cfg_retired_free() at exit.  Takes ownership of the malloc'd cfg. */
void cfg_retire(struct cfg *cfg);
void cfg_retired_free(void);
/* In-band registration allowed on that host (host_config, else top level). */
bool cfg_registration_open(const struct cfg *cfg, const char *host);

/* True when `host` (already prepared) is one of cfg->hosts. */
int cfg_has_host(const struct cfg *cfg, const char *host);
/* The option node named `key` in a CFG_MAP node, or NULL. */
const struct cfg_node *cfg_node_get(const struct cfg_node *map, const char *key);

#endif
