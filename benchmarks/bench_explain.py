"""Integrated Gradients over 16 films: the original's usage vs xnn's batched path.

Baseline (the original system): one Captum call per image, n_steps=50, Captum's default internal batch (all steps at
once), zero baseline. With random weights (no download), BatchNorm statistics are first set on the films. xnn: `explain(model, images, 'integrated_gradients', n_steps='auto')` on the whole batch with
the same baseline — its step count is chosen so that every image's completeness gap |Σ attr − (f(x) − f(baseline))|
is on average no larger than the baseline's mean gap (so fewer steps never buy speed with accuracy). Prints both rates and mean
gaps and, as its last line, `ratio: X.XX` (xnn images/s ÷ baseline images/s).

    python benchmarks/bench_explain.py [--images 16] [--size 224] [--model mobilenet_v2] [--ckpt CKPT]
"""
import argparse, time, warnings
import numpy as np, torch
from captum.attr import IntegratedGradients
from xnn.data.loaders import Preprocess, build_transforms
from xnn.data.synthetic import draw_xray, sample_anatomy
from xnn.explain import explain
from xnn.models import create_model
from xnn.train import load_classifier
from torchvision import tv_tensors

def films(n:int, size:int, seed:int=0)->torch.Tensor:
    rng = np.random.default_rng(seed)
    tf = build_transforms(Preprocess(size))
    out = []
    for i in range(n):
        img = draw_xray(rng, ('bacteria', 'normal', 'virus')[i % 3], size, int(size * 1.1), sample_anatomy(rng))[0]
        out.append(tf(tv_tensors.Image(torch.from_numpy(img.astype(np.float32) / 255)[None])))
    return torch.stack(out)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--images', type=int, default=16); ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--model', default='mobilenet_v2'); ap.add_argument('--ckpt', default=None, help='a trained checkpoint instead of random init')
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    a = ap.parse_args()
    warnings.filterwarnings('ignore'); torch.manual_seed(0)
    model = (load_classifier(a.ckpt) if a.ckpt else create_model(a.model)).to(a.device)
    x = films(a.images, a.size).to(a.device)
    if not a.ckpt:   # random weights: give BatchNorm realistic statistics, or the network is nearly linear and IG trivially exact
        model.train()
        with torch.no_grad():
            for _ in range(3): model(x + 0.1 * torch.randn_like(x))
    model.eval()
    zeros = torch.zeros_like(x)
    with torch.no_grad(): pred = model(x).argmax(1).tolist()
    print(f'{a.model if not a.ckpt else a.ckpt}, {a.images} films at {a.size} px, device {a.device}, threads {torch.get_num_threads()}')

    ig = IntegratedGradients(model)                       # the original: per image, 50 steps, default internal batch
    start, deltas = time.perf_counter(), []
    for i in range(len(x)):
        _, d = ig.attribute(x[i:i + 1], zeros[i:i + 1], target=pred[i], n_steps=50, return_convergence_delta=True)
        deltas.append(d.abs().item())
    t_base, d_base = time.perf_counter() - start, float(np.mean(deltas))
    print(f'baseline (per image, n_steps=50): {len(x) / t_base:.2f} images/s, mean completeness gap {d_base:.2e}')

    start = time.perf_counter()
    att = explain(model, x, 'integrated_gradients', baseline=zeros, n_steps='auto', tol=0., atol=d_base, reduce='mean')
    t_xnn = time.perf_counter() - start
    d_xnn = att.delta.mean().item()
    print(f'xnn (batched, n_steps=auto -> {att.n_steps}): {len(x) / t_xnn:.2f} images/s, mean completeness gap {d_xnn:.2e}')
    assert d_xnn <= d_base * (1 + 1e-6), 'xnn must not trade completeness for speed'
    print(f'ratio: {t_base / t_xnn:.2f}')

if __name__ == '__main__': main()
