#!/usr/bin/env python3
"""The llama.cpp side of the local-model benchmark (benches/local_model.rs; docs/performance.md).

Run by the benchmark, inside the virtualenv that scripts/install-llama-cpp.sh builds (the pinned
`llama-cpp-python`, compiled here for this CPU). It reads the same GGUF and the *same token ids*
as our side (a JSON file the benchmark writes), with 2 threads and a float32 KV cache (as ours),
and prints one JSON line:

    {"prompt_tokens": N, "prompt_secs": s, "decode_tokens": M, "decode_secs": s}

- prompt: one evaluation of the N prompt ids from an empty cache (llama.cpp batches them, 512 at
  a time), timed from the call to its return;
- decode: after a short prompt, M greedy steps of one token each (argmax of the last logits,
  evaluate it), timed over the M steps only.

Nothing of llama.cpp ships or runs in `make test`.

    python scripts/bench-llama-cpp.py <model.gguf> <ids.json> <threads>
"""

import json
import sys
import time

import llama_cpp


def main():
    model, ids_path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ids = json.load(open(ids_path))
    llm = llama_cpp.Llama(
        model_path=model,
        n_ctx=2048,
        n_batch=512,
        n_threads=threads,
        n_threads_batch=threads,
        type_k=llama_cpp.GGML_TYPE_F32,
        type_v=llama_cpp.GGML_TYPE_F32,
        verbose=False,
    )
    prompt = ids["prompt"]
    # One warm-up pass (page in the weights), then the timed ones; the best of `runs` is kept.
    runs = ids.get("runs", 3)
    llm.reset()
    llm.eval(prompt[:32])
    best_prompt = None
    for _ in range(runs):
        llm.reset()
        started = time.perf_counter()
        llm.eval(prompt)
        secs = time.perf_counter() - started
        best_prompt = secs if best_prompt is None else min(best_prompt, secs)

    short, steps = ids["decode_prompt"], ids["decode_tokens"]
    best_decode = None
    for _ in range(runs):
        llm.reset()
        llm.eval(short)
        started = time.perf_counter()
        for _ in range(steps):
            row = llm.scores[llm.n_tokens - 1]
            token = int(row.argmax())
            llm.eval([token])
        secs = time.perf_counter() - started
        best_decode = secs if best_decode is None else min(best_decode, secs)
    print(json.dumps({
        "prompt_tokens": len(prompt),
        "prompt_secs": best_prompt,
        "decode_tokens": steps,
        "decode_secs": best_decode,
    }))


if __name__ == "__main__":
    main()
