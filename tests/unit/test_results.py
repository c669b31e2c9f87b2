"""Shared results: the rules (shared/results.py) and the endpoints (web/views/results.py)
through Django's test client, with a real Redis for the rate limit."""

import json
import random
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from shared.models import SharedResult
from shared.redis import redis_client
from shared.results import (
    MAX_SAMPLES,
    BadUpload,
    browser_family,
    summarize_upload,
)
from shared.stats import summarize

START_MS = 1_796_000_000_000.0


def upload(delays: list[float], lost: int = 0, seconds: float = 60.0) -> dict:
    return {"delays_ms": delays, "lost": lost, "started_at_ms": START_MS, "ended_at_ms": START_MS + seconds * 1000}


def test_the_figures_are_shared_stats_figures_and_the_tail_waits_for_enough_samples():
    rng = random.Random(7)
    delays = [rng.uniform(1, 40) for _ in range(150)]
    summary = summarize_upload(upload(delays, lost=3))
    expected = summarize(delays)
    assert summary.samples == 150
    assert summary.median_ms == pytest.approx(expected.median, abs=1e-3)
    assert summary.p95_ms == pytest.approx(expected.p95, abs=1e-3)
    assert summary.p99_ms == pytest.approx(expected.p99, abs=1e-3)
    assert summary.jitter_ms == pytest.approx(expected.jitter, abs=1e-3)
    assert summary.loss_percent == pytest.approx(100 * 3 / 153, abs=0.01)
    assert sum(count for _, _, count in summary.histogram) + summary.beyond == 150
    assert summary.ended_at - summary.started_at == timedelta(seconds=60)

    few = summarize_upload(upload(delays[:19]))
    assert (few.p95_ms, few.p99_ms) == (None, None)
    some = summarize_upload(upload(delays[:20]))
    assert some.p95_ms is not None
    assert some.p99_ms is None
    assert summarize_upload(upload([5.0])).jitter_ms is None


def test_histogram_bins_are_nice_and_cover_the_samples_up_to_p99():
    summary = summarize_upload(upload([float(x) for x in range(1, 201)]))  # 1..200 ms
    widths = {round(high - low, 6) for low, high, _ in summary.histogram}
    assert len(widths) == 1
    assert widths.pop() in {5.0, 10.0}  # 1, 2 or 5 x 10^k
    assert summary.histogram[0][0] <= 1 < summary.histogram[0][1]
    assert summary.beyond > 0  # the slowest 1 % are above the last bin


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "body"),
        ({**upload([1.0]), "delays_ms": []}, "delays_ms"),
        ({**upload([1.0]), "delays_ms": [1.0] * (MAX_SAMPLES + 1)}, "delays_ms"),
        ({**upload([1.0]), "delays_ms": [1.0, "2"]}, "delays_ms"),
        ({**upload([1.0]), "delays_ms": [1.0, -1]}, "delays_ms"),
        ({**upload([1.0]), "delays_ms": [1.0, float("nan")]}, "delays_ms"),
        ({**upload([1.0]), "delays_ms": [True]}, "delays_ms"),
        ({**upload([1.0]), "delays_ms": [1e308]}, "delays_ms"),
        ({**upload([1.0]), "lost": -1}, "lost"),
        ({**upload([1.0]), "lost": 1.5}, "lost"),
        ({**upload([1.0]), "lost": 10**30}, "lost"),
        ({**upload([1.0]), "started_at_ms": "now"}, "started_at_ms"),
        ({**upload([1.0]), "started_at_ms": 5}, "started_at_ms"),
        ({**upload([1.0]), "ended_at_ms": START_MS - 1}, "ended_at_ms"),
    ],
)
def test_a_bad_upload_names_its_field(payload, field):
    with pytest.raises(BadUpload, match=field if field != "body" else "JSON object"):
        summarize_upload(payload)


@pytest.mark.parametrize(
    ("user_agent", "family"),
    [
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Chrome",
        ),
        ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/131.0 Safari/537.36 Edg/131.0", "Edge"),
        ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/131.0 Safari/537.36 OPR/115.0", "Opera"),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1) AppleWebKit/605.1.15 Version/18.1 Mobile/15E148 Safari/604.1",
            "Safari",
        ),
        ("curl/8.5.0", "Other"),
        ("", "Other"),
    ],
)
def test_the_browser_is_its_family_only(user_agent, family):
    assert browser_family(user_agent) == family


# ---------------------------------------------------------------- the endpoints


@pytest.fixture
def shared_redis(redis_server) -> Iterator[None]:
    """Gunicorn's Redis client on the tests' redis-server, with a key prefix of this test's own."""
    with override_settings(REDIS_URL=redis_server.url, REDIS_KEY_PREFIX=f"t{uuid.uuid4().hex[:8]}"):
        redis_client.cache_clear()
        yield
    redis_client.cache_clear()


def post(client, payload, **headers):
    return client.post("/r/", json.dumps(payload), content_type="application/json", **headers)


@pytest.mark.django_db
def test_a_shared_result_round_trips_through_its_page_and_json(client, shared_redis):
    delays = [10.0 + (i % 7) for i in range(120)]
    response = post(client, upload(delays, lost=2), HTTP_USER_AGENT="Mozilla/5.0 Firefox/133.0")
    assert response.status_code == 201
    created = response.json()
    assert created["url"] == f"/r/{created['id']}/"

    document = client.get(created["json_url"]).json()
    assert document["samples"] == 120
    assert document["lost"] == 2
    assert document["browser"] == "Firefox"
    assert document["server"] == "testserver"
    assert document["median_ms"] == pytest.approx(summarize(delays).median, abs=1e-3)
    assert sum(count for _, _, count in document["histogram"]["bins"]) + document["histogram"]["beyond"] == 120
    # Nothing personal: no address, session, name or user agent string anywhere in the row.
    stored = json.dumps(document)
    assert "127.0.0.1" not in stored
    assert "Mozilla" not in stored

    page = client.get(created["url"])
    assert page.status_code == 200
    text = page.content.decode()
    assert "120 WebSocket round trips" in text
    assert "Firefox" in text
    assert "<rect" in text  # the histogram


@pytest.mark.django_db
def test_an_unknown_or_expired_result_is_a_404_page_and_json(client, shared_redis):
    assert client.get("/r/nosuchthing/").status_code == 404
    assert client.get("/r/nosuchthing.json").status_code == 404
    created = post(client, upload([5.0, 6.0])).json()
    SharedResult.objects.filter(id=created["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    page = client.get(created["url"])
    assert page.status_code == 404
    assert "kept 30 days" in page.content.decode()
    assert client.get(created["json_url"]).json() == {"error": "no such result (it may have expired)"}


@pytest.mark.django_db
def test_expired_results_are_deleted_by_the_next_share(client, shared_redis):
    old = post(client, upload([5.0])).json()["id"]
    SharedResult.objects.filter(id=old).update(expires_at=timezone.now() - timedelta(days=1))
    post(client, upload([6.0]))
    assert not SharedResult.objects.filter(id=old).exists()
    assert SharedResult.objects.count() == 1


@pytest.mark.django_db
def test_a_bad_upload_is_a_400_with_the_reason_and_stores_nothing(client, shared_redis):
    response = client.post("/r/", "not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": "the body must be JSON"}
    response = post(client, {**upload([1.0]), "lost": -1})
    assert response.status_code == 400
    assert '"lost"' in response.json()["error"]
    assert not SharedResult.objects.exists()
    assert client.get("/r/").status_code == 405


@pytest.mark.django_db
@override_settings(RESULT_SHARES_PER_WINDOW=3)
def test_shares_are_rate_limited_per_client_address(client, shared_redis):
    """nginx puts the peer's address in X-Forwarded-For; each address has its own allowance."""
    codes = [post(client, upload([1.0]), HTTP_X_FORWARDED_FOR="203.0.113.7").status_code for _ in range(4)]
    assert codes == [201, 201, 201, 429]
    assert post(client, upload([1.0]), HTTP_X_FORWARDED_FOR="203.0.113.8").status_code == 201
    refused = post(client, upload([1.0]), HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert "Too many" in refused.json()["error"]
    assert int(refused["Retry-After"]) > 0
    assert SharedResult.objects.count() == 4


@pytest.mark.django_db
def test_sharing_needs_the_csrf_token(shared_redis):
    from django.test import Client

    assert post(Client(enforce_csrf_checks=True), upload([1.0])).status_code == 403


@pytest.mark.django_db
def test_prune_results_deletes_only_expired_results(client, shared_redis):
    from io import StringIO

    from django.core.management import call_command

    kept, gone = (post(client, upload([5.0])).json()["id"] for _ in range(2))
    SharedResult.objects.filter(id=gone).update(expires_at=timezone.now() - timedelta(minutes=1))
    out = StringIO()
    call_command("prune_results", stdout=out)
    assert "deleted 1 " in out.getvalue()
    assert list(SharedResult.objects.values_list("id", flat=True)) == [kept]


def test_the_page_names_the_browser_family_in_a_sentence():
    from web.views.results import browser_phrase, duration_text

    assert [browser_phrase(f) for f in ("Chrome", "Edge", "Opera", "Other")] == [
        "a Chrome browser",
        "an Edge browser",
        "an Opera browser",
        "a browser",
    ]
    assert [duration_text(timedelta(seconds=s)) for s in (0, 45, 725, 7380)] == [
        "0 s",
        "45 s",
        "12 min 5 s",
        "2 h 3 min",
    ]
