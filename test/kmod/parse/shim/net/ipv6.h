/* Userspace stand-in for net/ipv6.h: ipv6_addr_prefix(), which clears its destination first. */
#ifndef SHIM_NET_IPV6_H
#define SHIM_NET_IPV6_H
#include <string.h>
#include <linux/netfilter.h>
static inline void ipv6_addr_prefix(struct in6_addr *pfx, const struct in6_addr *addr, int plen)
{
	int o = plen >> 3, b = plen & 7;

	memset(pfx->s6_addr, 0, sizeof(pfx->s6_addr));
	memcpy(pfx->s6_addr, addr, o);
	if (b != 0)
		pfx->s6_addr[o] = addr->s6_addr[o] & (0xff00 >> b);
}
#endif
