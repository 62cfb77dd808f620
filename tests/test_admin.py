"""Admin integration: toolbar button, actions with saved selections, the page token, history."""

import json

import jwt
import pytest
from django.conf import settings
from django.urls import reverse

from admin_tools.models import ThumbnailSelection, ThumbnailVersion
from admin_tools.services import store_thumbnail
from icosa.models import Asset, Format

from .conftest import b64, make_image

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/icosa/asset/"
GENERATOR = "/admin/icosa/asset/batch-thumbnail-generator/"
TOKEN = "/admin/icosa/asset/batch-thumbnail-generator/token/"


def make_asset(name="Model", fmt="GLB"):
    asset = Asset.objects.create(name=name, state=Asset.State.COMPLETE)
    Format.objects.create(asset=asset, format_type=fmt)
    return asset


def test_urls_are_named_like_the_builtin_ones():
    assert reverse("admin:icosa_asset_batch_thumbnails") == GENERATOR
    assert reverse("admin:icosa_asset_batch_thumbnails_token") == TOKEN


def test_changelist_has_the_toolbar_button(client, staff_user):
    client.force_login(staff_user)
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert f'href="{GENERATOR}"' in response.content.decode()
    assert "Batch Thumbnail Generator" in response.content.decode()


def test_thumbnail_empty_filter_lists_assets_without_thumbnail(client, staff_user):
    client.force_login(staff_user)
    make_asset("needs one")
    done = make_asset("has one")
    Asset.objects.filter(pk=done.pk).update(thumbnail="thumbnails/x.jpg")
    body = client.get(CHANGELIST + "?thumbnail__isempty=1").content.decode()
    assert "needs one" in body and "has one" not in body
    body = client.get(CHANGELIST + "?thumbnail__isempty=0").content.decode()
    assert "has one" in body and "needs one" not in body


def test_search_by_name_url_and_owner(client, staff_user):
    client.force_login(staff_user)
    asset = make_asset("Spaceship")
    asset.owner = staff_user
    asset.save()
    assert "Spaceship" in client.get(CHANGELIST + "?q=Thumb+Staff").content.decode()
    assert "Spaceship" in client.get(CHANGELIST + f"?q={asset.url}").content.decode()


def test_generator_page_is_staff_only(client, plain_user, staff_without_permission, staff_user):
    assert client.get(GENERATOR).status_code == 302  # to the admin login
    client.force_login(plain_user)
    assert client.get(GENERATOR).status_code == 302
    client.force_login(staff_without_permission)
    assert client.get(GENERATOR).status_code == 403
    client.force_login(staff_user)
    response = client.get(GENERATOR)
    assert response.status_code == 200


def test_generator_page_holds_no_token_and_no_inline_script(client, staff_user):
    client.force_login(staff_user)
    html = client.get(GENERATOR).content.decode()
    assert "eyJ" not in html  # no JWT in the HTML
    assert settings.JWT_SECRET_KEY not in html
    config = json.loads(html.split('id="batch-thumbs-config" type="application/json">')[1].split("</script>")[0])
    assert config["tokenUrl"] == TOKEN
    assert config["defaults"]["width"] == 1280 and config["defaults"]["height"] == 800
    assert '<script type="importmap">' in html
    assert "/static/vendor/three/build/three.module.js" in html


def test_page_token_is_short_lived_and_needs_post_and_csrf(staff_user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    assert client.get(TOKEN).status_code == 405
    assert client.post(TOKEN).status_code == 403  # no CSRF token
    client.get(GENERATOR)
    csrf = client.cookies["csrftoken"].value
    response = client.post(TOKEN, HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == settings.JWT_PAGE_TOKEN_MINUTES * 60 <= 15 * 60
    claims = jwt.decode(
        body["access_token"], settings.JWT_SECRET_KEY, algorithms=["HS256"], audience=settings.JWT_AUDIENCE
    )
    assert claims["sub"] == str(staff_user.pk) and claims["purpose"] == "page"
    assert claims["exp"] - claims["iat"] == settings.JWT_PAGE_TOKEN_MINUTES * 60
    api = client.get("/api/v1/admin/assets/missing-thumbnails", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert api.status_code == 200


def test_page_token_refused_without_permission(client, staff_without_permission):
    client.force_login(staff_without_permission)
    assert client.post(TOKEN).status_code == 403


@pytest.mark.parametrize("action", ["generate_thumbnails", "regenerate_thumbnails"])
def test_action_saves_selection_and_redirects(client, staff_user, action):
    client.force_login(staff_user)
    assets = [make_asset(f"a{i}") for i in range(3)]
    Asset.objects.filter(pk=assets[0].pk).update(thumbnail="thumbnails/x.jpg")
    response = client.post(CHANGELIST, {"action": action, "_selected_action": [a.pk for a in assets[:2]]})
    assert response.status_code == 302
    selection = ThumbnailSelection.objects.get()
    assert response["Location"] == f"{GENERATOR}?selection={selection.pk}"
    assert selection.asset_ids == [str(assets[0].pk), str(assets[1].pk)]
    assert selection.force is True
    page = client.get(response["Location"])  # survives reloads: it is server-side
    assert page.status_code == 200 and client.get(response["Location"]).status_code == 200
    assert f'"id": "{selection.pk}"' in page.content.decode()


def test_action_with_select_across_honours_filters_for_thousands(client, staff_user):
    client.force_login(staff_user)
    Asset.objects.bulk_create(
        [Asset(name=f"bulk {i}", url=f"bulk{i}", state=Asset.State.COMPLETE) for i in range(2500)]
    )
    done = make_asset("done already")
    Asset.objects.filter(pk=done.pk).update(thumbnail="thumbnails/x.jpg")
    response = client.post(
        CHANGELIST + "?thumbnail__isempty=1",
        {"action": "generate_thumbnails", "select_across": "1", "index": "0", "_selected_action": ["0"]},
    )
    assert response.status_code == 302
    selection = ThumbnailSelection.objects.get()
    assert len(selection.asset_ids) == 2500
    assert str(done.pk) not in selection.asset_ids


def test_unknown_selection_shows_a_message_not_an_error(client, staff_user):
    client.force_login(staff_user)
    response = client.get(GENERATOR + "?selection=not-a-uuid", follow=True)
    assert response.status_code == 200
    assert "no longer exists" in response.content.decode()


def test_versions_are_listed_and_revert_is_recorded(client, staff_user, superuser):
    asset = make_asset()
    store_thumbnail(asset_id=asset.pk, thumbnail_base64=b64(make_image(shape="red")), user=staff_user)
    _, second = store_thumbnail(asset_id=asset.pk, thumbnail_base64=b64(make_image(shape="blue")), user=staff_user)
    first = ThumbnailVersion.objects.exclude(pk=second.pk).get()
    client.force_login(superuser)
    page = client.get(f"/admin/icosa/asset/{asset.pk}/change/").content.decode()
    assert "Revert to this version" in page
    url = reverse("admin:icosa_asset_revert_thumbnail", args=[asset.pk, first.pk])
    assert url in page
    assert client.post(url).status_code == 302
    asset.refresh_from_db()
    assert asset.thumbnail.name == first.thumbnail.name
    current = ThumbnailVersion.objects.get(asset=asset, is_current=True)
    assert current.reverted_from == first and current.created_by == superuser
    assert ThumbnailVersion.objects.filter(asset=asset).count() == 3


def test_revert_needs_permission(client, staff_without_permission, staff_user):
    asset = make_asset()
    _, version = store_thumbnail(asset_id=asset.pk, thumbnail_base64=b64(make_image()), user=staff_user)
    client.force_login(staff_without_permission)
    url = reverse("admin:icosa_asset_revert_thumbnail", args=[asset.pk, version.pk])
    assert client.post(url).status_code == 403
