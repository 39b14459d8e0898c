"DICOM films end to end: `xnn_wrangle` on a hospital-style DICOM folder (labels CSV, boxes CSV), and the reader's refusals."
import json, logging, subprocess, warnings
import numpy as np
import pandas as pd
import pydicom
import pytest
from PIL import Image
from conftest import script, tree_hashes
from xnn.core import XrayLoadError, dicom_header, load_xray, read_xray, write_dicom

def run(*args, ok=True):
    r = subprocess.run([script(args[0]), *map(str, args[1:])], capture_output=True, text=True, timeout=300)
    if ok: assert r.returncode == 0, r.stderr
    return r

def _film(i:int)->np.ndarray:
    "A smooth film with noise, float (72, 64) in [0, 1], different for every i"
    y, x = np.mgrid[:72, :64] / 64
    noise = np.random.default_rng(i).standard_normal((72, 64))
    return np.clip(0.5 + 0.3 * np.sin(6 * x + i) * np.cos(4 * y) + 0.05 * noise, 0, 1).astype(np.float32)

@pytest.fixture(scope='module')
def dicom_folder(tmp_path_factory):
    "12 patients × 2 films, nested site/patient/study/, named by unique stems; MONOCHROME1/2, RLE and J2K; labels and RSNA boxes"
    src = tmp_path_factory.mktemp('dicom') / 'export'
    labels, boxes = [], []
    for i in range(24):
        label, pid = ['bacteria', 'normal', 'virus'][(i // 2) % 3], f'MRN-{5000 + i // 2}'
        p = write_dicom(_film(i), src / f'site{i % 3}' / pid / f'study{i // 2}' / f'film{i:03d}.dcm',
                        photometric=('MONOCHROME1', 'MONOCHROME2')[i % 2], compress=(None, 'rle', 'jpeg2000', None)[i % 4],
                        PatientID=pid, PatientName='Roe^Richard', PatientBirthDate='19650203', Modality=('CR', 'DX')[i % 2])
        labels.append(dict(path=p.relative_to(src).as_posix(), label=label))
        boxes.append(dict(patientId=p.stem, x=10, y=12, width=20, height=16, Target=int(label != 'normal')))
    boxes += [dict(patientId='film000', x=60, y=60, width=30, height=30, Target=1),      # partly outside: clipped
              dict(patientId='nobody', x=1, y=1, width=2, height=2, Target=1)]          # unknown film
    pd.DataFrame(labels).to_csv(src.parent / 'labels.csv', index=False)
    pd.DataFrame(boxes).to_csv(src.parent / 'boxes.csv', index=False)
    return src

@pytest.fixture(scope='module')
def wrangled(dicom_folder):
    before = tree_hashes(dicom_folder)
    dst = dicom_folder.parent / 'data'
    r = run('xnn_wrangle', dicom_folder, dst, '--labels', dicom_folder.parent / 'labels.csv', '--boxes', dicom_folder.parent / 'boxes.csv')
    return dst, before, r

def test_wrangle_groups_by_patient_and_hides_phi(dicom_folder, wrangled):
    dst, before, r = wrangled
    text = (dst / 'annotations.csv').read_text() + (dst / 'audit.json').read_text() + r.stdout
    for phi in ('MRN-', 'Roe', '19650203'): assert phi not in text, phi
    ann = pd.read_csv(dst / 'annotations.csv', keep_default_na=False)
    assert len(ann) == 24 and ann.patient_id.nunique() == 12
    assert sorted(ann.patient_id.unique())[:2] == ['patient0001', 'patient0002']
    assert ann.groupby('patient_id').split.nunique().max() == 1
    assert set(ann.modality) == {'CR', 'DX'} and (ann.sop_uid == '').all()
    assert tree_hashes(dicom_folder) == before                          # the source is untouched

def test_boxes_become_masks_at_film_size(wrangled):
    dst, _, r = wrangled
    ann = pd.read_csv(dst / 'annotations.csv', keep_default_na=False)
    assert ((ann.mask_path != '') == (ann.label != 'normal')).all()
    first = ann[ann.source_path.str.endswith('film000.dcm')].iloc[0]
    m = np.asarray(Image.open(dst / first.mask_path)) > 0
    assert m.shape == (first.height, first.width)
    assert m.sum() == 20 * 16 + (first.width - 60) * (first.height - 60)   # union of its box and the clipped one
    audit = json.loads((dst / 'audit.json').read_text())
    probs = {k: v['count'] for k, v in audit['boxes']['problems'].items()}
    assert probs == dict(unknown_film=1, film_not_kept=0, nan_coordinates=0, empty_or_negative=0, outside=0, clipped=1)
    assert audit['boxes']['n_rows_without_box'] == 8 and 'boxes drawn as masks' in r.stdout

def test_dataset_reads_dicom_with_masks(wrangled):
    from xnn.data.loaders import Preprocess, XrayDataset, build_transforms
    dst = wrangled[0]
    ds = XrayDataset(dst, None, build_transforms(Preprocess(32)), with_mask=True)
    item = next(ds[i] for i in range(len(ds)) if ds.ann.label[i] != 'normal')
    assert item['image'].shape == (3, 32, 32) and 0 < item['mask'].float().mean() < 0.5

def test_keep_phi_and_rerun(dicom_folder, wrangled):
    dst = dicom_folder.parent / 'phi'
    run('xnn_wrangle', dicom_folder, dst, '--labels', dicom_folder.parent / 'labels.csv', '--keep-phi')
    ann = pd.read_csv(dst / 'annotations.csv', keep_default_na=False)
    assert ann.patient_id.str.startswith('MRN-').all() and (ann.sop_uid != '').all()
    r = run('xnn_wrangle', dicom_folder, wrangled[0], '--labels', dicom_folder.parent / 'labels.csv', '--boxes', dicom_folder.parent / 'boxes.csv')
    assert 'up to date' in r.stdout

@pytest.mark.parametrize('csv,message', [('file,label\na.dcm,normal\n', 'needs a label column and a path or SOPInstanceUID column'),
                                         (None, 'labels file')])
def test_bad_labels_file_is_one_line(dicom_folder, csv, message):
    bad = dicom_folder.parent / 'bad_labels.csv'
    if csv: bad.write_text(csv)
    else: bad = dicom_folder.parent / 'missing.csv'
    dst = dicom_folder.parent / 'never'
    r = run('xnn_wrangle', dicom_folder, dst, '--labels', bad, ok=False)
    assert r.returncode == 2 and message in r.stderr and 'Traceback' not in r.stderr
    assert not dst.exists()                                               # checked before anything is written

def test_generic_boxes_and_unlabelled_films(tmp_path):
    src = tmp_path / 'src'
    for i in range(6): write_dicom(_film(i), src / f'p{i}' / 'IM0001.dcm', PatientID=f'P{i}')
    pd.DataFrame(dict(path=[f'p{i}/IM0001.dcm' for i in range(5)], label=['bacteria', 'normal', 'virus'] * 1 + ['Viral', 'flu'])).to_csv(tmp_path / 'l.csv', index=False)
    (tmp_path / 'b.csv').write_text('path,x0,y0,x1,y1,label\np0/IM0001.dcm,2,2,10,10,opacity\np0/IM0001.dcm,5,5,5,9,opacity\n'
                                    'p2/IM0001.dcm,nan,1,4,4,opacity\np2/IM0001.dcm,-50,-50,-10,-10,opacity\n')
    run('xnn_wrangle', src, tmp_path / 'd', '--labels', tmp_path / 'l.csv', '--boxes', tmp_path / 'b.csv', '--n-predict', 0)
    audit = json.loads((tmp_path / 'd/audit.json').read_text())
    assert audit['labels']['unknown_labels']['examples'] == [dict(line=6, path='p4/IM0001.dcm', label='flu')]
    assert sorted(audit['unlabelled']) == ['p4/IM0001.dcm', 'p5/IM0001.dcm']     # reported, not silently dropped
    assert {k: v['count'] for k, v in audit['boxes']['problems'].items() if v['count']} == dict(nan_coordinates=1, empty_or_negative=1, outside=1)
    ann = pd.read_csv(tmp_path / 'd/annotations.csv', keep_default_na=False)
    assert (ann.mask_path != '').sum() == 1 and len(ann) == 4

def _private_syntax(tmp_path):
    "A DICOM whose transfer syntax is a private UID no pydicom plugin knows"
    p = write_dicom(_film(0), tmp_path / 'private.dcm', compress='rle')
    ds = pydicom.dcmread(p); ds.file_meta.TransferSyntaxUID = pydicom.uid.MPEG2MPML; ds.save_as(p)
    data = p.read_bytes().replace(b'1.2.840.10008.1.2.4.100', b'1.2.826.0.1.3680043.9.9')
    p.write_bytes(data)
    return p

def test_unknown_transfer_syntax(tmp_path):
    p = _private_syntax(tmp_path)
    with pytest.raises(XrayLoadError) as e: load_xray(p)
    assert e.value.reason == 'no_decoder' and str(p) in str(e.value) and '1.2.826.0.1.3680043.9.9' in str(e.value)

def test_missing_plugin_names_the_package(tmp_path, monkeypatch):
    "A JPEG-LS film when no installed plugin decodes JPEG-LS (simulated): the message says what to pip install"
    p = write_dicom(_film(0), tmp_path / 'jls.dcm', compress='rle')   # encapsulated, then relabelled as JPEG-LS
    ds = pydicom.dcmread(p); ds.file_meta.TransferSyntaxUID = pydicom.uid.JPEGLSLossless; ds.save_as(p)
    class Unavailable:
        is_available, missing_dependencies = False, ['pylibjpeg - requires pylibjpeg-libjpeg']
    monkeypatch.setattr(pydicom.pixels, 'get_decoder', lambda uid: Unavailable())
    with pytest.raises(XrayLoadError) as e: load_xray(p)
    assert e.value.reason == 'no_decoder' and 'pip install pylibjpeg pylibjpeg-libjpeg' in str(e.value) and 'JPEG-LS' in str(e.value)

def test_no_warning_or_log_leaks(tmp_path, caplog):
    good = write_dicom(_film(1), tmp_path / 'good.dcm', compress='rle')
    (tmp_path / 'cut.dcm').write_bytes(good.read_bytes()[:-300])
    bad = [tmp_path / 'cut.dcm', _private_syntax(tmp_path), write_dicom(_film(2), tmp_path / 'us.dcm', Modality='US')]
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        reasons = []
        for p in bad:
            with pytest.raises(XrayLoadError) as e: load_xray(p)
            assert str(p) in str(e.value); reasons.append(e.value.reason)
        load_xray(good)
    assert reasons == ['corrupt', 'no_decoder', 'not_radiograph']
    assert [str(w.message) for w in caught] == [] and [r for r in caplog.records if r.name.startswith('pydicom')] == []

def test_header_only_and_meta(tmp_path):
    p = write_dicom(_film(3), tmp_path / 'x.dcm', PatientID='abc', ImagerPixelSpacing=[0.2, 0.1], RescaleSlope=1, RescaleIntercept=0)
    h = dicom_header(p)
    assert (h['patient_id'], h['pixel_spacing'], h['format'], h['voi']) == ('abc', (0.2, 0.1), 'DICOM', None)
    x, meta = read_xray(p)
    assert meta['voi'] == 'minmax' and x.min() == 0 and x.max() == 1
