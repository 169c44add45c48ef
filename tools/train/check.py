#!/usr/bin/env python3
"""Check that llama.cpp serves the model exactly as train.py trains it.

    scripts/env.sh python3 tools/train/check.py tokens GGUF_TEXT
    scripts/env.sh python3 tools/train/check.py logits [CKPT] [--json OUT]

tokens: every training question and a sample of answers, tokenized by
  SentencePiece (as in training) and by llama.cpp's tokenizer from the GGUF
  (llama-tokenize), must give the same ids.
logits: a checkpoint (default: a fresh random one with large weights, so
  outputs are peaked and image-dependent) is exported with export.py, served
  by llama-server, and the next-token log-probabilities after the real
  prompt layout are compared with Hugging Face's, image by image. Agreement
  means the converter, the image preprocessing, the projector and the
  prompt layout (tokenizer.prompt_ids) all match. With --json, the largest
  difference is also written to OUT (docs/model.md names
  bench/results/model-check.json) with the command and the checkpoint.
"""
from __future__ import annotations

import base64
import io
import json
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import shapes  # noqa: E402
import tokenizer as tok  # noqa: E402


def check_tokens(gguf_text: str) -> int:
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(HERE / "tokenizer" / "tokenizer.model"))
    rng = random.Random(5)
    lines = tok.all_questions() + [shapes.describe(shapes.random_scene(rng).objects)
                                   for _ in range(300)]
    lines += ["user", "model", "what colour is the circle", "Hello, zebra! 42"]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(lines))
    r = subprocess.run(["llama-tokenize", "-m", gguf_text, "-f", f.name, "--ids", "--no-bos",
                        "--log-disable"], capture_output=True, text=True, check=True)
    ids = json.loads(r.stdout.strip().splitlines()[-1])
    ours = []
    for i, line in enumerate(lines):
        ours += sp.encode(line) + ([sp.piece_to_id("\n")] if i + 1 < len(lines) else [])
    if ids != ours:
        n = next(i for i, (a, b) in enumerate(zip(ids, ours)) if a != b)
        print(f"MISMATCH at token {n}: llama {ids[n - 5:n + 5]} ours {ours[n - 5:n + 5]}")
        return 1
    print(f"tokens: {len(lines)} lines, {len(ids)} ids, identical")
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port: int, path: str, body: dict) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def start_server(text: Path, mmproj: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(["llama-server", "-m", str(text), "--mmproj", str(mmproj), "--port",
                             str(port), "-t", "1", "-c", "1024", "--no-webui"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc, port
        except Exception:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("llama-server did not start")


def random_checkpoint(out: Path) -> None:
    import torch
    import train

    torch.manual_seed(0)
    sp = train.load_sp()
    model = train.build_model(train.CONFIG, sp.get_piece_size())
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                p.normal_(0, 0.08)
            elif "norm" in name and "vision" not in name:
                p.normal_(0, 0.3)  # gemma norms are 1 + w
    model.save_pretrained(out, max_shard_size="12MB")
    for f in ("tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"):
        (out / f).write_bytes((HERE / "tokenizer" / f).read_bytes())
    pre = {"image_mean": [0.5] * 3, "image_std": [0.5] * 3, "image_seq_length": 16}
    (out / "preprocessor_config.json").write_text(json.dumps(pre))


def check_logits(ckpt: Path | None) -> float:
    import torch
    from transformers import Gemma3ForConditionalGeneration
    import train

    tmp = Path(tempfile.mkdtemp())
    if ckpt is None:
        ckpt = tmp / "ckpt"
        random_checkpoint(ckpt)
    subprocess.run([sys.executable, str(HERE / "export.py"), str(ckpt), "--out", str(tmp)],
                   check=True, stdout=subprocess.DEVNULL)
    model = Gemma3ForConditionalGeneration.from_pretrained(ckpt).eval()
    sp = train.load_sp()
    proc, port = start_server(tmp / "vigil-shapes-text.gguf", tmp / "vigil-shapes-mmproj.gguf")
    worst = 0.0
    try:
        # llama-server picks a random media marker per run (/props says which)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/props", timeout=10) as r:
            marker = json.loads(r.read())["media_marker"]
        rng = random.Random(11)
        for i in range(4):
            img = shapes.render(shapes.random_scene(rng))
            buf = io.BytesIO()
            img.save(buf, "PNG")
            q = ["What is in this image?", "How many circles are there?"][i % 2]
            # what vigil sends: the Gemma turn with the marker, a newline, the question
            prompt = f"<start_of_turn>user\n{marker}\n{q}<end_of_turn>\n<start_of_turn>model\n"
            r = post(port, "/completion", {
                "prompt": {"prompt_string": prompt,
                           "multimodal_data": [base64.b64encode(buf.getvalue()).decode()]},
                "n_predict": 1, "temperature": 0, "n_probs": 5, "cache_prompt": False})
            top = r["completion_probabilities"][0]["top_logprobs"]
            ids = torch.tensor([tok.prompt_ids(sp, q, 16, "vigil")])
            px = torch.from_numpy(np.asarray(img, dtype=np.float32)).permute(2, 0, 1)[None] / 127.5 - 1
            with torch.no_grad():
                logits = model(input_ids=ids, pixel_values=px,
                               token_type_ids=(ids == tok.IMG).long()).logits[0, -1]
            hf = torch.log_softmax(logits.float(), -1)
            for t in top:
                d = abs(hf[t["id"]].item() - t["logprob"])
                worst = max(worst, d)
            print(f"image {i}: llama top {[(t['id'], round(t['logprob'], 3)) for t in top[:3]]} "
                  f"hf {[(int(j), round(hf[j].item(), 3)) for j in hf.topk(3).indices]}")
    finally:
        proc.terminate()
        proc.wait()
    print(f"largest log-prob difference: {worst:.4f}")
    return worst


def main() -> int:
    argv = sys.argv[1:]
    json_out = None
    if "--json" in argv:
        i = argv.index("--json")
        json_out, argv = Path(argv[i + 1]), argv[:i] + argv[i + 2:]
    if len(argv) >= 2 and argv[0] == "tokens":
        return check_tokens(argv[1])
    if len(argv) >= 1 and argv[0] == "logits":
        ckpt = Path(argv[1]) if len(argv) > 1 else None
        worst = check_logits(ckpt)
        if json_out:
            json_out.write_text(json.dumps({
                "script": "tools/train/check.py", "command": "python3 tools/train/check.py "
                + " ".join(sys.argv[1:]), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "checkpoint": str(ckpt) if ckpt else "random", "largest_logprob_difference": round(worst, 4),
                "tolerance": 0.1}, indent=1) + "\n")
        return 0 if worst < 0.1 else 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
