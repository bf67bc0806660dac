"""The training settings form, generated from the declarations in `core.config`."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QWidget,
)

from siamese_gui.core.app.glossary import tooltip
from siamese_gui.core.model.config import TrainingConfig, setting_name, settings

# Qt's spin boxes hold 32-bit ints.
_INT_MAX = 2**31 - 1


class SettingsForm:
    """One widget per declared training setting, with its range, step and help (its
    plain line, then the full one, from `core.app.glossary`, on the field and its label).

    Attributes:
        widgets: setting name -> its widget.
    """

    def __init__(self, form: QFormLayout, parent: QWidget | None = None):
        self.widgets: dict[str, QWidget] = {}
        defaults = TrainingConfig()
        for spec in settings():
            meta = spec.metadata
            widget = _make_widget(meta, parent)
            tip = tooltip(setting_name(spec), more=True)
            widget.setToolTip(tip)
            widget.setObjectName(spec.name)
            self.widgets[spec.name] = widget
            if meta["widget"] == "check":
                widget.setText(meta["label"])
                form.addRow("", widget)
            else:
                label = QLabel(meta["label"], parent)
                label.setBuddy(widget)
                label.setToolTip(tip)
                form.addRow(label, widget)
        self.set_config(defaults)

    def config(self) -> TrainingConfig:
        """The settings in the form.

        Raises:
            ConfigError: if the core rejects a value.
        """
        return TrainingConfig(**{name: _value(w) for name, w in self.widgets.items()})

    def set_config(self, config: TrainingConfig) -> None:
        """Fill the form from a config."""
        for name, widget in self.widgets.items():
            _set_value(widget, getattr(config, name))


def _make_widget(meta: dict, parent: QWidget | None) -> QWidget:
    kind = meta["widget"]
    if kind == "check":
        return QCheckBox(parent)
    if kind == "choice":
        combo = QComboBox(parent)
        for choice in meta["choices"]:
            combo.addItem(choice, choice)
        return combo
    if kind == "spin":
        spin = QSpinBox(parent)
        spin.setRange(int(meta["low"]), int(min(meta["high"], _INT_MAX)))
        if meta["step"]:
            spin.setSingleStep(int(meta["step"]))
        if meta.get("zero_text"):
            spin.setSpecialValueText(meta["zero_text"])  # shown in place of the lowest value, 0
        return spin
    spin = QDoubleSpinBox(parent)
    spin.setDecimals(meta["decimals"] or 4)
    if meta.get("zero_text"):
        spin.setSpecialValueText(meta["zero_text"])
    spin.setRange(float(meta["low"]), float(meta["high"]))
    if meta["step"]:
        spin.setSingleStep(float(meta["step"]))
    return spin


def _value(widget: QWidget):
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    if isinstance(widget, QComboBox):
        return widget.currentData()
    return widget.value()


def _set_value(widget: QWidget, value) -> None:
    if isinstance(widget, QCheckBox):
        widget.setChecked(bool(value))
    elif isinstance(widget, QComboBox):
        widget.setCurrentIndex(max(widget.findData(value), 0))
    else:
        widget.setValue(value)
