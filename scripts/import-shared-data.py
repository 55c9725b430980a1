#!/usr/bin/env python3
# import-shared-data.py — copies the third-party datasets decobench ships
# from a local snapshot (default ../shared/data, see each folder's PROVENANCE
# notes there) into data/ and tests/data/.  Deterministic; re-running gives
# the same files.  READMEs are written by hand, not by this script.
#
#   data/spec_bench/question.jsonl        Spec-Bench, all 480 (byte copy)
#   data/gsm8k/test.jsonl                 GSM8K test, 1,319 (byte copy)
#   data/constraints/commongen_dev.jsonl  CommonGen v1.0 dev concept sets
#   data/schemas/<split>/<id>.json        JSONSchemaBench subset (byte copies)
#   data/schemas/instances/<split>/<id>.json  MaskBench valid/invalid instances
#   data/schemas/index.jsonl
#   tests/data/json-schema-test-suite/    draft2020-12 + draft7 tests, remotes
#
# Schema selection: per split, the schemas that have a MaskBench instance file
# and are <= 64 KiB, sorted by file name, PER_SPLIT evenly spaced ones
# (index floor(i * n / PER_SPLIT)).
#
# Usage: scripts/import-shared-data.py [SHARED_DATA_DIR]

import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "data")
DATA = os.path.join(ROOT, "data")
PER_SPLIT = 40
MAX_SCHEMA = 64 * 1024


def copy(src, dst):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(src, dst)


def write_jsonl(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main():
    # Spec-Bench, GSM8K: byte copies plus license
    copy(os.path.join(SRC, "spec_bench/question.jsonl"), os.path.join(DATA, "spec_bench/question.jsonl"))
    copy(os.path.join(SRC, "spec_bench/LICENSE.spec_bench"), os.path.join(DATA, "spec_bench/LICENSE"))
    copy(os.path.join(SRC, "gsm8k/test.jsonl"), os.path.join(DATA, "gsm8k/test.jsonl"))
    copy(os.path.join(SRC, "gsm8k/LICENSE.gsm8k"), os.path.join(DATA, "gsm8k/LICENSE"))

    # CommonGen dev
    rows = []
    with open(os.path.join(SRC, "commongen/commongen.dev.jsonl"), encoding="utf-8") as f:
        for i, line in enumerate(f):
            r = json.loads(line)
            rows.append({"id": "commongen-dev-%03d" % i,
                         "concepts": [c.rsplit("_", 1)[0] for c in r["concept_set"].split("#")],
                         "references": r["scene"],
                         "concept_set": r["concept_set"]})
    write_jsonl(os.path.join(DATA, "constraints/commongen_dev.jsonl"), rows)
    copy(os.path.join(SRC, "commongen/LICENSE.commongen"), os.path.join(DATA, "constraints/LICENSE.commongen"))

    # JSONSchemaBench subset + MaskBench instances
    sb = os.path.join(SRC, "jsonschemabench")
    mb = os.path.join(SRC, "maskbench")
    out = os.path.join(DATA, "schemas")
    if os.path.isdir(out):
        shutil.rmtree(out)
    index = []
    for split in sorted(os.listdir(sb)):
        d = os.path.join(sb, split)
        if not os.path.isdir(d):
            continue
        names = sorted(n for n in os.listdir(d)
                       if n.endswith(".json")
                       and os.path.isfile(os.path.join(mb, "%s---%s" % (split, n)))
                       and os.path.getsize(os.path.join(d, n)) <= MAX_SCHEMA)
        k = min(PER_SPLIT, len(names))
        for i in range(k):
            n = names[i * len(names) // k]
            sid = n[:-len(".json")]
            copy(os.path.join(d, n), os.path.join(out, split, n))
            with open(os.path.join(mb, "%s---%s" % (split, n)), encoding="utf-8") as f:
                m = json.load(f)
            with open(os.path.join(d, n), encoding="utf-8") as f:
                assert json.load(f) == m["schema"], n
            tests = m.get("tests", [])
            inst = {"schema": "%s/%s" % (split, n),
                    "upstream": "guidance-ai/jsonschemabench maskbench/data/%s---%s" % (split, n),
                    "tests": tests}
            ipath = os.path.join(out, "instances", split, n)
            os.makedirs(os.path.dirname(ipath), exist_ok=True)
            with open(ipath, "w", encoding="utf-8", newline="\n") as f:
                json.dump(inst, f, ensure_ascii=False, indent=1)
                f.write("\n")
            index.append({"split": split, "id": sid, "path": "%s/%s" % (split, n),
                          "upstream": "guidance-ai/jsonschemabench data/%s/%s" % (split, n),
                          "bytes": os.path.getsize(os.path.join(d, n)),
                          "instances": "instances/%s/%s" % (split, n),
                          "n_valid": sum(1 for t in tests if t.get("valid") is True),
                          "n_invalid": sum(1 for t in tests if t.get("valid") is False)})
    write_jsonl(os.path.join(out, "index.jsonl"), index)

    # JSON-Schema-Test-Suite: draft2020-12, draft7 (with optional/), remotes
    ts = os.path.join(SRC, "json-schema-test-suite")
    tout = os.path.join(ROOT, "tests/data/json-schema-test-suite")
    for sub in ("tests/draft2020-12", "tests/draft7", "remotes"):
        dst = os.path.join(tout, sub)
        if os.path.isdir(dst):
            shutil.rmtree(dst)
        shutil.copytree(os.path.join(ts, sub), dst, copy_function=shutil.copyfile)
    copy(os.path.join(ts, "LICENSE.json-schema-test-suite"), os.path.join(tout, "LICENSE"))
    for dirpath, dirnames, filenames in os.walk(tout):
        os.chmod(dirpath, 0o755)
        for fn in filenames:
            os.chmod(os.path.join(dirpath, fn), 0o644)


if __name__ == "__main__":
    main()
