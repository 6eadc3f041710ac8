// SPDX-License-Identifier: GPL-2.0-only
/*
 * xt_NATNOW - the original form of natnow as an xtables target: in the
 * mangle table (PREROUTING or OUTPUT), renew the never replied flows of the
 * matched packets, so the nat chains evaluate this very packet again.
 *
 *   iptables -t mangle -A PREROUTING -p udp --dport 5060 -j NATNOW
 *
 * An entry is renewed once: only entries confirmed before the rule was
 * inserted count as stale, like entries confirmed before an arm.
 */
#include <linux/module.h>
#include <linux/netfilter/x_tables.h>
#include <linux/skbuff.h>
#include <linux/timekeeping.h>
#include <net/netfilter/nf_conntrack.h>

#include "natnow.h"
#include "xt_NATNOW.h"

static unsigned int natnow_tg(struct sk_buff *skb, const struct xt_action_param *par)
{
	const struct xt_natnow_tginfo *info = par->targinfo;

	if (natnow_renew_skb(skb, par->state, info->since) != NF_ACCEPT)
		return NF_DROP;
	return XT_CONTINUE;
}

static int natnow_tg_check(const struct xt_tgchk_param *par)
{
	struct xt_natnow_tginfo *info = par->targinfo;
	struct net *net = par->net;

	if (info->flags) {
		pr_info_ratelimited("NATNOW: unknown flags %#x\n", info->flags);
		return -EINVAL;
	}
	if (!IS_ENABLED(CONFIG_NF_CONNTRACK_TIMESTAMP)) {
		pr_info_ratelimited("NATNOW: needs a kernel with CONFIG_NF_CONNTRACK_TIMESTAMP\n");
		return -EOPNOTSUPP;
	}
	if (!READ_ONCE(net->ct.sysctl_tstamp)) {
		/* "confirmed before the rule" needs entry timestamps */
		WRITE_ONCE(net->ct.sysctl_tstamp, 1);
	}
	info->since = ktime_get_real_ns();
	return nf_ct_netns_get(par->net, par->family);
}

static void natnow_tg_destroy(const struct xt_tgdtor_param *par)
{
	nf_ct_netns_put(par->net, par->family);
}

static struct xt_target natnow_tg_reg[] __read_mostly = {
	{
		.name		= "NATNOW",
		.revision	= 0,
		.family		= NFPROTO_IPV4,
		.table		= "mangle",
		.hooks		= (1 << NF_INET_PRE_ROUTING) | (1 << NF_INET_LOCAL_OUT),
		.target		= natnow_tg,
		.checkentry	= natnow_tg_check,
		.destroy	= natnow_tg_destroy,
		.targetsize	= sizeof(struct xt_natnow_tginfo),
		.usersize	= offsetof(struct xt_natnow_tginfo, since),
		.me		= THIS_MODULE,
	},
	{
		.name		= "NATNOW",
		.revision	= 0,
		.family		= NFPROTO_IPV6,
		.table		= "mangle",
		.hooks		= (1 << NF_INET_PRE_ROUTING) | (1 << NF_INET_LOCAL_OUT),
		.target		= natnow_tg,
		.checkentry	= natnow_tg_check,
		.destroy	= natnow_tg_destroy,
		.targetsize	= sizeof(struct xt_natnow_tginfo),
		.usersize	= offsetof(struct xt_natnow_tginfo, since),
		.me		= THIS_MODULE,
	},
};

static int __init natnow_tg_init(void)
{
	return xt_register_targets(natnow_tg_reg, ARRAY_SIZE(natnow_tg_reg));
}

static void __exit natnow_tg_exit(void)
{
	xt_unregister_targets(natnow_tg_reg, ARRAY_SIZE(natnow_tg_reg));
}

module_init(natnow_tg_init);
module_exit(natnow_tg_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("natnow developers");
MODULE_DESCRIPTION("Xtables: renew never replied conntrack entries so NAT applies now");
MODULE_ALIAS("ipt_NATNOW");
MODULE_ALIAS("ip6t_NATNOW");
