// SPDX-License-Identifier: GPL-2.0-only
/*
 * libxt_NATNOW - iptables/ip6tables extension for the NATNOW target:
 * renew, once, the matched packets' conntrack entries that were never
 * replied before the last ruleset change, so NAT rules changed since apply
 * to them now. It has no options.
 *
 *   iptables -t mangle -A PREROUTING -p udp --dport 5060 -j NATNOW
 */
#include <stddef.h>
#include <stdio.h>
#include <xtables.h>

#include <linux/netfilter/xt_NATNOW.h>

static void natnow_tg_help(void)
{
	printf("NATNOW target takes no options.\n"
	       "Renews matched flows that never saw a reply, so the nat table\n"
	       "evaluates them again (use in the mangle table, PREROUTING or OUTPUT).\n");
}

static struct xtables_target natnow_tg_reg = {
	.family		= NFPROTO_UNSPEC,
	.name		= "NATNOW",
	.version	= XTABLES_VERSION,
	.revision	= 0,
	.size		= XT_ALIGN(sizeof(struct xt_natnow_tginfo)),
	.userspacesize	= offsetof(struct xt_natnow_tginfo, since),
	.help		= natnow_tg_help,
};

static void __attribute__((constructor)) natnow_tg_ldr(void)
{
	xtables_register_target(&natnow_tg_reg);
}
