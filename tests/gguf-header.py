#!/usr/bin/env python3
"""gguf-header.py -- print a GGUF file's header, read independently of
llama.cpp and of decobench's own GGUF writer (tools/gguf_writer.c), for the
shell tests: one line per metadata key ("KEY VALUE"; arrays as "KEY [N]"),
then one per tensor ("tensor NAME D0xD1..."), then, given --vocab TSV,
"vocab matches" when tokenizer.ggml.tokens equals the TSV's first column
line by line (else the first difference).  Exit 1 on a malformed file.

usage: gguf-header.py FILE.gguf [--vocab VOCAB.tsv]"""
import struct
import sys

SCALAR = {0: 'B', 1: 'b', 2: 'H', 3: 'h', 4: 'I', 5: 'i', 6: 'f', 7: '?', 10: 'Q', 11: 'q', 12: 'd'}


def main(argv):
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != '--vocab'):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    with open(argv[1], 'rb') as f:
        def rd(fmt):
            size = struct.calcsize('<' + fmt)
            b = f.read(size)
            if len(b) != size:
                raise ValueError('truncated')
            return struct.unpack('<' + fmt, b)[0]

        def string():
            return f.read(rd('Q')).decode('utf-8', 'surrogateescape')

        def value(t):
            if t == 8:
                return string()
            if t == 9:
                et, n = rd('I'), rd('Q')
                return [value(et) for _ in range(n)]
            return rd(SCALAR[t])

        if f.read(4) != b'GGUF':
            print(f'{argv[1]}: not a GGUF file', file=sys.stderr)
            return 1
        rd('I')  # version
        n_tensors, n_kv = rd('Q'), rd('Q')
        kv = {}
        for _ in range(n_kv):
            k = string()
            kv[k] = value(rd('I'))
            v = kv[k]
            print(k, f'[{len(v)}]' if isinstance(v, list) else v)
        for _ in range(n_tensors):
            name = string()
            dims = [rd('Q') for _ in range(rd('I'))]
            rd('I')  # type
            rd('Q')  # offset
            print('tensor', name, 'x'.join(map(str, dims)))
    if len(argv) == 4:
        with open(argv[3], encoding='utf-8', errors='surrogateescape') as v:
            want = [line.rstrip('\n').split('\t')[0] for line in v]
        got = kv.get('tokenizer.ggml.tokens', [])
        diff = next((i for i in range(max(len(want), len(got)))
                     if i >= len(want) or i >= len(got) or want[i] != got[i]), None)
        print('vocab matches' if diff is None else f'vocab differs at token {diff}')
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv))
    except (OSError, ValueError, KeyError, struct.error) as e:
        print(f'gguf-header.py: {e}', file=sys.stderr)
        sys.exit(1)
