// SPDX-License-Identifier: GPL-2.0-only
/*
 * natnow - kill, and the holds it leaves.
 *
 * kill walks the conntrack table in the kernel (nf_ct_iterate_cleanup_net)
 * and deletes the entries of a selector. Each deleted entry leaves a hold:
 * for a short while, a new entry whose original tuple is the deleted
 * entry's reply tuple is refused, so the old peer cannot re-create a
 * reversed entry that pins the client again (through masquerade it would
 * map exactly onto the client's tuple). Each new entry with the deleted
 * entry's own original tuple (its client still sending) extends the hold:
 * when the router rejects the client's packets (fw4's wan input), the
 * client's entries are never confirmed and cannot claim the tuple back.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/jhash.h>
#include <linux/slab.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_zones.h>

#include "natnow.h"
#include "natnow_compat.h"

/*
 * A killed flow's tuples, hashed by each; it lives until @expires, which
 * each new entry of @orig moves @period further.
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

u32 natnow_tuple_hash(const struct nf_conntrack_tuple *t)
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
unsigned int natnow_check_hold(struct natnow_net *nn, struct nf_conn *ct)
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
	if (k.hold)
		natnow_force_active(nn);	/* holds are checked from their first packet on */
	natnow_ct_iterate(nn->net, natnow_kill_iter, &k);
	atomic64_add(k.matched, &nn->killed);
	natnow_update_active(nn);
	natnow_schedule(nn);
	mutex_unlock(&nn->lock);
	return k.matched;
}

void natnow_expire_holds(struct natnow_net *nn, bool all)
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

void natnow_holds_init(struct natnow_net *nn)
{
	spin_lock_init(&nn->hold_lock);
	hash_init(nn->holds_reply);
	hash_init(nn->holds_orig);
}
