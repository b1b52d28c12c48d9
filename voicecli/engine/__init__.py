"""The engine: stage interfaces, typed events, one turn's composition, the speaker, metrics."""
