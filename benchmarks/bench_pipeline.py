"""The whole pipeline at the size of the Kaggle chest X-ray set, at three sizes, each stage in its own process.

The real set has 5,856 films of 1,000–2,000 px (1,583 normal / 2,780 bacteria / 1,493 virus) and a 624-film test
split. This benchmark synthesises films with that size range and class balance in Kaggle's folder layout (cached under
`--cache`, excluded from timing), then runs what a user runs, each stage as a fresh process: `xnn_wrangle` → `xnn_train`
(MobileNetV2 at 224, body frozen: cache build, one feature-extraction epoch, one epoch on cached features, the test
evaluation) → `xnn_explain` of the test split with Integrated Gradients and Grad-CAM (its defaults, without the
sanity battery and ROAD, whose cost does not grow with the split; `--explain-share` of it, 0.25 by default, since at
several seconds a film the whole 624-film split alone would outlast the 30 min this benchmark may take — the whole split's
time is projected) → one film with occlusion and LIME, to project their cost to the split → the FiftyOne dataset and its heat maps → the `AttributionBrowser`'s first render.

Per stage: wall time, films/s, peak RSS of the stage's largest process (`wait4`) and the sampled peak of its process
tree, and the scaling exponent (least-squares slope of log wall time on log films). Baseline: linear scaling
(exponent 1). Targets: every exponent ≤ 1.1; peak RSS at the largest size ≤ 1.5× that at the next; the FiftyOne
heat maps of the largest test split in under 2 minutes. Last line: `ratio: X.XX`, the worst stage's exponent.

    python benchmarks/bench_pipeline.py [--sizes 600,2000,5856] [--px 1000,2000] [--size 224] [--cache DIR]
"""
import argparse, json, math, os, resource, shutil, subprocess, sys, tempfile, threading, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
import numpy as np
from common import add_save_args, save_result

KAGGLE = dict(normal=1583, bacteria=2780, virus=1493)   # films per class in the real set
KAGGLE_N, KAGGLE_TEST = 5856, 624
TEST_SHARE = KAGGLE_TEST / KAGGLE_N
BIN = Path(sys.executable).parent
TARGET_EXPONENT, TARGET_RSS_GROWTH, TARGET_FIFTYONE_S = 1.1, 1.5, 120.

# ---------------------------------------------------------------- synthesis (excluded from timing, cached)
def class_counts(n:int)->dict:
    "Films per class for `n` films, in the real set's proportions (largest remainders)"
    raw = {c: n * k / KAGGLE_N for c, k in KAGGLE.items()}
    out = {c: int(v) for c, v in raw.items()}
    for c in sorted(raw, key=lambda c: out[c] - raw[c])[:n - sum(out.values())]: out[c] += 1
    return out

def film_plan(n:int, seed:int=0)->list:
    "(Kaggle folder, file name, label, seed) of `n` films: Kaggle names (patient in the name), the real share in Kaggle's test folder"
    rng, rows = np.random.default_rng(seed), []
    for c, k in class_counts(n).items():
        folder = 'NORMAL' if c == 'normal' else 'PNEUMONIA'
        n_test, patient, film = round(k * TEST_SHARE), 0, 0
        for i in range(k):
            if i == 0 or rng.random() < 0.7: patient += 1   # about 1.4 films per patient, as in the real set
            film += 1
            name = f'IM-{patient:04d}-{film:04d}.jpeg' if c == 'normal' else f'person{patient}_{c}_{film}.jpeg'
            rows.append((f'{"test" if i < n_test else "train"}/{folder}', name, c, int(rng.integers(2**31))))
    return rows

def make_film(path:Path, label:str, seed:int, px:tuple):
    "One JPEG film: a synthetic chest drawn small, upscaled to a side in `px`, with fresh noise (realistic JPEG entropy)"
    from PIL import Image
    from xnn.data.synthetic import draw_xray, sample_anatomy
    rng = np.random.default_rng(seed)
    h = int(rng.integers(px[0], int(px[0] + 0.85 * (px[1] - px[0])) + 1)); w = min(px[1], int(h * rng.uniform(1.0, 1.35)))
    small = draw_xray(rng, label, 160, max(160, int(160 * w / h)), sample_anatomy(rng))[0]
    big = np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC), dtype=np.int16)
    big += rng.integers(-6, 7, size=(h, w), dtype=np.int16)
    Image.fromarray(np.clip(big, 0, 255).astype(np.uint8)).save(path, quality=92)

def _make(args): make_film(*args)

def synthesise(root:Path, n:int, px:tuple, seed:int=0, workers:int=2)->Path:
    "The Kaggle folder of `n` films under `root` (made once; a finished folder has `done`)"
    from xnn.core import progress
    if (root / 'done').exists(): return root / 'chest_xray'
    shutil.rmtree(root, ignore_errors=True)
    jobs = []
    for folder, name, label, s in film_plan(n, seed):
        (root / 'chest_xray' / folder).mkdir(parents=True, exist_ok=True)
        jobs.append((root / 'chest_xray' / folder / name, label, s, px))
    with ProcessPoolExecutor(workers) as ex:
        for _ in progress(ex.map(_make, jobs, chunksize=8), f'synthesising {n} films', total=n): pass
    (root / 'done').write_text(json.dumps(dict(n=n, px=list(px), seed=seed)))
    return root / 'chest_xray'

# ---------------------------------------------------------------- running a stage in its own process
def _tree_rss(p)->int:
    import psutil
    try: procs = [p, *p.children(recursive=True)]
    except psutil.Error: return 0
    total = 0
    for q in procs:
        try: total += q.memory_info().rss
        except psutil.Error: pass
    return total

def run_stage(cmd:list, cwd:Path, log:Path)->dict:
    "Run `cmd` as a fresh process: wall seconds, peak RSS of its largest process (wait4) and of its tree (sampled), its `BENCH` report"
    import psutil
    with open(log, 'w') as f:
        start = time.perf_counter()
        proc = subprocess.Popen(list(map(str, cmd)), cwd=cwd, stdout=f, stderr=subprocess.STDOUT, env=dict(os.environ, FIFTYONE_DO_NOT_TRACK='true'))
        peak, done = [0], threading.Event()
        def sample():
            ps = psutil.Process(proc.pid)
            while not done.wait(0.2): peak[0] = max(peak[0], _tree_rss(ps))
        t = threading.Thread(target=sample, daemon=True); t.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set(); t.join(); proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text()
    if proc.returncode: raise RuntimeError(f'stage {" ".join(map(str, cmd[:3]))} failed (exit {proc.returncode}); its output, in {log}, ends:\n{text[-3000:]}')
    report = next((json.loads(line[6:]) for line in reversed(text.splitlines()) if line.startswith('BENCH ')), {})
    return dict(wall_s=wall, rss_mib=usage.ru_maxrss / 1024, tree_rss_mib=peak[0] / 2**20, report=report)

def _child(stage:str, *args)->list:
    "Command running `stage` of this file in a fresh interpreter"
    return [sys.executable, str(Path(__file__).resolve()), '--child', stage, *map(str, args)]

def _peak_mib()->float: return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def _report(**kw): print('BENCH ' + json.dumps(kw), flush=True)

# ---------------------------------------------------------------- stages that time parts of one process
def child_train(argv:list):
    "`xnn_train` as a user runs it, with a callback and wrappers that only note when each phase ends"
    import lightning as L
    import xnn.run as run
    from xnn.train import FeatureDataModule
    marks = {'start': time.perf_counter()}
    def mark(name): marks[name] = time.perf_counter(); marks[f'{name}_rss'] = _peak_mib()
    def after(f, name):
        def g(*a, **kw): r = f(*a, **kw); mark(name); return r
        return g
    class Epochs(L.Callback):
        def on_train_epoch_start(self, trainer, _): mark(f'epoch{trainer.current_epoch}_start')
        def on_train_epoch_end(self, trainer, _): mark(f'epoch{trainer.current_epoch}_end')
    cbs = run._callbacks
    run._callbacks = lambda *a: (lambda ck, c: (ck, c + [Epochs()]))(*cbs(*a))
    FeatureDataModule.prepare_data = after(FeatureDataModule.prepare_data, 'cache')
    FeatureDataModule.setup = after(FeatureDataModule.setup, 'features')
    run.fit = after(run.fit, 'done')
    mark('imported')
    run.xnn_train(argv)
    _report(**marks)

def child_fiftyone(data:str, expl:str, name:str):
    "The FiftyOne dataset of the data folder, then the run's heat maps and metrics (as `xnn_fiftyone --no-launch` does), timed apart"
    import fiftyone as fo
    from xnn.fiftyone import add_explanations, build_dataset
    t0 = time.perf_counter()
    try:
        ds = build_dataset(data, name, quiet=True); t1 = time.perf_counter(); r1 = _peak_mib()
        add_explanations(ds, expl, quiet=True); t2 = time.perf_counter()
        _report(dataset_s=t1 - t0, dataset_rss=r1, heatmaps_s=t2 - t1, heatmaps_rss=_peak_mib(), n_heatmaps=len(ds.exists('heatmap_gradcam')))
    finally:
        if fo.dataset_exists(name): fo.delete_dataset(name)

def child_browser(expl:str, data:str):
    "The `AttributionBrowser` built and drawn for the first film, as a notebook user opens it"
    t0 = time.perf_counter()
    from xnn.dashboard import AttributionBrowser
    b = AttributionBrowser(expl, data, export_dir=tempfile.gettempdir())
    _report(render_s=time.perf_counter() - t0, films=len(b.state.films), images=len(b.images.children))

def child_probe(ckpt:str, data:str):
    "Seconds per film of each method alone (the options `xnn_explain` uses) on one test film, to project the costly ones"
    import torch
    from xnn.data.loaders import XrayDataset, build_transforms
    from xnn.data.wrangle import read_annotations
    from xnn.explain import explain, get_method
    from xnn.train import load_classifier
    torch.manual_seed(0)
    model = load_classifier(ckpt)
    x = XrayDataset(read_annotations(data), 'test', build_transforms(model.preprocess), root=data)[0][0][None]
    for m in ('gradcam', 'saliency'): explain(model, x, m)   # first calls import Captum and pytorch-grad-cam: not the methods' cost
    out = {}
    for m in ('gradcam', 'integrated_gradients', 'occlusion', 'lime'):
        t = time.perf_counter(); explain(model, x, m, seed=0, **get_method(m).fast); out[m] = time.perf_counter() - t
    _report(seconds_per_film=out)

CHILDREN = dict(train=child_train, fiftyone=child_fiftyone, browser=child_browser, probe=child_probe)

# ---------------------------------------------------------------- one size
def run_size(n:int, a, work:Path)->dict:
    "Every stage at `n` films; returns {stage: figures}"
    src = synthesise(Path(a.cache).expanduser() / f'films-{n}-{a.seed}-{a.px[0]}-{a.px[1]}', n, a.px, a.seed)
    w = work / f'n{n}'; shutil.rmtree(w, ignore_errors=True); w.mkdir(parents=True)
    log = lambda s: w / f'{s}.log'
    val = f'{1 - 0.8 - TEST_SHARE:.4f}'   # the rest of 0.8 train / 624-of-5,856 test
    out = {}
    r = run_stage([BIN / 'xnn_wrangle', src, w / 'data', '--ratios', '0.8', val, f'{TEST_SHARE:.4f}', '-q'], w, log('wrangle'))
    import pandas as pd
    ann = pd.read_csv(w / 'data/annotations.csv')
    n_all, n_fit, n_train, n_test = len(ann), int(ann.split.isin(['train', 'val']).sum()), int((ann.split == 'train').sum()), int((ann.split == 'test').sum())
    out['wrangle'] = dict(films=n_all, wall_s=r['wall_s'], rss_mib=r['rss_mib'], tree_rss_mib=r['tree_rss_mib'])
    r = run_stage(_child('train', '-cn', 'mobilenetv2', '-q', 'data.dir=data', 'model.weights=null', f'data.image_size={a.size}',
                         'trainer.max_epochs=2', 'trainer.accelerator=cpu', 'run_name=bench'), w, log('train'))
    m = r['report']
    out['cache build'] = dict(films=n_all, wall_s=m['cache'] - m['imported'], rss_mib=m['cache_rss'])
    out['feature-extraction epoch'] = dict(films=n_fit, wall_s=m['epoch0_end'] - m['cache'], rss_mib=m['epoch0_end_rss'])
    out['cached epoch'] = dict(films=n_train, wall_s=m['epoch1_end'] - m['epoch1_start'], rss_mib=m['epoch1_end_rss'])
    out['test evaluation + saving'] = dict(films=n_test, wall_s=m['done'] - m['epoch1_end'], rss_mib=m['done_rss'])
    out['xnn_train'] = dict(films=n_all, wall_s=r['wall_s'], rss_mib=r['rss_mib'], tree_rss_mib=r['tree_rss_mib'])
    ck, n_expl = w / 'models/bench.ckpt', min(n_test, max(1, round(a.explain_share * n_test)))
    r = run_stage([BIN / 'xnn_explain', '--ckpt', ck, '--data', w / 'data', '--out', w / 'expl', '--methods', 'integrated_gradients,gradcam',
                   '--sanity-images', '0', '--road-films', '0', '--limit', n_expl, '-q'], w, log('explain'))
    out['xnn_explain (IG + Grad-CAM)'] = dict(films=n_expl, wall_s=r['wall_s'], rss_mib=r['rss_mib'], tree_rss_mib=r['tree_rss_mib'],
                                              test_split=n_test, projected_split_s=r['wall_s'] * n_test / n_expl)
    r = run_stage(_child('probe', ck, w / 'data'), w, log('probe'))
    out['probe'] = dict(films=n_test, **{f'{k}_s_per_film': v for k, v in r['report']['seconds_per_film'].items()},
                        **{f'{k}_projected_s': v * n_test for k, v in r['report']['seconds_per_film'].items()})
    r = run_stage(_child('fiftyone', w / 'data', w / 'expl', f'xnn-bench-{os.getpid()}-{n}'), w, log('fiftyone'))
    f = r['report']
    if f['n_heatmaps'] != n_expl: raise RuntimeError(f'FiftyOne holds {f["n_heatmaps"]} Grad-CAM heat maps, not one per explained film ({n_expl}); see {log("fiftyone")}')
    out['FiftyOne dataset'] = dict(films=n_all, wall_s=f['dataset_s'], rss_mib=f['dataset_rss'])
    out['FiftyOne heat maps'] = dict(films=n_expl, wall_s=f['heatmaps_s'], rss_mib=f['heatmaps_rss'], tree_rss_mib=r['tree_rss_mib'],
                                     test_split=n_test, projected_split_s=f['heatmaps_s'] * n_test / n_expl)
    r = run_stage(_child('browser', w / 'expl', w / 'data'), w, log('browser'))
    out['AttributionBrowser first render'] = dict(films=n_expl, wall_s=r['report']['render_s'], rss_mib=r['rss_mib'])
    if not a.keep: shutil.rmtree(w, ignore_errors=True)
    return out

# ---------------------------------------------------------------- scaling and targets
def exponent(films:list, secs:list)->float|None:
    "Least-squares slope of log seconds on log films (None with fewer than two distinct sizes)"
    if len(set(films)) < 2: return None
    return float(np.polyfit(np.log(films), np.log(np.maximum(secs, 1e-6)), 1)[0])

STAGES = ('wrangle', 'cache build', 'feature-extraction epoch', 'cached epoch', 'test evaluation + saving', 'xnn_train',
          'xnn_explain (IG + Grad-CAM)', 'FiftyOne dataset', 'FiftyOne heat maps', 'AttributionBrowser first render')

def summarise(res:dict)->dict:
    "Per stage: films, wall, films/s and RSS at every size, and the exponent"
    out = {}
    for s in STAGES:
        runs = [res[n][s] for n in sorted(res)]
        out[s] = dict(films=[r['films'] for r in runs], wall_s=[round(r['wall_s'], 3) for r in runs],
                      films_per_s=[round(r['films'] / max(r['wall_s'], 1e-9), 2) for r in runs],
                      rss_mib=[round(r['rss_mib'], 1) for r in runs], exponent=exponent([r['films'] for r in runs], [r['wall_s'] for r in runs]))
    return out

def check_targets(stages:dict, res:dict)->dict:
    "Each target: its value and whether it is met"
    sizes = sorted(res)
    exps = {s: v['exponent'] for s, v in stages.items() if v['exponent'] is not None}
    worst = max(exps, key=exps.get) if exps else None
    t = dict(exponent=dict(target=f'every stage exponent <= {TARGET_EXPONENT}', worst_stage=worst, value=exps.get(worst),
                           passed=all(e <= TARGET_EXPONENT for e in exps.values()) if exps else None))
    peak = {n: max(v['rss_mib'] for k, v in res[n].items() if k in STAGES) for n in sizes}
    if len(sizes) > 1:
        g = peak[sizes[-1]] / peak[sizes[-2]]
        t['rss_growth'] = dict(target=f'peak RSS at {sizes[-1]} films <= {TARGET_RSS_GROWTH}x that at {sizes[-2]}', value=round(g, 3),
                               peak_rss_mib={str(n): round(peak[n], 1) for n in sizes}, passed=g <= TARGET_RSS_GROWTH)
    hm = res[sizes[-1]]['FiftyOne heat maps']   # measured on the explained films, projected linearly to the whole split
    t['fiftyone'] = dict(target=f'FiftyOne heat maps of the test split ({hm["test_split"]} films x 2 maps) in under {TARGET_FIFTYONE_S:.0f} s'
                                + ('' if hm['films'] == hm['test_split'] else f' (projected from {hm["films"]} films)'),
                         value=round(hm['projected_split_s'], 1), passed=hm['projected_split_s'] < TARGET_FIFTYONE_S)
    return t

def print_table(stages:dict, res:dict):
    sizes = sorted(res)
    print(f'{"stage":34} {"films":>6} {"wall s":>9} {"films/s":>9} {"RSS MiB":>8} {"exponent":>8}')
    for s, v in stages.items():
        for i, n in enumerate(sizes):
            e = '' if i < len(sizes) - 1 or v['exponent'] is None else f'{v["exponent"]:.2f}'
            print(f'{s if i == 0 else "":34} {v["films"][i]:>6} {v["wall_s"][i]:>9.2f} {v["films_per_s"][i]:>9.2f} {v["rss_mib"][i]:>8.0f} {e:>8}')

def readme_rows(stages:dict, res:dict)->list:
    n, lo = max(res), min(res)
    return [dict(benchmark=f'`bench_pipeline.py`: {s}, Kaggle-sized synthetic films, N = {lo} → {n} films',
                 baseline='linear scaling (exponent 1.00)',
                 xnn=f'exponent {v["exponent"]:.2f}; {v["films_per_s"][-1]:.1f} films/s and peak RSS {v["rss_mib"][-1]:.0f} MiB at {v["films"][-1]} films',
                 ratio=f'{v["exponent"]:.2f}') for s, v in stages.items() if v['exponent'] is not None]

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--sizes', default='600,2000,5856', help='films per run, comma-separated (default: 600,2000,5856)')
    ap.add_argument('--px', default='1000,2000', help='range of the films\' sides in px (default: 1000,2000)')
    ap.add_argument('--size', type=int, default=224, help='model input size (default: 224)')
    ap.add_argument('--explain-share', type=float, default=0.25,
                    help='share of the test split explained (default: 0.25, which keeps the three sizes within 30 min on 2 cores; 1: the whole split)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--cache', default='~/.cache/xnn-bench', help='where synthetic films are kept between runs')
    ap.add_argument('--work', default=None, help='working folder (default: a temporary one, removed afterwards)')
    ap.add_argument('--keep', action='store_true', help='keep each size\'s data, model, explanations and logs in the working folder')
    a = add_save_args(ap).parse_args()
    a.px = tuple(int(v) for v in a.px.split(','))
    sizes = sorted(int(v) for v in a.sizes.split(','))
    if len(a.px) != 2 or not 0 < a.px[0] <= a.px[1]: raise SystemExit(f'--px must be two sides LOW,HIGH, not {a.px}')
    if not 0 < a.explain_share <= 1: raise SystemExit(f'--explain-share must lie in (0, 1], not {a.explain_share}')
    if min(sizes) < 24: raise SystemExit(f'--sizes must be at least 24 films each (a test split of a few films per class), not {min(sizes)}')
    work = Path(a.work or tempfile.mkdtemp(prefix='xnn-bench-pipeline-'))
    res = {}
    try:
        for n in sizes:
            t = time.perf_counter()
            res[n] = run_size(n, a, work)
            print(f'{n} films: every stage in {time.perf_counter() - t:.0f} s', flush=True)
    finally:
        if not a.work and not a.keep: shutil.rmtree(work, ignore_errors=True)
    stages = summarise(res)
    targets = check_targets(stages, res)
    print_table(stages, res)
    probe = res[max(res)]['probe']
    print(f"one film alone at {max(res)} films: " + ', '.join(f"{m} {probe[f'{m}_s_per_film']:.2f} s" for m in ('gradcam', 'integrated_gradients', 'occlusion', 'lime'))
          + f" → on the {probe['films']}-film test split: occlusion ≈ {probe['occlusion_projected_s'] / 60:.1f} min, LIME ≈ {probe['lime_projected_s'] / 60:.1f} min")
    ex = res[max(res)]['xnn_explain (IG + Grad-CAM)']
    if ex['films'] < ex['test_split']: print(f"xnn_explain explained {ex['films']} of the {ex['test_split']} test films: the whole split ≈ {ex['projected_split_s'] / 60:.1f} min")
    for k, v in targets.items(): print(f"{'PASS' if v['passed'] else 'FAIL' if v['passed'] is not None else 'n/a '}  {v['target']}: {v['value']}")
    figures = dict(sizes=sizes, px=list(a.px), image_size=a.size, stages=stages, targets=targets,
                   probe={str(n): res[n]['probe'] for n in sizes}, runs={str(n): res[n] for n in sizes})
    save_result('pipeline', figures, readme_rows(stages, res), a.out, not a.no_save)
    print(f"ratio: {targets['exponent']['value'] if targets['exponent']['value'] is not None else math.nan:.2f}")

if __name__ == '__main__':
    if len(sys.argv) > 2 and sys.argv[1] == '--child': CHILDREN[sys.argv[2]](*sys.argv[3:]) if sys.argv[2] != 'train' else child_train(sys.argv[3:])
    else: main()
