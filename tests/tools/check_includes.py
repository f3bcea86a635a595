#!/usr/bin/env python3
"""Checks the include graph of core/ and analysis/ against the library graph.

Every file belongs to the library of its folder (core/<folder>/ is qscope_<folder>,
analysis/ is qscope_analysis). The script reads each `#include "..."`, finds the header
it names (the including file's own folder first, then the tree, as the compiler does with
each library's include directory), and fails on:

  (a) an upward include: the header's library is not one the including library may use
      (MAY_USE below, closed transitively), or a header name found in two places;
  (b) an include cycle among modules (foo.c, foo.h and its private header foo_int.h or
      foo_internal.h are one module, core/<folder>/foo);
  (c) a qs_core_library(... DEPS ...) line in core/CMakeLists.txt that links upward.

Usage: check_includes.py [ROOT]   (default: the repository holding this script)
Exit status 0 when the graph is clean, 1 with one line per problem otherwise.
"""
import os
import re
import sys
import tempfile

# Who may use whom (DESIGN.md, "Layout"); the transitive closure is allowed too.
MAY_USE = {
    "base": [],
    "text": ["base"],
    "store": ["base"],
    "model": ["text", "base"],
    "formats": ["model", "text", "base"],
    "quant": ["model", "base"],
    "analysis": ["base"],
    "profile": ["model", "analysis", "store", "base"],
    "measure": ["quant", "model", "text", "analysis", "store", "base"],
    "dist": ["measure", "formats", "quant", "model", "text", "analysis", "store", "base"],
    "lua": ["dist", "measure", "profile", "quant", "formats", "store", "model", "text",
            "analysis", "base"],
    "cli": ["lua", "dist", "measure", "profile", "quant", "formats", "store", "model", "text",
            "analysis", "base"],
}

# Headers written into the build tree, not found in the source tree.
GENERATED = {"git_rev.h"}

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
DEPS_RE = re.compile(r"qs_core_library\((\w+)([^)]*)\)", re.S)


def closure(lib):
    seen, todo = set(), list(MAY_USE[lib])
    while todo:
        dep = todo.pop()
        if dep not in seen:
            seen.add(dep)
            todo.extend(MAY_USE[dep])
    return seen


def library_of(rel):
    parts = rel.split("/")
    if parts[0] == "analysis":
        return "analysis"
    return parts[1]  # core/<folder>/...


def module_of(rel):
    stem = os.path.splitext(rel)[0]
    if rel.endswith(".h"):
        stem = re.sub(r"_(int|internal)$", "", stem)
    return stem


def source_files(root):
    out = []
    for top in ("core", "analysis"):
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for name in names:
                if name.endswith((".c", ".h")):
                    out.append(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(out)


def strongly_connected(graph):
    """Tarjan's algorithm, iterative; returns the components of more than one node."""
    index, low, on_stack, stack, comps, counter = {}, {}, set(), [], [], [0]

    def visit(start):
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    comps.append(sorted(comp))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return comps


def check(root):
    problems = []
    files = source_files(root)
    by_name = {}
    for rel in files:
        by_name.setdefault(os.path.basename(rel), []).append(rel)

    for lib in sorted({library_of(f) for f in files}):
        if lib not in MAY_USE:
            problems.append(f"{lib}/: a folder that is no library in MAY_USE")

    modules = {module_of(f): set() for f in files}
    for rel in files:
        lib = library_of(rel)
        if lib not in MAY_USE:
            continue
        allowed = closure(lib) | {lib}
        with open(os.path.join(root, rel), encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                m = INCLUDE_RE.match(line)
                if not m:
                    continue
                name = m.group(1)
                beside = os.path.normpath(os.path.join(os.path.dirname(rel), name))
                if beside in by_name.get(os.path.basename(name), []):
                    target = beside
                else:
                    found = by_name.get(os.path.basename(name), [])
                    if not found:
                        if name not in GENERATED:
                            problems.append(f"{rel}:{lineno}: includes \"{name}\", "
                                            "found nowhere in core/ or analysis/")
                        continue
                    if len(found) > 1:
                        problems.append(f"{rel}:{lineno}: \"{name}\" is ambiguous: "
                                        + ", ".join(found))
                        continue
                    target = found[0]
                tlib = library_of(target)
                if tlib not in allowed:
                    problems.append(f"{rel}:{lineno}: upward include of {target} "
                                    f"({lib} may not use {tlib})")
                if module_of(target) != module_of(rel):
                    modules[module_of(rel)].add(module_of(target))

    for comp in strongly_connected(modules):
        problems.append("include cycle among modules: " + " <-> ".join(comp))

    cmake = os.path.join(root, "core", "CMakeLists.txt")
    if os.path.exists(cmake):
        with open(cmake, encoding="utf-8") as fh:
            text = re.sub(r"#[^\n]*", "", fh.read())
        for m in DEPS_RE.finditer(text):
            lib, args = m.group(1), m.group(2).split()
            if lib not in MAY_USE:
                problems.append(f"core/CMakeLists.txt: library {lib} not in MAY_USE")
                continue
            deps = []
            if "DEPS" in args:
                for word in args[args.index("DEPS") + 1:]:
                    if word == "EXTERNAL":
                        break
                    deps.append(word)
            for dep in deps:
                if dep not in closure(lib):
                    problems.append(f"core/CMakeLists.txt: {lib} links {dep} "
                                    f"({lib} may not use {dep})")
    return files, problems


def self_test():
    """The checker must find a planted upward include and a planted cycle, so that a broken
    checker cannot pass quietly."""
    planted = {
        "core/base/low.c": '#include "high.h"\n',    # base may not use model
        "core/model/high.h": '#include "ping.h"\n',
        "core/model/ping.h": '#include "pong.h"\n',  # ping <-> pong
        "core/model/pong.h": '#include "ping.h"\n',
    }
    with tempfile.TemporaryDirectory() as tmp:
        for rel, text in planted.items():
            os.makedirs(os.path.join(tmp, os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(tmp, rel), "w", encoding="utf-8") as fh:
                fh.write(text)
        _, problems = check(tmp)
    want = ["core/base/low.c:1: upward include of core/model/high.h (base may not use model)",
            "include cycle among modules: core/model/ping <-> core/model/pong"]
    if problems != want:
        print("check_includes: self-test failed; found:\n  " + "\n  ".join(problems))
        return False
    return True


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(os.path.join(here, "..", ".."))
    if not self_test():
        return 1
    files, problems = check(root)
    for p in problems:
        print(p)
    if problems:
        print(f"check_includes: {len(problems)} problem(s) in {len(files)} files")
        return 1
    print(f"check_includes: {len(files)} files, no upward include, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
