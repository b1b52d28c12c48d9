#!/usr/bin/env python3
"""Turn-taking benchmark: voice-to-voice and take-overs, measured from the conversation recording.

For every file of the spoken turn-taking set (``scripts/make_turn_set.py``: complete questions, and
utterances with a 0.5-1.0 s pause after an unfinished phrase, each with its true end of speech known
from how it was made), one ``voicecli talk --input F --realtime --no-audio --conversation-wav W.wav
--json`` runs on the embedded models, and the recording is read:

- voice-to-voice: from the true end of speech to the first sound of the assistant on channel 2
  (above -50 dBFS: Piper's own lead-in silence counts, as the user hears it);
- a take-over: any sound of the assistant before the true end of speech;
- turns: a paused utterance must give exactly one turn, whose transcript holds both halves;
- word error rate of the transcripts against the texts.

The figures the turn record states (``voice_to_voice_ms``, ``turn_end``, ``discarded_starts``) are
reported beside them. ``--sweep`` runs a few settings (turn silence, end-of-turn threshold) and plots
take-over rate against median voice-to-voice (``--plot``), so a user can choose.

    .venv/bin/python scripts/bench_turns.py [--limit N] [--json out/turns.json] [--sweep --plot out/turns.png]
    .venv/bin/python scripts/bench_turns.py --devices [--limit N] [--json out/turns-devices.json]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voicecli.text.wer import corpus_wer, wer  # noqa: E402

ONSET = 10 ** (-50 / 20)
SWEEP = [("turn 150 ms", ["--turn-silence-ms", "150"]), ("turn 200 ms (default)", []),
         ("turn 300 ms", ["--turn-silence-ms", "300"]), ("score 0.05", ["--eot-threshold", "0.05"]),
         ("grammar only", ["--eot-threshold", "0"]),
         ("silence only, 500 ms", ["--turn-silence-ms", "500", "--end-silence-ms", "500"])]


def ensure_set(path: Path) -> dict:
    if not (path / "manifest.json").is_file():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_turn_set.py"), "--out", str(path)], check=True)
    return json.loads((path / "manifest.json").read_text())


def channels(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, w.getnchannels())
        return data.astype(np.float32) / 32768.0, w.getframerate()


def run_one(entry: dict, set_dir: Path, out: Path, extra: list[str]) -> dict:
    wav = out / (Path(entry["file"]).stem + ".wav")
    cmd = [sys.executable, "-m", "voicecli", "talk", "--input", str(set_dir / entry["file"]), "--realtime",
           "--no-audio", "--json", "--no-log", "--no-tools", "--max-tokens", "40", "--conversation-wav", str(wav),
           *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    row = {"file": entry["file"], "kind": entry["kind"], "text": entry["text"], "turns": len(records),
           "exit": proc.returncode, "transcript": " ".join(r["transcript"] or "" for r in records)}
    if proc.returncode != 0 or not wav.is_file():
        row["error"] = proc.stderr.strip().splitlines()[-1:] or ["no recording"]
        return row
    data, rate = channels(wav)
    played = np.flatnonzero(np.abs(data[:, 1]) > ONSET)
    end = entry["speech_end_s"]
    row["takeover"] = bool(len(played) and played[0] / rate < end)
    after = played[played / rate >= end]
    row["v2v_wav_ms"] = round((after[0] / rate - end) * 1000, 1) if len(after) else None
    if records:
        last = records[-1]
        row.update(v2v_record_ms=last["voice_to_voice_ms"], turn_end=last["turn_end"],
                   discarded=sum(r["discarded_starts"] or 0 for r in records),
                   speech_end_error_ms=round((last["user_speech_end_s"] - end) * 1000, 1)
                   if last["user_speech_end_s"] is not None else None)
    return row


def summarize(rows: list[dict]) -> dict:
    complete = [r for r in rows if r["kind"] == "complete"]
    paused = [r for r in rows if r["kind"] == "paused"]
    v2v = [r["v2v_wav_ms"] for r in complete if r.get("v2v_wav_ms") is not None]
    rec = [r["v2v_record_ms"] for r in complete if r.get("v2v_record_ms") is not None]
    return {
        "complete": len(complete), "paused": len(paused),
        "v2v_median_ms": round(statistics.median(v2v), 1) if v2v else None,
        "v2v_p90_ms": round(float(np.percentile(v2v, 90)), 1) if v2v else None,
        "v2v_record_median_ms": round(statistics.median(rec), 1) if rec else None,
        "takeovers_paused": sum(bool(r.get("takeover")) for r in paused),
        "takeovers_complete": sum(bool(r.get("takeover")) for r in complete),
        "paused_one_turn": sum(r["turns"] == 1 for r in paused),
        "paused_both_halves": sum(r["turns"] == 1 and wer(r["text"], r["transcript"]) <= 0.5 for r in paused),
        "semantic_commits": sum(r.get("turn_end") == "semantic" for r in complete),
        "discarded_starts": sum(r.get("discarded", 0) for r in rows),
        "wer": round(corpus_wer([(r["text"], r["transcript"]) for r in rows]), 3),
        "errors": [r for r in rows if "error" in r],
    }


def bench(manifest: dict, set_dir: Path, out: Path, extra: list[str], limit: int | None, label: str) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    entries = manifest["files"]
    if limit:
        entries = [e for e in entries if e["kind"] == "complete"][:limit] + \
                  [e for e in entries if e["kind"] == "paused"][:limit]
    rows = []
    for i, e in enumerate(entries, 1):
        rows.append(run_one(e, set_dir, out, extra))
        r = rows[-1]
        print(f"[{label} {i}/{len(entries)}] {e['kind']:8} turns={r['turns']} takeover={r.get('takeover')} "
              f"v2v={r.get('v2v_wav_ms')} end={r.get('turn_end')} {r['transcript'][:50]!r}", file=sys.stderr)
    return {"label": label, "args": extra, **summarize(rows), "rows": rows}


PASSTHROUGH = """
import queue, sys, time
import sounddevice as sd
q = queue.Queue()
rate, block = 16000, 512  # 32 ms blocks, as voicecli's microphone; PortAudio's default ("high") latency, as voicecli
def heard(indata, frames, t, status):
    q.put(indata[:, 0].copy())
def play(outdata, frames, t, status):
    try:
        outdata[:, 0] = q.get_nowait()[:frames]
    except (queue.Empty, ValueError):
        outdata.fill(0)
with sd.InputStream(samplerate=rate, blocksize=block, channels=1, dtype="float32", callback=heard), \
        sd.OutputStream(samplerate=rate, blocksize=block, channels=1, dtype="float32", callback=play):
    print("ready", flush=True)
    time.sleep(float(sys.argv[1]))
"""


def device_round_trip(server, rig, clicks: int = 8) -> float:
    """The devices' own delay, no voicecli in it: a program that only copies the microphone's blocks
    to the speaker (32 ms blocks both ways and PortAudio's default latency, as voicecli opens its
    microphone and speaker; voicecli's speaker takes blocks of any size) hears clicks played into
    the microphone; the median delay from each click in the microphone's recording to it in the
    speaker's is what the devices add to any reply (input and output buffers, the server's)."""
    from pulse import RATE

    proc = subprocess.Popen([sys.executable, "-c", PASSTHROUGH, str(2 + clicks)], env={**os.environ, **server.env},
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        proc.stdout.readline()
        time.sleep(1.0)
        spk, mic = server.record_speaker(), rig.record_mic()
        click = np.zeros(int(0.6 * RATE), np.float32)
        click[int(0.1 * RATE):int(0.1 * RATE) + 80] = 0.5
        delays = []
        for _ in range(clicks):
            t0 = time.perf_counter()
            rig.play(click)[0].wait(10)
            time.sleep(0.4)
            a, b = mic.samples(), spk.samples()
            ia, ib = mic.index_at(t0), spk.index_at(t0)
            ha, hb = np.flatnonzero(np.abs(a[ia:]) > 0.1), np.flatnonzero(np.abs(b[ib:]) > 0.1)
            if len(ha) and len(hb):
                delays.append((spk.time_of(ib + int(hb[0])) - mic.time_of(ia + int(ha[0]))) * 1000)
        spk.stop()
        mic.stop()
        return round(statistics.median(delays), 1) if delays else float("nan")
    finally:
        proc.kill()
        proc.wait()


def through_devices(manifest: dict, set_dir: Path, extra: list[str], limit: int | None) -> dict:
    """The complete questions through a virtual microphone and speaker (a private PulseAudio server,
    ``tests/pulse.py``): one ``voicecli talk`` session with its defaults (the microphone, echo
    cancellation on) hears each file played into the microphone and answers on the speaker; both are
    recorded with their arrival times. Voice-to-voice: from the true end of speech (where the clip was
    found in the microphone's recording, by cross-correlation, plus its known end) to the first sound
    on the speaker above -50 dBFS. The record's own ``voice_to_voice_ms`` is kept beside it: the
    difference is what the devices' buffers add."""
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "scripts")]
    from bench_duplex import Rig, onset_in
    from pulse import RATE, PulseServer
    from test_e2e_audio import STARTUP_S, Talk, speech_onset_s

    from voicecli.audio.files import read_audio
    from voicecli.audio.signal import resample

    entries = [e for e in manifest["files"] if e["kind"] == "complete"][:limit or None]
    rows = []
    with PulseServer() as server, tempfile.TemporaryDirectory() as work:
        rig = Rig(server, Path(work), None)
        round_trip = device_round_trip(server, rig)
        print(f"[devices] round trip of the devices alone: {round_trip} ms", file=sys.stderr)
        env = {**os.environ, **server.env, "VOICECLI_NO_LOG": "1"}
        talk = Talk(["--json", "--no-log", "--no-tools", "--max-tokens", "40", *extra], env)
        try:
            talk.wait_stderr("Listening", STARTUP_S)
            spk, mic = server.record_speaker(), rig.record_mic()
            for i, e in enumerate(entries, 1):
                audio = read_audio(set_dir / e["file"])
                clip = resample(audio.samples, audio.rate, RATE)
                proc, t_play = rig.play(clip)
                proc.wait(30)
                start = onset_in(mic, clip, t_play) - speech_onset_s(clip)  # the clip's first sample, heard
                end = start + e["speech_end_s"]
                try:
                    record, _ = talk.records.get(timeout=60.0)
                except queue.Empty:
                    record = {"error": "no turn record within 60 s"}
                time.sleep(0.5)  # the reply's last samples reach the recording
                x = spk.samples()
                i0 = spk.index_at(start)
                loud = np.flatnonzero(np.abs(x[i0:]) > ONSET)
                t_sound = spk.time_of(i0 + int(loud[0])) if len(loud) else None
                row = {"file": e["file"], "text": e["text"], "transcript": record.get("transcript") or "",
                       "turn_end": record.get("turn_end"), "v2v_record_ms": record.get("voice_to_voice_ms"),
                       "v2v_device_ms": round((t_sound - end) * 1000, 1) if t_sound is not None else None,
                       **{k: record.get(k) for k in ("stt_ms", "ttft_ms", "ttfa_ms", "endpoint_to_audio_ms",
                                                     "user_speech_end_s", "first_audio_s", "error")}}
                rows.append(row)
                print(f"[devices {i}/{len(entries)}] v2v={row['v2v_device_ms']} record={row['v2v_record_ms']} "
                      f"end={row['turn_end']} {row['transcript'][:50]!r}", file=sys.stderr)
                time.sleep(0.5)
        finally:
            talk.close()
    v2v = [r["v2v_device_ms"] for r in rows if r["v2v_device_ms"] is not None]
    rec = [r["v2v_record_ms"] for r in rows if r["v2v_record_ms"] is not None]
    added = [r["v2v_device_ms"] - r["v2v_record_ms"] for r in rows
             if r["v2v_device_ms"] is not None and r["v2v_record_ms"] is not None]
    return {"label": "devices", "args": extra, "complete": len(rows),
            "v2v_median_ms": round(statistics.median(v2v), 1) if v2v else None,
            "v2v_p90_ms": round(float(np.percentile(v2v, 90)), 1) if v2v else None,
            "v2v_record_median_ms": round(statistics.median(rec), 1) if rec else None,
            "devices_add_median_ms": round(statistics.median(added), 1) if added else None,
            "device_round_trip_ms": round_trip,
            "takeovers_complete": sum(r["v2v_device_ms"] is not None and r["v2v_device_ms"] < 0 for r in rows),
            "semantic_commits": sum(r["turn_end"] == "semantic" for r in rows),
            "wer": round(corpus_wer([(r["text"], r["transcript"]) for r in rows]), 3), "rows": rows}


def plot(runs: list[dict], path: Path) -> None:
    """Take-over rate against median voice-to-voice, one labelled point per setting."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    for i, r in enumerate(runs):
        x, y = r["v2v_median_ms"], 100 * r["takeovers_paused"] / max(1, r["paused"])
        ax.scatter([x], [y], s=40)
        ax.annotate(r["label"], (x, y), textcoords="offset points", xytext=(6, 4 + 11 * (i % 3)), fontsize=8)
    ax.margins(x=0.25, y=0.12)
    ax.set_xlabel("median voice-to-voice on complete questions, ms (from the recording)")
    ax.set_ylabel("take-overs in paused utterances, %")
    ax.set_title("Turn-taking: answer sooner, or never cut in", loc="left", fontsize=10)
    ax.grid(color="#e6e6e6", lw=0.6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", type=Path, default=ROOT / "out" / "turnset")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "turns")
    ap.add_argument("--limit", type=int, default=None, help="at most N complete and N paused utterances")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--sweep", action="store_true", help="also run the settings in SWEEP")
    ap.add_argument("--plot", type=Path, help="with --sweep: take-over rate against median voice-to-voice")
    ap.add_argument("--replot", type=Path, help="only draw --plot from an earlier --json")
    ap.add_argument("--devices", action="store_true",
                    help="instead: the complete questions through a virtual microphone and speaker (PulseAudio)")
    args, extra = ap.parse_known_args()
    if args.replot:
        plot(json.loads(args.replot.read_text()), args.plot or Path("out/turns.png"))
        return 0
    manifest = ensure_set(args.set)
    if args.devices:
        sys.path.insert(0, str(ROOT / "tests"))
        from pulse import PulseUnavailable

        try:
            r = through_devices(manifest, args.set, extra, args.limit)
        except PulseUnavailable as e:
            print(f"bench_turns: no virtual audio devices: {e} (`make bench` installs PulseAudio)", file=sys.stderr)
            return 2
        print(f"devices: v2v median {r['v2v_median_ms']} ms (p90 {r['v2v_p90_ms']}, record {r['v2v_record_median_ms']}; "
              f"the devices add a median {r['devices_add_median_ms']} ms; their round trip alone "
              f"{r['device_round_trip_ms']} ms) · semantic {r['semantic_commits']}/"
              f"{r['complete']} · take-overs {r['takeovers_complete']} · WER {r['wer']}")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps([r], indent=1))
        return 0
    runs = [bench(manifest, args.set, args.out / "default", extra, args.limit, "default")]
    if args.sweep:
        runs += [bench(manifest, args.set, args.out / f"sweep{i}", opts + extra, args.limit, name)
                 for i, (name, opts) in enumerate(SWEEP) if opts]
    for r in runs:
        print(f"{r['label']:<24} v2v median {r['v2v_median_ms']} ms (p90 {r['v2v_p90_ms']}, record "
              f"{r['v2v_record_median_ms']}) · take-overs {r['takeovers_paused']}/{r['paused']} paused, "
              f"{r['takeovers_complete']}/{r['complete']} complete · one turn {r['paused_one_turn']}/{r['paused']} "
              f"(both halves {r['paused_both_halves']}) · semantic {r['semantic_commits']}/{r['complete']} · "
              f"discarded starts {r['discarded_starts']} · WER {r['wer']} · errors {len(r['errors'])}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(runs, indent=1))
    if args.plot and len(runs) > 1:
        plot(runs, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
