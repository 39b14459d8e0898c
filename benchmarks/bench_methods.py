"""What each attribution method costs: model evaluations per film, films/s, and the time for a 624-film test split.

Every registered method (`xnn.explain.METHODS`) runs through `explain` with the options the API's `/explain` and
`xnn_explain` use: `MethodSpec.fast` (IG 32 steps, SmoothGrad 16 samples, GradientSHAP 16, LIME 96; the other methods have
none), everything else at its default (occlusion: a 28-px window every 14 px at 224 px, feature ablation 8×8 cells,
Score-CAM and Ablation-CAM one evaluation per channel of the CAM layer), target 'predicted', the blurred baseline.
Model evaluations are the films the model's forward pass sees (`xnn.trust.count_evaluations`), the prediction `explain`
makes first included. Each method runs on one film first (a warm-up) and, if that took less than `--max-seconds`, is
timed on a batch of as many films as fit in that time (at most `--films`), the best of up to three such calls within
`--max-seconds`; a slower method is timed on that one film.

Baseline: a plain forward pass over the same films (a prediction, one model evaluation per film: the hardware's rate).
Each method's time is also given in forward passes. Random MobileNetV2 weights with BatchNorm statistics set on the
films, as in `bench_explain.py` (pass `--ckpt` for a trained model). Prints a table and, as its last line,
`ratio: X.XX` = the slowest method's projected split time ÷ the fastest's (what the choice of method costs).

    python benchmarks/bench_methods.py [--films 4] [--max-seconds 30] [--split-films 624] [--size 224] [--methods a,b] [--ckpt CKPT]
"""
import argparse, time
import pandas as pd, torch
from bench_explain import films
from common import add_save_args, save_result
from xnn.core import progress
from xnn.data.loaders import Preprocess
from xnn.explain import METHODS, explain
from xnn.models import create_model
from xnn.train import load_classifier
from xnn.trust import count_evaluations

def set_batchnorm_statistics(model, x, rounds:int=3):
    "Random weights: give BatchNorm the films' statistics (else the network is nearly linear), then eval mode"
    model.train()
    with torch.no_grad():
        for _ in range(rounds): model(x + 0.1 * torch.randn_like(x))
    return model.eval()

def forward_rate(model, x, repeats:int=3)->float:
    "Films/s of a plain forward pass (the best of `repeats` batches, after one warm-up)"
    with torch.inference_mode():
        model(x); best = float('inf')
        for _ in range(repeats):
            start = time.perf_counter(); model(x); best = min(best, time.perf_counter() - start)
    return len(x) / best

def timed_call(model, x, method:str)->tuple:
    "(seconds, model evaluations) of one `explain` call with the method's fast options"
    with count_evaluations(model) as n:
        start = time.perf_counter()
        explain(model, x, method, seed=0, **METHODS[method].fast)
        return time.perf_counter() - start, n.films

def measure(model, x, method:str, max_seconds:float, repeats:int=3)->dict:
    "One film first (a warm-up: imports, allocations); if it took less than `max_seconds`, the best of up to `repeats` calls on as many films as fit"
    t, n = timed_call(model, x[:1], method)
    k = max(1, min(len(x), int(max_seconds // t)))
    if t < max_seconds:
        runs = [timed_call(model, x[:k], method)]
        while len(runs) < repeats and sum(r[0] for r in runs) + runs[-1][0] <= max_seconds: runs.append(timed_call(model, x[:k], method))
        t, n = min(runs)          # the least disturbed call (the machine may be shared)
    spec = METHODS[method]
    return dict(method=method, kind=spec.kind, options=dict(spec.fast), cost_words=spec.cost, evaluations_per_film=n / k,
                films_timed=k, seconds=t, films_per_s=k / t)

def duration(s:float)->str:
    "Seconds as a reader wants them: 41 s, 7.5 min, 2.3 h"
    return f'{s:.0f} s' if s < 90 else f'{s / 60:.1f} min' if s < 5400 else f'{s / 3600:.1f} h'

def method_table(res:list, fwd:float, split:int)->pd.DataFrame:
    "The per-method figures, with each method's time in forward passes and its projected split time"
    df = pd.DataFrame(res)
    df['forward_passes_of_time'] = fwd / df.films_per_s
    df['projected_split_s'] = split / df.films_per_s
    return df

def summary_row(df:pd.DataFrame, fwd:float, a)->dict:
    "The README's one line for this benchmark, composed from the measured figures"
    fast, slow = df.loc[df.films_per_s.idxmax()], df.loc[df.films_per_s.idxmin()]
    one = lambda r: f"`{r.method}`, {r.evaluations_per_film:g} evaluations/film: {r.films_per_s:.3g} films/s, {a.split_films} films in {duration(r.projected_split_s)}"
    return dict(benchmark=f'`bench_methods.py`: each of the {len(df)} methods with the API\'s options, {a.model if not a.ckpt else "a trained model"} at {a.size} px, '
                          f'projected to a {a.split_films}-film test split (per-method table below)',
                baseline=f'the fastest method, {one(fast)} (a plain forward pass: {fwd:.3g} films/s)',
                xnn=f'the slowest, {one(slow)}', ratio=f'**{slow.projected_split_s / fast.projected_split_s:.0f}×** (slowest ÷ fastest)')

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--films', type=int, default=4, help='films per method at most (at least one is explained)')
    ap.add_argument('--max-seconds', type=float, default=30, help='time per method for the batch after the first film')
    ap.add_argument('--split-films', type=int, default=624, help="films of the split to project to (Kaggle's test split: 624)")
    ap.add_argument('--size', type=int, default=224); ap.add_argument('--model', default='mobilenet_v2')
    ap.add_argument('--methods', default=','.join(METHODS), help='comma-separated (default: every registered method)')
    ap.add_argument('--ckpt', default=None, help='a trained checkpoint instead of random init')
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    a = add_save_args(ap).parse_args()
    methods = [m.strip() for m in a.methods.split(',') if m.strip()]
    if bad := [m for m in methods if m not in METHODS]: ap.error(f'unknown method {bad[0]!r}: choose from {", ".join(METHODS)}')
    torch.manual_seed(0)
    model = (load_classifier(a.ckpt) if a.ckpt else create_model(a.model, preprocess=Preprocess(a.size))).to(a.device)
    x = films(a.films, a.size).to(a.device)
    model = model.eval() if a.ckpt else set_batchnorm_statistics(model, x)
    fwd = forward_rate(model, x)
    print(f'{a.ckpt or a.model}, {a.films} films at {a.size} px, device {a.device}, threads {torch.get_num_threads()}; '
          f'plain forward pass: {fwd:.1f} films/s')
    res = [measure(model, x, m, a.max_seconds) for m in progress(methods, 'methods', unit='method')]
    df = method_table(res, fwd, a.split_films)
    show = df.assign(options=df.options.map(lambda o: ', '.join(f'{k}={v}' for k, v in o.items()) or '—'),
                     split=df.projected_split_s.map(duration))
    print(show[['method', 'kind', 'options', 'evaluations_per_film', 'films_timed', 'films_per_s', 'forward_passes_of_time', 'split']]
          .to_string(index=False, float_format=lambda v: f'{v:.3g}'))
    figures = dict(model=a.ckpt or a.model, size=a.size, films=a.films, max_seconds=a.max_seconds, split_films=a.split_films, device=a.device,
                   forward=dict(films_per_s=fwd, projected_split_s=a.split_films / fwd),
                   methods=df.drop(columns='seconds').to_dict('records'))
    save_result('methods', figures, [summary_row(df, fwd, a)], a.out, not a.no_save)
    print(f'ratio: {df.projected_split_s.max() / df.projected_split_s.min():.2f}')

if __name__ == '__main__': main()
