"""`nnx.explain`: why did the network say that? Attributions and a look inside.

Every method takes an nnx model or any callable `x -> outputs`, a batch `x` of NumPy inputs and a
`target` class per sample (default: the predicted class) and returns NumPy attributions shaped like x
(Grad-CAM: (N, H, W)). Gradient methods run on the autograd engine a chunk of rows at a time (one
backward per chunk); perturbation methods evaluate their perturbed inputs in large batches
(`batch_size` rows per forward pass, default 256). None of them changes the model.

- gradients: `saliency`, `smoothgrad`, `integrated_gradients`
- perturbations: `occlusion`, `lime` (images and tabular data), `lime_text`
- inside the network: `grad_cam`, `activations`, `activation_stats`
"""
from nnx.explain.gradients import integrated_gradients, saliency, smoothgrad
from nnx.explain.grad_cam import grad_cam
from nnx.explain.internals import activation_stats, activations
from nnx.explain.lime import lime, lime_text
from nnx.explain.occlusion import occlusion

__all__ = ["saliency", "smoothgrad", "integrated_gradients", "occlusion", "grad_cam", "lime",
           "lime_text", "activations", "activation_stats"]
