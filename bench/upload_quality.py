#!/usr/bin/env python
"""PSNR and bytes of every derivative an upload makes, working tree against an older images.py.

A faster image path must not cost visible quality: each derivative (the answer's thumbnail
and preview, the background job's card widths and WebP preview) is decoded and compared
with the same derivative made by ``--baseline``, for two 1280x800 captures: the upload
bench's shaded model with sensor-like noise, and a sharp one (hard edges, fine stripes and
text-like detail, where resampling filters differ most).

    git show 3c3f44b~1:admin_tools/images.py > /tmp/images_before.py
    .venv/bin/python bench/upload_quality.py --baseline /tmp/images_before.py

Results: a Markdown table on stdout and bench/results/upload_quality.json.
"""

import argparse
import io
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from api_upload import render_like_jpeg  # noqa: E402

NAME = "upload_quality"


def sharp_jpeg(size=(1280, 800), quality=85):
    """Hard edges and one-pixel detail: a checkerboard, fine stripes, thin lines, small text."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, "#e8eaed")
    draw = ImageDraw.Draw(image)
    w, h = size
    for y in range(0, h // 2, 16):
        for x in range(0, w // 2, 16):
            if (x + y) // 16 % 2:
                draw.rectangle((x, y, x + 15, y + 15), fill="#1f2937")
    for x in range(w // 2, w, 3):
        draw.line((x, 0, x, h // 2), fill="#b91c1c")
    for i in range(40):
        draw.line((0, h // 2 + i * 10, w // 2, h - 1 - i * 7), fill="#1d4ed8", width=1)
    for row in range(20):
        draw.text((w // 2 + 10, h // 2 + 10 + row * 18), "Icosa gallery thumbnail 0123456789 " * 2, fill="#111827")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def psnr(a, b):
    from PIL import ImageChops, ImageStat

    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    mse = sum(v * v for v in ImageStat.Stat(diff).rms) / 3
    return float("inf") if mse == 0 else 10 * math.log10(255 * 255 / mse)


def outputs(images, content):
    """(kind, format, width) -> encoded bytes, for the answer's and the background's files."""
    derivatives = images.make_derivatives(content)
    made = {
        ("thumbnail", "JPEG", derivatives.thumbnail.width): derivatives.thumbnail.content,
        ("preview", "JPEG", derivatives.preview.width): derivatives.preview.content,
    }
    for extra in images.extra_derivatives(derivatives):
        made[(extra.kind, extra.format, extra.width)] = extra.content
    return made


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, metavar="FILE", help="An older admin_tools/images.py.")
    args = parser.parse_args()
    common.configure("sqlite", "icosa_bench_quality")
    from PIL import Image

    from admin_tools import images

    before = common.load_module_from(args.baseline, "bench_baseline_images")
    rows = []
    for capture, content in (("shaded model", render_like_jpeg()), ("sharp edges", sharp_jpeg())):
        old, new = outputs(before, content), outputs(images, content)
        for key in sorted(new):
            if key not in old:
                continue
            value = psnr(Image.open(io.BytesIO(old[key])), Image.open(io.BytesIO(new[key])))
            rows.append(
                {
                    "capture": capture,
                    "derivative": " ".join(str(k) for k in key),
                    "psnr_db": "identical" if math.isinf(value) else round(value, 1),
                    "bytes_before": len(old[key]),
                    "bytes_after": len(new[key]),
                    "bytes_change": f"{(len(new[key]) / len(old[key]) - 1) * 100:+.1f} %",
                }
            )
    columns = [
        ("capture", "capture"),
        ("derivative", "derivative"),
        ("PSNR vs before (dB)", "psnr_db"),
        ("bytes before", "bytes_before"),
        ("bytes after", "bytes_after"),
        ("bytes", "bytes_change"),
    ]
    table = common.format_table(rows, columns)
    print(table)
    path = common.write_json(
        NAME, {"name": NAME, "machine": common.machine_info(), "baseline": args.baseline, "rows": rows, "table": table}
    )
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
