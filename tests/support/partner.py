"""The receiver helper shipped to partners (deploy/examples/webhook_receiver.py), loaded
from its file as a partner would copy it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_receiver_helper() -> ModuleType:
    """The receiver helper shipped to partners (deploy/examples), loaded from its file."""
    path = ROOT / "deploy" / "examples" / "webhook_receiver.py"
    spec = importlib.util.spec_from_file_location("webhook_receiver", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HELPER = load_receiver_helper()
