// SPDX-License-Identifier: GPL-2.0-only
/*
 * natnow - the entries an arm's walk found stale (natnow_gen.c), for the
 * hooks (natnow_core.c).
 *
 * A walk of the conntrack table (nf_ct_iterate_cleanup_net, deleting
 * nothing) remembers the entries that are stale at that moment: confirmed,
 * never replied, in the default zone, inside the arm's scopes. Each is renewed once, on its next packet, and forgotten.
 * Entries made after the walk are never remembered: they were made under
 * the current NAT rules. No conntrack timestamps are needed (OpenWrt's
 * kernels are built without CONFIG_NF_CONNTRACK_TIMESTAMP).
 *
 * A stale entry in an arm's scopes that a flowtable has offloaded
 * (IPS_OFFLOAD) is not remembered: its packets take the flowtable's ingress
 * fast path and never reach the hooks. The arm deletes it instead, once it
 * has succeeded (natnow_put_offloaded): a dying entry misses the fast path
 * at once (flow_offload_lookup), so the next packet takes the slow path,
 * gets a new entry and the nat chains translate it.
 *
 * A remembered entry is known by its address and a hash of both its
 * tuples as the walk saw them. An entry that was freed and whose memory was
 * reused for a new entry of the same tuples is taken for the old one; it
 * translates exactly as the old one did, so renewing it changes nothing.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/jhash.h>
#include <linux/slab.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_zones.h>

#include "natnow.h"
#include "natnow_compat.h"

/* An offloaded entry an arm found stale: deleted when the arm succeeds. */
struct natnow_offloaded {
	struct hlist_node node;
	struct nf_conn *ct;		/* a reference of the walk's */
};

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

/* Whether @ct was found stale by an arm (@change false) or by the last change; forgets it. */
static bool natnow_take(struct natnow_net *nn, const struct nf_conn *ct, bool change)
{
	struct natnow_stale *s, *gone[NATNOW_MAX_GENS + 1];
	unsigned int i, ngone = 0;
	struct hlist_node *tmp;
	bool live = false, hashed = false;
	u32 tuples = 0;

	if (!atomic_read(&nn->nstale))
		return false;
	spin_lock_bh(&nn->stale_lock);
	hash_for_each_possible_safe(nn->stale, s, tmp, node, (unsigned long)ct) {
		if (s->ct != ct || (s->gen == NATNOW_CHANGE_GEN) != change || ngone == ARRAY_SIZE(gone))
			continue;
		/* the tuples are hashed only for an entry whose address was remembered */
		if (!hashed) {
			tuples = natnow_ct_tuples(ct);
			hashed = true;
		}
		if (s->tuples != tuples)
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
	return natnow_take(nn, ct, false);
}

/* Whether @ct was stale at the last ruleset change (natnow_watch.c); forgets it. */
bool natnow_take_changed(struct natnow_net *nn, const struct nf_conn *ct)
{
	return natnow_take(nn, ct, true);
}

/* Forgets the entries found by generation @id (every entry when @all), and those expired. */
void natnow_forget_stale(struct natnow_net *nn, unsigned int id, bool all)
{
	struct natnow_stale *s;
	struct hlist_node *tmp;
	HLIST_HEAD(gone);
	unsigned int b;

	spin_lock_bh(&nn->stale_lock);
	hash_for_each_safe(nn->stale, b, tmp, s, node) {
		if (!all && s->gen != id && time_before(jiffies, s->expires))
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
	const struct natnow_gen *gen;	/* NULL: every stale entry (a change) */
	unsigned int id;
	unsigned long expires;
	struct hlist_head found;
	struct hlist_head *offloaded;	/* NULL: none are collected (a change) */
	unsigned int room;
	unsigned int n;
	unsigned int noffloaded;
	int err;
};

/* Keeps a reference to an offloaded stale entry, for natnow_put_offloaded(). */
static void natnow_walk_offloaded(struct natnow_walk *w, struct nf_conn *ct)
{
	struct natnow_offloaded *o;

	o = kmalloc(sizeof(*o), GFP_ATOMIC);
	if (!o) {
		w->err = -ENOMEM;
		return;
	}
	/* under the bucket lock, as nf_ct_iterate_cleanup() takes its own */
	nf_conntrack_get(&ct->ct_general);
	o->ct = ct;
	hlist_add_head(&o->node, w->offloaded);
	w->noffloaded++;
}

/* nf_ct_iterate_cleanup_net() callback, under a bucket lock: never deletes. */
static int natnow_walk_iter(struct nf_conn *ct, void *data)
{
	struct natnow_walk *w = data;
	struct natnow_stale *s;
	unsigned int i;

	if (w->err || !nf_ct_is_confirmed(ct) || natnow_seen_reply(ct) ||
	    nf_ct_zone(ct)->id != NF_CT_DEFAULT_ZONE_ID)
		return 0;
	for (i = 0; w->gen && i < w->gen->nsel; i++)
		if (natnow_sel_match(&w->gen->sel[i], ct))
			break;
	if (w->gen && i == w->gen->nsel)
		return 0;
	if (w->n + w->noffloaded == w->room) {
		w->err = -ENOSPC;
		return 0;
	}
	if (w->offloaded && test_bit(IPS_OFFLOAD_BIT, &ct->status)) {
		natnow_walk_offloaded(w, ct);
		return 0;
	}
	s = kmalloc(sizeof(*s), GFP_ATOMIC);
	if (!s) {
		w->err = -ENOMEM;
		return 0;
	}
	s->ct = ct;
	s->tuples = natnow_ct_tuples(ct);
	s->gen = w->id;
	s->expires = w->expires;
	hlist_add_head(&s->node, &w->found);
	w->n++;
	return 0;
}

/* Adds what a walk found to the remembered entries. */
static void natnow_remember(struct natnow_net *nn, struct natnow_walk *w)
{
	struct natnow_stale *s;
	struct hlist_node *tmp;

	spin_lock_bh(&nn->stale_lock);
	hlist_for_each_entry_safe(s, tmp, &w->found, node) {
		hlist_del(&s->node);
		hash_add(nn->stale, &s->node, (unsigned long)s->ct);
	}
	atomic_add(w->n, &nn->nstale);
	spin_unlock_bh(&nn->stale_lock);
}

/**
 * natnow_put_offloaded - delete (or only let go of) what a walk collected
 * @nn: the namespace
 * @offloaded: the offloaded stale entries natnow_walk_stale() collected
 * @kill: delete them
 *
 * Each deleted entry's next packet misses the flowtable (its entry is
 * dying) and takes the slow path, where it gets a new entry.
 *
 * Return: how many were deleted.
 */
unsigned int natnow_put_offloaded(struct natnow_net *nn, struct hlist_head *offloaded,
				  bool kill)
{
	struct natnow_offloaded *o;
	struct hlist_node *tmp;
	unsigned int n = 0;

	hlist_for_each_entry_safe(o, tmp, offloaded, node) {
		if (kill && nf_ct_kill(o->ct))
			n++;
		nf_ct_put(o->ct);
		hlist_del(&o->node);
		kfree(o);
	}
	if (n)
		atomic64_add(n, &nn->offload_renewed);
	return n;
}

/**
 * natnow_walk_stale - walk the table and remember the entries stale now
 * @nn: the namespace; caller holds nn->lock
 * @gen: only those inside its scopes; NULL: every stale entry
 * @id: the tag they are remembered with (a generation's id, NATNOW_CHANGE_GEN)
 * @expires: when they are forgotten (jiffies)
 * @found: set to how many were remembered
 * @offloaded: NULL, or where the stale entries that are offloaded are
 *	collected instead of remembered, referenced, for natnow_put_offloaded()
 *
 * Return: 0; -ENOSPC when they would exceed NATNOW_MAX_STALE (for a change,
 * the first ones found are kept; for an arm, none); -ENOMEM (none kept).
 * Nothing is collected on failure.
 */
int natnow_walk_stale(struct natnow_net *nn, const struct natnow_gen *gen,
		      unsigned int id, unsigned long expires, unsigned int *found,
		      struct hlist_head *offloaded)
{
	struct natnow_walk w = {
		.gen		= gen,
		.id		= id,
		.expires	= expires,
		.offloaded	= offloaded,
	};
	struct natnow_stale *s;
	struct hlist_node *tmp;

	INIT_HLIST_HEAD(&w.found);
	w.room = NATNOW_MAX_STALE - min_t(unsigned int, NATNOW_MAX_STALE, atomic_read(&nn->nstale));
	natnow_ct_iterate(nn->net, natnow_walk_iter, &w);
	if (w.err == -ENOMEM || (w.err && gen)) {
		hlist_for_each_entry_safe(s, tmp, &w.found, node)
			kfree(s);
		if (offloaded)
			natnow_put_offloaded(nn, offloaded, false);
		*found = 0;
		return w.err;
	}
	natnow_remember(nn, &w);
	*found = w.n;
	return w.err;
}

void natnow_stale_init(struct natnow_net *nn)
{
	spin_lock_init(&nn->stale_lock);
	hash_init(nn->stale);
}
