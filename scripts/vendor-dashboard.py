#!/usr/bin/env python3
"""Copy the dashboard's chart library from node_modules into the node's package data.

The dashboard (``rpc/dashboard/``, served at ``GET /``) has no build step and loads nothing
from a CDN: Chart.js, pinned in ``package.json``, is copied here as it ships (its UMD bundle
and its licence) and committed. Run after changing the pinned version::

    npm install && .venv/bin/python scripts/vendor-dashboard.py

``tests/unit/test_dashboard.py`` checks that the committed copy equals node_modules' file.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "node_modules" / "chart.js"
TARGET = ROOT / "rpc" / "dashboard"
# node_modules path (under chart.js/) -> the name the dashboard serves it as
FILES = {
    "dist/chart.umd.min.js": "chart.umd.min.js",
    "LICENSE.md": "chart.js.LICENSE.md",
}


def main() -> int:
    if not PACKAGE.is_dir():
        print(f"{PACKAGE} is missing: run `npm install` first", file=sys.stderr)
        return 1
    for source, name in FILES.items():
        shutil.copyfile(PACKAGE / source, TARGET / name)
        print(f"{PACKAGE / source} -> {TARGET / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
