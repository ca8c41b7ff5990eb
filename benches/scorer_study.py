#!/usr/bin/env python3
"""Would a learned scorer help the rules? A study on the probe batches, each scored untuned.

Issue 10 allows a learned scorer as extra evidence inside the rules. This measures, before any is
built, what the best-known learned model (the issue's anchor: character 2-5-gram TF-IDF with
logistic regression) would add on messages the rules had not been tuned for:

- For each probe batch (ids `pNN-`), the pack as it was *before* that batch's fixes is taken from
  git (the parent of the commit that added the batch) and run through `triage explain --json`:
  its untuned answer and whether the gate passed.
- The model is trained on dev + train2 + the probe batches written *before* that one.
- Three ways to combine them are scored, with the model consulted only after the gate passed:
  `pack` alone; `silent`, the model answers where the rules were silent (`none`); `fallback`, the
  model only refines the generic checklist (`auth-unspecified`) into a specific cause, so it can
  never answer a message the rules left alone.

Needs scikit-learn; not part of CI.

    cargo build --release
    python3 benches/scorer_study.py [--threshold 0.6]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "..", "shared", "corpus")
PROBE = os.path.join(ROOT, "tests", "data", "probe_messages.jsonl")
TRIAGE = os.path.join(ROOT, "target", "release", "triage")
BATCHES = ["p16", "p17", "p18", "p19", "p20", "p21"]


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def commit_adding(batch):
    """The commit whose message says it added this probe batch (`probe batch 21` for p21)."""
    number = int(batch[1:])
    out = subprocess.run(["git", "-C", ROOT, "log", "--format=%H %s"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        sha, subject = line.split(" ", 1)
        if f"probe batch {number} " in subject:
            return sha
    sys.exit(f"scorer_study: no commit says 'probe batch {number}'; is this a full clone of main?")


def untuned(batch, messages):
    """The pack before the batch's fixes, on the batch: (answer, gate passed) per message."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", ROOT, "archive", commit_adding(batch) + "^", "rules"], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        answers = []
        for d in messages:
            r = subprocess.run([TRIAGE, "explain", "--json", "--rules", os.path.join(tmp, "rules"), d["text"]], capture_output=True, text=True, check=True)
            e = json.loads(r.stdout)
            answers.append((e["classification"]["category"] or "none", e["gate"]["gate"] == "passed"))
        return answers


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threshold", type=float, default=0.6, help="the model's probability needed to answer")
    args = ap.parse_args()
    if not os.path.exists(TRIAGE):
        sys.exit("scorer_study: build first: cargo build --release")
    base = load(os.path.join(CORPUS, "dev.jsonl")) + load(os.path.join(CORPUS, "train2.jsonl"))
    probe = load(PROBE)
    totals = {"pack": [], "silent": [], "fallback": []}
    for i, batch in enumerate(BATCHES):
        test = [d for d in probe if d["id"].startswith(batch + "-")]
        later = tuple(b + "-" for b in BATCHES[i:])
        train = base + [d for d in probe if not d["id"].startswith(later)]
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
        model = LogisticRegression(max_iter=3000, C=10).fit(vec.fit_transform([d["text"] for d in train]), [d["expected"] for d in train])
        probs = model.predict_proba(vec.transform([d["text"] for d in test]))
        answers = untuned(batch, test)
        gold = [d["expected"] for d in test]

        def combined(replaceable):
            out = []
            for (answer, passed), p in zip(answers, probs):
                prob, cat = max((pp, c) for pp, c in zip(p, model.classes_) if c != "none")
                out.append(cat if passed and answer in replaceable and prob >= args.threshold else answer)
            return out

        runs = {"pack": [a for a, _ in answers], "silent": combined({"none"}), "fallback": combined({"auth-unspecified"})}
        cats = sorted(set(gold) - {"none"})
        row = []
        for name, pred in runs.items():
            f1 = f1_score(gold, pred, labels=cats, average="macro", zero_division=0)
            answered = sum(g == "none" and p != "none" for g, p in zip(gold, pred))
            totals[name].append((f1, answered, gold.count("none")))
            row.append(f"{name} {f1:.3f} ({answered} of {gold.count('none')} off-topic answered)")
        print(f"{batch} ({len(test)} messages): " + ", ".join(row))
    for name, rows in totals.items():
        mean = sum(r[0] for r in rows) / len(rows)
        print(f"{name:>8}: mean macro-F1 {mean:.3f}, off-topic answered {sum(r[1] for r in rows)} of {sum(r[2] for r in rows)}")


if __name__ == "__main__":
    main()
