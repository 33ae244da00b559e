#!/usr/bin/env python3
"""Hugging Face parity harness: does ggrt compute what transformers computes, family by family?

For each family it builds a small random-weight model with transformers (seeded; non-trivial norm weights
and biases; a real-size head_dim), rounds every weight to F16, writes it as a GGUF the way llama.cpp's
converter does (gguf_writer.py: tensor names, Llama's q/k row permutation, Gemma's norm + 1, Llama 3's
rope_freqs), runs `generate --temp 0 --logits-out` on each backend, and compares with transformers in
float32 on the same weights, teacher-forced on ggrt's tokens:
  - tokens: at each step HF's top token must be ggrt's, unless the two are a near-tie (HF's logit of ggrt's
    token within 1e-3 of the logit scale, max |logit|, of HF's top); reported as the tokens that agree
    before the first difference and HF's margin there;
  - logits: the largest |ggrt - HF| over the logit scale, over the first 32 steps.
Runs on the device machine (torch, transformers, a GPU):
    python3 tools/hf_parity.py --generate bin/generate --out $OUT [--families llama3,gemma2] [--backends cuda,cpu]
"""

import argparse
import math
import os
import struct
import subprocess
import sys
import tempfile

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_writer import GgufWriter  # noqa: E402

VOCAB = 512
N_PREDICT = 48
LOGIT_STEPS = 32
TIE = 1e-3
# Largest relative logit error accepted per backend: the CPU computes in f32 from the F16 weights; CUDA's
# prefill products take F16 activations (cuBLASLt), so its first step carries F16 rounding.
TOLERANCE = {"cpu": 1e-3, "cuda": 2e-2}


TRANSFORMERS_5 = int(transformers.__version__.split(".")[0]) >= 5


def rope(theta, scaling=None):
    """Config kwargs for RoPE: transformers 5 takes `rope_parameters`, earlier versions `rope_theta` and
    `rope_scaling`."""
    if TRANSFORMERS_5:
        return {"rope_parameters": dict(scaling or {"rope_type": "default"}, rope_theta=theta)}
    return dict(rope_theta=theta, **({"rope_scaling": scaling} if scaling else {}))


def rope_of(config):
    """(theta, scaling dict) of a config, either API."""
    params = getattr(config, "rope_parameters", None)
    if params:
        return params["rope_theta"], params
    return config.rope_theta, getattr(config, "rope_scaling", None) or {}


def family_specs():
    """name -> (model class, config class, GGUF arch, config kwargs)."""
    common = dict(vocab_size=VOCAB, hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=8192,
                  bos_token_id=1, eos_token_id=2, pad_token_id=0)
    return {
        # Llama 3.2 style: Llama 3 RoPE scaling (rope_freqs.weight), tied embeddings, head_dim 64.
        "llama3": ("LlamaForCausalLM", "LlamaConfig", "llama",
                   dict(common, rms_norm_eps=1e-5, tie_word_embeddings=True, max_position_embeddings=131072,
                        **rope(500000.0, {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                          "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}))),
        # Linear RoPE scaling (rope.scaling.type = linear).
        "llama-linear": ("LlamaForCausalLM", "LlamaConfig", "llama",
                         dict(common, rms_norm_eps=1e-5, tie_word_embeddings=False,
                              **rope(10000.0, {"rope_type": "linear", "factor": 4.0}))),
        # Mistral 7B's shape of model (GQA, untied), which llama.cpp converts as `llama`; head_dim 128.
        "mistral": ("MistralForCausalLM", "MistralConfig", "llama",
                    dict(common, num_attention_heads=2, num_key_value_heads=1, rms_norm_eps=1e-5,
                         tie_word_embeddings=False, sliding_window=None, **rope(1e6))),
        "qwen2": ("Qwen2ForCausalLM", "Qwen2Config", "qwen2",
                  dict(common, rms_norm_eps=1e-6, tie_word_embeddings=True, **rope(1e6))),
        # Qwen3: head_dim 128 beside hidden 256 / 4 heads, q/k norms.
        "qwen3": ("Qwen3ForCausalLM", "Qwen3Config", "qwen3",
                  dict(common, head_dim=128, rms_norm_eps=1e-6, tie_word_embeddings=True, **rope(1e6))),
        # Phi-3: head_dim 96 (as Phi-3 mini), fused qkv and gate-up, a sliding window shorter than the test.
        "phi3": ("Phi3ForCausalLM", "Phi3Config", "phi3",
                 dict(common, hidden_size=384, rms_norm_eps=1e-5, tie_word_embeddings=False,
                      sliding_window=24, resid_pdrop=0.0, embd_pdrop=0.0, attention_dropout=0.0, **rope(10000.0))),
        # Gemma 2: head_dim 256, soft-capping, alternating sliding window (16), GeGLU, 3 layers.
        "gemma2": ("Gemma2ForCausalLM", "Gemma2Config", "gemma2",
                   dict(common, num_hidden_layers=3, head_dim=256, query_pre_attn_scalar=256, sliding_window=16,
                        attn_logit_softcapping=50.0, final_logit_softcapping=30.0,
                        hidden_activation="gelu_pytorch_tanh", rms_norm_eps=1e-6, tie_word_embeddings=True,
                        **rope(10000.0))),
    }


def build_model(name, spec, seed):
    model_cls, config_cls, _, kwargs, = spec[:4]
    if not hasattr(transformers, model_cls):
        return None, f"transformers {transformers.__version__} has no {model_cls}"
    config = getattr(transformers, config_cls)(**kwargs)
    config._attn_implementation = "eager"  # Soft-capping and windows need the eager path.
    torch.manual_seed(seed)
    model = getattr(transformers, model_cls)(config).float().eval()
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    gemma = name == "gemma2"
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if "norm" in pname:
                # Gemma's RMSNorm multiplies by (1 + w): centre w on 0 so the factor is about 1.
                p.copy_((torch.randn_like(p) * 0.3) if gemma else (0.6 + 0.8 * torch.rand_like(p)))
            elif pname.endswith(".bias"):
                p.copy_(torch.randn_like(p) * 0.5)
            elif "embed_tokens" in pname or "lm_head" in pname:
                p.copy_(torch.randn_like(p) * 0.5)
            else:
                p.copy_(torch.randn_like(p) / math.sqrt(p.shape[1]))
            p.copy_(p.half().float())  # Both sides compute with exactly the F16 weights.
    return model, None


def llama3_rope_factors(config):
    """convert_hf_to_gguf's rope_freqs for rope_type llama3."""
    theta, s = rope_of(config)
    head_dim = config.hidden_size // config.num_attention_heads
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    low_wavelen = s["original_max_position_embeddings"] / s["low_freq_factor"]
    high_wavelen = s["original_max_position_embeddings"] / s["high_freq_factor"]
    factors = []
    for f in freqs.tolist():
        wavelen = 2 * math.pi / f
        if wavelen < high_wavelen:
            factors.append(1.0)
        elif wavelen > low_wavelen:
            factors.append(s["factor"])
        else:
            smooth = (s["original_max_position_embeddings"] / wavelen - s["low_freq_factor"]) / (
                s["high_freq_factor"] - s["low_freq_factor"])
            factors.append(1.0 / ((1 - smooth) / s["factor"] + smooth))
    return factors


def vocabulary(w):
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    i = 0
    while len(tokens) < VOCAB:
        tokens.append("\u2581" + chr(ord("a") + i % 26) + str(i // 26))
        i += 1
    w.add("tokenizer.ggml.model", "llama")
    w.add("tokenizer.ggml.tokens", tokens)
    w.add("tokenizer.ggml.scores", [-float(i) for i in range(VOCAB)], "f32")
    w.add("tokenizer.ggml.token_type", [2, 3, 3] + [6] * 256 + [1] * (VOCAB - 259), "i32")
    w.add("tokenizer.ggml.bos_token_id", 1, "u32")
    w.add("tokenizer.ggml.eos_token_id", 2, "u32")


def write_gguf(name, spec, model, path):
    arch = spec[2]
    c = model.config
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    w = GgufWriter()
    w.add("general.architecture", arch)
    w.add(f"{arch}.block_count", c.num_hidden_layers, "u32")
    w.add(f"{arch}.context_length", c.max_position_embeddings, "u32")
    w.add(f"{arch}.embedding_length", c.hidden_size, "u32")
    w.add(f"{arch}.feed_forward_length", c.intermediate_size, "u32")
    w.add(f"{arch}.attention.head_count", c.num_attention_heads, "u32")
    w.add(f"{arch}.attention.head_count_kv", c.num_key_value_heads, "u32")
    w.add(f"{arch}.attention.key_length", head_dim, "u32")
    w.add(f"{arch}.attention.value_length", head_dim, "u32")
    w.add(f"{arch}.rope.dimension_count", head_dim, "u32")
    theta, scaling = rope_of(c)
    w.add(f"{arch}.rope.freq_base", float(theta), "f32")
    w.add(f"{arch}.attention.layer_norm_rms_epsilon", float(c.rms_norm_eps), "f32")
    if scaling.get("rope_type") == "linear":
        w.add(f"{arch}.rope.scaling.type", "linear")
        w.add(f"{arch}.rope.scaling.factor", float(scaling["factor"]), "f32")
    if getattr(c, "sliding_window", None) and arch in ("phi3", "gemma2"):
        w.add(f"{arch}.attention.sliding_window", c.sliding_window, "u32")
    if arch == "gemma2":
        w.add("gemma2.attn_logit_softcapping", float(c.attn_logit_softcapping), "f32")
        w.add("gemma2.final_logit_softcapping", float(c.final_logit_softcapping), "f32")
    vocabulary(w)

    def tensor(gguf_name, t):
        t = t.detach().float().cpu().contiguous()
        if t.dim() == 1:
            w.add_tensor(gguf_name, "f32", list(t.shape), t.numpy().astype("<f4").tobytes())
        else:
            w.add_tensor(gguf_name, "f16", list(t.shape), t.half().numpy().astype("<f2").tobytes())

    def permute(t, heads):  # llama.cpp's converter: HF's rotate-half rows to GGUF llama's interleaved pairs.
        return t.reshape(heads, 2, t.shape[0] // heads // 2, *t.shape[1:]).transpose(1, 2).reshape(t.shape)

    sd = model.state_dict()
    norm = (lambda t: t + 1.0) if arch == "gemma2" else (lambda t: t)
    tensor("token_embd.weight", sd["model.embed_tokens.weight"])
    tensor("output_norm.weight", norm(sd["model.norm.weight"]))
    if not c.tie_word_embeddings:
        tensor("output.weight", sd["lm_head.weight"])
    if scaling.get("rope_type") == "llama3":
        factors = llama3_rope_factors(c)
        w.add_tensor("rope_freqs.weight", "f32", [len(factors)], struct.pack(f"<{len(factors)}f", *factors))
    for i in range(c.num_hidden_layers):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        tensor(b + "attn_norm.weight", norm(sd[p + "input_layernorm.weight"]))
        if arch == "phi3":
            tensor(b + "attn_qkv.weight", sd[p + "self_attn.qkv_proj.weight"])
            tensor(b + "ffn_up.weight", sd[p + "mlp.gate_up_proj.weight"])
        else:
            q, k = sd[p + "self_attn.q_proj.weight"], sd[p + "self_attn.k_proj.weight"]
            if arch == "llama":
                q, k = permute(q, c.num_attention_heads), permute(k, c.num_key_value_heads)
            tensor(b + "attn_q.weight", q)
            tensor(b + "attn_k.weight", k)
            tensor(b + "attn_v.weight", sd[p + "self_attn.v_proj.weight"])
            tensor(b + "ffn_gate.weight", sd[p + "mlp.gate_proj.weight"])
            tensor(b + "ffn_up.weight", sd[p + "mlp.up_proj.weight"])
        for which in ("q", "k", "v"):
            if p + f"self_attn.{which}_proj.bias" in sd:
                tensor(b + f"attn_{which}.bias", sd[p + f"self_attn.{which}_proj.bias"])
        if arch == "qwen3":
            tensor(b + "attn_q_norm.weight", sd[p + "self_attn.q_norm.weight"])
            tensor(b + "attn_k_norm.weight", sd[p + "self_attn.k_norm.weight"])
        tensor(b + "attn_output.weight", sd[p + "self_attn.o_proj.weight"])
        tensor(b + "ffn_down.weight", sd[p + "mlp.down_proj.weight"])
        if arch == "gemma2":
            tensor(b + "post_attention_norm.weight", norm(sd[p + "post_attention_layernorm.weight"]))
            tensor(b + "ffn_norm.weight", norm(sd[p + "pre_feedforward_layernorm.weight"]))
            tensor(b + "post_ffw_norm.weight", norm(sd[p + "post_feedforward_layernorm.weight"]))
        else:
            tensor(b + "ffn_norm.weight", sd[p + "post_attention_layernorm.weight"])
    w.write(path)


def run_ggrt(generate, path, prompt, backend, tmp):
    logits_path = os.path.join(tmp, f"logits-{backend}.bin")
    cmd = [generate, "-m", path, "--prompt-ids", ",".join(map(str, prompt)), "-n", str(N_PREDICT), "--temp", "0",
           "--repeat-penalty", "1", "--ignore-eos", "--backend", backend, "--ctx-size", "256",
           "--logits-out", logits_path]
    r = subprocess.run(cmd, capture_output=True)  # The text of random tokens need not be UTF-8.
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.decode(errors='replace').strip()[-500:]}")
    with open(logits_path, "rb") as f:
        data = f.read()
    assert data[:8] == b"GGRTLGTS", "bad logits file"
    vocab = struct.unpack("<I", data[8:12])[0]
    logits = torch.frombuffer(bytearray(data[12:]), dtype=torch.float32).reshape(-1, vocab)
    return logits


def compare(model, prompt, logits, device):
    tokens = logits.argmax(dim=1).tolist()  # generate --temp 0 takes the first maximum, as argmax does
    seq = torch.tensor([prompt + tokens], device=device)
    with torch.no_grad():
        hf = model(input_ids=seq).logits[0].float().cpu()
    hf = hf[len(prompt) - 1: len(prompt) - 1 + len(tokens)]
    agree, margin, ok = len(tokens), None, True
    for t, tok in enumerate(tokens):
        top = int(hf[t].argmax())
        if top != tok:
            scale = float(hf[t].abs().max())
            m = float(hf[t][top] - hf[t][tok]) / scale
            if agree == len(tokens):
                agree, margin = t, m
            ok &= m < TIE
    steps = min(LOGIT_STEPS, len(tokens))
    rel = max(float((logits[t] - hf[t]).abs().max() / hf[t].abs().max()) for t in range(steps))
    return agree, len(tokens), margin, rel, ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--generate", required=True)
    ap.add_argument("--out", default=".")
    ap.add_argument("--families", default=",".join(family_specs()))
    ap.add_argument("--backends", default="cuda,cpu")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = "cuda" if torch.cuda.is_available() else "cpu"
    g = torch.Generator().manual_seed(args.seed)
    prompts = {
        "bos": [1],
        "short": [1] + torch.randint(3, VOCAB, (6,), generator=g).tolist(),
        "long": [1] + torch.randint(3, VOCAB, (39,), generator=g).tolist(),  # Past the sliding windows.
    }
    specs = family_specs()
    rows, failures = [], 0
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, HF on {device}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.families.split(","):
            spec = specs[name]
            model, why = build_model(name, spec, args.seed)
            if model is None:
                rows.append(f"| {name} | - | - | skipped: {why} | | | |")
                print(f"{name}: skipped ({why})")
                continue
            model.to(device)
            path = os.path.join(tmp, f"{name}.gguf")
            write_gguf(name, spec, model, path)
            for backend in args.backends.split(","):
                for pname, prompt in prompts.items():
                    try:
                        logits = run_ggrt(args.generate, path, prompt, backend, tmp)
                        agree, n, margin, rel, ok = compare(model, prompt, logits, device)
                        ok &= rel < TOLERANCE[backend]
                        first = "none" if margin is None else f"at {agree}, HF margin {margin:.2e}"
                        verdict = "PASS" if ok else "FAIL"
                    except Exception as e:  # A failed run is a failure of this row, not of the harness.
                        agree, n, first, rel, ok, verdict = 0, N_PREDICT, f"error: {e}", float("nan"), False, "FAIL"
                    failures += not ok
                    row = f"| {name} | {backend} | {pname} ({len(prompt)}) | {agree}/{n} | {first} | {rel:.2e} | {verdict} |"
                    rows.append(row)
                    print(row, flush=True)
            model.to("cpu")
    table = ["| family | backend | prompt (tokens) | tokens agreeing | first difference | max rel logit err "
             f"(first {LOGIT_STEPS}) | verdict |", "|---|---|---|---|---|---|---|"] + rows
    summary = "\n".join(table) + f"\n\n{failures} failed\n"
    with open(os.path.join(args.out, "hf_parity.md"), "w") as f:
        f.write(f"transformers {transformers.__version__}, torch {torch.__version__}\n\n" + summary)
    print(summary)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
