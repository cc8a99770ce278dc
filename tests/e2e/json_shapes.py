"""Checks obctl's --json outputs against the rules of docs/json.md.

usage: json_shapes.py DOC OUT_DIR
OUT_DIR holds one file per command run, named after the command
("recovery list.json"); a file may hold several JSON lines (recovery
mount's events). Every output must be one JSON object with a boolean "ok";
every time an ISO 8601 UTC string (or null), in a field named like a time;
no text that looks like a time elsewhere; no epoch fields (*_ns, *_local);
one type per field name across all commands; every field named in DOC.
"""
import json
import os
import re
import sys

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
LOOKS_LIKE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
TIME_KEYS = {"time", "mtime", "start", "end", "modified", "next_run"}


def is_time_key(key):
    return key in TIME_KEYS or key.endswith("_at")


def kind(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    elements = {kind(v) for v in value} - {None}
    if len(elements) > 1:
        return "array<mixed:%s>" % ",".join(sorted(elements))
    return "array<%s>" % (elements.pop() if elements else "?")


def compatible(a, b):
    if a == b:
        return True
    return a.startswith("array<") and b.startswith("array<") and "array<?>" in (a, b)


def main():
    doc_path, out_dir = sys.argv[1], sys.argv[2]
    # A field is documented when its name appears in a `code span`.
    documented = set()
    for span in re.findall(r"`([^`]+)`", open(doc_path, encoding="utf-8").read()):
        documented.update(re.findall(r"[a-z_]+", span))
    problems = []
    types = {}  # field -> {kind: first command}

    def walk(value, command, path):
        if isinstance(value, dict):
            for key, v in value.items():
                where = "%s: %s" % (command, path + key)
                if key not in documented:
                    problems.append("%s is not documented in %s" % (where, doc_path))
                if key.endswith("_ns") or key.endswith("_local"):
                    problems.append("%s: epoch or local-time field" % where)
                if is_time_key(key) and v is not None and not (isinstance(v, str) and ISO.match(v)):
                    problems.append("%s = %r is not an ISO 8601 UTC time" % (where, v))
                if isinstance(v, str) and LOOKS_LIKE_TIME.match(v) and not is_time_key(key):
                    problems.append("%s = %r looks like a time in a field not named as one" % (where, v))
                k = kind(v)
                if k is not None:
                    if k.startswith("array<mixed"):
                        problems.append("%s: an array of mixed types %s" % (where, k))
                    seen = types.setdefault(key, {})
                    clash = [s for s in seen if not compatible(s, k)]
                    for s in clash:
                        problems.append("field %r is %s in %s but %s in %s"
                                        % (key, s, seen[s], k, command))
                    if k not in seen:
                        seen[k] = command
                walk(v, command, path + key + ".")
        elif isinstance(value, list):
            for v in value:
                walk(v, command, path + "[].")

    commands = sorted(f[:-5] for f in os.listdir(out_dir) if f.endswith(".json"))
    for command in commands:
        text = open(os.path.join(out_dir, command + ".json"), encoding="utf-8").read()
        lines = [l for l in text.splitlines() if l.strip()]
        # One object (indented), or one object per line (events).
        try:
            docs = [json.loads(text)]
        except ValueError:
            try:
                docs = [json.loads(l) for l in lines]
            except ValueError as e:
                problems.append("%s: not JSON (%s): %r" % (command, e, text[:200]))
                continue
        if not docs:
            problems.append("%s: printed nothing" % command)
        for d in docs:
            if not isinstance(d, dict):
                problems.append("%s: not a JSON object: %r" % (command, text[:200]))
                continue
            if not isinstance(d.get("ok"), bool):
                problems.append("%s: no boolean \"ok\"" % command)
            walk(d, command, "")
    for p in problems:
        print("FAIL: " + p)
    print("%d outputs checked, %d field names, %d problems" % (len(commands), len(types), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
