"Backbones end to end: TorchXRayVision presets trained from a local weights file, offline; the pathology head through a checkpoint."
import json, os, subprocess, sys
import pytest, torch
from conftest import script

FAST = ['data.image_size=64', 'data.batch_size=16', 'data.num_workers=0', 'trainer.accelerator=cpu', 'test.bootstrap=100',
        'mlflow.enabled=false', '+trainer.enable_progress_bar=false', '+trainer.enable_model_summary=false']
# no network: a dead proxy, the hubs offline, and a private home so no library cache is found or written
OFFLINE = dict(HF_HUB_OFFLINE='1', TRANSFORMERS_OFFLINE='1', PYTHONWARNINGS='ignore', no_proxy='', NO_PROXY='',
               https_proxy='http://127.0.0.1:9', http_proxy='http://127.0.0.1:9', HTTPS_PROXY='http://127.0.0.1:9', HTTP_PROXY='http://127.0.0.1:9')

@pytest.fixture(scope='module')
def work(tmp_path_factory):
    "A working directory with a small wrangled synthetic data set in ./data and a random TorchXRayVision DenseNet state dict"
    import torchxrayvision as xrv
    from xnn.data.synthetic import SynthConfig, synthesize
    from xnn.data.wrangle import wrangle
    d = tmp_path_factory.mktemp('backbones')
    synthesize(d / 'synth', SynthConfig(patients=30, size=64, seed=5, difficulty=0.))
    wrangle(d / 'synth/chest_xray', d / 'data', seed=0, verbose=False)
    torch.manual_seed(0)
    torch.save(xrv.models.DenseNet(weights=None).state_dict(), d / 'xrv_densenet.pt')     # the library's own model, saved its way
    (d / 'home').mkdir()
    return d

def run(work, *args, timeout=900):
    env = dict(os.environ, HOME=str(work / 'home'), **OFFLINE)
    return subprocess.run([script('xnn_train'), *args], cwd=work, capture_output=True, text=True, timeout=timeout, env=env)

def test_txrv_presets_train_offline_from_a_local_file(work):
    "Feature extraction from a local xrv state dict (one gray channel), then fine-tuning the last dense block from that run"
    r = run(work, '-cn', 'txrv_densenet121', 'model.weights=xrv_densenet.pt', 'data.dir=data', 'trainer.max_epochs=1', 'run_name=txrv', *FAST)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    m = json.loads((work / 'models/txrv.metrics.json').read_text())
    assert m['feature_cache'] is True and m['params']['trainable'] == 1024 * 3 + 3
    meta = torch.load(work / 'models/txrv.ckpt', map_location='cpu', weights_only=True)['meta']
    assert (meta['name'], meta['preprocess']['channels'], meta['preprocess']['size']) == ('txrv_densenet121', 1, 64)
    r = run(work, '-cn', 'txrv_densenet121_ft', 'model.init_from=models/txrv.ckpt', 'data.dir=data', 'trainer.max_epochs=1', 'run_name=txrv_ft', *FAST)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    ft = json.loads((work / 'models/txrv_ft.metrics.json').read_text())
    assert ft['feature_cache'] is False and ft['params']['trainable'] > m['params']['trainable']
    code = ("import torch; from xnn.train import load_classifier; m = load_classifier('models/txrv_ft.ckpt').eval(); "
            "print('ok', tuple(m(torch.randn(2, 1, 64, 64)).shape), m.preprocess.channels)")
    r = subprocess.run([sys.executable, '-c', code], cwd=work, capture_output=True, text=True, timeout=300, env=dict(os.environ, **OFFLINE))
    assert r.returncode == 0 and 'ok (2, 3) 1' in r.stdout, r.stderr[-3000:]

def test_txrv_named_weights_offline_fail_in_one_line(work):
    r = run(work, '-cn', 'txrv_densenet121', 'data.dir=data', *FAST, timeout=300)      # weights: pretrained → a download
    assert r.returncode == 2 and 'needs internet' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-3000:]

def test_pathology_head_survives_a_checkpoint(work, tmp_path):
    "head='pretrained': the 18 pathology logits and names, saved and rebuilt offline, give the same outputs"
    from xnn.models import create_model
    from xnn.train import load_classifier, save_classifier
    m = create_model('txrv_densenet121', weights=work / 'xrv_densenet.pt', head='pretrained').eval()
    back = load_classifier(save_classifier(m, tmp_path / 'p.ckpt')).eval()
    x = torch.randn(1, 1, 64, 64)
    assert back.classes == m.classes and back.classes[8] == 'Pneumonia' and len(back.classes) == 18
    assert torch.allclose(back(x), m(x), atol=1e-4)
    from xnn.explain import explain
    a = explain(back, x, 'gradcam', target='Pneumonia')                # its Pneumonia output, explained
    assert a.target.indices == [8] and a.maps.shape == (1, 64, 64)
    assert torch.allclose(a.probs, back(x).detach().sigmoid(), atol=1e-5)   # independent outputs: a sigmoid each, not one softmax

TINY = ('resnet18', 'mobilenet_v2', 'small_cnn', 'small_cnn_s16', 'tiny_convnextv2', 'tiny_vit', 'tiny_swin', 'txrv_densenet121', 'txrv_resnet50')

@pytest.mark.parametrize('name', TINY)
def test_heads_and_pools_for_every_backbone(name):
    "Every pooling a backbone offers keeps the CAM map and the (B, F) → logits head contract; the others are refused naming who offers them"
    from xnn.models import BACKBONES, POOLS, HeadConfig, MLPHead, cam_shape, create_model, model_meta, rebuild
    torch.manual_seed(0)
    spec = BACKBONES[name]
    x = torch.randn(2, spec.preprocess.channels, 64, 64)
    avg = create_model(name).eval()
    for pool in POOLS:
        if pool != 'avg' and spec.pool is None:
            with pytest.raises(ValueError, match=f"'{name}' pools inside its forward"): create_model(name, head_config=dict(pool=pool))
            continue
        m = create_model(name, head_config=HeadConfig((16,), 0.1, pool)).eval()
        m.load_state_dict(avg.state_dict(), strict=False)                         # the same body (the heads differ)
        assert isinstance(m.head, MLPHead) and m(x).shape == (2, 3)
        assert m.features(x).shape == (2, avg.head.in_features)
        assert cam_shape(m, x) == cam_shape(avg, x)                               # the CAM layer still sees the map
        if pool == 'max': assert (m.features(x) >= avg.features(x) - 1e-5).all()  # the maximum is at least the mean
        r = rebuild(model_meta(m)).eval(); r.load_state_dict(m.state_dict())
        torch.testing.assert_close(r(x), m(x), rtol=1e-4, atol=1e-5)

@pytest.mark.parametrize('name', TINY)
def test_freeze_norm_for_every_backbone(name):
    "freeze_norm: no normalisation parameter trains and every BatchNorm runs in eval mode, while the last block trains"
    from xnn.models import NORMS, create_model, freeze
    m = create_model(name)
    freeze(m, 'fine_tune', 1, freeze_norm=True)
    m.train()
    norms = [mod for mod in m.modules() if isinstance(mod, NORMS)]
    assert norms and not any(p.requires_grad for mod in norms for p in mod.parameters())
    assert not any(mod.training for mod in norms if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm))
    last = [p for mod in m.blocks()[-1].modules() if not isinstance(mod, NORMS) for p in mod.parameters(recurse=False)]
    assert last and all(p.requires_grad for p in last)
