// SPDX-License-Identifier: GPL-2.0-only
/*
 * natnow - generations of renew scopes.
 *
 * An arm walks the conntrack table once, as kill does, and remembers the
 * entries that are stale at that moment: confirmed, never replied, in the
 * default zone, inside one of the arm's scopes. The hooks (natnow_core.c)
 * renew exactly those, each on its next packet in the original direction,
 * and forget it. Entries made after the arm are never renewed by it: they
 * were made under the current NAT rules. No conntrack timestamps are
 * needed (OpenWrt's kernels are built without CONFIG_NF_CONNTRACK_TIMESTAMP).
 *
 * A remembered entry is known by its address and a hash of both its
 * tuples as the arm saw them. An entry that was freed and whose memory was
 * reused for a new entry of the same tuples is taken for the old one; it
 * translates exactly as the old one did, so renewing it changes nothing.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/jhash.h>
#include <linux/slab.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_l4proto.h>
#include <net/netfilter/nf_conntrack_zones.h>

#include "natnow.h"
#include "natnow_compat.h"

/* An entry an arm found stale. */
struct natnow_stale {
	struct hlist_node node;
	const struct nf_conn *ct;	/* compared, never dereferenced */
	u32 tuples;			/* natnow_ct_tuples() at the arm */
	unsigned int gen;
	unsigned long expires;		/* the generation's */
};

static u32 natnow_ct_tuples(const struct nf_conn *ct)
{
	return jhash_2words(natnow_tuple_hash(&ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple),
			    natnow_tuple_hash(&ct->tuplehash[IP_CT_DIR_REPLY].tuple), 0);
}

/**
 * natnow_take_stale - whether an arm found @ct stale; forgets it
 * @nn: its namespace
 * @ct: a confirmed entry
 *
 * Called from the hooks for each packet in the original direction of a
 * confirmed, never replied entry while something is armed.
 */
bool natnow_take_stale(struct natnow_net *nn, const struct nf_conn *ct)
{
	struct natnow_stale *s, *gone[NATNOW_MAX_GENS];
	unsigned int i, ngone = 0;
	struct hlist_node *tmp;
	bool live = false;
	u32 tuples;

	if (!atomic_read(&nn->nstale))
		return false;
	tuples = natnow_ct_tuples(ct);
	spin_lock_bh(&nn->stale_lock);
	hash_for_each_possible_safe(nn->stale, s, tmp, node, (unsigned long)ct) {
		if (s->ct != ct || s->tuples != tuples || ngone == NATNOW_MAX_GENS)
			continue;
		/* several generations may have found it: renewed once, forgotten by all */
		live |= time_before(jiffies, s->expires);
		hash_del(&s->node);
		atomic_dec(&nn->nstale);
		gone[ngone++] = s;
	}
	spin_unlock_bh(&nn->stale_lock);
	for (i = 0; i < ngone; i++)
		kfree(gone[i]);
	return live;
}

/* Forgets the entries of generation @id (0: of every generation), and those expired. */
static void natnow_forget_stale(struct natnow_net *nn, unsigned int id)
{
	struct natnow_stale *s;
	struct hlist_node *tmp;
	HLIST_HEAD(gone);
	unsigned int b;

	spin_lock_bh(&nn->stale_lock);
	hash_for_each_safe(nn->stale, b, tmp, s, node) {
		if (id && s->gen != id && time_before(jiffies, s->expires))
			continue;
		hash_del(&s->node);
		atomic_dec(&nn->nstale);
		hlist_add_head(&s->node, &gone);
	}
	spin_unlock_bh(&nn->stale_lock);
	hlist_for_each_entry_safe(s, tmp, &gone, node)
		kfree(s);
}

struct natnow_walk {
	const struct natnow_gen *gen;
	struct hlist_head found;
	unsigned int room;
	unsigned int n;
	int err;
};

/* nf_ct_iterate_cleanup_net() callback, under a bucket lock: never deletes. */
static int natnow_walk_iter(struct nf_conn *ct, void *data)
{
	struct natnow_walk *w = data;
	struct natnow_stale *s;
	unsigned int i;

	if (w->err || !nf_ct_is_confirmed(ct) ||
	    test_bit(IPS_SEEN_REPLY_BIT, &ct->status) ||
	    nf_ct_zone(ct)->id != NF_CT_DEFAULT_ZONE_ID)
		return 0;
	for (i = 0; i < w->gen->nsel; i++)
		if (natnow_sel_match(&w->gen->sel[i], ct))
			break;
	if (i == w->gen->nsel)
		return 0;
	if (w->n == w->room) {
		w->err = -ENOSPC;
		return 0;
	}
	s = kmalloc(sizeof(*s), GFP_ATOMIC);
	if (!s) {
		w->err = -ENOMEM;
		return 0;
	}
	s->ct = ct;
	s->tuples = natnow_ct_tuples(ct);
	s->gen = w->gen->id;
	s->expires = w->gen->expires;
	hlist_add_head(&s->node, &w->found);
	w->n++;
	return 0;
}

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
	synchronize_rcu();
	kfree(old);
	for (i = 0; i < ndrop; i++) {
		natnow_forget_stale(nn, drop[i]->id);
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

/*
 * The longest time a never replied entry of the armed protocols lives
 * without a packet: a stale flow either sends within it, and is renewed,
 * or expires by itself. In seconds.
 */
static unsigned int natnow_default_ttl(struct net *net, const struct natnow_gen *gen)
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
	struct natnow_walk w = { .gen = gen };
	struct net *net = nn->net;
	struct natnow_stale *s;
	struct hlist_node *tmp;
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
	INIT_HLIST_HEAD(&w.found);
	w.room = NATNOW_MAX_STALE - min_t(unsigned int, NATNOW_MAX_STALE, atomic_read(&nn->nstale));
	natnow_ct_iterate(net, natnow_walk_iter, &w);
	err = w.err;
	if (err) {
		hlist_for_each_entry_safe(s, tmp, &w.found, node)
			kfree(s);
		goto fail;
	}
	gen->nstale = w.n;
	spin_lock_bh(&nn->stale_lock);
	hlist_for_each_entry_safe(s, tmp, &w.found, node) {
		hlist_del(&s->node);
		hash_add(nn->stale, &s->node, (unsigned long)s->ct);
	}
	atomic_add(w.n, &nn->nstale);
	spin_unlock_bh(&nn->stale_lock);
	err = natnow_set_state(nn, true, gen);
	if (err) {
		natnow_forget_stale(nn, gen->id);
		goto fail;
	}
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
	spin_lock_init(&nn->stale_lock);
	hash_init(nn->stale);
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
	natnow_forget_stale(nn, 0);
	mutex_unlock(&nn->lock);
	synchronize_rcu();
	for (i = 0; st && i < st->ngen; i++)
		natnow_gen_free(st->gen[i]);
	kfree(st);
}
