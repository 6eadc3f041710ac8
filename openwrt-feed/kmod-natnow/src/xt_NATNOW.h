/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/* The NATNOW target's data, shared by the kernel module and libxt_NATNOW. */
#ifndef _XT_NATNOW_H
#define _XT_NATNOW_H

#include <linux/types.h>

struct xt_natnow_tginfo {
	__u32 flags;				/* none defined: must be 0 */
	/* unused since the target follows ruleset changes; keeps the layout */
	__aligned_u64 since;
};

#endif /* _XT_NATNOW_H */
