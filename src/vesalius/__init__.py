"""vesalius: a research imaging platform, from the scanner to a citable dataset."""

__version__ = "0.1.0"
