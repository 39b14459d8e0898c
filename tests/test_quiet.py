"""What a user sees from the CLIs: no third-party warnings, tips or banners, and with --quiet nothing but the result line."""
import hashlib, os, re, subprocess
from pathlib import Path
import pytest
from conftest import noise, output_lines as lines, script
TRAIN = ['-cn', 'demo', 'data.dir=data', 'data.image_size=32', 'trainer.max_epochs=1', 'test.bootstrap=20', 'run_name=q']

def run(cwd, name, *args):
    "Run an installed console script as a user would (Python's default warning filters), failing on a non-zero exit"
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONWARNINGS'}
    r = subprocess.run([script(name), *map(str, args)], cwd=cwd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return r

@pytest.fixture(scope='module')
def work(tmp_path_factory):
    "A working folder with ./data wrangled from synthetic films, and the outputs of the two commands that made it"
    d = tmp_path_factory.mktemp('quiet')
    synth = run(d, 'xnn_synth', 'synth', '--patients', 40, '--size', 64)
    wrangle = run(d, 'xnn_wrangle', 'synth/chest_xray', 'data')
    return d, synth, wrangle

def test_data_commands_are_clean(work):
    d, synth, wrangle = work
    assert noise(synth) == [] and noise(wrangle) == [], noise(synth) + noise(wrangle)
    assert synth.stdout.splitlines()[-1].startswith('wrote ')
    q = run(d, 'xnn_synth', 'synth_q', '--patients', 4, '--size', 64, '--quiet')
    assert len(lines(q)) == 1 and lines(q)[0].startswith('wrote '), lines(q)

def test_train_is_clean_and_quiet_is_one_line(work):
    d = work[0]
    r = run(d, 'xnn_train', *TRAIN)            # a new MLflow database and experiment, the model summary, the training bar
    assert noise(r) == [], noise(r)
    first = re.fullmatch(r'checkpoint: (models/q-\d{8}-\d{6}(?:-\d+)?\.ckpt)   metrics: \S+   latest: models/q\.ckpt', r.stdout.splitlines()[-1])
    assert first, r.stdout[-2000:]
    assert 'test macro-F1' in r.stdout
    before = hashlib.sha256((d / first[1]).read_bytes()).hexdigest()
    q = run(d, 'xnn_train', '-cn', 'demo', '-q', *TRAIN[2:])   # a second run of the same run name; -q among the overrides
    assert len(lines(q)) == 1, lines(q)
    second = re.fullmatch(r'checkpoint: (models/(q-\d{8}-\d{6}(?:-\d+)?)\.ckpt)   metrics: models/\2\.metrics\.json   latest: models/q\.ckpt', lines(q)[0])
    assert second and second[1] != first[1], lines(q)
    # runs never overwrite: the first run's checkpoint and Lightning folder are intact, and models/q.ckpt leads to the second
    assert hashlib.sha256((d / first[1]).read_bytes()).hexdigest() == before
    assert (d / 'models/q.ckpt').resolve() == (d / second[1]).resolve()
    assert sorted(p.name for p in (d / 'logs/checkpoints').iterdir()) == sorted([Path(first[1]).stem, second[2]])
