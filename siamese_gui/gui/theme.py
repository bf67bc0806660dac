"""Every colour the app paints, derived from the application's palette.

Style sheets, rich text and figures take their colours from `colors()`, computed from
`QApplication.palette()`: text and backgrounds are the palette's own roles; the verdict,
right/wrong and notice colours keep their hue but are darkened (light palette) or
lightened (dark palette) until they stand out from Base and Window by at least
`TEXT_CONTRAST` (WCAG's 4.5:1 for body text). When the palette changes, widgets styled
through `set_style` are styled again, labels' rich text takes the new colours, and
whoever listens to `on_change` draws again: a theme switch at run time repaints the
whole app.

`apply_theme` picks the palette: the system's, or light or dark on request (through the
platform where it can follow, else Fusion's colours in an explicit palette).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from siamese_gui.gui import THEMES

TEXT_CONTRAST = 4.5  # WCAG 2 AA, body text
GRAPHIC_CONTRAST = 3.0  # WCAG 2 AA, lines and marks that carry meaning

# The hue of each meaning (the colours the app had on white). A verdict (what the model
# says) is blue or orange; whether it was right (against the dataset labels) is green or
# red. Blue/orange stays apart with red-green colour blindness.
_SAME_HUE = "#1a73e8"
_DIFFERENT_HUE = "#e8710a"
_RIGHT_HUE = "#1e8e3e"
_WRONG_HUE = "#d93025"
_NOTICE_HUE = "#8a5a00"
# The loss curves keep clear of the verdict hues.
_TRAIN_LOSS_HUE = "#7b1fa2"
_VAL_LOSS_HUE = "#00838f"
# One line per model, one colour per class on the map (matplotlib's tab10 and tab20).
_SERIES_HUES = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
_TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_TAB20 = ("#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896",
          "#9467bd", "#c5b0d5", "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#c7c7c7",
          "#bcbd22", "#dbdb8d", "#17becf", "#9edae5")
# The model's 28x28 input is light on black whatever the theme: shown as it is seen.
_MODEL_INPUT_BACKGROUND = "#000000"


# Colour arithmetic ---------------------------------------------------------------------

def luminance(color: QColor | str) -> float:
    """WCAG 2 relative luminance of `color` (0 black .. 1 white)."""
    color = QColor(color)

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(color.redF()) + 0.7152 * linear(color.greenF()) + 0.0722 * linear(color.blueF())


def contrast(a: QColor | str, b: QColor | str) -> float:
    """WCAG 2 contrast ratio of two colours, 1 (alike) to 21 (black on white)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def mix(a: QColor | str, b: QColor | str, share_of_b: float) -> QColor:
    """`a` moved `share_of_b` (0..1) of the way to `b`, channel by channel."""
    a, b = QColor(a), QColor(b)
    t = min(max(share_of_b, 0.0), 1.0)
    return QColor.fromRgbF(a.redF() + (b.redF() - a.redF()) * t, a.greenF() + (b.greenF() - a.greenF()) * t,
                           a.blueF() + (b.blueF() - a.blueF()) * t)


def is_dark(palette: QPalette) -> bool:
    """Whether `palette` draws light text on dark windows."""
    return luminance(palette.color(QPalette.ColorRole.Window)) < luminance(
        palette.color(QPalette.ColorRole.WindowText))


def readable(color: QColor | str, backgrounds: list[QColor], ratio: float = TEXT_CONTRAST) -> QColor:
    """`color`, darkened on light backgrounds or lightened on dark ones, just enough to
    stand out from every one of `backgrounds` by `ratio` (as far as black or white can:
    a ratio out of reach gives black or white).

    Mixing in black or white keeps the hue; the smallest share that reaches the ratio
    is found by bisection (contrast grows with the share).
    """
    color = QColor(color)
    darkest = min(luminance(b) for b in backgrounds)
    lightest = max(luminance(b) for b in backgrounds)
    # Towards black when black stands out more from the lightest background than white
    # from the darkest; backgrounds of both kinds at once get the better of the two.
    toward = QColor("#000000") if (lightest + 0.05) / 0.05 >= 1.05 / (darkest + 0.05) else QColor("#ffffff")

    def enough(candidate: QColor) -> bool:
        candidate = QColor(candidate.name())  # as named: 8 bits a channel
        return all(contrast(candidate, b) >= ratio for b in backgrounds)

    if enough(color):
        return color
    low, high = 0.0, 1.0
    for _ in range(20):
        middle = (low + high) / 2
        if enough(mix(color, toward, middle)):
            high = middle
        else:
            low = middle
    return QColor(mix(color, toward, high).name())


# The colours -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Colors:
    """The app's colours for one palette, as "#rrggbb" names (for style sheets, rich text
    and matplotlib alike).

    Attributes:
        window, text, base: the palette's Window, WindowText and Base.
        muted: secondary text (captions, hints), faded towards Window but readable.
        same, different: the verdicts; readable on Base and Window.
        same_fill, different_fill: the verdicts' hues in figures (histogram bars), which
            need only graphic contrast on Base.
        right, wrong: a verdict against the labels; readable on Base and Window.
        notice: a warning line; readable on Base and Window.
        on_verdict: text on a verdict-coloured badge (readable on `same` and `different`).
        frame: frames and borders (the palette's Mid).
        pane: an image pane's background (Base).
        drop_zone: the empty image view inside a pane, a shade off Base.
        drop_border: its dashed border.
        gallery: the gallery grid behind its tiles.
        tile: a gallery tile.
        model_input: behind the model's 28x28 input (black, as the model sees it).
        grid, axis, diagonal: a figure's grid lines, spines and ROC chance line.
        threshold: the threshold line and operating point in figures.
        strong_line: the smoothed loss and the ROC curve.
        faint_line: the raw batch loss.
        faint_mark: the equal-error-rate point.
        train_loss, val_loss: the loss per pass.
        series: one colour per model in the Models panel (its lines and its name).
        classes10, classes20: one colour per class on the map (up to 10, up to 20).
        dark: whether the palette is dark.
    """

    window: str
    text: str
    base: str
    muted: str
    same: str
    different: str
    same_fill: str
    different_fill: str
    right: str
    wrong: str
    notice: str
    on_verdict: str
    frame: str
    pane: str
    drop_zone: str
    drop_border: str
    gallery: str
    tile: str
    model_input: str
    grid: str
    axis: str
    diagonal: str
    threshold: str
    strong_line: str
    faint_line: str
    faint_mark: str
    train_loss: str
    val_loss: str
    series: tuple[str, ...]
    classes10: tuple[str, ...]
    classes20: tuple[str, ...]
    dark: bool

    def names(self) -> set[str]:
        """Every colour held, as lower-case "#rrggbb"."""
        found: set[str] = set()
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, str):
                found.add(value.lower())
            elif isinstance(value, tuple):
                found.update(v.lower() for v in value)
        return found

    def verdict(self, same: bool) -> str:
        """The colour of a "same" (True) or "different" (False) verdict."""
        return self.same if same else self.different


def colors_for(palette: QPalette) -> Colors:
    """The app's colours derived from `palette` (see `Colors`)."""
    role = QPalette.ColorRole
    window = palette.color(role.Window)
    text = palette.color(role.WindowText)
    base = palette.color(role.Base)
    backgrounds = [window, base]

    def name(color: QColor | str) -> str:
        return QColor(color).name()

    def text_color(hue: str) -> str:
        return name(readable(hue, backgrounds))

    def line_color(hue: str) -> str:
        return name(readable(hue, [base], GRAPHIC_CONTRAST))

    same, different = text_color(_SAME_HUE), text_color(_DIFFERENT_HUE)
    # Base stands out from both verdict colours by construction (they were made readable on it).
    on_verdict = name(base)
    drop_zone = mix(base, text, 0.04)
    return Colors(
        window=name(window),
        text=name(text),
        base=name(base),
        muted=name(readable(mix(text, window, 0.45), backgrounds)),
        same=same,
        different=different,
        same_fill=line_color(_SAME_HUE),
        different_fill=line_color(_DIFFERENT_HUE),
        right=text_color(_RIGHT_HUE),
        wrong=text_color(_WRONG_HUE),
        notice=text_color(_NOTICE_HUE),
        on_verdict=on_verdict,
        frame=name(palette.color(role.Mid)),
        pane=name(base),
        drop_zone=name(drop_zone),
        drop_border=name(mix(text, base, 0.65)),
        gallery=name(mix(window, text, 0.03)),
        tile=name(base),
        model_input=_MODEL_INPUT_BACKGROUND,
        grid=name(mix(base, text, 0.12)),
        axis=name(mix(base, text, 0.55)),
        diagonal=name(mix(base, text, 0.3)),
        threshold=name(text),
        strong_line=name(mix(text, base, 0.15)),
        faint_line=name(mix(base, text, 0.35)),
        faint_mark=name(mix(base, text, 0.5)),
        train_loss=line_color(_TRAIN_LOSS_HUE),
        val_loss=line_color(_VAL_LOSS_HUE),
        # Also the models' names in the Models panel's table: text contrast.
        series=tuple(text_color(c) for c in _SERIES_HUES),
        # Map points are many and small: distinct hues first, so only lifted off a dark
        # Base far enough to be seen, not to text contrast.
        classes10=tuple(name(readable(c, [base], 2.0)) for c in _TAB10),
        classes20=tuple(name(readable(c, [base], 2.0)) for c in _TAB20),
        dark=is_dark(palette),
    )


class ThemeColor:
    """One of `Colors`' fields by name, which formats as its value for the palette now
    (`f"color: {MUTED}"`), for rich text written when it is shown.

    Args:
        field: a `Colors` field holding one colour ("muted", "same", ...).
    """

    __slots__ = ("field",)

    def __init__(self, field: str):
        self.field = field

    def __str__(self) -> str:
        return getattr(colors(), self.field)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __repr__(self) -> str:
        return f"ThemeColor({self.field!r})"


_cache: dict[int, Colors] = {}


def colors() -> Colors:
    """The app's colours for the application's palette now."""
    app = QApplication.instance()
    palette = app.palette() if app is not None else QPalette()
    key = palette.cacheKey()
    if key not in _cache:
        if len(_cache) > 8:
            _cache.clear()
        _cache[key] = colors_for(palette)
    return _cache[key]


# Following palette changes ---------------------------------------------------------------

class ThemeWatcher(QWidget):
    """A hidden widget that says when the application's palette changed (a theme switch,
    the system going dark): every widget, shown or not, is sent ApplicationPaletteChange.

    Before saying so, it recolours rich text: every label whose text holds colours of
    the old palette's `Colors` (written through `ThemeColor` or `colors()`) gets the new
    palette's colour for the same meaning, so text written once follows the theme.

    Signals:
        changed: the palette changed; `colors()` already holds the new colours.
    """

    changed = Signal()

    def __init__(self):
        super().__init__()
        self.setObjectName("themeWatcher")
        self.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
        self._shown = colors()

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ApplicationPaletteChange:
            old, self._shown = self._shown, colors()
            if old != self._shown:
                recolor_rich_text(old, self._shown)
            self.changed.emit()
        return super().event(event)


# The fields rich text is written in, in the order a colour shared by two is read.
_TEXT_FIELDS = ("muted", "same", "different", "right", "wrong", "notice", "on_verdict", "text")
# A colour in a style attribute ("<span style='color:#6c6c6c'>"), not in the words (a file
# named "#000000.png" stays as it is).
_STYLE_COLOR = re.compile(r"((?:color|background(?:-color)?)\s*:\s*)(#[0-9a-fA-F]{6})\b", re.IGNORECASE)


def recolor_rich_text(old: Colors, new: Colors) -> None:
    """Give every label's rich text `new`'s colour wherever it holds `old`'s for the same
    meaning (`_TEXT_FIELDS`)."""
    mapping: dict[str, str] = {}
    for field in _TEXT_FIELDS:
        mapping.setdefault(getattr(old, field).lower(), getattr(new, field))

    def swap(match: re.Match) -> str:
        return match.group(1) + mapping.get(match.group(2).lower(), match.group(2))

    for widget in QApplication.allWidgets():
        if isinstance(widget, QLabel) and "#" in (text := widget.text()):
            changed = _STYLE_COLOR.sub(swap, text)
            if changed != text:
                widget.setText(changed)


_watcher: ThemeWatcher | None = None


def watcher() -> ThemeWatcher:
    """The one ThemeWatcher (made on first use; needs the QApplication)."""
    global _watcher
    if _watcher is None:
        _watcher = ThemeWatcher()
    return _watcher


class _Restyler(QObject):
    """A widget's style-sheet maker, run again on each palette change. A child of the
    widget, so its connection ends with the widget."""

    def __init__(self, widget: QWidget, make: Callable[[Colors], str]):
        super().__init__(widget)
        self.setObjectName("themeRestyler")
        self.widget = widget
        self.make = make
        watcher().changed.connect(self.apply)

    def apply(self) -> None:
        self.widget.setStyleSheet(self.make(colors()))


def set_style(widget: QWidget, make: Callable[[Colors], str]) -> None:
    """Give `widget` the style sheet `make(colors())`, made again whenever the palette
    changes (a later call replaces `make`)."""
    restyler = widget.findChild(_Restyler, "themeRestyler", Qt.FindChildOption.FindDirectChildrenOnly)
    if restyler is None:
        restyler = _Restyler(widget, make)
    restyler.make = make
    restyler.apply()


def on_change(slot: Callable[[], object]) -> None:
    """Call `slot`, a method of a QObject, whenever the palette changes; the connection
    ends with that object."""
    watcher().changed.connect(slot)


# Choosing the palette ----------------------------------------------------------------------

def dark_palette() -> QPalette:
    """Fusion's colours for a dark theme, used where the platform gives no dark palette."""
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    palette = QPalette()
    for r, value in (
        (role.Window, "#2b2b2b"), (role.WindowText, "#e8e8e8"), (role.Base, "#1e1e1e"),
        (role.AlternateBase, "#262626"), (role.ToolTipBase, "#3a3a3a"), (role.ToolTipText, "#f0f0f0"),
        (role.PlaceholderText, "#9a9a9a"), (role.Text, "#e8e8e8"), (role.Button, "#353535"),
        (role.ButtonText, "#e8e8e8"), (role.BrightText, "#ff7a7a"), (role.Light, "#4a4a4a"),
        (role.Midlight, "#3e3e3e"), (role.Mid, "#5c5c5c"), (role.Dark, "#1a1a1a"), (role.Shadow, "#0a0a0a"),
        (role.Highlight, "#3d7fd6"), (role.HighlightedText, "#ffffff"), (role.Link, "#7ab7ff"),
        (role.LinkVisited, "#c3a6ff"),
    ):
        palette.setColor(r, QColor(value))
    for r in (role.WindowText, role.Text, role.ButtonText):
        palette.setColor(group.Disabled, r, QColor("#7c7c7c"))
    palette.setColor(group.Disabled, role.Highlight, QColor("#4a4a4a"))
    palette.setColor(group.Disabled, role.HighlightedText, QColor("#b0b0b0"))
    return palette


def light_palette() -> QPalette:
    """The style's own light palette (Fusion's grey and white)."""
    app = QApplication.instance()
    palette = app.style().standardPalette()
    return palette if not is_dark(palette) else QPalette(QColor("#efefef"))


_theme = "system"
_applying = False
# Application properties: whether the palette is one set here; whether scheme changes are followed.
_OWN_PALETTE = "siameseOwnPalette"
_HOOKED = "siameseThemeHooked"


def current_theme() -> str:
    """The theme asked for last: "system", "light" or "dark"."""
    return _theme


def apply_theme(theme: str) -> None:
    """Paint the app in `theme`: "system" (the desktop's choice, followed when it changes),
    "light" or "dark".

    The platform is asked first (Qt 6.8's QStyleHints.setColorScheme: GNOME, KDE,
    Windows and macOS follow it); where it gives no palette of that kind (X11 without a
    desktop, the offscreen platform), an explicit Fusion palette is set.
    """
    global _theme, _applying
    if theme not in THEMES:
        raise ValueError(f"unknown theme {theme!r}: one of {', '.join(THEMES)}")
    app = QApplication.instance()
    _hook_system_changes(app)
    _theme = theme
    _applying = True
    try:
        _apply(app, theme)
    finally:
        _applying = False


def _apply(app: QApplication, theme: str) -> None:
    """Ask the platform for `theme`'s colour scheme; set a palette where it gives none."""
    if app.property(_OWN_PALETTE):
        # The palette set before hides the platform's: take the platform's back first.
        app.setProperty(_OWN_PALETTE, False)
        app.setPalette(QPalette())
    hints = app.styleHints()
    if hasattr(hints, "setColorScheme"):
        if theme == "system":
            hints.unsetColorScheme()
        else:
            hints.setColorScheme(Qt.ColorScheme.Dark if theme == "dark" else Qt.ColorScheme.Light)
    want_dark = theme == "dark" or (theme == "system" and hints.colorScheme() == Qt.ColorScheme.Dark)
    if is_dark(app.palette()) != want_dark:  # the platform could not follow
        app.setProperty(_OWN_PALETTE, True)
        app.setPalette(dark_palette() if want_dark else light_palette())


def _hook_system_changes(app: QApplication) -> None:
    """Follow the desktop's light/dark switch while the theme is "system" (hooked once)."""
    if app.property(_HOOKED):
        return
    app.setProperty(_HOOKED, True)
    app.styleHints().colorSchemeChanged.connect(_system_scheme_changed)


def _system_scheme_changed(_scheme) -> None:
    # Not while a theme is being applied: unsetColorScheme itself may say the scheme changed.
    if _theme == "system" and not _applying:
        apply_theme("system")
