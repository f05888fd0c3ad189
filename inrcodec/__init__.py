"""inrcodec: an implicit-neural-representation codec (meta-learned SIREN base + coded modulations).

`inrcodec.compress_dataset` (inrcodec.api) and `inrcodec.open_archive` (inrcodec.dataset) are imported
on first use, so `import inrcodec` stays light.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "compress_dataset":
        from inrcodec.api import compress_dataset

        return compress_dataset
    if name == "open_archive":
        from inrcodec.dataset import open_archive

        return open_archive
    raise AttributeError(f"module 'inrcodec' has no attribute {name!r}")
