"""The exact language-model input and decoding settings of every protocol, on a few fixed fixture samples.

A prompt template, a question transform, a tokenizer change or a padding-side slip moves scores without any error,
and it hides inside code paths (processor, truncation, special tokens) that no config diff shows. So for each
`conf/protocol/*.yaml` this renders, with that family's tiny model (same tokenizer layout as the real
checkpoints), the text each sample becomes, the token ids the processor feeds the LM (image tokens included, as
`harness.eval.evaluator.encode_batch` builds them, alone and padded together), and the GenerationConfig fields
`harness.eval.evaluator.generation_config` passes to `generate`. The result is committed (tests/snapshots/prompts/) and
compared by a test.

This file only uses APIs present since the first commit, so `harness.prompts diff` can copy it into an older
checkout and render that checkout's prompts with it (`python -m harness.prompt_snapshot OUT_DIR [PROTOCOL...]`).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

N_SAMPLES = 4
FIXTURE_DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data"
DECODING_FIELDS = (
    "bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id", "num_beams", "do_sample",
    "max_new_tokens", "min_new_tokens", "length_penalty", "repetition_penalty", "early_stopping",
    "num_return_sequences",
)


def dumps(obj: Any, indent: int = 0) -> str:
    """JSON with one key per line but flat lists on one line, so a diff shows the sample and field that changed."""
    pad = " " * indent
    if isinstance(obj, dict) and obj:
        body = ",\n".join(f"{pad} {json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in obj.items())
        return "{\n" + body + "\n" + pad + "}"
    if isinstance(obj, list) and any(isinstance(x, dict | list) for x in obj):
        body = ",\n".join(f"{pad} {dumps(v, indent + 1)}" for v in obj)
        return "[\n" + body + "\n" + pad + "]"
    return json.dumps(obj, ensure_ascii=False)


def _generate_fixture(task_name: str, root: Path) -> None:
    """Default-size synthetic data for a task with none committed (nothing, if the generator lacks the task)."""
    from harness.errors import HarnessError
    from harness.fixtures import main

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            main([task_name, "--out", str(root)])
    except (HarnessError, SystemExit):
        pass


def _samples(task_name: str, overrides: list[str], scratch: Path) -> tuple[Any, Any, list[Any], str]:
    """The task, config and first samples: the committed fixture data, else a default fixture generated now."""
    from harness.config import compose
    from harness.errors import HarnessError
    from tasks import get_task

    for root, label in ((FIXTURE_DATA, "fixtures/data"), (scratch / task_name, f"harness.fixtures {task_name}")):
        if root != FIXTURE_DATA and not root.exists():
            _generate_fixture(task_name, root)
        cfg = compose([*overrides, f"task.data_root={root}"])
        task = get_task(cfg.task, cfg.protocol)
        try:
            return cfg, task, task.load()[:N_SAMPLES], label
        except HarnessError:
            continue
    return cfg, task, [], "no fixture data"


def render(protocol: str, models: dict[str, Any], scratch: Path) -> dict[str, Any]:
    """The snapshot of one protocol (`models` caches one loaded tiny model per family)."""
    import yaml

    from harness.config import CONF_DIR
    from harness.eval.evaluator import encode_batch, generation_config
    from harness.models.loader import load_model
    from tasks.base import open_image

    spec = yaml.safe_load((CONF_DIR / "protocol" / f"{protocol}.yaml").read_text(encoding="utf-8"))
    family, task_name = spec["family"], spec["task"]
    overrides = [f"model=tiny-{family}", f"task={task_name}", f"protocol={protocol}"]
    cfg, task, samples, data = _samples(task_name, overrides, scratch)
    if family not in models:
        models[family] = load_model(cfg.model, cfg.protocol.image, cfg.protocol.precision, "cpu")
    loaded = models[family]
    max_tokens = cfg.protocol.prompt.max_prompt_tokens
    tokenizer = loaded.processor.tokenizer
    out: dict[str, Any] = {"protocol": protocol, "model": f"tiny-{family}", "data": data, "samples": []}
    prompts = [task.prompt(s) for s in samples]
    images = [open_image(s) for s in samples]
    for sample, text, image in zip(samples, prompts, images, strict=True):
        ids = encode_batch(loaded, [image], [text], max_tokens)["input_ids"][0].tolist()
        text_ids = [i for i in ids if i != loaded.image_token_index]
        out["samples"].append({"sample_id": sample.sample_id, "text": text, "input_ids": ids,
                               "tokens": tokenizer.convert_ids_to_tokens(text_ids)})
    if samples:
        batch = encode_batch(loaded, images, prompts, max_tokens)
        out["batch"] = {"input_ids": batch["input_ids"].tolist(), "attention_mask": batch["attention_mask"].tolist()}
    settings = generation_config(loaded, cfg.protocol.decoding).to_dict()
    out["decoding"] = {k: settings.get(k) for k in DECODING_FIELDS}
    out["decoding"]["length_normaliser"] = cfg.protocol.decoding.length_normaliser  # applied around generate()
    return out


def render_all(protocols: list[str] | None = None) -> dict[str, str]:
    """{protocol: snapshot text} for every protocol (or those named)."""
    from harness.config import available

    models: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="prompt-fixtures-") as scratch:
        return {p: dumps(render(p, models, Path(scratch))) + "\n" for p in protocols or available("protocol")}


def write_all(out_dir: Path, snapshots: dict[str, str]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in snapshots.items():
        (out_dir / f"{name}.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    write_all(Path(sys.argv[1]), render_all(sys.argv[2:] or None))
