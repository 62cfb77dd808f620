"""Three runner processes, one gallery on PostgreSQL: every asset rendered exactly once.

This is the deployment that outgrows one machine (N runners pointing ``--server`` at one
gallery), scaled down to one host: each runner is its own process with its own Chromium and
no database, and only the API's leases keep them apart.
"""

import subprocess
from collections import Counter

import pytest
from django.db import connection
from django.db.models import Count

from admin_tools.models import ThumbnailClaim, ThumbnailFailure, ThumbnailVersion
from icosa.demo import write_demo_models
from icosa.importing import import_model
from icosa.models import Asset

from .conftest import start_ids_above_2_53
from .test_render_thumbnails import RUNNER_TIMEOUT, kill_tree, start_runner

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="runs in the PostgreSQL pass of make test",
    ),
]

RUNNERS = 3
ASSETS = 30


def test_three_runners_share_one_gallery(live_server, staff_user, tmp_path):
    start_ids_above_2_53()
    assets = [import_model(path) for path in write_demo_models(tmp_path / "models", count=ASSETS)]
    token = staff_user.generate_jwt_token()

    runners = [
        start_runner(live_server.url, token, "--runner-id", f"runner-{n}", "--batch-size", "3") for n in range(RUNNERS)
    ]
    outputs = []
    try:
        for runner in runners:
            out, _ = runner.communicate(timeout=RUNNER_TIMEOUT)
            outputs.append(out)
    except subprocess.TimeoutExpired:
        for runner in runners:
            kill_tree(runner)
        raise
    report = "\n".join(outputs)

    assert [runner.returncode for runner in runners] == [0] * RUNNERS, report
    uploads = dict(ThumbnailVersion.objects.values_list("asset").annotate(n=Count("id")).values_list("asset", "n"))
    assert uploads == {asset.pk: 1 for asset in assets}, report
    assert not Asset.objects.filter(thumbnail="").exists()
    assert not ThumbnailClaim.objects.exists()
    assert not ThumbnailFailure.objects.exists()
    by_runner = Counter(ThumbnailVersion.objects.values_list("runner_id", flat=True))
    assert set(by_runner) <= {f"runner-{n}" for n in range(RUNNERS)}
    assert sum(by_runner.values()) == ASSETS
    assert len(by_runner) >= 2, f"one runner did everything: {dict(by_runner)}"
