"""Streaming token sources, one module per backend: the local llama.cpp model, an OpenAI-compatible
server (``openai``), and a recorded trace (``replay``). Each implements ``voicecli.interfaces.LLM``."""
