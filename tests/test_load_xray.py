"`load_xray` on files written to disk: every supported kind loads, every bad kind names the file and the reason."
import struct, zlib
import numpy as np
import pytest
from PIL import Image
from xnn.core import XrayLoadError, load_xray

@pytest.fixture
def ramp():
    return Image.fromarray(np.tile(np.linspace(0, 255, 80, dtype=np.uint8), (60, 1)))

@pytest.mark.parametrize('mode,fmt,suffix', [('L', 'JPEG', '.jpeg'), ('RGB', 'JPEG', '.jpg'), ('CMYK', 'JPEG', '.jpeg'),
                                             ('L', 'PNG', '.png'), ('RGBA', 'PNG', '.png'), ('I;16', 'PNG', '.png')])
def test_supported(tmp_path, ramp, mode, fmt, suffix):
    p = tmp_path / f'x{suffix}'
    img = Image.fromarray((np.asarray(ramp, np.uint16) * 257)) if mode == 'I;16' else ramp.convert(mode)
    img.save(p, fmt)
    x = load_xray(p)
    assert x.shape == (60, 80) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert abs(x[:, 0].mean()) < 0.03 and abs(x[:, -1].mean() - 1) < 0.03

def _bomb():
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 40000, 40000, 8, 0, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(b'\0' * 64)) + chunk(b'IEND', b''))

@pytest.mark.parametrize('name,data,reason', [
    ('empty.jpeg', b'', 'empty'),
    ('notes.jpeg', b'patient history: none\n', 'not_image'),
    ('bomb.png', _bomb(), 'too_large'),
    ('cut.jpeg', None, 'corrupt'),
])
def test_bad_files(tmp_path, ramp, name, data, reason):
    p = tmp_path / name
    if data is None:
        ramp.save(p, 'JPEG'); data = p.read_bytes()[:200]
    p.write_bytes(data)
    with pytest.raises(XrayLoadError) as e: load_xray(p)
    assert e.value.reason == reason and str(p) in str(e.value)
    assert p.read_bytes() == data                       # never modified

def test_missing_and_directory(tmp_path):
    with pytest.raises(XrayLoadError, match='file not found'): load_xray(tmp_path / 'nope.png')
    with pytest.raises(XrayLoadError, match='is a directory'): load_xray(tmp_path)
