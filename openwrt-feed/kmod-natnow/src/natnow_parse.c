// SPDX-License-Identifier: GPL-2.0-only
/*
 * natnow - the parser of /proc/net/natnow's commands (natnow's
 * docs/kmod-protocol.md).
 *
 * A write holds one command per line and is parsed whole before anything
 * is done: any unknown key, bad number or overlong list fails the write
 * with -EINVAL, and the caller changes nothing.
 *
 *   arm [ttl=SECONDS] SELECTOR [| SELECTOR]...
 *   kill [hold=MS] SELECTOR [except SELECTOR]...
 *   disarm
 *
 *   SELECTOR := family=ipv4|ipv6 [proto=N] [src=L] [dst=L] [sport=P]
 *               [dport=P] [reply-src=L] [reply-dst=L] [reply-sport=P]
 *               [reply-dport=P] [dnat=0|1] [snat=0|1] [replied=0|1]
 *   L := [!]ADDR[/LEN][,[!]ADDR[/LEN]]...   P := [!]N[-M][,[!]N[-M]]...
 *
 * It uses nothing but the string, address and allocation helpers, so
 * test/kmod/parse/ builds this same file in userspace and runs it alone.
 */
#include <linux/ctype.h>
#include <linux/inet.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <net/ipv6.h>

#include "natnow_cmd.h"

const char * const natnow_field_names[NATNOW_NFIELDS][2] = {
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

void natnow_cmd_free(struct natnow_cmd *c)
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

/* Frees the lists of a selector (not the selector itself). */
void natnow_sel_free(struct natnow_sel *sel)
{
	int f, k;

	for (f = 0; f < NATNOW_NFIELDS; f++) {
		for (k = 0; k < 2; k++) {
			kfree(sel->addr[f][k].v);
			kfree(sel->port[f][k].v);
			sel->addr[f][k].v = NULL;
			sel->port[f][k].v = NULL;
			sel->addr[f][k].n = 0;
			sel->port[f][k].n = 0;
		}
	}
}

/**
 * natnow_parse_write - parse one write to /proc/net/natnow
 * @buf: the write, NUL-terminated; it is cut up in place
 * @cmds: room for NATNOW_MAX_LINES commands
 * @ncmds: set to the number of commands filled in (to be freed)
 * @p: set to the reason and line of a refusal
 *
 * Return: 0, -EINVAL for a refused write, -ENOMEM.
 */
int natnow_parse_write(char *buf, struct natnow_cmd *cmds, unsigned int *ncmds,
		      struct natnow_parse *p)
{
	char *rest = buf;
	char *line;
	int err = 0;

	*ncmds = 0;
	while ((line = strsep(&rest, "\n")) != NULL) {
		p->line++;
		if (!*line && !rest)
			break;	/* the newline ending the last line */
		if (*ncmds == NATNOW_MAX_LINES)
			return natnow_bad(p, "too many lines");
		err = natnow_parse_line(p, line, &cmds[(*ncmds)++]);
		if (err)
			return err;
	}
	return *ncmds ? 0 : natnow_bad(p, "nothing to do");
}
