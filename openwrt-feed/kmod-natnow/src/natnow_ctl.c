// SPDX-License-Identifier: GPL-2.0-only
/*
 * natnow - /proc/net/natnow, one per network namespace.
 *
 * Writing needs CAP_NET_ADMIN over the namespace. A write holds one command
 * per line and is parsed whole before anything is done: any unknown key,
 * bad number or overlong list makes the write fail with -EINVAL and changes
 * nothing. The protocol is described in openwrt-feed/kmod-natnow/PROTOCOL.md.
 *
 *   arm [ttl=SECONDS] SELECTOR [| SELECTOR]...
 *   kill [hold=MS] SELECTOR [except SELECTOR]...
 *   disarm
 *
 *   SELECTOR := family=ipv4|ipv6 [proto=N] [src=L] [dst=L] [sport=P]
 *               [dport=P] [reply-src=L] [reply-dst=L] [reply-sport=P]
 *               [reply-dport=P] [dnat=0|1] [snat=0|1] [replied=0|1]
 *   L := [!]ADDR[/LEN][,[!]ADDR[/LEN]]...   P := [!]N[-M][,[!]N[-M]]...
 */
#include <linux/capability.h>
#include <linux/ctype.h>
#include <linux/inet.h>
#include <linux/kernel.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <net/ipv6.h>
#include <net/net_namespace.h>

#include "natnow.h"

#define NATNOW_MAX_LINES	64

enum natnow_cmd_type {
	NATNOW_CMD_ARM,
	NATNOW_CMD_KILL,
	NATNOW_CMD_DISARM,
};

struct natnow_cmd {
	enum natnow_cmd_type type;
	struct natnow_gen *gen;		/* arm */
	struct natnow_sel *sel;		/* kill: sel[0], then the except clauses */
	unsigned int nsel;
	unsigned int hold_ms;
};

struct natnow_parse {
	const char *err;
	unsigned int line;
};

static const char * const natnow_field_names[NATNOW_NFIELDS][2] = {
	[NATNOW_ORIG_SRC]	= { "src", "sport" },
	[NATNOW_ORIG_DST]	= { "dst", "dport" },
	[NATNOW_REPLY_SRC]	= { "reply-src", "reply-sport" },
	[NATNOW_REPLY_DST]	= { "reply-dst", "reply-dport" },
};

static int natnow_bad(struct natnow_parse *p, const char *why)
{
	if (!p->err)
		p->err = why;
	return -EINVAL;
}

/* Parses an address with an optional prefix length into @out. */
static int natnow_parse_prefix(struct natnow_parse *p, const char *s, u8 family,
			       struct natnow_prefix *out)
{
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned int max = family == NFPROTO_IPV4 ? 32 : 128;
	const char *end;
	unsigned int len = max;
	int ok;

	if (!alen)
		return natnow_bad(p, "empty address");
	if (family == NFPROTO_IPV4)
		ok = in4_pton(s, alen, (u8 *)&out->addr.ip, -1, &end);
	else
		ok = in6_pton(s, alen, (u8 *)&out->addr.in6, -1, &end);
	if (!ok || end != s + alen)
		return natnow_bad(p, "bad address");
	if (slash && (kstrtouint(slash + 1, 10, &len) || len > max))
		return natnow_bad(p, "bad prefix length");
	out->len = len;
	if (family == NFPROTO_IPV4) {
		out->mask.ip = len ? htonl(~0U << (32 - len)) : 0;
		out->addr.ip &= out->mask.ip;
	} else {
		/* ipv6_addr_prefix() clears its destination first: never in place */
		struct in6_addr all = { .s6_addr32 = { ~0U, ~0U, ~0U, ~0U } };
		struct in6_addr a = out->addr.in6;

		ipv6_addr_prefix(&out->mask.in6, &all, len);
		ipv6_addr_prefix(&out->addr.in6, &a, len);
	}
	return 0;
}

static int natnow_parse_range(struct natnow_parse *p, char *s, struct natnow_range *out)
{
	char *dash = strchr(s, '-');
	u16 min, max;

	if (dash)
		*dash++ = '\0';
	if (kstrtou16(s, 10, &min))
		return natnow_bad(p, "bad port");
	max = min;
	if (dash && kstrtou16(dash, 10, &max))
		return natnow_bad(p, "bad port");
	if (min > max)
		return natnow_bad(p, "port range backwards");
	out->min = min;
	out->max = max;
	return 0;
}

/* Parses a comma separated list into the positive and negative lists of a field. */
static int natnow_parse_list(struct natnow_parse *p, char *val, u8 family,
			     struct natnow_plist *al, struct natnow_rlist *rl)
{
	unsigned int count = 1, k, n[2] = { 0, 0 };
	char *item;
	char *c;
	int err;

	if (rl ? rl[0].v || rl[1].v : al[0].v || al[1].v)
		return natnow_bad(p, "field given twice");
	for (c = val; *c; c++)
		count += *c == ',';
	if (!*val || count > NATNOW_MAX_ITEMS)
		return natnow_bad(p, "empty or overlong list");
	for (k = 0; k < 2; k++) {
		if (rl) {
			rl[k].v = kcalloc(count, sizeof(*rl[k].v), GFP_KERNEL);
			if (!rl[k].v)
				return -ENOMEM;
		} else {
			al[k].v = kcalloc(count, sizeof(*al[k].v), GFP_KERNEL);
			if (!al[k].v)
				return -ENOMEM;
		}
	}
	while ((item = strsep(&val, ",")) != NULL) {
		bool neg = *item == '!';

		if (neg)
			item++;
		if (rl)
			err = natnow_parse_range(p, item, &rl[neg].v[n[neg]]);
		else
			err = natnow_parse_prefix(p, item, family, &al[neg].v[n[neg]]);
		if (err)
			return err;
		n[neg]++;
	}
	for (k = 0; k < 2; k++) {
		if (rl)
			rl[k].n = n[k];
		else
			al[k].n = n[k];
	}
	return 0;
}

static int natnow_parse_tri(struct natnow_parse *p, const char *val, s8 *out)
{
	if (*out >= 0)
		return natnow_bad(p, "field given twice");
	if (!strcmp(val, "0"))
		*out = 0;
	else if (!strcmp(val, "1"))
		*out = 1;
	else
		return natnow_bad(p, "expected 0 or 1");
	return 0;
}

/* One key=value of a selector. */
static int natnow_parse_field(struct natnow_parse *p, struct natnow_sel *sel,
			      const char *key, char *val)
{
	unsigned int f;
	u8 proto;

	if (!strcmp(key, "proto")) {
		if (sel->proto >= 0)
			return natnow_bad(p, "field given twice");
		if (kstrtou8(val, 10, &proto))
			return natnow_bad(p, "bad protocol number");
		sel->proto = proto;
		return 0;
	}
	if (!strcmp(key, "dnat"))
		return natnow_parse_tri(p, val, &sel->dnat);
	if (!strcmp(key, "snat"))
		return natnow_parse_tri(p, val, &sel->snat);
	if (!strcmp(key, "replied"))
		return natnow_parse_tri(p, val, &sel->replied);
	for (f = 0; f < NATNOW_NFIELDS; f++) {
		if (!strcmp(key, natnow_field_names[f][0]))
			return natnow_parse_list(p, val, sel->family, sel->addr[f], NULL);
		if (!strcmp(key, natnow_field_names[f][1]))
			return natnow_parse_list(p, val, sel->family, NULL, sel->port[f]);
	}
	return natnow_bad(p, "unknown key");
}

/* Splits "key=value"; both parts must be non-empty. */
static int natnow_kv(struct natnow_parse *p, char *tok, char **val)
{
	char *eq = strchr(tok, '=');

	if (!eq || eq == tok || !eq[1])
		return natnow_bad(p, "expected key=value");
	*eq = '\0';
	*val = eq + 1;
	return 0;
}

/* Next space separated token, or NULL at the end of the line. */
static char *natnow_token(char **line)
{
	char *t;

	do {
		t = strsep(line, " ");
	} while (t && !*t);
	return t;
}

/*
 * A selector: "family=..." first, then fields, up to a token that is not
 * key=value ("|" or "except"), which is left in *@stop.
 */
static int natnow_parse_sel(struct natnow_parse *p, char **line,
			    struct natnow_sel *sel, char **stop)
{
	char *tok = natnow_token(line);
	char *val;
	int err;

	sel->proto = -1;
	sel->dnat = -1;
	sel->snat = -1;
	sel->replied = -1;
	*stop = NULL;
	if (!tok || natnow_kv(p, tok, &val) || strcmp(tok, "family"))
		return natnow_bad(p, "a selector starts with family=");
	if (!strcmp(val, "ipv4"))
		sel->family = NFPROTO_IPV4;
	else if (!strcmp(val, "ipv6"))
		sel->family = NFPROTO_IPV6;
	else
		return natnow_bad(p, "family is ipv4 or ipv6");
	while ((tok = natnow_token(line)) != NULL) {
		if (!strcmp(tok, "|") || !strcmp(tok, "except")) {
			*stop = tok;
			return 0;
		}
		err = natnow_kv(p, tok, &val);
		if (!err)
			err = natnow_parse_field(p, sel, tok, val);
		if (err)
			return err;
	}
	return 0;
}

/*
 * An optional leading "KEY=N" option of a command (ttl=, hold=): consumed
 * when present, the line left as it was when not.
 */
static int natnow_parse_opt(struct natnow_parse *p, char **line, const char *key,
			    unsigned int max, unsigned int *out, bool *found)
{
	size_t klen = strlen(key);
	char *tok;

	*found = false;
	while (*line && **line == ' ')
		(*line)++;
	if (!*line || strncmp(*line, key, klen) || (*line)[klen] != '=')
		return 0;
	tok = natnow_token(line);
	*found = true;
	if (kstrtouint(tok + klen + 1, 10, out) || *out > max)
		return natnow_bad(p, "bad number");
	return 0;
}

static void natnow_cmd_free(struct natnow_cmd *c)
{
	unsigned int i;

	if (c->gen) {
		for (i = 0; i < c->gen->nsel; i++)
			natnow_sel_free(&c->gen->sel[i]);
		kfree(c->gen->sel);
		kfree(c->gen);
	}
	for (i = 0; c->sel && i < c->nsel; i++)
		natnow_sel_free(&c->sel[i]);
	kfree(c->sel);
	memset(c, 0, sizeof(*c));
}

static int natnow_parse_line(struct natnow_parse *p, char *line, struct natnow_cmd *c)
{
	unsigned int max_sel, i;
	struct natnow_sel *sels;
	char *stop = NULL;
	char *word;
	bool found;
	int err;

	for (i = 0; line[i]; i++)
		if (!isprint(line[i]))
			return natnow_bad(p, "unprintable character");
	word = natnow_token(&line);
	if (!word)
		return natnow_bad(p, "empty command");
	if (!strcmp(word, "disarm")) {
		c->type = NATNOW_CMD_DISARM;
		return natnow_token(&line) ? natnow_bad(p, "disarm takes nothing") : 0;
	}
	if (!strcmp(word, "arm")) {
		c->type = NATNOW_CMD_ARM;
		max_sel = NATNOW_MAX_SELS;
		c->gen = kzalloc(sizeof(*c->gen), GFP_KERNEL);
		if (!c->gen)
			return -ENOMEM;
		err = natnow_parse_opt(p, &line, "ttl", NATNOW_MAX_TTL, &i, &found);
		if (err)
			return err;
		if (found && !i)
			return natnow_bad(p, "ttl must be positive");
		c->gen->ttl = found ? i : 0;
	} else if (!strcmp(word, "kill")) {
		c->type = NATNOW_CMD_KILL;
		max_sel = 1 + NATNOW_MAX_EXCEPT;
		c->hold_ms = NATNOW_DEFAULT_HOLD_MS;
		err = natnow_parse_opt(p, &line, "hold", NATNOW_MAX_HOLD_MS, &i, &found);
		if (err)
			return err;
		if (found)
			c->hold_ms = i;
	} else {
		return natnow_bad(p, "unknown command");
	}
	sels = kcalloc(max_sel, sizeof(*sels), GFP_KERNEL);
	if (!sels)
		return -ENOMEM;
	if (c->gen)
		c->gen->sel = sels;
	else
		c->sel = sels;
	for (i = 0; i < max_sel; i++) {
		if (c->gen)
			c->gen->nsel = i + 1;
		else
			c->nsel = i + 1;
		err = natnow_parse_sel(p, &line, &sels[i], &stop);
		if (err)
			return err;
		if (!stop)
			return 0;
		if (c->gen && strcmp(stop, "|"))
			return natnow_bad(p, "arm selectors are separated by |");
		if (!c->gen && strcmp(stop, "except"))
			return natnow_bad(p, "kill takes except clauses");
	}
	return natnow_bad(p, "too many selectors");
}

static int natnow_ctl_write(struct file *file, char *buf, size_t size)
{
	struct seq_file *seq = file->private_data;
	struct net *net = seq_file_single_net(seq);
	struct natnow_net *nn = natnow_pernet(net);
	struct natnow_parse p = { .err = NULL, .line = 0 };
	struct natnow_cmd *cmds;
	unsigned int n = 0, i;
	char *rest = buf;
	char *line;
	int err = 0;

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
	while ((line = strsep(&rest, "\n")) != NULL) {
		p.line++;
		if (!*line && !rest)
			break;	/* the newline ending the last line */
		if (n == NATNOW_MAX_LINES) {
			err = natnow_bad(&p, "too many lines");
			break;
		}
		err = natnow_parse_line(&p, line, &cmds[n++]);
		if (err)
			break;
	}
	if (!err && !n)
		err = natnow_bad(&p, "nothing to do");
	if (err) {
		atomic64_inc(&nn->bad_commands);
		if (err == -EINVAL && net_ratelimit())
			pr_info("natnow: rejected line %u: %s\n", p.line, p.err ? p.err : "invalid");
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

		seq_printf(m, "gen %u age_ms=%u left_ms=%ld scopes=%u\n", g->id,
			   jiffies_to_msecs(jiffies - g->armed_at),
			   left > 0 ? (long)jiffies_to_msecs(left) : 0L, g->nsel);
		for (j = 0; j < g->nsel; j++) {
			seq_printf(m, "scope %u ", g->id);
			natnow_show_sel(m, &g->sel[j]);
			seq_putc(m, '\n');
		}
	}
	rcu_read_unlock();
	seq_printf(m, "holds %u\n", natnow_nholds(nn));
	seq_printf(m, "checked %llu\n", sum.checked);
	seq_printf(m, "renewed %llu\n", sum.renewed);
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
