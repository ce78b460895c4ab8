"""The `lepton` command: train, prune, quantize, export, evaluate, robustness, predict."""

import argparse
import errno
import logging
import sys

from lepton_tf.errors import LeptonError

# Output-storage failures that get one clear message instead of a traceback.
STORAGE_ERRORS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
                  errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
                  errno.EPERM: "operation not permitted"}


def build_parser():
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="lepton", description="Train, prune, quantize and export compact Keras classifiers.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, help_text, config_file=False):
        command = commands.add_parser(name, help=help_text, description=help_text)
        command.add_argument("run_dir", metavar="RUN_DIR", help="run folder, e.g. saved_models/default")
        if config_file:
            command.add_argument("--config", metavar="FILE", help="YAML config (defaults if omitted)")
        command.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides",
                             help="override a config field, e.g. --set train.epochs=30 (repeatable)")
        return command

    train = add("train", "Train the float model into RUN_DIR (resumes an interrupted run).", config_file=True)
    train.add_argument("--overwrite", action="store_true",
                       help="replace a finished run in RUN_DIR (only files lepton wrote are removed)")
    add("prune", "Prune the trained model to optimize.sparsity and fine-tune it.")
    add("quantize", "Prune, quantization-aware-train, then export and evaluate (the whole chain).")
    add("export", "Write the SavedModel and TFLite files from the run's models, then evaluate them.")
    evaluate = commands.add_parser("evaluate", help="Run every exported file on the test split; update the model card.",
                                   description="Run every exported file on the test split; update the model card.")
    evaluate.add_argument("run_dir", metavar="RUN_DIR")
    add("robustness", "Run every exported file on corrupted/perturbed test inputs (robustness.json, .png, "
                      "and the model card); e.g. --set export.robustness_examples=200.")
    predict = commands.add_parser("predict", help="Print the top-k classes of image files or sentences.",
                                  description="Print the top-k classes of image files (image models) "
                                              "or sentences (text models).")
    predict.add_argument("model", metavar="MODEL", help="run folder, SavedModel folder or .tflite file")
    predict.add_argument("inputs", metavar="INPUT", nargs="+", help="image file, or sentence for text models")
    predict.add_argument("--top-k", type=positive_int, default=3, help="classes to print per input (default 3)")
    return parser


def positive_int(text):
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run_command(args):
    """Dispatches parsed arguments to `Run`; returns the process exit code."""
    if args.command == "predict":
        return _predict(args)
    from lepton_tf.run import Run

    if args.command == "train":
        run = Run.create(args.run_dir, config=args.config, overrides=args.overrides, overwrite=args.overwrite,
                         command=_command_line(args)).train()
    else:
        run = Run.open(args.run_dir, getattr(args, "overrides", ()))
        getattr(run, args.command)()
    print(run.summary())
    return 0


def _command_line(args):
    """The `lepton train` command that made a run, for its model card."""
    words = ["lepton train", str(args.run_dir), *([f"--config {args.config}"] if args.config else []),
             *(f"--set {override}" for override in args.overrides), *(["--overwrite"] if args.overwrite else [])]
    return " ".join(words)


def _predict(args):
    from lepton_tf.predict import predict

    lines, failed = predict(args.model, args.inputs, args.top_k)
    print("\n".join(lines))
    return 1 if failed else 0


def main(argv=None):
    """Entry point of the `lepton` console script and `python -m lepton_tf`."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    quiet_tensorflow_logs()
    try:
        return run_command(args)
    except LeptonError as error:
        print(f"lepton: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        if error.errno not in STORAGE_ERRORS:
            raise
        where = f" writing {error.filename}" if error.filename else ""
        print(f"lepton: error: {STORAGE_ERRORS[error.errno]}{where} ({error.strerror}); nothing was left "
              f"half-written: free space or fix permissions, then run the same command again", file=sys.stderr)
        return 2


def quiet_tensorflow_logs():
    """Per-step INFO lines from TF internals drown the stage logs."""
    for noisy in ("absl", "tensorflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
