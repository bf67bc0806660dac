"""How long a run trains, and what a run did, in words.

Plain Python (no TensorFlow), so the report and the command line can describe a saved
model's run without starting TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from siamese_gui.core.model.config import NEW_CLASSES, TRAINED_CLASSES, TrainingConfig
from siamese_gui.core.text import format_duration

# Optimiser steps of the automatic schedule: about AUTOMATIC_PASSES passes over the
# training images, at least MIN_STEPS, and at most MAX_STEPS[goal] (docs/decisions.md,
# "Schedule").
AUTOMATIC_PASSES = 8
MIN_STEPS = 50
MAX_STEPS = {TRAINED_CLASSES: 900, NEW_CLASSES: 200}


def automatic_steps(train_images: int, batch_size: int, goal: str = NEW_CLASSES) -> int:
    """Optimiser steps when neither epochs nor steps are set.

    About `AUTOMATIC_PASSES` passes over the images, within [`MIN_STEPS`,
    `MAX_STEPS[goal]`]: a folder of a few hundred images gets enough steps to learn
    from; a large dataset stops, for new classes, where the embedding still holds for
    classes it never saw (longer runs fit the training classes better and unseen ones
    worse), and for the trained classes within about 3 CPU minutes on 2 cores.
    """
    batch = max(min(batch_size, train_images), 1)
    passes = math.ceil(AUTOMATIC_PASSES * train_images / batch)
    return int(min(max(passes, MIN_STEPS), MAX_STEPS[goal]))


@dataclass(frozen=True)
class Schedule:
    """How long a run trains.

    Attributes:
        steps_per_epoch: optimiser steps between two progress points (one pass over the
            training images, or all steps when a run is shorter than a pass).
        epochs: how many such rounds (the last one ends at `steps`).
        steps: optimiser steps in all.
        batch_size: images per step.
        description: the schedule in words, for the result and the model's metadata.
        by_steps: whether it counts optimiser steps (Epochs 0) rather than epochs.
    """

    steps_per_epoch: int
    epochs: int
    steps: int
    batch_size: int
    description: str
    by_steps: bool = False


def plan_schedule(config: TrainingConfig, train_images: int, goal: str = NEW_CLASSES) -> Schedule:
    """The schedule `train` follows: `config.epochs` passes, or a number of optimiser
    steps (`config.steps`, or `automatic_steps` for the run's `goal` when that is 0)."""
    batch = max(min(config.batch_size, train_images), 1)
    per_pass = max(train_images // batch, 1)
    if config.epochs:
        return Schedule(
            per_pass, config.epochs, config.epochs * per_pass, batch,
            f"{config.epochs} epochs, as set ({config.epochs * per_pass:,} optimiser steps of {batch} images)",
        )
    total = config.steps or automatic_steps(train_images, batch, goal)
    per_epoch = min(per_pass, total)
    epochs = math.ceil(total / per_epoch)
    how = "as set" if config.steps else (
        f"automatic: about {AUTOMATIC_PASSES} passes, kept within {MIN_STEPS}-{MAX_STEPS[goal]} steps"
    )
    return Schedule(
        per_epoch, epochs, total, batch,
        f"{total:,} optimiser steps of {batch} images ({how}); "
        f"{total * batch / max(train_images, 1):.1f} passes over {train_images:,} training images",
        by_steps=True,
    )


def _passes(steps: int, batch: int, train_images: int) -> str:
    return f"{steps * batch / max(train_images, 1):.1f} passes over {train_images:,} training images"


def trained_text(schedule: Schedule, steps_done: int, train_images: int) -> str:
    """What a run trained, in words, in the schedule's own unit.

    "200 optimiser steps of 256 images; 8.0 passes over 6,400 training images" for a
    finished run set in steps, "86 of 200 optimiser steps of 256 images; 3.4 passes
    over ..." for one stopped early, "5 epochs (1,000 optimiser steps of 256 images)" or
    "86 of 1,000 optimiser steps of 256 images (0.4 of 5 epochs)" for runs set in epochs.
    """
    steps_done = max(0, min(int(steps_done), schedule.steps))
    batch = schedule.batch_size
    whole = steps_done >= schedule.steps
    steps = f"{steps_done:,}" if whole else f"{steps_done:,} of {schedule.steps:,}"
    unit = "optimiser step" if steps_done == 1 and whole else "optimiser steps"
    if schedule.by_steps:
        return f"{steps} {unit} of {batch} images; {_passes(steps_done, batch, train_images)}"
    epochs = schedule.epochs
    if whole:
        return f"{epochs} epoch{'s' if epochs != 1 else ''} ({steps} {unit} of {batch} images)"
    done = steps_done / max(schedule.steps_per_epoch, 1)
    return f"{steps} {unit} of {batch} images ({done:.1f} of {epochs} epoch{'s' if epochs != 1 else ''})"


_RUN_LEADS = {"completed": "completed", "stopped": "stopped by the user after", "failed": "failed after"}


def run_summary(status: str, trained: str, seconds: float, note: str = "") -> str:
    """A training run in one line: how it ended, what it trained, how long it took.

    "completed 200 optimiser steps of 256 images; ... in 14 s", "stopped by the user
    after 86 of 200 optimiser steps ...; in 6 s; the weights so far are kept".

    Args:
        status: "completed", "stopped" or "failed" (`TrainingResult.status`).
        trained: `trained_text` of the run ("" when not recorded: models saved before
            it was, then the line says so).
        seconds: the run's wall time.
        note: a remark to add after a semicolon.
    """
    lead = _RUN_LEADS.get(status, status or "ended")
    if trained:
        text = f"{lead} {trained}, in {format_duration(seconds)}"
    else:
        what = "" if status == "completed" else " (the steps it trained are not recorded)"
        text = f"{status or 'ended'}{what}, in {format_duration(seconds)}"
    return text + (f"; {note}" if note else "")


def run_record_summary(training: Mapping) -> str:
    """`run_summary` of a saved model's training record (its metadata's "training")."""
    try:
        seconds = float(training.get("seconds") or 0.0)
    except (TypeError, ValueError):
        seconds = 0.0
    trained = training.get("trained")
    if not isinstance(trained, str) or not trained:
        # Saved before the steps were recorded: a completed run trained its schedule.
        schedule = training.get("schedule")
        trained = schedule if training.get("status") == "completed" and isinstance(schedule, str) else ""
    return run_summary(str(training.get("status") or ""), trained, seconds)
