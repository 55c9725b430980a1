#!/usr/bin/env python3
"""make-keyword-prompts.py - prompt files with keyword constraints for the
lexically constrained engines (suites/lexical.json), from the concept sets
in data/constraints/ (see data/prompts/README.md).

    scripts/make-keyword-prompts.py [--check]

Writes data/prompts/keywords_brown.jsonl (all 100 Brown keyword sets) and
data/prompts/keywords_commongen.jsonl (the first 100 CommonGen dev concept
sets).  Deterministic; --check only compares with the files in the tree.
"""
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TEMPLATE = "Write a sentence that uses the words: %s.\n"
JOBS = [
    ("constraints/brown_keywords.jsonl", "prompts/keywords_brown.jsonl", "brown-keywords", 100),
    ("constraints/commongen_dev.jsonl", "prompts/keywords_commongen.jsonl", "commongen", 100),
]


def render(src, category, limit):
    out = []
    with open(os.path.join(ROOT, "data", src), encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            out.append(json.dumps({
                "id": row["id"], "category": category,
                "prompt": TEMPLATE % ", ".join(row["concepts"]),
                "reference": row["references"][0],
                "constraint": {"keywords": row["concepts"]},
            }, ensure_ascii=False) + "\n")
            if len(out) == limit:
                break
    return "".join(out)


def main():
    check = sys.argv[1:] == ["--check"]
    if sys.argv[1:] and not check:
        sys.exit("usage: make-keyword-prompts.py [--check]")
    status = 0
    for src, dst, category, limit in JOBS:
        text = render(src, category, limit)
        path = os.path.join(ROOT, "data", dst)
        if check:
            with open(path, encoding="utf-8") as f:
                if f.read() != text:
                    print("%s: differs from what %s gives" % (dst, src), file=sys.stderr)
                    status = 1
        else:
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(path + ".tmp", path)
    sys.exit(status)


if __name__ == "__main__":
    main()
