#!/usr/bin/env python3
"""seeds.py — writes the seed corpora of decobench's fuzz targets
(tests/fuzz/fuzz_*.c) from files the project ships, so no corpus is
committed twice:

  suite         suites/*.json (model/dataset paths pointed at the target's
                scratch files model.gguf / prompts.jsonl)
  jsonl         the first lines of every data/**/*.jsonl
  jsonschema    JSON-Schema-Test-Suite (tests/data/json-schema-test-suite,
                draft2020-12 and draft7): SCHEMA NUL INSTANCE per test;
                data/schemas/instances: schema NUL instance
  json_gbnf     every schema of the two above, alone
  regex_*       every "pattern" / "patternProperties" key of those schemas
                (NUL + a string instance where a test gives one)
  gbnf          data/grammars/grammars.jsonl grammars, and NUL + a sentence
  merge         tests/fuzz/corpus/merge/* (SQL run on a fresh database)
  sse           streamed responses of the OpenAI completions, chat and llama.cpp APIs

usage: tests/fuzz/seeds.py SRCDIR OUTDIR [--max N]   (N seeds per target, default 400)
"""
import glob, hashlib, json, os, sys

def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    if len(args) != 2:
        sys.exit(__doc__)
    src, out = args
    cap = 400
    if '--max' in sys.argv:
        cap = int(sys.argv[sys.argv.index('--max') + 1])
    seeds = {t: [] for t in ('suite', 'jsonl', 'jsonschema', 'json_gbnf', 'regex_dfa', 'regex_search',
                             'regex_gbnf', 'gbnf', 'merge', 'sse')}

    def add(t, data):
        if isinstance(data, str):
            data = data.encode('utf-8', 'surrogatepass')
        if 0 < len(data) <= 8192:   # larger seeds slow every run down
            seeds[t].append(data)

    def dump(v):
        return json.dumps(v, ensure_ascii=False, separators=(',', ':'))

    # suites
    for f in sorted(glob.glob(os.path.join(src, 'suites', '*.json'))):
        try:
            s = json.load(open(f, encoding='utf-8'))
        except ValueError:
            continue
        for m in (s.get('models') or {}).values():
            if isinstance(m, dict) and 'path' in m:
                m['path'] = 'model.gguf'
                m.pop('sha256', None)
        for d in (s.get('datasets') or {}).values():
            if isinstance(d, dict) and 'path' in d:
                d['path'] = 'prompts.jsonl'
        add('suite', json.dumps(s, indent=1))

    # JSONL datasets
    for f in sorted(glob.glob(os.path.join(src, 'data', '**', '*.jsonl'), recursive=True)):
        lines = open(f, 'rb').read().split(b'\n')[:12]
        add('jsonl', b'\n'.join(lines)[:16000])

    # schemas and instances
    patterns = []
    def walk(v):
        if isinstance(v, dict):
            if isinstance(v.get('pattern'), str):
                patterns.append(v['pattern'])
            if isinstance(v.get('patternProperties'), dict):
                patterns.extend(v['patternProperties'].keys())
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    suite_dir = os.path.join(src, 'tests', 'data', 'json-schema-test-suite', 'tests')
    for draft in ('draft2020-12', 'draft7'):
        for f in sorted(glob.glob(os.path.join(suite_dir, draft, '**', '*.json'), recursive=True)):
            try:
                groups = json.load(open(f, encoding='utf-8'))
            except ValueError:
                continue
            for g in groups:
                sch = g.get('schema')
                add('json_gbnf', dump(sch))
                tests = g.get('tests') or []
                for t in tests[:2]:
                    add('jsonschema', dump(sch) + '\0' + dump(t.get('data')))
                if isinstance(sch, dict) and isinstance(sch.get('pattern'), str):
                    for t in tests[:2]:
                        if isinstance(t.get('data'), str):
                            patterns.append(sch['pattern'] + '\0' + t['data'])
                walk(sch)
    for f in sorted(glob.glob(os.path.join(src, 'data', 'schemas', '*', '*.json'))):
        if '/instances/' in f:
            continue
        try:
            sch = json.load(open(f, encoding='utf-8'))
        except ValueError:
            continue
        add('json_gbnf', dump(sch))
        walk(sch)
        inst = f.replace(os.path.join('data', 'schemas'), os.path.join('data', 'schemas', 'instances'))
        try:
            tests = json.load(open(inst, encoding='utf-8')).get('tests') or []
        except (OSError, ValueError):
            tests = []
        add('jsonschema', dump(sch) + ('\0' + dump(tests[0].get('data')) if tests else ''))
    for p in patterns:
        for t in ('regex_dfa', 'regex_search', 'regex_gbnf'):
            add(t, p)

    # grammars
    for line in open(os.path.join(src, 'data', 'grammars', 'grammars.jsonl'), encoding='utf-8'):
        try:
            g = json.loads(line)['constraint']['grammar']
        except (ValueError, KeyError, TypeError):
            continue
        add('gbnf', g)
        add('gbnf', g + '\0The sea is calm today.')
    add('gbnf', 'root ::= "a" [b-d]* ("x" | "yz")+ "\\n"\0abcxyz\n')

    # sse: streamed responses of each API (first byte: API and piece size)
    oai = 'data: {"choices":[{"text":"Hel","index":0,"finish_reason":null}]}\n\n' \
          'data: {"choices":[{"text":"lo","index":0,"finish_reason":"length"}]}\n\n' \
          'data: {"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2}}\n\ndata: [DONE]\n\n'
    chat = 'data: {"choices":[{"delta":{"role":"assistant"},"index":0}]}\r\n\r\n' \
           ': keep-alive\r\n\r\nevent: message\r\ndata: {"choices":[{"delta":{"content":"Hi"},"index":0,' \
           '"finish_reason":"stop"}]}\r\n\r\ndata: [DONE]\r\n\r\n'
    llama = 'data: {"content":"o","tokens":[4013],"stop":false}\n\n' \
            'data: {"content":"","tokens":[],"stop":true,"stop_type":"limit","tokens_predicted":1,' \
            '"tokens_evaluated":4,"timings":{"prompt_n":4,"prompt_ms":5.5,"predicted_n":1,"predicted_ms":1.8,' \
            '"draft_n":3,"draft_n_accepted":1}}\n\n'
    err = 'data: {"error":{"code":500,"message":"boom","type":"server_error"}}\n\n'
    for first, body in ((0, oai), (1, chat), (2, llama), (3, oai), (4, chat), (5, llama), (0, err), (2, err),
                        (12, 'data: {"choices":[{"text":\n\n'), (2, 'data: {"content":"a","tokens":[1,2')):
        add('sse', bytes([first]) + body.encode())

    # merge: committed SQL seeds
    for f in sorted(glob.glob(os.path.join(src, 'tests', 'fuzz', 'corpus', 'merge', '*'))):
        add('merge', open(f, 'rb').read())

    for t, v in seeds.items():
        d = os.path.join(out, t)
        os.makedirs(d, exist_ok=True)
        uniq = {}
        for data in v:
            uniq.setdefault(hashlib.sha1(data).hexdigest(), data)
        # spread the cap over the whole list (not only its first files)
        items = sorted(uniq.items())
        tcap = min(cap, 150) if t == 'json_gbnf' else cap   # each converts and parses in llama.cpp
        step = max(1, len(items) // tcap) if tcap else 1
        want = dict(items[::step][:tcap])
        # files are named by content: write only the missing ones, remove the
        # stale ones (a fuzzer reading the directory meanwhile is not disturbed)
        for h, data in want.items():
            f = os.path.join(d, h)
            if not os.path.exists(f):
                open(f + '.tmp', 'wb').write(data)
                os.rename(f + '.tmp', f)
        for f in os.listdir(d):
            if f not in want:
                os.remove(os.path.join(d, f))
        print('%-13s %4d seeds' % (t, len(want)))

if __name__ == '__main__':
    main()
