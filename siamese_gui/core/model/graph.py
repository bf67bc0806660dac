"""Running a Keras embedding network as one compiled TensorFlow graph.

Imports TensorFlow: callers that must stay TensorFlow-free import this lazily.
"""

from __future__ import annotations

import weakref
from typing import Callable

import numpy as np

from siamese_gui.core.backend import keras, tf
from siamese_gui.core.model.embedding import Embedder, embed_in_batches

_GRAPH_EMBEDDERS: "weakref.WeakKeyDictionary[keras.Model, Callable]" = weakref.WeakKeyDictionary()


def keras_embedder(embedding) -> Embedder:
    """An `Embedder` running a Keras network through one compiled TensorFlow graph."""
    function = graph_embedder(embedding)
    return lambda batch: function(batch).numpy()


class InferenceCall:
    """Calls one network in inference mode; what `tf.function` compiles for it.

    An object, not a lambda: TensorFlow counts traces per Python function's code, so
    one lambda compiled for each new network (every training run, every model opened
    or saved) read as one function retracing, and from the fifth network on it logged
    "triggered tf.function retracing" warnings. Each object is its own count.
    """

    def __init__(self, network: keras.Model):
        self._network = weakref.ref(network)  # a cached graph must not keep the model alive

    def __call__(self, images):
        return self._network()(images, training=False)


def graph_embedder(embedding: keras.Model) -> Callable:
    """A compiled graph of the network in inference mode, built once per network.

    Graph mode lets TensorFlow fuse convolution, batch normalisation and ReLU, which
    halves inference time on CPU compared with calling the model eagerly.
    """
    function = _GRAPH_EMBEDDERS.get(embedding)
    if function is None:
        function = tf.function(
            InferenceCall(embedding),
            input_signature=[tf.TensorSpec((None, *embedding.input_shape[1:]), tf.float32)],
        )
        _GRAPH_EMBEDDERS[embedding] = function
    return function


def embed(
    embedding: keras.Model, images: np.ndarray, should_stop: Callable[[], bool] | None = None
) -> np.ndarray:
    """Return one embedding per image of a Keras network (see `inference.embed_in_batches`)."""
    function = graph_embedder(embedding)
    return embed_in_batches(lambda batch: function(batch).numpy(), images, should_stop)

