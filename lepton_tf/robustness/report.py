"""`robustness.json` and `robustness.png` in a run folder: every exported file on perturbed inputs."""

from lepton_tf.fileio import write_json
from lepton_tf.plots import plot_robustness
from lepton_tf.robustness.summary import group_means, severity_means

REPORT_FILE = "robustness.json"
PLOT_FILE = "robustness.png"


def write_report(run, card):
    """Writes the report and its plot (each atomically) from the card's robustness entries; False if none."""
    entries = {path: artifact.robustness for path, artifact in card.artifacts.items() if artifact.robustness}
    if not entries:
        return False
    first = next(iter(entries.values()))
    files = {path: {"format": card.artifacts[path].format, "source": card.artifacts[path].source,
                    "clean_accuracy": entry["clean_accuracy"], "mean_accuracy": entry["mean_accuracy"],
                    "relative": entry["relative"], "per_perturbation": group_means(entry["perturbations"]),
                    "per_severity": severity_means(entry["perturbations"]),
                    "perturbations": entry["perturbations"]}
             for path, entry in entries.items()}
    report = {"run": run.name, "set": first["set"], "examples": first["examples"], "seed": first["seed"],
              "files": files}
    plot_robustness(files, run.output(PLOT_FILE), f"{run.name}: accuracy on perturbed test inputs")
    write_json(run.output(REPORT_FILE), report)
    return True


def remove_report(run):
    """Deletes the report and plot of an earlier measurement, if any."""
    for name in (REPORT_FILE, PLOT_FILE):
        run.file(name).unlink(missing_ok=True)
