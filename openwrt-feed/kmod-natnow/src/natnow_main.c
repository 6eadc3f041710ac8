// SPDX-License-Identifier: GPL-2.0-only
/*
 * natnow - make NAT changes take effect for existing flows.
 *
 * Netfilter hooks right after conntrack (NF_IP_PRI_CONNTRACK + 1) in
 * PRE_ROUTING and LOCAL_OUT. While something is armed in a namespace, a
 * packet in the original direction of a confirmed, never replied entry that
 * was confirmed before the arm and lies inside an armed scope gets its entry
 * killed and nf_conntrack_in() run again: this very packet gets a new entry,
 * and the nat chains that follow translate it. NAT code is not touched.
 *
 * Revoked flows leave "holds" behind: for a short while, a new entry whose
 * original tuple is a revoked flow's reply tuple is refused, so the old peer
 * cannot re-create a reversed entry that pins the client again (through
 * masquerade it would map exactly onto the client's tuple).
 *
 * While nothing is armed or held anywhere, a packet costs one static key test.
 */
#include <linux/jhash.h>
#include <linux/jump_label.h>
#include <linux/module.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/slab.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_core.h>
#include <net/netfilter/nf_conntrack_l4proto.h>
#include <net/netfilter/nf_conntrack_timestamp.h>
#include <net/netfilter/nf_conntrack_zones.h>

#include "natnow.h"
#include "natnow_compat.h"

static unsigned int natnow_net_id __read_mostly;
static DEFINE_STATIC_KEY_FALSE(natnow_active_key);

struct natnow_net *natnow_pernet(const struct net *net)
{
	return net_generic(net, natnow_net_id);
}

static u32 natnow_tuple_hash(const struct nf_conntrack_tuple *t)
{
	u32 h = jhash(&t->src.u3, sizeof(t->src.u3), t->dst.protonum);

	h = jhash(&t->dst.u3, sizeof(t->dst.u3), h);
	return jhash_3words((__force u32)t->src.u.all, (__force u32)t->dst.u.all,
			    t->src.l3num, h);
}

static void natnow_hold_free(struct natnow_net *nn, struct natnow_hold *h)
{
	hash_del(&h->by_reply);
	hash_del(&h->by_orig);
	kfree(h);
	atomic_dec(&nn->nholds);
}

unsigned int natnow_nholds(struct natnow_net *nn)
{
	return atomic_read(&nn->nholds);
}

/* A new, unconfirmed entry: refuse it when it reverses a revoked flow. */
static unsigned int natnow_check_hold(struct natnow_net *nn, struct nf_conn *ct)
{
	const struct nf_conntrack_tuple *t = &ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple;
	u16 zone = nf_ct_zone_id(nf_ct_zone(ct), IP_CT_DIR_ORIGINAL);
	struct natnow_hold *h;
	struct hlist_node *tmp;
	bool drop = false;
	u32 key;

	if (!atomic_read(&nn->nholds))
		return NF_ACCEPT;
	key = natnow_tuple_hash(t);
	spin_lock_bh(&nn->hold_lock);
	hash_for_each_possible_safe(nn->holds_reply, h, tmp, by_reply, key) {
		if (h->zone == zone && time_before(jiffies, h->expires) &&
		    nf_ct_tuple_equal(&h->reply, t)) {
			drop = true;
			break;
		}
	}
	if (!drop) {
		/* the revoked flow's client is still sending: keep holding */
		hash_for_each_possible(nn->holds_orig, h, by_orig, key) {
			if (h->zone == zone && nf_ct_tuple_equal(&h->orig, t) &&
			    time_before(jiffies, h->expires))
				h->expires = jiffies + h->period;
		}
	}
	spin_unlock_bh(&nn->hold_lock);
	if (!drop)
		return NF_ACCEPT;
	this_cpu_inc(nn->stats->held_drops);
	return NF_DROP;
}

/* Kill @ct and track @skb again: the packet gets a fresh entry. */
static unsigned int natnow_renew(struct natnow_net *nn, struct sk_buff *skb,
				 const struct nf_hook_state *state,
				 struct nf_conn *ct)
{
	unsigned int ret;

	nf_ct_kill(ct);
	nf_reset_ct(skb);
	ret = nf_conntrack_in(skb, state);
	if (ret != NF_ACCEPT) {
		this_cpu_inc(nn->stats->renew_failed);
		return ret;
	}
	this_cpu_inc(nn->stats->renewed);
	return NF_ACCEPT;
}

/*
 * The entry's confirmation time; 0 when it has no timestamp, which (with
 * timestamps on now) means it was created before they were switched on.
 */
static u64 natnow_ct_start(const struct nf_conn *ct)
{
	const struct nf_conn_tstamp *ts = nf_conn_tstamp_find(ct);

	return ts ? ts->start : 0;
}

/* Whether a confirmed entry may be renewed at all. */
static bool natnow_renewable(const struct net *net, const struct nf_conn *ct,
			     enum ip_conntrack_info ctinfo)
{
	if (CTINFO2DIR(ctinfo) != IP_CT_DIR_ORIGINAL || nf_ct_is_template(ct))
		return false;
	if (!nf_ct_is_confirmed(ct) || test_bit(IPS_SEEN_REPLY_BIT, &ct->status))
		return false;
	/* a renewed entry would lose a zone set by a template: leave those */
	if (nf_ct_zone(ct)->id != NF_CT_DEFAULT_ZONE_ID)
		return false;
	/* without timestamps "created before the arm" cannot be told */
	return IS_ENABLED(CONFIG_NF_CONNTRACK_TIMESTAMP) && READ_ONCE(net->ct.sysctl_tstamp);
}

static bool natnow_in_scope(struct natnow_net *nn, const struct nf_conn *ct)
{
	const struct natnow_state *st;
	u64 start = natnow_ct_start(ct);
	bool hit = false;
	unsigned int i, j;

	rcu_read_lock();
	st = rcu_dereference(nn->state);
	for (i = 0; st && i < st->ngen && !hit; i++) {
		const struct natnow_gen *g = st->gen[i];

		if (time_after_eq(jiffies, g->expires) || start >= g->armed_ns)
			continue;
		for (j = 0; j < g->nsel && !hit; j++)
			hit = natnow_sel_match(&g->sel[j], ct);
	}
	rcu_read_unlock();
	return hit;
}

static unsigned int natnow_check(struct sk_buff *skb,
				 const struct nf_hook_state *state)
{
	struct natnow_net *nn = natnow_pernet(state->net);
	enum ip_conntrack_info ctinfo;
	struct nf_conn *ct;

	if (!READ_ONCE(nn->active))
		return NF_ACCEPT;
	ct = nf_ct_get(skb, &ctinfo);
	if (!ct || CTINFO2DIR(ctinfo) != IP_CT_DIR_ORIGINAL)
		return NF_ACCEPT;
	this_cpu_inc(nn->stats->checked);
	if (!nf_ct_is_confirmed(ct))
		return natnow_check_hold(nn, ct);
	if (!natnow_renewable(state->net, ct, ctinfo) || !natnow_in_scope(nn, ct))
		return NF_ACCEPT;
	return natnow_renew(nn, skb, state, ct);
}

static unsigned int natnow_hook(void *priv, struct sk_buff *skb,
				const struct nf_hook_state *state)
{
	if (!static_branch_unlikely(&natnow_active_key))
		return NF_ACCEPT;
	return natnow_check(skb, state);
}

/**
 * natnow_renew_skb - renew the entry of @skb if it is stale
 * @skb: a packet, after conntrack
 * @state: its hook state
 * @before_ns: only entries confirmed before this time (ktime_get_real_ns)
 *
 * Used by the NATNOW xtables target: the same renew as an armed scope, with
 * the rule's own time instead of an arm.
 */
unsigned int natnow_renew_skb(struct sk_buff *skb,
			      const struct nf_hook_state *state, u64 before_ns)
{
	struct natnow_net *nn = natnow_pernet(state->net);
	enum ip_conntrack_info ctinfo;
	struct nf_conn *ct = nf_ct_get(skb, &ctinfo);

	if (!ct || !natnow_renewable(state->net, ct, ctinfo) ||
	    natnow_ct_start(ct) >= before_ns)
		return NF_ACCEPT;
	return natnow_renew(nn, skb, state, ct);
}
EXPORT_SYMBOL_GPL(natnow_renew_skb);

static const struct nf_hook_ops natnow_ops[] = {
	{
		.hook		= natnow_hook,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_PRE_ROUTING,
		.priority	= NF_IP_PRI_CONNTRACK + 1,
	},
	{
		.hook		= natnow_hook,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_LOCAL_OUT,
		.priority	= NF_IP_PRI_CONNTRACK + 1,
	},
	{
		.hook		= natnow_hook,
		.pf		= NFPROTO_IPV6,
		.hooknum	= NF_INET_PRE_ROUTING,
		.priority	= NF_IP6_PRI_CONNTRACK + 1,
	},
	{
		.hook		= natnow_hook,
		.pf		= NFPROTO_IPV6,
		.hooknum	= NF_INET_LOCAL_OUT,
		.priority	= NF_IP6_PRI_CONNTRACK + 1,
	},
};

static void natnow_gen_free(struct natnow_gen *g)
{
	unsigned int i;

	if (!g)
		return;
	for (i = 0; i < g->nsel; i++)
		natnow_sel_free(&g->sel[i]);
	kfree(g->sel);
	kfree(g);
}

/* Caller holds nn->lock; process context. */
void natnow_update_active(struct natnow_net *nn)
{
	const struct natnow_state *st = rcu_dereference_protected(nn->state,
								  lockdep_is_held(&nn->lock));
	bool want = (st && st->ngen) || atomic_read(&nn->nholds);

	WRITE_ONCE(nn->active, want);
	if (want && !nn->key_ref) {
		static_branch_inc(&natnow_active_key);
		nn->key_ref = true;
	} else if (!want && nn->key_ref) {
		static_branch_dec(&natnow_active_key);
		nn->key_ref = false;
	}
}

/*
 * Replaces the armed generations by those of @keep that are not expired,
 * plus @add. Caller holds nn->lock.
 */
static int natnow_set_state(struct natnow_net *nn, bool keep, struct natnow_gen *add)
{
	struct natnow_state *old = rcu_dereference_protected(nn->state,
							     lockdep_is_held(&nn->lock));
	struct natnow_gen *drop[NATNOW_MAX_GENS];
	struct natnow_state *st;
	unsigned int i, ndrop = 0;

	st = kzalloc(sizeof(*st), GFP_KERNEL);
	if (!st)
		return -ENOMEM;
	for (i = 0; old && i < old->ngen; i++) {
		struct natnow_gen *g = old->gen[i];

		if (keep && time_before(jiffies, g->expires))
			st->gen[st->ngen++] = g;
		else
			drop[ndrop++] = g;
	}
	if (add) {
		if (st->ngen >= NATNOW_MAX_GENS) {
			kfree(st);
			return -ENOSPC;
		}
		st->gen[st->ngen++] = add;
	}
	rcu_assign_pointer(nn->state, st);
	synchronize_rcu();
	kfree(old);
	for (i = 0; i < ndrop; i++)
		natnow_gen_free(drop[i]);
	return 0;
}

static unsigned int natnow_proto_ttl(struct net *net, int proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return nf_tcp_pernet(net)->timeouts[TCP_CONNTRACK_SYN_SENT];
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
		return nf_udp_pernet(net)->timeouts[UDP_CT_UNREPLIED];
	case IPPROTO_ICMP:
		return nf_icmp_pernet(net)->timeout;
	case IPPROTO_ICMPV6:
		return nf_icmpv6_pernet(net)->timeout;
	default:
		return nf_generic_pernet(net)->timeout;
	}
}

/*
 * The longest time a never replied entry of the armed protocols lives
 * without a packet: a stale flow either sends within it, and is renewed,
 * or expires by itself. In seconds.
 */
unsigned int natnow_default_ttl(struct net *net, const struct natnow_gen *gen)
{
	static const int all[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, -1 };
	unsigned int i, j, t, ttl = 1;

	for (i = 0; i < gen->nsel; i++) {
		if (gen->sel[i].proto >= 0) {
			t = natnow_proto_ttl(net, gen->sel[i].proto);
			ttl = max(ttl, t);
			continue;
		}
		for (j = 0; j < ARRAY_SIZE(all); j++)
			ttl = max(ttl, natnow_proto_ttl(net, all[j]));
	}
	return DIV_ROUND_UP(ttl, HZ);
}

static void natnow_schedule(struct natnow_net *nn)
{
	const struct natnow_state *st = rcu_dereference_protected(nn->state,
								  lockdep_is_held(&nn->lock));
	unsigned long next = jiffies + NATNOW_DEFAULT_HOLD_MS * HZ / 1000;
	unsigned int i;

	if (!READ_ONCE(nn->active))
		return;
	for (i = 0; st && i < st->ngen; i++)
		if (time_before(st->gen[i]->expires, next))
			next = st->gen[i]->expires;
	mod_delayed_work(system_power_efficient_wq, &nn->expire_work,
			 time_after(next, jiffies) ? next - jiffies : 0);
}

int natnow_arm(struct natnow_net *nn, struct natnow_gen *gen)
{
	struct net *net = nn->net;
	int err;

	if (!IS_ENABLED(CONFIG_NF_CONNTRACK_TIMESTAMP)) {
		pr_info_ratelimited("natnow: arm needs a kernel with CONFIG_NF_CONNTRACK_TIMESTAMP\n");
		natnow_gen_free(gen);
		return -EOPNOTSUPP;
	}
	mutex_lock(&nn->lock);
	if (!READ_ONCE(net->ct.sysctl_tstamp)) {
		/* the arm needs entry timestamps: switch them on for this namespace */
		WRITE_ONCE(net->ct.sysctl_tstamp, 1);
		nn->tstamp_enabled = true;
	}
	if (!gen->ttl)
		gen->ttl = natnow_default_ttl(net, gen);
	gen->id = ++nn->next_gen;
	gen->armed_ns = ktime_get_real_ns();
	gen->armed_at = jiffies;
	gen->expires = jiffies + (unsigned long)gen->ttl * HZ;
	err = natnow_set_state(nn, true, gen);
	if (!err) {
		natnow_update_active(nn);
		natnow_schedule(nn);
	}
	mutex_unlock(&nn->lock);
	if (err)
		natnow_gen_free(gen);
	return err;
}

void natnow_disarm(struct natnow_net *nn)
{
	mutex_lock(&nn->lock);
	/* on failure to allocate, the generations still expire by themselves */
	natnow_set_state(nn, false, NULL);
	natnow_update_active(nn);
	mutex_unlock(&nn->lock);
}

struct natnow_kill_ctx {
	struct natnow_net *nn;
	const struct natnow_sel *sel;
	const struct natnow_sel *except;
	unsigned int nexcept;
	unsigned long hold_period;
	bool hold;
	long matched;
};

static void natnow_hold_add(struct natnow_net *nn, const struct nf_conn *ct,
			    unsigned long period)
{
	struct natnow_hold *h;

	if (atomic_read(&nn->nholds) >= NATNOW_MAX_HOLDS)
		return;
	h = kzalloc(sizeof(*h), GFP_ATOMIC);
	if (!h)
		return;
	h->orig = ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple;
	h->reply = ct->tuplehash[IP_CT_DIR_REPLY].tuple;
	h->zone = nf_ct_zone_id(nf_ct_zone(ct), IP_CT_DIR_ORIGINAL);
	h->period = period;
	h->expires = jiffies + period;
	spin_lock_bh(&nn->hold_lock);
	hash_add(nn->holds_reply, &h->by_reply, natnow_tuple_hash(&h->reply));
	hash_add(nn->holds_orig, &h->by_orig, natnow_tuple_hash(&h->orig));
	atomic_inc(&nn->nholds);
	spin_unlock_bh(&nn->hold_lock);
}

static int natnow_kill_iter(struct nf_conn *ct, void *data)
{
	struct natnow_kill_ctx *k = data;
	unsigned int i;

	if (!natnow_sel_match(k->sel, ct))
		return 0;
	for (i = 0; i < k->nexcept; i++)
		if (natnow_sel_match(&k->except[i], ct))
			return 0;
	if (k->hold)
		natnow_hold_add(k->nn, ct, k->hold_period);
	k->matched++;
	return 1;
}

long natnow_kill(struct natnow_net *nn, const struct natnow_sel *sel,
		 const struct natnow_sel *except, unsigned int nexcept,
		 unsigned int hold_ms)
{
	struct natnow_kill_ctx k = {
		.nn		= nn,
		.sel		= sel,
		.except		= except,
		.nexcept	= nexcept,
		.hold		= hold_ms > 0,
		.hold_period	= msecs_to_jiffies(hold_ms),
	};

	mutex_lock(&nn->lock);
	if (k.hold) {
		/* holds are checked from their first packet on */
		WRITE_ONCE(nn->active, true);
		if (!nn->key_ref) {
			static_branch_inc(&natnow_active_key);
			nn->key_ref = true;
		}
	}
	natnow_ct_iterate(nn->net, natnow_kill_iter, &k);
	atomic64_add(k.matched, &nn->killed);
	natnow_update_active(nn);
	natnow_schedule(nn);
	mutex_unlock(&nn->lock);
	return k.matched;
}

static void natnow_expire_holds(struct natnow_net *nn, bool all)
{
	struct natnow_hold *h;
	struct hlist_node *tmp;
	unsigned int b;

	spin_lock_bh(&nn->hold_lock);
	hash_for_each_safe(nn->holds_reply, b, tmp, h, by_reply)
		if (all || time_after_eq(jiffies, h->expires))
			natnow_hold_free(nn, h);
	spin_unlock_bh(&nn->hold_lock);
}

static void natnow_expire_work(struct work_struct *work)
{
	struct natnow_net *nn = container_of(to_delayed_work(work),
					     struct natnow_net, expire_work);
	const struct natnow_state *st;
	bool expired = false;
	unsigned int i;

	mutex_lock(&nn->lock);
	natnow_expire_holds(nn, false);
	st = rcu_dereference_protected(nn->state, lockdep_is_held(&nn->lock));
	for (i = 0; st && i < st->ngen; i++)
		expired |= time_after_eq(jiffies, st->gen[i]->expires);
	if (expired)
		natnow_set_state(nn, true, NULL);
	natnow_update_active(nn);
	natnow_schedule(nn);
	mutex_unlock(&nn->lock);
}

static int __net_init natnow_net_init(struct net *net)
{
	struct natnow_net *nn = natnow_pernet(net);
	int err;

	nn->net = net;
	mutex_init(&nn->lock);
	spin_lock_init(&nn->hold_lock);
	hash_init(nn->holds_reply);
	hash_init(nn->holds_orig);
	INIT_DELAYED_WORK(&nn->expire_work, natnow_expire_work);
	nn->stats = alloc_percpu(struct natnow_stats);
	if (!nn->stats)
		return -ENOMEM;
	err = nf_register_net_hooks(net, natnow_ops, ARRAY_SIZE(natnow_ops));
	if (err)
		goto free_stats;
	err = natnow_ctl_init(net);
	if (err)
		goto unregister;
	return 0;

unregister:
	nf_unregister_net_hooks(net, natnow_ops, ARRAY_SIZE(natnow_ops));
free_stats:
	free_percpu(nn->stats);
	return err;
}

static void __net_exit natnow_net_exit(struct net *net)
{
	struct natnow_net *nn = natnow_pernet(net);
	struct natnow_state *st;
	unsigned int i;

	natnow_ctl_exit(net);
	nf_unregister_net_hooks(net, natnow_ops, ARRAY_SIZE(natnow_ops));
	cancel_delayed_work_sync(&nn->expire_work);
	mutex_lock(&nn->lock);
	natnow_expire_holds(nn, true);
	st = rcu_dereference_protected(nn->state, lockdep_is_held(&nn->lock));
	RCU_INIT_POINTER(nn->state, NULL);
	WRITE_ONCE(nn->active, false);
	if (nn->key_ref) {
		static_branch_dec(&natnow_active_key);
		nn->key_ref = false;
	}
	if (nn->tstamp_enabled)
		WRITE_ONCE(net->ct.sysctl_tstamp, 0);
	mutex_unlock(&nn->lock);
	synchronize_rcu();
	for (i = 0; st && i < st->ngen; i++)
		natnow_gen_free(st->gen[i]);
	kfree(st);
	free_percpu(nn->stats);
}

static struct pernet_operations natnow_net_ops = {
	.init	= natnow_net_init,
	.exit	= natnow_net_exit,
	.id	= &natnow_net_id,
	.size	= sizeof(struct natnow_net),
};

static int __init natnow_init(void)
{
	int err = register_pernet_subsys(&natnow_net_ops);

	if (err)
		pr_err("natnow: cannot register: %d\n", err);
	return err;
}

static void __exit natnow_exit(void)
{
	unregister_pernet_subsys(&natnow_net_ops);
}

module_init(natnow_init);
module_exit(natnow_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("natnow developers");
MODULE_DESCRIPTION("natnow: make NAT changes take effect for existing flows");
MODULE_SOFTDEP("pre: nf_conntrack");
