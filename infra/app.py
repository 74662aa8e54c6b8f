#!/usr/bin/env python3
"""The Luma CDK app (cdk.json: `.venv/bin/python infra/app.py`). See docs/deploy.md."""

from __future__ import annotations

import sys
import time

from luma_infra.app import build_app

started = time.monotonic()
app, stacks, sources = build_app()
app.synth()
layer = "placeholder" if sources.deps_layer.placeholder else "built"
for note in sources.notes:
    print(f"luma-infra: note: {note}", file=sys.stderr)
print(
    f"luma-infra: {len(sources.functions)} functions, {len(sources.state_machines)} state machines, "
    f"{layer} dependency layer; synthesized in {time.monotonic() - started:.1f} s",
    file=sys.stderr,
)
