// SPDX-License-Identifier: GPL-2.0-only
/*
 * Runs natnow_parse.c in userspace: reads one write from stdin, parses it
 * as /proc/net/natnow would, and prints each command in the syntax the
 * module shows its scopes in (one per line), or "refused line N: REASON".
 * Built and run by test/kmod/parse.test.ts.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natnow_cmd.h"

static void show_list(const char *key, u8 family, const struct natnow_plist *al,
		      const struct natnow_rlist *rl)
{
	unsigned int k, i, n;
	char buf[INET6_ADDRSTRLEN];
	int first = 1;

	if (!(al ? al[0].n + al[1].n : rl[0].n + rl[1].n))
		return;
	printf(" %s=", key);
	for (k = 0; k < 2; k++) {
		n = al ? al[k].n : rl[k].n;
		for (i = 0; i < n; i++, first = 0) {
			printf("%s%s", first ? "" : ",", k ? "!" : "");
			if (rl && rl[k].v[i].min == rl[k].v[i].max)
				printf("%u", rl[k].v[i].min);
			else if (rl)
				printf("%u-%u", rl[k].v[i].min, rl[k].v[i].max);
			else
				printf("%s/%u", inet_ntop(family == NFPROTO_IPV4 ? AF_INET : AF_INET6,
							  &al[k].v[i].addr, buf, sizeof(buf)), al[k].v[i].len);
		}
	}
}

static void show_sel(const struct natnow_sel *s)
{
	unsigned int f;

	printf("family=%s", s->family == NFPROTO_IPV4 ? "ipv4" : "ipv6");
	if (s->proto >= 0)
		printf(" proto=%d", s->proto);
	for (f = 0; f < NATNOW_NFIELDS; f++) {
		show_list(natnow_field_names[f][0], s->family, s->addr[f], NULL);
		show_list(natnow_field_names[f][1], s->family, NULL, s->port[f]);
	}
	if (s->dnat >= 0)
		printf(" dnat=%d", s->dnat);
	if (s->snat >= 0)
		printf(" snat=%d", s->snat);
	if (s->replied >= 0)
		printf(" replied=%d", s->replied);
}

int main(void)
{
	static char buf[1 << 20];
	struct natnow_cmd cmds[NATNOW_MAX_LINES];
	struct natnow_parse p = { NULL, 0 };
	unsigned int n = 0, i, j;
	size_t len = fread(buf, 1, sizeof(buf) - 1, stdin);
	int err;

	buf[len] = '\0';
	memset(cmds, 0, sizeof(cmds));
	err = natnow_parse_write(buf, cmds, &n, &p);
	if (err)
		printf("refused line %u: %s (%d)\n", p.line, p.err ? p.err : "?", err);
	for (i = 0; !err && i < n; i++) {
		const struct natnow_cmd *c = &cmds[i];

		if (c->type == NATNOW_CMD_DISARM) {
			printf("disarm\n");
			continue;
		}
		if (c->type == NATNOW_CMD_ARM) {
			printf("arm ttl=%u ", c->gen->ttl);
			for (j = 0; j < c->gen->nsel; j++) {
				printf("%s", j ? " | " : "");
				show_sel(&c->gen->sel[j]);
			}
		} else {
			printf("kill hold=%u ", c->hold_ms);
			for (j = 0; j < c->nsel; j++) {
				printf("%s", j ? " except " : "");
				show_sel(&c->sel[j]);
			}
		}
		printf("\n");
	}
	for (i = 0; i < n; i++)
		natnow_cmd_free(&cmds[i]);
	return err ? 1 : 0;
}
