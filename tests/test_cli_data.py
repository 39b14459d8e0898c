"The data commands as a new user runs them: `xnn_synth OUT && xnn_wrangle OUT/chest_xray DST`."
import json, subprocess
import pandas as pd
import pytest
from conftest import script, tree_hashes

COLUMNS = ['path', 'label', 'split', 'patient_id', 'source_path', 'width', 'height', 'mode', 'sha1', 'mask_path']

def run(*args, ok=True):
    r = subprocess.run([script(args[0]), *map(str, args[1:])], capture_output=True, text=True, timeout=300)
    if ok: assert r.returncode == 0, r.stderr
    return r

@pytest.fixture(scope='module')
def wrangled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('cli')
    run('xnn_synth', tmp / 's', '--patients', 40, '--size', 96, '--seed', 5)
    before = tree_hashes(tmp / 's')
    r = run('xnn_wrangle', tmp / 's/chest_xray', tmp / 'd')
    return tmp, before, r

def test_synth_then_wrangle(wrangled):
    tmp, before, r = wrangled
    ann = pd.read_csv(tmp / 'd/annotations.csv', keep_default_na=False)
    assert list(ann.columns[:len(COLUMNS)]) == COLUMNS
    assert set(ann.split) == {'train', 'val', 'test', 'predict'}
    assert (ann.split == 'predict').sum() >= 3 and set(ann[ann.split == 'predict'].label) == {'bacteria', 'normal', 'virus'}
    # zero patients shared across splits
    assert ann.groupby('patient_id').split.nunique().max() == 1
    # masks carried for every pneumonia film, none for normal films, and they exist
    assert (ann[ann.label != 'normal'].mask_path != '').all() and (ann[ann.label == 'normal'].mask_path == '').all()
    assert all((tmp / 'd' / p).exists() for p in list(ann.path) + [m for m in ann.mask_path if m])
    # the printed summary has counts per split x class and patients per split
    assert 'patients' in r.stdout and 'bacteria' in r.stdout and 'predict' in r.stdout
    # the source is untouched
    assert tree_hashes(tmp / 's') == before
    audit = json.loads((tmp / 'd/audit.json').read_text())
    assert audit['n_kept'] == len(ann) and not any(d['crosses_new_splits'] for d in audit['duplicates'])

def test_rerun_is_idempotent_and_refusals_are_clear(wrangled):
    tmp, before, _ = wrangled
    first = (tmp / 'd/annotations.csv').read_bytes()
    r = run('xnn_wrangle', tmp / 's/chest_xray', tmp / 'd')
    assert 'up to date' in r.stdout and (tmp / 'd/annotations.csv').read_bytes() == first
    r = run('xnn_wrangle', tmp / 's/chest_xray', tmp / 'd', '--seed', 1, ok=False)
    assert r.returncode == 2 and 'not empty; pass --force' in r.stderr and 'Traceback' not in r.stderr
    run('xnn_wrangle', tmp / 's/chest_xray', tmp / 'd', '--force')
    assert (tmp / 'd/annotations.csv').read_bytes() == first          # same seed, same result
    assert tree_hashes(tmp / 's') == before

@pytest.mark.parametrize('args,message', [
    (['/definitely/not/here', 'DST'], 'does not exist'),
    (['SRC', 'DST', '--ratios', '0.5', '0.5', '0.5'], 'sum to 1'),
    (['SRC', 'DST', '--link', 'move'], "invalid choice: 'move'"),
    (['SRC', 'SRC/inside'], 'must not be inside the source'),
])
def test_bad_input_gives_one_line_error(wrangled, args, message):
    tmp = wrangled[0]
    args = [a.replace('SRC', str(tmp / 's/chest_xray')).replace('DST', str(tmp / 'bad')) for a in args]
    before = tree_hashes(tmp / 's')
    r = run('xnn_wrangle', *args, ok=False)
    assert r.returncode == 2 and message in r.stderr and 'Traceback' not in r.stderr
    assert tree_hashes(tmp / 's') == before

def test_near_duplicates_across_splits(wrangled):
    "A training film resized to 3/4 and re-encoded (JPEG quality 70) in test/ under another patient's name"
    import shutil
    from PIL import Image
    tmp = wrangled[0]
    src = tmp / 'leak'
    shutil.copytree(tmp / 's/chest_xray', src)
    orig = sorted((src / 'train/PNEUMONIA').glob('person*_bacteria_*.jpeg'))[0]
    im = Image.open(orig).convert('L')
    im.resize((round(im.width * 0.75), round(im.height * 0.75)), Image.BILINEAR).save(src / 'test/PNEUMONIA/person9000_bacteria_9000.jpeg', quality=70)
    pair = {orig.name, 'person9000_bacteria_9000.jpeg'}
    # the audit finds the pair across splits (the SHA-1 audit cannot: the bytes differ), and nothing else
    r = run('xnn_wrangle', src, tmp / 'leaky', '--seed', 0)
    audit = json.loads((tmp / 'leaky/audit.json').read_text())['near_duplicates']
    assert (audit['n_groups'], audit['n_crossing_splits']) == (1, 1)
    assert {f.split('/')[-1] for f in audit['groups'][0]['files']} == pair and audit['groups'][0]['max_distance'] < audit['threshold']
    assert 'WARNING' in r.stdout and '--near-duplicates' in r.stdout
    # --near-duplicates keeps the pair in one split; --quiet prints nothing
    r = run('xnn_wrangle', src, tmp / 'sealed', '--seed', 0, '--near-duplicates', '--quiet')
    assert r.stderr == '' and r.stdout.splitlines() == [f"wrote {len(pd.read_csv(tmp / 'sealed/annotations.csv'))} films to {tmp / 'sealed'} (annotations.csv, audit.json)"]
    ann = pd.read_csv(tmp / 'sealed/annotations.csv', keep_default_na=False)
    both = ann[ann.path.str.split('/').str[-1].isin(pair)]
    assert len(both) == 2 and both.split.nunique() == 1 and both.near_duplicate.nunique() == 1 and (both.near_duplicate != '').all()
    assert json.loads((tmp / 'sealed/audit.json').read_text())['near_duplicates']['n_crossing_splits'] == 0

def test_synth_refuses_foreign_folder(tmp_path):
    (tmp_path / 'notes.txt').write_text('mine')
    r = run('xnn_synth', tmp_path, '--force', ok=False)
    assert r.returncode == 2 and 'not written by xnn_synth' in r.stderr
    assert (tmp_path / 'notes.txt').read_text() == 'mine'
