#!/usr/bin/env python3
"""One comment style in C: fails on a // comment in core/, analysis/ or tests/ (C files).

Comments are /* ... */, a block of lines continued with " * ". A // inside a string or a
block comment is not a comment and is left alone.

Usage: check_comments.py [ROOT]   (default: the repository holding this script)
"""
import os
import sys


def line_comment_at(line, in_block):
    """Index of a // comment in line (or -1), and whether a block comment is still open."""
    i, n, in_str = 0, len(line), None
    while i < n:
        if in_block:
            if line.startswith("*/", i):
                in_block = False
                i += 2
            else:
                i += 1
            continue
        c = line[i]
        if in_str:
            if c == "\\":
                i += 2
                continue
            if c == in_str:
                in_str = None
        elif c in "\"'":
            in_str = c
        elif line.startswith("/*", i):
            in_block = True
            i += 2
            continue
        elif line.startswith("//", i):
            return i, in_block
        i += 1
    return -1, in_block


def check(root):
    problems, n_files = [], 0
    for top in ("core", "analysis", "tests"):
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for name in sorted(names):
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                n_files += 1
                in_block = False
                with open(path, encoding="utf-8", errors="replace") as fh:
                    for lineno, line in enumerate(fh, 1):
                        k, in_block = line_comment_at(line, in_block)
                        if k >= 0:
                            rel = os.path.relpath(path, root)
                            problems.append(f"{rel}:{lineno}: // comment (write /* ... */)")
    return n_files, problems


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(os.path.join(here, "..", ".."))
    # self-test: the scanner must see a // comment and skip one inside a string
    assert line_comment_at('int x; // c\n', False)[0] == 7
    assert line_comment_at('s = "http://x"; /* // */\n', False)[0] == -1
    n_files, problems = check(root)
    for p in problems:
        print(p)
    if problems:
        print(f"check_comments: {len(problems)} // comment(s) in {n_files} files")
        return 1
    print(f"check_comments: {n_files} files, /* */ comments only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
