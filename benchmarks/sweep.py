"""`python -m benchmarks.sweep FILE`: train each try of a sweep file, keep one JSON a try.

A sweep file (YAML) names a base config and a list of tries, each a list of
`--set` overrides (later ones win; a YAML anchor lets one try extend another):

    config: configs/trec.yaml
    seeds: [0]
    tries:
      - []                                  # the base config itself
      - [model.width=150, model.dropout=0.3]

Every try trains the float model only and is judged by its **validation**
accuracy (the split carved from train, or the data's own dev file), never by
the test split. A sweep file that says `held_out: true` trains on folders whose
test file is a validation file held out by hand (SST-2's dev.tsv, or rows cut
from a train.tsv), never a real test split: its tries also record that
accuracy as `held_out_accuracy`, which is what to judge by when a try changes
how the validation split itself is used (early stopping picks the epoch on it).
`benchmarks/results/tries/SWEEP/TRY.json` records the
overrides, the seed, the validation accuracy, the epochs, the parameters and
the training time, so a recipe's choice can be re-read and re-run. A try whose
file exists is skipped (delete the file to run it again).
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def try_name(overrides, seed):
    """A stable file name for a try: its overrides, readable where short, and a hash."""
    text = ",".join(overrides) or "base"
    digest = hashlib.sha1(f"{text}|{seed}".encode()).hexdigest()[:8]
    readable = "".join(c if c.isalnum() or c in "._=-" else "_" for c in text)[:80]
    return f"{readable}-seed{seed}-{digest}"


def run_try(config, overrides, seed, run_dir, held_out=False):
    """Trains the float model of one try; returns its record (with `held_out_accuracy` if `held_out`)."""
    from lepton_tf import Run

    settings = [*overrides, f"data.seed={seed}", "train.verbose=0"]  # verbosity changes no model
    run = Run.create(run_dir, config=config, overrides=settings, overwrite=True)
    run.train()
    float_stage = run.card.stages["float"]
    record = {"config": str(config.relative_to(ROOT)) if config else None, "overrides": list(overrides), "seed": seed,
            "val_accuracy": float_stage.val_accuracy, "epochs": float_stage.epochs,
            "train_seconds": float_stage.train_seconds, "params": run.card.model.params,
            "model": run.card.model.name}
    if held_out:
        record["held_out_accuracy"] = float_stage.accuracy
    return record


def sweep(path, results, work):
    """Runs every try of the sweep file `path` not yet recorded under `results`; returns their records."""
    spec = yaml.safe_load(Path(path).read_text())
    name = Path(path).stem
    folder = results / name
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for overrides in map(_flat, spec["tries"]):
        for seed in spec.get("seeds", [0]):
            target = folder / f"{try_name(overrides, seed)}.json"
            if target.exists():
                records.append(json.loads(target.read_text()))
                continue
            record = run_try(spec.get("config") and ROOT / spec["config"], overrides, seed, work / name / target.stem,
                             held_out=spec.get("held_out", False))
            target.write_text(json.dumps(record, indent=1) + "\n")
            records.append(record)
            held_out = f"  held out {record['held_out_accuracy']:.4f}" if "held_out_accuracy" in record else ""
            print(f"{record['val_accuracy']:.4f}{held_out}  {record['train_seconds']:7.1f}s  {overrides}", flush=True)
    return records


def _flat(items):
    """A try as one list of overrides: YAML anchors let a try extend another (`[*base, train.epochs=15]`)."""
    flat = []
    for item in items:
        flat.extend(_flat(item) if isinstance(item, list) else [str(item)])
    return flat


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sweep", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", type=Path, help="a sweep file, e.g. benchmarks/sweeps/trec.yaml")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "tries")
    parser.add_argument("--work", type=Path, default=ROOT / "saved_models" / "sweeps")
    args = parser.parse_args(argv)
    records = sweep(args.sweep, args.results, args.work)
    score = "held_out_accuracy" if all("held_out_accuracy" in record for record in records) else "val_accuracy"
    best = max(records, key=lambda record: record[score])
    print(f"best of {len(records)}: {score} {best[score]:.4f} with {best['overrides']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
