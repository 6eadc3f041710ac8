// SPDX-License-Identifier: GPL-2.0-only
/*
 * natnow - selector matching: the same fields and rules as the userspace
 * matcher (src/conntrack/flow.ts), on a conntrack entry.
 */
#include <linux/in.h>
#include <linux/slab.h>
#include <net/ipv6.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_acct.h>

#include "natnow.h"

/**
 * natnow_seen_reply - whether an entry has had a packet in the reply direction
 * @ct: the entry
 *
 * IPS_SEEN_REPLY, or reply packets in its accounting: a flowtable's fast
 * path forwards the packets of an offloaded entry without conntrack, so a
 * flow offloaded before its first answer never gets IPS_SEEN_REPLY, while
 * a flowtable with the counter flag (fw4's) counts them in the entry's
 * accounting (nf_conntrack_acct, which OpenWrt turns on).
 */
bool natnow_seen_reply(const struct nf_conn *ct)
{
	const struct nf_conn_acct *acct;

	if (test_bit(IPS_SEEN_REPLY_BIT, &ct->status))
		return true;
	acct = nf_conn_acct_find(ct);
	return acct && atomic64_read(&acct->counter[IP_CT_DIR_REPLY].packets);
}

static bool prefix_has(const struct natnow_prefix *p,
		       const union nf_inet_addr *a, u8 family)
{
	if (family == NFPROTO_IPV4)
		return ((a->ip ^ p->addr.ip) & p->mask.ip) == 0;
	return ipv6_masked_addr_cmp(&a->in6, &p->mask.in6, &p->addr.in6) == 0;
}

static bool plist_has(const struct natnow_plist *l,
		      const union nf_inet_addr *a, u8 family)
{
	unsigned int i;

	for (i = 0; i < l->n; i++)
		if (prefix_has(&l->v[i], a, family))
			return true;
	return false;
}

static bool addr_ok(const struct natnow_plist l[2],
		    const union nf_inet_addr *a, u8 family)
{
	if (l[0].n && !plist_has(&l[0], a, family))
		return false;
	return !plist_has(&l[1], a, family);
}

static bool rlist_has(const struct natnow_rlist *l, u16 port)
{
	unsigned int i;

	for (i = 0; i < l->n; i++)
		if (port >= l->v[i].min && port <= l->v[i].max)
			return true;
	return false;
}

/* A flow without ports fails any positive port list. */
static bool port_ok(const struct natnow_rlist l[2], bool has_ports, __be16 p)
{
	if (!has_ports)
		return l[0].n == 0;
	if (l[0].n && !rlist_has(&l[0], ntohs(p)))
		return false;
	return !rlist_has(&l[1], ntohs(p));
}

static bool proto_has_ports(u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP:
	case IPPROTO_DCCP:
		return true;
	default:
		return false;
	}
}

static bool tri_ok(s8 want, bool have)
{
	return want < 0 || want == (s8)have;
}

bool natnow_sel_match(const struct natnow_sel *sel, const struct nf_conn *ct)
{
	const struct nf_conntrack_tuple *o = &ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple;
	const struct nf_conntrack_tuple *r = &ct->tuplehash[IP_CT_DIR_REPLY].tuple;
	u8 proto = nf_ct_protonum(ct);
	bool ports = proto_has_ports(proto);

	if (nf_ct_l3num(ct) != sel->family)
		return false;
	if (sel->proto >= 0 && sel->proto != proto)
		return false;
	if (!tri_ok(sel->replied, natnow_seen_reply(ct)) ||
	    !tri_ok(sel->dnat, test_bit(IPS_DST_NAT_BIT, &ct->status)) ||
	    !tri_ok(sel->snat, test_bit(IPS_SRC_NAT_BIT, &ct->status)))
		return false;
	return addr_ok(sel->addr[NATNOW_ORIG_SRC], &o->src.u3, sel->family) &&
	       addr_ok(sel->addr[NATNOW_ORIG_DST], &o->dst.u3, sel->family) &&
	       addr_ok(sel->addr[NATNOW_REPLY_SRC], &r->src.u3, sel->family) &&
	       addr_ok(sel->addr[NATNOW_REPLY_DST], &r->dst.u3, sel->family) &&
	       port_ok(sel->port[NATNOW_ORIG_SRC], ports, o->src.u.all) &&
	       port_ok(sel->port[NATNOW_ORIG_DST], ports, o->dst.u.all) &&
	       port_ok(sel->port[NATNOW_REPLY_SRC], ports, r->src.u.all) &&
	       port_ok(sel->port[NATNOW_REPLY_DST], ports, r->dst.u.all);
}
