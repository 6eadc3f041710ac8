/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * natnow - make NAT changes take effect for existing flows.
 *
 * Shared definitions of the natnow module: selectors, generations of
 * renew scopes, held tuples and the per network namespace state.
 */
#ifndef _NATNOW_H
#define _NATNOW_H

#include <linux/hashtable.h>
#include <linux/mutex.h>
#include <linux/netfilter.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_tuple.h>

#define NATNOW_MAX_ITEMS	64	/* addresses or ports in one list */
#define NATNOW_MAX_SELS		64	/* selectors in one arm */
#define NATNOW_MAX_EXCEPT	16	/* except clauses in one kill */
#define NATNOW_MAX_GENS		16	/* generations armed at once */
#define NATNOW_MAX_HOLDS	65536	/* held tuples at once */
#define NATNOW_MAX_TTL		432000	/* seconds */
#define NATNOW_MAX_HOLD_MS	60000
#define NATNOW_DEFAULT_HOLD_MS	2000
#define NATNOW_HOLD_BITS	10

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

/* A set of conntrack entries (DESIGN section 6); -1 means "any". */
struct natnow_sel {
	u8 family;			/* NFPROTO_IPV4 or NFPROTO_IPV6 */
	s16 proto;
	s8 dnat;
	s8 snat;
	s8 replied;
	struct natnow_plist addr[NATNOW_NFIELDS][2];
	struct natnow_rlist port[NATNOW_NFIELDS][2];
};

/* One arm: renew flows confirmed before @armed_ns inside @sel. */
struct natnow_gen {
	unsigned int id;
	unsigned int ttl;		/* seconds; 0: natnow_default_ttl() */
	u64 armed_ns;			/* ktime_get_real_ns(), as conntrack stamps */
	unsigned long armed_at;		/* jiffies */
	unsigned long expires;		/* jiffies */
	unsigned int nsel;
	struct natnow_sel *sel;
};

/* The armed generations; replaced whole under RCU. */
struct natnow_state {
	struct rcu_head rcu;
	unsigned int ngen;
	struct natnow_gen *gen[NATNOW_MAX_GENS];
};

/*
 * A killed flow's tuples: a new entry whose original tuple is the killed
 * reply tuple is refused until the hold expires. Each new entry of the
 * killed flow's own original tuple (its client still sending) extends it:
 * when the router rejects the client's packets (fw4's wan input), the
 * client's entries are never confirmed and cannot claim the tuple back.
 */
struct natnow_hold {
	struct hlist_node by_reply;
	struct hlist_node by_orig;
	struct nf_conntrack_tuple orig;
	struct nf_conntrack_tuple reply;
	u16 zone;
	unsigned long period;		/* jiffies */
	unsigned long expires;
};

struct natnow_stats {
	u64 checked;
	u64 renewed;
	u64 renew_failed;
	u64 held_drops;
};

struct natnow_net {
	struct net *net;
	struct mutex lock;		/* serialises commands and expiry */
	struct natnow_state __rcu *state;
	spinlock_t hold_lock;
	DECLARE_HASHTABLE(holds_reply, NATNOW_HOLD_BITS);
	DECLARE_HASHTABLE(holds_orig, NATNOW_HOLD_BITS);
	atomic_t nholds;
	bool active;			/* anything armed or held here */
	bool key_ref;			/* holds a reference on the static key */
	bool tstamp_enabled;		/* natnow switched timestamps on */
	unsigned int next_gen;
	struct delayed_work expire_work;
	struct natnow_stats __percpu *stats;
	atomic64_t killed;
	atomic64_t bad_commands;
};

struct natnow_net *natnow_pernet(const struct net *net);
bool natnow_sel_match(const struct natnow_sel *sel, const struct nf_conn *ct);
void natnow_sel_free(struct natnow_sel *sel);

/* Control file (natnow_ctl.c). */
int natnow_ctl_init(struct net *net);
void natnow_ctl_exit(struct net *net);

/* Core (natnow_main.c), used by the control file. */
int natnow_arm(struct natnow_net *nn, struct natnow_gen *gen);
void natnow_disarm(struct natnow_net *nn);
long natnow_kill(struct natnow_net *nn, const struct natnow_sel *sel,
		 const struct natnow_sel *except, unsigned int nexcept,
		 unsigned int hold_ms);
unsigned int natnow_default_ttl(struct net *net, const struct natnow_gen *gen);
unsigned int natnow_nholds(struct natnow_net *nn);
void natnow_update_active(struct natnow_net *nn);

/* Renew the flow of @skb if it is confirmed and never replied. */
unsigned int natnow_renew_skb(struct sk_buff *skb,
			      const struct nf_hook_state *state, u64 before_ns);

#endif /* _NATNOW_H */
