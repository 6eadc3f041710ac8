// SPDX-License-Identifier: GPL-2.0-only
/*
 * natnow - /proc/net/natnow, one per network namespace: reading shows the
 * state and counters, writing runs commands (natnow_parse.c parses them,
 * natnow's docs/kmod-protocol.md describes them). Writing needs
 * CAP_NET_ADMIN over the namespace; a write that does not parse whole
 * changes nothing.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/kernel.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <net/net_namespace.h>

#include "natnow.h"

static int natnow_ctl_write(struct file *file, char *buf, size_t size)
{
	struct seq_file *seq = file->private_data;
	struct net *net = seq_file_single_net(seq);
	struct natnow_net *nn = natnow_pernet(net);
	struct natnow_parse p = { .err = NULL, .line = 0 };
	struct natnow_cmd *cmds;
	unsigned int n = 0, i;
	int err;

	if (!file_ns_capable(file, net->user_ns, CAP_NET_ADMIN))
		return -EPERM;
	if (strlen(buf) != size) {
		/* a NUL byte would cut the write short into another command */
		atomic64_inc(&nn->bad_commands);
		return -EINVAL;
	}
	cmds = kcalloc(NATNOW_MAX_LINES, sizeof(*cmds), GFP_KERNEL);
	if (!cmds)
		return -ENOMEM;
	err = natnow_parse_write(buf, cmds, &n, &p);
	if (err) {
		atomic64_inc(&nn->bad_commands);
		if (err == -EINVAL && net_ratelimit())
			pr_info("rejected line %u: %s\n", p.line, p.err ? p.err : "invalid");
		goto out;
	}
	for (i = 0; i < n && !err; i++) {
		struct natnow_cmd *c = &cmds[i];

		switch (c->type) {
		case NATNOW_CMD_ARM:
			err = natnow_arm(nn, c->gen);
			c->gen = NULL;	/* taken over (or freed) by natnow_arm */
			break;
		case NATNOW_CMD_KILL:
			natnow_kill(nn, &c->sel[0], &c->sel[1], c->nsel - 1, c->hold_ms);
			break;
		case NATNOW_CMD_DISARM:
			natnow_disarm(nn);
			break;
		}
	}
out:
	for (i = 0; i < n; i++)
		natnow_cmd_free(&cmds[i]);
	kfree(cmds);
	return err ? err : (int)size;
}

static void natnow_show_list(struct seq_file *m, const char *key, u8 family,
			     const struct natnow_plist *al, const struct natnow_rlist *rl)
{
	bool first = true;
	unsigned int k, i;

	if (!(al ? al[0].n + al[1].n : rl[0].n + rl[1].n))
		return;
	seq_printf(m, " %s=", key);
	for (k = 0; k < 2; k++) {
		unsigned int n = al ? al[k].n : rl[k].n;

		for (i = 0; i < n; i++) {
			seq_printf(m, "%s%s", first ? "" : ",", k ? "!" : "");
			first = false;
			if (rl && rl[k].v[i].min == rl[k].v[i].max)
				seq_printf(m, "%u", rl[k].v[i].min);
			else if (rl)
				seq_printf(m, "%u-%u", rl[k].v[i].min, rl[k].v[i].max);
			else if (family == NFPROTO_IPV4)
				seq_printf(m, "%pI4/%u", &al[k].v[i].addr.ip, al[k].v[i].len);
			else
				seq_printf(m, "%pI6c/%u", &al[k].v[i].addr.in6, al[k].v[i].len);
		}
	}
}

static void natnow_show_sel(struct seq_file *m, const struct natnow_sel *sel)
{
	unsigned int f;

	seq_printf(m, "family=%s", sel->family == NFPROTO_IPV4 ? "ipv4" : "ipv6");
	if (sel->proto >= 0)
		seq_printf(m, " proto=%d", sel->proto);
	for (f = 0; f < NATNOW_NFIELDS; f++) {
		natnow_show_list(m, natnow_field_names[f][0], sel->family, sel->addr[f], NULL);
		natnow_show_list(m, natnow_field_names[f][1], sel->family, NULL, sel->port[f]);
	}
	if (sel->dnat >= 0)
		seq_printf(m, " dnat=%d", sel->dnat);
	if (sel->snat >= 0)
		seq_printf(m, " snat=%d", sel->snat);
	if (sel->replied >= 0)
		seq_printf(m, " replied=%d", sel->replied);
}

static int natnow_ctl_show(struct seq_file *m, void *v)
{
	struct net *net = seq_file_single_net(m);
	struct natnow_net *nn = natnow_pernet(net);
	const struct natnow_state *st;
	struct natnow_stats sum = {};
	unsigned int i, j;
	int cpu;

	for_each_possible_cpu(cpu) {
		const struct natnow_stats *s = per_cpu_ptr(nn->stats, cpu);

		sum.checked += READ_ONCE(s->checked);
		sum.renewed += READ_ONCE(s->renewed);
		sum.renew_failed += READ_ONCE(s->renew_failed);
		sum.held_drops += READ_ONCE(s->held_drops);
	}
	seq_puts(m, "natnow 1\n");
	seq_printf(m, "timestamps %s\n", READ_ONCE(net->ct.sysctl_tstamp) ? "on" : "off");
	rcu_read_lock();
	st = rcu_dereference(nn->state);
	seq_printf(m, "armed %u\n", st ? st->ngen : 0);
	for (i = 0; st && i < st->ngen; i++) {
		const struct natnow_gen *g = st->gen[i];
		long left = (long)(g->expires - jiffies);

		seq_printf(m, "gen %u age_ms=%u left_ms=%ld scopes=%u stale=%u offloaded=%u\n",
			   g->id, jiffies_to_msecs(jiffies - g->armed_at),
			   left > 0 ? (long)jiffies_to_msecs(left) : 0L, g->nsel, g->nstale,
			   g->noffloaded);
		for (j = 0; j < g->nsel; j++) {
			seq_printf(m, "scope %u ", g->id);
			natnow_show_sel(m, &g->sel[j]);
			seq_putc(m, '\n');
		}
	}
	rcu_read_unlock();
	seq_printf(m, "stale %u\n", atomic_read(&nn->nstale));
	seq_printf(m, "holds %u\n", natnow_nholds(nn));
	seq_printf(m, "checked %llu\n", sum.checked);
	seq_printf(m, "renewed %llu\n", sum.renewed);
	seq_printf(m, "offload_renewed %lld\n", (long long)atomic64_read(&nn->offload_renewed));
	seq_printf(m, "renew_failed %llu\n", sum.renew_failed);
	seq_printf(m, "killed %lld\n", (long long)atomic64_read(&nn->killed));
	seq_printf(m, "held_drops %llu\n", sum.held_drops);
	seq_printf(m, "bad_commands %lld\n", (long long)atomic64_read(&nn->bad_commands));
	return 0;
}

int natnow_ctl_init(struct net *net)
{
	if (!proc_create_net_single_write("natnow", 0600, net->proc_net,
					  natnow_ctl_show, natnow_ctl_write, NULL))
		return -ENOMEM;
	return 0;
}

void natnow_ctl_exit(struct net *net)
{
	remove_proc_entry("natnow", net->proc_net);
}
