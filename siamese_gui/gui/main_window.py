"""The main window: four panels on one shared state, menus, status bar, background loading."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QProgressBar,
    QTabWidget,
    QWidget,
)

from siamese_gui.core.app.glossary import tooltip
from siamese_gui.core.app.session import DataSource, load_source
from siamese_gui.core.data.datasets import DataKind, load_fashion_mnist, load_samples
from siamese_gui.core.io.locations import default_model_path
from siamese_gui.gui import theme
from siamese_gui.gui.common import (
    add_recent,
    ask,
    clear_recent,
    in_folder,
    last_folder,
    plural,
    recent_files,
    remember_folder,
    remember_theme,
    remembered_model_path,
    settings,
    show_error,
)
from siamese_gui.gui.dialogs.about import AboutDialog
from siamese_gui.gui.dialogs.glossary import GlossaryDialog
from siamese_gui.gui.dialogs.report_export import export_report
from siamese_gui.gui.gui_thread_gc import gui_thread_collector
from siamese_gui.gui.panels.compare import ComparePanel
from siamese_gui.gui.panels.gallery import GalleryPanel
from siamese_gui.gui.state import AppState
from siamese_gui.gui.widgets.elided_label import ElidedLabel
from siamese_gui.gui.workers import error_text

# Tabs after Compare and Gallery, whose panels `build_panels` makes.
LATER_TABS = ("Threshold", "Train", "Search", "Map", "Verify", "Models")
MODEL_FILTER = "Keras model (*.keras);;All files (*)"
STATUS_MS = 6000


def _load_model_task(path: Path):
    """Load a model into a handle (runs on the task thread)."""
    from siamese_gui.core.runtime.loading import load_model_handle

    return load_model_handle(path)


def _save_model_task(handle, path: Path, threshold, validation) -> tuple[Path, dict]:
    from siamese_gui.core.app.model_files import save_with_threshold

    return save_with_threshold(handle, path, threshold, validation)


class MainWindow(QMainWindow):
    """The application window.

    Args:
        state: the shared state (a new one when None).
        autoload: load the default model and data in the background once shown.
    """

    def __init__(self, state: AppState | None = None, autoload: bool = True, parent: QWidget | None = None,
                 defer_panels: bool = False):
        """Args beyond the class's: defer_panels builds only Compare, Gallery and the menus
        now, with "Loading…" in the other tabs until `build_panels()`, so the window
        appears (and gives its first verdict) without waiting for matplotlib and the
        plotting panels."""
        super().__init__(parent)
        # Worker threads must never collect Qt objects' garbage: see gui_thread_gc.
        self._collector = gui_thread_collector()
        self._collector.hold()
        self.state = state or AppState(self)
        self.runner = self.state.runner
        self._closed = False
        self.panels_built = False
        self.glossary: GlossaryDialog | None = None
        geometry = settings().value("window/geometry")
        if not (isinstance(geometry, QByteArray) and self.restoreGeometry(geometry)):
            self._fit_to_screen(1240, 820)

        self.compare_panel = ComparePanel(self.state, self.runner)
        self.gallery_panel = GalleryPanel(self.state)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.compare_panel, "Compare")
        self.tabs.addTab(self.gallery_panel, "Gallery")
        for title in LATER_TABS:  # replaced by the panels in `build_panels`
            placeholder = QLabel("Loading…")
            placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.tabs.addTab(placeholder, title)
        self.setCentralWidget(self.tabs)
        self.tabs.currentChanged.connect(self._placeholder_chosen)

        self.gallery_panel.pairActivated.connect(self.open_pair_in_compare)
        self.state.modelChanged.connect(self._model_changed)
        self.state.dataChanged.connect(self._data_changed)
        self.state.thresholdChanged.connect(self._update_status)
        self.runner.busyChanged.connect(self._show_busy)
        self.runner.errorRaised.connect(self._evaluation_failed)

        self._build_status_bar()
        self._build_menus()
        self._update_status()
        self._autoload = autoload
        if not defer_panels:
            self.build_panels()
        self._restore_view()

    def build_panels(self) -> None:
        """Build the panels after Compare and Gallery into their tabs (once)."""
        if self.panels_built:
            return
        self.tabs.currentChanged.disconnect(self._placeholder_chosen)
        from siamese_gui.gui.panels.map import MapPanel
        from siamese_gui.gui.panels.models import ModelsPanel
        from siamese_gui.gui.panels.search import SearchPanel
        from siamese_gui.gui.panels.threshold import ThresholdPanel
        from siamese_gui.gui.panels.train import TrainPanel
        from siamese_gui.gui.panels.verify import VerifyPanel

        self.threshold_panel = ThresholdPanel(self.state)
        self.train_panel = TrainPanel(self.state)
        self.search_panel = SearchPanel(self.state, self.runner)
        self.map_panel = MapPanel(self.state, self.runner)
        self.verify_panel = VerifyPanel(self.state, self.runner)
        self.models_panel = ModelsPanel(self.state, self.runner)
        current = self.tabs.currentIndex()
        panels = (self.threshold_panel, self.train_panel, self.search_panel, self.map_panel,
                  self.verify_panel, self.models_panel)
        for index, (panel, title) in enumerate(zip(panels, LATER_TABS), start=2):
            placeholder = self.tabs.widget(index)
            self.tabs.removeTab(index)
            self.tabs.insertTab(index, panel, title)
            placeholder.deleteLater()
        self.tabs.setCurrentIndex(current)
        self.search_panel.pairRequested.connect(self.open_images_in_compare)
        self.map_panel.pairRequested.connect(self.open_images_in_compare)
        self.verify_panel.pairRequested.connect(self.open_images_in_compare)
        self.threshold_panel.saveModelRequested.connect(
            lambda suggestion: self.save_model_as(suggestion=suggestion))
        self.threshold_panel.statusMessage.connect(self.show_status)
        self.train_panel.useModelRequested.connect(self.use_trained_model)
        self.train_panel.saveModelRequested.connect(self.save_model_as)
        self.train_panel.dataSourceRequested.connect(self.choose_data_source)
        self.train_panel.run_list.openRequested.connect(self.open_model)
        self.train_panel.run_list.compareRequested.connect(self.compare_runs)
        self._restore_train_form()
        self.panels_built = True

    def _placeholder_chosen(self, index: int) -> None:
        if index >= 2:
            QTimer.singleShot(0, self.build_panels)

    # Construction --------------------------------------------------------------------

    def _fit_to_screen(self, width: int, height: int) -> None:
        """Take `width` x `height`, or most of a smaller screen (frame and panels included)."""
        screen = self.screen()
        if screen is not None:
            available = screen.availableGeometry()
            width = min(width, available.width() - 40)
            height = min(height, available.height() - 60)
        self.resize(max(width, 640), max(height, 480))

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.busy_label = QLabel()
        theme.set_style(self.busy_label, lambda c: f"color: {c.muted};")
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setFixedWidth(90)
        self.busy_bar.setFixedHeight(12)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.hide()
        # Elided with the whole text in the tooltip: a narrow window shortens them, it
        # does not cut them off ("Model fashion_mnist.keras loade").
        self.message_label = ElidedLabel()
        self.message_label.setStyleSheet("padding: 0 4px;")
        # Room for a message even in a narrow window while the busy indicator shows:
        # the model and data labels shrink first.
        self.message_label.setMinimumWidth(160)
        self._message_timer = QTimer(self)
        self._message_timer.setSingleShot(True)
        self._message_timer.timeout.connect(lambda: self.message_label.setText(""))
        bar.addWidget(self.message_label, 1)
        self.model_label = ElidedLabel(shrink=True)
        self.data_label = ElidedLabel(shrink=True)
        self.threshold_label = QLabel()
        # Permanent, so a status message on the left never draws over the busy indicator.
        bar.addPermanentWidget(self.busy_bar)
        bar.addPermanentWidget(self.busy_label)
        for label in (self.model_label, self.data_label, self.threshold_label):
            label.setStyleSheet("padding: 0 8px;")
            bar.addPermanentWidget(label)

    def _action(self, menu, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(lambda _=False: slot())
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.open_model_action = self._action(
            file_menu, "&Open model…", self.open_model, QKeySequence.StandardKey.Open,
            "Open a .keras model saved by Siamese GUI")
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._rebuild_recent_menu)
        self._rebuild_recent_menu()
        self.open_shipped_action = self._action(
            file_menu, "Open s&hipped model", lambda: self.open_model(default_model_path()),
            tip="Go back to the model that comes with the app")
        self.save_model_action = self._action(
            file_menu, "&Save model as…", self.save_shown_model, "Ctrl+Shift+S",
            "Save the model in use and its threshold (on the Train tab: the model its Result shows)")
        file_menu.addSeparator()
        self._action(file_menu, "Open image-&folder dataset…", self.open_folder_dataset, "Ctrl+Shift+O",
                     "A folder with one sub-folder of images per class")
        self._action(file_menu, "Use &Fashion-MNIST", lambda: self.choose_data_source("fashion_mnist"))
        self._action(file_menu, "Use &bundled samples", lambda: self.choose_data_source("samples"))
        file_menu.addSeparator()
        # Not Ctrl+E: on Linux a focused text field takes it (move to the end of the line).
        self.export_gallery_action = self._action(file_menu, "&Export gallery as PNG…", self.export_gallery,
                                                  "Ctrl+Shift+E")
        self.gallery_panel.export_button.clicked.connect(self.export_gallery_action.trigger)
        self.export_report_action = self._action(
            file_menu, "Export &report…", lambda: export_report(
                self, self.state, self.runner, on_written=lambda p: self.show_status(f"Report written to {p}")),
            tip="A self-contained HTML (or PDF) report about the current model")
        file_menu.addSeparator()
        # Not StandardKey.Quit: that has no key on Windows and on some Linux platforms.
        self._action(file_menu, "&Quit", self.close, "Ctrl+Q")

        compare_menu = bar.addMenu("&Compare")
        self._action(compare_menu, "Open image &A…", lambda: self.compare_panel.pane_a.open_file(), "Ctrl+Shift+A")
        self._action(compare_menu, "Open image &B…", lambda: self.compare_panel.pane_b.open_file(), "Ctrl+Shift+B")
        self._action(compare_menu, "&Paste into A", lambda: self._paste(self.compare_panel.pane_a),
                     QKeySequence.StandardKey.Paste)
        self._action(compare_menu, "Paste into B", lambda: self._paste(self.compare_panel.pane_b), "Ctrl+Shift+V")
        compare_menu.addSeparator()
        self._action(compare_menu, "&Swap images", self.compare_panel.swap, "Ctrl+T")
        self._action(compare_menu, "Random &same-class pair", lambda: self._random_pair(True), "Ctrl+R")
        self._action(compare_menu, "Random &different-class pair", lambda: self._random_pair(False), "Ctrl+Shift+R")

        gallery_menu = bar.addMenu("&Gallery")
        self._action(gallery_menu, "&Shuffle", self._shuffle_gallery, "F5")
        for mode, text, key in (("all", "Show &all pairs", "Alt+1"), ("mistakes", "Show &mistakes only", "Alt+2"),
                                ("hardest", "Show &hardest pairs", "Alt+3")):
            self._action(gallery_menu, text, lambda mode=mode: self._gallery_mode(mode), key)

        train_menu = bar.addMenu("&Training")
        self._action(train_menu, "&Start training", self._start_training, "Ctrl+Return")
        self._action(train_menu, "S&top training",
                     lambda: self.panels_built and self.train_panel.stop_training(), "Ctrl+.")

        view_menu = bar.addMenu("&View")
        for index in range(self.tabs.count()):
            self._action(view_menu, f"&{self.tabs.tabText(index)}",
                         lambda index=index: self.show_tab(index), f"Ctrl+{index + 1}")
        view_menu.addSeparator()
        self.theme_menu = view_menu.addMenu("T&heme")
        self.theme_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for name, text, tip in (
            ("system", "&System", "Light or dark as the desktop is, following it when it changes"),
            ("light", "&Light", "Dark text on light windows"),
            ("dark", "&Dark", "Light text on dark windows"),
        ):
            action = self._action(self.theme_menu, text, lambda name=name: self.set_theme(name), tip=tip)
            action.setCheckable(True)
            action.setChecked(name == theme.current_theme())
            group.addAction(action)
            self.theme_actions[name] = action

        help_menu = bar.addMenu("&Help")
        self.glossary_action = self._action(
            help_menu, "&Glossary: what does this mean?", self.show_glossary,
            QKeySequence.StandardKey.HelpContents,
            "Every figure and setting in plain words (hover over one for its line)")
        self._action(help_menu, "&About Siamese GUI", self.show_about)

    # Start-up ------------------------------------------------------------------------

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._autoload:
            self._autoload = False
            QTimer.singleShot(0, self.start_loading)

    def start_loading(self, model_path: str | Path | None = None, data_path: str | Path | None = None,
                      prefetch=None) -> None:
        """Load data and the model in the background (default model when None).

        TensorFlow is not started here: a model with a runtime copy runs in LiteRT, and
        TensorFlow loads only for training, saving, or a model without one.

        Args:
            model_path: a model instead of the shipped one.
            data_path: a Fashion-MNIST folder instead of the usual places.
            prefetch: a `core.prefetch.Prefetch` already loading the default data and
                this model (started before the window was built); its results are used.
        """
        explicit = model_path is not None
        path = Path(model_path) if explicit else default_model_path()
        on_model_error, notice = self._model_failed, ""
        remembered = None if explicit else remembered_model_path()
        if remembered is not None and remembered.is_file():
            # The model in use at the last close; if it cannot be read now, the shipped one.
            path, on_model_error = remembered, lambda exc: self._open_shipped_instead(remembered, exc)
        elif remembered is not None:
            notice = f"{remembered} is gone: using the shipped model"
        load_data = (prefetch.data.result if prefetch is not None and data_path is None
                     else lambda: load_source(data=data_path))
        remembered_data = self._remembered_data_task() if data_path is None else None
        if remembered_data is not None:
            self.runner.submit(remembered_data, self._data_loaded,
                               lambda exc: self._default_data_instead(load_data, exc), "Loading data…", key="data")
        else:
            self.runner.submit(load_data, lambda source: self._data_loaded(source, remember=False),
                               self._data_failed, "Loading data…", key="data")
        if explicit or path.is_file():
            if prefetch is not None and prefetch.model is not None and prefetch.model_path == path:
                # The prefetched handle, or (for a model without a runtime copy) a load now.
                self.runner.submit(lambda: prefetch.model.result() or _load_model_task(path),
                                   lambda loaded: self._model_loaded(loaded, notice), on_model_error,
                                   f"Loading model {path.name}…", key="model")
            else:
                self.runner.submit(lambda: _load_model_task(path),
                                   lambda loaded: self._model_loaded(loaded, notice), on_model_error,
                                   f"Loading model {path.name}…", key="model")
        else:
            self.show_status("No shipped model found: train one (Train panel) or open one (File › Open model…)")

    def _open_shipped_instead(self, remembered: Path, exc: BaseException) -> None:
        """The remembered model failed to load at start-up: one line, then the shipped model."""
        notice = f"Could not reopen {remembered.name} ({error_text(exc)}): using the shipped model"
        shipped = default_model_path()
        if not shipped.is_file():
            self.show_status(notice)
            return
        self.runner.submit(lambda: _load_model_task(shipped), lambda loaded: self._model_loaded(loaded, notice),
                           self._model_failed, f"Loading model {shipped.name}…", key="model")

    def _remembered_data_task(self):
        """A task loading the data in use at the last close, or None for the default data."""
        choice = settings().value("session/data", "", str)
        if choice == "fashion_mnist":
            return lambda: DataSource(fashion_mnist=load_fashion_mnist())
        if choice == "samples":
            return lambda: DataSource(dataset=load_samples())
        if choice.startswith("folder:"):
            folder = choice.removeprefix("folder:")
            return lambda: load_source(image_folder=folder)
        return None

    def _default_data_instead(self, load_default, exc: BaseException) -> None:
        self.show_status(f"Could not reopen the last data ({error_text(exc)}): using the default data")
        self.runner.submit(load_default, lambda source: self._data_loaded(source, remember=False),
                           self._data_failed, "Loading data…", key="data")

    # Data ----------------------------------------------------------------------------

    def _data_loaded(self, source: DataSource, remember: bool = True) -> None:
        self.state.set_data(source)
        if remember:
            self._remember_data(source)
        skipped = source.dataset.skipped if source.dataset is not None else ()
        if skipped:
            listing = "\n".join(f"• {reason}" for _, reason in skipped[:8])
            more = f"\n… and {len(skipped) - 8} more" if len(skipped) > 8 else ""
            show_error(self, "Some files were skipped",
                       f"{plural(len(skipped), 'file')} could not be read and were skipped:\n{listing}{more}")

    def _data_failed(self, exc: BaseException) -> None:
        if self.panels_built:
            self.train_panel.sync_data_source()
        show_error(self, "Cannot load the data", error_text(exc))

    def choose_data_source(self, kind: str) -> None:
        """Switch the data: "fashion_mnist", "samples" or "folder" (asks for a folder)."""
        self.build_panels()
        if self.train_panel.is_training:
            self.train_panel.sync_data_source()
            show_error(self, "Training in progress", "Stop the training run before changing the data.")
            return
        if kind == "folder":
            self.open_folder_dataset()
        elif kind == "fashion_mnist":
            self.runner.submit(lambda: DataSource(fashion_mnist=load_fashion_mnist()), self._data_loaded,
                               self._data_failed, "Loading Fashion-MNIST…", key="data")
        else:
            self.runner.submit(lambda: DataSource(dataset=load_samples()), self._data_loaded,
                               self._data_failed, "Loading the bundled samples…", key="data")

    def open_folder_dataset(self, folder: str | Path | None = None) -> None:
        """Use a folder of class sub-folders as the data for every panel."""
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Open image-folder dataset", last_folder("datasets"))
            if not folder:
                self.train_panel.sync_data_source()
                return
            remember_folder("datasets", folder)

        model = self.state.model
        fmt = model.image_format if model is not None else None  # as the model sees images
        self.runner.submit(lambda: load_source(image_folder=str(folder), image_format=fmt), self._data_loaded,
                           self._data_failed, f"Loading images from {folder}…", key="data")

    def _data_changed(self) -> None:
        self._update_status()

    # Model ---------------------------------------------------------------------------

    def open_model(self, path: str | Path | None = None) -> None:
        """Load a model file in the background; on failure the current model stays."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Open model", last_folder("models"), MODEL_FILTER)
            if not path:
                return
            remember_folder("models", path)
        path = Path(path)
        self.runner.submit(lambda: _load_model_task(path), self._model_opened, self._model_failed,
                           f"Loading model {path.name}…", key="model")

    def _with_model_data(self, handle, then) -> None:
        """Use `handle`, with the image folder read again first where the model sees
        another size or colour than it was read at; then call `then()`."""
        from siamese_gui.core.app.training_run import read_differently, read_for_model

        source = self.state.source
        if not read_differently(source, handle):
            self.state.set_model(handle)
            then()
            return

        def loaded(new_source) -> None:
            self.state.set_model(handle, new_source)
            then()

        self.runner.submit(lambda: read_for_model(source, handle), loaded, self._data_failed,
                           f"Reading the images at {handle.image_format.describe()}…", key="data")

    def _model_loaded(self, loaded, notice: str = "") -> None:
        self._with_model_data(loaded, lambda: self._model_in_use(loaded, notice))

    def _model_opened(self, loaded, notice: str = "") -> None:
        """Use a model the user opened; one trained on an image folder comes with that
        folder (the data it records), unless the folder is gone: then the data in use stays."""
        from siamese_gui.core.app.session import load_model_data, recorded_folders_to_open

        recorded = recorded_folders_to_open(self.state.source, loaded.metadata)
        if recorded is None or (self.panels_built and self.train_panel.is_training):
            self._with_model_data(loaded, lambda: self._model_in_use(loaded, notice))
            return

        def with_recorded(source) -> None:
            self.state.set_model(loaded, source)
            self._remember_data(source)
            self._model_in_use(loaded, notice or f"Model {loaded.path.name} loaded with the folder it "
                                                 f"was trained on, {recorded[0]}")

        def without(exc: BaseException) -> None:
            self._with_model_data(loaded, lambda: self._model_in_use(
                loaded, f"Model {loaded.path.name} loaded; {error_text(exc)}"))

        self.runner.submit(lambda: load_model_data([loaded.metadata]), with_recorded, without,
                           f"Loading {recorded[0]}, the folder {loaded.path.name} was trained on…", key="data")

    def _model_in_use(self, loaded, notice: str = "") -> None:
        self.show_status(notice or f"Model {loaded.path.name} loaded")
        self._remember_model(loaded.path)
        if loaded.warnings:
            show_error(self, "Model loaded with warnings", "\n".join(loaded.warnings))

    def _model_failed(self, exc: BaseException) -> None:
        show_error(self, "Cannot open the model", error_text(exc))

    def use_trained_model(self, outcome) -> None:
        """Use a freshly trained model (a `core.app.training_run.TrainingRun`) in every panel."""
        handle = outcome.handle
        self._with_model_data(handle, lambda: self._trained_in_use(outcome))

    def _trained_in_use(self, outcome) -> None:
        if outcome.class_names != getattr(self.state.test_data, "class_names", outcome.class_names):
            self.show_status("The new model was trained on other classes than the current data")
        else:
            self.show_status("Using the newly trained model")

    def save_shown_model(self) -> None:
        """File › Save model as…: on the Train tab, the model its Result shows (a run not
        in use yet, stopped or completed); elsewhere the model in use."""
        shown = None
        if self.panels_built and self.tabs.currentWidget() is self.train_panel:
            shown = self.train_panel.result_model()
        self.save_model_as(shown)

    def save_model_as(
        self,
        loaded=None,
        path: str | Path | None = None,
        suggestion: str | None = None,
    ) -> None:
        """Save a model (the current one when None) with its threshold, in the background.

        The current model is saved with the threshold in use (value, origin, detail) and
        the figures at it (`core.app.model_files.save_with_threshold`); another model
        with its own.

        Args:
            loaded: the `ModelHandle` to save; the current model when None.
            path: where to save; asks with a dialog when None.
            suggestion: the file the dialog proposes.
        """
        from siamese_gui.core.runtime.handle import is_inside_package

        loaded = loaded if loaded is not None else self.state.model
        if loaded is None:
            show_error(self, "No model", "There is no model to save yet.")
            return
        if path is None:
            if suggestion is None:
                writable = getattr(loaded, "path", None) and not loaded.read_only
                suggestion = str(loaded.path) if writable else in_folder("models", "model.keras")
            path, _ = QFileDialog.getSaveFileName(self, "Save model as", suggestion, MODEL_FILTER)
            if not path:
                return
            remember_folder("models", path)
        path = Path(path)
        if path.suffix == "":
            path = path.with_suffix(".keras")
        if is_inside_package(path):
            show_error(self, "Cannot save the model",
                       f"{path}: this is the shipped model's folder, which the app never writes; "
                       "choose another folder")
            return
        current = loaded is self.state.model
        threshold = self.state.threshold if current else loaded.threshold
        splits = self.state.splits
        validation = splits.validation if current and splits is not None else None

        def saved(outcome: tuple[Path, dict]) -> None:
            written, metadata = outcome
            loaded.metadata = metadata
            if self.panels_built:
                self.train_panel.model_saved(loaded, written)
            add_recent("models", written)
            self._rebuild_recent_menu()
            if loaded is self.state.model:
                self.state.model_saved(written)
            else:
                loaded.path = written
                loaded.read_only = False  # a copy outside the package is the user's own file
            self.show_status(f"Model saved to {written}")

        self.runner.submit(lambda: _save_model_task(loaded, path, threshold, validation),
                           saved,
                           lambda exc: show_error(self, "Cannot save the model", error_text(exc)),
                           f"Saving {path.name}…")

    def _model_changed(self) -> None:
        self._update_status()
        if self.state.model_path is not None:
            self._remember_model(self.state.model_path)

    # Remembered work -----------------------------------------------------------------

    def _remember_model(self, path: Path | None) -> None:
        """Reopen `path` at the next launch, and list it in File › Open recent."""
        from siamese_gui.core.runtime.handle import is_inside_package

        if path is None or self._closed:
            return
        shipped = is_inside_package(path)
        settings().setValue("session/model", "" if shipped else str(path))
        if not shipped and str(path) not in recent_files("models")[:1]:
            add_recent("models", path)
            self._rebuild_recent_menu()

    def _remember_data(self, source: DataSource) -> None:
        kind = source.kind
        if kind is DataKind.IMAGE_FOLDER and source.dataset is not None and source.dataset.root:
            root = str(source.dataset.root)
            settings().setValue("session/data", "folder:" + root)
            add_recent("datasets", root)
            self._rebuild_recent_menu()
        elif kind in (DataKind.FASHION_MNIST, DataKind.SAMPLES):
            settings().setValue("session/data", kind.name.lower())

    def _rebuild_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        models, datasets = recent_files("models"), recent_files("datasets")
        for title, paths, slot in (("Models", models, self.open_model),
                                   ("Datasets", datasets, self._open_recent_dataset)):
            if not paths:
                continue
            menu.addSection(title)
            for path in paths:
                action = menu.addAction(Path(path).name or path)
                action.setToolTip(path)
                action.setStatusTip(path)
                action.setData(path)
                action.triggered.connect(lambda _=False, path=path, slot=slot: slot(path))
        menu.addSeparator()
        clear = menu.addAction("&Clear recent")
        clear.setEnabled(bool(models or datasets))
        clear.triggered.connect(lambda _=False: (clear_recent(), self._rebuild_recent_menu()))

    def _open_recent_dataset(self, folder: str) -> None:
        self.build_panels()
        if self.train_panel.is_training:
            show_error(self, "Training in progress", "Stop the training run before changing the data.")
            return
        self.open_folder_dataset(folder)

    def set_theme(self, name: str) -> None:
        """Paint the app in theme `name` ("system", "light", "dark") and remember it."""
        theme.apply_theme(name)
        remember_theme(name)
        self.theme_actions[name].setChecked(True)

    def compare_runs(self, paths: list) -> None:
        """Compare training runs' model files in the Models panel."""
        self.build_panels()
        self.tabs.setCurrentWidget(self.models_panel)
        self.models_panel.compare_models(paths)

    def _restore_view(self) -> None:
        store = settings()
        state = store.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        title = store.value("window/panel", "", str)
        for index in range(self.tabs.count()):
            if title and self.tabs.tabText(index) == title:
                self.tabs.setCurrentIndex(index)

    def _restore_train_form(self) -> None:
        try:
            values = json.loads(settings().value("train/form", "", str) or "{}")
        except ValueError:
            values = {}
        if isinstance(values, dict):
            self.train_panel.restore_form(values)

    def _save_view(self) -> None:
        """Remember the window's size and place, the panel shown and the Train form."""
        store = settings()
        store.setValue("window/geometry", self.saveGeometry())
        store.setValue("window/state", self.saveState())
        store.setValue("window/panel", self.tabs.tabText(self.tabs.currentIndex()))
        if self.panels_built:
            store.setValue("train/form", json.dumps(self.train_panel.form_values()))
        store.sync()

    def refresh_evaluation(self) -> None:
        """Evaluate the current model on the held-out images again, in the worker."""
        self.state.refresh_evaluations()

    def _evaluation_failed(self, message: str) -> None:
        if not self._closed:
            show_error(self, "Cannot evaluate the model", message)

    # Actions -------------------------------------------------------------------------

    def open_pair_in_compare(self, index_a: int, index_b: int) -> None:
        """Show a dataset pair in the Compare panel and switch to it."""
        self.compare_panel.open_pair(index_a, index_b)
        self.tabs.setCurrentWidget(self.compare_panel)

    def open_images_in_compare(self, item_a, item_b) -> None:
        """Show two (image, label text) items in the Compare panel and switch to it."""
        self.compare_panel.show_images(item_a, item_b)
        self.tabs.setCurrentWidget(self.compare_panel)

    def _paste(self, pane) -> None:
        self.tabs.setCurrentWidget(self.compare_panel)
        pane.paste()

    def _random_pair(self, same: bool) -> None:
        self.tabs.setCurrentWidget(self.compare_panel)
        self.compare_panel.random_pair(same)

    def _shuffle_gallery(self) -> None:
        self.tabs.setCurrentWidget(self.gallery_panel)
        self.gallery_panel.shuffle()

    def _gallery_mode(self, mode: str) -> None:
        self.tabs.setCurrentWidget(self.gallery_panel)
        self.gallery_panel.set_mode(mode)

    def show_tab(self, index: int) -> None:
        """Switch to tab `index`, building the panels first if they are not yet."""
        self.build_panels()
        self.tabs.setCurrentIndex(index)

    def _start_training(self) -> None:
        self.build_panels()
        self.tabs.setCurrentWidget(self.train_panel)
        self.train_panel.start_training()

    def export_gallery(self, path: str | Path | None = None) -> bool:
        """Save the gallery's tiles as a PNG file."""
        if not self.gallery_panel.tiles:
            show_error(self, "Nothing to export", "The gallery is empty.")
            return False
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export gallery as PNG", in_folder("exports", "gallery.png"),
                                                  "PNG image (*.png)")
            if not path:
                return False
            remember_folder("exports", path)
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        if not self.gallery_panel.export_png(path):
            show_error(self, "Cannot export the gallery", f"{path}: cannot write the PNG file")
            return False
        self.show_status(f"Gallery exported to {path}")
        return True

    def show_about(self) -> None:
        AboutDialog(self).exec()

    def show_glossary(self) -> None:
        """Show the glossary beside the window (one, not modal: it can stay open)."""
        if self.glossary is None:
            self.glossary = GlossaryDialog(self)
        self.glossary.show()
        self.glossary.raise_()
        self.glossary.activateWindow()

    # Status --------------------------------------------------------------------------

    def show_status(self, message: str) -> None:
        """Show a short message in the status bar (for `STATUS_MS`; the status bar's own
        messages, such as menu tips, show over it meanwhile)."""
        self.message_label.setText(message)
        self._message_timer.start(STATUS_MS)

    def _show_busy(self, description: str) -> None:
        self.busy_label.setText(description)
        self.busy_bar.setVisible(bool(description))

    def _update_status(self, *_args) -> None:
        state = self.state
        self.model_label.setText(f"Model: {state.model_name}")
        self.model_label.setToolTip(str(state.model_path) if state.model_path else "")
        data = state.test_data
        if data is None:
            self.data_label.setText("Data: loading…")
            self.data_label.setToolTip("")
        else:
            kind = state.session.data_kind
            note = " — Fashion-MNIST not installed" if kind is DataKind.SAMPLES else ""
            self.data_label.setText(f"Data: {kind.value}, {len(data):,} held-out test images{note}")
            self.data_label.setToolTip(data.source)
        self.threshold_label.setText(f"Threshold: {state.threshold.value:.3f}")
        # Where it comes from in one plain sentence, then what a threshold is.
        self.threshold_label.setToolTip(f"<p>{escape(state.threshold.lead())}</p>{tooltip('Threshold')}")
        # Qt appends the application display name ("… — Siamese GUI") itself.
        self.setWindowTitle(state.model_name if state.model is not None else "")

    # Closing -------------------------------------------------------------------------

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self.panels_built and self.train_panel.is_training and not self._closed and not ask(
            self, "Quit while training?",
            "A training run is in progress. Stop it and quit? The weights of this run are lost.",
        ):
            event.ignore()
            return
        if not self._closed:
            self._save_view()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop training and background work and join their threads."""
        if self._closed:
            return
        self._closed = True
        if self.panels_built:
            self.train_panel.shutdown()
        self.runner.shutdown()
        self._collector.release()
