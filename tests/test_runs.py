"""Runs as a user drives them from `xnn_train`: a user's own preset folder (--config-dir), a sweep (--multirun) with one
MLflow run and one checkpoint per member, fine-tuning from the latest run, and an explicit run id that is never replaced
without --force. Tiny synthetic films, one epoch each."""
import json, re
import pandas as pd
import pytest
from xnn.run import xnn_train

@pytest.fixture(scope='module')
def work(tmp_path_factory):
    "A working folder with ./data (tiny wrangled films) and ./presets/mine.yaml, a user preset built on the shipped demo"
    from xnn.data.synthetic import SynthConfig, synthesize
    from xnn.data.wrangle import wrangle
    d = tmp_path_factory.mktemp('runs')
    synthesize(d / 'synth', SynthConfig(patients=30, size=48, seed=5))
    wrangle(d / 'synth/chest_xray', d / 'data', seed=0, verbose=False)
    (d / 'presets').mkdir()
    (d / 'presets/mine.yaml').write_text('defaults: [demo, _self_]\ndata: {image_size: 32}\ntrainer: {max_epochs: 1}\ntest: {bootstrap: 20}\n')
    return d

def train(work, monkeypatch, capsys, *args):
    "xnn_train in this process, in `work`; returns its output lines"
    monkeypatch.chdir(work)
    xnn_train(['-cd', 'presets', '-cn', 'mine', '-q', 'data.dir=data', *args])
    return capsys.readouterr().out.strip().splitlines()

def test_sweep_of_two_learning_rates(work, monkeypatch, capsys):
    import mlflow
    out = train(work, monkeypatch, capsys, '--multirun', 'optim.lr=0.001,0.003')
    m = re.fullmatch(r'sweep (mine-sweep-\d{8}-\d{6}): 2 of 2 runs trained   summary: (logs/sweeps/\S+\.csv)', out[-1])
    assert m, out
    summary = pd.read_csv(work / m[2])
    assert list(summary.overrides) == ['optim.lr=0.001', 'optim.lr=0.003'] and summary.error.isna().all()
    ckpts = [work / c for c in summary.checkpoint]
    assert len(set(ckpts)) == 2 and all(c.exists() for c in ckpts)                 # one checkpoint per member
    assert (work / 'models/mine.ckpt').resolve() == ckpts[1].resolve()             # the pointer leads to the last member
    client = mlflow.MlflowClient(f'sqlite:///{work}/logs/mlruns/mlflow.db')
    runs = client.search_runs([client.get_experiment_by_name('xnn').experiment_id], f"tags.`xnn.sweep` = '{m[1]}'")
    assert sorted(r.data.params['optim/lr'] for r in runs) == ['0.001', '0.003']   # one MLflow run per member, with its own lr
    assert sorted(r.info.run_id for r in runs) == sorted(summary.mlflow_run_id)
    for c, lr in zip(ckpts, (0.001, 0.003)):
        assert json.loads(c.with_suffix('.metrics.json').read_text())['sweep'] == m[1]

def test_fine_tuning_starts_from_the_latest_run(work, monkeypatch, capsys):
    latest = (work / 'models/mine.ckpt').resolve()
    out = train(work, monkeypatch, capsys, 'run_name=mine_ft', 'model.init_from=models/mine.ckpt', 'model.freeze=fine_tune', 'model.trainable_blocks=1')
    ckpt = re.match(r'checkpoint: (\S+)', out[-1])[1]
    metrics = json.loads((work / ckpt).with_suffix('.metrics.json').read_text())
    assert (work / metrics['init_checkpoint']).resolve() == latest and metrics['init_checkpoint'] != 'models/mine.ckpt'

def test_an_explicit_run_id_is_replaced_only_with_force(work, monkeypatch, capsys):
    out = train(work, monkeypatch, capsys, 'run_id=baseline')
    assert out[-1].startswith('checkpoint: models/baseline.ckpt'), out
    first = (work / 'models/baseline.ckpt').read_bytes()
    with pytest.raises(SystemExit) as e: train(work, monkeypatch, capsys, 'run_id=baseline')
    assert e.value.code == 2 and 'run baseline exists (models/baseline.ckpt)' in capsys.readouterr().err
    assert (work / 'models/baseline.ckpt').read_bytes() == first                   # refused before training: nothing touched
    out = train(work, monkeypatch, capsys, 'run_id=baseline', '--force', 'optim.lr=0.01')
    assert out[-1].startswith('checkpoint: models/baseline.ckpt') and (work / 'models/baseline.ckpt').read_bytes() != first
