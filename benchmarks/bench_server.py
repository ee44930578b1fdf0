"""Reward service throughput and latency: micro-batched vs unbatched service vs in-process batches.

Workload: a GRPO-like stream of ``--items`` responses, ``--group`` (8) per reference, built by
``bench_reward_speed.workload`` (~150-token responses in 6 languages). Clients send one item per
request, in stream order, over keep-alive loopback connections, 1, 8 and 32 at a time (``--clients``).

Rows, printed in one table:

* **in-process** (a column): ``Reward.score_batch`` on the same items in batches of ``--batch``
  (64), in this process, just before each service run (so both see the same load from whatever
  else shares the CPUs): the ceiling a service can approach; ``ratio`` = service / in-process.
* **service, micro-batching**: ``pbrlsvr serve`` (a subprocess, as in training) with
  ``max_batch_size --batch`` and each ``max_wait_ms`` in ``--waits``.
* **service, no batching**: the same with ``max_batch_size 1``.

Every run gets fresh references (a run tag prepended), so the reference cache starts cold in each,
as at a new GRPO step; the service and the in-process run of a row get the same texts. The client
is a lean asyncio HTTP/1.1 client (httpx's AsyncClient costs ~10 ms of CPU per request with 32
connections here, which would compete with the server for the same 2 cores). The server's RSS is
printed before and after each configuration's runs: one encoder, however many clients. Rewards
from the service are compared with the in-process ones.

    python benchmarks/bench_server.py                     # --items 128: a few minutes on 2 cores
    python benchmarks/bench_server.py --waits 0,2,10 --threads 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from pbrlsvr.rewards.config import RewardConfig
from pbrlsvr.rewards.reward import Reward

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_reward_speed import workload


class KeepAliveClient:
    """One keep-alive HTTP/1.1 connection (asyncio streams): ~0.2 ms of client CPU per request."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    async def __aenter__(self) -> KeepAliveClient:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.writer.close()

    async def post(self, path: str, payload: Any) -> tuple[int, Any]:
        body = json.dumps(payload).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
        status = int(lines[0].split()[1])
        length = next(
            int(v) for k, _, v in (h.partition(":") for h in lines[1:]) if k.lower() == "content-length"
        )
        return status, json.loads(await self.reader.readexactly(length))


def tagged(items: list[dict[str, str]], run: int) -> list[dict[str, str]]:
    """The same items with fresh references (letters only: no number an answer extractor could take)."""
    tag = "".join(string.ascii_uppercase[int(d)] for d in str(run))
    return [{**it, "reference": f"Run {tag}. {it['reference']}"} for it in items]


async def drive(
    port: int, items: list[dict[str, str]], clients: int
) -> tuple[float, list[float], list[float]]:
    """Send ``items`` one per request from ``clients`` connections: (seconds, latencies, rewards)."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(items)):
        queue.put_nowait(i)
    latencies: list[float] = []
    rewards = [float("nan")] * len(items)

    async def client() -> None:
        async with KeepAliveClient("127.0.0.1", port) as http:
            while not queue.empty():
                i = queue.get_nowait()
                t0 = time.perf_counter()
                status, body = await http.post("/score", {"items": [items[i]]})
                latencies.append(time.perf_counter() - t0)
                if status != 200 or "error" in body["results"][0]:
                    raise RuntimeError(f"item {i}: HTTP {status}: {body}")
                rewards[i] = body["results"][0]["reward"]

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - t0, latencies, rewards


def start_server(cfg_text: str, tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    """``pbrlsvr serve --port 0`` on ``cfg_text``; its log goes to a file (a pipe left unread would
    block it), which is read until uvicorn names the port."""
    stem = tmp / f"serve-{time.monotonic_ns()}"
    stem.with_suffix(".yaml").write_text(cfg_text, encoding="utf-8")
    log = stem.with_suffix(".log")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pbrlsvr",
                "serve",
                "--config",
                str(stem.with_suffix(".yaml")),
                "--port",
                "0",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        m = re.search(r"running on http://127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
        if m:
            return proc, int(m.group(1))
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("pbrlsvr serve did not start:\n" + log.read_text(errors="replace"))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=128, help="responses per run (a multiple of --group)")
    ap.add_argument("--group", type=int, default=8, help="responses per reference (GRPO num_generations)")
    ap.add_argument("--clients", default="1,8,32", help="concurrency levels")
    ap.add_argument("--batch", type=int, default=64, help="max_batch_size, and the in-process batch")
    ap.add_argument(
        "--waits", default="2", help="max_wait_ms values of the micro-batching service, e.g. 0,2,10"
    )
    ap.add_argument("--encoder", default="e5-small-torch")
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads, in-process and in the server (default: torch's)",
    )
    args = ap.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    waits = [float(w) for w in args.waits.split(",")]

    base = workload(max(1, args.items // args.group), args.group)[: args.items]
    n = len(base)
    print(
        f"workload: {n} responses, {args.group} per reference, one item per request; encoder {args.encoder}; "
        f"torch threads {args.threads or 'default'}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start"
    )
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    reward = Reward(RewardConfig(encoder={"name": args.encoder}))
    print(f"in-process reward loaded in {time.perf_counter() - t0:.1f} s")
    reward.score_batch(tagged(base[:2], 999))  # warm-up

    def in_process(items: list[dict[str, str]]) -> tuple[float, float, list[float]]:
        """(items/s, seconds per batch, rewards) of in-process batches on ``items``."""
        t0, out = time.perf_counter(), []
        for s in range(0, n, args.batch):
            out += reward.score_batch(items[s : s + args.batch])
        seconds = time.perf_counter() - t0
        return n / seconds, seconds / -(-n // args.batch), [r.reward for r in out]

    configs = [(f"service, micro-batching (wait {w:g} ms)", args.batch, w) for w in waits]
    configs.append(("service, no batching (max batch 1)", 1, 0.0))
    rows: list[tuple[str, str, float, float, float, float]] = []
    notes: list[str] = []
    batch_seconds: list[float] = []
    max_diff, run = 0.0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for label, batch, wait in configs:
            cfg = (
                f"max_batch_size: {batch}\nmax_wait_ms: {wait}\nlog_level: info\n"
                + (f"torch_threads: {args.threads}\n" if args.threads is not None else "")
                + f"reward:\n  encoder: {{name: {args.encoder}}}\n"
            )
            t0 = time.perf_counter()
            proc, port = start_server(cfg, Path(tmp))
            load_s = time.perf_counter() - t0
            try:
                asyncio.run(drive(port, tagged(base[:2], 998), 1))  # warm-up
                rss = [rss_mb(proc.pid)]
                for clients in levels:
                    # In-process then service on the same fresh items, back to back, so both see
                    # the same machine load (other processes share these cores) and a cold cache.
                    run += 1
                    items = tagged(base, run)
                    rate_in, per_batch, truth = in_process(items)
                    batch_seconds.append(per_batch)
                    seconds, lat, got = asyncio.run(drive(port, items, clients))
                    max_diff = max(max_diff, float(np.max(np.abs(np.array(got) - truth))))
                    p50, p99 = np.percentile(lat, [50, 99])
                    rows.append((label, str(clients), n / seconds, p50, p99, rate_in))
                    rss.append(rss_mb(proc.pid))
                after = ", ".join(f"{r:.0f} after {c}" for r, c in zip(rss[1:], levels, strict=True))
                notes.append(
                    f"{label}: started in {load_s:.0f} s; server RSS {rss[0]:.0f} MB idle, {after} clients"
                )
            finally:
                proc.terminate()
                proc.wait(30)

    print(
        f"\n{'scorer':<40}{'clients':>8}{'items/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'in-process items/s':>20}{'ratio':>7}"
    )
    for label, clients, rate, p50, p99, rate_in in rows:
        print(
            f"{label:<40}{clients:>8}{rate:>9.1f}{p50 * 1000:>9.0f}{p99 * 1000:>9.0f}"
            f"{rate_in:>20.1f}{rate / rate_in:>7.2f}"
        )
    print(
        f"\nin-process: Reward.score_batch in batches of {args.batch} on the same items just before each "
        f"service run; one batch took {np.median(batch_seconds):.1f} s (median): the latency of every item in it"
    )
    for note in notes:
        print(note)
    print(f"\nmax |service reward - in-process reward| = {max_diff:.2g}")
    print(f"load average at the end {os.getloadavg()[0]:.1f} (other processes share these CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
