#!/usr/bin/env python3
"""layers.py — checks that decobench's code keeps its layers
(docs/architecture.md): the library's folders, lowest first,

    harness/util  <  harness/model  <  harness/constraint  <  engines
                  <  harness/run    <  reports             <  harness/cli

and a file may include and call only its own layer and lower ones.  Six
rules, each one "ok"/"FAIL" line:

  folders     every .c/.h under harness/ lies in one of its layer folders
  include     a project include names a file of the same folder ("x.h") or
  style       a path from the source root ("harness/run/store.h"), never "../"
  includes    no include goes up a layer
  private     a private header (NAME_int.h) is included only from its own
  headers     folder and from tests/
  calls       no function call or data reference goes up a layer: the
              undefined symbols of every object file of the library (nm, in
              DB_BUILDDIR) against the object that defines them
  cycles      within a layer, calls between files form no cycle, except
              through a registry that calls every implementation and is
              called by them (engines/registry.c, harness/model/model.c)

Each rule is also run on a planted violation and must catch it (a rule that
cannot fail proves nothing).  Ends with "N passed, N failed".

Environment: DB_SRCDIR (source tree; default: this file's parent's parent),
DB_BUILDDIR (a build tree of it: the object files; default: DB_SRCDIR/build).
"""
import os
import re
import subprocess
import sys

LAYERS = ['harness/util', 'harness/model', 'harness/constraint', 'engines', 'harness/run', 'reports', 'harness/cli']
TOPS = ('harness/', 'engines/', 'reports/')
REGISTRIES = {'engines/registry.c', 'harness/model/model.c'}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

src = os.environ.get('DB_SRCDIR') or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
build = os.environ.get('DB_BUILDDIR') or os.path.join(src, 'build')
passed = failed = 0


def report(name, problems):
    global passed, failed
    if problems:
        failed += 1
        print('FAIL %s' % name)
        for p in problems[:20]:
            print('       ' + p)
        if len(problems) > 20:
            print('       ... and %d more' % (len(problems) - 20))
    else:
        passed += 1
        print('ok   %s' % name)


def layer_of(path):
    """rank of the layer a source-root-relative path lies in, None outside the layers"""
    d = os.path.dirname(path)
    return LAYERS.index(d) if d in LAYERS else None


def sources():
    out = []
    for top in TOPS:
        for dirpath, _, files in os.walk(os.path.join(src, top)):
            for f in files:
                if f.endswith(('.c', '.h')):
                    out.append(os.path.relpath(os.path.join(dirpath, f), src))
    return sorted(out)


def include_edges(files):
    """(file, include as written, resolved path or None) for every project-looking include"""
    edges = []
    for f in files:
        text = open(os.path.join(src, f), encoding='utf-8', errors='replace').read()
        for m in INCLUDE.finditer(text):
            inc = m.group(1)
            if '/' in inc:
                resolved = os.path.normpath(inc)
            else:
                resolved = os.path.join(os.path.dirname(f), inc)
                if not os.path.exists(os.path.join(src, resolved)):
                    resolved = None   # config.h, version.h (build tree), llama.cpp's headers
            edges.append((f, inc, resolved))
    return edges


# ---- the rules: each takes its data and returns the problems it finds -------

def rule_folders(files):
    return ['%s: not in a layer folder (%s)' % (f, ', '.join(l for l in LAYERS if l.startswith('harness/')))
            for f in files if f.startswith('harness/') and layer_of(f) is None]


def rule_include_style(edges):
    return ['%s: #include "%s": use "%s"' % (f, inc, os.path.normpath(os.path.join(os.path.dirname(f), inc)))
            for f, inc, _ in edges if inc.startswith('../') or '/../' in inc]


def rule_includes(edges):
    out = []
    for f, inc, resolved in edges:
        if resolved is None or not resolved.startswith(TOPS):
            continue
        a, b = layer_of(f), layer_of(resolved)
        if a is not None and b is not None and b > a:
            out.append('%s (%s) includes %s (%s)' % (f, LAYERS[a], resolved, LAYERS[b]))
    return out


def rule_private(edges):
    out = []
    for f, inc, resolved in edges:
        if resolved and resolved.endswith('_int.h') and os.path.dirname(resolved) != os.path.dirname(f) \
                and not f.startswith('tests/'):
            out.append('%s includes %s, private to %s/' % (f, resolved, os.path.dirname(resolved)))
    return out


def call_edges():
    """(caller source, callee source, symbol) from the library's object files"""
    objs = []
    for top in TOPS:
        for dirpath, _, files in os.walk(os.path.join(build, top)):
            objs += [os.path.join(dirpath, f) for f in files if f.endswith('.o')]
    defined, undefined = {}, {}
    for o in objs:
        rel = os.path.relpath(o, build)[:-2] + '.c'
        rel = re.sub(r'/[A-Za-z0-9_]+-([^/]+\.c)$', r'/\1', rel)   # automake's per-target prefixes
        if not os.path.exists(os.path.join(src, rel)):
            continue   # a stale object of a file since renamed or removed
        nm = subprocess.run(['nm', o], capture_output=True, text=True)
        for line in nm.stdout.splitlines():
            p = line.split()
            if len(p) == 3 and p[1] in 'TDBRCGSV':
                defined[p[2]] = rel
            elif len(p) == 2 and p[0] == 'U':
                undefined.setdefault(rel, set()).add(p[1])
    edges = [(f, defined[s], s) for f, syms in undefined.items() for s in sorted(syms)
             if s in defined and defined[s] != f]
    return edges, len(objs)


def rule_calls(edges):
    out = []
    for f, g, sym in edges:
        a, b = layer_of(f), layer_of(g)
        if a is not None and b is not None and b > a:
            out.append('%s (%s) calls %s in %s (%s)' % (f, LAYERS[a], sym, g, LAYERS[b]))
    return sorted(set(out))


def rule_cycles(edges):
    graph = {}
    for f, g, _ in edges:
        if f in REGISTRIES or g in REGISTRIES or layer_of(f) != layer_of(g):
            continue
        graph.setdefault(f, set()).add(g)
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def connect(v):   # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
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
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            connect(v)
    return ['calls go round between ' + ', '.join(c) for c in comps]


def main():
    files = sources()
    if not files:
        print('FAIL no sources under %s' % src)
        print('0 passed, 1 failed')
        return 1
    edges = include_edges(files)
    report('folders: every file of harness/ is in a layer folder (%d files)' % len(files), rule_folders(files))
    report('include style: same-folder names or paths from the source root, no "../"', rule_include_style(edges))
    report('includes go down the layers only (%d includes)' % len(edges), rule_includes(edges))
    report('private headers (*_int.h) are included only from their own folder', rule_private(edges))
    calls, n_objs = call_edges()
    if n_objs == 0:
        report('calls go down the layers only', ['no object files under %s: build first' % build])
    else:
        report('calls go down the layers only (%d objects, %d cross-file references)' % (n_objs, len(calls)),
               rule_calls(calls))
        report('no call cycles between the files of a layer, registries aside', rule_cycles(calls))

    # planted violations: each rule must catch one
    planted = [
        ('folders', rule_folders(['harness/loose.c'])),
        ('include style', rule_include_style([('engines/x.c', '../harness/run/store.h', 'harness/run/store.h')])),
        ('includes', rule_includes([('harness/model/model.c', 'harness/constraint/grammar.h',
                                     'harness/constraint/grammar.h')])),
        ('private headers', rule_private([('engines/ar.c', 'harness/model/model_int.h',
                                           'harness/model/model_int.h')])),
        ('calls', rule_calls([('harness/util/util.c', 'harness/run/store.c', 'db_store_open')])),
        ('cycles', rule_cycles([('reports/table.c', 'reports/html.c', 'db_report_html'),
                                ('reports/html.c', 'reports/table.c', 'db_table_load')])),
    ]
    missed = [name for name, problems in planted if not problems]
    report('each rule catches a planted violation (%d rules)' % len(planted),
           ['rule "%s" missed its planted violation' % m for m in missed])
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
