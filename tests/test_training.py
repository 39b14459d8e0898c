"""Training end to end, as a user runs it: presets, checkpoints, offline reload, best-checkpoint testing, DDP, bad input."""
import json, os, subprocess, sys
from pathlib import Path
import pytest, torch
from conftest import script

FAST = ['data.image_size=64', 'data.batch_size=16', 'data.num_workers=0', 'trainer.accelerator=cpu', 'test.bootstrap=200',
        '+trainer.enable_progress_bar=false', '+trainer.enable_model_summary=false']

@pytest.fixture(scope='module')
def work(tmp_path_factory):
    "A working directory with a small wrangled synthetic data set in ./data"
    from xnn.data.synthetic import SynthConfig, synthesize
    from xnn.data.wrangle import wrangle
    d = tmp_path_factory.mktemp('train')
    synthesize(d / 'synth', SynthConfig(patients=45, size=64, seed=4, difficulty=0.))
    wrangle(d / 'synth/chest_xray', d / 'data', seed=0, verbose=False)
    return d

def train(work, *args, ok=True, timeout=600):
    env = dict(os.environ, HF_HUB_OFFLINE='1', TRANSFORMERS_OFFLINE='1', PYTHONWARNINGS='ignore')
    r = subprocess.run([script('xnn_train'), *args], cwd=work, capture_output=True, text=True, timeout=timeout, env=env)
    if ok: assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return r

def test_mobilenet_feature_extraction_then_fine_tune(work):
    "MobileNetV2 (random init here; 'pretrained' needs internet): feature extraction on cached features, then fine-tuning from it"
    r = train(work, '-cn', 'mobilenetv2', 'data.dir=data', 'model.weights=null', 'trainer.max_epochs=2', 'run_name=mnv2', *FAST)
    m = json.loads((work / 'models/mnv2.metrics.json').read_text())
    assert m['feature_cache'] is True and m['checkpoint'] == 'models/mnv2.ckpt'
    assert m['params']['trainable'] == 1280 * 3 + 3
    r = train(work, '-cn', 'mobilenetv2_ft', 'data.dir=data', 'model.init_from=models/mnv2.ckpt', 'trainer.max_epochs=1', 'run_name=mnv2_ft', *FAST)
    ft = json.loads((work / 'models/mnv2_ft.metrics.json').read_text())
    assert ft['feature_cache'] is False and ft['params']['trainable'] > m['params']['trainable']
    assert 'test macro-F1' in r.stdout

def test_tiny_convnextv2_trains_and_reloads_offline(work):
    train(work, '-cn', 'convnextv2', 'data.dir=data', 'model.name=tiny_convnextv2', 'model.weights=null', 'trainer.max_epochs=1',
          'run_name=cnx', *FAST)
    ck = work / 'models/cnx.ckpt'
    raw = torch.load(ck, map_location='cpu', weights_only=True)          # plain data only
    assert raw['meta']['hf_config']['model_type'] == 'convnextv2' and raw['meta']['classes'] == ['bacteria', 'normal', 'virus']
    code = ("import torch; from xnn.train import load_classifier; m = load_classifier('models/cnx.ckpt'); "
            "p = m(torch.randn(2, 3, 64, 64)).softmax(-1); assert p.shape == (2, 3); print('ok', m.preprocess.size)")
    env = dict(os.environ, HF_HUB_OFFLINE='1', TRANSFORMERS_OFFLINE='1', no_proxy='', https_proxy='http://127.0.0.1:9', http_proxy='http://127.0.0.1:9')
    r = subprocess.run([sys.executable, '-c', code], cwd=work, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0 and 'ok 64' in r.stdout, r.stderr

def test_test_metrics_come_from_the_best_checkpoint(work, monkeypatch):
    "Sabotage the last epoch: metrics.json must report the best epoch's checkpoint, not the last weights (mistake 2)"
    import lightning as L
    from xnn import run
    from xnn.evaluate import evaluate
    class Sabotage(L.Callback):
        def on_train_epoch_end(self, trainer, module):
            if trainer.current_epoch == trainer.max_epochs - 1:
                with torch.no_grad():
                    module.model.head.weight.zero_(); module.model.head.bias.copy_(torch.tensor([5., 0., 0.]))
    orig = run._callbacks
    monkeypatch.setattr(run, '_callbacks', lambda cfg, d: (lambda ck_cbs: (ck_cbs[0], ck_cbs[1] + [Sabotage()]))(orig(cfg, d)))
    monkeypatch.chdir(work)
    cfg = run.compose_config('demo', ['data.dir=data', 'trainer.max_epochs=4', 'run_name=sabotage', 'mlflow.enabled=false',
                                      'early_stopping.patience=0', 'optim.lr=0.01', 'model.name=small_cnn', *FAST])   # learns within 4 epochs at 64 px
    res = run.fit(cfg)
    assert res['last_epoch'] == 3 and res['best_epoch'] < res['last_epoch']
    ev = evaluate('models/sabotage.ckpt', 'data', 'test', n_boot=100)
    assert abs(ev.report['macro_f1'] - res['test']['macro_f1']) < 1e-9
    last = torch.load(Path(res['lightning_checkpoint']), weights_only=True)['epoch']
    assert last == res['best_epoch']
    # the sabotaged last weights give every film the same probabilities, hence an AUROC of exactly 0.5
    assert abs(res['test']['auroc'] - 0.5) > 1e-6

def test_ddp_two_processes_on_cpu(work):
    r = train(work, '-cn', 'demo', 'data.dir=data', 'trainer.strategy=ddp', 'trainer.devices=2', 'trainer.max_epochs=2',
              'run_name=ddp', 'mlflow.enabled=false', *FAST, timeout=900)
    log = r.stdout + r.stderr
    assert 'MEMBER: 2/2' in log and 'distributed_backend=gloo' in log
    m = json.loads((work / 'models/ddp.metrics.json').read_text())
    assert m['checkpoint'] == 'models/ddp.ckpt' and torch.load(work / 'models/ddp.ckpt', weights_only=True)['meta']['name'] == 'small_cnn_s16'

@pytest.mark.parametrize('args,message', [
    (['-cn', 'mobilenet'], "unknown preset 'mobilenet'"),
    (['-cn', 'demo', 'data.dir=nowhere'], 'data directory nowhere does not exist'),
    (['-cn', 'demo', 'data.dir=data', 'trainer.max_epochs'], 'bad override'),
    (['-cn', 'resnet_ft', 'data.dir=data', 'model.init_from=models/other.ckpt', 'model.name=resnet18'], 'holds a tiny_convnextv2 model, but this run builds resnet18'),
    (['-cn', 'demo', 'data.dir=baddata'], "unknown labels ['pneumonia']"),
])
def test_bad_input_is_one_line(work, args, message):
    bad = work / 'baddata'
    if not bad.exists():
        bad.mkdir(); ann = (work / 'data/annotations.csv').read_text().splitlines()
        (bad / 'annotations.csv').write_text('\n'.join([ann[0], ann[1].replace(',virus,', ',pneumonia,').replace(',normal,', ',pneumonia,').replace(',bacteria,', ',pneumonia,')] + ann[2:]))
    if not (work / 'models/other.ckpt').exists():
        from xnn.models import create_model
        from xnn.train import save_classifier
        save_classifier(create_model('tiny_convnextv2'), work / 'models/other.ckpt')
    r = train(work, *args, *FAST, ok=False)
    assert r.returncode == 2 and message in r.stderr, r.stderr[-3000:]
    assert 'Traceback' not in r.stderr

def test_cfg_prints_the_composed_preset(work):
    r = train(work, '-cn', 'resnet', '--cfg', 'data.dir=/x')
    assert 'name: resnet50' in r.stdout and 'dir: /x' in r.stdout
