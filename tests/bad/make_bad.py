#!/usr/bin/python3
"""Writes the corpus of bad inputs, tests/bad/, deterministically, and its MANIFEST.tsv.

Every case is a file (or a Hugging Face directory) that qscope must refuse: non-zero exit,
a message that names the file and the problem, no crash, no sanitizer report.
tests/cli/test_bad_corpus.sh runs them all. MANIFEST.tsv columns:

    name    kind    pattern    what

  name     file or directory under tests/bad/files/
  kind     how it is fed to qscope:
             info   qscope info FILE
             tok    qscope info data/models/stories260K.bin --tokenizer FILE
             ppl    qscope ppl data/models/stories260K.bin FILE --ctx 8
             run    qscope run FILE --max-seconds 5 --max-memory 64
  pattern  an ERE that stderr must match (the file name, then the problem)
  what     one line saying what is wrong with it

Regenerate with: /usr/bin/python3 tests/bad/make_bad.py   (from anywhere)
"""
import json
import os
import shutil
import struct

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BAD = os.path.join(ROOT, "tests", "bad")
OUT = os.path.join(BAD, "files")
CASES = []


def case(name, kind, pattern, what, data=None, files=None):
    """data: bytes/str for a file; files: {relative name: bytes/str} for a directory."""
    path = os.path.join(OUT, name)
    if files is not None:
        os.makedirs(path, exist_ok=True)
        for rel, d in files.items():
            with open(os.path.join(path, rel), "wb") as f:
                f.write(d.encode() if isinstance(d, str) else d)
    else:
        with open(path, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
    assert "\t" not in pattern and "\t" not in what
    CASES.append((name, kind, pattern, what))


def rd(rel):
    with open(os.path.join(ROOT, rel), "rb") as f:
        return f.read()


def floats(n):
    return struct.pack("<%df" % n, *[((i * 37) % 101 - 50) / 100.0 for i in range(n)])


def esc(name):
    """the file name as an ERE (dots literal)"""
    return name.replace(".", "\\.")


# ---- llama2.c checkpoints -------------------------------------------------------------------
# A tiny model: dim 8, hidden 16, 2 layers, 2 heads, 1 kv head, vocab 8, seq 4 (head_dim 4).
DIM, HID, LAY, HEADS, KV, VOC, SEQ = 8, 16, 2, 2, 1, 8, 4


def l2c_segments(dim=DIM, hid=HID, lay=LAY, heads=HEADS, kv=KV, voc=VOC, seq=SEQ, shared=True):
    hd = dim // heads
    kvd = kv * hd
    return [("token_embedding", voc * dim), ("rms_att", lay * dim), ("wq", lay * dim * dim),
            ("wk", lay * kvd * dim), ("wv", lay * kvd * dim), ("wo", lay * dim * dim),
            ("rms_ffn", lay * dim), ("w1", lay * hid * dim), ("w2", lay * dim * hid),
            ("w3", lay * hid * dim), ("rms_final", dim), ("freq_cis_real", seq * hd // 2),
            ("freq_cis_imag", seq * hd // 2)] + ([] if shared else [("wcls", voc * dim)])


def l2c_header(dim=DIM, hid=HID, lay=LAY, heads=HEADS, kv=KV, voc=VOC, seq=SEQ):
    return struct.pack("<7i", dim, hid, lay, heads, kv, voc, seq)


def l2c_model(shared=True):
    voc = VOC if shared else -VOC
    n = sum(k for _, k in l2c_segments(shared=shared))
    return l2c_header(voc=voc) + floats(n)


def llama2c_cases():
    good = l2c_model()
    case("l2c_empty.bin", "info", "l2c_empty\\.bin.*empty", "an empty file", b"")
    case("l2c_short_header.bin", "info", "l2c_short_header\\.bin.*truncated.*28-byte",
         "20 bytes: shorter than the 7-int header", good[:20])
    # truncated exactly at every section boundary: the message names the array that is cut
    off = 28
    segs = l2c_segments(shared=False)
    model = l2c_model(shared=False)
    for name, n in segs:
        f = "l2c_cut_before_%s.bin" % name
        case(f, "info", esc(f) + ".*truncated: array %s needs bytes \\[%d, " % (name, off),
             "untied model cut at the start of array %s (byte %d)" % (name, off), model[:off])
        off += 4 * n
    case("l2c_cut_mid_wq.bin", "info", "l2c_cut_mid_wq\\.bin.*truncated: array wq",
         "cut in the middle of wq", good[:28 + 4 * (VOC * DIM + LAY * DIM) + 6])
    case("l2c_extra_bytes.bin", "info", "l2c_extra_bytes\\.bin.*4 extra bytes",
         "4 bytes after the last array", good + b"junk")
    case("l2c_zero_dim.bin", "info", "l2c_zero_dim\\.bin.*dim = 0 is out of range",
         "dim = 0", l2c_header(dim=0))
    case("l2c_negative_layers.bin", "info", "l2c_negative_layers\\.bin.*n_layers = -2 is out of range",
         "n_layers = -2", l2c_header(lay=-2) + good[28:])
    case("l2c_negative_heads.bin", "info", "l2c_negative_heads\\.bin.*n_heads = -2",
         "n_heads = -2", l2c_header(heads=-2) + good[28:])
    case("l2c_zero_seq_len.bin", "info", "l2c_zero_seq_len\\.bin.*seq_len = 0 is out of range",
         "seq_len = 0", l2c_header(seq=0) + good[28:])
    case("l2c_int_min_vocab.bin", "info", "l2c_int_min_vocab\\.bin.*vocab_size = -2147483648 is out of range",
         "vocab_size = INT32_MIN (negating it would overflow)", l2c_header(voc=-2**31) + good[28:])
    case("l2c_absurd_dims.bin", "info", "l2c_absurd_dims\\.bin.*dim = 2000000000 is out of range",
         "dim and hidden_dim of 2e9", l2c_header(dim=2000000000, hid=2000000000, lay=1000))
    case("l2c_size_overflow.bin", "info", "l2c_size_overflow\\.bin.*(overflow|truncated)",
         "every dimension at its maximum: the sizes multiply past what a file can hold",
         struct.pack("<7i", 131072, 524288, 1024, 1024, 1024, 4194304, 4194304))
    case("l2c_heads_not_dividing.bin", "info", "l2c_heads_not_dividing\\.bin.*n_heads = 3 does not divide dim = 8",
         "n_heads = 3 does not divide dim = 8", l2c_header(heads=3) + good[28:])
    case("l2c_kv_not_dividing.bin", "info", "l2c_kv_not_dividing\\.bin.*n_kv_heads = 3 does not divide n_heads = 4",
         "n_kv_heads = 3 does not divide n_heads = 4", l2c_header(heads=4, kv=3) + good[28:])
    case("l2c_odd_head_dim.bin", "info", "l2c_odd_head_dim\\.bin.*head_dim = 1 is odd",
         "head_dim = 1: RoPE needs pairs", l2c_header(heads=8, kv=8) + good[28:])
    v1 = struct.pack("<Ii7iB", 0x616B3432, 1, DIM, HID, LAY, HEADS, KV, VOC, SEQ, 1)
    v1 = v1 + b"\0" * (256 - len(v1))
    case("l2c_v2.bin", "info", "l2c_v2\\.bin.*version 2 is not supported",
         "versioned format, version 2 (quantized export)", struct.pack("<Ii", 0x616B3432, 2) + v1[8:])
    case("l2c_v1_short_header.bin", "info", "l2c_v1_short_header\\.bin.*shorter than the 256-byte",
         "version-1 magic, 100 bytes", v1[:100])
    case("l2c_v1_no_weights.bin", "info", "l2c_v1_no_weights\\.bin.*truncated: array attention_norm",
         "version-1 header and no weights", v1)


# ---- llama2.c tokenizers (fed to the 512-token stories260K) ---------------------------------
def tok_cases():
    tok = rd("data/models/tok512.bin")
    case("tok_truncated.bin", "tok", "tok_truncated\\.bin.*truncated", "tok512.bin cut at 3000 bytes", tok[:3000])
    case("tok_header_only.bin", "tok", "tok_header_only\\.bin.*truncated at byte 4", "only max_token_length", tok[:4])
    case("tok_three_bytes.bin", "tok", "tok_three_bytes\\.bin.*truncated.*no max_token_length", "3 bytes", tok[:3])
    bad_len = bytearray(tok)
    struct.pack_into("<i", bad_len, 8, -5)  # first token's length
    case("tok_negative_length.bin", "tok", "tok_negative_length\\.bin.*token 0 at byte 8 has length -5",
         "first token length -5", bytes(bad_len))
    big = bytearray(tok)
    struct.pack_into("<i", big, 8, 1 << 30)
    case("tok_length_past_end.bin", "tok", "tok_length_past_end\\.bin.*has length 1073741824",
         "first token length 2^30, far past max_token_length and the file", bytes(big))
    zero = bytearray(tok)
    struct.pack_into("<i", zero, 0, 0)
    case("tok_zero_max_len.bin", "tok", "tok_zero_max_len\\.bin.*max_token_length = 0 is out of range",
         "max_token_length = 0", bytes(zero))
    case("tok_extra_tokens.bin", "tok", "tok_extra_tokens\\.bin.*bytes after the 512 tokens",
         "one token more than the model's vocabulary", tok + struct.pack("<fi", 0.0, 1) + b"x")


# ---- texts (qscope ppl) -----------------------------------------------------------------------
def text_cases():
    base = b"Once upon a time there was a little girl named Lily. She liked to play outside.\n" * 4
    for name, bad, off in [
        ("text_invalid_byte.txt", b"\xff", None),
        ("text_overlong.txt", b"\xc0\xaf", None),
        ("text_surrogate.txt", b"\xed\xa0\x80", None),
        ("text_above_max.txt", b"\xf4\x90\x80\x80", None),
        ("text_lone_continuation.txt", b"\x80", None),
    ]:
        data = base + b"and then " + bad + b" happened.\n"
        case(name, "ppl", esc(name) + ".*invalid UTF-8 at byte offset %d \\(line 5" % (len(base) + 9),
             "invalid UTF-8 (%s) on line 5" % bad.hex(), data)
    data = base + b"cut \xe2\x96"
    case("text_truncated_sequence.txt", "ppl", "text_truncated_sequence\\.txt.*invalid UTF-8 at byte offset %d" % (len(base) + 4),
         "a 3-byte sequence cut by the end of the file", data)
    case("text_empty.txt", "ppl", "text_empty\\.txt.*empty", "an empty text", b"")
    case("text_too_short.txt", "ppl", "fewer than one window", "two characters: not one window of 8 tokens", b"hi")


# ---- Hugging Face directories ---------------------------------------------------------------
HF_CFG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": DIM,
    "intermediate_size": HID, "num_hidden_layers": 1, "num_attention_heads": HEADS,
    "num_key_value_heads": KV, "vocab_size": VOC, "max_position_embeddings": SEQ,
    "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": True,
    "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "rope_scaling": None,
}


def hf_tensors(cfg=HF_CFG):
    d, h, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    kvd = cfg["num_key_value_heads"] * d // cfg["num_attention_heads"]
    t = [("model.embed_tokens.weight", [v, d]), ("model.norm.weight", [d])]
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % l
        t += [(p + "input_layernorm.weight", [d]), (p + "post_attention_layernorm.weight", [d]),
              (p + "self_attn.q_proj.weight", [d, d]), (p + "self_attn.k_proj.weight", [kvd, d]),
              (p + "self_attn.v_proj.weight", [kvd, d]), (p + "self_attn.o_proj.weight", [d, d]),
              (p + "mlp.gate_proj.weight", [h, d]), (p + "mlp.up_proj.weight", [h, d]),
              (p + "mlp.down_proj.weight", [d, h])]
    return t


def safetensors(tensors, dtype="F32", extra=b"", header_edit=None):
    hdr, data, off = {}, b"", 0
    for name, shape in tensors:
        n = 1
        for s in shape:
            n *= s
        raw = floats(n)
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        data += raw
    if header_edit:
        header_edit(hdr)
    h = json.dumps(hdr, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + data + extra


def raw_safetensors(header_bytes, data=b""):
    return struct.pack("<Q", len(header_bytes)) + header_bytes + data


def hf_tokenizer(vocab_size=VOC):
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "▁": 3, "a": 4, "b": 5, "▁a": 6, "ab": 7}
    return json.dumps({
        "version": "1.0", "added_tokens": [],
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                       {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        "pre_tokenizer": None,
        "post_processor": None, "decoder": None,
        "model": {"type": "BPE", "vocab": vocab, "merges": ["▁ a", "a b"], "byte_fallback": False,
                  "unk_token": "<unk>"},
    }, ensure_ascii=False)


def hf_dir(name, what, pattern, cfg=None, st=None, tok=None, extra=None, drop=()):
    files = {"config.json": json.dumps(HF_CFG if cfg is None else cfg) if not isinstance(cfg, (bytes, str)) else cfg,
             "model.safetensors": safetensors(hf_tensors()) if st is None else st,
             "tokenizer.json": hf_tokenizer() if tok is None else tok}
    for k in drop:
        del files[k]
    files.update(extra or {})
    case(name, "info", pattern, what, files=files)


def hf_cases():
    cfg_text = json.dumps(HF_CFG)
    hf_dir("hf_no_config", "a directory with weights but no config.json", "hf_no_config/?.*without config\\.json",
           drop=("config.json",))
    hf_dir("hf_config_malformed", "config.json cut in the middle of an object",
           "hf_config_malformed/config\\.json.*(malformed|invalid|JSON)", cfg=cfg_text[:60])
    hf_dir("hf_config_not_object", "config.json is a JSON array", "hf_config_not_object/config\\.json",
           cfg="[1, 2, 3]")
    hf_dir("hf_config_unknown_arch", "architecture GPT2LMHeadModel", "unsupported architecture 'GPT2LMHeadModel' in .*hf_config_unknown_arch/config\\.json",
           cfg=dict(HF_CFG, architectures=["GPT2LMHeadModel"], model_type="gpt2"))
    hf_dir("hf_config_missing_hidden_size", "no hidden_size", "hf_config_missing_hidden_size/config\\.json.*hidden_size",
           cfg={k: v for k, v in HF_CFG.items() if k != "hidden_size"})
    hf_dir("hf_config_string_layers", "num_hidden_layers is a string", "hf_config_string_layers/config\\.json.*num_hidden_layers",
           cfg=dict(HF_CFG, num_hidden_layers="2"))
    hf_dir("hf_config_negative_layers", "num_hidden_layers = -1", "hf_config_negative_layers/config\\.json: field 'num_hidden_layers' must be an integer in \\[1, ",
           cfg=dict(HF_CFG, num_hidden_layers=-1))
    hf_dir("hf_config_huge_vocab", "vocab_size 1e12 (overflows int)", "hf_config_huge_vocab/config\\.json.*vocab_size",
           cfg=dict(HF_CFG, vocab_size=10**12))
    hf_dir("hf_config_rope_yarn", "rope_scaling of type yarn", "hf_config_rope_yarn/config\\.json.*rope_scaling.*yarn",
           cfg=dict(HF_CFG, rope_scaling={"type": "yarn", "factor": 4.0}))
    hf_dir("hf_config_gelu", "hidden_act gelu", "hf_config_gelu/config\\.json.*gelu",
           cfg=dict(HF_CFG, hidden_act="gelu"))
    hf_dir("hf_no_weights", "config.json and no safetensors", "hf_no_weights.*no model\\.safetensors",
           drop=("model.safetensors",))
    hf_dir("hf_st_empty", "model.safetensors is empty", "hf_st_empty/model\\.safetensors.*empty", st=b"")
    hf_dir("hf_st_header_past_end", "header length 1 MiB in a small file",
           "hf_st_header_past_end/model\\.safetensors.*header", st=struct.pack("<Q", 1 << 20) + b"{}")
    hf_dir("hf_st_header_len_2_63", "header length 2^63 (overflows any size arithmetic)",
           "hf_st_header_len_2_63/model\\.safetensors.*header", st=struct.pack("<Q", 1 << 63) + b"{}")
    hf_dir("hf_st_malformed_json", "the JSON header cut short",
           "hf_st_malformed_json/model\\.safetensors.*(malformed|JSON|invalid)", st=raw_safetensors(b'{"a":{"dtype":"F32",'))
    hf_dir("hf_st_unknown_dtype", "a tensor of dtype I64",
           "hf_st_unknown_dtype/model\\.safetensors.*I64", st=safetensors(hf_tensors(), header_edit=lambda h: h["model.norm.weight"].update(dtype="I64", shape=[DIM // 2])))
    hf_dir("hf_st_shape_mismatch", "shape [9] for a 32-byte range",
           "hf_st_shape_mismatch/model\\.safetensors.*model\\.norm\\.weight", st=safetensors(hf_tensors(), header_edit=lambda h: h["model.norm.weight"].update(shape=[9])))
    hf_dir("hf_st_negative_dim", "a dimension of -8",
           "hf_st_negative_dim/model\\.safetensors.*model\\.norm\\.weight", st=safetensors(hf_tensors(), header_edit=lambda h: h["model.norm.weight"].update(shape=[-8])))
    hf_dir("hf_st_shape_overflow", "shape [2^62, 2^62, 16]: the element count overflows",
           "hf_st_shape_overflow/model\\.safetensors.*model\\.norm\\.weight", st=safetensors(hf_tensors(), header_edit=lambda h: h["model.norm.weight"].update(shape=[2**62, 2**62, 16])))

    def past_end(h):
        h["model.norm.weight"]["data_offsets"] = [10**9, 10**9 + 32]

    hf_dir("hf_st_offset_past_end", "data_offsets far past the end of the file",
           "hf_st_offset_past_end/model\\.safetensors.*model\\.norm\\.weight", st=safetensors(hf_tensors(), header_edit=past_end))

    def overlap(h):
        a = h["model.layers.0.input_layernorm.weight"]["data_offsets"]
        h["model.layers.0.post_attention_layernorm.weight"]["data_offsets"] = [a[0] + 4, a[1] + 4]

    hf_dir("hf_st_overlap", "two tensors overlapping by 28 bytes",
           "hf_st_overlap/model\\.safetensors.*overlap", st=safetensors(hf_tensors(), header_edit=overlap))
    hf_dir("hf_st_trailing_gap", "8 bytes after the last tensor that no tensor covers",
           "hf_st_trailing_gap/model\\.safetensors", st=safetensors(hf_tensors(), extra=b"\0" * 8))
    hf_dir("hf_st_non_utf8_name", "a tensor name with byte 0xFF (not UTF-8)",
           "hf_st_non_utf8_name/model\\.safetensors: invalid UTF-8 in the JSON header at header byte 13 \\(file byte 21\\)", st=raw_safetensors(
               b'{"model.norm.\xff":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', floats(1)))
    hf_dir("hf_st_missing_tensor", "model.norm.weight absent",
           "hf_st_missing_tensor.*model\\.norm\\.weight", st=safetensors([t for t in hf_tensors() if t[0] != "model.norm.weight"]))
    hf_dir("hf_st_wrong_shape", "q_proj of shape [8, 4] where the config implies [8, 8]",
           "hf_st_wrong_shape.*q_proj", st=safetensors([(n, [8, 4] if "q_proj" in n else s) for n, s in hf_tensors()]))
    hf_dir("hf_missing_shard", "an index.json that names a shard which is not there",
           "hf_missing_shard.*model-00002-of-00002\\.safetensors", drop=("model.safetensors",), extra={
               "model.safetensors.index.json": json.dumps({"metadata": {}, "weight_map": {
                   n: ("model-00001-of-00002.safetensors" if i < 3 else "model-00002-of-00002.safetensors")
                   for i, (n, _) in enumerate(hf_tensors())}}),
               "model-00001-of-00002.safetensors": safetensors(hf_tensors()[:3])})
    hf_dir("hf_config_non_utf8", "config.json with byte 0xFF inside a string",
           "hf_config_non_utf8/config\\.json: invalid UTF-8 at byte 22", cfg=b'{"architectures": ["Ll\xffamaForCausalLM"]}')
    hf_dir("hf_tok_non_utf8", "tokenizer.json with a vocabulary piece holding byte 0xC0 0xAF (overlong)",
           "hf_tok_non_utf8/tokenizer\\.json: invalid UTF-8 at byte", tok=hf_tokenizer().encode().replace(b'"ab"', b'"a\xc0\xafb"'))
    hf_dir("hf_tok_wordpiece", "tokenizer.json with a WordPiece model",
           "unsupported tokenizer model type 'WordPiece' in .*hf_tok_wordpiece/tokenizer\\.json", tok=json.dumps({"model": {"type": "WordPiece", "vocab": {"a": 0}}}))
    hf_dir("hf_tok_malformed", "tokenizer.json cut short",
           "hf_tok_malformed/tokenizer\\.json.*(malformed|JSON|invalid)", tok=hf_tokenizer()[:100])
    hf_dir("hf_tok_bad_regex", "a Split pre-tokenizer whose regex does not compile",
           "hf_tok_bad_regex/tokenizer\\.json.*(regex|pattern)", tok=json.dumps(dict(json.loads(hf_tokenizer()), normalizer=None, pre_tokenizer={
               "type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(["}, "behavior": "Isolated"},
                                                     {"type": "ByteLevel", "use_regex": False}]})))


# ---- GGUF -------------------------------------------------------------------------------------
def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


GGUF_U32, GGUF_F32, GGUF_STRING, GGUF_ARRAY = 4, 6, 8, 9


def gkv(key, vtype, value):
    out = gstr(key) + struct.pack("<I", vtype)
    if vtype == GGUF_U32:
        out += struct.pack("<I", value)
    elif vtype == GGUF_F32:
        out += struct.pack("<f", value)
    elif vtype == GGUF_STRING:
        out += gstr(value)
    else:
        out += value
    return out


def gguf_kvs(arch="llama", drop=(), extra=()):
    kv = [("general.architecture", GGUF_STRING, arch),
          ("llama.context_length", GGUF_U32, SEQ), ("llama.embedding_length", GGUF_U32, DIM),
          ("llama.block_count", GGUF_U32, 1), ("llama.feed_forward_length", GGUF_U32, HID),
          ("llama.attention.head_count", GGUF_U32, HEADS), ("llama.attention.head_count_kv", GGUF_U32, KV),
          ("llama.attention.layer_norm_rms_epsilon", GGUF_F32, 1e-5), ("llama.vocab_size", GGUF_U32, VOC)]
    return [k for k in kv if k[0] not in drop] + list(extra)


def gguf_tensors():
    kvd = KV * DIM // HEADS
    t = [("token_embd.weight", [DIM, VOC]), ("output_norm.weight", [DIM])]
    p = "blk.0."
    t += [(p + "attn_norm.weight", [DIM]), (p + "attn_q.weight", [DIM, DIM]), (p + "attn_k.weight", [DIM, kvd]),
          (p + "attn_v.weight", [DIM, kvd]), (p + "attn_output.weight", [DIM, DIM]), (p + "ffn_norm.weight", [DIM]),
          (p + "ffn_gate.weight", [DIM, HID]), (p + "ffn_up.weight", [DIM, HID]), (p + "ffn_down.weight", [HID, DIM])]
    return t


def gguf(version=3, kvs=None, tensors=None, n_tensors=None, n_kv=None, types=None, offsets=None, pad_to=32,
         data_cut=None, sections=None, raw_data=None):
    """A little-endian GGUF; tensors are F32 (type 0) unless types says otherwise.
    sections, if a list, receives the byte offsets where kv, tensor infos and data start."""
    kvs = gguf_kvs() if kvs is None else kvs
    tensors = gguf_tensors() if tensors is None else tensors
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors) if n_tensors is None else n_tensors,
                                len(kvs) if n_kv is None else n_kv)
    if sections is not None:
        sections.append(len(out))
    for k in kvs:
        out += gkv(*k)
    if sections is not None:
        sections.append(len(out))
    off = 0
    data = b""
    for i, (name, ne) in enumerate(tensors):
        n = 1
        for x in ne:
            n *= x
        ty = (types or {}).get(name, 0)
        o = (offsets or {}).get(name, off)
        out += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", x & (2**64 - 1)) for x in ne)
        out += struct.pack("<IQ", ty, o)
        bs, ts = {1: (1, 2), 2: (32, 18), 8: (32, 34), 27: (1, 8)}.get(ty, (1, 4))  # ggml block, bytes
        raw = floats(max(n, 0) if n < 1 << 20 else 1)
        if (bs, ts) != (1, 4) and 0 <= n < 1 << 20:
            raw = (raw * ts)[:max(n, 0) // bs * ts]
        if raw_data and name in raw_data:
            raw = raw_data[name]
        raw += b"\0" * (-len(raw) % 32)
        data += raw
        off += len(raw)
    out += b"\0" * (-len(out) % pad_to)
    if sections is not None:
        sections.append(len(out))
    out += data
    return out if data_cut is None else out[:data_cut]


def gguf_cases():
    g = "gguf"  # every case names the file; the problem words follow the GGUF loader's messages
    case("gguf_magic_only.gguf", "info", "gguf_magic_only\\.gguf.*(truncated|header)", "the 4-byte magic alone", b"GGUF")
    case("gguf_version_1.gguf", "info", "gguf_version_1\\.gguf.*version 1", "GGUF version 1", gguf(version=1))
    case("gguf_version_4.gguf", "info", "gguf_version_4\\.gguf.*version 4", "GGUF version 4", gguf(version=4))
    # truncated at each section boundary and inside each section
    secs = []
    full = gguf(sections=secs)
    kv_mid = secs[0] + (secs[1] - secs[0]) * 2 // 3
    # inside kv, a file with tensor infos fails the header's plausibility check first: cut
    # one without tensors so the reader itself meets the end of the file
    no_tensors = gguf(tensors=[])
    ti_mid = secs[1] + (secs[2] - secs[1]) * 2 // 3
    for label, cut, problem in [
            ("at_kv", secs[0], "cannot fit|impossible"), ("in_kv", kv_mid, "truncated at offset|runs past end"),
            ("at_tensor_infos", secs[1], "cannot fit|impossible|truncated at offset"),
            ("in_tensor_infos", ti_mid, "truncated at offset|runs past end"),
            ("at_data", secs[2], "data .* runs past end of file"),
            ("in_data", secs[2] + (len(full) - secs[2]) // 2, "data .* runs past end of file")]:
        f = "gguf_cut_%s.gguf" % label
        src = no_tensors if label == "in_kv" else full
        case(f, "info", esc(f) + ": .*(%s)" % problem, "cut %s section (byte %d of %d)%s" % (
            label.replace("_", " the ", 1).replace("at the", "at the start of the").replace("in the", "inside the"),
            cut, len(src), " (no tensors)" if src is no_tensors else ""), src[:cut])
    case("gguf_n_tensors_absurd.gguf", "info", "gguf_n_tensors_absurd\\.gguf.*(n_tensors|tensor count|tensors)",
         "n_tensors = 2^62", gguf(n_tensors=1 << 62))
    case("gguf_n_kv_absurd.gguf", "info", "gguf_n_kv_absurd\\.gguf.*(n_kv|key)",
         "n_kv = 2^61", gguf(n_kv=1 << 61))
    case("gguf_string_past_end.gguf", "info", "gguf_string_past_end\\.gguf.*(string|length|past|end)",
         "a key whose length field says 2^40 bytes",
         b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 40) + b"general.architecture")
    arr = struct.pack("<IQ", GGUF_U32, 1 << 60)
    case("gguf_array_past_end.gguf", "info", "gguf_array_past_end\\.gguf.*(array|past|end|count)",
         "an array of 2^60 uint32", gguf(kvs=gguf_kvs(extra=[("tokenizer.ggml.scores", GGUF_ARRAY, arr)])))
    case("gguf_bad_value_type.gguf", "info", "gguf_bad_value_type\\.gguf.*(type|value)",
         "a metadata value of type 99", gguf(kvs=gguf_kvs(extra=[("x.y", 99, struct.pack("<I", 0))])))
    nested = struct.pack("<IQ", GGUF_ARRAY, 1)
    for _ in range(20):
        nested += struct.pack("<IQ", GGUF_ARRAY, 1)
    nested += struct.pack("<IQ", GGUF_U32, 1) + struct.pack("<I", 7)
    case("gguf_nested_arrays.gguf", "info", "gguf_nested_arrays\\.gguf.*(nest|depth|array)",
         "arrays nested 22 deep", gguf(kvs=gguf_kvs(extra=[("x.deep", GGUF_ARRAY, nested)])))
    case("gguf_non_utf8_key.gguf", "info", "gguf_non_utf8_key\\.gguf: metadata entry 9 at offset [0-9]+: key is not valid UTF-8",
         "a metadata key with byte 0xFF", gguf(kvs=gguf_kvs(extra=[(b"bad.\xff.key", GGUF_U32, 1)])))
    case("gguf_offset_past_end.gguf", "info", "gguf_offset_past_end\\.gguf.*output_norm\\.weight",
         "output_norm.weight at an offset 1 GiB past the data", gguf(offsets={"output_norm.weight": 1 << 30}))
    case("gguf_misaligned_offset.gguf", "info", "gguf_misaligned_offset\\.gguf.*output_norm\\.weight.*align",
         "output_norm.weight at an offset not a multiple of 32", gguf(offsets={"output_norm.weight": 4}))
    case("gguf_overlapping_tensors.gguf", "info", "gguf_overlapping_tensors\\.gguf: tensors 'token_embd\\.weight' and 'blk\\.0\\.attn_norm\\.weight' overlap",
         "blk.0.attn_norm.weight placed over token_embd.weight", gguf(offsets={"blk.0.attn_norm.weight": 0}))
    case("gguf_unknown_type.gguf", "info", "gguf_unknown_type\\.gguf.*output_norm\\.weight.*type",
         "output_norm.weight of ggml type 200", gguf(types={"output_norm.weight": 200}))
    case("gguf_i64_type.gguf", "info", "gguf_i64_type\\.gguf.*output_norm\\.weight.*I64",
         "output_norm.weight of type I64 (known to ggml, not dequantized by qscope)",
         gguf(types={"output_norm.weight": 27}))
    case("gguf_q4_0_partial_block.gguf", "info", "gguf_q4_0_partial_block\\.gguf: tensor 'output_norm\\.weight'.*not a multiple of the Q4_0 block size 32",
         "a Q4_0 tensor whose row length (8) is not a multiple of the 32-value block",
         gguf(types={"output_norm.weight": 2}))
    case("gguf_bad_alignment.gguf", "info", "gguf_bad_alignment\\.gguf: 'general\\.alignment'.* is 24, not a power of two",
         "general.alignment = 24", gguf(kvs=gguf_kvs(extra=[("general.alignment", GGUF_U32, 24)])))
    case("gguf_tokens_not_strings.gguf", "info", "gguf_tokens_not_strings\\.gguf.*tokenizer\\.ggml\\.tokens",
         "tokenizer.ggml.tokens is an array of uint32",
         gguf(kvs=gguf_kvs(extra=[("tokenizer.ggml.model", GGUF_STRING, "llama"),
                                  ("tokenizer.ggml.tokens", GGUF_ARRAY, struct.pack("<IQ", GGUF_U32, 8) + struct.pack("<8I", *range(8)))])))
    case("gguf_zero_dim.gguf", "info", "gguf_zero_dim\\.gguf.*output_norm\\.weight",
         "output_norm.weight with ne[0] = 0", gguf(tensors=[(n, [0] if n == "output_norm.weight" else s) for n, s in gguf_tensors()]))
    case("gguf_dims_overflow.gguf", "info", "gguf_dims_overflow\\.gguf.*output_norm\\.weight",
         "ne = [2^40, 2^40]: the element count overflows", gguf(tensors=[(n, [1 << 40, 1 << 40] if n == "output_norm.weight" else s) for n, s in gguf_tensors()]))
    case("gguf_too_many_dims.gguf", "info", "gguf_too_many_dims\\.gguf.*(dims|dimensions)",
         "a tensor with 9 dimensions", gguf(tensors=gguf_tensors() + [("x.weight", [1] * 9)]))
    case("gguf_unknown_arch.gguf", "info", "gguf_unknown_arch\\.gguf.*unsupported architecture 'gpt2'",
         "general.architecture = gpt2", gguf(kvs=gguf_kvs(arch="gpt2")))
    case("gguf_missing_block_count.gguf", "info", "gguf_missing_block_count\\.gguf.*llama\\.block_count",
         "no llama.block_count", gguf(kvs=gguf_kvs(drop=("llama.block_count",))))
    case("gguf_missing_tensor.gguf", "info", "gguf_missing_tensor\\.gguf.*blk\\.0\\.ffn_up\\.weight",
         "blk.0.ffn_up.weight absent", gguf(tensors=[t for t in gguf_tensors() if t[0] != "blk.0.ffn_up.weight"]))
    case("gguf_duplicate_tensor.gguf", "info", "gguf_duplicate_tensor\\.gguf.*(duplicate|twice).*output_norm\\.weight",
         "output_norm.weight listed twice", gguf(tensors=gguf_tensors() + [("output_norm.weight", [DIM])]))


# ---- Lua scripts (qscope run) -----------------------------------------------------------------
def script_cases():
    case("lua_syntax_error.lua", "run", "lua_syntax_error\\.lua:3:", "a syntax error on line 3",
         "local x = 1\nlocal y = 2\nlocal z = = 3\n")
    case("lua_runtime_error.lua", "run", "lua_runtime_error\\.lua:2:.*nil", "calls a nil value on line 2",
         "local t = {}\nt.missing()\n")
    case("lua_os_execute.lua", "run", "lua_os_execute\\.lua:1: attempt to call a nil value \\(field 'execute'\\)", "tries os.execute", "os.execute('touch /tmp/qscope-escaped')\n")
    case("lua_bytecode.lua", "run", "lua_bytecode\\.lua.*(binary|bytecode|text)", "a precompiled chunk instead of text",
         b"\x1bLua\x54\x00\x19\x93\r\n\x1a\n\x04\x08\x08\x78\x56\x00\x00")
    case("lua_forever.lua", "run", "lua_forever\\.lua.*(time|seconds|limit)", "loops forever (run with --max-seconds 5)",
         "while true do end\n")
    case("lua_alloc_unbounded.lua", "run", "exceeded its memory limit of 64 MiB",
         "allocates without bound (run with --max-memory 64)", "local t = {}\nwhile true do t[#t + 1] = string.rep('x', 1024) .. #t end\n")
    case("lua_bad_model_path.lua", "run", "lua_bad_model_path\\.lua.*does/not/exist\\.bin",
         "opens a model that does not exist", "local m = qs.model('does/not/exist.bin')\n")
    case("lua_non_utf8.lua", "run", "lua_non_utf8\\.lua:1:", "a byte 0xFF outside any string",
         b"local x = 1 \xff\n")


# ---- NaN and Inf in stored weights and tokenizer scores ------------------------------------------
NAN32, PINF32, NINF32 = b"\x00\x00\xc0\x7f", b"\x00\x00\x80\x7f", b"\x00\x00\x80\xff"


def put(data, off, b):
    return data[:off] + b + data[off + len(b):]


def nonfinite_cases():
    # llama2.c: element 5 of layer 1's wq, element 3 of the embedding
    segs = dict(l2c_segments())
    model = l2c_model()
    wq1 = 28 + 4 * (segs["token_embedding"] + segs["rms_att"] + DIM * DIM)
    case("l2c_nan_wq.bin", "info",
         "l2c_nan_wq\\.bin: tensor 'blk\\.1\\.attn_q' holds NaN at element 5 \\(of 64, stored F32\\)",
         "NaN in layer 1's wq, element 5", put(model, wq1 + 4 * 5, NAN32))
    case("l2c_inf_embedding.bin", "info",
         "l2c_inf_embedding\\.bin: tensor 'token_embd' holds \\+Inf at element 3 ",
         "+Inf in the embedding, element 3", put(model, 28 + 4 * 3, PINF32))
    # Hugging Face: F32, F16 and BF16 checkpoints
    def st_with(dtype, name, index, raw):
        t = hf_tensors()
        size = {"F32": 4, "F16": 2, "BF16": 2}[dtype]
        blob = safetensors(t, dtype="F32")
        hdr, off = {}, 0
        data = b""
        for tname, shape in t:
            n = 1
            for x in shape:
                n *= x
            vals = [((i * 37) % 101 - 50) / 100.0 for i in range(n)]
            if dtype == "F32":
                b = struct.pack("<%df" % n, *vals)
            elif dtype == "F16":
                b = struct.pack("<%de" % n, *vals)
            else:
                b = b"".join(struct.pack("<f", v)[2:] for v in vals)
            if tname == name:
                b = put(b, size * index, raw)
            hdr[tname] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(b)]}
            off += len(b)
            data += b
        h = json.dumps(hdr, separators=(",", ":")).encode()
        return struct.pack("<Q", len(h)) + h + data
    hf_dir("hf_nan_f32", "NaN in an F32 safetensors weight",
           "hf_nan_f32/model\\.safetensors: tensor 'model\\.layers\\.0\\.mlp\\.down_proj\\.weight' holds NaN at element 7 \\(of 128, stored F32\\)",
           st=st_with("F32", "model.layers.0.mlp.down_proj.weight", 7, NAN32))
    hf_dir("hf_inf_f16", "+Inf in an F16 safetensors weight",
           "hf_inf_f16/model\\.safetensors: tensor 'model\\.layers\\.0\\.self_attn\\.q_proj\\.weight' holds \\+Inf at element 0 \\(of 64, stored F16\\)",
           st=st_with("F16", "model.layers.0.self_attn.q_proj.weight", 0, b"\x00\x7c"))
    hf_dir("hf_ninf_bf16", "-Inf in a BF16 safetensors weight",
           "hf_ninf_bf16/model\\.safetensors: tensor 'model\\.norm\\.weight' holds -Inf at element 2 \\(of 8, stored BF16\\)",
           st=st_with("BF16", "model.norm.weight", 2, b"\x80\xff"))
    # GGUF: F32, F16, and a Q8_0 block whose fp16 scale is NaN
    case("gguf_nan_f32.gguf", "info",
         "gguf_nan_f32\\.gguf: tensor 'blk\\.0\\.attn_q\\.weight' holds NaN at element 9 \\(of 64, stored F32\\)",
         "NaN in an F32 tensor",
         gguf(raw_data={"blk.0.attn_q.weight": put(floats(64), 4 * 9, NAN32)}))
    case("gguf_inf_f16.gguf", "info",
         "gguf_inf_f16\\.gguf: tensor 'blk\\.0\\.ffn_norm\\.weight' holds -Inf at element 4 \\(of 8, stored F16\\)",
         "-Inf in an F16 tensor",
         gguf(types={"blk.0.ffn_norm.weight": 1},
              raw_data={"blk.0.ffn_norm.weight": put(struct.pack("<8e", *[1.0] * 8), 8, b"\x00\xfc") + bytes(16)}))
    q8 = b"".join(struct.pack("<e", 0.01) + bytes(range(32)) for _ in range(4))
    # Q8_0 rows hold whole 32-value blocks: a width-32 variant of the tiny model
    kvd, b = KV * 32 // HEADS, "blk.0."
    wide = [("token_embd.weight", [32, VOC]), ("output_norm.weight", [32]),
            (b + "attn_norm.weight", [32]), (b + "attn_q.weight", [32, 32]),
            (b + "attn_k.weight", [32, kvd]), (b + "attn_v.weight", [32, kvd]),
            (b + "attn_output.weight", [32, 32]), (b + "ffn_norm.weight", [32]),
            (b + "ffn_gate.weight", [32, HID]), (b + "ffn_up.weight", [32, HID]),
            (b + "ffn_down.weight", [HID, 32])]
    kv32 = gguf_kvs(drop=("llama.embedding_length",),
                    extra=[("llama.embedding_length", GGUF_U32, 32)])
    case("gguf_nan_q8_0.gguf", "info",
         "gguf_nan_q8_0\\.gguf: tensor 'blk\\.0\\.ffn_gate\\.weight' decodes to NaN at element 64 \\(block 2 of 16, stored Q8_0\\)",
         "Q8_0 tensor whose block 2 has a NaN scale",
         gguf(kvs=kv32, tensors=wide, types={"blk.0.ffn_gate.weight": 8},
              raw_data={"blk.0.ffn_gate.weight": put(q8 * 4, 2 * 34, b"\x00\x7e")}))
    # a llama2.c tokenizer with a NaN score (token 100)
    tok = bytearray(rd("data/models/tok512.bin"))
    off = 4
    for i in range(100):
        off += 8 + struct.unpack_from("<i", tok, off + 4)[0]
    tok[off:off + 4] = NAN32
    case("tok_nan_score.bin", "tok", "tok_nan_score\\.bin: token 100 \\('.*'\\) has score nan; scores must be finite",
         "token 100's score is NaN", bytes(tok))


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    llama2c_cases()
    tok_cases()
    text_cases()
    hf_cases()
    gguf_cases()
    nonfinite_cases()
    script_cases()
    with open(os.path.join(BAD, "MANIFEST.tsv"), "w") as f:
        f.write("# name\tkind\tpattern\twhat   (generated by tests/bad/make_bad.py)\n")
        for c in CASES:
            f.write("\t".join(c) + "\n")
    print("%d bad inputs" % len(CASES))


if __name__ == "__main__":
    main()
