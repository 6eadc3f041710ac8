// SPDX-License-Identifier: GPL-2.0-only
/*
 * natnow - the hooks, right after conntrack (NF_IP_PRI_CONNTRACK + 1) in
 * PRE_ROUTING and LOCAL_OUT.
 *
 * While something is armed in a namespace, a packet in the original
 * direction of an entry that the arm found stale (natnow_gen.c: confirmed,
 * never replied, inside an armed scope) gets its entry killed and
 * nf_conntrack_in() run again: this very packet gets a new entry, and the
 * nat chains that follow translate it. Each stale entry is renewed once.
 * NAT code is not touched.
 *
 * While holds exist (natnow_holds.c), a new entry that reverses a revoked
 * flow is refused. While nothing is armed or held anywhere, a packet costs
 * one static key test.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/jump_label.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <net/net_namespace.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_core.h>
#include <net/netfilter/nf_conntrack_zones.h>

#include "natnow.h"

static DEFINE_STATIC_KEY_FALSE(natnow_active_key);

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

/* Whether a confirmed entry may be renewed at all. */
static bool natnow_renewable(const struct nf_conn *ct, enum ip_conntrack_info ctinfo)
{
	if (CTINFO2DIR(ctinfo) != IP_CT_DIR_ORIGINAL || nf_ct_is_template(ct))
		return false;
	if (!nf_ct_is_confirmed(ct) || natnow_seen_reply(ct))
		return false;
	/* a renewed entry would lose a zone set by a template: leave those */
	return nf_ct_zone(ct)->id == NF_CT_DEFAULT_ZONE_ID;
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
	if (!natnow_renewable(ct, ctinfo) || !natnow_take_stale(nn, ct))
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
 *
 * Used by the NATNOW xtables target: the entry is renewed when it was
 * confirmed, and never replied, before the last ruleset change in its
 * namespace (natnow_watch.c), once.
 */
unsigned int natnow_renew_skb(struct sk_buff *skb,
			      const struct nf_hook_state *state)
{
	struct natnow_net *nn = natnow_pernet(state->net);
	enum ip_conntrack_info ctinfo;
	struct nf_conn *ct = nf_ct_get(skb, &ctinfo);

	if (!ct || !natnow_renewable(ct, ctinfo) || !natnow_take_changed(nn, ct))
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

/* Takes the static key for @nn (a kill's holds are checked from its first packet on). */
void natnow_force_active(struct natnow_net *nn)
{
	WRITE_ONCE(nn->active, true);
	if (!nn->key_ref) {
		static_branch_inc(&natnow_active_key);
		nn->key_ref = true;
	}
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

int natnow_core_init(struct net *net)
{
	return nf_register_net_hooks(net, natnow_ops, ARRAY_SIZE(natnow_ops));
}

void natnow_core_exit(struct net *net)
{
	nf_unregister_net_hooks(net, natnow_ops, ARRAY_SIZE(natnow_ops));
}
