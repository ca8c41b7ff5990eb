#!/usr/bin/env python3
"""The untuned figures of probe batches, re-derived from git: for each batch (ids `pNN-`), the pack as
it was just before the commit that added the batch (the first to add lines with its ids to the probe
file, as `scorer_study.py` finds it; its rules, scorer and secret rules, from that commit's parent)
classifies the batch with today's binary (`triage eval --json --rules FOLDER`). That is the figure
the batch got before any rule was changed for it. Batches are then pooled: accuracy, macro-F1 over
the causes, off-topic messages answered, and escalation to the Sponsor user (right out of the
messages whose label decides it). With scikit-learn installed, the issue's anchor (character
2-5-gram TF-IDF and logistic regression, trained on dev + train2) is scored on the same messages.

    cargo build --release
    python3 benches/untuned.py p36 p37 p38        # or a range: p36..p43
    python3 benches/untuned.py --learned-when p26..p67

`--learned-when` adds today's `learned_when` lists (which causes the learned scorer may name where
no rule fired) to each old pack, keeping the items whose concepts that pack defines: today's
engine and policy on the old rules, as the lists did not exist before 2026-12-08.

The binary is today's: a batch whose commit also changed the engine (not only the data) is scored
by the old rules on the new engine, which the commit message says when it matters.
"""
import functools
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scorer_study import CORPUS, PROBE, ROOT, TRIAGE, commit_adding, load, macro_f1  # noqa: E402


def git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def batches(args):
    out = []
    for a in args:
        if ".." in a:
            lo, hi = (int(x.lstrip("p")) for x in a.split(".."))
            out += [f"p{n}" for n in range(lo, hi + 1)]
        else:
            out.append(a)
    return out


def report(name, gold, pred, escalation=None):
    off = [p for p, g in zip(pred, gold) if g == "none"]
    acc = sum(p == g for p, g in zip(pred, gold)) / len(gold)
    answered = sum(p != "none" for p in off)
    line = f"{name:8} {len(gold):5} accuracy {acc:.3f}  macro-F1 {macro_f1(gold, pred):.3f}  off-topic answered {answered} of {len(off)}"
    if escalation is not None:
        right, labelled = escalation
        line += f"  escalation {right / labelled:.3f} ({right} of {labelled})" if labelled else ""
    print(line)


def anchor(messages):
    # Not scorer_study.anchor: that one adds sublinear TF and trains on earlier probe batches too;
    # this is the anchor as written (plain char_wb 2-5-gram TF-IDF, dev + train2).
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        print("anchor: scikit-learn is not installed", file=sys.stderr)
        return None
    train = load(os.path.join(CORPUS, "dev.jsonl")) + load(os.path.join(CORPUS, "train2.jsonl"))
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), lowercase=True)
    model = LogisticRegression(C=10, max_iter=2000).fit(vec.fit_transform([m["text"] for m in train]), [m["expected"] for m in train])
    return list(model.predict(vec.transform([m["text"] for m in messages])))


@functools.cache
def todays_learned_when():
    """Each category's `learned_when` patterns in today's pack, read once for every batch."""
    with open(os.path.join(ROOT, "rules", "vtex-app-keys.toml"), "rb") as f:
        return {cat["id"]: cat.get("learned_when", []) for cat in tomllib.load(f)["category"]}


def with_learned_when(pack):
    """`pack` (an old vtex-app-keys.toml) with today's `learned_when` lists, where it defines their concepts."""
    if re.search(r"^learned_when = ", pack, re.M):
        return pack  # a pack from after they came: its own lists
    defined = set(re.findall(r"^\[concepts\.([a-z_]+)\]", pack, re.M))
    for category, patterns in todays_learned_when().items():
        keep = [p for p in patterns if all(w in defined for w in re.findall(r"[a-z_]+", p))]
        head = f'id = "{category}"\nescalate_to_sponsor = '
        at = pack.find(head)
        if not keep or at < 0:
            continue
        end = pack.index("\n", at + len(head)) + 1
        pack = pack[:end] + "learned_when = " + json.dumps(keep) + "\n" + pack[end:]
    return pack


def main():
    args = sys.argv[1:]
    learned_when = "--learned-when" in args
    names = batches([a for a in args if a != "--learned-when"])
    if not names:
        sys.exit("usage: untuned.py pNN [pNN ...] | pNN..pMM")
    probe = load(PROBE)
    all_gold, all_pred, all_msgs = [], [], []
    # Escalation to the Sponsor user, right out of labelled (messages whose label decides it).
    all_right, all_labelled = 0, 0
    for b in names:
        msgs = [m for m in probe if m["id"].startswith(b + "-")]
        if not msgs:
            sys.exit(f"untuned.py: no messages with ids {b}- in the probe set")
        commit = commit_adding(b)
        with tempfile.TemporaryDirectory() as rules, tempfile.NamedTemporaryFile("w", suffix=".jsonl") as batch:
            for f in ("vtex-app-keys.toml", "scorer.tsv", "secrets.toml"):
                text = git("show", f"{commit}^:rules/{f}")
                if learned_when and f == "vtex-app-keys.toml":
                    text = with_learned_when(text)
                with open(os.path.join(rules, f), "w") as out:
                    out.write(text)
            batch.write("".join(json.dumps(m) + "\n" for m in msgs))
            batch.flush()
            r = json.loads(subprocess.run([TRIAGE, "eval", "--json", "--rules", rules, batch.name], capture_output=True, text=True, check=True).stdout)
        missed = {m["id"]: m["got"] for m in r["misses"]}
        gold = [m["expected"] for m in msgs]
        pred = [missed.get(m["id"], m["expected"]) for m in msgs]
        labelled = r["escalation_labelled"]
        right = r["escalation_right"]
        all_right += right
        all_labelled += labelled
        report(b, gold, pred, (right, labelled))
        all_gold += gold
        all_pred += pred
        all_msgs += msgs
    if len(names) > 1:
        report("pooled", all_gold, all_pred, (all_right, all_labelled))
    pred = anchor(all_msgs)
    if pred is not None:
        report("anchor", all_gold, pred)


if __name__ == "__main__":
    main()
