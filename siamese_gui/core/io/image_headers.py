"""Read an image's size and sample layout from its header, without decoding it.

`read_header` knows every format the bundled OpenCV decodes (PNG, JPEG, BMP, TIFF and
BigTIFF, WebP, GIF, PBM/PGM/PPM/PAM, PFM, Radiance HDR, Sun raster, JPEG 2000, AVIF) and
reports what the decoder will allocate, so a small file that decodes to gigabytes is
refused before OpenCV starts. The sizes agree with OpenCV's decoder on the header variants
it accepts; the channel count and sample size are upper bounds of what it returns.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class ImageHeader:
    """What a header declares.

    Attributes:
        format: short format name ("PNG", "JPEG", ...).
        width: pixels per row.
        height: rows.
        channels: channels of the decoded array (an upper bound).
        sample_bytes: bytes per sample of the decoded array (an upper bound).
        work_factor: how many image-sized buffers the decoder needs in all (1 when it
            decodes straight into the result).
    """

    format: str
    width: int
    height: int
    channels: int
    sample_bytes: int
    work_factor: float = 1.0

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def decoded_bytes(self) -> int:
        """Bytes the decoder allocates at most: width x height x channels x sample size."""
        return int(self.pixels * self.channels * self.sample_bytes * self.work_factor)


class HeaderError(ValueError):
    """A header of a known format that cannot be read."""


def signature(data: bytes) -> str | None:
    """Return the name of the format `data` starts with, or None if it is none we know."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:2] == b"BM":
        return "BMP"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:2] in (b"Pf", b"PF"):
        return "PFM"
    if len(data) >= 2 and data[0:1] == b"P" and data[1:2] in b"1234567":
        return "PNM"
    if data[:6] == b"#?RGBE" or data[:10] == b"#?RADIANCE":
        return "HDR"
    if data[:4] == b"\x59\xa6\x6a\x95":
        return "Sun raster"
    if data[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n" or data[:4] == b"\xff\x4f\xff\x51":
        return "JPEG 2000"
    if data[4:8] == b"ftyp" and (b"avif" in data[8:64] or b"avis" in data[8:64]):
        return "AVIF"
    return None


def read_header(data: bytes) -> ImageHeader | None:
    """Return what the header of encoded image bytes declares.

    Returns:
        None when `data` starts with no signature we know.

    Raises:
        HeaderError: if it has a known signature but its header is cut short or malformed.
    """
    kind = signature(data)
    if kind is None:
        return None
    try:
        header = _READERS[kind](data)
    except (struct.error, IndexError, ValueError) as exc:
        if isinstance(exc, HeaderError):
            raise
        raise HeaderError(f"cannot read the {kind} header") from None
    if header is None:
        raise HeaderError(f"cannot read the {kind} header")
    return header


def _png(data: bytes) -> ImageHeader:
    if data[12:16] != b"IHDR":
        raise HeaderError("the PNG has no IHDR chunk first")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    channels = {0: 1, 2: 3, 3: 4, 4: 4, 6: 4}.get(colour, 4)
    return ImageHeader("PNG", width, height, channels, 2 if depth == 16 else 1)


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_PROGRESSIVE = {0xC2, 0xC6, 0xCA, 0xCE}


def _jpeg(data: bytes) -> ImageHeader | None:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        while pos + 1 < len(data) and data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        marker = data[pos + 1]
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame
            return None
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            return None
        if marker in _SOF:
            precision, height, width, components = struct.unpack(">BHHB", data[pos + 4 : pos + 10])
            channels = 1 if components == 1 else 3
            sample = 2 if precision > 8 else 1
            work = 1.0
            if marker in _PROGRESSIVE:
                # Progressive files keep every DCT coefficient (2 bytes each) of every
                # component, at its sampling resolution, until the last scan.
                factors = data[pos + 10 : pos + 10 + 3 * components][1::3]
                if len(factors) != components:
                    return None
                h_max = max(max(f >> 4 for f in factors), 1)
                v_max = max(max(f & 15 for f in factors), 1)
                share = sum((f >> 4) * (f & 15) for f in factors) / (h_max * v_max)
                work += 2.0 * share / (channels * sample)
            return ImageHeader("JPEG", width, height, channels, sample, work)
        pos += 2 + length
    return None


def _bmp(data: bytes) -> ImageHeader | None:
    (size,) = struct.unpack("<I", data[14:18])
    if size == 12:  # BITMAPCOREHEADER (OS/2 1.x): 16-bit sizes
        width, height, _, bits = struct.unpack("<HHHH", data[18:26])
    elif 16 <= size <= 4096:  # OS/2 2.x, BITMAPINFOHEADER and its V2-V5 extensions
        width, height, _, bits = struct.unpack("<iiHH", data[18:30])
    else:
        return None
    return ImageHeader("BMP", abs(width), abs(height), 4 if bits == 32 else 3, 1)


_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 16: 8, 17: 8, 18: 8}
_TIFF_INT_TYPES = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 16: "Q", 17: "q", 18: "Q"}


def _tiff(data: bytes) -> ImageHeader | None:
    endian = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")
    if big:
        offset_size, zero, ifd = struct.unpack(endian + "HHQ", data[4:16])
        if offset_size != 8 or zero != 0:
            return None
        (count,) = struct.unpack(endian + "Q", data[ifd : ifd + 8])
        first, entry_size, inline, count_format = ifd + 8, 20, 8, "Q"
    else:
        (ifd,) = struct.unpack(endian + "I", data[4:8])
        (count,) = struct.unpack(endian + "H", data[ifd : ifd + 2])
        first, entry_size, inline, count_format = ifd + 2, 12, 4, "I"
    tags = {}
    for i in range(min(count, 4096)):
        entry = first + i * entry_size
        if entry + entry_size > len(data):
            break
        tag, kind, n = struct.unpack(endian + "HH" + count_format, data[entry : entry + 4 + inline])
        if tag not in (256, 257, 258, 262, 277, 278, 322, 323, 339) or kind not in _TIFF_INT_TYPES or n < 1:
            continue
        item = _TIFF_TYPE_SIZES[kind]
        n = min(n, 16)
        where = entry + 4 + inline
        if item * n > inline:
            (where,) = struct.unpack(endian + ("Q" if big else "I"), data[where : where + inline])
        values = struct.unpack(endian + _TIFF_INT_TYPES[kind] * n, data[where : where + item * n])
        tags[tag] = max(values) if tag == 258 else values[0]
    if 256 not in tags or 257 not in tags:
        return None
    bits = tags.get(258, 1)
    samples = max(tags.get(277, 1), 1)
    palette = tags.get(262) == 3
    # Samples under 8 bits and palettes are expanded to 8-bit BGRA.
    channels = 4 if bits < 8 or palette else samples
    sample = 1 if bits <= 8 else 2 if bits <= 16 else 4 if bits <= 32 else 8
    width, height = tags[256], tags[257]
    # OpenCV reads each strip or tile into a buffer of its own before converting it; a
    # single strip is as large as the image.
    if 322 in tags and 323 in tags:
        buffer_pixels = tags[322] * tags[323]
    else:
        buffer_pixels = width * min(max(tags.get(278, height), 1), max(height, 1))
    work = 1.0 + min(buffer_pixels / max(width * height, 1), 1.0)
    return ImageHeader("TIFF", width, height, channels, sample, work)


def _webp(data: bytes) -> ImageHeader | None:
    chunk = data[12:16]
    if chunk == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        width, height = struct.unpack("<HH", data[26:30])
        return ImageHeader("WebP", width & 0x3FFF, height & 0x3FFF, 4, 1)
    if chunk == b"VP8L":
        if data[20] != 0x2F:
            return None
        (bits,) = struct.unpack("<I", data[21:25])
        return ImageHeader("WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 4, 1)
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        if len(data) < 30:
            return None
        return ImageHeader("WebP", width, height, 4, 1)
    return None


def _gif(data: bytes) -> ImageHeader:
    width, height = struct.unpack("<HH", data[6:10])
    return ImageHeader("GIF", width, height, 4, 1)


def _tokens(data: bytes, start: int, count: int) -> list[int]:
    """Read `count` whole numbers from a PNM-style ASCII header (comments skipped)."""
    out, pos, end = [], start, min(len(data), start + 4096)
    while len(out) < count:
        while pos < end and (data[pos] in b" \t\r\n\v\f" or data[pos] == 0x23):
            if data[pos] == 0x23:
                while pos < end and data[pos] not in b"\r\n":
                    pos += 1
            else:
                pos += 1
        begin = pos
        while pos < end and 0x30 <= data[pos] <= 0x39:
            pos += 1
        if begin == pos or pos - begin > 12:
            raise HeaderError("malformed size in the header")
        out.append(int(data[begin:pos]))
    return out


def _pnm(data: bytes) -> ImageHeader | None:
    kind = data[1:2]
    if kind == b"7":
        return _pam(data)
    if kind in b"14":
        width, height = _tokens(data, 2, 2)
        return ImageHeader("PNM", width, height, 1, 1)
    width, height, maxval = _tokens(data, 2, 3)
    return ImageHeader("PNM", width, height, 3 if kind in b"36" else 1, 2 if maxval > 255 else 1)


def _pam(data: bytes) -> ImageHeader | None:
    end = data.find(b"ENDHDR", 0, 4096)
    if end < 0:
        return None
    fields = {}
    for line in data[3:end].splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in (b"WIDTH", b"HEIGHT", b"DEPTH", b"MAXVAL") and parts[1].isdigit():
            fields[parts[0]] = int(parts[1][:12])
    if b"WIDTH" not in fields or b"HEIGHT" not in fields:
        return None
    depth = max(fields.get(b"DEPTH", 1), 1)
    return ImageHeader("PNM", fields[b"WIDTH"], fields[b"HEIGHT"], depth,
                       2 if fields.get(b"MAXVAL", 255) > 255 else 1)


def _pfm(data: bytes) -> ImageHeader:
    width, height = _tokens(data, 2, 2)
    return ImageHeader("PFM", width, height, 3 if data[1:2] == b"F" else 1, 4)


def _hdr(data: bytes) -> ImageHeader | None:
    end = data.find(b"\n\n", 0, 8192)
    if end < 0:
        return None
    line = data[end + 2 : data.find(b"\n", end + 2, end + 200)].split()
    if len(line) != 4 or not (line[1].isdigit() and line[3].isdigit()):
        return None
    first, second = int(line[1][:12]), int(line[3][:12])
    rows_first = line[0][-1:] == b"Y"
    width, height = (second, first) if rows_first else (first, second)
    return ImageHeader("HDR", width, height, 3, 4)


def _sun(data: bytes) -> ImageHeader:
    width, height, depth = struct.unpack(">III", data[4:16])
    return ImageHeader("Sun raster", width, height, 4 if depth == 32 else 3, 1)


def _jpeg2000(data: bytes) -> ImageHeader | None:
    if data[:4] == b"\xff\x4f\xff\x51":
        x, y, x0, y0 = struct.unpack(">IIII", data[8:24])
        (components,) = struct.unpack(">H", data[40:42])
        depth = (data[42] & 0x7F) + 1
        width, height = x - x0, y - y0
    else:
        at = data.find(b"ihdr", 12, 4096)
        if at < 0:
            return None
        height, width, components, bpc = struct.unpack(">IIHB", data[at + 4 : at + 15])
        depth = (bpc & 0x7F) + 1
    if width < 0 or height < 0:
        return None
    sample = 2 if depth > 8 else 1
    components = max(components, 1)
    channels = min(max(components, 3), 4) if components > 1 else 1
    # OpenJPEG decodes into 32-bit planes, one per component, before OpenCV converts.
    work = 1.0 + 4.0 * components / (channels * sample)
    return ImageHeader("JPEG 2000", width, height, channels, sample, work)


def _avif(data: bytes) -> ImageHeader | None:
    width = height = 0
    at = data.find(b"ispe", 8, 65536)
    while at >= 0:
        w, h = struct.unpack(">II", data[at + 8 : at + 16])
        if w * h > width * height:
            width, height = w, h
        at = data.find(b"ispe", at + 4, 65536)
    if not width:
        return None
    # libavif decodes to YUV planes of up to 16 bits, then to 8- or 16-bit BGRA.
    return ImageHeader("AVIF", width, height, 4, 2, 1.75)


_READERS = {
    "PNG": _png,
    "JPEG": _jpeg,
    "BMP": _bmp,
    "TIFF": _tiff,
    "WebP": _webp,
    "GIF": _gif,
    "PFM": _pfm,
    "PNM": _pnm,
    "HDR": _hdr,
    "Sun raster": _sun,
    "JPEG 2000": _jpeg2000,
    "AVIF": _avif,
}
