// SPDX-License-Identifier: GPL-2.0-only
/*
 * xt_NATNOW - the original form of natnow as an xtables target: in the
 * mangle table (PREROUTING or OUTPUT), renew the never replied flows of the
 * matched packets, so the nat chains evaluate this very packet again.
 *
 *   iptables -t mangle -A PREROUTING -p udp --dport 5060 -j NATNOW
 *
 * An entry is renewed when it was confirmed, and never replied, before the
 * last change of the ruleset in its namespace (natnow_watch.c learns those
 * from nf_tables; the rule's own insertion is one), once. So a rule put in
 * place for good, or behind a match switched on after the change
 * (`-m condition`), renews the flows a NAT change concerns. No conntrack
 * timestamps are used.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/netfilter/x_tables.h>
#include <linux/skbuff.h>
#include <net/netfilter/nf_conntrack.h>

#include "natnow.h"
#include "xt_NATNOW.h"

static unsigned int natnow_tg(struct sk_buff *skb, const struct xt_action_param *par)
{
	if (natnow_renew_skb(skb, par->state) != NF_ACCEPT)
		return NF_DROP;
	return XT_CONTINUE;
}

static int natnow_tg_check(const struct xt_tgchk_param *par)
{
	const struct xt_natnow_tginfo *info = par->targinfo;
	int err;

	if (info->flags) {
		pr_info_ratelimited("unknown flags %#x\n", info->flags);
		return -EINVAL;
	}
	err = nf_ct_netns_get(par->net, par->family);
	if (err)
		return err;
	natnow_watch_get(par->net);
	return 0;
}

static void natnow_tg_destroy(const struct xt_tgdtor_param *par)
{
	natnow_watch_put(par->net);
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
