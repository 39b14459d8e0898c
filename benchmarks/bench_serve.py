"""/predict under load: a real `xnn_serve` answering clients in another process vs the bare in-process path.

Baseline ("bare"): the same model in this process, one film at a time: decode + preprocess (`xnn.serve.prepare_input`,
the service's own decoding settings) + forward + softmax, measured before the server starts and again after it stops;
the faster of the two is the baseline (one bare phase during a busy moment ran at 22 films/s instead of 58–69). Served: an `xnn_serve` subprocess (uvicorn on 127.0.0.1);
the clients run in a *separate process* (so they do not share the server's interpreter), each client a keep-alive
`http.client` connection posting real JPEGs of 1000–2000 px (realistic chest X-ray sizes) to `/predict`:
a lone client sending one request after another (the latency a single user sees), then (after an untimed phase
under load: a first one ran 10–20 % slower than later ones) `--clients` concurrent clients
with raw `image/jpeg` bodies, then the same with multipart forms (what browsers and the web UI send). Prints films/s
and p50/p95 latency of each and, as its last line, `ratio: X.XX` (served raw-body films/s ÷ bare films/s); writes
benchmarks/results/serve.json (`benchmarks/common.py`). Bounded: at most `--requests` requests and `--max-seconds`
per phase.

    python benchmarks/bench_serve.py [--requests 160] [--clients 8] [--model mobilenet_v2] [--size 224] [--ckpt CKPT] [--no-save]
"""
import argparse, http.client, io, os, shutil, signal, socket, subprocess, sys, tempfile, threading, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
import numpy as np
from common import add_save_args, save_result

def films(n:int, seed:int=0)->list:
    "n synthetic X-rays as JPEG bytes, sides between 1000 and 2000 px"
    from PIL import Image
    from xnn.data.synthetic import draw_xray, sample_anatomy
    rng, out = np.random.default_rng(seed), []
    for i in range(n):
        w = int(rng.integers(1000, 2001)); h = int(w * rng.uniform(0.85, 1.15))
        img = draw_xray(rng, ('bacteria', 'normal', 'virus')[i % 3], 256, 256, sample_anatomy(rng))[0]
        big = Image.fromarray(img).resize((w, h), Image.BICUBIC)
        noise = rng.normal(0, 4, (h, w))               # film grain, so JPEGs have realistic sizes
        big = Image.fromarray(np.clip(np.asarray(big, np.float32) + noise, 0, 255).astype(np.uint8))
        b = io.BytesIO(); big.save(b, 'JPEG', quality=90); out.append(b.getvalue())
    return out

def summary(lat:list, seconds:float)->dict:
    "films/s, p50 and p95 (ms) of one phase"
    ms = np.asarray(lat) * 1000
    return dict(n=len(lat), seconds=seconds, films_s=len(lat) / seconds, p50_ms=float(np.percentile(ms, 50)), p95_ms=float(np.percentile(ms, 95)))

def line(s:dict)->str:
    return f"{s['films_s']:6.2f} films/s · p50 {s['p50_ms']:7.1f} ms · p95 {s['p95_ms']:7.1f} ms ({s['n']} requests)"

def free_port()->int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

# ---- the client process: stdlib only, so it starts fast and stays small ----
def request_body(data:bytes, name:str, form:str)->tuple:
    "(path, body, headers) of a /predict request carrying `data` raw or as a multipart form"
    if form == 'raw': return f'/predict?filename={name}', data, {'Content-Type': 'image/jpeg'}
    b = 'xnnbench7d1f0c'
    body = (f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
            + data + f'\r\n--{b}--\r\n'.encode())
    return '/predict', body, {'Content-Type': f'multipart/form-data; boundary={b}'}

def post(conn:http.client.HTTPConnection, req:tuple)->float:
    "Send one request on a keep-alive connection; its latency in seconds"
    t = time.perf_counter()
    conn.request('POST', req[0], body=req[1], headers=req[2])
    r = conn.getresponse(); body = r.read()
    if r.status != 200: raise RuntimeError(f'{req[0]} answered {r.status}: {body[:300]!r}')
    return time.perf_counter() - t

def load_phase(port:int, reqs:list, clients:int, requests:int, max_seconds:float)->dict:
    "`clients` threads, each on its own connection, share `requests` requests cycling `reqs`"
    conns = [http.client.HTTPConnection('127.0.0.1', port, timeout=300) for _ in range(clients)]
    for c in conns: post(c, reqs[0])                     # connect and warm up, untimed
    lat, errors, start = [[] for _ in conns], [], time.perf_counter()
    def run(k:int):
        try:
            for i in range(k, requests, clients):
                if time.perf_counter() - start > max_seconds: break
                lat[k].append(post(conns[k], reqs[i % len(reqs)]))
        except Exception as e: errors.append(e)
    threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    for t in threads: t.start()
    for t in threads: t.join()
    seconds = time.perf_counter() - start
    for c in conns: c.close()
    if errors: raise errors[0]
    return summary([x for l in lat for x in l], seconds)

def client_process(port:int, paths:list, clients:int, requests:int, lone:int, max_seconds:float)->dict:
    "Every served phase, run in a process of its own"
    data = [(Path(p).name, Path(p).read_bytes()) for p in paths]
    raw, form = [request_body(d, n, 'raw') for n, d in data], [request_body(d, n, 'multipart') for n, d in data]
    load_phase(port, raw, clients, requests, max_seconds)             # untimed: a first phase under load ran 10–20 % slower than later ones
    return dict(lone=load_phase(port, raw, 1, lone, max_seconds), raw=load_phase(port, raw, clients, requests, max_seconds),
                multipart=load_phase(port, form, clients, requests, max_seconds))

# ---- the benchmark ----
def bare(model, data:list, requests:int, max_seconds:float)->dict:
    "The baseline: decode + preprocess + forward + softmax, one film at a time, in this process"
    import torch
    from xnn.serve import prepare_input
    with torch.inference_mode(): model(prepare_input(data[0], model)[None])     # warm-up
    lat, start = [], time.perf_counter()
    for i in range(requests):
        if time.perf_counter() - start > max_seconds: break
        t = time.perf_counter()
        with torch.inference_mode(): model(prepare_input(data[i % len(data)], model)[None]).softmax(-1)
        lat.append(time.perf_counter() - t)
    return summary(lat, time.perf_counter() - start)

def start_server(ckpt, port:int, threads=None)->subprocess.Popen:
    proc = subprocess.Popen([str(Path(sys.executable).parent / 'xnn_serve'), '--ckpt', str(ckpt), '--port', str(port), '--quiet',
                             *(['--threads', str(threads)] if threads else [])],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.time() + 120
    while True:
        try:
            c = http.client.HTTPConnection('127.0.0.1', port, timeout=2); c.request('GET', '/health')
            if c.getresponse().status == 200: return proc
        except OSError: pass
        if proc.poll() is not None or time.time() > deadline:
            os.killpg(proc.pid, signal.SIGTERM)
            raise SystemExit(f'xnn_serve did not start: {proc.communicate(timeout=20)[0][-2000:]}')
        time.sleep(0.2)

def rows(a, f:dict)->list:
    kb = f"{f['kb_min']}–{f['kb_max']} kB"
    what = f'`bench_serve.py`: `/predict`, {a.model} at {a.size} px, {f["requests"]} requests cycling {a.films} JPEGs of 1000–2000 px ({kb})'
    return [dict(benchmark=what,
                 baseline=f"in process, one film at a time (decode + preprocess + forward): {f['bare_films_s']:.1f} films/s",
                 xnn=f"real `xnn_serve` on loopback, {a.clients} concurrent clients in another process: raw JPEG bodies "
                     f"{f['served_films_s']:.1f} films/s (multipart forms {f['multipart_films_s']:.1f})",
                 ratio=f"**{f['ratio']:.2f}×**"),
            dict(benchmark=f'`bench_serve.py`: latency of a lone `/predict` (one client, one request after another), {a.model} at {a.size} px',
                 baseline=f"in process: p50 {f['bare_p50_ms']:.0f} ms, p95 {f['bare_p95_ms']:.0f} ms",
                 xnn=f"over HTTP: p50 {f['lone_p50_ms']:.0f} ms, p95 {f['lone_p95_ms']:.0f} ms",
                 ratio=f"{f['lone_p50_ratio']:.2f}× the bare p50")]

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--requests', type=int, default=160, help='requests per phase (bare, concurrent raw, concurrent multipart)')
    ap.add_argument('--clients', type=int, default=8); ap.add_argument('--lone', type=int, default=48, help='requests of the lone client')
    ap.add_argument('--films', type=int, default=24, help='distinct JPEGs, cycled')
    ap.add_argument('--model', default='mobilenet_v2'); ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--ckpt', default=None, help='a trained checkpoint instead of random init')
    ap.add_argument('--max-seconds', type=float, default=60, help='time limit of each phase')
    ap.add_argument('--threads', type=int, default=None, help='torch threads of the server (xnn_serve --threads)')
    a = add_save_args(ap).parse_args()
    import torch
    from xnn.data.loaders import Preprocess
    from xnn.models import create_model
    from xnn.train import load_classifier, save_classifier
    torch.manual_seed(0)
    tmp = Path(tempfile.mkdtemp(prefix='xnn-bench-serve-'))
    ckpt = a.ckpt or save_classifier(create_model(a.model, preprocess=Preprocess(a.size)), tmp / f'{a.model}.ckpt')
    model, data = load_classifier(ckpt).eval(), films(a.films)
    paths = [tmp / f'{i}.jpeg' for i in range(len(data))]
    for p, d in zip(paths, data): p.write_bytes(d)
    kb = (min(len(d) for d in data) // 1000, max(len(d) for d in data) // 1000)
    print(f'{Path(ckpt).name}: {a.films} JPEGs of {kb[0]}–{kb[1]} kB, {a.requests} requests per phase, {a.clients} clients, '
          f'{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}')
    b1 = bare(model, data, a.requests, a.max_seconds)
    print(f'bare, in process            : {line(b1)}')
    port = free_port()
    proc = start_server(ckpt, port, a.threads)
    try:
        with ProcessPoolExecutor(1, mp_context=get_context('spawn')) as pool:
            s = pool.submit(client_process, port, [str(p) for p in paths], a.clients, a.requests, a.lone, a.max_seconds).result()
    finally:
        os.killpg(proc.pid, signal.SIGTERM); proc.wait(20); shutil.rmtree(tmp, ignore_errors=True)
    print(f"served, lone client, raw    : {line(s['lone'])}")
    print(f"served, {a.clients} clients, multipart: {line(s['multipart'])}")
    print(f"served, {a.clients} clients, raw JPEG : {line(s['raw'])}")
    b2 = bare(model, data, a.requests, a.max_seconds)     # again, once the server is gone: a slow moment must not flatter xnn
    b = max(b1, b2, key=lambda r: r['films_s'])
    print(f'bare again, after the server: {line(b2)}')
    print(f"baseline: the faster bare phase, {b['films_s']:.2f} films/s; lone request p50 {s['lone']['p50_ms'] / b['p50_ms']:.2f}× its p50")
    ratio = s['raw']['films_s'] / b['films_s']
    f = dict(model=a.model, size=a.size, requests=a.requests, clients=a.clients, films=a.films, kb_min=kb[0], kb_max=kb[1],
             **{f'bare_{k}': v for k, v in b.items()}, **{f'served_{k}': v for k, v in s['raw'].items()},
             **{f'multipart_{k}': v for k, v in s['multipart'].items()}, **{f'lone_{k}': v for k, v in s['lone'].items()},
             bare_films_s_runs=[b1['films_s'], b2['films_s']], lone_p50_ratio=s['lone']['p50_ms'] / b['p50_ms'], multipart_ratio=s['multipart']['films_s'] / b['films_s'], ratio=ratio)
    save_result('serve', f, rows(a, f), a.out, not a.no_save)
    print(f'ratio: {ratio:.2f}')

if __name__ == '__main__': main()
