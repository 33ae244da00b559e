"""A small GGUF (v3) writer for test models: metadata of the common scalar types, string and numeric
arrays, and F32/F16 tensors given as raw little-endian bytes. Standard library only, so it also runs
where numpy and torch are absent; hf_parity.py passes it tensor bytes from torch.

    w = GgufWriter()
    w.add("general.architecture", "llama")
    w.add("llama.block_count", 2, "u32")
    w.add_tensor("token_embd.weight", "f16", [512, 256], raw_bytes)   # shape as in PyTorch: [rows, cols]
    w.write("model.gguf")
"""

import struct

_ALIGNMENT = 32
_SCALARS = {  # name: (GGUF value type, struct format)
    "u8": (0, "<B"), "i8": (1, "<b"), "u16": (2, "<H"), "i16": (3, "<h"), "u32": (4, "<I"), "i32": (5, "<i"),
    "f32": (6, "<f"), "bool": (7, "<?"), "u64": (10, "<Q"), "i64": (11, "<q"), "f64": (12, "<d"),
}
_STRING, _ARRAY = 8, 9
_TENSOR_TYPES = {"f32": (0, 4), "f16": (1, 2)}  # ggml type id, bytes per element


def _string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


class GgufWriter:
    def __init__(self):
        self._kv = []       # (key, encoded type + value)
        self._tensors = []  # (name, ggml type, GGUF dims, bytes)

    def add(self, key, value, kind=None):
        """A scalar (kind from _SCALARS; str and bool are inferred), a string, or a list of strings or of
        scalars of `kind`."""
        if isinstance(value, str):
            body = struct.pack("<I", _STRING) + _string(value)
        elif isinstance(value, (list, tuple)):
            if value and isinstance(value[0], str):
                body = struct.pack("<IIQ", _ARRAY, _STRING, len(value)) + b"".join(_string(v) for v in value)
            else:
                vtype, fmt = _SCALARS[kind]
                body = struct.pack("<IIQ", _ARRAY, vtype, len(value)) + b"".join(struct.pack(fmt, v) for v in value)
        else:
            if kind is None and isinstance(value, bool):
                kind = "bool"
            vtype, fmt = _SCALARS[kind]
            body = struct.pack("<I", vtype) + struct.pack(fmt, value)
        self._kv.append((key, body))

    def add_tensor(self, name, dtype, shape, data):
        """`shape` row-major as PyTorch writes it; GGUF stores the dims reversed (dims[0] = row length)."""
        ggml_type, size = _TENSOR_TYPES[dtype]
        count = 1
        for d in shape:
            count *= d
        if len(data) != count * size:
            raise ValueError(f"tensor {name}: {len(data)} bytes for shape {shape} of {dtype}")
        self._tensors.append((name, ggml_type, list(reversed(shape)), data))

    def write(self, path):
        out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(self._tensors), len(self._kv)))
        for key, body in self._kv:
            out += _string(key) + body
        offset = 0
        for name, ggml_type, dims, data in self._tensors:
            out += _string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
            out += struct.pack("<IQ", ggml_type, offset)
            offset += (len(data) + _ALIGNMENT - 1) // _ALIGNMENT * _ALIGNMENT
        out += b"\0" * (-len(out) % _ALIGNMENT)
        for _, _, _, data in self._tensors:
            out += data + b"\0" * (-len(data) % _ALIGNMENT)
        with open(path, "wb") as f:
            f.write(out)
