"""One filter schema and one asset-id type for the API, the claim and the command."""

import pytest
from django.core.management import CommandError, call_command

from admin_tools.filters import FILTER_NAMES, WorkFilters
from admin_tools.ids import parse_asset_id, parse_asset_ids
from admin_tools.reasons import FAILURE_REASONS


@pytest.mark.parametrize("text", ["²", "12a", "-1", "", "1" * 20, str(2**63)])
def test_only_ascii_digits_within_64_bits_are_asset_ids(text):
    assert parse_asset_id(text) is None


def test_ids_come_comma_separated_or_repeated():
    assert parse_asset_ids(["1, 2", "9223372036854775807"]) == [1, 2, 2**63 - 1]
    with pytest.raises(ValueError, match="'²' is not an asset id"):
        parse_asset_ids(["1,²"])


def test_the_command_refuses_an_id_the_api_would_refuse():
    with pytest.raises(CommandError, match="--asset-ids"):
        call_command("render_thumbnails", "--dry-run", "--asset-ids", "1,²")


def test_work_filters_check_dates_and_name_every_filter_once():
    with pytest.raises(ValueError, match="not an ISO date"):
        WorkFilters(created_after="yesterday")
    assert set(FILTER_NAMES) == {
        "viewer_compatible_only", "include_failed", "force", "asset_ids", "owner", "format_type",
        "created_after", "created_before", "generated_before", "renderer_not",
    }  # fmt: skip
    assert WorkFilters(force=True).model_dump(exclude_defaults=True) == {"force": True}


def test_failure_reasons_are_one_list_with_the_documented_codes():
    for code in ("unsupported_format", "invalid_file", "fetch_error", "missing_resource", "load_error",
                 "timeout", "empty_scene", "blank_capture", "render_error", "rejected", "upload_rejected",
                 "browser_crash", "runner_error"):  # fmt: skip
        assert code in FAILURE_REASONS
    assert all(len(code) <= 64 and description for code, description in FAILURE_REASONS.items())


@pytest.mark.django_db
def test_the_api_refuses_an_unknown_failure_reason(client, auth):
    from icosa.models import Asset

    asset = Asset.objects.create(name="a", state=Asset.State.COMPLETE)
    response = client.post(
        f"/api/v1/admin/assets/{asset.pk}/thumbnail-failure",
        {"reason": "gremlins"},
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 422
    assert "'gremlins' is not a failure reason" in response.json()["detail"]
