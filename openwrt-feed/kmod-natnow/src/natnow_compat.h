/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * natnow - compatibility with the kernels OpenWrt ships: 5.15 (23.05),
 * 6.6 (24.10), 6.12 (25.12), and 6.1 and 6.18. Every difference natnow
 * meets is handled here and nowhere else. Kbuild detects features in the
 * kernel's headers (see Kbuild) rather than comparing versions.
 *
 * The rest of the API the module uses is the same from 5.15 to 6.18:
 * nf_conntrack_in(skb, state), nf_ct_kill(), nf_conntrack_get(),
 * nf_ct_put(), IPS_OFFLOAD_BIT (4.16), nf_ct_zone_id(),
 * nf_{tcp,udp,icmp,icmpv6,generic}_pernet(), nf_register_net_hooks(),
 * proc_create_net_single_write() and the static keys. The tests build it
 * against Debian's 6.1 and 6.12 headers; 5.15 and 6.6 are not built here.
 */
#ifndef _NATNOW_COMPAT_H
#define _NATNOW_COMPAT_H

#include <net/netfilter/nf_conntrack.h>

/*
 * nf_ct_iterate_cleanup_net() takes its arguments in a struct since 5.19
 * ("netfilter: conntrack: add nf_ct_iter_data object for
 * nf_ct_iterate_cleanup*"); 5.15 takes them one by one.
 */
static inline void natnow_ct_iterate(struct net *net,
				     int (*iter)(struct nf_conn *ct, void *data),
				     void *data)
{
#ifdef NATNOW_HAVE_CT_ITER_DATA
	struct nf_ct_iter_data d = {
		.net	= net,
		.data	= data,
	};

	nf_ct_iterate_cleanup_net(iter, &d);
#else
	nf_ct_iterate_cleanup_net(net, iter, data, 0, 0);
#endif
}

#endif /* _NATNOW_COMPAT_H */
