"""Datasets, image folders, pairs and splits: which images exist and which a model may be scored on."""
