"""`python -m benchmarks.held_out OUT`: sentence folders whose test file is a held-out validation file.

For sweeps that change how a run uses its own validation split (early
stopping picks an epoch on it, so its accuracy flatters the try), the score
must come from rows the run never saw. Each folder written here has a
`train.tsv` (the run carves its validation split from it) and a `test.tsv`
that is really validation data, so no try is ever judged on a real test file:

- `sst2/`: SST-2's train.tsv; its dev.tsv as the test file.
- `sst2_3k/`: the first 3,000 rows of SST-2's train.tsv (a small set); dev.tsv as the test file.
- `trec/`: TREC's train.tsv less 500 seeded-random rows, which become the test file.
"""

import argparse
import random
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SMALL_SET_ROWS = 3000
TREC_HELD_OUT_ROWS = 500


def _rows(path):
    header, *rows = Path(path).read_text().splitlines(keepends=True)
    return header, rows


def _write(folder, header, train, test):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.tsv").write_text(header + "".join(train))
    (folder / "test.tsv").write_text(header + "".join(test))


def build(out, shared=SHARED):
    """Writes the three folders under `out` from the data sets in `shared`; returns their paths."""
    out = Path(out)
    header, sst2_train = _rows(shared / "sst2" / "train.tsv")
    _, sst2_dev = _rows(shared / "sst2" / "dev.tsv")
    _write(out / "sst2", header, sst2_train, sst2_dev)
    _write(out / "sst2_3k", header, sst2_train[:SMALL_SET_ROWS], sst2_dev)
    header, trec = _rows(shared / "trec" / "train.tsv")
    held_out = set(random.Random(0).sample(range(len(trec)), TREC_HELD_OUT_ROWS))
    _write(out / "trec", header, [row for i, row in enumerate(trec) if i not in held_out],
           [row for i, row in enumerate(trec) if i in held_out])
    return [out / name for name in ("sst2", "sst2_3k", "trec")]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.held_out", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder to write (e.g. /tmp/held_out); replaced if it exists")
    args = parser.parse_args(argv)
    shutil.rmtree(args.out, ignore_errors=True)
    for folder in build(args.out):
        print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
