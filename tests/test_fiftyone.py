"""FiftyOne on its own MongoDB: a dataset from the synthetic data, predictions, heat maps, saved views, and the App
served by `xnn_fiftyone` on a free loopback port. Every dataset made here is deleted afterwards."""
import os, subprocess
import pytest
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
    from xnn.fiftyone import add_explanations, add_predictions, build_dataset, save_views
    from xnn.report import explain_split
    d, ann, ck = setup
    name = f'xnn-test-{os.getpid()}-a'
    ds = build_dataset(d / 'data', name)
    assert ds.persistent and len(ds) == len(ann)
    assert ds.count_values('ground_truth.label') == ann.label.value_counts().to_dict()
    assert ds.count_values('split') == ann.split.value_counts().to_dict()
    assert len(ds.exists('lesion')) == (ann.mask_path != '').sum()
    add_predictions(ds, ck)
    assert len(ds.exists('prediction')) == len(ann) and set(ds.distinct('eval_pneumonia')) <= {'TP', 'FP', 'FN', 'TN'}
    explain_split(ck, d / 'data', d / 'expl', 'train', ('integrated_gradients', 'gradcam'), limit=5, batch_size=5, steps=4,
                  sanity_images=2, progress=False)
    add_explanations(ds, d / 'expl')
    reloaded = fo.load_dataset(name)                                      # from the database, not memory
    hm = reloaded.exists('heatmap_integrated_gradients')
    assert len(hm) == 5
    s = hm.first()
    assert s.heatmap_integrated_gradients.map.shape == (s.metadata.height, s.metadata.width)
    assert abs(s.heatmap_integrated_gradients.map).max() <= 1
    assert set(save_views(reloaded)) == {'misclassified', 'low confidence', 'failed sanity check', 'shortcut suspected'}
    assert len(build_dataset(d / 'data', name)) == len(ann)                # re-running updates, no duplicates
    assert fo.load_dataset(name).has_field('heatmap_gradcam')              # and keeps what was added

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
