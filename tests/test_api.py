"""The JWT API through Django's full stack: auth rules, listing, uploads, failures, claims."""

import base64
import json
import time
from datetime import timedelta
from urllib.parse import urlencode

import jwt
import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from admin_tools.models import ThumbnailClaim, ThumbnailFailure, ThumbnailVersion
from icosa.media import asset_folder
from icosa.models import Asset, Format

from .conftest import b64, make_image

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/admin/assets/missing-thumbnails"


def upload_url(asset_id):
    return f"/api/v1/admin/assets/{asset_id}/thumbnail"


def post(client, url, body, **extra):
    return client.post(url, json.dumps(body), content_type="application/json", **extra)


def make_asset(name="Model", *, fmt="GLB", state=Asset.State.COMPLETE, owner=None, **fields):
    asset = Asset.objects.create(name=name, owner=owner, state=state, **fields)
    Format.objects.create(asset=asset, format_type=fmt, is_preferred_for_gallery_viewer=True)
    asset.refresh_from_db()
    return asset


def stored_files():
    names = []

    def walk(path):
        dirs, files = default_storage.listdir(path)
        names.extend(f"{path}/{f}" if path else f for f in files)
        for d in dirs:
            walk(f"{path}/{d}" if path else d)

    if default_storage.exists(""):
        walk("")
    return sorted(names)


def snapshot(asset):
    asset.refresh_from_db()
    return (
        asset.thumbnail.name,
        asset.preview_image.name,
        asset.thumbnail_width,
        asset.thumbnail_bytes,
        asset.update_time,
        ThumbnailVersion.objects.filter(asset=asset).count(),
        tuple(stored_files()),
    )


# --- Authentication and permission -------------------------------------------------------


def forged(claims=None, key=None, algorithm="HS256", **overrides):
    now = int(time.time())
    payload = {
        "sub": "0",
        "iat": now,
        "exp": now + 600,
        "jti": "x",
        "aud": settings.JWT_AUDIENCE,
        "scope": "thumbnails",
        **(claims or {}),
    }
    payload.update(overrides)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key or settings.JWT_SECRET_KEY, algorithm=algorithm)


def unsigned_token(sub):
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    now = int(time.time())
    body = json.dumps(
        {"sub": str(sub), "iat": now, "exp": now + 600, "jti": "n", "aud": settings.JWT_AUDIENCE, "scope": "thumbnails"}
    )
    return f"{header}.{base64.urlsafe_b64encode(body.encode()).rstrip(b'=').decode()}."


TOKEN_CASES = {
    "no header": (lambda u: None, 401, "JWT token required"),
    "wrong scheme": (lambda u: f"Token {u.generate_jwt_token()}", 401, "JWT token required"),
    "garbage": (lambda u: "Bearer not.a.jwt", 401, "Invalid or expired JWT token"),
    "expired": (
        lambda u: "Bearer " + forged(sub=str(u.pk), exp=int(time.time()) - 5),
        401,
        "Invalid or expired JWT token",
    ),
    "no exp": (lambda u: "Bearer " + forged(sub=str(u.pk), exp=None), 401, "Invalid or expired JWT token"),
    "wrong key": (
        lambda u: "Bearer " + forged(sub=str(u.pk), key="another-secret-key-of-32-bytes-length!"),
        401,
        "Invalid or expired JWT token",
    ),
    "alg none": (lambda u: "Bearer " + unsigned_token(u.pk), 401, "Invalid or expired JWT token"),
    "HS512": (lambda u: "Bearer " + forged(sub=str(u.pk), algorithm="HS512"), 401, "Invalid or expired JWT token"),
    "wrong audience": (
        lambda u: "Bearer " + forged(sub=str(u.pk), aud="someone-else"),
        401,
        "Invalid or expired JWT token",
    ),
    "wrong scope": (lambda u: "Bearer " + forged(sub=str(u.pk), scope="profile"), 401, "Invalid or expired JWT token"),
    "unknown user": (lambda u: "Bearer " + forged(sub="987654321"), 401, "Invalid or expired JWT token"),
}


@pytest.mark.parametrize("case", TOKEN_CASES, ids=list(TOKEN_CASES))
@pytest.mark.parametrize(
    "method,url,body",
    [
        ("get", LIST_URL, None),
        ("post", upload_url(1), {"thumbnail_base64": "AAAA", "runner_id": "r"}),
        ("post", "/api/v1/admin/assets/1/thumbnail-failure", {"reason": "load_error", "runner_id": "r"}),
        ("post", "/api/v1/admin/thumbnail-jobs/claim", {"runner_id": "r"}),
    ],
)
def test_bad_tokens_are_refused_with_401(client, staff_user, case, method, url, body):
    """Every admin endpoint answers a missing, forged or expired token with 401 and a detail."""
    make_header, status, detail = TOKEN_CASES[case]
    header = make_header(staff_user)
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    if method == "get":
        response = client.get(url, **extra)
    else:
        response = post(client, url, body, **extra)
    assert response.status_code == status
    assert response.json()["detail"].startswith(detail)
    assert set(response.json()) == {"detail"}


def test_non_staff_gets_403(client, plain_user):
    response = client.get(LIST_URL, HTTP_AUTHORIZATION=f"Bearer {plain_user.generate_jwt_token()}")
    assert response.status_code == 403
    assert response.json() == {"detail": "Admin access required"}


def test_staff_without_thumbnail_permission_gets_403(client, staff_without_permission):
    asset = make_asset()
    before = snapshot(asset)
    token = staff_without_permission.generate_jwt_token()
    response = post(
        client,
        upload_url(asset.pk),
        {"thumbnail_base64": b64(make_image()), "runner_id": "r"},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 403
    assert response.json()["detail"].startswith("Admin access required")
    assert snapshot(asset) == before


def test_inactive_user_is_refused_on_next_request(client, staff_user, auth):
    assert client.get(LIST_URL, **auth).status_code == 200
    staff_user.is_active = False
    staff_user.save()
    assert client.get(LIST_URL, **auth).status_code == 401


def test_demoted_user_is_refused_on_next_request(client, staff_user, auth):
    staff_user.is_staff = False
    staff_user.save()
    response = client.get(LIST_URL, **auth)
    assert response.status_code == 403


def test_permission_through_a_group_counts_and_revoking_it_applies_at_once(client, staff_without_permission):
    from django.contrib.auth.models import Group, Permission

    auth = {"HTTP_AUTHORIZATION": f"Bearer {staff_without_permission.generate_jwt_token()}"}
    assert client.get(LIST_URL, **auth).status_code == 403
    editors = Group.objects.create(name="thumbnail editors")
    editors.permissions.add(Permission.objects.get(codename="change_asset_thumbnail"))
    staff_without_permission.groups.add(editors)
    assert client.get(LIST_URL, **auth).status_code == 200
    editors.permissions.clear()
    assert client.get(LIST_URL, **auth).status_code == 403


def test_superuser_has_access(client, superuser):
    response = client.get(LIST_URL, HTTP_AUTHORIZATION=f"Bearer {superuser.generate_jwt_token()}")
    assert response.status_code == 200


# --- Login ----------------------------------------------------------------------------


def test_login_returns_a_bearer_token_with_required_claims(client, staff_user):
    response = post(client, "/api/v1/login/jwt", {"username": "thumbs", "password": "thumbs-password"})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.JWT_ACCESS_TOKEN_MINUTES * 60
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "HS256"
    claims = jwt.decode(
        body["access_token"], settings.JWT_SECRET_KEY, algorithms=["HS256"], audience=settings.JWT_AUDIENCE
    )
    assert {"sub", "exp", "iat", "jti"} <= set(claims)
    assert claims["sub"] == str(staff_user.pk)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(body["access_token"], settings.SECRET_KEY, algorithms=["HS256"], audience=settings.JWT_AUDIENCE)


@pytest.mark.parametrize(
    "body",
    [{"username": "thumbs", "password": "wrong"}, {"username": "nobody", "password": "thumbs-password"}],
)
def test_login_with_wrong_credentials_is_401(client, staff_user, body):
    response = post(client, "/api/v1/login/jwt", body)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid username or password"}


def test_login_with_missing_field_is_422(client):
    response = post(client, "/api/v1/login/jwt", {"username": "x"})
    assert response.status_code == 422
    assert "password" in response.json()["detail"]


def test_login_is_rate_limited(client, staff_user, settings):
    """After AXES_FAILURE_LIMIT failures even the right password is refused (tests/test_security.py
    covers addresses, usernames, proxies and the admin login)."""
    settings.AXES_FAILURE_LIMIT = 3
    codes = [post(client, "/api/v1/login/jwt", {"username": "thumbs", "password": "bad"}).status_code for _ in range(3)]
    right = post(client, "/api/v1/login/jwt", {"username": "thumbs", "password": "thumbs-password"})
    assert codes == [401, 401, 429]  # the failure that reaches the limit is answered 429
    assert right.status_code == 429
    assert right.json() == {"detail": "Too many failed logins; try again later"}


# --- Listing -----------------------------------------------------------------------------


def test_missing_lists_only_complete_assets_without_thumbnail_in_id_order(client, auth, big_ids):
    wanted = [make_asset(f"m{i}") for i in range(3)]
    make_asset("uploading", state=Asset.State.UPLOADING)
    make_asset("failed state", state=Asset.State.FAILED)
    make_asset("tilt only", fmt="TILT")
    done = make_asset("done")
    Asset.objects.filter(pk=done.pk).update(thumbnail="thumbnails/x.jpg")

    response = client.get(LIST_URL, **auth)
    assert response.status_code == 200
    body = response.json()
    assert [a["id"] for a in body["assets"]] == [str(a.pk) for a in wanted]
    assert body["total_count"] == 3
    assert body["has_more"] is False
    assert all(int(a["id"]) > 2**53 for a in body["assets"])
    assert isinstance(body["assets"][0]["id"], str)

    all_formats = client.get(LIST_URL + "?viewer_compatible_only=false", **auth).json()
    assert all_formats["total_count"] == 4


def test_missing_paginates(client, auth):
    assets = [make_asset(f"m{i}") for i in range(5)]
    first = client.get(LIST_URL + "?limit=2&offset=0", **auth).json()
    last = client.get(LIST_URL + "?limit=2&offset=4", **auth).json()
    assert [a["id"] for a in first["assets"]] == [str(a.pk) for a in assets[:2]]
    assert first["has_more"] is True and first["total_count"] == 5
    assert [a["id"] for a in last["assets"]] == [str(assets[4].pk)]
    assert last["has_more"] is False


@pytest.mark.parametrize(
    "query,message",
    [
        ("limit=101", "limit: Input should be less than or equal to 100"),
        ("limit=0", "limit: Input should be greater than or equal to 1"),
        ("offset=-1", "offset: Input should be greater than or equal to 0"),
        ("limit=ten", "limit: Input should be a valid integer"),
        ("asset_ids=12,abc", "asset_ids: 'abc' is not an asset id"),
    ],
)
def test_missing_rejects_bad_parameters_with_422(client, auth, query, message):
    response = client.get(f"{LIST_URL}?{query}", **auth)
    assert response.status_code == 422
    assert message in response.json()["detail"]


def test_missing_lists_formats_resources_and_ownerless_assets(client, auth, staff_user, big_ids, ok_models):
    from icosa.importing import import_model

    owned = import_model(ok_models[0], owner=staff_user)
    ownerless = import_model(ok_models[1])
    body = client.get(LIST_URL, **auth).json()
    by_id = {a["id"]: a for a in body["assets"]}
    assert by_id[str(owned.pk)]["owner_displayname"] == "Thumb Staff"
    assert by_id[str(ownerless.pk)]["owner_displayname"] == ""
    fmt = by_id[str(owned.pk)]["formats"][0]
    assert fmt["format_type"] == "GLB" and fmt["is_preferred"] is True
    assert fmt["root_url"].endswith(f"/assets/{asset_folder(owned.pk)}/{ok_models[0].name}")
    assert fmt["resources"][0]["filename"] == ok_models[0].name


def test_listing_entry_for_a_multi_file_asset_is_complete(client, auth, superuser, big_ids):
    """Every field the page's loaders use: sidecar names relative to the root file's folder,
    an external file, the non-preferred format after the preferred one, the failure record,
    and links that match reverse()."""
    from django.urls import reverse

    from icosa.models import Resource

    superuser.displayname = ""
    superuser.save()
    asset = Asset.objects.create(
        name="Scene", owner=superuser, state=Asset.State.COMPLETE, presentation_params={"backgroundColor": "#123456"}
    )
    obj = Format.objects.create(asset=asset, format_type="OBJ")
    gltf = Format.objects.create(asset=asset, format_type="GLTF2", is_preferred_for_gallery_viewer=True)
    folder = f"assets/{asset.pk}"
    root = Resource.objects.create(asset=asset, format=gltf, file=f"{folder}/scene.gltf", contenttype="model/gltf+json")
    Resource.objects.create(
        asset=asset, format=gltf, file=f"{folder}/bin/scene.bin", contenttype="application/octet-stream"
    )
    Resource.objects.create(
        asset=asset, format=gltf, external_url="https://cdn.example.com/t/wood.png?v=2", contenttype="image/png"
    )
    gltf.root_resource = root
    gltf.save()
    # A root file not filed under its format (older imports did that): still the root.
    obj_root = Resource.objects.create(
        asset=asset, format=None, file=f"other/{asset.pk}/m.obj", contenttype="text/plain"
    )
    obj.root_resource = obj_root
    obj.save()
    ThumbnailFailure.objects.create(
        asset=asset, attempts=2, reason="load_error", detail="404 for wood.png", last_failed_at=timezone.now()
    )

    listed = client.get(f"{LIST_URL}?include_failed=true", **auth).json()["assets"]

    assert listed == [
        {
            "id": str(asset.pk),
            "url": asset.url,
            "name": "Scene",
            "owner_displayname": "root",
            "presentation_params": {"backgroundColor": "#123456"},
            "has_thumbnail": False,
            "failure": {"attempts": 2, "reason": "load_error", "detail": "404 for wood.png"},
            "admin_url": reverse("admin:icosa_asset_change", args=[asset.pk]),
            "page_url": reverse("icosa:asset", args=[asset.url]),
            "formats": [
                {
                    "format_type": "GLTF2",
                    "root_url": f"/media/{folder}/scene.gltf",
                    "is_preferred": True,
                    "resources": [
                        {
                            "url": f"/media/{folder}/scene.gltf",
                            "filename": "scene.gltf",
                            "contenttype": "model/gltf+json",
                        },
                        {
                            "url": f"/media/{folder}/bin/scene.bin",
                            "filename": "bin/scene.bin",
                            "contenttype": "application/octet-stream",
                        },
                        {
                            "url": "https://cdn.example.com/t/wood.png?v=2",
                            "filename": "wood.png",
                            "contenttype": "image/png",
                        },
                    ],
                },
                {
                    "format_type": "OBJ",
                    "root_url": f"/media/other/{asset.pk}/m.obj",
                    "is_preferred": False,
                    "resources": [],
                },
            ],
        }
    ]


def test_missing_with_asset_ids_and_force_includes_existing_thumbnails(client, auth):
    a, b, _outside = make_asset("a"), make_asset("b"), make_asset("c")
    Asset.objects.filter(pk=b.pk).update(thumbnail="thumbnails/b.jpg")
    plain = client.get(f"{LIST_URL}?asset_ids={a.pk},{b.pk}", **auth).json()
    assert [x["id"] for x in plain["assets"]] == [str(a.pk)]
    forced = client.get(f"{LIST_URL}?asset_ids={a.pk},{b.pk}&force=true", **auth).json()
    assert [x["id"] for x in forced["assets"]] == [str(a.pk), str(b.pk)]
    assert forced["assets"][1]["has_thumbnail"] is True


def test_total_count_is_reused_briefly_but_pages_are_always_fresh(client, auth, settings):
    settings.THUMBNAIL_COUNT_CACHE_SECONDS = 60
    first, second = make_asset("first"), make_asset("second")
    body = client.get(f"{LIST_URL}?limit=1", **auth).json()
    assert (body["total_count"], body["has_more"]) == (2, True)
    Asset.objects.filter(pk=first.pk).update(thumbnail="thumbnails/first.jpg")

    body = client.get(f"{LIST_URL}?limit=1", **auth).json()
    assert body["total_count"] == 2, "the count within the cache window"
    assert [a["id"] for a in body["assets"]] == [str(second.pk)] and body["has_more"] is False
    other = client.get(f"{LIST_URL}?limit=1&include_failed=true", **auth).json()
    assert other["total_count"] == 1, "another filter set is counted on its own"

    settings.THUMBNAIL_COUNT_CACHE_SECONDS = 0
    assert client.get(f"{LIST_URL}?limit=1", **auth).json()["total_count"] == 1


def test_after_pages_by_id_and_keeps_the_total(client, auth, big_ids):
    assets = [make_asset(f"k{i}") for i in range(5)]
    first = client.get(f"{LIST_URL}?limit=2", **auth).json()
    second = client.get(f"{LIST_URL}?limit=2&after={first['assets'][-1]['id']}", **auth).json()
    last = client.get(f"{LIST_URL}?limit=2&after={second['assets'][-1]['id']}", **auth).json()
    ids = [a["id"] for page in (first, second, last) for a in page["assets"]]
    assert ids == [str(a.pk) for a in assets]
    assert [p["has_more"] for p in (first, second, last)] == [True, True, False]
    assert {p["total_count"] for p in (first, second, last)} == {5}
    for bad in ("x", "-1", "1,2", "1" * 20, "²", str(2**63)):
        response = client.get(f"{LIST_URL}?after={bad}", **auth)
        assert response.status_code == 422 and "after" in response.json()["detail"], bad


def test_ids_that_are_not_ascii_digits_get_a_clear_error_not_a_500(client, auth):
    """str.isdigit() accepts '²'; int() does not."""
    asset = make_asset("digits")
    before = snapshot(asset)
    response = client.get(f"{LIST_URL}?asset_ids=1,²", **auth)
    assert response.status_code == 422 and response.json() == {"detail": "asset_ids: '²' is not an asset id"}
    response = post(client, upload_url("²"), {"thumbnail_base64": b64(make_image()), "runner_id": "r"}, **auth)
    assert response.status_code == 404 and response.json() == {"detail": "Asset ² not found"}
    assert snapshot(asset) == before


def test_list_query_count_is_fixed(client, auth, django_assert_max_num_queries):
    for i in range(20):
        make_asset(f"q{i}", owner=None)
    with django_assert_max_num_queries(10):
        response = client.get(LIST_URL + "?limit=20", **auth)
    assert len(response.json()["assets"]) == 20


# --- Upload ------------------------------------------------------------------------------


def test_upload_with_id_above_2_53_round_trips_from_list(client, auth, staff_user, big_ids):
    asset = make_asset("big")
    listed = client.get(LIST_URL, **auth).json()["assets"][0]["id"]
    assert listed == str(asset.pk) and asset.pk > 2**53
    assert int(float(listed)) != asset.pk  # what a JS number would have sent
    response = post(client, upload_url(listed), {"thumbnail_base64": b64(make_image()), "runner_id": "r"}, **auth)
    assert response.status_code == 200, response.content
    body = response.json()
    asset.refresh_from_db()
    assert body["success"] is True
    assert body["asset_url"] == asset.url
    assert (body["width"], body["height"]) == (512, 320)
    assert body["thumbnail_url"] == asset.thumbnail.url
    assert body["preview_image_url"] == asset.preview_image.url
    assert asset.thumbnail.name.startswith(f"thumbnails/{asset.pk}/")
    assert asset.thumbnail_generated_by == staff_user
    assert asset.thumbnail_bytes == body["bytes"] == default_storage.size(asset.thumbnail.name)
    with default_storage.open(asset.thumbnail.name) as f:
        thumb = Image.open(f)
        thumb.load()
    assert thumb.format == "JPEG" and thumb.size == (512, 320)
    r, g, b = thumb.getpixel((256, 160))
    assert r > 200 and g < 60 and b < 60  # the red shape, not the white background
    with default_storage.open(asset.preview_image.name) as f:
        assert Image.open(f).size == (1280, 800)
    assert client.get(LIST_URL, **auth).json()["total_count"] == 0


@pytest.mark.parametrize("data_url", [True, False], ids=["data-url", "raw-base64"])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_upload_accepts_jpeg_and_png_as_raw_or_data_url(client, auth, data_url, fmt):
    asset = make_asset()
    mime = "image/png" if fmt == "PNG" else "image/jpeg"
    response = post(
        client,
        upload_url(asset.pk),
        {"thumbnail_base64": b64(make_image(fmt=fmt), data_url=data_url, mime=mime), "runner_id": "r"},
        **auth,
    )
    assert response.status_code == 200, response.content
    asset.refresh_from_db()
    assert asset.thumbnail_contenttype == "image/jpeg"


def test_large_capture_is_downscaled_for_preview(client, auth):
    asset = make_asset()
    response = post(
        client, upload_url(asset.pk), {"thumbnail_base64": b64(make_image((2560, 1600))), "runner_id": "r"}, **auth
    )
    assert response.status_code == 200
    asset.refresh_from_db()
    with default_storage.open(asset.preview_image.name) as f:
        assert Image.open(f).size == (1280, 800)


def test_exif_orientation_is_applied(client, auth):
    import io

    image = Image.new("RGB", (800, 1280), "white")
    image.paste((255, 0, 0), (0, 0, 800, 640))  # top half red in stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    asset = make_asset()
    response = post(
        client, upload_url(asset.pk), {"thumbnail_base64": b64(buffer.getvalue()), "runner_id": "r"}, **auth
    )
    assert response.status_code == 200
    asset.refresh_from_db()
    with default_storage.open(asset.preview_image.name) as f:
        preview = Image.open(f).convert("RGB")
    assert preview.size == (1280, 800)
    assert preview.getpixel((1200, 400))[1] < 80  # displayed right half is red
    assert preview.getpixel((80, 400))[1] > 200


def test_second_upload_keeps_the_first_files_and_records_a_version(client, auth):
    asset = make_asset()
    post(client, upload_url(asset.pk), {"thumbnail_base64": b64(make_image(shape="red")), "runner_id": "r"}, **auth)
    asset.refresh_from_db()
    first = asset.thumbnail.name
    post(client, upload_url(asset.pk), {"thumbnail_base64": b64(make_image(shape="blue")), "runner_id": "r"}, **auth)
    asset.refresh_from_db()
    assert asset.thumbnail.name != first
    assert default_storage.exists(first)
    versions = list(ThumbnailVersion.objects.filter(asset=asset).order_by("id"))
    assert len(versions) == 2 and [v.is_current for v in versions] == [False, True]


def _huge_base64():
    return "A" * (settings.THUMBNAIL_MAX_UPLOAD_BYTES * 4 // 3 + 8)


BAD_UPLOADS = {
    "empty": ("", 422, "thumbnail_base64 is empty"),
    "not base64": ("@@@###", 422, "not valid base64"),
    "bad padding": ("QUJD=", 422, "not valid base64"),
    "text": (b64(b"hello world, not an image at all", data_url=False), 415, "Unsupported image type: text/plain"),
    "html": (
        b64(b"<!doctype html><html><body>hi</body></html>", data_url=False),
        415,
        "Unsupported image type: text/html",
    ),
    "svg": (
        b64(
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>',
            data_url=False,
        ),
        415,
        "Unsupported image type: image/svg+xml",
    ),
    "gif": (b64(make_image(fmt="GIF"), data_url=False), 415, "Unsupported image type: image/gif"),
    "webp named jpeg": (b64(make_image(fmt="WEBP"), mime="image/jpeg"), 415, "Unsupported image type: image/webp"),
    "truncated jpeg": (b64(make_image()[:600]), 422, "Image could not be decoded"),
    "blank": (b64(make_image(uniform=True)), 422, "Image is blank"),
    "too small": (b64(make_image((256, 160))), 422, "at least 512x320"),
    "malformed data url": ("data:image/jpeg,AAAA", 422, "Malformed data URL"),
    "too big": (None, 413, "Image too large"),
}


@pytest.mark.parametrize("case", BAD_UPLOADS, ids=list(BAD_UPLOADS))
def test_bad_uploads_are_refused_and_change_nothing(client, auth, case):
    data, status, message = BAD_UPLOADS[case]
    if data is None:
        data = _huge_base64()
    asset = make_asset()
    post(client, upload_url(asset.pk), {"thumbnail_base64": b64(make_image(shape="green")), "runner_id": "r"}, **auth)
    before = snapshot(asset)
    response = post(client, upload_url(asset.pk), {"thumbnail_base64": data, "runner_id": "r"}, **auth)
    assert response.status_code == status, response.content
    assert message in response.json()["detail"]
    assert snapshot(asset) == before


def test_body_over_the_request_cap_is_refused_before_reading(client, auth, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    asset = make_asset()
    response = post(client, upload_url(asset.pk), {"thumbnail_base64": "A" * 5000, "runner_id": "r"}, **auth)
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large"}


def test_decompression_bomb_is_refused(client, auth, settings):
    settings.THUMBNAIL_MAX_PIXELS = 1000 * 1000
    asset = make_asset()
    response = post(
        client,
        upload_url(asset.pk),
        {"thumbnail_base64": b64(make_image((2000, 1000), fmt="PNG"), mime="image/png"), "runner_id": "r"},
        **auth,
    )
    assert response.status_code == 413
    assert "exceed the limit" in response.json()["detail"]
    asset.refresh_from_db()
    assert not asset.thumbnail


def test_polyglot_trailing_data_does_not_survive(client, auth):
    payload = make_image() + b"<script>alert(1)</script>" * 10
    asset = make_asset()
    response = post(client, upload_url(asset.pk), {"thumbnail_base64": b64(payload), "runner_id": "r"}, **auth)
    assert response.status_code == 200
    asset.refresh_from_db()
    with default_storage.open(asset.thumbnail.name) as f:
        assert b"<script>" not in f.read()


@pytest.mark.parametrize("asset_id", ["999999", str(2**63 + 5), "abc", "-1"])
def test_upload_to_unknown_asset_is_404(client, auth, asset_id):
    response = post(client, upload_url(asset_id), {"thumbnail_base64": b64(make_image()), "runner_id": "r"}, **auth)
    assert response.status_code == 404
    assert "not found" in response.json()["detail"]
    assert stored_files() == []


def test_upload_without_body_field_is_422(client, auth):
    asset = make_asset()
    response = post(client, upload_url(asset.pk), {"image": "x"}, **auth)
    assert response.status_code == 422
    assert "thumbnail_base64" in response.json()["detail"]


def test_invalid_json_is_a_clean_400_or_422(client, auth):
    asset = make_asset()
    response = client.post(upload_url(asset.pk), "{not json", content_type="application/json", **auth)
    assert response.status_code in (400, 422)
    assert "detail" in response.json()


# --- Raw-body uploads (POST .../thumbnail-image) -------------------------------------------


def image_url(asset_id, **query):
    fields = {"runner_id": "r", **query}
    return f"/api/v1/admin/assets/{asset_id}/thumbnail-image?" + urlencode(
        {k: v for k, v in fields.items() if v is not None}
    )


def post_image(client, url, content, content_type="image/jpeg", **extra):
    # CONTENT_TYPE too: the test client leaves it out for an empty body.
    return client.post(url, content, content_type=content_type, CONTENT_TYPE=content_type, **extra)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_raw_upload_stores_the_same_as_base64_json(client, auth, fmt):
    mime = "image/png" if fmt == "PNG" else "image/jpeg"
    settings_text = json.dumps({"quality": {"coverage": 0.3, "flags": []}, "fov": 35})
    content = make_image(fmt=fmt)
    raw, json_asset = make_asset("raw"), make_asset("json")
    response = post_image(
        client, image_url(raw.pk, renderer="webgl", render_settings=settings_text), content, mime, **auth
    )
    assert response.status_code == 200, response.content
    via_json = post(
        client,
        upload_url(json_asset.pk),
        {"thumbnail_base64": b64(content, mime=mime), "runner_id": "r", "renderer": "webgl",
         "render_settings": json.loads(settings_text)},
        **auth,
    )  # fmt: skip
    answer, expected = response.json(), via_json.json()
    assert answer.keys() == expected.keys()
    assert [d["width"] for d in answer["derivatives"]] == [d["width"] for d in expected["derivatives"]]
    assert answer["quality"] == expected["quality"]
    version = ThumbnailVersion.objects.get(pk=int(answer["version_id"]))
    twin = ThumbnailVersion.objects.get(pk=int(expected["version_id"]))
    assert (version.runner_id, version.renderer, version.render_settings) == ("r", "webgl", json.loads(settings_text))
    assert version.content_hash == twin.content_hash  # the same pixels, the same files
    with default_storage.open(version.thumbnail.name) as f:
        assert Image.open(f).format == "JPEG"


def _bad_raw(content=b"", content_type="image/jpeg", query=None, status=422, message=""):
    return content, content_type, query or {}, status, message


BAD_RAW_UPLOADS = {
    "empty body": _bad_raw(b"", message="The request body is empty"),
    "json content type": _bad_raw(
        b'{"thumbnail_base64": ""}', "application/json", status=415, message="Unsupported Content-Type"
    ),
    "form content type": _bad_raw(
        b"a=b", "application/x-www-form-urlencoded", status=415, message="Unsupported Content-Type"
    ),
    "gif content type": _bad_raw(make_image(fmt="GIF"), "image/gif", status=415, message="Unsupported Content-Type"),
    "svg content type": _bad_raw(
        b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', "image/svg+xml", status=415,
        message="Unsupported Content-Type",
    ),
    "html named jpeg": _bad_raw(
        b"<!doctype html><html><body>hi</body></html>", status=415, message="Unsupported image type: text/html"
    ),
    "webp named png": _bad_raw(
        make_image(fmt="WEBP"), "image/png", status=415, message="Unsupported image type: image/webp"
    ),
    "truncated jpeg": _bad_raw(make_image()[:600], message="Image could not be decoded"),
    "blank": _bad_raw(make_image(uniform=True), message="Image is blank"),
    "too small": _bad_raw(make_image((256, 160)), message="at least 512x320"),
    "no runner_id": _bad_raw(make_image(), query={"runner_id": None}, message="runner_id"),
    "empty runner_id": _bad_raw(make_image(), query={"runner_id": ""}, message="runner_id"),
    "render_settings not json": _bad_raw(
        make_image(), query={"render_settings": "{oops"}, message="render_settings: not valid JSON"
    ),
    "render_settings not an object": _bad_raw(
        make_image(), query={"render_settings": "[1, 2]"}, message="render_settings: must be a JSON object"
    ),
    "render_settings too big": _bad_raw(
        make_image(), query={"render_settings": json.dumps({"x": "y" * 20000})}, message="at most 16384 bytes"
    ),
    "malformed quality record": _bad_raw(
        make_image(), query={"render_settings": json.dumps({"quality": {"coverage": "lots"}})}, message="quality"
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_RAW_UPLOADS, ids=list(BAD_RAW_UPLOADS))
def test_bad_raw_uploads_are_refused_and_change_nothing(client, auth, case):
    content, content_type, query, status, message = BAD_RAW_UPLOADS[case]
    asset = make_asset()
    post_image(client, image_url(asset.pk), make_image(shape="green"), **auth)
    before = snapshot(asset)
    response = post_image(client, image_url(asset.pk, **query), content, content_type, **auth)
    assert response.status_code == status, response.content
    assert message in response.json()["detail"]
    assert snapshot(asset) == before


def test_raw_body_over_the_limit_is_refused_before_reading(client, auth, settings):
    """Content-Length says too much: 413 before the body is read (the test payload holds
    fewer bytes than it claims, so reading it would fail)."""
    settings.THUMBNAIL_MAX_UPLOAD_BYTES = 1000
    asset = make_asset()
    response = post_image(client, image_url(asset.pk), b"\xff\xd8" * 10, CONTENT_LENGTH="5000", **auth)
    assert response.status_code == 413
    assert response.json() == {"detail": "Image too large: 5000 bytes (limit 1000)"}
    assert snapshot(asset)[0] == "" and stored_files() == []


def test_raw_body_over_the_request_cap_is_refused(client, auth, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    asset = make_asset()
    response = post_image(client, image_url(asset.pk), make_image(), **auth)
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]
    assert stored_files() == []


def test_raw_polyglot_trailing_data_does_not_survive(client, auth):
    payload = make_image() + b"<script>alert(1)</script>" * 10
    asset = make_asset()
    response = post_image(client, image_url(asset.pk), payload, **auth)
    assert response.status_code == 200
    asset.refresh_from_db()
    for name in (asset.thumbnail.name, asset.preview_image.name):
        with default_storage.open(name) as f:
            assert b"<script>" not in f.read()


def test_raw_upload_to_unknown_asset_is_404_and_other_runners_get_409(client, auth):
    assert post_image(client, image_url(999999), make_image(), **auth).status_code == 404
    asset = make_asset()
    claim(client, auth, "owner", 1)
    refused = post_image(client, image_url(asset.pk, runner_id="intruder"), make_image(), **auth)
    assert refused.status_code == 409
    assert refused.json() == {"detail": f"Asset {asset.pk} is leased to another runner"}
    assert stored_files() == []
    assert post_image(client, image_url(asset.pk, runner_id="owner"), make_image(), **auth).status_code == 200
    assert not ThumbnailClaim.objects.exists()


def test_raw_upload_needs_a_token(client, staff_user):
    asset = make_asset()
    response = post_image(client, image_url(asset.pk), make_image())
    assert response.status_code == 401
    assert stored_files() == []


# --- Failures and claims -------------------------------------------------------------------


def test_failures_are_counted_and_hide_the_asset_after_three(client, auth, settings):
    asset = make_asset()
    url = f"/api/v1/admin/assets/{asset.pk}/thumbnail-failure"
    for attempt in (1, 2, 3):
        response = post(client, url, {"reason": "load_error", "detail": "404 on model.glb", "runner_id": "r"}, **auth)
        assert response.status_code == 200
        assert response.json() == {"asset_id": str(asset.pk), "attempts": attempt, "reason": "load_error"}
    failure = ThumbnailFailure.objects.get(asset=asset)
    assert failure.detail == "404 on model.glb"
    assert client.get(LIST_URL, **auth).json()["total_count"] == 0
    listed = client.get(LIST_URL + "?include_failed=true", **auth).json()["assets"]
    assert listed[0]["failure"] == {"attempts": 3, "reason": "load_error", "detail": "404 on model.glb"}


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "x" * 65}])
def test_failure_report_validates_reason(client, auth, body):
    asset = make_asset()
    response = post(client, f"/api/v1/admin/assets/{asset.pk}/thumbnail-failure", body, **auth)
    assert response.status_code == 422
    assert "reason" in response.json()["detail"]
    assert not ThumbnailFailure.objects.exists()


def test_successful_upload_clears_failure_record(client, auth):
    asset = make_asset()
    post(client, f"/api/v1/admin/assets/{asset.pk}/thumbnail-failure", {"reason": "timeout", "runner_id": "r"}, **auth)
    post(client, upload_url(asset.pk), {"thumbnail_base64": b64(make_image()), "runner_id": "r"}, **auth)
    assert not ThumbnailFailure.objects.filter(asset=asset).exists()


def claim(client, auth, runner, count=10, **extra):
    return post(client, "/api/v1/admin/thumbnail-jobs/claim", {"runner_id": runner, "count": count, **extra}, **auth)


def test_claims_never_hand_the_same_asset_to_two_runners(client, auth):
    assets = [make_asset(f"c{i}") for i in range(5)]
    first = claim(client, auth, "runner-a", 3).json()
    second = claim(client, auth, "runner-b", 3).json()
    a_ids = [x["id"] for x in first["assets"]]
    b_ids = [x["id"] for x in second["assets"]]
    assert a_ids == [str(a.pk) for a in assets[:3]]
    assert b_ids == [str(a.pk) for a in assets[3:]]
    assert first["remaining"] == 2 and second["remaining"] == 0
    assert claim(client, auth, "runner-c").json()["assets"] == []


def test_expired_lease_returns_asset_to_the_pool(client, auth):
    asset = make_asset()
    claim(client, auth, "crashed")
    ThumbnailClaim.objects.filter(asset=asset).update(expires_at=timezone.now() - timedelta(seconds=1))
    again = claim(client, auth, "rescuer").json()
    assert [x["id"] for x in again["assets"]] == [str(asset.pk)]
    assert ThumbnailClaim.objects.get(asset=asset).runner_id == "rescuer"


def test_upload_and_failure_end_the_lease_and_other_runners_get_409(client, auth):
    a, b = make_asset("a"), make_asset("b")
    claim(client, auth, "owner", 2)
    refused = post(client, upload_url(a.pk), {"thumbnail_base64": b64(make_image()), "runner_id": "intruder"}, **auth)
    assert refused.status_code == 409
    assert refused.json() == {"detail": f"Asset {a.pk} is leased to another runner"}
    assert (
        post(
            client, upload_url(a.pk), {"thumbnail_base64": b64(make_image()), "runner_id": "owner"}, **auth
        ).status_code
        == 200
    )
    assert (
        post(
            client,
            f"/api/v1/admin/assets/{b.pk}/thumbnail-failure",
            {"reason": "timeout", "runner_id": "owner"},
            **auth,
        ).status_code
        == 200
    )
    assert not ThumbnailClaim.objects.exists()


def test_release_gives_assets_back(client, auth):
    a = make_asset()
    claim(client, auth, "r1")
    response = post(
        client, "/api/v1/admin/thumbnail-jobs/release", {"runner_id": "r1", "asset_ids": [str(a.pk)]}, **auth
    )
    assert response.json() == {"released": 1}
    assert [x["id"] for x in claim(client, auth, "r2").json()["assets"]] == [str(a.pk)]


def test_claim_from_a_saved_selection_includes_assets_with_thumbnails(client, auth, staff_user):
    from admin_tools.services import save_selection

    a, b, _outside = make_asset("a"), make_asset("b"), make_asset("c")
    Asset.objects.filter(pk=b.pk).update(thumbnail="thumbnails/b.jpg")
    selection = save_selection(asset_ids=[a.pk, b.pk], user=staff_user)
    body = claim(client, auth, "page", selection=str(selection.pk)).json()
    assert [x["id"] for x in body["assets"]] == [str(a.pk), str(b.pk)]


def test_claim_with_unknown_selection_is_404(client, auth):
    response = claim(client, auth, "page", selection="00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404


def test_status_reports_progress(client, auth):
    make_asset("a")
    done = make_asset("b")
    Asset.objects.filter(pk=done.pk).update(thumbnail="thumbnails/b.jpg")
    body = client.get("/api/v1/admin/thumbnail-jobs/status", **auth).json()
    assert body["total"] == 2 and body["with_thumbnail"] == 1 and body["percent"] == 50.0


def test_openapi_docs_are_served_to_staff_only(client, staff_user):
    assert client.get("/api/v1/openapi.json").status_code == 302
    assert client.get("/api/v1/docs").status_code == 302
    client.force_login(staff_user)
    assert client.get("/api/v1/docs").status_code == 200
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/admin/assets/{asset_id}/thumbnail" in schema["paths"]
    raw = schema["paths"]["/api/v1/admin/assets/{asset_id}/thumbnail-image"]["post"]
    assert sorted(raw["requestBody"]["content"]) == ["image/jpeg", "image/png"]
    assert {p["name"] for p in raw["parameters"]} >= {"asset_id", "runner_id", "renderer", "render_settings"}
