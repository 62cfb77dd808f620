"""The fleet: heartbeats, the listing's states, and leases released when a heartbeat stops."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from admin_tools import fleet, runs
from admin_tools.models import ThumbnailClaim, ThumbnailRunner
from icosa.models import Asset, Format

pytestmark = pytest.mark.django_db


def make_assets(n):
    assets = []
    for i in range(n):
        asset = Asset.objects.create(name=f"f{i}", state=Asset.State.COMPLETE)
        Format.objects.create(asset=asset, format_type="GLB")
        assets.append(asset)
    return assets


def beat(client, auth, **body):
    return client.post(
        reverse("api:runner_heartbeat"), {"runner_id": "r1", **body}, content_type="application/json", **auth
    )


def test_a_heartbeat_registers_the_runner_and_the_fleet_lists_it(client, auth, staff_user):
    response = beat(client, auth, host="box", version="1.2", renderer="ANGLE (SwiftShader)", done=7, failed=1,
                    rate_per_minute=12.5)  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["runner"]["state"] == "alive" and body["interval_seconds"] > 0
    fleet_page = client.get(reverse("api:runner_fleet"), **auth).json()
    (row,) = fleet_page["runners"]
    seen = (row["runner_id"], row["user"], row["host"], row["done"], row["failed"])
    assert seen == ("r1", staff_user.username, "box", 7, 1)
    assert fleet_page["fleet_rate_per_minute"] == 12.5


def test_states_alive_stale_gone_and_only_alive_runners_count_for_the_rate(staff_user, settings):
    now = timezone.now()
    for name, seen in (("alive", 5), ("stale", settings.THUMBNAIL_RUNNER_STALE_SECONDS + 5),
                       ("gone", settings.THUMBNAIL_RUNNER_GONE_SECONDS + 5)):  # fmt: skip
        fleet.heartbeat(runner_id=name, user=staff_user, rate_per_minute=10, now=now - timedelta(seconds=seen))
    fleet.heartbeat(runner_id="left", user=staff_user, rate_per_minute=10, stopping=True, now=now)
    states = {row["runner_id"]: row["state"] for row in fleet.listing(now=now)}
    assert states == {"alive": "alive", "stale": "stale", "gone": "gone", "left": "gone"}
    assert [row["runner_id"] for row in fleet.listing(now=now)][0] == "alive"
    assert fleet.fleet_rate(now=now) == 10
    assert fleet.eta_seconds(100, now=now) == 600


def test_a_runner_that_stops_heartbeating_loses_its_leases_at_the_next_claim(staff_user, settings):
    a, b, c = make_assets(3)
    fleet.heartbeat(runner_id="crashed", user=staff_user)
    assert runs.claim_assets(user=staff_user, runner_id="crashed", count=2) == [a.pk, b.pk]
    # Silent for longer than the stale limit, though its leases have minutes left.
    ThumbnailRunner.objects.filter(pk="crashed").update(
        last_seen_at=timezone.now() - timedelta(seconds=settings.THUMBNAIL_RUNNER_STALE_SECONDS + 1)
    )
    assert ThumbnailClaim.objects.filter(runner_id="crashed", expires_at__gt=timezone.now()).count() == 2
    assert runs.claim_assets(user=staff_user, runner_id="healthy", count=5) == [a.pk, b.pk, c.pk]
    assert not ThumbnailClaim.objects.filter(runner_id="crashed").exists()


def test_a_live_heartbeat_keeps_and_renews_the_leases(staff_user):
    (a,) = make_assets(1)
    fleet.heartbeat(runner_id="busy", user=staff_user)
    runs.claim_assets(user=staff_user, runner_id="busy", count=1)
    ThumbnailClaim.objects.filter(asset=a).update(expires_at=timezone.now() + timedelta(seconds=5))
    fleet.heartbeat(runner_id="busy", user=staff_user)
    assert ThumbnailClaim.objects.get(asset=a).expires_at > timezone.now() + timedelta(seconds=60)
    assert runs.claim_assets(user=staff_user, runner_id="other", count=1) == []


def test_a_stopping_heartbeat_releases_everything(client, auth, staff_user):
    make_assets(2)
    beat(client, auth)
    runs.claim_assets(user=staff_user, runner_id="r1", count=2)
    assert beat(client, auth, stopping=True).json()["runner"]["state"] == "gone"
    assert not ThumbnailClaim.objects.filter(runner_id="r1").exists()


def test_another_users_runner_id_is_refused(client, auth, superuser):
    fleet.heartbeat(runner_id="r1", user=superuser)
    assert beat(client, auth).status_code == 409


def test_the_fleet_admin_page_lists_runners(client, superuser):
    fleet.heartbeat(runner_id="shown-runner", user=superuser, host="render-box")
    client.force_login(superuser)
    html = client.get("/admin/admin_tools/thumbnailrunner/").content.decode()
    assert "shown-runner" in html and "render-box" in html and "alive" in html


def test_a_runner_back_under_an_old_id_keeps_what_it_claims(staff_user, settings):
    """A restarted service reuses its runner id: its first claim counts as a sign of life,
    before its first heartbeat lands."""
    a, b = make_assets(2)
    old = timezone.now() - timedelta(seconds=settings.THUMBNAIL_RUNNER_GONE_SECONDS + 5)
    fleet.heartbeat(runner_id="service", user=staff_user, stopping=True, now=old)
    assert runs.claim_assets(user=staff_user, runner_id="service", count=1) == [a.pk]
    assert runs.claim_assets(user=staff_user, runner_id="other", count=5) == [b.pk]
    assert ThumbnailClaim.objects.get(asset=a).runner_id == "service"
    assert fleet.state(ThumbnailRunner.objects.get(pk="service")) == fleet.ALIVE
