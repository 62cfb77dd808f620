"""The headless Runner without a browser: fake pages, the real API and run policy.

Each fake page does what ``headless.js`` does with its result (upload through the API under
its own runner id, or report a failure), so leases, run memory and lease ownership are the
server's real ones. API calls run inline (no threads, so no two at once); they still use
their own database connection (Django's connections are per async context), hence
transactional tests.
"""

import asyncio
import dataclasses
import json
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.management.base import BaseCommand, CommandError
from django.test import Client

from admin_tools.models import ThumbnailClaim, ThumbnailFailure, ThumbnailRunAsset, ThumbnailVersion
from admin_tools.runner import RunListener, Runner, RunOptions
from admin_tools.runner.browser import PageCrashed, PageHung
from admin_tools.runner.client import ApiError, AuthError, ThumbnailApi
from admin_tools.runner.console import CommandListener
from admin_tools.runner.summary import DONE, EXIT_UNUSABLE, FAILED, SKIPPED
from icosa.models import Asset, Format

from .conftest import b64, make_image

pytestmark = pytest.mark.django_db(transaction=True)


class DjangoClientApi(ThumbnailApi):
    """ThumbnailApi over Django's test client instead of a socket."""

    retries = 0

    def _once(self, method, url, body):
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = Client().generic(
            method,
            path,
            data=json.dumps(body) if body is not None else "",
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {self.token}",
        )
        payload = response.json() if response.content else {}
        if response.status_code >= 400:
            cls = AuthError if response.status_code in (401, 403) else ApiError
            raise cls(payload.get("detail", ""), status=response.status_code, body=payload)
        return payload


class FakeSession:
    """A browser: ``connected`` until a page of it crashes it; counts launches and stops."""

    all = []
    events = []

    def __init__(self, *, executable_path, gpu=False, driver=None):
        self.driver = driver
        self.connected = False
        self.launches = 0
        self.stops = 0
        FakeSession.all.append(self)

    async def start(self):
        self.connected = True
        self.launches += 1
        FakeSession.events.append(("launch", FakeSession.all.index(self)))

    async def open_spare(self):
        self.spares = getattr(self, "spares", 0) + 1

    async def ensure(self):
        if self.connected:
            return False
        await self.start()
        return True

    async def restart(self):
        await self.start()

    async def stop(self):
        self.connected = False
        self.stops += 1


class FakePage:
    """A worker page; ``script`` maps an asset name to what happens to it."""

    script = {}
    log = []

    def __init__(self, session, *, index, page_url, module_url, config):
        self.session = session
        self.index = index
        self.config = dict(config)
        self.models = 0
        self.alive = False
        self.opens = 0
        self._results = {}

    @property
    def api(self):
        return DjangoClientApi(self.config["apiBase"], self.config["token"], runner_id=self.config["runnerId"])

    async def open(self):
        assert self.session.connected, "a page opens in a running browser"
        FakeSession.events.append(("open", self.index))
        self.alive = True
        self.opens += 1
        self.models = 0
        return {"rendererString": "Fake GL", "maxTextureSize": 4096}

    async def start(self, asset, *, options=None, timeout=None):
        self.models += 1
        outcome = self.script.get(asset["name"], "done")
        FakePage.log.append((self.config["runnerId"], asset["name"]))
        if outcome == "crash":
            self.alive = False
            raise PageCrashed("The page crashed: Target crashed")
        if outcome == "browser dies":
            self.alive = False
            self.session.connected = False
            raise PageCrashed("The page crashed: Target closed")
        if outcome == "fatal":
            return {
                "uploading": False,
                "result": {
                    "status": FAILED,
                    "reason": "upload_rejected",
                    "detail": "Admin access required",
                    "fatal": True,
                },
            }
        if outcome == "skip":
            return {"uploading": False, "result": {"status": SKIPPED, "reason": "aborted", "detail": "Skipped"}}
        if outcome == "bad":
            answer = self.api.report_failure(asset["id"], reason="load_error", detail="not a model")
            return {
                "uploading": False,
                "result": {"status": FAILED, "reason": "load_error", "attempts": answer["attempts"]},
            }
        self._results[str(asset["id"])] = outcome
        return {"uploading": True}

    async def finish(self, asset_id, *, timeout=None):
        outcome = self._results.pop(asset_id)
        if outcome == "upload hangs":
            raise PageHung("No answer from the page in 90 s")
        stored = self.api.request(
            "POST",
            f"/admin/assets/{asset_id}/thumbnail",
            body={"thumbnail_base64": b64(make_image((512, 320))), "runner_id": self.config["runnerId"]},
        )
        result = {"status": DONE, "thumbnailUrl": stored["thumbnail_url"], "ms": 5}
        if outcome == "turntable refused":
            result["turntableError"] = "Turntable not stored: HTTP 422: frame refused"
        return result

    async def abort(self, message="", *, asset_id=None, timeout=3):
        return False

    async def memory(self, *, timeout=3):
        return None

    async def close(self):
        self.alive = False


class FakeRunner(Runner):
    api_class = DjangoClientApi
    session_class = FakeSession
    worker_class = FakePage


@pytest.fixture(autouse=True)
def inline_threads(monkeypatch):
    async def to_thread(function, *args, **kwargs):
        return function(*args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", to_thread)
    FakePage.log = []
    FakeSession.all = []
    FakeSession.events = []


def make_assets(*names):
    assets = []
    for name in names:
        asset = Asset.objects.create(name=name, state=Asset.State.COMPLETE)
        Format.objects.create(asset=asset, format_type="GLB")
        assets.append(asset)
    return assets


def server_options(staff_user):
    """The options a run knows once connected: the test server and a token for it."""
    return dict(
        server="http://testserver",
        token=staff_user.generate_jwt_token(),
        api_base="http://testserver/api/v1",
        page_url="http://testserver/batch-thumbs/headless/",
        module_url="/static/batch_thumbs/headless.js",
    )


def run(staff_user, script=None, *, listener=None, **options):
    FakePage.script = script or {}
    defaults = dict(server_options(staff_user), runner_name="fake", batch_size=2)
    runner = FakeRunner(RunOptions(**{**defaults, **options}), listener=listener)
    return runner, runner.run()


def test_workers_claim_under_their_own_runner_ids_in_one_run(staff_user):
    assets = make_assets("a", "b", "c", "d", "e")
    runner, summary = run(staff_user, workers=2)

    assert (summary.done, summary.failed, summary.skipped) == (5, 0, 0)
    assert sorted(ThumbnailVersion.objects.values_list("asset_id", flat=True)) == [a.pk for a in assets]
    assert set(ThumbnailVersion.objects.values_list("runner_id", flat=True)) <= {"fake/1", "fake/2"}
    assert set(ThumbnailRunAsset.objects.values_list("run_id", flat=True)) == {runner.options.run_id}
    assert not ThumbnailClaim.objects.exists()


def test_one_worker_uses_the_runner_name_and_each_run_gets_a_fresh_id(staff_user):
    make_assets("a")
    first, _ = run(staff_user)
    second, _ = run(staff_user)
    assert ThumbnailVersion.objects.get().runner_id == "fake"
    assert first.options.run_id != second.options.run_id
    assert first.options.run_id.startswith("fake.")


def test_a_skipped_asset_is_released_at_once_and_not_offered_to_the_run_again(staff_user):
    skipped, done = make_assets("skipped", "done")
    _, summary = run(staff_user, {"skipped": "skip"}, batch_size=1)
    assert (summary.done, summary.skipped) == (1, 1)
    assert [name for _, name in FakePage.log] == ["skipped", "done"]
    assert not ThumbnailClaim.objects.exists()
    assert not ThumbnailFailure.objects.exists()


def test_a_refused_turntable_is_printed_and_reported_while_the_still_counts_as_done(staff_user):
    """The page stores the still and says why the turntable was not (turntable.js); the
    console prints that as a warning and the JSON report keeps it per asset."""
    make_assets("spinning", "plain")
    command = BaseCommand(stdout=StringIO(), stderr=StringIO())
    listener = CommandListener(command, verbosity=1)
    _, summary = run(staff_user, {"spinning": "turntable refused"}, listener=listener)

    assert summary.done == 2
    errors = command.stderr.getvalue()
    assert "'spinning': Turntable not stored: HTTP 422: frame refused" in errors
    assert "plain" not in errors
    reported = {entry["name"]: entry["turntable_error"] for entry in summary.to_dict()["assets"]}
    assert reported == {"spinning": "Turntable not stored: HTTP 422: frame refused", "plain": ""}


def test_a_failure_is_recorded_once_and_the_run_moves_on(staff_user):
    make_assets("bad", "good")
    _, summary = run(staff_user, {"bad": "bad"})
    assert (summary.done, summary.failed) == (1, 1)
    assert ThumbnailFailure.objects.get().attempts == 1
    assert [name for _, name in FakePage.log] == ["bad", "good"]


def test_an_asset_with_an_internal_url_is_recorded_as_fetch_error_and_never_rendered(staff_user):
    from icosa.models import Resource

    internal, good = make_assets("internal", "good")
    fmt = internal.formats.get()
    Resource.objects.create(asset=internal, format=fmt, external_url="http://169.254.169.254/latest/model.glb")
    fmt.root_resource = fmt.resources.get()
    fmt.save()
    _, summary = run(staff_user)
    assert (summary.done, summary.failed) == (1, 1)
    assert [name for _, name in FakePage.log] == ["good"]
    failure = ThumbnailFailure.objects.get(asset=internal)
    assert failure.reason == "fetch_error" and "169.254.169.254" in failure.detail


def test_a_crashed_page_records_browser_crash_reopens_and_the_run_goes_on(staff_user):
    make_assets("a", "boom", "c")
    runner, summary = run(staff_user, {"boom": "crash"})
    assert (summary.done, summary.failed) == (2, 1)
    assert summary.failure_reasons == {"browser_crash": 1}
    assert summary.page_restarts == 1
    assert ThumbnailFailure.objects.get().reason == "browser_crash"
    assert not ThumbnailClaim.objects.exists()


def test_an_upload_that_hangs_is_released_not_held_against_the_asset(staff_user):
    stuck, _ = make_assets("stuck", "fine")
    _, summary = run(staff_user, {"stuck": "upload hangs"})
    assert summary.failure_reasons == {"upload_error": 1}
    assert not ThumbnailFailure.objects.exists()
    assert not ThumbnailClaim.objects.exists()
    stuck.refresh_from_db()
    assert not stuck.thumbnail
    assert [name for _, name in FakePage.log].count("stuck") == 1


def test_a_refused_token_stops_the_run_and_releases_every_lease(staff_user):
    make_assets("refused", "b", "c", "d")
    _, summary = run(staff_user, {"refused": "fatal"}, batch_size=4)
    assert summary.exit_code == EXIT_UNUSABLE
    assert "refused the page's token" in summary.error
    assert [name for _, name in FakePage.log] == ["refused"]
    assert not ThumbnailClaim.objects.exists()
    assert not ThumbnailVersion.objects.exists()


def test_limit_bounds_what_the_run_claims(staff_user):
    make_assets("a", "b", "c", "d", "e")
    _, summary = run(staff_user, limit=3, batch_size=2)
    assert summary.done == 3
    assert ThumbnailRunAsset.objects.count() == 3
    assert not ThumbnailClaim.objects.exists()


def test_a_forced_run_regenerates_each_asset_once(staff_user):
    make_assets("a", "b")
    run(staff_user)
    _, summary = run(staff_user, filters={"force": True})
    assert summary.done == 2
    assert ThumbnailVersion.objects.count() == 4


def test_workers_heartbeat_into_the_fleet_and_say_goodbye_at_the_end(staff_user):
    from admin_tools import fleet
    from admin_tools.models import ThumbnailRunner

    make_assets("a", "b", "bad")
    run(staff_user, {"bad": "bad"}, workers=2)
    rows = {row["runner_id"]: row for row in fleet.listing()}
    assert set(rows) == {"fake/1", "fake/2"}
    assert sum(row["done"] for row in rows.values()) == 2
    assert sum(row["failed"] for row in rows.values()) == 1
    assert {row["state"] for row in rows.values()} == {"gone"}  # the stopping beat
    assert {row["user"] for row in rows.values()} == {staff_user.username}
    assert all(r.host and r.version for r in ThumbnailRunner.objects.all())


def test_each_worker_gets_its_own_browser_and_shutdown_stops_every_one(staff_user):
    make_assets(*"abcdef")
    runner, summary = run(staff_user, workers=3)
    assert summary.done == 6
    assert len(FakeSession.all) == 3
    assert [page.session for page in runner.pages] == FakeSession.all
    assert len({id(session.driver) for session in FakeSession.all}) == 1  # one Playwright driver
    assert [(s.launches, s.stops) for s in FakeSession.all] == [(1, 1)] * 3


def test_shared_browsers_put_every_page_in_one_browser(staff_user):
    make_assets("a", "b", "c")
    runner, summary = run(staff_user, workers=2, browsers="shared")
    assert summary.done == 3
    assert len(FakeSession.all) == 1
    assert {id(page.session) for page in runner.pages} == {id(FakeSession.all[0])}


def test_a_dead_browser_is_relaunched_without_touching_the_other_workers_browser(staff_user):
    make_assets("a", "dies", "c", "d", "e", "f")
    runner, summary = run(staff_user, {"dies": "browser dies"}, workers=2, batch_size=1)
    assert (summary.done, summary.failed) == (5, 1)
    assert summary.failure_reasons == {"browser_crash": 1}
    died = next(runnerid for runnerid, name in FakePage.log if name == "dies")
    launches = {page.config["runnerId"]: page.session.launches for page in runner.pages}
    assert launches == {died: 2, **{other: 1 for other in launches if other != died}}
    assert [s.stops for s in FakeSession.all] == [1, 1]
    assert not ThumbnailClaim.objects.exists()


def test_a_worker_gets_a_fresh_browser_after_recycle_browser_after_models(staff_user):
    make_assets(*"abcdefg")
    runner, summary = run(staff_user, recycle_after=2, recycle_browser_after=4)
    assert summary.done == 7
    assert summary.page_recycles == 3  # after models 2, 4 and 6
    assert summary.browser_recycles == 1  # after model 4
    assert FakeSession.all[0].launches == 2


def test_a_shared_browser_is_never_recycled_under_the_other_pages(staff_user):
    make_assets(*"abcdef")
    _, summary = run(staff_user, workers=2, browsers="shared", recycle_after=1, recycle_browser_after=1)
    assert summary.done == 6
    assert summary.browser_recycles == 0
    assert FakeSession.all[0].launches == 1


def test_nothing_to_do_stops_the_browsers_launched_meanwhile(staff_user):
    runner, summary = run(staff_user, workers=2)
    assert summary.processed == 0 and not summary.error
    assert all(s.stops == 1 for s in FakeSession.all)
    assert not runner.pages


def test_workers_claiming_at_once_stay_within_the_limit(staff_user):
    make_assets(*"abcdef")
    _, summary = run(staff_user, workers=3, limit=4, batch_size=2)
    assert summary.done == 4
    assert ThumbnailRunAsset.objects.count() == 4
    assert not ThumbnailClaim.objects.exists()


def test_the_summary_records_when_each_start_up_phase_ended(staff_user):
    make_assets("a")
    _, summary = run(staff_user, workers=2)
    phases = summary.startup
    for phase in ("browser launched", "token checked", "first claim", "first thumbnail stored"):
        assert phase in phases, phase
    assert phases["first thumbnail stored"] >= max(phases["browser launched"], phases["first claim"])


def test_the_other_browsers_start_after_the_first_result(staff_user):
    """Started together on two cores they would delay the first page, so the first thumbnail."""
    make_assets(*"abcdef")
    _, summary = run(staff_user, workers=3)
    assert summary.done == 6
    assert FakeSession.events[:2] == [("launch", 0), ("open", 0)]
    assert FakePage.log[0][0] == "fake/1"
    assert sorted(FakeSession.events[2:]) == [("launch", 1), ("launch", 2), ("open", 1), ("open", 2)]


def test_a_worker_whose_first_claim_got_nothing_starts_no_browser(staff_user):
    make_assets("a", "b")
    _, summary = run(staff_user, workers=2, batch_size=2)
    assert summary.done == 2
    assert [s.launches for s in FakeSession.all] == [1, 0]
    assert not ThumbnailClaim.objects.exists()


def connected(staff_user, **overrides):
    """A run whose server and token come from ``connect`` (as the command's do)."""
    base = RunOptions(
        server="", token="", runner_name="fake", api_base="", page_url="", module_url="", batch_size=2, **overrides
    )

    def connect(options):
        FakeSession.events.append(("connect", len(FakeSession.all)))
        return dataclasses.replace(options, **server_options(staff_user))

    return base, connect


def test_connect_runs_once_the_first_browser_is_under_way_and_the_pages_get_its_options(staff_user):
    make_assets("a", "b")
    base, connect = connected(staff_user)
    summary = FakeRunner(base, connect=connect).run()
    assert summary.done == 2
    assert summary.server == "http://testserver"
    # The first browser was on its way (its session made, its launch scheduled) before connect.
    assert FakeSession.events[0] == ("connect", 1)
    assert "server ready" in summary.startup and "first thumbnail stored" in summary.startup
    assert FakeSession.all[0].spares == 1
    assert not ThumbnailClaim.objects.exists()


def test_a_failing_connect_stops_the_browser_it_started_and_raises(staff_user):
    base, _ = connected(staff_user)

    def connect(options):
        raise CommandError("No active superuser to run as")

    with pytest.raises(CommandError, match="superuser"):
        FakeRunner(base, connect=connect).run()
    assert [s.stops for s in FakeSession.all] == [1]


def test_a_dry_run_connects_without_starting_a_browser(staff_user):
    make_assets("a")
    base, connect = connected(staff_user)
    assets, total = FakeRunner(base, connect=connect).dry_run()
    assert total == 1 and [a["name"] for a in assets] == ["a"]
    assert FakeSession.all == []


class RecordingListener(RunListener):
    def __init__(self):
        self.warnings = []

    def warning(self, message):
        self.warnings.append(message)


@pytest.mark.parametrize(
    ("cpus", "workers", "gpu", "warned"), [(2, 2, False, True), (8, 4, False, False), (2, 2, True, False)]
)
def test_more_cpu_workers_than_the_cores_can_feed_are_warned_about(staff_user, monkeypatch, cpus, workers, gpu, warned):
    make_assets("a")
    monkeypatch.setattr("os.cpu_count", lambda: cpus)
    listener = RecordingListener()
    run(staff_user, listener=listener, workers=workers, gpu=gpu)
    said = [w for w in listener.warnings if "render no faster" in w]
    assert bool(said) == warned
    if warned:
        assert said[0].startswith(f"{workers} workers on {cpus} CPU cores") and "more than 1 render" in said[0]


def test_the_node_driver_keeps_its_compile_cache_where_the_operator_says(monkeypatch, tmp_path):
    from admin_tools.runner.browser import node_compile_cache

    monkeypatch.delenv("NODE_COMPILE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert node_compile_cache() == str(tmp_path / "icosa-thumbnails" / "node-compile-cache")
    monkeypatch.setenv("NODE_COMPILE_CACHE", "/srv/cache/node")
    assert node_compile_cache() == "/srv/cache/node"
