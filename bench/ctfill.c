// SPDX-License-Identifier: GPL-2.0-only
/*
 * ctfill: fill the current network namespace's conntrack table quickly,
 * with batched ctnetlink IPCTNL_MSG_CT_NEW messages (one process, many
 * entries per send), for natnow's benchmark. IPv4 only.
 *
 * Reads patterns from standard input, one per line:
 *
 *   COUNT PROTO OSRC ODST ODPORT RSRC RDST RSPORT STATUS TIMEOUT
 *
 * Entry i of a pattern has original source OSRC + i / 50000 and source
 * port 10000 + i % 50000, original destination ODST:ODPORT; its reply tuple
 * is RSRC:RSPORT -> RDST with the client's port; when RDST is "-" it goes
 * to the original source, otherwise (masquerade) RSRC grows with OSRC
 * instead so that reply tuples stay unique. STATUS is the ctnetlink status word (decimal), TIMEOUT in
 * seconds. Prints "created N failed M" and exits 1 when any failed.
 *
 * An entry whose reply tuple is not the original one inverted is created
 * the way the kernel makes NATed entries: the inverted tuple as the reply,
 * with CTA_NAT_DST (reply source RSRC:RSPORT) and CTA_NAT_SRC (reply
 * destination RDST), so the kernel sets it up with its NAT status bits.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH (64 * 1024)

static char buf[BATCH];
static size_t used;
static int fd;
static unsigned long created, failed, sent;
static int first_errno;

static void *put(size_t len)
{
	void *p = buf + used;

	memset(p, 0, NLMSG_ALIGN(len));
	used += NLMSG_ALIGN(len);
	return p;
}

static struct nlattr *attr_start(uint16_t type)
{
	struct nlattr *a = put(sizeof(*a));

	a->nla_type = type;
	return a;
}

static void attr_end(struct nlattr *a)
{
	a->nla_len = (char *)(buf + used) - (char *)a;
}

static void attr(uint16_t type, const void *data, size_t len)
{
	struct nlattr *a = put(NLA_HDRLEN + len);

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	memcpy((char *)a + NLA_HDRLEN, data, len);
}

static void tuple(uint16_t type, uint32_t src, uint32_t dst, uint8_t proto,
		  uint16_t sport, uint16_t dport)
{
	struct nlattr *t = attr_start(type | NLA_F_NESTED);
	struct nlattr *ip = attr_start(CTA_TUPLE_IP | NLA_F_NESTED);
	struct nlattr *pr;

	attr(CTA_IP_V4_SRC, &src, 4);
	attr(CTA_IP_V4_DST, &dst, 4);
	attr_end(ip);
	pr = attr_start(CTA_TUPLE_PROTO | NLA_F_NESTED);
	attr(CTA_PROTO_NUM, &proto, 1);
	sport = htons(sport);
	dport = htons(dport);
	attr(CTA_PROTO_SRC_PORT, &sport, 2);
	attr(CTA_PROTO_DST_PORT, &dport, 2);
	attr_end(pr);
	attr_end(t);
}

static void drain(int block)
{
	char rb[65536];

	for (;;) {
		ssize_t n = recv(fd, rb, sizeof(rb), block ? 0 : MSG_DONTWAIT);
		struct nlmsghdr *h;

		if (n <= 0)
			return;
		for (h = (struct nlmsghdr *)rb; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			struct nlmsgerr *e = NLMSG_DATA(h);

			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			if (e->error) {
				failed++;
				if (!first_errno)
					first_errno = -e->error;
			} else {
				created++;
			}
		}
		if (created + failed >= sent)
			return;
	}
}

static void flush(void)
{
	if (!used)
		return;
	if (send(fd, buf, used, 0) < 0) {
		perror("ctfill: send");
		exit(2);
	}
	used = 0;
	drain(0);
}

/* a NAT setup: one address, and one port when port is not 0 (network order) */
static void nat(uint16_t type, uint32_t ip, uint16_t port)
{
	struct nlattr *n = attr_start(type | NLA_F_NESTED);

	attr(CTA_NAT_V4_MINIP, &ip, 4);
	attr(CTA_NAT_V4_MAXIP, &ip, 4);
	if (port) {
		struct nlattr *p = attr_start(CTA_NAT_PROTO | NLA_F_NESTED);

		attr(CTA_PROTONAT_PORT_MIN, &port, 2);
		attr(CTA_PROTONAT_PORT_MAX, &port, 2);
		attr_end(p);
	}
	attr_end(n);
}

static void entry(uint8_t proto, uint32_t os, uint32_t od, uint16_t sp,
		  uint16_t dp, uint32_t rs, uint32_t rd, uint16_t rsp,
		  uint32_t status, uint32_t timeout)
{
	struct nlmsghdr *h;
	struct nfgenmsg *g;

	if (used + 512 > BATCH)
		flush();
	h = put(NLMSG_HDRLEN);
	h->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
	h->nlmsg_seq = ++sent;
	g = put(sizeof(*g));
	g->nfgen_family = AF_INET;
	g->version = NFNETLINK_V0;
	tuple(CTA_TUPLE_ORIG, os, od, proto, sp, dp);
	tuple(CTA_TUPLE_REPLY, od, os, proto, dp, sp);
	if (rs != od || rsp != dp)
		nat(CTA_NAT_DST, rs, htons(rsp));
	if (rd != os)
		nat(CTA_NAT_SRC, rd, 0);
	status = htonl(status);
	timeout = htonl(timeout);
	attr(CTA_STATUS, &status, 4);
	attr(CTA_TIMEOUT, &timeout, 4);
	h->nlmsg_len = (char *)(buf + used) - (char *)h;
}

static uint32_t addr(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "ctfill: '%s' is not an IPv4 address\n", s);
		exit(2);
	}
	return a.s_addr;
}

int main(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int rcv = 8 << 20;
	char line[512];

	fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("ctfill: netlink");
		return 2;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &rcv, sizeof(rcv));
	while (fgets(line, sizeof(line), stdin)) {
		char os[64], od[64], rs[64], rd[64];
		unsigned long count, i, status, timeout;
		unsigned int proto, dport, rsport;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%lu %u %63s %63s %u %63s %63s %u %lu %lu",
			   &count, &proto, os, od, &dport, rs, rd, &rsport,
			   &status, &timeout) != 10) {
			fprintf(stderr, "ctfill: bad pattern: %s", line);
			return 2;
		}
		for (i = 0; i < count; i++) {
			uint32_t src = htonl(ntohl(addr(os)) + i / 50000);
			uint16_t sport = 10000 + i % 50000;
			int masq = strcmp(rd, "-") != 0;
			uint32_t rdst = masq ? addr(rd) : src;
			uint32_t rsrc = htonl(ntohl(addr(rs)) +
					      (masq ? i / 50000 : 0));

			entry(proto, src, addr(od), sport, dport, rsrc, rdst,
			      rsport, status, timeout);
		}
	}
	flush();
	while (created + failed < sent)
		drain(1);
	printf("created %lu failed %lu\n", created, failed);
	if (failed)
		fprintf(stderr, "ctfill: first error: %s\n",
			strerror(first_errno));
	return failed ? 1 : 0;
}
