"""inrcodec: an implicit-neural-representation codec (meta-learned SIREN base + coded modulations)."""

__version__ = "0.1.0"
