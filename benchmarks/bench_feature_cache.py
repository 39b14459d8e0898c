"""Feature extraction: training the head through the frozen backbone every epoch vs on cached features.

Baseline: Lightning fits `XrayClassifier` on images with the MobileNetV2 body frozen (what the original did): every
epoch runs the full forward pass. xnn: `FeatureDataModule` computes the head's inputs once, then epochs train the head
on them. Prints epoch times and, as its last line, `ratio: X.XX` (baseline epoch ÷ cached epoch, epochs after the first);
writes benchmarks/results/feature_cache.json (`benchmarks/common.py`).

    python benchmarks/bench_feature_cache.py [--films 96] [--size 224] [--epochs 3] [--model mobilenet_v2] [--no-save]
"""
import argparse, shutil, tempfile, time
from pathlib import Path
import lightning as L
from common import add_save_args, save_result
from xnn.data.loaders import XrayDataModule
from xnn.data.synthetic import SynthConfig, synthesize
from xnn.data.wrangle import wrangle
from xnn.models import create_model, freeze
from xnn.train import FeatureDataModule, XrayClassifier, quiet_lightning

class EpochTimer(L.Callback):
    def __init__(self): self.times = []
    def on_train_epoch_start(self, *a): self.t = time.perf_counter()
    def on_train_epoch_end(self, *a): self.times.append(time.perf_counter() - self.t)

def run(dm, model_name, epochs, cached):
    L.seed_everything(0, verbose=False)
    m = create_model(model_name); freeze(m, 'feature_extraction')
    timer = EpochTimer()
    with quiet_lightning():   # no banners or tips; any other warning shows
        tr = L.Trainer(accelerator='cpu', max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                       enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0, callbacks=[timer])
        start = time.perf_counter()
        tr.fit(XrayClassifier(m, scheduler='none'), FeatureDataModule(dm, m) if cached else dm)
    return timer.times, time.perf_counter() - start

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--films', type=int, default=96); ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--epochs', type=int, default=3); ap.add_argument('--model', default='mobilenet_v2')
    a = add_save_args(ap).parse_args()
    tmp = Path(tempfile.mkdtemp(prefix='xnn-bench-'))
    try:
        synthesize(tmp / 'synth', SynthConfig(patients=a.films // 2, size=a.size, seed=0))
        wrangle(tmp / 'synth/chest_xray', tmp / 'data', ratios=(0.9, 0.05, 0.05), n_predict=0, verbose=False)
        dm = XrayDataModule(tmp / 'data', image_size=a.size, batch_size=32, augment=False)
        n = (dm.ann.split == 'train').sum()
        print(f'{a.model}, body frozen, {n} training films at {a.size} px, {a.epochs} epochs, CPU')
        base, base_total = run(dm, a.model, a.epochs, cached=False)
        fast, fast_total = run(dm, a.model, a.epochs, cached=True)
        b, f = sum(base[1:]) / len(base[1:]), sum(fast[1:]) / len(fast[1:])
        print(f'baseline (forward through the frozen body every epoch): {b:.3f} s/epoch, {base_total:.1f} s total')
        print(f'xnn feature cache: features once + first epoch {fast_total - sum(fast[1:]):.1f} s, later epochs {f:.4f} s/epoch, {fast_total:.1f} s total')
        figures = dict(model=a.model, films=int(n), size=a.size, epochs=a.epochs, baseline_epochs_s=base, baseline_total_s=base_total,
                       cached_epochs_s=fast, cached_total_s=fast_total, baseline_epoch_s=b, cached_epoch_s=f)
        row = dict(benchmark=f'`bench_feature_cache.py`: {a.model} body frozen, {n} films at {a.size} px, epochs after the first',
                   baseline=f'forward through the frozen body every epoch: {b:.2f} s/epoch',
                   xnn=f'head on cached features: {f:.4f} s/epoch (features once + first epoch: {fast_total - sum(fast[1:]):.1f} s)',
                   ratio=f'**{b / f:.0f}×**')
        save_result('feature_cache', figures, [row], a.out, not a.no_save)
        print(f'ratio: {b / f:.2f}')
    finally: shutil.rmtree(tmp, ignore_errors=True)

if __name__ == '__main__': main()
