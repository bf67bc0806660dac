"""Reusable widgets: image panes, plots, the threshold control, forms."""
