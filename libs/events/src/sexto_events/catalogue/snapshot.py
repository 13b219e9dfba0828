"""The committed JSON-Schema snapshot of the catalogue: `python -m sexto_events.catalogue.snapshot`.

The tests compare the live catalogue with this file, so any change to an event's schema
is a reviewed change: regenerate the file and commit it with the upcaster it needs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from sexto_events.catalogue import CATALOGUE

SNAPSHOT = Path(__file__).with_name("schema_snapshot.json")


def render(snapshot: dict[str, Any]) -> str:
    """The snapshot as committed text."""
    return json.dumps(snapshot, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    """Write the snapshot (with --check: exit 1 if it differs)."""
    text = render(CATALOGUE.snapshot())
    if "--check" in sys.argv:
        sys.exit(0 if SNAPSHOT.read_text() == text else 1)
    SNAPSHOT.write_text(text)
    print(f"wrote {SNAPSHOT}")


if __name__ == "__main__":
    main()
