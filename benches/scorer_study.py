#!/usr/bin/env python3
"""Does the learned scorer help the rules? Measured on the probe batches, each scored untuned.

For each probe batch (ids `pNN-`):
- the pack as it was *before* that batch's fixes is taken from git (the parent of the commit that
  added the batch);
- a scorer is trained for it with `triage rules train` on dev + train2 + the probe messages
  written *before* that batch (and that old pack's own examples), and put beside it;
- the batch is classified by that old pack without the scorer, then with it
  (`triage explain --json --rules FOLDER`).

It reports macro-F1 over the causes, how many off-topic messages were answered, and what the
scorer changed: answers fixed, answers broken. With scikit-learn installed, it also scores the
issue's anchor (character 2-5-gram TF-IDF and logistic regression, trained on the same messages)
alone, for comparison.

    cargo build --release
    python3 benches/scorer_study.py [--threshold 0.7]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "..", "shared", "corpus")
PROBE = os.path.join(ROOT, "tests", "data", "probe_messages.jsonl")
TRIAGE = os.path.join(ROOT, "target", "release", "triage")
BATCHES = ["p16", "p17", "p18", "p19", "p20", "p21", "p22"]


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def commit_adding(batch):
    """The commit that first added this probe batch's messages (ids `p21-…` for p21) to the probe
    file. Found from the file's history, not from commit subjects: a later commit may name the
    batch too (a README row), and its parent already has the batch's fixes."""
    out = subprocess.run(
        ["git", "-C", ROOT, "log", "--reverse", "--format=%H", "-E", "-G", f'"id": ?"{batch}-', "--", "tests/data/probe_messages.jsonl"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if not out:
        sys.exit(f"scorer_study: no commit added messages with ids {batch}- to the probe file; is this a full clone of main?")
    return out[0]


def answers(folder, messages):
    out = []
    for d in messages:
        r = subprocess.run([TRIAGE, "explain", "--json", "--rules", folder, d["text"]], capture_output=True, text=True, check=True)
        out.append(json.loads(r.stdout)["classification"]["category"] or "none")
    return out


def macro_f1(gold, pred):
    cats = sorted(set(gold) - {"none"})
    f1s = []
    for c in cats:
        tp = sum(g == c and p == c for g, p in zip(gold, pred))
        predicted, support = pred.count(c), gold.count(c)
        prec = tp / predicted if predicted else 0.0
        rec = tp / support if support else 0.0
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return sum(f1s) / len(f1s)


def anchor(train, test):
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        return None
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
    model = LogisticRegression(max_iter=3000, C=10).fit(vec.fit_transform([d["text"] for d in train]), [d["expected"] for d in train])
    return list(model.predict(vec.transform([d["text"] for d in test])))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threshold", type=float, default=0.7, help="the scorer's probability needed to answer")
    args = ap.parse_args()
    if not os.path.exists(TRIAGE):
        sys.exit("scorer_study: build first: cargo build --release")
    base = load(os.path.join(CORPUS, "dev.jsonl")) + load(os.path.join(CORPUS, "train2.jsonl"))
    probe = load(PROBE)
    rows = {"rules": [], "rules+scorer": [], "anchor": []}
    fixed = broken = 0
    for i, batch in enumerate(BATCHES):
        test = [d for d in probe if d["id"].startswith(batch + "-")]
        later = tuple(b + "-" for b in BATCHES[i:])
        earlier = [d for d in probe if not d["id"].startswith(later)]
        gold = [d["expected"] for d in test]
        with tempfile.TemporaryDirectory() as tmp:
            archive = subprocess.run(["git", "-C", ROOT, "archive", commit_adding(batch) + "^", "rules"], capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            folder = os.path.join(tmp, "rules")
            scorer = os.path.join(folder, "scorer.tsv")
            if os.path.exists(scorer):
                os.remove(scorer)
            before = answers(folder, test)
            corpus = os.path.join(tmp, "earlier.jsonl")
            with open(corpus, "w", encoding="utf-8") as f:
                for d in earlier:
                    f.write(json.dumps(d, ensure_ascii=False) + "\n")
            subprocess.run(
                [TRIAGE, "rules", "train", "--rules", folder, "--threshold", str(args.threshold),
                 os.path.join(CORPUS, "dev.jsonl"), os.path.join(CORPUS, "train2.jsonl"), corpus],
                capture_output=True, check=True)
            after = answers(folder, test)
        fixed += sum(b != a and a == g for g, b, a in zip(gold, before, after))
        broken += sum(b != a and b == g for g, b, a in zip(gold, before, after))
        learned = anchor(base + earlier, test)
        line = []
        for name, pred in (("rules", before), ("rules+scorer", after), ("anchor", learned)):
            if pred is None:
                continue
            answered = sum(g == "none" and p != "none" for g, p in zip(gold, pred))
            rows[name].append((macro_f1(gold, pred), answered, gold.count("none")))
            line.append(f"{name} {rows[name][-1][0]:.3f} ({answered} of {gold.count('none')} off-topic answered)")
        print(f"{batch} ({len(test)} messages): " + ", ".join(line))
    for name, r in rows.items():
        if r:
            print(f"{name:>13}: mean macro-F1 {sum(x[0] for x in r) / len(r):.3f}, off-topic answered {sum(x[1] for x in r)} of {sum(x[2] for x in r)}")
    print(f"the scorer changed {fixed + broken} answers that it could judge: {fixed} fixed, {broken} broken")


if __name__ == "__main__":
    main()
