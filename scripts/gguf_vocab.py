#!/usr/bin/env python3
"""Copies a GGUF file with a llama2.c tokenizer's vocabulary added to its metadata.

qscope's GGUF writer embeds no tokenizer; llama.cpp refuses a file without one. This adds
tokenizer.ggml.{model = "llama", tokens, scores, token_type, bos/eos/unknown ids} from a
llama2.c tokenizer.bin (int32 max_len, then per token: float32 score, int32 length, bytes)
and copies the tensors unchanged, so both programs read the same weights.

Usage: scripts/gguf_vocab.py IN.gguf TOKENIZER.bin OUT.gguf
"""
import struct
import sys

ALIGN_DEFAULT = 32
T_UINT32, T_INT32, T_FLOAT32, T_STRING, T_ARRAY = 4, 5, 6, 8, 9
SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def read_str(f):
    (n,) = struct.unpack("<Q", f.read(8))
    return f.read(n)


def skip_value(f, t):
    """Returns the raw bytes of one value of type t."""
    if t in SIZES:
        return f.read(SIZES[t])
    if t == T_STRING:
        s = read_str(f)
        return struct.pack("<Q", len(s)) + s
    if t == T_ARRAY:
        et, n = struct.unpack("<IQ", f.read(12))
        return struct.pack("<IQ", et, n) + b"".join(skip_value(f, et) for _ in range(n))
    raise ValueError(f"unknown GGUF value type {t}")


def gstr(s):
    return struct.pack("<Q", len(s)) + s


def kv(key, t, raw):
    return gstr(key.encode()) + struct.pack("<I", t) + raw


def vocab_kvs(tok_path, n_vocab):
    data = open(tok_path, "rb").read()
    pos, tokens, scores = 4, [], []
    for _ in range(n_vocab):
        score, n = struct.unpack_from("<fi", data, pos)
        pos += 8
        tokens.append(data[pos:pos + n])
        scores.append(score)
        pos += n
    types = []
    for i, t in enumerate(tokens):
        if i == 0:
            types.append(2)  # unknown
        elif i in (1, 2):
            types.append(3)  # control: <s>, </s>
        elif t.startswith(b"<0x") and t.endswith(b">") and len(t) == 6:
            types.append(6)  # byte
        else:
            types.append(1)  # normal
    out = [kv("tokenizer.ggml.model", T_STRING, gstr(b"llama")),
           kv("tokenizer.ggml.tokens", T_ARRAY,
              struct.pack("<IQ", T_STRING, n_vocab) + b"".join(gstr(t) for t in tokens)),
           kv("tokenizer.ggml.scores", T_ARRAY,
              struct.pack("<IQ", T_FLOAT32, n_vocab) + struct.pack(f"<{n_vocab}f", *scores)),
           kv("tokenizer.ggml.token_type", T_ARRAY,
              struct.pack("<IQ", T_INT32, n_vocab) + struct.pack(f"<{n_vocab}i", *types)),
           kv("tokenizer.ggml.bos_token_id", T_UINT32, struct.pack("<I", 1)),
           kv("tokenizer.ggml.eos_token_id", T_UINT32, struct.pack("<I", 2)),
           kv("tokenizer.ggml.unknown_token_id", T_UINT32, struct.pack("<I", 0))]
    return out


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip().splitlines()[-1])
    src, tok, dst = sys.argv[1:]
    with open(src, "rb") as f:
        if f.read(4) != b"GGUF":
            sys.exit(f"{src}: not a GGUF file")
        version, n_tensors, n_kv = struct.unpack("<IQQ", f.read(20))
        kvs, align, n_vocab = [], ALIGN_DEFAULT, None
        for _ in range(n_kv):
            key = read_str(f)
            (t,) = struct.unpack("<I", f.read(4))
            raw = skip_value(f, t)
            if key.startswith(b"tokenizer."):
                continue  # replaced below
            if key == b"general.alignment":
                (align,) = struct.unpack("<I", raw)
            if key == b"llama.vocab_size":
                (n_vocab,) = struct.unpack("<I", raw)
            kvs.append(gstr(key) + struct.pack("<I", t) + raw)
        infos = []
        for _ in range(n_tensors):
            name = read_str(f)
            (nd,) = struct.unpack("<I", f.read(4))
            dims = f.read(8 * nd)
            t, off = struct.unpack("<IQ", f.read(12))
            infos.append(gstr(name) + struct.pack("<I", nd) + dims + struct.pack("<IQ", t, off))
            if name == b"token_embd.weight" and n_vocab is None:
                n_vocab = struct.unpack("<Q", dims[8:16])[0]
        data_start = (f.tell() + align - 1) // align * align
        kvs += vocab_kvs(tok, n_vocab)
        head = b"GGUF" + struct.pack("<IQQ", version, n_tensors, len(kvs)) + b"".join(kvs)
        head += b"".join(infos)
        head += b"\0" * ((align - len(head) % align) % align)
        f.seek(data_start)
        with open(dst, "wb") as o:
            o.write(head)
            while True:
                chunk = f.read(1 << 24)
                if not chunk:
                    break
                o.write(chunk)


if __name__ == "__main__":
    main()
