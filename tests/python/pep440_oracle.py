"""Compare PEP 440 versions with Python's `packaging`, the reference.

Reads lines "A<TAB>B" on stdin, writes -1, 0 or 1 per line (or "error").
"""
import sys
from packaging.version import InvalidVersion, Version

for line in sys.stdin:
    a, b = line.rstrip("\n").split("\t")
    try:
        va, vb = Version(a), Version(b)
    except InvalidVersion:
        print("error")
        continue
    print(-1 if va < vb else (1 if va > vb else 0))
