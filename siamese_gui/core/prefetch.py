"""Start loading the data and a model on background threads, before the window exists.

Importing the window's modules and building it takes about a second; meanwhile the
default data and model load, and the model embeds the test images the Gallery and
Threshold panels evaluate (remembered by the model handle, see
`core.embedding_memo`), so those panels need not wait after the window appears.
Qt-free; the window's worker picks the results up with `result()`.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path


class Prefetch:
    """The default data and a model (or None), loading on background threads.

    Attributes:
        data: a future of the `DataSource` (`session.load_source()`).
        model: a future of the `ModelHandle`, or None when no model is to be loaded.
        model_path: the model being loaded.
        warm_up: a future that is done once the test images are embedded (or failed).
    """

    def __init__(self, model_path: str | Path | None):
        from siamese_gui.core.inference import load_model_handle
        from siamese_gui.core.session import load_source

        self.model_path = Path(model_path) if model_path is not None else None
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="prefetch")
        self.data: Future = pool.submit(load_source)
        self.model: Future | None = (
            pool.submit(load_model_handle, self.model_path) if self.model_path is not None else None
        )
        self.warm_up: Future | None = pool.submit(self._embed_test_images) if self.model is not None else None
        pool.shutdown(wait=False)

    def _embed_test_images(self) -> None:
        from siamese_gui.core.session import panel_evaluation, splits_for_model
        from siamese_gui.core.splits import Role

        source, handle = self.data.result(), self.model.result()
        panel_evaluation(handle, splits_for_model(source, handle), Role.TEST)
