"""The application: the session (composition root), the talk loop, the view, the log, doctor, fetch."""
