"""One epoch of loading full-size chest films, decoding every time vs xnn's preprocessed cache.

Baseline: `XrayDataset` without a cache — every item decodes the ~1500 px JPEG and resizes it (what a plain
ImageFolder pipeline does). xnn: the same dataset with `PreprocessCache` — decode + resize once, then
read a small .npy. Prints both epoch times and, as its last line, `ratio: X.XX` (uncached ÷ cached, warm); writes
benchmarks/results/loading.json (`benchmarks/common.py`).

    python benchmarks/bench_loading.py [--films 64] [--px 1500] [--size 224] [--workers 0] [--no-save]
"""
import argparse, shutil, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd
from PIL import Image
from torch.utils.data import DataLoader
from common import add_save_args, save_result
from xnn.core import CLASSES
from xnn.data.synthetic import draw_xray, sample_anatomy
from xnn.data.loaders import Preprocess, PreprocessCache, XrayDataset, build_transforms

def make_films(root:Path, n:int, px:int, seed:int=0)->pd.DataFrame:
    "n full-size JPEG films: a few drawn at 512 px, upscaled to ~px with fresh noise per file (realistic JPEG entropy)"
    rng = np.random.default_rng(seed)
    bases = [draw_xray(rng, c, 512, 600, sample_anatomy(rng))[0] for c in CLASSES for _ in range(2)]
    rows = []
    for i in range(n):
        h = int(px * rng.uniform(0.9, 1.1)); w = int(h * rng.uniform(1.0, 1.25))
        big = np.asarray(Image.fromarray(bases[i % len(bases)]).resize((w, h), Image.BICUBIC), dtype=np.float32)
        big = np.clip(big + rng.normal(0, 4, big.shape), 0, 255).astype(np.uint8)
        p = f'film_{i:03d}.jpeg'
        Image.fromarray(big).save(root / p, quality=92)
        rows.append(dict(path=p, label=CLASSES[i % len(bases) // 2], split='train', patient_id=str(i)))
    return pd.DataFrame(rows)

def epoch(ds, workers:int, bs:int=16)->float:
    start = time.perf_counter()
    for _ in DataLoader(ds, batch_size=bs, num_workers=workers): pass
    return time.perf_counter() - start

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--films', type=int, default=64); ap.add_argument('--px', type=int, default=1500)
    ap.add_argument('--size', type=int, default=224); ap.add_argument('--workers', type=int, default=0)
    a = add_save_args(ap).parse_args()
    root = Path(tempfile.mkdtemp(prefix='xnn-bench-'))
    try:
        df = make_films(root, a.films, a.px)
        mb = sum(f.stat().st_size for f in root.glob('*.jpeg')) / 1e6
        print(f'{a.films} JPEG films of ~{a.px} px ({mb:.1f} MB) -> {a.size} px, {a.workers} loader workers')
        tf = build_transforms(Preprocess(a.size))
        plain = XrayDataset(df, 'train', tf, cache=None, root=root)
        cached = XrayDataset(df, 'train', tf, cache=PreprocessCache(root / 'cache', a.size), root=root)
        t_plain = min(epoch(plain, a.workers) for _ in range(2))
        t_build = epoch(cached, a.workers)
        t_cached = min(epoch(cached, a.workers) for _ in range(2))
        print(f'baseline (decode every epoch): {t_plain:.2f} s/epoch, {a.films / t_plain:.1f} films/s')
        print(f'xnn cache, first epoch (builds): {t_build:.2f} s')
        print(f'xnn cache, later epochs:        {t_cached:.2f} s/epoch, {a.films / t_cached:.1f} films/s')
        figures = dict(films=a.films, px=a.px, size=a.size, workers=a.workers, megabytes=mb, baseline_s=t_plain, first_cached_s=t_build,
                       cached_s=t_cached, baseline_films_per_s=a.films / t_plain, cached_films_per_s=a.films / t_cached)
        row = dict(benchmark=f'`bench_loading.py`: one epoch, {a.films} JPEG films of ~{a.px} px → {a.size} px',
                   baseline=f'decode + resize every epoch: {t_plain:.2f} s ({a.films / t_plain:.0f} films/s)',
                   xnn=f'preprocessed cache: {t_cached:.2f} s ({a.films / t_cached:.0f} films/s); its first epoch, which builds it: {t_build:.2f} s',
                   ratio=f'**{t_plain / t_cached:.1f}×**')
        save_result('loading', figures, [row], a.out, not a.no_save)
        print(f'ratio: {t_plain / t_cached:.2f}')
    finally: shutil.rmtree(root, ignore_errors=True)

if __name__ == '__main__': main()
