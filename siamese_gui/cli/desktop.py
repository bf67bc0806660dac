"""`siamese-gui install-desktop`: the menu entry, AppStream metadata and icons, for this user."""

from __future__ import annotations

import json

from siamese_gui.core.errors import printable

EXIT_OK = 0


def add_desktop_command(commands) -> None:
    """Add the `install-desktop` sub-command to `commands` (an argparse subparsers)."""
    install = commands.add_parser(
        "install-desktop",
        help="add the app to this user's desktop menu (desktop entry, AppStream metadata, icons)",
        description="Copy the desktop entry, the AppStream metadata and the icons into $XDG_DATA_HOME "
        "(default ~/.local/share): applications/, metainfo/ and icons/hicolor/. The entry starts "
        "this installation's siamese-gui-app. Run it again after moving the installation.",
    )
    install.add_argument("--uninstall", action="store_true", help="remove those files again")
    install.add_argument("--json", action="store_true", help="print JSON")


def cmd_install_desktop(args) -> int:
    from siamese_gui.core.app.desktop import data_home, install_desktop_files, uninstall_desktop_files

    home = data_home()
    if args.uninstall:
        files, done = uninstall_desktop_files(home), "removed"
    else:
        files, done = install_desktop_files(home), "installed"
    if args.json:
        print(json.dumps({"data_home": str(home), done: [str(f) for f in files]}, indent=2))
        return EXIT_OK
    for path in files:
        print(printable(str(path)))
    what = f"{len(files)} file{'s' if len(files) != 1 else ''}"
    print(f"{done} {what} in {printable(str(home))}" if files else f"nothing to remove in {printable(str(home))}")
    return EXIT_OK


COMMANDS = {"install-desktop": cmd_install_desktop}
