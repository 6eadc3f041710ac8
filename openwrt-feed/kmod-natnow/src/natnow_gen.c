// SPDX-License-Identifier: GPL-2.0-only
/*
 * natnow - generations of renew scopes: an arm walks the table and
 * remembers the entries stale in its scopes (natnow_stale.c); the hooks
 * renew them (natnow_core.c) until the generation's ttl ends it, a disarm
 * ends them all, or the expiry work does.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/slab.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_l4proto.h>
#include <net/netfilter/nf_conntrack_zones.h>

#include "natnow.h"
#include "natnow_compat.h"

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

/*
 * Replaces the armed generations by those of @keep that are not expired,
 * plus @add; the stale entries of the others are forgotten. Caller holds
 * nn->lock.
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
	if (!ndrop) {
		/* the generations all live on in @st: only the array waits */
		if (old)
			kfree_rcu(old, rcu);
		return 0;
	}
	synchronize_rcu();
	kfree(old);
	for (i = 0; i < ndrop; i++) {
		natnow_forget_stale(nn, drop[i]->id, false);
		natnow_gen_free(drop[i]);
	}
	return 0;
}

/* How many generations are armed and not expired; caller holds nn->lock. */
static unsigned int natnow_live_gens(struct natnow_net *nn)
{
	const struct natnow_state *st = rcu_dereference_protected(nn->state,
								  lockdep_is_held(&nn->lock));
	unsigned int i, n = 0;

	for (i = 0; st && i < st->ngen; i++)
		n += time_before(jiffies, st->gen[i]->expires);
	return n;
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

/* The longest a never replied entry of any protocol lives without a packet, in jiffies. */
static unsigned int natnow_any_proto_ttl(struct net *net)
{
	static const int all[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6, -1 };
	unsigned int i, ttl = 0;

	for (i = 0; i < ARRAY_SIZE(all); i++)
		ttl = max(ttl, natnow_proto_ttl(net, all[i]));
	return ttl;
}

/*
 * The longest time a never replied entry of the armed protocols lives
 * without a packet: a stale flow either sends within it, and is renewed,
 * or expires by itself. In seconds.
 */
static unsigned int natnow_default_ttl(struct net *net, const struct natnow_gen *gen)
{
	unsigned int i, ttl = 1;

	for (i = 0; i < gen->nsel; i++)
		ttl = max(ttl, gen->sel[i].proto >= 0 ? natnow_proto_ttl(net, gen->sel[i].proto) :
			  natnow_any_proto_ttl(net));
	return DIV_ROUND_UP(ttl, HZ);
}

void natnow_schedule(struct natnow_net *nn)
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

/* The longest a never replied entry of any protocol lives without a packet, in seconds. */
unsigned int natnow_longest_ttl(struct net *net)
{
	return max(1U, DIV_ROUND_UP(natnow_any_proto_ttl(net), HZ));
}

/**
 * natnow_arm - arm a generation: remember the entries stale in its scopes
 * @nn: the namespace
 * @gen: the generation, taken over (freed on failure)
 *
 * Return: 0; -ENOSPC when 16 generations are armed or the stale entries
 * would exceed NATNOW_MAX_STALE (nothing is armed then); -ENOMEM.
 */
int natnow_arm(struct natnow_net *nn, struct natnow_gen *gen)
{
	struct net *net = nn->net;
	struct hlist_node *pos;
	HLIST_HEAD(offloaded);
	int err;

	mutex_lock(&nn->lock);
	if (natnow_live_gens(nn) >= NATNOW_MAX_GENS) {
		err = -ENOSPC;
		goto fail;
	}
	if (!gen->ttl)
		gen->ttl = natnow_default_ttl(net, gen);
	gen->id = ++nn->next_gen;
	gen->armed_at = jiffies;
	gen->expires = jiffies + (unsigned long)gen->ttl * HZ;
	err = natnow_walk_stale(nn, gen, gen->id, gen->expires, &gen->nstale, &offloaded);
	if (err)
		goto fail;
	hlist_for_each(pos, &offloaded)
		gen->noffloaded++;
	err = natnow_set_state(nn, true, gen);
	if (err) {
		natnow_forget_stale(nn, gen->id, false);
		natnow_put_offloaded(nn, &offloaded, false);
		goto fail;
	}
	/* the fast path never reaches the hooks: renewed now, by deleting them */
	natnow_put_offloaded(nn, &offloaded, true);
	natnow_update_active(nn);
	natnow_schedule(nn);
	mutex_unlock(&nn->lock);
	return 0;

fail:
	mutex_unlock(&nn->lock);
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

void natnow_gen_init(struct natnow_net *nn)
{
	INIT_DELAYED_WORK(&nn->expire_work, natnow_expire_work);
}

/* Ends every generation; the hooks are gone, nothing else runs. */
void natnow_gen_exit(struct natnow_net *nn)
{
	struct natnow_state *st;
	unsigned int i;

	cancel_delayed_work_sync(&nn->expire_work);
	mutex_lock(&nn->lock);
	st = rcu_dereference_protected(nn->state, lockdep_is_held(&nn->lock));
	RCU_INIT_POINTER(nn->state, NULL);
	natnow_forget_stale(nn, 0, true);
	mutex_unlock(&nn->lock);
	synchronize_rcu();
	for (i = 0; st && i < st->ngen; i++)
		natnow_gen_free(st->gen[i]);
	kfree(st);
}
