"""``manage.py bake_environment``: the studio environment baked in Chromium, through the page's
own module (environment.js), into the static file every page loads. (Outside tests/browser: the
command runs its own event loop, which the browser tests' Playwright loop would not allow.)"""

import gzip
import io
import struct

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from admin_tools.management.commands.bake_environment import default_output

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def read_baked(path):
    raw = gzip.decompress(path.read_bytes())
    (length,) = struct.unpack("<I", raw[:4])
    return raw[4 : 4 + length], np.frombuffer(raw[4 + length :], dtype=np.float16).astype(np.float32)


def test_the_committed_file_is_what_bake_environment_makes_now(tmp_path):
    """The file in the repository is current for this three.js and this code (re-bake after
    an upgrade: ``manage.py bake_environment``)."""
    output = tmp_path / "room.bin"
    call_command("bake_environment", output=output, stdout=io.StringIO())

    fresh_header, fresh = read_baked(output)
    committed_header, committed = read_baked(default_output())
    assert fresh_header == committed_header
    assert fresh.shape == committed.shape
    assert np.allclose(fresh, committed, rtol=1e-2, atol=1e-3), float(np.abs(fresh - committed).max())


def test_a_missing_chromium_is_a_clear_error_and_writes_nothing(tmp_path):
    output = tmp_path / "room.bin"
    with pytest.raises(CommandError, match="Chromium not found"):
        call_command("bake_environment", output=output, chromium=str(tmp_path / "no-chromium"))
    assert not output.exists()
