"""Shared by the client scripts: arguments, the body pattern, and the verdict line."""
import sys


def args():
    """PORT [SIZE]"""
    port = int(sys.argv[1])
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    return port, size


def body_of(size):
    """Every byte depends on its position (a prime-length pattern), so a lost, doubled or
    reordered frame shows."""
    pattern = bytes(range(251))
    return (pattern * (size // 251 + 1))[:size]


def check(ok, what):
    if not ok:
        print(f"FAIL: {what}")
        sys.exit(1)


def done(what):
    print(f"ok {what}")
