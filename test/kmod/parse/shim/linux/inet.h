/* Userspace stand-in for linux/inet.h: in4_pton()/in6_pton() on inet_pton(). */
#ifndef SHIM_LINUX_INET_H
#define SHIM_LINUX_INET_H
#include <arpa/inet.h>
#include <string.h>
#include <linux/types.h>

/* as the kernel's with delim -1: @len bytes of @src exactly, *end past them */
static inline int shim_pton(int af, const char *src, int len, u8 *dst, const char **end)
{
	char buf[64];

	if (len < 0 || len >= (int)sizeof(buf))
		return 0;
	memcpy(buf, src, (size_t)len);
	buf[len] = '\0';
	if (inet_pton(af, buf, dst) != 1)
		return 0;
	*end = src + len;
	return 1;
}
#define in4_pton(src, len, dst, delim, end) shim_pton(AF_INET, (src), (int)(len), (dst), (end))
#define in6_pton(src, len, dst, delim, end) shim_pton(AF_INET6, (src), (int)(len), (dst), (end))
#endif
