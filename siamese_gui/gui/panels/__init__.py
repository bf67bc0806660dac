"""The main window's panels: layout and wiring over `gui.state` and `core.app`."""
