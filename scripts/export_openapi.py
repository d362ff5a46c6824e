"""Write the HTTP API's OpenAPI document (generated from functions/api/app.py) to docs/openapi.json.

.venv/bin/python scripts/export_openapi.py           # rewrite docs/openapi.json
.venv/bin/python scripts/export_openapi.py --check   # exit 1 if the committed file is out of date
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
API_APP = ROOT / "functions" / "api" / "app.py"
OPENAPI_FILE = ROOT / "docs" / "openapi.json"


def generate() -> str:
    """The document as the API function generates it (importing the handler module by path, as Lambda does)."""
    spec = importlib.util.spec_from_file_location("cataloop_api_app", API_APP)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {API_APP}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.openapi_document())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    document = generate()
    if args.check:
        current = OPENAPI_FILE.read_text(encoding="utf-8") if OPENAPI_FILE.exists() else ""
        if current != document:
            print(f"{OPENAPI_FILE.relative_to(ROOT)} is out of date: run scripts/export_openapi.py")
            return 1
        print(f"{OPENAPI_FILE.relative_to(ROOT)} is up to date")
        return 0
    OPENAPI_FILE.write_text(document, encoding="utf-8")
    print(f"wrote {OPENAPI_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
