"""The asset-id type of the API and the commands: text in, a signed 64-bit id out.

Apart from filters.py (a ninja schema), so a command can parse ids without importing the API.
"""

import re
from collections.abc import Iterable

_ASSET_ID = re.compile(r"[0-9]{1,19}")
_MAX_ID = 2**63 - 1
#: Most ids one request may name, counted after splitting "1,2,3" (a bigger set is a saved
#: selection, which the claim expands in SQL).
MAX_IDS = 10000


def parse_asset_id(text) -> int | None:
    """An asset id from text, or None: ASCII digits within a signed 64-bit integer
    (str.isdigit also accepts characters such as '²' that int() refuses)."""
    text = str(text).strip()
    if not _ASSET_ID.fullmatch(text) or int(text) > _MAX_ID:
        return None
    return int(text)


def parse_asset_ids(values: Iterable) -> list[int]:
    """Ids from comma-separated and/or repeated values; ValueError names the first bad one."""
    ids = []
    for value in values or []:
        for part in str(value).split(","):
            part = part.strip()
            if not part:
                continue
            asset_id = parse_asset_id(part)
            if asset_id is None:
                raise ValueError(f"'{part}' is not an asset id")
            ids.append(asset_id)
            if len(ids) > MAX_IDS:
                raise ValueError(f"at most {MAX_IDS} ids per request")
    return ids


__all__ = ["MAX_IDS", "parse_asset_id", "parse_asset_ids"]
