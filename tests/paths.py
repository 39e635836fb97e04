from pathlib import Path

# Real third-party archives and mappings (see tests/data/README.md for sources and licences).
TESTDATA = Path(__file__).resolve().parent / "data"
DWCA = TESTDATA / "dwca"
MIDS = TESTDATA / "mids"
