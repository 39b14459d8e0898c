"""The wrangler on a folder laid out exactly like the real Kaggle download (built by hand, real Kaggle names).

archive/chest_xray/{train,val,test}/{NORMAL,PNEUMONIA}/..., the nested duplicate archive/chest_xray/chest_xray/,
archive/chest_xray/__MACOSX/ resource forks, .DS_Store files, an unreadable file, an RGB file, a byte-identical
duplicate across Kaggle folders, and one patient with films in two Kaggle folders.
"""
import json, shutil
import numpy as np, pandas as pd
import pytest
from PIL import Image
from conftest import tree_hashes
from xnn.data.wrangle import wrangle

NAMES = {
    'train/NORMAL': ['IM-0115-0001.jpeg', 'IM-0117-0001.jpeg', 'IM-0119-0001.jpeg', 'NORMAL2-IM-0381-0001.jpeg',
                     'NORMAL2-IM-0382-0001.jpeg', 'NORMAL2-IM-1427-0001.jpeg', 'IM-0122-0001.jpeg', 'IM-0125-0001.jpeg'],
    'train/PNEUMONIA': ['person1_bacteria_1.jpeg', 'person1_bacteria_2.jpeg', 'person10_bacteria_35.jpeg',
                        'person100_bacteria_475.jpeg', 'person101_bacteria_484.jpeg', 'person1000_virus_1681.jpeg',
                        'person1001_virus_1682.jpeg', 'person1002_virus_1683.jpeg', 'person1003_virus_1685.jpeg',
                        'person102_bacteria_487.jpeg', 'person103_bacteria_489.jpeg', 'person1004_virus_1686.jpeg'],
    'val/NORMAL': ['NORMAL2-IM-1430-0001.jpeg', 'NORMAL2-IM-1431-0001.jpeg'],
    'val/PNEUMONIA': ['person1946_bacteria_4874.jpeg', 'person1947_bacteria_4876.jpeg', 'person1949_bacteria_4880.jpeg'],
    'test/NORMAL': ['IM-0001-0001.jpeg', 'IM-0003-0001.jpeg', 'NORMAL2-IM-0007-0001.jpeg', 'IM-0005-0001.jpeg'],
    'test/PNEUMONIA': ['person1_virus_6.jpeg', 'person3_virus_15.jpeg', 'person80_bacteria_389.jpeg',
                       'person1_bacteria_3.jpeg', 'person83_bacteria_409.jpeg', 'person8_virus_27.jpeg'],
}

def _film(rng, h, w, mode='L'):
    a = (rng.random((h, w)) * 60 + np.linspace(40, 200, w)[None]).astype(np.uint8)
    return Image.fromarray(a).convert(mode)

@pytest.fixture
def kaggle(tmp_path):
    rng = np.random.default_rng(0)
    top = tmp_path / 'archive' / 'chest_xray'
    for folder, names in NAMES.items():
        (top / folder).mkdir(parents=True)
        for n in names:
            h = int(rng.integers(300, 420)) if 'NORMAL' in folder else int(rng.integers(200, 300))
            _film(rng, h, int(h * 1.2)).save(top / folder / n, quality=90)
    _film(rng, 220, 260, 'RGB').save(top / 'train/PNEUMONIA/person104_bacteria_491.jpeg')               # RGB-stored gray
    (top / 'train/PNEUMONIA/person105_bacteria_492.jpeg').write_bytes(b'\xff\xd8\xff\xe0 truncated')    # unreadable
    shutil.copy(top / 'train/NORMAL/IM-0122-0001.jpeg', top / 'test/NORMAL/IM-0999-0001.jpeg')         # duplicate bytes
    shutil.copytree(top, tmp_path / 'nested')                                                           # the zip's nested copy
    shutil.move(tmp_path / 'nested', top / 'chest_xray')
    (top / '__MACOSX/chest_xray/train/NORMAL').mkdir(parents=True)
    (top / '__MACOSX/chest_xray/train/NORMAL/._IM-0115-0001.jpeg').write_bytes(b'\x00\x05\x16\x07Mac OS X')
    (top / '.DS_Store').write_bytes(b'\x00\x00\x00\x01Bud1'); (top / 'chest_xray/.DS_Store').write_bytes(b'Bud1')
    return tmp_path / 'archive'

@pytest.mark.parametrize('level', ['archive', 'archive/chest_xray'])
def test_real_kaggle_layout(kaggle, tmp_path, level):
    before = tree_hashes(kaggle)
    ann = wrangle(tmp_path / level, tmp_path / 'data', seed=3, verbose=False)
    assert tree_hashes(kaggle) == before                                     # SRC unchanged, byte for byte
    n_films = sum(len(v) for v in NAMES.values()) + 2                        # + RGB film + duplicate (unreadable dropped)
    assert len(ann) == n_films
    assert ann.groupby('patient_id').split.nunique().max() == 1              # person1 has films in train and test
    assert ann[ann.patient_id == 'person1'].split.nunique() == 1 and (ann.patient_id == 'person1').sum() == 4
    lab = dict(zip(ann.path.map(lambda p: p.rsplit('/', 1)[-1]), ann.label))
    assert lab['person1_virus_6.jpeg'] == 'virus' and lab['NORMAL2-IM-0381-0001.jpeg'] == 'normal'
    assert lab['person1946_bacteria_4874.jpeg'] == 'bacteria'
    audit = json.loads((tmp_path / 'data/audit.json').read_text())
    assert [u['file'] for u in audit['unreadable']] == ['train/PNEUMONIA/person105_bacteria_492.jpeg']
    assert audit['gray_stored_as_rgb'] == ['train/PNEUMONIA/person104_bacteria_491.jpeg']
    dup, = audit['duplicates']
    assert dup['crosses_source_splits'] and not dup['crosses_new_splits']
    assert audit['source']['nested duplicate copy'] > 0 and audit['source']['junk (__MACOSX, hidden)'] >= 2
    assert audit['sizes']['shortcut_suspected']                               # normal films are bigger here, as in the real data
    assert not any('__MACOSX' in p or '/chest_xray/chest_xray/' in p for p in ann.source_path)

def test_unknown_label_in_annotations_is_refused(kaggle, tmp_path):
    from xnn.data.wrangle import read_annotations
    wrangle(kaggle, tmp_path / 'data', verbose=False)
    df = pd.read_csv(tmp_path / 'data/annotations.csv'); df.loc[3, 'label'] = 'Pneumonia'
    df.to_csv(tmp_path / 'data/annotations.csv', index=False)
    with pytest.raises(ValueError, match=r"unknown labels \['Pneumonia'\]"): read_annotations(tmp_path / 'data')
