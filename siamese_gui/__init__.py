"""Siamese GUI: train, compare and tune Siamese networks on images."""

__version__ = "0.1.0"
