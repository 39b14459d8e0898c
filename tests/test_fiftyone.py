"""FiftyOne on its own MongoDB: a dataset from the synthetic data, predictions, heat maps, saved views, FiftyOne Brain
(embeddings map, mistakenness, near duplicates) and the App served by `xnn_fiftyone` on a free loopback port. Every
dataset made here is deleted afterwards."""
import json, os, shutil, subprocess
from pathlib import Path
import pandas as pd, pytest
from conftest import free_port, script, stop, wait_http

os.environ.setdefault('FIFTYONE_DO_NOT_TRACK', 'true')

@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    from xnn.data.loaders import Preprocess
    from xnn.data.synthetic import SynthConfig, synthesize
    from xnn.data.wrangle import wrangle
    from xnn.models import create_model
    from xnn.train import save_classifier
    d = tmp_path_factory.mktemp('fo')
    synthesize(d / 'synth', SynthConfig(patients=20, size=64, seed=6, difficulty=0., marker_prob=1.))
    ann = wrangle(d / 'synth/chest_xray', d / 'data', seed=0, verbose=False)
    ck = save_classifier(create_model('small_cnn', preprocess=Preprocess(64)), d / 'm.ckpt')
    yield d, ann, ck
    import fiftyone as fo
    for n in fo.list_datasets():
        if n.startswith(f'xnn-test-{os.getpid()}'): fo.delete_dataset(n)

def test_dataset_predictions_heatmaps_views(setup):
    import fiftyone as fo
    from fiftyone import ViewField as F
    from xnn.fiftyone import add_explanations, add_predictions, build_dataset, heatmap_size, save_views
    from xnn.report import explain_split
    from xnn.trust import FLAGS, METRICS
    d, ann, ck = setup
    name = f'xnn-test-{os.getpid()}-a'
    ds = build_dataset(d / 'data', name)
    assert ds.persistent and len(ds) == len(ann)
    assert ds.count_values('ground_truth.label') == ann.label.value_counts().to_dict()
    assert ds.count_values('split') == ann.split.value_counts().to_dict()
    assert len(ds.exists('lesion')) == (ann.mask_path != '').sum()
    add_predictions(ds, ck)
    assert len(ds.exists('prediction')) == len(ann) and set(ds.distinct('eval_pneumonia')) <= {'TP', 'FP', 'FN', 'TN'}
    explain_split(ck, d / 'data', d / 'expl', split='train', methods=('integrated_gradients', 'gradcam'), limit=5, batch_size=5, steps=4,
                  sanity_images=2, progress=False)
    add_explanations(ds, d / 'expl')
    reloaded = fo.load_dataset(name)                                      # from the database, not memory
    hm = reloaded.exists('heatmap_integrated_gradients')
    assert len(hm) == 5
    s = hm.first()
    w, h = heatmap_size(s.metadata.width, s.metadata.height, 64)                        # the film's shape at the 64-px map's resolution
    assert s.heatmap_integrated_gradients.map.shape == (h, w) and w < s.metadata.width   # not enlarged to the film's pixels
    assert abs(s.heatmap_integrated_gradients.map).max() <= 1
    # trust fields from the schema: every metric and flag per method, the chance rates per film, the sanity verdicts
    schema = reloaded.get_field_schema()
    for m in ('integrated_gradients', 'gradcam'):
        for k in METRICS: assert isinstance(schema[f'{m}_{k}'], fo.FloatField), (m, k)
        for k in FLAGS: assert isinstance(schema[f'{m}_{k}'], fo.BooleanField), (m, k)
        assert isinstance(schema[f'{m}_sanity'], fo.StringField)
    for c in (m.chance_column for m in METRICS.values() if m.chance): assert isinstance(schema[c], fo.FloatField), c
    metrics = pd.read_csv(d / 'expl/metrics.csv')
    sanity = json.loads((d / 'expl/sanity.json').read_text())
    sick = reloaded.match(F('ground_truth.label') != 'normal').exists('heatmap_gradcam').first()
    row = metrics[(metrics.method == 'gradcam') & (metrics.path == str(Path(sick.filepath).relative_to(d / 'data')))].iloc[0]
    assert sick.gradcam_pointing_game_strict == pytest.approx(row.pointing_game_strict)
    assert sick.pointing_game_chance == pytest.approx(row.pointing_game_chance) and sick.pointing_game_chance > 0
    assert sick.gradcam_sanity == sanity['verdicts']['gradcam'] and sick.integrated_gradients_sanity == sanity['verdicts']['integrated_gradients']
    assert reloaded.info['xnn_sanity'] == sanity['checks']                # per-check verdicts, readable from the dataset
    assert reloaded.info['xnn_sanity']['gradcam']['mprt_top']['verdict'] in ('passes', 'fails')
    failing = {m for m, v in sanity['verdicts'].items() if v == 'fails'}
    assert set(reloaded.distinct('sanity_failed')) == {bool(failing)}
    assert set(save_views(reloaded)) == {'misclassified', 'low confidence', 'failed sanity check', 'shortcut suspected'}
    assert len(reloaded.load_saved_view('failed sanity check')) == (5 if failing else 0)
    # the view follows the battery's verdicts, not the first format's model_randomisation entry
    shutil.copytree(d / 'expl', d / 'expl_fails')
    fails = dict(sanity, verdicts={m: 'fails' for m in sanity['verdicts']},
                 checks={m: c | dict(mprt_top=c['mprt_top'] | dict(value=0.99, verdict='fails')) for m, c in sanity['checks'].items()},
                 model_randomisation={m: r | dict(verdict='passes') for m, r in sanity['model_randomisation'].items()})
    (d / 'expl_fails/sanity.json').write_text(json.dumps(fails))
    add_explanations(reloaded, d / 'expl_fails'); save_views(reloaded)
    again = fo.load_dataset(name)
    assert len(again.load_saved_view('failed sanity check')) == 5 and set(again.distinct('gradcam_sanity')) == {'fails'}
    assert again.info['xnn_sanity']['gradcam']['mprt_top'] == dict(fails['checks']['gradcam']['mprt_top'])
    assert len(build_dataset(d / 'data', name)) == len(ann)                # re-running updates, no duplicates
    assert fo.load_dataset(name).has_field('heatmap_gradcam')              # and keeps what was added

def plant_copy(src:Path)->tuple:
    "A training film resized to 3/4 and saved as JPEG at quality 70 in test/ under another patient's name: (original, copy)"
    from PIL import Image
    orig = sorted((src / 'train/PNEUMONIA').glob('person*_bacteria_*.jpeg'))[0]
    copy = src / 'test/PNEUMONIA/person9000_bacteria_9000.jpeg'
    im = Image.open(orig).convert('L')
    im.resize((round(im.width * 0.75), round(im.height * 0.75)), Image.BILINEAR).save(copy, quality=70)
    return orig, copy

@pytest.fixture(scope='module')
def leaked(setup):
    "The setup's synthetic films with a planted copy, wrangled (seed 0) so that the copy and its original land in different splits"
    from xnn.data.wrangle import wrangle
    d, _, ck = setup
    shutil.copytree(d / 'synth', d / 'synth_leak')
    orig, copy = plant_copy(d / 'synth_leak/chest_xray')
    ann = wrangle(d / 'synth_leak/chest_xray', d / 'data_leak', seed=0, verbose=False)
    return d, ann, ck, {orig.name, copy.name}

def test_audit_finds_the_planted_copy(leaked):
    d, ann, _, pair = leaked
    nd = json.loads((d / 'data_leak/audit.json').read_text())['near_duplicates']
    assert (nd['n_groups'], nd['n_crossing_splits']) == (1, 1)       # the pair, and no distinct films
    assert {Path(f).name for f in nd['groups'][0]['files']} == pair and len(nd['groups'][0]['splits']) == 2
    assert set(ann[ann.near_duplicate != ''].path.map(lambda p: Path(p).name)) == pair

def test_brain_views_from_the_command_line(leaked, capfd):
    import fiftyone as fo
    from xnn.fiftyone import xnn_fiftyone
    d, ann, ck, pair = leaked
    name = f'xnn-test-{os.getpid()}-brain'
    xnn_fiftyone(['--data', str(d / 'data_leak'), '--ckpt', str(ck), '--name', name, '--no-launch', '--no-brain', '-q'])
    ds = fo.load_dataset(name)
    assert ds.list_brain_runs() == [] and 'near duplicates' not in ds.list_saved_views()      # --no-brain skips it
    xnn_fiftyone(['--data', str(d / 'data_leak'), '--ckpt', str(ck), '--name', name, '--no-launch', '-q'])
    out = capfd.readouterr()
    assert out.err == '' and [l.split(':')[0] for l in out.out.splitlines()] == [f"dataset '{name}'"] * 2, out   # --quiet: each run's result line only
    ds = fo.load_dataset(name)
    leaks = ds.load_saved_view('near duplicates across splits')
    assert {Path(p).name for p in leaks.values('film_path')} == pair and len(set(leaks.values('split'))) == 2
    assert len(ds.load_saved_view('near duplicates')) == 2              # nothing else is flagged
    viz = ds.load_brain_results('xnn_features')
    assert viz.points.shape == (len(ann), 2) and set(viz.current_sample_ids) == set(ds.values('id'))
    assert len(ds.exists('mistakenness')) == len(ann)
    most = ds.load_saved_view('most mistaken')
    assert all(s.prediction.label != s.ground_truth.label for s in most)
    assert most.values('mistakenness') == sorted(most.values('mistakenness'), reverse=True)

def test_app_serves_on_loopback(setup):
    import fiftyone as fo
    d, ann, ck = setup
    name, port = f'xnn-test-{os.getpid()}-app', free_port()
    p = subprocess.Popen([script('xnn_fiftyone'), '--data', str(d / 'data'), '--name', name, '--port', str(port)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        page = wait_http(f'http://127.0.0.1:{port}/', p, 180)
        assert '<html' in page.lower() and 'fiftyone' in page.lower()
        assert fo.dataset_exists(name) and len(fo.load_dataset(name)) == len(ann)
    finally: stop(p)
