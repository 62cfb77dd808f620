"""``render_thumbnails`` end to end: real headless Chromium, the real API, stored pixels.

Runs inside the test process use the command's embedded server; runs that must be killed or
interrupted are separate processes pointed at ``live_server`` with ``--server``.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone
from PIL import Image, ImageStat

from admin_tools.models import ThumbnailClaim, ThumbnailFailure, ThumbnailVersion
from admin_tools.runner import ThumbnailApi
from icosa.demo import write_demo_models
from icosa.models import Asset

from .conftest import import_fixture, start_ids_above_2_53, token_file
from .fixtures.processes import descendants

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BACKGROUND = (0xE8, 0xEA, 0xED)
RUNNER_TIMEOUT = 180


def render(*args, **options):
    """Run the command in-process; returns (exit code, stdout, stderr)."""
    out, err = StringIO(), StringIO()
    try:
        call_command("render_thumbnails", *args, stdout=out, stderr=err, **options)
        code = 0
    except CommandError as error:
        code = error.returncode
        err.write(str(error))
    return code, out.getvalue(), err.getvalue()


def assert_real_thumbnail(asset):
    """Stored 512x320, not one flat colour, and the model (not the background) in the middle."""
    asset.refresh_from_db()
    assert asset.thumbnail, f"{asset.name} has no thumbnail"
    with asset.thumbnail.open("rb") as handle:
        image = Image.open(handle).convert("RGB")
        image.load()
    assert image.size == (512, 320)
    assert max(ImageStat.Stat(image).stddev) > 10, f"{asset.name}: the thumbnail is uniform"
    w, h = image.size
    centre = ImageStat.Stat(image.crop((w // 2 - 32, h // 2 - 20, w // 2 + 32, h // 2 + 20))).mean
    assert max(abs(c - b) for c, b in zip(centre, BACKGROUND, strict=False)) > 20, (
        f"{asset.name}: the centre of the thumbnail is background"
    )


def runner_env():
    """A runner process talks to the API only; a database it could reach would hide a bug."""
    return {
        **os.environ,
        "DATABASE_URL": "postgres://runners-have-no-database@127.0.0.1:9/none",
        "PYTHONUNBUFFERED": "1",
    }


def start_runner(server, token, *args):
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "render_thumbnails",
            "--server",
            server,
            *args,
        ],
        cwd=settings.BASE_DIR,
        env={**runner_env(), "ICOSA_JWT_TOKEN": token},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        # A suite started as a background job (`make test &`, nohup) passes SIGINT on ignored,
        # and Python then never raises KeyboardInterrupt: give the runner the terminal's default.
        preexec_fn=_default_sigint,
    )


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def kill_tree(process):
    for pid in [*descendants(process.pid), process.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=30)


def wait_for(condition, *, timeout=90, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"Timed out waiting for {what}")


@pytest.fixture
def demo_assets(tmp_path):
    return [import_fixture(path) for path in write_demo_models(tmp_path / "models", count=8)]


@pytest.fixture
def long_run_assets(tmp_path):
    """Enough models that a run is still going when a test interrupts it after the first
    thumbnail: with a warm page 8 small models take under 2 s, less than a signal's round trip
    on a loaded machine."""
    return [import_fixture(path) for path in write_demo_models(tmp_path / "models", count=40)]


def test_sample_models_render_and_bad_ones_fail(superuser, tmp_path, ok_models, bad_models):
    """The sample ok models get real thumbnails, the bad ones fail with reasons; exit 1."""
    start_ids_above_2_53()
    ok = [import_fixture(path) for path in ok_models]
    bad = [import_fixture(path) for path in bad_models]
    assert ok and bad and min(a.pk for a in ok) > 2**53
    report = tmp_path / "report.json"

    code, out, err = render("--json-report", str(report), "--runner-id", "test-runner")

    assert code == 1, out + err
    for asset in ok:
        assert_real_thumbnail(asset)
        version = ThumbnailVersion.objects.get(asset=asset)
        assert version.runner_id == "test-runner"
        assert "SwiftShader" in version.renderer
    for asset in bad:
        asset.refresh_from_db()
        assert not asset.thumbnail
        failure = ThumbnailFailure.objects.get(asset=asset)
        assert failure.reason and failure.detail and failure.attempts == 1
        assert f"{asset.pk} " in err and "failed" in err
    assert not ThumbnailClaim.objects.exists()
    assert f"{len(ok)} thumbnails done, {len(bad)} failed, 0 skipped." in out
    assert "WebGL renderer: ANGLE" in out
    assert "Failures by reason:" in out and "models/minute" in out
    assert f"{len(bad)} assets failed." in err

    data = json.loads(report.read_text())
    assert data["done"] == len(ok) and data["failed"] == len(bad) and data["exit_code"] == 1
    assert sum(data["failure_reasons"].values()) == len(bad)
    assert {a["asset_id"] for a in data["assets"]} == {str(a.pk) for a in ok + bad}
    assert data["median_ms"] > 0 and data["models_per_minute"] > 0


def test_asset_ids_select_and_force_regenerates(superuser, sample_models):
    """--asset-ids renders only those; a rerun skips them unless --force makes a new version."""
    duck, box = (import_fixture(p) for p in sample_models.named("textured-box", "draco-box"))

    code, out, err = render("--asset-ids", str(duck.pk))
    assert code == 0, out + err
    duck.refresh_from_db()
    box.refresh_from_db()
    assert duck.thumbnail and not box.thumbnail
    first = duck.thumbnail.name

    code, out, err = render("--asset-ids", str(duck.pk))
    assert code == 0, out + err
    assert "0 asset(s) to render" in out
    assert ThumbnailVersion.objects.filter(asset=duck).count() == 1

    code, out, err = render("--asset-ids", str(duck.pk), "--force")
    assert code == 0, out + err
    assert "1 thumbnail done, 0 failed" in out
    assert ThumbnailVersion.objects.filter(asset=duck).count() == 2
    assert ThumbnailVersion.objects.filter(asset=duck, is_current=True).count() == 1
    assert_real_thumbnail(duck)
    assert ThumbnailVersion.objects.get(asset=duck, is_current=True).thumbnail.name != first
    box.refresh_from_db()
    assert not box.thumbnail


def test_dry_run_lists_and_claims_nothing(superuser, ok_models):
    """--dry-run names what would be rendered and leaves no lease behind."""
    assets = [import_fixture(p) for p in ok_models[:3]]

    code, out, err = render("--dry-run", "--limit", "2")

    assert code == 0, out + err
    assert "3 assets would be rendered; listing 2:" in out
    assert f"  {assets[0].pk}  " in out and f"  {assets[2].pk}  " not in out
    assert not ThumbnailClaim.objects.exists()
    assert not Asset.objects.exclude(thumbnail="").exists()


def test_filters_reach_the_api(superuser, staff_user, sample_models):
    """--owner, --format and --created-before select the same assets the claims would."""
    glb, embedded, box = sample_models.named("textured-box", "embedded", "red-box")
    owned = import_fixture(glb, owner=staff_user)
    gltf = import_fixture(embedded)
    other = import_fixture(box)

    code, out, err = render("--dry-run", "--owner", staff_user.username)
    assert code == 0, out + err
    assert "1 asset would be rendered" in out and f"  {owned.pk}  " in out

    code, out, err = render("--dry-run", "--format", "gltf2")
    assert "1 asset would be rendered" in out and f"  {gltf.pk}  " in out

    code, out, err = render("--dry-run", "--created-before", "2000-01-01")
    assert "0 assets would be rendered" in out and f"  {other.pk}  " not in out


def test_expired_lease_of_killed_runner_is_taken_over(live_server, staff_user, settings, demo_assets):
    """A runner killed mid-batch keeps its leases until they expire; then another does them."""
    # Long enough that a busy machine still asks the "early" question inside the lease (with
    # 5 s, a loaded CI machine once got there after the leases had already run out).
    settings.THUMBNAIL_CLAIM_SECONDS = 15
    token = staff_user.generate_jwt_token()
    doomed = start_runner(live_server.url, token, "--runner-id", "doomed", "--batch-size", "8")
    try:
        wait_for(
            lambda: ThumbnailClaim.objects.filter(runner_id="doomed").exists() or doomed.poll() is not None,
            what="the first runner to claim work",
        )
    finally:
        kill_tree(doomed)
    stranded = set(ThumbnailClaim.objects.filter(runner_id="doomed").values_list("asset_id", flat=True))
    stranded -= set(ThumbnailVersion.objects.values_list("asset_id", flat=True))
    assert stranded, doomed.stdout.read()

    # While the leases last, nobody else gets those assets.
    early = ThumbnailApi(live_server.url + "/api/v1", token, runner_id="early")
    assert not {int(a["id"]) for a in early.claim(count=10)["assets"]} & stranded
    expiry = max(ThumbnailClaim.objects.filter(asset_id__in=stranded).values_list("expires_at", flat=True))
    time.sleep(max(0.0, (expiry - timezone.now()).total_seconds()) + 0.2)
    # An upload the killed runner had already sent may still have landed (and released
    # its lease) after the first look; what is left now is what nobody will finish.
    stranded = set(ThumbnailClaim.objects.filter(runner_id="doomed").values_list("asset_id", flat=True)) - set(
        ThumbnailVersion.objects.values_list("asset_id", flat=True)
    )
    assert stranded
    code, out, err = render("--server", live_server.url, "--token-file", token_file(token), "--runner-id", "rescuer")

    assert code == 0, out + err
    for asset_id in stranded:
        version = ThumbnailVersion.objects.get(asset_id=asset_id)
        assert version.runner_id == "rescuer"
    for asset in Asset.objects.all():
        assert asset.thumbnail_versions.count() == 1, asset.pk
    assert not Asset.objects.filter(thumbnail="").exists()
    assert not ThumbnailClaim.objects.exists()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_releases_claims_and_a_rerun_continues(live_server, staff_user, long_run_assets, stop):
    """SIGINT (Ctrl-C) or SIGTERM (a stopped service): the in-flight asset is aborted, leases
    released, summary printed; rerun finishes."""
    token = staff_user.generate_jwt_token()
    runner = start_runner(live_server.url, token, "--runner-id", "interrupted", "--batch-size", "8")
    try:
        wait_for(
            lambda: ThumbnailVersion.objects.exists() or runner.poll() is not None,
            what="the first thumbnail",
        )
        runner.send_signal(stop)
        out, _ = runner.communicate(timeout=RUNNER_TIMEOUT)
    finally:
        if runner.poll() is None:
            kill_tree(runner)

    assert runner.returncode == 130, out
    assert "Interrupted" in out and "Released" in out
    assert re.search(r"\d+ thumbnails? done, \d+ failed, \d+ skipped\.", out)
    assert not ThumbnailClaim.objects.exists()
    from admin_tools import fleet
    from admin_tools.models import ThumbnailRunner

    assert fleet.state(ThumbnailRunner.objects.get(pk="interrupted")) == fleet.GONE  # its goodbye beat
    left = Asset.objects.filter(thumbnail="").count()
    assert 0 < left < len(long_run_assets)

    code, out, err = render("--server", live_server.url, "--token-file", token_file(token))
    assert code == 0, out + err
    assert f"{left} thumbnail{'s' if left > 1 else ''} done" in out
    for asset in long_run_assets:
        assert ThumbnailVersion.objects.filter(asset=asset).count() == 1


def test_crashed_page_is_restarted_and_the_run_goes_on(live_server, staff_user, long_run_assets):
    """Killing Chromium's renderer process mid-run costs at most the asset in flight."""
    token = staff_user.generate_jwt_token()
    runner = start_runner(live_server.url, token, "--runner-id", "crashy")
    try:
        wait_for(
            lambda: ThumbnailVersion.objects.exists() or runner.poll() is not None,
            what="the first thumbnail",
        )
        renderers = [pid for pid in descendants(runner.pid) if "--type=renderer" in cmdline(pid)]
        assert renderers
        for pid in renderers:
            os.kill(pid, signal.SIGKILL)
        out, _ = runner.communicate(timeout=RUNNER_TIMEOUT)
    finally:
        if runner.poll() is None:
            kill_tree(runner)

    assert runner.returncode in (0, 1), out
    assert "restarted" in out
    # The asset in flight is the only one lost: failed if the crash hit its render (a
    # browser_crash failure), released for a later run if it hit its upload (it was rendered,
    # so no failure is held against it).
    lost = [asset.pk for asset in long_run_assets if not ThumbnailVersion.objects.filter(asset=asset).exists()]
    assert len(lost) <= 1, lost
    assert ThumbnailFailure.objects.filter(reason="browser_crash").count() <= len(lost)
    for asset in long_run_assets:
        assert ThumbnailVersion.objects.filter(asset=asset).count() <= 1
    assert not ThumbnailClaim.objects.exists()


def chromium_browsers(pid):
    """The main Chromium processes below ``pid`` (not their GPU, renderer or zygote children)."""
    return {
        child
        for child in descendants(pid)
        if "chrom" in cmdline(child).split(" ", 1)[0] and "--type=" not in cmdline(child)
    }


def test_each_worker_has_its_own_chromium_and_a_killed_one_is_relaunched_alone(live_server, staff_user, tmp_path):
    """--workers 2: two browsers; killing one relaunches that one, the other renders on."""
    assets = [import_fixture(path) for path in write_demo_models(tmp_path / "models", count=16)]
    token = staff_user.generate_jwt_token()
    runner = start_runner(live_server.url, token, "--runner-id", "two", "--workers", "2", "--batch-size", "1")
    try:
        wait_for(
            lambda: (
                (ThumbnailVersion.objects.exists() and len(chromium_browsers(runner.pid)) == 2)
                or runner.poll() is not None
            ),
            what="two browsers and the first thumbnail",
        )
        first, survivor = sorted(chromium_browsers(runner.pid))
        os.kill(first, signal.SIGKILL)
        wait_for(
            lambda: len(chromium_browsers(runner.pid) - {first}) == 2 or runner.poll() is not None,
            what="the killed browser to be launched again",
        )
        assert survivor in chromium_browsers(runner.pid), "the other worker's browser was restarted"
        out, _ = runner.communicate(timeout=RUNNER_TIMEOUT)
    finally:
        if runner.poll() is None:
            kill_tree(runner)

    assert runner.returncode in (0, 1), out
    assert "went away; started it again" in out
    crashed = ThumbnailFailure.objects.filter(reason="browser_crash").count()
    assert crashed <= 1
    # At most the asset rendering and the one uploading in the killed browser are lost.
    assert ThumbnailVersion.objects.count() >= len(assets) - 2
    assert set(ThumbnailVersion.objects.values_list("runner_id", flat=True)) == {"two/1", "two/2"}
    for asset in assets:
        assert ThumbnailVersion.objects.filter(asset=asset).count() <= 1
    assert not ThumbnailClaim.objects.exists()


def test_bad_token_exits_2(live_server):
    code, out, err = render("--server", live_server.url, "--token-file", token_file("not-a-jwt"))

    assert code == 2
    assert "refused the token" in err and "Invalid or expired JWT token" in err
    assert not ThumbnailClaim.objects.exists()


def test_missing_chromium_exits_2(superuser, monkeypatch):
    code, out, err = render("--chromium", "/nonexistent/chromium")
    assert code == 2
    assert "Chromium not found at '/nonexistent/chromium'" in err

    monkeypatch.setenv("CHROMIUM_PATH", "/nonexistent/from-env")
    code, out, err = render()
    assert code == 2
    assert "/nonexistent/from-env" in err


def test_the_system_checks_run_beside_chromium_and_stop_the_run(superuser):
    """They moved from before handle() into the run's connect thread; a failing one still ends
    the run before anything is claimed, and the browser started meanwhile is stopped."""
    from django.core import checks
    from django.core.management.base import SystemCheckError

    def failing(app_configs, **kwargs):
        return [checks.Error("probe failure", id="tests.E001")]

    checks.register(failing, "tests")
    try:
        with pytest.raises(SystemCheckError, match="probe failure"):
            call_command("render_thumbnails", skip_checks=False, stdout=StringIO(), stderr=StringIO())
        # call_command skips them by default, as Django's own commands do.
        assert render("--dry-run")[0] == 0
    finally:
        checks.registry.registry.registered_checks.discard(failing)
    assert not ThumbnailClaim.objects.exists()
    assert not [pid for pid in descendants(os.getpid()) if "chrom" in Path(f"/proc/{pid}/cmdline").read_text()]


def test_no_webgl_exits_2(superuser, tmp_path, ok_models):
    """A Chromium without WebGL cannot work at all: exit 2 with the page's own error."""
    import_fixture(ok_models[0])
    wrapper = tmp_path / "chromium-without-webgl"
    wrapper.write_text('#!/bin/sh\nexec /usr/bin/chromium --disable-webgl --disable-3d-apis "$@"\n')
    wrapper.chmod(0o755)

    code, out, err = render("--chromium", str(wrapper))

    assert code == 2
    assert "WebGL" in err
    assert not ThumbnailClaim.objects.exists()
    assert not ThumbnailFailure.objects.exists()


def test_forced_regeneration_keeps_history_and_revert_restores(superuser, sample_models):
    """A forced batch over assets with thumbnails adds versions; a revert brings one back; no
    earlier file is lost, and the renderer filter picks only other renderers' work."""
    from django.core.files.storage import default_storage

    from admin_tools.services import revert_thumbnail

    assets = [import_fixture(p) for p in sample_models.named("textured-box", "red-box")]
    code, out, err = render()
    assert code == 0, out + err
    firsts = {}
    for asset in assets:
        asset.refresh_from_db()
        firsts[asset.pk] = (asset.thumbnail.name, asset.preview_image.name)
    renderer = ThumbnailVersion.objects.filter(is_current=True).first().renderer
    assert renderer  # the WebGL renderer string is recorded

    code, out, err = render("--force", "--renderer-not", renderer)
    assert code == 0, out + err
    assert ThumbnailVersion.objects.count() == len(assets)  # same renderer: nothing to do

    code, out, err = render("--force")
    assert code == 0, out + err
    for asset in assets:
        versions = ThumbnailVersion.objects.filter(asset=asset)
        assert versions.count() == 2
        assert_real_thumbnail(asset)
        assert asset.thumbnail.name != firsts[asset.pk][0]

    reverted = assets[0]
    first_version = ThumbnailVersion.objects.filter(asset=reverted).order_by("id").first()
    revert_thumbnail(version=first_version, user=superuser)
    reverted.refresh_from_db()
    assert (reverted.thumbnail.name, reverted.preview_image.name) == firsts[reverted.pk]
    for version in ThumbnailVersion.objects.all():
        assert default_storage.exists(version.thumbnail.name)
        assert default_storage.exists(version.preview_image.name)
