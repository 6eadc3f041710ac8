/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * natnow - the commands of /proc/net/natnow as the parser (natnow_parse.c)
 * fills them: selectors, arm generations, kills. Nothing here needs the
 * conntrack core, so the parser also builds in userspace for its tests
 * (test/kmod/parse/).
 */
#ifndef _NATNOW_CMD_H
#define _NATNOW_CMD_H

#include <linux/netfilter.h>
#include <linux/types.h>

#define NATNOW_MAX_LINES	64	/* commands in one write */
#define NATNOW_MAX_ITEMS	64	/* addresses or ports in one list */
#define NATNOW_MAX_SELS		64	/* selectors in one arm */
#define NATNOW_MAX_EXCEPT	16	/* except clauses in one kill */
#define NATNOW_MAX_GENS		16	/* generations armed at once */
#define NATNOW_MAX_TTL		432000	/* seconds */
#define NATNOW_MAX_HOLD_MS	60000
#define NATNOW_DEFAULT_HOLD_MS	2000

enum natnow_field {
	NATNOW_ORIG_SRC,
	NATNOW_ORIG_DST,
	NATNOW_REPLY_SRC,
	NATNOW_REPLY_DST,
	NATNOW_NFIELDS,
};

struct natnow_prefix {
	union nf_inet_addr addr;
	union nf_inet_addr mask;
	u8 len;
};

struct natnow_range {
	u16 min;
	u16 max;
};

/* One positive and one negative list for an address or port field. */
struct natnow_plist {
	unsigned int n;
	struct natnow_prefix *v;
};

struct natnow_rlist {
	unsigned int n;
	struct natnow_range *v;
};

/* A set of conntrack entries (docs/kmod-protocol.md); -1 means "any". */
struct natnow_sel {
	u8 family;			/* NFPROTO_IPV4 or NFPROTO_IPV6 */
	s16 proto;
	s8 dnat;
	s8 snat;
	s8 replied;
	struct natnow_plist addr[NATNOW_NFIELDS][2];
	struct natnow_rlist port[NATNOW_NFIELDS][2];
};

/* One arm: renew the entries inside @sel that were stale at the arm. */
struct natnow_gen {
	unsigned int id;
	unsigned int ttl;		/* seconds; 0: natnow_default_ttl() */
	unsigned long armed_at;		/* jiffies */
	unsigned long expires;		/* jiffies */
	unsigned int nsel;
	struct natnow_sel *sel;
	unsigned int nstale;		/* entries found stale at the arm */
	unsigned int noffloaded;	/* of those, offloaded: deleted at the arm */
};

enum natnow_cmd_type {
	NATNOW_CMD_ARM,
	NATNOW_CMD_KILL,
	NATNOW_CMD_DISARM,
};

struct natnow_cmd {
	enum natnow_cmd_type type;
	struct natnow_gen *gen;		/* arm */
	struct natnow_sel *sel;		/* kill: sel[0], then the except clauses */
	unsigned int nsel;
	unsigned int hold_ms;
};

struct natnow_parse {
	const char *err;
	unsigned int line;
};

int natnow_parse_write(char *buf, struct natnow_cmd *cmds, unsigned int *ncmds,
		      struct natnow_parse *p);
void natnow_cmd_free(struct natnow_cmd *c);
void natnow_sel_free(struct natnow_sel *sel);
extern const char * const natnow_field_names[NATNOW_NFIELDS][2];

#endif /* _NATNOW_CMD_H */
