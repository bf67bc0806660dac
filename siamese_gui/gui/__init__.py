"""The PySide6 desktop app. The only package that imports Qt."""

APP_NAME = "Siamese GUI"
# The themes `siamese-gui --theme` and View > Theme offer (named here, Qt-free, so the
# command line's parser need not import Qt), and the variable that picks one.
THEMES = ("system", "light", "dark")
THEME_ENV = "SIAMESE_GUI_THEME"
THEME_HELP = ("light or dark windows, or the desktop's (default: $SIAMESE_GUI_THEME, else the choice "
              "in View > Theme, else system)")
