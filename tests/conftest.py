"""Shared test configuration: offline model loading and the database backends under test."""

from __future__ import annotations

import os

# The suite must never reach a model hub; the bundled model is loaded from site-packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
