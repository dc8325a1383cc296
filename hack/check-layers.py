#!/usr/bin/env python3
"""hack/check-layers.py [CRATE_SRC_DIR ...]: the one-way import rule, checked.

For each crate root (src/lib.rs, src/main.rs, bundle-tools/src/lib.rs) it maps every
module file, reads its `mod` lines and every `crate::`/`super::`/`self::`/`sifrun::`
path (in `use` lines, brace groups included, and in code), resolves each path to the
deepest module file it names, and fails if
  * the file graph has a circle (a strongly connected component of two or more
    files; `mod x;` counts as an edge parent -> child, so a child reaching back into
    its parent's own items is a circle too), or
  * a command file in src/commands/ imports another command module.
Exit 0 and one summary line when clean; else one line per problem and exit 1.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRATES = [("sifrun", "src/lib.rs"), ("bin", "src/main.rs"), ("bundle_tools", "bundle-tools/src/lib.rs")]
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    # Inline test modules (`#[cfg(test)] mod tests { ... }`, last in the file by
    # convention) are a level deeper: their `super::` is the file itself.
    return re.split(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)[0]


def child_file(parent_file, name, is_root_like):
    base = os.path.dirname(parent_file) if is_root_like else parent_file[: -len(".rs")]
    for cand in (os.path.join(base, name + ".rs"), os.path.join(base, name, "mod.rs")):
        if os.path.exists(cand):
            return cand
    return None


def walk(crate, root_file):
    """{module path tuple: file} for the crate, following `mod` lines."""
    mods, todo = {(): root_file}, [((), root_file)]
    while todo:
        path, f = todo.pop()
        root_like = f.endswith(("/lib.rs", "/main.rs", "/mod.rs"))
        for name in re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;", strip_comments(open(f).read()), re.M):
            c = child_file(f, name, root_like)
            if c:
                mods[path + (name,)] = c
                todo.append((path + (name,), c))
    return mods


def expand_use(body):
    """`a::{b, c::{d}}` -> ['a::b', 'a::c::d'] (rough, enough for module resolution)."""
    body = re.sub(r"\s+", "", body)
    m = re.match(r"^(.*?)\{(.*)\}$", body)
    if not m:
        return [body]
    prefix, inner = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    return [x for p in parts if p for x in expand_use(prefix + p)]


def references(text):
    text = strip_comments(text)
    refs = []
    for body in re.findall(r"\buse\s+([^;]+);", text):
        refs += expand_use(body)
    text = re.sub(r"\buse\s+[^;]+;", "", text)
    refs += re.findall(r"\b((?:crate|super|self|sifrun)(?:::" + IDENT + r")+)", text)
    return refs


def main():
    crates = {name: walk(name, os.path.join(ROOT, f)) for name, f in CRATES if os.path.exists(os.path.join(ROOT, f))}
    edges, problems = {}, []
    for crate, mods in crates.items():
        for path, f in mods.items():
            out = edges.setdefault(f, set())
            for child_path, cf in mods.items():
                if child_path[:-1] == path and len(child_path) == len(path) + 1:
                    out.add(cf)
            for ref in references(open(f).read()):
                segs = ref.replace(" ", "").split("::")
                target_mods, base = mods, list(path)
                if segs[0] == "sifrun" and "sifrun" in crates:
                    target_mods, base = crates["sifrun"], []
                elif segs[0] == "crate":
                    base = []
                elif segs[0] == "super":
                    while segs and segs[0] == "super":
                        base = base[:-1]
                        segs = segs[1:]
                    segs = ["self"] + segs
                elif segs[0] != "self":
                    continue
                segs = segs[1:]
                best = tuple(base)
                for i in range(len(segs) + 1):
                    cand = tuple(base + segs[:i])
                    if cand in target_mods:
                        best = cand
                tf = target_mods.get(best)
                if tf and tf != f:
                    out.add(tf)
    # Tarjan's SCC
    index, low, stack, on, sccs, n = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(comp)

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            strong(v)
    rel = lambda p: os.path.relpath(p, ROOT)
    for comp in sccs:
        problems.append("import circle: " + " <-> ".join(sorted(rel(c) for c in comp)))
    cmd_dir = os.path.join(ROOT, "src", "commands")
    for f, outs in edges.items():
        if os.path.dirname(f) == cmd_dir and not f.endswith("mod.rs"):
            for t in outs:
                if os.path.dirname(t) == cmd_dir or t.startswith(cmd_dir + os.sep):
                    problems.append(f"command {rel(f)} imports command module {rel(t)}")
    for p in problems:
        print(p)
    files = sum(len(m) for m in crates.values())
    nedges = sum(len(e) for e in edges.values())
    print(f"check-layers: {files} module files, {nedges} import edges, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
