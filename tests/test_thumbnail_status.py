"""``thumbnail_status``: the counts an operator reads during a long job."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from admin_tools.models import ThumbnailClaim, ThumbnailFailure
from icosa.models import Asset

from .conftest import token_file

pytestmark = pytest.mark.django_db


def status(*args):
    out = StringIO()
    call_command("thumbnail_status", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def backlog(settings):
    """Ten complete assets: 4 with thumbnails, 1 given up on, 2 leased (1 expired), 1 not renderable."""
    now = timezone.now()
    assets = [
        Asset.objects.create(name=f"asset {i}", state=Asset.State.COMPLETE, is_viewer_compatible=True)
        for i in range(10)
    ]
    for asset in assets[:4]:
        asset.thumbnail.name = f"thumbnails/{asset.pk}/t.jpg"
        asset.save()
    ThumbnailFailure.objects.create(
        asset=assets[4],
        attempts=settings.THUMBNAIL_MAX_FAILURES,
        reason="load_error",
        last_failed_at=now,
    )
    ThumbnailFailure.objects.create(asset=assets[5], attempts=1, reason="timeout", last_failed_at=now)
    ThumbnailClaim.objects.create(
        asset=assets[6],
        runner_id="r1",
        claimed_at=now,
        expires_at=now + timedelta(minutes=5),
    )
    ThumbnailClaim.objects.create(
        asset=assets[7],
        runner_id="r2",
        claimed_at=now,
        expires_at=now - timedelta(seconds=1),
    )
    Asset.objects.filter(pk=assets[9].pk).update(is_viewer_compatible=False)
    Asset.objects.create(name="still uploading", state=Asset.State.UPLOADING)
    return assets


def test_counts_read_like_a_progress_report(backlog):
    """Done of total with a percentage, then remaining, failed (gave up) and leased."""
    out = status()

    assert "With thumbnails: 4 / 10 (40.0%)" in out
    assert "Remaining:" in out and "6 (5 renderable, 1 not renderable" in out
    lines = {line.split(":")[0]: line for line in out.splitlines()}
    assert lines["Failed"].split()[1] == "1"
    assert lines["In progress"].split()[2] == "1"  # the expired lease does not count


def test_json_has_every_count(backlog):
    data = json.loads(status("--json"))

    assert data == {
        "total": 10,
        "with_thumbnail": 4,
        "remaining": 6,
        "renderable_remaining": 5,
        "not_renderable": 1,
        "failed": 1,
        "in_progress": 1,
        "percent": 40.0,
        "runners": [],
        "fleet_rate_per_minute": 0.0,
        "eta_seconds": None,
        "eta_assets": 4,
    }


def test_the_fleet_and_the_eta_at_its_rate(backlog, staff_user):
    from admin_tools import fleet

    fleet.heartbeat(runner_id="box-1", user=staff_user, host="box", version="2", renderer="SwiftShader",
                    done=3, failed=1, rate_per_minute=0.5)  # fmt: skip
    out = status()
    assert "Runners: 1 (1 alive)" in out
    assert "box-1  alive" in out and "done 3, failed 1, 0.5/min" in out
    # The ETA counts what a claim still hands out: 5 renderable, less the one given up on.
    assert "ETA: 0h 08m for 4 at 0.5 assets/min" in out


def test_an_empty_gallery_is_complete():
    out = status()

    assert "With thumbnails: 0 / 0 (100.0%)" in out
    assert "Every asset has a thumbnail." in out


@pytest.mark.django_db(transaction=True)
def test_remote_gallery_through_the_api(live_server, staff_user, backlog):
    """--server asks the status endpoint instead of the database; a bad token is exit 2."""
    data = json.loads(
        status(
            "--server",
            live_server.url,
            "--token-file",
            token_file(staff_user.generate_jwt_token()),
            "--json",
        )
    )
    assert data["with_thumbnail"] == 4 and data["in_progress"] == 1

    with pytest.raises(CommandError, match="refused the token") as caught:
        status("--server", live_server.url, "--token-file", token_file("nonsense"))
    assert caught.value.returncode == 2


@pytest.mark.django_db(transaction=True)
def test_remote_gallery_shows_the_same_fleet_and_eta_as_local_mode(live_server, staff_user, backlog):
    from admin_tools import fleet

    fleet.heartbeat(runner_id="box-1", user=staff_user, host="box", version="2", renderer="SwiftShader",
                    done=3, failed=1, rate_per_minute=0.5)  # fmt: skip
    remote = status("--server", live_server.url, "--token-file", token_file(staff_user.generate_jwt_token()))
    assert "Runners: 1 (1 alive)" in remote
    assert "box-1  alive" in remote and "done 3, failed 1, 0.5/min" in remote
    assert remote == status()
