/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * natnow - make NAT changes take effect for existing flows.
 *
 * The per network namespace state and what the module's files give each
 * other:
 *   natnow_main.c   registers the pernet operations, calls the others
 *   natnow_core.c   the hooks: renew a stale entry, refuse a held tuple
 *   natnow_gen.c    generations of renew scopes (arm)
 *   natnow_stale.c  the entries a walk found stale
 *   natnow_holds.c  kill (a walk of the table) and the holds it leaves
 *   natnow_watch.c  ruleset changes, for the NATNOW target
 *   natnow_ctl.c    /proc/net/natnow
 *   natnow_parse.c  the commands' parser (natnow_cmd.h)
 *   natnow_sel.c    selector matching
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

#include "natnow_cmd.h"

#define NATNOW_MAX_HOLDS	65536	/* held tuples at once */
#define NATNOW_HOLD_BITS	10
#define NATNOW_MAX_STALE	262144	/* stale entries remembered at once */
#define NATNOW_STALE_BITS	12
#define NATNOW_CHANGE_GEN	0	/* the tag of what a ruleset change found stale */

/* The armed generations; replaced whole under RCU. */
struct natnow_state {
	struct rcu_head rcu;
	unsigned int ngen;
	struct natnow_gen *gen[NATNOW_MAX_GENS];
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
	spinlock_t stale_lock;
	DECLARE_HASHTABLE(stale, NATNOW_STALE_BITS);
	atomic_t nstale;
	struct mutex watch_lock;	/* the NATNOW rules' listener */
	struct socket *watch_sock;
	unsigned int watchers;		/* NATNOW rules in this namespace */
	struct work_struct watch_work;
	u64 changes;			/* ruleset changes seen */
	bool active;			/* anything armed or held here */
	bool key_ref;			/* holds a reference on the static key */
	unsigned int next_gen;
	struct delayed_work expire_work;
	struct natnow_stats __percpu *stats;
	atomic64_t killed;
	atomic64_t offload_renewed;	/* offloaded stale entries an arm deleted */
	atomic64_t bad_commands;
};

struct natnow_net *natnow_pernet(const struct net *net);
bool natnow_sel_match(const struct natnow_sel *sel, const struct nf_conn *ct);
bool natnow_seen_reply(const struct nf_conn *ct);
u32 natnow_tuple_hash(const struct nf_conntrack_tuple *t);

/* natnow_core.c */
int natnow_core_init(struct net *net);
void natnow_core_exit(struct net *net);
void natnow_update_active(struct natnow_net *nn);
void natnow_force_active(struct natnow_net *nn);
unsigned int natnow_renew_skb(struct sk_buff *skb,
			      const struct nf_hook_state *state);

/* natnow_gen.c */
void natnow_gen_init(struct natnow_net *nn);
void natnow_gen_exit(struct natnow_net *nn);
int natnow_arm(struct natnow_net *nn, struct natnow_gen *gen);
void natnow_disarm(struct natnow_net *nn);

/* natnow_stale.c */
void natnow_stale_init(struct natnow_net *nn);
int natnow_walk_stale(struct natnow_net *nn, const struct natnow_gen *gen,
		      unsigned int id, unsigned long expires, unsigned int *found,
		      struct hlist_head *offloaded);
unsigned int natnow_put_offloaded(struct natnow_net *nn, struct hlist_head *offloaded,
				  bool kill);
bool natnow_take_stale(struct natnow_net *nn, const struct nf_conn *ct);
bool natnow_take_changed(struct natnow_net *nn, const struct nf_conn *ct);
void natnow_forget_stale(struct natnow_net *nn, unsigned int id, bool all);
void natnow_schedule(struct natnow_net *nn);
unsigned int natnow_longest_ttl(struct net *net);

/* natnow_holds.c */
void natnow_holds_init(struct natnow_net *nn);
unsigned int natnow_check_hold(struct natnow_net *nn, struct nf_conn *ct);
long natnow_kill(struct natnow_net *nn, const struct natnow_sel *sel,
		 const struct natnow_sel *except, unsigned int nexcept,
		 unsigned int hold_ms);
void natnow_expire_holds(struct natnow_net *nn, bool all);
unsigned int natnow_nholds(struct natnow_net *nn);

/* natnow_watch.c */
void natnow_watch_init(struct natnow_net *nn);
void natnow_watch_exit(struct natnow_net *nn);
void natnow_watch_get(struct net *net);
void natnow_watch_put(struct net *net);

/* natnow_ctl.c */
int natnow_ctl_init(struct net *net);
void natnow_ctl_exit(struct net *net);

#endif /* _NATNOW_H */
