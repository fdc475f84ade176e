"""Task registry: one module per benchmark."""

from __future__ import annotations

from omegaconf import DictConfig

from harness.errors import HarnessError
from tasks.base import Sample, Task
from tasks.coco_caption import CocoCaptionTask
from tasks.flickr30k import Flickr30kTask
from tasks.gqa import GQATask
from tasks.nocaps import NoCapsTask
from tasks.okvqa import OKVQATask
from tasks.vqav2 import VQAv2Task
from tasks.vqav2_testdev import VQAv2TestDevTask

TASKS: dict[str, type[Task]] = {
    t.name: t for t in (VQAv2Task, Flickr30kTask, OKVQATask, GQATask, CocoCaptionTask, NoCapsTask, VQAv2TestDevTask)
}

__all__ = ["TASKS", "Sample", "Task", "get_task"]


def get_task(task_cfg: DictConfig, protocol_cfg: DictConfig) -> Task:
    if task_cfg.name not in TASKS:
        raise HarnessError(f"unknown task {task_cfg.name!r}; choices: {', '.join(TASKS)}")
    return TASKS[task_cfg.name](task_cfg, protocol_cfg)
