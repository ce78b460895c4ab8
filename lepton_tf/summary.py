"""The few lines a command prints when it ends: accuracy per stage, and per exported file its figures."""

STAGE_ORDER = ("float", "pruned", "qat")


def summary_lines(card, run_dir):
    """Lines a person reads at a glance, built from the model card (test-split figures only).

    Args:
      card: the run's model card (a dict, as `model_card.json` holds it).
      run_dir: the run folder, named in the first line.
    """
    stages = card.get("stages", {})
    model = card.get("model", {})
    lines = [f"{run_dir}: {model.get('name', '?')} on {card.get('data', {}).get('source', '?')}, "
             f"status {card.get('status', '?')}"]
    if model.get("choice", {}).get("name"):
        lines.append(f"  model.name auto: {model['choice']['rule']}")
    for stage in (name for name in STAGE_ORDER if name in stages):
        entry = stages[stage]
        extra = f", {100 * entry['sparsity']:.1f}% zeros" if "sparsity" in entry else ""
        lines.append(f"  {stage:<7} Keras test accuracy {_percent(entry.get('accuracy'))}{extra}")
    artifacts = card.get("artifacts", {})
    if artifacts:
        lines.append(f"  {'file':<26} {'bytes':>11} {'accuracy':>9} {'agreement':>9} {'p50 ms':>8} "
                     f"{'MediaPipe acc.':>14} {'MediaPipe agr.':>14}")
    for path, entry in artifacts.items():
        latency = entry.get("latency_ms_p50")
        lines.append(f"  {path:<26} {entry.get('bytes', 0):>11,} {_percent(entry.get('accuracy')):>9} "
                     f"{_percent(entry.get('agreement')):>9} {'' if latency is None else f'{latency:.3f}':>8} "
                     f"{_percent(entry.get('mediapipe_accuracy')):>14} "
                     f"{_percent(entry.get('mediapipe_agreement')):>14}".rstrip())
    return lines


def _percent(value):
    return "-" if value is None else f"{100 * value:.2f}%"
