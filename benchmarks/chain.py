"""Our side of the benchmark: train → prune 50% → PQAT → export, then the 75% frontier from the same float model.

Everything goes through the same stage functions `make train` and
`make quantize` call, so the figures are those of the shipped commands.
"""

import shutil

from lepton_tf import stages
from lepton_tf import train as train_lib
from lepton_tf.cli import quantize
from lepton_tf.data.sources import load_data
from lepton_tf.run_folder import RunFolder
from lepton_tf.tasks import reopen_task

from benchmarks import flops, throughput

FRONTIER_SPARSITY = 0.75
# What a frontier run does not inherit from the run it starts from: everything after the float model.
NOT_INHERITED = ("backup", "checkpoints", "logs", "tflite", "saved_model", "pruned.weights.h5", "qat.weights.h5",
                 "history_pruned.csv", "history_qat.csv", "lock")


def train_float(run_dir, config):
    """Trains the float model from scratch (an earlier benchmark's folder is removed first)."""
    shutil.rmtree(run_dir, ignore_errors=True)
    return stages.train(run_dir, config)


def open_task(run_dir, config):
    """The trained run's task (data + recorded preprocessing), without touching its model card."""
    run = RunFolder(run_dir)
    return reopen_task(load_data(config.data, run.path), run, config)


def profile_training(task, config):
    """Parameters, FLOPs and throughput of the float model's training step, and of its input pipeline."""
    model = task.build_model(config)
    cfg = config.train
    optimizer = train_lib.make_optimizer(cfg.optimizer, cfg.learning_rate * 0.1, cfg.weight_decay, cfg.momentum)
    train_lib.compile_model(model, optimizer, cfg.label_smoothing, cfg.jit_compile)
    dataset = task.dataset("train", config, True)
    step = throughput.training_step_profile(model, dataset, config.data.batch_size)
    forward = flops.forward_flops(model)
    return {"params": model.count_params(), "forward_flops": forward,
            "training_flops_per_example": flops.TRAINING_FLOPS_PER_FORWARD_FLOP * forward,
            "pipeline_examples_per_second": throughput.pipeline_examples_per_second(dataset), "step": step}


def quantize_frontier(run_dir, frontier_dir, sparsity=FRONTIER_SPARSITY):
    """The same chain at a higher sparsity, from a copy of the run's float model."""
    shutil.rmtree(frontier_dir, ignore_errors=True)
    shutil.copytree(run_dir, frontier_dir, ignore=shutil.ignore_patterns(*NOT_INHERITED))
    frontier = RunFolder(frontier_dir)
    card = frontier.read_card()
    card.pop("artifacts", None)  # its files are exported anew
    frontier.write_card({**card, "name": frontier.name})
    return quantize(frontier_dir, [f"optimize.sparsity={sparsity}"])
