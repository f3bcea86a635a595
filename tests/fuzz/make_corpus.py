#!/usr/bin/python3
"""Writes the fuzz seed corpora, tests/fuzz/corpus/<target>/, deterministically.

Seeds come from the shipped fixtures (cut down so the tree stays small) and from hand-made
files that reach every branch of a parser cheaply: tiny valid files and near-misses.
Names: ok_* must be accepted and bad_* refused by the parser (tests/unit/test_fuzz_replay.c
checks it); other names are only replayed. Run from anywhere:
    /usr/bin/python3 tests/fuzz/make_corpus.py
"""
import json
import os
import shutil
import struct
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")


def rd(rel):
    with open(os.path.join(ROOT, rel), "rb") as f:
        return f.read()


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def floats(n, start=0.0):
    return struct.pack("<%df" % n, *[start + 0.01 * i for i in range(n)])


# ---- llama2.c checkpoints ---------------------------------------------------------------
def llama2c_legacy(dim=4, hidden=8, layers=1, heads=2, kv=1, vocab=4, seq=2, shared=True):
    hd = dim // heads
    KV = kv * hd
    n = vocab * dim + layers * (dim + dim * dim + 2 * KV * dim + dim * dim + dim + 3 * hidden * dim)
    n += dim + 2 * seq * (hd // 2) + (0 if shared else vocab * dim)
    hdr = struct.pack("<7i", dim, hidden, layers, heads, kv, vocab if shared else -vocab, seq)
    return hdr + floats(n)


def llama2c_v1(dim=4, hidden=8, layers=1, heads=2, kv=1, vocab=4, seq=2, shared=True):
    hd = dim // heads
    KV = kv * hd
    n = layers * 2 * dim + dim + vocab * dim
    n += layers * (dim * dim + 2 * KV * dim + dim * dim + 3 * hidden * dim)
    n += 0 if shared else vocab * dim
    hdr = struct.pack("<Ii7iB", 0x616B3432, 1, dim, hidden, layers, heads, kv, vocab, seq, int(shared))
    return hdr + b"\0" * (256 - len(hdr)) + floats(n)


def corpus_llama2c():
    t = "llama2c"
    put(t, "ok_tiny_legacy.bin", llama2c_legacy())
    put(t, "ok_tiny_legacy_unshared.bin", llama2c_legacy(shared=False))
    put(t, "ok_tiny_legacy_2layers.bin", llama2c_legacy(dim=8, hidden=4, layers=2, heads=2, kv=2, vocab=3, seq=3))
    put(t, "ok_tiny_v1.bin", llama2c_v1())
    put(t, "ok_tiny_v1_unshared.bin", llama2c_v1(shared=False))
    put(t, "bad_stories260K_head4k.bin", rd("data/models/stories260K.bin")[:4096])
    put(t, "bad_short_header.bin", rd("data/models/stories260K.bin")[:20])
    put(t, "bad_v2.bin", struct.pack("<Ii", 0x616B3432, 2) + b"\0" * 248)
    put(t, "bad_zero_dim.bin", struct.pack("<7i", 0, 8, 1, 2, 1, 4, 2))
    put(t, "bad_int_min_vocab.bin", struct.pack("<7i", 4, 8, 1, 2, 1, -2**31, 2))
    put(t, "bad_overflow.bin", struct.pack("<7i", 131072, 524288, 1024, 1024, 1024, 4194304, 4194304))
    put(t, "bad_one_extra_byte.bin", llama2c_legacy() + b"\0")


# ---- llama2.c tokenizer (u16 vocab size, then the file) -----------------------------------
def tok_llama2c_file(pieces, max_len=None):
    max_len = max_len or max(len(p) for p in pieces)
    out = struct.pack("<i", max_len)
    for i, p in enumerate(pieces):
        out += struct.pack("<fi", -float(i), len(p)) + p
    return out


def corpus_tok_llama2c():
    t = "tok_llama2c"
    tok512 = rd("data/models/tok512.bin")
    put(t, "ok_tok512.bin", struct.pack("<H", 512) + tok512)
    pieces = [b"<unk>", b"\n<s>\n", b"\n</s>\n"] + [b"<0x%02X>" % i for i in range(8)] + [
        b" ", b"a", b"b", b" a", b"ab", b"\xc3\xa9", b"e", b" ab"]
    put(t, "ok_tiny.bin", struct.pack("<H", len(pieces)) + tok_llama2c_file(pieces))
    put(t, "ok_empty_pieces.bin", struct.pack("<H", 4) + tok_llama2c_file([b"", b"", b"x", b""], 1))
    put(t, "ok_invalid_utf8_piece.bin", struct.pack("<H", 3) + tok_llama2c_file([b"\xff", b"\xe2\x96", b" "]))
    put(t, "bad_tok512_truncated.bin", struct.pack("<H", 512) + tok512[:3000])
    put(t, "bad_tok512_vocab_too_small.bin", struct.pack("<H", 500) + tok512)
    put(t, "bad_llama2_32k_head.bin", struct.pack("<H", 32000 % 65536) + rd("data/models/tokenizer.bin")[:4096])
    put(t, "bad_neg_len.bin", struct.pack("<H", 1) + struct.pack("<ifi", 4, 0.0, -1))
    put(t, "bad_len_past_end.bin", struct.pack("<H", 1) + struct.pack("<ifi", 64, 0.0, 60) + b"abc")


# ---- safetensors ----------------------------------------------------------------------------
def safetensors(tensors, meta=None, pad=0, extra=b""):
    """tensors: list of (name, dtype, shape, raw bytes)"""
    hdr = {}
    if meta is not None:
        hdr["__metadata__"] = meta
    off = 0
    data = b""
    for name, dt, shape, raw in tensors:
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        data += raw
    h = json.dumps(hdr, separators=(",", ":")).encode() + b" " * pad
    return struct.pack("<Q", len(h)) + h + data + extra


def corpus_safetensors():
    t = "safetensors"
    f16 = struct.pack("<4H", 0x3C00, 0x7C00, 0x0001, 0xFE00)       # 1, inf, subnormal, nan
    bf16 = struct.pack("<2H", 0x3F80, 0xFF80)                        # 1, -inf
    put(t, "ok_three_dtypes.safetensors", safetensors(
        [("a", "F32", [2, 3], floats(6)), ("b", "F16", [4], f16), ("c", "BF16", [1, 2], bf16)],
        meta={"format": "pt"}))
    put(t, "ok_scalar_and_empty.safetensors", safetensors(
        [("s", "F32", [], floats(1)), ("e", "F32", [0, 4], b""), ("v", "BF16", [3], bf16 + bf16[:2])]))
    put(t, "ok_padded_header.safetensors", safetensors([("w", "F32", [2, 2], floats(4))], pad=5))
    put(t, "ok_empty.safetensors", safetensors([]))
    real = rd("tests/fixtures/hf-stories260K/model.safetensors")
    n = struct.unpack("<Q", real[:8])[0]
    put(t, "bad_stories260K_header_only.safetensors", real[:8 + n])
    put(t, "bad_gap.safetensors", safetensors([("w", "F32", [1], floats(1))], extra=b"\0\0\0\0"))
    put(t, "bad_dtype_i64.safetensors", safetensors([("w", "I64", [1], b"\0" * 8)]))
    put(t, "bad_shape_mismatch.safetensors", safetensors([("w", "F32", [3], floats(2))]))
    put(t, "bad_header_len_huge.safetensors", struct.pack("<Q", 2**63) + b"{}")
    hdr = b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}'
    put(t, "bad_overlap.safetensors", struct.pack("<Q", len(hdr)) + hdr + floats(3))
    hdr = b'{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}'
    put(t, "bad_shape_overflow.safetensors", struct.pack("<Q", len(hdr)) + hdr)


# ---- config.json ----------------------------------------------------------------------------
def corpus_hf_config():
    t = "hf_config"
    base = json.loads(rd("tests/fixtures/hf-stories260K/config.json"))
    put(t, "ok_stories260K.json", rd("tests/fixtures/hf-stories260K/config.json"))
    c = dict(base, architectures=["MistralForCausalLM"], model_type="mistral", sliding_window=None)
    put(t, "ok_mistral.json", json.dumps(c))
    c = dict(base, architectures=["Qwen2ForCausalLM"], model_type="qwen2", tie_word_embeddings=False)
    put(t, "ok_qwen2.json", json.dumps(c))
    c = dict(base, rope_theta=500000.0, rope_scaling={"rope_type": "llama3", "factor": 8.0,
             "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})
    put(t, "ok_llama3_rope.json", json.dumps(c))
    c = dict(base)
    del c["head_dim"]
    put(t, "ok_no_head_dim.json", json.dumps(c))
    put(t, "bad_unknown_arch.json", json.dumps(dict(base, architectures=["GPT2LMHeadModel"])))
    put(t, "bad_missing_hidden.json", json.dumps({k: v for k, v in base.items() if k != "hidden_size"}))
    put(t, "bad_rope_yarn.json", json.dumps(dict(base, rope_scaling={"type": "yarn", "factor": 4.0})))
    put(t, "bad_truncated.json", rd("tests/fixtures/hf-stories260K/config.json")[:200])
    put(t, "bad_huge_numbers.json", json.dumps(dict(base, hidden_size=1e300, num_hidden_layers=-5)))


# ---- tokenizer.json (optionally NUL + tokenizer_config.json) -------------------------------
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def bytelevel_tokenizer(pretok, merges_as_pairs=False):
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("o", "n"), ("Ġ", "a"), ("i", "n")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return json.dumps({
        "version": "1.0",
        "added_tokens": [{"id": vocab["<|endoftext|>"], "content": "<|endoftext|>", "special": True}],
        "normalizer": None,
        "pre_tokenizer": pretok,
        "post_processor": {"type": "ByteLevel", "trim_offsets": False},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": vocab, "ignore_merges": False,
                  "merges": [list(m) for m in merges] if merges_as_pairs else ["%s %s" % m for m in merges]},
    }, ensure_ascii=False)


def corpus_tok_hf():
    t = "tok_hf"
    tj = rd("tests/fixtures/hf-stories260K/tokenizer.json")
    cfg = rd("tests/fixtures/hf-stories260K/tokenizer_config.json")
    put(t, "ok_stories260K_with_config.json", tj + b"\0" + cfg)
    put(t, "ok_stories260K.json", tj)
    d = json.loads(tj)
    d["model"]["merges"] = [m.split(" ") for m in d["model"]["merges"]]
    d["normalizer"] = None
    d["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first"}
    put(t, "ok_stories260K_pairs_metaspace.json", json.dumps(d, ensure_ascii=False))
    put(t, "ok_bytelevel.json", bytelevel_tokenizer({"type": "ByteLevel", "add_prefix_space": False}))
    put(t, "ok_bytelevel_split.json", bytelevel_tokenizer({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
         "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]}, merges_as_pairs=True)
        + "\0" + json.dumps({"bos_token": "<|endoftext|>", "add_bos_token": True}))
    put(t, "bad_wordpiece.json", json.dumps({"model": {"type": "WordPiece", "vocab": {"a": 0}}}))
    put(t, "bad_truncated.json", tj[:5000])
    put(t, "bad_bad_regex.json", bytelevel_tokenizer({"type": "Split", "pattern": {"Regex": "(["},
                                                      "behavior": "Isolated"}))


# ---- text -----------------------------------------------------------------------------------
def corpus_text():
    t = "text"
    put(t, "ok_tinystories_head.txt", rd("data/text/tinystories_v2_valid_head100.txt")[:2048])
    put(t, "ok_multibyte.txt", "héllo ▁ 中文 😀 \U0010FFFF \u07FF \u0800 \uFFFD\n".encode())
    put(t, "ok_empty.txt", b"")
    put(t, "bad_invalid_bytes.txt", b"Once upon a time \xff\xfe there was\n")
    put(t, "bad_overlong.txt", b"\xc0\xaf \xe0\x80\xaf \xf0\x80\x80\xaf")
    put(t, "bad_surrogate.txt", b"\xed\xa0\x80\xed\xbf\xbf")
    put(t, "bad_above_max.txt", b"\xf4\x90\x80\x80 \xf5\x80\x80\x80")
    put(t, "bad_truncated_seq.txt", b"abc\xe2\x96")
    put(t, "bad_lone_continuation.txt", b"\x80\xbf abc")


# ---- quantization config names -------------------------------------------------------------
def corpus_quant_config():
    t = "quant_config"
    good = ["W4A16 g128", "W8A8 per-token", "W8A8 per-tensor", "W4A8 g64 mse", "W6A16 per-channel affine",
            "W16A8 per-token percentile:99.9", "W16A16", "W3A16 g32 affine mse fp32-scales",
            "W4A8 g128 a:per-tensor static", "W8A8 per-token w:percentile:99 a:percentile:99.99",
            "W8A8 per-token sites:attn_in,ffn_down_in layers:0,2", "w4a16   g128",
            "W8A8 per-token w:layers:1 a:layers:0,3", "W16A8 per-token sites:resid,attn_in,attn_o_in,ffn_in,ffn_down_in"]
    for i, g in enumerate(good):
        put(t, "ok_%02d.txt" % i, g)
    bad = ["W4A16 g12x", "W9A16", "W4A16 per-tensor w:g128", "W16A16 per-token", "W8A8 a:mse dynamic",
           "W8A8 percentile:0", "W8A8 percentile:100.5", "W8A8 layers:", "W8A8 sites:nowhere", "W4A16 g0",
           "W4A16 g99999999999999999999", "", "W4A16 layers:" + ",".join(str(i) for i in range(300))]
    for i, b in enumerate(bad):
        put(t, "bad_%02d.txt" % i, b)


# ---- GGUF -------------------------------------------------------------------------------------
# (the GGUF writer is shared with the bad-input corpus)
sys.path.insert(0, os.path.join(ROOT, "tests", "bad"))
import make_bad as mb  # noqa: E402

# type id -> (values per block, bytes per block), ggml's layouts
GGML = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
        9: (32, 36), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210),
        15: (256, 292), 20: (32, 18), 23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 28: (1, 8),
        30: (1, 2)}


def prng_bytes(n, seed):
    out, x = bytearray(), seed * 2654435761 % 2**32 or 1
    for _ in range(n):
        x = (1103515245 * x + 12345) % 2**31
        out.append((x >> 16) & 0xFF)
    return bytes(out)


def f16_block_safe(b, type_id):
    """makes the fp16 scale fields of a block finite (0x3C00 = 1.0) so values are ordinary"""
    b = bytearray(b)
    if type_id in (2, 3, 6, 7, 8, 9):
        b[0:2] = b"\x00\x3c"
        if type_id in (3, 7):
            b[2:4] = b"\x00\xbc"
    return bytes(b)


def garr(elem_type, items):
    out = struct.pack("<IQ", elem_type, len(items))
    for it in items:
        if elem_type == mb.GGUF_STRING:
            out += mb.gstr(it)
        elif elem_type == mb.GGUF_F32:
            out += struct.pack("<f", it)
        else:
            out += struct.pack("<i", it)
    return out


def gguf_raw(kvs, tensors, version=3):
    """tensors: (name, ne, type, raw bytes), laid out at 32-byte aligned offsets"""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k in kvs:
        out += mb.gkv(*k)
    off, data = 0, b""
    for name, ne, ty, raw in tensors:
        out += mb.gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", x) for x in ne)
        out += struct.pack("<IQ", ty, off)
        raw += b"\0" * (-len(raw) % 32)
        data += raw
        off += len(raw)
    out += b"\0" * (-len(out) % 32)
    return out + data


def corpus_gguf():
    t = "gguf"
    I32 = 5
    put(t, "ok_tiny_llama_f32.gguf", mb.gguf())
    put(t, "ok_tiny_llama_v2.gguf", mb.gguf(version=2))
    pieces = ["<unk>", "<s>", "</s>", "\u2581", "a", "b", "\u2581a", "<0x41>"]
    llama_vocab = [("tokenizer.ggml.model", mb.GGUF_STRING, "llama"),
                   ("tokenizer.ggml.tokens", mb.GGUF_ARRAY, garr(mb.GGUF_STRING, pieces)),
                   ("tokenizer.ggml.scores", mb.GGUF_ARRAY, garr(mb.GGUF_F32, [-float(i) for i in range(8)])),
                   ("tokenizer.ggml.token_type", mb.GGUF_ARRAY, garr(I32, [2, 3, 3, 1, 1, 1, 1, 6])),
                   ("tokenizer.ggml.bos_token_id", mb.GGUF_U32, 1), ("tokenizer.ggml.eos_token_id", mb.GGUF_U32, 2)]
    put(t, "ok_tiny_llama_vocab.gguf", mb.gguf(kvs=mb.gguf_kvs(drop=("llama.vocab_size",), extra=llama_vocab)))
    gpt2 = ["a", "b", "\u0120", "\u0120a", "ab", "<|endoftext|>", "c", "d"]
    gpt2_vocab = [("tokenizer.ggml.model", mb.GGUF_STRING, "gpt2"),
                  ("tokenizer.ggml.tokens", mb.GGUF_ARRAY, garr(mb.GGUF_STRING, gpt2)),
                  ("tokenizer.ggml.merges", mb.GGUF_ARRAY, garr(mb.GGUF_STRING, ["\u0120 a", "a b"])),
                  ("tokenizer.ggml.token_type", mb.GGUF_ARRAY, garr(I32, [1, 1, 1, 1, 1, 3, 1, 1])),
                  ("tokenizer.ggml.bos_token_id", mb.GGUF_U32, 5), ("tokenizer.ggml.eos_token_id", mb.GGUF_U32, 5)]
    put(t, "ok_tiny_gpt2_vocab.gguf", mb.gguf(kvs=mb.gguf_kvs(drop=("llama.vocab_size",), extra=gpt2_vocab)))
    # one tensor of every type qscope dequantizes, 1 or 2 blocks each, and a value of every metadata type
    tensors = []
    for ty, (bs, ts) in sorted(GGML.items()):
        nb = 2 if bs > 1 else 8
        raw = b"".join(f16_block_safe(prng_bytes(ts, ty * 10 + i), ty) for i in range(nb))
        tensors.append(("t%d.weight" % ty, [bs * nb], ty, raw))
    kvs = [("general.architecture", mb.GGUF_STRING, "none"), ("u8", 0, b"\x07"), ("i8", 1, b"\xf9"),
           ("u16", 2, struct.pack("<H", 7)), ("i16", 3, struct.pack("<h", -7)), ("u32", 4, 7),
           ("i32", 5, struct.pack("<i", -7)), ("f32", 6, 0.5), ("bool", 7, b"\x01"),
           ("str", 8, "text"), ("u64", 10, struct.pack("<Q", 7)), ("i64", 11, struct.pack("<q", -7)),
           ("f64", 12, struct.pack("<d", 0.25)),
           ("nested", 9, struct.pack("<IQ", 9, 2) + garr(I32, [1, 2]) + garr(mb.GGUF_STRING, ["x", "yz"]))]
    put(t, "ok_every_type.gguf", gguf_raw(kvs, tensors))
    put(t, "ok_empty.gguf", gguf_raw([], []))
    put(t, "bad_stories260K_Q4_0_head16k.gguf", rd("tests/fixtures/stories260K-Q4_0.gguf")[:16384])
    put(t, "bad_gpt2_vocab_head32k.gguf", rd("tests/fixtures/gpt2-bpe/ggml-vocab-gpt-2.gguf")[:32768])
    put(t, "bad_version_1.gguf", mb.gguf(version=1))
    put(t, "bad_magic_only.gguf", b"GGUF")


def corpus_gguf_dequant():
    t = "gguf_dequant"
    for ty in range(41):
        bs, ts = GGML.get(ty, (32, 34))
        nb = 2 if bs > 1 else 8
        raw = b"".join(f16_block_safe(prng_bytes(ts, ty * 10 + i), ty) for i in range(nb))
        put(t, ("ok_type%02d.bin" if ty in GGML else "type%02d.bin") % ty, bytes([ty]) + raw)
    for ty in (8, 12, 14):  # all-zero and all-0xFF blocks (NaN/Inf scales)
        bs, ts = GGML[ty]
        put(t, "ok_type%02d_zero.bin" % ty, bytes([ty]) + b"\0" * ts)
        put(t, "ok_type%02d_ff.bin" % ty, bytes([ty]) + b"\xff" * ts)


def main():
    if os.path.isdir(OUT):
        for name in ("llama2c", "tok_llama2c", "safetensors", "hf_config", "tok_hf", "text",
                     "quant_config", "gguf", "gguf_dequant"):
            shutil.rmtree(os.path.join(OUT, name), ignore_errors=True)
    corpus_llama2c()
    corpus_tok_llama2c()
    corpus_safetensors()
    corpus_hf_config()
    corpus_tok_hf()
    corpus_text()
    corpus_quant_config()
    corpus_gguf()
    corpus_gguf_dequant()


if __name__ == "__main__":
    main()
