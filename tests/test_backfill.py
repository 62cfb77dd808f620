"""Back-filling thumbnail derivatives (``manage.py thumbnail_derivatives``, admin_tools.backfill):
versions made before the extra sizes existed or whose background job was lost get them back,
with the documented sizes, from their stored preview; a missing source is reported."""

import io
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import timezone

from admin_tools import services
from admin_tools.backfill import expected_keys
from admin_tools.management.commands.clean_orphan_thumbnails import walk
from admin_tools.models import ThumbnailDerivative, ThumbnailVersion

from .conftest import make_image
from .fixtures.derivs import transparent_png
from .test_derivatives import EXPECTED, derivatives, make_asset, opened, sizes, upload

pytestmark = pytest.mark.django_db


def uploaded(client, auth, content=None, *, mime="image/jpeg", name="Model"):
    """An asset with one uploaded version (all its derivatives), made an hour ago."""
    asset = make_asset(name)
    assert upload(client, auth, asset, content, mime=mime).status_code == 200
    version = ThumbnailVersion.objects.get(asset=asset, is_current=True)
    ThumbnailVersion.objects.filter(pk=version.pk).update(created_at=timezone.now() - timedelta(hours=1))
    return asset, version


def lose(rows):
    """Delete derivative rows and their files: what a version from before the change (or a
    crash before the background job) looks like."""
    for row in rows:
        default_storage.delete(row.file.name)
    ThumbnailDerivative.objects.filter(pk__in=[row.pk for row in rows]).delete()


def run(*args):
    out = io.StringIO()
    call_command("thumbnail_derivatives", *args, stdout=out, stderr=out)
    return out.getvalue()


def stored_files():
    return set(walk(default_storage, "thumbnails"))


def keys(version):
    return {(row.kind, row.width, row.format) for row in version.derivatives.all()}


def test_expected_derivatives_are_what_an_upload_stores(client, auth):
    """The back-fill's list of what a version should have is the upload path's (opaque and
    transparent), so it never makes more or fewer than an upload."""
    _, opaque = uploaded(client, auth)
    _, clear = uploaded(client, auth, transparent_png(), mime="image/png", name="Clear")
    assert expected_keys(opaque, alpha=False) == keys(opaque)
    assert expected_keys(clear, alpha=True) == keys(clear)


def test_a_version_with_its_extras_deleted_gets_them_back_with_the_documented_sizes(client, auth):
    asset, version = uploaded(client, auth)
    lose(list(version.derivatives.all()))
    assert sizes(derivatives(client, auth, asset)) == [("preview", "JPEG", 1280, 800), ("thumbnail", "JPEG", 512, 320)]

    output = run()
    assert f"version {version.pk} (asset {asset.pk}): made 6 derivatives" in output
    assert "1 back-filled (6 derivatives made)" in output
    listing = derivatives(client, auth, asset)
    assert sizes(listing) == EXPECTED
    for item in listing:
        image = opened(item)  # the file exists with the listed size, format and bytes
        assert image.mode == "RGB" and item["has_alpha"] is False


def test_only_the_missing_derivatives_are_made_and_the_others_are_kept(client, auth):
    asset, version = uploaded(client, auth)
    before = {(row.kind, row.width, row.format): row.file.name for row in version.derivatives.all()}
    lose(
        [row for row in version.derivatives.all() if (row.kind, row.width) in {("thumbnail", 1024), ("preview", 1280)}]
    )
    assert "made 3 derivatives (preview 1280 WEBP, thumbnail 1024 JPEG, thumbnail 1024 WEBP)" in run()
    after = {(row.kind, row.width, row.format): row.file.name for row in version.derivatives.all()}
    assert after.keys() == before.keys()
    kept = {key for key in before if key[1] != 1024 and key[0] != "preview"}
    assert all(after[key] == before[key] for key in kept)
    for item in derivatives(client, auth, asset):
        opened(item)


def test_a_transparent_version_is_rebuilt_from_its_preview_png_and_keeps_alpha(client, auth):
    asset, version = uploaded(client, auth, transparent_png(), mime="image/png")
    lose([row for row in version.derivatives.all() if row.format != "PNG"])
    run()
    listing = derivatives(client, auth, asset)
    by_key = {(d["kind"], d["format"], d["width"]): d for d in listing}
    webp = opened(by_key[("thumbnail", "WEBP", 256)]).convert("RGBA")
    assert webp.getpixel((3, 3))[3] == 0 and webp.getpixel((128, 80))[3] == 255
    assert all(d["has_alpha"] == (d["format"] != "JPEG") for d in listing)
    assert len(listing) == 2 + len(expected_keys(version, alpha=True))


def test_a_row_whose_file_is_gone_is_replaced_by_one_whose_file_exists(client, auth):
    asset, version = uploaded(client, auth)
    row = version.derivatives.get(kind="thumbnail", width=256, format="WEBP")
    default_storage.delete(row.file.name)
    output = run()
    assert "made 1 derivative (thumbnail 256 WEBP); 1 row naming a missing file" in output
    assert not ThumbnailDerivative.objects.filter(pk=row.pk).exists()
    assert sizes(derivatives(client, auth, asset)) == EXPECTED
    for item in derivatives(client, auth, asset):
        opened(item)


def test_a_version_whose_source_file_is_gone_is_reported_and_the_others_are_back_filled(client, auth):
    broken_asset, broken = uploaded(client, auth, name="Broken")
    good_asset, good = uploaded(client, auth, make_image(shape="green"), name="Good")
    lose(list(broken.derivatives.all()) + list(good.derivatives.all()))
    default_storage.delete(broken.preview_image.name)

    out = io.StringIO()
    with pytest.raises(CommandError, match="1 version could not be back-filled") as raised:
        call_command("thumbnail_derivatives", stdout=out, stderr=out)
    assert raised.value.returncode == 1
    text = out.getvalue()
    assert f"version {broken.pk} (asset {broken_asset.pk}): source file missing ({broken.preview_image.name})" in text
    assert "1 back-filled" in text and "1 with their source file missing" in text
    assert not broken.derivatives.exists()  # nothing listed that does not exist
    assert sizes(derivatives(client, auth, good_asset)) == EXPECTED


def test_a_second_run_does_nothing(client, auth):
    _, version = uploaded(client, auth)
    lose(list(version.derivatives.all()))
    run()
    rows = sorted(ThumbnailDerivative.objects.values_list("pk", "file"))
    files = stored_files()
    output = run()
    assert "Checked 1 version of 1: 1 complete, 0 back-filled (0 derivatives made)" in output
    assert sorted(ThumbnailDerivative.objects.values_list("pk", "file")) == rows
    assert stored_files() == files


def test_dry_run_reports_and_changes_nothing(client, auth):
    _, version = uploaded(client, auth)
    lose(list(version.derivatives.all()))
    files = stored_files()
    output = run("--dry-run")
    assert f"version {version.pk} (asset {version.asset_id}): would make " in output
    assert "1 would be back-filled" in output
    assert not version.derivatives.exists() and stored_files() == files


def test_all_rebuilds_every_derivative_and_deletes_the_replaced_files(client, auth, settings):
    asset, version = uploaded(client, auth)
    old = set(version.derivatives.values_list("file", flat=True))
    settings.THUMBNAIL_WEBP_QUALITY = 40
    assert "made 6 derivatives" in run("--all")
    new = set(version.derivatives.values_list("file", flat=True))
    assert len(new) == 6 and not new & old
    assert not any(default_storage.exists(name) for name in old)
    assert sizes(derivatives(client, auth, asset)) == EXPECTED
    for item in derivatives(client, auth, asset):
        opened(item)


def test_a_revert_shares_the_files_back_filled_for_its_version(client, auth):
    asset, first = uploaded(client, auth)
    uploaded_again = upload(client, auth, asset, make_image(shape="green"))
    assert uploaded_again.status_code == 200
    reverted = services.revert_thumbnail(version=first, user=None)
    ThumbnailVersion.objects.update(created_at=timezone.now() - timedelta(hours=1))
    lose(list(first.derivatives.all()))
    ThumbnailDerivative.objects.filter(version=reverted).delete()  # its rows named the same files
    run()
    assert keys(reverted) == keys(first) == expected_keys(first, alpha=False)
    assert set(reverted.derivatives.values_list("file", flat=True)) == set(
        first.derivatives.values_list("file", flat=True)
    )
    assert "0 back-filled" in run()


def test_limit_and_young_versions(client, auth):
    _, one = uploaded(client, auth, name="One")
    _, two = uploaded(client, auth, make_image(shape="blue"), name="Two")
    _, young = uploaded(client, auth, make_image(shape="orange"), name="Young")
    ThumbnailVersion.objects.filter(pk=young.pk).update(created_at=timezone.now())
    lose(list(ThumbnailDerivative.objects.all()))
    output = run("--limit", "1")
    assert "1 back-filled" in output and "Checked 1 version of 2" in output
    assert one.derivatives.count() == 6 and not two.derivatives.exists()
    run()
    assert two.derivatives.count() == 6 and not young.derivatives.exists()  # its own job may still run
    run("--min-age-minutes", "0")
    assert young.derivatives.count() == 6


def test_bad_limit_is_refused():
    with pytest.raises(CommandError, match="0 is not a limit"):
        call_command("thumbnail_derivatives", "--limit", "0")
