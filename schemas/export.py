"""Write the JSON Schema of each top-level contract to schemas/json/ (committed, compared)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from schemas.digest import Digest
from schemas.report import Report

EXPORTED: dict[str, type[BaseModel]] = {"digest": Digest, "report": Report}
JSON_DIR = Path(__file__).parent / "json"


def render() -> dict[str, str]:
    """File name → schema text, exactly as committed."""
    return {
        f"{name}.schema.json": json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False)
        + "\n"
        for name, model in EXPORTED.items()
    }


def main() -> None:
    """`python -m schemas.export` writes the files; `--check` exits 1 if they are stale."""
    stale = [
        name
        for name, text in render().items()
        if not (JSON_DIR / name).exists() or (JSON_DIR / name).read_text("utf-8") != text
    ]
    if "--check" in sys.argv[1:]:
        for name in stale:
            print(f"schemas/json/{name} is stale: run python -m schemas.export", file=sys.stderr)
        sys.exit(1 if stale else 0)
    JSON_DIR.mkdir(exist_ok=True)
    for name, text in render().items():
        (JSON_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote {JSON_DIR / name}", file=sys.stderr)


if __name__ == "__main__":
    main()
