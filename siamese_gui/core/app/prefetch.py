"""Start loading the data and a model on background threads, before the window exists.

Importing the window's modules and building it takes about two seconds; meanwhile the
default data and model load, so the first verdict follows the window instead of
queueing behind it. (Embedding the test images here as well was tried: on two cores it
slowed the window by as much as it gained the Threshold panel.) Qt-free; the window's
worker picks the results up with `result()`.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path


class Prefetch:
    """The default data and a model, loading on background threads.

    Only a model that runs in LiteRT is loaded early: importing TensorFlow on a
    background thread would slow the window down for seconds.

    Attributes:
        data: a future of the `DataSource` (`session.load_source()`).
        model: a future of the `ModelHandle`, or of None when the model has no runtime
            copy (the window then loads it as usual); None without a model path.
        model_path: the model being loaded.
    """

    def __init__(self, model_path: str | Path | None):
        from siamese_gui.core.app.session import load_source
        from siamese_gui.core.runtime.loading import load_runtime_model_handle

        self.model_path = Path(model_path) if model_path is not None else None
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="prefetch")
        self.data: Future = pool.submit(load_source)
        self.model: Future | None = (
            pool.submit(load_runtime_model_handle, self.model_path) if self.model_path is not None else None
        )
        pool.shutdown(wait=False)
