"""The training run the app and the CLI share (`core.app.training_run`) and the sample
that narrows its data (`core.data.sampling`), without Qt."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from helpers import make_dataset

from siamese_gui.core.app.session import DataSource, load_source
from siamese_gui.core.app.training_run import (
    prepare_training,
    read_with_polarity,
    run_lead,
    run_training,
    training_source,
)
from siamese_gui.core.data.datasets import DataKind, DataSplits
from siamese_gui.core.data.sampling import TrainingSample, names_from_text
from siamese_gui.core.data.splits import Role
from siamese_gui.core.errors import DatasetError


def _fashion_like() -> DataSource:
    return DataSource(fashion_mnist=DataSplits(make_dataset(12, 4), make_dataset(6, 4, seed=1)))


def test_names_from_text_splits_on_commas_and_empty_means_every_class():
    assert names_from_text(" ring, 0 ,,bar ") == ("ring", "0", "bar")
    assert names_from_text("  , ") is None


def test_a_sample_narrows_the_training_pool_with_the_seed_and_keeps_the_test_split_whole():
    sample = TrainingSample(classes=("ring", "bar"), per_class=5, limit=8)
    narrowed = training_source(_fashion_like(), sample, seed=3)
    pool, test = narrowed.fashion_mnist.train, narrowed.fashion_mnist.test
    assert pool.class_names == test.class_names == ("ring", "bar")  # in the order asked
    assert len(pool) == 8 and np.bincount(pool.labels).max() <= 5
    # The test split keeps every test image of the chosen classes.
    assert len(test) == 12 and np.bincount(test.labels).tolist() == [6, 6]
    again = training_source(_fashion_like(), sample, seed=3).fashion_mnist.train
    np.testing.assert_array_equal(again.images, pool.images)
    other = training_source(_fashion_like(), sample, seed=4).fashion_mnist.train
    assert not np.array_equal(other.images, pool.images)


def test_no_sample_leaves_the_source_as_it_is_and_an_unknown_class_is_refused():
    source = _fashion_like()
    assert training_source(source, TrainingSample(), seed=0) is source
    with pytest.raises(DatasetError, match="no class 'kite'"):
        training_source(source, TrainingSample(classes=("kite",)), seed=0)


def test_a_folder_is_sampled_before_it_is_split(tmp_path, image_folder_factory):
    folder = image_folder_factory(tmp_path / "data", per_class=6, num_classes=3)
    source = load_source(image_folder=str(folder))
    config = _config(validation_fraction=0.25)
    data = prepare_training(source, config, TrainingSample(per_class=4))
    counts = {role: len(data.splits.dataset(role)) for role in Role}
    assert sum(counts.values()) == 12 and len(data.source.dataset) == 12
    assert set(data.splits.train.files).isdisjoint(data.splits.test.files)


def test_image_folders_are_read_again_with_the_runs_polarity(tmp_path, image_folder_factory):
    folder = image_folder_factory(tmp_path / "data", per_class=3, num_classes=2)
    source = load_source(image_folder=str(folder), invert=False)
    assert read_with_polarity(source, False) is source
    inverted = read_with_polarity(source, True)
    assert inverted.invert is True and inverted.dataset.files == source.dataset.files
    np.testing.assert_array_equal(inverted.dataset.images, 255 - source.dataset.images)
    # The bundled samples are stored light-on-dark already: never read again.
    samples = DataSource(dataset=replace(source.dataset, kind=DataKind.SAMPLES))
    assert read_with_polarity(samples, True) is samples


def test_prepare_holds_classes_out_of_the_sampled_data():
    data = prepare_training(_fashion_like(), _config(), TrainingSample(classes=("bar", "column", "ring",
                                                                                "diagonal")),
                            unseen=("bar", "ring"))
    assert data.unseen == ("bar", "ring")
    train_names = {data.splits.train.class_names[label] for label in data.splits.train.labels}
    assert train_names == {"column", "diagonal"}
    assert data.splits.metadata()["unseen_classes"] == ["bar", "ring"]


def _config(**changes):
    from tests.conftest import tiny_config

    return tiny_config(**changes)


def test_a_run_returns_the_metadata_to_save_and_a_handle_that_uses_it():
    pytest.importorskip("tensorflow")
    config = _config(epochs=1)
    data = prepare_training(DataSource(dataset=make_dataset()), config)
    batches = []
    run = run_training(config, data, on_batch=batches.append)
    assert run.result.status == "completed" and batches
    assert run.handle is not None and run.handle.metadata is run.metadata
    assert run.metadata["split"] == data.splits.metadata()
    assert run.metadata["config"] == config.as_dict()
    assert run.metadata["training"]["status"] == "completed"
    assert run.class_names == data.splits.train.class_names
    embeddings = run.handle.embed(data.splits.test.images)
    assert len(embeddings) == len(data.splits.test) and np.isfinite(embeddings).all()
    # The test figures, as `evaluate` computes them, go with the run and into the metadata.
    from siamese_gui.core.app.scoring import score_images
    from siamese_gui.core.data.splits import scored_from_splits

    again = score_images(run.handle.embed, scored_from_splits(data.splits), run.handle.threshold)
    assert run.figures.as_dict() == again.as_dict()
    assert run.metadata["metrics"]["test"] == again.as_dict()["test"]
    # The result in one plain sentence: how long, on how many images, and the headline
    # test figure read off those figures (the classes it trained on: none was held out).
    lead = run_lead(run)
    main = run.figures.main
    accuracy = main.evaluation.at(run.handle.threshold.value).accuracy_rate.value
    assert run.result.train_images == len(data.splits.train)
    assert lead.startswith("Trained in ") and f" on {len(data.splits.train):,} images; " in lead
    assert lead.endswith(f"it judges {100 * accuracy:.1f} % of {len(main.evaluation.pairs):,} test pairs "
                         "right (new images of the classes it trained on).")


def test_a_stopped_run_keeps_its_weights_and_says_it_stopped():
    pytest.importorskip("tensorflow")
    config = _config(epochs=50)
    data = prepare_training(DataSource(dataset=make_dataset()), config)
    run = run_training(config, data, should_stop=lambda: True)
    assert run.result.status == "stopped"
    assert run.handle is not None and run.metadata["training"]["status"] == "stopped"
    assert run_lead(run).startswith("Stopped by you after ") and "(the weights so far are kept)" in run_lead(run)


def test_a_failed_run_leaves_nothing_to_save(monkeypatch):
    pytest.importorskip("tensorflow")
    import siamese_gui.core.training.train as training

    def failing(config, dataset, **_):
        return training.TrainingResult(embedding=None, model=None, config=config, status="failed",
                                       message="training failed: the loss became nan")

    monkeypatch.setattr(training, "train", failing)
    config = _config()
    run = run_training(config, prepare_training(DataSource(dataset=make_dataset()), config))
    assert run.result.status == "failed" and run.metadata is None and run.handle is None
    assert run_lead(run).startswith("Training failed after ")


def test_the_cli_trains_on_the_images_the_app_would_pick(tmp_path, image_folder_factory, capsys):
    """`train --classes --per-class` narrows the folder with the same sample and seed as
    the Train panel: the saved split names the very files `prepare_training` picks."""
    pytest.importorskip("tensorflow")
    from siamese_gui.cli import main
    from siamese_gui.core.runtime.store import read_metadata

    folder = image_folder_factory(tmp_path / "data", per_class=8, num_classes=3)
    out = tmp_path / "m.keras"
    code = main(["train", "--image-folder", str(folder), "--classes", "ring,bar", "--per-class", "5",
                 "--seed", "7", "--steps", "2", "--batch-size", "4", "--embedding-dim", "4",
                 "--out", str(out), "--json"])
    printed, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(printed)["status"] == "completed"
    config = _config(seed=7)
    expected = prepare_training(load_source(image_folder=str(folder)), config,
                                TrainingSample(classes=("ring", "bar"), per_class=5))
    recorded = read_metadata(out)["split"]
    assert recorded["files"] == json.loads(json.dumps(expected.splits.metadata()["files"]))
    assert recorded["seen_classes"] == ["ring", "bar"]


def test_a_run_set_to_another_polarity_reads_the_folder_again_and_still_samples_it(tmp_path,
                                                                                  image_folder_factory):
    """The sample applies to the folder as read for the run (reading it again never
    brings back the classes or images the form left out)."""
    folder = image_folder_factory(tmp_path / "data", per_class=6, num_classes=3)
    source = load_source(image_folder=str(folder), invert=False)
    sample = TrainingSample(classes=("ring", "bar"), per_class=4)
    as_read = prepare_training(source, _config(polarity="off"), sample)
    inverted = prepare_training(source, _config(polarity="on"), sample)
    assert inverted.source.invert is True and inverted.class_names == ("ring", "bar")
    assert len(inverted.source.dataset) == 8
    assert inverted.source.dataset.files == as_read.source.dataset.files
    np.testing.assert_array_equal(inverted.source.dataset.images, 255 - as_read.source.dataset.images)
