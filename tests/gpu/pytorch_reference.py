"""The yardstick of `studio bench distill`: the same step-following update in PyTorch eager, on the same machine.

Issue 14 asks for the paper-size update to be at most 1.05x (batch 4) and 1.15x (batch 1) PyTorch's time on the same
GPU, both measured in the same call. This script is that PyTorch side, written for it (not product code, and not run
by CI): it reads the same workload file (bench/distill-paper.json, bench/distill-toy.json) and times one update as the
workload's "timed" field says, with what a PyTorch user would use:

- the student: a T5 encoder as transformers writes it (T5-v1.1 gated-gelu, RMS layer norms, relative position bias
  in the first block, attention as explicit matmuls and a float32 softmax, dropout in train mode) and the distillation
  projection Linear(d_model, P) -> ReLU -> Dropout -> Linear(P, P), float32;
- the teacher: a FLUX transformer as diffusers writes it (double- and single-stream blocks, AdaLayerNormZero, RMS
  q/k norms, 3-axis rotary embeddings, timestep and guidance embeddings, attention by scaled_dot_product_attention),
  random init, frozen, in the workload's dtype; `gradient_checkpointing` checkpoints every block
  (torch.utils.checkpoint, non-reentrant);
- one update: teacher velocity without grad, student forward, transformer on the student's states, MSE, backward,
  clip_grad_norm_, AdamW (fused on CUDA, foreach elsewhere), Euler step along the teacher's velocity, then a
  synchronize. A fresh trajectory every `schedule.steps` updates, outside the timing.

It prints one JSON line per batch with the keys of `studio bench distill` where they mean the same (median_ms, min_ms,
max_ms, batch, device, dtype, peak_gpu_memory_bytes measured as the studio measures it: device memory in use per
cudaMemGetInfo, highest after the warm-up and after each update; gpu_memory_before_models_bytes) plus PyTorch's own
max_memory_allocated_bytes and max_memory_reserved_bytes over the updates (peak stats reset after the models are built).

    python tests/gpu/pytorch_reference.py --config bench/distill-paper.json --batch 1 --batch 4
    python tests/gpu/pytorch_reference.py --config bench/distill-toy.json --device cpu      # a check anywhere
    python tests/gpu/pytorch_reference.py --config bench/distill-paper.json --count-only    # parameters, no weights
    python tests/gpu/pytorch_reference.py --check tests/fixtures/models/distill_update      # the update vs the fixture
    python tests/gpu/pytorch_reference.py --compare STUDIO.jsonl PYTORCH.jsonl               # the ratios, as a table
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


# ---------------------------------------------------------------- the student: T5 encoder + projection (transformers)

class T5LayerNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, h):
        variance = h.float().pow(2).mean(-1, keepdim=True)
        return self.weight * (h * torch.rsqrt(variance + self.eps)).to(self.weight.dtype)


def relative_position_bucket(relative_position, num_buckets, max_distance):
    # Bidirectional, as T5's encoder.
    num_buckets //= 2
    buckets = (relative_position > 0).long() * num_buckets
    n = relative_position.abs()
    max_exact = num_buckets // 2
    is_small = n < max_exact
    large = max_exact + (torch.log(n.float() / max_exact) / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).long()
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(is_small, n, large)


class T5Attention(nn.Module):
    def __init__(self, c, has_bias):
        super().__init__()
        inner = c["num_heads"] * c["d_kv"]
        self.heads, self.d_kv, self.dropout = c["num_heads"], c["d_kv"], c["dropout_rate"]
        self.q, self.k, self.v = (nn.Linear(c["d_model"], inner, bias=False) for _ in range(3))
        self.o = nn.Linear(inner, c["d_model"], bias=False)
        self.buckets, self.max_distance = c["relative_attention_num_buckets"], c["relative_attention_max_distance"]
        self.relative_attention_bias = nn.Embedding(self.buckets, self.heads) if has_bias else None

    def position_bias(self, length, device):
        position = torch.arange(length, device=device)
        bucket = relative_position_bucket(position[None, :] - position[:, None], self.buckets, self.max_distance)
        return self.relative_attention_bias(bucket).permute(2, 0, 1)[None]  # [1, heads, L, L]

    def forward(self, h, bias):
        b, length, _ = h.shape
        split = lambda x: x.view(b, length, self.heads, self.d_kv).transpose(1, 2)
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        if bias is None:
            bias = self.position_bias(length, h.device)
        scores = q @ k.transpose(-1, -2) + bias  # T5 does not scale the scores
        weights = F.dropout(scores.float().softmax(-1).type_as(scores), self.dropout, self.training)
        return self.o((weights @ v).transpose(1, 2).reshape(b, length, -1)), bias


class T5Block(nn.Module):
    def __init__(self, c, has_bias):
        super().__init__()
        self.attention_norm = T5LayerNorm(c["d_model"], c["layer_norm_epsilon"])
        self.attention = T5Attention(c, has_bias)
        self.ff_norm = T5LayerNorm(c["d_model"], c["layer_norm_epsilon"])
        self.wi_0 = nn.Linear(c["d_model"], c["d_ff"], bias=False)
        self.wi_1 = nn.Linear(c["d_model"], c["d_ff"], bias=False)
        self.wo = nn.Linear(c["d_ff"], c["d_model"], bias=False)
        self.dropout = nn.Dropout(c["dropout_rate"])

    def forward(self, h, bias):
        attended, bias = self.attention(self.attention_norm(h), bias)
        h = h + self.dropout(attended)
        x = self.ff_norm(h)
        gated = F.gelu(self.wi_0(x), approximate="tanh") * self.wi_1(x)
        return h + self.dropout(self.wo(self.dropout(gated))), bias


class Student(nn.Module):
    def __init__(self, c, projection_dim, projection_dropout):
        super().__init__()
        if c.get("feed_forward_proj", "gated-gelu") != "gated-gelu":
            raise SystemExit(f"student.feed_forward_proj: only gated-gelu is written here, not {c['feed_forward_proj']}")
        self.shared = nn.Embedding(c["vocab_size"], c["d_model"])
        self.blocks = nn.ModuleList(T5Block(c, i == 0) for i in range(c["num_layers"]))
        self.final_norm = T5LayerNorm(c["d_model"], c["layer_norm_epsilon"])
        self.dropout = nn.Dropout(c["dropout_rate"])
        self.final_projection = nn.Sequential(nn.Linear(c["d_model"], projection_dim, bias=False), nn.ReLU(),
                                              nn.Dropout(projection_dropout), nn.Linear(projection_dim, projection_dim, bias=False))

    def forward(self, ids):
        h, bias = self.dropout(self.shared(ids)), None
        for block in self.blocks:
            h, bias = block(h, bias)
        return self.final_projection(self.dropout(self.final_norm(h)))


# ---------------------------------------------------------------- the teacher: FLUX transformer (diffusers)

def timestep_embedding(t, dim=256):
    half = dim // 2
    exponent = -math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    angles = t.float()[:, None] * exponent.exp()[None]
    return torch.cat([angles.cos(), angles.sin()], dim=-1)  # flip_sin_to_cos


class MLPEmbedder(nn.Module):
    def __init__(self, d_in, dim):
        super().__init__()
        self.linear_1, self.linear_2 = nn.Linear(d_in, dim), nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


def rope(ids, axes, theta=10000.0):
    """cos, sin of [tokens, head_dim], each frequency repeated for the pair it rotates."""
    cos, sin = [], []
    for i, d in enumerate(axes):
        freqs = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float64, device=ids.device) / d)
        angles = ids[:, i].double()[:, None] * freqs[None]
        cos.append(angles.cos().repeat_interleave(2, dim=-1).float())
        sin.append(angles.sin().repeat_interleave(2, dim=-1).float())
    return torch.cat(cos, -1), torch.cat(sin, -1)


def apply_rope(x, cos, sin):
    real, imag = x.unflatten(-1, (-1, 2)).unbind(-1)
    rotated = torch.stack([-imag, real], dim=-1).flatten(3)
    return (x.float() * cos + rotated.float() * sin).to(x.dtype)


def attention(q, k, v):
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v)
    weights = (q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])).softmax(-1)  # torch < 2.0 (a CPU check only)
    return weights @ v


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(d)), eps

    def forward(self, x):
        variance = x.float().pow(2).mean(-1, keepdim=True)
        return (x.float() * torch.rsqrt(variance + self.eps)).to(x.dtype) * self.weight


class AdaNorm(nn.Module):
    """AdaLayerNormZero (chunks=6), AdaLayerNormZeroSingle (3) and AdaLayerNormContinuous's modulation (2)."""

    def __init__(self, dim, chunks):
        super().__init__()
        self.linear, self.chunks = nn.Linear(dim, chunks * dim), chunks
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)

    def forward(self, x, temb):
        return self.norm(x), self.linear(F.silu(temb)).chunk(self.chunks, dim=-1)


def modulate(x, shift, scale):
    return x * (1 + scale[:, None]) + shift[:, None]


class GELUProj(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.proj = nn.Linear(d_in, d_out)

    def forward(self, x):
        return F.gelu(self.proj(x), approximate="tanh")


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.net = nn.Sequential(GELUProj(dim, 4 * dim), nn.Dropout(0.0), nn.Linear(4 * dim, dim))

    def forward(self, x):
        return self.net(x)


class Attention(nn.Module):
    """diffusers' FluxAttention's parameters: the image (or joint) stream's q, k, v with RMS q/k norms; with a context
    stream its own projections and norms; an output projection unless pre_only (the single-stream blocks)."""

    def __init__(self, dim, heads, head_dim, context, pre_only):
        super().__init__()
        inner = heads * head_dim
        self.heads = heads
        self.to_q, self.to_k, self.to_v = (nn.Linear(dim, inner) for _ in range(3))
        self.norm_q, self.norm_k = RMSNorm(head_dim), RMSNorm(head_dim)
        if context:
            self.add_q_proj, self.add_k_proj, self.add_v_proj = (nn.Linear(dim, inner) for _ in range(3))
            self.norm_added_q, self.norm_added_k = RMSNorm(head_dim), RMSNorm(head_dim)
            self.to_add_out = nn.Linear(inner, dim)
        if not pre_only:
            self.to_out = nn.ModuleList([nn.Linear(inner, dim)])

    def split(self, t):
        return t.unflatten(-1, (self.heads, -1)).transpose(1, 2)

    def qkv(self, x):
        return self.norm_q(self.split(self.to_q(x))), self.norm_k(self.split(self.to_k(x))), self.split(self.to_v(x))

    def context_qkv(self, c):
        return (self.norm_added_q(self.split(self.add_q_proj(c))), self.norm_added_k(self.split(self.add_k_proj(c))),
                self.split(self.add_v_proj(c)))


class DoubleBlock(nn.Module):
    """FluxTransformerBlock: image and text streams with their own weights, attending jointly (text first)."""

    def __init__(self, dim, heads, head_dim):
        super().__init__()
        self.norm1, self.norm1_context = AdaNorm(dim, 6), AdaNorm(dim, 6)
        self.attn = Attention(dim, heads, head_dim, context=True, pre_only=False)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.norm2_context = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ff, self.ff_context = FeedForward(dim), FeedForward(dim)

    def forward(self, x, c, temb, cos, sin):
        x_normed, (shift, scale, gate, shift2, scale2, gate2) = self.norm1(x, temb)
        c_normed, (c_shift, c_scale, c_gate, c_shift2, c_scale2, c_gate2) = self.norm1_context(c, temb)
        qi, ki, vi = self.attn.qkv(modulate(x_normed, shift, scale))
        qc, kc, vc = self.attn.context_qkv(modulate(c_normed, c_shift, c_scale))
        q, k, v = torch.cat([qc, qi], 2), torch.cat([kc, ki], 2), torch.cat([vc, vi], 2)
        out = attention(apply_rope(q, cos, sin), apply_rope(k, cos, sin), v).transpose(1, 2).flatten(2)
        c_out, x_out = out[:, :c.shape[1]], out[:, c.shape[1]:]
        x = x + gate[:, None] * self.attn.to_out[0](x_out)
        x = x + gate2[:, None] * self.ff(modulate(self.norm2(x), shift2, scale2))
        c = c + c_gate[:, None] * self.attn.to_add_out(c_out)
        c = c + c_gate2[:, None] * self.ff_context(modulate(self.norm2_context(c), c_shift2, c_scale2))
        return x, c


class SingleBlock(nn.Module):
    """FluxSingleTransformerBlock: one stream, attention and MLP in parallel, one output projection."""

    def __init__(self, dim, heads, head_dim):
        super().__init__()
        self.norm = AdaNorm(dim, 3)
        self.attn = Attention(dim, heads, head_dim, context=False, pre_only=True)
        self.proj_mlp = nn.Linear(dim, 4 * dim)
        self.proj_out = nn.Linear(5 * dim, dim)

    def forward(self, h, temb, cos, sin):
        normed, (shift, scale, gate) = self.norm(h, temb)
        normed = modulate(normed, shift, scale)
        q, k, v = self.attn.qkv(normed)
        attended = attention(apply_rope(q, cos, sin), apply_rope(k, cos, sin), v).transpose(1, 2).flatten(2)
        mlp = F.gelu(self.proj_mlp(normed), approximate="tanh")
        return h + gate[:, None] * self.proj_out(torch.cat([attended, mlp], dim=-1))


class TimeTextEmbed(nn.Module):
    """CombinedTimestep(Guidance)TextProjEmbeddings: timestep (+ guidance) + pooled text, summed."""

    def __init__(self, dim, pooled_dim, guidance):
        super().__init__()
        self.timestep_embedder = MLPEmbedder(256, dim)
        self.guidance_embedder = MLPEmbedder(256, dim) if guidance else None
        self.text_embedder = MLPEmbedder(pooled_dim, dim)

    def forward(self, sigma, guidance, pooled):
        dtype = self.text_embedder.linear_1.weight.dtype
        temb = self.timestep_embedder(timestep_embedding(sigma * 1000).to(dtype))
        if self.guidance_embedder is not None:
            temb = temb + self.guidance_embedder(timestep_embedding(guidance * 1000).to(dtype))
        return temb + self.text_embedder(pooled)


class Flux(nn.Module):
    """FluxTransformer2DModel; its state_dict has diffusers' names."""

    def __init__(self, c):
        super().__init__()
        heads, head_dim = c["num_attention_heads"], c["attention_head_dim"]
        dim = heads * head_dim
        self.axes = c["axes_dims_rope"]
        self.x_embedder = nn.Linear(c["in_channels"], dim)
        self.context_embedder = nn.Linear(c["joint_attention_dim"], dim)
        self.time_text_embed = TimeTextEmbed(dim, c["pooled_projection_dim"], c.get("guidance_embeds", False))
        self.transformer_blocks = nn.ModuleList(DoubleBlock(dim, heads, head_dim) for _ in range(c["num_layers"]))
        self.single_transformer_blocks = nn.ModuleList(SingleBlock(dim, heads, head_dim) for _ in range(c["num_single_layers"]))
        self.norm_out = AdaNorm(dim, 2)
        self.proj_out = nn.Linear(dim, c["in_channels"])
        self.gradient_checkpointing = False

    def block(self, fn, *args):
        if self.gradient_checkpointing and torch.is_grad_enabled():
            return checkpoint(fn, *args, use_reentrant=False)
        return fn(*args)

    def forward(self, latents, context, pooled, sigma, guidance, image_ids, text_ids):
        temb = self.time_text_embed(sigma, guidance, pooled)
        x, c = self.x_embedder(latents), self.context_embedder(context)
        cos, sin = rope(torch.cat([text_ids, image_ids]), self.axes)
        for block in self.transformer_blocks:
            x, c = self.block(block, x, c, temb, cos, sin)
        h = torch.cat([c, x], 1)
        for block in self.single_transformer_blocks:
            h = self.block(block, h, temb, cos, sin)
        x = h[:, c.shape[1]:]
        normed, (scale, shift) = self.norm_out(x, temb)  # AdaLayerNormContinuous: scale first
        return self.proj_out(normed * (1 + scale[:, None]) + shift[:, None])


# ---------------------------------------------------------------- the workload and its update

def sigmas(steps, image_tokens):
    m = (1.15 - 0.5) / (4096 - 256)
    mu = m * image_tokens + 0.5 - m * 256
    s = torch.linspace(1.0, 1.0 / steps, steps, dtype=torch.float64)
    shifted = math.exp(mu) / (math.exp(mu) + (1 / s - 1))
    return torch.cat([shifted, torch.zeros(1, dtype=torch.float64)]).tolist()


def image_ids(grid, device):
    rows = torch.arange(grid, device=device).repeat_interleave(grid)
    cols = torch.arange(grid, device=device).repeat(grid)
    return torch.stack([torch.zeros_like(rows), rows, cols], dim=-1).float()


def init_student(student, std=1.0):
    """transformers' T5 _init_weights (factor 1.0); the projection keeps nn.Linear's default init."""
    with torch.no_grad():
        for module in student.modules():
            if isinstance(module, T5Attention):
                d_model, key_value = module.q.in_features, module.d_kv * module.heads
                module.q.weight.normal_(0, std * (d_model * module.d_kv) ** -0.5)
                module.k.weight.normal_(0, std * d_model ** -0.5)
                module.v.weight.normal_(0, std * d_model ** -0.5)
                module.o.weight.normal_(0, std * key_value ** -0.5)
                if module.relative_attention_bias is not None:
                    module.relative_attention_bias.weight.normal_(0, std * d_model ** -0.5)
            elif isinstance(module, T5Block):
                module.wi_0.weight.normal_(0, std * module.wi_0.in_features ** -0.5)
                module.wi_1.weight.normal_(0, std * module.wi_1.in_features ** -0.5)
                module.wo.weight.normal_(0, std * module.wo.in_features ** -0.5)
        student.shared.weight.normal_(0, std)


def build_transformer(config, dtype, device):
    """The frozen transformer in its dtype on its device, with nn.Linear's default init, never whole in float32
    (FLUX.1-dev's would be 48 GB): built on the meta device, given memory there, then initialised in place."""
    if not hasattr(torch, "get_default_device"):  # an older PyTorch (a CPU check only): built as usual
        return Flux(config).to(dtype).to(device)
    with torch.device("meta"):
        flux = Flux(config)
    flux = flux.to(dtype).to_empty(device=device)
    with torch.no_grad():
        for module in flux.modules():
            if isinstance(module, nn.Linear):
                module.reset_parameters()
            elif isinstance(module, RMSNorm):
                module.weight.fill_(1)
    return flux


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def used_bytes(device):
    if device.type != "cuda":
        return None
    free, total = torch.cuda.mem_get_info(device)
    return total - free


def step_following_update(student, transformer, optimizer, clip, latents32, sigma, sigma_next, ids, teacher, pooled,
                          guidance, img_ids, txt_ids):
    """One update of the paper's method, as the studio's StepFollowingUpdate.Step: the teacher's velocity (no grad),
    the transformer on the student's states, MSE, backward, clipping, AdamW, and the Euler step along the teacher's
    velocity. Returns the next latents and the update's tensors (nothing is read back to the host here)."""
    dtype = next(transformer.parameters()).dtype
    latents = latents32.to(dtype)
    with torch.no_grad():
        v_teacher = transformer(latents, teacher.to(dtype), pooled, sigma, guidance, img_ids, txt_ids)
    optimizer.zero_grad(set_to_none=True)
    states = student(ids)
    v_student = transformer(latents, states.to(dtype), pooled, sigma, guidance, img_ids, txt_ids)
    loss = (v_student.float() - v_teacher.float()).square().mean()
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(student.parameters(), clip)
    optimizer.step()
    next_latents = latents32 + (sigma_next - sigma)[:, None, None] * v_teacher.float()
    return next_latents, {"loss": loss, "grad_norm": grad_norm, "v_teacher": v_teacher, "v_student": v_student,
                          "student_embeddings": states}


def adamw(params, opt, device):
    fast = {"fused": True} if device.type == "cuda" else {"foreach": True}
    kwargs = dict(lr=opt["lr"], betas=tuple(opt["betas"]), eps=opt["eps"], weight_decay=opt["weight_decay"])
    try:
        return torch.optim.AdamW(params, **kwargs, **fast)
    except (TypeError, RuntimeError):  # an older PyTorch without these options (a CPU check only)
        return torch.optim.AdamW(params, **kwargs)


def run(workload, batches, device):
    torch.manual_seed(workload["seed"])
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[workload["dtype"]]
    c_student, c_flux = workload["student"], workload["transformer"]
    channels, size, _ = workload["latent_shape"]
    grid, text_len, steps = size // 2, workload["text_len"], workload["schedule"]["steps"]
    before = used_bytes(device)

    transformer = build_transformer(c_flux, dtype, device).eval().requires_grad_(False)
    transformer.gradient_checkpointing = bool(workload.get("gradient_checkpointing", False))
    ids_all = torch.randint(0, c_student["vocab_size"], (max(batches), text_len))
    teacher_all = torch.randn(max(batches), text_len, workload["projection_dim"])
    img_ids, txt_ids = image_ids(grid, device), torch.zeros(text_len, 3, device=device)
    schedule = sigmas(steps, grid * grid)
    lines = []
    for batch in batches:
        torch.manual_seed(workload["seed"])
        student = Student(c_student, workload["projection_dim"], workload["projection_dropout"])
        init_student(student)
        student.to(device).train()
        optimizer = adamw(student.parameters(), workload["optimizer"], device)
        ids, teacher = ids_all[:batch].to(device), teacher_all[:batch].to(device).to(dtype)
        pooled = torch.zeros(batch, c_flux["pooled_projection_dim"], device=device, dtype=dtype)
        state = {"j": steps}

        def timed_update():
            if state["j"] >= steps:  # a fresh trajectory: noise drawn on the CPU, one guidance value (not timed)
                state["latents"] = torch.randn(batch, grid * grid, channels * 4).to(device)
                choice = [2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0][int(torch.randint(0, 7, ()))]
                state["guidance"] = torch.full((batch,), choice, device=device)
                state["j"] = 0
                sync(device)
            t0 = time.perf_counter()
            j = state["j"]
            sigma = torch.full((batch,), schedule[j], device=device)
            sigma_next = torch.full((batch,), schedule[j + 1], device=device)
            state["latents"], out = step_following_update(student, transformer, optimizer, workload["clip_grad_norm"],
                                                          state["latents"], sigma, sigma_next, ids, teacher, pooled,
                                                          state["guidance"], img_ids, txt_ids)
            state["j"] = j + 1
            numbers = torch.stack([out["loss"].float(), out["grad_norm"].float()]).tolist()  # the update's one read, as the studio's
            sync(device)
            return (time.perf_counter() - t0) * 1000, numbers

        for _ in range(workload["warmup"]):
            timed_update()
        peak_used = used_bytes(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        times = []
        for _ in range(workload["repeats"]):
            ms, (loss_value, grad_norm) = timed_update()
            times.append(ms)
            now = used_bytes(device)
            if now is not None and now > peak_used:
                peak_used = now
        if not all(math.isfinite(v) for v in (loss_value, grad_norm)):
            raise SystemExit(f"batch {batch}: loss {loss_value}, gradient norm {grad_norm}: not finite")
        lines.append({
            "bench": workload["name"] + ("-checkpointed" if transformer.gradient_checkpointing else ""),
            "impl": f"PyTorch {torch.__version__} eager (tests/gpu/pytorch_reference.py)",
            "batch": batch, "device": str(device), "dtype": workload["dtype"], "student_dtype": "float32",
            "gradient_checkpointing": transformer.gradient_checkpointing,
            "median_ms": round(statistics.median(times), 2), "min_ms": round(min(times), 2), "max_ms": round(max(times), 2),
            "warmup": workload["warmup"], "repeats": workload["repeats"], "last_loss": loss_value,
            "peak_gpu_memory_bytes": peak_used, "gpu_memory_before_models_bytes": before,
            "max_memory_allocated_bytes": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None,
            "max_memory_reserved_bytes": torch.cuda.max_memory_reserved(device) if device.type == "cuda" else None,
        })
        print(json.dumps(lines[-1]), flush=True)
        del student, optimizer, state
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return lines


# ---------------------------------------------------------------- the check: the update against the repository's fixture

def read_safetensors(path):
    dtypes = {"F32": torch.float32, "I64": torch.int64, "BF16": torch.bfloat16, "F16": torch.float16}
    with open(path, "rb") as f:
        length = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(length))
        data = f.read()
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        flat = torch.frombuffer(bytearray(data[begin:end]), dtype=dtypes[entry["dtype"]]) if end > begin else torch.empty(0)
        tensors[name] = flat.reshape(entry["shape"])
    return tensors


def student_name(name):
    """The fixture's DistillT5 layout (transformers' T5EncoderModel inside) to this script's names."""
    name = name.removeprefix("student.")
    for old, new in ((".layer.0.SelfAttention.", ".attention."), (".layer.0.layer_norm.", ".attention_norm."),
                     (".layer.1.DenseReluDense.", "."), (".layer.1.layer_norm.", ".ff_norm."),
                     ("encoder.encoder.block.", "blocks."), ("encoder.encoder.final_layer_norm.", "final_norm."),
                     ("encoder.shared.", "shared.")):
        name = name.replace(old, new)
    return name


def check_fixture(folder, device):
    """Runs the distill_update case (tests/fixtures/models/distill_update: a reference made with the paper's code)
    through step_following_update and prints each output's max|ours - reference| / max|reference|."""
    with open(f"{folder}/config.json") as f:
        config = json.load(f)
    weights = read_safetensors(f"{folder}/model.safetensors")
    inputs = {k: v.to(device) for k, v in read_safetensors(f"{folder}/inputs.safetensors").items()}
    reference = read_safetensors(f"{folder}/outputs.safetensors")
    student = Student(config["student"], config["projection_dim"], config["projection_dropout"])
    student.load_state_dict({student_name(k): v for k, v in weights.items() if k.startswith("student.")})
    transformer = Flux(config["transformer"])
    transformer.load_state_dict({k.removeprefix("transformer."): v for k, v in weights.items() if k.startswith("transformer.")})
    student.to(device).train()  # the case's dropout is 0
    transformer.to(device).eval().requires_grad_(False)
    optimizer = adamw(student.parameters(), config["optimizer"], device)
    batch = inputs["latents"].shape[0]
    latents_next, out = step_following_update(
        student, transformer, optimizer, config["grad_clip"], inputs["latents"], inputs["timestep"],
        inputs["sigma_next"].expand(batch),  # timestep is sigma for every sample (the case's README)
        inputs["input_ids"], inputs["teacher_embeddings"], inputs["pooled_projections"], inputs["guidance"],
        inputs["img_ids"], inputs["txt_ids"])
    out["latents_next"] = latents_next
    worst = 0.0
    for name in ("v_teacher", "student_embeddings", "v_student", "loss", "grad_norm", "latents_next"):
        ref = reference[name].float()
        ours = out[name].detach().float().cpu().reshape(ref.shape)
        error = float((ours - ref).abs().max() / ref.abs().max())
        worst = max(worst, error)
        print(f"{name:20s} max|ours - reference| / max|reference| = {error:.2e}")
    print(json.dumps({"check": "distill_update", "device": str(device), "worst_relative_error": worst}))
    if not worst < 1e-4:
        raise SystemExit(f"the update differs from the reference by {worst:.2e} of its scale (more than 1e-4)")


def compare(ours_files, theirs_files):
    """A table of the studio's bench lines beside this script's, matched by batch, checkpointing and the transformer's
    dtype: time and memory ratios with the issue's goals (at most 1.05x PyTorch's time at batch 4, 1.15x at batch 1,
    memory at most 1.1x).
    The studio's memory is cudaMemGetInfo's peak less what was in use before its models (the caching allocator's
    reserve included), so it is set beside PyTorch's reserved peak as well as its allocated one."""
    def lines(files):
        for path in files:
            if not os.path.exists(path):
                print(f"({path}: not there, its bench failed or did not run)")
                continue
            with open(path) as f:
                for line in f:
                    if line.startswith("{"):
                        yield json.loads(line)
    match = lambda l: (l["batch"], bool(l.get("gradient_checkpointing")), l.get("dtype", ""))  # the transformer's dtype
    ours, theirs = {match(l): l for l in lines(ours_files)}, {match(l): l for l in lines(theirs_files)}
    gib = lambda b: f"{b / 2**30:.1f}" if b is not None else "-"
    print("| batch | checkpointed | transformer | studio ms | PyTorch ms | ratio (goal) | studio GiB | PyTorch allocated / reserved GiB | ratio to allocated (goal 1.1) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for key in sorted(set(ours) & set(theirs)):
        a, b = ours[key], theirs[key]
        goal = {1: 1.15, 4: 1.05}.get(key[0])
        used = a["peak_gpu_memory_bytes"] - (a.get("gpu_memory_before_models_bytes") or 0) if a.get("peak_gpu_memory_bytes") else None
        allocated = b.get("max_memory_allocated_bytes")
        memory_ratio = f"{used / allocated:.2f}" if used and allocated else "-"
        print(f"| {key[0]} | {'yes' if key[1] else 'no'} | {key[2]} | {a['median_ms']} | {b['median_ms']} | "
              f"{a['median_ms'] / b['median_ms']:.2f}{f' ({goal})' if goal and not key[1] else ''} | {gib(used)} | "
              f"{gib(allocated)} / {gib(b.get('max_memory_reserved_bytes'))} | {memory_ratio} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", help="a workload of studio bench distill (bench/distill-paper.json)")
    parser.add_argument("--batch", type=int, action="append", help="time at this batch (repeat for several)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: the workload's)")
    parser.add_argument("--gradient-checkpointing", choices=["true", "false"], help="override the workload's")
    parser.add_argument("--repeats", type=int, help="override the workload's")
    parser.add_argument("--count-only", action="store_true", help="print the parameter counts (built on the meta device) and stop")
    parser.add_argument("--check", metavar="FOLDER", help="check the update against tests/fixtures/models/distill_update and stop")
    parser.add_argument("--compare", nargs=2, action="append", metavar=("STUDIO_JSONL", "PYTORCH_JSONL"),
                        help="print the studio's bench lines beside this script's as a table (repeat for several pairs) and stop")
    args = parser.parse_args()
    if args.compare:
        compare([pair[0] for pair in args.compare], [pair[1] for pair in args.compare])
        return
    if args.check:
        check_fixture(args.check, torch.device(args.device or "cpu"))
        return
    if not args.config:
        parser.error("--config is required (or --check FOLDER)")
    with open(args.config) as f:
        workload = json.load(f)
    if args.gradient_checkpointing:
        workload["gradient_checkpointing"] = args.gradient_checkpointing == "true"
    if args.repeats:
        workload["repeats"] = args.repeats
    if args.count_only:
        if not hasattr(torch, "get_default_device"):
            raise SystemExit("--count-only builds on the meta device: PyTorch 2.3 or later")
        with torch.device("meta"):
            flux = Flux(workload["transformer"])
            student = Student(workload["student"], workload["projection_dim"], workload["projection_dropout"])
        print(json.dumps({"transformer_parameters": sum(p.numel() for p in flux.parameters()),
                          "student_parameters": sum(p.numel() for p in student.parameters())}))
        return
    device = torch.device(args.device or workload["device"])
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: PyTorch sees no CUDA device here")
    if device.type == "cpu" and workload.get("threads"):
        torch.set_num_threads(int(workload["threads"]))
    run(workload, args.batch or [workload["batch"]], device)


if __name__ == "__main__":
    main()
