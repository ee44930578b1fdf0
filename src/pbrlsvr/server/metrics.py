"""Prometheus metrics, hand-written (text exposition format 0.0.4; no prometheus_client needed).

Series (all prefixed ``pbrlsvr_``):

* ``requests_total{endpoint,status}``: HTTP requests answered.
* ``items_total{endpoint}``: items received; ``item_errors_total{endpoint}``: items answered with an error.
* ``errors_total{endpoint,reason}``: failed requests and items, by reason (``bad_json``,
  ``bad_request``, ``invalid``, ``too_large``, ``unauthorized``, ``busy``, ``unavailable``,
  ``internal``, ``item``).
* ``request_duration_seconds{endpoint}``: latency histogram, body read to response.
* ``batch_size``: items per ``Reward.score_batch`` call (histogram); ``batch_duration_seconds``.
* ``queue_items``: items waiting for the worker (gauge); ``openrlhf_prompt_unmatched_total``.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence

Labels = tuple[tuple[str, str], ...]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, extra: tuple[str, str] | None = None) -> str:
    pairs = (*labels, extra) if extra else labels
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Histogram:
    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1


class Metrics:
    """Thread-safe counters, gauges and histograms rendered as Prometheus text."""

    def __init__(self, prefix: str = "pbrlsvr") -> None:
        self.prefix = prefix
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._hists: dict[str, dict[Labels, _Histogram]] = defaultdict(dict)
        self._buckets: dict[str, Sequence[float]] = {}
        self._help: dict[str, tuple[str, str]] = {}
        self._gauges: dict[str, Callable[[], float]] = {}

    def counter(self, name: str, help: str) -> None:
        self._help[name] = ("counter", help)

    def histogram(self, name: str, help: str, buckets: Sequence[float]) -> None:
        self._help[name] = ("histogram", help)
        self._buckets[name] = buckets

    def gauge(self, name: str, help: str, read: Callable[[], float]) -> None:
        self._help[name] = ("gauge", help)
        self._gauges[name] = read

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._counters[name]
            series[key] = series.get(key, 0.0) + amount

    def observe(self, name: str, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._hists[name]
            hist = series.get(key)
            if hist is None:
                hist = series[key] = _Histogram(self._buckets[name])
            hist.observe(value)

    def value(self, name: str, **labels: str) -> float:
        """A counter's current value (0 if never incremented); for tests and /health."""
        with self._lock:
            return self._counters.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name, (kind, help) in self._help.items():
                full = f"{self.prefix}_{name}"
                lines.append(f"# HELP {full} {help}")
                lines.append(f"# TYPE {full} {kind}")
                if kind == "counter":
                    for labels, v in sorted(self._counters.get(name, {}).items()):
                        lines.append(f"{full}{_labels(labels)} {_num(v)}")
                elif kind == "histogram":
                    for labels, h in sorted(self._hists.get(name, {}).items()):
                        cumulative = 0
                        for bound, c in zip((*h.buckets, math.inf), h.counts, strict=True):
                            cumulative += c
                            lines.append(f"{full}_bucket{_labels(labels, ('le', _num(bound)))} {cumulative}")
                        lines.append(f"{full}_sum{_labels(labels)} {_num(h.sum)}")
                        lines.append(f"{full}_count{_labels(labels)} {h.count}")
                else:
                    try:
                        lines.append(f"{full} {_num(float(self._gauges[name]()))}")
                    except Exception:  # a gauge must never break /metrics
                        lines.append(f"{full} NaN")
        return "\n".join(lines) + "\n"


def server_metrics(queue_items: Callable[[], float]) -> Metrics:
    """The service's metric set (see the module docstring)."""
    m = Metrics()
    m.counter("requests_total", "HTTP requests answered, by endpoint and status code.")
    m.counter("items_total", "Items received, by endpoint.")
    m.counter("item_errors_total", "Items answered with an error instead of a reward, by endpoint.")
    m.counter("errors_total", "Failed requests and items, by endpoint and reason.")
    m.counter(
        "openrlhf_prompt_unmatched_total", "OpenRLHF queries whose prompt was not found (scored whole)."
    )
    m.histogram(
        "request_duration_seconds", "Request latency from arrival to response, by endpoint.", LATENCY_BUCKETS
    )
    m.histogram("batch_size", "Items per Reward.score_batch call.", BATCH_BUCKETS)
    m.histogram("batch_duration_seconds", "Time per Reward.score_batch call.", LATENCY_BUCKETS)
    m.gauge("queue_items", "Items waiting for the scoring worker.", queue_items)
    m.inc("openrlhf_prompt_unmatched_total", 0)  # an unlabelled counter is exported from the start
    return m
