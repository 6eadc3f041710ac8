#!/usr/bin/python3
"""Writes malformed command lines to /proc/net/natnow (kmod test 5).

  fuzz_ctl.py COUNT   COUNT malformed writes must each fail with EINVAL, and
                      a set of valid ones (that change nothing) must succeed.
  fuzz_ctl.py noperm  as uid 65534, opening the file for writing must fail.

Malformed lines are malformed by construction: random bytes with a control
character, and valid commands with one part broken.
"""
import errno
import os
import random
import sys

PATH = "/proc/net/natnow"

# valid commands that select nothing: accepted, and no state changes
VALID = [
    "kill hold=0 family=ipv4 proto=17 dport=1",
    "kill hold=0 family=ipv4 proto=6 src=198.18.9.9/32 dport=1-2 dnat=1 snat=0 replied=1",
    "kill hold=0 family=ipv6 proto=17 src=2001:db8:ffff::/48,!2001:db8:ffff::1 dport=1",
    "kill hold=0 family=ipv4 dport=1 except family=ipv4 proto=17",
    "kill hold=0 family=ipv4 reply-src=198.18.250.1 reply-sport=9 reply-dst=198.18.250.2 reply-dport=9",
    "kill   hold=0   family=ipv4   dport=1  ",
    "kill hold=0 family=ipv4 dst=198.18.250.0/24,!198.18.250.7 sport=!1-65535",
]

# one broken part: (pattern in a valid template, replacement)
BREAKS = [
    ("family=ipv4", "family=ipv5"), ("family=ipv4", "family="), ("family=ipv4", "famly=ipv4"),
    ("proto=17", "proto=256"), ("proto=17", "proto=-1"), ("proto=17", "proto=udp"),
    ("proto=17", "proto=17 proto=6"), ("dport=1", "dport=70000"), ("dport=1", "dport=5-4"),
    ("dport=1", "dport="), ("dport=1", "dport=1,"), ("dport=1", "dport=,1"), ("dport=1", "dport=!!1"),
    ("dport=1", "dport==1"), ("dport=1", "dport=1 dport=2"), ("dport=1", "dport=0x10"),
    ("dport=1", "dport=1 foo=1"), ("dport=1", "dport=1 dnat=2"), ("dport=1", "dport=1 replied=yes"),
    ("dport=1", "dport=1 src=300.1.1.1"), ("dport=1", "dport=1 src=198.18.1.0/33"),
    ("dport=1", "dport=1 src=2001:db8::1"), ("dport=1", "dport=1 src=198.18.1.1%eth0"),
    ("dport=1", "dport=1 src=198.18.1.1/"), ("dport=1", "dport=1 src=/24"),
    ("dport=1", "dport=1 src=" + ",".join("198.18.%d.1" % i for i in range(65))),
    ("dport=1", "dport=1 |"), ("dport=1", "dport=1 | family=ipv4"), ("dport=1", "dport=1 except"),
    ("dport=1", "dport=1 except proto=17"), ("dport=1", "dport=1\tproto=17"),
    ("kill", "KILL"), ("kill", "kil"), ("kill", "kills"), ("hold=0", "hold=60001"), ("hold=0", "hold=-1"),
    ("hold=0", "hold=x"), ("hold=0 ", "hold=0 hold=0 "), ("family=ipv4 ", ""),
]
BREAKS_ARM = [
    "arm", "arm ttl=0 family=ipv4", "arm ttl=432001 family=ipv4", "arm ttl=1", "arm family=ipv4 |",
    "arm family=ipv4 | | family=ipv4", "arm family=ipv4 except family=ipv4", "arm ttl=5 ttl=5 family=ipv4",
    "arm family=ipv4 " + " ".join(["| family=ipv4"] * 64), "disarm now", "disarm family=ipv4",
    "\n", "\n\n", "kill", "kill hold=0", "\x00", "arm family=ipv4\x00",
]


def write(fd, data):
    try:
        os.write(fd, data)
        return 0
    except OSError as e:
        return e.errno


def malformed(rng):
    kind = rng.randrange(4)
    if kind == 0:
        b = bytearray(os.urandom(rng.randrange(1, 120)))
        b[rng.randrange(len(b))] = rng.choice([0x01, 0x07, 0x1b, 0x7f, 0x09])
        return bytes(b)
    if kind == 1:
        return rng.choice(BREAKS_ARM).encode()
    if kind == 2 and rng.random() < 0.05:
        # one write of too many lines, or too long for a page
        return ("\n".join(["kill hold=0 family=ipv4 dport=1"] * 65)).encode() if rng.random() < 0.5 \
            else ("kill hold=0 family=ipv4 dport=" + ",".join(["1"] * 3000)).encode()
    line = rng.choice(VALID)
    pat, rep = rng.choice([b for b in BREAKS if b[0] in line])
    line = line.replace(pat, rep, 1)
    # sometimes a good line after the bad one: the whole write must still fail
    if rng.random() < 0.2:
        line = line + "\n" + rng.choice(VALID)
    return line.encode()


def main():
    if sys.argv[1] == "noperm":
        os.setgid(65534)
        os.setuid(65534)
        try:
            open(PATH, "w").close()
        except PermissionError:
            return 0
        return 1
    count = int(sys.argv[1])
    rng = random.Random(20261124)
    fd = os.open(PATH, os.O_WRONLY)
    bad = []
    for line in VALID:
        e = write(fd, (line + "\n").encode())
        if e:
            bad.append("valid line refused (%s): %r" % (errno.errorcode.get(e, e), line))
    refused = 0
    oversize = 0
    for _ in range(count):
        data = malformed(rng)
        oversize += len(data) > 4095
        e = write(fd, data)
        if e == errno.EINVAL:
            refused += 1
        else:
            bad.append("malformed write %s: %r" % ("accepted" if e == 0 else errno.errorcode.get(e, e), data[:120]))
    os.close(fd)
    print("fuzz: %d of %d malformed writes refused with EINVAL; %d valid accepted; oversize=%d" % (
        refused, count, len(VALID) - sum(1 for b in bad if b.startswith("valid")), oversize))
    for b in bad[:20]:
        print("fuzz: " + b)
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
