"""The worker protocol's wire format (docs/protocol.md; src/protocol/ is the
C++ reference): frames, and the messages a worker sends and reads.

A frame: u32 LE body_length, then the body: u8 type, u32 LE header_length,
header_length bytes of a UTF-8 JSON object, the rest the payload (images).
`FrameDecoder` is incremental; any malformed input poisons it for good (the
peer is broken: never resynchronise). Message parsers check type, range and
presence of every field they read and ignore unknown fields.

Thread-safety: none; a decoder belongs to one reader thread. The encoders
are pure functions.
"""
from __future__ import annotations

import dataclasses
import enum
import json
import math
import struct
from typing import Any

from vigil_worker.engine import ContentPart, Message, ModelInfo, SamplingParams

PROTOCOL_VERSION = 2
MAX_HEADER_BYTES = 1 << 20
MAX_PAYLOAD_BYTES = 128 << 20
MAX_FRAME_BYTES = 1 + 4 + MAX_HEADER_BYTES + MAX_PAYLOAD_BYTES
MAX_JOB_IMAGES = 64
MAX_I64 = (1 << 63) - 1
MAX_U64 = (1 << 64) - 1


class MessageType(enum.IntEnum):
    HELLO = 1
    LOADED = 2
    JOB = 3
    CANCEL = 4
    PROGRESS = 5
    PIECE = 6
    DONE = 7
    FAILED = 8
    HEARTBEAT = 9
    SHUTDOWN = 10


class ProtocolError(Exception):
    """The peer broke the protocol (a malformed frame or message)."""


@dataclasses.dataclass
class Frame:
    type: MessageType
    header: dict[str, Any]
    payload: bytes = b""


def encode_frame(frame: Frame) -> bytes:
    """Serialises a frame. Raises ValueError past the size limits (a bug of the caller)."""
    header = json.dumps(frame.header, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")
    if len(header) > MAX_HEADER_BYTES or len(frame.payload) > MAX_PAYLOAD_BYTES:
        raise ValueError("frame too large")
    body = 1 + 4 + len(header) + len(frame.payload)
    return struct.pack("<IBI", body, int(frame.type), len(header)) + header + frame.payload


class FrameDecoder:
    """Feed it bytes as they arrive; `next()` returns a frame, None (needs
    more bytes) or raises ProtocolError (then always)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._poisoned: ProtocolError | None = None

    def feed(self, data: bytes) -> None:
        if self._poisoned is None:
            self._buffer += data

    def _fail(self, what: str) -> ProtocolError:
        self._poisoned = ProtocolError("malformed frame: " + what)
        return self._poisoned

    def next(self) -> Frame | None:
        if self._poisoned is not None:
            raise self._poisoned
        buf = self._buffer
        if len(buf) < 4:
            return None
        (body,) = struct.unpack_from("<I", buf, 0)
        if body < 1 + 4 + 2 or body > MAX_FRAME_BYTES:
            raise self._fail("body length %d" % body)
        # The type and header length are checked as soon as they arrive, so a
        # garbage stream is rejected after a few bytes, not after 128 MiB.
        if len(buf) >= 5 and buf[4] not in MessageType._value2member_map_:
            raise self._fail("unknown type %d" % buf[4])
        if len(buf) >= 9:
            (hlen,) = struct.unpack_from("<I", buf, 5)
            if hlen < 2 or hlen > MAX_HEADER_BYTES or hlen > body - 5:
                raise self._fail("header length %d" % hlen)
        if len(buf) < 4 + body:
            return None
        (hlen,) = struct.unpack_from("<I", buf, 5)
        try:
            header = json.loads(bytes(buf[9:9 + hlen]).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            header = None
        if not isinstance(header, dict):
            raise self._fail("header is not a JSON object")
        frame = Frame(MessageType(buf[4]), header, bytes(buf[9 + hlen:4 + body]))
        del buf[:4 + body]
        return frame


# --- field validation ------------------------------------------------------------

class _Fields:
    """Reads typed fields of one header object; raises ProtocolError naming the field."""

    def __init__(self, obj: dict[str, Any], where: str):
        self.obj, self.where = obj, where

    def _get(self, key: str, required: bool) -> Any:
        value = self.obj.get(key)
        if value is None and required:
            raise ProtocolError("malformed %s.%s is missing" % (self.where, key))
        return value

    def _bad(self, key: str, why: str) -> ProtocolError:
        return ProtocolError("malformed %s.%s %s" % (self.where, key, why))

    def int(self, key: str, default: int, lo: int, hi: int, required: bool = False) -> int:
        v = self._get(key, required)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            raise self._bad(key, "is not an integer")
        if v < lo or v > hi:
            raise self._bad(key, "is out of range")
        return v

    def float(self, key: str, default: float, lo: float, hi: float) -> float:
        v = self._get(key, False)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self._bad(key, "is not a number")
        if not math.isfinite(v) or v < lo or v > hi:
            raise self._bad(key, "is out of range")
        return float(v)

    def str(self, key: str, default: str = "", required: bool = False, max_len: int = MAX_HEADER_BYTES) -> str:
        v = self._get(key, required)
        if v is None:
            return default
        if not isinstance(v, str):
            raise self._bad(key, "is not a string")
        if len(v.encode("utf-8", "surrogatepass")) > max_len:
            raise self._bad(key, "is too long")
        return v

    def bool(self, key: str, default: bool) -> bool:
        v = self._get(key, False)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise self._bad(key, "is not a boolean")
        return v

    def obj_(self, key: str, required: bool = False) -> dict[str, Any] | None:
        v = self._get(key, required)
        if v is not None and not isinstance(v, dict):
            raise self._bad(key, "is not an object")
        return v

    def list_(self, key: str) -> list[Any] | None:
        v = self._get(key, False)
        if v is not None and not isinstance(v, list):
            raise self._bad(key, "is not an array")
        return v


# --- supervisor -> worker -----------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class FaultSpec:
    kind: str
    at: str = "before_first_token"   # before_first_token | after_tokens
    after_tokens: int = 0
    exit_code: int = 1


@dataclasses.dataclass(frozen=True)
class JobMessage:
    job_id: int
    prompt: str
    params: SamplingParams
    max_image_pixels: int = 0
    fault: FaultSpec | None = None
    messages: tuple[Message, ...] = ()
    resume_tokens: tuple[int, ...] = ()
    images: tuple[bytes, ...] = ()


@dataclasses.dataclass(frozen=True)
class CancelMessage:
    job_id: int


@dataclasses.dataclass(frozen=True)
class ShutdownMessage:
    pass


def _parse_params(p: dict[str, Any]) -> SamplingParams:
    f = _Fields(p, "job.params")
    stop = f.list_("stop") or []
    if len(stop) > 16:
        raise ProtocolError("malformed job.params.stop has too many entries")
    if any(not isinstance(s, str) or not s for s in stop):
        raise ProtocolError("malformed job.params.stop holds a non-string or empty entry")
    return SamplingParams(max_tokens=f.int("max_tokens", 256, 0, 1 << 24),
                          temperature=f.float("temperature", 0.0, 0, 100), top_p=f.float("top_p", 1.0, 0, 1),
                          top_k=f.int("top_k", 0, 0, 1 << 20), seed=f.int("seed", 0, 0, MAX_U64),
                          stop=tuple(stop), ignore_eos=f.bool("ignore_eos", False))


def _parse_messages(items: list[Any]) -> tuple[Message, ...]:
    if len(items) > 4096:
        raise ProtocolError("malformed job.messages: too many")
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise ProtocolError("malformed job.messages: not an object")
        f = _Fields(item, "job.messages[]")
        role = f.str("role", required=True, max_len=64)
        content = f.list_("content")
        if content is None:
            raise ProtocolError("malformed job.messages[].content is missing")
        parts = []
        for part in content:
            if not isinstance(part, dict):
                raise ProtocolError("malformed job.messages[].content: not an object")
            pf = _Fields(part, "job.messages[].content[]")
            kind = pf.str("type", required=True, max_len=16)
            if kind == "text":
                parts.append(ContentPart("text", pf.str("text", required=True)))
            elif kind == "image":
                parts.append(ContentPart("image"))
            else:
                raise ProtocolError("malformed job.messages[].content[].type is neither text nor image")
        out.append(Message(role, tuple(parts)))
    return tuple(out)


def _split_images(sizes: list[Any], payload: bytes) -> tuple[bytes, ...]:
    if len(sizes) > MAX_JOB_IMAGES:
        raise ProtocolError("malformed job.images: too many")
    out, at = [], 0
    for s in sizes:
        n = s.get("bytes") if isinstance(s, dict) else None
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0 or n > len(payload) - at:
            raise ProtocolError("malformed job.images[].bytes")
        out.append(payload[at:at + n])
        at += n
    if at != len(payload):
        raise ProtocolError("malformed job.images: sizes do not cover the payload")
    return tuple(out)


def parse_job(frame: Frame) -> JobMessage:
    f = _Fields(frame.header, "job")
    job_id = f.int("job", 0, 0, MAX_U64, required=True)
    prompt = f.str("prompt", required=True)
    max_pixels = f.int("max_image_pixels", 0, 0, MAX_I64)
    resume = f.list_("resume_tokens") or []
    if len(resume) > 1 << 20 or any(isinstance(t, bool) or not isinstance(t, int) or not 0 <= t <= 0x7FFFFFFF
                                    for t in resume):
        raise ProtocolError("malformed job.resume_tokens holds a value that is not a token id")
    params = _parse_params(f.obj_("params", required=True) or {})
    fault = None
    if (fj := f.obj_("fault")) is not None:
        ff = _Fields(fj, "job.fault")
        fault = FaultSpec(ff.str("kind", required=True, max_len=64), ff.str("at", "before_first_token", max_len=64),
                          ff.int("after_tokens", 0, 0, 1 << 24), ff.int("exit_code", 1, 0, 255))
    messages = _parse_messages(m) if (m := f.list_("messages")) is not None else ()
    if (sizes := f.list_("images")) is not None:
        images = _split_images(sizes, frame.payload)
    else:
        images = (frame.payload,) if frame.payload else ()
    return JobMessage(job_id, prompt, params, max_pixels, fault, messages, tuple(resume), images)


def parse_cancel(frame: Frame) -> CancelMessage:
    return CancelMessage(_Fields(frame.header, "cancel").int("job", 0, 0, MAX_U64, required=True))


def parse_supervisor_frame(frame: Frame) -> JobMessage | CancelMessage | ShutdownMessage:
    """What a worker reads. Raises ProtocolError for a malformed message or a
    frame type a supervisor never sends."""
    if frame.type == MessageType.JOB:
        return parse_job(frame)
    if frame.type == MessageType.CANCEL:
        return parse_cancel(frame)
    if frame.type == MessageType.SHUTDOWN:
        return ShutdownMessage()
    raise ProtocolError("unexpected %s frame from the supervisor" % frame.type.name.lower())


# --- worker -> supervisor -----------------------------------------------------------

def hello(engine: str, pid: int) -> Frame:
    return Frame(MessageType.HELLO, {"protocol": PROTOCOL_VERSION, "engine": engine[:64], "pid": pid})


def loaded(load_ms: float, info: ModelInfo, capacity: int) -> Frame:
    model = {k: v for k, v in dataclasses.asdict(info).items() if k != "capacity"}
    return Frame(MessageType.LOADED, {"load_ms": load_ms, "capacity": capacity, "model": model})


def progress(job_id: int, phase: str, done: int, total: int, image: int = 0) -> Frame:
    header: dict[str, Any] = {"job": job_id, "phase": phase, "done": done, "total": total}
    if image > 0:
        header["image"] = image
    return Frame(MessageType.PROGRESS, header)


def piece(job_id: int, text: str, tokens: list[int]) -> Frame:
    header: dict[str, Any] = {"job": job_id, "text": text}
    if tokens:
        header["tokens"] = tokens
    return Frame(MessageType.PIECE, header)


def done(job_id: int, text: str, finish_reason: str, prompt_tokens: int, completion_tokens: int,
         timings: dict[str, float], images: list[dict[str, Any]], device_memory_free: int = 0) -> Frame:
    header: dict[str, Any] = {
        "job": job_id, "text": text, "finish_reason": finish_reason,
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        "timings": timings,
    }
    if device_memory_free > 0:
        header["device_memory_free"] = device_memory_free
    if images:
        header["image"] = images[0]
        header["images"] = images
    return Frame(MessageType.DONE, header)


def failed(job_id: int, code: str, message: str) -> Frame:
    return Frame(MessageType.FAILED, {"job": job_id, "code": str(code), "message": message[:60000]})


def heartbeat(phase: str, job_id: int, progress_counter: int) -> Frame:
    return Frame(MessageType.HEARTBEAT, {"phase": phase, "job": job_id, "progress": progress_counter})
