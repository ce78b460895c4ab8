"""Learning-rate schedules with linear warm-up."""

import math

from lepton_tf.keras import keras, tf


@keras.utils.register_keras_serializable(package="lepton")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Linear ramp 0 → peak over `warmup_steps`, then linear back to 0 at `total_steps`."""

    def __init__(self, peak, total_steps, warmup_steps):
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warmup = tf.maximum(float(self.warmup_steps), 1.0)
        decay = tf.maximum(float(self.total_steps - self.warmup_steps), 1.0)
        rising = step / warmup
        falling = 1.0 - (step - self.warmup_steps) / decay
        return self.peak * tf.clip_by_value(tf.where(step < self.warmup_steps, rising, falling), 0.0, 1.0)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps}


def make_schedule(name, peak, total_steps, warmup_steps):
    """Returns the schedule `name` (onecycle | cosine | constant) peaking at `peak`."""
    warmup_steps = min(int(warmup_steps), max(total_steps - 1, 0))
    if name == "onecycle":
        return OneCycle(peak, total_steps, warmup_steps)
    if name == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup_steps else peak,
            decay_steps=max(total_steps - warmup_steps, 1),
            warmup_target=peak if warmup_steps else None,
            warmup_steps=warmup_steps)
    return peak


def steps_for(examples, batch_size, drop_remainder=True):
    """Optimizer steps in one epoch over `examples`."""
    if drop_remainder and examples >= batch_size:
        return examples // batch_size
    return max(math.ceil(examples / batch_size), 1)
