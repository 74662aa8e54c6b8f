"""What the last synth produced (read from cdk.out/manifest.json): stack names or template paths."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def stacks(out: Path) -> dict[str, Path]:
    manifest = json.loads((out / "manifest.json").read_text())
    return {
        name: out / artifact["properties"]["templateFile"]
        for name, artifact in sorted(manifest["artifacts"].items())
        if artifact["type"] == "aws:cloudformation:stack"
    }


def main(argv: list[str]) -> int:
    command, out = argv[1], Path(argv[2] if len(argv) > 2 else "cdk.out")
    found = stacks(out)
    if command == "stacks":
        print("    stacks: " + ", ".join(found))
    elif command == "templates":
        print(" ".join(str(path) for path in found.values()))
    else:
        raise SystemExit(f"unknown command {command!r}: stacks | templates")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
