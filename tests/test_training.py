"""Training end to end, as a user runs it: presets, checkpoints, offline reload, best-checkpoint testing, DDP, bad input."""
import json, os, re, subprocess, sys
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
    assert m['feature_cache'] is True and re.fullmatch(r'models/mnv2-\d{8}-\d{6}(-\d+)?\.ckpt', m['checkpoint'])   # the run's own; models/mnv2.ckpt points at it
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
    assert re.fullmatch(r'models/ddp-\d{8}-\d{6}(-\d+)?\.ckpt', m['checkpoint']) and torch.load(work / 'models/ddp.ckpt', weights_only=True)['meta']['name'] == 'small_cnn_s16'

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

def _mlflow(work):
    from mlflow import MlflowClient
    return MlflowClient(f'sqlite:///{work}/logs/mlruns/mlflow.db')      # base.yaml's store, relative to the run's folder

def test_original_preset_trains_as_the_original_did(work):
    "`original`: an MLP head, ReduceLROnPlateau on val/loss (factor 0.2, floor 1e-6), train and val AP, a validation figure per epoch in MLflow"
    from xnn.models import MLPHead
    from xnn.train import load_classifier
    train(work, '-cn', 'original', 'data.dir=data', 'model.weights=null', 'trainer.max_epochs=2', 'run_name=orig', *FAST)
    m = json.loads((work / 'models/orig.metrics.json').read_text())
    assert m['params']['trainable'] == 1280 * 128 + 128 + 128 * 3 + 3 and m['feature_cache'] is True
    raw = torch.load(work / m['checkpoint'], map_location='cpu', weights_only=True)
    assert raw['meta']['head'] == {'hidden': [128], 'dropout': 0.2, 'pool': 'avg'}
    assert isinstance(load_classifier(work / m['checkpoint']).head, MLPHead)
    lt = torch.load(work / m['lightning_checkpoint'], map_location='cpu', weights_only=True)
    sch = lt['lr_schedulers'][0]
    assert (lt['hyper_parameters']['monitor'], sch['mode'], sch['factor'], sch['patience'], sch['min_lrs']) == ('val/loss', 'min', 0.2, 2, [1e-6])
    client, rid = _mlflow(work), m['mlflow_run_id']
    assert [a.path for a in client.list_artifacts(rid, 'val_figures')] == ['val_figures/epoch_000.png', 'val_figures/epoch_001.png']
    for k in ('train/accuracy', 'train/macro_f1', 'train/ap', 'val/ap', 'val/loss'):
        assert len(client.get_metric_history(rid, k)) == 2, k

def test_original_ft_fine_tunes_with_frozen_norms(work):
    "`original_ft` from `original`: the last 4 blocks' convolutions move, no BatchNorm weight or statistic does; a checkpoint with another head is refused"
    from xnn.models import HeadConfig, create_model, freeze
    from xnn.train import load_classifier, save_classifier
    if not (work / 'models/orig.ckpt').exists():
        train(work, '-cn', 'original', 'data.dir=data', 'model.weights=null', 'trainer.max_epochs=1', 'run_name=orig', 'mlflow.enabled=false', *FAST)
    train(work, '-cn', 'original_ft', 'data.dir=data', 'model.init_from=models/orig.ckpt', 'trainer.max_epochs=1', 'run_name=orig_ft',
          'mlflow.enabled=false', *FAST)
    ft = json.loads((work / 'models/orig_ft.metrics.json').read_text())
    ref = create_model('mobilenet_v2', head_config=HeadConfig((128,), 0.2))
    assert ft['params']['trainable'] == freeze(ref, 'fine_tune', 4, freeze_norm=True)['trainable'] < freeze(ref, 'fine_tune', 4)['trainable']
    before, after = load_classifier(work / 'models/orig.ckpt'), load_classifier(work / ft['checkpoint'])
    bn = lambda m: {f'{n}.{k}': v for n, mod in m.named_modules() if isinstance(mod, torch.nn.BatchNorm2d) for k, v in mod.state_dict().items()}
    b0, b1 = bn(before), bn(after)
    assert len(b0) == 52 * 5 and [k for k in b0 if not torch.equal(b0[k], b1[k])] == []
    assert not torch.equal(before.net.features[18][0].weight, after.net.features[18][0].weight)
    save_classifier(create_model('mobilenet_v2'), work / 'models/mnv2_linear.ckpt')
    r = train(work, '-cn', 'original_ft', 'data.dir=data', 'model.init_from=models/mnv2_linear.ckpt', 'mlflow.enabled=false', *FAST, ok=False)
    assert r.returncode == 2 and 'set model.head to match' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-3000:]
