#!/usr/bin/python3
"""Python baseline of `turnwise bench model` (b): one SFT-like training step of the reference
Llama/Qwen2 model (hf_reference.CausalLM, the same architecture and config as Turnwise's
TransformerLM): forward over [batch, seq] tokens, cross-entropy on the last `response` positions
(lm_head only there), backward, AdamW step. Prints one JSON line with the median step time.

  /usr/bin/python3 train_step_bench.py --config config.json --batch 8 --seq 256 --response 128 \
      --threads 2 --steps 5
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--response", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    with open(args.config) as f:
        cfg = json.load(f)
    model = hf_reference.CausalLM(cfg)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.fill_(1.0)
            elif name.endswith(".bias"):
                param.zero_()
            else:
                param.normal_(0.0, 0.02)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    vocab = cfg["vocab_size"]
    ids = torch.randint(0, vocab, (args.batch, args.seq))
    prompt = args.seq - args.response
    targets = ids[:, prompt:]
    weight = lambda: (model.model.embed_tokens.weight if model.tied else model.lm_head.weight)

    def hidden_states(input_ids):
        # CausalLM.forward without the lm_head, so the head runs on response positions only
        # (as the C++ step does).
        b, t = input_ids.shape
        mask = torch.ones(b, t, dtype=torch.long)
        position_ids = mask.cumsum(-1) - 1
        x = model.model.embed_tokens(input_ids)
        freqs = position_ids[:, :, None].float() * model.inv_freq.float()[None, None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        additive = torch.full((t, t), torch.finfo(x.dtype).min, dtype=x.dtype).triu(1)[None, None]
        for layer in model.model.layers:
            x = layer(x, cos, sin, additive)
        return model.model.norm(x)

    def step():
        opt.zero_grad(set_to_none=True)
        h = hidden_states(ids)[:, prompt - 1:args.seq - 1]
        logits = F.linear(h, weight()).float()
        loss = F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1))
        loss.backward()
        opt.step()
        return loss.item()

    step()  # warm-up
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(json.dumps({"median_step_s": med, "tokens_per_s": args.batch * args.seq / med,
                      "threads": torch.get_num_threads(), "torch": torch.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
