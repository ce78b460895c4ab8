"""Our side of the benchmark: train → prune 50% → PQAT → export (the compression frontier is `frontier`).

Everything goes through `lepton_tf.Run`, the API `make train` and
`make quantize` call, so the figures are those of the shipped commands.
"""

import shutil

from lepton_tf import Run
from lepton_tf import train as train_lib

from benchmarks import flops, throughput

def train_float(run_dir, config):
    """Trains the float model from scratch (an earlier benchmark's folder is removed first); returns the Run."""
    shutil.rmtree(run_dir, ignore_errors=True)
    return Run.create(run_dir, config=config, command="python -m benchmarks").train()


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
