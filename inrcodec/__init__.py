"""inrcodec: an implicit-neural-representation codec (meta-learned SIREN base + coded modulations).

`inrcodec.compress_dataset` and `inrcodec.open_archive` (inrcodec.dataset) are imported on first use,
so `import inrcodec` stays light.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    if name in ("compress_dataset", "open_archive"):
        from inrcodec import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module 'inrcodec' has no attribute {name!r}")
