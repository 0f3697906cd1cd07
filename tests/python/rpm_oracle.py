"""Compare RPM versions with librpm itself (Debian's python3-rpm), the reference.

Reads lines "A<TAB>B" on stdin, each [epoch:]version[-release], and writes
-1, 0 or 1 per line: rpm.labelCompare on the (epoch, version, release)
tuples, split as rpm splits an EVR (epoch before the first ':', release
after the last '-', an absent release is None).
"""
import sys

import rpm


def evr(s):
    epoch, _, rest = s.rpartition(":") if ":" in s else ("", "", s)
    version, dash, release = rest.rpartition("-")
    if not dash:
        version, release = rest, None
    return (epoch or None, version, release)


for line in sys.stdin:
    a, b = line.rstrip("\n").split("\t")
    print(rpm.labelCompare(evr(a), evr(b)))
