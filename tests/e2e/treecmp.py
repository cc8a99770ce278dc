"""Compares two folder trees: names, types, content, permission bits, mtimes
(nanoseconds), symlink targets and hard-link groups; with --owners also the
owner and group of every entry; with --xattrs also every extended attribute
(all namespaces this process can read: user., trusted., security. with
security.capability, system.posix_acl_access / _default), never following a
symlink. Names are compared as bytes (any name Linux allows). Exit 1 with a
report.

Usage: treecmp.py [--owners] [--xattrs] A B [A2 B2 ...] (each pair compared)"""
import hashlib
import os
import stat
import sys


def xattrs_of(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for name in names:
        try:
            out[name] = os.getxattr(path, name, follow_symlinks=False).hex()
        except OSError as e:
            out[name] = f"unreadable: {e.strerror}"
    return out


def scan(root, owners, xattrs=False):
    entries, inodes = {}, {}
    root = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            kind = stat.S_IFMT(st.st_mode)
            info = {"kind": kind, "mode": stat.S_IMODE(st.st_mode)}
            info["mtime"] = st.st_mtime_ns
            if owners:
                info["uid"], info["gid"] = st.st_uid, st.st_gid
            if xattrs:
                info["xattrs"] = xattrs_of(path)
            if stat.S_ISLNK(kind):
                info["target"] = os.readlink(path)
                del info["mode"]
            elif stat.S_ISREG(kind):
                with open(path, "rb") as f:
                    info["sha256"] = hashlib.sha256(f.read()).hexdigest()
                inodes.setdefault(st.st_ino, []).append(rel)
            entries[rel] = info
    groups = sorted(sorted(v) for v in inodes.values() if len(v) > 1)
    return entries, groups


def compare(a_root, b_root, owners, xattrs=False):
    a, ga = scan(a_root, owners, xattrs)
    b, gb = scan(b_root, owners, xattrs)
    problems = []
    for rel in sorted(set(a) | set(b)):
        if rel not in a:
            problems.append(f"only in {b_root}: {rel!r}")
        elif rel not in b:
            problems.append(f"only in {a_root}: {rel!r}")
        elif a[rel] != b[rel]:
            problems.append(f"differs: {rel!r}: {a[rel]} != {b[rel]}")
    if ga != gb:
        problems.append(f"hard-link groups differ: {ga} != {gb}")
    return problems


def main():
    args = sys.argv[1:]
    owners = "--owners" in args
    xattrs = "--xattrs" in args
    args = [a for a in args if a not in ("--owners", "--xattrs")]
    if not args or len(args) % 2:
        sys.exit(__doc__)
    problems = []
    for i in range(0, len(args), 2):
        problems += compare(args[i], args[i + 1], owners, xattrs)
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


main()
