"""The Train panel: settings, Start/Stop, progress, the live loss plot and the result."""

from __future__ import annotations

from html import escape

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from siamese_gui.core.app.glossary import tooltip
from siamese_gui.core.app.session import DataSource
from siamese_gui.core.app.training_run import TrainingRun, run_lead, training_source
from siamese_gui.core.data.datasets import DataKind
from siamese_gui.core.data.sampling import TrainingSample, names_from_text
from siamese_gui.core.data.splits import Role, seen_mask
from siamese_gui.core.errors import ConfigError, SiameseError
from siamese_gui.core.model.config import TrainingConfig
from siamese_gui.core.text import format_duration
from siamese_gui.gui import theme
from siamese_gui.gui.common import (
    MUTED_COLOR,
    NOTICE_COLOR,
    RIGHT_COLOR,
    WRONG_COLOR,
    plural,
    show_error,
)
from siamese_gui.gui.state import AppState
from siamese_gui.gui.widgets.disclosure import DetailsToggle
from siamese_gui.gui.widgets.plots import LossPlot
from siamese_gui.gui.widgets.run_list import RunList
from siamese_gui.gui.widgets.scroll_column import ScrollColumn
from siamese_gui.gui.widgets.settings_form import SettingsForm
from siamese_gui.gui.workers import TrainingController

# A stopped run still scores its weights on the validation images, which takes a while.
STOPPING = " · stopping, then scoring the validation images…"
DATA_SOURCES = ("fashion_mnist", "samples", "folder")
DATA_SOURCE_LABELS = ("Fashion-MNIST (train split)", "Bundled samples", "Image folder…")


def time_left_text(eta_s: float | None) -> str:
    """The progress bar's time-left part; none is guessed before the pace is measured."""
    return " · estimating time left…" if eta_s is None else f" · {format_duration(eta_s)} left"


_KIND_SOURCES = {DataKind.FASHION_MNIST: "fashion_mnist", DataKind.IMAGE_FOLDER: "folder",
                 DataKind.SAMPLES: "samples", DataKind.SYNTHETIC: "folder"}


class TrainPanel(QWidget):
    """Trains a new model on a worker thread while the window stays responsive.

    Signals:
        dataSourceRequested(str): the user picked a data source ("fashion_mnist",
            "samples" or "folder").
        useModelRequested(object): "Use this model" with the `TrainingRun`.
        saveModelRequested(object): "Save model…" with the run's `ModelHandle`.
    """

    dataSourceRequested = Signal(str)
    useModelRequested = Signal(object)
    saveModelRequested = Signal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.outcome: TrainingRun | None = None
        self.controller = TrainingController(self)
        self.controller.batchDone.connect(self._on_batch)
        self.controller.epochDone.connect(self._on_epoch)
        self.controller.finished.connect(self._on_finished)
        self.controller.failed.connect(self._on_failed)
        self.controller.runningChanged.connect(self._update_enabled)

        self.source_combo = QComboBox()
        self.source_combo.addItems(DATA_SOURCE_LABELS)
        self.source_combo.activated.connect(self._source_chosen)
        self.data_label = QLabel("Loading…")
        self.data_label.setWordWrap(True)
        theme.set_style(self.data_label, lambda c: f"color: {c.muted}; font-size: 11px;")
        self.limit_spin = QSpinBox()
        self.limit_spin.setRange(0, 10_000_000)
        self.limit_spin.setSingleStep(1000)
        self.limit_spin.setSpecialValueText("all")
        self.limit_spin.setToolTip(tooltip("Images to use", more=True))
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("&Data:", self.source_combo)
        form.addRow("", self.data_label)
        self.classes_edit = QLineEdit()
        self.classes_edit.setPlaceholderText("all classes")
        self.classes_edit.setToolTip(tooltip("Classes to train on"))
        self.per_class_spin = QSpinBox()
        self.per_class_spin.setRange(0, 10_000_000)
        self.per_class_spin.setSpecialValueText("all")
        self.per_class_spin.setToolTip(tooltip("Images per class", more=True))
        form.addRow("&Images to use:", self.limit_spin)
        self.held_out_edit = QLineEdit()
        self.held_out_edit.setPlaceholderText("none (names, or 30%)")
        self.held_out_edit.setToolTip(tooltip("Hold out classes", more=True))
        form.addRow("&Classes:", self.classes_edit)
        form.addRow("Images &per class:", self.per_class_spin)
        form.addRow("&Hold out classes:", self.held_out_edit)
        self.source_combo.setToolTip("<p>Which images to train on: the Fashion-MNIST clothing "
                                     "pictures, the small bundled samples, or a folder of your own "
                                     "(one sub-folder per class).</p>")
        self.settings = SettingsForm(form, self)
        for row in range(form.rowCount()):  # each label explains what its field does
            label = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            field = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
            if label is not None and field is not None and field.widget() is not None and label.widget():
                label.widget().setToolTip(label.widget().toolTip() or field.widget().toolTip())
        self.form_box = QGroupBox("Settings")
        self.form_box.setLayout(form)

        self.start_button = QPushButton("▶  Start training")
        self.start_button.setToolTip("Start training (Ctrl+Enter)")
        self.start_button.clicked.connect(self.start_training)
        self.stop_button = QPushButton("■  Stop")
        self.stop_button.setToolTip("Stop after the current batch and keep the weights so far (Ctrl+.)")
        self.stop_button.clicked.connect(self.stop_training)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button, 1)
        buttons.addWidget(self.stop_button)

        # One plain sentence leads; the full result is behind the Details toggle.
        self.lead_label = QLabel("No run yet.")
        self.lead_label.setWordWrap(True)
        self.lead_label.setTextFormat(Qt.TextFormat.PlainText)
        self.lead_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.lead_label.setAccessibleName("Training result")
        self.result_label = QLabel("")
        self.result_label.setWordWrap(True)
        self.result_label.setTextFormat(Qt.TextFormat.RichText)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.use_button = QPushButton("Use this model")
        self.use_button.setToolTip("Use the new model in Compare, Gallery and Threshold")
        self.use_button.clicked.connect(self._use_model)
        self.save_button = QPushButton("Save model…")
        self.save_button.clicked.connect(self._save_model)
        result_buttons = QHBoxLayout()
        result_buttons.addWidget(self.use_button)
        result_buttons.addWidget(self.save_button)
        result_buttons.addStretch(1)
        self.result_box = QGroupBox("Result")
        result_layout = QVBoxLayout(self.result_box)
        result_layout.addWidget(self.lead_label)
        self.details_button = DetailsToggle(self.result_label)
        self.details_button.setToolTip("Show or hide the full result: schedule, settings, every figure "
                                       "with its 95 % interval, and the images it was measured on")
        self.details_button.setEnabled(False)
        result_layout.addWidget(self.details_button)
        result_layout.addWidget(self.result_label)
        result_layout.addLayout(result_buttons)
        self._show_result("No run yet.")

        left = QVBoxLayout()
        left.addWidget(self.form_box)
        left.addLayout(buttons)
        left.addWidget(self.result_box)
        self.run_list = RunList()
        left.addWidget(self.run_list)
        left.addStretch(1)
        left_widget = QWidget()
        left_widget.setLayout(left)
        # A short window scrolls the settings and the result instead of growing past the screen.
        self.settings_column = ScrollColumn(left_widget, 370)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("Not training")
        self.plot = LossPlot()
        self.plot.setToolTip(tooltip("Loss", more=True))
        self.progress.setToolTip("<p>How far the run has got: steps done of those planned, the "
                                 "latest loss, and the time left once the pace is known.</p>")
        right = QVBoxLayout()
        right.addWidget(self.progress)
        right.addWidget(self.plot, 1)

        layout = QHBoxLayout(self)
        layout.addWidget(self.settings_column)
        layout.addLayout(right, 1)

        state.dataChanged.connect(self.sync_data_source)
        self.sync_data_source()
        self._update_enabled()
        # After the Result's slots, so the run is recorded once it is shown.
        self._run_ids: list[tuple[object, str]] = []  # (run's ModelHandle, its record's id)
        self.controller.finished.connect(self._record_run)
        self.controller.failed.connect(self._record_failure)

    # Settings ------------------------------------------------------------------------

    def config(self) -> TrainingConfig:
        """The settings in the form.

        Raises:
            ConfigError: if the core rejects a value.
        """
        return self.settings.config()

    def set_config(self, config: TrainingConfig) -> None:
        """Fill the form from a config."""
        self.settings.set_config(config)

    def sync_data_source(self) -> None:
        """Show the state's current data, and how it is split, in the data source row."""
        source, splits = self.state.source, self.state.splits
        if source is None or splits is None:
            self.data_label.setText("Loading data…")
            return
        self.source_combo.setCurrentIndex(DATA_SOURCES.index(_KIND_SOURCES[source.kind]))
        pool = source.training_pool
        skipped = f", {plural(len(pool.skipped), 'file')} skipped" if pool.skipped else ""
        parts = " / ".join(f"{len(splits.dataset(role)):,} {role.value}" for role in Role)
        self.data_label.setText(
            f"{plural(len(pool), 'image')}, {plural(len(pool.class_names), 'class', 'classes')}{skipped} "
            f"({parts})"  # the source's path is in the tooltip: three lines of text get clipped here
        )
        self.data_label.setToolTip(
            f"{pool.source}\nTrain: {splits.describe(Role.TRAIN)}\nValidation: "
            f"{splits.describe(Role.VALIDATION)}\nTest: {splits.describe(Role.TEST)}"
        )

    def _source_chosen(self, index: int) -> None:
        self.dataSourceRequested.emit(DATA_SOURCES[index])

    def sample(self) -> TrainingSample:
        """How the form narrows the data: classes, images per class, images in all."""
        return TrainingSample(
            classes=names_from_text(self.classes_edit.text()),
            per_class=self.per_class_spin.value() or None,
            limit=self.limit_spin.value() or None,
        )

    def training_data(self) -> DataSource | None:
        """The data to train on (split by the training run): the state's data narrowed
        by the form (see `core.app.training_run.training_source`).

        Raises:
            DatasetError: on an unknown class, or fewer than 2 classes left.
        """
        source = self.state.source
        if source is None:
            return None
        return training_source(source, self.sample(), self.settings.widgets["seed"].value())

    # Running -------------------------------------------------------------------------

    @Slot()
    def start_training(self) -> bool:
        """Start a run with the form's settings on the state's training data.

        Takes no arguments on purpose: it is connected straight to the Start button,
        whose `clicked(bool)` would otherwise land in a parameter.

        Returns:
            Whether a run started (not while one runs, nor without data).
        """
        if self.controller.is_running():
            return False
        try:
            config = self.config()
        except ConfigError as exc:
            show_error(self, "Invalid settings", str(exc))
            return False
        try:
            dataset = self.training_data()
            unseen = self.held_out_classes(dataset, config.seed)
        except SiameseError as exc:
            show_error(self, "Invalid class selection", str(exc))
            return False
        if dataset is None:
            show_error(self, "No data", "The training data is still loading; try again in a moment.")
            return False
        self.outcome = None
        self.plot.reset()
        self._batches_total = 0
        self.progress.setRange(0, 0)
        self.progress.setFormat("Preparing (loading TensorFlow and building the network)…")
        count = int(np.count_nonzero(seen_mask(dataset.training_pool, unseen)))
        # The short "Training on…" replaces a longer result: keep the box's height while the
        # run lasts, or the column scrolls back and Stop is no longer where Start was clicked.
        self.result_box.setMinimumHeight(self.result_box.height())
        self._show_result(f"Training on {count:,} images (less the held-out validation share)…")
        # The run narrows the data itself, after reading it with the run's polarity.
        return self.controller.start(config, self.state.source, unseen, self.sample())

    def held_out_classes(self, source, seed: int) -> tuple[str, ...]:
        """The classes "Hold out classes" names, or a share of them picked with `seed`
        (never trained on).

        Raises:
            ConfigError: on an unknown class, or when fewer than 2 classes would be left.
        """
        from siamese_gui.core.data.splits import held_out_from_text

        if source is None:
            return ()
        return held_out_from_text(source.training_pool.class_names, self.held_out_edit.text(), seed)

    @Slot()
    def stop_training(self) -> None:
        """Stop the run after the current batch; the weights so far are kept."""
        if self.controller.is_running():
            self.controller.stop()
            self._disable(self.stop_button, None)
            self.progress.setFormat(self.progress.format().split(" · ")[0] + STOPPING)

    def shutdown(self) -> None:
        """Stop a run in progress and wait for its thread (used when the window closes)."""
        self.controller.shutdown()

    @property
    def is_training(self) -> bool:
        return self.controller.is_running()

    def _update_enabled(self, *_args) -> None:
        running = self.controller.is_running()
        start, stop = not running, running and not self.controller.stop_requested()
        # Enable first, then disable: a focused button that is disabled hands its focus to
        # the next widget, which the scroll column then scrolls into view.
        self.start_button.setEnabled(start or self.start_button.isEnabled())
        self.stop_button.setEnabled(stop or self.stop_button.isEnabled())
        if not start:
            self._disable(self.start_button, self.stop_button if stop else None)
        if not stop:
            self._disable(self.stop_button, self.start_button if start else None)
        self.form_box.setEnabled(not running)
        usable = self.outcome is not None and self.outcome.handle is not None
        self.use_button.setEnabled(usable and not running)
        self.save_button.setEnabled(usable and not running)
        if not running and self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)

    def _disable(self, button: QPushButton, focus: QPushButton | None) -> None:
        """Disable `button`, giving its focus to `focus` (or the panel) rather than to
        whatever comes next, so the column does not scroll away."""
        if button.hasFocus():
            (focus or self).setFocus(Qt.FocusReason.OtherFocusReason)
        button.setEnabled(False)

    def _on_batch(self, progress) -> None:
        total, done = progress.steps, progress.done
        if self.progress.maximum() != total:
            self.progress.setRange(0, total)
        self.progress.setValue(done)
        suffix = STOPPING if self.controller.stop_requested() else time_left_text(progress.eta_s)
        self.progress.setFormat(
            f"{progress.position().capitalize()} · loss {progress.loss:.4f}{suffix}"
        )
        # A run set in steps plots against steps; one set in epochs, against epochs.
        if not self.plot.batch_x:
            self.plot.set_unit("optimiser step" if progress.by_steps else "epoch")
        if progress.by_steps:
            x = progress.done
        else:
            x = progress.epoch + (progress.batch + 1) / max(progress.batches_per_epoch, 1)
        self.plot.add_batch(x, progress.loss)

    def _on_epoch(self, progress) -> None:
        self.plot.add_epoch(progress.steps_done if progress.by_steps else progress.epoch + 1, progress.loss,
                            progress.val_loss)

    def _on_finished(self, outcome: TrainingRun) -> None:
        self.outcome = outcome
        self.result_box.setMinimumHeight(0)
        result = outcome.result
        self.plot.flush()
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if result.status == "completed" else 0)
        self.progress.setFormat(f"{result.status.capitalize()} in {format_duration(result.seconds)}")
        self._show_result(run_lead(outcome), self._result_html(result, outcome.data.unseen, outcome))
        if result.probe_steps and result.probe_steps < len(self.plot.batch_x):
            # The loss steps up where the classes the share was chosen on join training.
            self.plot.mark(self.plot.batch_x[result.probe_steps - 1], "held-out classes join (share chosen)")
        self._update_enabled()
        if result.status == "failed":
            show_error(self, "Training failed", result.message)

    def _on_failed(self, message: str) -> None:
        self.result_box.setMinimumHeight(0)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("Failed")
        self.result_label.setText(f"<span style='color:{WRONG_COLOR}'>Training failed.</span>")
        self._show_result("Training failed.", f"{self.result_label.text()} {escape(message)}")
        self._update_enabled()
        show_error(self, "Training failed", message)

    def _show_result(self, lead: str, details: str = "") -> None:
        """Show a run's plain sentence, with `details` behind the Details toggle."""
        self.lead_label.setText(lead)
        self.result_label.setText(details)
        self.details_button.setEnabled(bool(details))
        self.details_button.setVisible(bool(details))
        self.result_label.setVisible(bool(details) and self.details_button.isChecked())

    @staticmethod
    def _result_html(result, unseen: tuple[str, ...] = (), outcome: TrainingRun | None = None) -> str:
        color = {"completed": RIGHT_COLOR, "stopped": NOTICE_COLOR}.get(result.status, WRONG_COLOR)
        # The summary begins with the status word ("stopped by the user after 86 of 200 ...").
        summary = result.summary()
        lead, rest = (summary[:len(result.status)], summary[len(result.status):]) \
            if summary.startswith(result.status) else ("", " " + summary)
        lines = [f"<b style='color:{color}'>{escape(lead.capitalize())}</b>{escape(rest)}"]
        if result.schedule:
            lines.append(f"<br><span style='color:{MUTED_COLOR}'>Schedule: {escape(result.schedule)}</span>")
        if result.histograms:
            lines.append(f"<br><span style='color:{MUTED_COLOR}'>Embedding: {escape(result.histograms)}</span>")
        v, m = result.validation, result.at_threshold
        if v is None:
            return "".join(lines)
        kept_out = outcome is not None and outcome.data.splits.validation_classes
        validation_words = (
            "held-out images of classes kept out of training, to choose the threshold on" if kept_out
            else "held-out images of the <b>seen</b> classes, the ones it trained on")
        rows = [("Validation pairs", f"{v.pairs:,} ({v.same_pairs:,} same, {v.different_pairs:,} different)")]
        if v.defined and m is not None:
            rows += [
                ("Recommended threshold", f"<b>{result.threshold:.3f}</b>"),
                ("Accuracy", m.accuracy_rate.describe()),
                ("FAR", m.far_rate.describe()),
                ("FRR", m.frr_rate.describe()),
                ("ROC AUC", f"{v.auc:.3f}"),
                ("Equal error rate", f"{v.eer:.1%}"),
            ]
        else:
            rows.append(("ROC AUC, EER", "undefined: the validation pairs hold one kind only"))
        table = "".join(f"<tr><td>{k}</td><td align='right'>{val}</td></tr>" for k, val in rows)
        lines.append(
            "<table cellspacing='0' cellpadding='2'>" + table + "</table>"
            f"<span style='color:{MUTED_COLOR}'>Measured on {validation_words} (95 % intervals).</span>"
        )
        figures = outcome.figures if outcome is not None else None
        if figures is not None:
            lines.append(f"<br><b>On held-out test images</b>: {escape(figures.headline())}")
        baseline = outcome.baseline if outcome is not None else None
        if baseline is not None:
            color = MUTED_COLOR if baseline.beaten else NOTICE_COLOR
            lines.append(f"<br><span style='color:{color}'>{escape(baseline.text())}</span>")
        if unseen:
            lines.append(
                f"<br><span style='color:{MUTED_COLOR}'>Held out of training (<b>unseen</b> "
                f"classes): {', '.join(unseen)}. With this model in use, the Threshold panel and "
                "the Gallery score pairs of these classes only.</span>"
            )
        return "".join(lines)

    def result_model(self):
        """The model of the run the Result shows (a `ModelHandle`), or None when there is
        none or the run failed."""
        return self.outcome.handle if self.outcome is not None else None

    def _use_model(self) -> None:
        if self.outcome is not None and self.outcome.handle is not None:
            self.useModelRequested.emit(self.outcome)

    def _save_model(self) -> None:
        if self.outcome is not None and self.outcome.handle is not None:
            self.saveModelRequested.emit(self.outcome.handle)

    # Run history and remembered form ---------------------------------------------------

    def _record_run(self, outcome: TrainingRun) -> None:
        from siamese_gui.core.app.run_history import record_from_run

        record = record_from_run(outcome)
        if outcome.handle is not None:
            self._run_ids = [(outcome.handle, record.id)] + self._run_ids[:19]
        self.run_list.add(record)

    def _record_failure(self, message: str) -> None:
        from siamese_gui.core.app.run_history import failed_record

        source = self.state.source
        data = source.training_pool.source if source is not None else ""
        config = self.controller.config or TrainingConfig()
        self.run_list.add(failed_record(config, data, message))

    def model_saved(self, handle, path) -> None:
        """A run's model (`handle`) was saved to `path`: its record says so from now on."""
        for known, run_id in self._run_ids:
            if known is handle:
                self.run_list.model_saved(run_id, path)

    def form_values(self) -> dict:
        """The form's values as JSON-ready data (see `restore_form`)."""
        values = {"classes": self.classes_edit.text(), "per_class": self.per_class_spin.value(),
                  "limit": self.limit_spin.value(), "held_out": self.held_out_edit.text()}
        try:
            values["config"] = self.config().as_dict()
        except ConfigError:
            pass  # an invalid form is not remembered; the last valid one stays
        return values

    def restore_form(self, values: dict) -> None:
        """Fill the form from `form_values()`; values it cannot use are left at their defaults."""
        if isinstance(values.get("config"), dict):
            try:
                self.set_config(TrainingConfig.from_dict(values["config"]))
            except (ConfigError, TypeError, ValueError):
                pass
        for edit, key in ((self.classes_edit, "classes"), (self.held_out_edit, "held_out")):
            if isinstance(values.get(key), str):
                edit.setText(values[key])
        for spin, key in ((self.per_class_spin, "per_class"), (self.limit_spin, "limit")):
            if isinstance(values.get(key), int) and not isinstance(values[key], bool):
                spin.setValue(values[key])
