"""The gallery data model: big ids, derived viewer compatibility, owner-less assets."""

import pytest
from django.db import connection

from icosa.models import Asset, Format, Resource

pytestmark = pytest.mark.django_db


def test_asset_ids_above_2_53_are_stored_exactly(big_ids):
    asset = Asset.objects.create(name="big")
    assert asset.pk > 2**53
    assert Asset.objects.get(pk=asset.pk).pk == asset.pk
    assert Asset.objects.create(name="next").pk == asset.pk + 1


def test_viewer_compatibility_is_derived_from_formats():
    asset = Asset.objects.create(name="a")
    assert asset.is_viewer_compatible is False
    Format.objects.create(asset=asset, format_type="TILT")
    asset.refresh_from_db()
    assert asset.is_viewer_compatible is False
    glb = Format.objects.create(asset=asset, format_type="GLB")
    asset.refresh_from_db()
    assert asset.is_viewer_compatible is True
    glb.delete()
    asset.refresh_from_db()
    assert asset.is_viewer_compatible is False


def test_saving_an_asset_leaves_compatibility_to_the_service(django_assert_num_queries):
    """Asset.save() writes the row and nothing else (no formats query on every thumbnail
    store); refresh_viewer_compatible() puts a stale flag right."""
    from icosa.services import refresh_viewer_compatible

    asset = Asset.objects.create(name="a")
    Format.objects.create(asset=asset, format_type="OBJ")
    Asset.objects.filter(pk=asset.pk).update(is_viewer_compatible=False)
    asset.refresh_from_db()
    asset.name = "renamed"
    with django_assert_num_queries(1):
        asset.save(update_fields=["name"])
    assert refresh_viewer_compatible(asset) is True
    asset.refresh_from_db()
    assert asset.is_viewer_compatible is True


def test_ownerless_asset_works_everywhere(client):
    asset = Asset.objects.create(name="orphan", state=Asset.State.COMPLETE)
    assert asset.owner is None and str(asset) == "orphan"
    assert client.get(asset.get_absolute_url()).status_code == 200
    assert "orphan" in client.get("/").content.decode()


def test_urls_are_unique_tokens():
    urls = {Asset.objects.create(name=str(i)).url for i in range(50)}
    assert len(urls) == 50


def test_resource_filename_from_file_or_external_url():
    asset = Asset.objects.create(name="a")
    assert Resource(asset=asset, external_url="https://cdn.example.com/x/model.gltf?sig=1").filename == "model.gltf"


def test_user_generates_a_decodable_jwt(django_user_model):
    from icosa.jwt_auth import decode_token

    user = django_user_model.objects.create_user(username="u", email="u@example.com", password="p")
    claims = decode_token(user.generate_jwt_token(minutes=5))
    assert claims["sub"] == str(user.pk)
    assert claims["exp"] - claims["iat"] == 300


def test_missing_thumbnail_index_exists():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Asset._meta.db_table)
    assert "asset_missing_thumb_idx" in constraints


def test_gallery_shows_thumbnail_or_placeholder(client):
    Asset.objects.create(name="no picture", state=Asset.State.COMPLETE)
    with_picture = Asset.objects.create(name="picture", state=Asset.State.COMPLETE, thumbnail="thumbnails/1/a.jpg")
    html = client.get("/").content.decode()
    assert "No thumbnail yet" in html
    assert with_picture.thumbnail.url in html
    Asset.objects.create(name="<b>bold</b>", state=Asset.State.COMPLETE)
    assert "<b>bold</b>" not in client.get("/").content.decode()
