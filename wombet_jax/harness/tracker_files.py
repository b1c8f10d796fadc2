"""What a tracker's files hold, read back without the tracker: TensorBoard event files (no
tensorflow or tensorboard needed; tensorboardX's protobufs) and W&B `.wandb` run files (wandb's
record format, decoded by its own protobufs).

The writers (`writers.py`) read their runs back with these on every start, so a resumed run
logs only what its files do not hold yet; the tests read what a run logged with them.
"""
from __future__ import annotations

import glob
import importlib.util
import json
import os
import struct
import zlib
from typing import Any, Iterator, Mapping, Sequence


# --- reading event files back (no tensorflow/tensorboard needed) ------------------------------
def event_files(logdir: str) -> list[str]:
  return sorted(glob.glob(os.path.join(glob.escape(logdir), "events.out.tfevents.*")))


def read_records(path: str) -> Iterator[bytes]:
  """The records of a TFRecord file: length (uint64), its masked crc32c, data, the data's
  masked crc32c. Stops at a record cut short or corrupted (a run killed while writing)."""
  from tensorboardX.record_writer import masked_crc32c
  with open(path, "rb") as f:
    data = f.read()
  pos = 0
  while pos + 12 <= len(data):
    header = data[pos:pos + 8]
    (n,) = struct.unpack("<Q", header)
    (header_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
    end = pos + 12 + n + 4
    if header_crc != masked_crc32c(header) or end > len(data):
      return
    body = data[pos + 12:pos + 12 + n]
    if struct.unpack("<I", data[end - 4:end])[0] != masked_crc32c(body):
      return
    yield body
    pos = end


def read_tensorboard(logdir: str) -> dict[str, list[tuple[int, Any]]]:
  """{tag: [(step, value), ...]} over every event file in `logdir`, in file order: a float
  for scalars, {"num", "sum", "min", "max"} for histograms, the string for text."""
  from tensorboardX.proto import event_pb2
  out: dict[str, list[tuple[int, Any]]] = {}
  for path in event_files(logdir):
    for record in read_records(path):
      event = event_pb2.Event.FromString(record)
      for v in event.summary.value:
        kind = v.WhichOneof("value")
        if kind == "simple_value":
          value: Any = v.simple_value
        elif kind == "histo":
          value = {"num": v.histo.num, "sum": v.histo.sum, "min": v.histo.min,
                   "max": v.histo.max}
        elif kind == "tensor" and v.tensor.string_val:
          value = v.tensor.string_val[0].decode()
        else:
          continue
        out.setdefault(v.tag, []).append((int(event.step), value))
  return out


# --- reading W&B run files back (wandb's record format, decoded by its own protobufs) ---------
WANDB_BLOCK = 32768   # the .wandb file is a LevelDB-style log: 32 KiB blocks of records,
WANDB_HEADER = 7      # each record behind (crc32 of type + data, length, type); the file
WANDB_MAGIC = b":W&B"  # starts with ":W&B", a 2-byte magic and a version byte


def wandb_records(path: str) -> Iterator[Any]:
  """The `wandb_internal_pb2.Record`s of one `.wandb` file, in order. Stops at a record cut
  short or corrupted (a run killed while writing)."""
  from wandb.proto import wandb_internal_pb2
  with open(path, "rb") as f:
    data = f.read()
  if data[:len(WANDB_MAGIC)] != WANDB_MAGIC:
    return
  pos, pending = WANDB_HEADER, b""
  while pos + WANDB_HEADER <= len(data):
    left = WANDB_BLOCK - pos % WANDB_BLOCK
    if left < WANDB_HEADER:  # a block's tail too short for a header is padding
      pos += left
      continue
    crc, n, kind = struct.unpack("<IHB", data[pos:pos + WANDB_HEADER])
    body = data[pos + WANDB_HEADER:pos + WANDB_HEADER + n]
    if len(body) < n or zlib.crc32(body, zlib.crc32(bytes([kind]))) != crc:
      return
    pos += WANDB_HEADER + n
    if kind == 1:    # a whole record
      yield wandb_internal_pb2.Record.FromString(body)
    elif kind == 2:  # its first, middle and last pieces across blocks
      pending = body
    elif kind == 3:
      pending += body
    elif kind == 4:
      yield wandb_internal_pb2.Record.FromString(pending + body)
      pending = b""


def wandb_run_files(wandb_dir: str, run_id: str) -> list[str]:
  """The `.wandb` files of run `run_id` under `wandb_dir` (one per process that opened it),
  oldest first (the folders are named by start time)."""
  folders = glob.glob(os.path.join(glob.escape(wandb_dir), f"*run-*-{run_id}"))
  return sorted(f for d in sorted(folders) if not os.path.islink(d)
                for f in glob.glob(os.path.join(glob.escape(d), f"run-{run_id}.wandb")))


def read_wandb(wandb_dir: str, run_id: str) -> list[dict[str, Any]]:
  """The history rows ({key: value}, `_step` included) that run `run_id`'s files hold, in
  file order; nested keys are '/'-joined. Empty when there are none (or wandb is absent)."""
  files = wandb_run_files(wandb_dir, run_id)
  if not files or importlib.util.find_spec("wandb") is None:
    return []
  rows = []
  for path in files:
    for record in wandb_records(path):
      if record.WhichOneof("record_type") == "history":
        rows.append({(i.key or "/".join(i.nested_key)): json.loads(i.value_json)
                     for i in record.history.item})
  return rows


def wandb_last_steps(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
  """{tag: last step (its phase's `<phase>/step`) at which the rows hold it}."""
  last: dict[str, int] = {}
  for row in rows:
    for tag in row:
      phase = tag.split("/")[0]
      if tag.startswith("_") or f"{phase}/step" not in row:
        continue
      last[tag] = max(last.get(tag, -1), int(row[f"{phase}/step"]))
  return last
