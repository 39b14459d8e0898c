"""Integrated Gradients: the original's per-image Captum calls vs xnn's per-film adaptive IG, on a trained model and on random weights.

Baseline (the original system): one Captum `IntegratedGradients.attribute` call per image, `n_steps=50` (Gauss-Legendre,
Captum's default), all steps in one batch, zero baseline. xnn: `explain(model, films, 'integrated_gradients',
n_steps='auto', reduce='mean', atol=<the baseline's mean gap>, tol=0)` on the whole batch with the same baseline: nested
trapezoid grids refined per film (every gradient computed once), Simpson's rule from two nested sums, the films with the
largest completeness gaps refined first, until the *mean* gap |Σ attr − (f(x) − f(baseline))| is no larger than the
baseline's — fewer gradients never buy speed with accuracy (the run fails if they would).

Two cases, in one run:
- **trained** (the default case, and the `ratio:` line): a trained checkpoint, by default the demo's
  (`demo/models/demo.ckpt`; if it is missing, `xnn_demo` builds one under ~/.cache/xnn-bench/demo first, about 4 minutes).
- **random**: MobileNetV2 at 224 px with random weights, BatchNorm statistics set on the films (no download possible);
  such a network is nearly linear along the path, so few gradients suffice.

For each case it also prints the **hardware ceiling**: the model's best forward+backward throughput over batch sizes
(rows/s) divided by the gradients per film, i.e. the fastest any IG could run with that many gradients on this machine.
Timing: the trained case runs baseline and xnn `--repeats` times in turn (5) and reports the medians, since one run
of the baseline varied from 11.6 to 16.7 films/s on the same machine; each run's own ratio is printed beside it.
Writes benchmarks/results/explain.json; last line `ratio: X.XX` (median xnn films/s ÷ median baseline films/s, trained model).

    python benchmarks/bench_explain.py [--images 16] [--ckpt CKPT] [--random-model mobilenet_v2] [--random-size 224] [--repeats 5] [--no-random]
"""
import argparse, subprocess, sys, time
from pathlib import Path
import numpy as np, torch
from captum.attr import IntegratedGradients
from torchvision import tv_tensors
from common import add_save_args, save_result
from xnn.data.loaders import Preprocess, build_transforms
from xnn.data.synthetic import draw_xray, sample_anatomy
from xnn.explain import Target, explain
from xnn.models import create_model
from xnn.train import load_classifier

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path.home() / '.cache' / 'xnn-bench'

def films(n:int, size:int, seed:int=0)->torch.Tensor:
    "n synthetic films (the three classes in turn), preprocessed as the model's loader does"
    rng = np.random.default_rng(seed)
    tf = build_transforms(Preprocess(size))
    out = []
    for i in range(n):
        img = draw_xray(rng, ('bacteria', 'normal', 'virus')[i % 3], size, int(size * 1.1), sample_anatomy(rng))[0]
        out.append(tf(tv_tensors.Image(torch.from_numpy(img.astype(np.float32) / 255)[None])))
    return torch.stack(out)

def trained_checkpoint(ckpt=None)->Path:
    "The checkpoint to measure: `ckpt`, else the demo's, else one `xnn_demo` trains under ~/.cache/xnn-bench/demo"
    if ckpt: return Path(ckpt)
    for p in (ROOT / 'demo/models/demo.ckpt', CACHE / 'demo/models/demo.ckpt'):
        if p.exists(): return p
    print(f'no trained checkpoint: running xnn_demo into {CACHE / "demo"} first (a few minutes, once)', flush=True)
    subprocess.run([str(Path(sys.executable).parent / 'xnn_demo'), '--out', str(CACHE / 'demo'), '--quiet'], check=True)
    return CACHE / 'demo/models/demo.ckpt'

def calibrate(model, x:torch.Tensor):
    "Random weights: give BatchNorm the films' statistics, or the network is nearly the identity and IG trivially exact"
    model.train()
    with torch.no_grad():
        for _ in range(3): model(x + 0.1 * torch.randn_like(x))
    return model.eval()

def ceiling(model, x:torch.Tensor, pred:torch.Tensor, seconds:float=1.0)->tuple:
    "(best rows/s, its batch size): forward+backward of the target logit w.r.t. the input, over batch sizes 1…64"
    best = (0., 1)
    for b in (1, 2, 4, 8, 16, 32, 64):
        xb, tb = x[torch.arange(b) % len(x)].clone().requires_grad_(), pred[torch.arange(b) % len(x)]
        torch.autograd.grad(model(xb).gather(1, tb[:, None]).sum(), xb)            # warm-up
        rows, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            torch.autograd.grad(model(xb).gather(1, tb[:, None]).sum(), xb); rows += b
        best = max(best, (rows / (time.perf_counter() - start), b))
    return best

def measure(name:str, model, x:torch.Tensor, steps:int=50, repeats:int=5)->dict:
    "Baseline and xnn on the same films, `repeats` times in turn (the medians are reported); prints and returns the figures"
    zeros = torch.zeros_like(x)
    with torch.no_grad(): pred = model(x).argmax(1)
    ig = IntegratedGradients(model)                       # the original: per image, 50 Gauss-Legendre steps, one batch
    ig.attribute(x[:1], zeros[:1], target=int(pred[0]), n_steps=steps)                  # warm-up
    t_bases, t_xnns = [], []
    for _ in range(repeats):                              # in turn, so a slow moment of the machine slows both
        start, gaps = time.perf_counter(), []
        for i in range(len(x)):
            _, d = ig.attribute(x[i:i + 1], zeros[i:i + 1], target=int(pred[i]), n_steps=steps, return_convergence_delta=True)
            gaps.append(d.abs().item())
        t_bases.append(time.perf_counter() - start); gap_base = float(np.mean(gaps))
        start = time.perf_counter()
        a = explain(model, x, 'integrated_gradients', target=pred, baseline=zeros, n_steps='auto', tol=0., atol=gap_base, reduce='mean')
        t_xnns.append(time.perf_counter() - start)
    t_base, t_xnn, gap_xnn = float(np.median(t_bases)), float(np.median(t_xnns)), float(a.delta.mean())
    grads = a.n_steps.float()
    if gap_xnn > gap_base * (1 + 1e-6): raise SystemExit(f'{name}: xnn mean gap {gap_xnn:.4g} > baseline {gap_base:.4g}: speed bought with accuracy')
    rows_s, best_b = ceiling(model, x, pred)
    with torch.no_grad(): delta_f = (Target('class', tuple(pred.tolist())).score(model(x)) - Target('class', tuple(pred.tolist())).score(model(zeros))).abs()
    f = dict(films=len(x), size=int(x.shape[-1]), baseline_steps=steps,
             baseline_films_per_s=len(x) / t_base, baseline_mean_gap=gap_base, baseline_median_gap=float(np.median(gaps)),
             xnn_films_per_s=len(x) / t_xnn, xnn_mean_gap=gap_xnn, xnn_median_gap=float(a.delta.median()),
             xnn_gradients_per_film=float(grads.mean()), xnn_gradients_min=int(grads.min()), xnn_gradients_max=int(grads.max()),
             mean_score_difference=float(delta_f.mean()),
             ceiling_rows_per_s=rows_s, ceiling_batch=best_b,
             ceiling_films_per_s_at_baseline_steps=rows_s / steps, ceiling_films_per_s_at_xnn_gradients=rows_s / float(grads.mean()),
             repeats=repeats, ratios=[b / t for b, t in zip(t_bases, t_xnns)], ratio=t_base / t_xnn)
    print(f'{name}: {len(x)} films at {x.shape[-1]} px')
    print(f'  baseline (per image, {steps} Gauss-Legendre steps): {f["baseline_films_per_s"]:6.2f} films/s · mean gap {gap_base:.4f} (median {f["baseline_median_gap"]:.4f})')
    print(f'  xnn (n_steps="auto", per film): {f["xnn_films_per_s"]:6.2f} films/s · mean gap {gap_xnn:.4f} (median {f["xnn_median_gap"]:.4f}) · '
          f'{f["xnn_gradients_per_film"]:.1f} gradients per film ({f["xnn_gradients_min"]}–{f["xnn_gradients_max"]})')
    print(f'  hardware ceiling: {rows_s:.0f} forward+backward rows/s (batch {best_b}) → {f["ceiling_films_per_s_at_baseline_steps"]:.2f} films/s at {steps} '
          f'gradients, {f["ceiling_films_per_s_at_xnn_gradients"]:.2f} films/s at xnn\'s {f["xnn_gradients_per_film"]:.1f}; xnn reaches '
          f'{f["xnn_films_per_s"] / f["ceiling_films_per_s_at_xnn_gradients"]:.0%} of it')
    print(f'  ratio {name}: {f["ratio"]:.2f}' + (f' (median of {repeats} runs in turn; each run {min(f["ratios"]):.2f}–{max(f["ratios"]):.2f})' if repeats > 1 else ''))
    return f

def row(name:str, f:dict, what:str)->dict:
    return dict(benchmark=f'`bench_explain.py`: Integrated Gradients, {what}, {f["films"]} films at {f["size"]} px',
                baseline=f'one Captum call per film, {f["baseline_steps"]} Gauss-Legendre steps: {f["baseline_films_per_s"]:.2f} films/s, mean completeness gap {f["baseline_mean_gap"]:.3g}',
                xnn=f'`n_steps="auto"`, per film on nested grids: {f["xnn_films_per_s"]:.2f} films/s, mean gap {f["xnn_mean_gap"]:.3g}, '
                    f'{f["xnn_gradients_per_film"]:.0f} gradients per film ({f["xnn_gradients_min"]}–{f["xnn_gradients_max"]}); '
                    f'ceiling at that many: {f["ceiling_films_per_s_at_xnn_gradients"]:.2f} films/s',
                ratio=f'**{f["ratio"]:.2f}×**')

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--images', type=int, default=16)
    ap.add_argument('--ckpt', default=None, help='trained checkpoint (default: demo/models/demo.ckpt, built if missing)')
    ap.add_argument('--random-model', default='mobilenet_v2'); ap.add_argument('--random-size', type=int, default=224)
    ap.add_argument('--repeats', type=int, default=5, help='timed runs of the trained case, baseline and xnn in turn; medians reported (default: 5)')
    ap.add_argument('--random-repeats', type=int, default=1, help='timed runs of the random case (default: 1: its baseline takes ~30 s a run, and its ratio is far from 1)')
    ap.add_argument('--no-random', action='store_true', help='only the trained case')
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    a = add_save_args(ap).parse_args()
    torch.manual_seed(0)
    ckpt = trained_checkpoint(a.ckpt)
    model = load_classifier(ckpt).to(a.device).eval()
    print(f'device {a.device}, torch threads {torch.get_num_threads()}')
    trained = measure(f'trained ({ckpt.name}, {model.spec.name})', model, films(a.images, model.preprocess.size).to(a.device), repeats=a.repeats)
    figures, rows = dict(trained=trained, checkpoint=str(ckpt), architecture=model.spec.name), [row('trained', trained, f'trained {model.spec.name} (`{ckpt.name}`)')]
    if not a.no_random:
        x = films(a.images, a.random_size).to(a.device)
        rnd = measure(f'random ({a.random_model})', calibrate(create_model(a.random_model).to(a.device), x), x, repeats=a.random_repeats)
        figures['random'] = dict(rnd, architecture=a.random_model); rows.append(row('random', rnd, f'{a.random_model}, random weights'))
    save_result('explain', figures, rows, a.out, not a.no_save)
    print(f'ratio: {trained["ratio"]:.2f}')

if __name__ == '__main__': main()
