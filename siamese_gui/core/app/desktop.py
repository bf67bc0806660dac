"""The app's place on a Linux desktop: its menu entry, AppStream metadata and icons.

The files ship in `resources/` (and so in the wheel); `install_desktop_files` copies them
into the user's XDG data folder (`$XDG_DATA_HOME`, else `~/.local/share`), where menus,
docks and software centres look, and `uninstall_desktop_files` removes them again.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from siamese_gui.core.errors import SiameseError
from siamese_gui.core.io.locations import resource_path
from siamese_gui.core.io.safe_files import write_atomically

# One name for the desktop file, the icon, the X11 window class and the name Qt gives
# the window (`setDesktopFileName`): a dock matches the running window to its entry by it.
DESKTOP_ID = "siamese-gui"
# AppStream wants a reverse-DNS id; its launchable names the desktop file above.
APPSTREAM_ID = "io.github.siamese_gui.SiameseGui"
# The gui-script (pyproject.toml): on Windows it opens no console window.
LAUNCHER = "siamese-gui-app"
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
# Characters that make an Exec argument need quotes (Desktop Entry spec, "The Exec key").
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


class DesktopInstallError(SiameseError):
    """A desktop file could not be written or removed."""


@dataclass(frozen=True)
class DesktopFile:
    """One shipped file and where it goes under the XDG data folder."""

    source: Path
    target: Path  # relative to the data folder


def desktop_files() -> list[DesktopFile]:
    """The desktop entry, the AppStream metadata and the icons, as shipped."""
    desktop = resource_path("desktop")
    hicolor = resource_path("icons", "hicolor")
    files = [
        DesktopFile(desktop / f"{DESKTOP_ID}.desktop", Path("applications", f"{DESKTOP_ID}.desktop")),
        DesktopFile(desktop / f"{APPSTREAM_ID}.metainfo.xml", Path("metainfo", f"{APPSTREAM_ID}.metainfo.xml")),
    ]
    for folder in [f"{size}x{size}" for size in ICON_SIZES] + ["scalable"]:
        name = f"{DESKTOP_ID}.svg" if folder == "scalable" else f"{DESKTOP_ID}.png"
        relative = Path(folder, "apps", name)
        files.append(DesktopFile(hicolor / relative, Path("icons", "hicolor") / relative))
    return files


def data_home(environ=None) -> Path:
    """The user's XDG data folder: `$XDG_DATA_HOME` when set to an absolute path (the
    spec says to ignore a relative one), else `~/.local/share`."""
    environ = os.environ if environ is None else environ
    value = environ.get("XDG_DATA_HOME", "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path(os.path.expanduser("~")) / ".local" / "share"


def launch_command() -> list[str]:
    """How the menu entry starts the app: the installed launcher by its full path (a menu
    does not see a virtual environment's PATH), else this Python running the package."""
    beside = Path(sys.executable).parent / LAUNCHER
    found = str(beside) if beside.is_file() and os.access(beside, os.X_OK) else shutil.which(LAUNCHER)
    if found:
        return [os.path.abspath(found)]
    return [os.path.abspath(sys.executable), "-m", "siamese_gui", "gui"]


def exec_value(command: list[str]) -> str:
    """`command` as the value of a desktop entry's Exec key.

    An argument with a reserved character is quoted, with `"`, `` ` ``, `$` and `\\`
    escaped inside the quotes; then the whole value is escaped as a desktop-entry string
    (`\\` doubled) and `%` doubled, as Exec asks.
    """
    quoted = []
    for argument in command:
        if argument and not _RESERVED & set(argument):
            quoted.append(argument)
        else:
            inner = "".join("\\" + c if c in '"`$\\' else c for c in argument)
            quoted.append(f'"{inner}"')
    return " ".join(quoted).replace("\\", "\\\\").replace("%", "%%")


def desktop_entry(command: list[str] | None = None) -> str:
    """The shipped desktop entry with Exec and TryExec naming `command` (see `launch_command`)."""
    command = launch_command() if command is None else command
    text = resource_path("desktop", f"{DESKTOP_ID}.desktop").read_text(encoding="utf-8")
    lines = []
    for line in text.splitlines():
        key = line.partition("=")[0]
        if key == "Exec":
            line = f"Exec={exec_value(command)}"
        elif key == "TryExec":
            # TryExec is a plain path: the menu hides the entry once the launcher is gone.
            line = "TryExec=" + command[0].replace("\\", "\\\\")
        lines.append(line)
    return "\n".join(lines) + "\n"


def install_desktop_files(home: str | os.PathLike | None = None, command: list[str] | None = None) -> list[Path]:
    """Copy the desktop entry, the metadata and the icons into the data folder.

    Each file is written whole or not at all (a temp file, then one rename), so a menu
    reading it meanwhile never sees half of one; running it again updates them.

    Args:
        home: the data folder; `data_home()` when None.
        command: what the entry runs; `launch_command()` when None.

    Returns:
        The files written.

    Raises:
        DesktopInstallError: naming the file that could not be written.
    """
    home = data_home() if home is None else Path(home)
    written = []
    for item in desktop_files():
        target = home / item.target
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DesktopInstallError(f"{target.parent}: cannot create the folder ({exc.strerror or exc})") from None
        if item.target.suffix == ".desktop":
            text = desktop_entry(command)
            data = text.encode("utf-8")
        else:
            data = Path(item.source).read_bytes()
        write = lambda handle, data=data: handle.write(data)  # noqa: E731
        written.append(write_atomically(target, write, DesktopInstallError, "the desktop file"))
    _icons_changed(home)
    return written


def uninstall_desktop_files(home: str | os.PathLike | None = None) -> list[Path]:
    """Remove what `install_desktop_files` wrote (and nothing else); returns the files removed.

    Raises:
        DesktopInstallError: naming the file that could not be removed.
    """
    home = data_home() if home is None else Path(home)
    removed = []
    for item in desktop_files():
        target = home / item.target
        try:
            target.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise DesktopInstallError(f"{target}: cannot remove it ({exc.strerror or exc})") from None
        removed.append(target)
    _icons_changed(home)
    return removed


def _icons_changed(home: Path) -> None:
    """Tell icon caches the theme folder changed: GTK reads a folder's icon-theme.cache
    only while it is newer than the folder."""
    hicolor = home / "icons" / "hicolor"
    if hicolor.is_dir():
        try:
            os.utime(hicolor)
        except OSError:
            pass  # the icons are installed; a cache just notices later
