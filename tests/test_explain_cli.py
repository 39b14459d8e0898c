"`xnn_explain` as a user runs it: a real process over a split, then its outputs; bad input gives one line."
import json, os, subprocess
import numpy as np, pandas as pd
import pytest
from PIL import Image
from conftest import script

@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    from xnn.data.loaders import Preprocess
    from xnn.data.synthetic import SynthConfig, synthesize
    from xnn.data.wrangle import wrangle
    from xnn.models import create_model
    from xnn.train import save_classifier
    d = tmp_path_factory.mktemp('explain')
    synthesize(d / 'synth', SynthConfig(patients=24, size=64, seed=8, difficulty=0., marker_prob=1.))
    wrangle(d / 'synth/chest_xray', d / 'data', seed=0, verbose=False)
    save_classifier(create_model('tiny_convnextv2', preprocess=Preprocess(64)), d / 'm.ckpt')
    return d

def run(d, *args):
    env = dict(os.environ, HF_HUB_OFFLINE='1', PYTHONWARNINGS='ignore')
    return subprocess.run([script('xnn_explain'), *map(str, args)], cwd=d, capture_output=True, text=True, timeout=600, env=env)

def test_explain_split_writes_everything(trained):
    r = run(trained, '--ckpt', 'm.ckpt', '--data', 'data', '--out', 'expl', '--methods', 'integrated_gradients,gradcam,lime',
            '--split', 'train', '--limit', '6', '--batch-size', '3', '--steps', '8', '--sanity-images', '2', '--target', 'pneumonia - normal')
    assert r.returncode == 0, r.stderr[-3000:]
    df = pd.read_csv(trained / 'expl/metrics.csv')
    from xnn.trust import METRICS
    assert {'path', 'label', 'predicted', 'method', *METRICS, 'pointing_game_strict_chance', 'deletion_auc_chance'} <= set(df.columns)
    assert len(df) == 18 and set(df.method) == {'integrated_gradients', 'gradcam', 'lime'}
    assert df.deletion_auc.between(0, 1).all() and df.insertion_auc.between(0, 1).all()
    assert df[df.label == 'normal'].pointing_game.isna().all()
    assert df.loc[df.method == 'integrated_gradients', 'ig_delta'].notna().all()
    sanity = json.loads((trained / 'expl/sanity.json').read_text())
    assert set(sanity['verdicts']) == set(sanity['checks']) == set(sanity['model_randomisation']) == {'integrated_gradients', 'gradcam', 'lime'}
    # a contrastive target has no "other class": the battery runs the randomisation checks and says class sensitivity was not run
    assert all(c['class_sensitivity'] == dict(value=None, threshold=0.9, similarity='spearman', verdict='not run') for c in sanity['checks'].values())
    assert sanity['references']['edge']['verdict'] == 'fails'          # the image-only reference fails, whatever the model
    for m, checks in sanity['checks'].items():
        worst = 'fails' if any(c['verdict'] == 'fails' for c in checks.values()) else 'passes'
        assert sanity['verdicts'][m] == worst and {c['verdict'] for k, c in checks.items() if k != 'class_sensitivity'} <= {'passes', 'fails'}
    assert len(list((trained / 'expl/overlays').glob('*.png'))) == 18 and len(list((trained / 'expl/maps').glob('*.npz'))) == 18
    from xnn.artifacts import film_stem
    sick = df[df.label != 'normal'].path.iloc[0]                   # a film with a lesion: its card shows the localisation metrics
    card = (trained / 'expl/cards' / f'{film_stem(sick)}.html').read_text()
    ov = np.asarray(Image.open(trained / 'expl/overlays' / f'{film_stem(sick)}.gradcam.png'), int)
    assert ((ov[..., 2] - ov[..., 0]) > 100).any()                 # its lesion is outlined in cyan (blue ≫ red nowhere else)
    assert 'sha256' in card and 'integrated_gradients' in card and 'mprt_top' in card and 'pointing game (0 px)' in card
    assert 'integrated_gradients' in r.stdout and 'model evaluations per film' in r.stdout   # the methods table and the battery's cost

@pytest.mark.parametrize('args,message', [
    (['--methods', 'gradcam,telepathy'], "unknown attribution method 'telepathy'"),
    (['--target', 'covid'], "unknown class 'covid'"),
])
def test_bad_input_is_one_line(trained, args, message):
    r = run(trained, '--ckpt', 'm.ckpt', '--data', 'data', '--out', 'bad', '--limit', '2', *args)
    assert r.returncode == 2 and message in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]

def test_missing_checkpoint(trained):
    r = run(trained, '--ckpt', 'nope.ckpt', '--data', 'data', '--out', 'bad')
    assert r.returncode == 2 and 'checkpoint nope.ckpt not found' in r.stderr

PARITY = 'gradcam,saliency,integrated_gradients,smoothgrad,gradient_shap,lime'   # the stochastic three seeded per film: no map depends on its batch

def test_ddp_gives_the_same_metrics(trained):
    "Two CPU processes (Lightning DDP, gloo) write the metrics.csv one process writes: each film once, the same numbers"
    common = ['--ckpt', 'm.ckpt', '--data', 'data', '--methods', PARITY, '--split', 'train', '--limit', '7', '--batch-size', '2',
              '--steps', '4', '--sanity-images', '0', '--road-films', '-1', '--accelerator', 'cpu', '--quiet']
    one, two = (run(trained, *common, '--out', f'ddp{n}', '--devices', n) for n in ('1', '2'))
    assert one.returncode == 0 and two.returncode == 0, (one.stderr + two.stderr)[-3000:]
    a, b = (pd.read_csv(trained / f'ddp{n}/metrics.csv').sort_values(['path', 'method'], ignore_index=True) for n in (1, 2))
    assert len(b) == 7 * 6 and not b.duplicated(['path', 'method']).any()           # an odd film count: no film padded in twice
    assert list(a.columns) == list(b.columns) and (a.select_dtypes(exclude='number') == b.select_dtypes(exclude='number')).all().all()
    pd.testing.assert_frame_equal(a.select_dtypes('number'), b.select_dtypes('number'), check_exact=False, atol=1e-5, rtol=0)
    assert not list((trained / 'ddp2').glob('metrics.rank*.csv'))                   # the per-rank parts are merged and removed
