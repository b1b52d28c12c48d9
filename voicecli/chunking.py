"""The chunkers' public Python API, as the design card names it: ``voicecli.chunking.make_chunker``.

The code lives in :mod:`voicecli.text.chunking`; this module keeps the documented import path.
"""

from voicecli.text.chunking import STRATEGIES, chunk_stream, make_chunker

__all__ = ["STRATEGIES", "chunk_stream", "make_chunker"]
