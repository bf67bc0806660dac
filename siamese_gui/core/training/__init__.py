"""The training run: schedule, progress, cancellation and the share probe."""
