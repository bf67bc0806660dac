"""The app's place on a Linux desktop: the shipped desktop entry, AppStream metadata and
icons validate, and `siamese-gui install-desktop` puts them into $XDG_DATA_HOME (and
`--uninstall` takes them out) file by file."""

from __future__ import annotations

import configparser
import json
import shlex
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import REPO_ROOT, cli_env

from siamese_gui.core.app.desktop import (
    APPSTREAM_ID,
    DESKTOP_ID,
    ICON_SIZES,
    LAUNCHER,
    DesktopInstallError,
    data_home,
    desktop_files,
    exec_value,
    install_desktop_files,
    launch_command,
)
from siamese_gui.core.io.locations import resource_path

DESKTOP_FILE = resource_path("desktop", f"{DESKTOP_ID}.desktop")
METAINFO = resource_path("desktop", f"{APPSTREAM_ID}.metainfo.xml")


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (apt-get install desktop-file-utils appstream)")
    return found


def _entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser["Desktop Entry"]


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR", path
    return struct.unpack(">II", header[16:24])


def _install(home: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "siamese_gui", "install-desktop", *extra],
        env={**cli_env(), "XDG_DATA_HOME": str(home)}, capture_output=True, text=True, timeout=120,
    )


def test_shipped_desktop_entry_validates():
    run = subprocess.run([_tool("desktop-file-validate"), str(DESKTOP_FILE)], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout == "", run.stdout + run.stderr


def test_shipped_metainfo_validates():
    run = subprocess.run([_tool("appstreamcli"), "validate", "--no-net", str(METAINFO)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_one_name_joins_entry_icon_window_and_metadata():
    entry = _entry(DESKTOP_FILE)
    assert entry["Icon"] == DESKTOP_ID
    # X11 docks match a window by its WM_CLASS instance, argv[0]'s name: "siamese-gui".
    assert entry["StartupWMClass"] == DESKTOP_ID
    assert entry["Exec"] == entry["TryExec"] == LAUNCHER
    for key in ("Name", "GenericName", "Comment", "Categories"):
        assert entry[key].strip(), key
    component = ET.parse(METAINFO).getroot()
    assert component.get("type") == "desktop-application"
    assert component.findtext("id") == APPSTREAM_ID
    launchable = component.find("launchable")
    assert launchable.get("type") == "desktop-id" and launchable.text == f"{DESKTOP_ID}.desktop"
    assert component.findtext("icon") == DESKTOP_ID
    assert component.findtext("name") == entry["Name"]


def test_the_icons_ship_at_every_freedesktop_size():
    icons = [item for item in desktop_files() if item.target.parts[0] == "icons"]
    assert len(icons) == len(ICON_SIZES) + 1
    for item in icons:
        folder = item.target.parts[2]
        if folder == "scalable":
            assert ET.parse(item.source).getroot().tag == "{http://www.w3.org/2000/svg}svg"
        else:
            size = int(folder.partition("x")[0])
            assert _png_size(item.source) == (size, size), item.source


def test_install_desktop_writes_every_file_and_uninstall_removes_them(tmp_path):
    root = tmp_path / "root"
    home = root / "usr" / "share"  # a prefix `appstreamcli validate-tree` reads
    run = _install(home)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    expected = {home / item.target: item.source for item in desktop_files()}
    installed = {p for p in root.rglob("*") if p.is_file()}
    assert installed == set(expected)  # nothing else, no temp file left behind
    assert run.stdout.splitlines() == [*map(str, expected), f"installed {len(expected)} files in {home}"]
    for target, source in expected.items():
        if target.suffix != ".desktop":
            assert target.read_bytes() == source.read_bytes(), target

    desktop = home / "applications" / f"{DESKTOP_ID}.desktop"
    entry, shipped = _entry(desktop), _entry(DESKTOP_FILE)
    assert {k: v for k, v in entry.items() if k not in ("Exec", "TryExec")} == {
        k: v for k, v in shipped.items() if k not in ("Exec", "TryExec")}
    # The menu has no virtual environment on its PATH: the entry runs this installation.
    command = shlex.split(entry["Exec"])
    assert command == launch_command()
    assert Path(command[0]).is_absolute() and Path(command[0]).is_file()
    assert entry["TryExec"] == command[0]
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True, text=True)
        assert check.returncode == 0 and check.stdout == "", check.stdout
    if shutil.which("appstreamcli"):
        check = subprocess.run(["appstreamcli", "validate-tree", "--no-net", str(root)],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr

    again = _install(home)  # updates in place
    assert again.returncode == 0, again.stderr
    assert {p for p in root.rglob("*") if p.is_file()} == set(expected)

    removed = _install(home, "--uninstall", "--json")
    assert removed.returncode == 0, removed.stderr
    assert json.loads(removed.stdout) == {"data_home": str(home), "removed": list(map(str, expected))}
    assert [p for p in root.rglob("*") if p.is_file()] == []
    nothing = _install(home, "--uninstall")
    assert nothing.returncode == 0 and nothing.stdout == f"nothing to remove in {home}\n"


def test_uninstall_leaves_other_files_alone(tmp_path):
    other = tmp_path / "applications" / "other.desktop"
    other.parent.mkdir()
    other.write_text("[Desktop Entry]\n")
    install_desktop_files(tmp_path, ["/opt/app/siamese-gui-app"])
    assert _install(tmp_path, "--uninstall").returncode == 0
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [other]


def test_an_unwritable_data_folder_is_one_line_naming_it(tmp_path):
    blocker = tmp_path / "share" / "applications"
    blocker.parent.mkdir()
    blocker.write_text("a file where the folder should be")
    with pytest.raises(DesktopInstallError, match=str(blocker)):
        install_desktop_files(tmp_path / "share")
    run = _install(tmp_path / "share")
    assert run.returncode == 1
    assert run.stderr.startswith("siamese-gui: error: ") and str(blocker) in run.stderr
    assert len(run.stderr.splitlines()) == 1


def test_data_home_follows_the_xdg_rules(tmp_path):
    home = Path("~").expanduser() / ".local" / "share"
    assert data_home({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path
    assert data_home({}) == home
    assert data_home({"XDG_DATA_HOME": ""}) == home
    assert data_home({"XDG_DATA_HOME": "relative/share"}) == home  # the spec: ignore it


@pytest.mark.parametrize("command, value", [
    (["/usr/bin/siamese-gui-app"], "/usr/bin/siamese-gui-app"),
    (["/home/a b/venv/bin/python", "-m", "siamese_gui", "gui"],
     '"/home/a b/venv/bin/python" -m siamese_gui gui'),
    (["/opt/100%/app"], "/opt/100%%/app"),
    (['/opt/say "hi"/app'], '"/opt/say \\\\"hi\\\\"/app"'),
    (["/opt/$HOME/app"], '"/opt/\\\\$HOME/app"'),
    (["C:\\apps\\x"], '"C:\\\\\\\\apps\\\\\\\\x"'),  # four backslashes for one, as the spec says
])
def test_exec_quotes_as_the_desktop_entry_spec_asks(command, value):
    assert exec_value(command) == value


def test_pyproject_declares_the_gui_script():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in Python 3.11 and later")
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["scripts"]["siamese-gui"] == "siamese_gui.cli.commands:main"
    assert project["gui-scripts"][LAUNCHER] == "siamese_gui.gui.app:main"
