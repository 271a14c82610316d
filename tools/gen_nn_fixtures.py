#!/usr/bin/env python3
"""Generate PyTorch reference fixtures for ember-nn and ember-optim.

Run with the torch virtualenv:  /work/.venv-torch/bin/python tools/gen_nn_fixtures.py

Each layer case writes tests/fixtures/nn/<name>.safetensors holding
  w.<param>      the layer's state_dict (loaded by name into the ember layer)
  in.<k>         inputs, out.<k> outputs, cot.<k> cotangents
  grad.<param>   gradient of sum(out * cot) with respect to each parameter
  gin.<k>        gradient with respect to each float input
Optimizer cases store the initial parameters, the data and the parameters after every one of
20 steps; scheduler cases the learning rates (and momenta) of 30 steps.
"""
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "nn")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)


def save(name, tensors):
    tensors = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
    save_file(tensors, os.path.join(OUT, name + ".safetensors"))


def layer_case(name, module, inputs, run=None, seed=0):
    """inputs: dict name -> tensor. run(module, inputs) -> dict of outputs (default forward)."""
    torch.manual_seed(seed + 1)
    init_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
    ins = {k: (v.clone().requires_grad_(True) if v.is_floating_point() else v) for k, v in inputs.items()}
    if run is None:
        outs = {"y": module(*ins.values())}
    else:
        outs = run(module, ins)
    cots = {k: torch.randn_like(v) for k, v in outs.items()}
    loss = sum((outs[k] * cots[k]).sum() for k in outs)
    params = dict(module.named_parameters())
    loss.backward()
    t = {}
    for k, v in init_state.items():
        t["w." + k] = v
    for k, v in inputs.items():
        t["in." + k] = v
        if v.is_floating_point() and ins[k].grad is not None:
            t["gin." + k] = ins[k].grad
    for k, v in outs.items():
        t["out." + k] = v
        t["cot." + k] = cots[k]
    for k, p in params.items():
        if p.grad is not None:
            t["grad." + k] = p.grad
    # buffers after the forward (running stats)
    for k, v in module.named_buffers():
        t["after." + k] = v
    save(name, t)


def r(*shape):
    return torch.randn(*shape)


def layers():
    layer_case("linear", nn.Linear(5, 4), {"x": r(3, 5)})
    layer_case("linear_3d_nobias", nn.Linear(5, 4, bias=False), {"x": r(2, 3, 5)})
    layer_case("bilinear", nn.Bilinear(3, 4, 2), {"x1": r(5, 3), "x2": r(5, 4)})
    layer_case("conv1d", nn.Conv1d(3, 4, 3, stride=2, padding=1), {"x": r(2, 3, 9)})
    layer_case("conv2d", nn.Conv2d(3, 4, 3, stride=2, padding=1), {"x": r(2, 3, 7, 7)})
    layer_case("conv2d_groups", nn.Conv2d(4, 6, (3, 2), stride=(1, 2), padding=(1, 0), dilation=(2, 1), groups=2), {"x": r(2, 4, 6, 7)})
    layer_case("conv_transpose2d", nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1), {"x": r(2, 4, 4, 4)})
    layer_case("conv_transpose2d_groups", nn.ConvTranspose2d(4, 6, (2, 3), stride=(2, 1), padding=(0, 1), groups=2, dilation=(1, 2)), {"x": r(1, 4, 3, 5)})
    layer_case("maxpool2d", nn.MaxPool2d(3, stride=2, padding=1), {"x": r(2, 3, 7, 7)})
    layer_case("maxpool2d_ceil", nn.MaxPool2d(2, stride=2, ceil_mode=True), {"x": r(1, 2, 5, 5)})
    layer_case("avgpool2d", nn.AvgPool2d(3, stride=2, padding=1), {"x": r(2, 3, 7, 7)})
    layer_case("avgpool2d_ceil_nopad", nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), {"x": r(1, 2, 6, 6)})
    layer_case("adaptive_avgpool2d", nn.AdaptiveAvgPool2d((3, 2)), {"x": r(2, 3, 7, 5)})
    bn = nn.BatchNorm1d(4)
    layer_case("batchnorm1d", bn, {"x": r(6, 4)})
    bn2 = nn.BatchNorm2d(3, momentum=0.2)
    layer_case("batchnorm2d", bn2, {"x": r(4, 3, 3, 3)})
    bn3 = nn.BatchNorm2d(3)
    with torch.no_grad():
        bn3.running_mean.copy_(torch.randn(3))
        bn3.running_var.copy_(torch.rand(3) + 0.5)
        bn3.weight.copy_(torch.randn(3))
        bn3.bias.copy_(torch.randn(3))
    bn3.eval()
    layer_case("batchnorm2d_eval", bn3, {"x": r(2, 3, 4, 4)})
    ln = nn.LayerNorm(8)
    with torch.no_grad():
        ln.weight.copy_(torch.randn(8))
        ln.bias.copy_(torch.randn(8))
    layer_case("layernorm", ln, {"x": r(2, 3, 8)})
    gn = nn.GroupNorm(2, 4)
    with torch.no_grad():
        gn.weight.copy_(torch.randn(4))
        gn.bias.copy_(torch.randn(4))
    layer_case("groupnorm", gn, {"x": r(2, 4, 3, 3)})
    rms = nn.RMSNorm(8)
    with torch.no_grad():
        rms.weight.copy_(torch.randn(8))
    layer_case("rmsnorm", rms, {"x": r(2, 3, 8)})
    layer_case("embedding", nn.Embedding(10, 4, padding_idx=0), {"idx": torch.tensor([[1, 0, 3], [9, 0, 1]])})

    def run_rnn(m, ins):
        y, h = m(ins["x"], ins["h0"])
        return {"y": y, "h": h}

    layer_case("rnn", nn.RNN(4, 5, num_layers=2, bidirectional=True, batch_first=True), {"x": r(3, 6, 4), "h0": r(4, 3, 5)}, run_rnn)
    layer_case("rnn_relu", nn.RNN(4, 5, nonlinearity="relu"), {"x": r(6, 3, 4), "h0": r(1, 3, 5)}, run_rnn)
    layer_case("gru", nn.GRU(4, 5, num_layers=2, bidirectional=True, batch_first=True), {"x": r(3, 6, 4), "h0": r(4, 3, 5)}, run_rnn)

    def run_lstm(m, ins):
        y, (h, c) = m(ins["x"], (ins["h0"], ins["c0"]))
        return {"y": y, "h": h, "c": c}

    layer_case("lstm", nn.LSTM(4, 6, num_layers=2, bidirectional=True), {"x": r(7, 3, 4), "h0": r(4, 3, 6), "c0": r(4, 3, 6)}, run_lstm)
    layer_case("lstm_batch_first", nn.LSTM(5, 8, batch_first=True), {"x": r(2, 10, 5), "h0": r(1, 2, 8), "c0": r(1, 2, 8)}, run_lstm)

    def run_mha(m, ins):
        L, S = ins["q"].shape[0], ins["k"].shape[0]
        mask = torch.triu(torch.ones(L, S, dtype=torch.bool), diagonal=1)
        kpm = torch.zeros(ins["q"].shape[1], S, dtype=torch.bool)
        kpm[0, -1] = True
        y, w = m(ins["q"], ins["k"], ins["v"], attn_mask=mask, key_padding_mask=kpm, need_weights=True)
        return {"y": y, "w": w}

    mha = nn.MultiheadAttention(8, 2)
    with torch.no_grad():
        mha.in_proj_bias.copy_(torch.randn(24) * 0.1)
        mha.out_proj.bias.copy_(torch.randn(8) * 0.1)
    layer_case("mha", mha, {"q": r(5, 2, 8), "k": r(6, 2, 8), "v": r(6, 2, 8)}, run_mha)

    def run_self(m, ins):
        y, _ = m(ins["x"], ins["x"], ins["x"], need_weights=False)
        return {"y": y}

    layer_case("mha_self_batch_first", nn.MultiheadAttention(8, 4, batch_first=True), {"x": r(2, 5, 8)}, run_self)

    def enc_layer(**kw):
        return nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, **kw)

    layer_case("encoder_layer", enc_layer(), {"x": r(5, 2, 8)})
    layer_case("encoder_layer_norm_first_gelu", enc_layer(norm_first=True, activation="gelu", batch_first=True), {"x": r(2, 5, 8)})

    def run_enc_masked(m, ins):
        L = ins["x"].shape[0]
        mask = nn.Transformer.generate_square_subsequent_mask(L)
        return {"y": m(ins["x"], mask=mask)}

    enc = nn.TransformerEncoder(enc_layer(), num_layers=2, norm=nn.LayerNorm(8), enable_nested_tensor=False)
    layer_case("transformer_encoder", enc, {"x": r(5, 2, 8)}, run_enc_masked)

    def run_dec(m, ins):
        L = ins["x"].shape[0]
        mask = nn.Transformer.generate_square_subsequent_mask(L)
        return {"y": m(ins["x"], ins["mem"], tgt_mask=mask)}

    dec_layer = nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0)
    layer_case("decoder_layer", dec_layer, {"x": r(4, 2, 8), "mem": r(6, 2, 8)}, run_dec)
    dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0, norm_first=True), num_layers=2)
    layer_case("transformer_decoder", dec, {"x": r(4, 2, 8), "mem": r(6, 2, 8)}, run_dec)

    acts = {
        "relu": nn.ReLU(), "leaky_relu": nn.LeakyReLU(0.2), "elu": nn.ELU(0.7), "gelu": nn.GELU(),
        "gelu_tanh": nn.GELU(approximate="tanh"), "silu": nn.SiLU(), "sigmoid": nn.Sigmoid(), "tanh": nn.Tanh(),
        "softplus": nn.Softplus(2.0, 5.0), "softmax": nn.Softmax(dim=1), "log_softmax": nn.LogSoftmax(dim=1),
    }
    for k, m in acts.items():
        layer_case("act_" + k, m, {"x": r(3, 5) * 2})


def loss_case(name, fn, inputs):
    ins = {k: (v.clone().requires_grad_(True) if v.is_floating_point() and k.startswith("x") else v) for k, v in inputs.items()}
    out = fn(ins)
    cot = torch.randn_like(out)
    (out * cot).sum().backward()
    t = {"out.y": out, "cot.y": cot}
    for k, v in inputs.items():
        t["in." + k] = v
        if k.startswith("x"):
            t["gin." + k] = ins[k].grad
    save("loss_" + name, t)


def losses():
    x, y = r(4, 5), r(4, 5)
    for red in ["none", "mean", "sum"]:
        loss_case("mse_" + red, lambda i: F.mse_loss(i["x"], i["t"], reduction=red), {"x": x, "t": y})
    loss_case("l1", lambda i: F.l1_loss(i["x"], i["t"]), {"x": x, "t": y})
    loss_case("smooth_l1", lambda i: F.smooth_l1_loss(i["x"], i["t"], beta=0.5), {"x": x, "t": y})
    loss_case("huber", lambda i: F.huber_loss(i["x"], i["t"], delta=0.7, reduction="sum"), {"x": x, "t": y})
    logits = r(6, 5)
    tgt = torch.tensor([0, 4, 2, -100, 1, 2])
    w = torch.rand(5) + 0.5
    loss_case("ce_plain", lambda i: F.cross_entropy(i["x"], i["t"]), {"x": logits, "t": torch.tensor([0, 4, 2, 3, 1, 2])})
    loss_case("ce_ignore", lambda i: F.cross_entropy(i["x"], i["t"]), {"x": logits, "t": tgt})
    loss_case("ce_weight_ls", lambda i: F.cross_entropy(i["x"], i["t"], weight=i["w"], label_smoothing=0.1), {"x": logits, "t": tgt, "w": w})
    loss_case("ce_ls_none", lambda i: F.cross_entropy(i["x"], i["t"], label_smoothing=0.2, reduction="none"), {"x": logits, "t": tgt})
    loss_case("ce_weight_sum", lambda i: F.cross_entropy(i["x"], i["t"], weight=i["w"], reduction="sum"), {"x": logits, "t": tgt, "w": w})
    probs = torch.softmax(r(6, 5), 1)
    loss_case("ce_probs", lambda i: F.cross_entropy(i["x"], i["t"], weight=i["w"], label_smoothing=0.1), {"x": logits, "t": probs, "w": w})
    loss_case("ce_4d", lambda i: F.cross_entropy(i["x"], i["t"]), {"x": r(2, 3, 4, 2), "t": torch.randint(0, 3, (2, 4, 2))})
    lp = torch.log_softmax(r(6, 5), 1)
    loss_case("nll_weight", lambda i: F.nll_loss(i["x"], i["t"], weight=i["w"]), {"x": lp, "t": tgt, "w": w})
    p = torch.rand(4, 3) * 0.98 + 0.01
    tb = torch.rand(4, 3)
    loss_case("bce", lambda i: F.binary_cross_entropy(i["x"], i["t"], weight=i["w"]), {"x": p, "t": tb, "w": torch.rand(4, 3)})
    loss_case("bce_logits", lambda i: F.binary_cross_entropy_with_logits(i["x"], i["t"], pos_weight=i["pw"]), {"x": r(4, 3) * 3, "t": tb, "pw": torch.rand(3) + 0.5})
    tk = torch.softmax(r(4, 5), 1)
    tk[0, 0] = 0.0
    loss_case("kl_div_batchmean", lambda i: F.kl_div(i["x"], i["t"], reduction="batchmean"), {"x": lp[:4], "t": tk})
    loss_case("kl_div_log_target", lambda i: F.kl_div(i["x"], i["t"], reduction="sum", log_target=True), {"x": lp[:4], "t": torch.log(tk + 0.01)})
    yy = torch.tensor([1.0, -1.0, -1.0, 1.0])
    loss_case("cosine_embedding", lambda i: F.cosine_embedding_loss(i["x1"], i["x2"], i["y"], margin=0.1), {"x1": r(4, 6), "x2": r(4, 6), "y": yy})
    loss_case("margin_ranking", lambda i: F.margin_ranking_loss(i["x1"], i["x2"], i["y"], margin=0.3), {"x1": r(4), "x2": r(4), "y": yy})


def lion_step(params, state, lr, betas, wd):
    with torch.no_grad():
        for p in params:
            if p.grad is None:
                continue
            m = state.setdefault(p, torch.zeros_like(p))
            u = (m * betas[0] + p.grad * (1 - betas[0])).sign()
            p.mul_(1 - lr * wd)
            p.add_(u, alpha=-lr)
            m.mul_(betas[1]).add_(p.grad, alpha=1 - betas[1])


def optimizers():
    torch.manual_seed(3)
    x, y = r(8, 3), r(8, 4)
    w0, b0 = r(4, 3) * 0.5, r(4) * 0.5
    cases = {
        "sgd": lambda ps: torch.optim.SGD(ps, lr=0.05),
        "sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
        "sgd_nesterov": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True),
        "sgd_maximize": lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.5, maximize=True),
        "adam": lambda ps: torch.optim.Adam(ps, lr=0.01, foreach=False),
        "adam_amsgrad_wd": lambda ps: torch.optim.Adam(ps, lr=0.02, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True, foreach=False),
        "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.01, foreach=False),
        "adamw_amsgrad": lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1, amsgrad=True, foreach=False),
        "rmsprop": lambda ps: torch.optim.RMSprop(ps, lr=0.01, foreach=False),
        "rmsprop_centered_momentum": lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.01, foreach=False),
        "adagrad": lambda ps: torch.optim.Adagrad(ps, lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1, foreach=False),
        "adadelta": lambda ps: torch.optim.Adadelta(ps, lr=1.0, rho=0.8, weight_decay=0.01, foreach=False),
        "lion": None,
    }
    for name, make in cases.items():
        w = w0.clone().requires_grad_(True)
        b = b0.clone().requires_grad_(True)
        opt = make([w, b]) if make else None
        state = {}
        traj_w, traj_b = [], []
        for _ in range(20):
            if opt:
                opt.zero_grad()
            else:
                w.grad = None
                b.grad = None
            loss = ((x @ w.t() + b - y) ** 2).mean()
            loss.backward()
            if opt:
                opt.step()
            else:
                lion_step([w, b], state, 0.01, (0.9, 0.99), 0.1)
            traj_w.append(w.detach().clone())
            traj_b.append(b.detach().clone())
        save("optim_" + name, {"x": x, "y": y, "w0": w0, "b0": b0, "traj_w": torch.stack(traj_w), "traj_b": torch.stack(traj_b)})

    # schedulers: lr (and momentum) for 30 steps
    def sched(name, make_opt, make_sched, metrics=None):
        p = torch.zeros(1, requires_grad=True)
        opt = make_opt([p])
        s = make_sched(opt)
        lrs, moms = [], []
        for i in range(30):
            lrs.append(opt.param_groups[0]["lr"])
            g = opt.param_groups[0]
            moms.append(g["betas"][0] if "betas" in g else g.get("momentum", 0.0))
            opt.step()
            if metrics is not None:
                s.step(metrics[i])
            else:
                s.step()
        t = {"lr": torch.tensor(lrs, dtype=torch.float64), "momentum": torch.tensor(moms, dtype=torch.float64)}
        if metrics is not None:
            t["metrics"] = torch.tensor(metrics, dtype=torch.float64)
        save("sched_" + name, t)

    sgd = lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)
    sched("step", sgd, lambda o: torch.optim.lr_scheduler.StepLR(o, 7, gamma=0.5))
    sched("multistep", sgd, lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [5, 12, 20], gamma=0.3))
    sched("exponential", sgd, lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.9))
    sched("cosine", sgd, lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 10, eta_min=0.01))
    sched("linear", sgd, lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=8))
    sched("onecycle", lambda ps: torch.optim.Adam(ps, lr=0.1), lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=30))
    sched("onecycle_sgd_linear", sgd, lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=40, pct_start=0.25, anneal_strategy="linear"))
    metrics = [1.0, 0.9, 0.9, 0.9, 0.95, 0.8, 0.8, 0.8, 0.8, 0.8] * 3
    sched("plateau", sgd, lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, factor=0.5, patience=2, cooldown=1), metrics)

    # clip_grad_norm_
    a, b = r(3, 4), r(5)
    pa, pb = a.clone().requires_grad_(True), b.clone().requires_grad_(True)
    pa.grad, pb.grad = a * 2, b * 3
    total = torch.nn.utils.clip_grad_norm_([pa, pb], 1.5)
    save("clip_norm", {"ga": a * 2, "gb": b * 3, "ca": pa.grad, "cb": pb.grad, "total": total.reshape(1)})


if __name__ == "__main__":
    layers()
    losses()
    optimizers()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} fixtures, {total / 1024:.1f} KiB")
