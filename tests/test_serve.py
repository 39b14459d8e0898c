"""The HTTP contract of `xnn_serve` (DESIGN.md §3): every route, every bad input with its status code and message,
and one real `xnn_serve` process on a free loopback port."""
import io, json, os, re, struct, subprocess, zlib
from concurrent.futures import ThreadPoolExecutor
import numpy as np, pytest
from PIL import Image
from conftest import free_port, script, small_checkpoint, stop, wait_http

def encode(img:Image.Image, fmt:str, **kw)->bytes:
    b = io.BytesIO(); img.save(b, fmt, **kw); return b.getvalue()

def film(size=(320, 280), seed=0)->Image.Image:
    rng = np.random.default_rng(seed)
    a = (rng.random((size[1] // 8, size[0] // 8)) * 255).astype(np.uint8)
    return Image.fromarray(a).resize(size, Image.BILINEAR)

def png_header(w:int, h:int)->bytes:
    "A PNG that claims w×h pixels (header only): the decompression-bomb case"
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0)) + chunk(b'IEND', b'')

@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    return small_checkpoint(tmp_path_factory.mktemp('serve') / 'small.ckpt')

@pytest.fixture(scope='module')
def client(ckpt):
    from fastapi.testclient import TestClient
    from xnn.serve import create_app
    with TestClient(create_app(ckpt, max_upload_mb=2, max_pixels=20_000_000), raise_server_exceptions=False) as c: yield c

def post(client, route, data, name='film.jpeg', ctype='image/jpeg', **params):
    return client.post(route, params=params, files={'file': (name, data, ctype)})

def post_raw(client, route, data, name=None, ctype='image/jpeg', **params):
    "The film as the request body itself, named by ?filename="
    return client.post(route, params={**params, **({'filename': name} if name else {})}, content=data, headers={'content-type': ctype})

def test_health_model_docs(client):
    assert client.get('/health').json() == {'status': 'ok'}
    info = client.get('/model').json()
    assert info['classes'] == ['bacteria', 'normal', 'virus'] and info['architecture'] == 'small_cnn' and info['image_size'] == 64
    assert len(info['checkpoint_sha256']) == 64 and info['max_upload_bytes'] == 2_000_000
    assert {'integrated_gradients', 'gradcam', 'occlusion', 'lime'} <= {m['name'] for m in info['methods']}
    cost = {m['name']: m['evaluations_per_film'] for m in info['methods']}       # what each method costs at 64 px with the API's options
    assert cost['saliency'] == 2 and cost['integrated_gradients'] == 1 + 32 + 2 and cost['occlusion'] == 1 + 15 ** 2 + 1   # an 8-px window moved by 4 px
    assert cost['scorecam'] == 1 + 128 + 1 and cost['integrated_gradients'] is not None   # small_cnn's CAM layer has 128 channels
    r = client.get('/', follow_redirects=False)
    assert r.status_code in (302, 307) and r.headers['location'] == '/docs'
    spec = client.get('/openapi.json').json()
    assert {'/health', '/model', '/predict', '/explain'} <= set(spec['paths'])
    assert '415' in spec['paths']['/predict']['post']['responses']

@pytest.mark.parametrize('fmt,mode,kw', [('JPEG', 'L', {}), ('JPEG', 'RGB', {}), ('JPEG', 'CMYK', {}), ('PNG', 'L', {}),
                                         ('PNG', 'I;16', {}), ('PNG', 'RGBA', {}), ('TIFF', 'L', {}), ('BMP', 'RGB', {}), ('WEBP', 'RGB', {})])
def test_predict_formats(client, fmt, mode, kw):
    img = film()
    img = img.convert(mode) if mode != 'I;16' else Image.fromarray((np.asarray(img).astype(np.uint16) * 257))
    r = post(client, '/predict', encode(img, fmt, **kw), f'film.{fmt.lower()}', f'image/{fmt.lower()}')
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body['probabilities']) == {'bacteria', 'normal', 'virus'}
    assert abs(sum(body['probabilities'].values()) - 1) < 1e-5                      # one softmax: a distribution
    assert body['label'] == max(body['probabilities'], key=body['probabilities'].get)

def test_predict_is_the_models_softmax(client, ckpt):
    import torch
    from xnn.serve import prepare_input
    from xnn.train import load_classifier
    data = encode(film(seed=3), 'PNG')
    model = load_classifier(ckpt)
    with torch.inference_mode(): ref = model(prepare_input(data, model)[None]).softmax(-1)[0].tolist()
    got = list(post(client, '/predict', data, 'f.png', 'image/png').json()['probabilities'].values())
    assert np.allclose(got, ref, atol=1e-6)          # softmax twice would flatten these towards 1/3

BAD = [  # (what, route, payload, name, ctype, status, error, words in the message)
    ('empty file', b'', 'empty.jpeg', 'image/jpeg', 400, 'empty', 'empty.jpeg'),
    ('text file', b'patient notes, not a film', 'notes.txt', 'text/plain', 415, 'not_image', 'not an image'),
    ('truncated JPEG', None, 'cut.jpeg', 'image/jpeg', 400, 'corrupt', 'truncated or corrupt'),
    ('GIF', None, 'anim.gif', 'image/gif', 415, 'unsupported', 'GIF images are not supported'),
    ('tiny image', None, 'tiny.png', 'image/png', 400, 'too_small', 'too small'),
    ('decompression bomb', png_header(40000, 40000), 'bomb.png', 'image/png', 413, 'too_large', 'decompression bomb'),
    ('over the pixel limit', png_header(5000, 5000), 'big.png', 'image/png', 413, 'too_large', 'exceeds the limit of 20,000,000'),
    ('request over the limit', b'\xff\xd8' + os.urandom(2_100_000), 'huge.jpeg', 'image/jpeg', 413, 'too_large', 'exceeds the 2 MB upload limit'),
    ('upload just over the limit', b'\xff\xd8' + os.urandom(2_000_100), 'big.jpeg', 'image/jpeg', 413, 'too_large', 'big.jpeg: upload of 2.0 MB'),
]

def _payload(what, data):
    if data is not None: return data
    if what == 'truncated JPEG': return encode(film(), 'JPEG')[:600]
    if what == 'GIF': return encode(film(), 'GIF')
    if what == 'tiny image': return encode(Image.new('L', (4, 4)), 'PNG')

@pytest.mark.parametrize('form', ['multipart', 'raw'])
@pytest.mark.parametrize('route', ['/predict', '/explain'])
@pytest.mark.parametrize('what,data,name,ctype,status,error,words', BAD, ids=[b[0] for b in BAD])
def test_bad_input(client, form, route, what, data, name, ctype, status, error, words):
    "The same answer whether the film comes in a form or as the body (sent as octet-stream: judged by content, like a form's file)"
    send = post if form == 'multipart' else lambda c, r, d, n, t: post_raw(c, r, d, n, 'application/octet-stream')
    r = send(client, route, _payload(what, data), name, ctype)
    assert r.status_code == status, (what, r.status_code, r.text)
    body = r.json()
    assert body['error'] == error and words in body['detail'], body

def test_missing_file_field(client):
    for route in ('/predict', '/explain'):
        r = client.post(route, data={'other': 'x'})
        assert r.status_code == 422 and r.json()['error'] == 'bad_request' and 'file' in r.json()['detail'], r.text

def test_raw_body_is_the_multipart_answer(client):
    data = encode(film(seed=7), 'JPEG')
    form, raw = post(client, '/predict', data).json(), post_raw(client, '/predict', data, 'f.jpeg').json()
    assert raw['label'] == form['label'] and np.allclose(list(raw['probabilities'].values()), list(form['probabilities'].values()), atol=1e-6)
    j = post_raw(client, '/explain', data, method='gradcam', format='json').json()
    assert j['label'] == form['label'] and j['method'] == 'gradcam'
    r = post_raw(client, '/predict', encode(film(), 'PNG'), ctype='image/png')      # any image/* type; the name is optional
    assert r.status_code == 200 and abs(sum(r.json()['probabilities'].values()) - 1) < 1e-5

def test_raw_dicom_body(client, tmp_path):
    from xnn.core import write_dicom
    img = film(seed=2)
    dcm = write_dicom(np.asarray(img, np.float32) / 255, tmp_path / 'film.dcm', bits=12, photometric='MONOCHROME1').read_bytes()
    r = post_raw(client, '/predict', dcm, 'film.dcm', 'application/dicom')
    assert r.status_code == 200, r.text
    png = post_raw(client, '/predict', encode(img, 'PNG'), 'film.png', 'image/png').json()
    assert np.allclose(list(r.json()['probabilities'].values()), list(png['probabilities'].values()), atol=2e-3)  # the same film, inverted in 12 bits

@pytest.mark.parametrize('route', ['/predict', '/explain'])
def test_raw_body_errors(client, route):
    r = post_raw(client, route, b'{"film": 1}', 'f.json', 'application/json')
    assert r.status_code == 415 and r.json()['error'] == 'bad_content_type' and 'application/json' in r.json()['detail'], r.text
    r = post_raw(client, route, b'', 'nothing.jpeg')
    assert r.status_code == 400 and r.json()['error'] == 'empty' and 'nothing.jpeg' in r.json()['detail'], r.text
    r = post_raw(client, route, b'\xff\xd8' + os.urandom(2_000_100), 'big.jpeg')
    assert r.status_code == 413 and 'big.jpeg: upload of 2.0 MB exceeds the 2 MB upload limit' in r.json()['detail'], r.text
    r = post_raw(client, route, b'\xff\xd8' + os.urandom(2_100_000))
    assert r.status_code == 413 and r.json()['error'] == 'too_large', r.text
    r = client.post(route)                                                          # nothing at all
    assert r.status_code == 422 and 'file' in r.json()['detail'], r.text

def test_openapi_documents_both_forms(client):
    spec = client.get('/openapi.json').json()
    for route in ('/predict', '/explain'):
        content = spec['paths'][route]['post']['requestBody']['content']
        assert {'multipart/form-data', 'image/jpeg', 'application/dicom'} <= set(content)
        assert content['multipart/form-data']['schema']['required'] == ['file']
    assert 'mask' in spec['paths']['/explain']['post']['requestBody']['content']['multipart/form-data']['schema']['properties']
    assert 'filename' in {p['name'] for p in spec['paths']['/predict']['post']['parameters']}

@pytest.mark.parametrize('params,words', [
    (dict(method='shap'), 'unknown attribution method'), (dict(target='covid'), "bad target 'covid'"),
    (dict(target='virus - virus'), 'overlapping'), (dict(format='gif'), 'format'), (dict(mode='rainbow'), 'mode'),
    (dict(steps=0), 'steps'), (dict(steps='many'), 'steps')])
def test_bad_parameters(client, params, words):
    r = post(client, '/explain', encode(film(), 'JPEG'), **params)
    assert r.status_code == 422 and words in r.json()['detail'], r.text

def test_explain_png_and_json(client):
    data = encode(film(seed=5), 'JPEG')
    r = post(client, '/explain', data, method='integrated_gradients', steps=8)
    assert r.status_code == 200 and r.headers['content-type'] == 'image/png'
    assert Image.open(io.BytesIO(r.content)).size == (64, 64)
    assert r.headers['x-predicted-class'] in ('bacteria', 'normal', 'virus') and 0 < float(r.headers['x-predicted-probability']) <= 1
    assert float(r.headers['x-completeness-delta']) >= 0
    j = post(client, '/explain', data, method='integrated_gradients', steps=8, format='json').json()
    assert j['label'] == r.headers['x-predicted-class'] and j['n_steps'] == 8 and j['size'] == 64
    assert abs(j['probability'] - float(r.headers['x-predicted-probability'])) < 1e-5
    import base64
    assert base64.b64decode(j['overlay_png']) == r.content                          # deterministic: the same overlay twice
    pred = post(client, '/predict', data).json()
    assert pred['label'] == j['label'] and np.allclose(list(pred['probabilities'].values()), list(j['probabilities'].values()), atol=1e-5)

@pytest.mark.parametrize('method', ['saliency', 'gradcam', 'occlusion', 'deeplift'])
def test_explain_methods_and_targets(client, method):
    for target in ('predicted', 'virus', 'pneumonia', 'bacteria - virus'):
        r = post(client, '/explain', encode(film(seed=1), 'PNG'), 'f.png', 'image/png', method=method, target=target, format='json', mode='positive')
        assert r.status_code == 200, r.text
        assert r.json()['target'] == target and r.json()['method'] == method

def test_concurrent_predictions_are_deterministic(client):
    films = [encode(film(seed=i), 'JPEG') for i in range(12)]
    one = [post(client, '/predict', f).json()['probabilities'] for f in films]
    with ThreadPoolExecutor(8) as pool: many = list(pool.map(lambda f: post(client, '/predict', f).json()['probabilities'], films))
    for a, b in zip(one, many): assert np.allclose(list(a.values()), list(b.values()), atol=1e-5)

def test_xnn_serve_process(ckpt, tmp_path):
    "A real xnn_serve on a free 127.0.0.1 port, spoken to over HTTP"
    import httpx
    port = free_port()
    proc = subprocess.Popen([script('xnn_serve'), '--ckpt', str(ckpt), '--port', str(port), '--threads', '1'],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        assert json.loads(wait_http(f'http://127.0.0.1:{port}/health', proc, 120)) == {'status': 'ok'}
        env = open(f'/proc/{proc.pid}/environ', 'rb').read().split(b'\0')
        assert b'GOMP_SPINCOUNT=300000' in env            # started again with OpenMP spinning unthrottled (see Service)
        url = f'http://127.0.0.1:{port}'
        r = httpx.post(f'{url}/predict', files={'file': ('f.jpeg', encode(film(), 'JPEG'), 'image/jpeg')}, timeout=60)
        assert r.status_code == 200 and abs(sum(r.json()['probabilities'].values()) - 1) < 1e-5
        r = httpx.post(f'{url}/explain', params=dict(method='gradcam'), files={'file': ('f.png', encode(film(), 'PNG'), 'image/png')}, timeout=60)
        assert r.status_code == 200 and r.content[:8] == b'\x89PNG\r\n\x1a\n'
        r = httpx.post(f'{url}/predict', files={'file': ('x.txt', b'hello', 'text/plain')}, timeout=60)
        assert r.status_code == 415 and r.json()['error'] == 'not_image'
        assert httpx.get(f'{url}/docs', timeout=30).status_code == 200
    finally: stop(proc)

def test_xnn_serve_bad_checkpoint(tmp_path):
    r = subprocess.run([script('xnn_serve'), '--ckpt', str(tmp_path / 'nope.ckpt')], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and 'xnn_serve: error:' in r.stderr and 'nope.ckpt' in r.stderr

def test_bench_serve_runs(tmp_path):
    "The benchmark end to end at a tiny size: its phases, its result file and its ratio line (no speed asserted)"
    import sys
    from pathlib import Path
    bench = Path(__file__).resolve().parents[1] / 'benchmarks' / 'bench_serve.py'
    r = subprocess.run([sys.executable, str(bench), '--requests', '6', '--lone', '3', '--clients', '2', '--films', '2', '--model', 'small_cnn',
                        '--size', '64', '--max-seconds', '30', '--out', str(tmp_path)], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout.strip().splitlines()
    assert re.fullmatch(r'ratio: \d+\.\d\d', out[-1]), out
    assert [l.split(':')[0].strip() for l in out if l.startswith(('bare', 'served'))] == [
        'bare, in process', 'served, lone client, raw', 'served, 2 clients, multipart', 'served, 2 clients, raw JPEG', 'bare again, after the server']
    res = json.loads((tmp_path / 'serve.json').read_text())
    f = res['figures']
    assert len(f['bare_films_s_runs']) == 2 and f['bare_films_s'] == max(f['bare_films_s_runs'])   # the faster bare phase is the baseline
    assert f['bare_n'] == 6 and f['served_n'] == 6 and f['multipart_n'] == 6 and f['lone_n'] == 3
    assert abs(f['ratio'] - f['served_films_s'] / f['bare_films_s']) < 1e-9 and f'{f["ratio"]:.2f}' in out[-1]
    assert len(res['rows']) == 2 and all(set(row) == {'benchmark', 'baseline', 'xnn', 'ratio'} for row in res['rows'])

MALFORMED = [  # (Content-Type, body, words in the detail)
    ('multipart/form-data', b'--x\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc\r\n--x--\r\n', 'no boundary'),
    ('multipart/form-data; boundary=x', b'--x\r\nContent-Disposition: form-data; name="file"; filename="f.png"\r\n\r\nabc', 'closing boundary --x--'),
    ('multipart/form-data; boundary=x', b'garbage then --x--\r\n', 'cannot be parsed'),
    ('multipart/form-data; boundary=x', b''.join(b'--x\r\nContent-Disposition: form-data; name="f%d"; filename="a"\r\n\r\nz\r\n' % i
                                                 for i in range(3)) + b'--x--\r\n', 'Too many files'),
]

@pytest.mark.parametrize('route', ['/predict', '/explain'])
@pytest.mark.parametrize('ctype,body,words', MALFORMED, ids=['no boundary', 'truncated', 'garbage', 'too many files'])
def test_malformed_multipart(client, route, ctype, body, words):
    "A form the parser cannot read is xnn's 400 {error, detail} with a sentence, not starlette's bare detail or a 500"
    r = client.post(route, content=body, headers={'content-type': ctype})
    assert r.status_code == 400 and r.json()['error'] == 'bad_multipart', r.text
    assert r.json()['detail'].startswith('the multipart/form-data body') and words in r.json()['detail'], r.text

def test_starlette_errors_are_xnn_errors(client):
    r = client.get('/predict')
    assert r.status_code == 405 and r.json() == {'error': 'method_not_allowed', 'detail': 'Method Not Allowed'} and 'POST' in r.headers['allow']
    r = client.get('/nowhere')
    assert r.status_code == 404 and r.json()['error'] == 'not_found'

@pytest.fixture(scope='module')
def server(ckpt):
    "The app on a real uvicorn on 127.0.0.1, for clients that write their whole request before reading the answer"
    from conftest import ThreadServer
    from xnn.serve import create_app
    with ThreadServer(create_app(ckpt, max_upload_mb=2)) as s: yield s

def _urllib_post(url:str, data, ctype='image/jpeg')->tuple:
    import urllib.error, urllib.request
    req = urllib.request.Request(url, data=data, headers={'Content-Type': ctype})
    try: r = urllib.request.urlopen(req, timeout=60); return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e: return e.code, json.loads(e.read())

@pytest.mark.parametrize('n', [2_030_000, 2_200_000, 30_000_000])   # the route's limit; the middleware's; far over
def test_too_large_is_readable_by_urllib(server, n):
    "urllib sends the whole body, then reads: the server reads (and drops) it before answering, so the client sees the 413, not a reset"
    status, body = _urllib_post(f'{server.url}/predict', b'\xff\xd8' + bytes(n))
    assert status == 413 and body['error'] == 'too_large' and 'exceeds the 2 MB upload limit' in body['detail'], body

def test_too_large_chunked_body(server):
    "Without a Content-Length (chunked), the limit holds as the body streams in"
    chunks = iter([b'\xff\xd8'] + [bytes(500_000)] * 6)
    status, body = _urllib_post(f'{server.url}/predict', chunks)
    assert status == 413 and body['error'] == 'too_large' and 'exceeds the 2 MB upload limit' in body['detail'], body

def test_early_answers_are_readable_by_urllib(server):
    "An answer given before the body is read (a bad method) still reaches a client that sends everything first"
    status, body = _urllib_post(f'{server.url}/explain?method=shap', b'\xff\xd8' + bytes(1_500_000))
    assert status == 422 and body['error'] == 'bad_method', body
    status, body = _urllib_post(f'{server.url}/predict', encode(film(), 'PNG'), 'image/png')   # and the connection still serves
    assert status == 200 and abs(sum(body['probabilities'].values()) - 1) < 1e-5

KEY = 'test-key-9f8e7d6c'

@pytest.fixture(scope='module')
def keyed(ckpt):
    from fastapi.testclient import TestClient
    from xnn.serve import create_app
    with TestClient(create_app(ckpt, max_upload_mb=2, api_key=KEY), raise_server_exceptions=False) as c: yield c

@pytest.mark.parametrize('route', ['/predict', '/explain'])
def test_api_key(keyed, route):
    data = encode(film(), 'PNG')
    for headers, words in [({}, 'send it in the X-API-Key header'), ({'X-API-Key': KEY + 'x'}, 'not this API'), ({'X-API-Key': ''}, 'send it')]:
        r = keyed.post(route, params=dict(method='gradcam'), files={'file': ('f.png', data, 'image/png')}, headers=headers)
        assert r.status_code == 401 and r.json()['error'] == 'unauthorized' and words in r.json()['detail'], r.text
        assert 'X-API-Key' in r.headers['www-authenticate']
    r = keyed.post(route, params=dict(method='shap'), content=data, headers={'content-type': 'image/png'})
    assert r.status_code == 401, r.text                                    # the key is checked before anything else
    r = keyed.post(route, params=dict(method='gradcam'), files={'file': ('f.png', data, 'image/png')}, headers={'X-API-Key': KEY})
    assert r.status_code == 200, r.text

def test_api_key_leaves_health_model_open_and_is_documented(keyed, client):
    assert keyed.get('/health').status_code == 200 and keyed.get('/model').status_code == 200
    spec = keyed.get('/openapi.json').json()
    assert spec['components']['securitySchemes']['apiKey'] == {'type': 'apiKey', 'in': 'header', 'name': 'X-API-Key',
                                                               'description': spec['components']['securitySchemes']['apiKey']['description']}
    for route in ('/predict', '/explain'):
        op = spec['paths'][route]['post']
        assert op['security'] == [{'apiKey': []}] and '401' in op['responses']
    assert 'security' not in spec['paths']['/model']['get']
    open_spec = client.get('/openapi.json').json()                       # without a key: nothing about one
    assert 'securitySchemes' not in open_spec.get('components', {}) and '401' not in open_spec['paths']['/predict']['post']['responses']

def test_api_client_sends_the_key(keyed, monkeypatch):
    from xnn.app import APIRejected, ApiClient
    data = encode(film(), 'PNG')
    assert abs(sum(ApiClient(client=keyed, api_key=KEY).predict(data, 'f.png')['probabilities'].values()) - 1) < 1e-5
    monkeypatch.setenv('XNN_API_KEY', KEY)
    assert ApiClient(client=keyed).explain(data, 'f.png', 'gradcam')['method'] == 'gradcam'
    monkeypatch.delenv('XNN_API_KEY')
    with pytest.raises(APIRejected, match='XNN_API_KEY') as e: ApiClient(client=keyed).predict(data)
    assert e.value.status == 401

def test_bad_api_key_refused():
    from xnn.serve import check_api_key, is_loopback
    for bad in ('', 'has space', 'naïve'):
        with pytest.raises(ValueError, match='printable ASCII'): check_api_key(bad)
    assert is_loopback('127.0.0.1') and is_loopback('localhost') and is_loopback('::1') and not is_loopback('0.0.0.0')

def test_xnn_serve_warns_without_a_key_on_the_network(ckpt):
    "Listening beyond loopback without a key is allowed (containers bind 0.0.0.0) but said loudly; --api-key '' is refused"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != 'XNN_API_KEY'}
    proc = subprocess.Popen([script('xnn_serve'), '--ckpt', str(ckpt), '--host', '0.0.0.0', '--port', str(port), '--threads', '1', '--quiet'],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env)
    try:
        assert json.loads(wait_http(f'http://127.0.0.1:{port}/health', proc, 120)) == {'status': 'ok'}
    finally: stop(proc)
    out = proc.stdout.read()
    assert 'warning: listening on 0.0.0.0 without an API key' in out and 'XNN_API_KEY' in out, out
    r = subprocess.run([script('xnn_serve'), '--ckpt', str(ckpt), '--api-key', ''], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and 'printable ASCII' in r.stderr, r.stderr

def test_xnn_serve_with_a_key_from_the_environment(ckpt):
    import httpx
    port = free_port()
    proc = subprocess.Popen([script('xnn_serve'), '--ckpt', str(ckpt), '--port', str(port), '--threads', '1', '--quiet'],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env={**os.environ, 'XNN_API_KEY': KEY})
    try:
        wait_http(f'http://127.0.0.1:{port}/health', proc, 120)
        url, files = f'http://127.0.0.1:{port}/predict', {'file': ('f.png', encode(film(), 'PNG'), 'image/png')}
        assert httpx.post(url, files=files, timeout=60).status_code == 401
        assert httpx.post(url, files=files, headers={'X-API-Key': KEY}, timeout=60).status_code == 200
    finally: stop(proc)

def test_import_without_the_serve_extra_names_it():
    import sys
    code = "import sys; sys.modules['fastapi'] = None\ntry: import xnn.serve\nexcept ImportError as e: print(e)"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert "pip install 'xnn[serve]'" in r.stdout and 'fastapi' in r.stdout, r.stdout + r.stderr
