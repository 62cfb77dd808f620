"""POST /api/v1/admin/assets/{id}/orientation: review mode's Turn saved as the asset's
presentation_params.orientingRotation; only a unit quaternion, only for thumbnail staff."""

import json
import math

import pytest
from django.test import Client
from django.urls import reverse

from admin_tools.pageconfig import renderer_inputs
from icosa.models import Asset

pytestmark = pytest.mark.django_db
HALF = math.sqrt(0.5)


@pytest.fixture
def asset():
    return Asset.objects.create(name="tower", url="tower", presentation_params={"backgroundColor": "#202020"})


def post(asset_id, body, **headers):
    return Client(**headers).post(
        reverse("api:asset_orientation", kwargs={"asset_id": str(asset_id)}),
        json.dumps(body),
        content_type="application/json",
    )


def test_a_unit_quaternion_is_saved_and_the_other_params_are_kept(asset, auth):
    response = post(asset.pk, {"x": -HALF, "y": 0, "z": 0, "w": HALF}, **auth)
    assert response.status_code == 200, response.content
    assert response.json()["asset_id"] == str(asset.pk)
    asset.refresh_from_db()
    assert asset.presentation_params["backgroundColor"] == "#202020"
    assert asset.presentation_params["orientingRotation"] == pytest.approx({"x": -HALF, "y": 0, "z": 0, "w": HALF})


@pytest.mark.parametrize(
    "body, message",
    [
        ({"x": 0, "y": 0, "z": 0, "w": 2}, "must be a unit quaternion (its length is 2.0000)"),
        ({"x": 0, "y": 0, "z": 0, "w": 0}, "must be a unit quaternion (its length is 0.0000)"),
        ({"x": 0, "y": 0, "z": 0}, None),
        ({"x": "up", "y": 0, "z": 0, "w": 1}, None),
    ],
)
def test_anything_but_a_unit_quaternion_is_refused_with_422_and_changes_nothing(asset, auth, body, message):
    response = post(asset.pk, body, **auth)
    assert response.status_code == 422
    if message:
        assert message in response.json()["detail"]
    asset.refresh_from_db()
    assert "orientingRotation" not in asset.presentation_params


def test_unknown_assets_are_404_and_callers_need_the_thumbnail_permission(asset, auth, django_user_model):
    assert post(2**60, {"x": 0, "y": 0, "z": 0, "w": 1}, **auth).status_code == 404
    assert post(asset.pk, {"x": 0, "y": 0, "z": 0, "w": 1}).status_code == 401
    plain = django_user_model.objects.create_user(username="staff", password="x", is_staff=True)
    response = post(
        asset.pk, {"x": 0, "y": 0, "z": 0, "w": 1}, HTTP_AUTHORIZATION=f"Bearer {plain.generate_jwt_token()}"
    )
    assert response.status_code == 403


def test_the_page_config_carries_the_up_axis_defaults_and_quality_thresholds(settings):
    settings.THUMBNAIL_UP_AXIS = {"PLY": "Z", "OBJ": "Y", "FBX": "sideways"}
    settings.THUMBNAIL_QUALITY_DARK_BRIGHTNESS = 0.1
    config = renderer_inputs()
    assert config["upAxis"] == {"PLY": "Z", "OBJ": "Y"}
    assert config["quality"] == {"darkBrightness": 0.1, "minContrast": 0.08, "minCoverage": 0.02}
