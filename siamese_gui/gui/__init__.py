"""The PySide6 desktop app. The only package that imports Qt."""

APP_NAME = "Siamese GUI"
