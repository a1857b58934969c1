"""Accuracy of the offline (`local`) engines, measured on data this script makes or ships.

    .venv/bin/python bench/offline_quality.py [--out PATH] [--only text,asr,ocr] [--quiet]

1. Text moderation: `bench/data/moderation_sample.tsv` (hand-written, labelled; see
   `bench/data/README.md`) through `LocalModeration({}).moderate_texts`, turned into a decision
   by `mmservice.moderation.policy.verdict` with the default thresholds (a category is flagged
   when its score >= 0.5; the environment's MMS_THRESHOLDS* are ignored so the number is
   reproducible).
   Binary "flagged" vs the label: precision, recall, F1, accuracy, false-positive rate on the
   tricky-benign and plain-benign subsets, recall per category and on the obfuscated subset,
   and whether the line's own category is among the flagged ones. Latency: one text per call.
2. ASR: 25 distinct sentences synthesized by `LocalSpeech` (espeak-ng) with 5 OpenAI voice
   names at speeds 0.8 / 1.0 / 1.3 (each sentence once per speed, voices rotated so every
   voice x speed cell holds 5 sentences); by default the 5 sentences of a cell are joined into
   one ~15 s clip (`--asr-clips sentence`: one short clip each), transcribed by
   `LocalTranscription` (Whisper tiny.en int8). WER is corpus-level word Levenshtein after
   normalization (lower case, punctuation stripped, digits spelled out as words on both
   sides). Real-time factor = transcribe wall time (decode included) / audio duration.
3. OCR: lines and a paragraph rendered with Pillow's default font (`load_default(size=N)`)
   at several sizes and colour schemes, read by `mmservice.providers.local.ocr.read_text`. CER
   is corpus-level character Levenshtein, case-insensitive, whitespace collapsed (also given
   with spaces removed, since most misses are gaps between words that the OCR drops).

Writes the usual result list ({"name","value","unit","baseline","target","met"}) plus details
to bench/offline_quality.json and ends with one summary line. Exits 2 when an engine cannot
run (the other sections still run and are written).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

SAMPLE = os.path.join(ROOT, "bench", "data", "moderation_sample.tsv")
DEFAULT_OUT = os.path.join(ROOT, "bench", "offline_quality.json")

# OpenAI voice names -> different espeak-ng voices (see providers/local/tts.py VOICES).
ASR_VOICES = ["alloy", "fable", "nova", "onyx", "sage"]
ASR_SPEEDS = [0.8, 1.0, 1.3]
ASR_SENTENCES = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Please remember to lock the front door before you leave for work.",
    "Our flight to Chicago departs at seven thirty tomorrow morning.",
    "The committee approved a budget of 42 million dollars for new schools.",
    "She bought three apples, two oranges and a small loaf of bread.",
    "Scientists discovered a new species of frog in the rainforest last year.",
    "Turn left at the second traffic light and park behind the library.",
    "The old lighthouse has guided ships along this coast for over a century.",
    "My brother plays the guitar in a jazz band every Friday night.",
    "Heavy rain is expected across the region until Sunday afternoon.",
    "The museum will close early today because of a private event.",
    "Could you send me the slides from yesterday's meeting?",
    "A healthy breakfast gives you energy for the whole morning.",
    "The children planted sunflowers along the garden fence.",
    "Engineers are testing a faster battery for electric buses.",
    "He forgot his keys at the office and had to call a locksmith.",
    "The mountain trail is steep, so bring water and good boots.",
    "Most birds migrate south when the days become shorter.",
    "The bakery sells fresh bread, cakes and coffee until noon.",
    "Our team finished the project two weeks ahead of schedule.",
    "The train was delayed by twenty minutes because of a signal failure.",
    "Reading before bed helps many people fall asleep more easily.",
    "The doctor recommended a short walk after every meal.",
    "In 1969, astronauts landed on the moon for the first time.",
    "The printer on the third floor is out of paper again.",
]

OCR_SIZES = [12, 16, 24, 36, 48]
OCR_SCHEMES = {  # name: (background, text colour)
    "black-on-white": ((255, 255, 255), (0, 0, 0)),
    "white-on-black": ((0, 0, 0), (255, 255, 255)),
    "navy-on-cream": ((250, 240, 200), (20, 30, 110)),
    "red-on-grey": ((215, 215, 215), (150, 20, 20)),
}
OCR_LINES = [
    "Invoice 2024-0173 due 15 March",
    "Meeting room B, third floor",
    "Total: $48.90 incl. VAT",
    "OPEN 9am - 5pm MONDAY TO FRIDAY",
    "The quick brown fox jumps over the lazy dog",
    "Call 555-0142 for support",
    "Free shipping on orders over 50 EUR",
    "Keep this door closed at all times",
]
OCR_PARAGRAPH = [
    "Offline engines make the service usable",
    "without an API key. Every model ships in",
    "a wheel, so nothing downloads at run time.",
    "Accuracy is measured on rendered text.",
]
OCR_PARAGRAPH_SIZES = [16, 24, 36]


class CannotRun(RuntimeError):
    pass


# ------------------------------------------------------------------------------ helpers ----

def levenshtein(a: list | str, b: list | str) -> int:
    """Edit distance (substitution, insertion, deletion all cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_words(n: int) -> str:
    """Cardinal in words, no 'and', no hyphens: 1969 -> 'one thousand nine hundred sixty nine'.
    Applied to digits on both sides, so how a year is read does not matter."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    for size, word in ((10 ** 9, "billion"), (10 ** 6, "million"), (1000, "thousand"),
                       (100, "hundred")):
        if n >= size:
            head, rest = divmod(n, size)
            return number_words(head) + " " + word + ("" if rest == 0 else " " + number_words(rest))
    raise AssertionError(n)


def normalize_words(text: str) -> list[str]:
    t = text.lower()
    t = re.sub(r"(\d),(\d{3})", r"\1\2", t)  # 1,000 -> 1000
    t = re.sub(r"(\d)[:.](\d)", r"\1 \2", t)  # 7:30 / 7.30 -> 7 30
    t = re.sub(r"\$\s*(\d+)(\s+(?:million|billion|thousand))?",
               lambda m: m.group(1) + (m.group(2) or "") + " dollars", t)
    t = re.sub(r"(\d)%", r"\1 percent", t)
    t = re.sub(r"(\d+)(st|nd|rd|th)\b", r"\1", t)  # ordinals compared as cardinals
    t = t.replace("'", "").replace("\u2019", "")  # don't -> dont
    t = re.sub(r"[^a-z0-9]+", " ", t)
    t = re.sub(r"\d+", lambda m: " " + number_words(int(m.group(0))) + " ", t)
    return t.split()


def normalize_chars(text: str) -> str:
    return " ".join(text.lower().split())


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def res(name: str, value, unit: str, baseline=None, target=None, met=None, **extra) -> dict:
    out = {"name": name, "value": value, "unit": unit, "baseline": baseline, "target": target,
           "met": met}
    out.update(extra)
    return out


def ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def r4(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


# ----------------------------------------------------------------------- text moderation ----

def load_sample(path: str = SAMPLE) -> list[dict]:
    rows, section = [], None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            if line.startswith("#"):
                m = re.match(r"#\s*section:\s*(\S+)", line)
                if m:
                    section = m.group(1)
                continue
            parts = line.split("\t")
            if len(parts) != 3 or parts[0] not in ("toxic", "benign"):
                raise CannotRun(f"{path}:{n}: expected label<TAB>category<TAB>text")
            label, cat, text = parts
            if (label == "benign") != (cat == "-"):
                raise CannotRun(f"{path}:{n}: benign lines have category '-', toxic lines a name")
            rows.append({"label": label, "category": cat, "text": text,
                         "subset": section or label, "line": n})
    return rows


def bench_text(quiet: bool) -> tuple[list[dict], dict, str]:
    from mmservice import config
    from mmservice.moderation import policy
    from mmservice.providers.local import LocalModeration

    rows = load_sample()
    cfg = config.load(environ={})  # default thresholds: review 0.5, independent of MMS_* env
    review = float(cfg["THRESHOLDS_REVIEW"])
    engine = LocalModeration({})
    t0 = time.perf_counter()
    engine.moderate_texts(["warm up"])  # loads the profanity model
    load_s = time.perf_counter() - t0

    # Latency: one text per call (as a single-text request), then one batch for throughput.
    raws, lat = [], []
    for r in rows:
        t = time.perf_counter()
        raws.append(engine.moderate_texts([r["text"]])[0])
        lat.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    batch = engine.moderate_texts([r["text"] for r in rows])
    batch_ms = (time.perf_counter() - t) * 1000
    # Batching must not change a score. Scores are rounded to 4 decimals, and a batch's vectors
    # are within 1e-6 of single calls' (tests/test_e5_onnx.py), which can flip the last digit.
    for a, b in zip(raws, batch):
        if a.category_scores.keys() != b.category_scores.keys() or any(
                abs(a.category_scores[c] - b.category_scores[c]) > 1.5e-4
                for c in a.category_scores):
            raise CannotRun("moderate_texts gave different scores in a batch and alone")

    for r, raw in zip(rows, raws):
        r["max_score"] = max(raw.category_scores.get(c, 0.0) for c in raw.assessed_categories)
        v = policy.verdict([raw], cfg=cfg, overrides=None, inputs=["text"])
        r["flagged"] = v["flagged"]
        r["flagged_categories"] = sorted(c for c, f in v["categories"].items() if f)
        r["top"] = max(v["category_scores"].items(), key=lambda kv: kv[1])

    tox = [r for r in rows if r["label"] == "toxic"]
    ben = [r for r in rows if r["label"] == "benign"]
    tp = sum(r["flagged"] for r in tox)
    fp = sum(r["flagged"] for r in ben)
    fn, tn = len(tox) - tp, len(ben) - fp
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    f1 = ratio(2 * precision * recall, precision + recall) if precision and recall else 0.0
    accuracy = (tp + tn) / len(rows)
    tricky = [r for r in ben if r["subset"] == "benign-tricky"]
    plain = [r for r in ben if r["subset"] != "benign-tricky"]
    obf = [r for r in tox if r["subset"] == "toxic-obfuscated"]
    fpr_tricky = ratio(sum(r["flagged"] for r in tricky), len(tricky))
    fpr_plain = ratio(sum(r["flagged"] for r in plain), len(plain))
    obf_recall = ratio(sum(r["flagged"] for r in obf), len(obf))

    def own_category(r: dict) -> bool:
        # The line's category, or its /threatening child (a threat is harassment/threatening
        # whether or not it also reads as hate/threatening; hate with violence counts as hate).
        want = {r["category"], r["category"] + "/threatening", r["category"] + "/intent"}
        return bool(want & set(r["flagged_categories"]))

    per_cat = {}
    for cat in sorted({r["category"] for r in tox}):
        rs = [r for r in tox if r["category"] == cat]
        per_cat[cat] = {"n": len(rs), "recall": r4(ratio(sum(r["flagged"] for r in rs), len(rs))),
                        "own_category_recall": r4(ratio(sum(own_category(r) for r in rs),
                                                        len(rs)))}
    results = [
        res("text_mod_f1", r4(f1), "ratio"),
        res("text_mod_precision", r4(precision), "ratio"),
        res("text_mod_recall", r4(recall), "ratio"),
        res("text_mod_accuracy", r4(accuracy), "ratio"),
        res("text_mod_fpr_tricky_benign", r4(fpr_tricky), "ratio", n=len(tricky)),
        res("text_mod_fpr_plain_benign", r4(fpr_plain), "ratio", n=len(plain)),
        res("text_mod_recall_obfuscated", r4(obf_recall), "ratio", n=len(obf)),
    ]
    for cat, d in per_cat.items():
        results.append(res(f"text_mod_recall[{cat}]", d["recall"], "ratio", n=d["n"],
                           own_category_recall=d["own_category_recall"]))
    results += [
        res("text_mod_latency_p50", round(pct(lat, 50), 2), "ms/text"),
        res("text_mod_latency_p95", round(pct(lat, 95), 2), "ms/text"),
        res("text_mod_batch_per_text", round(batch_ms / len(rows), 3), "ms/text",
            n=len(rows)),
    ]
    # The same decision at other review lines (one threshold for every category), to show
    # what an operator trades by moving MMS_THRESHOLDS_REVIEW.
    sweep = {}
    for th in (0.3, 0.4, 0.5, 0.6, 0.7):
        s_tp = sum(r["max_score"] >= th for r in tox)
        s_fp = sum(r["max_score"] >= th for r in ben)
        s_p, s_r = ratio(s_tp, s_tp + s_fp), ratio(s_tp, len(tox))
        sweep[th] = {"precision": r4(s_p), "recall": r4(s_r),
                     "f1": r4(ratio(2 * s_p * s_r, s_p + s_r)) if s_p and s_r else 0.0,
                     "fpr_tricky": r4(ratio(sum(r["max_score"] >= th for r in tricky),
                                            len(tricky)))}
    errors = [{"label": r["label"], "category": r["category"], "subset": r["subset"],
               "text": r["text"], "flagged_categories": r["flagged_categories"],
               "top": [r["top"][0], round(r["top"][1], 3)]}
              for r in rows if r["flagged"] != (r["label"] == "toxic")]
    details = {"sample": os.path.relpath(SAMPLE, ROOT), "lines": len(rows), "toxic": len(tox),
               "benign": len(ben), "tricky_benign": len(tricky), "obfuscated_toxic": len(obf),
               "review_threshold": review, "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
               "per_category": per_cat, "threshold_sweep": sweep, "model_load_s": round(load_s, 2),
               "model": raws[0].model if raws else None, "errors": errors}

    print(f"\n== Text moderation ({len(rows)} lines: {len(tox)} toxic, {len(ben)} benign of "
          f"which {len(tricky)} tricky; flagged = any category >= {review}) ==")
    print(f"  TP {tp}  FP {fp}  FN {fn}  TN {tn}")
    print(f"  precision {precision:.3f}  recall {recall:.3f}  F1 {f1:.3f}  accuracy "
          f"{accuracy:.3f}")
    print(f"  false-positive rate: tricky benign {fpr_tricky:.3f} ({len(tricky)} lines), "
          f"plain benign {fpr_plain:.3f} ({len(plain)} lines)")
    print(f"  recall on obfuscated toxic lines {obf_recall:.3f} ({len(obf)} lines)")
    print("  per category: recall (flagged at all) / own category flagged")
    for cat, d in per_cat.items():
        print(f"    {cat:<24} n={d['n']:<3} {d['recall']:.3f} / {d['own_category_recall']:.3f}")
    print(f"  latency per text (1 per call) p50 {pct(lat, 50):.2f} ms, p95 {pct(lat, 95):.2f} ms;"
          f" batch of {len(rows)}: {batch_ms / len(rows):.3f} ms/text; model load {load_s:.1f} s")
    print("  at other review thresholds (all categories): " + "; ".join(
        f"{th}: P {d['precision']:.2f} R {d['recall']:.2f} F1 {d['f1']:.2f} FPR-tricky "
        f"{d['fpr_tricky']:.2f}" for th, d in sweep.items()))
    if not quiet:
        print("  misclassified:")
        for e in errors:
            what = (f"flagged {','.join(e['flagged_categories'])}" if e["label"] == "benign"
                    else f"missed (top {e['top'][0]} {e['top'][1]})")
            print(f"    [{e['subset']}{'' if e['category'] == '-' else ' ' + e['category']}] "
                  f"{what}: {e['text']}")
    return results, details, f"text F1 {f1:.2f} (FPR tricky {fpr_tricky:.0%})"


# --------------------------------------------------------------------------------- ASR ----

def _wav_pcm(wav: bytes) -> tuple[bytes, int]:
    import io
    import wave

    with wave.open(io.BytesIO(wav)) as w:
        return w.readframes(w.getnframes()), w.getframerate()


def bench_asr(quiet: bool, mode: str = "cell") -> tuple[list[dict], dict, str]:
    """mode "cell": the sentences of one voice x speed cell are joined (0.5 s of silence between)
    into one clip of about 15 s, as a voice message or a short recording would be; mode
    "sentence": every sentence is its own 2-6 s clip (harder for Whisper: no context, and each
    call pays for a full 30 s window, so the real-time factor is much worse)."""
    from mmservice.media.audio import pcm_to_wav
    from mmservice.providers.local import LocalSpeech, LocalTranscription
    from mmservice.providers.local import tts as tts_mod

    tts, stt = LocalSpeech({}), LocalTranscription({})
    t0 = time.perf_counter()
    stt.transcribe(tts.speak("Loading the model.", voice="alloy", format="wav", speed=1.0,
                             instructions=None).audio, "w.wav", language="en", prompt=None)
    load_s = time.perf_counter() - t0
    # Sentence i at speed j is spoken by voice (i + 2j) % 5: each voice x speed cell holds the
    # same number of sentences and every sentence is heard at every speed, by different voices.
    cells: dict[tuple[str, float], list[int]] = {}
    for i in range(len(ASR_SENTENCES)):
        for j, speed in enumerate(ASR_SPEEDS):
            cells.setdefault((ASR_VOICES[(i + 2 * j) % len(ASR_VOICES)], speed), []).append(i)
    clips, tts_s = [], 0.0
    for (voice, speed), idx in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        groups = [idx] if mode == "cell" else [[i] for i in idx]
        for group in groups:
            t = time.perf_counter()
            pcm, rate = b"", 0
            for k, i in enumerate(group):
                one, rate = _wav_pcm(tts.speak(ASR_SENTENCES[i], voice=voice, format="wav",
                                               speed=speed, instructions=None).audio)
                pcm += (b"\0\0" * (rate // 2) if k else b"") + one
            wav = pcm_to_wav(pcm, rate)
            tts_s += time.perf_counter() - t
            ref = normalize_words(" ".join(ASR_SENTENCES[i] for i in group))
            t = time.perf_counter()
            tr = stt.transcribe(wav, "clip.wav", language="en", prompt=None)
            wall = time.perf_counter() - t
            hyp = normalize_words(tr.text)
            clips.append({"sentences": group, "voice": voice, "speed": speed,
                          "ref": " ".join(ref), "hyp": tr.text, "errors": levenshtein(ref, hyp),
                          "words": len(ref), "audio_s": tr.duration_s, "wall_s": round(wall, 3)})

    def wer(cs: list[dict]) -> float:
        return sum(c["errors"] for c in cs) / sum(c["words"] for c in cs)

    overall = wer(clips)
    audio = sum(c["audio_s"] for c in clips)
    wall = sum(c["wall_s"] for c in clips)
    rtf = wall / audio
    by_voice = {v: wer([c for c in clips if c["voice"] == v]) for v in ASR_VOICES}
    by_speed = {s: wer([c for c in clips if c["speed"] == s]) for s in ASR_SPEEDS}
    n_utt = sum(len(c["sentences"]) for c in clips)
    results = [res("asr_wer", round(overall * 100, 2), "%",
                   baseline="issue 4 trial: 10-16% WER on espeak speech", clips=len(clips),
                   utterances=n_utt, mode=mode)]
    for v, w in by_voice.items():
        results.append(res(f"asr_wer[voice={v}]", round(w * 100, 2), "%",
                           espeak_voice=tts_mod.VOICES[v]))
    for s, w in by_speed.items():
        results.append(res(f"asr_wer[speed={s}]", round(w * 100, 2), "%"))
    results.append(res("asr_real_time_factor", round(rtf, 3), "x",
                       baseline="issue 4 trial: ~0.1 on a 60 s clip", mode=mode))
    details = {"mode": mode, "clips": len(clips), "sentences": len(ASR_SENTENCES),
               "utterances": n_utt, "voices": {v: tts_mod.VOICES[v] for v in ASR_VOICES},
               "speeds": ASR_SPEEDS, "audio_s": round(audio, 1),
               "transcribe_wall_s": round(wall, 1), "tts_wall_s": round(tts_s, 2),
               "model": stt.model, "load_and_first_call_s": round(load_s, 2),
               "clips_detail": clips}

    what = ("one clip per voice x speed cell" if mode == "cell" else "one clip per sentence")
    print(f"\n== ASR: {len(ASR_SENTENCES)} sentences x speeds {ASR_SPEEDS} = {n_utt} utterances, "
          f"voices {', '.join(ASR_VOICES)} rotated; {what}: {len(clips)} clips, {audio:.0f} s ==")
    print(f"  WER {overall:.1%}  ({sum(c['errors'] for c in clips)} word errors / "
          f"{sum(c['words'] for c in clips)} reference words)")
    print("  per voice: " + ", ".join(f"{v} ({tts_mod.VOICES[v]}) {w:.1%}"
                                      for v, w in by_voice.items()))
    print("  per speed: " + ", ".join(f"{s} {w:.1%}" for s, w in by_speed.items()))
    print(f"  real-time factor {rtf:.3f} (transcribe wall {wall:.1f} s for {audio:.0f} s of "
          f"audio, decode included); TTS {tts_s:.2f} s in all")
    if not quiet:
        print("  worst clips (reference | transcript):")
        for c in sorted(clips, key=lambda c: c["errors"] / c["words"])[::-1][:4]:
            print(f"    {c['voice']}@{c['speed']} {c['errors']}/{c['words']}: {c['ref']!r}\n"
                  f"      -> {c['hyp']!r}")
    return results, details, f"ASR WER {overall:.1%}"


# --------------------------------------------------------------------------------- OCR ----

def render(lines: list[str], size: int, scheme: str):
    from PIL import Image, ImageDraw, ImageFont

    bg, fg = OCR_SCHEMES[scheme]
    font = ImageFont.load_default(size=size)
    spacing = max(4, size // 3)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text = "\n".join(lines)
    box = probe.multiline_textbbox((0, 0), text, font=font, spacing=spacing)
    pad = max(12, size // 2)
    img = Image.new("RGB", (box[2] - box[0] + 2 * pad, box[3] - box[1] + 2 * pad), bg)
    ImageDraw.Draw(img).multiline_text((pad - box[0], pad - box[1]), text, font=font, fill=fg,
                                       spacing=spacing)
    return img


def bench_ocr(quiet: bool) -> tuple[list[dict], dict, str]:
    from mmservice.providers.local.ocr import read_text

    schemes = list(OCR_SCHEMES)
    cases = []
    for i, line in enumerate(OCR_LINES):
        for j, size in enumerate(OCR_SIZES):
            cases.append({"kind": "line", "lines": [line], "size": size,
                          "scheme": schemes[(i + j) % len(schemes)]})
    for k, size in enumerate(OCR_PARAGRAPH_SIZES):
        cases.append({"kind": "paragraph", "lines": OCR_PARAGRAPH, "size": size,
                      "scheme": schemes[k % len(schemes)]})
    t0 = time.perf_counter()
    read_text(render(["warm up"], 24, schemes[0]))
    load_s = time.perf_counter() - t0
    lat = []
    for c in cases:
        img = render(c["lines"], c["size"], c["scheme"])
        t = time.perf_counter()
        found = read_text(img)
        lat.append((time.perf_counter() - t) * 1000)
        ref = normalize_chars(" ".join(c["lines"]))
        hyp = normalize_chars(" ".join(x["text"] for x in found))
        c.update(width=img.width, height=img.height, ref=ref, hyp=hyp,
                 errors=levenshtein(ref, hyp), chars=len(ref),
                 errors_nospace=levenshtein(ref.replace(" ", ""), hyp.replace(" ", "")),
                 chars_nospace=len(ref.replace(" ", "")))

    def cer(cs: list[dict]) -> float:
        return sum(c["errors"] for c in cs) / sum(c["chars"] for c in cs)

    overall = cer(cases)
    by_size = {s: cer([c for c in cases if c["size"] == s]) for s in sorted({c["size"]
                                                                             for c in cases})}
    by_scheme = {s: cer([c for c in cases if c["scheme"] == s]) for s in schemes}
    para = cer([c for c in cases if c["kind"] == "paragraph"])
    lines_only = cer([c for c in cases if c["kind"] == "line"])
    exact = sum(c["errors"] == 0 for c in cases)
    nospace = sum(c["errors_nospace"] for c in cases) / sum(c["chars_nospace"] for c in cases)
    results = [res("ocr_cer", round(overall * 100, 2), "%", n=len(cases)),
               res("ocr_cer_ignoring_spaces", round(nospace * 100, 2), "%", n=len(cases))]
    for s, v in by_size.items():
        results.append(res(f"ocr_cer[size={s}px]", round(v * 100, 2), "%"))
    results += [res("ocr_cer[single_lines]", round(lines_only * 100, 2), "%"),
                res("ocr_cer[paragraph]", round(para * 100, 2), "%"),
                res("ocr_latency_p50", round(pct(lat, 50), 1), "ms/image")]
    details = {"images": len(cases), "exact": exact, "sizes": OCR_SIZES,
               "schemes": {k: [list(v[0]), list(v[1])] for k, v in OCR_SCHEMES.items()},
               "cer_by_scheme": {k: r4(v) for k, v in by_scheme.items()},
               "load_and_first_call_s": round(load_s, 2),
               "font": "Pillow load_default(size=N) (bundled Aileron Regular)",
               "mistakes": [{k: c[k] for k in ("size", "scheme", "ref", "hyp", "errors")}
                            for c in cases if c["errors"]]}

    print(f"\n== OCR: {len(cases)} images (Pillow default font, sizes {OCR_SIZES}, "
          f"{len(schemes)} colour schemes; {len(OCR_LINES)} lines x 5 sizes + a "
          f"{len(OCR_PARAGRAPH)}-line paragraph x {len(OCR_PARAGRAPH_SIZES)}) ==")
    print(f"  CER {overall:.2%}  ({sum(c['errors'] for c in cases)} edits / "
          f"{sum(c['chars'] for c in cases)} chars; {exact}/{len(cases)} images exact); "
          f"ignoring spaces {nospace:.2%}")
    print("  per font size: " +
          ", ".join(f"{s}px {v:.2%}" for s, v in by_size.items()))
    print("  per scheme: " + ", ".join(f"{s} {v:.2%}" for s, v in by_scheme.items()))
    print(f"  single lines {lines_only:.2%}, paragraph {para:.2%}; latency p50 "
          f"{pct(lat, 50):.0f} ms/image")
    if not quiet:
        for m in details["mistakes"][:12]:
            print(f"    {m['size']}px {m['scheme']}: {m['ref']!r} -> {m['hyp']!r}")
    return results, details, f"OCR CER {overall:.1%}"


# -------------------------------------------------------------------------------- main ----

SECTIONS = {"text": bench_text, "asr": bench_asr, "ocr": bench_ocr}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="JSON output path")
    ap.add_argument("--only", default="text,asr,ocr", help="comma-separated sections")
    ap.add_argument("--quiet", action="store_true", help="do not list individual mistakes")
    ap.add_argument("--asr-clips", choices=("cell", "sentence"), default="cell",
                    help="cell: 5 sentences joined per voice x speed (default); sentence: "
                         "one short clip per sentence")
    args = ap.parse_args()
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s) {sorted(unknown)}; choose from {list(SECTIONS)}")
    t0 = time.perf_counter()
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"offline_quality: {os.cpu_count()} CPUs, load average {load_before}")
    results, details, summary, failed = [], {}, [], {}
    for name in wanted:
        try:
            if name == "asr":
                r, d, s = bench_asr(args.quiet, args.asr_clips)
            else:
                r, d, s = SECTIONS[name](args.quiet)
        except Exception as e:  # noqa: BLE001 - an engine that cannot run fails the bench
            failed[name] = f"{type(e).__name__}: {e}"
            print(f"\n== {name}: CANNOT RUN: {failed[name]}", file=sys.stderr, flush=True)
            traceback.print_exc(file=sys.stderr)
            summary.append(f"{name} CANNOT RUN")
            continue
        results += r
        details[name] = d
        summary.append(s)
    total = time.perf_counter() - t0
    results.append(res("offline_quality_runtime", round(total, 1), "s", target="<= 240 s",
                       met=total <= 240))
    details["failed"] = failed
    details["cpus"] = os.cpu_count()
    details["load_average_1m"] = {"start": load_before,
                                  "end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
    out = {"script": "offline_quality", "results": results, "details": details,
           "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
    shown = os.path.relpath(args.out, ROOT)
    print(f"\nwrote {args.out if shown.startswith('..') else shown}; runtime {total:.0f} s; "
          "load average "
          f"{details['load_average_1m']['end']}")
    print(" | ".join(summary))
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
