"""Real films end to end, on generated data: a nested folder of DICOM films (MONOCHROME1 and 2, compressed and not, no
Kaggle names) with labels and an RSNA-style box CSV → `xnn_wrangle` → `xnn_train` with the TorchXRayVision preset and a
local weights file → `xnn_explain` with CAM-family and gradient methods → FiftyOne and the API."""
import json, os, subprocess
from pathlib import Path
import numpy as np, pandas as pd, pytest
from conftest import script

ENV = dict(os.environ, HF_HUB_OFFLINE='1', TRANSFORMERS_OFFLINE='1', PYTHONWARNINGS='ignore', FIFTYONE_DO_NOT_TRACK='true')

def run(cwd, name, *args, timeout=900):
    r = subprocess.run([script(name), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=ENV)
    assert r.returncode == 0, f'{name} failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}'
    return r

def box_of(mask:np.ndarray)->tuple:
    "x, y, width, height of the mask's bounding box"
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)

@pytest.fixture(scope='module')
def pacs(tmp_path_factory):
    "A PACS-like export: DICOMs nested by site and study, labels by path, RSNA boxes by file stem (plus two bad box rows)"
    from PIL import Image
    from xnn.core import load_xray, write_dicom
    from xnn.data.synthetic import SynthConfig, synthesize
    from xnn.data.wrangle import label_file
    d = tmp_path_factory.mktemp('real')
    synthesize(d / 'synth', SynthConfig(patients=36, size=96, seed=5, difficulty=0.), force=True)
    films = sorted((d / 'synth/chest_xray').rglob('*.jpeg'))
    labels, boxes = [], []
    styles = [dict(photometric='MONOCHROME2'), dict(photometric='MONOCHROME1'), dict(photometric='MONOCHROME2', compress='rle'),
              dict(photometric='MONOCHROME1', compress='jpeg2000')]
    for i, f in enumerate(films):
        rel_k = f.relative_to(d / 'synth/chest_xray')
        label, patient, _ = label_file(rel_k)
        rel = Path(f'site{i % 3}') / f'study{i:03d}' / f'IM{i:04d}.dcm'
        write_dicom(load_xray(f), d / 'pacs' / rel, bits=12, PatientID=f'MRN{patient}', PatientName=f'Doe^{patient}', **styles[i % 4])
        labels.append(dict(path=rel.as_posix(), label=label))
        m = (d / 'synth/masks' / rel_k).with_suffix('.png')
        if m.exists() and (a := np.asarray(Image.open(m)) > 0).any():
            boxes.append(dict(zip(('patientId', 'x', 'y', 'width', 'height'), (rel.stem, *box_of(a))), Target=1))
        else: boxes.append(dict(patientId=rel.stem, x=None, y=None, width=None, height=None, Target=0))
    boxes += [dict(patientId='NOSUCHFILM', x=1, y=1, width=5, height=5, Target=1),
              dict(patientId=Path(labels[0]['path']).stem, x=500, y=500, width=10, height=10, Target=1)]   # outside the film
    pd.DataFrame(labels).to_csv(d / 'labels.csv', index=False)
    pd.DataFrame(boxes).to_csv(d / 'boxes.csv', index=False)
    return d

@pytest.fixture(scope='module')
def wrangled(pacs):
    r = run(pacs, 'xnn_wrangle', 'pacs', 'data', '--labels', 'labels.csv', '--boxes', 'boxes.csv', '--seed', '0')
    return pacs, r

def test_wrangle_reads_dicom_labels_and_boxes(wrangled):
    d, r = wrangled
    ann = pd.read_csv(d / 'data/annotations.csv', keep_default_na=False)
    assert len(ann) == len(pd.read_csv(d / 'labels.csv')) and set(ann.label) == {'bacteria', 'normal', 'virus'}
    assert not ann.patient_id.str.contains('MRN').any()                              # pseudonyms, not PatientIDs
    assert not any('Doe' in str(v) or 'MRN' in str(v) for v in ann.to_numpy().ravel())  # no identifying header field anywhere
    assert ann.groupby('patient_id').split.nunique().max() == 1                        # grouped by PatientID: no patient in two splits
    lesions = ann[ann.mask_path != '']
    assert len(lesions) > 0 and (lesions.label != 'normal').all()
    audit = json.loads((d / 'data/audit.json').read_text())
    problems = audit['boxes']['problems']
    assert problems['unknown_film']['count'] == 1 and problems['outside']['count'] == 1   # reported, not silently dropped

@pytest.fixture(scope='module')
def trained(wrangled):
    import torch, torchxrayvision as xrv
    d, _ = wrangled
    torch.manual_seed(0)
    torch.save(xrv.models.DenseNet(weights=None).state_dict(), d / 'local.pt')          # a random "pretrained" file: loaded strictly
    run(d, 'xnn_train', '-cn', 'txrv_densenet121', 'model.weights=local.pt', 'data.dir=data', 'data.image_size=64', 'data.num_workers=0',
        'trainer.max_epochs=1', 'run_name=txrv', 'mlflow.enabled=false')
    return d, d / 'models/txrv.ckpt'

@pytest.fixture(scope='module')
def explained(trained):
    d, ck = trained
    r = run(d, 'xnn_explain', '--ckpt', ck, '--data', 'data', '--out', 'expl', '--methods', 'hirescam,gradcam_pp,integrated_gradients',
            '--limit', '4', '--steps', '4', '--sanity-images', '0', '--road-films', '0')
    return d, ck, r

def test_explain_on_a_one_channel_chest_model(explained):
    d, ck, r = explained
    df = pd.read_csv(d / 'expl/metrics.csv')
    ann = pd.read_csv(d / 'data/annotations.csv', keep_default_na=False).set_index('path')
    assert set(df.method) == {'hirescam', 'gradcam_pp', 'integrated_gradients'} and df.path.nunique() == min(4, (ann.split == 'test').sum())
    boxed = df[df.path.map(lambda p: ann.loc[p, 'mask_path'] != '')]
    assert len(boxed) and boxed.pointing_game.notna().all() and boxed.relevance_mass.between(0, 1).all()   # boxes are ground truth
    assert (d / 'expl/overlays').is_dir() and len(list((d / 'expl/overlays').glob('*.png'))) == len(df)   # the battery is tested elsewhere: not run here

def test_fiftyone_and_api_on_dicom(explained):
    import fiftyone as fo
    from fastapi.testclient import TestClient
    from xnn.core import write_dicom
    from xnn.fiftyone import add_explanations, add_predictions, build_dataset
    from xnn.serve import create_app
    d, ck, _ = explained
    name = f'xnn-test-real-{os.getpid()}'
    try:
        ds = build_dataset(d / 'data', name, persistent=False)
        assert all(Path(f).suffix == '.png' for f in ds.values('filepath'))              # the App shows PNG renderings of the DICOMs
        add_predictions(ds, ck); add_explanations(ds, d / 'expl')
        assert len(ds.exists('heatmap_hirescam')) == pd.read_csv(d / 'expl/metrics.csv').path.nunique() and len(ds.exists('prediction')) == len(ds)
    finally:
        if fo.dataset_exists(name): fo.delete_dataset(name)
    dcm = next((d / 'pacs').rglob('*.dcm')).read_bytes()
    empty = write_dicom(np.zeros((64, 64)), d / 'no_pixels.dcm', PixelData=None).read_bytes()
    with TestClient(create_app(ck)) as client:
        r = client.post('/predict', files={'file': ('film.dcm', dcm, 'application/dicom')})
        assert r.status_code == 200 and abs(sum(r.json()['probabilities'].values()) - 1) < 1e-5
        r = client.post('/explain?method=hirescam&format=json', files={'file': ('film.dcm', dcm, 'application/dicom')})
        assert r.status_code == 200 and r.json()['method'] == 'hirescam'
        r = client.post('/predict', files={'file': ('no_pixels.dcm', empty, 'application/dicom')})
        assert r.status_code == 422 and 'no_pixels.dcm' in r.json()['detail'] and 'Traceback' not in r.text
