"""Audio in and out: files, devices, the microphone, endpointing, sinks."""
