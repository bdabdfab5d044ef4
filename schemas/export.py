"""Write the JSON Schema of each top-level contract to schemas/json/ (committed; a test compares)."""

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
    JSON_DIR.mkdir(exist_ok=True)
    for name, text in render().items():
        (JSON_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote {JSON_DIR / name}", file=sys.stderr)


if __name__ == "__main__":
    main()
