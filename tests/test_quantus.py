"""Cross-validation of `xnn.trust` against Quantus 0.6: every metric Quantus defines the same way is computed by both on the same maps
and must agree; where xnn's definition differs on purpose (pointing-game ties, positive relevance mass, flat maps in Spearman, SSIM on
2-D maps) a test pins the difference."""
import warnings
import numpy as np
import pytest, torch, torch.nn as nn
import quantus
from quantus.functions.perturb_func import batch_baseline_replacement_by_indices
from quantus.functions.similarity_func import correlation_spearman, ssim as q_ssim
from quantus.helpers.model.pytorch_model import PyTorchModel
from xnn.core import CLASSES
from xnn.explain import explain
from xnn.trust import (class_sensitivity, faithfulness_correlation, max_sensitivity, mprt, pointing_game, relevance_mass, relevance_rank,
                       sparseness, spearman, ssim)

Q = dict(disable_warnings=True, display_progressbar=False)
B, H, SEED = 4, 32, 7

@pytest.fixture(scope='module', autouse=True)
def _isolated():
    "One thread (tiny tensors: fastest, and immune to other processes on the cores); the global RNGs Quantus reseeds are restored after"
    n, state = torch.get_num_threads(), np.random.get_state()
    torch.set_num_threads(1)
    with torch.random.fork_rng(devices=[]): yield
    torch.set_num_threads(n); np.random.set_state(state)

@pytest.fixture(scope='module')
def model():
    "A random-weight small CNN whose batch norms are calibrated on random films, so logits and gradients vary with the input"
    from xnn.data.loaders import Preprocess
    from xnn.models import create_model
    torch.manual_seed(0)
    m = create_model('small_cnn', preprocess=Preprocess(H))
    for bn in (b for b in m.modules() if isinstance(b, nn.BatchNorm2d)): bn.momentum = None     # running stats = this batch's
    with torch.no_grad(): m.train()(torch.randn(64, 3, H, H))
    return m.eval()

@pytest.fixture(scope='module')
def x(): return torch.randn(B, 3, H, H, generator=torch.Generator().manual_seed(1))

@pytest.fixture(scope='module')
def y(model, x):
    with torch.no_grad(): return model(x).argmax(1).numpy()

def explain_func(method, raw=False, calls=None, **options):
    "Quantus' explain_func over xnn.explain; `calls` records the targets Quantus asks for"
    def f(model, inputs, targets, **kw):
        if calls is not None: calls.append(np.asarray(targets).copy())
        a = explain(model, torch.as_tensor(inputs), method, [int(t) for t in targets], **options)
        return (a.raw if raw else a.maps[:, None]).numpy()
    return f

# ---------------------------------------------------------------- localisation and complexity

def rand_maps(seed, n=B): return torch.randn(n, H, H, generator=torch.Generator().manual_seed(seed))

def rand_masks(seed, n=B):
    "Rectangles of varied size and place, never empty"
    rng, m = np.random.default_rng(seed), torch.zeros(n, H, H, dtype=torch.bool)
    for i in range(n):
        h, w = rng.integers(4, 20, 2); r, c = rng.integers(0, H - h), rng.integers(0, H - w)
        m[i, r:r + h, c:c + w] = True
    return m

def q_loc(metric, attr, mask):
    "A Quantus localisation/complexity metric on (B, H, W) maps and masks, without a model"
    n = len(attr)
    s = None if mask is None else mask.numpy()[:, None].astype(np.float32)
    return np.asarray(metric(model=None, x_batch=np.zeros((n, 1, H, H), np.float32), y_batch=np.zeros(n, int),
                             a_batch=attr.numpy()[:, None], s_batch=s), float)

NO_PREP = dict(abs=False, normalise=False, **Q)   # normalising by a batch-wide positive scalar changes none of these ratios and ranks

def test_pointing_game_no_ties():
    "Quantus 0.6 PointingGame = xnn.pointing_game(tolerance=0) on tie-free maps (Zhang et al. 2016)"
    a, m = rand_maps(0, 8), rand_masks(0, 8)
    a[::2][m[::2]] += 10 * torch.rand(int(m[::2].sum()), generator=torch.Generator().manual_seed(2))   # half the films peak inside
    m[1] = False; m[1, 10:20, 10:20] = True; a[1, 20, 15] = 100                     # a peak one pixel outside: a miss when strict
    ours, ref = pointing_game(a, m, 0).numpy(), q_loc(quantus.PointingGame(**NO_PREP), a, m)
    assert set(ours) == {0., 1.}
    np.testing.assert_array_equal(ours, ref)

def test_pointing_game_ties():
    "Quantus 0.6 PointingGame counts a hit if ANY tied maximum is in the mask; xnn scores the share of tied maxima inside (documented)"
    g = torch.Generator().manual_seed(3)
    a = torch.randint(0, 16, (16, H // 4, H // 4), generator=g).float().repeat_interleave(4, 1).repeat_interleave(4, 2)   # 4×4 blocks
    m = rand_masks(3, 16)
    a[:2] = 0; a[:2, :4, :4] = 1; m[:2] = False
    m[0, :2, :4] = True; m[1, :6, :6] = True                   # the block of maxima half inside (0.5 against 1), wholly inside (1)
    ours, ref = pointing_game(a, m, 0).numpy(), q_loc(quantus.PointingGame(**NO_PREP), a, m)
    assert ours[0] == 0.5 and ref[0] == 1 and ours[1] == ref[1] == 1
    assert (ours <= ref).all()
    whole = (ours == 0) | (ours == 1)
    np.testing.assert_array_equal(ours[whole], ref[whole])                      # a share of 0 or 1: the same verdict
    assert (ref[~whole] == 1).all() and (ours == 0).any() and (~whole).sum() > 2

def test_relevance_mass_signed():
    "Quantus 0.6 RelevanceMassAccuracy = xnn.relevance_mass(signed=True) on signed maps (Arras et al. 2022)"
    a, m = rand_maps(4) + 0.5, rand_masks(4)                                       # signed, with totals well away from 0
    assert (a < 0).any()
    ref = q_loc(quantus.RelevanceMassAccuracy(**NO_PREP), a, m)
    np.testing.assert_allclose(relevance_mass(a, m, signed=True).numpy(), ref, rtol=1e-5, atol=1e-6)

def test_relevance_mass_positive():
    "Quantus 0.6 RelevanceMassAccuracy = xnn.relevance_mass (positive part) on non-negative maps, and on signed maps clamped at 0"
    a, m = rand_maps(5), rand_masks(5)
    rm = quantus.RelevanceMassAccuracy(**NO_PREP)
    np.testing.assert_allclose(relevance_mass(a.abs(), m).numpy(), q_loc(rm, a.abs(), m), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(relevance_mass(a, m).numpy(), q_loc(rm, a.clamp_min(0), m), rtol=1e-5, atol=1e-6)
    assert not np.allclose(relevance_mass(a, m).numpy(), q_loc(rm, a, m), atol=1e-3)   # signed maps: the definitions differ

def test_relevance_mass_difference():
    "xnn.relevance_mass ignores negative attribution; Quantus 0.6 RelevanceMassAccuracy lets it cancel positive attribution (documented)"
    a, m = torch.zeros(2, H, H), torch.zeros(2, H, H, dtype=torch.bool)
    a[0, 0, 0], a[0, 9, 9], a[0, 20, 20] = 2, -1, 1; m[0, 0, 0] = True            # negative evidence outside the mask
    a[1, 0, 0], a[1, 0, 1], a[1, 20, 20] = 1, -1, 1; m[1, 0, :2] = True            # negative evidence inside the mask
    ref = q_loc(quantus.RelevanceMassAccuracy(**NO_PREP), a, m)
    np.testing.assert_allclose(ref, [1., 0.])                                      # Quantus: 2 / (2 - 1 + 1), 0 / (1 - 1 + 1)
    np.testing.assert_allclose(relevance_mass(a, m).numpy(), [2 / 3, 1 / 2])        # xnn: positive mass inside / positive mass
    np.testing.assert_allclose(relevance_mass(a, m, signed=True).numpy(), ref)

def test_relevance_rank():
    "Quantus 0.6 RelevanceRankAccuracy = xnn.relevance_rank (Arras et al. 2022)"
    a, m = rand_maps(6, 8), rand_masks(6, 8)
    a[m] += torch.rand(int(m.sum()), generator=torch.Generator().manual_seed(6)) * 2   # partly localised: fractional scores
    ours = relevance_rank(a, m).numpy()
    assert ((ours > 0) & (ours < 1)).any()
    np.testing.assert_allclose(ours, q_loc(quantus.RelevanceRankAccuracy(**NO_PREP), a, m), atol=1e-6)

def test_sparseness():
    "Quantus 0.6 Sparseness = xnn.sparseness: Gini index of |a| (Chalasani et al. 2020)"
    a = rand_maps(7, 6).double()
    a[1] = 0; a[2] = 0.3; a[3] = 0; a[3, 5, 5] = -2; a[4] = a[4] ** 3              # flat zero, flat constant, one-hot, heavy-tailed
    ours = sparseness(a).numpy()
    np.testing.assert_allclose(ours, q_loc(quantus.Sparseness(abs=True, normalise=False, **Q), a, None), atol=1e-6)
    assert abs(ours[1]) < 1e-6 and abs(ours[2]) < 1e-6 and ours[3] > 0.99

# ---------------------------------------------------------------- similarity of maps

def test_spearman_ties():
    "xnn.spearman = Quantus 0.6 correlation_spearman (SciPy, average ranks for ties) on maps with many ties"
    g = torch.Generator().manual_seed(8)
    a, b = torch.randint(0, 5, (B, 256), generator=g).float(), torch.randn(B, 256, generator=g).round()
    np.testing.assert_allclose(spearman(a, b).numpy(), correlation_spearman(a.numpy(), b.numpy(), batched=True), atol=1e-6)

def test_spearman_flat_maps():
    "A flat map scores 0 against a structured one and 1 against another flat one in xnn; SciPy/Quantus give NaN (documented)"
    a = torch.zeros(3, 64); b = torch.randn(3, 64, generator=torch.Generator().manual_seed(9)); b[1] = 1
    a[2] = b[2] * 2                                                                # flat–structured, flat–flat, structured–structured
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')                                            # SciPy's ConstantInputWarning
        ref = [correlation_spearman(u, v) for u, v in zip(a.numpy(), b.numpy())]  # one pair at a time: batched, Quantus 0.6 crashes on it
    assert np.isnan(ref[:2]).all() and ref[2] == pytest.approx(1)
    assert spearman(a, b).tolist() == [0., 1., pytest.approx(1)]

def test_ssim_2d():
    "xnn.ssim = Quantus 0.6 ssim on 2-D maps each scaled by max |value|; Quantus' MPRT flattens maps first, which gives other values"
    a = rand_maps(10)
    b = a + rand_maps(11) * torch.tensor([0.1, 0.5, 1., 3.])[:, None, None]
    sc = lambda t: (t / t.abs().amax((1, 2), keepdim=True)).double().numpy()
    ours = ssim(a, b).numpy()
    np.testing.assert_allclose(ours, q_ssim(sc(a), sc(b), batched=True), atol=1e-5)
    flat = np.asarray(q_ssim(sc(a).reshape(B, -1), sc(b).reshape(B, -1), batched=True))
    assert (np.abs(ours - flat) > 1e-3).all()
    assert (np.abs(ours - q_ssim(a.double().numpy(), b.double().numpy(), batched=True)) > 1e-3).any()   # the scaling matters

# ---------------------------------------------------------------- randomisation

@pytest.mark.parametrize('method,options,absolute', [('saliency', {}, True), ('input_x_gradient', {}, True),
                                                    ('integrated_gradients', dict(n_steps=4), True), ('input_x_gradient', {}, False)])
def test_mprt(model, x, y, method, options, absolute):
    "Quantus 0.6 MPRT (top_down, Spearman) = xnn.mprt fed Quantus' own randomised models, per layer and film (Adebayo et al. 2018)"
    ref = quantus.MPRT(similarity_func=correlation_spearman, layer_order='top_down', abs=absolute, normalise=True, seed=SEED, **Q)(
        model, x.numpy(), y, explain_func=explain_func(method, **options), batch_size=B)
    stages = PyTorchModel(model).get_random_layer_generator(order='top_down', seed=SEED)   # one copy, randomised further at each step
    df = mprt(model, x, method, target=y.tolist(), stages=stages, **options)
    layers = [k for k in ref if k != 'original']
    assert list(df.stage.unique()) == layers and len(layers) == 19
    col = 'spearman_abs' if absolute else 'spearman'
    ours = np.stack([df[df.stage == k][col].to_numpy() for k in layers])
    theirs = np.array([ref[k] for k in layers])
    assert np.isfinite(theirs).all() and theirs.min() < 0.5                       # the randomisation changed the maps
    np.testing.assert_allclose(ours, theirs, atol=1e-6)

@pytest.mark.parametrize('method,options', [('input_x_gradient', {}), ('integrated_gradients', dict(n_steps=4))])
def test_class_sensitivity(model, x, y, method, options):
    "Quantus 0.6 RandomLogit (signed Spearman) = xnn.class_sensitivity given the off-classes Quantus drew (Sixt et al. 2020)"
    calls = []
    ref = quantus.RandomLogit(num_classes=len(CLASSES), similarity_func=correlation_spearman, abs=False, normalise=True, seed=SEED, **Q)(
        model, x.numpy(), y, explain_func=explain_func(method, calls=calls, **options), batch_size=B)
    assert len(calls) == 2 and (calls[0] == y).all() and (calls[1] != y).all()
    df = class_sensitivity(model, x, method, target=y.tolist(), other=calls[1].tolist(), **options)
    assert df.other.tolist() == [CLASSES[i] for i in calls[1]]
    np.testing.assert_allclose(df.spearman.to_numpy(), ref, atol=1e-6)

# ---------------------------------------------------------------- faithfulness and robustness

class Gray(nn.Module):
    "The model on one gray channel (xnn's films are one gray channel repeated): Quantus then draws pixels, not channel values"
    def __init__(self, model): super().__init__(); self.model = model
    def forward(self, x): return self.model(x.expand(-1, 3, -1, -1))

def test_faithfulness_correlation(model, x):
    "Quantus 0.6 FaithfulnessCorrelation = xnn.faithfulness_correlation replaying Quantus' subsets and 'black' baseline (Bhatt et al. 2020)"
    x1 = x[:, :1]; x3 = x1.expand(-1, 3, -1, -1).contiguous()
    with torch.no_grad(): y = model(x3).argmax(1).numpy()
    attr = explain(model, x3, 'input_x_gradient', y.tolist()).maps
    drawn = []
    def perturb(arr, indices, **kw):   # Quantus' own replacement, recording the indices it drew (unseeded np.random.choice)
        drawn.append(indices.copy()); return batch_baseline_replacement_by_indices(arr, indices, **kw)
    n_runs, subset = 32, 64
    ref = quantus.FaithfulnessCorrelation(nr_runs=n_runs, subset_size=subset, perturb_func=perturb, abs=False, normalise=False,
                                          return_aggregate=False, **Q)(Gray(model).eval(), x1.numpy(), y, a_batch=attr[:, None].numpy(),
                                                                        softmax=False, batch_size=B)
    subsets = np.stack(drawn, 1)                                                   # (B, n_runs, subset)
    black = x1.amin((1, 2, 3), keepdim=True)                                       # Quantus' 'black': each film's minimum
    ours = faithfulness_correlation(model, x3, attr, y.tolist(), n_runs, subset, baseline=black, subsets=subsets).numpy()
    assert np.isfinite(ref).all() and np.ptp(ref) > 0.05
    np.testing.assert_allclose(ours, ref, atol=1e-5)

@pytest.mark.parametrize('method', ['saliency', 'input_x_gradient'])
def test_max_sensitivity(model, x, y, method):
    "Quantus 0.6 MaxSensitivity (Frobenius norms) = xnn.max_sensitivity (Captum, on the channel-summed maps) (Yeh et al. 2019)"
    n, r = 3, 0.05
    d = (torch.rand(n, 3, H, H, generator=torch.Generator().manual_seed(12)) * 2 - 1) * r
    def captum_perturb(inputs, radius): return inputs + d.repeat(len(inputs) // n, 1, 1, 1)   # Captum: film i's k-th copy at i·n + k
    step = iter(range(n))
    def quantus_perturb(arr, indices, **kw): return arr + d[next(step)].reshape(1, -1).numpy()   # Quantus: sample k for all films
    ours = max_sensitivity(model, x, method, y.tolist(), radius=r, n_perturb=n, perturb_func=captum_perturb).numpy()
    ref = quantus.MaxSensitivity(nr_samples=n, perturb_func=quantus_perturb, **Q)(model, x.numpy(), y, batch_size=B,
                                                                                 explain_func=explain_func(method))
    assert (ours > 0.01).all()
    np.testing.assert_allclose(ours, ref, rtol=1e-5)
