"""Matplotlib canvases: the live training loss and the threshold plots.

Lines are created once and updated with `set_data` + `draw_idle`; pyplot is never used.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QSizePolicy

from siamese_gui.gui import theme

SMOOTHING = 0.9
REDRAW_MS = 250
_ROLES = "_theme_roles"  # the attribute `set_roles` leaves on an artist


def set_roles(artists, **properties: str) -> None:
    """Colour `artists` from the theme at every draw, so a new palette recolours them.

    Args:
        artists: an artist, or a list or container of them (a histogram's patches).
        **properties: a colour property ("color", "facecolor", "edgecolor",
            "markeredgecolor") and the `theme.Colors` field it takes: "same",
            "threshold", ..., or "series:2" for the third colour of a tuple field.
    """
    items = artists if isinstance(artists, (list, tuple)) else [artists]
    for artist in items:
        if isinstance(artist, (list, tuple)):  # a container holds its patches
            set_roles(artist, **properties)
        else:
            setattr(artist, _ROLES, dict(properties))


def role_color(colors: theme.Colors, role: str) -> str:
    """The colour of a role name (a `theme.Colors` field, or "field:index" of a tuple one)."""
    field, _, index = role.partition(":")
    value = getattr(colors, field)
    return value[int(index) % len(value)] if index else value


def themed_legend(ax, **kwargs):
    """`ax.legend(**kwargs)` whose markers keep the colour roles of the artists they stand for."""
    handles = kwargs.pop("handles", None)
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
        kwargs.setdefault("labels", labels)
    legend = ax.legend(handles=handles, **kwargs)
    for original, drawn in zip(handles, legend.legend_handles):
        source = original[0] if isinstance(original, (list, tuple)) and len(original) else original
        roles = getattr(source, _ROLES, None)
        if roles and drawn is not None:
            setattr(drawn, _ROLES, dict(roles))
    return legend


def style_figure(figure, colors: theme.Colors) -> None:
    """Paint `figure` in `colors`: its backgrounds, text, ticks, spines, grid and legends
    from the palette, and every artist given roles by `set_roles` in their colours."""
    figure.set_facecolor(colors.window)
    for ax in figure.axes:
        ax.set_facecolor(colors.base)
        # Also kept for the ticks a later draw adds.
        ax.tick_params(which="both", color=colors.axis, labelcolor=colors.text, grid_color=colors.grid)
        for spine in ax.spines.values():
            spine.set_edgecolor(colors.axis)
        for label in (ax.title, ax.xaxis.label, ax.yaxis.label):
            label.set_color(colors.text)
        for text in ax.texts:
            text.set_color(colors.text)
        legend = ax.get_legend()
        if legend is not None:
            for text in legend.get_texts():
                text.set_color(colors.text)
            legend.get_frame().set_facecolor(colors.base)
            legend.get_frame().set_edgecolor(colors.frame)
    for artist in figure.findobj(lambda a: _ROLES in vars(a)):
        for prop, role in getattr(artist, _ROLES).items():
            getattr(artist, f"set_{prop}")(role_color(colors, role))


def style_axes(ax) -> None:
    """A grid behind the data and no top or right spine (colours: `style_figure`)."""
    ax.grid(True, linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


class DeferredCanvas(FigureCanvasQTAgg):
    """A matplotlib canvas that is drawn only while visible: on a hidden tab, changes
    wait until it is shown (so building the window draws nothing).

    Each draw paints the figure in the theme's colours (`style_figure`), and a palette
    change draws it again.
    """

    def __init__(self, width: float, height: float, layout: str | None = "constrained"):
        super().__init__(Figure(figsize=(width, height), dpi=100, layout=layout))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(260, 200)
        self._hidden_changes = False
        style_figure(self.figure, theme.colors())
        theme.on_change(self.draw_idle)

    def draw(self) -> None:
        style_figure(self.figure, theme.colors())
        super().draw()

    def draw_idle(self) -> None:
        # A canvas on a hidden tab is drawn once it is shown, not on every change.
        if self.isVisible():
            super().draw_idle()
        else:
            self._hidden_changes = True

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._hidden_changes:
            self._hidden_changes = False
            super().draw_idle()


class LossPlot(DeferredCanvas):
    """Live training loss: raw and smoothed batch loss, train and validation loss per round.

    Batches arrive many times a second; the canvas redraws at most every `REDRAW_MS`,
    with fixed pixel margins instead of a layout engine, so a redraw during training
    takes the GUI thread as briefly as possible.
    """

    MARGINS_PX = (80, 14, 12, 48)  # left, right, top, bottom (room for 4-digit tick labels)

    def __init__(self):
        super().__init__(6.0, 3.6, layout=None)
        self.ax = self.figure.add_subplot()
        # The loss plot has nothing to do with verdicts, so it keeps clear of their colours.
        (self.batch_line,) = self.ax.plot([], [], linewidth=0.8, label="batch loss")
        (self.smooth_line,) = self.ax.plot([], [], linewidth=2.0, label="batch loss (smoothed)")
        (self.train_line,) = self.ax.plot(
            [], [], "o-", linewidth=1.5, markersize=6, label="train loss (each pass)"
        )
        (self.val_line,) = self.ax.plot(
            [], [], "s--", linewidth=1.5, markersize=6, label="validation loss (each pass)"
        )
        self.marker = self.ax.axvline(0.0, linestyle=":", linewidth=1.5, visible=False, label="_marker")
        set_roles(self.batch_line, color="faint_line")
        set_roles(self.smooth_line, color="strong_line")
        set_roles(self.train_line, color="train_loss")
        set_roles(self.val_line, color="val_loss")
        set_roles(self.marker, color="faint_mark")
        self.ax.set_xlabel("epoch")
        self.ax.set_ylabel("contrastive loss")
        self.empty_text = self.ax.text(0.5, 0.5, "Start a training run to see its loss here", ha="center",
                                       va="center", fontsize=10, transform=self.ax.transAxes)
        set_roles(self.empty_text, color="muted")
        style_axes(self.ax)
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self.flush)
        self.reset()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        width, height = max(event.size().width(), 100), max(event.size().height(), 100)
        left, right, top, bottom = self.MARGINS_PX
        self.figure.subplots_adjust(left=left / width, right=1 - right / width,
                                    top=1 - top / height, bottom=bottom / height)
        super().resizeEvent(event)

    def mark(self, x: float, label: str) -> None:
        """Mark a moment of the run with a dotted vertical line at `x` (in the run's unit)."""
        self.marker.set_xdata([x, x])
        self.marker.set_label(label)
        self.marker.set_visible(True)
        themed_legend(self.ax, loc="upper right", fontsize=8, frameon=False)  # replaces the old one
        self.draw_idle()

    def reset(self) -> None:
        """Forget every point (a new run starts)."""
        self.marker.set_visible(False)
        self.marker.set_label("_marker")
        legend = self.ax.get_legend()
        if legend is not None:
            legend.remove()
        self.batch_x: list[float] = []
        self.batch_y: list[float] = []
        self.smooth_y: list[float] = []
        self.epoch_x: list[float] = []
        self.train_y: list[float] = []
        self.val_y: list[float] = []
        self._ema = 0.0
        self._weight = 0.0
        self._dirty = True
        self.empty_text.set_visible(True)
        self.flush()

    def set_unit(self, unit: str) -> None:
        """Label the x-axis with the run's unit ("epoch" or "optimiser step")."""
        self.ax.set_xlabel(unit)

    def add_batch(self, x: float, loss: float) -> None:
        """Add one batch's loss at `x` (in the run's unit: fractional epochs or steps)."""
        if not np.isfinite(loss):
            return
        self.batch_x.append(x)
        self.batch_y.append(loss)
        # Bias-corrected exponential moving average, so the first points are not pulled to 0.
        self._ema = SMOOTHING * self._ema + (1 - SMOOTHING) * loss
        self._weight = SMOOTHING * self._weight + (1 - SMOOTHING)
        self.smooth_y.append(self._ema / self._weight)
        self._mark_dirty()

    def add_epoch(self, x: float, loss: float, val_loss: float | None) -> None:
        """Add the train (and validation) loss of a round (an epoch, or the steps between
        two progress points) at its end, `x`."""
        self.epoch_x.append(x)
        self.train_y.append(loss)
        self.val_y.append(np.nan if val_loss is None else val_loss)
        self._mark_dirty()

    def _mark_dirty(self) -> None:
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    @property
    def point_count(self) -> int:
        """How many batch and epoch points the plot holds."""
        return len(self.batch_x) + len(self.epoch_x)

    def flush(self) -> None:
        """Push pending points into the lines and schedule a redraw."""
        if not self._dirty:
            self._timer.stop()
            return
        self._dirty = False
        self.batch_line.set_data(self.batch_x, self.batch_y)
        self.smooth_line.set_data(self.batch_x, self.smooth_y)
        self.train_line.set_data(self.epoch_x, self.train_y)
        self.val_line.set_data(self.epoch_x, self.val_y)
        if self.point_count:
            self.empty_text.set_visible(False)
            xs = self.batch_x + self.epoch_x
            ys = [y for y in self.batch_y + self.train_y + self.val_y if np.isfinite(y)]
            self.ax.set_xlim(0, max(1.0, max(xs)) * 1.02)
            if ys:
                low, high = min(ys), max(ys)
                pad = (high - low) * 0.08 or 0.05
                self.ax.set_ylim(max(0.0, low - pad), high + pad)
            if self.ax.get_legend() is None:
                themed_legend(self.ax, loc="upper right", fontsize=8, frameon=False)
        else:
            self.ax.set_xlim(0, 1)
            self.ax.set_ylim(0, 1)
        self.draw_idle()


class ThresholdPlots(DeferredCanvas):
    """Distance histograms (same vs different) and the ROC curve, both with the threshold."""

    def __init__(self):
        super().__init__(8.0, 3.4)
        self.hist_ax, self.roc_ax = self.figure.subplots(1, 2, width_ratios=[1.35, 1])
        self.threshold_line = None
        self.roc_line = None
        self.operating_point = None
        self.clear()

    def clear(self, message: str = "No evaluation yet: load a model and data") -> None:
        """Show an empty state with `message`."""
        for ax in (self.hist_ax, self.roc_ax):
            ax.clear()
            style_axes(ax)
        self.hist_ax.set_title("Distances of held-out test pairs", fontsize=10)
        set_roles(self.hist_ax.text(0.5, 0.5, message, ha="center", va="center",
                                    transform=self.hist_ax.transAxes, fontsize=9), color="muted")
        self.roc_ax.set_title("ROC", fontsize=10)
        self.threshold_line = self.roc_line = self.operating_point = None
        self.draw_idle()

    def set_evaluation(self, distances, same, roc, eer_point=None, threshold: float = 0.5) -> None:
        """Draw the histograms and the ROC curve of one evaluation.

        Args:
            distances: pair distances.
            same: bool per pair.
            roc: (far, tar, thresholds) from `core.evaluation.roc_curve`.
            eer_point: (far, tar) at the equal error rate, marked on the ROC curve.
            threshold: where to draw the threshold first.
        """
        distances = np.asarray(distances)
        same = np.asarray(same, bool)
        for ax in (self.hist_ax, self.roc_ax):
            ax.clear()
            style_axes(ax)
        upper = max(float(np.quantile(distances, 0.999)) if len(distances) else 1.0, threshold) * 1.05
        bins = np.linspace(0, max(upper, 1e-3), 50)
        *_, same_bars = self.hist_ax.hist(distances[same], bins=bins, alpha=0.6,
                                          label=f"same class ({int(same.sum()):,})")
        *_, different_bars = self.hist_ax.hist(distances[~same], bins=bins, alpha=0.6,
                                               label=f"different class ({int((~same).sum()):,})")
        set_roles(same_bars, facecolor="same_fill")
        set_roles(different_bars, facecolor="different_fill")
        self.threshold_line = self.hist_ax.axvline(threshold, linewidth=2, label="threshold")
        set_roles(self.threshold_line, color="threshold")
        self.hist_ax.set_xlim(0, bins[-1])
        self.hist_ax.set_xlabel("distance (same if below the threshold)")
        self.hist_ax.set_ylabel("pairs")
        self.hist_ax.set_title("Distances of held-out test pairs", fontsize=10)
        themed_legend(self.hist_ax, fontsize=8, frameon=False)

        far, tar, _ = roc
        set_roles(self.roc_ax.plot([0, 1], [0, 1], linewidth=1, linestyle=":"), color="diagonal")
        (self.roc_line,) = self.roc_ax.plot(far, tar, linewidth=2, label="ROC")
        set_roles(self.roc_line, color="strong_line")
        if eer_point is not None:
            set_roles(self.roc_ax.plot([eer_point[0]], [eer_point[1]], "o", markersize=5,
                                       label="equal error rate"), color="faint_mark")
        (self.operating_point,) = self.roc_ax.plot([], [], "o", markersize=9, label="threshold")
        set_roles(self.operating_point, color="threshold")
        self.roc_ax.set_xlim(-0.01, 1.0)
        self.roc_ax.set_ylim(0.0, 1.01)
        self.roc_ax.set_xlabel("false accept rate (FAR)")
        self.roc_ax.set_ylabel("true accept rate (1 − FRR)")
        self.roc_ax.set_title("ROC", fontsize=10)
        themed_legend(self.roc_ax, loc="lower right", fontsize=8, frameon=False)
        self.draw_idle()

    def set_threshold(self, threshold: float, far: float, tar: float) -> None:
        """Move the threshold line and the ROC operating point."""
        if self.threshold_line is None:
            return
        self.threshold_line.set_xdata([threshold, threshold])
        low, high = self.hist_ax.get_xlim()
        if threshold > high:
            self.hist_ax.set_xlim(low, threshold * 1.05)
        self.operating_point.set_data([far], [tar])
        self.draw_idle()
