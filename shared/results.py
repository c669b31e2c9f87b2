"""Shared results: a summary of one visit's measurements on /private/, stored so that a
permalink (/r/<id>/, and its JSON) can show it to anyone.

What is stored is the summary only: figures (computed here from the delays the page sends, with
shared/stats.py, so a shared p95 means what every other p95 means), a histogram, the time range,
the site's host name and the browser's family ("Chrome", "Firefox", ...). Nothing that points at
a person: no address, no session, no name, no user agent string, no individual sample.

Uploads are limited per client address (a Redis counter per window; the address lives only
in that counter, for the window). Results expire RESULT_TTL_DAYS after they are made.
"""

import math
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from django.utils import timezone

from shared.models import SharedResult
from shared.protocol import DELAY_MAX_MS
from shared.stats import MIN_SAMPLES, jitter, percentile

# A visit at the fastest interval (4 pings a second) makes 14,400 samples an hour.
MAX_SAMPLES = 20_000
# p95 and p99 of fewer samples are mostly the maximum again: left out below these counts, as
# on the private page (shared.stats.MIN_SAMPLES).
P95_MIN_SAMPLES = MIN_SAMPLES["p95"]
P99_MIN_SAMPLES = MIN_SAMPLES["p99"]
HISTOGRAM_TARGET_BINS = 30
HISTOGRAM_MIN_BIN_MS = 0.1  # browsers round performance.now() to about 0.1 ms
# Epoch milliseconds accepted for the time range: 2020-01-01 .. 2100-01-01.
EPOCH_MS_RANGE = (1_577_836_800_000, 4_102_444_800_000)
ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l: safe to read out
ID_LENGTH = 10  # 32^10 = 10^15 ids


class BadUpload(ValueError):
    """The upload is not a result; the message says which field and why."""


@dataclass(frozen=True)
class ResultSummary:
    """Figures in ms (None where there are too few samples); histogram bins are
    [low_ms, high_ms, count], `beyond` counts samples above the last bin (over p99)."""

    samples: int
    lost: int
    loss_percent: float
    min_ms: float | None
    median_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    jitter_ms: float | None
    histogram: list[list[float]]
    beyond: int
    started_at: datetime
    ended_at: datetime

    def figures(self) -> dict:
        return asdict(self)


def new_id() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def summarize_upload(payload: object) -> ResultSummary:
    """The summary of an upload {delays_ms: [ms, ...] in send order (lost pings left out),
    lost: int, started_at_ms, ended_at_ms: epoch ms}, or BadUpload."""
    if not isinstance(payload, Mapping):
        raise BadUpload("the body must be a JSON object")
    delays = payload.get("delays_ms")
    if not isinstance(delays, list) or not 1 <= len(delays) <= MAX_SAMPLES:
        raise BadUpload(f'"delays_ms" must be a list of 1 to {MAX_SAMPLES} delays')
    if not all(_is_number(d) and 0 <= d <= DELAY_MAX_MS for d in delays):
        raise BadUpload(f'every delay in "delays_ms" must be a number from 0 to {DELAY_MAX_MS}')
    lost = payload.get("lost")
    if not isinstance(lost, int) or isinstance(lost, bool) or not 0 <= lost <= MAX_SAMPLES:
        raise BadUpload(f'"lost" must be a whole number from 0 to {MAX_SAMPLES}')
    started, ended = (_epoch_ms(payload, name) for name in ("started_at_ms", "ended_at_ms"))
    if ended < started:
        raise BadUpload('"ended_at_ms" must not be before "started_at_ms"')
    delays = [float(d) for d in delays]
    ordered = sorted(delays)
    n = len(ordered)
    bins, beyond = histogram(ordered)
    return ResultSummary(
        samples=n,
        lost=lost,
        loss_percent=round(100 * lost / (n + lost), 2),
        min_ms=_ms(ordered[0]),
        median_ms=_ms(percentile(ordered, 50)),
        p95_ms=_ms(percentile(ordered, 95)) if n >= P95_MIN_SAMPLES else None,
        p99_ms=_ms(percentile(ordered, 99)) if n >= P99_MIN_SAMPLES else None,
        max_ms=_ms(ordered[-1]),
        jitter_ms=_ms(jitter(delays)),
        histogram=bins,
        beyond=beyond,
        started_at=datetime.fromtimestamp(started / 1000, tz=UTC),
        ended_at=datetime.fromtimestamp(ended / 1000, tz=UTC),
    )


def histogram(ordered: list[float]) -> tuple[list[list[float]], int]:
    """Bins of a "nice" width (1, 2 or 5 x 10^k ms) from the fastest sample to p99 (to the
    slowest below P99_MIN_SAMPLES), as the private page draws them: ([[low, high, count]], beyond)."""
    low = ordered[0]
    high = percentile(ordered, 99) if len(ordered) >= P99_MIN_SAMPLES else ordered[-1]
    width = nice_width((high - low) / HISTOGRAM_TARGET_BINS)
    start = math.floor(low / width) * width
    count = math.floor((high - start) / width) + 1
    counts = [0] * count
    beyond = 0
    for value in ordered:
        index = math.floor((value - start) / width)
        if index < count:
            counts[index] += 1
        else:
            beyond += 1
    bins = [[_ms(start + i * width), _ms(start + (i + 1) * width), c] for i, c in enumerate(counts)]
    return bins, beyond


def nice_width(raw: float) -> float:
    wanted = max(raw, HISTOGRAM_MIN_BIN_MS)
    power = 10 ** math.floor(math.log10(wanted))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= wanted * (1 - 1e-9))


def browser_family(user_agent: str) -> str:
    """The browser's family from a User-Agent header, and nothing else (no version, no system):
    Edge, Opera, Firefox, Chrome, Safari or Other. Order matters: Edge and Opera also say
    "Chrome", Chrome also says "Safari"."""
    for token, family in (
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chrome"),
        ("Version/", "Safari"),
    ):
        if token in user_agent and (family != "Safari" or "Safari/" in user_agent):
            return family
    return "Other"


def prune_expired(now: datetime | None = None) -> int:
    """Deletes the results past their expiry (one indexed range delete); how many went."""
    deleted, _ = SharedResult.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _epoch_ms(payload: Mapping, name: str) -> float:
    value = payload.get(name)
    if not _is_number(value) or not EPOCH_MS_RANGE[0] <= value <= EPOCH_MS_RANGE[1]:
        raise BadUpload(f'"{name}" must be a time in epoch milliseconds')
    return float(value)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
