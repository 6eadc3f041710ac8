/* Userspace stand-in for linux/kernel.h: the kstrto*() the parser uses, as strict as the kernel's. */
#ifndef SHIM_LINUX_KERNEL_H
#define SHIM_LINUX_KERNEL_H
#include <errno.h>
#include <arpa/inet.h>
#include <linux/types.h>

/* like _kstrtoull(): digits only (a trailing newline allowed), no sign, no overflow */
static inline int shim_kstrtoull(const char *s, unsigned int base, unsigned long long *res)
{
	unsigned long long v = 0;
	const char *p = s;

	if (base != 10)
		return -EINVAL;
	if (*p == '+')
		p++;
	if (!*p || *p == '\n')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (~0ULL - (unsigned long long)(*p - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (unsigned long long)(*p - '0');
	}
	if (*p == '\n')
		p++;
	if (*p)
		return -EINVAL;
	*res = v;
	return 0;
}

#define SHIM_KSTRTO(name, type, max)						\
static inline int name(const char *s, unsigned int base, type *res)	\
{									\
	unsigned long long v;						\
	int err = shim_kstrtoull(s, base, &v);				\
	if (err)							\
		return err;						\
	if (v > (max))							\
		return -ERANGE;						\
	*res = (type)v;							\
	return 0;							\
}
SHIM_KSTRTO(kstrtouint, unsigned int, 0xffffffffULL)
SHIM_KSTRTO(kstrtou16, u16, 0xffffULL)
SHIM_KSTRTO(kstrtou8, u8, 0xffULL)
#endif
