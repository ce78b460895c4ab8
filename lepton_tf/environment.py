"""The hardware and software a figure was measured on."""

import os
import platform


def describe():
    """CPU model, core count, TensorFlow version and GPUs, for model cards and benchmarks."""
    from lepton_tf.keras import tf

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    gpus = [device.name for device in tf.config.list_physical_devices("GPU")]
    return {"cpu": cpu, "cores": os.cpu_count(), "tensorflow": tf.__version__, "gpus": gpus,
            "python": platform.python_version()}
