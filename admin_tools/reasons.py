"""Failure reason codes: one list, ``static/batch_thumbs/failure-reasons.json``.

The API accepts only these codes; the page imports the same file (errors.js), so a reason
is added in one place and both sides know it.
"""

import json
from pathlib import Path

REASONS_FILE = Path(__file__).resolve().parent.parent / "static" / "batch_thumbs" / "failure-reasons.json"

#: {code: what it means}, in the file's order.
FAILURE_REASONS: dict = json.loads(REASONS_FILE.read_text(encoding="utf-8"))

__all__ = ["FAILURE_REASONS", "REASONS_FILE"]
