"""The few lines a command prints when it ends: accuracy per stage, and per exported file its figures."""

from lepton_tf.card import STAGE_ORDER


def summary_lines(card, run_dir):
    """Lines a person reads at a glance, built from the model card (test-split figures only).

    Args:
      card: the run's `ModelCard`.
      run_dir: the run folder, named in the first line.
    """
    lines = [f"{run_dir}: {card.model.name or '?'} on {card.data.source or '?'}, status {card.status}"]
    if card.model.choice.get("name"):
        lines.append(f"  model.name auto: {card.model.choice['rule']}")
    for stage in (name for name in STAGE_ORDER if name in card.stages):
        entry = card.stages[stage]
        extra = f", {100 * entry.sparsity:.1f}% zeros" if entry.sparsity is not None else ""
        lines.append(f"  {stage:<9} Keras test accuracy {_percent(entry.accuracy)}{extra}")
    artifacts = card.artifacts
    if artifacts:
        lines.append(f"  {'file':<26} {'bytes':>11} {'accuracy':>9} {'agreement':>9} {'p50 ms':>8} "
                     f"{'MediaPipe acc.':>14} {'MediaPipe agr.':>14}")
    for path, entry in artifacts.items():
        latency = entry.latency_ms_p50
        lines.append(f"  {path:<26} {entry.bytes or 0:>11,} {_percent(entry.accuracy):>9} "
                     f"{_percent(entry.agreement):>9} {'' if latency is None else f'{latency:.3f}':>8} "
                     f"{_percent(entry.mediapipe_accuracy):>14} "
                     f"{_percent(entry.mediapipe_agreement):>14}".rstrip())
    lines.append(f"  model card: {run_dir}/MODEL_CARD.md")
    return lines


def _percent(value):
    return "-" if value is None else f"{100 * value:.2f}%"
