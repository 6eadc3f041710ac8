// SPDX-License-Identifier: GPL-2.0-only
/*
 * natnow - make NAT changes take effect for existing flows.
 *
 * The module: one natnow_net per network namespace, set up and torn down
 * here; the work is in natnow_core.c (hooks), natnow_gen.c (arm),
 * natnow_holds.c (kill) and natnow_ctl.c (/proc/net/natnow).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/percpu.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>

#include "natnow.h"

static unsigned int natnow_net_id __read_mostly;

struct natnow_net *natnow_pernet(const struct net *net)
{
	return net_generic(net, natnow_net_id);
}

static int __net_init natnow_net_init(struct net *net)
{
	struct natnow_net *nn = natnow_pernet(net);
	int err;

	nn->net = net;
	mutex_init(&nn->lock);
	natnow_holds_init(nn);
	natnow_stale_init(nn);
	natnow_gen_init(nn);
	natnow_watch_init(nn);
	nn->stats = alloc_percpu(struct natnow_stats);
	if (!nn->stats)
		return -ENOMEM;
	err = natnow_core_init(net);
	if (err)
		goto free_stats;
	err = natnow_ctl_init(net);
	if (err)
		goto core_exit;
	return 0;

core_exit:
	natnow_core_exit(net);
free_stats:
	free_percpu(nn->stats);
	return err;
}

static void __net_exit natnow_net_exit(struct net *net)
{
	struct natnow_net *nn = natnow_pernet(net);

	natnow_ctl_exit(net);
	natnow_watch_exit(nn);
	natnow_core_exit(net);
	natnow_gen_exit(nn);
	mutex_lock(&nn->lock);
	natnow_expire_holds(nn, true);
	natnow_update_active(nn);	/* nothing armed or held: drops the static key */
	mutex_unlock(&nn->lock);
	free_percpu(nn->stats);
}

static struct pernet_operations natnow_net_ops = {
	.init	= natnow_net_init,
	.exit	= natnow_net_exit,
	.id	= &natnow_net_id,
	.size	= sizeof(struct natnow_net),
};

static int __init natnow_init(void)
{
	int err = register_pernet_subsys(&natnow_net_ops);

	if (err)
		pr_err("cannot register: %d\n", err);
	return err;
}

static void __exit natnow_exit(void)
{
	unregister_pernet_subsys(&natnow_net_ops);
}

module_init(natnow_init);
module_exit(natnow_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("natnow developers");
MODULE_DESCRIPTION("natnow: make NAT changes take effect for existing flows");
MODULE_SOFTDEP("pre: nf_conntrack");
