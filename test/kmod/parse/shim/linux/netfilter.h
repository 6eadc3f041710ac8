/* Userspace stand-in for linux/netfilter.h: the address union and families. */
#ifndef SHIM_LINUX_NETFILTER_H
#define SHIM_LINUX_NETFILTER_H
#include <netinet/in.h>
#include <linux/types.h>
union nf_inet_addr {
	uint32_t all[4];
	uint32_t ip;
	uint32_t ip6[4];
	struct in_addr in;
	struct in6_addr in6;
};
#define NFPROTO_IPV4 2
#define NFPROTO_IPV6 10
#endif
