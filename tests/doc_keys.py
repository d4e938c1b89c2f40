#!/usr/bin/env python3
"""Prints every configuration key the code reads, one per line, in the form
vmaccel.conf(5) writes it (tenant.NAME.weight, PLUGIN.isolation_workers,
priority.PLUGIN.OP): what tests/man.sh checks the page against.

Keys are found in the code's string literals (comments skipped): the
library's env_keys table (src/core/ctx.c), literals shaped like a key of a
known namespace, "tenant.%s.X" formats, a plugin's own keys (the isolation
suffixes, key_uint(p, "X") in isolate_load.c), and the priority prefix (src/core/dispatch.c).  A new key
read some other way must be added here, or it escapes the check."""
import pathlib
import re
import sys

TOKENS = re.compile(r'"(?:\\.|[^"\\\n])*"|/\*.*?\*/|//[^\n]*|\'(?:\\.|[^\'\\\n])*\'', re.S)
NAMESPACES = "agent|remote|exec|opencv|cuda|clblast|mbench|blas|openssl|noop|mem"
KEY = re.compile(r"^(%s)\.([a-z0-9_]+)$" % NAMESPACES)
TENANT = re.compile(r"^tenant\.%s\.([a-z0-9_]+)$")
ISOLATION = re.compile(r"^(?:(?:%s|%%s)\.|\.)?(isolation(?:_[a-z0-9_]+)?)$" % NAMESPACES)
NOT_KEYS = ("c", "h", "cpp", "so", "py", "md", "conf", "meta", "onnx", "xml")


def literals(path):
    text = path.read_text(errors="replace")
    for tok in TOKENS.findall(text):
        if tok.startswith('"'):
            yield tok[1:-1]


# isolate_load.c and the worker's sandbox.c read a plugin's own keys as
# key_uint(p, "max_workers", ...) / key(w, "isolation_cpu_s", ...).
PLUGIN_SUFFIX = re.compile(r'\bkey(?:_uint)?\(\s*\w+\s*,\s*"([a-z0-9_]+)"')


def env_keys(root):
    text = (root / "src/core/ctx.c").read_text()
    table = re.search(r"env_keys\[\]\s*=\s*\{(.*?)\};", text, re.S).group(1)
    return set(re.findall(r'"([^"]+)"', table))


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    keys = env_keys(root)
    for d in ("src", "agent", "plugins", "tools"):
        for path in sorted((root / d).rglob("*")):
            if path.suffix not in (".c", ".cpp", ".h"):
                continue
            keys.update("PLUGIN." + k for k in PLUGIN_SUFFIX.findall(path.read_text()))
            for s in literals(path):
                m = ISOLATION.match(s)
                if m:
                    keys.add("PLUGIN." + m.group(1))
                elif KEY.match(s) and KEY.match(s).group(2) not in NOT_KEYS:
                    keys.add(s)
                elif TENANT.match(s):
                    keys.add("tenant.NAME." + TENANT.match(s).group(1))
                elif s == "priority.":
                    keys.update(("priority.PLUGIN", "priority.PLUGIN.OP"))
    for k in sorted(keys):
        print(k)


main()
