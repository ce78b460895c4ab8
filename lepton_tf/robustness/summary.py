"""The model card's robustness entry of one exported file, and the per-group means reports show."""


def robustness_entry(clean_accuracy, accuracies, seed, description, examples):
    """{perturbations: {name: accuracy}, mean_accuracy, clean_accuracy, relative, seed, set, examples}.

    `clean_accuracy` is the file's accuracy on the same test examples
    unperturbed; `relative` (mean / clean) is how much of it the file keeps
    on perturbed inputs (1.0: none lost), None when the clean accuracy is 0.
    """
    mean = sum(accuracies.values()) / len(accuracies)
    return {"perturbations": dict(accuracies), "mean_accuracy": round(mean, 5), "clean_accuracy": clean_accuracy,
            "relative": round(mean / clean_accuracy, 5) if clean_accuracy else None, "seed": seed,
            "set": description, "examples": examples}


def group_means(perturbations):
    """{group: mean accuracy}: image sets `corruption/severity` averaged over severities; others as they are."""
    groups = {}
    for name, accuracy in perturbations.items():
        groups.setdefault(name.split("/")[0], []).append(accuracy)
    return {group: round(sum(values) / len(values), 5) for group, values in groups.items()}


def severity_means(perturbations):
    """{severity: mean accuracy over corruptions} for image sets named `corruption/severity`; {} for others."""
    severities = {}
    for name, accuracy in perturbations.items():
        if "/" in name:
            severities.setdefault(int(name.split("/")[1]), []).append(accuracy)
    return {severity: round(sum(values) / len(values), 5) for severity, values in sorted(severities.items())}
