"""True texts: durations written one way, settings in words, what a run really trained
(steps or epochs, and how far a stopped run got), and the CLI's own wording."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from siamese_gui.core.model.config import TrainingConfig, describe_settings
from siamese_gui.core.text import format_duration
from siamese_gui.core.training.schedule import (
    plan_schedule,
    run_record_summary,
    run_summary,
    trained_text,
)

PACKAGE = Path(__file__).resolve().parent.parent / "siamese_gui"


# --- durations ------------------------------------------------------------------------


def test_durations_read_the_same_everywhere():
    assert format_duration(14.2) == "14 s"
    assert format_duration(470) == "7 min 50 s"
    assert format_duration(185) == "3 min 05 s"
    assert format_duration(3720) == "1 h 02 min"
    assert format_duration(-3) == "0 s" and format_duration(float("nan")) == "0 s"


def test_one_duration_function_in_the_package():
    """The CLI's progress and the Train panel use the core's function; none is defined again."""
    defined = [path for path in PACKAGE.rglob("*.py") if "def format_duration" in path.read_text("utf-8")]
    assert defined == [PACKAGE / "core" / "text.py"]
    from siamese_gui.cli import progress

    assert progress.format_duration is format_duration
    panel = (PACKAGE / "gui" / "panels" / "train.py").read_text("utf-8")
    assert "from siamese_gui.core.text import format_duration" in panel


# --- settings in words ------------------------------------------------------------------


def test_settings_are_described_with_the_forms_names():
    text = describe_settings(TrainingConfig(steps=50, histogram_share=0.6).as_dict())
    assert text.startswith("Epochs: by steps; Steps: 50; Batch size: 256; Learning rate: 0.002")
    assert "Histogram share: 60 %" in text and "Validation share: 10 %" in text
    assert "Mirror images: off" in text and text.endswith("Polarity: auto; Image size: automatic; Colour: auto")
    # No raw field names or values.
    assert "_" not in text and "0.6" not in text and "False" not in text


def test_settings_that_do_not_apply_are_left_out():
    text = describe_settings(TrainingConfig(epochs=5, preset="seed").as_dict())
    assert "Epochs: 5" in text and "Steps" not in text and "Histogram share" not in text
    assert describe_settings(TrainingConfig().as_dict()).count("automatic") == 3  # steps, share, image size
    # A model file's record: missing settings are left out, unknown ones keep their name.
    assert describe_settings({"epochs": 3, "margin": 1.0, "new_knob": 2}) == "Epochs: 3; Margin: 1; new knob: 2"
    assert describe_settings(["not", "a", "dict"]) == ""


# --- what a run trained -----------------------------------------------------------------


def test_a_run_by_steps_says_steps_and_a_stopped_one_how_far_it_got():
    schedule = plan_schedule(TrainingConfig(steps=200, batch_size=16), 1_000)
    assert trained_text(schedule, 200, 1_000) == "200 optimiser steps of 16 images; 3.2 passes over 1,000 training images"
    stopped = trained_text(schedule, 86, 1_000)
    assert stopped == "86 of 200 optimiser steps of 16 images; 1.4 passes over 1,000 training images"
    line = run_summary("stopped", stopped, 13.4, "the weights so far are kept")
    assert line == ("stopped by the user after 86 of 200 optimiser steps of 16 images; 1.4 passes over "
                    "1,000 training images, in 13 s; the weights so far are kept")
    assert "epoch" not in line


def test_a_run_by_epochs_says_epochs():
    schedule = plan_schedule(TrainingConfig(epochs=5, batch_size=10), 100)
    assert trained_text(schedule, 50, 100) == "5 epochs (50 optimiser steps of 10 images)"
    assert trained_text(schedule, 23, 100) == "23 of 50 optimiser steps of 10 images (2.3 of 5 epochs)"
    assert run_summary("completed", trained_text(schedule, 50, 100), 61) == (
        "completed 5 epochs (50 optimiser steps of 10 images), in 1 min 01 s")


def test_a_saved_record_is_summarised_and_old_records_say_what_is_unknown():
    record = {"status": "stopped", "seconds": 5.0, "trained": "86 of 200 optimiser steps of 16 images",
              "schedule": "200 optimiser steps of 16 images (as set)", "history": {"loss": [1.0]}}
    assert run_record_summary(record) == "stopped by the user after 86 of 200 optimiser steps of 16 images, in 5 s"
    old = {"status": "stopped", "seconds": 5.0, "schedule": "200 optimiser steps of 16 images (as set)"}
    assert run_record_summary(old) == "stopped (the steps it trained are not recorded), in 5 s"
    done = {"status": "completed", "seconds": "bad", "schedule": "50 optimiser steps of 16 images (as set)"}
    assert run_record_summary(done) == "completed 50 optimiser steps of 16 images (as set), in 0 s"


def test_the_report_says_steps_stopped_runs_and_settings_in_words():
    from siamese_gui.core.app.report import model_facts
    from siamese_gui.core.runtime.handle import ModelHandle

    metadata = {
        "class_names": ["a", "b"],
        "config": TrainingConfig(steps=200, batch_size=16).as_dict(),
        "training": {"status": "stopped", "seconds": 13.0, "steps_done": 86,
                     "trained": "86 of 200 optimiser steps of 16 images; 1.4 passes over 1,000 training images",
                     "schedule": "200 optimiser steps of 16 images (as set); 3.2 passes over 1,000 training images",
                     "history": {"loss": [0.5]}},
    }
    facts = dict(model_facts(ModelHandle(lambda batch: batch, metadata)))
    assert facts["Training run"].startswith("stopped by the user after 86 of 200 optimiser steps")
    assert "epoch" not in facts["Training run"] and "3.2 passes" not in facts["Training run"]
    assert facts["Settings"] == describe_settings(metadata["config"])
    assert "histogram_share" not in facts["Settings"] and "epochs 0" not in facts["Settings"]
    # A record that is not an object is left out rather than breaking the report.
    broken = dict(model_facts(ModelHandle(lambda batch: batch, {**metadata, "training": [1], "config": "x"})))
    assert "Training run" not in broken and "Settings" not in broken


def test_a_stopped_training_run_records_the_steps_it_trained(dataset_factory, config_factory):
    from siamese_gui.core.runtime.store import result_metadata
    from siamese_gui.core.training.train import train

    batches = []
    result = train(config_factory(epochs=0, steps=12, batch_size=4), dataset_factory(),
                   on_batch=batches.append, should_stop=lambda: len(batches) >= 3)
    assert result.status == "stopped" and result.steps_done == 3
    assert result.trained.startswith("3 of 12 optimiser steps of 4 images")
    assert result.schedule.startswith("12 optimiser steps")  # the plan stays the plan
    assert result.summary().startswith("stopped by the user after 3 of 12 optimiser steps")
    assert result.summary().count("stopped") == 1
    record = result_metadata(result, ("a", "b"))["training"]
    assert record["steps_done"] == 3 and record["trained"] == result.trained
    assert run_record_summary(record).startswith("stopped by the user after 3 of 12 optimiser steps")


def test_a_run_without_a_threshold_says_completed_once(dataset_factory, config_factory):
    """Validation images of one class give one kind of pair: no threshold, said once."""
    from siamese_gui.core.training.train import train

    data = dataset_factory()
    one_class = data.subset(data.labels == 0)
    # Validation and training images of one class: no different-class pair anywhere.
    result = train(config_factory(epochs=0, steps=2, batch_size=8), one_class.subset(range(4, len(one_class))),
                   validation=one_class.subset(range(4)))
    assert result.status == "completed" and result.threshold is None
    summary = result.summary()
    assert summary.startswith("completed 2 optimiser steps") and summary.count("completed") == 1
    assert summary.endswith("no threshold could be chosen (add images)")


# --- the command line's words -----------------------------------------------------------


def test_report_help_says_95_percent_once(capsys):
    from siamese_gui.cli import commands

    with pytest.raises(SystemExit):
        commands.main(["report", "--help"])
    out = capsys.readouterr().out
    assert "95 % intervals" in " ".join(out.split()) and "%%" not in out
    with pytest.raises(SystemExit):
        commands.main(["--help"])
    assert "%%" not in capsys.readouterr().out


def _run(capsys, *argv):
    from siamese_gui.cli import commands

    code = commands.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _sample(index: int) -> Path:
    from siamese_gui.core.io.locations import samples_dir

    folders = sorted(p for p in samples_dir().iterdir() if p.is_dir())
    return sorted(folders[index].iterdir())[0]


def test_threshold_origin_is_one_object_in_compare_verify_and_report(saved_model, tmp_path, capsys):
    code, out, err = _run(capsys, "compare", str(_sample(0)), str(_sample(1)), "--model", str(saved_model),
                          "--threshold", "0.3", "--json")
    assert code == 0, err
    compared = json.loads(out)["threshold_origin"]
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"{_sample(0)},{_sample(1)}\n")
    code, out, err = _run(capsys, "verify", str(pairs), "--out", str(tmp_path / "r.csv"), "--model",
                          str(saved_model), "--threshold", "0.3", "--json")
    assert code == 0, err
    verified = json.loads(out)["threshold_origin"]
    assert set(compared) == set(verified) == {"value", "origin", "detail"}
    assert compared["value"] == verified["value"] == 0.3 and compared["origin"] == verified["origin"] == "user"
    code, out, err = _run(capsys, "compare", str(_sample(0)), str(_sample(1)), "--model", str(saved_model), "--json")
    own = json.loads(out)["threshold_origin"]
    assert own["origin"] == "model" and isinstance(own["value"], float)


def test_evaluate_names_the_images_retrieval_was_measured_on(saved_model, tmp_path, image_folder_factory, capsys):
    folder = image_folder_factory(tmp_path / "pairs", per_class=3, num_classes=3)
    code, out, err = _run(capsys, "evaluate", str(saved_model), "--image-folder", str(folder))
    assert code == 0, err
    assert "retrieval, each of the 9 images with another of its class against the rest" in out


def test_train_says_how_the_run_ended_once_with_settings_in_words(tmp_path, image_folder_factory, capsys):
    folder = image_folder_factory(tmp_path / "data", per_class=4, num_classes=3)
    out_file = tmp_path / "m.keras"
    code, out, err = _run(capsys, "train", "--image-folder", str(folder), "--steps", "3", "--batch-size", "4",
                          "--embedding-dim", "4", "--validation-fraction", "0.25", "--out", str(out_file))
    assert code == 0, err
    ended = [line for line in out.splitlines() if line.startswith(("completed", "stopped", "failed"))]
    assert len(ended) == 1 and out.count("completed") == 1
    first = ended[0]
    assert first.startswith("completed 3 optimiser steps of 4 images")
    assert re.search(r", in \d+ s", first) and "epoch" not in first
    assert "settings: Epochs: by steps; Steps: 3; Batch size: 4;" in out
    # One test image per class: no image has another of its class to be found.
    assert "each of the 0 images" not in out
    assert "retrieval: not measured (no class has two images to find each other)" in out
