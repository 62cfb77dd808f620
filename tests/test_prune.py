"""prune_thumbnails and clean_orphan_thumbnails on the filesystem storage."""

import os
import time
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import TestCase

from admin_tools import services
from admin_tools.models import ThumbnailVersion
from icosa.models import Asset

from .conftest import b64, make_image

# transaction=True: prune deletes files on commit (transaction.on_commit), which a test
# wrapped in a rolled-back transaction never reaches.
pytestmark = pytest.mark.django_db(transaction=True)

COLOURS = ["red", "green", "blue", "orange", "purple", "black"]


def files_on_disk(root):
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


# Two JPEGs per version plus its extra derivatives (card 256/512/1024 as WebP, 256/1024 as
# JPEG, the preview as WebP), all made right after each commit in these tests.
PER_VERSION = 8


def version_files(version):
    extras = list(version.derivatives.values_list("file", flat=True))
    return [version.thumbnail.name, version.preview_image.name, *extras]


def size_of(names):
    return sum(default_storage.size(name) for name in names)


def regenerate(asset, user, times):
    """Upload ``times`` different images; returns the versions, oldest first."""
    versions = []
    for colour in COLOURS[:times]:
        _, version = services.store_thumbnail(
            asset_id=asset.pk, thumbnail_base64=b64(make_image(shape=colour)), user=user
        )
        versions.append(version)
    return versions


def run(command, *args, **options):
    """Files are deleted once the prune commits (transaction.on_commit): run those callbacks."""
    out, err = StringIO(), StringIO()
    with TestCase.captureOnCommitCallbacks(execute=True):
        call_command(command, *args, interactive=False, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def history(media_root, staff_user):
    """One asset regenerated four times, another twice."""
    busy = Asset.objects.create(name="Busy", state=Asset.State.COMPLETE)
    quiet = Asset.objects.create(name="Quiet", state=Asset.State.COMPLETE)
    return {
        "busy": (busy, regenerate(busy, staff_user, 4)),
        "quiet": (quiet, regenerate(quiet, staff_user, 2)),
    }


def test_prune_keeps_the_newest_earlier_versions_and_the_current_one(history, media_root):
    """--keep 1 leaves the current version plus one earlier one per asset."""
    busy, (b1, b2, b3, b4) = history["busy"]
    quiet, (q1, q2) = history["quiet"]
    doomed_files = version_files(b1) + version_files(b2)
    freed = size_of(doomed_files)
    assert all((media_root / name).exists() for name in doomed_files)

    out, _ = run("prune_thumbnails", keep=1)

    assert f"Removed 2 thumbnail versions and {2 * PER_VERSION} files, freeing {freed} bytes." in out
    assert set(ThumbnailVersion.objects.values_list("pk", flat=True)) == {
        b3.pk,
        b4.pk,
        q1.pk,
        q2.pk,
    }
    for name in doomed_files:
        assert not (media_root / name).exists(), name
    for version in (b3, b4, q1, q2):
        for name in version_files(version):
            assert (media_root / name).is_file(), name
    busy.refresh_from_db()
    assert busy.thumbnail.name == b4.thumbnail.name
    assert busy.preview_image.name == b4.preview_image.name
    assert ThumbnailVersion.objects.get(pk=b4.pk).is_current


def test_prune_keep_zero_leaves_only_current_files(history, media_root):
    """--keep 0 removes every earlier version; each asset's current files stay."""
    busy, busy_versions = history["busy"]
    quiet, quiet_versions = history["quiet"]

    out, _ = run("prune_thumbnails", keep=0)

    assert f"Removed 4 thumbnail versions and {4 * PER_VERSION} files" in out
    current = version_files(busy_versions[-1]) + version_files(quiet_versions[-1])
    assert files_on_disk(media_root) == sorted(current)
    assert list(ThumbnailVersion.objects.order_by("pk").values_list("pk", flat=True)) == [
        busy_versions[-1].pk,
        quiet_versions[-1].pk,
    ]
    for asset in (busy, quiet):
        asset.refresh_from_db()
        assert asset.thumbnail.name in current and asset.preview_image.name in current


def test_prune_dry_run_reports_and_removes_nothing(history, media_root):
    """--dry-run reports the real run's counts but leaves files and rows alone."""
    busy, (b1, b2, _, _) = history["busy"]
    freed = size_of(version_files(b1) + version_files(b2))
    before_files = files_on_disk(media_root)
    before_versions = ThumbnailVersion.objects.count()

    out, _ = run("prune_thumbnails", keep=1, dry_run=True)

    assert f"Would remove 2 thumbnail versions and {2 * PER_VERSION} files, freeing {freed} bytes." in out
    assert files_on_disk(media_root) == before_files
    assert ThumbnailVersion.objects.count() == before_versions


def test_prune_with_nothing_to_do_says_so(history, media_root):
    before = files_on_disk(media_root)

    out, _ = run("prune_thumbnails", keep=5)

    assert "Nothing to prune" in out
    assert files_on_disk(media_root) == before
    assert ThumbnailVersion.objects.count() == 6


def test_prune_requires_keep(history):
    """Without --keep the command refuses; pruning history only happens when asked."""
    with pytest.raises(CommandError, match="--keep"):
        run("prune_thumbnails")
    assert ThumbnailVersion.objects.count() == 6


@pytest.mark.parametrize("keep", ["-1", "two"])
def test_prune_refuses_a_bad_keep(history, keep):
    with pytest.raises(CommandError, match="argument --keep"):
        run("prune_thumbnails", f"--keep={keep}")
    assert ThumbnailVersion.objects.count() == 6


def test_prune_after_revert_never_deletes_the_now_current_file(media_root, staff_user):
    """Reverting to v1 makes its files current again; pruning the rest keeps them."""
    asset = Asset.objects.create(name="Reverted", state=Asset.State.COMPLETE)
    v1, v2, v3 = regenerate(asset, staff_user, 3)
    reverted = services.revert_thumbnail(version=v1, user=staff_user)
    asset.refresh_from_db()
    assert asset.thumbnail.name == v1.thumbnail.name
    freed = size_of(version_files(v2) + version_files(v3))

    out, _ = run("prune_thumbnails", keep=0)

    # v1, v2 and v3 are all earlier versions now; only v2's and v3's files are unused.
    assert f"Removed 3 thumbnail versions and {2 * PER_VERSION} files, freeing {freed} bytes." in out
    assert list(ThumbnailVersion.objects.values_list("pk", flat=True)) == [reverted.pk]
    # v1's files, its derivatives included, live on in the revert.
    assert files_on_disk(media_root) == sorted(version_files(reverted))
    assert len(version_files(reverted)) == PER_VERSION
    asset.refresh_from_db()
    with default_storage.open(asset.thumbnail.name) as current:
        assert current.read()[:2] == b"\xff\xd8"
    assert (media_root / asset.preview_image.name).is_file()


def test_prune_keeps_an_earlier_version_that_shares_files_with_a_kept_one(media_root, staff_user):
    """A pruned version's files survive while a kept revert record uses them."""
    asset = Asset.objects.create(name="Shared", state=Asset.State.COMPLETE)
    v1, v2 = regenerate(asset, staff_user, 2)
    services.revert_thumbnail(version=v1, user=staff_user)  # current: copy of v1
    services.store_thumbnail(  # current: v4; earlier: revert (v1 files), v2, v1
        asset_id=asset.pk,
        thumbnail_base64=b64(make_image(shape="black")),
        user=staff_user,
    )

    out, _ = run("prune_thumbnails", keep=1)

    # The revert record is the newest earlier version and is kept, so v1's files stay.
    assert f"Removed 2 thumbnail versions and {PER_VERSION} files" in out
    for name in version_files(v1):
        assert (media_root / name).is_file(), name
    for name in version_files(v2):
        assert not (media_root / name).exists(), name


def test_prune_never_deletes_what_the_asset_points_at(media_root, staff_user):
    """Even if asset row and current version disagree, the asset's files stay."""
    asset = Asset.objects.create(name="Edited by hand", state=Asset.State.COMPLETE)
    v1, v2 = regenerate(asset, staff_user, 2)
    Asset.objects.filter(pk=asset.pk).update(thumbnail=v1.thumbnail.name, preview_image=v1.preview_image.name)

    v1_extras = version_files(v1)[2:]  # the asset row names only the two JPEGs
    freed = size_of(v1_extras)

    out, _ = run("prune_thumbnails", keep=0)

    assert f"Removed 1 thumbnail version and {len(v1_extras)} files, freeing {freed} bytes." in out
    assert files_on_disk(media_root) == sorted(version_files(v1)[:2] + version_files(v2))


# clean_orphan_thumbnails -------------------------------------------------------------


def write(name, content=b"orphan bytes", *, age_minutes=0):
    saved = default_storage.save(name, ContentFile(content))
    if age_minutes:
        then = time.time() - age_minutes * 60
        os.utime(default_storage.path(saved), (then, then))
    return saved


class FakeTerminal(StringIO):
    def isatty(self):
        return True


@pytest.fixture
def orphans(media_root, staff_user):
    """Two referenced versions, a legacy asset thumbnail, stray files of all ages."""
    asset = Asset.objects.create(name="Has history", state=Asset.State.COMPLETE)
    versions = regenerate(asset, staff_user, 2)
    for version in versions:
        for name in version_files(version):
            os.utime(media_root / name, (time.time() - 7200, time.time() - 7200))
    legacy = Asset.objects.create(name="Legacy", state=Asset.State.COMPLETE)
    legacy_name = write(f"thumbnails/{legacy.pk}/legacy.jpg", age_minutes=600)
    Asset.objects.filter(pk=legacy.pk).update(thumbnail=legacy_name)
    return {
        "referenced": [n for v in versions for n in version_files(v)] + [legacy_name],
        "old": [
            write(
                f"thumbnails/{asset.pk}/abandoned-thumb-512x320.jpg",
                b"x" * 100,
                age_minutes=120,
            ),
            write("thumbnails/424242/deep/stray.jpg", b"y" * 50, age_minutes=61),
        ],
        "fresh": [write(f"thumbnails/{asset.pk}/in-flight-thumb-512x320.jpg", age_minutes=5)],
        "elsewhere": [write("assets/1/model.glb", b"glTF", age_minutes=600)],
    }


def test_clean_orphans_deletes_only_old_unreferenced_files(orphans, media_root):
    """Old strays go; referenced, in-flight and non-thumbnail files stay."""
    out, _ = run("clean_orphan_thumbnails")

    assert "Deleted 2 orphan files (150 bytes)." in out
    assert "1 unreferenced but newer than 60 minutes" in out
    assert files_on_disk(media_root) == sorted(orphans["referenced"] + orphans["fresh"] + orphans["elsewhere"])


def test_clean_orphans_min_age_zero_takes_fresh_files_too(orphans, media_root):
    out, _ = run("clean_orphan_thumbnails", min_age=0)

    assert "Deleted 3 orphan files" in out
    assert files_on_disk(media_root) == sorted(orphans["referenced"] + orphans["elsewhere"])


def test_clean_orphans_dry_run_lists_and_keeps(orphans, media_root):
    before = files_on_disk(media_root)

    out, _ = run("clean_orphan_thumbnails", dry_run=True)

    assert "Would delete 2 orphan files (150 bytes)." in out
    for name in orphans["old"]:
        assert name in out
    assert orphans["fresh"][0] not in out
    assert files_on_disk(media_root) == before


def test_clean_orphans_after_prune_finds_nothing(history, media_root):
    """prune_thumbnails leaves no orphans behind for the cleaner to find."""
    run("prune_thumbnails", keep=0)
    before = files_on_disk(media_root)

    out, _ = run("clean_orphan_thumbnails", min_age=0)

    assert "0 orphaned" in out
    assert "Nothing to delete." in out
    assert files_on_disk(media_root) == before


def test_clean_orphans_with_empty_storage(media_root):
    out, _ = run("clean_orphan_thumbnails", min_age=0)

    assert "Found 0 files under thumbnails/" in out
    assert "Nothing to delete." in out


def test_clean_orphans_asks_in_a_terminal_and_keeps_files_on_no(orphans, media_root, monkeypatch):
    """Interactive runs confirm first; anything but 'yes' deletes nothing."""
    before = files_on_disk(media_root)
    monkeypatch.setattr("sys.stdin", FakeTerminal())
    monkeypatch.setattr("builtins.input", lambda prompt: "no")

    with pytest.raises(CommandError, match="Cancelled"):
        call_command("clean_orphan_thumbnails", stdout=StringIO())

    assert files_on_disk(media_root) == before
