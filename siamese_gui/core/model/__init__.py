"""The network: registered layers, losses, settings, and embedding images in batches."""
