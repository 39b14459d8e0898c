"""/predict under load: 8 concurrent clients against a real `xnn_serve` (uvicorn on 127.0.0.1) vs the bare in-process path.

Baseline ("bare"): the same model in this process, one film at a time: decode + preprocess (`xnn.serve.prepare_input`,
the service's own decoding settings) + forward + softmax. Served: `--clients` threads, each with its own HTTP
connection, POST real JPEGs of 1000–2000 px (realistic chest X-ray sizes) to `/predict` of an `xnn_serve` process;
the service decodes in a thread pool and micro-batches forward passes. Both paths see the same films. Prints p50/p95
latency and throughput of both and, as its last line, `ratio: X.XX` (served films/s ÷ bare films/s). Bounded: at most
`--requests` requests and `--max-seconds` per phase.

    python benchmarks/bench_serve.py [--requests 160] [--clients 8] [--model mobilenet_v2] [--size 224] [--ckpt CKPT]
"""
import argparse, io, os, signal, socket, subprocess, sys, tempfile, time, warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import numpy as np, torch
from PIL import Image
from xnn.data.loaders import Preprocess
from xnn.data.synthetic import draw_xray, sample_anatomy
from xnn.models import create_model
from xnn.serve import prepare_input
from xnn.train import load_classifier, save_classifier

def films(n:int, seed:int=0)->list:
    "n synthetic X-rays as JPEG bytes, sides between 1000 and 2000 px"
    rng, out = np.random.default_rng(seed), []
    for i in range(n):
        w = int(rng.integers(1000, 2001)); h = int(w * rng.uniform(0.85, 1.15))
        img = draw_xray(rng, ('bacteria', 'normal', 'virus')[i % 3], 256, 256, sample_anatomy(rng))[0]
        big = Image.fromarray(img).resize((w, h), Image.BICUBIC)
        noise = rng.normal(0, 4, (h, w))               # film grain, so JPEGs have realistic sizes
        big = Image.fromarray(np.clip(np.asarray(big, np.float32) + noise, 0, 255).astype(np.uint8))
        b = io.BytesIO(); big.save(b, 'JPEG', quality=90); out.append(b.getvalue())
    return out

def stats(lat:list, n:int, seconds:float)->str:
    lat = np.asarray(lat) * 1000
    return f'{n / seconds:6.2f} films/s · p50 {np.percentile(lat, 50):7.1f} ms · p95 {np.percentile(lat, 95):7.1f} ms ({n} requests)'

def free_port()->int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--requests', type=int, default=160); ap.add_argument('--clients', type=int, default=8)
    ap.add_argument('--films', type=int, default=24, help='distinct JPEGs, cycled')
    ap.add_argument('--model', default='mobilenet_v2'); ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--ckpt', default=None, help='a trained checkpoint instead of random init')
    ap.add_argument('--max-seconds', type=float, default=240)
    ap.add_argument('--threads', type=int, default=None, help='torch threads of the server (xnn_serve --threads)')
    a = ap.parse_args()
    warnings.filterwarnings('ignore'); torch.manual_seed(0)
    import httpx
    tmp = Path(tempfile.mkdtemp())
    ckpt = a.ckpt or save_classifier(create_model(a.model, preprocess=Preprocess(a.size)), tmp / f'{a.model}.ckpt')
    model = load_classifier(ckpt)
    data = films(a.films)
    print(f'{Path(ckpt).name}: {a.films} JPEGs of {min(len(d) for d in data) // 1000}–{max(len(d) for d in data) // 1000} kB, '
          f'{a.requests} requests, {a.clients} clients, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}')

    with torch.inference_mode(): model(prepare_input(data[0], model)[None])     # warm-up
    lat, start = [], time.perf_counter()
    for i in range(a.requests):                                                 # bare: one film at a time, in process
        t = time.perf_counter()
        with torch.inference_mode(): model(prepare_input(data[i % len(data)], model)[None]).softmax(-1)
        lat.append(time.perf_counter() - t)
        if t - start > a.max_seconds: break
    t_bare, n_bare = time.perf_counter() - start, len(lat)
    print(f'bare in-process : {stats(lat, n_bare, t_bare)}')

    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent / 'xnn_serve'), '--ckpt', str(ckpt), '--port', str(port), '--log-level', 'warning',
                             *(['--threads', str(a.threads)] if a.threads else [])],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        url, deadline = f'http://127.0.0.1:{port}', time.time() + 120
        while True:
            try:
                if httpx.get(f'{url}/health', timeout=2).status_code == 200: break
            except httpx.HTTPError: pass
            if proc.poll() is not None or time.time() > deadline: raise SystemExit(f'xnn_serve did not start: {proc.stdout.read()[-2000:]}')
            time.sleep(0.5)
        clients = [httpx.Client(base_url=url, timeout=120) for _ in range(a.clients)]
        for c in clients: c.post('/predict', files={'file': ('w.jpeg', data[0], 'image/jpeg')}).raise_for_status()   # warm-up
        start = time.perf_counter()
        def client(k:int)->list:
            out = []
            for i in range(k, a.requests, a.clients):
                if time.perf_counter() - start > a.max_seconds: break
                t = time.perf_counter()
                clients[k].post('/predict', files={'file': (f'{i}.jpeg', data[i % len(data)], 'image/jpeg')}).raise_for_status()
                out.append(time.perf_counter() - t)
            return out
        with ThreadPoolExecutor(a.clients) as pool: lat = [x for r in pool.map(client, range(a.clients)) for x in r]
        t_srv, n_srv = time.perf_counter() - start, len(lat)
        for c in clients: c.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM); proc.wait(20)
    print(f'served ({a.clients} clients): {stats(lat, n_srv, t_srv)}')
    print(f'ratio: {(n_srv / t_srv) / (n_bare / t_bare):.2f}')

if __name__ == '__main__': main()
