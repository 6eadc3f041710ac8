// SPDX-License-Identifier: GPL-2.0-only
/*
 * natnow - watching a namespace's ruleset for the NATNOW target.
 *
 * The target renews an entry that was confirmed, and never replied, before
 * the last change of the ruleset in its namespace. While at least one
 * NATNOW rule exists there, natnow listens to nf_tables' notifications
 * (NFNLGRP_NFTABLES, as `nft monitor` does, with a kernel netlink socket):
 * each commit, iptables-nft's included, makes it walk the table once and
 * remember the entries that are stale at that moment (natnow_gen.c, tagged
 * as the change's). The target renews those, each once, on its next packet
 * that reaches the rule. The rule's own insertion is a commit too, so the
 * entries older than the rule are stale as well. With iptables-legacy only
 * the rule's insertion is seen.
 *
 * nf_tables only builds notifications while someone listens, so while a
 * NATNOW rule exists each commit costs that, and one walk of the table.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/skbuff.h>
#include <net/net_namespace.h>
#include <net/sock.h>

#include "natnow.h"

/**
 * natnow_mark_changed - the ruleset changed: remember what is stale now
 * @nn: the namespace
 *
 * Replaces what the last change remembered by the entries that are
 * confirmed and never replied now (all of them, up to NATNOW_MAX_STALE).
 */
static void natnow_mark_changed(struct natnow_net *nn)
{
	unsigned long expires = jiffies + (unsigned long)natnow_longest_ttl(nn->net) * HZ;
	unsigned int found;

	mutex_lock(&nn->lock);
	natnow_forget_stale(nn, NATNOW_CHANGE_GEN, false);
	/* with more stale entries than room, the first ones found are kept */
	if (natnow_walk_stale(nn, NULL, NATNOW_CHANGE_GEN, expires, &found, NULL) != -ENOMEM)
		nn->changes++;
	mutex_unlock(&nn->lock);
}

/* The NATNOW rules are gone: forget what the changes remembered. */
static void natnow_forget_changed(struct natnow_net *nn)
{
	mutex_lock(&nn->lock);
	natnow_forget_stale(nn, NATNOW_CHANGE_GEN, false);
	mutex_unlock(&nn->lock);
}

/* A commit was notified: walk later, in process context. */
static void natnow_watch_ready(struct sock *sk)
{
	struct natnow_net *nn;

	read_lock_bh(&sk->sk_callback_lock);
	nn = sk->sk_user_data;
	if (nn)
		queue_work(system_unbound_wq, &nn->watch_work);
	read_unlock_bh(&sk->sk_callback_lock);
}

/* Stops listening; caller holds nn->watch_lock. */
static void natnow_watch_stop(struct natnow_net *nn)
{
	struct socket *sock = nn->watch_sock;

	if (!sock)
		return;
	write_lock_bh(&sock->sk->sk_callback_lock);
	sock->sk->sk_user_data = NULL;
	write_unlock_bh(&sock->sk->sk_callback_lock);
	nn->watch_sock = NULL;
	sock_release(sock);
}

static void natnow_watch_work(struct work_struct *work)
{
	struct natnow_net *nn = container_of(work, struct natnow_net, watch_work);
	struct socket *sock;
	int err;

	mutex_lock(&nn->watch_lock);
	if (!nn->watchers) {
		/*
		 * The last rule is gone. Its destroy runs in nf_tables' own work,
		 * where releasing a NETLINK_NETFILTER socket would wait for the
		 * commit mutex (nft_rcv_nl_event) that a closing iptables holds
		 * while it flushes that work: release it here instead.
		 */
		natnow_watch_stop(nn);
		mutex_unlock(&nn->watch_lock);
		natnow_forget_changed(nn);
		return;
	}
	sock = nn->watch_sock;
	if (!sock) {
		struct sockaddr_nl addr = {
			.nl_family	= AF_NETLINK,
			.nl_groups	= 1U << (NFNLGRP_NFTABLES - 1),
		};

		err = sock_create_kern(nn->net, AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER, &sock);
		if (!err)
			err = kernel_bind(sock, (struct sockaddr *)&addr, sizeof(addr));
		if (err) {
			if (sock)
				sock_release(sock);
			pr_warn_ratelimited("cannot follow nf_tables commits: %d\n", err);
			sock = NULL;
		} else {
			write_lock_bh(&sock->sk->sk_callback_lock);
			sock->sk->sk_user_data = nn;
			sock->sk->sk_data_ready = natnow_watch_ready;
			write_unlock_bh(&sock->sk->sk_callback_lock);
			nn->watch_sock = sock;
		}
	}
	/* only that something was committed counts */
	if (sock)
		skb_queue_purge(&sock->sk->sk_receive_queue);
	mutex_unlock(&nn->watch_lock);
	natnow_mark_changed(nn);
}

/**
 * natnow_watch_get - a NATNOW rule was added in @net
 * @net: its namespace
 *
 * The first one starts the listening (in a work item, which also takes the
 * first walk: the rule's insertion is a change).
 */
void natnow_watch_get(struct net *net)
{
	struct natnow_net *nn = natnow_pernet(net);

	mutex_lock(&nn->watch_lock);
	nn->watchers++;
	mutex_unlock(&nn->watch_lock);
	queue_work(system_unbound_wq, &nn->watch_work);
}
EXPORT_SYMBOL_GPL(natnow_watch_get);

/**
 * natnow_watch_put - a NATNOW rule was removed from @net
 * @net: its namespace
 *
 * After the last one, the work stops the listening and forgets the
 * change's stale entries.
 */
void natnow_watch_put(struct net *net)
{
	struct natnow_net *nn = natnow_pernet(net);

	mutex_lock(&nn->watch_lock);
	if (nn->watchers && !--nn->watchers)
		queue_work(system_unbound_wq, &nn->watch_work);
	mutex_unlock(&nn->watch_lock);
}
EXPORT_SYMBOL_GPL(natnow_watch_put);

void natnow_watch_init(struct natnow_net *nn)
{
	mutex_init(&nn->watch_lock);
	INIT_WORK(&nn->watch_work, natnow_watch_work);
}

void natnow_watch_exit(struct natnow_net *nn)
{
	mutex_lock(&nn->watch_lock);
	nn->watchers = 0;
	natnow_watch_stop(nn);
	mutex_unlock(&nn->watch_lock);
	cancel_work_sync(&nn->watch_work);
}
