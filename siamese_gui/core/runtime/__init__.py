"""A trained model as a handle: TensorFlow and LiteRT paths, safe loading, saving and export."""
