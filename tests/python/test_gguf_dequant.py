"""Our dequantization against the gguf package's, on the real model and on synthetic tensors."""
import subprocess

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader, GGUFWriter
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

# Byte offsets of the fp16 scale fields inside one block, per type: random bytes there could be
# inf/nan, which would make the comparison meaningless, so they are overwritten with sane scales.
SCALE_FIELDS = {
    Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
    Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
}
PLAIN = {Q.F32: np.float32, Q.F16: np.float16}


def run_dump(dump_bin, gguf_path, out_path) -> np.ndarray:
    subprocess.run([str(dump_bin), str(gguf_path), str(out_path)], check=True)
    return np.fromfile(out_path, dtype=np.float32)


def compare_all(reader: GGUFReader, ours: np.ndarray) -> int:
    offset = 0
    for tensor in reader.tensors:
        ref = dequantize(tensor.data, tensor.tensor_type).astype(np.float32).reshape(-1)
        got = ours[offset:offset + ref.size]
        offset += ref.size
        assert got.size == ref.size, tensor.name
        scale = float(np.max(np.abs(ref))) or 1.0
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6 * scale, err_msg=f"{tensor.name} ({tensor.tensor_type.name})")
    assert offset == ours.size
    return len(reader.tensors)


def test_every_tensor_of_the_real_model(dump_bin, default_model, tmp_path):
    reader = GGUFReader(default_model)
    assert compare_all(reader, run_dump(dump_bin, default_model, tmp_path / "out.f32")) == 272


def synthetic_tensor(qtype: Q, rows: int, rng: np.random.Generator) -> np.ndarray:
    block_elems, block_bytes = GGML_QUANT_SIZES[qtype]
    n_blocks = 4
    if qtype in PLAIN:
        return rng.standard_normal((rows, n_blocks * block_elems)).astype(PLAIN[qtype])
    raw = rng.integers(0, 256, size=(rows, n_blocks, block_bytes), dtype=np.uint8)
    if qtype == Q.BF16:
        values = rng.standard_normal((rows, n_blocks * block_elems)).astype(np.float32)
        return (values.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8).reshape(rows, -1)
    for field in SCALE_FIELDS[qtype]:
        scales = (rng.random((rows, n_blocks)) * 0.1 + 1e-3).astype(np.float16)
        raw[:, :, field:field + 2] = scales.view(np.uint8).reshape(rows, n_blocks, 2)
    return raw.reshape(rows, n_blocks * block_bytes)


@pytest.mark.parametrize("qtype", [Q.F32, Q.F16, Q.BF16, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0, Q.Q4_K, Q.Q5_K, Q.Q6_K])
def test_synthetic_tensors_of_every_type(dump_bin, tmp_path, qtype):
    rng = np.random.default_rng(int(qtype))
    path = tmp_path / f"{qtype.name}.gguf"
    writer = GGUFWriter(str(path), "llama")
    for i, rows in enumerate((1, 3, 8)):
        data = synthetic_tensor(qtype, rows, rng)
        if qtype in PLAIN:
            writer.add_tensor(f"t{i}", data)
        else:
            writer.add_tensor(f"t{i}", data, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    reader = GGUFReader(path)
    assert all(t.tensor_type == qtype for t in reader.tensors)
    assert compare_all(reader, run_dump(dump_bin, path, tmp_path / "out.f32")) == 3
