#!/usr/bin/env python3
"""Reference values for ember's autograd examples (gradient penalty, Hessian-vector product),
computed with PyTorch and stored as safetensors under tests/fixtures/autograd/.

    python3 -m venv .venv-torch && .venv-torch/bin/pip install torch numpy safetensors
    .venv-torch/bin/python tools/gen_autograd_fixtures.py
"""
import os

import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "fixtures", "autograd")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)
torch.set_default_dtype(torch.float64)


def critic(x, w1, b1, w2, b2):
    return torch.tanh(x @ w1.T + b1) @ w2.T + b2


# ---- gradient penalty (WGAN-GP): D on interpolates, penalty = mean((||grad_x D|| - 1)^2)
n, d, h = 6, 5, 7
real, fake, alpha = torch.randn(n, d), torch.randn(n, d), torch.rand(n, 1)
w1, b1 = torch.randn(h, d) * 0.5, torch.randn(h) * 0.1
w2, b2 = torch.randn(1, h) * 0.5, torch.randn(1) * 0.1
params = [p.clone().requires_grad_(True) for p in (w1, b1, w2, b2)]
xhat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
out = critic(xhat, *params)
(gx,) = torch.autograd.grad(out, xhat, grad_outputs=torch.ones_like(out), create_graph=True)
penalty = ((gx.norm(2, dim=1) - 1) ** 2).mean()
penalty.backward()
assert params[3].grad is None  # the penalty does not depend on the output bias
save_file({
    "real": real, "fake": fake, "alpha": alpha, "w1": w1, "b1": b1, "w2": w2, "b2": b2,
    "penalty": penalty.detach().reshape(()), "grad_x": gx.detach(),
    "grad_w1": params[0].grad, "grad_b1": params[1].grad, "grad_w2": params[2].grad,
}, os.path.join(OUT, "gradient_penalty.safetensors"))

# ---- Hessian-vector product of f(x) = sum(tanh(A x)^2) + 0.5 x.x^3-ish mix
m = 8
A = torch.randn(m, m) * 0.4
x = torch.randn(m).requires_grad_(True)
v = torch.randn(m)
f = (torch.tanh(A @ x) ** 2).sum() + (x ** 3).sum() / 6
(g,) = torch.autograd.grad(f, x, create_graph=True)
(hv,) = torch.autograd.grad(g, x, grad_outputs=v)
save_file({"A": A, "x": x.detach(), "v": v, "f": f.detach().reshape(()), "grad": g.detach(), "hvp": hv},
          os.path.join(OUT, "hvp.safetensors"))
print("wrote", OUT)
