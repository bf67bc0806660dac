"""The shape of the images a model sees: height, width and channels (grey or colour).

A property of the model: chosen from the data when it is trained, stored in its metadata
and read back from its input shape, and passed wherever an image enters (`load_image`).
Grey images are arrays (H, W); colour images are (H, W, 3), red-green-blue, so the
Fashion-MNIST arrays (N, 28, 28) stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from siamese_gui.core.errors import ConfigError

MIN_SIDE = 8
MAX_SIDE = 256
FIELD = "image_format"


@dataclass(frozen=True)
class ImageFormat:
    """The model's input: `height` x `width` pixels of `channels` (1 grey, 3 colour).

    Attributes:
        height: rows of pixels.
        width: columns of pixels.
        channels: 1 (grey) or 3 (colour, RGB order).
    """

    height: int = 28
    width: int = 28
    channels: int = 1

    def __post_init__(self):
        for name in ("height", "width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not MIN_SIDE <= value <= MAX_SIDE:
                raise ConfigError(f"image {name} must be a whole number {MIN_SIDE}-{MAX_SIDE}, got {value!r}")
        if self.channels not in (1, 3) or isinstance(self.channels, bool):
            raise ConfigError(f"image channels must be 1 (grey) or 3 (colour), got {self.channels!r}")

    @property
    def colour(self) -> bool:
        """Whether the model sees colour."""
        return self.channels == 3

    @property
    def image_shape(self) -> tuple[int, ...]:
        """One image's array shape: (H, W) grey, (H, W, 3) colour."""
        return (self.height, self.width) if self.channels == 1 else (self.height, self.width, 3)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The network's input shape for one image: (H, W, C)."""
        return (self.height, self.width, self.channels)

    def describe(self) -> str:
        """In words: "28 × 28 grey", "32 × 32 colour"."""
        return f"{self.height} × {self.width} {'colour' if self.colour else 'grey'}"

    def as_dict(self) -> dict:
        return {"height": self.height, "width": self.width, "channels": self.channels}

    @classmethod
    def from_dict(cls, values, source: str = "the model") -> "ImageFormat":
        """Read a stored format; ConfigError (naming `source`) when it is not one."""
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: its image format must be an object, not {type(values).__name__}")
        try:
            return cls(int(values["height"]) if _whole(values.get("height")) else values.get("height"),
                       int(values["width"]) if _whole(values.get("width")) else values.get("width"),
                       values.get("channels"))
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None

    @classmethod
    def from_input_shape(cls, shape, source: str = "the model") -> "ImageFormat":
        """The format of a network input shape (None, H, W, C) or (H, W, C)."""
        dims = tuple(shape)
        if len(dims) == 4:
            dims = dims[1:]
        if len(dims) != 3 or not all(isinstance(d, int) for d in dims):
            raise ConfigError(f"{source}: input shape {tuple(shape)} is not one image (H, W, C)")
        try:
            return cls(*dims)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None

    @classmethod
    def of_images(cls, images) -> "ImageFormat":
        """The format of an image batch (N, H, W) grey or (N, H, W, 3) colour."""
        shape = tuple(images.shape)
        if len(shape) == 3:
            return cls(shape[1], shape[2], 1)
        if len(shape) == 4 and shape[3] in (1, 3):
            return cls(shape[1], shape[2], shape[3])
        raise ConfigError(f"images of shape {shape} are neither (N, H, W) nor (N, H, W, 3)")


def _whole(value) -> bool:
    return isinstance(value, float) and value.is_integer()


GREY_28 = ImageFormat(28, 28, 1)


def format_of(metadata: dict | None) -> ImageFormat:
    """The image format a model's metadata records; models saved before it was recorded
    saw 28 x 28 grey images."""
    stored = (metadata or {}).get(FIELD)
    return GREY_28 if stored is None else ImageFormat.from_dict(stored)
