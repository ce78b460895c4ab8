"""`python -m benchmarks` (`make bench`): measure, write `benchmarks/results/*.json`, update README's tables."""

import argparse
import datetime
import logging
import sys
from pathlib import Path

from lepton_tf import cli
from lepton_tf.errors import LeptonError

from benchmarks import frontier, hardware, quick, report, suite, targets, transfer

ROOT = Path(__file__).resolve().parents[1]
# With a GPU the recipes train in mixed precision under XLA (exports stay float32).
GPU_OVERRIDES = ["train.mixed_precision=float16", "train.jit_compile=true"]
# Every data set `make bench` knows: the chain-vs-tutorial rows, then the transfer row (photos).
DATA_SETS = [*suite.DATA_SETS, transfer.NAME]


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--data", default=",".join(DATA_SETS),
                        help=f"comma-separated data sets (default: all of {', '.join(DATA_SETS)})")
    parser.add_argument("--runs", type=int, default=1, help="runs a data set; figures are their median (default 1)")
    parser.add_argument("--quick", action="store_true", help="tiny slices and recipes: checks the code, not the model")
    parser.add_argument("--work", type=Path, help="where run folders go (default saved_models/bench[_quick])")
    parser.add_argument("--results", type=Path,
                        help="where result JSON goes (default benchmarks/results, or WORK/results with --quick)")
    parser.add_argument("--frontier", default=",".join(frontier.METHODS),
                        help="compression-frontier methods to fork and measure (default: all of "
                             f"{', '.join(frontier.METHODS)}; pqat75 is always measured)")
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing: rewrite the README tables from the result files")
    parser.add_argument("--readme", type=Path,
                        help="README whose bench section is rewritten (default README.md; none with --quick)")
    return parser


def _settings(parser, args):
    work = args.work or ROOT / "saved_models" / ("bench_quick" if args.quick else "bench")
    results = args.results or (work / "results" if args.quick else ROOT / "benchmarks" / "results")
    readme = args.readme or (None if args.quick else ROOT / "README.md")
    names = [name.strip() for name in args.data.split(",") if name.strip()]
    unknown = sorted(set(names) - set(DATA_SETS))
    if unknown or not names:
        parser.error(f"unknown data set(s) {unknown or args.data!r}; choose from {', '.join(DATA_SETS)}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    methods = [method.strip() for method in args.frontier.split(",") if method.strip()]
    unknown = sorted(set(methods) - set(frontier.METHODS))
    if unknown:
        parser.error(f"unknown frontier method(s) {unknown}; choose from {', '.join(frontier.METHODS)}")
    return work, results, readme, names, methods


def bench(name, work, runs, quick_mode, machine, methods=tuple(frontier.METHODS)):
    """Runs data set `name` `runs` times; returns its result (median, spread, records, targets)."""
    if name == transfer.NAME:
        return transfer.bench(work, runs, quick_mode, machine, GPU_OVERRIDES if machine["gpus"] else [])
    overrides = (quick.overrides(name, work) if quick_mode else []) + (GPU_OVERRIDES if machine["gpus"] else [])
    records = [suite.run_once(name, work, seed, overrides, methods) for seed in range(runs)]
    median, spread = report.aggregate(records)
    return {"data_set": name, "recipe": suite.DATA_SETS[name], "overrides": overrides, "quick": quick_mode,
            "runs": runs, "date": datetime.date.today().isoformat(), "hardware": machine, "median": median,
            "spread": spread, "targets": targets.check(name, median["ours"], median["peer"]), "records": records}


def _print_targets(result):
    for target in result["targets"]:
        verdict = "met" if target["met"] else f"MISSED ({target['gap']})"
        print(f"{result['data_set']:8} {target['target']}: {target['measured']} — {verdict}")


def _measure(names, work, results_dir, runs, quick_mode, methods):
    """Benchmarks each data set, writes its JSON and prints its targets; returns the exit code."""
    machine = hardware.describe()
    try:
        for name in names:
            result = bench(name, work, runs, quick_mode, machine, methods)
            report.write_result(results_dir / f"{name}.json", result)
            _print_targets(result)
    except LeptonError as error:
        print(f"benchmarks: error: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    work, results_dir, readme, names, methods = _settings(parser, args)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cli.quiet_tensorflow_logs()
    if not args.report_only:
        code = _measure(names, work, results_dir, args.runs, args.quick, methods)
        if code:
            return code
    if readme is not None:
        everything = report.load_results(results_dir, DATA_SETS)
        report.update_readme(readme, report.markdown(everything))
        print(f"updated {readme} from {len(everything)} result file(s) in {results_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
