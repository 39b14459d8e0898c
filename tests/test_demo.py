"""`xnn_demo` as a user runs it: every step, progress lines, the report (with the trust tables and the sanity checks); a
second run reuses everything; a folder that is not a demo folder is refused and left untouched."""
import json, subprocess
import pandas as pd
from conftest import noise, script

TINY = ['--patients', '40', '--size', '96', '--methods', 'gradcam,saliency', '--limit', '4', '--no-progress',
        'data.image_size=64', 'trainer.max_epochs=2', 'mlflow.enabled=false', 'test.bootstrap=100']

def run(*args, cwd=None):
    return subprocess.run([script('xnn_demo'), *args], capture_output=True, text=True, timeout=600, cwd=cwd)

def test_demo_end_to_end_then_reused(tmp_path):
    out = tmp_path / 'demo'
    r = run('--out', str(out), *TINY, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert not noise(r), '\n'.join(noise(r))
    for k in range(1, 6): assert f'[{k}/5]' in r.stdout
    assert 'test macro-F1' in r.stdout and 'xnn_serve --ckpt demo/models/demo.ckpt' in r.stdout and 'xnn_fiftyone --data demo/data' in r.stdout
    for f in ('report/index.html', 'report/metrics.json', 'report/methods_trust.csv', 'report/methods_table.csv', 'report/sanity.json',
              'report/figures/examples.png', 'report/explanations/index.html', 'models/demo.ckpt', 'models/demo.metrics.json', 'dashboard.ipynb'):
        assert (out / f).exists(), f
    html = (out / 'report/index.html').read_text()
    assert 'macro_f1' in html and 'random map' in html and 'explanations/index.html' in html
    sanity = json.loads((out / 'report/sanity.json').read_text())
    assert set(sanity['verdicts']) == {'gradcam', 'saliency'} and sanity == json.loads((out / 'report/explanations/sanity.json').read_text())
    section = html[html.index('<h2>Sanity checks</h2>'):]
    for check in ('mprt_top', 'mprt_full', 'class_sensitivity'): assert check in section and sanity['thresholds'][check]['question'] in section
    assert 'edge (reference)' in section and 'strict (0 px)' in html and 'dilated (3 px)' in html
    trust = pd.read_csv(out / 'report/methods_trust.csv', index_col='method')
    assert trust.index.tolist() == ['gradcam', 'saliency', 'random map']
    assert {'pointing game (0 px)', 'pointing game (3 px)', 'sanity'} <= set(trust.columns)
    table = pd.read_csv(out / 'report/methods_table.csv')
    assert {'method', 'metric', 'mean', 'lo', 'hi', 'chance', 'vs_chance'} <= set(table.columns) and set(table.method) == {'gradcam', 'saliency'}
    summary = json.loads((out / 'report/metrics.json').read_text())
    assert summary['trust']['verdicts'] == sanity['verdicts'] and len(summary['trust']['table']) == len(table)
    ck = (out / 'models/demo.ckpt').stat().st_mtime_ns
    r2 = run('--out', str(out), *TINY, cwd=tmp_path)
    assert r2.returncode == 0 and r2.stdout.count('reused in') == 3, r2.stdout
    assert (out / 'models/demo.ckpt').stat().st_mtime_ns == ck          # not retrained
    r3 = run('--out', str(out), *TINY, '--quiet', cwd=tmp_path)          # --quiet: only where the report is
    assert r3.returncode == 0 and r3.stderr == '', r3.stderr
    assert r3.stdout.splitlines() == [f'report {out}/report/index.html'], r3.stdout

def test_demo_refuses_a_foreign_folder(tmp_path):
    (tmp_path / 'thesis').mkdir(); (tmp_path / 'thesis/chapter1.tex').write_text('keep')
    r = run('--out', str(tmp_path / 'thesis'), *TINY)
    assert r.returncode == 2 and 'not an xnn demo folder' in r.stderr
    assert [p.name for p in (tmp_path / 'thesis').iterdir()] == ['chapter1.tex'] and (tmp_path / 'thesis/chapter1.tex').read_text() == 'keep'
    r = run('--out', str(tmp_path / 'x'), '--methods', 'gradcam,shap')
    assert r.returncode == 2 and "unknown attribution method 'shap'" in r.stderr
