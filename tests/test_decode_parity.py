"""Training, the SavedModel signature and `lepton predict` see the same pixels.

Tiny 9x7 images (not square, so the resize runs too) are written in every
format, mode and bit depth the loader accepts, with upper- and lowercase
extensions. Per file, the loader's pixels must equal exactly what the exported
`serving_default` signature decodes from the file's bytes and what
`resize_uint8(decode_file(path), size)` (the TFLite and Keras predict path)
gives. Files TensorFlow cannot read, or would read wrongly, must be skipped
with a reason instead.
"""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import tiny_config
from lepton_tf.data.images import decode_file, load_image_folder, resize_uint8

HEIGHT, WIDTH = 7, 9
SIZE = 12  # the tiny config's data.image_size


def source_pixels():
    """A smooth RGB picture (lossy codecs keep it close) with every pixel distinct."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    return np.stack([x * 255 // (WIDTH - 1), y * 255 // (HEIGHT - 1), 40 + (x + y) * 12], -1).astype(np.uint8)


def encode(image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def rgb(image):
    """The RGB pixels of an in-memory Pillow image: the picture a file was written from."""
    return np.asarray(image.convert("RGB"))


def png16(pixels):
    """A 16-bit PNG (grey, grey+alpha, RGB or RGBA by the last axis), written by hand."""
    height, width, channels = pixels.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def wide16():
    """16-bit samples spread over the whole range, low bytes included."""
    return np.random.default_rng(0).integers(0, 65536, (HEIGHT, WIDTH, 4))


def base():
    return Image.fromarray(source_pixels(), "RGB")


def with_alpha():
    image = base()
    image.putalpha(Image.fromarray(np.linspace(0, 255, HEIGHT * WIDTH).astype(np.uint8).reshape(HEIGHT, WIDTH)))
    return image


def palette():
    return base().convert("P", palette=Image.Palette.ADAPTIVE, colors=256)


def animated(fmt, **options):
    first, second = palette(), Image.fromarray(255 - source_pixels(), "RGB").convert("P")
    return encode(first, fmt, save_all=True, append_images=[second], duration=50, **options), rgb(first)


def grey16():
    image = Image.fromarray(wide16()[..., 0].astype(np.uint16))
    assert image.mode == "I;16"
    return encode(image, "PNG"), np.repeat((wide16()[..., :1] >> 8).astype(np.uint8), 3, -1), 0


# id → (file name, make() → (bytes, expected RGB or None, mean tolerance)).
# Expected pixels come from the picture written, not from a decoder: they check
# that accepted files decode *correctly*, not only consistently. None: no single
# right answer (transparent GIF pixels have no colour). Lossy codecs on a 9x7
# gradient land 3-7 levels off on average (chroma subsampling, DCT rounding);
# a wrong reading (palette indices as grey) is ~100 off.
LOSSY = 12.0
ACCEPTED = {
    "jpeg-rgb": ("jpeg_rgb.jpg", lambda: (encode(base(), "JPEG", quality=95), source_pixels(), LOSSY)),
    "jpeg-grayscale": ("jpeg_l.JPG", lambda: (encode(base().convert("L"), "JPEG", quality=95),
                                              rgb(base().convert("L")), LOSSY)),
    "jpeg-progressive": ("jpeg_prog.jpeg", lambda: (encode(base(), "JPEG", quality=95, progressive=True),
                                                    source_pixels(), LOSSY)),
    "jpeg-420": ("jpeg_420.JPEG", lambda: (encode(base(), "JPEG", quality=95, subsampling="4:2:0"),
                                           source_pixels(), LOSSY)),
    "jpeg-444": ("jpeg_444.jpg", lambda: (encode(base(), "JPEG", quality=95, subsampling="4:4:4"),
                                          source_pixels(), LOSSY)),
    "jpeg-cmyk": ("jpeg_cmyk.jpg", lambda: (encode(base().convert("CMYK"), "JPEG", quality=95),
                                            source_pixels(), LOSSY)),
    "png-rgb": ("png_rgb.png", lambda: (encode(base(), "PNG"), source_pixels(), 0)),
    "png-rgba": ("png_rgba.PNG", lambda: (encode(with_alpha(), "PNG"), source_pixels(), 0)),
    "png-grayscale": ("png_l.png", lambda: (encode(base().convert("L"), "PNG"), rgb(base().convert("L")), 0)),
    "png-grayscale-alpha": ("png_la.png", lambda: (encode(with_alpha().convert("LA"), "PNG"),
                                                   rgb(base().convert("L")), 0)),
    "png-palette": ("png_p.png", lambda: (encode(palette(), "PNG"), rgb(palette()), 0)),
    "png-palette-transparent": ("png_p_trns.PNG", lambda: (encode(palette(), "PNG", transparency=3),
                                                           rgb(palette()), 0)),
    "png-1bit": ("png_1.png", lambda: (encode(base().convert("1"), "PNG"), rgb(base().convert("1")), 0)),
    "png-16bit-grayscale": ("png_i16.png", grey16),
    "png-16bit-grayscale-alpha": ("png_la16.png", lambda: (png16(wide16()[..., :2]),
                                                           np.repeat((wide16()[..., :1] >> 8).astype(np.uint8), 3, -1),
                                                           0)),
    "png-16bit-rgb": ("png_rgb16.png", lambda: (png16(wide16()[..., :3]),
                                                (wide16()[..., :3] >> 8).astype(np.uint8), 0)),
    "png-16bit-rgba": ("png_rgba16.PNG", lambda: (png16(wide16()), (wide16()[..., :3] >> 8).astype(np.uint8), 0)),
    "bmp-rgb": ("bmp_rgb.bmp", lambda: (encode(base(), "BMP"), source_pixels(), 0)),
    "bmp-grayscale": ("bmp_l.BMP", lambda: (encode(base().convert("L"), "BMP"), rgb(base().convert("L")), 0)),
    "gif": ("gif.gif", lambda: (encode(palette(), "GIF"), rgb(palette()), 0)),
    "gif-animated-first-frame": ("gif_anim.GIF", lambda: (*animated("GIF"), 0)),
    "gif-transparent": ("gif_trns.gif", lambda: (encode(palette(), "GIF", transparency=3), None, None)),
    "webp-lossy": ("webp_lossy.webp", lambda: (encode(base(), "WEBP", quality=95), source_pixels(), LOSSY)),
    "webp-lossless": ("webp_lossless.WEBP", lambda: (encode(base(), "WEBP", lossless=True), source_pixels(), 0)),
}

# id → (file name, make() → bytes, words the skip reason must hold).
SKIPPED = {
    "bmp-palette": ("bmp_p.bmp", lambda: encode(palette(), "BMP"), "palette"),
    "bmp-1bit": ("bmp_1.BMP", lambda: encode(base().convert("1"), "BMP"), "1-bit"),
    "webp-alpha": ("webp_alpha.webp", lambda: encode(with_alpha(), "WEBP", lossless=True), "alpha"),
    "webp-lossy-alpha": ("webp_lossy_alpha.WEBP", lambda: encode(with_alpha(), "WEBP", quality=90), "alpha"),
    "webp-animated": ("webp_anim.webp", lambda: animated("WEBP", lossless=True)[0], "animated"),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Every case in one class folder, plus a plain class so the data set has two."""
    root = tmp_path_factory.mktemp("formats")
    (root / "cases").mkdir()
    for name, make in ACCEPTED.values():
        (root / "cases" / name).write_bytes(make()[0])
    for name, make, _ in SKIPPED.values():
        (root / "cases" / name).write_bytes(make())
    (root / "plain").mkdir()
    (root / "plain" / "plain.png").write_bytes(encode(base(), "PNG"))
    return root


@pytest.fixture(scope="module")
def loaded(folder):
    """{file name: loader pixels} and {file name: skip reason}."""
    config = tiny_config(folder, "data.val_fraction=0", "data.test_fraction=0").data
    assert config.image_size == SIZE
    data = load_image_folder(folder, config)
    pixels = {}
    for split in (data.train, data.val, data.test):
        pixels.update({path.rsplit("/", 1)[-1]: image for path, image in zip(split.paths, split.images)})
    return pixels, {path.rsplit("/", 1)[-1]: reason for path, reason in data.skipped}


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    """The exported `serving_default` signature, around a model that returns its input.

    With mean 0 and std 1 the "probabilities" are the decoded, resized pixels
    as floats (exact for uint8), so the test reads back what the signature saw.
    """
    from lepton_tf.data.pipeline import Normalization
    from lepton_tf.data.preprocessing import ImagePreprocessing
    from lepton_tf.export.saved_model import ImageClassifierModule, save_module
    from lepton_tf.keras import keras, tf

    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Reshape((SIZE * SIZE * 3,))])
    names = [f"c{i}" for i in range(SIZE * SIZE * 3)]  # argmax indexes a pixel; gather needs that many names
    module = ImageClassifierModule(model, names, ImagePreprocessing(Normalization([0.0] * 3, [1.0] * 3), SIZE))
    path = save_module(module, tmp_path_factory.mktemp("export") / "saved_model" / "1")
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]

    def decode(data):
        flat = signature(images=tf.constant([data]))["probabilities"].numpy()[0]
        return flat.reshape(SIZE, SIZE, 3).astype(np.uint8)

    return decode


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_loader_signature_and_predict_decode_the_same_pixels(case, folder, loaded, serve):
    name, make = ACCEPTED[case]
    pixels, skipped = loaded
    assert name not in skipped, f"{case} was skipped: {skipped.get(name)}"
    path = folder / "cases" / name
    served = serve(path.read_bytes())
    predicted = resize_uint8(decode_file(path), SIZE)
    assert np.array_equal(pixels[name], served), \
        f"{case}: loader and SavedModel differ by up to {np.abs(pixels[name].astype(int) - served).max()}"
    assert np.array_equal(pixels[name], predicted), \
        f"{case}: loader and predict differ by up to {np.abs(pixels[name].astype(int) - predicted).max()}"


@pytest.mark.parametrize("case", sorted(case for case, (_, make) in ACCEPTED.items() if make()[1] is not None))
def test_accepted_files_decode_to_the_picture_written(case, folder):
    name, make = ACCEPTED[case]
    _, expected, tolerance = make()
    decoded = decode_file(folder / "cases" / name)
    assert decoded.shape == (HEIGHT, WIDTH, 3) and decoded.dtype == np.uint8
    error = np.abs(decoded.astype(int) - expected.astype(int)).mean()
    assert error <= tolerance, f"{case}: decoded pixels are off by {error:.2f} on average"


@pytest.mark.parametrize("case", sorted(SKIPPED))
def test_files_tensorflow_cannot_read_right_are_skipped_with_a_reason(case, folder, loaded):
    name, _, words = SKIPPED[case]
    pixels, skipped = loaded
    assert name not in pixels, f"{case} was loaded, not skipped"
    assert name in skipped, f"{case} is missing from the skipped list"
    assert "TensorFlow" in skipped[name] and words in skipped[name], skipped[name]
    with pytest.raises(ValueError) as raised:  # predict refuses it with the same words
        decode_file(folder / "cases" / name)
    assert str(raised.value) == skipped[name]


@pytest.mark.parametrize("case", sorted(case for case in ACCEPTED if case.startswith("jpeg")))
def test_jpegs_decode_as_libjpeg_turbo_does_by_default(case, folder):
    """The accurate integer IDCT, as Pillow and phone decoders use: the pixels an app would feed."""
    path = folder / "cases" / ACCEPTED[case][0]
    with Image.open(path) as reference:
        assert np.array_equal(decode_file(path), np.asarray(reference.convert("RGB")))
