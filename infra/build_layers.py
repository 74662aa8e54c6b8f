"""`make layers`: build the Lambda dependency layer without Docker (see luma_infra/layers.py)."""

from luma_infra.layers import main

if __name__ == "__main__":
    raise SystemExit(main())
