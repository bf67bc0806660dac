"""The headless session: splits, the one evaluation recipe, thresholds, the worker. No Qt."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
from helpers import make_dataset

from siamese_gui.core.app.session import DataSource, Session, ThresholdPreset, split_data
from siamese_gui.core.app.tasks import TaskExecutor
from siamese_gui.core.data.datasets import DataKind, Dataset, DataSplits
from siamese_gui.core.data.splits import (
    Role,
    choose_held_out_classes,
    folder_splits,
    held_out_images,
)
from siamese_gui.core.errors import ConfigError, SiameseError
from siamese_gui.core.evaluation.threshold import ThresholdOrigin
from siamese_gui.core.runtime.handle import ModelHandle


def _quadrants(batch):
    """A deterministic embedder with no TensorFlow: the four quadrant means."""
    x = np.asarray(batch, np.float32)[..., 0]
    return x.reshape(len(x), 2, 14, 2, 14).mean(axis=(2, 4)).reshape(len(x), 4) * 4


def _handle(threshold=0.5, **metadata):
    return ModelHandle(_quadrants, {"threshold": threshold, "class_names": [], **metadata})


def _folder(per_class=20, classes=4):
    data = make_dataset(per_class=per_class, num_classes=classes)
    files = tuple(f"{data.class_names[c]}/{i:03d}.png" for i, c in enumerate(data.labels))
    hashes = tuple(f"{i:064x}" for i in range(len(data)))
    return Dataset(data.images, data.labels, data.class_names, "folder", kind=DataKind.IMAGE_FOLDER,
                   files=files, hashes=hashes, root="/data")


@pytest.fixture
def session():
    s = Session()
    yield s
    s.close()


def test_importing_the_session_pulls_in_neither_qt_nor_tensorflow():
    import subprocess

    code = "import sys, siamese_gui.core.app.session; print('PySide6' in sys.modules, 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_folder_split_is_disjoint_stratified_seeded_and_recorded():
    data = _folder()
    splits = folder_splits(data, seed=3)
    parts = [set(splits.dataset(r).hashes) for r in Role]
    assert sum(map(len, parts)) == len(data)
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    for role in Role:  # every class in every part
        assert set(splits.dataset(role).labels) == {0, 1, 2, 3}
    assert len(splits.train) == pytest.approx(0.7 * len(data), abs=4)
    again = folder_splits(data, seed=3)
    assert again.test.hashes == splits.test.hashes
    assert folder_splits(data, seed=4).test.hashes != splits.test.hashes
    record = splits.metadata()
    assert record["files"]["test"] == {"paths": list(splits.test.files), "sha256": list(splits.test.hashes)}
    assert record["counts"] == {"train": len(splits.train), "validation": len(splits.validation),
                                "test": len(splits.test)}


def test_scoring_a_training_folder_leaves_the_training_images_out():
    data = _folder()
    splits = folder_splits(data, seed=0)
    held = held_out_images(data, splits.metadata())
    assert held.known and held.overlap == len(splits.train) + len(splits.validation)
    assert set(held.data.hashes) == set(splits.test.hashes)
    unknown = held_out_images(data, None)
    assert not unknown.known and unknown.overlap == 0 and len(unknown.data) == len(data)


def _grown(data: Dataset, extra: Dataset) -> Dataset:
    """`data` with the images of `extra` added (new files, new hashes)."""
    offset = len(data)
    return Dataset(
        np.concatenate([data.images, extra.images]), np.concatenate([data.labels, extra.labels]),
        data.class_names, data.source, kind=data.kind,
        files=data.files + tuple(f"new/{i:03d}.png" for i in range(len(extra))),
        hashes=data.hashes + tuple(f"{offset + i:064x}" for i in range(len(extra))), root=data.root)


def test_a_session_on_a_grown_folder_never_tests_on_images_the_model_trained_on(session):
    data = _folder(per_class=20, classes=4)
    record = folder_splits(data, seed=0, unseen=("ring", "diagonal")).metadata()
    grown = _grown(data, make_dataset(per_class=6, num_classes=4, seed=5))
    session.set_model(_handle(split=record, class_names=list(data.class_names)))
    session.set_data(DataSource(dataset=grown))
    splits = session.splits
    trained = {h for role in ("train", "validation") for h in record["files"][role]["sha256"]}
    tested = set(splits.test.hashes) | set(splits.closed_test.hashes)
    assert not tested & trained
    # Every image it did not train or validate on is a test image, new ones too.
    assert tested == set(grown.hashes) - trained
    assert sorted(splits.train.hashes) == sorted(record["files"]["train"]["sha256"])
    # The held-out class apart from the classes it trained on.
    assert splits.unseen_classes == ("ring", "diagonal")
    assert set(np.array(grown.class_names)[splits.test.labels]) == {"ring", "diagonal"}
    assert set(np.array(grown.class_names)[splits.closed_test.labels]) == {"bar", "column"}
    scored = session.scored_images()
    assert scored.unseen is splits.test and scored.seen is splits.closed_test
    figures = session.figures()
    assert [part.classes for part in figures.parts] == ["unseen", "seen"]
    # The same figures as the panels' evaluation of the test images.
    panel = session.evaluate(Role.TEST)
    assert len(figures.main.evaluation.pairs) == len(panel.pairs) == 2 * len(splits.test)
    assert figures.main.evaluation.at(0.5).accuracy == panel.at(0.5).accuracy
    # A folder it never saw is split as any folder, by the model's seed.
    other = _folder(per_class=20, classes=4)
    other = Dataset(other.images, other.labels, other.class_names, "other", kind=DataKind.IMAGE_FOLDER,
                    files=other.files, hashes=tuple(f"{i + 10**6:064x}" for i in range(len(other))), root="/o")
    session.set_data(DataSource(dataset=other))
    assert len(session.splits.train) + len(session.splits.validation) + len(session.splits.test) \
        + len(session.splits.closed_test or ()) == len(other)


def test_the_images_a_model_may_be_scored_on_by_content_seen_and_unseen_apart():
    from siamese_gui.core.app.session import images_to_score

    data = _folder(per_class=20, classes=4)
    record = folder_splits(data, seed=0).metadata()
    model = _handle(split=record, class_names=list(data.class_names))
    # Its own folder: exactly the recorded test images, the rest counted as left out.
    own = images_to_score(DataSource(dataset=data), model)
    assert set(own.seen.hashes) == set(record["files"]["test"]["sha256"]) and own.unseen is None
    assert own.left_out == len(data) - len(own.seen)
    # Another folder, with classes the model never saw: every image, those classes apart.
    other = make_dataset(per_class=5, num_classes=4, seed=3)
    other = Dataset(other.images, other.labels, ("bar", "column", "star", "moon"), "other", kind=DataKind.IMAGE_FOLDER,
                    files=tuple(f"{i}.png" for i in range(len(other))),
                    hashes=tuple(f"{i + 10**6:064x}" for i in range(len(other))), root="/o")
    new = images_to_score(DataSource(dataset=other), model)
    assert len(new.seen) + len(new.unseen) == len(other) and new.left_out == 0
    assert set(np.array(other.class_names)[new.unseen.labels]) == set(other.class_names) - set(data.class_names)


def test_held_out_classes_never_reach_training():
    data = _folder(classes=4)
    splits = split_data(DataSource(dataset=data), unseen=("ring", "diagonal"))
    assert splits.open_set
    assert set(np.array(splits.train.class_names)[splits.train.labels]) == {"bar", "column"}
    assert set(np.array(splits.validation.class_names)[splits.validation.labels]) == {"bar", "column"}
    assert set(np.array(splits.test.class_names)[splits.test.labels]) == {"ring", "diagonal"}
    assert splits.metadata()["unseen_classes"] == ["ring", "diagonal"]


def test_fashion_mnist_kind_validates_on_training_split_and_tests_on_test_split():
    train, test = make_dataset(per_class=30, seed=1), make_dataset(per_class=10, seed=2)
    train = Dataset(train.images, train.labels, train.class_names, "train", kind=DataKind.FASHION_MNIST)
    test = Dataset(test.images, test.labels, test.class_names, "test", kind=DataKind.FASHION_MNIST)
    splits = split_data(DataSource(fashion_mnist=DataSplits(train, test)), validation_fraction=0.1)
    assert splits.kind is DataKind.FASHION_MNIST
    assert len(splits.test) == len(test)
    assert len(splits.train) + len(splits.validation) == len(train)
    assert len(splits.validation) == 12  # 10 % of each of 4 classes of 30


def test_session_evaluates_held_out_parts_never_the_training_part(session):
    session.set_data(DataSource(dataset=_folder(per_class=30)))
    session.set_model(_handle())
    evaluation = session.evaluate(Role.TEST)
    assert len(evaluation.data) == len(session.splits.test)
    assert "did not train on" in evaluation.description
    assert evaluation.report.defined
    with pytest.raises(SiameseError, match="training images"):
        session.evaluate(Role.TRAIN)
    counted = session.evaluate(Role.TEST, pairs=50, seed=7)
    assert len(counted.pairs) == 50
    assert np.array_equal(counted.distances, session.evaluate(Role.TEST, pairs=50, seed=7).distances)


def test_threshold_presets_come_from_validation_pairs_and_say_so(session):
    session.set_data(DataSource(dataset=_folder(per_class=40)))
    session.set_model(_handle(threshold=0.42, threshold_detail="max accuracy on 10 pairs"))
    assert session.threshold.value == 0.42 and session.threshold.origin is ThresholdOrigin.MODEL
    with pytest.raises(SiameseError, match="not evaluated"):
        session.preset_threshold(ThresholdPreset.MAX_ACCURACY)
    session.refresh_evaluations().finished.wait(30)
    validation = session.evaluation(Role.VALIDATION)
    chosen = session.apply_preset(ThresholdPreset.EQUAL_ERROR)
    assert chosen.origin is ThresholdOrigin.PRESET and "validation pairs" in chosen.detail
    from siamese_gui.core.evaluation.metrics import equal_error_rate

    assert chosen.value == pytest.approx(equal_error_rate(validation.distances, validation.pairs.same)[1])
    restored = session.apply_preset(ThresholdPreset.MODEL)
    assert restored.value == 0.42
    with pytest.raises(SiameseError):
        session.set_threshold(float("nan"))
    with pytest.raises(SiameseError):
        session.set_threshold(-1)


def test_a_new_model_supersedes_the_evaluation_of_the_old_one():
    release = threading.Event()
    delivered = []

    def slow(batch):
        release.wait(10)
        return _quadrants(batch)

    s = Session()
    try:
        s.subscribe(lambda change: delivered.append(change))
        s.set_data(DataSource(dataset=_folder()))
        s.set_model(_handle())
        s.model.embedder = slow
        first = s.refresh_evaluations()
        s.set_model(_handle(threshold=0.3))
        second = s.refresh_evaluations()
        release.set()
        assert first.finished.wait(10) and second.finished.wait(10)
        assert first.cancelled and not second.cancelled
        assert s.evaluation(Role.TEST) is not None
        assert s.threshold.value == 0.3
    finally:
        s.close()


def test_executor_runs_one_task_at_a_time_and_drops_superseded_results():
    results, threads = [], set()
    executor = TaskExecutor()
    gate = threading.Event()
    try:
        def work(value):
            def run(should_stop):
                threads.add(threading.current_thread().name)
                gate.wait(5)
                return value
            return run

        a = executor.submit(work("a"), "k", results.append)
        b = executor.submit(work("b"), "k", results.append)
        c = executor.submit(work("c"), "other", results.append)
        gate.set()
        assert executor.wait_idle(10)
        assert a.cancelled and not b.cancelled and not c.cancelled
        assert results == ["b", "c"]
        assert threads == {"siamese-gui tasks"}
        errors = []
        executor.submit(lambda stop: 1 / 0, "e", results.append, errors.append)
        executor.wait_idle(10)
        assert isinstance(errors[0], ZeroDivisionError)
    finally:
        executor.shutdown(5)
    assert not executor.thread.is_alive()


def test_small_data_reports_undefined_instead_of_zero(session):
    tiny = _folder(per_class=3, classes=2)
    session.set_data(DataSource(dataset=tiny), folder_splits(tiny, fractions=(0.34, 0.33, 0.33)))
    session.set_model(_handle())
    evaluation = session.evaluate(Role.TEST)
    metrics = evaluation.at(0.5)
    assert not metrics.accuracy_rate.measured
    assert "not enough data" in metrics.far_rate.describe()


def test_an_evaluation_hands_out_the_embeddings_it_already_has():
    from siamese_gui.core.evaluation.protocol import evaluate

    data = make_dataset(per_class=30, num_classes=4)
    handle = _handle()
    evaluation = evaluate(handle.embed, data, "test images", max_images=60, seed=3)
    sampled = evaluation.source_indices
    assert len(sampled) == 60
    some = sampled[::7]
    np.testing.assert_allclose(evaluation.embeddings_of(some), handle.embed(data.images[some]), atol=1e-6)
    missing = np.setdiff1d(np.arange(len(data)), sampled)[:3]
    assert evaluation.embeddings_of(np.sort(np.concatenate([some, missing]))) is None


def test_prefetch_loads_data_and_a_litert_model_but_never_starts_tensorflow(monkeypatch):
    from siamese_gui.core.app.prefetch import Prefetch
    from siamese_gui.core.io.locations import default_model_path
    from siamese_gui.core.runtime.copies import runtime_installed

    prefetch = Prefetch(default_model_path())
    assert isinstance(prefetch.data.result(timeout=120), DataSource)
    handle = prefetch.model.result(timeout=120)
    if runtime_installed("tflite"):
        assert handle is not None and handle.engine.startswith("LiteRT")
    monkeypatch.setenv("SIAMESE_GUI_RUNTIME", "tensorflow")
    assert Prefetch(default_model_path()).model.result(timeout=120) is None  # the window loads it
    assert Prefetch(None).model is None


def test_model_work_is_serialised_on_the_one_executor_thread():
    """The rule of core.app.tasks: a model is never used by two threads at once. A
    comparison asked for during an evaluation waits for the batch being embedded, not
    for the evaluation, and runs on the same thread, between two of its batches."""
    guard = threading.Lock()
    calls, active, overlapping = [], [0], []
    first_batch, release = threading.Event(), threading.Event()

    def embedder(batch):
        with guard:
            active[0] += 1
            if active[0] > 1:
                overlapping.append(len(batch))
            calls.append((threading.get_ident(), len(batch)))
        try:
            if len(batch) > 2 and not first_batch.is_set():
                first_batch.set()
                release.wait(10)  # the evaluation's first batch is slow
            return _quadrants(batch)
        finally:
            with guard:
                active[0] -= 1

    train, test = make_dataset(per_class=20, num_classes=4, seed=1), make_dataset(per_class=300, num_classes=4)
    session = Session()
    try:
        session.set_data(DataSource(fashion_mnist=DataSplits(train, test)))
        session.set_model(ModelHandle(embedder, {"threshold": 0.5, "class_names": []}))
        last = session.refresh_evaluations()
        assert first_batch.wait(10)
        pair = test.images[:2]
        quick = session.submit(lambda stop: session.model.distance(*pair), "compare")
        # Submitted while a batch is inside the model: it waits for that batch ...
        assert not quick.finished.wait(0.3)
        release.set()
        # ... and no longer: it runs before the evaluation's next batch.
        assert quick.finished.wait(10) and session.evaluation(Role.TEST) is None
        assert last.finished.wait(30) and session.evaluation(Role.VALIDATION) is not None
        assert len(session.evaluation(Role.TEST).data) == len(test)
    finally:
        release.set()
        session.close()
    assert overlapping == []  # never two calls into the model at once
    assert {ident for ident, _ in calls} == {session.executor.thread.ident}
    assert session.threads == (session.executor.thread,)
    sizes = [n for _, n in calls]
    compare = sizes.index(2)
    assert 0 < compare < len(sizes) - 1 and len(test) > 2 * max(sizes)  # between evaluation batches


def test_background_work_yields_to_other_tasks_only_at_its_polls():
    order, threads = [], set()
    executor = TaskExecutor()
    started, release = threading.Event(), threading.Event()
    try:
        def long(should_stop):
            for step in range(3):
                threads.add(threading.get_ident())
                order.append(f"long {step}")
                if step == 0:
                    started.set()
                    release.wait(5)
                if should_stop():
                    return "stopped"
            return "done"

        def short(name):
            def run(should_stop):
                threads.add(threading.get_ident())
                order.append(name)
            return run

        background = executor.submit(long, "long", background=True)
        assert started.wait(5)
        executor.submit(short("a"), "a")
        executor.submit(short("b"), "b")
        release.set()
        assert executor.wait_idle(10) and background.finished.is_set()
        # "a" and "b" ran at the first poll, in order, and the long task went on after.
        assert order == ["long 0", "a", "b", "long 1", "long 2"]
        assert threads == {executor.thread.ident}
        # Queued together, the others go first.
        order.clear()
        release.clear()
        started.clear()
        gate = executor.submit(lambda stop: release.wait(5), "gate")
        executor.submit(long, "long", background=True)
        executor.submit(short("c"), "c")
        release.set()
        assert gate.finished.wait(5) and executor.wait_idle(10)
        assert order[:2] == ["c", "long 0"]
    finally:
        release.set()
        executor.shutdown(5)
    assert not executor.thread.is_alive()


def test_a_large_test_set_is_previewed_on_a_sample_then_evaluated_whole():
    from siamese_gui.core.app.session import PREVIEW_IMAGES

    test = make_dataset(per_class=PREVIEW_IMAGES // 2, num_classes=4)
    train = make_dataset(per_class=50, num_classes=4)
    seen = []
    session = Session()
    try:
        session.subscribe(lambda change: seen.append(
            len(session.evaluation(Role.TEST).data) if session.evaluation(Role.TEST) is not None else None))
        session.set_data(DataSource(fashion_mnist=DataSplits(train, test)))
        session.set_model(_handle())
        assert session.refresh_evaluations().finished.wait(60)
        sizes = [n for n in seen if n is not None]
        assert sizes[0] == PREVIEW_IMAGES and sizes[-1] == len(test)
        preview_then_full = [n for i, n in enumerate(sizes) if i == 0 or n != sizes[i - 1]]
        assert preview_then_full == [PREVIEW_IMAGES, len(test)]
        assert "seeded sample of 2,000" not in session.evaluation(Role.TEST).description
        assert session.evaluation(Role.VALIDATION) is not None
    finally:
        session.close()


def test_held_out_classes_are_named_or_numbered_as_on_the_command_line():
    names = ("T-shirt/top", "Trouser", "Pullover", "3", "Coat")
    assert choose_held_out_classes(names, ["Trouser", "4"]) == ("Trouser", "Coat")
    assert choose_held_out_classes(names, [1, "Coat"]) == ("Trouser", "Coat")
    # A class called "3" is that class, not the fourth by number.
    assert choose_held_out_classes(names, ["3", "0"]) == ("T-shirt/top", "3")
    with pytest.raises(ConfigError, match="unknown class '7'"):
        choose_held_out_classes(names, ["7", "Coat"])


def test_held_out_classes_typed_as_names_or_as_a_share():
    from siamese_gui.core.data.splits import held_out_from_text

    names = tuple(f"class {i}" for i in range(8)) + ("0.5",)
    assert held_out_from_text(names, " class 2 , 4") == ("class 2", "class 4")
    assert held_out_from_text(names, "") == ()
    share = held_out_from_text(names, "30%", seed=3)
    assert len(share) == 3 and share == held_out_from_text(names, "0.3", seed=3)
    assert share == choose_held_out_classes(names, None, 0.3, 3)
    # A class called "0.5" is that class; "3" is the fourth class, not 3 %.
    assert held_out_from_text(names, "0.5, 3") == ("class 3", "0.5")
    with pytest.raises(ConfigError, match="holding out 1 of 9"):
        held_out_from_text(names, "0.5")  # the class, not half of them
    with pytest.raises(ConfigError, match="fraction must be in"):
        held_out_from_text(names, "150%")


def test_holding_out_every_class_but_one_is_a_clear_error():
    data = _folder(classes=3)
    with pytest.raises(ConfigError, match="fewer than 2 classes"):
        folder_splits(data, unseen=("bar", "column"))


def test_a_folder_of_only_new_classes_is_split_like_any_folder():
    from siamese_gui.core.app.session import splits_for_model

    data = _folder(classes=4)
    model = ModelHandle(embedder=lambda images: images.reshape(len(images), -1),
                        metadata={"split": {"unseen_classes": ["ring", "diagonal"], "seed": 0}})
    own = splits_for_model(DataSource(dataset=data), model)
    assert own.open_set and own.unseen_classes == ("ring", "diagonal")
    new = data.subset(np.flatnonzero(np.isin(data.labels, [2, 3])))
    new = Dataset(new.images, new.labels - 2, ("ring", "diagonal"), "new classes", kind=new.kind,
                  files=new.files, hashes=new.hashes, root=new.root)
    splits = splits_for_model(DataSource(dataset=new), model)
    assert not splits.open_set and len(splits.test) > 0


def test_test_classes_are_described_against_the_classes_a_model_trained_on():
    from siamese_gui.core.data.splits import test_classes_in_words

    data = _folder(classes=4)
    splits = folder_splits(data)
    assert test_classes_in_words(splits, data.class_names) == "the classes it trained on"
    assert test_classes_in_words(splits, ("cat", "dog")) == "classes it never trained on"
    assert test_classes_in_words(splits, ("bar", "column", "dog")) == "2 of 4 classes it never trained on"
    assert "does not record" in test_classes_in_words(splits, ())
    open_set = folder_splits(data, unseen=("ring", "diagonal"))
    assert test_classes_in_words(open_set, data.class_names) == "unseen classes"


def test_a_model_of_another_image_format_is_not_scored_on_data_it_cannot_see(session):
    """Arrays that cannot be read again at a colour model's format: one message, no scores."""
    from siamese_gui.core.io.image_format import FIELD, ImageFormat
    from siamese_gui.core.runtime.handle import ModelHandle

    train, test = make_dataset(per_class=10, num_classes=3, seed=1), make_dataset(per_class=10, num_classes=3)
    session.set_data(DataSource(fashion_mnist=DataSplits(train, test)))
    colour = {"threshold": 0.5, FIELD: ImageFormat(32, 32, 3).as_dict()}
    session.set_model(ModelHandle(lambda batch: batch.reshape(len(batch), -1)[:, :4], colour))
    errors = []
    assert session.refresh_evaluations(on_error=errors.append) is None
    assert len(errors) == 1 and "sees 32 × 32 colour" in str(errors[0]) and "28 × 28 grey" in str(errors[0])
    assert session.evaluation(Role.TEST) is None
