"""Python modules for Strata's gRPC API, generated from proto/ at import time with grpcio-tools,
so the clients (the load tool, the tests) always speak the checked-in proto."""
import pathlib
import sys
import tempfile

import grpc_tools
from grpc_tools import protoc

PROTO_ROOT = pathlib.Path(__file__).resolve().parents[2] / "proto"


def load():
    """Returns (inference_pb2, inference_pb2_grpc)."""
    out = tempfile.mkdtemp(prefix="strata_proto_")
    include = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    rc = protoc.main(["protoc", f"-I{PROTO_ROOT}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}",
                      str(PROTO_ROOT / "strata/v1/inference.proto")])
    if rc != 0:
        raise RuntimeError(f"protoc failed on {PROTO_ROOT}")
    sys.path.insert(0, out)
    from strata.v1 import inference_pb2, inference_pb2_grpc
    return inference_pb2, inference_pb2_grpc
