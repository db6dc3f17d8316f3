"""Media adapters: probing (PyAV), ffmpeg rendering and faster-whisper transcription."""
