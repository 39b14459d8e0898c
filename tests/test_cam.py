"""xnn's CAM family against pytorch-grad-cam itself (the reference it is called through) and against Captum's LayerGradCam (the former
Grad-CAM path): the same model, film and target must give the same map once pytorch-grad-cam's min-max scaling is applied to ours.
Also: Score-CAM and Ablation-CAM on a small model, the layer restored after a failing Ablation-CAM, one-channel TorchXRayVision models,
and an in-place ReLU after the CAM layer (TorchXRayVision's DenseNet) giving the same maps as a copy of the model without it."""
import numpy as np
import pytest, torch, torch.nn as nn
from pytorch_grad_cam import AblationCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM, XGradCAM
from pytorch_grad_cam.ablation_layer import AblationLayer
from pytorch_grad_cam.utils.image import scale_cam_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from xnn.data.loaders import Preprocess
from xnn.explain import METHODS, explain
from xnn.models import create_model

H = 64

@pytest.fixture(scope='module', autouse=True)
def _isolated():
    "Tiny tensors: one thread is fastest and immune to other processes on the cores; the caller's RNG state is restored"
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with torch.random.fork_rng(devices=[]): yield
    torch.set_num_threads(n)

def calibrated(m, c=3):
    "Random weights, batch norms holding the statistics of random films: maps that vary with the film"
    for bn in (b for b in m.modules() if isinstance(b, nn.BatchNorm2d)): bn.momentum = None
    with torch.no_grad(): m.train()(torch.randn(32, c, H, H))
    return m.eval()

@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return calibrated(create_model('small_cnn_s16', preprocess=Preprocess(H)))   # a 4×4 CAM layer at 64 px

@pytest.fixture(scope='module')
def x(): return torch.randn(3, 3, H, H, generator=torch.Generator().manual_seed(1))

def pgc_reference(cls, model, x, classes, **kw):
    "pytorch-grad-cam's own maps, used as its README shows (targets: the class logits)"
    cam = cls(model=model, target_layers=[model.cam_layer], **kw)
    try: return cam(input_tensor=x, targets=[ClassifierOutputTarget(int(c)) for c in classes])
    finally: cam.activations_and_grads.release()

def scaled(maps:torch.Tensor)->np.ndarray:
    "pytorch-grad-cam's normalisation of (B, H, W) maps: min-max per film"
    return scale_cam_image(maps.numpy())

@pytest.mark.parametrize('method,cls', [('gradcam', GradCAM), ('gradcam_pp', GradCAMPlusPlus), ('hirescam', HiResCAM),
                                        ('xgradcam', XGradCAM), ('layercam', LayerCAM)])
def test_gradient_cams_match_pytorch_grad_cam(model, x, method, cls):
    classes = [0, 2, 1]
    ours = explain(model, x, method, classes)
    theirs = pgc_reference(cls, model, x, classes)
    test = scaled(ours.maps)
    assert ours.layer_shape == (4, 4) and test.shape == theirs.shape
    # pytorch-grad-cam scales before resizing, xnn after: the two agree up to the few per cent bilinear interpolation moves the extremes
    np.testing.assert_allclose(test, theirs, atol=0.06)
    assert np.corrcoef(test.ravel(), theirs.ravel())[0, 1] > 0.995

def test_score_cam_matches_pytorch_grad_cam(model, x):
    classes = [1, 1, 0]
    ours = explain(model, x[:2], 'scorecam', classes[:2], batch_size=16)
    theirs = pgc_reference(ScoreCAM, model, x[:2], classes[:2])
    np.testing.assert_allclose(scaled(ours.maps), theirs, atol=0.06)

def test_ablation_cam_matches_pytorch_grad_cam(model, x):
    "Ablation-CAM scores the probability in xnn (its weight divides by the score); pytorch-grad-cam given the same target agrees"
    from xnn.explain import Target
    t = Target.parse([2, 0])
    ours = explain(model, x[:2], 'ablationcam', t)
    cam = AblationCAM(model=model, target_layers=[model.cam_layer], ablation_layer=AblationLayer())
    try: theirs = cam(input_tensor=x[:2], targets=t.per_film(2))          # FilmTarget scores the probability by default
    finally: cam.activations_and_grads.release()
    np.testing.assert_allclose(scaled(ours.maps), theirs, atol=0.06)

def test_gradcam_equals_captum_layer_gradcam(model, x):
    "One Grad-CAM: pytorch-grad-cam's, un-normalised, equals Captum's LayerGradCam (xnn's former path) upsampled the same way"
    from captum.attr import LayerAttribution, LayerGradCam
    classes = [0, 1, 2]
    ours = explain(model, x, 'gradcam', classes).raw
    ref = LayerGradCam(model, model.cam_layer).attribute(x.clone().requires_grad_(), target=classes, relu_attributions=True)
    ref = LayerAttribution.interpolate(ref.detach(), (H, H), interpolate_mode='bilinear')
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-6)
    assert ours.amax() > 1e-3

def test_contrast_is_the_log_odds(model, x):
    "For a contrast, the CAMs explain Target.score (the log-odds): a one-score model gives pytorch-grad-cam the same target"
    from xnn.explain import ContrastiveScore, Target
    t = Target.parse('bacteria - virus')
    ours = explain(model, x, 'hirescam', t).maps
    wrapped = ContrastiveScore(model, t)
    cam = HiResCAM(model=wrapped, target_layers=[model.cam_layer])
    try: theirs = cam(input_tensor=x, targets=[ClassifierOutputTarget(0)] * len(x))
    finally: cam.activations_and_grads.release()
    np.testing.assert_allclose(scaled(ours), theirs, atol=0.06)

def test_ablation_layer_restored_after_failure(model, x):
    "Ablation-CAM swaps the CAM layer for an ablation layer; a failure half-way must not leave the model broken"
    from xnn.explain import FilmTarget
    layer, calls = model.cam_layer, []
    def boom(self, out):
        calls.append(1)
        if len(calls) > 3: raise RuntimeError('boom')
        return out[0]
    orig = FilmTarget.__call__
    FilmTarget.__call__ = boom
    try:
        with pytest.raises(RuntimeError, match='boom'): explain(model, x[:1], 'ablationcam', 0, batch_size=8)
    finally: FilmTarget.__call__ = orig
    assert model.cam_layer is layer and not any(isinstance(m, AblationLayer) for m in model.modules())
    assert all(p.requires_grad for p in model.parameters())

def test_quiet(model, x, capfd):
    "No progress bars or warnings from the gradient-free CAMs"
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        explain(model, x[:1], 'scorecam'); explain(model, x[:1], 'ablationcam'); explain(model, x[:1], 'eigencam')
    out, err = capfd.readouterr()
    assert out == '' and err == ''

@pytest.mark.parametrize('name', ['txrv_densenet121', 'txrv_resnet50'])
def test_one_channel_txrv(name):
    "TorchXRayVision's one-channel models (random weights: no download): every method, on (B, 1, H, W) films"
    torch.manual_seed(0)
    m = create_model(name)
    x1 = torch.randn(2, 1, H, H)
    fast = dict(integrated_gradients=dict(n_steps=4), smoothgrad=dict(nt_samples=2), gradient_shap=dict(n_samples=2), lime=dict(n_samples=8),
                occlusion=dict(window=16, stride=16), feature_ablation=dict(cells=4), scorecam=dict(layer=0), ablationcam=dict(layer=0))
    for meth in METHODS:
        if (name, meth) == ('txrv_resnet50', 'deeplift'): continue   # Captum's DeepLift refuses ResNets (one ReLU module used twice per block)
        a = explain(m, x1, meth, 'Pneumonia' if 'Pneumonia' in m.classes else 0, **fast.get(meth, {}))
        assert a.maps.shape == (2, H, H) and torch.isfinite(a.maps).all(), meth
    with pytest.raises(ValueError, match=r'must have shape \(B, 1, H, W\)'): explain(m, torch.randn(2, 3, H, H), 'gradcam')

class FunctionalReLU(nn.Module):
    "A layer followed by a functional ReLU, in place or not (torchvision's DenseNet: `F.relu(features, inplace=True)`)"
    def __init__(self, in_place:bool):
        super().__init__()
        self.features, self.head, self.relu_in_place, self.classes = nn.Sequential(nn.Conv2d(3, 8, 3, 4, 1), nn.BatchNorm2d(8)), nn.Linear(8, 3), in_place, ('a', 'b', 'c')
    @property
    def cam_layer(self): return self.features
    def forward(self, x):
        import torch.nn.functional as F
        return self.head(F.relu(self.features(x), inplace=self.relu_in_place).mean((2, 3)))

@pytest.mark.parametrize('method', ['gradcam', 'hirescam', 'eigencam'])
def test_inplace_relu_after_the_layer(x, method):
    "An in-place op after the CAM layer does not change the kept activations: the maps equal those of the out-of-place network"
    torch.manual_seed(0)
    a = FunctionalReLU(True).eval()
    b = FunctionalReLU(False).eval(); b.load_state_dict(a.state_dict())
    ma, mb = explain(a, x, method, 0).raw, explain(b, x, method, 0).raw
    torch.testing.assert_close(ma, mb)
    assert mb.amax() > 0

def test_cam_cost_small_cnn():
    "Score-CAM and Ablation-CAM on a small model at 128 px: one forward per channel of the CAM layer (128), still seconds"
    import time
    from xnn.trust import count_evaluations
    torch.manual_seed(0)
    m = calibrated(create_model('small_cnn'))
    x = torch.randn(2, 3, 128, 128)
    for meth in ('scorecam', 'ablationcam'):
        t0 = time.time()
        with count_evaluations(m) as n: a = explain(m, x, meth)
        assert a.maps.shape == (2, 128, 128) and (a.maps >= 0).all() and a.maps.sum() > 0
        assert 128 <= n.films / len(x) <= 128 + 3, (meth, n.films)
        assert time.time() - t0 < 60
