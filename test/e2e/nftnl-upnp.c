/*
 * nftnl-upnp: adds and deletes one UPnP/NAT-PMP port mapping the way
 * miniupnpd's nftables backend lays it out on the wire (read from
 * miniupnp/miniupnp miniupnpd/netfilter_nft/nftnlrdr_misc.c, rule_set_dnat
 * and its expr_add_* helpers; written here from that description, not
 * copied). The rule is built from raw libnftnl expressions, so `nft -j`
 * prints what it prints on a router running miniupnpd:
 *
 *   meta iif == <ifindex>            (meta load + cmp of a u32 index)
 *   @nh,72,8 == <protocol number>    (payload network header offset 9, 1 byte;
 *                                     no ip/ip6 dependency in an inet table)
 *   th dport == <external port>      (payload transport header offset 2)
 *   counter                          (miniupnpd 2.3.10+, ENABLE_NFT_RULE_COUNTER)
 *   immediate reg 1 = address, immediate reg 2 = port
 *   nat dnat family ip, addr/proto min=max from those registers
 *   userdata = the description as raw bytes (not nft's comment TLV)
 *
 * Usage:
 *   nftnl-upnp add TABLE CHAIN IFNAME tcp|udp EPORT IADDR IPORT DESC [nocounter]
 *   nftnl-upnp del TABLE CHAIN HANDLE
 * The table is family inet (OpenWrt: upnp_table_name=fw4). Exit 0 when the
 * kernel acknowledged the change, 1 with the kernel's error otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>

static void fail(const char *what)
{
	fprintf(stderr, "nftnl-upnp: %s: %s\n", what, strerror(errno));
	exit(1);
}

static struct nftnl_expr *expr(const char *name)
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);
	if (!e)
		fail(name);
	return e;
}

/* register 1 = a header field (base, byte offset, length) */
static void load_payload(struct nftnl_rule *r, uint32_t base, uint32_t offset, uint32_t len)
{
	struct nftnl_expr *e = expr("payload");
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_rule_add_expr(r, e);
}

/* register 1 == the bytes given */
static void equals(struct nftnl_rule *r, const void *data, uint32_t len)
{
	struct nftnl_expr *e = expr("cmp");
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	nftnl_rule_add_expr(r, e);
}

static void immediate(struct nftnl_rule *r, uint32_t reg, const void *data, uint32_t len)
{
	struct nftnl_expr *e = expr("immediate");
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, reg);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
	nftnl_rule_add_expr(r, e);
}

static struct nftnl_rule *mapping(const char *table, const char *chain, const char *ifname,
				  uint8_t proto, uint16_t eport, struct in_addr iaddr,
				  uint16_t iport, const char *desc, int counter)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_expr *e;
	uint32_t ifindex = if_nametoindex(ifname);
	uint16_t be_eport = htons(eport), be_iport = htons(iport);

	if (!r)
		fail("rule");
	if (!ifindex)
		fail(ifname);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	if (*desc)
		nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, desc, strlen(desc));

	e = expr("meta");
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_IIF);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	nftnl_rule_add_expr(r, e);
	equals(r, &ifindex, sizeof ifindex);

	load_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 9, 1); /* the IPv4 header's protocol byte */
	equals(r, &proto, sizeof proto);
	load_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2); /* tcp/udp destination port */
	equals(r, &be_eport, sizeof be_eport);
	if (counter)
		nftnl_rule_add_expr(r, expr("counter"));

	immediate(r, NFT_REG_1, &iaddr.s_addr, sizeof iaddr.s_addr);
	immediate(r, NFT_REG_2, &be_iport, sizeof be_iport);
	e = expr("nat");
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, NFPROTO_IPV4);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MAX, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, NFT_REG_2);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MAX, NFT_REG_2);
	nftnl_rule_add_expr(r, e);
	return r;
}

/* One batch (begin, the rule message, end), sent and acknowledged. */
static void send_rule(struct nftnl_rule *r, uint16_t type, uint16_t flags)
{
	static char buf[16384]; /* MNL_SOCKET_BUFFER_SIZE is sysconf()-sized, not a constant */
	uint32_t seq = (uint32_t)time(NULL);
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	struct mnl_nlmsg_batch *batch;
	struct nlmsghdr *nlh;
	ssize_t n;
	int ret;

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		fail("netlink");
	batch = mnl_nlmsg_batch_start(buf, sizeof buf / 2);
	nftnl_batch_begin(mnl_nlmsg_batch_current(batch), seq++);
	mnl_nlmsg_batch_next(batch);
	nlh = nftnl_rule_nlmsg_build_hdr(mnl_nlmsg_batch_current(batch), type, NFPROTO_INET,
					 flags | NLM_F_ACK, seq++);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	mnl_nlmsg_batch_next(batch);
	nftnl_batch_end(mnl_nlmsg_batch_current(batch), seq++);
	mnl_nlmsg_batch_next(batch);
	if (mnl_socket_sendto(nl, mnl_nlmsg_batch_head(batch), mnl_nlmsg_batch_size(batch)) < 0)
		fail("send");
	mnl_nlmsg_batch_stop(batch);
	n = mnl_socket_recvfrom(nl, buf, sizeof buf);
	if (n < 0)
		fail("receive");
	ret = mnl_cb_run(buf, (size_t)n, 0, mnl_socket_get_portid(nl), NULL, NULL);
	if (ret < 0)
		fail(type == NFT_MSG_NEWRULE ? "add" : "delete");
	mnl_socket_close(nl);
}

int main(int argc, char **argv)
{
	struct nftnl_rule *r;

	if (argc >= 10 && strcmp(argv[1], "add") == 0) {
		struct in_addr iaddr;
		uint8_t proto;
		if (strcmp(argv[5], "tcp") == 0)
			proto = IPPROTO_TCP;
		else if (strcmp(argv[5], "udp") == 0)
			proto = IPPROTO_UDP;
		else {
			fprintf(stderr, "nftnl-upnp: protocol %s: tcp or udp\n", argv[5]);
			return 1;
		}
		if (inet_pton(AF_INET, argv[7], &iaddr) != 1) {
			fprintf(stderr, "nftnl-upnp: %s is no IPv4 address\n", argv[7]);
			return 1;
		}
		r = mapping(argv[2], argv[3], argv[4], proto, (uint16_t)atoi(argv[6]), iaddr,
			    (uint16_t)atoi(argv[8]), argv[9], !(argc > 10 && strcmp(argv[10], "nocounter") == 0));
		send_rule(r, NFT_MSG_NEWRULE, NLM_F_APPEND | NLM_F_CREATE);
	} else if (argc == 5 && strcmp(argv[1], "del") == 0) {
		r = nftnl_rule_alloc();
		if (!r)
			fail("rule");
		nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
		nftnl_rule_set_str(r, NFTNL_RULE_TABLE, argv[2]);
		nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, argv[3]);
		nftnl_rule_set_u64(r, NFTNL_RULE_HANDLE, strtoull(argv[4], NULL, 10));
		send_rule(r, NFT_MSG_DELRULE, 0);
	} else {
		fprintf(stderr, "usage: nftnl-upnp add TABLE CHAIN IFNAME tcp|udp EPORT IADDR IPORT DESC [nocounter]\n"
				"       nftnl-upnp del TABLE CHAIN HANDLE\n");
		return 64;
	}
	nftnl_rule_free(r);
	return 0;
}
