"""The OpenAPI document as committed in ``porto_contract/openapi.json``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from petit.app import create_app
from petit.db.migrate import PROJECT_ROOT
from petit.settings import Environment, Settings

if TYPE_CHECKING:
    from pathlib import Path

OPENAPI_PATH: Path = PROJECT_ROOT / "porto_contract" / "openapi.json"
REGENERATE_COMMAND = "uv run petit openapi"


def render_openapi() -> str:
    """The document petit serves under /schema/openapi.json, serialized deterministically."""
    # Building the app opens no connection, so this works offline and without configuration.
    app = create_app(Settings(environment=Environment.DEVELOPMENT))
    return json.dumps(app.openapi_schema.to_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
