"""The quality targets `make bench` checks, each reported as met or missed and by how much."""

ONE_MB = 1_000_000  # bytes


def _check(target, value, goal, higher_is_better, show):
    met = value >= goal if higher_is_better else value <= goal
    # A shortfall of a percentage is in points; other figures keep their own unit.
    gap = "" if met else f"missed by {(points if show is percent else show)(abs(value - goal))}"
    return {"target": target, "measured": show(value), "met": bool(met), "gap": gap}


def points(value):
    return f"{100 * value:.2f} pts"


def percent(value):
    return f"{100 * value:.2f}%"


def at_least(target, value, goal, show=percent):
    return _check(target, value, goal, True, show)


def at_most(target, value, goal, show=percent):
    return _check(target, value, goal, False, show)


def int8_and_float32(ours):
    """The figures of our int8 and float32 TFLite files."""
    return ours["files"]["tflite/int8.tflite"], ours["files"]["tflite/float32.tflite"]


def min_agreement(ours):
    """The lowest top-1 agreement of any exported file (the 75% frontier's int8 included) with its Keras model."""
    return min([entry["agreement"] for entry in ours["files"].values()] + [ours["frontier"]["int8"]["agreement"]])


def check(name, ours, peer):
    """Every target that applies to data set `name`, from the median figures of our chain and the peer's."""
    int8, float32 = int8_and_float32(ours)
    float_accuracy = ours["float"]["accuracy"]
    results = _specific(name, ours, int8, float32, float_accuracy)
    results += [
        at_least("every exported file agrees with its Keras model on ≥ 99%", min_agreement(ours), 0.99),
        at_most("input pipeline: < 5% of a training step waits for input",
                ours["input_pipeline"]["input_wait_fraction"], 0.05),
        at_least("int8 file more accurate than the tutorial recipe's", int8["accuracy"] - peer["int8"]["accuracy"],
                 1e-9, show=points),
        at_most("int8 file smaller than the tutorial recipe's (ratio)", int8["bytes"] / peer["int8"]["bytes"], 1.0,
                show=lambda v: f"{v:.2f}x"),
        at_most("int8 p50 latency no worse than the tutorial recipe's (ratio)",
                int8["latency_ms_p50"] / peer["int8"]["latency_ms_p50"], 1.0, show=lambda v: f"{v:.2f}x"),
    ]
    return results


def _specific(name, ours, int8, float32, float_accuracy):
    if name == "cifar10":
        frontier = ours["frontier"]["int8"]
        return [
            at_least("int8 file ≥ 90.0% single pass", int8["accuracy"], 0.90),
            at_most("float training ≤ 20 min", ours["float"]["train_seconds"], 1200, show=lambda v: f"{v:.0f} s"),
            at_most("make quantize ≤ 10 min more", ours["qat"]["quantize_seconds"], 600, show=lambda v: f"{v:.0f} s"),
            at_most("int8 within 0.5 pt of float", float_accuracy - int8["accuracy"], 0.005, show=points),
            at_most("int8 bytes ≤ 27% of float32's", int8["bytes"] / float32["bytes"], 0.27),
            at_most("int8 p50 latency ≤ 0.5x float32's (1 thread)",
                    int8["latency_ms_p50"] / float32["latency_ms_p50"], 0.5, show=lambda v: f"{v:.2f}x"),
            at_most("75% + int8: gzip bytes ≤ 10% of float32's gzip", frontier["gzip_bytes"] / float32["gzip_bytes"],
                    0.10),
            at_most("75% + int8: within 1.5 pts of float", float_accuracy - frontier["accuracy"], 0.015, show=points),
            at_least("stretch: int8 file ≥ 91.0% single pass", int8["accuracy"], 0.91),
            *_frontier_targets(ours, float_accuracy),
        ]
    if name == "sst2":
        return [at_least("int8 file test accuracy ≥ 83.0%", int8["accuracy"], 0.83),
                at_most("int8 file ≤ 1 MB", int8["bytes"], ONE_MB, show=lambda v: f"{v:,.0f} bytes")]
    if name == "trec":
        return [at_least("int8 file test accuracy ≥ 92.0%", int8["accuracy"], 0.92)]
    return []


def _frontier_targets(ours, float_accuracy):
    """The compression frontier's: the smallest gzip share any method reaches within 1.5 and 2 points of float."""
    from benchmarks.frontier import best_within

    results = []
    for share_goal, points_lost in ((0.10, 0.015), (0.07, 0.02)):
        share, name = best_within(ours.get("methods", {}), float_accuracy, points_lost)
        target = f"some method: gzip ≤ {share_goal:.0%} of float32's within {100 * points_lost:.1f} pts of float"
        if share is None:
            results.append({"target": target, "measured": "no method within the points", "met": False,
                            "gap": "no method within the points"})
        else:
            results.append(at_most(target, share, share_goal, show=lambda v, name=name: f"{v:.1%} ({name})"))
    return results
