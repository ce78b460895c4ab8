"""The model card's robustness entry of one exported file."""


def robustness_entry(clean_accuracy, accuracies, seed):
    """{perturbations: {name: accuracy}, mean_accuracy, relative (mean / clean), seed}.

    `relative` is how much of its clean accuracy a file keeps on perturbed
    inputs (1.0: none lost); it is None when the clean accuracy is 0.
    """
    mean = sum(accuracies.values()) / len(accuracies)
    return {"perturbations": dict(accuracies), "mean_accuracy": round(mean, 5),
            "relative": round(mean / clean_accuracy, 5) if clean_accuracy else None, "seed": seed}
