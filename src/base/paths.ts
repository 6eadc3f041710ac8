/** Where natnow and the tools it reads keep their files on the router. */

/** natnow's policy (UCI package `natnow`). */
export const POLICY_PATH = "/etc/config/natnow";

/** natnow's state directory: the applied ruleset, the run records, the run lock. */
export const STATE_DIR = "/var/run/natnow";

/** The fw4 include natnow's package installs (what the firewall's `natnow` include section points at). */
export const INCLUDE_PATH = "/usr/share/natnow/fw4.include";

/** fw4's state file (zones, devices and subnets as fw4 last resolved them). */
export const FW4_STATE_PATH = "/var/run/fw4.state";

/** natnow.ko's control file. */
export const KMOD_PATH = "/proc/net/natnow";

/** The conntrack table as procfs shows it (the procfs backend writes deletes to it, when patched). */
export const PROCFS_PATH = "/proc/net/nf_conntrack";
